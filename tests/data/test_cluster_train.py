"""`train --dask` against `train` on the same simulated year (fixture `cluster_trained`): the
same windows, leakage figures, encoder and history snapshot exactly; test metrics within the
tolerance docs/cluster.md states; the same artifact, answering in the same shape.

LightGBM on several workers is not bit-identical to one process (bins are found per worker,
bagging draws differ, early stopping is judged between chunks), so the model itself is compared
by its test metrics, not its trees.
"""

from __future__ import annotations

import os
from unittest import mock

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dask")]

# docs/cluster.md, "How close to a single-machine run": measured on 200k-call simulated years.
AUC_TOLERANCE = 0.03
BRIER_RELATIVE_TOLERANCE = 0.05


def _load(tracking_uri: str, uri: str):
    from risk_model.model import tracking

    with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": tracking_uri}):
        return tracking.load_model(uri)[0]


def test_same_windows_leakage_figures_and_inputs(cluster_trained: dict) -> None:
    single, cluster = cluster_trained["single"], cluster_trained["cluster"]
    assert cluster["windows"] == single["windows"]
    assert cluster["window_counts"] == single["window_counts"]
    assert cluster["rows_rejected"] == single["rows_rejected"] == 0
    assert cluster["outside_bulk"] == single["outside_bulk"]
    assert cluster["feature_hash"] == single["feature_hash"]
    # The whole train window reached the client (under cluster.train_sample_rows): the same
    # figures.
    assert cluster["cluster"]["train_sample_share"] == 1.0
    for key in ("max_input_auc", "call_type_auc"):
        assert cluster["leakage"][key] == pytest.approx(single["leakage"][key], abs=1e-12)
    assert cluster["cluster"]["workers"] == 2
    assert cluster["backtest"].startswith("not run on a cluster")


def test_test_metrics_match_within_tolerance(cluster_trained: dict) -> None:
    single, cluster = cluster_trained["single"], cluster_trained["cluster"]
    s, c = single["metrics"], cluster["metrics"]
    assert abs(c["auc"] - s["auc"]) <= AUC_TOLERANCE, (s["auc"], c["auc"])
    assert abs(c["brier"] - s["brier"]) <= BRIER_RELATIVE_TOLERANCE * s["brier"]
    # Each beats today's practice by the same margin, give or take the same tolerance.
    lift_s = s["auc"] - single["baselines"]["call_type_rate"]["auc"]
    lift_c = c["auc"] - cluster["baselines"]["call_type_rate"]["auc"]
    assert abs(lift_c - lift_s) <= AUC_TOLERANCE
    # The baselines are fitted from exact cluster totals: the same call-type rates.
    assert cluster["baselines"]["call_type_rate"]["auc"] == pytest.approx(
        single["baselines"]["call_type_rate"]["auc"], abs=1e-9
    )
    assert cluster["oracle"] == single["oracle"]


def test_the_same_artifact(cluster_trained: dict) -> None:
    uri = cluster_trained["tracking_uri"]
    single = _load(uri, cluster_trained["single"]["model_uri"])
    cluster = _load(uri, cluster_trained["cluster"]["model_uri"])
    assert type(cluster) is type(single)
    assert cluster.encoder.vocab_ == single.encoder.vocab_
    assert cluster.booster.feature_name() == single.booster.feature_name()
    assert set(single.metadata) <= set(cluster.metadata)
    assert cluster.metadata["engine"]["dask_workers"] == 2
    for key in ("history_from", "history_until", "seen_areas", "trained_on_simulated"):
        assert cluster.metadata[key] == single.metadata[key], key
    # The premise history snapshot the model carries: the same events, whatever the order.
    a = single.history.sort_values("call_id").reset_index(drop=True)
    b = cluster.history.sort_values("call_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_answers_have_the_same_shape(cluster_trained: dict) -> None:
    uri = cluster_trained["tracking_uri"]
    single = _load(uri, cluster_trained["single"]["model_uri"])
    cluster = _load(uri, cluster_trained["cluster"]["model_uri"])
    calls_all = pd.read_parquet(cluster_trained["data"]).sort_values("received_at")
    calls_all = calls_all.drop(columns=["officer_assaulted", "officer_injured"])
    calls = calls_all.tail(40)
    a = single.score_calls(calls)
    b = cluster.score_calls(calls)
    assert list(a.columns) == list(b.columns)
    assert (a["call_id"].to_numpy() == b["call_id"].to_numpy()).all()
    assert np.isfinite(b["risk_score"]).all()
    assert set(b["decision"]) <= {"high", "low", "cant_tell"}
    # Scores of the two models on the same calls rank alike: over the last 5,000 calls, since
    # 40 calls alone gave rank correlations of 0.73-0.89 between equally good runs (a flaky
    # check), 2,000 gave 0.83-0.91.
    recent = calls_all.tail(5_000)
    sa = single.score_calls(recent, explain=False)["risk_score"]
    sb = cluster.score_calls(recent, explain=False)["risk_score"]
    rho = pd.Series(sa).corr(pd.Series(sb), method="spearman")
    assert rho > 0.8


def test_an_export_without_source_or_premise_type_trains(dask_client, tmp_path) -> None:
    """Real exports often lack whole columns (Dallas 2016 has no call source or premise type):
    their categorical inputs are then missing on every row, which crashed a LightGBM worker
    ("Socket recv error, Connection reset by peer"). The cluster run now trains as `train`."""
    import contextlib

    from risk_model.config import EvaluationConfig, ModelConfig, Settings
    from risk_model.simulate.generate import simulate
    from risk_model.training.dask_fit import train_on_cluster
    from risk_model.training.pipeline import train

    calls, _ = simulate(calls=25_000, seed=4, start="2025-01-01", days=240)
    data = tmp_path / "calls.parquet"
    calls.drop(columns=["source", "premise_type"]).to_parquet(data, index=False)
    settings = Settings(
        model=ModelConfig(n_estimators=200, early_stopping_rounds=20, num_leaves=4, max_depth=2),
        evaluation=EvaluationConfig(bootstrap=20),
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": uri}), contextlib.chdir(tmp_path):
        single = train(data, settings, experiment="single")
        cluster = train_on_cluster(data, settings, experiment="cluster", client=dask_client)
    assert cluster["window_counts"] == single["window_counts"]
    assert cluster["leakage"]["max_input_auc"] == pytest.approx(single["leakage"]["max_input_auc"])
    # 25,000 calls is too few for the stated tolerance (measured on 120,000 and more): each
    # model is only asked to rank calls as a model of this data does, well above chance.
    assert single["metrics"]["auc"] > 0.7 and cluster["metrics"]["auc"] > 0.7
    model = _load(uri, cluster["model_uri"])
    scored = model.score_calls(calls.drop(columns=["source", "premise_type"]).tail(20))
    assert np.isfinite(scored["risk_score"]).all()


def test_big_later_windows_come_to_the_client_as_a_sample(
    cluster_trained: dict, dask_client
) -> None:
    """Past `cluster.later_window_rows` labelled calls a later window reaches the client as a
    seeded sample (bounded client memory at tens of millions of calls): the windows and the
    leakage guard's verdict are unchanged, and the full-window test AUC lies in the interval the
    sampled run reports."""
    import contextlib

    from risk_model.config import ClusterConfig
    from risk_model.training.dask_fit import train_on_cluster

    root = cluster_trained["root"]
    full = cluster_trained["cluster"]
    later = ("validation", "calibration", "test")
    cap = min(full["window_counts"][name]["calls"] for name in later) // 2
    settings = cluster_trained["settings"].model_copy(
        update={"cluster": ClusterConfig(later_window_rows=cap)}
    )
    with (
        mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": cluster_trained["tracking_uri"]}),
        contextlib.chdir(root),
    ):
        sampled = train_on_cluster(
            cluster_trained["dataset"],
            settings,
            experiment="cluster-sampled",
            truth=root / "calls.truth.parquet",
            client=dask_client,
        )
    assert sampled["window_counts"] == full["window_counts"]
    shares = sampled["cluster"]["sample_shares"]
    for name in later:
        calls = full["window_counts"][name]["calls"]
        assert calls > cap and shares[name] == pytest.approx(cap / calls, abs=1e-4)
    n_train = full["window_counts"]["train"]["calls"]
    assert sampled["cluster"]["rows_to_client"] < n_train + 3 * cap * 1.1
    # The guard's verdict is the same; its figures are AUCs on the sampled later windows.
    assert sampled["leakage"]["passed"] is full["leakage"]["passed"] is True
    # The full-window test AUC lies in the interval the sampled run reports for itself, give or
    # take the tolerance between two cluster runs (their trees differ).
    low, high = sampled["metrics"]["ci"]["auc"]
    assert low - AUC_TOLERANCE <= full["metrics"]["auc"] <= high + AUC_TOLERANCE
