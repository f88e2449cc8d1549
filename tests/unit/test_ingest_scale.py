"""Ingest stays linear in the number of columns (issue 14 defect 8).

A 1 MB CSV with a 100,000-column header ran past 500 s: header de-duplication counted each name
against every other (`list.count` per name), and every carried column was inserted into the
validated frame one at a time, each insert copying the column index. The checks here count work
instead of timing it, so a busy machine cannot make them flaky.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from pathlib import Path

import pandas as pd
import pytest

from risk_model.errors import UserError
from risk_model.ingest.run import _unique_names, ingest_file, read_export


def wide_csv(path: Path, n_cols: int, n_rows: int = 3) -> Path:
    names = ["call_id", "received_at", "call_type"] + [f"X{i}" for i in range(n_cols - 3)]
    rows = [
        ",".join([f"c{r}", f"2024-01-01T10:0{r}", "X"] + ["v"] * (n_cols - 3))
        for r in range(n_rows)
    ]
    path.write_text(",".join(names) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def calls_made(fn) -> int:
    prof = cProfile.Profile()
    prof.runcall(fn)
    return pstats.Stats(prof).total_calls


def test_header_dedup_is_linear() -> None:
    # 60,000 names: counting each against all was 3.6e9 comparisons (tens of seconds); a Counter
    # is one pass (milliseconds). The bound leaves a margin of over 100x for a busy machine.
    names = [f"C{i}" for i in range(60_000)]
    started = time.perf_counter()
    assert _unique_names(names, Path("x.csv")) == names
    assert time.perf_counter() - started < 2.0
    with pytest.raises(UserError, match="'C7' more than once"):
        _unique_names([*names[:10], "C7"], Path("x.csv"))


@pytest.mark.parametrize("with_mapping", [False, True])
def test_work_grows_linearly_with_columns(tmp_path: Path, with_mapping: bool) -> None:
    mapping = None
    if with_mapping:
        mapping = tmp_path / "m.yaml"
        mapping.write_text(
            "fields: {call_id: call_id, received_at: received_at, call_type: call_type}\n",
            encoding="utf-8",
        )
    small = wide_csv(tmp_path / "small.csv", 1_000)
    large = wide_csv(tmp_path / "large.csv", 4_000)
    ingest_file(small, tmp_path / "warm", mapping)  # imports and caches out of the count
    n_small = calls_made(lambda: ingest_file(small, tmp_path / "s", mapping))
    n_large = calls_made(lambda: ingest_file(large, tmp_path / "l", mapping))
    # 4x the columns: linear work is ~4x the calls; the quadratic version made ~10x.
    assert n_large < 5.5 * n_small, (n_small, n_large)


def test_twenty_thousand_columns_ingest(tmp_path: Path) -> None:
    src = wide_csv(tmp_path / "wide.csv", 20_000)
    report = ingest_file(src, tmp_path / "out")
    assert (report["rows_in"], report["rows_accepted"]) == (3, 3)
    calls = pd.read_parquet(tmp_path / "out" / "calls.parquet")
    assert calls.shape[1] >= 20_000
    assert calls["X19996"].tolist() == ["v", "v", "v"]


def test_reader_gives_one_text_block(tmp_path: Path) -> None:
    raw = read_export(wide_csv(tmp_path / "w.csv", 500))
    assert raw._mgr.nblocks == 1
    assert raw.iloc[0, 3] == "v"
