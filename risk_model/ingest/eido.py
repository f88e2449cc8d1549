"""One NENA EIDO document (NENA-STA-021 JSON) read as one canonical call (SPEC §1, §4 "EIDO").

Pure: a parsed JSON document in; the canonical call, its warnings and the EIDO path each field
came from out (`read_eido`). The service's `POST /score/eido` and `ingest` of a folder of EIDO
files (risk_model/ingest/eido_files.py) both read documents here, so a call scored live and the
same call in history are the same call.

Why it is tolerant: published EIDO samples differ by version (`lastUpdateTimeStamp` and
`LastUpdateTimeStamp`, `locationComponent` and `locationInformationComponent`, an incident
component as an object or a list), components may be given by reference (`{"$ref": id}`), and the
PIDF-LO location inside a string is sometimes not well-formed XML. Keys are matched without
regard to case; what cannot be read becomes an `eido_unread` warning and the call is scored
without it. Only a document without an id, an incident type or a time is refused (`EidoError`,
naming the missing part): those are the three facts a call cannot be scored without.

Mapping (docs/eido.md has the table):
- call_type: the agency's `incidentTypeInternalText`, else `incidentTypeInternalCode`, else
  `incidentTypeCommonRegistryText` through the APCO incident-code vocabulary (`APCO_CALL_TYPES`).
- received_at: the earliest `callComponent[].callStartTimestamp`, else the incident's
  `lastUpdateTimeStamp` (with a warning: an update is later than the call), as written.
- address / latitude, longitude: a PIDF-LO civic address or geodetic point from the locations
  the incident (then the call) references, then any other location component.
- narrative: every `notesComponent[].notesActionComments`, HTML stripped.
- weapon_reported: true when a caution component names a weapon (never false: no caution is not
  "no weapon"); other cautions come back as `eido_caution` warnings for the dispatcher.
- priority from the call's `priorityIdentifier` (NENA-STA-023: highest..lowest -> 1..5), beat from
  `beatOrDispatchGroupText`, source from the call's `standardPrimaryCallType`.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any, NamedTuple

from risk_model import text, vocab
from risk_model.errors import UserError
from risk_model.schema import MAX_ID_LEN, MAX_TEXT_LEN, SchemaError, parse_timestamp

log = logging.getLogger(__name__)

# The caution this project answers with (risk_model/service/eido_caution.py) names itself so;
# a CAD that sends the incident back with it attached must not have call-risk read its own advice
# as a caller's report.
OWN_CAUTION_TEXT = "call-risk"

# Component names across the published versions (matched without regard to case).
COMPONENT_NAMES: dict[str, tuple[str, ...]] = {
    "incident": ("incidentComponent", "incidentInformationComponent"),
    "call": ("callComponent", "callInformationComponent"),
    "location": ("locationComponent", "locationInformationComponent"),
    "notes": ("notesComponent", "noteComponent", "notesInformationComponent"),
    "caution": ("cautionComponent", "cautionInformationComponent"),
}
_LAST_UPDATE = ("lastUpdateTimeStamp", "lastUpdateTimestamp")

# APCO common incident codes (the registry text of EIDO's incident type; NENA's EIDO schema lists
# them in apco.yaml) -> the project's call types: plain words that risk_model.text's call-type
# families read, named as the simulated world names them where one fits, so that a model that
# knows those names scores them as such. Codes outside police work map to the nearest
# service call. A code not here is scored as its own text with an `eido_unread` warning.
_EMS = "ASSIST EMS"
_FIRE = "ASSIST FIRE"
APCO_CALL_TYPES: dict[str, str] = {
    "911H": "911 HANG UP",
    "911OPN": "OPEN LINE",
    "ABDUCTF": "KIDNAPPING",
    "ABDUCTNF": "KIDNAPPING",
    "ABUSE": "ABUSE",
    "ADMIN": "ADMINISTRATIVE",
    "ANIMAL": "ANIMAL COMPLAINT",
    "ASSAULT": "ASSAULT",
    "ASSIST": "ASSIST",
    "ATL": "ATTEMPT TO LOCATE",
    "BACK": "BACKUP",
    "BARICADE": "BARRICADED SUBJECT",
    "BITE": "ANIMAL COMPLAINT",
    "BOMB": "BOMB THREAT",
    "BURGLARY": "BURGLARY",
    "CARJACK": "CARJACKING",
    "CITASST": "CITIZEN ASSIST",
    "CIVDIS": "CIVIL DISORDER",
    "CIVIL": "CIVIL MATTER",
    "CNTRFT": "COUNTERFEIT",
    "CRIMTRAF": "TRAFFIC OFFENSE",
    "CURFEW": "CURFEW VIOLATION",
    "DEATH": "DEATH INVESTIGATION",
    "DEATHNTF": "DEATH NOTIFICATION",
    "DISORD": "DISTURBANCE",
    "DISVEH": "DISABLED VEHICLE",
    "DRUGPAR": "NARCOTICS",
    "DRUGS": "NARCOTICS",
    "DUI": "DUI",
    "DVA": "DOMESTIC DISTURBANCE",
    "DVNA": "DOMESTIC DISTURBANCE",
    "EDP": "MENTAL HEALTH CRISIS",
    "ELUDING": "VEHICLE PURSUIT",
    "ESCAPE": "ESCAPE",
    "EXPLOS": "EXPLOSION",
    "EXTORT": "EXTORTION",
    "FIGHT": "ASSAULT",
    "FORCENTR": "FORCED ENTRY",
    "FRAUD": "FRAUD",
    "HARR": "HARASSMENT",
    "HOMICIDE": "HOMICIDE",
    "HOSTAGE": "HOSTAGE",
    "INDECENT": "INDECENT EXPOSURE",
    "INFO": "INFORMATION",
    "INTERNET": "INTERNET CRIME",
    "INTOX": "INTOXICATED PERSON",
    "INVEST": "INVESTIGATION",
    "LARCENY": "THEFT REPORT",
    "LIQUOR": "LIQUOR VIOLATION",
    "MVA": "MOTOR VEHICLE ACCIDENT",
    "MVAHR": "HIT AND RUN",
    "MVAINJY": "MOTOR VEHICLE ACCIDENT",
    "MVAUNK": "MOTOR VEHICLE ACCIDENT",
    "NEGLECT": "NEGLECT",
    "NOISE": "NOISE COMPLAINT",
    "OD": "OVERDOSE",
    "OPEN": "OPEN DOOR",
    "ORDERV": "PROTECTION ORDER VIOLATION",
    "PARKING": "PARKING",
    "PERFND": "FOUND PERSON",
    "PERMISS": "MISSING PERSON",
    "PERSUSP": "SUSPICIOUS PERSON",
    "PERUNCON": "PERSON DOWN",
    "PERWANT": "WANTED PERSON",
    "PROPFND": "FOUND PROPERTY",
    "PROPLOST": "LOST PROPERTY",
    "PROPSTLN": "STOLEN PROPERTY",
    "PURSUIT": "VEHICLE PURSUIT",
    "RECKDRV": "RECKLESS DRIVER",
    "REPO": "REPOSSESSION",
    "ROBBERY": "ROBBERY",
    "RUNAWAY": "RUNAWAY",
    "SEXOFFNS": "SEX OFFENSE",
    "SHOOT": "SHOOTING",
    "SHOPLIFT": "SHOPLIFTING",
    "STABBING": "STABBING",
    "STDBY": "STANDBY",
    "SUBJSTP": "SUBJECT STOP",
    "SUICIDE": "SUICIDAL PERSON",
    "SUICTHRT": "SUICIDAL PERSON",
    "SUSP": "SUSPICIOUS CIRCUMSTANCES",
    "TERROR": "TERRORISM",
    "THREATS": "THREATS",
    "TOW": "TOW",
    "TRESPASS": "TRESPASS",
    "TROUBLE": "UNKNOWN TROUBLE",
    "TRUANT": "TRUANCY",
    "TSTOP": "TRAFFIC STOP",
    "VANDAL": "VANDALISM",
    "VEHABND": "ABANDONED VEHICLE",
    "VEHASST": "MOTORIST ASSIST",
    "VEHLOCK": "LOCKOUT",
    "VEHREC": "RECOVERED VEHICLE",
    "VEHSTLN": "STOLEN VEHICLE",
    "VEHSUSP": "SUSPICIOUS VEHICLE",
    "VICE": "VICE",
    "WARRANT": "WARRANT SERVICE",
    "WEAPON": "PERSON WITH WEAPON",
    "WELFARE": "WELFARE CHECK",
    **dict.fromkeys(
        (
            "ALRBA", "ALRBS", "ALRKPAD", "ALRPANA", "ALRPANS", "ALRROBA", "ALRROBS", "ALRU",
            "ALRVEH",
        ),
        "ALARM",
    ),
    **dict.fromkeys(
        (
            "ABDOM", "ALLERGIC", "ALRDEFIB", "ALRMED", "ALS", "BLEEDING", "BLS", "BURN",
            "CARDIAC", "CHESPAIN", "CHOKE", "DIABETIC", "DROWN", "ELEC", "EXPOSURE", "EYE",
            "FALL", "HEADACHE", "HEMRG", "PREG", "RESP", "RESPARR", "SEIZURE", "SICK",
            "STROKE", "TRAUMA", "TRAUMAP",
        ),
        _EMS,
    ),
    **dict.fromkeys(
        (
            "AIR", "ALRBOX", "ALRCO", "ALRCO2", "ALRF", "ALRGAS", "ALRHEAT", "ALRNGAS",
            "ALRPROPN", "ALRPULL", "ALRWTR", "BIO", "BLDCLPSE", "BRGCLPSE", "CHEMICAL",
            "ELECHZD", "ENTRAP", "FAIRC", "FAPT", "FARSON", "FBRUSH", "FELEC", "FFUEL",
            "FIREWRKS", "FMARINE", "FOTHER", "FREPORT", "FSMOKE", "FSTRU", "FTRAILER", "FTRAIN",
            "FTRASH", "FTRUCK", "FUNK", "FVEH", "GASLEAK", "HAZMAT", "MCI", "ODOR", "RADIAT",
            "RESCUE", "SAR", "THAZ", "WATER", "WIRES", "XTRACATE",
        ),
        _FIRE,
    ),
}  # fmt: skip

# The call's priority (NENA-STA-023 priorityIdentifier) on the canonical 1 = most urgent scale.
PRIORITY_IDENTIFIERS: dict[str, int] = {
    "highest": 1,
    "high": 2,
    "normal": 3,
    "low": 4,
    "lowest": 5,
}
# standardPrimaryCallType -> the canonical `source` words the simulated world uses.
_SOURCES: dict[str, str] = {
    "emergency": "911",
    "nonemergency": "NON-EMERGENCY",
    "non-emergency": "NON-EMERGENCY",
    "admin": "NON-EMERGENCY",
    "administrative": "NON-EMERGENCY",
    "text": "TEXT",
    "sms": "TEXT",
}
# Text field limits of the canonical record (risk_model.schema.CallRecord).
_MAX_ADDRESS, _MAX_BEAT, _MAX_CALL_TYPE = 300, 64, 200
# A PIDF-LO string longer than this is not a location; only its start is read.
MAX_PIDF_CHARS = 65_536


class EidoError(UserError):
    """A document that cannot be one call: `field` names the missing or broken EIDO part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class EidoCall(NamedTuple):
    """What `read_eido` makes of a document.

    `call`: canonical fields (received_at as the ISO text written in the document; the reader
    converts no zone). `warnings`: `code: text` strings (vocab.EIDO_UNREAD, vocab.EIDO_CAUTION).
    `sources`: canonical field -> the EIDO path it was read from, so an error names the part.
    """

    call: dict[str, Any]
    warnings: list[str]
    sources: dict[str, str]


# --------------------------------------------------------------------------- JSON plumbing


def _get(obj: Any, *names: str) -> tuple[str, Any] | None:
    """(key as written, value) of the first of `names` in `obj` with a value, any case."""
    if not isinstance(obj, dict):
        return None
    lowered: dict[str, str] = {}
    for k in obj:
        if isinstance(k, str):
            lowered.setdefault(k.lower(), k)
    for name in names:
        key = lowered.get(name.lower())
        if key is not None and obj[key] not in (None, "", [], {}):
            return key, obj[key]
    return None


def _text_of(value: Any) -> str | None:
    """A JSON value as one text: a string, a number, or the first text of a list."""
    if isinstance(value, list):
        for item in value:
            out = _text_of(item)
            if out:
                return out
        return None
    if isinstance(value, bool) or value is None or isinstance(value, dict):
        return None
    out = str(value).strip()
    return out or None


def _texts_of(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [t for t in (_text_of(v) for v in items) if t]


def _index_ids(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every object in the document with an `$id`, by id (first wins); walked without
    recursion, so a deeply nested document cannot exhaust the stack."""
    ids: dict[str, dict[str, Any]] = {}
    stack: list[Any] = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found = _get(node, "$id")
            if found is not None and isinstance(found[1], str):
                ids.setdefault(found[1].strip(), node)
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return ids


def _ref_of(obj: Any) -> str | None:
    """The id a `{"$ref": id}` object points to (an object with its own `$id` is no reference)."""
    if not isinstance(obj, dict) or _get(obj, "$id") is not None:
        return None
    found = _get(obj, "$ref")
    return _text_of(found[1]) if found else None


# --------------------------------------------------------------------------- PIDF-LO


class Place(NamedTuple):
    address: str | None
    latitude: float | None
    longitude: float | None
    problem: str | None  # why the XML was not read as XML (then a pattern read what it could)


_CIVIC_STREET = ("HNO", "HNS", "PRD", "RD", "STS", "POD")
_CIVIC_TAGS = (*_CIVIC_STREET, "A6", "UNIT")
_CIVIC_RE = re.compile(
    r"<(?:[\w.-]+:)?(" + "|".join(_CIVIC_TAGS) + r")(?:\s[^<>]*)?>([^<]*)<", re.IGNORECASE
)
_POS_RE = re.compile(r"<(?:[\w.-]+:)?pos(?:\s[^<>]*)?>([^<]*)<", re.IGNORECASE)
_POSLIST_RE = re.compile(r"<(?:[\w.-]+:)?posList(?:\s[^<>]*)?>([^<]*)<", re.IGNORECASE)
_DTD_RE = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _street(parts: dict[str, str]) -> str | None:
    """A civic address's street line, as a CAD writes it ("42 W CELLULAR ST UNIT 3")."""
    road = parts.get("RD") or parts.get("A6")
    if not road:
        return None
    number = " ".join(p for p in (parts.get("HNO"), parts.get("HNS")) if p)
    words = [number, parts.get("PRD"), road, parts.get("STS"), parts.get("POD")]
    line = " ".join(w for w in words if w)
    if parts.get("UNIT"):
        line += f" UNIT {parts['UNIT']}"
    return " ".join(line.upper().split()) or None


def _point(pos: str | None, pos_list: str | None) -> tuple[float, float] | None:
    """(lat, lon) from a gml:pos ("lat lon [alt]", EPSG 4326/4979 order) or the mean of a
    gml:posList's vertices; None when the numbers are not degrees."""
    try:
        if pos:
            nums = [float(v) for v in pos.split()]
            lat, lon = nums[0], nums[1]
        elif pos_list:
            nums = [float(v) for v in pos_list.split()]
            step = 3 if len(nums) % 3 == 0 and len(nums) % 2 else 2
            pairs = [nums[i : i + 2] for i in range(0, len(nums) - 1, step)]
            lat = sum(p[0] for p in pairs) / len(pairs)
            lon = sum(p[1] for p in pairs) / len(pairs)
        else:
            return None
    except (ValueError, IndexError, ZeroDivisionError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat, lon) != (lat, lon):
        return None
    return lat, lon


def read_pidf(xml_text: str) -> Place:
    """A civic address and/or a point from a PIDF-LO string.

    Parsed as XML when it is well-formed (namespaces ignored: versions use different prefixes);
    otherwise, as published samples show (an unbound prefix, a tag missing its `>`), the civic
    elements and `pos` are taken with a pattern and `problem` says why. A DTD is never
    parsed (entity expansion); such a string is read by pattern only.
    """
    raw = xml_text[:MAX_PIDF_CHARS].strip().lstrip("\ufeff")
    parts: dict[str, str] = {}
    pos = pos_list = None
    problem = None
    root = None
    if _DTD_RE.search(raw):
        problem = "a DTD is not accepted"
    else:
        try:
            root = ET.fromstring(raw)
        except ET.ParseError as exc:
            problem = f"not well-formed XML ({exc})"
    if root is not None:
        for el in root.iter():
            name = _local(el.tag)
            if name == "civicAddress" and not parts:
                for child in el:
                    value = " ".join((child.text or "").split())
                    if value:
                        parts[_local(child.tag).upper()] = value
            elif name == "pos" and pos is None:
                pos = el.text
            elif name == "posList" and pos_list is None:
                pos_list = el.text
    else:
        for tag, value in _CIVIC_RE.findall(raw):
            value = " ".join(html.unescape(value).split())
            if value:
                parts.setdefault(tag.upper(), value)
        m = _POS_RE.search(raw)
        pos = m.group(1) if m else None
        m = _POSLIST_RE.search(raw)
        pos_list = m.group(1) if m else None
    point = _point(pos, pos_list)
    return Place(_street(parts), point[0] if point else None, point[1] if point else None, problem)


# --------------------------------------------------------------------------- notes


_SCRIPT_RE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<[^>]*>")


def strip_html(value: str) -> str:
    """A note's HTML5 as plain text: tags (and script/style) out, entities decoded."""
    plain = _TAG_RE.sub(" ", _SCRIPT_RE.sub(" ", value))
    return " ".join(html.unescape(plain).split())


# --------------------------------------------------------------------------- the reader


class _Reader:
    """One document's reading: the components, resolved; warnings as they are found."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.ids = _index_ids(doc)
        self.warnings: list[str] = []
        self.sources: dict[str, str] = {}
        # Notes and cautions stamped after this (UTC) are left out (`read_eido(known_within=)`).
        self.cutoff: dt.datetime | None = None
        self.left_out: Counter = Counter()

    def known_then(self, comp: dict[str, Any], kind: str, *stamps: str) -> bool:
        """Whether a note or caution was known by the cutoff (always, without one). One with no
        readable stamp is not: when it was written is unknown."""
        if self.cutoff is None:
            return True
        found = _get(comp, *stamps)
        when = _instant(_text_of(found[1])) if found else None
        if when is not None and when <= self.cutoff:
            return True
        self.left_out[kind] += 1
        return False

    def unread(self, message: str) -> None:
        self.warnings.append(vocab.warning(vocab.EIDO_UNREAD, message))

    def resolve(self, item: Any, path: str) -> dict[str, Any] | None:
        """A component, or the component its `$ref` names; None (with a warning) otherwise."""
        ref = _ref_of(item)
        if ref is not None:
            target = self.ids.get(ref)
            if target is None:
                self.unread(f"{path}: $ref {ref[:80]!r} names no component in the document")
            return target
        if not isinstance(item, dict):
            self.unread(f"{path}: not a JSON object; skipped")
            return None
        return item

    def components(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """(path, component) for each component of a kind, in document order."""
        found = _get(self.doc, *COMPONENT_NAMES[kind])
        if found is None:
            return []
        name, value = found
        items = value if isinstance(value, list) else [value]
        out = []
        for i, item in enumerate(items):
            path = f"{name}[{i}]" if isinstance(value, list) else name
            comp = self.resolve(item, path)
            if comp is not None:
                out.append((path, comp))
        return out

    def referenced(self, comp: dict[str, Any], path: str, key: str) -> list[tuple[str, dict]]:
        found = _get(comp, key)
        if found is None:
            return []
        name, value = found
        items = value if isinstance(value, list) else [value]
        out = []
        for i, item in enumerate(items):
            where = f"{path}.{name}[{i}]" if isinstance(value, list) else f"{path}.{name}"
            target = self.resolve(item, where)
            if target is not None:
                out.append((where, target))
        return out

    # ------------------------------------------------------------------- the call's parts

    def incident(self) -> tuple[str, dict[str, Any]]:
        incidents = self.components("incident")
        if not incidents:
            raise EidoError(
                COMPONENT_NAMES["incident"][0],
                "missing: the document has no incident component, so no incident type (a "
                "call-transfer EIDO carries none); send the EIDO once the incident is created",
            )
        if len(incidents) > 1:
            self.unread(
                f"{len(incidents)} incident components; the first ({incidents[0][0]}) is read"
            )
        return incidents[0]

    def call_type(self, path: str, inc: dict[str, Any]) -> str:
        for key in ("incidentTypeInternalText", "incidentTypeInternalCode"):
            found = _get(inc, key)
            value = _text_of(found[1]) if found else None
            if value:
                self.sources["call_type"] = f"{path}.{found[0]}"
                return value[:_MAX_CALL_TYPE]
        found = _get(inc, "incidentTypeCommonRegistryText", "incidentTypeCommonRegistryCode")
        value = _text_of(found[1]) if found else None
        if not value:
            raise EidoError(
                f"{path}.incidentTypeCommonRegistryText",
                "missing: the incident component names no incident type (neither "
                "incidentTypeInternalText, incidentTypeInternalCode nor "
                "incidentTypeCommonRegistryText)",
            )
        where = f"{path}.{found[0]}"
        self.sources["call_type"] = where
        mapped = apco_call_type(value)
        if mapped is None:
            self.unread(
                f"{where} {value[:60]!r} is not an APCO incident code this service knows; "
                "scored as its own text"
            )
            return value[:_MAX_CALL_TYPE]
        return mapped

    def received_at(self, path: str, inc: dict[str, Any]) -> str:
        best: tuple[dt.datetime, str, str] | None = None
        for cpath, call in self.components("call"):
            found = _get(call, "callStartTimestamp", "callStartTimeStamp", "callStartTime")
            if found is None:
                continue
            where, value = f"{cpath}.{found[0]}", _text_of(found[1])
            when = _instant(value)
            if when is None:
                self.unread(f"{where} {str(value)[:40]!r} is not an ISO 8601 time; not used")
            elif best is None or when < best[0]:
                best = (when, str(value), where)
        if best is not None:
            self.sources["received_at"] = best[2]
            return best[1]
        for owner, obj in ((path, inc), ("", self.doc)):
            found = _get(obj, *_LAST_UPDATE)
            value = _text_of(found[1]) if found else None
            if value is None:
                continue
            where = f"{owner}.{found[0]}" if owner else found[0]
            if _instant(value) is None:
                raise EidoError(where, f"cannot parse {value[:40]!r} as an ISO 8601 time")
            self.sources["received_at"] = where
            self.unread(
                f"no callComponent[].callStartTimestamp; received_at is {where}, the last "
                "update, which may be later than the call"
            )
            return value
        raise EidoError(
            "callComponent[].callStartTimestamp",
            "missing: no call start time and no lastUpdateTimeStamp on the incident; "
            "the call's time is needed to score it",
        )

    def call_id(self, path: str, inc: dict[str, Any]) -> str:
        for owner, obj, keys in (
            (path, inc, ("internalIncidentId",)),
            ("", self.doc, ("incidentTrackingIdentifier", "$id")),
            (path, inc, ("$id",)),
        ):
            found = _get(obj, *keys)
            value = _text_of(found[1]) if found else None
            if value:
                where = f"{owner}.{found[0]}" if owner else found[0]
                if len(value) > MAX_ID_LEN:
                    raise EidoError(where, f"longer than {MAX_ID_LEN} characters")
                self.sources["call_id"] = where
                return value
        raise EidoError(
            "$id",
            "missing: the document names no incident (no $id, incidentTrackingIdentifier or "
            "incidentComponent.internalIncidentId)",
        )

    def place(self, path: str, inc: dict[str, Any], call: dict[str, Any]) -> None:
        """address and/or latitude, longitude from the first locations that give them."""
        ordered = self.referenced(inc, path, "locationReference")
        for cpath, comp in self.components("call"):
            ordered += self.referenced(comp, cpath, "locationReference")
        ordered += self.components("location")
        seen: set[int] = set()
        by_reference = []
        for where, loc in ordered:
            if id(loc) in seen:
                continue
            seen.add(id(loc))
            found = _get(loc, "locationByValue")
            if found is None:
                if _get(loc, "locationByReferenceUrl") is not None:
                    by_reference.append(where)
                continue
            if not isinstance(found[1], str):
                self.unread(f"{where}.{found[0]}: not a PIDF-LO text; not read")
                continue
            at = f"{where}.{found[0]}"
            place = read_pidf(found[1])
            got = []
            if place.address and call.get("address") is None:
                call["address"] = place.address[:_MAX_ADDRESS]
                self.sources["address"] = at
                got.append("civic address")
            if place.latitude is not None and call.get("latitude") is None:
                call["latitude"], call["longitude"] = place.latitude, place.longitude
                self.sources["latitude"] = self.sources["longitude"] = at
                got.append("point")
            if place.problem:
                read = " and ".join(got) if got else "neither a civic address nor a point"
                self.unread(f"{at}: {place.problem}; read by pattern: {read}")
            elif not got and place.address is None and place.latitude is None:
                self.unread(f"{at}: no civic address or point in the PIDF-LO")
            if call.get("address") is not None and call.get("latitude") is not None:
                return
        if call.get("address") is None and call.get("latitude") is None and by_reference:
            self.unread(
                f"{', '.join(by_reference[:3])}: a location by reference (URL) only; it is not "
                "fetched, so premise history is unused"
            )

    def narrative(self) -> str | None:
        notes = []
        for path, comp in self.components("notes"):
            found = _get(comp, "notesActionComments")
            if found is None or not self.known_then(comp, "note", *_LAST_UPDATE):
                continue
            for value in _texts_of(found[1]):
                plain = strip_html(value)
                if plain:
                    notes.append(plain)
                    self.sources.setdefault("narrative", f"{path}.{found[0]}")
        if not notes:
            return None
        joined = " | ".join(notes)
        if len(joined) > MAX_TEXT_LEN:
            self.unread(
                f"notes are {len(joined):,} characters; the first {MAX_TEXT_LEN:,} are read"
            )
            joined = joined[:MAX_TEXT_LEN].rstrip()
        return joined

    def cautions(self, call: dict[str, Any]) -> None:
        for path, comp in self.components("caution"):
            words: list[str] = []
            for key in (
                "cautionTypeInternalText",
                "cautionTypeCommonRegistryText",
                "cautionTypeCommonSubRegistryText",
            ):
                found = _get(comp, key)
                for w in _texts_of(found[1]) if found else []:
                    if w not in words:
                        words.append(w)
            if not words:
                self.unread(f"{path}: a caution without a type; not read")
                continue
            if words[0].strip().lower() == OWN_CAUTION_TEXT:
                continue  # call-risk's own answer, sent back: advice is not a caller's report
            if not self.known_then(comp, "caution", "startDate", *_LAST_UPDATE):
                continue
            families = text.call_family(words)
            if any(f in text.WEAPON_FAMILIES for f in families):
                call["weapon_reported"] = True
                self.sources.setdefault("weapon_reported", path)
                continue
            found = _get(comp, "cautionSeverity")
            severity = f" ({_text_of(found[1])})" if found else ""
            self.warnings.append(
                vocab.warning(
                    vocab.EIDO_CAUTION,
                    f"{path}{severity}: {' / '.join(words)[:200]}; not a model input, shown "
                    "for the dispatcher",
                )
            )

    def extras(self, path: str, inc: dict[str, Any], call: dict[str, Any]) -> None:
        """priority, source and beat where the document gives them."""
        found = _get(inc, "beatOrDispatchGroupText")
        beat = _text_of(found[1]) if found else None
        if beat:
            call["beat"] = beat[:_MAX_BEAT]
            self.sources["beat"] = f"{path}.{found[0]}"
        for cpath, comp in self.components("call"):
            found = _get(comp, "priorityIdentifier")
            value = (_text_of(found[1]) or "").lower() if found else ""
            if call.get("priority") is None and value in PRIORITY_IDENTIFIERS:
                call["priority"] = PRIORITY_IDENTIFIERS[value]
                self.sources["priority"] = f"{cpath}.{found[0]}"
            found = _get(comp, "standardPrimaryCallType", "callTypeDescriptionRegistryText")
            value = _text_of(found[1]) if found else None
            if call.get("source") is None and value:
                call["source"] = _SOURCES.get(value.lower(), value.upper()[:200])
                self.sources["source"] = f"{cpath}.{found[0]}"


def _instant(value: Any) -> dt.datetime | None:
    """A time for ordering call starts (an offset taken to UTC), None when unreadable."""
    try:
        return parse_timestamp(value, tz="UTC")
    except SchemaError:
        return None


def document_agency(doc: Any) -> str | None:
    """The agency a document was last updated by (`updatedByAgencyReference`, or the earlier
    `OwningAgencyIdentifier`), None when it names none."""
    found = _get(doc, "updatedByAgencyReference", "owningAgencyIdentifier")
    if found is None:
        return None
    ref = _ref_of(found[1]) if isinstance(found[1], dict) else _text_of(found[1])
    return ref[:MAX_ID_LEN] if ref else None


def apco_call_type(code: str) -> str | None:
    """The project's call type for an APCO incident code (any case; a URN-style prefix such as
    `apco:` is dropped), None when the code is not in the vocabulary."""
    key = re.split(r"[:#/]", code.strip())[-1].strip().upper()
    return APCO_CALL_TYPES.get(key)


def read_eido(doc: Any, known_within: dt.timedelta | None = None) -> EidoCall:
    """One EIDO document -> one canonical call, its warnings and where each field came from.

    Raises `EidoError` (naming the part) when the document is no JSON object or has no id, no
    incident type or no time; everything else that cannot be read is a warning.

    `known_within`: for history (a folder of final EIDOs), only notes and cautions stamped at
    most this long after the call started are read; a note written later may tell what
    happened on scene, the call's outcome, which a call-time field must never carry (SPEC §2).
    Live scoring reads everything the document holds: it was all known when it was sent.
    """
    if not isinstance(doc, dict):
        raise EidoError("body", "an EIDO document is a JSON object")
    reader = _Reader(doc)
    path, inc = reader.incident()
    call: dict[str, Any] = {
        "call_id": reader.call_id(path, inc),
        "received_at": reader.received_at(path, inc),
        "call_type": reader.call_type(path, inc),
    }
    if known_within is not None:
        start = _instant(call["received_at"])
        reader.cutoff = start + known_within if start is not None else None
    reader.extras(path, inc, call)
    reader.place(path, inc, call)
    narrative = reader.narrative()
    if narrative:
        call["narrative"] = narrative
    reader.cautions(call)
    if reader.left_out:
        parts = [f"{n} {kind}{'s' * (n != 1)}" for kind, n in sorted(reader.left_out.items())]
        reader.unread(
            f"{' and '.join(parts)} stamped more than "
            f"{known_within.total_seconds() / 60:g} minutes after the call started "
            "(or not stamped) left out: history keeps what was known when the call was taken"
        )
    return EidoCall(call, reader.warnings, reader.sources)


def wall_clock(value: str) -> tuple[str, str | None]:
    """(the time without its UTC offset, the offset as written, or None when it has none): how a
    time is read when no agency time zone is configured, the clock time as written, as `ingest`
    reads an export. A text that is no ISO time comes back as it is (validation names it)."""
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return value, None
    if when.tzinfo is None:
        return value, None
    offset = when.strftime("%z")
    return when.replace(tzinfo=None).isoformat(), "Z" if offset == "+0000" else offset
