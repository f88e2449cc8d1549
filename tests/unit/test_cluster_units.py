"""The cluster path's small parts, without a cluster: its AUC equals scikit-learn's (ties half),
the train sample is the same calls whatever the partitioning, its lightgbm arguments are the
single-machine parameters, and addresses are checked before anything starts."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from risk_model.config import ClusterConfig, ModelConfig
from risk_model.dask_client import connect
from risk_model.errors import UserError
from risk_model.training.dask_fit import (
    LABEL,
    LATER,
    WINDOW,
    _auc,
    _collect_rows,
    _sklearn_params,
    sample_shares,
)
from risk_model.training.models import booster_params


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.integers(0, 6), min_size=2, max_size=60),
    seed=st.integers(0, 1000),
)
def test_auc_equals_sklearn_with_ties(scores: list[int], seed: int) -> None:
    y = np.random.default_rng(seed).integers(0, 2, len(scores))
    if y.min() == y.max():
        return
    s = np.asarray(scores, dtype=float)
    assert _auc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_train_sample_is_the_same_calls_whatever_the_partitioning() -> None:
    n = 5000
    frame = pd.DataFrame(
        {
            "call_id": [f"C{i}" for i in range(n)],
            LABEL: np.where(np.arange(n) % 7 == 0, np.nan, (np.arange(n) % 11 == 0) * 1.0),
            WINDOW: np.where(np.arange(n) < 4000, "train", "test").astype(object),
        }
    )
    shares = {"train": 0.3, "test": 1.0}
    whole = set(_collect_rows(frame, shares, seed=7)["call_id"])
    parts = [frame.iloc[i::3] for i in range(3)]
    split = set().union(*(set(_collect_rows(p, shares, seed=7)["call_id"]) for p in parts))
    assert whole == split
    train = frame[(frame[WINDOW] == "train") & frame[LABEL].notna()]
    taken = train["call_id"].isin(whole).mean()
    assert 0.25 < taken < 0.35
    # every labelled later-window call is collected; unlabelled calls never are
    later = frame[(frame[WINDOW] == "test") & frame[LABEL].notna()]
    assert set(later["call_id"]) <= whole
    assert not set(frame.loc[frame[LABEL].isna(), "call_id"]) & whole


def test_later_windows_past_their_cap_come_as_a_sample_whatever_the_partitioning() -> None:
    n = 9000
    frame = pd.DataFrame(
        {
            "call_id": [f"C{i}" for i in range(n)],
            LABEL: (np.arange(n) % 13 == 0) * 1.0,
            WINDOW: np.repeat(["train", "validation", "calibration", "test"], n // 4),
        }
    )
    counts = {w: {"calls": int((frame[WINDOW] == w).sum())} for w in ("train", *LATER)}
    shares = sample_shares(counts, ClusterConfig(train_sample_rows=1000, later_window_rows=1125))
    assert shares["validation"] == pytest.approx(0.5) and shares["train"] == pytest.approx(
        1000 / 2250
    )
    whole = _collect_rows(frame, shares, seed=3)
    parts = [frame.iloc[i::4] for i in range(4)]
    split = pd.concat([_collect_rows(p, shares, seed=3) for p in parts])
    assert set(whole["call_id"]) == set(split["call_id"])
    taken = whole[WINDOW].value_counts()
    for name in LATER:
        assert 0.45 < taken[name] / counts[name]["calls"] < 0.55
    # below the cap, the whole window
    small = {w: {"calls": 10} for w in ("train", *LATER)}
    assert sample_shares(small, ClusterConfig()) == dict.fromkeys(("train", *LATER), 1.0)


def test_lightgbm_arguments_are_the_single_machine_parameters() -> None:
    from lightgbm import LGBMClassifier

    params = booster_params(ModelConfig(), None)
    sk = _sklearn_params(params)
    model = LGBMClassifier(**sk)
    got = model.get_params()
    assert got["min_child_samples"] == params["min_data_in_leaf"]
    assert got["subsample"] == params["bagging_fraction"]
    assert got["colsample_bytree"] == params["feature_fraction"]
    assert got["reg_lambda"] == params["lambda_l2"]
    assert got["random_state"] == params["seed"]
    for key in ("max_bin", "cat_smooth", "min_data_per_group", "deterministic"):
        assert got[key] == params[key]


@pytest.mark.parametrize("address", ["local:0", "local:999", "no-port-no-scheme"])
def test_bad_addresses_fail_before_starting_anything(address: str) -> None:
    with pytest.raises(UserError, match="--dask"), connect(address):
        pass


# ------------------------------------------------------------------ issue 22, N11


@contextlib.contextmanager
def _server(kind: str) -> Iterator[int]:
    """A loopback server that is not a Dask scheduler: "http" answers HTTP, "silent" accepts
    connections and never says anything."""
    if kind == "http":
        httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler
        )
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield httpd.server_address[1]
        finally:
            httpd.shutdown()
            httpd.server_close()
        return
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        sock.close()


@pytest.mark.parametrize(
    ("kind", "said"), [("http", "an HTTP server answers there"), ("silent", "no answer within")]
)
def test_dask_at_a_server_that_is_not_a_scheduler_is_one_line_and_quick(
    monkeypatch: pytest.MonkeyPatch, kind: str, said: str
) -> None:
    """An HTTP server made distributed try to allocate 3.07 EiB (a 76-line traceback); a
    silent one hung the client for ever."""
    import risk_model.dask_client as dask_client

    monkeypatch.setattr(dask_client, "HANDSHAKE_TIMEOUT_S", 1.0)
    with _server(kind) as port:
        t0 = time.monotonic()
        with pytest.raises(UserError) as err, connect(f"tcp://127.0.0.1:{port}"):
            pass
        assert time.monotonic() - t0 < 10
    message = str(err.value)
    assert said in message and "\n" not in message and message.startswith("--dask")


def test_a_real_scheduler_passes_the_check() -> None:
    from distributed import LocalCluster

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            protocol="tcp",
            dashboard_address=":0",
        ) as cluster,
        connect(cluster.scheduler_address) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 1


def test_a_cluster_lost_mid_run_is_one_line() -> None:
    from distributed import LocalCluster
    from distributed.comm.core import CommClosedError

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=":0"
    ) as cluster:
        lost = pytest.raises(UserError, match="the cluster was lost mid-run")
        with lost, connect(cluster.scheduler_address):
            raise CommClosedError("in <TCP (closed) ConnectionPool.gather local=...>")
        # A mistake in the work itself stays what it is.
        with pytest.raises(KeyError), connect(cluster.scheduler_address):
            raise KeyError("received_at")
