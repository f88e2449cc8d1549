"""Canonical calls as one Parquet file or as a Parquet dataset folder (hive-partitioned).

`risk-model ingest --partition-by month|year` writes the accepted calls as a folder
`calls.parquet/month=YYYY-MM/part-N.parquet` so a cluster can read one file per task; every
single-machine reader (train, score, load-history) reads the folder as it reads the file, through
`read_canonical_parquet`. The partition key is derived from `received_at`, never data: readers
drop it, so a dataset reads back with exactly the single file's columns and dtypes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pandas as pd
import pyarrow as pa

from risk_model.errors import UserError, check_drops
from risk_model.schema import validate_frame

log = logging.getLogger(__name__)

# --partition-by choices and the received_at format each partition key is written with.
PARTITION_FORMATS: dict[str, str] = {"month": "%Y-%m", "year": "%Y"}
PARTITION_CHOICES: tuple[str, ...] = ("none", *PARTITION_FORMATS)
# Keys ingest derives from received_at: dropped on read (they are not columns of the calls).
DERIVED_KEYS = frozenset(PARTITION_FORMATS)
# Enough rows per file for fast scans, small enough that one file fits a cluster task's memory.
ROWS_PER_FILE = 1_000_000
T = TypeVar("T")
# File names pyarrow ignores in a dataset folder (its own defaults): temp and metadata files.
_IGNORED_PREFIXES = (".", "_")


def _ignored(rel: Path) -> bool:
    return any(part.startswith(_IGNORED_PREFIXES) for part in rel.parts)


def parquet_files(path: Path) -> list[Path]:
    """The Parquet files behind `path`: the file itself, or a folder's .parquet files sorted by
    relative path (so month=2025-01 comes before month=2025-02, and the order is stable).

    Hidden and underscore files (temp files, `_SUCCESS`, `_metadata`) are left out, as pyarrow
    does. A folder without any .parquet file gives an empty list; the caller says what is wrong.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    found = [
        p for p in path.rglob("*.parquet") if p.is_file() and not _ignored(p.relative_to(path))
    ]
    return sorted(found, key=lambda p: p.relative_to(path).as_posix())


def _hive_keys(rel: Path) -> list[str]:
    return [part.split("=", 1)[0] for part in rel.parent.parts if "=" in part]


def partition_columns(path: Path) -> list[str]:
    """The hive partition keys of a dataset folder (`month` for `month=2025-01/...`), outermost
    first; [] for a single file or an unpartitioned folder."""
    path = Path(path)
    if not path.is_dir():
        return []
    keys: list[str] = []
    for f in parquet_files(path):
        for key in _hive_keys(f.relative_to(path)):
            if key not in keys:
                keys.append(key)
    return keys


def read_canonical_parquet(path: Path) -> pd.DataFrame:
    """Calls from a Parquet file or dataset folder, with the file's own columns and dtypes.

    A folder's files are read in `parquet_files` order with their schemas unified; hive keys that
    ingest derives (month, year) are dropped, other hive keys (a dataset partitioned by a real
    column such as district) come back as text columns for the schema check to type.
    """
    path = Path(path)
    if path.is_file():
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise UserError(f"cannot read {path}: {exc}") from None
    if not path.is_dir():
        raise UserError(f"data file not found: {path}")
    files = parquet_files(path)
    if not files:
        raise UserError(f"{path} is a folder without any .parquet file; give a file or a dataset")
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    keys = partition_columns(path)
    try:
        schemas = [pq.read_schema(f) for f in files]
        clash = [k for k in keys if k in schemas[0].names]
        if clash:
            raise UserError(
                f"{path}: column {clash[0]!r} is both in the files and a partition folder name"
            )
        partitioning = ds.partitioning(pa.schema([(k, pa.string()) for k in keys]), flavor="hive")
        schema = pa.unify_schemas([*schemas, partitioning.schema])
        dataset = ds.dataset(
            [str(f) for f in files],
            schema=schema,
            format="parquet",
            partitioning=partitioning,
            partition_base_dir=str(path),
        )
        table = dataset.to_table()
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise UserError(f"cannot read the dataset {path}: {exc}") from None
    table = table.drop_columns([k for k in keys if k in DERIVED_KEYS])
    return table.to_pandas()


def data_digest(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's Parquet files (relative path, size and bytes of
    each, in `parquet_files` order), read in 1 MB blocks so a large dataset is never in memory.

    Two identical ingests give the same digest (ingest names its files deterministically); a
    changed row, or a file added, removed or renamed, changes it.
    """
    path = Path(path)
    h = hashlib.sha256()

    def stream(f: Path) -> None:
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)

    if not path.is_dir():
        stream(path)
        return h.hexdigest()
    files = parquet_files(path)
    if not files:
        raise UserError(f"{path} is a folder without any .parquet file; give a file or a dataset")
    for f in files:
        h.update(f.relative_to(path).as_posix().encode("utf-8") + b"\0")
        h.update(f.stat().st_size.to_bytes(8, "big"))
        stream(f)
    return h.hexdigest()


def replace_path(target: Path, write: Callable[[Path], T]) -> T:
    """Writes a file or folder beside `target` (via `write(tmp)`), swaps it in, returns what
    `write` returned.

    The old file or folder, of either kind, is moved aside first and removed only after the new
    one is in place, so a stale dataset never mixes old and new files and a failed write leaves
    the old output untouched.
    """
    tmp = target.with_name(f".{target.name}.tmp")
    old = target.with_name(f".{target.name}.old")
    for leftover in (tmp, old):  # from a run that was killed half-way
        _remove(leftover)
    try:
        result = write(tmp)
        # rename() swaps a file for a file in one step, but not a folder or a file for a folder.
        aside = target.is_dir() or (tmp.is_dir() and target.exists())
        if aside:
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except OSError:
            if aside:
                os.replace(old, target)
            raise
    finally:
        _remove(tmp)
        _remove(old)
    return result


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink(missing_ok=True)


def write_partitioned(
    frame: pd.DataFrame, folder: Path, by: str, rows_per_file: int = ROWS_PER_FILE
) -> int:
    """Writes `frame` as a hive-partitioned dataset folder (`by=VALUE/part-N.parquet`) with the
    key taken from received_at; returns the number of partition folders.

    The files are named `part-{i}.parquet` and rows keep their order, so the same calls always
    give the same bytes (and the same data digest). An empty frame gives one unpartitioned file
    that carries the schema, so the folder still reads back as zero calls.
    """
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    if by not in PARTITION_FORMATS:
        raise UserError(f"--partition-by {by!r}: choose one of {', '.join(PARTITION_CHOICES)}")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    folder.mkdir(parents=True)
    if table.num_rows == 0:
        pq.write_table(table, folder / "part-0.parquet")
        return 0
    times = table["received_at"]
    if not pa.types.is_timestamp(times.type):
        raise UserError(f"--partition-by {by}: received_at is not a time column ({times.type})")
    keys = pc.strftime(times, format=PARTITION_FORMATS[by])
    partitions = len(pc.unique(keys))
    ds.write_dataset(
        table.append_column(by, keys),
        folder,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([(by, pa.string())]), flavor="hive"),
        basename_template="part-{i}.parquet",
        max_rows_per_file=rows_per_file,
        max_rows_per_group=min(rows_per_file, 1 << 20),
        preserve_order=True,
        existing_data_behavior="overwrite_or_ignore",
    )
    return partitions


# The marker a simulated Parquet file carries in its schema metadata: `train` records it in the
# model (`trained_on_simulated`), so every answer of a model trained on it says so.
SIMULATED_KEY = b"risk_model.simulated"


def mark_simulated(table: pa.Table) -> pa.Table:
    return table.replace_schema_metadata({**(table.schema.metadata or {}), SIMULATED_KEY: b"true"})


def is_simulated(data: Path, truth: Path | None = None) -> bool:
    """True for calls the simulator made: a Parquet file it wrote carries `SIMULATED_KEY`; a CSV
    cannot, but only the simulator writes the oracle truth side file found beside it (`truth`).
    """
    if truth is not None and Path(truth).is_file():
        return True
    data = Path(data)
    if data.suffix.lower() != ".parquet" or not data.is_file():
        return False
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(data).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return False
    return meta.get(SIMULATED_KEY) == b"true"


def load_calls(
    path: Path, in_time_order: bool = True, allow_drops: bool | None = None
) -> tuple[pd.DataFrame, int]:
    """Canonical calls from Parquet or CSV, validated; returns (rows, rows rejected).

    Training expects ingested data; rows that still break the schema are reported, not used.
    Training wants the calls in time order; scoring keeps the file's order (`in_time_order=False`)
    so an analyst's output lines up with the input row for row, as the pyfunc's does.
    With `allow_drops` given (train), rejecting more than 1% of the rows is a `UserError` naming
    the most common reason, unless `allow_drops` is True (SPEC §3).
    """
    if path.is_dir():  # a Parquet dataset folder (`ingest --partition-by`)
        suffix = ".parquet"
    elif not path.is_file():
        raise UserError(f"data file not found: {path}")
    else:
        suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            raw = read_canonical_parquet(path)
        elif suffix == ".csv":
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        else:
            raise UserError(f"{path}: expected a .parquet or .csv file")
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    try:
        result = validate_frame(raw)
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None
    if len(result.quarantined):
        counts = result.quarantined["_reason"].value_counts()
        # The reasons themselves, not a guess at their cause: rows ingest wrote are read by the
        # same rules (schema.validate_frame), so "run ingest first" was often untrue.
        cause = (
            f"they break the canonical schema, most often {counts.index[0]!r} "
            f"({int(counts.iloc[0]):,} rows)"
        )
        line = None
        if allow_drops is not None:
            line = check_drops(
                len(result.quarantined), len(raw), f"rows of {path}", cause, allow_drops
            )
        log.warning(
            line
            or f"{len(result.quarantined):,} rows break the schema and are not used: "
            f"{counts.head(3).to_dict()}"
        )
    calls = result.accepted
    if in_time_order:
        calls = calls.sort_values("received_at", kind="stable")
    return calls.reset_index(drop=True), len(result.quarantined)


# --------------------------------------------------------------------------- CSV for people

# A cell a spreadsheet would run as a formula (OWASP, "CSV injection"): starting with =, +, -,
# @, a tab or a carriage return. Numbers written as text ("-3", "+1.5e3") are left as they are.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell a spreadsheet would run as a formula prefixed with `'`
    (the standard neutralisation: the cell shows as text, its content unchanged after the
    quote). Output CSVs are opened by analysts in spreadsheets, and their cells come from
    exports and requests anyone could have typed into (a call id `=HYPERLINK(...)`)."""
    out = frame
    for name in frame.columns:
        col = frame[name]
        if col.dtype != object and not pd.api.types.is_string_dtype(col.dtype):
            continue
        text = col.astype("string")
        risky = text.str.startswith(_FORMULA_START).fillna(False) & ~text.str.fullmatch(
            _NUMBER
        ).fillna(False)
        if bool(risky.any()):
            if out is frame:
                out = frame.copy()
            out[name] = col.astype(object).where(~risky.to_numpy(), "'" + text[risky].astype(str))
    return out


def write_csv(frame: pd.DataFrame, path: Path, **kwargs: object) -> None:
    """`frame.to_csv` for a file people open: formula cells neutralised (`spreadsheet_safe`)."""
    spreadsheet_safe(frame).to_csv(path, index=False, **kwargs)  # type: ignore[arg-type]


def rows_refused(path: Path, rejected: int, reasons_logged: bool = True) -> UserError:
    """`score`'s one line when input rows break the schema: it answers every input row in order,
    so it cannot skip them. `reasons_logged`: `load_calls` logged the reasons just before."""
    where = " (the warning above names the reasons)" if reasons_logged else ""
    return UserError(
        f"{path}: {rejected:,} rows break the schema{where}; score answers every input row, so "
        "fix or remove them: `risk-model ingest` writes each one to its quarantine file with "
        "its reason"
    )
