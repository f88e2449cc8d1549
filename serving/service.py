"""The dispatch service (SPEC §4): BentoML routes over `risk_model.live.LiveAssessor`.

Thin on purpose: each route validates its body (pydantic models below) and makes one call into
`risk_model`; no feature, scoring or rule logic lives here.

    POST /score        {"call": {...}}      -> one assessment
    POST /score_batch  {"calls": [...]}     -> assessments in the same order
    POST /ingest       {"calls": [...]}     -> counts accepted/rejected (+ per-call errors)
    GET  /healthz, /readyz                  liveness; readiness (model and history loaded)
    /review/...                             the supervisor page (serving/review.py), if present

Settings come from the environment (risk_model/service_config.py). The model is pinned when the
service starts (an alias resolves to one version, named in every answer). Loading runs in a
background thread so /healthz answers at once and /readyz turns 200 when the model and the
history store are loaded; the precaution rules are validated before that, and a bad rule file
stops the service from starting.

Errors are JSON: `{"error": "call.received_at: ...", "field": "call.received_at", "errors":
[...]}` with a 4xx status for anything wrong with the request (the `Gate` middleware gives
BentoML's own validation answers this shape); 401 without the token when one is set.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import importlib.util
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal

import bentoml
from bentoml.validators import ContentType
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core.core_schema import ValidationInfo
from starlette.responses import JSONResponse, Response

from risk_model.config import ServiceConfig
from risk_model.errors import UserError
from risk_model.live import LiveAssessor, dumps
from risk_model.precautions import load_rules
from risk_model.schema import EARLIEST_PLAUSIBLE, CallRecord, CallWithOutcome
from risk_model.service_config import (
    ServiceSettings,
    load_assessor,
    token_accepted,
)

log = logging.getLogger(__name__)

# Largest batch the request schema accepts; a model whose settings say less is held to that.
MAX_BATCH = ServiceConfig().max_batch
# A full batch of calls with long narratives stays well under this.
MAX_BODY_BYTES = 8 * 1024 * 1024
API_ROUTES = frozenset({"/score", "/score_batch", "/ingest"})
# BentoML's own access-log skip list, kept when the scoring routes are added to it.
_QUIET_PATHS = ("/metrics", "/healthz", "/livez", "/readyz")
REVIEW_PATH = "/review"
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


class _ServiceChecks(BaseModel):
    """Checks ingest applies to a table (risk_model.schema.validate_frame), for one call."""

    @field_validator("received_at", check_fields=False)
    @classmethod
    def _plausible_time(cls, v: dt.datetime) -> dt.datetime:
        if v < EARLIEST_PLAUSIBLE.to_pydatetime():
            raise ValueError(f"before {EARLIEST_PLAUSIBLE.date()}")
        if v > dt.datetime.now() + FUTURE_SLACK:
            raise ValueError("in the future")
        return v

    @field_validator("longitude", check_fields=False)
    @classmethod
    def _pair(cls, v: float | None, info: ValidationInfo) -> float | None:
        if "latitude" in info.data and (info.data["latitude"] is None) != (v is None):
            raise ValueError("give latitude and longitude together, or neither")
        return v


class CallIn(_ServiceChecks, CallRecord):
    """One call as known when it is taken (SPEC §1). Unknown extra fields are ignored."""

    model_config = ConfigDict(
        extra="ignore",
        str_strip_whitespace=True,
        title="Call",
        json_schema_extra={"example": EXAMPLE_CALL},
    )
    # Validated even when absent, so a lone latitude is caught.
    longitude: Annotated[float | None, Field(ge=-180, le=180, validate_default=True)] = None


class CallOutcomeIn(_ServiceChecks, CallWithOutcome):
    """A call plus its outcome, as /ingest takes it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, title="CallOutcome")
    longitude: Annotated[float | None, Field(ge=-180, le=180, validate_default=True)] = None


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
    calls: Annotated[list[CallIn], Field(min_length=1, max_length=MAX_BATCH)]


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
            # Documented as calls; validated one by one in the route, not here.
            json_schema_extra=lambda schema: schema.update(
                items=CallOutcomeIn.model_json_schema(mode="validation")
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
                "warnings": [],
            }
        },
    )
    call_id: str
    risk_score: float = Field(ge=0, le=1, description="calibrated probability of harm")
    risk_tier: Literal["low", "elevated", "high"]
    decision: Literal["high", "low", "cant_tell"]
    reasons: list[Reason]
    precautions: list[Precaution]
    model: ModelName
    warnings: list[str]


# The media type stated up front: without it BentoML regenerates the list's JSON schema on every
# response just to find it (~3 ms per /score_batch request, measured with cProfile).
AssessmentList = Annotated[list[Assessment], ContentType("application/json")]


class ItemError(BaseModel):
    index: int = Field(description="position of the call in `calls`")
    call_id: str | None = None
    field: str = Field(description="the offending field, e.g. calls[3].received_at")
    error: str


class IngestResult(BaseModel):
    accepted: int
    rejected: int
    inserted: int = Field(description="new calls added to the history store")
    updated: int = Field(description="known calls whose outcome changed")
    unchanged: int = Field(description="known calls with nothing new")
    errors: list[ItemError]


# --------------------------------------------------------------------------- errors


def field_path(loc: Sequence[str | int]) -> str:
    """("calls", 3, "priority") -> "calls[3].priority"; the empty location is the body."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def _message(err: dict[str, Any]) -> str:
    if err.get("type") == "extra_forbidden":
        return "unknown field (the request body has no such key)"
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def error_body(errors: Sequence[dict[str, Any]], prefix: Sequence[str | int] = ()) -> dict:
    """Pydantic errors -> {"error", "field", "errors"}: the first problem named in the message."""
    items = [
        {"field": field_path([*prefix, *e.get("loc", ())]), "error": _message(e)} for e in errors
    ] or [{"field": "body", "error": "invalid request"}]
    first = items[0]
    return {
        "error": f"{first['field']}: {first['error']}",
        "field": first["field"],
        "errors": items,
    }


def _error(status: int, field: str | None, message: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"error": f"{field}: {message}" if field else message, "field": field}
    body.update(extra)
    return JSONResponse(body, status_code=status)


class _OneLineForBadInput(logging.Filter):
    """BentoML logs a full traceback for every request body that fails validation; a bad
    request is the caller's mistake, so one INFO line is enough (the answer names the field)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ValidationError):
            n = exc.error_count()
            record.msg = f"{record.getMessage()}: bad request ({n} error{'s' * (n != 1)})"
            record.args = ()
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _timeout_middleware_cancels_its_timer() -> None:
    """Workaround for BentoML 1.4.39's TimeoutMiddleware (`traffic.timeout`), same behaviour.

    It schedules `loop.call_later(timeout, ...)` for every request and never cancels it, so each
    request's context (request, scope, tracing spans) stays alive for the whole timeout: ~12,000
    requests at 400/s with the 30 s timeout. Python's full garbage collections then walked them
    all, pausing the event loop 0.2-0.5 s every few seconds (seen with gc callbacks in the
    server; /score p99 at concurrency 32 was 417 ms against a p90 of 89 ms). Here the timer is
    cancelled as soon as the request is answered; tests/service/test_timeout_middleware.py checks
    both the release and the 504 on a request that runs past the timeout.
    """
    from bentoml._internal.server.http import traffic

    middleware = traffic.TimeoutMiddleware
    if getattr(middleware, "_call_risk_cancels_timer", False):
        return

    async def __call__(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

        async def _send(message: dict[str, Any]) -> None:
            if not waiter.done():
                waiter.set_result(None)
            await send(message)

        fut = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
        try:
            await waiter
        except TimeoutError:
            if fut.cancel():
                body = {"error": f"Not able to process the request in {self.timeout} seconds"}
                await JSONResponse(body, status_code=504)(scope, receive, send)
        else:
            await fut
        finally:
            timer.cancel()

    middleware.__call__ = __call__  # type: ignore[method-assign]
    middleware._call_risk_cancels_timer = True  # type: ignore[attr-defined]


def quiet_validation_tracebacks() -> None:
    logger = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, _OneLineForBadInput) for f in logger.filters):
        logger.addFilter(_OneLineForBadInput())


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
        self.settings = ServiceSettings.from_env()
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

    def __is_alive__(self) -> bool:
        return self.load_error is None

    def __is_ready__(self) -> bool:
        assessor = self.assessor
        if assessor is None:
            return False
        try:
            assessor.ping()
        except Exception:
            log.exception("history store or audit log unreachable")
            return False
        return True

    def _ready(self) -> LiveAssessor | JSONResponse:
        if self.assessor is not None:
            return self.assessor
        if self.load_error:
            return _error(503, None, f"the service could not load its model: {self.load_error}")
        return _error(503, None, "the model is still loading; try again in a moment")

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
        # 8, lower p50 and p99). Batches and ingest, which can take seconds, run in a thread,
        # so a dispatcher's single call is not queued behind them; LiveAssessor is thread-safe.
        assessor = self._ready()
        if isinstance(assessor, JSONResponse):
            return assessor  # type: ignore[return-value]
        return Assessment.model_validate(assessor.assess([call.to_row()])[0])

    async def _in_background(self, func: Callable[..., Any], *args: Any) -> Any:
        """Runs long work (batches, ingest) on the service's one background thread, so the event
        loop keeps answering single calls meanwhile. One thread, not a pool: the work holds the
        GIL anyway, and a pool of threads each opened its own cold SQLite connection and area
        cache (measured: /score_batch ~25% slower than the same assessment in process)."""
        return await asyncio.get_running_loop().run_in_executor(self._background, func, *args)

    @bentoml.api(route="/score_batch", input_spec=ScoreBatchRequest)
    async def score_batch(self, calls: list[CallIn]) -> AssessmentList:
        """Assess several calls in one request; answers in the same order (audited)."""
        assessor = self._ready()
        if isinstance(assessor, JSONResponse):
            return assessor  # type: ignore[return-value]
        if (too_many := self._batch_limit(assessor, len(calls))) is not None:
            return too_many  # type: ignore[return-value]
        rows = [c.to_row() for c in calls]
        out = await self._in_background(assessor.assess, rows)
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
        rows, errors = [], []
        for i, raw in enumerate(calls):
            try:
                rows.append(CallOutcomeIn.model_validate(raw).to_row())
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
        if not rows:
            first = errors[0]
            body = {
                "error": f"no call could be ingested: {first.field}: {first.error}",
                "field": first.field,
                "errors": [e.model_dump() for e in errors],
            }
            return JSONResponse(body, status_code=400)  # type: ignore[return-value]
        result = assessor.ingest(rows)
        return IngestResult(
            accepted=len(rows),
            rejected=len(calls) - len(rows),
            inserted=result.inserted,
            updated=result.updated,
            unchanged=result.unchanged,
            errors=errors,
        )


# --------------------------------------------------------------------------- middleware

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Gate:
    """ASGI middleware: the bearer token, a body-size limit, and one JSON shape for errors.

    - With CALL_RISK_API_TOKEN set, a request needs `Authorization: Bearer <token>`; otherwise
      401 JSON. No cookie is ever accepted here: the review page's cookie is a read-only
      session that only the review page (/review, serving/review.py) accepts, so a leaked review
      link or cookie can never score or write (/ingest). The review page checks its own
      credentials, so it gets the request either way.
    - API bodies are read as JSON whatever their Content-Type (`curl -d` sends a form type,
      which BentoML would parse as multipart), and are limited to MAX_BODY_BYTES (413).
    - Error answers outside /review become `{"error", "field", "errors"}` JSON: BentoML's
      validation answer is rewritten to name the offending field; plain-text 404/405 are wrapped.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], max_body: int = MAX_BODY_BYTES):
        self.app = app
        self.token = ServiceSettings.from_env().api_token
        self.max_body = max_body

    def _authorized(self, scope: Scope) -> bool:
        if not self.token:
            return True
        auth = ""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                auth = value.decode("latin-1")
        return token_accepted(self.token, auth)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # Read the token when the service starts, with the rest of its settings.
            self.token = ServiceSettings.from_env().api_token
            await self.app(scope, receive, send)
            return
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        review = path == REVIEW_PATH or path.startswith(REVIEW_PATH + "/")
        if review:
            await self.app(scope, receive, send)
            return
        if not self._authorized(scope):
            if scope["type"] == "http":
                await _error(401, "authorization", "missing or invalid token")(
                    scope, receive, send
                )
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if path in API_ROUTES and scope.get("method") == "POST":
            body = await self._read_body(receive)
            if body is None:
                too_big = _error(413, "body", f"larger than {self.max_body:,} bytes")
                await too_big(scope, receive, send)
                return
            scope = dict(scope)
            scope["headers"] = [
                (k, v) for k, v in scope.get("headers", ()) if k != b"content-type"
            ] + [(b"content-type", b"application/json")]
            receive = _replay(body)
        await self.app(scope, receive, _ErrorShaper(send))

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


class _ErrorShaper:
    """Wraps `send`: buffers an error answer and rewrites it into the service's error shape."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.start: dict[str, Any] | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            self.start = message
            return
        if self.start is None:
            await self.send(message)
            return
        if message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status, body = shape_error(self.start["status"], self._content_type(), self.chunks)
            headers = [
                (k, v)
                for k, v in self.start.get("headers", ())
                if k not in (b"content-length", b"content-type")
            ]
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await self.send({**self.start, "status": status, "headers": headers})
            await self.send({"type": "http.response.body", "body": body, "more_body": False})
            self.start = None
            return
        await self.send(message)

    def _content_type(self) -> str:
        for k, v in (self.start or {}).get("headers", ()):
            if k == b"content-type":
                return v.decode("latin-1")
        return ""


def shape_error(status: int, content_type: str, chunks: list[bytes]) -> tuple[int, bytes]:
    """An error answer in the service's shape; BentoML's validation detail names the field."""
    raw = b"".join(chunks)
    data: Any = None
    if content_type.startswith("application/json"):
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
    if isinstance(data, list) and len(data) == 1:  # BentoML wraps some errors in a list
        data = data[0]
    if isinstance(data, dict) and "field" in data and "error" in data:
        return status, raw  # already ours
    if isinstance(data, dict) and isinstance(data.get("detail"), list):
        return status, json.dumps(error_body(data["detail"])).encode()
    if isinstance(data, dict) and data.get("error"):
        message = str(data["error"])
    elif isinstance(data, dict) and data.get("detail"):
        message = str(data["detail"])
    else:
        message = raw.decode("utf-8", "replace").strip()[:500] or "error"
    return status, json.dumps({"error": message, "field": None}).encode()


# --------------------------------------------------------------------------- wiring


class _ReviewMount:
    """The review page, built on first use with the running service's token (and rebuilt if a
    restarted service has another one)."""

    def __init__(self) -> None:
        self._apps: dict[str | None, Callable[..., Awaitable[None]]] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from serving.review import create_review_app

        token = _current_token()
        app = self._apps.get(token)
        if app is None:
            with self._lock:
                app = self._apps.setdefault(
                    token, create_review_app(current_assessor, token=token)
                )
        await app(scope, receive, send)


def _current_service() -> Any:
    try:
        return bentoml.get_current_service()
    except Exception:
        return None


def _current_token() -> str | None:
    settings = getattr(_current_service(), "settings", None)
    return settings.api_token if settings is not None else ServiceSettings.from_env().api_token


def current_assessor() -> LiveAssessor | None:
    """The running service's assessor, or None while it loads (for the review page)."""
    return getattr(_current_service(), "assessor", None)


if importlib.util.find_spec("serving.review") is not None:
    bentoml.asgi_app(_ReviewMount(), path=REVIEW_PATH, name="review")(CallRisk)
_timeout_middleware_cancels_its_timer()
CallRisk.add_asgi_middleware(Gate)
