"""The dispatch service (SPEC §4): BentoML routes over `risk_model.service.assessor.LiveAssessor`.

Thin on purpose: each route validates its body (serving/api_models.py) and makes one call into
`risk_model`; no feature, scoring or rule logic lives here.

    POST /score        {"call": {...}}      -> one assessment
    POST /score_batch  {"calls": [...]}     -> assessments in the same order
    POST /score/eido   one EIDO document    -> one assessment, or (?format=eido) an EIDO caution
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

The plumbing lives beside it: serving/api_models.py (the request and response models),
serving/errors.py (the error shape), serving/middleware.py (`Gate`, `CountSingles`),
serving/bentoml_patch.py (workarounds for BentoML 1.4, applied at import).
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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import bentoml
from pydantic import (
    ValidationError,
)
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from risk_model.errors import UserError
from risk_model.ingest.eido import EidoError, document_agency, read_eido
from risk_model.model.precautions import load_rules
from risk_model.monitor.latest import prometheus_text, read_latest
from risk_model.service.assessor import LiveAssessor, StoreUnavailable, merge_repeated_calls
from risk_model.service.audit_log import dumps
from risk_model.service.eido_caution import caution_component
from risk_model.service.readiness import WorkerReadiness
from risk_model.service.settings import (
    ServiceSettings,
    load_assessor,
)
from risk_model.service.supervise import die_with_server
from serving.api_models import (
    EXAMPLE_CALL,
    MAX_BATCH,
    Assessment,
    AssessmentList,
    CallIn,
    CallOutcomeIn,
    IngestRequest,
    IngestResult,
    ItemError,
    KeptOutcome,
    MergedRow,
    ScoreBatchRequest,
    ScoreRequest,
    set_agency_timezone,
)
from serving.bentoml_patch import (
    log_lines_escaped,
    metrics_labelled_by_route,
    quiet_validation_tracebacks,
    request_bodies_are_required,
    timeout_middleware_cancels_its_timer,
)
from serving.eido_api import FORMATS, EidoDocument, call_for_api, error_body_for
from serving.errors import error_body
from serving.errors import error_response as _error
from serving.errors import unavailable as _unavailable
from serving.middleware import (  # noqa: F401 - MAX_BODY_BYTES, Gate: tests import them here
    API_ROUTES,
    BENTOML_ROUTES,
    MAX_BODY_BYTES,
    REVIEW_PATH,
    TURNS,
    CountSingles,
    Gate,
    RouteLabels,
    escape_for_log,
)

log = logging.getLogger(__name__)

# BentoML's own access-log skip list, kept when the scoring routes are added to it.
_QUIET_PATHS = ("/metrics", "/healthz", "/livez", "/readyz")
# /score_batch runs on the event loop a slice at a time: this many calls assessed (~5 ms), or
# validated, between turns given to single calls (see serving/middleware.py's _Turns).
BATCH_CHUNK = 12
BATCH_VALIDATE_CHUNK = 50


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
        log_lines_escaped()
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
        # Readiness counts every worker of the server, not only the one asked
        # (risk_model/service/readiness.py).
        self.workers = WorkerReadiness.for_this_worker()
        if self.workers is not None:
            self.workers.loading()
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
            if self.workers is not None:
                self.workers.loaded()
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
        from monitor_latest.json beside the audit log (risk_model.monitor.latest)."""
        try:
            report, _why = read_latest(self.settings.audit_db)
            extra = prometheus_text(report)
        except Exception:  # never lose BentoML's own metrics over the monitor's file
            log.exception("monitor gauges left out of /metrics")
            extra = prometheus_text(None)
        return content.rstrip("\n") + "\n" + extra

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
        if self.workers is not None and (waiting := self.workers.not_ready()):
            loaded = self.workers.count - len(waiting)
            raise HTTPException(
                503,
                f"{loaded} of {self.workers.count} workers have loaded the model; the model is "
                "still loading in the others; try again in a moment",
            )
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

    @bentoml.api(route="/score/eido", output_spec=Assessment)
    async def score_eido(self, document: EidoDocument, /, ctx: bentoml.Context) -> Assessment:
        """Assess one call sent as a NENA EIDO document (audited): the answer of /score, with an
        `eido_unread` warning for each part that could not be read and an `eido_caution` one
        for each caution that is not a model input. `?format=eido` answers an EIDO caution
        component instead (docs/eido.md). A document without an id, an incident type or a
        time is a 400 naming the part."""
        answer = self._score_eido(document, ctx.request.query_params.get("format", "json"))
        # With a context parameter BentoML answers with the context's status, whatever the
        # response says: set it from the response.
        ctx.response.status_code = getattr(answer, "status_code", 200)
        return answer  # type: ignore[return-value]

    def _score_eido(self, document: Any, fmt: str) -> Assessment | Response:
        assessor = self._ready()
        if isinstance(assessor, JSONResponse):
            return assessor
        fmt = fmt.strip().lower()
        if fmt not in FORMATS:
            return _error(400, "format", f"{fmt[:20]!r}: give one of {', '.join(FORMATS)}")
        try:
            read = read_eido(document)
        except EidoError as exc:
            return _error(400, exc.field, exc.message)
        call, warnings = call_for_api(read, self.settings.timezone)
        try:
            row = CallIn.model_validate(call).to_row()
        except ValidationError as exc:
            return JSONResponse(error_body_for(exc, read.sources), status_code=400)
        try:
            out = assessor.assess([row], extra_warnings=[warnings])[0]
        except StoreUnavailable as exc:
            return _unavailable(exc, "the assessment was not returned: it was not audited")
        if fmt == "eido":
            return JSONResponse(caution_component(out, agency_ref=document_agency(document)))
        return Assessment.model_validate(out)

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
            log.warning(
                "ingest refused: none of %d rows could be ingested; first: %s: %s",
                len(calls),
                escape_for_log(first.field, 200),
                escape_for_log(first.error, 300),
            )
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
        if errors:
            log.warning(
                "ingest: %d of %d rows rejected; first: %s: %s",
                len(calls) - accepted,
                len(calls),
                escape_for_log(errors[0].field, 200),
                escape_for_log(errors[0].error, 300),
            )
        first = {str(row["call_id"]): i for i, row in reversed(rows)}
        kept = [
            KeptOutcome(
                index=first[cid],
                call_id=cid,
                field=f"calls[{first[cid]}].{name}",
                error=f"{name} is recorded true for this call; a later row cannot make it false "
                "without correction: true, so the recorded outcome was kept",
            )
            for cid, name in result.kept
        ]
        if kept:
            log.warning("ingest: %d recorded outcomes kept against rows saying false", len(kept))
        return IngestResult(
            accepted=accepted,
            rejected=len(calls) - accepted,
            inserted=result.inserted,
            updated=result.updated,
            unchanged=result.unchanged,
            errors=errors,
            merged=merged,
            kept=kept,
        )


# --------------------------------------------------------------------------- wiring


_MOUNTED: dict[str, tuple[str, ...]] = {"/static_content": ("/{path:path}",)}
if importlib.util.find_spec("serving.review") is not None:
    from serving.review import ROUTE_TEMPLATES, ServiceReviewMount

    bentoml.asgi_app(ServiceReviewMount(), path=REVIEW_PATH, name="review")(CallRisk)
    _MOUNTED[REVIEW_PATH] = ROUTE_TEMPLATES
if importlib.util.find_spec("serving.monitor_metrics") is not None:
    from serving.monitor_metrics import ROUTE_TEMPLATES as MONITOR_ROUTES
    from serving.monitor_metrics import create_metrics_app

    bentoml.asgi_app(create_metrics_app(), path="/monitor", name="monitor")(CallRisk)
    _MOUNTED["/monitor"] = MONITOR_ROUTES
metrics_labelled_by_route(RouteLabels(API_ROUTES | BENTOML_ROUTES, _MOUNTED))
timeout_middleware_cancels_its_timer()
request_bodies_are_required(API_ROUTES)
log_lines_escaped()
CallRisk.add_asgi_middleware(Gate)
CallRisk.add_asgi_middleware(CountSingles)
