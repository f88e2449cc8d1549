"""`POST /score/eido`'s request plumbing: the example document, reading it into a `/score` call,
and errors that name the EIDO part (SPEC §4 "EIDO").

The reading itself is risk_model.ingest.eido (shared with ingest); this module only adapts it to
the API: the agency time zone, the API's call checks (serving/api_models.py `CallIn`), and the
one error shape (serving/errors.py). The route is in serving/service.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import ValidationError, WithJsonSchema

from risk_model import vocab
from risk_model.ingest.eido import EidoCall, wall_clock
from serving.errors import field_path

# Answer formats: the /score assessment, or an EIDO caution component.
FORMATS: Final[tuple[str, ...]] = ("json", "eido")

# One EIDO document (current key spellings), used by the OpenAPI docs, docs/eido.md and tests.
EXAMPLE_EIDO: dict[str, Any] = {
    "$id": "urn:emergency:uid:incidentid:7f3a91c2:psap.example.gov",
    "lastUpdateTimeStamp": "2025-11-14T01:13:30-06:00",
    "updatedByAgencyReference": {"$ref": "psap.example.gov"},
    "eidoVersion": "1.0",
    "issuingElementIdentification": "cad.psap.example.gov",
    "agencyComponent": [
        {
            "$id": "psap.example.gov",
            "lastUpdateTimeStamp": "2025-11-14T01:12:00-06:00",
            "updatedByAgencyReference": {"$ref": "psap.example.gov"},
            "agencyRoleDescriptionRegistryText": ["CallReceiving"],
            "agencyType": ["psap"],
        }
    ],
    "incidentComponent": {
        "$id": "urn:emergency:uid:incidentid:7f3a91c2:psap.example.gov:incident",
        "lastUpdateTimeStamp": "2025-11-14T01:13:30-06:00",
        "updatedByAgencyReference": {"$ref": "psap.example.gov"},
        "incidentTypeCommonRegistryText": "DVA",
        "internalIncidentId": "C-1042",
        "beatOrDispatchGroupText": "708",
        "locationReference": [{"$ref": "loc-1"}],
    },
    "callComponent": [
        {
            "$id": "urn:emergency:uid:callid:7f3a91c2:psap.example.gov",
            "lastUpdateTimeStamp": "2025-11-14T01:12:40-06:00",
            "updatedByAgencyReference": {"$ref": "psap.example.gov"},
            "standardPrimaryCallType": "emergency",
            "direction": "incoming",
            "callStartTimestamp": "2025-11-14T01:12:00-06:00",
            "callStateRegistryText": "callAnswered",
            "priorityIdentifier": "high",
            "locationReference": [{"$ref": "loc-1"}],
        }
    ],
    "locationComponent": [
        {
            "$id": "loc-1",
            "lastUpdateTimeStamp": "2025-11-14T01:12:10-06:00",
            "updatedByAgencyReference": {"$ref": "psap.example.gov"},
            "locationTypeDescriptionRegistryText": "Incident",
            "locationByValue": (
                '<?xml version="1.0" encoding="UTF-8"?><presence '
                'xmlns="urn:ietf:params:xml:ns:pidf" '
                'xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" entity="pres:c@example.gov">'
                '<tuple id="t1"><status><gp:geopriv><gp:location-info><civicAddress xmlns='
                '"urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"><country>US</country>'
                "<A1>OK</A1><A3>NORMAN</A3><HNO>3400</HNO><PRD>E</PRD><RD>CEDAR</RD>"
                "<STS>BLVD</STS></civicAddress></gp:location-info></gp:geopriv></status>"
                "</tuple></presence>"
            ),
        }
    ],
    "notesComponent": [
        {
            "$id": "note-1",
            "lastUpdateTimeStamp": "2025-11-14T01:12:50-06:00",
            "updatedByAgencyReference": {"$ref": "psap.example.gov"},
            "notesActionComments": "<p>RP STATES BF PUSHED HER, HE IS STILL ON SCENE, "
            "UNK WEAPONS</p>",
        }
    ],
    "cautionComponent": [
        {
            "$id": "caution-1",
            "lastUpdateTimeStamp": "2025-11-14T01:13:00-06:00",
            "updatedByAgencyReference": {"$ref": "psap.example.gov"},
            "cautionTypeInternalText": "DOG ON PREMISES",
            "cautionTypeCommonRegistryText": "Animal",
            "cautionSeverity": "normal",
        }
    ],
}

# The request body: any JSON object (an EIDO document is read leniently by risk_model.ingest.eido,
# which names what it cannot read).
EidoDocument = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "title": "EIDO",
            "description": "One NENA EIDO document (NENA-STA-021 JSON, current or earlier key "
            "spellings). `?format=eido` answers an EIDO caution component instead of the "
            "assessment. docs/eido.md has an example (not given here: pydantic would read its "
            "`$ref` keys as JSON Schema references).",
        }
    ),
]


def call_for_api(read: EidoCall, timezone: str | None) -> tuple[dict[str, Any], list[str]]:
    """The read call as /score takes it, and the reader's warnings.

    EIDO times carry a UTC offset. With the agency's time zone configured it is converted, as
    /score does; without one, /score refuses offsets, but an EIDO has nothing else, so the
    clock time is kept as written (as `ingest` reads an export) and a warning says so.
    """
    call = dict(read.call)
    warnings = list(read.warnings)
    when = call.get("received_at")
    if timezone is None and isinstance(when, str):
        local, offset = wall_clock(when)
        if offset is not None:
            call["received_at"] = local
            warnings.append(
                vocab.warning(
                    vocab.EIDO_UNREAD,
                    f"{read.sources.get('received_at', 'received_at')} has the UTC offset "
                    f"{offset}, but the service has no agency time zone: the clock time is "
                    "read as written (set CALL_RISK_TIMEZONE to convert it)",
                )
            )
    return call, warnings


def error_body_for(exc: ValidationError, sources: dict[str, str]) -> dict[str, Any]:
    """The service's error shape for a read call that fails the API's checks: each field named
    by the EIDO part it was read from, the canonical field beside it in the message."""
    items = []
    for err in exc.errors(include_url=False):
        name = field_path(err.get("loc", ()))
        where = sources.get(name.split(".", 1)[0].split("[", 1)[0])
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if where:
            items.append({"field": where, "error": f"{message} (read as call.{name})"})
        else:
            items.append({"field": f"call.{name}", "error": message})
    if not items:
        items = [{"field": "body", "error": "invalid EIDO document"}]
    first = items[0]
    return {
        "error": f"{first['field']}: {first['error']}",
        "field": first["field"],
        "errors": items,
    }
