"""Writing a simulated world to disk: the calls (Parquet marked simulated, or CSV), the truth side
file, and optionally the agency-shaped export of the same world (agency_export.py).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from risk_model.dataset import mark_simulated
from risk_model.errors import UserError
from risk_model.simulate.generate import (
    _drifted_tables,
    _to_pandas,
)
from risk_model.simulate.world import SimConfig

log = logging.getLogger(__name__)


def truth_path_for(out: Path) -> Path:
    """Where the truth side file of `out` goes: `<out without suffix>.truth.parquet`."""
    out = Path(out)
    return out.with_name(out.stem + ".truth.parquet")


def simulate_to_file(
    out: Path,
    calls: int,
    seed: int,
    start: str = "2025-01-01",
    days: int = 365,
    config: SimConfig | None = None,
    agency_export: Path | None = None,
    drift: str | None = None,
    drift_from: str | None = None,
) -> dict:
    """Writes `out` (.parquet or .csv by extension; anything else -> UserError) and the truth
    side file `<out without suffix>.truth.parquet`. Returns a JSON-able summary.

    With `agency_export`, the same world is also written there as an agency would hand it over
    (CAD export, officer-harm file, mapping: see simulate/agency_export.py); `out` and its
    truth file are unchanged by it."""
    t0 = time.perf_counter()
    out = Path(out)
    kind = out.suffix.lower()
    if kind not in (".parquet", ".csv"):
        raise UserError(f"--out must end in .parquet or .csv, got {out.name!r}")
    truth_out = truth_path_for(out)
    calls_table, truth_table = _drifted_tables(
        calls, seed, start, days, config or SimConfig(), drift, drift_from
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if kind == ".parquet":
            pq.write_table(mark_simulated(calls_table), out)
        else:
            _write_csv(calls_table, out)
        pq.write_table(truth_table, truth_out)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from exc
    n = calls_table.num_rows
    assaulted = calls_table["officer_assaulted"].to_numpy()
    injured = calls_table["officer_injured"].to_numpy()
    harmed = assaulted | injured
    agency = None
    if agency_export is not None:
        from risk_model.simulate.agency_export import write_agency_export

        agency = write_agency_export(
            Path(agency_export), _to_pandas(calls_table), _to_pandas(truth_table), seed=seed
        )
    seconds = time.perf_counter() - t0
    log.info("simulate: wrote %s and %s in %.1fs", out, truth_out, seconds)
    summary = {
        "out": str(out),
        "truth": str(truth_out),
        "calls": n,
        "seconds": round(seconds, 3),
        "assault_rate": float(assaulted.mean()),
        "injury_rate": float(injured.mean()),
        "harmed_rate": float(harmed.mean()),
        "positives": int(harmed.sum()),
    }
    if agency is not None:
        summary["agency_export"] = agency
    if drift:
        summary["drift"] = drift
    return summary


def _write_csv(table: pa.Table, out: Path) -> None:
    """CSV as SPEC §1 reads it: ISO 8601 times, true/false, unknown as an empty cell."""
    cols = []
    for name in table.column_names:
        col = table[name]
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(pc.cast(col, pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%S")
        cols.append(col)
    pacsv.write_csv(pa.table(dict(zip(table.column_names, cols, strict=True))), out)
