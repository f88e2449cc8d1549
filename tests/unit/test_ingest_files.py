"""Several files of one agency (SPEC §1): a folder or a glob, headers matched after normalising
whitespace, underscores and case, every file accounted for."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.errors import UserError
from risk_model.ingest.draft import read_sample
from risk_model.ingest.files import export_paths, header_key
from risk_model.ingest.run import ingest_file

MAPPING = """
fields:
  call_id: INCIDENT_NO
  received_at: CALL_TIME
  call_type: NATURE
  officer_injured: {column: OFFICER_INJURY, values: {"Yes": true, "No": false}}
"""
YEARS = {
    # The mapping's spelling.
    "2022.csv": "INCIDENT_NO,CALL_TIME,NATURE,OFFICER_INJURY\n"
    "22-1,2022-05-01T10:00,THEFT,No\n"
    "22-2,2022-06-01T11:00,FIGHT,Yes\n",
    # Drifted headers: a double space, a leading space, lower case.
    "2023.csv": "Incident  No, CALL_TIME,nature,OFFICER  INJURY\n"
    "23-1,2023-05-01T10:00,THEFT,No\n"
    "23-2,not a time,FIGHT,Yes\n"
    "23-3,2023-07-01T12:00,ASSAULT,No\n",
    "README.md": "not an export\n",
}


def write_years(folder: Path, files: dict[str, str] = YEARS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder.parent / "m.yaml").write_text(MAPPING, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("OFFICER_INJURY", "OFFICER  INJURY", True),
        ("OFFICER_INJURY", " OFFICER_INJURY ", True),
        ("OFFICER_INJURY", "officer injury", True),
        ("OFFICER_INJURY", "Officer__Injury", True),
        ("OFFICER_INJURY", "OFFICERINJURY", False),  # a separator is not nothing
        ("CALL-TYPE", "CALL TYPE", False),  # only spaces and underscores are separators
    ],
)
def test_header_key(a: str, b: str, same: bool) -> None:
    assert (header_key(a) == header_key(b)) is same


@pytest.mark.parametrize("form", ["folder", "glob"])
def test_a_folder_or_glob_reads_every_file_and_accounts_for_each(
    tmp_path: Path, form: str
) -> None:
    folder = write_years(tmp_path / "exports")
    source = folder if form == "folder" else folder / "20*.csv"
    report = ingest_file(source, tmp_path / "out", tmp_path / "m.yaml")
    assert (report["rows_in"], report["rows_accepted"], report["rows_quarantined"]) == (5, 4, 1)
    files = {Path(f["path"]).name: f for f in report["files"]}
    assert list(files) == ["2022.csv", "2023.csv"]  # the README is not an export
    # A glob, like a folder, leaves other files alone.
    assert [p.name for p in export_paths(folder / "*")] == ["2022.csv", "2023.csv"]
    assert (files["2022.csv"]["rows_in"], files["2022.csv"]["rows_accepted"]) == (2, 2)
    assert files["2023.csv"]["rows_in"] == 3
    assert (files["2023.csv"]["rows_accepted"], files["2023.csv"]["rows_quarantined"]) == (2, 1)
    for key in ("rows_in", "rows_accepted", "rows_folded", "rows_quarantined", "rows_excluded"):
        assert sum(f[key] for f in report["files"]) == report[key], key
    calls = pd.read_parquet(report["out"])
    assert calls["call_id"].tolist() == ["22-1", "22-2", "23-1", "23-3"]
    assert calls["officer_injured"].tolist() == [False, True, False, False]
    # The quarantine names the file and the row in that file.
    q = pd.read_csv(report["quarantine"], dtype=str)
    assert q[["_file", "_row"]].values.tolist() == [["2023.csv", "2"]]
    assert q["_reason"].iloc[0].startswith("received_at: cannot parse")


def test_a_call_id_repeated_across_files_follows_the_same_rules(tmp_path: Path) -> None:
    years = {
        "a.csv": "INCIDENT_NO,CALL_TIME,NATURE,OFFICER_INJURY\n1,2022-12-31T23:00,X,Yes\n",
        "b.csv": "INCIDENT_NO,CALL_TIME,NATURE,OFFICER_INJURY\n1,2022-12-31T23:00,X,No\n",
    }
    folder = write_years(tmp_path / "e", years)
    with pytest.raises(UserError, match="1 call id\\(s\\) repeat with different outcomes"):
        ingest_file(folder, tmp_path / "out", tmp_path / "m.yaml")
    (tmp_path / "m.yaml").write_text("incident_rows: fold\n" + MAPPING, encoding="utf-8")
    report = ingest_file(folder, tmp_path / "out", tmp_path / "m.yaml")
    assert (report["rows_accepted"], report["rows_folded"]) == (1, 1)
    assert [f["rows_folded"] for f in report["files"]] == [0, 1]
    assert pd.read_parquet(report["out"])["officer_injured"].tolist() == [True]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"README.md": "x\n"}, "holds no export file"),
        (
            {"a.csv": "INCIDENT_NO,CALL_TIME,NATURE,NATURE_\n1,2022-01-01T10:00,X,Y\n"},
            "the columns 'NATURE' and 'NATURE_' are the same column",
        ),
    ],
)
def test_folder_problems_are_one_line(tmp_path: Path, files: dict, message: str) -> None:
    folder = write_years(tmp_path / "e", {**files, "b.csv": YEARS["2022.csv"]})
    if "holds no" in message:
        (folder / "b.csv").unlink()
    with pytest.raises(UserError, match=message):
        ingest_file(folder, tmp_path / "out", tmp_path / "m.yaml")
    with pytest.raises(UserError, match="matches no export file"):
        export_paths(tmp_path / "e" / "*.parquet")


def test_cli_and_draft_take_a_glob(tmp_path: Path) -> None:
    folder = write_years(tmp_path / "exports")
    result = CliRunner().invoke(
        app,
        [
            "ingest",
            "--input",
            str(folder / "*.csv"),
            "--mapping",
            str(tmp_path / "m.yaml"),
            "--out",
            str(tmp_path / "out"),
            "--json",
            "--allow-drops",  # 1 row of 5 has no readable time
        ],
    )
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert [f["rows_in"] for f in last["files"]] == [2, 3]
    # The draft reads the same files as one sample, the columns matched as ingest matches them.
    sample = read_sample(folder, 1000)
    assert list(sample.frame.columns) == ["INCIDENT_NO", "CALL_TIME", "NATURE", "OFFICER_INJURY"]
    assert sample.frame["INCIDENT_NO"].tolist() == ["22-1", "22-2", "23-1", "23-2", "23-3"]


def test_one_file_with_a_drifted_header_matches_the_mapping(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text(
        "incident_no,Call Time,NATURE,OFFICER  INJURY\n1,2022-01-01T10:00,X,Yes\n", "utf-8"
    )
    (tmp_path / "m.yaml").write_text(MAPPING, "utf-8")
    report = ingest_file(tmp_path / "x.csv", tmp_path / "out", tmp_path / "m.yaml")
    assert report["rows_accepted"] == 1
    assert pd.read_parquet(report["out"])["officer_injured"].tolist() == [True]
    # An exact name always wins over a normalised one; two normalised candidates are refused.
    (tmp_path / "y.csv").write_text(
        "INCIDENT_NO,CALL_TIME,NATURE,officer injury,OFFICER  INJURY\n1,2022-01-01T10:00,X,Y,N\n",
        "utf-8",
    )
    with pytest.raises(UserError, match="both match 'OFFICER_INJURY'"):
        ingest_file(tmp_path / "y.csv", tmp_path / "out2", tmp_path / "m.yaml")


def test_out_may_not_be_the_input_folder(tmp_path: Path) -> None:
    folder = write_years(tmp_path / "exports")
    with pytest.raises(UserError, match="is the input folder"):
        ingest_file(folder, folder, tmp_path / "m.yaml")
