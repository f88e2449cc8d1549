"""Outcomes from their own file (SPEC §1): the join, its accounting and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from risk_model.errors import UserError
from risk_model.ingest.run import ingest_file, load_mapping

CAD = (
    "INCIDENT_NO,CALL_TIME,NATURE,ADDRESS\n"
    "24-1,2024-03-01T10:00,DISTURBANCE,12 ELM ST\n"
    "24-2,2024-03-01T10:05,ASSAULT,9 OAK AVE\n"
    "24-3,2024-03-01T10:07,THEFT,1 MAIN ST\n"
    "24-4,not a time,FIGHT,2 MAIN ST\n"
    "24-5,2024-03-01T10:11,RETURN STATION,1400 S LAMAR ST\n"
    "24-6,2024-03-01T10:13,WELFARE CHECK,5 PINE ST\n"
)
# One row per officer; several per call; rows for calls outside the export; a free-text column
# that exists only for harmed calls (it must never reach calls.parquet).
HARM = (
    "INCIDENT_NUMBER,OFFICER,OFFICER_INJURED,CIRCUMSTANCE\n"
    " 24-1 ,A,No | Yes,Disturbance call - bit on the hand\n"
    "24-1,B,No,Disturbance call\n"
    "24-2,C,No,Ambush\n"
    "24-2,D,No | No,Ambush\n"
    "24-3,E,Maybe,Traffic\n"
    "24-4,F,Yes,Fight\n"
    "24-5,G,Yes,Station\n"
    "23-999,H,Yes,Last year\n"
    ",I,Yes,No key\n"
)
MAPPING = """
fields:
  call_id: INCIDENT_NO
  received_at: CALL_TIME
  call_type: NATURE
  address: ADDRESS
exclude:
  - {column: NATURE, equals: ["RETURN STATION"]}
outcomes:
  file: harm.csv
  key: INCIDENT_NUMBER
  absent: "%s"
  fields:
    officer_assaulted: {value: "true"}
    officer_injured: {column: OFFICER_INJURED, split: "|", values: {"Yes": "true", "No": "false"}}
"""


def run(tmp_path: Path, absent: str = "false", mapping: str = MAPPING) -> dict:
    (tmp_path / "cad.csv").write_text(CAD, encoding="utf-8")
    (tmp_path / "harm.csv").write_text(HARM, encoding="utf-8")
    (tmp_path / "m.yaml").write_text(mapping.replace("%s", absent), encoding="utf-8")
    return ingest_file(tmp_path / "cad.csv", tmp_path / "out", tmp_path / "m.yaml")


def flags(tmp_path: Path, name: str) -> dict[str, bool | None]:
    calls = pd.read_parquet(tmp_path / "out" / "calls.parquet")
    assert str(calls[name].dtype) == "boolean"
    pairs = zip(calls["call_id"], calls[name], strict=True)
    return {c: (None if v is pd.NA else bool(v)) for c, v in pairs}


def test_outcome_join_flags_and_exact_accounting(tmp_path: Path) -> None:
    report = run(tmp_path)
    assert report["outcome_rows_in"] == 9
    assert report["outcome_rows_matched"] == 4  # 24-1 x2, 24-2 x2
    assert report["outcome_rows_unmatched"] == 3  # 24-4 (quarantined), 24-5 (excluded), 23-999
    assert report["outcome_rows_quarantined"] == 2  # 'Maybe', empty key
    assert report["outcome_rows_in"] == (
        report["outcome_rows_matched"]
        + report["outcome_rows_unmatched"]
        + report["outcome_rows_quarantined"]
    )
    assert report["calls_with_outcome_rows"] == 2
    assert (report["rows_accepted"], report["rows_quarantined"], report["rows_excluded"]) == (
        4,
        1,
        1,
    )
    # Any row true -> true; every row false -> false; a call whose only row was quarantined
    # (24-3) is unknown, never false; no row at all with absent "false" -> false.
    assert flags(tmp_path, "officer_injured") == {
        "24-1": True,
        "24-2": False,
        "24-3": None,
        "24-6": False,
    }
    assert flags(tmp_path, "officer_assaulted") == {
        "24-1": True,
        "24-2": True,
        "24-3": None,
        "24-6": False,
    }
    calls = pd.read_parquet(tmp_path / "out" / "calls.parquet")
    # Only the flags cross the join.
    assert not {"CIRCUMSTANCE", "OFFICER", "OFFICER_INJURED", "INCIDENT_NUMBER"} & set(calls)
    assert list(calls.columns[:3]) == ["call_id", "received_at", "call_type"]

    unmatched = pd.read_csv(tmp_path / "out" / "outcomes_unmatched.csv", dtype=str)
    assert unmatched["INCIDENT_NUMBER"].tolist() == ["24-4", "24-5", "23-999"]
    assert unmatched["_row"].tolist() == ["6", "7", "8"]
    assert unmatched["_reason"].tolist() == [
        "no accepted call with INCIDENT_NO '24-4' (call quarantined)",
        "no accepted call with INCIDENT_NO '24-5' (row excluded)",
        "no accepted call with INCIDENT_NO '23-999' (not in the export)",
    ]
    assert "CIRCUMSTANCE" not in unmatched.columns
    oq = pd.read_csv(tmp_path / "out" / "outcomes_quarantine.csv", dtype=str)
    assert oq["_row"].tolist() == ["5", "9"]
    assert (
        oq["_reason"]
        .tolist()[0]
        .startswith("officer_injured: OFFICER_INJURED value 'Maybe' has no recode")
    )
    assert oq["_reason"].tolist()[1] == "outcomes.key: INCIDENT_NUMBER is empty"
    saved = json.loads((tmp_path / "out" / "ingest_report.json").read_text())
    assert saved["outcome_rows_unmatched"] == 3


def test_absent_unknown_leaves_calls_without_rows_unknown(tmp_path: Path) -> None:
    run(tmp_path, absent="unknown")
    assert flags(tmp_path, "officer_injured")["24-6"] is None
    assert flags(tmp_path, "officer_injured")["24-2"] is False


def test_call_key_other_than_call_id(tmp_path: Path) -> None:
    cad = "CALL,CASE_NO,T,TYPE\nc1,R-1,2024-03-01T10:00,X\nc2,R-2,2024-03-01T10:01,X\n"
    (tmp_path / "cad.csv").write_text(cad, encoding="utf-8")
    (tmp_path / "o.csv").write_text("RPT;INJ\nR-2;y\nR-2;n\n", encoding="utf-8")
    (tmp_path / "m.yaml").write_text(
        "fields: {call_id: CALL, received_at: T, call_type: TYPE}\n"
        "outcomes:\n  file: o.csv\n  delimiter: ';'\n  key: RPT\n  call_key: CASE_NO\n"
        "  absent: unknown\n  fields: {officer_injured: INJ}\n",
        encoding="utf-8",
    )
    report = ingest_file(tmp_path / "cad.csv", tmp_path / "out", tmp_path / "m.yaml")
    assert report["outcome_rows_matched"] == 2
    assert flags(tmp_path, "officer_injured") == {"c1": None, "c2": True}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda m: m.replace(
                "  address: ADDRESS\n", "  address: ADDRESS\n  officer_injured: X\n"
            ),
            "outcomes.fields.officer_injured: also mapped under fields.officer_injured",
        ),
        (lambda m: m.replace('  absent: "%s"\n', ""), 'outcomes.absent: required: "false"'),
        (lambda m: m.replace('"%s"', "maybe"), "outcomes.absent"),
        (
            lambda m: m.replace("officer_assaulted: {value", "narrative: {value"),
            "outcomes.fields.narrative: only officer_assaulted and officer_injured",
        ),
        (
            lambda m: m.replace('split: "|"', 'split: "|", true_when: {equals: [a]}'),
            "use either values or true_when/false_when",
        ),
        (lambda m: m.replace("  key: INCIDENT_NUMBER\n", ""), "outcomes.key: required key"),
    ],
)
def test_broken_outcome_blocks_are_one_line(tmp_path: Path, edit, message: str) -> None:
    (tmp_path / "m.yaml").write_text(edit(MAPPING).replace("%s", "false"), encoding="utf-8")
    with pytest.raises(UserError) as err:
        load_mapping(tmp_path / "m.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda m: m.replace("key: INCIDENT_NUMBER", "key: INCIDENT_NUM"),
            "outcomes.key: column 'INCIDENT_NUM' not in",
        ),
        (
            lambda m: m.replace("column: OFFICER_INJURED", "column: INJ"),
            "outcomes.fields.officer_injured: column 'INJ' not in",
        ),
        (lambda m: m.replace("file: harm.csv", "file: nope.csv"), "outcomes.file:"),
        (
            lambda m: m.replace("  absent:", "  call_key: INCIDENT\n  absent:"),
            "outcomes.call_key: column 'INCIDENT' not in the export",
        ),
    ],
)
def test_outcome_file_problems_are_one_line_and_write_nothing(
    tmp_path: Path, edit, message: str
) -> None:
    with pytest.raises(UserError) as err:
        run(tmp_path, mapping=edit(MAPPING))
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_cli_json_prints_the_outcome_keys(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from risk_model.cli import app

    run(tmp_path)  # writes the inputs
    result = CliRunner().invoke(
        app,
        [
            "ingest",
            "--input",
            str(tmp_path / "cad.csv"),
            "--mapping",
            str(tmp_path / "m.yaml"),
            "--out",
            str(tmp_path / "out2"),
            "--json",
            "--allow-drops",  # 1 of 6 rows is quarantined: more than 1%
        ],
    )
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout.strip().splitlines()[-1])
    for key in (
        "rows_excluded",
        "excluded_by_rule",
        "rows_not_premise",
        "outcome_rows_in",
        "outcome_rows_matched",
        "outcome_rows_unmatched",
        "outcome_rows_quarantined",
        "calls_with_outcome_rows",
    ):
        assert key in last, key
    assert last["outcome_rows_in"] == 9


def test_parquet_outcome_file_and_a_key_shared_by_two_calls(tmp_path: Path) -> None:
    cad = "CALL,CASE_NO,T,TYPE\nc1,R-1,2024-03-01T10:00,X\nc2,R-1,2024-03-01T10:01,X\n"
    (tmp_path / "cad.csv").write_text(cad, encoding="utf-8")
    pd.DataFrame({"RPT": ["R-1"], "INJ": [True]}).to_parquet(tmp_path / "o.parquet")
    (tmp_path / "m.yaml").write_text(
        "fields: {call_id: CALL, received_at: T, call_type: TYPE}\n"
        "outcomes: {file: o.parquet, key: RPT, call_key: CASE_NO, absent: 'false', "
        "fields: {officer_injured: INJ}}\n",
        encoding="utf-8",
    )
    report = ingest_file(tmp_path / "cad.csv", tmp_path / "out", tmp_path / "m.yaml")
    assert flags(tmp_path, "officer_injured") == {"c1": True, "c2": True}
    assert report["calls_with_outcome_rows"] == 2
    assert any("shared by several accepted calls" in w for w in report["warnings"])
