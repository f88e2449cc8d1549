"""Ingest contract on files: a dirty export, file formats and encodings, outputs, the CLI."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from risk_model.errors import UserError
from risk_model.ingest.run import ingest_file, read_export
from risk_model.schema import CANONICAL_COLUMNS, validate_frame

HEADER = [*CANONICAL_COLUMNS, "officer_injured", "disposition"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def valid_rows(n: int) -> list[dict[str, str]]:
    """Canonical rows as an agency would export them, all valid, all distinct call_ids."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(n):
        t = pd.Timestamp("2024-01-01") + pd.Timedelta(minutes=int(rng.integers(0, 500_000)))
        has_xy = i % 4 != 0
        rows.append(
            {
                "call_id": f"24-{i:05d}",
                "received_at": t.isoformat(),
                "call_type": ["DISTURBANCE", "DOMESTIC", "THEFT", "ALARM"][i % 4],
                "priority": str(1 + i % 5) if i % 7 else "",
                "source": "911",
                "address": f"{100 + i} MAIN ST",
                "latitude": f"{32.7 + i / 1000:.6f}" if has_xy else "",
                "longitude": f"{-96.8 - i / 1000:.6f}" if has_xy else "",
                "beat": str(100 + i % 9),
                "district": "CENTRAL",
                "premise_type": "residence",
                "weapon_reported": ["true", "false", ""][i % 3],
                "domestic": ["Y", "n", ""][i % 3],
                "mental_health": "",
                "intoxication": "0",
                "in_progress": "1",
                # Commas, quotes and a line break inside quoted fields.
                "narrative": 'RP ADV "MALE, 30S" YELLING\nSUBJ LEFT' if i == 3 else f"NOTE {i}",
                "officer_injured": "true" if i % 10 == 0 else "false",
                "disposition": "REPORT",
            }
        )
    return rows


CORRUPTIONS = [
    ("received_at", "2024-13-45 25:00", "received_at: cannot parse as an ISO 8601 time"),
    ("weapon_reported", "maybe", "weapon_reported: not a boolean"),
    ("call_id", "", "call_id: missing"),
    ("latitude", "132.5", "latitude: outside -90..90"),
    ("priority", "0", "priority: outside 1..9"),
    (None, None, "call_id: duplicate of an earlier row"),
]


@pytest.fixture
def dirty_export(tmp_path: Path) -> tuple[Path, list[dict], list[tuple[int, str]]]:
    """BOM + CRLF CSV: valid rows, a repeated header in the middle, then corrupted copies.

    Returns the file, the valid rows, and (data row number, expected reason) for each bad row.
    """
    originals = valid_rows(40)
    lines: list[list[str]] = [[r[c] for c in HEADER] for r in originals[:20]]
    lines.append(list(HEADER))  # repeated header, mid-file
    lines += [[r[c] for c in HEADER] for r in originals[20:]]
    expected_bad: list[tuple[int, str]] = []
    for k, (field, value, reason) in enumerate(CORRUPTIONS):
        for j in (k, k + 10, k + 25):  # corrupted copies of three different valid rows
            bad = dict(originals[j])
            if field is not None:
                bad[field] = value
            bad["longitude"] = bad["longitude"] if field != "latitude" else "-96.8"
            lines.append([bad[c] for c in HEADER])
            expected_bad.append((len(lines), reason))
    path = tmp_path / "export.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(HEADER)
        writer.writerows(lines)
    return path, originals, expected_bad


def test_dirty_export_exact_accounting_and_reasons(tmp_path: Path, dirty_export) -> None:
    path, originals, expected_bad = dirty_export
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    before = sha256(path)

    report = ingest_file(path, tmp_path / "out")

    assert sha256(path) == before  # the raw export is never modified
    assert report["header_rows_skipped"] == 1
    assert report["rows_in"] == len(originals) + len(expected_bad)
    assert report["rows_accepted"] == len(originals)
    assert report["rows_quarantined"] == len(expected_bad)
    assert report["rows_in"] == report["rows_accepted"] + report["rows_quarantined"]

    calls = pd.read_parquet(report["out"])
    assert calls["call_id"].tolist() == [r["call_id"] for r in originals]
    # Every original arrives with the values the schema reads from it.
    expected = validate_frame(pd.DataFrame(originals)).accepted
    pd.testing.assert_frame_equal(calls, expected, check_dtype=False)
    assert calls["narrative"].iloc[3] == 'RP ADV "MALE, 30S" YELLING\nSUBJ LEFT'
    assert str(calls["received_at"].dtype) == "datetime64[us]"
    assert str(calls["weapon_reported"].dtype) == "boolean"
    assert calls["disposition"].eq("REPORT").all()  # extra column carried through

    q = pd.read_csv(report["quarantine"], dtype=str, keep_default_na=False)
    assert list(q.columns[:2]) == ["_row", "_reason"]
    assert list(q.columns[2:]) == HEADER  # raw values of every column (no mapping)
    got = [(int(r), reason) for r, reason in zip(q["_row"], q["_reason"], strict=True)]
    assert len(got) == len(expected_bad)
    for (row, reason), (want_row, want_reason) in zip(got, expected_bad, strict=True):
        assert row == want_row
        assert reason.startswith(want_reason), (row, reason, want_reason)
    # _row is the data-row number in the file (the repeated header counts as a row).
    assert q.loc[q["_reason"].str.startswith("latitude"), "latitude"].eq("132.5").all()
    assert report["reasons"]["call_id: duplicate of an earlier row"] == 3

    on_disk = json.loads((tmp_path / "out" / "ingest_report.json").read_text())
    assert on_disk == report


def test_accepted_output_reingests_unchanged(tmp_path: Path, dirty_export) -> None:
    path, _, _ = dirty_export
    first = ingest_file(path, tmp_path / "a")
    again = ingest_file(Path(first["out"]), tmp_path / "b")
    assert again["rows_quarantined"] == 0
    pd.testing.assert_frame_equal(
        pd.read_parquet(first["out"]), pd.read_parquet(again["out"]), check_dtype=False
    )


def test_a_quarantine_file_can_be_fixed_and_fed_back(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text(
        "call_id,received_at,call_type\na,2024-01-01T10:00,X\nb,bad,X\nc,,X\n", encoding="utf-8"
    )
    first = ingest_file(src, tmp_path / "one")
    q = pd.read_csv(first["quarantine"], dtype=str, keep_default_na=False)
    q.loc[q["call_id"] == "b", "received_at"] = "2024-01-02T09:30"  # the analyst's fix
    fixed = tmp_path / "fixed.csv"
    q.to_csv(fixed, index=False)
    again = ingest_file(fixed, tmp_path / "two")
    assert (again["rows_accepted"], again["rows_quarantined"]) == (1, 1)
    calls = pd.read_parquet(again["out"])
    assert calls["call_id"].tolist() == ["b"]
    assert calls["_earlier_row"].tolist() == ["2"]  # the old _row/_reason stay, renamed
    q2 = pd.read_csv(again["quarantine"], dtype=str, keep_default_na=False)
    assert list(q2.columns[:4]) == ["_row", "_reason", "_earlier_row", "_earlier_reason"]


def test_rows_rejected_by_the_mapping_never_count_as_first(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text(
        "ID,D,T,TYPE\n"
        "A,31/31/2016,4:14:00 AM,Arrest\n"  # bad date: rejected by the mapping step
        "A,9/3/2016,5:00:00 AM,Arrest\n"  # first valid A: accepted
        "A,9/3/2016,6:00:00 AM,Arrest\n",  # later A: duplicate
        encoding="utf-8",
    )
    m = tmp_path / "m.yaml"
    m.write_text(
        "fields:\n  call_id: ID\n  call_type: TYPE\n  received_at: {date: D, time: T, "
        "date_formats: ['%m/%d/%Y'], time_formats: ['%I:%M:%S %p']}\n",
        encoding="utf-8",
    )
    report = ingest_file(src, tmp_path / "out", m)
    calls = pd.read_parquet(report["out"])
    assert calls["received_at"].tolist() == [pd.Timestamp("2016-09-03 05:00")]
    q = pd.read_csv(report["quarantine"], dtype=str)
    assert q["_row"].tolist() == ["1", "3"]
    assert q["_reason"].tolist() == [
        "received_at: D does not match any of date_formats ['%m/%d/%Y']",
        "call_id: duplicate of an earlier row (column ID)",
    ]


# --------------------------------------------------------------------------- reading files


def test_read_export_keeps_every_cell_as_written(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(
        b"\xef\xbb\xbf call_id ,received_at,call_type\r\n"
        b'007,NA,"a, ""b"""\r\n'
        b"1e3,null, padded \r\n"
    )
    df = read_export(path)
    assert list(df.columns) == ["call_id", "received_at", "call_type"]
    assert df.to_dict("list") == {
        "call_id": ["007", "1e3"],
        "received_at": ["NA", "null"],
        "call_type": ['a, "b"', " padded "],
    }


def test_tsv_gzip_and_cp1252(tmp_path: Path) -> None:
    tsv = tmp_path / "x.tsv"
    tsv.write_text("call_id\treceived_at\tcall_type\na\t2024-01-01T00:00\tX, Y\n", "utf-8")
    assert read_export(tsv)["call_type"].tolist() == ["X, Y"]
    gz = tmp_path / "x.csv.gz"
    gz.write_bytes(gzip.compress(b"call_id,received_at,call_type\na,2024-01-01,X\n"))
    assert read_export(gz)["call_id"].tolist() == ["a"]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("call_id,received_at,call_type\na,2024-01-01,CAFÉ\n".encode("cp1252"))
    with pytest.raises(UserError, match=r"not utf-8 text .* set `encoding:` in the mapping"):
        read_export(latin)
    assert read_export(latin, encoding="cp1252")["call_type"].tolist() == ["CAFÉ"]


def test_parquet_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pd.DataFrame(
        {
            "call_id": [1, 2],
            "received_at": pd.to_datetime(["2024-01-01 10:00", None]),
            "call_type": ["A", None],
            "latitude": [32.5, np.nan],
            "longitude": [-96.75, np.nan],
            "domestic": [True, False],
        }
    ).to_parquet(path)
    df = read_export(path)
    assert df["call_id"].tolist() == ["1", "2"]
    assert df["call_type"].tolist() == ["A", ""]
    assert df["latitude"].tolist() == ["32.5", ""]
    assert df["domestic"].tolist() == ["true", "false"]
    report = ingest_file(path, tmp_path / "out")
    assert (report["rows_accepted"], report["rows_quarantined"]) == (1, 1)
    assert report["reasons"] == {"received_at: missing": 1}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "input file not found"),
        ("x.xlsx", b"PK\x03\x04", "unknown file type '.xlsx'"),
        ("x", b"a,b\n", "unknown file type '(no extension)'"),
        ("empty.csv", b"", "the file is empty"),
        ("bom.csv", b"\xef\xbb\xbf\r\n", "the file is empty"),
        ("dupe.csv", b"call_id,a,a\n1,2,3\n", "the header names 'a' more than once"),
        (
            "wide.csv",
            b"call_id,b\n1,2\n3,4,5\n",
            "not a well-formed CSV: Expected 2 fields in line 3",
        ),
        ("quote.csv", b'call_id,b\n1,"open\n', "not a well-formed CSV"),
        ("bad.parquet", b"not parquet", "not a readable Parquet file"),
    ],
)
def test_unreadable_inputs_are_user_errors(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError) as err:
        ingest_file(path, tmp_path / "out")
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()  # a failed run writes nothing


def test_header_only_and_output_guards(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("call_id,received_at,call_type\n", encoding="utf-8")
    with pytest.raises(UserError, match="has a header but no data rows"):
        ingest_file(src, tmp_path / "out")
    src.write_text("call_id,received_at,call_type\na,2024-01-01,X\n", encoding="utf-8")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="must be a directory"):
        ingest_file(src, tmp_path / "file")
    calls = tmp_path / "calls.parquet"
    pd.DataFrame({"call_id": ["a"], "received_at": ["2024-01-01"], "call_type": ["X"]}).to_parquet(
        calls
    )
    with pytest.raises(UserError, match="would overwrite the input"):
        ingest_file(calls, tmp_path)


def test_protected_columns_without_mapping_are_flagged(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("call_id,received_at,call_type,subject_race\na,2024-01-01,X,W\n", "utf-8")
    report = ingest_file(src, tmp_path / "out")
    assert any("subject_race" in w for w in report["warnings"])


# --------------------------------------------------------------------------- the CLI


def risk_model_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "risk-model"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "risk_model.cli"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*risk_model_cmd(), "ingest", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_json_last_line(tmp_path: Path, dirty_export) -> None:
    path, originals, expected_bad = dirty_export
    # The dirty export quarantines far more than 1% of its rows: refused in one line naming
    # the quarantine as the cause (SPEC §3), unless the analyst says go on.
    refused = run_cli("--input", str(path), "--out", str(tmp_path / "refused"), "--json")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "dropped: quarantined, most often for" in errors[0], errors
    proc = run_cli("--input", str(path), "--out", str(tmp_path / "out"), "--json", "--allow-drops")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("rows_in", "rows_accepted", "rows_quarantined", "out", "quarantine", "reasons"):
        assert key in result
    assert result["rows_accepted"] == len(originals)
    assert result["rows_quarantined"] == len(expected_bad)
    assert "ingest:" in proc.stderr  # progress goes to stderr


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing_input", "error: input file not found"),
        ("broken_mapping", "unknown key 'colum' in fields.call_id (did you mean 'column'?)"),
        ("missing_column", "mapping field call_type: column 'CALL_TYP' not in the export"),
    ],
)
def test_cli_errors_are_one_line_without_traceback(
    tmp_path: Path, case: str, message: str
) -> None:
    src = tmp_path / "x.csv"
    src.write_text("ID,T,CALL_TYPE\na,2024-01-01,X\n", encoding="utf-8")
    mapping = tmp_path / "m.yaml"
    fields = {
        "broken_mapping": "  call_id: {colum: ID}\n  received_at: T\n  call_type: CALL_TYPE\n",
        "missing_column": "  call_id: ID\n  received_at: T\n  call_type: CALL_TYP\n",
    }.get(case, "  call_id: ID\n  received_at: T\n  call_type: CALL_TYPE\n")
    mapping.write_text("fields:\n" + fields, encoding="utf-8")
    input_path = tmp_path / "nope.csv" if case == "missing_input" else src
    proc = run_cli(
        "--input",
        str(input_path),
        "--mapping",
        str(mapping),
        "--out",
        str(tmp_path / "o"),
        "--json",
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    if case == "missing_column":
        assert "(did you mean 'CALL_TYPE'?)" in errors[0]
    assert not (tmp_path / "o").exists()
