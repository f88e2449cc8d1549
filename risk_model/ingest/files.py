"""Several files of one agency read as one export (SPEC §1 "Several files").

An agency's history often comes as yearly files whose headers drift ("OFFICER  INJURY" one year,
" OFFICER_INJURY" the next). `--input` (and `map --draft`'s export) may therefore be a folder or
a glob; the files are read one by one and stacked, their columns matched by `header_key`:

- surrounding whitespace is ignored, and case;
- a run of spaces and/or underscores is one separator, so "OFFICER  INJURY", "officer_injury"
  and "Officer Injury" are the same column. Hyphens, dots and other characters still count:
  "CALL-TYPE" and "CALL TYPE" stay different columns.

A column takes its first file's spelling; a mapping's spelling wins over both (`align_headers`).
Every row remembers its file and its row there, so reports and quarantines point into the file.
"""

from __future__ import annotations

import glob
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from risk_model.errors import UserError

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".zip", ".xz", ".zst")
PARQUET_SUFFIXES = (".parquet", ".pq")
_GLOB_CHARS = re.compile(r"[*?\[]")
_SEPARATORS = re.compile(r"[\s_]+")


def header_key(name: str) -> str:
    """The form two headers are compared in: stripped, case-folded, spaces/underscores as one."""
    return _SEPARATORS.sub(" ", str(name)).strip().casefold()


def is_export_name(path: Path) -> bool:
    """A file name ingest can read: CSV/TSV/TXT (optionally compressed) or Parquet."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED_SUFFIXES:
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] in (*CSV_SUFFIXES, *PARQUET_SUFFIXES)


def export_paths(spec: Path | str) -> list[Path]:
    """A file, a folder or a glob -> the export files it names, sorted by name.

    A folder gives its readable export files (not its subfolders, hidden files or others, such
    as a README); a glob gives the export files it matches. Nothing found is a `UserError`.
    """
    text = str(spec)
    path = Path(text)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.is_file() and not f.name.startswith("."))
        found = [f for f in files if is_export_name(f)]
        if not found:
            raise UserError(
                f"input folder {path} holds no export file (.csv, .tsv, .txt, .parquet, "
                "optionally compressed)"
            )
        return found
    if _GLOB_CHARS.search(text):
        matched = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
        found = [f for f in matched if is_export_name(f)]
        if not found:
            others = f"; it matches {len(matched)} other file(s)" if matched else ""
            raise UserError(
                f"input pattern {text!r} matches no export file (.csv, .tsv, .txt, .parquet, "
                f"optionally compressed){others}"
            )
        return found
    raise UserError(f"input file not found: {path}")


@dataclass(frozen=True)
class FileSpan:
    """One file's rows in the stacked frame: global index in [start, stop)."""

    path: Path
    start: int
    stop: int


def align_headers(frame: pd.DataFrame, wanted: Iterable[str], source: Path) -> pd.DataFrame:
    """Renames columns to the spelling a mapping uses when they match it after `header_key`.

    An exact name always wins; two columns of one file that both match a wanted name after
    normalising are a `UserError` naming them (reading either would be a guess).
    """
    have = set(frame.columns)
    by_key: dict[str, list[str]] = {}
    for col in frame.columns:
        by_key.setdefault(header_key(col), []).append(col)
    rename = {}
    for name in dict.fromkeys(wanted):
        if name in have:
            continue
        cands = [c for c in by_key.get(header_key(name), []) if c not in rename]
        if len(cands) > 1:
            raise UserError(
                f"{source}: the columns {', '.join(repr(c) for c in cands)} both match "
                f"{name!r} once spaces, underscores and case are ignored; rename one of them"
            )
        if cands:
            rename[cands[0]] = name
    return frame.rename(columns=rename) if rename else frame


def concat_frames(
    frames: list[pd.DataFrame], paths: list[Path]
) -> tuple[pd.DataFrame, list[FileSpan]]:
    """Stacks text frames (one per file) into one, columns matched by `header_key`.

    The result's index is global: file k's row i (its own 0-based index, gaps for skipped header
    rows kept) is `start_k + i`, with `start_k` the rows of all earlier files, so a quarantined
    row still names its file and row. A column missing from a file is empty there; two columns
    of one file with the same key are a `UserError`. One frame comes back unchanged.
    """
    if len(frames) == 1:
        f = frames[0]
        return f, [FileSpan(paths[0], 0, int(f.index.max()) + 1 if len(f) else 0)]
    names: dict[str, str] = {}  # key -> spelling (the first file's)
    for frame, path in zip(frames, paths, strict=True):
        seen: dict[str, str] = {}
        for col in frame.columns:
            key = header_key(col)
            if key in seen:
                raise UserError(
                    f"{path}: the columns {seen[key]!r} and {col!r} are the same column once "
                    "spaces, underscores and case are ignored; rename one of them"
                )
            seen[key] = col
            names.setdefault(key, col)
    keys = list(names)
    position = {k: j for j, k in enumerate(keys)}
    total = sum(len(f) for f in frames)
    cells = np.full((total, len(keys)), "", dtype=object)
    index = np.empty(total, dtype=np.int64)
    spans, row, start = [], 0, 0
    for frame, path in zip(frames, paths, strict=True):
        n = len(frame)
        cols = [position[header_key(c)] for c in frame.columns]
        cells[row : row + n, cols] = frame.to_numpy(dtype=object)
        index[row : row + n] = start + np.asarray(frame.index, dtype=np.int64)
        stop = start + (int(frame.index.max()) + 1 if n else 0)
        spans.append(FileSpan(path, start, stop))
        row, start = row + n, stop
    out = pd.DataFrame(
        cells,
        columns=pd.Index([names[k] for k in keys], dtype=object),
        index=pd.Index(index),
        dtype=object,
        copy=False,
    )
    return out, spans


def file_of(rows: np.ndarray, spans: list[FileSpan]) -> tuple[np.ndarray, np.ndarray]:
    """Global 0-based rows -> (file number, 1-based row in that file)."""
    starts = np.array([s.start for s in spans], dtype=np.int64)
    k = np.searchsorted(starts, np.asarray(rows, dtype=np.int64), side="right") - 1
    return k, np.asarray(rows, dtype=np.int64) - starts[k] + 1


def sha256_of(path: Path) -> str:
    """A file's fingerprint (the report names exactly which bytes were read)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def per_file(
    spans: list[FileSpan], skipped: list[int], **rows: np.ndarray
) -> list[dict[str, Any]]:
    """Each file's accounting: `rows` maps a report key to the global rows it counts."""
    counts = {
        k: np.bincount(file_of(v, spans)[0], minlength=len(spans)) if len(v) else None
        for k, v in rows.items()
    }
    out = []
    for i, span in enumerate(spans):
        entry: dict[str, Any] = {"path": str(span.path)}
        for k, c in counts.items():
            entry[k] = int(c[i]) if c is not None else 0
        entry["header_rows_skipped"] = skipped[i]
        entry["sha256"] = sha256_of(span.path)
        out.append(entry)
    return out


def rows_in_files(frame: pd.DataFrame, spans: list[FileSpan]) -> pd.DataFrame:
    """Several files: `_row` becomes the row in its own file, with `_file` beside it."""
    if len(spans) == 1 or "_row" not in frame.columns:
        return frame
    k, local = file_of(frame["_row"].to_numpy(dtype=np.int64) - 1, spans)
    out = frame.copy()
    out["_row"] = local
    out.insert(0, "_file", [spans[i].path.name for i in k])
    return out
