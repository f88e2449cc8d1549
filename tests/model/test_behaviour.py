"""Behaviour tests on a trained model: what must hold whatever the data (Made-With-ML style)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from risk_model.features.build import build_features, events_frame
from risk_model.model import tracking
from risk_model.schema import validate_frame

pytestmark = pytest.mark.xdist_group("model")


@pytest.fixture(scope="module")
def model(trained: dict):
    loaded, ref = tracking.load_model(trained["model_uri"])
    assert ref.version == "1"
    return loaded


@pytest.fixture(scope="module")
def calls(trained: dict) -> pd.DataFrame:
    return validate_frame(pd.read_parquet(trained["data"])).accepted


def test_training_summary_has_the_contract_keys(trained: dict) -> None:
    result = trained["result"]
    assert result["run_id"] and result["model_uri"].startswith("runs:/")
    for key in ("auc", "pr_auc", "brier", "ece", "recall_top5pct"):
        assert 0 <= result["metrics"][key] <= 1
        assert 0 <= result["baselines"]["call_type_rate"][key] <= 1
        assert 0 <= result["baselines"]["logistic"][key] <= 1
    assert result["registered"]["champion"] is True
    assert "oracle" in result  # the simulator's truth file sits beside the data
    assert result["metrics"]["auc"] > result["baselines"]["call_type_rate"]["auc"]


def test_a_reported_weapon_never_lowers_the_score(model, calls: pd.DataFrame) -> None:
    sample = calls.iloc[-3000:]
    feats = build_features(
        sample,
        model.settings.features,
        history=events_frame(calls.iloc[:-3000], model.settings.features),
    )
    without = model.assess(feats.assign(weapon_reported=0.0), explain=False).risk_score
    with_weapon = model.assess(feats.assign(weapon_reported=1.0), explain=False).risk_score
    assert np.all(with_weapon >= without - 1e-12)
    assert np.mean(with_weapon > without) > 0.5  # and it usually raises it
    nar_off = model.assess(feats.assign(nar_weapon=0.0), explain=False).risk_score
    nar_on = model.assess(feats.assign(nar_weapon=1.0), explain=False).risk_score
    assert np.all(nar_on >= nar_off - 1e-12)


def test_a_prior_assault_at_the_premise_never_lowers_the_score(model, calls: pd.DataFrame) -> None:
    cfg = model.settings.features
    history = calls.iloc[:-2000].copy()
    later = calls.iloc[-2000:]
    feats = build_features(later, cfg, history=events_frame(history, cfg))
    keys = set(feats["_premise"].dropna())
    # Earlier, unassaulted calls at premises the later calls share: flip them to assaulted.
    candidates = history.index[
        history["officer_assaulted"].eq(False)
        & events_frame(history, cfg)["premise"].isin(keys).to_numpy()
    ][-300:]
    assert len(candidates) > 50
    flipped = history.copy()
    flipped.loc[candidates, "officer_assaulted"] = True
    base = model.assess(feats, explain=False).risk_score
    after = model.assess(
        build_features(later, cfg, history=events_frame(flipped, cfg)), explain=False
    ).risk_score
    assert np.all(after >= base - 1e-12)
    assert np.any(after > base)


def test_shuffling_post_dispatch_columns_changes_nothing(model, calls: pd.DataFrame) -> None:
    sample = calls.iloc[-1500:].reset_index(drop=True)
    base = model.score_calls(sample)
    rng = np.random.default_rng(3)
    shuffled = sample.copy()
    for col in ("disposition", "final_call_type", "clearance_code", "cleared_at"):
        shuffled[col] = shuffled[col].to_numpy()[rng.permutation(len(sample))]
    pd.testing.assert_frame_equal(base, model.score_calls(shuffled))


def test_score_command_equals_pyfunc_predict(
    trained: dict, calls: pd.DataFrame, tmp_path: Path
) -> None:
    import mlflow.pyfunc

    sample = calls.iloc[-400:].copy()
    # Every tenth call known only to the day: MLflow must pass received_until through to the
    # model (it drops inputs its signature does not name) and both paths must agree on it.
    day_only = np.arange(len(sample)) % 10 == 0
    days = pd.to_datetime(sample["received_at"]).dt.normalize()
    sample["received_until"] = pd.Series(pd.NaT, index=sample.index, dtype="datetime64[us]")
    sample.loc[day_only, "received_at"] = days[day_only]
    sample.loc[day_only, "received_until"] = days[day_only] + pd.Timedelta(days=1)
    inp = tmp_path / "in.parquet"
    sample.to_parquet(inp)
    out = tmp_path / "scored.parquet"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "risk_model.cli",
            "score",
            "--model",
            trained["model_uri"],
            "--input",
            str(inp),
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        env={**__import__("os").environ},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["rows_scored"] == 400 and summary["out"] == str(out)
    scored = pd.read_parquet(out)
    tracking.configure()
    predicted = mlflow.pyfunc.load_model(trained["model_uri"]).predict(sample)
    pd.testing.assert_frame_equal(
        scored.reset_index(drop=True), predicted.reset_index(drop=True), check_dtype=False
    )
    assert set(scored.columns) >= {"call_id", "risk_score", "risk_tier", "decision", "reasons"}
    first = json.loads(scored["reasons"].iloc[0])
    assert {"feature", "value", "contribution", "text"} <= set(first[0])


def test_tiers_decisions_and_calibration_are_sane(model, calls: pd.DataFrame) -> None:
    scored = model.score_calls(calls.iloc[-5000:], explain=False)
    assert set(scored["risk_tier"]) <= {"low", "elevated", "high"}
    assert set(scored["decision"]) <= {"high", "low", "cant_tell"}
    assert scored["risk_score"].between(0, 1).all()
    # The tier thresholds are multiples of the base rate, not 0.5.
    base = model.base_rate
    high = scored["risk_score"] >= model.settings.tiers.high_multiple * base
    assert (scored.loc[high, "risk_tier"] == "high").all()
    assert scored["risk_score"].mean() == pytest.approx(base, rel=0.5)


def test_the_model_card_and_artifacts_are_logged(trained: dict) -> None:
    from mlflow import MlflowClient

    tracking.configure()
    client = MlflowClient()
    names = {a.path for a in client.list_artifacts(trained["result"]["run_id"])}
    assert {
        "model_card.md",
        "audit.csv",
        "summary.json",
        "plots",
        "calibration_by_decile.csv",
    } <= names
    plots = {a.path for a in client.list_artifacts(trained["result"]["run_id"], "plots")}
    assert "plots/shap_summary.png" in plots and "plots/calibration.png" in plots
    run = client.get_run(trained["result"]["run_id"])
    assert run.data.params["feature_hash"] == trained["result"]["feature_hash"]
    assert "test_auc" in run.data.metrics and "call_type_rate_auc" in run.data.metrics
