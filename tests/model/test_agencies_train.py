"""Two agencies of very different sizes pool into one model with figures per agency; agencies
recording different outcomes are refused in one line (SPEC §1 "Agencies")."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.simulate.generate import simulate

pytestmark = pytest.mark.xdist_group("model")

FAST = "model: {n_estimators: 60, early_stopping_rounds: 10}\nevaluation: {bootstrap: 20}\n"


def _two_agencies() -> pd.DataFrame:
    """A big agency (2025) and a small one (2024) from different seeds. Both number their calls
    and name their streets, beats and districts alike: the project keeps them apart."""
    big, _ = simulate(calls=50_000, seed=41, start="2025-01-01", days=365)
    small, _ = simulate(calls=12_000, seed=42, start="2024-01-01", days=365)
    big.insert(1, "agency", "BIG")
    small.insert(1, "agency", "SMALL")
    small["call_id"] = small["call_id"].str.replace("C24-", "C25-")  # numbered like the big one
    assert set(big["call_id"]) & set(small["call_id"])  # the same call numbers in both
    return pd.concat([big, small], ignore_index=True)


@pytest.mark.slow
def test_two_agencies_pool_with_windows_and_figures_per_agency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _two_agencies()
    data = tmp_path / "pooled.parquet"
    calls.to_parquet(data, index=False)
    config = tmp_path / "fast.yaml"
    config.write_text(FAST)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["train", "--data", str(data), "--config", str(config), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    agencies = summary["agencies"]
    assert set(agencies) == {"BIG", "SMALL"}
    # Every call kept: the shared call numbers are not duplicates across agencies.
    assert summary["rows_rejected"] == 0
    # Windows within each agency: the small agency's test window lies in its own year.
    assert agencies["SMALL"]["windows"]["test_start"].startswith("2024")
    assert agencies["BIG"]["windows"]["test_start"].startswith("2025")
    for code, fig in agencies.items():
        counts = fig["window_counts"]
        assert all(counts[w]["calls"] > 0 for w in ("train", "validation", "calibration", "test"))
        assert fig["test_calls"] == counts["test"]["calls"], code
        assert 0.5 < fig["metrics"]["auc"] <= 1.0, code
        assert "call_type_rate" in fig["baselines"]
    pooled_test = sum(f["test_calls"] for f in agencies.values())
    assert pooled_test == summary["window_counts"]["test"]["calls"]

    import mlflow

    run = mlflow.get_run(summary["run_id"])
    assert run.data.metrics["agency_SMALL_auc"] == pytest.approx(
        agencies["SMALL"]["metrics"]["auc"]
    )


def test_agencies_with_different_outcomes_are_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = simulate(calls=3_000, seed=43, start="2025-01-01", days=120)
    b, _ = simulate(calls=3_000, seed=44, start="2025-01-01", days=120)
    a.insert(1, "agency", "LMPD")
    b.insert(1, "agency", "APD")
    a["officer_injured"] = pd.array([None] * len(a), dtype="boolean")  # LMPD: assaults only
    b["officer_assaulted"] = pd.array([None] * len(b), dtype="boolean")  # APD: injuries only
    data = tmp_path / "pooled.parquet"
    pd.concat([a, b], ignore_index=True).to_parquet(data, index=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["train", "--data", str(data)])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert "APD record officer_injured" in errors[0]
    assert "LMPD record officer_assaulted" in errors[0]
