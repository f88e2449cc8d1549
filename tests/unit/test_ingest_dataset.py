"""`ingest --partition-by month|year`: calls.parquet as a hive-partitioned dataset folder, read by
every single-machine reader exactly as the single file is (issue 13's cluster path starts here)."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.dataset import (
    data_digest,
    load_calls,
    parquet_files,
    partition_columns,
    read_canonical_parquet,
    write_partitioned,
)
from risk_model.errors import UserError
from risk_model.ingest.run import ingest_file
from risk_model.simulate.files import simulate_to_file
from risk_model.training.pipeline import file_digest

runner = CliRunner()
CALLS = "calls.parquet"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 simulated calls over 120 days (January to April 2025) as an agency CSV."""
    path = tmp_path_factory.mktemp("export") / "cad.csv"
    simulate_to_file(path, calls=3_000, seed=3, start="2025-01-01", days=120)
    return path


def _months(frame: pd.DataFrame) -> set[str]:
    return set(frame["received_at"].dt.strftime("%Y-%m"))


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("call_id").reset_index(drop=True)


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_partitioned_output_holds_the_same_rows_and_schema_as_the_single_file(
    export: Path, tmp_path: Path
) -> None:
    single = ingest_file(export, tmp_path / "single")
    parted = ingest_file(export, tmp_path / "parted", partition_by="month")
    one = pd.read_parquet(tmp_path / "single" / "calls.parquet")
    folder = tmp_path / "parted" / "calls.parquet"
    assert folder.is_dir()

    # Read raw, the hive key comes back as a column: dropped, the rows are exactly the same set.
    raw = pd.read_parquet(folder)
    assert "month" in raw.columns
    pd.testing.assert_frame_equal(_by_id(raw.drop(columns="month")), _by_id(one))
    # The project's reader drops it itself: same columns, same dtypes, same (time) order.
    canon = read_canonical_parquet(folder)
    assert list(canon.columns) == list(one.columns)
    assert canon.dtypes.to_dict() == one.dtypes.to_dict()
    pd.testing.assert_frame_equal(canon, one)

    months = _months(one)
    assert months == {"2025-01", "2025-02", "2025-03", "2025-04"}
    folders = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert folders == [f"month={m}" for m in sorted(months)]
    assert parted["partitions"] == len(months) == 4
    assert "partitions" not in single
    assert parted["out"] == str(folder) and single["out"] == str(tmp_path / "single" / CALLS)
    assert partition_columns(folder) == ["month"]
    # Every other output is the same as without --partition-by.
    for name in ("quarantine.csv",):
        assert (tmp_path / "parted" / name).read_bytes() == (
            tmp_path / "single" / name
        ).read_bytes()
    same = {k for k in single if k not in ("seconds", "out", "quarantine", "report")}
    assert {k: parted[k] for k in same} == {k: single[k] for k in same}
    saved = json.loads((tmp_path / "parted" / "ingest_report.json").read_text())
    assert saved["partitions"] == 4


def test_partition_by_year_writes_one_folder_per_year(tmp_path: Path) -> None:
    export = tmp_path / "cad.csv"
    simulate_to_file(export, calls=1_500, seed=4, start="2024-11-15", days=90)
    report = ingest_file(export, tmp_path / "out", partition_by="year")
    folder = tmp_path / "out" / CALLS
    assert sorted(p.name for p in folder.iterdir()) == ["year=2024", "year=2025"]
    assert report["partitions"] == 2
    back = read_canonical_parquet(folder)
    assert "year" not in back.columns
    assert set(back["received_at"].dt.year) == {2024, 2025}
    assert len(back) == report["rows_accepted"]


def test_load_calls_reads_a_dataset_as_it_reads_the_file(export: Path, tmp_path: Path) -> None:
    ingest_file(export, tmp_path / "single")
    ingest_file(export, tmp_path / "parted", partition_by="month")
    for in_time_order in (True, False):
        a, rejected_a = load_calls(tmp_path / "single" / CALLS, in_time_order=in_time_order)
        b, rejected_b = load_calls(tmp_path / "parted" / CALLS, in_time_order=in_time_order)
        assert rejected_a == rejected_b == 0
        pd.testing.assert_frame_equal(_by_id(b), _by_id(a))
        assert list(b.columns) == list(a.columns) and "month" not in b.columns


def test_several_files_per_partition_read_back_in_order(export: Path, tmp_path: Path) -> None:
    ingest_file(export, tmp_path / "single")
    one = pd.read_parquet(tmp_path / "single" / CALLS)
    folder = tmp_path / "many"
    n = write_partitioned(one, folder, "month", rows_per_file=300)
    assert n == 4
    files = parquet_files(folder)
    assert len(files) > n  # ~750 calls a month in files of 300 rows
    rel = [f.relative_to(folder).as_posix() for f in files]
    assert rel == sorted(rel) and rel[0] == "month=2025-01/part-0.parquet"
    assert all(len(pd.read_parquet(f)) <= 300 for f in files)
    pd.testing.assert_frame_equal(read_canonical_parquet(folder), one)


def test_a_dataset_replaces_a_file_and_a_file_replaces_a_dataset(
    export: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    target = out / CALLS
    ingest_file(export, out)
    assert target.is_file()
    ingest_file(export, out, partition_by="month")
    assert target.is_dir() and len(parquet_files(target)) == 4
    ingest_file(export, out)
    assert target.is_file()
    pd.testing.assert_frame_equal(read_canonical_parquet(target), load_calls(target, False)[0])
    # Nothing is left beside the output: no temp or set-aside copy.
    assert sorted(p.name for p in out.iterdir()) == [
        "calls.parquet",
        "ingest_report.json",
        "quarantine.csv",
    ]


def test_a_new_dataset_never_mixes_with_a_stale_one(export: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    ingest_file(export, out, partition_by="month")
    stale = out / CALLS / "month=2025-04" / "part-0.parquet"
    assert stale.is_file()
    # A shorter export (January and February only) written over the four-month dataset.
    full = pd.read_csv(export, dtype=str, keep_default_na=False)
    short = tmp_path / "short.csv"
    full[full["received_at"] < "2025-03-01"].to_csv(short, index=False)
    report = ingest_file(short, out, partition_by="month")
    assert report["partitions"] == 2
    assert _files(out / CALLS) == ["month=2025-01/part-0.parquet", "month=2025-02/part-0.parquet"]
    assert len(read_canonical_parquet(out / CALLS)) == report["rows_accepted"]
    assert not any(p.name.startswith(".") for p in out.iterdir())


def test_an_empty_folder_is_one_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "calls.parquet"
    empty.mkdir()
    (empty / "notes.txt").write_text("not parquet")
    with pytest.raises(UserError, match=r"without any \.parquet file"):
        load_calls(empty)
    with pytest.raises(UserError, match=re.escape(str(empty))):
        read_canonical_parquet(empty)
    for argv in (
        ["train", "--data", str(empty)],
        ["load-history", "--data", str(empty), "--db", str(tmp_path / "h.db")],
    ):
        result = runner.invoke(app, argv)
        assert result.exit_code == 2, result.output
        assert result.output.strip().startswith("error:")
        assert len(result.output.strip().splitlines()) == 1
        assert "Traceback" not in result.output and str(empty) in result.output


def test_data_digest_is_stable_across_identical_ingests_and_sees_one_changed_row(
    export: Path, tmp_path: Path
) -> None:
    ingest_file(export, tmp_path / "a", partition_by="month")
    ingest_file(export, tmp_path / "b", partition_by="month")
    a, b = tmp_path / "a" / CALLS, tmp_path / "b" / CALLS
    assert _files(a) == _files(b)  # deterministic file names, no uuids
    assert file_digest(a) == file_digest(b)
    assert data_digest(a) == data_digest(b) and len(file_digest(a)) == 16

    edited = pd.read_csv(export, dtype=str, keep_default_na=False)
    edited.loc[1234, "call_type"] = (
        "ALARM" if edited.loc[1234, "call_type"] != "ALARM" else "THEFT"
    )
    changed = tmp_path / "changed.csv"
    edited.to_csv(changed, index=False)
    ingest_file(changed, tmp_path / "c", partition_by="month")
    assert file_digest(tmp_path / "c" / CALLS) != file_digest(a)
    # A file's digest is still the plain sha256 of its bytes (data_sha256 of runs before this).
    ingest_file(export, tmp_path / "single")
    import hashlib

    single = tmp_path / "single" / CALLS
    assert file_digest(single) == hashlib.sha256(single.read_bytes()).hexdigest()[:16]


def test_all_rows_quarantined_still_gives_a_readable_empty_dataset(tmp_path: Path) -> None:
    csv = tmp_path / "cad.csv"
    csv.write_text("call_id,received_at,call_type\nA,not a time,THEFT\nB,,ALARM\n")
    single = ingest_file(csv, tmp_path / "single")
    parted = ingest_file(csv, tmp_path / "parted", partition_by="month")
    assert single["rows_accepted"] == parted["rows_accepted"] == 0
    assert parted["partitions"] == 0
    back = read_canonical_parquet(tmp_path / "parted" / CALLS)
    one = pd.read_parquet(tmp_path / "single" / CALLS)
    assert len(back) == 0 and back.dtypes.to_dict() == one.dtypes.to_dict()


def test_a_column_named_like_the_partition_key_is_refused_before_writing(
    tmp_path: Path,
) -> None:
    csv = tmp_path / "cad.csv"
    csv.write_text("call_id,received_at,call_type,month\nA,2025-01-01T10:00,THEFT,JAN\n")
    with pytest.raises(UserError, match="already have a column named 'month'"):
        ingest_file(csv, tmp_path / "out", partition_by="month")
    assert not (tmp_path / "out").exists()
    with pytest.raises(UserError, match="--partition-by 'week'"):
        ingest_file(csv, tmp_path / "out", partition_by="week")


def test_an_input_inside_the_output_dataset_is_refused(export: Path, tmp_path: Path) -> None:
    ingest_file(export, tmp_path / "out", partition_by="month")
    inner = tmp_path / "out" / CALLS / "month=2025-01" / "part-0.parquet"
    with pytest.raises(UserError, match="would overwrite the input"):
        ingest_file(inner, tmp_path / "out")
    assert inner.is_file()


def test_the_progress_line_says_how_many_partitions(
    export: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="risk_model"):
        ingest_file(export, tmp_path / "out", partition_by="month")
    assert any("wrote 4 partition(s) by month" in r.getMessage() for r in caplog.records)


def test_cli_ingest_partition_by_month_json_then_load_history(
    export: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from risk_model.cli import app; app()",
            "ingest",
            "--input",
            str(export),
            "--out",
            str(out),
            "--partition-by",
            "month",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["out"] == str(out / CALLS) and summary["partitions"] == 4
    assert "wrote 4 partition(s) by month" in proc.stderr
    assert (out / CALLS / "month=2025-03" / "part-0.parquet").is_file()

    result = runner.invoke(
        app, ["load-history", "--data", str(out / CALLS), "--db", str(tmp_path / "h.db"), "--json"]
    )
    assert result.exit_code == 0, result.output
    loaded = json.loads(result.output.strip().splitlines()[-1])
    assert loaded["inserted"] == summary["rows_accepted"] and loaded["rows_rejected"] == 0
