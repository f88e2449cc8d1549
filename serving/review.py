"""The supervisor review page: an ASGI app the service mounts at /review.

Supervisors review why each call was scored as it was (from the audit log); analysts look at how
the model behaves across the city (from the champion's MLflow artifacts). The app serves one
static page (serving/static: vanilla JS, no CDN, works offline) and a few read-only JSON routes:

    GET /                  the page; `?token=...` sets the auth cookie and redirects to the page
    GET /static/...        review.css, review.js
    GET /api/facets        distinct districts, call types, tiers, decisions in the audit log
    GET /api/calls         audited calls, filtered (since, until, district, call_type, tier,
                           decision), sorted (sort=time|score|score_asc), limit <= 1000
    GET /api/calls/{id}    one call explained (risk_model.review_data.call_view), with its full
                           audit entry under "entry"
    GET /api/model         the model report (risk_model.review_data.model_report), cached per run

All wording and numbers come from risk_model.review_data; this module only wires HTTP to it.
When CALL_RISK_API_TOKEN is set, every route needs `Authorization: Bearer <token>` or the
`call_risk_token` cookie (the service's middleware checks the same; checking here too keeps the
app safe when it is served on its own).
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from risk_model import review_data
from risk_model.service_config import ENV_TOKEN, TOKEN_COOKIE, token_accepted

if TYPE_CHECKING:
    from risk_model.live import LiveAssessor

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
COOKIE = TOKEN_COOKIE
MAX_LIMIT = 1000
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_UNSET: Any = object()

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
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


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
            run_id = review_data.run_id_for(meta, info.name, info.version)
            if run_id is None:
                artifacts = review_data.RunArtifacts(
                    None, None, None, None, missing=review_data.ARTIFACTS
                )
            else:
                if self._dir is None:
                    self._dir = Path(tempfile.mkdtemp(prefix="call-risk-review-"))
                dest = review_data.fetch_artifacts(run_id, self._dir / run_id)
                artifacts = review_data.read_artifacts(dest)
            report = review_data.model_report(
                artifacts,
                info.name,
                info.version,
                run_id,
                metadata=meta,
                min_calls=assessor.model.settings.evaluation.audit_min_calls,
            )
            if report["base_rate"] is None:
                report["base_rate"] = assessor.model.base_rate
                report["base_rate_percent"] = review_data.format_percent(assessor.model.base_rate)
            if not artifacts.missing:
                # A partial read (tracking store briefly unreachable) is retried next time.
                self._reports[key] = report
            log.info("review: model report for %s v%s (run %s)", info.name, info.version, run_id)
            return report


def create_review_app(
    get_assessor: Callable[[], LiveAssessor | None],
    *,
    token: str | None = _UNSET,
    cache_dir: Path | None = None,
) -> Starlette:
    """The review page and its JSON routes, reading from whatever assessor the service holds.

    Args:
        get_assessor: returns the service's LiveAssessor, or None while it is still loading
            (the JSON routes then answer 503 and the page says so).
        token: the API token; by default CALL_RISK_API_TOKEN at creation time (None = open).
        cache_dir: where MLflow artifacts are downloaded (default: a temporary directory).
    """
    secret = (os.environ.get(ENV_TOKEN) or None) if token is _UNSET else token
    reports = _ModelReports(cache_dir)

    def authorized(request: Request) -> bool:
        return token_accepted(
            secret, request.headers.get("authorization", ""), request.cookies.get(COOKIE, "")
        )

    def page_base(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/") + "/"

    def page(request: Request) -> Response:
        link_token = request.query_params.get("token")
        base = page_base(request)
        if link_token is not None:
            # A supervisor's link: swap the token in the URL for a cookie, then drop it from the
            # address bar (and so from history and Referer headers).
            if secret and not hmac.compare_digest(link_token.encode(), secret.encode()):
                return Response(
                    "This review link's token is not valid. Ask for a new link.",
                    status_code=401,
                    media_type="text/plain",
                    headers={"Cache-Control": "no-store", **SECURITY_HEADERS},
                )
            resp = RedirectResponse(base, status_code=303)
            resp.headers["Cache-Control"] = "no-store"
            resp.headers["Referrer-Policy"] = "no-referrer"
            if secret:
                resp.set_cookie(
                    COOKIE,
                    secret,
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
            return Response(
                "Not signed in: open the review page from the link you were given "
                "(it ends in ?token=...).",
                status_code=401,
                media_type="text/plain",
                headers={"Cache-Control": "no-store", **SECURITY_HEADERS},
            )
        return FileResponse(
            STATIC_DIR / "index.html",
            headers={"Cache-Control": "no-cache", **SECURITY_HEADERS},
        )

    def assessor_or_error(request: Request) -> LiveAssessor | JSONResponse:
        if not authorized(request):
            return _error(401, "missing or invalid token")
        assessor = get_assessor()
        if assessor is None:
            from serving.service import current_startup_error

            if why := current_startup_error():
                return _error(503, f"the service could not start: {why}")
            return _error(503, "the model is still loading; try again in a moment")
        if assessor.audit is None:
            return _error(503, "the service has no audit log")
        return assessor

    def facets(request: Request) -> JSONResponse:
        a = assessor_or_error(request)
        if isinstance(a, JSONResponse):
            return a
        return JSONResponse(a.audit.facets(), headers={"Cache-Control": "no-store"})

    def calls(request: Request) -> JSONResponse:
        a = assessor_or_error(request)
        if isinstance(a, JSONResponse):
            return a
        q = request.query_params
        filters: dict[str, str | None] = {}
        for name in ("district", "call_type", "tier", "decision"):
            value = q.get(name) or None
            if value is not None and len(value) > 200:
                return _error(400, f"{name} is too long", name)
            filters[name] = value
        for name in ("since", "until"):
            value = (q.get(name) or "").strip() or None
            if value is not None and not _TIME.match(value):
                return _error(400, f"{name} must be a date or time like 2025-06-01T14:00", name)
            filters[name] = value.replace(" ", "T") if value else None
        sort = q.get("sort") or "time"
        if sort not in review_data.SORTS:
            return _error(400, f"sort must be one of {', '.join(review_data.SORTS)}", "sort")
        try:
            limit = int(q.get("limit") or 200)
        except ValueError:
            return _error(400, "limit must be a whole number", "limit")
        if not 1 <= limit <= MAX_LIMIT:
            return _error(400, f"limit must be between 1 and {MAX_LIMIT}", "limit")
        rows = a.audit.recent(limit=limit, order=sort, **filters)
        base_rate = a.model.base_rate
        return JSONResponse(
            {
                "calls": [review_data.call_row(r, base_rate) for r in rows],
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
        entry = a.audit.entry(call_id)
        if entry is None:
            return _error(404, f"no audited call with call_id {call_id!r}", "call_id")
        s = a.model.settings
        view = review_data.call_view(
            entry,
            base_rate=a.model.base_rate,
            elevated_multiple=s.tiers.elevated_multiple,
            high_multiple=s.tiers.high_multiple,
            alpha=s.conformal.alpha,
            current_model={"name": a.info.name, "version": a.info.version},
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

    def static_auth(app: Any) -> Any:
        async def guarded(scope: dict, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and not authorized(Request(scope)):
                await _error(401, "missing or invalid token")(scope, receive, send)
                return
            await app(scope, receive, send)

        return guarded

    routes = [
        Route("/", page, methods=["GET", "HEAD"]),
        Route("/api/facets", facets, methods=["GET"]),
        Route("/api/calls", calls, methods=["GET"]),
        Route("/api/calls/{call_id:path}", one_call, methods=["GET"]),
        Route("/api/model", model, methods=["GET"]),
        Mount("/static", app=static_auth(StaticFiles(directory=STATIC_DIR)), name="static"),
    ]
    return Starlette(routes=routes)
