"""`ingest` of a folder of NENA EIDO documents (one JSON file per incident), with the accounting
of a CSV export: `rows_in = rows_accepted + rows_quarantined` (SPEC §1, §4 "EIDO").

Each document is read by risk_model.ingest.eido (the reader `POST /score/eido` uses, so a call
in history is the call that was scored); the calls are then checked by the same
`validate_frame` as an export's rows. A file that is not JSON, or a document the reader refuses
(no incident type, no time), is quarantined with its file name and the reason; nothing is dropped
in silence. The reader's warnings (a location not read, a caution kept as text) are counted in
the report by code, with examples.

Called from `risk_model.ingest.run.ingest_file` when `--input` is a folder of `.json` files.
Times are read as written (the clock time before any UTC offset), as an export's are without
a mapping's time zone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from risk_model import vocab
from risk_model.dataset import PARTITION_CHOICES, replace_path, write_csv, write_partitioned
from risk_model.errors import UserError
from risk_model.ingest.eido import EidoError, read_eido
from risk_model.schema import validate_frame

log = logging.getLogger(__name__)

EIDO_SUFFIX = ".json"
# A document larger than this is no incident (the service's body limit is the same).
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024
# Notes and cautions are history only when stamped this soon after the call started: call-taking
# and the queue before dispatch; a note written on scene may tell the outcome (docs/eido.md).
KNOWN_WITHIN = dt.timedelta(minutes=10)
# The column naming each accepted call's document (an extra column: never a feature).
FILE_COLUMN = "eido_file"
TOP_REASONS = 20
WARNING_EXAMPLES = 5


def eido_files(path: Path) -> list[Path]:
    """The `.json` files directly in a folder, by name; [] for a file or a folder without any."""
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == EIDO_SUFFIX)


def is_eido_folder(path: Path) -> bool:
    """A folder holding `.json` files (EIDO documents) and no other files besides dotfiles.

    A folder that mixes them with other files is refused rather than guessed at: EIDO documents
    and a CAD export are different inputs."""
    files = eido_files(path)
    if not files:
        return False
    others = sorted(
        p.name
        for p in path.iterdir()
        if p.is_file() and p.suffix.lower() != EIDO_SUFFIX and not p.name.startswith(".")
    )
    if others:
        raise UserError(
            f"{path}: holds {len(files)} EIDO .json file(s) and other files "
            f"({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}); give a folder of "
            "EIDO documents only, or a folder of exports"
        )
    return True


def _read_document(path: Path) -> Any:
    """The parsed JSON of one file; a problem -> ValueError with the reason."""
    size = path.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        raise ValueError(f"file: larger than {MAX_DOCUMENT_BYTES:,} bytes ({size:,})")
    raw = path.read_bytes()
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"file: not UTF-8 text (byte at offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"file: not JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise ValueError("file: JSON nested too deeply") from None


def read_folder(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, list[str]]]:
    """(calls with their document number in `_row`, quarantined documents, the reader's
    warnings by document number)."""
    rows: list[dict[str, Any]] = []
    quarantined: list[dict[str, Any]] = []
    warnings: dict[int, list[str]] = {}
    for number, path in enumerate(eido_files(folder), start=1):
        try:
            read = read_eido(_read_document(path), known_within=KNOWN_WITHIN)
        except (EidoError, ValueError, OSError) as exc:
            quarantined.append(
                {"_row": number, FILE_COLUMN: path.name, "call_id": None, "_reason": str(exc)}
            )
            continue
        rows.append({"_row": number, **read.call, FILE_COLUMN: path.name})
        warnings[number] = [f"{path.name}: {w}" for w in read.warnings]
    calls = pd.DataFrame(rows, dtype=object)
    quarantine = pd.DataFrame(quarantined, columns=["_row", FILE_COLUMN, "call_id", "_reason"])
    return calls, quarantine, warnings


def _warning_summary(
    warnings: dict[int, list[str]], accepted: set[int]
) -> tuple[dict[str, int], dict[str, list[str]]]:
    """The reader's warnings on accepted calls: counts by code, and a few examples of each."""
    counts: Counter = Counter()
    examples: dict[str, list[str]] = {}
    for number in sorted(accepted):
        for w in warnings.get(number, []):
            code = vocab.warning_code(w.split(": ", 1)[1])
            counts[code] += 1
            seen = examples.setdefault(code, [])
            if len(seen) < WARNING_EXAMPLES:
                seen.append(w)
    return dict(sorted(counts.items())), examples


def _validated(calls: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, set[int]]:
    """(accepted calls, documents validate_frame quarantined, accepted document numbers): the
    same checks as an export's rows (times, duplicates, limits)."""
    if calls.empty:
        return (
            pd.DataFrame(),
            pd.DataFrame(columns=["_row", FILE_COLUMN, "call_id", "_reason"]),
            set(),
        )
    numbers = calls.pop("_row").astype(int)
    result = validate_frame(calls, row_numbers=numbers)
    vq = result.quarantined
    invalid = pd.DataFrame(
        {
            "_row": vq["_row"].astype(int).to_numpy(),
            FILE_COLUMN: vq[FILE_COLUMN].to_numpy(),
            "call_id": vq["call_id"].to_numpy(),
            "_reason": vq["_reason"].astype(str).to_numpy(),
        }
    )
    accepted_numbers = set(numbers.tolist()) - set(invalid["_row"].tolist())
    return result.accepted, invalid, accepted_numbers


def _write_calls(accepted: pd.DataFrame, out: Path, partition_by: str) -> int | None:
    """calls.parquet (or a partitioned folder: its number of partitions)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output directory {out.parent}: {exc}") from None
    if partition_by != "none":
        return replace_path(out, lambda p: write_partitioned(accepted, p, partition_by))
    replace_path(out, lambda p: accepted.to_parquet(p, index=False))
    return None


def ingest_eido_folder(
    folder: Path,
    paths: dict[str, Path],
    mapping_path: Path | None = None,
    partition_by: str = "none",
) -> dict[str, Any]:
    """EIDO documents in `folder` -> calls.parquet, quarantine.csv and ingest_report.json at
    `paths` (`out`, `quarantine`, `report`, as ingest_file names them); returns the report."""
    started = time.perf_counter()
    if mapping_path is not None:
        raise UserError(
            f"{folder}: EIDO documents are read by their standard's keys; --mapping is for CAD "
            "exports (leave it out)"
        )
    if partition_by not in PARTITION_CHOICES:
        raise UserError(
            f"--partition-by {partition_by!r}: choose one of {', '.join(PARTITION_CHOICES)}"
        )
    files = eido_files(folder)
    calls, read_failures, warnings = read_folder(folder)
    rows_in = len(files)
    accepted, invalid, accepted_numbers = _validated(calls)
    quarantine = pd.concat([read_failures, invalid], ignore_index=True)
    quarantine = quarantine.sort_values("_row", kind="stable").reset_index(drop=True)
    if rows_in != len(accepted) + len(quarantine):  # kept even under python -O
        raise AssertionError(
            f"EIDO ingest accounting broken: {rows_in} documents, {len(accepted)} accepted, "
            f"{len(quarantine)} quarantined"
        )
    if accepted.empty:
        first = quarantine["_reason"].iloc[0] if len(quarantine) else "no documents"
        raise UserError(f"{folder}: no EIDO document could be read as a call (first: {first})")
    partitions = _write_calls(accepted, paths["out"], partition_by)
    replace_path(
        paths["quarantine"],
        # Formula cells neutralised: the quarantine is opened in spreadsheets.
        lambda p: write_csv(quarantine, p, encoding="utf-8", lineterminator="\n"),
    )
    reasons = quarantine["_reason"].value_counts()
    counts, examples = _warning_summary(warnings, accepted_numbers)
    report = {
        "input": str(folder),
        "input_kind": "eido",
        "input_sha256": _folder_sha256(files),
        "mapping": None,
        "rows_in": rows_in,
        "rows_accepted": len(accepted),
        "rows_quarantined": len(quarantine),
        "rows_excluded": 0,
        "reasons": {str(k): int(v) for k, v in reasons.head(TOP_REASONS).items()},
        "distinct_reasons": len(reasons),
        "eido_warnings": counts,
        "eido_warning_examples": examples,
        "columns": [str(c) for c in accepted.columns],
        "warnings": [],
        "out": str(paths["out"]),
        **({"partitions": partitions} if partitions is not None else {}),
        "quarantine": str(paths["quarantine"]),
        "report": str(paths["report"]),
        "seconds": round(time.perf_counter() - started, 3),
    }
    replace_path(paths["report"], lambda p: p.write_text(json.dumps(report, indent=2) + "\n"))
    log.info(
        "ingest (EIDO): %d documents, %d accepted, %d quarantined -> %s",
        rows_in,
        len(accepted),
        len(quarantine),
        paths["out"],
    )
    return report


def _folder_sha256(files: list[Path]) -> str:
    """One digest of the documents read (names and contents, in order)."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
