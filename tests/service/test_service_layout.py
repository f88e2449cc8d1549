"""serving/service.py keeps the routes; its plumbing lives in modules that stand alone: the error
shape (serving/errors.py), the middleware (serving/middleware.py) and the BentoML workarounds
(serving/bentoml_patch.py); the review page mounts itself (serving/review.py). None of them
imports the service, so each can be read and tested without starting it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module", ["serving.errors", "serving.middleware", "serving.bentoml_patch", "serving.review"]
)
def test_plumbing_imports_without_the_service(module: str) -> None:
    code = f"import sys, {module}; print('serving.service' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "False"


def test_the_service_applies_each_workaround_once_and_keeps_its_names() -> None:
    from _bentoml_sdk.method import APIMethod
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    import serving.service as service
    from serving import bentoml_patch, middleware

    assert TimeoutMiddleware._call_risk_cancels_timer is True
    patched = TimeoutMiddleware.__call__
    bentoml_patch.timeout_middleware_cancels_its_timer()  # a second call changes nothing
    assert TimeoutMiddleware.__call__ is patched
    assert APIMethod._call_risk_body_required is True
    # Names the tests and benchmarks import from the service still resolve to one object.
    assert service.Gate is middleware.Gate and service.MAX_BODY_BYTES == middleware.MAX_BODY_BYTES
    routes = service.API_ROUTES
    assert routes == frozenset({"/score", "/score_batch", "/ingest", "/score/eido"})


@pytest.mark.parametrize(
    ("status", "content_type", "raw", "field", "error"),
    [
        # BentoML's validation answer: the field is named.
        (
            400,
            "application/json",
            {"detail": [{"loc": ["call", "priority"], "msg": "Input should be a valid integer"}]},
            "call.priority",
            "call.priority: Input should be a valid integer",
        ),
        # Already in the service's shape: passed through.
        (
            401,
            "application/json",
            {"error": "authorization: no", "field": "authorization"},
            "authorization",
            "authorization: no",
        ),
        # Plain text (a 404 from the router): wrapped.
        (404, "text/plain", "Not Found", None, "Not Found"),
    ],
)
def test_every_error_answer_has_one_shape(
    status: int, content_type: str, raw: object, field: str | None, error: str
) -> None:
    from serving.middleware import shape_error

    chunk = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
    out_status, body = shape_error(status, content_type, [chunk])
    data = json.loads(body)
    assert out_status == status and data["field"] == field and data["error"] == error


def test_error_body_names_the_first_bad_field_of_a_batch() -> None:
    from serving.errors import error_body

    body = error_body(
        [{"loc": ("received_at",), "msg": "Value error, not a time"}], prefix=("calls", 3)
    )
    assert body["field"] == "calls[3].received_at"
    assert body["error"] == "calls[3].received_at: not a time"


@pytest.mark.parametrize(("path", "single"), [("/score", 1), ("/score/eido", 1), ("/ingest", 0)])
def test_single_call_routes_hold_back_batch_slices(path: str, single: int) -> None:
    """A call sent as an EIDO document is a single call too: batch slices wait for it."""
    import asyncio

    from serving.middleware import TURNS, CountSingles

    seen: list[int] = []

    async def app(scope: dict, receive: object, send: object) -> None:
        seen.append(TURNS.singles)

    before = TURNS.singles
    asyncio.run(CountSingles(app)({"type": "http", "path": path}, None, None))
    assert seen == [before + single] and TURNS.singles == before
