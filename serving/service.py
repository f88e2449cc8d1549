"""The dispatch service (SPEC §4): BentoML routes over `risk_model.service.assessor.LiveAssessor`.

Thin on purpose: each route validates its body (pydantic models below) and makes one call into
`risk_model`; no feature, scoring or rule logic lives here.

    POST /score        {"call": {...}}      -> one assessment
    POST /score_batch  {"calls": [...]}     -> assessments in the same order
    POST /ingest       {"calls": [...]}     -> counts accepted/rejected (+ per-call errors)
    GET  /healthz, /readyz                  liveness; readiness (model and history loaded)
    GET  /metrics, /monitor/metrics         Prometheus; the latest monitor verdict's gauges
    /review/...                             the supervisor page (serving/review.py), if present

Settings come from the environment (risk_model/service/settings.py). The model is pinned when the
service starts (an alias resolves to one version, named in every answer). Loading runs in a
background thread so /healthz answers at once and /readyz turns 200 when the model and the
history store are loaded; the precaution rules are validated before that, and a bad rule file
stops the service from starting.

Errors are JSON: `{"error": "call.received_at: ...", "field": "call.received_at", "errors":
[...]}` with a 4xx status for anything wrong with the request (the `Gate` middleware gives
BentoML's own validation answers this shape); 401 without the token when one is set.

The plumbing lives beside it: serving/errors.py (the error shape), serving/middleware.py (`Gate`,
`CountSingles`), serving/bentoml_patch.py (workarounds for BentoML 1.4, applied at import).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import importlib.util
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import bentoml
from bentoml.validators import ContentType
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core.core_schema import ValidationInfo
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from risk_model import vocab
from risk_model.config import AnswerConfig
from risk_model.errors import UserError
from risk_model.model.precautions import load_rules
from risk_model.schema import (
    EARLIEST_PLAUSIBLE,
    FLAG_COLUMNS,
    ISO_TIME_PATTERN,
    MAX_ID_LEN,
    OUTCOME_COLUMNS,
    PRIORITY_MAX,
    PRIORITY_MIN,
    REQUIRED_COLUMNS,
    STRING_COLUMNS,
    CallRecord,
    CallWithOutcome,
    SchemaError,
    iso_time_pattern,
    parse_timestamp,
)
from risk_model.service.assessor import LiveAssessor, StoreUnavailable, merge_repeated_calls
from risk_model.service.audit import dumps
from risk_model.service.monitor_latest import prometheus_text, read_latest
from risk_model.service.settings import (
    ServiceSettings,
    load_assessor,
)
from risk_model.service.supervise import die_with_server
from serving.bentoml_patch import (
    quiet_validation_tracebacks,
    request_bodies_are_required,
    timeout_middleware_cancels_its_timer,
)
from serving.errors import error_body
from serving.errors import error_response as _error
from serving.errors import unavailable as _unavailable
from serving.middleware import (  # noqa: F401 - MAX_BODY_BYTES, Gate: tests import them here
    API_ROUTES,
    MAX_BODY_BYTES,
    REVIEW_PATH,
    TURNS,
    CountSingles,
    Gate,
)

log = logging.getLogger(__name__)

# Largest batch the request schema accepts; a model whose settings say less is held to that.
MAX_BATCH = AnswerConfig().max_batch
# BentoML's own access-log skip list, kept when the scoring routes are added to it.
_QUIET_PATHS = ("/metrics", "/healthz", "/livez", "/readyz")
# Calls up to this far ahead of the server clock are accepted (clock skew), as in ingest.
FUTURE_SLACK = dt.timedelta(days=1)
# /score_batch runs on the event loop a slice at a time: this many calls assessed (~5 ms), or
# validated, between turns given to single calls (see serving/middleware.py's _Turns).
BATCH_CHUNK = 12
BATCH_VALIDATE_CHUNK = 50

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


def _call_schema(example: dict[str, Any] | None) -> Callable[[dict[str, Any]], None]:
    def extra(schema: dict[str, Any]) -> None:
        _pair_in_schema(schema)
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
CallId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LEN, json_schema_extra=_NOT_BLANK)]
CallType = Annotated[str, Field(min_length=1, max_length=200, json_schema_extra=_NOT_BLANK)]
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
    received_until: ReceivedAt | None = None
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
    received_until: ReceivedAt | None = None
    call_type: CallType
    longitude: Longitude = None


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


# --------------------------------------------------------------------------- ingest words


def _plain(value: Any) -> str:
    """A value as the caller wrote it in JSON (true/false/null, ISO times)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return json.dumps(value)


# --------------------------------------------------------------------------- the service


# Two worker processes: with the request path lean, a second process nearly doubles what the
# service takes under concurrent load on 2 cores (benchmarks/bench_service.py: ~1,150-1,200 vs
# ~600-670 requests/s at concurrency 32; the same ~1.5 ms p50 for a lone call). Writes to the
# history store and audit log queue on a cross-process lock; each worker's caches drop on any
# write. Each worker holds its own copy of the model (~0.6 GB resident). Other counts:
# BENTOML_CONFIG_OVERRIDES='{"services": {"call-risk": {"workers": N}}}'.
@bentoml.service(
    name="call-risk",
    workers=2,
    traffic={"timeout": 30},
    # The scoring routes skip BentoML's per-request access-log line and OpenTelemetry span
    # (sampled at 0, i.e. never exported, unless an exporter is configured): together ~0.3 ms of
    # a ~2 ms request, ~25% more requests/s at concurrency 8 (docs/benchmarks.md). Every scored
    # call is in the audit log; errors are still logged. Turn them back on with
    # BENTOML_CONFIG_OVERRIDES (docs/service.md).
    logging={"access": {"skip_paths": [*_QUIET_PATHS, *sorted(API_ROUTES)]}},
    tracing={"excluded_urls": [f"{route}$" for route in sorted(API_ROUTES)]},
)
class CallRisk:
    """Officer-safety risk for calls for service: a calibrated score, reasons in words, a
    conformal "can't tell", and suggested precautions. Advisory only: a person decides."""

    def __init__(self) -> None:
        quiet_validation_tracebacks()
        for name in ("serving", "risk_model"):  # BentoML's root logger shows WARNING and up
            if logging.getLogger(name).level == logging.NOTSET:
                logging.getLogger(name).setLevel(logging.INFO)
        # Under `risk-model serve`: stop when the server process is gone (kill -9 included).
        die_with_server()
        self.settings = ServiceSettings.from_env()
        set_agency_timezone(self.settings.timezone)
        # A bad rule file stops the service here, with the rule and key named.
        self.rules = load_rules(self.settings.precautions)
        self.assessor: LiveAssessor | None = None
        self.load_error: str | None = None
        self._background = ThreadPoolExecutor(1, thread_name_prefix="call-risk-background")
        self._loader = threading.Thread(target=self._load, name="call-risk-load", daemon=True)
        self._loader.start()

    def _load(self) -> None:
        t0 = time.perf_counter()
        try:
            assessor = load_assessor(self.settings, self.rules)
            # One unaudited assessment compiles the narrative lexicon and warms the caches, so
            # the first real call is not the slow one.
            assessor.assess([CallIn.model_validate(EXAMPLE_CALL).to_row()], audit=False)
            # Everything loaded so far (~400,000 objects: the model, MLflow, BentoML, pandas)
            # lives as long as the process. Frozen, Python's full garbage collections skip it:
            # measured 230-250 ms pauses of the event loop every few seconds under load before,
            # 1-2 ms after (/score p99 at concurrency 32: 290 -> 80-89 ms).
            gc.collect()
            gc.freeze()
            self.assessor = assessor
        except UserError as exc:
            self.load_error = str(exc)
            log.error("cannot start: %s", exc)
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.exception("cannot start")
        else:
            log.info("ready in %.1fs", time.perf_counter() - t0)

    def __metrics__(self, content: str) -> str:
        """BentoML's `/metrics` (under `bentoml serve`) plus the latest monitor verdict's gauges
        from monitor_latest.json beside the audit log (risk_model.service.monitor_latest)."""
        report, _why = read_latest(self.settings.audit_db)
        return content.rstrip("\n") + "\n" + prometheus_text(report)

    def __is_alive__(self) -> bool:
        # Raised rather than returned, so the 503 says why (the Gate makes it JSON).
        if self.load_error is not None:
            raise HTTPException(503, f"the service could not start: {self.load_error}")
        return True

    def __is_ready__(self) -> bool:
        """Ready when loaded, the history store and audit log can be read, their file systems
        are writable and not full, and the last write to each succeeded; after a failed write,
        the write check (risk_model.db.write_check) is retried on every check, so readiness
        returns as soon as the disk has room or the file is writable again."""
        assessor = self.assessor
        if assessor is None:
            raise HTTPException(503, self._not_ready_reason())
        try:
            assessor.ping()
        except Exception as exc:
            log.error("history store or audit log unreadable: %s", exc)
            raise HTTPException(
                503, f"history store or audit log unreadable: {type(exc).__name__}: {exc}"
            ) from None
        if (problem := assessor.storage_problem()) is not None:
            raise HTTPException(503, problem)
        if assessor.write_failure is not None:
            try:
                assessor.check_writes()
            except StoreUnavailable as exc:
                raise HTTPException(
                    503, f"{exc}; not ready until a write succeeds again"
                ) from None
            log.info("writes succeed again; ready")
        return True

    def _not_ready_reason(self) -> str:
        if self.load_error:
            return f"the service could not start: {self.load_error}"
        return "the model is still loading; try again in a moment"

    def _ready(self) -> LiveAssessor | JSONResponse:
        if self.assessor is not None:
            return self.assessor
        return _error(503, None, self._not_ready_reason())

    def _batch_limit(self, assessor: LiveAssessor, n: int) -> JSONResponse | None:
        limit = min(MAX_BATCH, assessor.model.settings.service.max_batch)
        if n > limit:
            return _error(400, "calls", f"at most {limit} calls per request, got {n}")
        return None

    @bentoml.api(route="/score", input_spec=ScoreRequest, output_spec=Assessment)
    async def score(self, call: CallIn) -> Assessment:
        """Assess one call: score, tier, decision, reasons and precautions (audited)."""
        # Runs on the event loop: one call is a few milliseconds of CPU, and handing it to a
        # worker thread cost more than it saved (measured: ~25% more requests/s at concurrency
        # 8, lower p50 and p99). Ingest runs in a thread and batches yield to single calls
        # slice by slice (`score_batch`), so a dispatcher's single call is not queued behind
        # them; LiveAssessor is thread-safe.
        assessor = self._ready()
        if isinstance(assessor, JSONResponse):
            return assessor  # type: ignore[return-value]
        try:
            out = assessor.assess([call.to_row()])
        except StoreUnavailable as exc:
            failed = _unavailable(exc, "the assessment was not returned: it was not audited")
            return failed  # type: ignore[return-value]
        return Assessment.model_validate(out[0])

    async def _in_background(self, func: Callable[..., Any], *args: Any) -> Any:
        """Runs long work (batches, ingest) on the service's one background thread, so the event
        loop keeps answering single calls meanwhile. One thread, not a pool: the work holds the
        GIL anyway, and a pool of threads each opened its own cold SQLite connection and area
        cache (measured: /score_batch ~25% slower than the same assessment in process)."""
        return await asyncio.get_running_loop().run_in_executor(self._background, func, *args)

    @bentoml.api(route="/score_batch", input_spec=ScoreBatchRequest)
    async def score_batch(self, calls: list[dict[str, Any]]) -> AssessmentList:
        """Assess several calls in one request; answers in the same order (audited).

        Batch work never starves single calls: it runs on the event loop a slice at a time
        (BATCH_VALIDATE_CHUNK calls validated, BATCH_CHUNK assessed) and before each slice
        steps aside while /score requests are in flight (`_Turns`). On a thread it could not:
        a busy thread holds the GIL for up to 5 ms at a time whenever the event loop wants
        it back, several times per single call (measured: /score p99 at concurrency 8 beside
        1,000-call batches 2.2-3.2x its value alone before, 1.05-1.6x now; docs/benchmarks.md).
        """
        assessor = self._ready()
        if isinstance(assessor, JSONResponse):
            return assessor  # type: ignore[return-value]
        if (too_many := self._batch_limit(assessor, len(calls))) is not None:
            return too_many  # type: ignore[return-value]
        rows, errors = [], []
        for start in range(0, len(calls), BATCH_VALIDATE_CHUNK):
            await TURNS.batch_turn()
            for i in range(start, min(start + BATCH_VALIDATE_CHUNK, len(calls))):
                try:
                    rows.append(CallIn.model_validate(calls[i]).to_row())
                except ValidationError as exc:
                    errors += [
                        {**e, "loc": ("calls", i, *e["loc"])}
                        for e in exc.errors(include_url=False)
                    ]
            TURNS.batch_done()
        if errors:  # nothing is assessed (nor audited) unless every call is valid
            return JSONResponse(error_body(errors), status_code=400)  # type: ignore[return-value]
        out: list[dict[str, Any]] = []
        try:
            for start in range(0, len(rows), BATCH_CHUNK):
                await TURNS.batch_turn()
                out += assessor.assess(rows[start : start + BATCH_CHUNK])
                TURNS.batch_done()
        except StoreUnavailable as exc:
            TURNS.batch_done()
            failed = _unavailable(
                exc,
                f"the batch was not returned ({len(out)} of {len(rows)} calls were audited "
                "before the failure)",
            )
            return failed  # type: ignore[return-value]
        # Encoded here: the assessments already have the Assessment shape (the /score tests
        # validate it); BentoML's validate-then-dump of 100 of them cost ~5 ms a request.
        return Response(dumps(out), media_type="application/json")  # type: ignore[return-value]

    @bentoml.api(route="/ingest", input_spec=IngestRequest, output_spec=IngestResult)
    async def ingest(self, calls: list[dict[str, Any]]) -> IngestResult:
        """Add calls and later outcomes to the premise history; each call is validated on its
        own. Answers 400 only when no call is usable. Ingest never scores."""
        assessor = self._ready()
        if isinstance(assessor, JSONResponse):
            return assessor  # type: ignore[return-value]
        if (too_many := self._batch_limit(assessor, len(calls))) is not None:
            return too_many  # type: ignore[return-value]
        return await self._in_background(self._ingest, assessor, calls)

    @staticmethod
    def _ingest(assessor: LiveAssessor, calls: list[dict[str, Any]]) -> IngestResult:
        rows: list[tuple[int, dict[str, Any]]] = []
        errors: list[ItemError] = []
        for i, raw in enumerate(calls):
            try:
                rows.append((i, CallOutcomeIn.model_validate(raw).to_row()))
            except ValidationError as exc:
                body = error_body(exc.errors(include_url=False), ("calls", i))
                cid = raw.get("call_id")
                for item in body["errors"]:
                    errors.append(
                        ItemError(
                            index=i,
                            call_id=str(cid)[:128] if cid is not None else None,
                            field=item["field"],
                            error=item["error"],
                        )
                    )
        unique, repeats = merge_repeated_calls(rows)
        merged = []
        for r in repeats:
            if r.merged:
                merged.append(
                    MergedRow(
                        index=r.index, call_id=r.call_id, merged_into=r.earlier, added=r.fields
                    )
                )
                continue
            for name, (before, now) in zip(r.fields, r.values, strict=True):
                errors.append(
                    ItemError(
                        index=r.index,
                        call_id=r.call_id,
                        field=f"calls[{r.index}].{name}",
                        error=f"calls[{r.earlier}] has the same call_id with {name} "
                        f"{_plain(before)}, this row {_plain(now)}; the row was not ingested "
                        "(send one row per call; a later outcome may come in its own request)",
                    )
                )
        errors.sort(key=lambda e: e.index)
        if not unique:
            first = errors[0]
            body = {
                "error": f"no call could be ingested: {first.field}: {first.error}",
                "field": first.field,
                "errors": [e.model_dump() for e in errors],
            }
            return JSONResponse(body, status_code=400)  # type: ignore[return-value]
        try:
            result = assessor.ingest(unique)
        except StoreUnavailable as exc:
            failed = _unavailable(exc, "nothing from this request was stored")
            return failed  # type: ignore[return-value]
        accepted = len(unique) + len(merged)
        return IngestResult(
            accepted=accepted,
            rejected=len(calls) - accepted,
            inserted=result.inserted,
            updated=result.updated,
            unchanged=result.unchanged,
            errors=errors,
            merged=merged,
        )


# --------------------------------------------------------------------------- wiring


if importlib.util.find_spec("serving.review") is not None:
    from serving.review import ServiceReviewMount

    bentoml.asgi_app(ServiceReviewMount(), path=REVIEW_PATH, name="review")(CallRisk)
if importlib.util.find_spec("serving.monitor_metrics") is not None:
    from serving.monitor_metrics import create_metrics_app

    bentoml.asgi_app(create_metrics_app(), path="/monitor", name="monitor")(CallRisk)
timeout_middleware_cancels_its_timer()
request_bodies_are_required(API_ROUTES)
CallRisk.add_asgi_middleware(Gate)
CallRisk.add_asgi_middleware(CountSingles)
