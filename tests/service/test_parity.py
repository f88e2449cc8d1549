"""Parity: a call scored by the service equals the same call scored by `risk-model score` with
the same history (SPEC §2).

The store is loaded from the history file; each live call is scored, then ingested (facts only),
so later calls see it, exactly as the offline command treats its input as history for the calls
after it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from service_helpers import running_service, service_env

from risk_model.schema import OUTCOME_COLUMNS

pytestmark = pytest.mark.xdist_group("model")

N_CALLS = 60


def test_service_equals_the_score_command(service_data: dict, tmp_path: Path) -> None:
    calls = service_data["records"][:N_CALLS]
    with running_service(service_env(service_data, tmp_path / "svc")) as client:
        live = {}
        for c in calls:
            resp = client.post("/score", json={"call": c})
            assert resp.status_code == 200, resp.text
            live[c["call_id"]] = resp.json()
            assert client.post("/ingest", json={"calls": [c]}).json()["accepted"] == 1

    frame = pd.read_parquet(service_data["live_file"]).iloc[:N_CALLS]
    frame = frame.drop(columns=[c for c in OUTCOME_COLUMNS if c in frame.columns])
    assert frame["call_id"].tolist() == [c["call_id"] for c in calls]
    frame.to_parquet(tmp_path / "input.parquet", index=False)
    out = tmp_path / "scored.parquet"
    env = {**os.environ, "MLFLOW_TRACKING_URI": service_data["tracking_uri"]}
    cmd = [
        *(sys.executable, "-m", "risk_model.cli", "score"),
        *("--model", service_data["model_uri"], "--input", str(tmp_path / "input.parquet")),
        *("--history", str(service_data["history_file"]), "--out", str(out), "--json"),
    ]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["rows_scored"] == N_CALLS

    offline = pd.read_parquet(out).set_index("call_id")
    for call_id, answer in live.items():
        row = offline.loc[call_id]
        assert answer["risk_score"] == pytest.approx(row["risk_score"], abs=1e-6), call_id
        assert answer["risk_tier"] == row["risk_tier"], call_id
        assert answer["decision"] == row["decision"], call_id
        assert answer["reasons"] == json.loads(row["reasons"]), call_id
