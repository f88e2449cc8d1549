"""BentoML's request timeout, as patched by serving/bentoml_patch.py (applied when the service
module is imported): same answers, but the per-request timer is cancelled when the request ends,
so finished requests are not kept alive for the whole timeout (they were, and the full garbage
collections over them paused the event loop)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref
from typing import Any

from bentoml._internal.server.http.traffic import TimeoutMiddleware

import serving.service  # noqa: F401 - applies the workaround on import

_CONTEXT: contextvars.ContextVar[Any] = contextvars.ContextVar("request_marker")


class _Marker:
    """Stands for a request's objects; only the request's context refers to it."""


async def _drive(app: Any, path: str = "/") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": path, "method": "GET", "headers": []}
    await app(scope, receive, send)
    return sent


async def _ok(scope: dict, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_finished_requests_leave_no_live_timer_behind() -> None:
    async def main() -> tuple[int, list[weakref.ref]]:
        app = TimeoutMiddleware(_ok, timeout=30)
        refs = []
        for _ in range(300):
            marker = _Marker()
            refs.append(weakref.ref(marker))
            token = _CONTEXT.set(marker)  # in the context the timer would capture
            try:
                sent = await _drive(app)
            finally:
                _CONTEXT.reset(token)
            assert sent[0]["status"] == 200
            del marker
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        live = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
        return len(live), refs

    live, refs = asyncio.run(main())
    gc.collect()
    assert live == 0
    assert sum(r() is not None for r in refs) == 0


def test_a_request_past_the_timeout_still_gets_504() -> None:
    async def slow(scope: dict, receive: Any, send: Any) -> None:
        await asyncio.sleep(5)

    sent = asyncio.run(_drive(TimeoutMiddleware(slow, timeout=0.05)))
    assert sent[0]["status"] == 504
