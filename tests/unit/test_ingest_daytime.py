"""Times known only to the day or to a shift band: received_at + received_until, never invented."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from risk_model.errors import UserError
from risk_model.ingest.run import ingest_file, load_mapping

NAT = pd.NaT


def ingest(tmp_path: Path, csv: str, received_at: str) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    (tmp_path / "x.csv").write_text(csv, encoding="utf-8")
    (tmp_path / "m.yaml").write_text(
        f"fields:\n  call_id: ID\n  call_type: TYPE\n  received_at: {received_at}\n",
        encoding="utf-8",
    )
    report = ingest_file(tmp_path / "x.csv", tmp_path / "out", tmp_path / "m.yaml")
    calls = pd.read_parquet(tmp_path / "out" / "calls.parquet").set_index("call_id")
    q = pd.read_csv(tmp_path / "out" / "quarantine.csv", dtype=str, keep_default_na=False)
    return report, calls, q


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def test_format_without_clock_time_is_known_to_the_day(tmp_path: Path) -> None:
    csv = "ID,TYPE,T\na,X,03/14/2024 22:15\nb,X,03/14/2024\nc,X,12/31/2023\nd,X,14.03.2024\n"
    report, calls, q = ingest(
        tmp_path, csv, '{column: T, formats: ["%m/%d/%Y %H:%M", "%m/%d/%Y"]}'
    )
    assert str(calls["received_until"].dtype) == "datetime64[us]"
    assert str(calls["received_at"].dtype) == "datetime64[us]"
    assert calls.loc["a", "received_at"] == ts("2024-03-14 22:15")
    assert pd.isna(calls.loc["a", "received_until"])
    assert calls.loc["b", "received_at"] == ts("2024-03-14 00:00")
    assert calls.loc["b", "received_until"] == ts("2024-03-15 00:00")
    assert calls.loc["c", "received_until"] == ts("2024-01-01 00:00")
    assert q["ID"].tolist() == ["d"]
    assert q["_reason"].iloc[0].startswith("received_at: T does not match any of formats")
    assert report["rows_known_to_a_range"] == 2


def test_exact_formats_only_write_no_received_until(tmp_path: Path) -> None:
    _, calls, _ = ingest(
        tmp_path, "ID,TYPE,T\na,X,03/14/2024 22:15\n", '{column: T, formats: ["%m/%d/%Y %H:%M"]}'
    )
    assert "received_until" not in calls.columns


def test_iso_without_formats_is_unchanged(tmp_path: Path) -> None:
    _, calls, q = ingest(tmp_path, "ID,TYPE,T\na,X,2024-03-14T10:00\nb,X,2024-03-14\n", "T")
    assert "received_until" not in calls.columns
    assert calls.loc["a", "received_at"] == ts("2024-03-14 10:00")
    assert q["_reason"].tolist() == ["received_at: a date without a time of day (column T)"]


def test_date_column_alone_is_known_to_the_day(tmp_path: Path) -> None:
    _, calls, _ = ingest(
        tmp_path, "ID,TYPE,D\na,X,3/14/2024\n", '{date: D, date_formats: ["%m/%d/%Y"]}'
    )
    assert calls.loc["a", "received_at"] == ts("2024-03-14")
    assert calls.loc["a", "received_until"] == ts("2024-03-15")


SHIFTS = (
    '{date: D, date_formats: ["%m/%d/%Y"], shift: S, shifts: {"Between 7am-3pm": "07-15", '
    '"Between 3pm-11pm": "15-23", "Between 11pm-7am": "23-07"}}'
)


def test_shift_bands_map_only_where_the_table_says(tmp_path: Path) -> None:
    csv = (
        "ID,TYPE,D,S\n"
        "a,X,3/14/2024,Between 7am-3pm\n"
        "b,X,3/14/2024,between 3PM-11PM \n"
        "c,X,3/14/2024,Between 11pm-7am\n"
        "d,X,3/14/2024,Evening\n"
        "e,X,3/14/2024,\n"
    )
    report, calls, q = ingest(tmp_path, csv, SHIFTS)
    assert calls.loc["a", "received_at"] == ts("2024-03-14 07:00")
    assert calls.loc["a", "received_until"] == ts("2024-03-14 15:00")
    assert calls.loc["b", "received_at"] == ts("2024-03-14 15:00")
    assert calls.loc["b", "received_until"] == ts("2024-03-14 23:00")
    # A band crossing midnight starts on the row's day and ends the next morning.
    assert calls.loc["c", "received_at"] == ts("2024-03-14 23:00")
    assert calls.loc["c", "received_until"] == ts("2024-03-15 07:00")
    assert q["ID"].tolist() == ["d", "e"]
    assert (
        q["_reason"]
        .tolist()[0]
        .startswith("received_at: S value 'Evening' is not in fields.received_at.shifts")
    )
    assert q["_reason"].tolist()[1].startswith("received_at: S is empty")
    assert report["rows_known_to_a_range"] == 3


def test_empty_shift_with_time_optional_is_known_to_the_day(tmp_path: Path) -> None:
    spec = SHIFTS[:-1] + ", time_optional: true}"
    _, calls, q = ingest(tmp_path, "ID,TYPE,D,S\ne,X,3/14/2024,\n", spec)
    assert q.empty
    assert calls.loc["e", "received_at"] == ts("2024-03-14")
    assert calls.loc["e", "received_until"] == ts("2024-03-15")


@pytest.mark.parametrize("optional", [False, True])
def test_date_plus_time_with_empty_time(tmp_path: Path, optional: bool) -> None:
    spec = '{date: D, time: C, date_formats: ["%m/%d/%Y"], time_formats: ["%H:%M"]' + (
        ", time_optional: true}" if optional else "}"
    )
    csv = "ID,TYPE,D,C\na,X,3/14/2024,10:30\nb,X,3/14/2024,\n"
    _, calls, q = ingest(tmp_path, csv, spec)
    assert calls.loc["a", "received_at"] == ts("2024-03-14 10:30")
    if optional:
        assert pd.isna(calls.loc["a", "received_until"])
        assert calls.loc["b", "received_at"] == ts("2024-03-14")
        assert calls.loc["b", "received_until"] == ts("2024-03-15")
        assert q.empty
    else:
        assert "received_until" not in calls.columns
        assert q["_reason"].tolist() == ["received_at: C is empty or a missing marker"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ('{date: D, date_formats: ["%m/%d/%Y"], shift: S}', "shift needs shifts"),
        (
            '{date: D, date_formats: ["%m/%d/%Y"], shift: S, shifts: {Day: "7am"}}',
            "fields.received_at.shifts['Day']: '7am' is not a band of hours",
        ),
        (
            '{date: D, date_formats: ["%m/%d/%Y"], shift: S, shifts: {Day: "07-07"}}',
            "is not a band of hours",
        ),
        ('{column: T, shifts: {Day: "07-15"}}', "shifts needs date"),
        ('{column: T, formats: ["%m/%d/%Y %M"]}', "minutes or seconds but no hour"),
        ('{column: T, formats: ["%m/%d/%Y %I:%M"]}', "12-hour clock (%I) without AM/PM"),
        ("{date: D}", "date needs date_formats"),
        ('{date: D, date_formats: ["%m/%d/%Y"], time_optional: true}', "time_optional needs"),
    ],
)
def test_broken_range_specs_are_one_line(tmp_path: Path, spec: str, message: str) -> None:
    (tmp_path / "m.yaml").write_text(
        f"fields:\n  call_id: ID\n  call_type: TYPE\n  received_at: {spec}\n", encoding="utf-8"
    )
    with pytest.raises(UserError) as err:
        load_mapping(tmp_path / "m.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)
