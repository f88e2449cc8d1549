"""The calls list's query is checked parameter by parameter (no model needed): impossible dates,
reversed windows, unknown or repeated parameters answer 400 naming the parameter."""

from __future__ import annotations

import json

import pytest
from starlette.responses import JSONResponse

from serving.review import parse_call_query


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ([("since", "2025-02-31")], "since"),
        ([("since", "2025-13-01")], "since"),
        ([("since", "2025-00-10")], "since"),
        ([("until", "2025-06-01T24:00")], "until"),
        ([("until", "2025-06-01T12:60")], "until"),
        ([("until", "2025-06-01T12:00+02:00")], "until"),
        ([("since", "2025-06-02"), ("until", "2025-06-01")], "until"),
        ([("since", "2025-06-01T10:00"), ("until", "2025-06-01T10:00")], "until"),
        ([("tier", "extreme")], "tier"),
        ([("decision", "maybe")], "decision"),
        ([("district", "A\x00")], "district"),
        ([("call_type", "T" * 201)], "call_type"),
        ([("sort", "district")], "sort"),
        ([("limit", "0")], "limit"),
        ([("limit", "1001")], "limit"),
        ([("limit", "99999999999999999999")], "limit"),
        ([("limit", "ten")], "limit"),
        ([("district", "A"), ("district", "B")], "district"),
        ([("token", "x")], "token"),
    ],
)
def test_bad_query_answers_400_naming_the_parameter(query: list, field: str) -> None:
    answer = parse_call_query(query)
    assert isinstance(answer, JSONResponse) and answer.status_code == 400
    body = json.loads(answer.body)
    assert body["field"] == field
    assert field in body["error"]


def test_a_good_query_is_normalised() -> None:
    filters, sort, limit = parse_call_query(
        [
            ("since", "2024-02-29"),
            ("until", "2024-03-01 06:30"),
            ("tier", "high"),
            ("district", " NORTH "),
            ("sort", "score"),
            ("limit", "50"),
        ]
    )
    assert filters == {
        "district": "NORTH",
        "call_type": None,
        "tier": "high",
        "decision": None,
        "since": "2024-02-29T00:00:00",
        "until": "2024-03-01T06:30:00",
    }
    assert (sort, limit) == ("score", 50)
    assert parse_call_query([]) == (
        {k: None for k in ("district", "call_type", "tier", "decision", "since", "until")},
        "time",
        200,
    )
