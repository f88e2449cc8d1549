"""Fuzz the service's OpenAPI schema (schemathesis, in-process over ASGI): whatever the body,
the answer is never a 5xx, and every error is JSON naming what was wrong.

Bounded: a fixed number of derandomized examples per operation and generation mode.
(schemathesis' pytest plugin does not run under pytest 9 yet, so the test drives its Hypothesis
strategies directly.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from service_helpers import running_service, service_app, service_env

pytestmark = pytest.mark.xdist_group("model")

EXAMPLES = 40
OPERATIONS = [
    ("POST", "/score", GenerationMode.POSITIVE),
    ("POST", "/score", GenerationMode.NEGATIVE),
    ("POST", "/score_batch", GenerationMode.POSITIVE),
    ("POST", "/score_batch", GenerationMode.NEGATIVE),
    ("POST", "/ingest", GenerationMode.POSITIVE),
    ("POST", "/ingest", GenerationMode.NEGATIVE),
    ("GET", "/healthz", GenerationMode.POSITIVE),
    ("GET", "/readyz", GenerationMode.POSITIVE),
]


@pytest.fixture(scope="module")
def api_schema(service_data: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    env = service_env(service_data, tmp_path_factory.mktemp("fuzz"))
    with running_service(env):
        app = service_app()

        async def requests_only(scope: dict, receive: Any, send: Any) -> None:
            # The lifespan belongs to running_service; refusing it here tells schemathesis
            # the app has none, so it does not start a second service instance.
            if scope["type"] == "lifespan":
                raise RuntimeError("lifespan is run by the test")
            await app(scope, receive, send)

        yield schemathesis.openapi.from_asgi("/docs.json", requests_only)


def test_the_schema_lists_every_route(api_schema: Any) -> None:
    for method, path, _ in OPERATIONS:
        assert api_schema[path][method].path == path


@pytest.mark.parametrize(
    ("method", "path", "mode"), OPERATIONS, ids=[f"{m} {p} {g.value}" for m, p, g in OPERATIONS]
)
def test_no_input_makes_a_server_error(
    api_schema: Any, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]
    seen: dict[int, int] = {}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        response = case.call()
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (case.body, response.text)
        if response.status_code >= 400:
            body = response.json()
            assert body["error"], response.text
            if response.status_code == 400:
                assert body["field"], response.text

    check()
    if mode is GenerationMode.POSITIVE and method == "POST":
        assert seen.get(200), f"no generated body reached the model: {seen}"
