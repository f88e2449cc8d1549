"""The HTTP API (SPEC §4) through `CallRisk.to_asgi()`: answers, order, audit, live history and
bad input. One service instance serves the whole module (its own copy of the history store)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from service_helpers import assessor_of, running_service, service_env
from starlette.testclient import TestClient

from serving.api_models import EXAMPLE_CALL, MAX_BATCH, Assessment, IngestResult
from serving.service import MAX_BODY_BYTES

pytestmark = pytest.mark.xdist_group("model")

SPEC_KEYS = {
    "call_id",
    "risk_score",
    "risk_tier",
    "decision",
    "reasons",
    "precautions",
    "model",
    "warnings",
}


@pytest.fixture(scope="module")
def client(service_data: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    env = service_env(service_data, tmp_path_factory.mktemp("http"))
    with running_service(env) as c:
        yield c


def call(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(EXAMPLE_CALL)
    out.update(changes)
    return out


def test_liveness_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_score_answers_a_spec_assessment(client: TestClient, service_data: dict) -> None:
    resp = client.post("/score", json={"call": EXAMPLE_CALL})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == SPEC_KEYS
    Assessment.model_validate(body)
    assert body["call_id"] == EXAMPLE_CALL["call_id"]
    assert body["model"] == {"name": "call-risk", "version": service_data["version"]}
    assert 0.0 <= body["risk_score"] <= 1.0
    reasons = body["reasons"]
    assert len(reasons) == 5  # settings.service.top_reasons
    sizes = [abs(r["contribution"]) for r in reasons]
    assert sizes == sorted(sizes, reverse=True)
    assert all(r["text"] and r["feature"] for r in reasons)
    for p in body["precautions"]:
        assert p["id"] and p["text"] and p["because"]


def test_every_scored_call_is_audited(client: TestClient, service_data: dict) -> None:
    audit = assessor_of(client).audit
    before = audit.count()
    one = client.post("/score", json={"call": call(call_id="AUDIT-1")}).json()
    entry = audit.entry("AUDIT-1")
    assert entry["assessment"] == one
    assert entry["call"]["call_type"] == EXAMPLE_CALL["call_type"]
    items = entry["contributions"]["items"]
    assert {i["feature"] for i in items} >= {r["feature"] for r in one["reasons"]}
    batch = [dict(r) for r in service_data["records"][:7]]
    assert client.post("/score_batch", json={"calls": batch}).status_code == 200
    assert audit.count() == before + 1 + len(batch)


def test_score_batch_keeps_the_order_and_equals_single_scores(
    client: TestClient, service_data: dict
) -> None:
    calls = list(reversed(service_data["records"][:25]))
    resp = client.post("/score_batch", json={"calls": calls})
    assert resp.status_code == 200, resp.text
    answers = resp.json()
    assert [a["call_id"] for a in answers] == [c["call_id"] for c in calls]
    # The batch answer is encoded by the service itself: exactly the documented shape.
    assert [Assessment.model_validate(a).model_dump(mode="json") for a in answers] == answers
    for c, a in zip(calls[:5], answers[:5], strict=True):
        single = client.post("/score", json={"call": c}).json()
        assert single == a


def test_ingest_then_score_shows_the_new_premise_history(client: TestClient) -> None:
    """Two assaults on officers ingested at a new address reach the next call's features and
    its premise precaution, with their dates."""
    address = "1 NEW HISTORY WAY"
    probe = call(call_id="NEW-3", received_at="2025-12-20T22:15:00", address=address)
    audit = assessor_of(client).audit

    first = client.post("/score", json={"call": probe}).json()
    assert audit.entry("NEW-3")["features"]["prem_assaults_365d"] == 0
    assert "premise_caution" not in {p["id"] for p in first["precautions"]}

    prior = [
        call(call_id="NEW-1", received_at="2025-11-20T01:00:00", address=address),
        call(call_id="NEW-2", received_at="2025-12-10T02:30:00", address=address),
    ]
    for p in prior:
        p.update(officer_assaulted=True, officer_injured=False)
    ingested = client.post("/ingest", json={"calls": prior})
    assert ingested.status_code == 200, ingested.text
    assert (
        ingested.json()
        == IngestResult(
            accepted=2, rejected=0, inserted=2, updated=0, unchanged=0, errors=[]
        ).model_dump()
    )

    second = client.post("/score", json={"call": {**probe, "call_id": "NEW-4"}}).json()
    features = audit.entry("NEW-4")["features"]
    assert features["prem_assaults_365d"] == 2
    assert features["prem_assaults_all"] == 2
    caution = {p["id"]: p for p in second["precautions"]}["premise_caution"]
    assert "2025-11-20 assault on an officer" in caution["text"]
    assert "2025-12-10 assault on an officer" in caution["text"]
    assert second["risk_score"] > first["risk_score"]


def test_ingest_updates_outcomes_and_never_scores(client: TestClient) -> None:
    audit = assessor_of(client).audit
    before = audit.count()
    fresh = call(call_id="OUT-1", received_at="2025-12-01T12:00:00")

    def ingest(c: dict) -> dict:
        resp = client.post("/ingest", json={"calls": [c]})
        assert resp.status_code == 200, resp.text
        return resp.json()

    assert ingest(fresh)["inserted"] == 1
    assert ingest({**fresh, "officer_injured": True})["updated"] == 1
    assert ingest({**fresh, "officer_injured": True})["unchanged"] == 1
    assert audit.count() == before


def test_ingest_reports_each_bad_call_and_keeps_the_good_ones(client: TestClient) -> None:
    calls = [
        call(call_id="ING-OK", received_at="2025-12-02T10:00:00"),
        call(call_id="ING-P0", priority=0),
        call(call_id="ING-T", received_at="not a time"),
    ]
    resp = client.post("/ingest", json={"calls": calls})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["accepted"], body["rejected"], body["inserted"]) == (1, 2, 1)
    assert [(e["index"], e["call_id"], e["field"]) for e in body["errors"]] == [
        (1, "ING-P0", "calls[1].priority"),
        (2, "ING-T", "calls[2].received_at"),
    ]

    none_usable = client.post("/ingest", json={"calls": [{"call_id": "X"}]})
    assert none_usable.status_code == 400
    bad = none_usable.json()
    assert bad["field"] == "calls[0].received_at"
    assert bad["field"] in bad["error"]


def _without(key: str) -> dict[str, Any]:
    c = call()
    del c[key]
    return {"call": c}


BAD_SCORE_BODIES = [
    ("wrong type: priority", {"call": call(priority="high")}, "call.priority"),
    ("wrong type: call_id", {"call": call(call_id=5)}, "call.call_id"),
    ("wrong type: flag", {"call": call(weapon_reported="maybe")}, "call.weapon_reported"),
    ("missing call_type", _without("call_type"), "call.call_type"),
    ("missing received_at", _without("received_at"), "call.received_at"),
    ("impossible latitude", {"call": call(latitude=200)}, "call.latitude"),
    ("impossible priority", {"call": call(priority=0)}, "call.priority"),
    ("unparsable time", {"call": call(received_at="yesterday")}, "call.received_at"),
    ("'now' is not a time", {"call": call(received_at="now")}, "call.received_at"),
    ("'today' is not a time", {"call": call(received_at="today")}, "call.received_at"),
    ("offset without a zone", {"call": call(received_at="2025-11-14T07:12Z")}, "call.received_at"),
    ("flag as 1", {"call": call(weapon_reported=1)}, "call.weapon_reported"),
    ("flag as text", {"call": call(domestic="yes")}, "call.domestic"),
    ("priority as true", {"call": call(priority=True)}, "call.priority"),
    ("latitude as true", {"call": call(latitude=True)}, "call.latitude"),
    ("date without time", {"call": call(received_at="2025-06-01")}, "call.received_at"),
    ("time in the future", {"call": call(received_at="2999-01-01T00:00:00")}, "call.received_at"),
    ("time before 1990", {"call": call(received_at="1900-01-01T00:00:00")}, "call.received_at"),
    ("latitude alone", {"call": call(longitude=None)}, "call.longitude"),
    ("empty call_id", {"call": call(call_id="  ")}, "call.call_id"),
    ("narrative too long", {"call": call(narrative="X" * 5000)}, "call.narrative"),
    ("unknown top-level key", {"call": EXAMPLE_CALL, "cal": {}}, "cal"),
    ("no call", {"calls": [EXAMPLE_CALL]}, "call"),
    ("call not an object", {"call": "C-1042"}, "call"),
]


@pytest.mark.parametrize(
    ("body", "field"), [c[1:] for c in BAD_SCORE_BODIES], ids=[c[0] for c in BAD_SCORE_BODIES]
)
def test_bad_score_input_is_a_400_naming_the_field(
    client: TestClient, body: dict, field: str
) -> None:
    resp = client.post("/score", json=body)
    assert resp.status_code == 400, resp.text
    err = resp.json()
    assert err["field"] == field
    assert err["error"].startswith(f"{field}: ")
    assert any(e["field"] == field for e in err["errors"])


@pytest.mark.parametrize(
    ("content", "field"),
    [(b"not json", "body"), (b"[1, 2]", "body"), (b"", "call"), (b'{"call": {', "body")],
)
def test_unreadable_bodies_are_400(client: TestClient, content: bytes, field: str) -> None:
    resp = client.post("/score", content=content, headers={"content-type": "application/json"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["field"] == field


def test_bad_batches_are_400_naming_the_field(client: TestClient) -> None:
    cases = [
        ({"calls": []}, "calls"),
        ({"calls": [EXAMPLE_CALL] * (MAX_BATCH + 1)}, "calls"),
        ({"calls": [EXAMPLE_CALL, call(call_id="B-2", priority=12)]}, "calls[1].priority"),
        ({"calls": EXAMPLE_CALL}, "calls"),
    ]
    for body, field in cases:
        for route in ("/score_batch", "/ingest"):
            resp = client.post(route, json=body)
            if route == "/ingest" and field.startswith("calls["):
                continue  # ingest keeps the good calls (tested above)
            assert resp.status_code == 400, (route, resp.text)
            assert resp.json()["field"] == field, route


def test_oversized_body_is_413(client: TestClient) -> None:
    blob = json.dumps({"call": call(narrative="X" * (MAX_BODY_BYTES + 10))})
    resp = client.post("/score", content=blob, headers={"content-type": "application/json"})
    assert resp.status_code == 413
    assert resp.json()["field"] == "body"


def test_unknown_routes_and_methods_answer_json(client: TestClient) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.json()["error"]
    wrong = client.get("/score")
    assert wrong.status_code == 405 and wrong.json()["error"]


def test_a_form_content_type_is_read_as_json(client: TestClient) -> None:
    """`curl -d` sends application/x-www-form-urlencoded; the body is still JSON."""
    resp = client.post(
        "/score",
        content=json.dumps({"call": call(call_id="FORM-1")}),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["call_id"] == "FORM-1"


def test_honest_warnings(client: TestClient) -> None:
    odd = call(
        call_id="WARN-1",
        call_type="ZEBRA ON THE FREEWAY",
        address=None,
        latitude=None,
        longitude=None,
        received_at="2026-09-01T12:00:00",  # 244 days after the data (limit 180)
    )
    body = client.post("/score", json={"call": odd}).json()
    kinds = {w.split(":", 1)[0] for w in body["warnings"]}
    assert {"unknown_call_type", "no_premise_history", "outside_training_period"} <= kinds
    assert "synthetic_model" in kinds  # the fixture model is trained on simulated calls
    assert "no_area_history" not in kinds  # the call has its beat and district
    # Without an address there is no premise history: such reasons carry no value.
    assert all(r["value"] is None for r in body["reasons"] if r["feature"].startswith("prem_"))
    no_beat = client.post("/score", json={"call": {**odd, "beat": None}}).json()["warnings"]
    assert "no_area_history: no beat given, beat history unused" in no_beat


def test_received_at_offsets_are_converted_to_the_configured_zone(
    service_data: dict, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With CALL_RISK_TIMEZONE, Z, +14:00 and -12:00 are three instants in agency time (they
    used to land on one wall clock), and the audit log keeps the converted time."""
    env = service_env(
        service_data, tmp_path_factory.mktemp("tz"), CALL_RISK_TIMEZONE="America/Chicago"
    )
    with running_service(env) as c:
        audit = assessor_of(c).audit
        for suffix, local in (
            ("Z", "2025-11-14T06:00:00"),
            ("+14:00", "2025-11-13T16:00:00"),
            ("-12:00", "2025-11-14T18:00:00"),
            ("", "2025-11-14T12:00:00"),
        ):
            cid = f"TZ{suffix or '-naive'}"
            body = {"call": call(call_id=cid, received_at=f"2025-11-14T12:00:00{suffix}")}
            resp = c.post("/score", json=body)
            assert resp.status_code == 200, resp.text
            assert audit.entry(cid)["call"]["received_at"] == local
        now = c.post("/score", json={"call": call(received_at="now")})
        assert now.status_code == 400 and now.json()["field"] == "call.received_at"


def test_openapi_documents_the_routes_with_the_shared_example(client: TestClient) -> None:
    spec = client.get("/docs.json").json()
    for route in ("/score", "/score_batch", "/ingest", "/healthz", "/readyz"):
        assert route in spec["paths"]
    schema = spec["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]
    assert schema["schema"]["example"] == {"call": EXAMPLE_CALL}
