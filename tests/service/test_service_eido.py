"""POST /score/eido in-process: an EIDO document answered as /score answers, with a warning for
each part not read, a 4xx naming a missing part (never a 5xx), and `?format=eido` answering an
EIDO caution component of the published shape (the round trip)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eido_docs import current_doc, older_doc, shape_problems, transfer_doc, without
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_helpers import assessor_of, running_service, service_env
from starlette.testclient import TestClient

from risk_model import vocab
from risk_model.service.eido_caution import CAUTION_TEXT_KEY, SEVERITY
from serving.api_models import Assessment
from serving.eido_api import EXAMPLE_EIDO

pytestmark = pytest.mark.xdist_group("model")

TOKEN = "eido-t0ken_7-for-the-eido-route-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def client(service_data: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    workdir = tmp_path_factory.mktemp("eido")
    env = service_env(
        service_data,
        workdir,
        CALL_RISK_API_TOKEN=TOKEN,
        CALL_RISK_AUDIT_DB=str(workdir / "audit.db"),
    )
    with running_service(env, headers=AUTH) as c:
        c.headers.update(AUTH)
        yield c


def codes(warnings: list[str]) -> list[str]:
    return [vocab.warning_code(w) for w in warnings]


def test_a_current_document_is_answered_as_score_answers(client: TestClient) -> None:
    resp = client.post("/score/eido", json=current_doc())
    assert resp.status_code == 200, resp.text
    body = Assessment.model_validate(resp.json())
    assert body.call_id == "E-2025-1042"
    assert vocab.EIDO_CAUTION in codes(body.warnings)  # the dog, for the dispatcher
    # No agency time zone is configured: the clock time is read as written, and said so.
    offset = [w for w in body.warnings if "UTC offset -0600" in w]
    assert offset and vocab.warning_code(offset[0]) == vocab.EIDO_UNREAD
    # The audit log holds the answer as given, the reader's warnings included.
    audited = assessor_of(client).audit.entry("E-2025-1042")["assessment"]
    assert audited["warnings"] == body.warnings


def test_the_same_call_as_eido_and_as_canonical_json_scores_the_same(client: TestClient) -> None:
    eido = client.post("/score/eido", json=current_doc()).json()
    call = {
        "call_id": "E-2025-1042",
        "received_at": "2025-11-14T01:12:00",
        "call_type": "DOMESTIC DISTURBANCE",
        "priority": 2,
        "source": "911",
        "address": "3400 E CEDAR BLVD",
        "beat": "708",
        "narrative": "RP STATES BF PUSHED HER & IS STILL ON SCENE",
    }
    plain = client.post("/score", json={"call": call}).json()
    assert eido["risk_score"] == plain["risk_score"]
    assert (eido["decision"], eido["risk_tier"]) == (plain["decision"], plain["risk_tier"])
    assert [w for w in eido["warnings"] if w not in plain["warnings"]] == [
        w for w in eido["warnings"] if vocab.warning_code(w).startswith("eido_")
    ]


def test_an_older_document_with_a_malformed_location_is_scored_with_a_warning(
    client: TestClient,
) -> None:
    resp = client.post("/score/eido", json=older_doc())
    assert resp.status_code == 200, resp.text
    warnings = resp.json()["warnings"]
    unread = [w for w in warnings if "not well-formed XML" in w]
    assert unread and vocab.warning_code(unread[0]) == vocab.EIDO_UNREAD
    assert "read by pattern: point" in unread[0]


def test_the_example_document_is_scored(client: TestClient) -> None:
    resp = client.post("/score/eido", json=EXAMPLE_EIDO)
    assert resp.status_code == 200, resp.text
    assert resp.json()["call_id"] == "C-1042"


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (
            without(current_doc(), "incidentComponent", "incidentTypeCommonRegistryText"),
            "incidentComponent.incidentTypeCommonRegistryText",
        ),
        (transfer_doc(), "incidentComponent"),
        (
            without(
                without(
                    without(current_doc(), "callComponent", 0, "callStartTimestamp"),
                    "incidentComponent",
                    "lastUpdateTimeStamp",
                ),
                "lastUpdateTimeStamp",
            ),
            "callComponent[].callStartTimestamp",
        ),
        (
            current_doc(lastUpdateTimeStamp="sometime"),
            None,  # the call start is there: an unreadable update time is not needed
        ),
        (
            without(current_doc(), "callComponent", 0, "callStartTimestamp")
            | {"lastUpdateTimeStamp": "1985-01-01T10:00:00-06:00"},
            None,
        ),
    ],
    ids=["no-incident-type", "call-transfer", "no-time", "bad-update-unused", "ok"],
)
def test_a_document_missing_a_part_is_a_400_naming_it(
    client: TestClient, doc: dict, field: str | None
) -> None:
    resp = client.post("/score/eido", json=doc)
    if field is None:
        assert resp.status_code == 200, resp.text
        return
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["field"] == field
    assert body["error"].startswith(f"{field}: missing")


def test_a_time_the_api_refuses_is_named_by_its_eido_part(client: TestClient) -> None:
    doc = current_doc()
    doc["callComponent"][0]["callStartTimestamp"] = "1985-06-01T10:00:00-06:00"
    resp = client.post("/score/eido", json=doc)
    assert resp.status_code == 400
    body = resp.json()
    assert body["field"] == "callComponent[0].callStartTimestamp"
    assert "before 1990-01-01" in body["error"] and "call.received_at" in body["error"]


@pytest.mark.parametrize(
    "body",
    [[current_doc()], "an EIDO", 42, None, {}],
    ids=["a-list", "text", "number", "null", "empty-object"],
)
def test_a_body_that_is_no_eido_document_is_a_4xx(client: TestClient, body: object) -> None:
    resp = client.post("/score/eido", json=body)
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.json()["field"]


def test_the_token_guards_the_route(client: TestClient) -> None:
    resp = client.post("/score/eido", json=current_doc(), headers={"Authorization": "Bearer no"})
    assert resp.status_code == 401
    assert resp.json()["field"] == "authorization"


def test_format_eido_answers_a_caution_component_round_trip(client: TestClient) -> None:
    """An EIDO in, an EIDO caution component out, of the published shape; sent back with the
    incident, it is not read as a caller's report."""
    doc = current_doc()
    assessment = client.post("/score/eido", json=doc).json()
    resp = client.post("/score/eido?format=eido", json=doc)
    assert resp.status_code == 200, resp.text
    caution = resp.json()
    assert shape_problems(caution) == []
    assert caution["cautionTypeInternalText"] == "call-risk"
    assert (
        caution["cautionSeverity"] == SEVERITY[(assessment["decision"], assessment["risk_tier"])]
    )
    version = assessment["model"]["version"]
    assert caution["cautionSource"] == f"call-risk {version}"
    assert caution["updatedByAgencyReference"] == {"$ref": "psap.example.gov"}
    assert caution["$id"] == "E-2025-1042:caution:call-risk"
    words = caution[CAUTION_TEXT_KEY]
    for reason in assessment["reasons"]:
        assert reason["text"] in words
    for precaution in assessment["precautions"]:
        assert precaution["text"] in words
    assert "DOG ON PREMISES" in words and words.endswith("Advisory: a person decides.")
    # The CAD attaches the caution to the incident and sends it again: the same answer.
    doc["cautionComponent"].append(caution)
    again = client.post("/score/eido", json=doc).json()
    assert again["risk_score"] == assessment["risk_score"]
    assert again["warnings"] == assessment["warnings"]


def test_an_unknown_format_is_a_400_naming_it(client: TestClient) -> None:
    resp = client.post("/score/eido?format=xml", json=current_doc())
    assert resp.status_code == 400
    assert resp.json()["field"] == "format"


_KEYS = [
    "$id",
    "$ref",
    "incidentComponent",
    "IncidentComponent",
    "incidentTypeCommonRegistryText",
    "incidentTypeInternalText",
    "internalIncidentId",
    "callComponent",
    "callStartTimestamp",
    "lastUpdateTimeStamp",
    "LastUpdateTimeStamp",
    "locationComponent",
    "locationInformationComponent",
    "locationReference",
    "locationByValue",
    "notesComponent",
    "notesActionComments",
    "cautionComponent",
    "cautionTypeInternalText",
    "priorityIdentifier",
    "beatOrDispatchGroupText",
]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "DVA",
            "2025-11-14T01:12:00-06:00",
            "1985-01-01T00:00:00Z",
            "<presence><civicAddress><HNO>1</HNO><RD>A",
            "<gml:pos>91 200</gml:pos>",
            "inc-1",
            "x" * 300,
        ]
    ),
    st.text(max_size=20),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=25,
)


def test_no_document_makes_a_server_error(client: TestClient) -> None:
    """Random documents built from EIDO's keys and tricky values: every answer is a 200 or a
    4xx naming a field, never a 5xx."""
    seen: dict[int, int] = {}

    @given(doc=st.dictionaries(st.sampled_from(_KEYS), _JSON, max_size=6))
    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(doc: dict) -> None:
        doc.setdefault("incidentComponent", {"incidentTypeCommonRegistryText": "DVA"})
        doc.setdefault("$id", "FUZZ-1")
        doc.setdefault("callComponent", [{"callStartTimestamp": "2025-11-14T01:12:00-06:00"}])
        resp = client.post("/score/eido", json=doc)
        seen[resp.status_code] = seen.get(resp.status_code, 0) + 1
        assert resp.status_code < 500, (doc, resp.text)
        if resp.status_code >= 400:
            assert resp.json()["field"], resp.text

    check()
    assert seen.get(200) and seen.get(400), seen


# Last: it starts a second service, which ends the module's one (one app per process).
def test_with_an_agency_time_zone_the_offset_is_converted(
    service_data: dict, tmp_path_factory: pytest.TempPathFactory
) -> None:
    doc = current_doc(internalIncidentId="E-TZ-1")
    doc["callComponent"][0]["callStartTimestamp"] = "2025-11-14T07:12:00Z"
    workdir = tmp_path_factory.mktemp("eido-tz")
    env = service_env(
        service_data,
        workdir,
        CALL_RISK_TIMEZONE="America/Chicago",
        CALL_RISK_AUDIT_DB=str(workdir / "audit.db"),
    )
    with running_service(env) as c:
        body = c.post("/score/eido", json=doc).json()
        assert not [w for w in body["warnings"] if "UTC offset" in w]
        entry = assessor_of(c).audit.entry("E-TZ-1")
        assert entry["call"]["received_at"] == "2025-11-14T01:12:00"  # 07:12 UTC in Chicago
