"""End to end: `risk-model train` refuses a planted leak with one line; `--allow-leak` proceeds
and records the override in the result, in MLflow and on the model card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.simulate.generate import simulate

pytestmark = pytest.mark.xdist_group("model")


def test_train_refuses_a_planted_leak_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls, _ = simulate(calls=60_000, seed=31, start="2025-01-01", days=365)
    harmed = np.flatnonzero((calls["officer_assaulted"] | calls["officer_injured"]).fillna(False))
    calls["call_type"] = calls["call_type"].astype(object)
    calls.loc[harmed[: int(0.8 * len(harmed))], "call_type"] = "ASSAULT ON OFFICER"
    # Five records with a typo'd year: reported and left out of every window.
    early = calls.iloc[:5].copy()
    early["call_id"] = [f"OLD-{i}" for i in range(5)]
    early["received_at"] = pd.Timestamp("2001-06-01 12:00")
    calls = pd.concat([early, calls], ignore_index=True)
    data = tmp_path / "calls.parquet"
    calls.to_parquet(data, index=False)
    config = tmp_path / "fast.yaml"
    config.write_text(
        "model: {n_estimators: 40, early_stopping_rounds: 10}\nevaluation: {bootstrap: 0}\n"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    base = ["train", "--data", str(data), "--config", str(config), "--experiment", "leak"]

    refused = runner.invoke(app, base)
    assert refused.exit_code == 2, refused.output
    assert "Traceback" not in refused.output
    errors = [line for line in refused.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, refused.output
    assert "leakage guard" in errors[0] and "call_type" in errors[0]
    assert "--allow-leak call_type" in errors[0]
    assert not (tmp_path / "mlruns").exists()  # stopped before fitting or logging anything

    allowed = runner.invoke(app, [*base, "--allow-leak", "call_type", "--json"])
    assert allowed.exit_code == 0, allowed.output
    result = json.loads(allowed.output.strip().splitlines()[-1])
    assert result["leakage"]["overridden"]
    assert any("ASSAULT ON OFFICER" in t for t in result["leakage"]["overridden"])
    assert result["leakage"]["call_type_auc"] > 0.85
    assert result["outside_bulk"]["calls_before_bulk"] == 5
    assert result["outside_bulk"]["earliest"].startswith("2001-06-01")
    assert result["windows"]["train_start"].startswith("2025-01-01")

    import mlflow

    run = mlflow.get_run(result["run_id"])
    assert run.data.params["leakage.allow"] == "call_type"
    assert run.data.metrics["leakage_overridden"] >= 1
    assert run.data.metrics["calls_outside_bulk"] == 5
    check = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(
                run_id=result["run_id"],
                artifact_path="leakage_check.json",
                dst_path=str(tmp_path / "a"),
            )
        ).read_text()
    )
    assert check["allowed"] == ["call_type"] and check["passed"] is True
    card = Path(
        mlflow.artifacts.download_artifacts(
            run_id=result["run_id"], artifact_path="model_card.md", dst_path=str(tmp_path / "b")
        )
    ).read_text()
    assert "## Leakage check" in card and "ASSAULT ON OFFICER" in card
