"""`risk-model monitor` on calls scored by the live assessor (what the service runs) and then
given their outcomes the way `POST /ingest` does: `ok` in the model's own world, `retrain`
naming the cause after a planted shift (doubled harm rate; a renamed call-type vocabulary)."""

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

pytestmark = pytest.mark.xdist_group("model")

LIVE = 20_000  # the newest calls of the simulated year (~2 months, ~50 harmed) are scored live


@pytest.fixture(scope="module")
def world(trained: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("monitor")
    calls = pd.read_parquet(trained["data"]).sort_values("received_at", kind="stable")
    calls = calls.reset_index(drop=True)
    history, live = calls.iloc[:-LIVE], calls.iloc[-LIVE:]
    history.to_parquet(root / "history.parquet", index=False)
    load_history_file(root / "history.parquet", root / "base.db")
    fields = set(CallWithOutcome.model_fields)
    records = [
        json_record(r) for r in live[[c for c in live.columns if c in fields]].to_dict("records")
    ]
    return {"root": root, "records": records, "trained": trained}


def _score_and_ingest(
    world: dict, name: str, rename_types: bool = False, extra_harm: float = 0.0, n: int = LIVE
) -> dict[str, Path]:
    """Scores the live calls (without outcomes) into a fresh audit log, then ingests them with
    their outcomes; `extra_harm` turns that share of the unharmed calls into harmed ones."""
    d = world["root"] / name
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
    records = [dict(r) for r in world["records"][-n:]]
    if rename_types:
        for r in records:
            r["call_type"] = f"NEW-{r['call_type']}"
    unharmed = [
        i
        for i, r in enumerate(records)
        if not (r.get(OUTCOME_COLUMNS[0]) or r.get(OUTCOME_COLUMNS[1]))
    ]
    flip = set(unharmed[:: max(1, round(1 / extra_harm))] if extra_harm else [])
    for i in flip:
        records[i][OUTCOME_COLUMNS[1]] = True
    # As the service sees them: calls scored as they come (in time order, a batch at a time),
    # each batch then ingested with its outcomes, so the next calls' premise history is current.
    for start in range(0, len(records), 500):
        batch = records[start : start + 500]
        calls = [
            CallRecord.model_validate({k: v for k, v in r.items() if k not in OUTCOME_COLUMNS})
            for r in batch
        ]
        assessor.assess([c.to_row() for c in calls])
        rows = [(i, CallWithOutcome.model_validate(r).to_row()) for i, r in enumerate(batch)]
        unique, _ = merge_repeated_calls(rows)
        assessor.ingest(unique)
    return {"audit": d / "audit.db", "history": d / "history.db"}


def test_own_world_is_ok_and_shifts_say_why(world: dict) -> None:
    files = _score_and_ingest(world, "own")
    report = monitor(files["audit"], files["history"], days=120, cfg=MonitorConfig())
    v = report["versions"][report["model"]]
    assert report["calls_scored"] == LIVE
    assert report["outcomes_known"] == LIVE
    cal = v["calibration"]
    assert cal["observed_ci"][0] <= cal["predicted_rate"] <= cal["observed_ci"][1]
    assert "auc" in v["ranking"] and v["ranking"]["ci"]["auc"][0] < v["ranking"]["auc"]
    assert v["decisions"]["training"] is not None  # read from the run's summary.json
    assert "score" in v["psi"], v["psi"]  # the reference the training run saved
    assert report["verdict"] == "ok", report["reasons"]
    fb = report["feedback_loop"]  # flagged premises read from the store, matched, explained
    assert fb["premises"] > 0 and fb["control_premises"] > 0, fb
    assert "matched_expected_after" in fb and "does not prove" in fb["what_it_does_not"]

    # Doubled harm rate: about as many unharmed calls turn harmed as were harmed.
    rate = cal["observed_rate"]
    doubled = _score_and_ingest(world, "doubled", extra_harm=rate / (1 - rate))
    report = monitor(doubled["audit"], doubled["history"], days=120)
    assert report["observed_rate"] > 1.8 * rate
    assert report["verdict"] == "retrain"
    assert report["reasons"][0].startswith("retrain: calibration: observed harm rate")

    # A renamed call-type vocabulary: every call is unknown_call_type, and call_type drifts.
    renamed = _score_and_ingest(world, "renamed", rename_types=True, n=3000)
    report = monitor(renamed["audit"], renamed["history"], days=120)
    assert report["verdict"] == "retrain"
    assert any("of calls carry unknown_call_type" in r for r in report["reasons"])
    psi = report["versions"][report["model"]]["psi"]["features"]
    assert psi["call_type"] > 0.25
