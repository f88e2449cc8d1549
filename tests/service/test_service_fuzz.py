"""Fuzz the service's OpenAPI schema (schemathesis, in-process over ASGI): whatever the body,
the answer is never a 5xx, and every error is JSON naming what was wrong. The schema is what
validation accepts: every body it allows is answered 200, every body it refuses is a 4xx.

Bounded: a fixed number of derandomized examples per operation and generation mode.
(schemathesis' pytest plugin does not run under pytest 9 yet, so the test drives its Hypothesis
strategies directly.)
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from service_helpers import running_service, service_app, service_env

from serving.api_models import EXAMPLE_OUTCOME, RECEIVED_AT_PATTERN

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
    # With an agency time zone, as the schema describes: offsets are then accepted.
    env = service_env(
        service_data, tmp_path_factory.mktemp("fuzz"), CALL_RISK_TIMEZONE="America/Chicago"
    )
    with running_service(env):
        app = service_app()

        async def requests_only(scope: dict, receive: Any, send: Any) -> None:
            # The lifespan belongs to running_service; refusing it here tells schemathesis
            # the app has none, so it does not start a second service instance.
            if scope["type"] == "lifespan":
                raise RuntimeError("lifespan is run by the test")
            await app(scope, receive, send)

        yield schemathesis.openapi.from_asgi("/docs.json", requests_only)


_TIME = re.compile(RECEIVED_AT_PATTERN)
_YEAR = re.compile(r"\d{4}")


def _past_years(body: Any) -> Any:
    """Moves every schema-valid received_at into 1992-2020 (leap years, so a 29 February stays
    valid): "not before 1990 in agency time" and "not more than a day ahead of the clock" are
    rules of the running service that a schema cannot state, tested on their own in
    test_service_input.py and test_service_http.py."""
    if isinstance(body, list):
        return [_past_years(b) for b in body]
    if not isinstance(body, dict):
        return body
    out = {k: _past_years(v) for k, v in body.items()}
    when = out.get("received_at")
    if isinstance(when, str) and _TIME.search(when):
        year = int(_YEAR.search(when).group(0))  # type: ignore[union-attr]
        out["received_at"] = _YEAR.sub(str(1992 + 4 * (year % 8)), when, count=1)
        until = out.get("received_until")
        if isinstance(until, str) and _TIME.search(until):
            # "After received_at and at most 2 days later" relates two fields, which a schema
            # cannot state either (tested in test_service_input.py): an 8-hour band is made.
            start = dt.datetime.fromisoformat(out["received_at"].strip())
            out["received_until"] = (start + dt.timedelta(hours=8)).isoformat()
    return out


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
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE and method == "POST":

        def plausible(case: Any) -> Any:
            case.body = _past_years(case.body)
            if path == "/ingest":
                # The schema asks for at least one real call among the objects (`contains`),
                # which the generator does not honour: the last object is made one.
                case.body["calls"][-1] = {**EXAMPLE_OUTCOME, "call_id": "FUZZ-OUTCOME"}
            return case

        strategy = strategy.map(plausible)

    @given(case=strategy)
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
        # The schema says exactly what is accepted: a body it allows is answered, a body it
        # refuses is refused (0/1 as a boolean, true as a priority, a lone latitude, ...).
        if mode is GenerationMode.POSITIVE:
            assert response.status_code == 200, (case.body, response.text)
        else:
            assert 400 <= response.status_code < 500, (case.body, response.text)

    check()
    if mode is GenerationMode.POSITIVE and method == "POST":
        assert seen.get(200), f"no generated body reached the model: {seen}"
