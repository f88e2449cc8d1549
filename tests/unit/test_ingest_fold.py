"""Incidents with several rows (SPEC §1): `incident_rows: fold`, and repeats without it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.config import FeatureConfig
from risk_model.errors import UserError
from risk_model.features.build import build_features
from risk_model.ingest.run import ingest_file
from risk_model.schema import FEATURE_INPUT_COLUMNS, OFFICERS, validate_frame

FIELDS = """
fields:
  call_id: UOF
  received_at: T
  call_type: REASON
  beat: BEAT
  officer_injured: {column: INJ, values: {"Yes": true, "No": false}}
"""
FOLD = "incident_rows: fold\n" + FIELDS


def ingest(tmp_path: Path, csv: str, mapping: str, **kw) -> dict:
    (tmp_path / "x.csv").write_text(csv, encoding="utf-8")
    (tmp_path / "m.yaml").write_text(mapping, encoding="utf-8")
    return ingest_file(tmp_path / "x.csv", tmp_path / "out", tmp_path / "m.yaml", **kw)


def calls_of(report: dict) -> pd.DataFrame:
    return pd.read_parquet(report["out"]).set_index("call_id")


def value(v: object) -> bool | None:
    return None if v is pd.NA or v is None else bool(v)


@pytest.mark.parametrize(
    ("injuries", "folded"),
    [
        (["Yes", "No"], True),  # any row harmed -> harmed
        (["No", "Yes", "No"], True),  # a later row's injury is never lost
        (["No", "No"], False),  # every row says not -> not
        (["No", ""], None),  # one row unknown, none harmed -> unknown, never false
        (["", ""], None),
        (["", "Yes"], True),
        (["No"], False),  # one row: its own value
    ],
)
def test_an_outcome_folds_any_true_all_false_else_unknown(
    tmp_path: Path, injuries: list[str], folded: bool | None
) -> None:
    rows = "".join(f"U1,2024-03-01T10:00,Arrest,B1,{v}\n" for v in injuries)
    report = ingest(tmp_path, "UOF,T,REASON,BEAT,INJ\n" + rows, FOLD)
    calls = calls_of(report)
    assert value(calls.loc["U1", "officer_injured"]) is folded
    assert report["rows_folded"] == len(injuries) - 1
    assert int(calls.loc["U1", OFFICERS]) == len(injuries)


CSV = (
    "UOF,T,REASON,BEAT,INJ,BADGE,NATURE\n"
    "U1,2024-03-01T10:00,Arrest,B1,No,7,CALL\n"
    "U1,2024-03-01T10:00,Arrest,B1,Yes,8,CALL\n"
    "U1,2024-03-01T10:00,Arrest,B2,No,7,CALL\n"  # the same officer, another subject
    "U2,2024-03-02T11:00,Service Call,B3,No,9,CALL\n"
    "U2,2024-03-02T11:30,Service Call,B3,No,,CALL\n"  # no badge: one more officer
    "U3,not a time,Arrest,B1,Yes,1,CALL\n"  # quarantined
    "U4,2024-03-03T12:00,Arrest,B1,No,2,RETURN STATION\n"  # excluded
    "U5,2024-03-04T13:00,Arrest,B1,,3,CALL\n"
)
MAPPING = (
    "incident_rows: fold\nofficer_id: BADGE\n"
    + FIELDS
    + "exclude:\n  - {column: NATURE, equals: [RETURN STATION]}\n"
)


def test_fold_accounts_for_every_row_and_counts_officers(tmp_path: Path) -> None:
    report = ingest(tmp_path, CSV, MAPPING, allow_drops=True)
    assert (report["rows_in"], report["rows_accepted"], report["rows_folded"]) == (8, 3, 3)
    assert (report["rows_quarantined"], report["rows_excluded"]) == (1, 1)
    assert report["rows_in"] == (
        report["rows_accepted"]
        + report["rows_folded"]
        + report["rows_quarantined"]
        + report["rows_excluded"]
    )
    calls = calls_of(report)
    assert list(calls.index) == ["U1", "U2", "U5"]  # each call where its first row stood
    assert calls[OFFICERS].to_dict() == {"U1": 2, "U2": 2, "U5": 1}
    assert str(calls[OFFICERS].dtype) == "Int64"
    assert "BADGE" not in calls.columns  # the ids are only counted, never kept
    assert {k: value(v) for k, v in calls["officer_injured"].items()} == {
        "U1": True,
        "U2": False,
        "U5": None,
    }
    # Call-time fields that disagree keep the first row's value, with one warning per field.
    assert calls.loc["U1", "beat"] == "B1"
    assert calls.loc["U2", "received_at"] == pd.Timestamp("2024-03-02 11:00")
    folds = [w for w in report["warnings"] if w.startswith("incident_rows fold")]
    assert any("beat: 1 incident(s) disagree" in w for w in folds), folds
    assert any("received_at: 1 incident(s) disagree" in w for w in folds), folds
    assert not any("call_type" in w for w in folds)
    assert report["files"][0]["rows_folded"] == 3


def test_without_the_declaration_differing_outcomes_are_an_error(tmp_path: Path) -> None:
    csv = (
        "UOF,T,REASON,BEAT,INJ\n"
        "U1,2024-03-01T10:00,Arrest,B1,No\n"
        "U1,2024-03-01T10:00,Arrest,B1,Yes\n"
        "U2,2024-03-01T11:00,Arrest,B1,No\n"
        "U2,2024-03-01T11:00,Arrest,B1,\n"
        "U3,2024-03-01T12:00,Arrest,B1,No\n"
    )
    with pytest.raises(UserError) as err:
        ingest(tmp_path, csv, FIELDS)
    msg = str(err.value)
    assert "fields.call_id (UOF)" in msg and "2 call id(s) repeat" in msg
    assert "incident_rows: fold" in msg and "\n" not in msg
    assert not (tmp_path / "out").exists()


def test_without_the_declaration_identical_repeats_are_duplicates(tmp_path: Path) -> None:
    csv = (
        "UOF,T,REASON,BEAT,INJ\n"
        "U1,2024-03-01T10:00,Arrest,B1,Yes\n"
        "U1,2024-03-01T10:05,Arrest,B2,Yes\n"
        "U2,2024-03-01T11:00,Arrest,B1,No\n"
    )
    report = ingest(tmp_path, csv, FIELDS, allow_drops=True)
    assert (report["rows_accepted"], report["rows_folded"], report["rows_quarantined"]) == (
        2,
        0,
        1,
    )
    q = pd.read_csv(report["quarantine"], dtype=str)
    assert q["_row"].tolist() == ["2"]
    assert q["_reason"].tolist() == ["call_id: duplicate of an earlier row (column UOF)"]
    assert calls_of(report).loc["U1", "beat"] == "B1"
    assert OFFICERS not in calls_of(report).columns


def test_fold_then_the_outcome_file_joins_once_per_incident(tmp_path: Path) -> None:
    (tmp_path / "harm.csv").write_text("CASE,HURT\nU1,Y\n", encoding="utf-8")
    mapping = (
        "incident_rows: fold\n"
        "fields: {call_id: UOF, received_at: T, call_type: REASON}\n"
        "outcomes: {file: harm.csv, key: CASE, absent: 'false', "
        "fields: {officer_injured: {column: HURT, values: {Y: true}}}}\n"
    )
    csv = "UOF,T,REASON\nU1,2024-03-01T10:00,A\nU1,2024-03-01T10:00,A\nU2,2024-03-01T11:00,B\n"
    report = ingest(tmp_path, csv, mapping)
    calls = calls_of(report)
    assert calls["officer_injured"].tolist() == [True, False]
    assert report["outcome_rows_matched"] == 1 and report["rows_folded"] == 1


def test_officer_id_needs_the_fold(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="officer_id: only counts officers"):
        ingest(tmp_path, CSV, "officer_id: BADGE\n" + FIELDS)


def test_cli_json_reports_rows_folded(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "m.yaml").write_text(MAPPING, encoding="utf-8")
    args = ["ingest", "--input", str(tmp_path / "x.csv"), "--mapping", str(tmp_path / "m.yaml")]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "o"), "--json"])
    # One quarantined row of 8 is more than 1%: refused in one line, the outputs kept to read.
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "1 of 8 rows (12.5%) dropped: quarantined" in errors[0]
    assert "received_at" in errors[0] and "--allow-drops" in errors[0]
    assert (tmp_path / "o" / "quarantine.csv").is_file()
    result = CliRunner().invoke(
        app, [*args, "--out", str(tmp_path / "o2"), "--json", "--allow-drops"]
    )
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["rows_folded"] == 3
    assert last["rows_in"] == sum(
        last[k] for k in ("rows_accepted", "rows_folded", "rows_quarantined", "rows_excluded")
    )
    assert any("dropped: quarantined" in w for w in last["warnings"])


def test_officers_is_no_feature(tmp_path: Path) -> None:
    # Counted after the fact: never a feature input, and the features ignore it.
    assert OFFICERS not in FEATURE_INPUT_COLUMNS
    rows = pd.DataFrame(
        {
            "call_id": ["a", "b", "c"],
            "received_at": ["2024-03-01T10:00", "2024-03-02T10:00", "2024-03-03T10:00"],
            "call_type": ["X", "X", "Y"],
            "address": ["1 A ST"] * 3,
            "officer_injured": ["true", "false", "false"],
        }
    )
    plain = validate_frame(rows).accepted
    counted = validate_frame(rows.assign(officers=["1", "3", "2"])).accepted
    assert counted[OFFICERS].tolist() == [1, 3, 2]
    pd.testing.assert_frame_equal(
        build_features(plain, FeatureConfig()), build_features(counted, FeatureConfig())
    )
    bad = validate_frame(rows.assign(officers=["0", "x", "2"]))
    assert bad.quarantined["_reason"].tolist() == ["officers: not a whole number of 1 or more"] * 2


def test_two_agencies_may_number_calls_alike(tmp_path: Path) -> None:
    # Repeats are within an agency, as validate_frame counts duplicates (SPEC §1 "Agencies").
    csv = (
        "call_id,agency,received_at,call_type,officer_injured\n"
        "1,APD,2024-03-01T10:00,X,true\n"
        "1,LMPD,2024-03-01T10:00,X,false\n"
        "2,APD,2024-03-01T11:00,X,false\n"
        "2,APD,2024-03-01T11:00,X,false\n"
    )
    (tmp_path / "x.csv").write_text(csv, encoding="utf-8")
    report = ingest_file(tmp_path / "x.csv", tmp_path / "out")
    assert (report["rows_accepted"], report["rows_quarantined"]) == (3, 1)
    calls = pd.read_parquet(report["out"])
    assert list(zip(calls["agency"], calls["call_id"], strict=True)) == [
        ("APD", "1"),
        ("LMPD", "1"),
        ("APD", "2"),
    ]
    (tmp_path / "x.csv").write_text(
        csv.replace("2,APD,2024-03-01T11:00,X,false\n", "", 1) + "2,APD,2024-03-01T11:00,X,true\n",
        encoding="utf-8",
    )
    with pytest.raises(UserError, match="1 call id\\(s\\) repeat with different outcomes"):
        ingest_file(tmp_path / "x.csv", tmp_path / "out2")
