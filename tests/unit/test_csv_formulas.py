"""Output CSVs neutralise formula cells (issue 22, N16): quarantine.csv and the other files
analysts open in a spreadsheet kept cells such as `=HYPERLINK(...)` as they came, so a row typed
into a CAD system could run as a formula on an analyst's machine. Such cells now start with a
`'` (the standard neutralisation); numbers written as text (`-3`, `+1.5`) are unchanged."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from risk_model.dataset import spreadsheet_safe
from risk_model.ingest.run import QUARANTINE_FILE, ingest_file


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-3", "-3"),
        ("+1.5", "+1.5"),
        ("-2.5e3", "-2.5e3"),
        ("1 MAIN ST", "1 MAIN ST"),
        ("a=b", "a=b"),
    ],
)
def test_a_formula_cell_is_neutralised_and_a_number_is_not(cell: str, written: str) -> None:
    frame = pd.DataFrame({"text": [cell], "number": [-3]})
    out = spreadsheet_safe(frame)
    assert out["text"].tolist() == [written]
    assert out["number"].tolist() == [-3]
    assert frame["text"].tolist() == [cell]  # the caller's frame is left alone


def test_quarantine_csv_neutralises_formula_cells(tmp_path: Path) -> None:
    export = tmp_path / "cad.csv"
    pd.DataFrame(
        {
            "call_id": ['=HYPERLINK("http://evil","open")', "C-2", "@C-3"],
            "received_at": ["not a time", "2025-03-01T10:00:00", "also not"],
            "call_type": ["DISTURBANCE", "=1+1", "-3"],
        }
    ).to_csv(export, index=False)
    report = ingest_file(export, tmp_path / "out")
    assert report["rows_quarantined"] == 2
    with (tmp_path / "out" / QUARANTINE_FILE).open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    ids = sorted(r["call_id"] for r in rows)
    assert ids == ['\'=HYPERLINK("http://evil","open")', "'@C-3"]
    assert {r["call_type"] for r in rows} == {"DISTURBANCE", "-3"}
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r")), row


def test_score_output_csv_neutralises_formula_cells(tmp_path: Path) -> None:
    from risk_model.batch.score import _write

    frame = pd.DataFrame({"call_id": ["=1+1", "C-2"], "risk_score": [0.5, -0.0]})
    _write(frame, tmp_path / "scored.csv")
    back = pd.read_csv(tmp_path / "scored.csv", dtype={"call_id": str})
    assert back["call_id"].tolist() == ["'=1+1", "C-2"]
    assert back["risk_score"].tolist() == [0.5, -0.0]
