"""The champion gate (SPEC §3): a model becomes champion only when it beats every baseline on the
test window by a paired bootstrap interval; a model with no signal is registered, not promoted,
and says why in the JSON, the model card and the review page; `--force-champion` overrides."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.config import ChampionConfig
from risk_model.review import view as rd
from risk_model.training.evaluate import (
    _RankedScore,
    bootstrap_intervals,
    paired_auc_bootstrap,
    poisson_weights,
)
from risk_model.training.gate import champion_gate

pytestmark = pytest.mark.xdist_group("model")

runner = CliRunner()


# --------------------------------------------------------------------------- the bootstrap


@pytest.mark.parametrize("shape", ["continuous", "ties", "constant"])
def test_ranked_auc_matches_sklearn_with_weights(shape: str) -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.2).astype(float)
    s = {
        "continuous": rng.random(400) + 0.4 * y,
        "ties": np.round(rng.random(400) + 0.4 * y, 1),
        "constant": np.zeros(400),
    }[shape]
    r = _RankedScore(s, y)
    w = rng.poisson(1.0, 400).astype(float)
    assert r.auc(w[r.order]) == pytest.approx(roc_auc_score(y, s, sample_weight=w))


def test_poisson_weights_are_poisson_one() -> None:
    w = np.concatenate(list(poisson_weights(50_000, 4, seed=0)))
    assert w.mean() == pytest.approx(1.0, abs=0.01)
    assert w.var() == pytest.approx(1.0, abs=0.02)
    assert (w == 0).mean() == pytest.approx(np.exp(-1), abs=0.005)


def test_paired_replicates_share_their_resamples() -> None:
    rng = np.random.default_rng(2)
    y = (rng.random(3000) < 0.05).astype(float)
    s = rng.random(3000) + 0.3 * y
    reps = paired_auc_bootstrap({"a": s, "b": s.copy(), "c": -s}, y, reps=50, seed=3)
    assert np.array_equal(reps["a"], reps["b"])  # same calls, same score: zero difference
    assert np.allclose(reps["a"] + reps["c"], 1.0)  # the reversed score mirrors each replicate
    lo, hi = bootstrap_intervals(s, y, 200, seed=3)["auc"]
    assert lo < roc_auc_score(y, s) < hi


# --------------------------------------------------------------------------- the gate


def _scores(n: int, model: float, ctr: float, logistic: float, seed: int = 0):
    """Test-window scores whose separation of harmed calls is set per score."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.05).astype(float)
    noise = rng.random((3, n))
    return {
        "model": noise[0] + model * y,
        "call_type_rate": np.round(noise[1] + ctr * y, 2),
        "logistic": noise[2] + logistic * y,
        "oracle": y + 0.0,  # a ceiling, never a competitor
    }, y


@pytest.mark.parametrize(
    ("model", "ctr", "logistic", "rule", "passed", "no_signal", "starts"),
    [
        (0.8, 0.2, 0.3, "paired_bootstrap", True, False, "beats every baseline"),
        (0.8, 0.2, 0.8, "paired_bootstrap", False, False, "does not beat every baseline"),
        (0.0, 0.0, 0.0, "paired_bootstrap", False, True, "no signal"),
        (0.0, 0.5, 0.5, "point_estimate", False, True, "no signal"),
        # A hair better by point estimate: enough for point_estimate, not for the interval.
        (0.31, 0.2, 0.3, "point_estimate", True, False, "beats every baseline by point"),
        (0.31, 0.2, 0.3, "paired_bootstrap", False, False, "does not beat every baseline"),
    ],
)
def test_the_gate(model, ctr, logistic, rule, passed, no_signal, starts) -> None:
    scores, y = _scores(8000, model, ctr, logistic)
    v = champion_gate(scores, y, ChampionConfig(rule=rule, reps=300), seed=1)
    assert (v.passed, v.no_signal) == (passed, no_signal)
    assert v.reason.startswith(starts), v.reason
    assert "\n" not in v.reason
    assert set(v.baselines) == {"call_type_rate", "logistic"}  # the oracle is no baseline
    if no_signal:
        assert "includes 0.5" in v.reason
    if not passed and not no_signal:
        assert "logistic" in v.reason and "call_type_rate" not in v.reason  # names the loser
    json.dumps(v.as_dict(), allow_nan=False)


@pytest.mark.parametrize(
    ("champion", "forced", "passed", "verdict", "warning"),
    [
        (False, False, False, "Not made champion", "This model was not made champion"),
        (True, True, False, "Champion by an explicit override", "This model became champion only"),
        (True, False, True, "Champion: it beat every baseline", None),
        # Passed the gate but lost to the current champion: still not champion, still a warning.
        (False, False, True, "Not made champion", "This model was not made champion"),
    ],
)
def test_the_review_page_reads_the_verdict(
    tmp_path: Path, champion: bool, forced: bool, passed: bool, verdict: str, warning: str | None
) -> None:
    decision = {
        "champion": champion,
        "forced": forced,
        "reason": "the one line",
        "gate": {"passed": passed, "no_signal": False},
    }
    (tmp_path / "summary.json").write_text(json.dumps({"champion": decision}))
    got = rd.model_report(rd.read_artifacts(tmp_path), "call-risk", "2", "run-1")["champion"]
    assert (got["champion"], got["forced"], got["reason"]) == (champion, forced, "the one line")
    assert got["verdict"].startswith(verdict)
    if warning is None:
        assert got["warning"] is None
    else:
        assert got["warning"].startswith(warning) and "the one line" in got["warning"]


def test_a_run_without_register_has_no_verdict_and_the_page_shows_one(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"metrics": {}}))
    assert rd.model_report(rd.read_artifacts(tmp_path), "x", "1", None)["champion"] is None
    js = (Path(__file__).resolve().parents[2] / "serving/static/review.js").read_text()
    assert "r.champion.warning" in js and "Champion gate" in js


# --------------------------------------------------------------------------- through train


def test_the_simulated_champion_passes_the_gate_honestly(trained: dict) -> None:
    """The shared fixture's model (simulated calls with real signal) earns its alias."""
    result = trained["result"]
    assert result["champion"] is True
    assert result["reason"].startswith("beats every baseline on the test window")
    gate = result["registered"]["gate"]
    assert gate["passed"] and not gate["no_signal"]
    assert all(b["ci"][0] > 0 for b in gate["baselines"].values())


FAST = """
model: {n_estimators: 150, early_stopping_rounds: 20, learning_rate: 0.1}
evaluation: {bootstrap: 0}
champion: {reps: 300}
"""


@pytest.fixture(scope="module")
def no_signal_data(tmp_path_factory: pytest.TempPathFactory, sim_calls: pd.DataFrame) -> Path:
    """The simulated year with outcomes drawn independently of every input (a 2% coin)."""
    root = tmp_path_factory.mktemp("no-signal")
    calls = sim_calls.copy()
    rng = np.random.default_rng(0)
    calls["officer_assaulted"] = pd.array(rng.random(len(calls)) < 0.02, dtype="boolean")
    calls["officer_injured"] = pd.array(np.zeros(len(calls), dtype=bool), dtype="boolean")
    calls.to_parquet(root / "noise.parquet", index=False)
    (root / "fast.yaml").write_text(FAST)
    return root


def _train(root: Path, *extra: str) -> dict:
    args = ["train", "--data", str(root / "noise.parquet"), "--config", str(root / "fast.yaml")]
    out = runner.invoke(app, [*args, "--register", "noise", "--json", *extra])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_no_signal_is_registered_but_not_champion_unless_forced(
    no_signal_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from risk_model.model import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{no_signal_data / 'mlflow.db'}")
    monkeypatch.chdir(no_signal_data)

    result = _train(no_signal_data)
    assert result["champion"] is False
    assert result["reason"].startswith("no signal: the model's test AUC is")
    assert result["registered"]["version"] == "1"
    tracking.configure()
    assert tracking.champion_version("noise") is None  # registered without the alias
    card = Path(
        mlflow.artifacts.download_artifacts(run_id=result["run_id"], artifact_path="model_card.md")
    ).read_text()
    assert f"**Not champion**: {result['reason']}" in card
    summary_path = Path(
        mlflow.artifacts.download_artifacts(run_id=result["run_id"], artifact_path="summary.json")
    )
    summary = json.loads(summary_path.read_text())
    assert summary["champion"]["reason"] == result["reason"]
    # The review page's model view reads the same summary.json back.
    report = rd.model_report(rd.read_artifacts(summary_path.parent), "noise", "1", None)
    assert report["champion"]["verdict"] == "Not made champion"
    assert report["champion"]["reason"] == result["reason"]
    assert report["champion"]["no_signal"] is True
    out = runner.invoke(app, ["champion", "--name", "noise"])
    assert out.exit_code == 1  # `serve` would find no champion to load
    data = str(no_signal_data / "noise.parquet")
    args = ["--model", "models:/noise@champion", "--input", data, "--out", "x.csv"]
    out = runner.invoke(app, ["score", *args])
    assert out.exit_code == 2  # and says why, in the words `train` used
    assert "no version of 'noise' is champion; the newest, version 1" in out.output
    assert result["reason"] in out.output and "Traceback" not in out.output

    forced = _train(no_signal_data, "--force-champion")
    assert forced["champion"] is True and forced["registered"]["forced"] is True
    assert forced["reason"].startswith("forced by --force-champion although: no signal")
    assert str(tracking.champion_version("noise").version) == "2"


def test_force_champion_needs_register(tmp_path: Path) -> None:
    csv = tmp_path / "calls.csv"
    csv.write_text("call_id,received_at,call_type\nA,2025-01-01T10:00:00,THEFT\n")
    out = runner.invoke(app, ["train", "--data", str(csv), "--force-champion"])
    assert out.exit_code == 2
    assert "--force-champion needs --register" in out.output
    assert os.path.exists(csv)
