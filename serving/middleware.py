"""The service's ASGI middleware: `Gate` (token, body limit, one error shape) and
`CountSingles` (single calls before batch slices, with `TURNS`).

Separate from the routes so each piece of request plumbing can be read and tested alone; the
service adds both to its class (serving/service.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from risk_model.service.settings import ServiceSettings, token_accepted
from serving.errors import error_body, error_response

# A full batch of calls with long narratives stays well under this.
MAX_BODY_BYTES = 8 * 1024 * 1024
API_ROUTES = frozenset({"/score", "/score_batch", "/ingest", "/score/eido"})
# Routes that assess one call: batch slices step aside while they are in flight.
SINGLE_ROUTES = frozenset({"/score", "/score/eido"})
REVIEW_PATH = "/review"
# While single calls are in flight, batch work waits; at most this long after the last slice,
# so a batch still finishes under a steady stream of single calls.
BATCH_YIELD_S = 0.012

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _Turns:
    """Single calls first: /score requests in flight (counted by `CountSingles`) hold back
    /score_batch slices, for at most BATCH_YIELD_S after the last slice of any batch, so
    however many batch clients there are, single calls wait at most one slice and batch
    work still gets its turn. One per process; all of it runs on the event loop."""

    def __init__(self) -> None:
        self.singles = 0
        self.last_batch_slice = 0.0

    async def batch_turn(self) -> None:
        # A short sleep, not sleep(0): the requests that arrived during the last slice are
        # read and started (one loop pass each) before the count is looked at.
        await asyncio.sleep(0.0005)
        while self.singles and time.monotonic() - self.last_batch_slice < BATCH_YIELD_S:
            await asyncio.sleep(0.001)

    def batch_done(self) -> None:
        self.last_batch_slice = time.monotonic()


TURNS = _Turns()


class CountSingles:
    """ASGI middleware: counts single-call requests (SINGLE_ROUTES) from arrival to answer,
    for `_Turns`."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in SINGLE_ROUTES:
            await self.app(scope, receive, send)
            return
        TURNS.singles += 1
        try:
            await self.app(scope, receive, send)
        finally:
            TURNS.singles -= 1


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
                await error_response(401, "authorization", "missing or invalid token")(
                    scope, receive, send
                )
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if path in API_ROUTES and scope.get("method") == "POST":
            body = await self._read_body(receive)
            if body is None:
                too_big = error_response(413, "body", f"larger than {self.max_body:,} bytes")
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
