"""The API's request models on their own (no model, no server): `received_at` is an exact ISO
8601 time converted to the agency's time zone, JSON types are strict, and the published JSON
schema accepts exactly what validation accepts."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from pydantic import ValidationError

from risk_model.errors import UserError
from risk_model.schema import parse_timestamp
from risk_model.service.settings import ENV_TIMEZONE, ServiceSettings
from serving.api_models import (
    EXAMPLE_CALL,
    CallOutcomeIn,
    IngestRequest,
    ScoreBatchRequest,
    ScoreRequest,
    set_agency_timezone,
)


def call(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(EXAMPLE_CALL)
    out.update(changes)
    return out


@pytest.fixture
def chicago() -> Iterator[None]:
    set_agency_timezone("America/Chicago")
    yield
    set_agency_timezone(None)


def errors_of(body: dict[str, Any]) -> list[tuple[str, str]]:
    try:
        ScoreRequest.model_validate(body)
    except ValidationError as exc:
        return [(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]
    return []


def received(value: Any) -> dt.datetime:
    return ScoreRequest.model_validate({"call": call(received_at=value)}).call.received_at


# --------------------------------------------------------------------------- received_at


@pytest.mark.parametrize(
    "text",
    [
        "now",
        "today",
        "tomorrow",
        "yesterday",
        "2025",
        "Nov 14 2025 01:12",
        "14/11/2025 01:12",
        "2025-11-14T01:12:00 CST",
        "2025-02-30T10:00:00",
        "2025-11-14T25:00:00",
        "1700000000",
    ],
)
def test_received_at_refuses_anything_but_an_exact_iso_time(text: str) -> None:
    errs = errors_of({"call": call(received_at=text)})
    assert errs and errs[0][0] == "call.received_at", errs
    assert "ISO 8601" in errs[0][1]


def test_received_at_refuses_a_date_alone_and_non_text() -> None:
    (where, why), *_ = errors_of({"call": call(received_at="2025-06-01")})
    assert where == "call.received_at" and "date without a time of day" in why
    (where, why), *_ = errors_of({"call": call(received_at=1763082720)})
    assert where == "call.received_at" and "must be text" in why


@pytest.mark.parametrize(
    ("text", "local"),
    [
        ("2025-11-14T01:12", "2025-11-14T01:12:00"),
        ("2025-11-14 01:12:30.25", "2025-11-14T01:12:30.250000"),
        ("2025-11-14T07:12:00Z", "2025-11-14T01:12:00"),
        ("2025-11-14T21:12:00+14:00", "2025-11-14T01:12:00"),
        ("2025-11-13T19:12:00-12:00", "2025-11-14T01:12:00"),
        ("2025-11-14T02:12:00-0500", "2025-11-14T01:12:00"),
        ("2025-07-14T07:12:00Z", "2025-07-14T02:12:00"),  # daylight saving time: UTC-5
    ],
)
def test_an_offset_is_converted_to_the_agency_time_zone(
    chicago: None, text: str, local: str
) -> None:
    assert received(text) == dt.datetime.fromisoformat(local)


def test_the_same_wall_clock_with_different_offsets_is_different_instants(chicago: None) -> None:
    times = {received(f"2025-11-14T12:00:00{o}") for o in ("Z", "+14:00", "-12:00")}
    assert len(times) == 3


def test_without_an_agency_time_zone_an_offset_is_refused() -> None:
    set_agency_timezone(None)
    (where, why), *_ = errors_of({"call": call(received_at="2025-11-14T07:12:00Z")})
    assert where == "call.received_at"
    assert "CALL_RISK_TIMEZONE" in why
    assert received("2025-11-14T01:12:00") == dt.datetime(2025, 11, 14, 1, 12)


def test_parse_timestamp_is_strict_but_keeps_its_library_behaviour() -> None:
    assert parse_timestamp("2025-11-14T01:12:00-06:00") == dt.datetime(2025, 11, 14, 1, 12)
    assert parse_timestamp("2025-11-14T07:12:00Z", tz="America/Chicago") == dt.datetime(
        2025, 11, 14, 1, 12
    )
    for text in ("now", "today", "2025-11-14"):
        with pytest.raises(ValueError, match="received_at"):
            parse_timestamp(text)


def test_the_time_zone_setting_is_checked_when_read() -> None:
    assert ServiceSettings.from_env({}).timezone is None
    settings = ServiceSettings.from_env({ENV_TIMEZONE: "America/Chicago"})
    assert settings.timezone == "America/Chicago"
    assert settings.to_env()[ENV_TIMEZONE] == "America/Chicago"
    for bad in ("Central", "America/Chicagoo", "../etc/passwd"):
        with pytest.raises(UserError, match=f"{ENV_TIMEZONE}: .* is not an IANA time zone"):
            ServiceSettings.from_env({ENV_TIMEZONE: bad})


# --------------------------------------------------------------------------- strict JSON types

STRICT_CASES = [
    ("weapon_reported", 1),
    ("weapon_reported", 0),
    ("domestic", "yes"),
    ("in_progress", "true"),
    ("priority", True),
    ("priority", "3"),
    ("priority", 2.5),
    ("latitude", True),
    ("latitude", "35.1"),
    ("longitude", False),
    ("call_id", 5),
    ("call_type", "   "),
]


@pytest.mark.parametrize(("field", "value"), STRICT_CASES)
def test_json_types_are_strict(field: str, value: Any) -> None:
    errs = errors_of({"call": call(**{field: value})})
    assert errs and errs[0][0] == f"call.{field}", errs


def test_outcomes_are_json_booleans_too() -> None:
    with pytest.raises(ValidationError, match="officer_assaulted"):
        CallOutcomeIn.model_validate(call(officer_assaulted=1))
    assert CallOutcomeIn.model_validate(call(officer_assaulted=True)).officer_assaulted is True


def test_what_strict_types_still_accept() -> None:
    body = ScoreRequest.model_validate(
        {"call": call(priority=3.0, latitude=35, longitude=-97, weapon_reported=None)}
    )
    assert body.call.priority == 3 and isinstance(body.call.priority, int)
    assert body.call.latitude == 35.0
    padded = ScoreRequest.model_validate({"call": call(call_id="  C-1  ", address="  ")}).call
    assert (padded.call_id, padded.address) == ("C-1", None)


# --------------------------------------------------------------------------- schema = validation


def _schema(model: type) -> dict[str, Any]:
    return model.model_json_schema(mode="validation")


BODIES = [
    {"call": call()},
    {"call": call(received_at="2025-11-14T07:12:00Z")},
    {"call": call(received_at="2025-11-14 01:12")},
    {"call": call(received_at="now")},
    {"call": call(received_at="today")},
    {"call": call(received_at="2025-06-01")},
    {"call": call(received_at="1989-12-31T23:59:59")},
    {"call": call(received_at="2024-02-29T10:00:00")},
    {"call": call(received_at="2025-02-29T10:00:00")},
    {"call": call(received_at="2025-04-31T10:00:00")},
    {"call": call(priority=True)},
    {"call": call(priority=9)},
    {"call": call(priority=10)},
    {"call": call(priority="1")},
    {"call": call(latitude=True)},
    {"call": call(latitude=None)},
    {"call": call(latitude=None, longitude=None)},
    {"call": {k: v for k, v in call().items() if k not in ("latitude", "longitude")}},
    {"call": {k: v for k, v in call().items() if k != "longitude"}},
    {"call": call(weapon_reported=1)},
    {"call": call(weapon_reported="false")},
    {"call": call(call_id=" ")},
    {"call": call(call_id="x" * 128 + " ")},
    {"call": call(unknown_field=[1, 2])},
    # A call known only to the day: both ends exact ISO 8601 times; bare dates are a file's form.
    {"call": call(received_at="2025-11-14T00:00:00", received_until="2025-11-15T00:00:00")},
    {"call": call(received_at="2025-11-14T00:00:00", received_until=None)},
    {"call": call(received_at="2025-11-14", received_until="2025-11-15T00:00:00")},
    {"call": call(received_at="2025-11-14T00:00:00", received_until="2025-11-15")},
    {"call": call(received_at="2025-11-14T00:00:00", received_until="tomorrow")},
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_the_json_schema_accepts_exactly_what_validation_accepts(
    chicago: None, body: dict[str, Any]
) -> None:
    by_schema = jsonschema_rs.validator_for(_schema(ScoreRequest)).is_valid(body)
    by_validation = not errors_of(body)
    assert by_schema == by_validation, errors_of(body)


def test_the_schema_states_the_strict_types_and_the_coordinate_pair() -> None:
    call_schema = _schema(ScoreRequest)["$defs"]["CallIn"]
    props = call_schema["properties"]
    assert {"type": "integer", "minimum": 1, "maximum": 9} in props["priority"]["anyOf"]
    assert {"type": "boolean"} in props["weapon_reported"]["anyOf"]
    assert props["received_at"]["pattern"].startswith("^")
    pair = call_schema["anyOf"]
    assert pair[0]["required"] == ["latitude", "longitude"]
    batch = _schema(ScoreBatchRequest)
    assert batch["properties"]["calls"]["maxItems"] >= 1
    ingest = _schema(IngestRequest)["properties"]["calls"]
    assert ingest["contains"]["title"] == "CallOutcome"


def test_serve_stops_at_a_bad_time_zone_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from risk_model.cli import app

    monkeypatch.setenv(ENV_TIMEZONE, "Mars/Olympus_Mons")
    out = CliRunner().invoke(app, ["serve", "--port", "3999"])
    assert out.exit_code == 2, out.output
    assert "CALL_RISK_TIMEZONE: 'Mars/Olympus_Mons' is not an IANA time zone" in out.output
    assert "Traceback" not in out.output


def test_received_until_is_read_like_received_at(chicago: None) -> None:
    """The end of a day-only interval is converted like received_at (offsets to the agency's
    zone) and must come after it; the error names received_until."""
    req = ScoreRequest.model_validate(
        {"call": call(received_at="2025-11-14T00:00:00", received_until="2025-11-15T06:00:00Z")}
    )
    assert req.call.received_until == dt.datetime(2025, 11, 15, 0, 0)
    assert req.call.to_row()["received_until"] == dt.datetime(2025, 11, 15, 0, 0)
    problems = errors_of(
        {"call": call(received_at="2025-11-14T00:00:00", received_until="2025-11-13T00:00:00")}
    )
    assert [loc for loc, _ in problems] == ["call.received_until"]
