"""Start-up and restart: readiness follows the model, a bad rule file stops the service, and the
history store outlives the service."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from service_helpers import assessor_of, running_service, service_env

from serving.api_models import EXAMPLE_CALL

pytestmark = pytest.mark.xdist_group("model")


def test_not_ready_while_the_model_cannot_load(service_data: dict, tmp_path: Path) -> None:
    env = service_env(service_data, tmp_path, CALL_RISK_MODEL_URI="models:/call-risk@nobody")
    with running_service(env, ready=False) as client:
        deadline = time.monotonic() + 60
        while client.get("/healthz").status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        live, ready = client.get("/healthz"), client.get("/readyz")
        assert (live.status_code, ready.status_code) == (503, 503)
        scored = client.post("/score", json={"call": EXAMPLE_CALL})
        assert scored.status_code == 503
        assert "nobody" in scored.json()["error"]


def test_a_bad_rule_file_stops_the_service(service_data: dict, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nrules:\n  - id: two_officer_response\n    text: Send two officers\n"
        "    program: VALOR\n    any:\n      - feature: {name: no_such_feature}\n"
    )
    env = service_env(service_data, tmp_path, CALL_RISK_PRECAUTIONS=str(rules))
    with pytest.raises(Exception, match="no_such_feature"), running_service(env):
        pass


def test_history_and_audit_survive_a_restart(service_data: dict, tmp_path: Path) -> None:
    """Ingest, stop, start: the new instance reads the same store and audit log files."""
    env = service_env(service_data, tmp_path)
    address = "77 RESTART ROW"
    prior = {
        **EXAMPLE_CALL,
        "call_id": "RS-1",
        "received_at": "2025-12-01T23:00:00",
        "address": address,
        "officer_assaulted": True,
    }
    with running_service(env) as client:
        assert client.post("/ingest", json={"calls": [prior]}).json()["inserted"] == 1
        client.post("/score", json={"call": {**EXAMPLE_CALL, "call_id": "RS-AUDIT"}})
    probe = {
        **EXAMPLE_CALL,
        "call_id": "RS-2",
        "received_at": "2025-12-20T23:00:00",
        "address": address,
    }
    with running_service(env) as client:
        assert client.post("/score", json={"call": probe}).status_code == 200
        audit = assessor_of(client).audit
        assert audit.entry("RS-2")["features"]["prem_assaults_365d"] == 1
        assert audit.entry("RS-AUDIT") is not None
        assert (Path(env["CALL_RISK_HISTORY_DB"]).parent / "audit.db").exists()


def test_not_ready_until_every_worker_has_loaded(service_data: dict, tmp_path: Path) -> None:
    """With several workers, a loaded worker still answers 503 while another is loading, so a
    200 from /readyz means a call sent anywhere is scored."""
    import bentoml

    from risk_model.service.readiness import WorkerReadiness

    markers = tmp_path / "markers"
    with running_service(service_env(service_data, tmp_path)) as client:
        service = bentoml.get_current_service()
        service.workers = WorkerReadiness(markers, 1, 2)
        service.workers.loaded()
        waiting = client.get("/readyz")
        assert waiting.status_code == 503
        assert "1 of 2 workers have loaded the model" in waiting.json()["error"]
        WorkerReadiness(markers, 2, 2).loaded()
        assert client.get("/readyz").status_code == 200
