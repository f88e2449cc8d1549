"""Request paths never forge log lines (issue 22, N6): BentoML's access log wrote the path as
sent, so a newline, CR, ANSI escape, NUL or a bidi override in an unauthenticated request's path
made a line of the attacker's choosing. Control characters are now written as escapes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from bentoml._internal.server.http.access import AccessLogMiddleware

from serving.bentoml_patch import log_lines_escaped
from serving.middleware import escape_for_log

FORGED = [
    "/review/x\n2026-01-01 INFO granted admin",
    "/review/x\r\nINFO ok",
    "/review/\x1b[2J\x1b[31mcleared",
    "/review/nul\x00byte",
    "/review/\u202etxt.exe",
    "/review/back\\slash",
]


@pytest.mark.parametrize("path", FORGED)
def test_a_forged_path_is_one_escaped_access_log_line(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    log_lines_escaped()

    async def app(scope: dict, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        pass

    scope = {
        "type": "http",
        "scheme": "http",
        "method": "GET",
        "path": path,
        "client": ("127.0.0.1", 5000),
        "headers": [],
    }
    caplog.set_level(logging.INFO, "bentoml.access")
    asyncio.run(AccessLogMiddleware(app)(scope, receive, send))
    (record,) = [r for r in caplog.records if r.name == "bentoml.access"]
    line = record.getMessage()
    assert line.isprintable(), repr(line)  # no newline, CR, ESC, NUL or bidi override
    assert escape_for_log(path) in line  # the path is still there, readable


def test_escapes_are_unambiguous() -> None:
    assert escape_for_log("a\nb") == "a\\nb"
    assert escape_for_log("a\\nb") == "a\\\\nb"  # a literal backslash-n is not a newline
    assert escape_for_log("\x00\x1b\u202e") == "\\x00\\x1b\\u202e"
    assert escape_for_log("Straße 5") == "Straße 5"  # printable text is left alone
    assert escape_for_log("x" * 600).endswith("...") and len(escape_for_log("x" * 600)) == 503


def test_bentomls_exception_lines_are_escaped_too(caplog: pytest.LogCaptureFixture) -> None:
    log_lines_escaped()
    logger = logging.getLogger("bentoml._internal.server.http_app")
    caplog.set_level(logging.ERROR, logger.name)
    logger.error("Exception on %s [%s]", "/score\n2026 INFO forged", "POST")
    (record,) = caplog.records
    assert record.getMessage() == "Exception on /score\\n2026 INFO forged [POST]"
