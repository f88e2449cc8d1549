"""Reading NENA EIDO documents (risk_model/ingest/eido.py) and answering with an EIDO caution
component (risk_model/service/eido_caution.py), on documents built in tests/eido_docs.py."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from eido_docs import (
    MALFORMED_POINT_PIDF,
    current_doc,
    older_doc,
    older_spelling,
    shape_problems,
    transfer_doc,
    without,
)

from risk_model import text, vocab
from risk_model.ingest.eido import (
    APCO_CALL_TYPES,
    EidoError,
    apco_call_type,
    document_agency,
    read_eido,
    read_pidf,
    strip_html,
    wall_clock,
)
from risk_model.schema import CallRecord
from risk_model.service.eido_caution import (
    CAUTION_SEVERITIES,
    CAUTION_TEXT_KEY,
    SEVERITY,
    caution_component,
    caution_severity,
)


def codes(warnings: list[str]) -> list[str]:
    return [vocab.warning_code(w) for w in warnings]


# --------------------------------------------------------------------------- reading


def test_a_current_document_reads_as_one_canonical_call() -> None:
    call, warnings, sources = read_eido(current_doc())
    assert call == {
        "call_id": "E-2025-1042",
        "received_at": "2025-11-14T01:12:00.0-06:00",
        "call_type": "DOMESTIC DISTURBANCE",
        "beat": "708",
        "priority": 2,
        "source": "911",
        "address": "3400 E CEDAR BLVD",
        "narrative": "RP STATES BF PUSHED HER & IS STILL ON SCENE",
    }
    assert sources["call_type"] == "incidentComponent.incidentTypeCommonRegistryText"
    assert sources["received_at"] == "callComponent[0].callStartTimestamp"
    # The incident's own location (by $ref), not the caller's phone location listed first.
    assert sources["address"] == "incidentComponent.locationReference[0].locationByValue"
    # The dog caution is no model input: it comes back for the dispatcher.
    assert codes(warnings) == [vocab.EIDO_CAUTION]
    assert "DOG ON PREMISES" in warnings[0] and "(normal)" in warnings[0]
    CallRecord.model_validate(call)  # the canonical schema takes it as it is


def test_both_published_spellings_give_the_same_call() -> None:
    doc = current_doc()
    older = older_spelling(doc)
    assert "LastUpdateTimeStamp" in older and "locationInformationComponent" in older
    assert isinstance(older["incidentComponent"], list)
    assert read_eido(older) == read_eido(doc)._replace(
        sources={
            k: v.replace("incidentComponent.", "incidentComponent[0].")
            for k, v in read_eido(doc).sources.items()
        }
    )


def test_keys_are_matched_in_any_case() -> None:
    def shout(node: Any) -> Any:
        if isinstance(node, dict):
            return {(k.upper() if k != "$ref" else k): shout(v) for k, v in node.items()}
        if isinstance(node, list):
            return [shout(v) for v in node]
        return node

    assert read_eido(shout(current_doc())).call == read_eido(current_doc()).call


def test_an_older_document_with_a_malformed_location_is_read_with_a_warning() -> None:
    call, warnings, sources = read_eido(older_doc())
    # The agency's own text comes first; the registry code is only a fallback.
    assert call["call_type"] == "DOMESTIC DISTURBANCE"
    assert sources["call_type"] == "incidentComponent[0].incidentTypeInternalText"
    # The point is taken from the broken XML by pattern, and the warning says so.
    assert (call["latitude"], call["longitude"]) == (35.15906, -97.362074)
    assert "address" not in call
    unread = [w for w in warnings if vocab.warning_code(w) == vocab.EIDO_UNREAD]
    assert len(unread) == 1
    assert "incidentComponent[0].locationReference[0].locationByValue" in unread[0]
    assert "not well-formed XML" in unread[0] and "read by pattern: point" in unread[0]


def test_a_malformed_civic_address_is_read_by_pattern() -> None:
    broken = "<presence><civicAddress><HNO>12</HNO><RD>OAK<RD><STS>ST</STS></civicAddress>"
    place = read_pidf(broken)
    assert place.problem and place.problem.startswith("not well-formed XML")
    assert place.address == "12 OAK ST"


@pytest.mark.parametrize(
    ("pidf", "expected"),
    [
        (MALFORMED_POINT_PIDF, (None, 35.15906, -97.362074)),
        (
            '<presence xmlns:gml="g"><gml:Polygon><gml:posList>10 20 12 20 12 22 10 22'
            "</gml:posList></gml:Polygon></presence>",
            (None, 11.0, 21.0),
        ),
        ("<presence><gml:pos xmlns:gml='g'>95 20</gml:pos></presence>", (None, None, None)),
        ("not xml at all", (None, None, None)),
    ],
    ids=["malformed-point", "polygon-centre", "latitude-out-of-range", "no-xml"],
)
def test_points_from_pidf(pidf: str, expected: tuple) -> None:
    place = read_pidf(pidf)
    assert (place.address, place.latitude, place.longitude) == expected


def test_a_dtd_is_never_parsed() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
        "<presence><civicAddress><HNO>1</HNO><RD>&b;</RD></civicAddress></presence>"
    )
    place = read_pidf(bomb)
    assert place.problem == "a DTD is not accepted"
    assert place.address == "1 &B;"  # read as text by the pattern, the entity never expanded


def test_a_component_given_by_ref_is_resolved_and_a_dangling_ref_is_a_warning() -> None:
    doc = current_doc()
    caution = {
        "$id": "caution-weapon",
        "lastUpdateTimeStamp": "2025-11-14T01:13:10-06:00",
        "cautionTypeInternalText": "SUBJ KNOWN TO CARRY HANDGUN",
        "cautionTypeCommonRegistryText": "Weapon",
        "cautionSeverity": "high",
    }
    # The component lives elsewhere in the document; the caution list refers to it.
    doc["personComponent"] = [{"$id": "person-1", "cautionDetail": caution}]
    doc["cautionComponent"] = [{"$ref": "caution-weapon"}, {"$ref": "caution-gone"}]
    call, warnings, sources = read_eido(doc)
    assert call["weapon_reported"] is True
    assert sources["weapon_reported"] == "cautionComponent[0]"
    assert codes(warnings) == [vocab.EIDO_UNREAD]
    assert "cautionComponent[1]: $ref 'caution-gone' names no component" in warnings[0]


def test_a_whole_incident_component_by_ref() -> None:
    doc = current_doc()
    incident = doc.pop("incidentComponent")
    doc["incidentComponent"] = [{"$ref": "inc-1"}]
    doc["linkComponent"] = [{"$id": "link-1", "incident": incident}]
    assert read_eido(doc).call == read_eido(current_doc()).call


def test_no_incident_component_is_an_error_naming_it() -> None:
    with pytest.raises(EidoError) as err:
        read_eido(transfer_doc())
    assert err.value.field == "incidentComponent"
    assert "call-transfer" in err.value.message


def test_no_incident_type_is_an_error_naming_it() -> None:
    doc = without(current_doc(), "incidentComponent", "incidentTypeCommonRegistryText")
    with pytest.raises(EidoError) as err:
        read_eido(doc)
    assert err.value.field == "incidentComponent.incidentTypeCommonRegistryText"
    assert str(err.value).startswith("incidentComponent.incidentTypeCommonRegistryText: missing")


def test_without_a_call_start_the_incident_update_is_the_time_with_a_warning() -> None:
    doc = without(current_doc(), "callComponent", 0, "callStartTimestamp")
    call, warnings, sources = read_eido(doc)
    assert call["received_at"] == "2025-11-14T01:13:30-06:00"
    assert sources["received_at"] == "incidentComponent.lastUpdateTimeStamp"
    assert vocab.EIDO_UNREAD in codes(warnings)


def test_without_any_time_is_an_error_naming_it() -> None:
    doc = without(current_doc(), "callComponent", 0, "callStartTimestamp")
    doc = without(doc, "incidentComponent", "lastUpdateTimeStamp")
    doc = without(doc, "lastUpdateTimeStamp")
    with pytest.raises(EidoError) as err:
        read_eido(doc)
    assert err.value.field == "callComponent[].callStartTimestamp"


def test_the_earliest_call_start_is_the_call_time() -> None:
    doc = current_doc()
    later = copy.deepcopy(doc["callComponent"][0])
    later["$id"] = "call-2"
    later["callStartTimestamp"] = "2025-11-14T07:30:00Z"  # 01:30 at -06:00: later
    earlier = copy.deepcopy(later)
    earlier["$id"] = "call-3"
    earlier["callStartTimestamp"] = "2025-11-14T07:05:00Z"  # 01:05 at -06:00: earliest
    doc["callComponent"] += [later, earlier]
    call, _, sources = read_eido(doc)
    assert call["received_at"] == "2025-11-14T07:05:00Z"
    assert sources["received_at"] == "callComponent[2].callStartTimestamp"


@pytest.mark.parametrize(
    ("code", "family"),
    [
        ("ASSAULT", "assault"),
        ("DISORD", "disturbance"),
        ("DVA", "domestic"),
        ("DVNA", "domestic"),
        ("EDP", "mental_health"),
        ("FIGHT", "assault"),
        ("PERSUSP", "suspicious"),
        ("SHOOT", "weapons"),
        ("STABBING", "weapons"),
        ("WEAPON", "weapons"),
        ("ROBBERY", "robbery"),
        ("SUICTHRT", "suicide"),
        ("TSTOP", "traffic_stop"),
        ("WARRANT", "warrant"),
        ("CIVDIS", "civil_disorder"),
        ("ALRBA", "alarm"),
        ("TROUBLE", "disturbance"),
        ("CARDIAC", "service"),
    ],
)
def test_apco_codes_map_to_the_project_call_type_families(code: str, family: str) -> None:
    call_type = apco_call_type(code)
    assert call_type is not None
    assert text.call_family([call_type])[0] == family
    assert apco_call_type(f"apco:{code.lower()}") == call_type  # any case, a prefix dropped


def test_the_apco_vocabulary_is_plain_call_types() -> None:
    for code, call_type in APCO_CALL_TYPES.items():
        assert code == code.upper() and call_type == call_type.upper(), code
        assert 0 < len(call_type) <= 200


def test_an_unknown_registry_code_is_scored_as_its_own_text_with_a_warning() -> None:
    doc = current_doc(incidentTypeCommonRegistryText="CU1")
    call, warnings, _ = read_eido(doc)
    assert call["call_type"] == "CU1"
    unread = [w for w in warnings if vocab.warning_code(w) == vocab.EIDO_UNREAD]
    assert unread and "'CU1' is not an APCO incident code" in unread[0]


def test_a_weapon_caution_is_a_reported_weapon_and_its_absence_is_unknown() -> None:
    assert "weapon_reported" not in read_eido(current_doc()).call  # unknown, never False
    doc = current_doc()
    doc["cautionComponent"].append(
        {
            "$id": "caution-knife",
            "cautionTypeInternalText": "ARMED WITH KNIFE",
            "cautionTypeCommonRegistryText": "Weapon",
            "cautionSeverity": "high",
        }
    )
    call, warnings, _ = read_eido(doc)
    assert call["weapon_reported"] is True
    assert codes(warnings) == [vocab.EIDO_CAUTION]  # the dog still comes back; the knife is read


def test_call_risk_never_reads_its_own_caution_back() -> None:
    """A CAD that sends the incident again with call-risk's caution attached: the advice is not
    a caller's report, so it changes nothing."""
    doc = current_doc()
    own = caution_component(_assessment("high", "high", call_id="E-2025-1042"))
    own[CAUTION_TEXT_KEY] += " WEAPON"  # even when its text names a weapon
    doc["cautionComponent"].append(own)
    assert read_eido(doc) == read_eido(current_doc())


def test_notes_are_joined_and_stripped_of_html() -> None:
    assert strip_html("<p>A&nbsp;<i>B</i></p><style>p{}</style>C &lt;3") == "A B C <3"
    doc = current_doc()
    doc["notesComponent"].append(
        {"$id": "note-2", "notesActionComments": "<div>HE HAS A <b>KNIFE</b></div>"}
    )
    assert read_eido(doc).call["narrative"].endswith(" | HE HAS A KNIFE")


def test_not_a_json_object_is_an_error() -> None:
    with pytest.raises(EidoError) as err:
        read_eido([current_doc()])
    assert err.value.field == "body"


def test_an_id_too_long_is_an_error_naming_it() -> None:
    with pytest.raises(EidoError) as err:
        read_eido(current_doc(internalIncidentId="X" * 200))
    assert err.value.field == "incidentComponent.internalIncidentId"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-11-14T01:12:00.0-06:00", ("2025-11-14T01:12:00", "-0600")),
        ("2025-11-14T07:12:00Z", ("2025-11-14T07:12:00", "Z")),
        ("2025-11-14T01:12:00", ("2025-11-14T01:12:00", None)),
        ("yesterday", ("yesterday", None)),
    ],
)
def test_wall_clock(value: str, expected: tuple) -> None:
    assert wall_clock(value) == expected


def test_the_document_agency_in_both_spellings() -> None:
    assert document_agency(current_doc()) == "psap.example.gov"
    assert document_agency(older_doc()) == "psap.example.gov"
    assert document_agency({}) is None


# --------------------------------------------------------------------------- the caution out


def _assessment(decision: str, tier: str, call_id: str = "C-1") -> dict[str, Any]:
    return {
        "call_id": call_id,
        "risk_score": 0.031,
        "risk_tier": tier,
        "decision": decision,
        "reasons": [
            {
                "feature": "prem_assaults_365d",
                "value": 2,
                "contribution": 0.84,
                "text": "2 assaults on officers at this address in the past year",
            }
        ],
        "precautions": [
            {
                "id": "two_officer_response",
                "text": "Dispatch at least two officers; wait for cover before contact",
                "because": ["prem_assaults_365d"],
            }
        ],
        "model": {"name": "call-risk", "version": "3"},
        "warnings": ["eido_caution: cautionComponent[0] (normal): DOG ON PREMISES"],
    }


def test_the_severity_table_covers_every_decision_and_tier() -> None:
    assert set(SEVERITY) == {(d, t) for d in vocab.DECISIONS for t in vocab.TIERS}
    assert set(SEVERITY.values()) == set(CAUTION_SEVERITIES)
    rank = {s: i for i, s in enumerate(CAUTION_SEVERITIES)}  # 0 = highest
    # A higher decision or tier never gives a lower severity; can't tell is never below normal.
    for t in vocab.TIERS:
        assert rank[SEVERITY[("high", t)]] <= rank[SEVERITY[("cant_tell", t)]]
        assert rank[SEVERITY[("cant_tell", t)]] <= rank[SEVERITY[("low", t)]]
        assert rank[SEVERITY[("cant_tell", t)]] <= rank["normal"]
    for d in vocab.DECISIONS:
        ranks = [rank[SEVERITY[(d, t)]] for t in vocab.TIERS]
        assert ranks == sorted(ranks, reverse=True)
    with pytest.raises(ValueError, match="no caution severity"):
        caution_severity("maybe", "low")


@pytest.mark.parametrize(
    ("decision", "tier"), [(d, t) for d in vocab.DECISIONS for t in vocab.TIERS]
)
def test_the_caution_component_has_the_published_shape(decision: str, tier: str) -> None:
    now = dt.datetime(2025, 11, 14, 7, 13, tzinfo=dt.UTC)
    caution = caution_component(_assessment(decision, tier), agency_ref="psap.x", now=now)
    assert shape_problems(caution) == []
    assert caution["cautionSeverity"] == SEVERITY[(decision, tier)]
    assert caution["cautionTypeInternalText"] == "call-risk"
    assert caution["cautionSource"] == "call-risk 3"
    assert caution["updatedByAgencyReference"] == {"$ref": "psap.x"}
    assert caution["lastUpdateTimeStamp"] == "2025-11-14T07:13:00.000Z"
    words = caution[CAUTION_TEXT_KEY]
    assert "2 assaults on officers at this address in the past year" in words
    assert "Dispatch at least two officers" in words
    assert "DOG ON PREMISES" in words
    assert words.endswith("Advisory: a person decides.")


def test_the_shape_check_finds_what_breaks_it() -> None:
    caution = caution_component(_assessment("low", "low"))
    assert shape_problems({**caution, "cautionSeverity": "severe"}) == [
        "cautionSeverity: 'severe' not one of ['highest', 'high', 'normal', 'low', 'lowest']"
    ]
    broken = {k: v for k, v in caution.items() if k != "cautionTypeCommonRegistryText"}
    assert shape_problems(broken) == ["cautionTypeCommonRegistryText: required"]
    assert shape_problems({**caution, "startDate": "2025-11-14T07:13:00"}) == [
        "startDate: a date-time needs an offset"
    ]


def test_a_model_under_another_name_says_it_in_the_source() -> None:
    assessment = {**_assessment("low", "low"), "model": {"name": "lmpd", "version": "7"}}
    assert caution_component(assessment)["cautionSource"] == "call-risk lmpd 7"


# --------------------------------------------------------------------------- the docs


def test_docs_show_the_example_document_and_the_severity_table() -> None:
    """docs/eido.md's example is the one the service's OpenAPI names and the tests score, and
    its severity table is the one the code applies."""
    import json
    import re
    from pathlib import Path

    from serving.eido_api import EXAMPLE_EIDO

    doc = (Path(__file__).resolve().parents[2] / "docs" / "eido.md").read_text("utf-8")
    blocks = re.findall(r"```json\n(.*?)```", doc, re.DOTALL)
    assert json.loads(blocks[0]) == EXAMPLE_EIDO
    caution = json.loads(blocks[1])
    assert shape_problems(caution) == []
    table = doc.split("| decision \\ tier | low | elevated | high |", 1)[1].split("\n\n", 1)[0]
    for line in table.strip().splitlines()[1:]:
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        decision, by_tier = cells[0], [c.split(" ")[0].strip("*") for c in cells[1:]]
        for tier, severity in zip(vocab.TIERS, by_tier, strict=True):
            assert SEVERITY[(decision, tier)] == severity, (decision, tier)


def test_for_history_only_what_was_known_at_call_taking_is_read() -> None:
    """A final EIDO carries notes and cautions written on scene; as history only those stamped
    soon after the call started are read (the outcome never reaches a call-time field)."""
    doc = current_doc()
    doc["notesComponent"].append(
        {
            "$id": "note-late",
            "lastUpdateTimeStamp": "2025-11-14T02:05:00-06:00",
            "notesActionComments": "SUSPECT RESISTED, OFFICER INJURED, TRANSPORTED",
        }
    )
    doc["notesComponent"].append({"$id": "note-unstamped", "notesActionComments": "NO TIME"})
    doc["cautionComponent"].append(
        {
            "$id": "caution-late",
            "startDate": "2025-11-14T02:10:00-06:00",
            "cautionTypeInternalText": "ARMED SUBJECT",
            "cautionTypeCommonRegistryText": "Weapon",
            "cautionSeverity": "highest",
        }
    )
    live = read_eido(doc)
    assert "OFFICER INJURED" in live.call["narrative"] and live.call["weapon_reported"] is True
    history = read_eido(doc, known_within=dt.timedelta(minutes=10))
    assert history.call["narrative"] == "RP STATES BF PUSHED HER & IS STILL ON SCENE"
    assert "weapon_reported" not in history.call
    left_out = [w for w in history.warnings if "left out" in w]
    assert left_out == [
        "eido_unread: 1 caution and 2 notes stamped more than 10 minutes after the call started "
        "(or not stamped) left out: history keeps what was known when the call was taken"
    ]
