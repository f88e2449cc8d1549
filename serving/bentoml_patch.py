"""Workarounds for BentoML 1.4 behaviour, applied once when serving/service.py is imported.

Each patch is idempotent (a marker attribute says it is applied), keeps BentoML's answers the
same, and names the test that proves it. Kept out of the service so the service reads as its
routes, and so each workaround can be dropped alone when BentoML fixes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse

from serving.middleware import escape_for_log

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


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


def timeout_middleware_cancels_its_timer() -> None:
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


def request_bodies_are_required(routes: Iterable[str]) -> None:
    """BentoML 1.4's OpenAPI leaves every request body optional, while the API routes refuse a
    request without one (400 naming the missing field): the schema says `required: true` for
    them, so what it allows is what validation accepts (tests/service/test_service_fuzz.py)."""
    required = frozenset(routes)
    from _bentoml_sdk.method import APIMethod

    if getattr(APIMethod, "_call_risk_body_required", False):
        return
    plain = APIMethod.openapi_request

    def openapi_request(self: Any) -> dict[str, Any]:
        out = plain(self)
        if self.route in required:
            out["required"] = True
        return out

    APIMethod.openapi_request = openapi_request  # type: ignore[method-assign]
    APIMethod._call_risk_body_required = True  # type: ignore[attr-defined]


class _EscapedArgs(logging.Filter):
    """Every text argument of a log line written with its control characters as escapes.

    BentoML's access log writes the request path as sent, and the path is the client's to
    choose: a newline, CR, ANSI escape, NUL or bidi override in it forged or recoloured log
    lines (before any credential was checked). Filtering the logger's records, rather than one
    call site, covers every line it writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                escape_for_log(a, limit=2000) if isinstance(a, str) else a for a in record.args
            )
        elif isinstance(record.msg, str) and not record.args:
            record.msg = escape_for_log(record.msg, limit=2000)
        return True


def log_lines_escaped(*names: str) -> None:
    """Escapes control characters in what these loggers write (BentoML's request logs by
    default); tests/service/test_log_escaping.py checks forged paths stay one line."""
    # The access log, and BentoML's "Exception on <path>" lines.
    for name in names or ("bentoml.access", "bentoml._internal.server.http_app"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _EscapedArgs) for f in logger.filters):
            logger.addFilter(_EscapedArgs())


def quiet_validation_tracebacks() -> None:
    """One INFO line instead of a traceback for each request body that fails validation."""
    logger = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, _OneLineForBadInput) for f in logger.filters):
        logger.addFilter(_OneLineForBadInput())


# The key under which the request's own path travels past BentoML's metrics middleware.
_REAL_PATH = "call_risk.path"


class _RealPath:
    """Gives the app below BentoML's metrics middleware the request's own path back."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _REAL_PATH in scope:
            scope = dict(scope)
            scope["path"] = scope.pop(_REAL_PATH)
        await self.app(scope, receive, send)


def metrics_labelled_by_route(label: Callable[[str], str]) -> None:
    """BentoML 1.4's traffic metrics label each request by its raw path, before any route or
    credential is checked: every distinct path anyone sends, unauthenticated `GET /review/<x>`
    included, added ~20 series to `/metrics` for the life of the process (5,000 such requests
    made a 20.5 MB scrape that took 8-13 s). Here the metrics middleware sees `label(path)`
    instead (the route's template; one label for every unknown path) and the app below it still
    gets the real path; tests/service/test_metrics_labels.py checks the scrape stays the same
    size after hundreds of distinct paths."""
    from bentoml._internal.server.http import instruments

    for middleware in (
        instruments.HTTPTrafficMetricsMiddleware,
        instruments.RunnerTrafficMetricsMiddleware,
    ):
        if getattr(middleware, "_call_risk_route_labels", False):
            continue

        def patched(plain: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
            async def __call__(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
                if not scope["type"].startswith(("http", "websocket")):
                    return await plain(self, scope, receive, send)
                if not isinstance(self.app, _RealPath):
                    self.app = _RealPath(self.app)
                path = scope.get("path", "")
                scope = {**scope, "path": label(path), _REAL_PATH: path}
                return await plain(self, scope, receive, send)

            return __call__

        middleware.__call__ = patched(middleware.__call__)  # type: ignore[method-assign]
        middleware._call_risk_route_labels = True  # type: ignore[attr-defined]
