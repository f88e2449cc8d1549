"""EIDO documents for the tests, built here (nothing is downloaded), and the caution component's
shape as NENA-STA-021's CautionType states it.

`current_doc` uses the current key spellings (an incident component as an object, components
linked by `$ref`); `older_doc` is the same incident as the earlier published drafts spell it
(`LastUpdateTimeStamp`, `OwningAgencyIdentifier`, `locationInformationComponent`, an incident
component in a list); `transfer_doc` is a call-transfer EIDO with no incident component, shaped
like NENA's published call-transfer sample.
"""

from __future__ import annotations

import copy
from typing import Any

AGENCY = "psap.example.gov"
CIVIC_PIDF = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<presence xmlns="urn:ietf:params:xml:ns:pidf" '
    'xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" '
    'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="pres:caller@example.gov">'
    '<dm:device id="d1"><gp:geopriv><gp:location-info>'
    '<civicAddress xmlns="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr">'
    "<country>US</country><A1>OK</A1><A3>NORMAN</A3><HNO>3400</HNO><PRD>E</PRD>"
    "<RD>CEDAR</RD><STS>BLVD</STS></civicAddress>"
    "</gp:location-info></gp:geopriv></dm:device></presence>"
)
# A geodetic PIDF-LO that is not well-formed XML, as in the published older sample: leading blanks
# before the declaration, a prefix (gs:) never declared, and a tag that lost its `>`.
MALFORMED_POINT_PIDF = (
    '   <?xml version="1.0" encoding="UTF-8"?>  <presence xmlns="urn:ietf:params:xml:ns:pidf" '
    'xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" xmlns:gml="http://www.opengis.net/gml"> '
    '<device id="x1"><gp:geopriv><gp:location-info><gs:Ellipsoid srsName="urn:ogc:def:crs:'
    'EPSG::4979"> <gml:pos>35.159060 -97.362074 12</gml:pos> <gs:semiMinorAxis uom="urn:ogc:'
    'def:uom:EPSG::9001"   3.3   </gs:semiMinorAxis></gs:Ellipsoid></gp:location-info>'
    "</gp:geopriv></device></presence> "
)


def _prologue(id_: str, stamp: str) -> dict[str, Any]:
    return {
        "$id": id_,
        "lastUpdateTimeStamp": stamp,
        "updatedByAgencyReference": {"$ref": AGENCY},
    }


def current_doc(**incident: Any) -> dict[str, Any]:
    """A domestic-violence call (APCO DVA) with a civic address, a note and a dog caution."""
    return {
        **_prologue(
            "urn:emergency:uid:incidentid:5c1e:psap.example.gov", "2025-11-14T01:14:00-06:00"
        ),
        "eidoVersion": "1.0",
        "issuingElementIdentification": "cad.psap.example.gov",
        "agencyComponent": [
            {
                **_prologue(AGENCY, "2025-11-14T01:12:00-06:00"),
                "agencyRoleDescriptionRegistryText": ["CallReceiving"],
                "agencyType": ["psap"],
            }
        ],
        "incidentComponent": {
            **_prologue("inc-1", "2025-11-14T01:13:30-06:00"),
            "incidentTypeCommonRegistryText": "DVA",
            "internalIncidentId": "E-2025-1042",
            "beatOrDispatchGroupText": "708",
            "locationReference": [{"$ref": "loc-incident"}],
            **incident,
        },
        "callComponent": [
            {
                **_prologue("call-1", "2025-11-14T01:12:40-06:00"),
                "standardPrimaryCallType": "emergency",
                "direction": "incoming",
                "callStartTimestamp": "2025-11-14T01:12:00.0-06:00",
                "callStateRegistryText": "callAnswered",
                "priorityIdentifier": "high",
                "locationReference": [{"$ref": "loc-caller"}],
            }
        ],
        "locationComponent": [
            {
                **_prologue("loc-caller", "2025-11-14T01:12:05-06:00"),
                "locationTypeDescriptionRegistryText": "Caller",
                "locationByReferenceUrl": "https://lis.example.net/loc?id=abc",
            },
            {
                **_prologue("loc-incident", "2025-11-14T01:12:10-06:00"),
                "locationTypeDescriptionRegistryText": "Incident",
                "locationByValue": CIVIC_PIDF,
            },
        ],
        "notesComponent": [
            {
                **_prologue("note-1", "2025-11-14T01:12:50-06:00"),
                "notesActionComments": "<p>RP STATES BF <b>PUSHED</b> HER &amp; IS STILL ON "
                "SCENE</p><script>alert(1)</script>",
            }
        ],
        "cautionComponent": [
            {
                **_prologue("caution-dog", "2025-11-14T01:13:00-06:00"),
                "cautionTypeInternalText": "DOG ON PREMISES",
                "cautionTypeCommonRegistryText": "Animal",
                "cautionSeverity": "normal",
            }
        ],
        "@context": {"@vocab": "./JSON-LD_Contexts/EmergencyIncidentDataObjectType.jsonld"},
    }


def _capital(key: str) -> str:
    return key[0].upper() + key[1:] if key[:1].isalpha() else key


def older_spelling(doc: dict[str, Any]) -> dict[str, Any]:
    """The same document as the earlier drafts spell it: keys capitalised where they differed
    (`LastUpdateTimeStamp`), the owning agency as an identifier, `locationInformationComponent`,
    and the incident component in a list."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "updatedByAgencyReference":
            out["OwningAgencyIdentifier"] = value["$ref"]
            continue
        if key == "locationComponent":
            key = "locationInformationComponent"
        if key == "incidentComponent" and isinstance(value, dict):
            value = [value]
        if key == "eidoVersion":
            key = "EIDOVersion"
        if key == "lastUpdateTimeStamp":
            key = "LastUpdateTimeStamp"
        if isinstance(value, dict):
            value = older_spelling(value)
        elif isinstance(value, list):
            value = [older_spelling(v) if isinstance(v, dict) else v for v in value]
        out[key] = value
    return out


def older_doc() -> dict[str, Any]:
    """An older-spelling document like the published sample: the agency's internal code and text,
    and a geodetic location string that is not well-formed XML."""
    doc = older_spelling(current_doc())
    incident = doc["incidentComponent"][0]
    incident["incidentTypeInternalCode"] = "10-16"
    incident["incidentTypeInternalText"] = "DOMESTIC DISTURBANCE"
    location = doc["locationInformationComponent"][1]
    location["locationTypeDescriptionRegistryText"] = "RoutingLocation"
    location["locationByValue"] = MALFORMED_POINT_PIDF
    return doc


def transfer_doc() -> dict[str, Any]:
    """A call-transfer EIDO: call, location and agency components, no incident component."""
    doc = current_doc()
    del doc["incidentComponent"]
    return doc


def without(doc: dict[str, Any], *path: str | int) -> dict[str, Any]:
    """A copy of `doc` with the key at `path` removed."""
    out = copy.deepcopy(doc)
    node: Any = out
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]
    return out


# NENA-STA-021 CautionType (with the prologue every data component carries): the required keys,
# the type of each key, and cautionSeverity's values.
CAUTION_SHAPE: dict[str, Any] = {
    "required": [
        "$id",
        "lastUpdateTimeStamp",
        "updatedByAgencyReference",
        "cautionTypeInternalText",
        "cautionTypeCommonRegistryText",
        "cautionSeverity",
    ],
    "properties": {
        "$id": {"type": str},
        "lastUpdateTimeStamp": {"type": str, "format": "date-time"},
        "updatedByAgencyReference": {"type": dict, "required": ["$ref"]},
        "cautionTypeInternalText": {"type": str},
        "cautionTypeCommonRegistryText": {"type": str},
        "cautionTypeCommonSubRegistryText": {"type": list},
        "cautionSeverity": {"type": str, "enum": ["highest", "high", "normal", "low", "lowest"]},
        "cautionSource": {"type": str},
        "startDate": {"type": str, "format": "date-time"},
    },
}


def shape_problems(obj: Any, shape: dict[str, Any] = CAUTION_SHAPE) -> list[str]:
    """What breaks the shape (a small JSON-Schema check: required keys, types, enums, formats)."""
    import datetime as dt

    if not isinstance(obj, dict):
        return ["not an object"]
    problems = [f"{k}: required" for k in shape["required"] if k not in obj]
    for key, rule in shape["properties"].items():
        if key not in obj:
            continue
        value = obj[key]
        if not isinstance(value, rule["type"]):
            problems.append(f"{key}: not a {rule['type'].__name__}")
            continue
        if "enum" in rule and value not in rule["enum"]:
            problems.append(f"{key}: {value!r} not one of {rule['enum']}")
        if rule.get("format") == "date-time":
            try:
                if dt.datetime.fromisoformat(value).tzinfo is None:
                    problems.append(f"{key}: a date-time needs an offset")
            except ValueError:
                problems.append(f"{key}: not a date-time")
        for sub in rule.get("required", []):
            if sub not in value:
                problems.append(f"{key}.{sub}: required")
    return problems
