"""Parity: one assessment path, three callers. `POST /score`, `risk-model score` and the MLflow
pyfunc all take `CallRiskModel.assess_features`, so for the same calls and history they give the
same score, tier, decision, reason features, precaution ids and warning codes (SPEC §2-§4).

The store is loaded from the history file; each live call is scored, then ingested (facts only),
so later calls see it, exactly as the offline command treats its input as history for the calls
after it. The pyfunc carries no history argument: it scores with the model's training-time
snapshot, so it is compared with `risk-model score` run on that snapshot (no --history)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from service_helpers import json_record, running_service, service_env

from risk_model.schema import OUTCOME_COLUMNS, CallRecord

pytestmark = pytest.mark.xdist_group("model")

N_CALLS = 60


def score_command(data: dict, frame: pd.DataFrame, workdir: Path, history: bool) -> pd.DataFrame:
    """`risk-model score` on `frame` in a subprocess, as an analyst runs it."""
    workdir.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(workdir / "input.parquet", index=False)
    out = workdir / "scored.parquet"
    env = {**os.environ, "MLFLOW_TRACKING_URI": data["tracking_uri"]}
    cmd = [
        *(sys.executable, "-m", "risk_model.cli", "score"),
        *("--model", data["model_uri"], "--input", str(workdir / "input.parquet")),
        *(("--history", str(data["history_file"])) if history else ()),
        *("--out", str(out), "--json"),
    ]
    done = subprocess.run(cmd, env=env, cwd=workdir, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["rows_scored"] == len(frame)
    return pd.read_parquet(out).set_index("call_id")


def essentials(a: dict[str, Any]) -> dict[str, Any]:
    """What must be identical: the decision and everything it rests on."""
    return {
        "risk_tier": a["risk_tier"],
        "decision": a["decision"],
        "reasons": [r["feature"] for r in a["reasons"]],
        "reason_values": [r["value"] for r in a["reasons"]],
        "precautions": [p["id"] for p in a["precautions"]],
        "warnings": [w.split(":", 1)[0] for w in a["warnings"]],
    }


def from_row(row: pd.Series) -> dict[str, Any]:
    """An offline output row (lists as JSON text) as the API's assessment."""
    return {
        "risk_score": float(row["risk_score"]),
        "risk_tier": row["risk_tier"],
        "decision": row["decision"],
        "reasons": json.loads(row["reasons"]),
        "precautions": json.loads(row["precautions"]),
        "warnings": json.loads(row["warnings"]),
    }


def live_frame(service_data: dict) -> pd.DataFrame:
    frame = pd.read_parquet(service_data["live_file"]).iloc[:N_CALLS]
    return frame.drop(columns=[c for c in OUTCOME_COLUMNS if c in frame.columns])


def test_service_equals_the_score_command(service_data: dict, tmp_path: Path) -> None:
    calls = service_data["records"][:N_CALLS]
    with running_service(service_env(service_data, tmp_path / "svc")) as client:
        live = {}
        for c in calls:
            resp = client.post("/score", json={"call": c})
            assert resp.status_code == 200, resp.text
            live[c["call_id"]] = resp.json()
            assert client.post("/ingest", json={"calls": [c]}).json()["accepted"] == 1

    frame = live_frame(service_data)
    assert frame["call_id"].tolist() == [c["call_id"] for c in calls]
    offline = score_command(service_data, frame, tmp_path / "cmd", history=True)
    assert list(offline.columns) == [
        *("risk_score", "risk_tier", "decision", "reasons", "precautions", "warnings")
    ]
    some_precautions = 0
    for call_id, answer in live.items():
        row = from_row(offline.loc[call_id])
        assert answer["risk_score"] == pytest.approx(row["risk_score"], abs=1e-6), call_id
        assert essentials(answer) == essentials(row), call_id
        assert answer["reasons"] == row["reasons"], call_id
        some_precautions += bool(answer["precautions"])
    assert some_precautions > 0  # the comparison covers precautions, not only empty lists


def test_pyfunc_equals_the_score_command(service_data: dict, tmp_path: Path) -> None:
    import mlflow

    os.environ["MLFLOW_TRACKING_URI"] = service_data["tracking_uri"]
    frame = live_frame(service_data)
    pyfunc = mlflow.pyfunc.load_model(service_data["model_uri"])
    by_pyfunc = pyfunc.predict(frame).set_index("call_id")
    offline = score_command(service_data, frame, tmp_path / "cmd", history=False)
    assert list(by_pyfunc.columns) == list(offline.columns)
    for call_id in frame["call_id"]:
        a, b = from_row(by_pyfunc.loc[call_id]), from_row(offline.loc[call_id])
        assert a["risk_score"] == pytest.approx(b["risk_score"], abs=1e-6), call_id
        assert essentials(a) == essentials(b), call_id


def test_a_call_outside_what_the_model_knows_says_so_everywhere(
    service_data: dict, tmp_path: Path
) -> None:
    """A model trained on simulated calls, asked about a real-shaped call from years before its
    data in a district it never saw, says all three things, through /score and `score` alike."""
    call = {
        "call_id": "REAL-2018-1",
        "received_at": "2018-03-02T14:05:00",
        "call_type": "DOMESTIC BATTERY",
        "priority": 2,
        "address": "4800 N BROADWAY",
        "beat": "2024",
        "district": "NOWHERE DISTRICT 99",
        "weapon_reported": True,
    }
    with running_service(service_env(service_data, tmp_path / "svc")) as client:
        resp = client.post("/score", json={"call": call})
        assert resp.status_code == 200, resp.text
        live = resp.json()
    frame = pd.DataFrame([{**call, "received_at": pd.Timestamp(call["received_at"])}])
    offline = from_row(score_command(service_data, frame, tmp_path / "cmd", True).iloc[0])
    must = {"synthetic_model", "outside_training_period", "unseen_area"}
    for answer in (live, offline):
        codes = {w.split(":", 1)[0] for w in answer["warnings"]}
        assert must <= codes, answer["warnings"]
        period = next(w for w in answer["warnings"] if w.startswith("outside_training_period"))
        assert "2018-03-02" in period and "before the model's training data" in period
        unseen = next(w for w in answer["warnings"] if w.startswith("unseen_area"))
        assert "NOWHERE DISTRICT 99" in unseen
    assert essentials(live) == essentials(offline)


def months_later(service_data: dict) -> pd.DataFrame:
    """The live calls moved into the six months after the history's last call, in time order:
    some in a district and beat the history never saw, some at premises it never saw, some with
    no area or no address at all, some known only to the day."""
    frame = live_frame(service_data).reset_index(drop=True)
    end = pd.read_parquet(service_data["history_file"], columns=["received_at"])["received_at"]
    days = np.linspace(1.0, 182.0, len(frame)) + np.arange(len(frame)) % 3 * 0.37
    at = (end.max() + pd.to_timedelta(days, unit="D")).floor("s")
    frame["received_at"] = at.to_numpy()
    frame["received_until"] = pd.NaT
    frame["call_id"] = [f"LATER-{i}" for i in range(len(frame))]
    idx = np.arange(len(frame))
    frame.loc[idx % 5 == 1, ["beat", "district"]] = ["NEW BEAT 1", "NEW DISTRICT 9"]
    new = idx % 5 == 2
    frame.loc[new, "address"] = [f"{9000 + i} NEW PREMISE RD" for i in idx[new]]
    frame.loc[idx % 5 == 3, ["beat", "district"]] = None
    frame.loc[idx % 7 == 4, ["address", "latitude", "longitude"]] = None
    day_only = idx % 6 == 5
    frame.loc[day_only, "received_until"] = frame.loc[day_only, "received_at"].dt.normalize() + (
        pd.Timedelta(days=1)
    )
    frame.loc[day_only, "received_at"] = frame.loc[day_only, "received_at"].dt.normalize()
    frame["received_until"] = frame["received_until"].astype("datetime64[us]")
    return frame


def test_months_after_the_history_service_and_score_command_agree_exactly(
    service_data: dict, tmp_path: Path
) -> None:
    """A served model lives for months: calls up to six months after the history (each scored,
    then ingested, as a CAD feed does) get from /score exactly what `score` writes, every field
    of the answer: score, tier, decision, reasons, precautions with their quoted incidents,
    warnings."""
    frame = months_later(service_data)
    columns = [c for c in frame.columns if c in CallRecord.model_fields]
    records = [json_record(r) for r in frame[columns].to_dict(orient="records")]
    with running_service(service_env(service_data, tmp_path / "svc")) as client:
        live = {}
        for c in records:
            resp = client.post("/score", json={"call": c})
            assert resp.status_code == 200, resp.text
            live[c["call_id"]] = resp.json()
            assert client.post("/ingest", json={"calls": [c]}).json()["accepted"] == 1
    offline = score_command(service_data, frame, tmp_path / "cmd", history=True)
    codes: set[str] = set()
    for call_id, answer in live.items():
        row = from_row(offline.loc[call_id])
        assert answer["risk_score"] == pytest.approx(row["risk_score"], abs=1e-6), call_id
        for key in ("risk_tier", "decision", "reasons", "precautions", "warnings"):
            assert answer[key] == row[key], (call_id, key)
        codes |= {w.split(":", 1)[0] for w in answer["warnings"]}
    # The comparison covers what months later brings: the period, the new areas, no areas.
    assert {"outside_training_period", "unseen_area", "no_area_history"} <= codes, codes
    assert "no_premise_history" in codes


def test_months_after_the_history_pyfunc_and_score_command_agree(
    service_data: dict, tmp_path: Path
) -> None:
    import mlflow

    os.environ["MLFLOW_TRACKING_URI"] = service_data["tracking_uri"]
    frame = months_later(service_data)
    by_pyfunc = mlflow.pyfunc.load_model(service_data["model_uri"]).predict(frame)
    offline = score_command(service_data, frame, tmp_path / "cmd", history=False)
    by_pyfunc = by_pyfunc.set_index("call_id")
    for call_id in frame["call_id"]:
        a, b = from_row(by_pyfunc.loc[call_id]), from_row(offline.loc[call_id])
        assert a["risk_score"] == pytest.approx(b["risk_score"], abs=1e-6), call_id
        for key in ("risk_tier", "decision", "reasons", "precautions", "warnings"):
            assert a[key] == b[key], (call_id, key)
