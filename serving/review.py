"""The supervisor review page: an ASGI app the service mounts at /review.

Supervisors review why each call was scored as it was (from the audit log); analysts look at how
the model behaves across the city (from the champion's MLflow artifacts). The app serves one
static page (serving/static: vanilla JS, no CDN, works offline) and a few read-only JSON routes:

    GET /                  the page; `?token=...` (the API token or a review link's session)
                           sets a review-session cookie and redirects to the page
    GET /static/...        review.css, review.js
    GET /api/monitor       the latest `risk-model monitor` report (the Live view), or why none
    GET /api/facets        distinct districts, call types, tiers, decisions in the audit log
    GET /api/calls         audited calls, filtered (since, until, district, call_type, tier,
                           decision), sorted (sort=time|score|score_asc), limit <= 1000
    GET /api/calls/{id}    one call explained (risk_model.review.view.call_view), with
                           its full audit entry under "entry"
    GET /api/model         the model report (risk_model.review.view.model_report),
                           cached per run
    GET /api/vocab         the words for tiers, decisions and warning codes (risk_model.vocab),
                           so the page never spells them itself

All wording and numbers come from risk_model.review.view; this module only wires HTTP
to it.
The service mounts it with `ServiceReviewMount` (end of this module), which reads the running
service's assessor, token and start-up error, so the page never imports the service.
When CALL_RISK_API_TOKEN is set, every route needs `Authorization: Bearer <API token>`, or a
review session (risk_model.review.session: signed, expiring, read-only) in the
`call_risk_review` cookie or as a bearer credential. Opening the page once with `?token=<API
token>` exchanges the token for a session cookie and redirects to a clean address, so neither the
address bar nor the cookie ever holds the API token. The service's gate never accepts a session,
so it cannot score or write (/ingest). Every filter is validated: 400 naming the parameter.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from risk_model import vocab
from risk_model.errors import UserError
from risk_model.monitor.latest import read_latest
from risk_model.review import view as review_view
from risk_model.review.session import SESSION_COOKIE, ReviewSessions, is_session
from risk_model.service.audit_log import DamagedRecord
from risk_model.service.settings import ENV_TOKEN, ServiceSettings, token_accepted
from serving.errors import public_text
from serving.middleware import (
    FAILED_CREDENTIALS,
    client_address,
    escape_for_log,
    too_many_failures,
)

if TYPE_CHECKING:
    from risk_model.service.assessor import LiveAssessor

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
COOKIE = SESSION_COOKIE
MAX_LIMIT = 1000
MAX_TEXT = 200
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$")
TIERS = vocab.TIERS
DECISIONS = vocab.DECISIONS
# Every query parameter /api/calls knows; anything else is a mistake worth saying so.
CALL_PARAMS = ("since", "until", "district", "call_type", "tier", "decision", "sort", "limit")
SIGNED_OUT = (
    "Not signed in, or your review session has expired: open the review link you were given "
    "again (or ask for a new one)."
)
_UNSET: Any = object()
# Every path the page serves, as templates: the service labels its metrics with these
# (serving/middleware.py's RouteLabels), never with the raw path a request names.
ROUTE_TEMPLATES = (
    "",
    "/",
    "/api/facets",
    "/api/calls",
    "/api/calls/{call_id:path}",
    "/api/model",
    "/api/vocab",
    "/api/monitor",
    "/static/{path:path}",
)

# The page loads nothing from anywhere else: a CSP makes "no CDN" a property, not a promise.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _error(status: int, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": public_text(message)}
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _when(name: str, value: str) -> datetime | JSONResponse:
    if not _TIME.match(value):
        return _error(400, f"{name} must be a date or time like 2025-06-01T14:00", name)
    try:
        return datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError as exc:  # 2025-02-31, month 13, hour 25
        return _error(400, f"{name} is not a real date or time ({value!r}: {exc})", name)


def parse_call_query(
    items: list[tuple[str, str]],
) -> tuple[dict[str, str | None], str, int] | JSONResponse:
    """The calls list's query, checked: (filters, sort, limit), or a 400 naming the parameter.

    Every parameter is checked: unknown or repeated ones, impossible dates (2025-02-31, month
    13), a time range that ends before it starts, tiers and decisions that do not exist.
    """
    q: dict[str, str] = {}
    for name, value in items:
        if name not in CALL_PARAMS:
            known = ", ".join(CALL_PARAMS)
            return _error(400, f"unknown parameter {name[:50]!r}; known: {known}", name[:50])
        if name in q:
            return _error(400, f"{name} is given more than once", name)
        q[name] = value.strip()
    filters: dict[str, str | None] = {}
    for name in ("district", "call_type"):
        value = q.get(name) or None
        if value is not None and len(value) > MAX_TEXT:
            return _error(400, f"{name} is too long (at most {MAX_TEXT} characters)", name)
        if value is not None and not value.isprintable():
            return _error(400, f"{name} contains control characters", name)
        filters[name] = value
    for name, allowed in (("tier", TIERS), ("decision", DECISIONS)):
        value = q.get(name) or None
        if value is not None and value not in allowed:
            return _error(400, f"{name} must be one of {', '.join(allowed)}", name)
        filters[name] = value
    times: dict[str, datetime] = {}
    for name in ("since", "until"):
        value = q.get(name) or None
        filters[name] = None
        if value is None:
            continue
        when = _when(name, value)
        if isinstance(when, JSONResponse):
            return when
        times[name] = when
        filters[name] = when.isoformat()
    if len(times) == 2 and times["until"] <= times["since"]:
        return _error(
            400,
            f"until ({filters['until']}) must be later than since ({filters['since']})",
            "until",
        )
    sort = q.get("sort") or "time"
    if sort not in review_view.SORTS:
        return _error(400, f"sort must be one of {', '.join(review_view.SORTS)}", "sort")
    raw = q.get("limit") or "200"
    if not raw.isdigit():
        return _error(400, "limit must be a whole number", "limit")
    limit = int(raw[:6]) if len(raw) <= 6 else MAX_LIMIT + 1
    if not 1 <= limit <= MAX_LIMIT:
        return _error(400, f"limit must be between 1 and {MAX_LIMIT}", "limit")
    return filters, sort, limit


class _ModelReports:
    """Model reports per loaded model, read from MLflow once (a run's artifacts do not change)."""

    def __init__(self, cache_dir: Path | None) -> None:
        self._dir = cache_dir
        self._lock = threading.Lock()
        self._reports: dict[str, dict[str, Any]] = {}

    def get(self, assessor: LiveAssessor) -> dict[str, Any]:
        info = assessor.info
        meta = assessor.model.metadata
        key = f"{info.name}/{info.version}/{meta.get('uri', '')}"
        with self._lock:
            if key in self._reports:
                return self._reports[key]
            run_id = review_view.run_id_for(meta, info.name, info.version)
            if run_id is None:
                artifacts = review_view.RunArtifacts(
                    None, None, None, None, missing=review_view.ARTIFACTS
                )
            else:
                if self._dir is None:
                    self._dir = Path(tempfile.mkdtemp(prefix="call-risk-review-"))
                dest = review_view.fetch_artifacts(run_id, self._dir / run_id)
                artifacts = review_view.read_artifacts(dest)
            report = review_view.model_report(
                artifacts,
                info.name,
                info.version,
                run_id,
                metadata=meta,
                min_calls=assessor.model.settings.evaluation.audit_min_calls,
            )
            if report["base_rate"] is None:
                report["base_rate"] = assessor.model.base_rate
                report["base_rate_percent"] = review_view.format_percent(assessor.model.base_rate)
            if not artifacts.missing:
                # A partial read (tracking store briefly unreachable) is retried next time.
                self._reports[key] = report
            log.info("review: model report for %s v%s (run %s)", info.name, info.version, run_id)
            return report


def create_review_app(
    get_assessor: Callable[[], LiveAssessor | None],
    *,
    token: str | None = _UNSET,
    sessions: ReviewSessions | None = _UNSET,
    key_file: Path | None = None,
    cache_dir: Path | None = None,
) -> Starlette:
    """The review page and its JSON routes, reading from whatever assessor the service holds.

    Args:
        get_assessor: returns the service's LiveAssessor, or None while it is still loading
            (the JSON routes then answer 503 and the page says so).
        token: the API token; by default CALL_RISK_API_TOKEN at creation time (None = open).
        sessions: signs and checks review sessions; by default made for the token with
            CALL_RISK_REVIEW_SECRET / CALL_RISK_REVIEW_HOURS, or the random key in `key_file`
            (risk_model.review.session).
        key_file: where the sessions' random key is kept (default: beside the audit log of
            the service configured in the environment).
        cache_dir: where MLflow artifacts are downloaded (default: a temporary directory).
    """
    secret = (os.environ.get(ENV_TOKEN) or None) if token is _UNSET else token
    reports = _ModelReports(cache_dir)
    config_error: str | None = None
    try:
        if sessions is _UNSET:
            key = key_file or ServiceSettings.from_env().review_key
            sessions = ReviewSessions.from_env(secret, key)
    except UserError as exc:  # a bad setting or key file: say so on every route
        sessions, config_error = None, str(exc)
        log.error("review page: %s", exc)

    def session_ok(value: str) -> bool:
        """A valid, unexpired review session (never the API token)."""
        return sessions is not None and is_session(value) and sessions.expires(value) is not None

    def authorized(request: Request) -> bool:
        if not secret:
            return True
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            value = auth[7:].strip()
            if session_ok(value) or token_accepted(secret, auth):
                return True
        # The cookie only ever holds a session: the API token is not accepted from a cookie.
        cookie = request.cookies.get(COOKIE, "")
        if session_ok(cookie):
            return True
        if auth or cookie:  # a credential that failed: a guess, or an expired session
            FAILED_CREDENTIALS.failed(client_address(request.scope))
        return False

    def throttled(request: Request) -> Response | None:
        """429 while this address has too many failed credentials (tokens, sessions, links)."""
        if not secret:
            return None
        wait = FAILED_CREDENTIALS.retry_after(client_address(request.scope))
        return None if wait is None else too_many_failures(wait)

    def page_base(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/") + "/"

    def text(status: int, message: str) -> Response:
        return Response(
            public_text(message),
            status_code=status,
            media_type="text/plain",
            headers={"Cache-Control": "no-store", **SECURITY_HEADERS},
        )

    def page(request: Request) -> Response:
        if config_error:
            return text(503, f"The review page is misconfigured: {config_error}")
        if (refused := throttled(request)) is not None:
            return refused
        link_token = request.query_params.get("token")
        base = page_base(request)
        if link_token is not None:
            # A supervisor's link: the API token (once) or a review link's session becomes a
            # session cookie, then the address bar is cleaned (and so history and Referer).
            cookie, max_age = None, None
            if secret:
                if session_ok(link_token):  # a printed review link: keep its expiry
                    cookie = link_token
                    max_age = int((sessions.expires(link_token) or 0) - time.time())
                elif sessions is not None and token_accepted(secret, f"Bearer {link_token}"):
                    cookie, max_age = sessions.issue(), sessions.seconds  # never the token
                else:
                    FAILED_CREDENTIALS.failed(client_address(request.scope))
                    return text(
                        401, "This review link is not valid or has expired. Ask for a new link."
                    )
            if cookie and max_age:
                # Who signed in, how and until when: an audit trail for the page, with neither
                # the session nor the token (either would sign its reader in).
                log.info(
                    "review: signed in from %s with %s; session valid for %d min",
                    escape_for_log(client_address(request.scope)),
                    "a review link" if cookie == link_token else "the API token",
                    max_age // 60,
                )
            resp = RedirectResponse(base, status_code=303)
            resp.headers["Cache-Control"] = "no-store"
            resp.headers["Referrer-Policy"] = "no-referrer"
            if cookie:
                resp.set_cookie(
                    COOKIE,
                    cookie,
                    max_age=max(1, max_age or 1),
                    path=base.rstrip("/") or "/",
                    httponly=True,
                    samesite="strict",
                    secure=request.url.scheme == "https",
                )
            return resp
        if not request.url.path.endswith("/"):
            # The page's fetches are relative ("api/calls"): it must be served at ".../review/".
            return RedirectResponse(base, status_code=307)
        if not authorized(request):
            return text(401, SIGNED_OUT)
        return FileResponse(
            STATIC_DIR / "index.html",
            headers={"Cache-Control": "no-cache", **SECURITY_HEADERS},
        )

    def assessor_or_error(request: Request) -> LiveAssessor | JSONResponse:
        if config_error:
            return _error(503, f"the review page is misconfigured: {config_error}")
        if (refused := throttled(request)) is not None:
            return refused  # type: ignore[return-value]
        if not authorized(request):
            return _error(401, SIGNED_OUT, "authorization")
        assessor = get_assessor()
        if assessor is None:
            if why := service_startup_error():
                return _error(503, f"the service could not start: {why}")
            return _error(503, "the model is still loading; try again in a moment")
        if assessor.audit is None:
            return _error(503, "the service has no audit log")
        return assessor

    def words(request: Request) -> JSONResponse:
        # Needs no model: the page can label its filters while the service still loads.
        if config_error:
            return _error(503, f"the review page is misconfigured: {config_error}")
        if (refused := throttled(request)) is not None:
            return refused  # type: ignore[return-value]
        if not authorized(request):
            return _error(401, SIGNED_OUT, "authorization")
        return JSONResponse(review_view.vocabulary(), headers={"Cache-Control": "no-cache"})

    def facets(request: Request) -> JSONResponse:
        a = assessor_or_error(request)
        if isinstance(a, JSONResponse):
            return a
        return JSONResponse(a.audit.facets(), headers={"Cache-Control": "no-store"})

    def calls(request: Request) -> JSONResponse:
        a = assessor_or_error(request)
        if isinstance(a, JSONResponse):
            return a
        parsed = parse_call_query(request.query_params.multi_items())
        if isinstance(parsed, JSONResponse):
            return parsed
        filters, sort, limit = parsed
        try:
            rows = a.audit.recent(limit=limit, order=sort, **filters)
        except sqlite3.DatabaseError as exc:
            log.warning("review: the audit log cannot be listed: %s", exc)
            return _error(503, f"the audit log is damaged and cannot be listed ({exc})")
        base_rate = a.model.base_rate
        return JSONResponse(
            {
                "calls": [review_view.call_row(r, base_rate) for r in rows],
                "count": len(rows),
                "limit": limit,
                "sort": sort,
                "filters": filters,
                "base_rate": base_rate,
                "model": {"name": a.info.name, "version": a.info.version},
            },
            headers={"Cache-Control": "no-store"},
        )

    def one_call(request: Request) -> JSONResponse:
        a = assessor_or_error(request)
        if isinstance(a, JSONResponse):
            return a
        call_id = request.path_params["call_id"]
        try:
            entry = a.audit.entry(call_id)
        except DamagedRecord as exc:
            return _error(422, str(exc), "call_id")
        if entry is None:
            return _error(404, f"no audited call with call_id {call_id!r}", "call_id")
        s = a.model.settings
        try:
            view = review_view.call_view(
                entry,
                base_rate=a.model.base_rate,
                elevated_multiple=s.tiers.elevated_multiple,
                high_multiple=s.tiers.high_multiple,
                alpha=s.conformal.alpha,
                current_model={"name": a.info.name, "version": a.info.version},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a damaged record
            log.warning("review: the record of call %s cannot be shown: %r", ascii(call_id), exc)
            return _error(
                422,
                f"the audit record of call {call_id!r} is damaged and cannot be shown",
                "call_id",
            )
        view["entry"] = entry  # the full audit record, as logged
        return JSONResponse(view, headers={"Cache-Control": "no-store"})

    def model(request: Request) -> JSONResponse:
        a = assessor_or_error(request)
        if isinstance(a, JSONResponse):
            return a
        try:
            report = reports.get(a)
        except Exception as exc:  # an unreachable tracking store must not take the page down
            log.exception("review: model report failed")
            return _error(503, f"cannot read the model's MLflow artifacts: {exc}")
        return JSONResponse(report, headers={"Cache-Control": "no-store"})

    def live(request: Request) -> JSONResponse:
        """The latest monitor report (monitor_latest.json beside the audit log), read-only."""
        a = assessor_or_error(request)
        if isinstance(a, JSONResponse):
            return a
        report, why = read_latest(a.audit.path)
        return JSONResponse(
            {"available": report is not None, "why": why, "report": report},
            headers={"Cache-Control": "no-store"},
        )

    def static_auth(app: Any) -> Any:
        async def guarded(scope: dict, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                request = Request(scope)
                if (refused := throttled(request)) is not None:
                    await refused(scope, receive, send)
                    return
                if not authorized(request):
                    await _error(401, SIGNED_OUT, "authorization")(scope, receive, send)
                    return
            await app(scope, receive, send)

        return guarded

    routes = [
        Route("/", page, methods=["GET", "HEAD"]),
        Route("/api/facets", facets, methods=["GET"]),
        Route("/api/calls", calls, methods=["GET"]),
        Route("/api/calls/{call_id:path}", one_call, methods=["GET"]),
        Route("/api/model", model, methods=["GET"]),
        Route("/api/vocab", words, methods=["GET"]),
        Route("/api/monitor", live, methods=["GET"]),
        Mount("/static", app=static_auth(StaticFiles(directory=STATIC_DIR)), name="static"),
    ]
    return Starlette(routes=routes)


# --------------------------------------------------------------------------- in the service


def _running_service() -> Any:
    import bentoml

    try:
        return bentoml.get_current_service()
    except Exception:
        return None


def service_assessor() -> LiveAssessor | None:
    """The running service's assessor, or None while it loads (or outside the service)."""
    return getattr(_running_service(), "assessor", None)


def service_startup_error() -> str | None:
    """Why the running service could not start, or None (loaded, loading, or no service)."""
    return getattr(_running_service(), "load_error", None)


def _service_settings() -> ServiceSettings:
    settings = getattr(_running_service(), "settings", None)
    return settings if settings is not None else ServiceSettings.from_env()


class ServiceReviewMount:
    """The page as the service mounts it at /review: built on first use with the running
    service's token (and rebuilt if a restarted service has another one)."""

    def __init__(self) -> None:
        self._apps: dict[str | None, Starlette] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        settings = _service_settings()
        token = settings.api_token
        app = self._apps.get(token)
        if app is None:
            with self._lock:
                app = self._apps.get(token) or self._apps.setdefault(
                    token,
                    create_review_app(service_assessor, token=token, key_file=settings.review_key),
                )
        await app(scope, receive, send)
