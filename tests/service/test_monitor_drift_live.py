"""Each drift the simulator can plant (`--drift`), scored by the live assessor, given its
outcomes the way `POST /ingest` does, then monitored: the verdict names the cause.

The drifted world is the trained model's own world (same seed, size and period) with the drift
starting on the first day of the live window, so the history before it is the training data."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from service_helpers import json_record

from risk_model.batch.score import load_history_file
from risk_model.config import MonitorConfig
from risk_model.monitor.job import monitor
from risk_model.schema import OUTCOME_COLUMNS, CallRecord, CallWithOutcome
from risk_model.service.assessor import merge_repeated_calls
from risk_model.service.settings import ServiceSettings, load_assessor
from risk_model.simulate.generate import simulate

pytestmark = pytest.mark.xdist_group("model")

LIVE_DAYS = 21  # the last three weeks of the simulated year (~7,000 calls) are scored live
CFG = MonitorConfig(feedback_days=7)


@pytest.fixture(scope="module")
def drift_world(trained: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("monitor_drift")
    calls = pd.read_parquet(trained["data"])
    since = (calls["received_at"].max() - pd.Timedelta(days=LIVE_DAYS)).normalize()
    calls[calls["received_at"] < since].to_parquet(root / "history.parquet", index=False)
    load_history_file(root / "history.parquet", root / "base.db")
    return {"root": root, "since": since, "trained": trained}


def _score_and_ingest(world: dict, drift: str | None) -> dict[str, Path]:
    """Simulates the trained world with `drift`, scores its live window in time order (500 calls
    at a time) into a fresh audit log, each batch then ingested with its outcomes."""
    since = world["since"]
    calls, _ = simulate(
        120_000, 5, start="2025-01-01", days=365, drift=drift, drift_from=str(since.date())
    )
    live = calls[calls["received_at"] >= since]
    fields = set(CallWithOutcome.model_fields)
    records = [
        json_record(r) for r in live[[c for c in live.columns if c in fields]].to_dict("records")
    ]
    d = world["root"] / (drift or "none").replace(":", "_").replace(",", "_")
    d.mkdir()
    shutil.copy(world["root"] / "base.db", d / "history.db")
    assessor = load_assessor(
        ServiceSettings(
            model_uri=world["trained"]["model_uri"],
            history_db=d / "history.db",
            audit_db=d / "audit.db",
            tracking_uri=world["trained"]["tracking_uri"],
        )
    )
    for start in range(0, len(records), 500):
        batch = records[start : start + 500]
        scored = [
            CallRecord.model_validate({k: v for k, v in r.items() if k not in OUTCOME_COLUMNS})
            for r in batch
        ]
        assessor.assess([c.to_row() for c in scored])
        rows = [(i, CallWithOutcome.model_validate(r).to_row()) for i, r in enumerate(batch)]
        unique, _ = merge_repeated_calls(rows)
        assessor.ingest(unique)
    return {"audit": d / "audit.db", "history": d / "history.db"}


def _monitor(world: dict, drift: str | None) -> dict[str, Any]:
    files = _score_and_ingest(world, drift)
    return monitor(files["audit"], files["history"], days=60, cfg=CFG)


def test_new_call_type_says_retrain_and_names_the_vocabulary(drift_world: dict) -> None:
    report = _monitor(drift_world, "new_call_type:0.5")
    assert report["verdict"] == "retrain", report["reasons"]
    assert any(
        r.startswith("retrain: warnings:") and "of calls carry unknown_call_type" in r
        for r in report["reasons"]
    ), report["reasons"]


def test_harm_rate_in_one_district_names_the_district(drift_world: dict) -> None:
    report = _monitor(drift_world, "harm_rate:SOUTH:8")
    assert report["verdict"] in ("watch", "retrain"), report["reasons"]
    assert any(
        r.startswith("watch: district SOUTH: observed harm rate") for r in report["reasons"]
    ), report["reasons"]
    # no other district is named for its harm rate
    assert not any(
        "observed harm rate" in r and "district" in r and "SOUTH" not in r
        for r in report["reasons"]
    ), report["reasons"]


def test_flag_feedback_shows_an_excess_over_the_undrifted_world(drift_world: dict) -> None:
    base = _monitor(drift_world, None)["feedback_loop"]
    fed = _monitor(drift_world, "flag_feedback:200")["feedback_loop"]
    assert base.get("premises", 0) > 0 and fed.get("premises", 0) > 0, (base, fed)
    assert fed["mean_calls_after"] > base["mean_calls_after"], (base, fed)
    assert fed["excess"] > base["excess"], (base, fed)
