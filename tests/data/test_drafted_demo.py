"""The demo export drafted by `map --draft`, unedited, goes all the way: ingest with exact
accounting, then `train` (issue 18: "the demo export's draft ... ingests with exact accounting
and trains")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.simulate.agency_export import CAD_FILE, HARM_FILE

pytestmark = pytest.mark.xdist_group("model")


@pytest.mark.slow
def test_the_drafted_demo_export_ingests_and_trains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    agency = tmp_path / "agency"
    res = runner.invoke(
        app,
        ["simulate", "--calls", "60000", "--seed", "12", "--start", "2025-01-01",
         "--out", str(tmp_path / "world.parquet"), "--agency-export", str(agency)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    draft = tmp_path / "draft.yaml"
    res = runner.invoke(
        app,
        ["map", "--draft", str(agency / CAD_FILE), "--outcomes", str(agency / HARM_FILE),
         "--out", str(draft)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        ["ingest", "--input", str(agency / CAD_FILE), "--mapping", str(draft),
         "--out", str(tmp_path / "ingested"), "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads(res.output.strip().splitlines()[-1])
    parts = ("rows_accepted", "rows_folded", "rows_quarantined", "rows_excluded")
    assert report["rows_in"] == sum(report[k] for k in parts)
    assert report["outcome_rows_matched"] > 0
    config = tmp_path / "fast.yaml"
    config.write_text(
        "model: {n_estimators: 60, early_stopping_rounds: 10}\nevaluation: {bootstrap: 0}\n"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(
        app,
        ["train", "--data", str(tmp_path / "ingested" / "calls.parquet"), "--config",
         str(config), "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["rows_rejected"] == 0
    assert summary["metrics"]["auc"] > summary["baselines"]["call_type_rate"]["auc"] - 0.05
