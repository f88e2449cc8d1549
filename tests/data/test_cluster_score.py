"""`risk-model score --dask`: the cluster's answers equal `score`'s on one machine, row for row.

A small model is trained here (a few seconds) on simulated calls made to look like an agency's
(calls known only to the day, late outcome reports, calls without an address); newer calls of
the same city are then scored on one machine and on the session's LocalCluster of 2 workers,
with the model's own history snapshot and with a `--history` file that overlaps the new calls.
First, in process: the snapshot's rows as the shuffle carries them are the events they came from.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from agency_shape import agency_shaped

from risk_model.errors import UserError
from risk_model.simulate.generate import simulate

COLUMNS = ["call_id", "risk_score", "risk_tier", "decision", "reasons", "precautions", "warnings"]


def _with_tied_incidents(history: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The history with a twin for some violent calls known only to the day: same premise, same
    day, another violent call type, and the rows shuffled. A precaution quoting that premise
    lists the two in the order one machine holds them (by received_at, then file order), the
    order the cluster must keep too."""
    from risk_model.config import FeatureConfig
    from risk_model.features.build import events_frame

    ev = events_frame(history, FeatureConfig())
    violent = (ev["violent"] == 1) & (ev["weapon"] == 0) & (ev["assault"] + ev["injury"] == 0)
    types = sorted(set(ev.loc[violent.to_numpy(), "call_type"]))
    pick = (
        violent.to_numpy()
        & history["received_until"].notna().to_numpy()
        & history["address"].notna().to_numpy()
    )
    twins = history[pick].copy()
    twins["call_id"] = twins["call_id"] + "-twin"
    twins["call_type"] = [types[(types.index(t) + 1) % len(types)] for t in twins["call_type"]]
    assert len(twins) > 100 and len(types) > 1
    both = pd.concat([history, twins], ignore_index=True)
    return both.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A model trained on Jan-Sep; Nov-Dec calls to score (shuffled, in a 3-file dataset);
    Aug to early Nov as a `--history` file, so 3 days of calls are in both."""
    from risk_model.config import EvaluationConfig, ModelConfig, Settings
    from risk_model.training.pipeline import train

    root = tmp_path_factory.mktemp("cluster-score")
    calls, _ = simulate(calls=32_000, seed=21, start="2025-01-01", days=365)
    calls = agency_shaped(calls, seed=21)
    at = calls["received_at"]
    calls[at < pd.Timestamp("2025-10-01")].to_parquet(root / "train.parquet", index=False)
    history = calls[(at >= pd.Timestamp("2025-08-01")) & (at < pd.Timestamp("2025-11-04"))]
    _with_tied_incidents(history, seed=22).to_parquet(root / "history.parquet", index=False)
    new = calls[at >= pd.Timestamp("2025-11-01")].drop(
        columns=["officer_assaulted", "officer_injured", "outcome_known_at"]
    )
    new = new.sample(frac=1.0, random_state=3).reset_index(drop=True)  # not in time order
    dataset = root / "new"
    dataset.mkdir()
    for k, part in enumerate(np.array_split(np.arange(len(new)), 3)):
        new.iloc[part].to_parquet(dataset / f"part-{k}.parquet", index=False)

    settings = Settings(
        model=ModelConfig(
            n_estimators=60, early_stopping_rounds=20, learning_rate=0.1, min_child_samples=100
        ),
        evaluation=EvaluationConfig(bootstrap=0),
    )
    with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}):
        # MLflow writes artifacts under ./mlruns of the working directory
        with contextlib.chdir(root):
            train(root / "train.parquet", settings, experiment="cluster-score", register="cs")
        yield {
            "root": root,
            "model_uri": "models:/cs/1",
            "input": dataset,
            "history": root / "history.parquet",
            "new": new,
        }


def _as_text(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _same_csv(one: Path, cluster: Path) -> pd.DataFrame:
    ref, got = _as_text(one), _as_text(cluster)
    assert list(ref.columns) == COLUMNS
    pd.testing.assert_frame_equal(ref, got, check_exact=True)
    assert one.read_bytes() == cluster.read_bytes()
    return ref


# --------------------------------------------------------------------------- in process


def test_snapshot_rows_are_the_events_they_came_from() -> None:
    """A model's snapshot (an events frame) made `own_frame`-shaped and read back: the same
    events, and as role-1 rows the features `build_features(calls, history=snapshot)` gives."""
    from risk_model.config import FeatureConfig
    from risk_model.features.build import (
        AreaDays,
        area_day_counts,
        build_features,
        call_level,
        events_frame,
    )
    from risk_model.features.partitions import (
        ROLE,
        SHUFFLE_KEY,
        events_own_frame,
        own_frame,
        partition_events,
        partition_features,
    )

    cfg = FeatureConfig()
    calls, _ = simulate(calls=4_000, seed=31, start="2025-01-01", days=120)
    calls = agency_shaped(calls, seed=31)
    old, new = calls.iloc[:3_000], calls.iloc[2_900:].reset_index(drop=True)  # 100 in both
    new = new.drop(columns=["officer_assaulted", "officer_injured", "outcome_known_at"])
    snapshot = events_frame(old, cfg)
    like = own_frame(new, cfg, 0, ("_row",)).iloc[:0]
    rows = events_own_frame(snapshot.assign(_row=np.arange(len(snapshot))), cfg, like, ("_row",))
    assert list(rows.columns) == list(like.columns) and (rows[ROLE] == 1).all()
    assert rows["_row"].tolist() == list(range(len(snapshot)))
    premise = rows["_premise"].to_numpy(dtype=object)
    assert (rows[SHUFFLE_KEY][pd.notna(premise)] == premise[pd.notna(premise)]).all()
    back = partition_events(rows)
    pd.testing.assert_frame_equal(back, snapshot, check_exact=True, check_dtype=False)
    assert back.dtypes.astype(str).tolist() == snapshot.dtypes.astype(str).tolist()

    frame = pd.concat([rows, own_frame(new.assign(_row=np.arange(len(new))), cfg, 0, ("_row",))])
    area = AreaDays.from_counts(area_day_counts(partition_events(frame)))
    dtypes = {k: np.asarray(v).dtype for k, v in call_level(new, cfg).items()}
    got = partition_features(frame, cfg, area, dtypes, ("_row",))
    ref = build_features(new, cfg, history=snapshot)
    assert got["_row"].tolist() == list(range(len(new)))
    pd.testing.assert_frame_equal(ref, got.drop(columns="_row"), check_exact=True)


# --------------------------------------------------------------------------- on a LocalCluster


@pytest.mark.slow
@pytest.mark.xdist_group("dask")
@pytest.mark.parametrize("with_history", [False, True], ids=["model-snapshot", "history-file"])
def test_cluster_csv_equals_single_machine(case: dict, dask_client, with_history: bool) -> None:
    from risk_model.batch.dask_score import score_file_dask
    from risk_model.batch.score import score_file

    root, uri, history = case["root"], case["model_uri"], None
    if with_history:
        history = case["history"]
    name = "history" if with_history else "snapshot"
    one, cluster = root / f"one-{name}.csv", root / f"cluster-{name}.csv"
    score_file(uri, case["input"], one, history)
    res = score_file_dask(uri, case["input"], cluster, history, client=dask_client, partitions=4)
    ref = _same_csv(one, cluster)
    # In the input's own order (not time order), every call once.
    assert ref["call_id"].tolist() == case["new"]["call_id"].tolist()
    assert res["rows_scored"] == len(case["new"])
    assert res["cluster"] == {"workers": 2, "partitions": 4}
    assert res["model"] == {"name": "cs", "version": "1"}
    # The answers had something to agree on: quoted premise incidents, warnings, all decisions.
    assert ref["precautions"].str.contains("Premise history: 2025-").sum() > 100
    assert (ref["warnings"] != "[]").sum() > 100
    assert set(ref["decision"]) == {"high", "low", "cant_tell"}


@pytest.mark.slow
@pytest.mark.xdist_group("dask")
def test_cluster_folder_out_reads_back_in_input_order(case: dict, dask_client) -> None:
    from risk_model.batch.dask_score import ROW, score_file_dask
    from risk_model.batch.score import score_file

    root, uri = case["root"], case["model_uri"]
    one = root / "one-folder.csv"
    score_file(uri, case["input"], one)
    out = root / "scored"
    res = score_file_dask(uri, case["input"], out, client=dask_client, partitions=3)
    assert res["out"] == str(out)
    files = sorted(out.glob("*.parquet"))
    assert len(files) == 3  # a file per premise group, each in input order
    for f in files:
        assert pd.read_parquet(f)[ROW].is_monotonic_increasing
    got = pd.read_parquet(out).sort_values(ROW)
    assert got[ROW].tolist() == list(range(len(case["new"])))
    got = got.drop(columns=ROW).reset_index(drop=True)
    ref = pd.read_csv(one, keep_default_na=False)
    assert list(got.columns) == COLUMNS
    for c in COLUMNS:
        if c == "risk_score":
            np.testing.assert_array_equal(got[c].to_numpy(), ref[c].to_numpy())
        else:
            assert got[c].astype(str).tolist() == ref[c].astype(str).tolist(), c
    # A second run does not write over (or into) an existing dataset.
    with pytest.raises(UserError, match="not an empty folder"):
        score_file_dask(uri, case["input"], out, client=dask_client)


@pytest.mark.slow
@pytest.mark.xdist_group("dask")
def test_cluster_refuses_csv_and_rows_breaking_the_schema(case: dict, dask_client) -> None:
    from risk_model.batch.dask_score import score_file_dask

    root, uri = case["root"], case["model_uri"]
    csv = root / "new.csv"
    case["new"].head(50).to_csv(csv, index=False)
    with pytest.raises(UserError) as exc:
        score_file_dask(uri, csv, root / "x.csv", client=dask_client)
    assert "reads Parquet" in str(exc.value) and "\n" not in str(exc.value)

    bad = case["new"].head(200).copy()
    bad["call_id"] = bad["call_id"].astype(object)
    bad.loc[[3, 7, 11], "call_id"] = None  # a call without its id breaks the schema
    bad.to_parquet(root / "bad.parquet", index=False)
    with pytest.raises(UserError) as exc:
        score_file_dask(uri, root / "bad.parquet", root / "x.csv", client=dask_client)
    assert str(exc.value).startswith(f"{root / 'bad.parquet'}: 3 rows break the schema")
    assert not (root / "x.csv").exists()


@pytest.mark.slow
@pytest.mark.xdist_group("dask")
def test_cli_unreachable_scheduler_is_one_line(case: dict, monkeypatch) -> None:
    from typer.testing import CliRunner

    import risk_model.dask_client
    from risk_model.cli import app

    monkeypatch.setattr(risk_model.dask_client, "CONNECT_TIMEOUT_S", 2)
    out = case["root"] / "never.csv"
    args = ["score", "--model", case["model_uri"], "--input", str(case["input"])]
    args += ["--out", str(out), "--dask", "tcp://127.0.0.1:1", "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert lines == [lines[0]] and "cannot reach the Dask scheduler" in lines[0]
    assert "Traceback" not in res.output
    assert not out.exists()
