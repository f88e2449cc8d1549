"""The first rows of an export, read exactly as `risk-model ingest` reads the whole file.

`map --draft` needs a sample, not the export: a multi-gigabyte CSV is copied record by record
(quoted line breaks stay inside their record) until enough rows are read, then read with the same
reader ingest uses, so the draft sees the cells ingest will see.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from risk_model.errors import UserError
from risk_model.ingest.files import concat_frames, export_paths
from risk_model.ingest.run import (
    COMPRESSED_SUFFIXES,
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    read_export,
)


def _sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "|", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _open_text(path: Path, encoding: str) -> io.TextIOBase:
    suffix = path.suffix.lower()
    opener: Any = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(suffix)
    if opener is not None:
        return opener(path, "rt", encoding=encoding, newline="")
    return path.open("r", encoding=encoding, newline="")


@dataclass
class Sample:
    """The first rows of an export as text, and how the file must be read."""

    frame: pd.DataFrame
    encoding: str = "utf-8"
    delimiter: str | None = None
    truncated: bool = False


def read_sample(path: Path, rows: int) -> Sample:
    """The first `rows` data rows of a CSV or Parquet export, every cell as text.

    Only the first rows are read, so a draft of a multi-gigabyte export takes seconds. CSV files
    are copied record by record (quoted line breaks stay inside their record) into a temporary
    file that `read_export` then reads, so the sample is read exactly as `ingest` reads the file.
    """
    files = export_paths(path)  # a folder or glob of one agency's files: read as one export
    if len(files) > 1:
        samples = [read_sample(f, max(rows // len(files), 1)) for f in files]
        frame, _ = concat_frames([s.frame for s in samples], files)
        first = samples[0]
        return Sample(frame, first.encoding, first.delimiter, any(s.truncated for s in samples))
    path = files[0]
    suffixes = [s.lower() for s in path.suffixes]
    last = suffixes[-1] if suffixes else ""
    if last in PARQUET_SUFFIXES:
        return _read_parquet_sample(path, rows)
    inner = suffixes[-2] if last in COMPRESSED_SUFFIXES and len(suffixes) > 1 else last
    if inner not in CSV_SUFFIXES or last in (".zip", ".zst"):
        frame = read_export(path)  # unknown type -> its one-line error; zip/zst read whole
        return Sample(frame.head(rows), truncated=len(frame) > rows)
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return _read_csv_sample(path, rows, encoding, inner)
        except UnicodeDecodeError:
            continue
    raise UserError(f"{path}: neither UTF-8 nor cp1252 text; save the export as UTF-8")


def _read_csv_sample(path: Path, rows: int, encoding: str, inner: str) -> Sample:
    with _open_text(path, encoding) as fh:
        header = fh.readline()
        delim = "\t" if inner == ".tsv" else _sniff_delimiter(header)
        fh.seek(0)
        reader = csv.reader(fh, delimiter=delim)
        records = []
        try:
            for record in reader:
                records.append(record)
                if len(records) > rows + 1:
                    break
        except csv.Error as exc:
            raise UserError(f"{path}: not a well-formed CSV ({exc}); check quoting") from None
    if not records or not any(cell.strip() for cell in records[0]):
        raise UserError(f"{path}: the file is empty")
    if len(records) < 2:
        raise UserError(f"{path}: the export has a header but no data rows")
    truncated = len(records) > rows + 1
    with tempfile.TemporaryDirectory(prefix="risk-model-draft-") as tmp:
        copy = Path(tmp) / "sample.csv"
        with copy.open("w", encoding="utf-8", newline="") as out:
            csv.writer(out, delimiter=delim).writerows(records[: rows + 1])
        frame = read_export(copy, delimiter=delim)
    if frame.empty:
        raise UserError(f"{path}: the export has a header but no data rows")
    name = "utf-8" if encoding == "utf-8-sig" else encoding
    return Sample(frame, name, None if delim == "," and inner != ".tsv" else delim, truncated)


def _read_parquet_sample(path: Path, rows: int) -> Sample:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        batch = next(pf.iter_batches(batch_size=rows), None)
        total = pf.metadata.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"{path}: not a readable Parquet file ({exc})") from None
    if batch is None:
        raise UserError(f"{path}: the export has no data rows")
    with tempfile.TemporaryDirectory(prefix="risk-model-draft-") as tmp:
        copy = Path(tmp) / "sample.parquet"
        pq.write_table(pa.Table.from_batches([batch]), copy)
        frame = read_export(copy)
    return Sample(frame, truncated=total > rows)
