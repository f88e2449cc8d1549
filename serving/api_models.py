"""The API's request and response models (SPEC §4): what a dispatch system may send and what it
gets back, validated strictly and stated exactly in the OpenAPI schema (a test proves the schema
accepts what validation accepts). serving/service.py holds the routes that use them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from bentoml.validators import ContentType
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core.core_schema import ValidationInfo

from risk_model import vocab
from risk_model.config import AnswerConfig
from risk_model.schema import (
    EARLIEST_PLAUSIBLE,
    FLAG_COLUMNS,
    ISO_TIME_PATTERN,
    MAX_ID_LEN,
    MAX_RECEIVED_INTERVAL,
    OUTCOME_COLUMNS,
    PRIORITY_MAX,
    PRIORITY_MIN,
    REQUIRED_COLUMNS,
    STRING_COLUMNS,
    TEXT_LIMITS,
    CallRecord,
    CallWithOutcome,
    SchemaError,
    iso_time_pattern,
    parse_timestamp,
)

# Largest batch the request schema accepts; a model whose settings say less is held to that.
MAX_BATCH = AnswerConfig().max_batch
# Calls up to this far ahead of the server clock are accepted (clock skew), as in ingest.
FUTURE_SLACK = dt.timedelta(days=1)

# One example call, used by the OpenAPI docs and the tests.
EXAMPLE_CALL: dict[str, Any] = {
    "call_id": "C-1042",
    "received_at": "2025-11-14T01:12:00",
    "call_type": "DOMESTIC DISTURBANCE",
    "priority": 1,
    "source": "911",
    "address": "3400 BLOCK E CEDAR BLVD",
    "latitude": 35.15906,
    "longitude": -97.362074,
    "beat": "708",
    "district": "SOUTHEAST",
    "premise_type": "APARTMENT",
    "weapon_reported": False,
    "domestic": True,
    "mental_health": None,
    "intoxication": True,
    "in_progress": True,
    "narrative": "RP STATES BF PUSHED HER, HE IS STILL ON SCENE, UNK WEAPONS",
}
EXAMPLE_OUTCOME: dict[str, Any] = {
    **EXAMPLE_CALL,
    "call_id": "C-0977",
    "received_at": "2025-10-02T23:40:00",
    "officer_assaulted": True,
    "officer_injured": False,
}


# --------------------------------------------------------------------------- request models


# received_at in the API: an exact ISO 8601 time from 1990 on (risk_model.schema.iso_time_pattern
# with the years narrowed to EARLIEST_PLAUSIBLE's), so the schema states what validation reads.
_YEAR_1990 = r"(?:199\d|[2-9]\d{3})"
_LEAP_1990 = r"(?:199[26]|[2-9]\d(?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[3579][26])00)"
RECEIVED_AT_PATTERN = iso_time_pattern(_YEAR_1990, _LEAP_1990)
RECEIVED_AT_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": RECEIVED_AT_PATTERN,
    "description": "When the call was received: ISO 8601 date and clock time, seconds and "
    "fraction optional, e.g. 2025-11-14T01:12:00. Without an offset it is agency local time; "
    "with one (Z, +02:00) it is converted to the agency's time zone (CALL_RISK_TIMEZONE; "
    "refused when the service has none). Not before 1990-01-01, not more than a day ahead "
    "of the service's clock.",
}
# Text of the call (ids, codes, addresses, the narrative) may hold tabs and line breaks, never
# other control characters (NUL, ESC, C1 controls) or bidirectional overrides (U+202A-E,
# U+2066-9): they forge log lines, recolour terminals and disguise text on a supervisor's
# screen. Stated in the schema as a pattern, enforced by `_no_control_characters`.
_CONTROL_CLASS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
NO_CONTROL_PATTERN = rf"^[^{_CONTROL_CLASS}]*$"
_CONTROL = re.compile(f"[{_CONTROL_CLASS}]")
RECEIVED_UNTIL_SCHEMA: dict[str, Any] = {
    **RECEIVED_AT_SCHEMA,
    "description": "Optional: when the call is known only to an interval (a day, a shift), "
    "the end of it, exclusive; same format as received_at. Must be after received_at and at "
    f"most {MAX_RECEIVED_INTERVAL.days} days later (a call is never refused for lacking it).",
}
# Text is stripped of ASCII whitespace only: the one set every reading of a JSON Schema `\s`
# (ECMA 262, Unicode, Python's re.ASCII, as schemathesis draws values) agrees on.
_SPACE = " \t\n\r\f\v"
# A required text must hold something besides whitespace.
_NOT_BLANK = {"pattern": r"\S"}
# received_at as the schema's readers see it: ASCII classes, `$` the end of the text.
_ISO_AS_SCHEMA = re.compile(ISO_TIME_PATTERN.removesuffix("$") + r"\Z", re.ASCII)
# The agency's time zone (ServiceSettings.timezone), set when the service starts.
_AGENCY: dict[str, str | None] = {"timezone": None}


def set_agency_timezone(name: str | None) -> None:
    """The zone offsets in `received_at` are converted to (None: offsets are refused)."""
    _AGENCY["timezone"] = name


def _pair_in_schema(schema: dict[str, Any]) -> None:
    """latitude and longitude both numbers, or both absent/null: stated in the schema, as the
    `_pair` check enforces it."""
    schema["anyOf"] = [
        {
            "required": ["latitude", "longitude"],
            "properties": {"latitude": {"type": "number"}, "longitude": {"type": "number"}},
        },
        {"properties": {"latitude": {"type": "null"}, "longitude": {"type": "null"}}},
    ]


def _text_in_schema(schema: dict[str, Any]) -> None:
    """Every text field of the call states the control-character rule (beside `\\S` where a
    field must not be blank: JSON Schema has one `pattern` per schema, so that one moves into
    an `allOf`)."""
    for name in STRING_COLUMNS:
        prop = schema.get("properties", {}).get(name)
        if prop is None:
            continue
        if "pattern" in prop:
            prop["allOf"] = [{"pattern": prop.pop("pattern")}]
        prop["pattern"] = NO_CONTROL_PATTERN


def _call_schema(example: dict[str, Any] | None) -> Callable[[dict[str, Any]], None]:
    def extra(schema: dict[str, Any]) -> None:
        _pair_in_schema(schema)
        _text_in_schema(schema)
        if example is not None:
            schema["example"] = example

    return extra


def _api_time(v: Any) -> dt.datetime:
    """A time from a JSON body: strict ISO 8601 text; an offset is converted to the agency's
    time zone (and refused when none is configured)."""
    if not isinstance(v, str):
        raise ValueError("must be text: an ISO 8601 time such as 2025-11-14T01:12:00")
    tz = _AGENCY["timezone"]
    try:
        when = parse_timestamp(v, tz=tz)
    except SchemaError as exc:
        raise ValueError(str(exc).split(": ", 1)[1]) from exc
    if not _ISO_AS_SCHEMA.search(v):  # e.g. a no-break space around it, or a digit "٣"
        raise ValueError(f"cannot parse {v[:40]!r} as an ISO 8601 time")
    if tz is None and dt.datetime.fromisoformat(v.strip()).tzinfo is not None:
        raise ValueError(
            "has a UTC offset, but the service has no agency time zone to convert it to: "
            "send agency local time without an offset, or set CALL_RISK_TIMEZONE "
            "(e.g. America/Chicago)"
        )
    return when


class _ServiceChecks(BaseModel):
    """The API's checks on one call: what ingest applies to a table
    (risk_model.schema.validate_frame), with JSON types taken strictly.

    A file may say 1/0 or yes/no for a boolean (SPEC section 1); a JSON body has real booleans,
    numbers and text, so `1`, `"yes"` or `true` where another type belongs is refused: the
    OpenAPI schema says exactly what is accepted. These validators replace CallRecord's
    lenient ones of the same name.
    """

    @model_validator(mode="before")
    @classmethod
    def _interval_start(cls, data: Any) -> Any:
        # Replaces CallRecord's reading of a bare date as the start of an interval: the API
        # takes full ISO 8601 times in received_at and received_until, as its schema says.
        return data

    @field_validator("received_until", mode="before", check_fields=False)
    @classmethod
    def _until(cls, v: Any) -> dt.datetime | None:
        return None if v is None else _api_time(v)

    @field_validator("received_at", mode="before", check_fields=False)
    @classmethod
    def _time(cls, v: Any) -> dt.datetime:
        return _api_time(v)

    @field_validator("received_at", check_fields=False)
    @classmethod
    def _plausible_time(cls, v: dt.datetime) -> dt.datetime:
        if v < EARLIEST_PLAUSIBLE.to_pydatetime():
            raise ValueError(f"before {EARLIEST_PLAUSIBLE.date()}")
        tz = _AGENCY["timezone"]
        now = dt.datetime.now(ZoneInfo(tz)).replace(tzinfo=None) if tz else dt.datetime.now()
        if v > now + FUTURE_SLACK:
            raise ValueError("in the future")
        return v

    @field_validator(*FLAG_COLUMNS, mode="before", check_fields=False)
    @classmethod
    def _flag(cls, v: Any) -> bool | None:
        if v is None or isinstance(v, bool):
            return v
        raise ValueError("must be true, false or null (a JSON boolean, not 1/0 or text)")

    @field_validator(*OUTCOME_COLUMNS, mode="before", check_fields=False)
    @classmethod
    def _outcome(cls, v: Any) -> bool | None:
        return cls._flag(v)

    @field_validator("priority", mode="before", check_fields=False)
    @classmethod
    def _whole_number(cls, v: Any) -> Any:
        if v is None or (isinstance(v, int | float) and not isinstance(v, bool)):
            return v
        raise ValueError(f"must be a whole number {PRIORITY_MIN}..{PRIORITY_MAX} or null")

    @field_validator("latitude", "longitude", mode="before", check_fields=False)
    @classmethod
    def _number(cls, v: Any) -> Any:
        if v is None or (isinstance(v, int | float) and not isinstance(v, bool)):
            return v
        raise ValueError("must be a number (WGS84 degrees) or null")

    @field_validator(*STRING_COLUMNS, mode="before", check_fields=False)
    @classmethod
    def _no_control_characters(cls, v: Any) -> Any:
        if isinstance(v, str) and (m := _CONTROL.search(v)):
            raise ValueError(
                f"contains a control character (U+{ord(m.group()):04X}) at position "
                f"{m.start()}: remove it (tabs and line breaks are allowed)"
            )
        return v

    @field_validator(*STRING_COLUMNS, check_fields=False)
    @classmethod
    def _empty_is_unknown(cls, v: str | None, info: ValidationInfo) -> str | None:
        # Stripped after the length limits, which apply to the text as sent (as in the schema).
        text = v.strip(_SPACE) if v is not None else None
        if not text and info.field_name in REQUIRED_COLUMNS:
            raise ValueError("blank: give a value")
        return text or None

    @field_validator("longitude", check_fields=False)
    @classmethod
    def _pair(cls, v: float | None, info: ValidationInfo) -> float | None:
        if "latitude" in info.data and (info.data["latitude"] is None) != (v is None):
            raise ValueError("give latitude and longitude together, or neither")
        return v


ReceivedAt = Annotated[dt.datetime, WithJsonSchema(RECEIVED_AT_SCHEMA)]
ReceivedUntil = Annotated[dt.datetime, WithJsonSchema(RECEIVED_UNTIL_SCHEMA)]
CallId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LEN, json_schema_extra=_NOT_BLANK)]
CallType = Annotated[
    str, Field(min_length=1, max_length=TEXT_LIMITS["call_type"], json_schema_extra=_NOT_BLANK)
]
# Validated even when absent, so a lone latitude is caught.
Longitude = Annotated[float | None, Field(ge=-180, le=180, validate_default=True)]


class CallIn(_ServiceChecks, CallRecord):
    """One call as known when it is taken (SPEC §1). Unknown extra fields are ignored."""

    model_config = ConfigDict(
        extra="ignore",
        str_strip_whitespace=False,  # stripped by _empty_is_unknown, after the length limits
        title="Call",
        json_schema_extra=_call_schema(EXAMPLE_CALL),
    )
    call_id: CallId
    received_at: ReceivedAt
    received_until: ReceivedUntil | None = None
    call_type: CallType
    longitude: Longitude = None


class CallOutcomeIn(_ServiceChecks, CallWithOutcome):
    """A call plus its outcome, as /ingest takes it."""

    model_config = ConfigDict(
        extra="ignore",
        str_strip_whitespace=False,
        title="CallOutcome",
        json_schema_extra=_call_schema(None),
    )
    call_id: CallId
    received_at: ReceivedAt
    received_until: ReceivedUntil | None = None
    call_type: CallType
    longitude: Longitude = None
    correction: bool | None = Field(
        None,
        description="true: this row corrects an outcome already recorded (e.g. an assault "
        "recorded in error). Without it, an outcome only accumulates: an assault or injury once "
        "recorded true stays true when a later row says false.",
    )

    @field_validator("correction", mode="before")
    @classmethod
    def _correction(cls, v: Any) -> bool | None:
        return cls._flag(v)


class ScoreRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", title="ScoreRequest", json_schema_extra={"example": {"call": EXAMPLE_CALL}}
    )
    call: CallIn


class ScoreBatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        title="ScoreBatchRequest",
        json_schema_extra={"example": {"calls": [EXAMPLE_CALL]}},
    )
    calls: Annotated[
        list[dict[str, Any]],
        Field(
            min_length=1,
            max_length=MAX_BATCH,
            description="Calls as /score takes them (at most 1,000); one bad call refuses the "
            "request (400 naming calls[i].field).",
            # Documented as calls; validated in the route a slice at a time, so that a large
            # batch never holds the event loop (single calls) for long.
            json_schema_extra=lambda schema: schema.update(
                items=CallIn.model_json_schema(mode="validation")
            ),
        ),
    ]


class IngestRequest(BaseModel):
    """Calls (and later outcomes) for the history store; each call is checked on its own."""

    model_config = ConfigDict(
        extra="forbid",
        title="IngestRequest",
        json_schema_extra={"example": {"calls": [EXAMPLE_OUTCOME]}},
    )
    calls: Annotated[
        list[dict[str, Any]],
        Field(
            min_length=1,
            max_length=MAX_BATCH,
            description="Canonical call records (SPEC §1), outcome columns allowed; a call "
            "that breaks the schema is rejected with its own error, the others are kept.",
            # Validated one by one in the route: any objects, at least one of them a call
            # (else 400); the others are answered as per-call errors.
            json_schema_extra=lambda schema: schema.update(
                contains=CallOutcomeIn.model_json_schema(mode="validation")
            ),
        ),
    ]


# --------------------------------------------------------------------------- response models


class Reason(BaseModel):
    feature: str
    value: Any = None
    contribution: float = Field(description="log-odds contribution (exact TreeSHAP)")
    text: str


class Precaution(BaseModel):
    id: str
    text: str
    because: list[str] = Field(description="the reasons (features, tier, decision) that fired it")


class ModelName(BaseModel):
    name: str
    version: str


class Assessment(BaseModel):
    model_config = ConfigDict(
        title="Assessment",
        json_schema_extra={
            "example": {
                "call_id": "C-1042",
                "risk_score": 0.031,
                "risk_tier": "elevated",
                "decision": "cant_tell",
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
                "warnings": [
                    "cant_tell: the data cannot separate high from low risk for this call; "
                    "rely on the call facts"
                ],
            }
        },
    )
    call_id: str
    risk_score: float = Field(ge=0, le=1, description="calibrated probability of harm")
    risk_tier: vocab.Tier
    decision: vocab.Decision
    reasons: list[Reason]
    precautions: list[Precaution]
    model: ModelName
    warnings: list[str] = Field(
        description="each `code: text`; codes: " + ", ".join(vocab.WARNING_CODES)
    )


# The media type stated up front: without it BentoML regenerates the list's JSON schema on every
# response just to find it (~3 ms per /score_batch request, measured with cProfile).
AssessmentList = Annotated[list[Assessment], ContentType("application/json")]


class ItemError(BaseModel):
    index: int = Field(description="position of the call in `calls`")
    call_id: str | None = None
    field: str = Field(description="the offending field, e.g. calls[3].received_at")
    error: str


class MergedRow(BaseModel):
    index: int = Field(description="position of the call in `calls`")
    call_id: str
    merged_into: int = Field(description="the earlier position with the same call_id")
    added: list[str] = Field(description="fields this row filled in that the earlier left unknown")


class KeptOutcome(BaseModel):
    index: int = Field(description="position of the call in `calls`")
    call_id: str
    field: str = Field(description="the outcome kept, e.g. calls[0].officer_assaulted")
    error: str


class IngestResult(BaseModel):
    accepted: int = Field(description="calls taken, merged rows included")
    rejected: int
    inserted: int = Field(description="new calls added to the history store")
    updated: int = Field(description="known calls whose outcome changed")
    unchanged: int = Field(description="known calls with nothing new")
    errors: list[ItemError]
    merged: list[MergedRow] = Field(
        default_factory=list,
        description="rows naming a call an earlier row of the same request named: merged into "
        "it (a repeat that contradicts the earlier row is rejected in `errors` instead)",
    )
    kept: list[KeptOutcome] = Field(
        default_factory=list,
        description="outcomes recorded true that a row said false without `correction: true`: "
        "the recorded outcome is kept (send the row again with `correction: true` to change it)",
    )
