"""What a refused or failed request leaves behind (issue 22, N18): a refused /ingest writes a log
line; error bodies name files, never the server's absolute paths; a read-only mount at start-up
is named as such."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from risk_model.service.assessor import write_error_cause
from serving.errors import error_response, public_text
from serving.middleware import shape_error


@pytest.mark.parametrize(
    ("message", "public"),
    [
        (
            "history store /srv/call-risk/data/history.db not writable: disk full",
            "history store history.db not writable: disk full",
        ),
        (
            "cannot load model '/srv/models/champion' from sqlite:////srv/mlflow.db: gone",
            "cannot load model 'champion' from mlflow.db: gone",
        ),
        ("open http://127.0.0.1:3000/review/ again", "open http://127.0.0.1:3000/review/ again"),
        ("call.received_at: 2025/01/02 is not ISO", "call.received_at: 2025/01/02 is not ISO"),
    ],
)
def test_error_bodies_name_files_never_server_paths(message: str, public: str) -> None:
    assert public_text(message) == public
    body = json.loads(error_response(503, None, message, cause=message).body)
    assert body["error"] == public and body["cause"] == public
    _, shaped = shape_error(503, "application/json", [json.dumps({"detail": message}).encode()])
    assert json.loads(shaped)["error"] == public


def test_a_read_only_mount_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exc = sqlite3.OperationalError("unable to open database file")
    assert write_error_cause(exc, tmp_path / "history.db") == "unable to open database file"
    real = os.statvfs

    def read_only(path: Any) -> Any:
        return SimpleNamespace(f_flag=real(path).f_flag | os.ST_RDONLY)

    monkeypatch.setattr(os, "statvfs", read_only)
    cause = write_error_cause(exc, tmp_path / "history.db")
    assert "mounted read-only" in cause and str(tmp_path) in cause  # for the log and the CLI


@pytest.mark.parametrize(
    ("headers", "body", "status", "logged"),
    [
        ({}, b'{"calls": []}', 401, "missing or invalid token"),
        ({"authorization": "Bearer nope"}, b'{"calls": []}', 401, "missing or invalid token"),
        (None, b"x" * 2000, 413, "body larger than"),
    ],
)
def test_a_refused_ingest_writes_a_log_line(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str] | None,
    body: bytes,
    status: int,
    logged: str,
) -> None:
    from serving.middleware import Gate

    token = "ingest-refusal-token-0123456789abcdefghij"
    monkeypatch.setenv("CALL_RISK_API_TOKEN", token)
    headers = {"authorization": f"Bearer {token}"} if headers is None else headers

    async def inner(scope: dict, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/ingest",
        "client": ("10.0.0.9", 4000),
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    caplog.set_level(logging.INFO, "serving.middleware")
    asyncio.run(Gate(inner, max_body=1000)(scope, receive, send))
    assert sent[0]["status"] == status
    lines = [r.getMessage() for r in caplog.records if r.name == "serving.middleware"]
    assert any(logged in line and "/ingest" in line and "10.0.0.9" in line for line in lines)
