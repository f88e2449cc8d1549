"""Rows that are not calls (`exclude:`) and places that are not premises (`not_premises:`)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from risk_model.errors import UserError
from risk_model.ingest.run import ingest_file, load_mapping

CAD = (
    "INCIDENT_NO,CALL_TIME,NATURE,ADDRESS,LAT,LON,LOCATION_NAME\n"
    "24-1,2024-03-01T10:00,DISTURBANCE,12 ELM ST,32.7,-96.8,\n"
    "24-2,2024-03-01T10:05,RETURN STATION,1400 S LAMAR ST,32.76,-96.80,POLICE HQ\n"
    "24-3,2024-03-01T10:07, prisoner transport ,1400 S LAMAR ST,32.76,-96.80,POLICE HQ\n"
    "24-4,2024-03-01T10:09,ADMIN - COURT,100 MAIN ST,,,\n"
    "24-5,2024-03-01T10:11,ASSAULT,1400 s lamar st,32.76,-96.80,POLICE HQ\n"
    "24-6,2024-03-01T10:13,WELFARE CHECK,500 JAIL RD,32.70,-96.70,COUNTY JAIL\n"
    "24-7,not a time,OUT OF SERVICE,,,,\n"
    "24-8,not a time,THEFT,9 OAK AVE,,,\n"
    "24-9,2024-03-01T10:20,ALARM,9 OAK AVE,32.71,-96.71,\n"
)
MAPPING = """
fields:
  call_id: INCIDENT_NO
  received_at: CALL_TIME
  call_type: NATURE
  address: ADDRESS
  latitude: LAT
  longitude: LON
exclude:
  - {column: NATURE, equals: ["RETURN STATION", "PRISONER TRANSPORT", "OUT OF SERVICE"]}
  - {column: NATURE, contains: ["admin"]}
"""
NOT_PREMISES = """not_premises:
  - {column: ADDRESS, equals: ["1400 S LAMAR ST"]}
  - {column: LOCATION_NAME, contains: ["JAIL"]}
"""


def run(tmp_path: Path, mapping: str) -> dict:
    (tmp_path / "cad.csv").write_text(CAD, encoding="utf-8")
    (tmp_path / "m.yaml").write_text(mapping, encoding="utf-8")
    return ingest_file(tmp_path / "cad.csv", tmp_path / "out", tmp_path / "m.yaml")


def test_exclude_drops_non_calls_before_validation_and_counts_them(tmp_path: Path) -> None:
    report = run(tmp_path, MAPPING)
    assert report["rows_in"] == 9
    assert (report["rows_accepted"], report["rows_quarantined"], report["rows_excluded"]) == (
        4,
        1,
        4,
    )
    assert report["rows_in"] == (
        report["rows_accepted"] + report["rows_quarantined"] + report["rows_excluded"]
    )
    r0 = "exclude[0]: NATURE equals ['RETURN STATION', 'PRISONER TRANSPORT', 'OUT OF SERVICE']"
    r1 = "exclude[1]: NATURE contains ['admin']"
    # 24-7 has an unreadable time, but it is a unit-status row: excluded, never quarantined.
    assert report["excluded_by_rule"] == {r0: 3, r1: 1}
    excluded = pd.read_csv(tmp_path / "out" / "excluded.csv", dtype=str, keep_default_na=False)
    assert excluded["INCIDENT_NO"].tolist() == ["24-2", "24-3", "24-4", "24-7"]
    assert excluded["_row"].tolist() == ["2", "3", "4", "7"]
    assert excluded["_rule"].tolist() == [r0, r0, r1, r0]
    calls = pd.read_parquet(tmp_path / "out" / "calls.parquet")
    assert calls["call_id"].tolist() == ["24-1", "24-5", "24-6", "24-9"]
    q = pd.read_csv(tmp_path / "out" / "quarantine.csv", dtype=str)
    assert q["INCIDENT_NO"].tolist() == ["24-8"]
    saved = json.loads((tmp_path / "out" / "ingest_report.json").read_text())
    assert saved["rows_excluded"] == 4 and saved["excluded"].endswith("excluded.csv")


def test_a_rule_that_matches_nothing_is_reported_with_zero(tmp_path: Path) -> None:
    report = run(tmp_path, MAPPING + "  - {column: NATURE, equals: [COURT]}\n")
    assert report["excluded_by_rule"]["exclude[2]: NATURE equals ['COURT']"] == 0


def test_not_premises_blank_the_place_but_keep_the_call(tmp_path: Path) -> None:
    report = run(tmp_path, MAPPING + NOT_PREMISES)
    assert report["rows_not_premise"] == 2
    calls = pd.read_parquet(tmp_path / "out" / "calls.parquet").set_index("call_id")
    # 24-5 (the police HQ address, any case) and 24-6 (a jail by its location name).
    for cid, addr in (("24-5", "1400 s lamar st"), ("24-6", "500 JAIL RD")):
        assert calls.loc[cid, "address"] is pd.NA or pd.isna(calls.loc[cid, "address"])
        assert pd.isna(calls.loc[cid, "latitude"]) and pd.isna(calls.loc[cid, "longitude"])
        assert calls.loc[cid, "address_not_premise"] == addr
    assert calls.loc["24-1", "address"] == "12 ELM ST"
    assert calls.loc["24-1", "latitude"] == pytest.approx(32.7)
    assert pd.isna(calls.loc["24-1", "address_not_premise"])
    assert report["rows_accepted"] == 4


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("exclude:\n  - {column: NATURE}\n", "exclude[0]: give equals and/or contains"),
        ("exclude:\n  - {colum: NATURE, equals: [X]}\n", "unknown key 'colum' in exclude.0"),
        ("not_premises:\n  - {column: RACE, equals: [X]}\n", "not_premises[0]: column 'RACE'"),
    ],
)
def test_broken_rules_are_one_line(tmp_path: Path, extra: str, message: str) -> None:
    base = "fields: {call_id: INCIDENT_NO, received_at: CALL_TIME, call_type: NATURE}\n"
    (tmp_path / "m.yaml").write_text(base + extra, encoding="utf-8")
    with pytest.raises(UserError) as err:
        load_mapping(tmp_path / "m.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_rule_on_a_missing_column_names_it(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"exclude\[0\]: column 'NATUR' not in the export"):
        run(
            tmp_path,
            "fields: {call_id: INCIDENT_NO, received_at: CALL_TIME, call_type: NATURE}\n"
            "exclude:\n  - {column: NATUR, equals: [X]}\n",
        )
