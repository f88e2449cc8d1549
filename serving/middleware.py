"""The service's ASGI middleware: `Gate` (token, body limit, one error shape) and
`CountSingles` (single calls before batch slices, with `TURNS`).

Separate from the routes so each piece of request plumbing can be read and tested alone; the
service adds both to its class (serving/service.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from risk_model.service.settings import ServiceSettings, token_accepted
from serving.errors import error_body, error_response, public_text

# A full batch of calls with long narratives stays well under this.
MAX_BODY_BYTES = 8 * 1024 * 1024
API_ROUTES = frozenset({"/score", "/score_batch", "/ingest", "/score/eido"})
# Routes that assess one call: batch slices step aside while they are in flight.
SINGLE_ROUTES = frozenset({"/score", "/score/eido"})
REVIEW_PATH = "/review"
# While single calls are in flight, batch work waits; at most this long after the last slice,
# so a batch still finishes under a steady stream of single calls.
BATCH_YIELD_S = 0.012

log = logging.getLogger(__name__)

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


class FailedCredentials:
    """Failed credentials per client address, so that guessing the token or a review session
    online is slow: after `limit` failures within `window` seconds an address is refused (429,
    with Retry-After) until its window ends, whatever it sends, so a guess that happens to be
    right is not told apart while it is refused. At most `max_clients` addresses are kept (the
    least recently failing forgotten first), so memory stays bounded whatever the number of
    addresses. One per worker process; the API gate and the review page share it."""

    def __init__(
        self,
        limit: int = 30,
        window: float = 60.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.max_clients, self.clock = limit, window, max_clients, clock
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int | None:
        """Seconds until `client` may try again, or None when it is not refused."""
        with self._lock:
            entry = self._seen.get(client)
            if entry is None:
                return None
            start, count = entry
            left = start + self.window - self.clock()
            if left <= 0:
                del self._seen[client]
                return None
            return max(1, round(left)) if count >= self.limit else None

    def failed(self, client: str) -> None:
        """Counts one failed credential from `client`."""
        with self._lock:
            now = self.clock()
            start, count = self._seen.pop(client, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            self._seen[client] = (start, count + 1)
            if count + 1 == self.limit:
                log.warning(
                    "%d failed credentials from %s within %.0f s: refused until the window ends",
                    self.limit,
                    escape_for_log(client),
                    self.window,
                )
            while len(self._seen) > self.max_clients:
                self._seen.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def __len__(self) -> int:
        return len(self._seen)


FAILED_CREDENTIALS = FailedCredentials()


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def too_many_failures(retry_after: int) -> Callable[..., Awaitable[None]]:
    """429 for an address with too many failed credentials."""
    resp = error_response(
        429,
        "authorization",
        f"too many failed credentials from this address; try again in {retry_after} s",
    )
    resp.headers["Retry-After"] = str(retry_after)
    return resp


def escape_for_log(text: str, limit: int = 500) -> str:
    """`text` safe inside one log line: control characters (newline, CR, ESC, NUL, bidi
    overrides) written as escapes, so no request can forge or recolour log lines."""
    out = []
    for ch in text[:limit]:
        if ch.isprintable() and ch not in "\\":
            out.append(ch)
        elif ch == "\\":
            out.append("\\\\")
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out) + ("..." if len(text) > limit else "")


# BentoML's own routes, beside the service's API routes.
BENTOML_ROUTES = frozenset(
    {"/", "/healthz", "/livez", "/readyz", "/metrics", "/docs.json", "/schema.json"}
)
UNKNOWN_ROUTE = "{unknown}"


class RouteLabels:
    """The metrics label of a request path: its route's template (`/review/api/calls/{call_id}`),
    or one label for every path no route serves (`/review/{unknown}`, `{unknown}`).

    Metrics label requests before anything checks credentials or routes them, so a label taken
    from the raw path lets anyone add series at will; a template keeps their number fixed.
    """

    def __init__(
        self,
        exact: Iterable[str],
        mounts: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.exact = frozenset(exact)
        self.mounts = [
            (prefix.rstrip("/"), [(t, _template_regex(prefix.rstrip("/") + t)) for t in tpls])
            for prefix, tpls in sorted((mounts or {}).items(), key=lambda kv: -len(kv[0]))
        ]

    def __call__(self, path: str) -> str:
        if path in self.exact:
            return path
        for prefix, templates in self.mounts:
            if path == prefix or path.startswith(prefix + "/"):
                for template, regex in templates:
                    if regex.fullmatch(path):
                        return prefix + template
                return f"{prefix}/{UNKNOWN_ROUTE}"
        return UNKNOWN_ROUTE


def _template_regex(template: str) -> re.Pattern[str]:
    """`/api/calls/{call_id:path}` -> a regex; `{name}` matches one segment, `{name:path}` any."""
    out, pos = "", 0
    for m in re.finditer(r"\{(\w+)(:path)?\}", template):
        out += re.escape(template[pos : m.start()]) + (".+" if m.group(2) else "[^/]+")
        pos = m.end()
    return re.compile(out + re.escape(template[pos:]))


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
        client = client_address(scope)
        if self.token and (wait := FAILED_CREDENTIALS.retry_after(client)) is not None:
            if scope["type"] == "http":
                await too_many_failures(wait)(scope, receive, send)
            return
        if not self._authorized(scope):
            if _presents_credential(scope):
                FAILED_CREDENTIALS.failed(client)
            if path in API_ROUTES:  # a fixed set of paths: nothing a client can forge
                log.warning(
                    "refused %s %s from %s: missing or invalid token",
                    scope.get("method"),
                    path,
                    escape_for_log(client),
                )
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
                log.warning(
                    "refused POST %s from %s: body larger than %s bytes",
                    path,
                    escape_for_log(client),
                    f"{self.max_body:,}",
                )
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


def _presents_credential(scope: Scope) -> bool:
    """A request that sends a credential (a guess, if wrong); one without any is not counted,
    so a probe missing its header is told 401 rather than locked out. (Cookies are not a
    credential here: the gate never reads them, and a browser sends other sites' cookies.)"""
    return any(name == b"authorization" for name, _ in scope.get("headers", ()))


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
    return status, json.dumps({"error": public_text(message), "field": None}).encode()
