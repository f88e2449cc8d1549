"""Agency export -> canonical calls (SPEC §1), through a mapping file, with a quarantine.

The flow is: read every cell as text (nothing coerced), drop header rows repeated inside the file,
apply the mapping (rename, recode, derive flags, combine date + time), validate with
`risk_model.schema.validate_frame`, then write accepted rows to Parquet and every rejected row to a
quarantine CSV with one reason naming the canonical field and the source column. Exact accounting
(`rows_in = rows_accepted + rows_quarantined`) is asserted on every run.

Analysts write mappings from docs/ingest.md alone, so every problem with a mapping or an export is
a `UserError` with one line that says what to fix, never a traceback.
"""

from __future__ import annotations

import codecs
import datetime as dt
import difflib
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from risk_model.errors import UserError
from risk_model.schema import (
    BOOL_COLUMNS,
    CANONICAL_COLUMNS,
    OUTCOME_COLUMNS,
    PRIORITY_MAX,
    PRIORITY_MIN,
    REQUIRED_COLUMNS,
    SchemaError,
    parse_bool,
    validate_frame,
)

log = logging.getLogger(__name__)

CALLS_FILE = "calls.parquet"
QUARANTINE_FILE = "quarantine.csv"
REPORT_FILE = "ingest_report.json"
MAPPABLE_FIELDS: tuple[str, ...] = (*CANONICAL_COLUMNS, *OUTCOME_COLUMNS)
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".zip", ".xz", ".zst")
PARQUET_SUFFIXES = (".parquet", ".pq")
TOP_REASONS = 20
RESERVED_COLUMNS = ("_row", "_reason")

# Column names that suggest a protected attribute: such a column never feeds a canonical field and
# is never kept (FIELD_NOTES: no race, ethnicity, sex or religion anywhere near the model). Matched
# on name tokens ("SUBJECT_RACE", "OffSex", "ETHNICITY"), so "TRACE_ID" or "SEXUAL_ASSAULT" pass.
_PROTECTED_TOKENS = frozenset({"race", "races", "sex", "gender", "genders"})
_PROTECTED_PREFIXES = ("ethnic", "relig")
_TOKEN_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


# --------------------------------------------------------------------------- the mapping file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @model_validator(mode="before")
    @classmethod
    def _one_text_is_a_list(cls, data: Any) -> Any:
        # `missing_values: NULL` means `missing_values: [NULL]`; analysts write it both ways.
        if not isinstance(data, dict):
            return data
        lists = {n for n, f in cls.model_fields.items() if "list[str]" in str(f.annotation)}
        return {k: [v] if k in lists and isinstance(v, str) else v for k, v in data.items()}


class Condition(_Strict):
    """A test on a source value: equal to one of `equals`, or containing one of `contains`."""

    equals: list[str] = []
    contains: list[str] = []


class HeaderRowTest(_Strict):
    """A row whose `column` holds `equals` is an extra header row (skipped, counted, not data)."""

    column: str
    equals: str


class FieldSpec(_Strict):
    """How one canonical field is filled. Which keys combine is checked in `_check_mapping`."""

    column: str | None = None
    value: str | None = None
    date: str | None = None
    time: str | None = None
    formats: list[str] | None = None
    date_formats: list[str] | None = None
    time_formats: list[str] | None = None
    values: dict[str, str] | None = None
    true_when: Condition | None = None
    false_when: Condition | None = None
    unmatched: Literal["quarantine", "keep", "unknown"] | None = None
    missing_values: list[str] = []
    default: str | None = None
    match_case: bool = False

    def source_columns(self) -> list[tuple[str, str]]:
        """(key, source column) pairs this field reads."""
        return [(k, getattr(self, k)) for k in ("column", "date", "time") if getattr(self, k)]


class Mapping(_Strict):
    """A validated mapping file: how one agency's export becomes canonical calls."""

    version: Literal["1"] = "1"
    name: str | None = None
    description: str | None = None
    timezone: str | None = None
    encoding: str = "utf-8"
    delimiter: str | None = None
    missing_values: list[str] = []
    extra_header_rows: list[HeaderRowTest] = []
    fields: dict[str, FieldSpec]
    keep: list[str] = []
    never_map: list[str] = []

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("fields", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        # `call_id: UOF_NUMBER` is short for `call_id: {column: UOF_NUMBER}`.
        if isinstance(v, dict):
            return {k: ({"column": s} if isinstance(s, str) else s) for k, s in v.items()}
        return v

    def source_columns(self) -> list[tuple[str, str]]:
        """(where in the mapping, source column) for every column the mapping reads."""
        refs = [
            (f"{name}.{key}" if key != "column" else name, col)
            for name, spec in self.fields.items()
            for key, col in spec.source_columns()
        ]
        refs += [(f"keep[{i}]", c) for i, c in enumerate(self.keep)]
        return refs


_KEYS_AT: dict[str, type[BaseModel]] = {
    "": Mapping,
    "fields.*": FieldSpec,
    "fields.*.true_when": Condition,
    "fields.*.false_when": Condition,
    "extra_header_rows.*": HeaderRowTest,
}


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Which mapping block a pydantic error location points into (for "allowed keys")."""
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] in ("fields", "extra_header_rows"):
        parts[1] = "*"
    return _KEYS_AT.get(".".join(parts))


def _did_you_mean(word: str, options: Iterable[str]) -> str:
    options = list(options)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        lowered = {o.lower(): o for o in options}
        close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
        close = [lowered[c] for c in close]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _explain_validation(exc: ValidationError) -> str:
    """Pydantic errors -> short phrases naming the mapping key, joined on one line."""
    parts = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden":
            key = str(loc[-1])
            model = _model_at(loc[:-1])
            allowed = list(model.model_fields) if model else []
            block = ".".join(str(p) for p in loc[:-1]) or "top level"
            parts.append(
                f"unknown key {key!r} in {block}{_did_you_mean(key, allowed)}"
                + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
            )
        elif err["type"] == "missing":
            parts.append(f"{where}: required key is missing")
        elif err["type"] == "literal_error" and loc == ("version",):
            parts.append("version: only version 1 exists (write `version: 1` or leave it out)")
        elif err["type"] in ("dict_type", "model_type"):
            parts.append(f"{where}: expected a block of `key: value` lines here")
        elif err["type"] == "list_type":
            parts.append(f"{where}: expected a list, e.g. [a, b] or one `- item` per line")
        elif err["type"] == "string_type":
            parts.append(f"{where}: expected a single value here, not a list or block")
        else:
            parts.append(f"{where}: {err['msg']}")
    more = f" (and {len(parts) - 4} more)" if len(parts) > 4 else ""
    return "; ".join(parts[:4]) + more


def _field_kind(name: str) -> str:
    if name == "received_at":
        return "time"
    if name in BOOL_COLUMNS:
        return "bool"
    if name == "priority":
        return "int"
    if name in ("latitude", "longitude"):
        return "float"
    return "text"


def protected_reason(column: str, extra: Iterable[str] = ()) -> str | None:
    """Why a source column name looks like a protected attribute, or None when it does not."""
    for part in re.split(r"[^0-9A-Za-z]+", column):
        for token in _TOKEN_RE.findall(part):
            t = token.lower()
            if t in _PROTECTED_TOKENS or t.startswith(_PROTECTED_PREFIXES):
                return t
    for fragment in extra:
        if fragment and fragment.lower() in column.lower():
            return f"never_map: {fragment}"
    return None


def _check_format(fmt: str, needs: str) -> str | None:
    """A problem with one strptime format, or None. Round-trips a sample time through it."""
    sample = dt.datetime(2016, 9, 3, 16, 14, 5)
    if "%" not in fmt:
        return f"{fmt!r} has no % codes (see the format table in docs/ingest.md)"
    if "%z" in fmt or "%Z" in fmt:
        text = sample.replace(tzinfo=dt.UTC).strftime(fmt)
    else:
        text = sample.strftime(fmt)
    try:
        dt.datetime.strptime(text, fmt)
    except ValueError as exc:
        return f"{fmt!r} is not a valid format ({exc})"
    if needs in ("date", "datetime") and not re.search(r"%[dj]", fmt):
        return f"{fmt!r} has no day code (%d)"
    if needs in ("time", "datetime") and not re.search(r"%[HI]", fmt):
        return f"{fmt!r} has no hour code (%H for 0-23, %I with %p for 1-12 AM/PM)"
    if needs in ("time", "datetime") and "%I" in fmt and "%p" not in fmt:
        return f"{fmt!r} uses a 12-hour clock (%I) without AM/PM (%p)"
    return None


def _check_target(field: str, kind: str, value: str, what: str) -> str | None:
    """A problem with a value the mapping writes into a canonical field, or None."""
    text = value.strip()
    if text == "":
        return None
    if kind == "bool":
        try:
            parse_bool(text)
        except SchemaError:
            return f"fields.{field}.{what}: {value!r} is not true or false"
    elif kind == "int":
        try:
            n = float(text)
        except ValueError:
            return f"fields.{field}.{what}: {value!r} is not a whole number"
        if n != int(n) or not PRIORITY_MIN <= n <= PRIORITY_MAX:
            return f"fields.{field}.{what}: {value!r} is not a whole number in 1..9"
    elif kind == "float":
        try:
            float(text)
        except ValueError:
            return f"fields.{field}.{what}: {value!r} is not a number"
    return None


def _check_field(name: str, spec: FieldSpec) -> list[str]:
    """Which key combinations make sense for this canonical field."""
    kind = _field_kind(name)
    at = f"fields.{name}"
    errs: list[str] = []
    sources = [k for k in ("column", "value", "date") if getattr(spec, k) is not None]
    if spec.time is not None and spec.date is None:
        errs.append(f"{at}: time needs date (the column holding the day)")
    if len(sources) != 1:
        how = "column, value, or date + time" if kind == "time" else "column or value"
        errs.append(f"{at}: give exactly one of {how}")
        return errs
    if kind == "time":
        if spec.value is not None:
            errs.append(f"{at}: a constant time makes no sense; map a column")
        for key in ("values", "true_when", "false_when", "default", "unmatched"):
            if getattr(spec, key) is not None:
                errs.append(f"{at}: {key} is not used for received_at")
        if spec.date is not None:
            if spec.time is None:
                errs.append(f"{at}: date needs time (the column holding the clock time)")
            if spec.formats is not None:
                errs.append(f"{at}: with date + time, use date_formats and time_formats")
            if not spec.date_formats or not spec.time_formats:
                errs.append(f"{at}: date + time need date_formats and time_formats (lists)")
            for key, needs in (("date_formats", "date"), ("time_formats", "time")):
                for fmt in getattr(spec, key) or []:
                    if "%z" in fmt or "%Z" in fmt:
                        errs.append(
                            f"{at}.{key}: {fmt!r}: offsets (%z) work only with `column` + "
                            "`formats`"
                        )
                    elif problem := _check_format(fmt, needs):
                        errs.append(f"{at}.{key}: {problem}")
        else:
            if spec.date_formats is not None or spec.time_formats is not None:
                errs.append(f"{at}: date_formats/time_formats need date + time; use formats")
            for fmt in spec.formats or []:
                if problem := _check_format(fmt, "datetime"):
                    errs.append(f"{at}.formats: {problem}")
            if spec.formats is not None and not spec.formats:
                errs.append(f"{at}.formats: empty list; leave it out for ISO 8601 times")
        return errs

    for key in ("date", "time", "formats", "date_formats", "time_formats"):
        if getattr(spec, key) is not None:
            errs.append(f"{at}: {key} is only for received_at")
    derived = spec.true_when is not None or spec.false_when is not None
    if spec.value is not None:
        if name == "call_id":
            errs.append(f"{at}: call_id cannot be a constant (every row would be a duplicate)")
        for key in ("values", "true_when", "false_when", "default", "unmatched"):
            if getattr(spec, key) is not None:
                errs.append(f"{at}: {key} needs a column, not a constant value")
        if spec.missing_values:
            errs.append(f"{at}: missing_values needs a column, not a constant value")
        if problem := _check_target(name, kind, spec.value, "value"):
            errs.append(problem)
    if derived:
        if kind != "bool":
            errs.append(f"{at}: true_when/false_when only fill true/false fields")
        if spec.values is not None:
            errs.append(f"{at}: use either values or true_when/false_when, not both")
        for key in ("true_when", "false_when"):
            cond = getattr(spec, key)
            if cond is not None and not (cond.equals or cond.contains):
                errs.append(f"{at}.{key}: give equals and/or contains (lists of texts)")
        if spec.unmatched == "keep":
            errs.append(f"{at}.unmatched: keep is not possible for a true/false field")
    elif spec.unmatched is not None and spec.values is None:
        errs.append(f"{at}: unmatched needs values (or true_when/false_when)")
    if spec.values is not None:
        if not spec.values:
            errs.append(f"{at}.values: empty; list `source value: canonical value` pairs")
        if kind == "bool" and spec.unmatched == "keep":
            errs.append(f"{at}.unmatched: keep is not possible for a true/false field")
        seen: dict[str, str] = {}
        for src, target in spec.values.items():
            if problem := _check_target(name, kind, target, f"values[{src!r}]"):
                errs.append(problem)
            key = src.strip() if spec.match_case else src.strip().lower()
            if key in seen and seen[key] != target:
                errs.append(
                    f"{at}.values: {src!r} and {seen[key]!r} differ only in case but map to "
                    "different values (set match_case: true)"
                )
            seen.setdefault(key, target)
    if spec.default is not None:
        if name == "call_id":
            errs.append(f"{at}: call_id cannot have a default (every such row would collide)")
        elif problem := _check_target(name, kind, spec.default, "default"):
            errs.append(problem)
    return errs


def _check_mapping(m: Mapping) -> list[str]:
    """Semantic checks pydantic cannot express; each problem names the key to fix."""
    errs: list[str] = []
    for name in m.fields:
        if name not in MAPPABLE_FIELDS:
            errs.append(
                f"fields.{name}: not a canonical field{_did_you_mean(name, MAPPABLE_FIELDS)}; "
                "source columns go on the right-hand side, e.g. `call_id: INCIDENT_NO`"
            )
    for name in REQUIRED_COLUMNS:
        if name not in m.fields:
            errs.append(f"fields.{name}: required field is not mapped")
    for name, spec in m.fields.items():
        if name in MAPPABLE_FIELDS:
            errs += _check_field(name, spec)
    for where, col in m.source_columns():
        at = f"fields.{where}" if not where.startswith("keep") else where
        if why := protected_reason(col, m.never_map):
            errs.append(
                f"{at}: column {col!r} looks like a protected attribute ({why}); race, "
                "ethnicity, sex, gender and religion are never mapped or kept"
            )
    for i, col in enumerate(m.keep):
        if col in MAPPABLE_FIELDS:
            errs.append(f"keep[{i}]: {col!r} is a canonical field name; map it under fields")
    dupes = sorted({c for c in m.keep if m.keep.count(c) > 1})
    if dupes:
        errs.append(f"keep: listed twice: {', '.join(dupes)}")
    if m.timezone is not None:
        try:
            ZoneInfo(m.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            errs.append(
                f"timezone: {m.timezone!r} is not an IANA time zone (e.g. America/Chicago)"
            )
    rt = m.fields.get("received_at")
    offsets = rt is not None and any("%z" in f or "%Z" in f for f in rt.formats or [])
    if offsets and m.timezone is None:
        errs.append(
            "timezone: formats with offsets (%z) need the agency's timezone so every time ends "
            "up in agency local time"
        )
    try:
        codecs.lookup(m.encoding)
    except LookupError:
        errs.append(f"encoding: {m.encoding!r} is not a known text encoding (e.g. utf-8, cp1252)")
    if m.delimiter is not None and len(m.delimiter.replace("\\t", "\t")) != 1:
        errs.append(f"delimiter: {m.delimiter!r} must be one character (e.g. ',' ';' '|' '\\t')")
    return errs


def load_mapping(path: Path) -> Mapping:
    """Reads and validates a mapping YAML; any problem is a one-line `UserError` naming the key.

    Every YAML value is read as text (YAML 1.1 would turn `Yes`, `NULL`, `010` into true, null and
    8; an agency's codes must arrive exactly as written).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"mapping file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"mapping {path}: cannot read it as UTF-8 text ({exc})") from None
    try:
        data = yaml.load(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(
            f"mapping {path}{line}: YAML syntax error: {problem} (quote texts that start with "
            "% or contain ': ' or '#')"
        ) from None
    if not isinstance(data, dict):
        raise UserError(
            f"mapping {path}: expected `key: value` lines at the top (fields:, keep:, ...); "
            "see docs/ingest.md"
        )
    if not isinstance(data.get("fields"), dict) and "fields" in data:
        raise UserError(f"mapping {path}: fields: expected one `canonical_field: ...` per line")
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"mapping {path}: {_explain_validation(exc)}") from None
    errs = _check_mapping(mapping)
    if errs:
        more = f" (and {len(errs) - 4} more)" if len(errs) > 4 else ""
        raise UserError(f"mapping {path}: " + "; ".join(errs[:4]) + more)
    if mapping.name is None:
        mapping = mapping.model_copy(update={"name": path.stem})
    return mapping


# --------------------------------------------------------------------------- reading an export


def _export_kind(path: Path) -> tuple[str, str | None]:
    """("csv" | "parquet", default delimiter) from the file name; unknown -> UserError."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED_SUFFIXES:
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in PARQUET_SUFFIXES and len(path.suffixes) == len(suffixes):
        return "parquet", None
    if last in CSV_SUFFIXES:
        return "csv", "\t" if last == ".tsv" else ","
    raise UserError(
        f"{path}: unknown file type {''.join(path.suffixes) or '(no extension)'!r}; "
        "give a .csv (optionally .csv.gz), .tsv, .txt or .parquet file"
    )


def _unique_names(names: list[str], path: Path) -> list[str]:
    out = []
    for i, n in enumerate(names):
        out.append(n if n else f"unnamed_{i + 1}")
    dupes = sorted({n for n in out if out.count(n) > 1})
    if dupes:
        raise UserError(
            f"{path}: the header names {', '.join(repr(d) for d in dupes)} more than once; "
            "rename the duplicate columns in a copy of the export"
        )
    return out


def _read_csv(path: Path, encoding: str, delimiter: str) -> pd.DataFrame:
    enc = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    try:
        df = pd.read_csv(
            path,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding=enc,
            sep=delimiter,
            engine="c",
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: the file has no header row (it is empty)") from None
    except pd.errors.ParserError as exc:
        msg = str(exc).strip().splitlines()[-1].replace("Error tokenizing data. C error: ", "")
        raise UserError(
            f"{path}: not a well-formed CSV: {msg} (check quoting and delimiter on that line)"
        ) from None
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path}: not {encoding} text (byte {exc.object[exc.start : exc.start + 1]!r} at "
            f"offset {exc.start}); set `encoding:` in the mapping (e.g. cp1252) or save the "
            "export as UTF-8"
        ) from None
    if df.empty:
        raise UserError(f"{path}: the file has no header row (it is empty)")
    names = [str(v).strip() for v in df.iloc[0].tolist()]
    df = df.iloc[1:].reset_index(drop=True)
    df.columns = _unique_names(names, path)
    # Short rows are padded by the parser with NaN; a missing cell is an empty cell.
    return df.fillna("").astype(str)


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"{path}: not a readable Parquet file ({exc})") from None
    cols: dict[str, pd.Series] = {}
    names = _unique_names([str(n).strip() for n in table.column_names], path)
    for name, col in zip(names, table.columns, strict=True):
        try:
            text = pc.cast(col, pa.large_string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            text = pa.chunked_array(
                [pa.array([None if v is None else str(v) for v in col.to_pylist()])],
                type=pa.large_string(),
            )
        cols[name] = pd.Series(pc.fill_null(text, "").to_pandas(), dtype=str)
    return pd.DataFrame(cols, index=pd.RangeIndex(table.num_rows))


def read_export(
    path: Path, *, encoding: str = "utf-8", delimiter: str | None = None
) -> pd.DataFrame:
    """Reads a CSV or Parquet export with every cell as text, exactly as written.

    CSV: UTF-8 with or without BOM (or `encoding`), CRLF or LF, quoted fields; header names are
    stripped of surrounding spaces. Parquet columns are cast to text. Problems -> `UserError`.
    The index is the 0-based data-row position (data row number = index + 1).
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"input file not found: {path}")
    if not path.is_file():
        raise UserError(f"input is not a file: {path}")
    kind, default_delim = _export_kind(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise UserError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if not head.strip(b"\xef\xbb\xbf \t\r\n"):
        raise UserError(f"{path}: the file is empty")
    if kind == "parquet":
        return _read_parquet(path)
    delim = (delimiter or default_delim or ",").replace("\\t", "\t")
    return _read_csv(path, encoding, delim)


def skip_header_rows(raw: pd.DataFrame, mapping: Mapping | None) -> tuple[pd.DataFrame, int]:
    """Drops copies of the header row anywhere in the file, and the mapping's extra header rows.

    Returns the remaining rows (index untouched, so row numbers still point into the file) and
    how many rows were skipped. Skipped rows are neither data nor quarantine.
    """
    if raw.empty or not len(raw.columns):
        return raw, 0
    # Test the first column everywhere, the others only where the first one already matched.
    first = raw.columns[0]
    is_header = raw[first].str.strip() == first
    if is_header.any():
        cand = raw.loc[is_header]
        same = pd.Series(True, index=cand.index)
        for name in raw.columns[1:]:
            same &= cand[name].str.strip() == name
        is_header = pd.Series(False, index=raw.index)
        is_header[same.index[same]] = True
    for test in mapping.extra_header_rows if mapping else []:
        if test.column not in raw.columns:
            raise UserError(_missing_column_msg("extra_header_rows", test.column, raw.columns))
        is_header |= raw[test.column].str.strip().str.lower() == test.equals.strip().lower()
    n = int(is_header.sum())
    return (raw.loc[~is_header], n) if n else (raw, 0)


# --------------------------------------------------------------------------- applying a mapping


def _missing_column_msg(where: str, col: str, columns: Iterable[str]) -> str:
    return (
        f"mapping field {where}: column {col!r} not in the export"
        f"{_did_you_mean(col, [str(c) for c in columns])}"
    )


def _by_unique(
    col: pd.Series, fn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """Runs `fn` once per distinct value and spreads the (values, reasons) back to every row.

    Exports repeat the same dates, codes and words millions of times; parsing each distinct text
    once is what keeps a million-row ingest within seconds.
    """
    codes, uniques = pd.factorize(col.to_numpy(dtype=object), sort=False)
    values, reasons = fn(np.asarray(uniques, dtype=object))
    return values[codes], reasons[codes]


def _norm(texts: np.ndarray, match_case: bool) -> list[str]:
    return [t.strip() if match_case else t.strip().lower() for t in texts]


def _missing_mask(texts: np.ndarray, markers: set[str]) -> np.ndarray:
    return np.fromiter((t.strip().lower() in markers for t in texts), bool, len(texts))


def _target(kind: str, text: str) -> Any:
    """A canonical value written in the mapping, as the frame carries it (bool or text)."""
    t = text.strip()
    if t == "":
        return None
    return parse_bool(t) if kind == "bool" else t


def _matches(cond: Condition | None, texts: list[str], match_case: bool) -> np.ndarray:
    if cond is None:
        return np.zeros(len(texts), bool)
    eq = {e.strip() if match_case else e.strip().lower() for e in cond.equals}
    sub = [c if match_case else c.lower() for c in cond.contains]
    return np.fromiter(
        (t in eq or any(s in t for s in sub) for t in texts), dtype=bool, count=len(texts)
    )


def _map_column(
    name: str, spec: FieldSpec, col: pd.Series, markers: set[str]
) -> tuple[np.ndarray, np.ndarray]:
    """One non-time field from one source column: missing markers, recode or derive, default."""
    kind = _field_kind(name)
    src = spec.column
    local = markers | {m.strip().lower() for m in spec.missing_values}
    default = _target(kind, spec.default) if spec.default is not None else None

    def fn(uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(uniq)
        missing = _missing_mask(uniq, local)
        out = np.empty(n, dtype=object)
        why = np.full(n, None, dtype=object)
        keys = _norm(uniq, spec.match_case)
        if spec.true_when is not None or spec.false_when is not None:
            t = _matches(spec.true_when, keys, spec.match_case)
            f = _matches(spec.false_when, keys, spec.match_case)
            for i in range(n):
                if missing[i]:
                    out[i] = default
                elif t[i] and f[i]:
                    why[i] = (
                        f"{name}: {src} value {uniq[i].strip()[:40]!r} matches both true_when "
                        "and false_when"
                    )
                elif t[i] or f[i]:
                    out[i] = bool(t[i])
                elif spec.unmatched == "quarantine":
                    why[i] = (
                        f"{name}: {src} value {uniq[i].strip()[:40]!r} matches neither "
                        "true_when nor false_when"
                    )
                else:
                    out[i] = None
        elif spec.values is not None:
            table = {
                (k.strip() if spec.match_case else k.strip().lower()): _target(kind, v)
                for k, v in spec.values.items()
            }
            for i in range(n):
                if keys[i] in table:
                    out[i] = table[keys[i]]
                elif missing[i]:
                    out[i] = default
                elif spec.unmatched == "keep":
                    out[i] = uniq[i].strip()
                elif spec.unmatched == "unknown":
                    out[i] = None
                else:
                    why[i] = (
                        f"{name}: {src} value {uniq[i].strip()[:40]!r} has no recode in "
                        f"fields.{name}.values"
                    )
        else:
            for i in range(n):
                out[i] = default if missing[i] else uniq[i].strip()
        return out, why

    return _by_unique(col, fn)


def _parse_with_formats(texts: np.ndarray, formats: list[str], tz: str | None) -> np.ndarray:
    """Distinct texts -> naive datetime64[us], NaT where no format fits; formats tried in order."""
    out = pd.Series(pd.NaT, index=range(len(texts)), dtype="datetime64[us]")
    todo = pd.Series([t.strip() for t in texts], dtype=object)
    for fmt in formats:
        left = out.isna() & (todo != "")
        if not left.any():
            break
        if "%z" in fmt or "%Z" in fmt:
            parsed = pd.to_datetime(todo[left], format=fmt, errors="coerce", utc=True)
            parsed = parsed.dt.tz_convert(tz).dt.tz_localize(None)
        else:
            parsed = pd.to_datetime(todo[left], format=fmt, errors="coerce")
        out[left] = parsed.astype("datetime64[us]")
    return out.to_numpy().copy()


def _map_time(
    spec: FieldSpec, raw: pd.DataFrame, markers: set[str], tz: str | None
) -> tuple[pd.Series, np.ndarray]:
    """received_at from one column (ISO 8601 or `formats`) or from date + time columns."""
    local = markers | {m.strip().lower() for m in spec.missing_values}
    nat = np.datetime64("NaT", "us")

    def parse(col: str, formats: list[str], label: str) -> Callable:
        def fn(uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            missing = _missing_mask(uniq, local)
            values = _parse_with_formats(uniq, formats, tz)
            values[missing] = nat
            why = np.full(len(uniq), None, dtype=object)
            why[missing] = f"received_at: {col} is empty or a missing marker"
            bad = ~missing & np.isnat(values)
            why[bad] = f"received_at: {col} does not match any of {label} {formats}"
            return values, why

        return fn

    if spec.date is not None:
        day, why_d = _by_unique(
            raw[spec.date], parse(spec.date, spec.date_formats, "date_formats")
        )
        clock, why_t = _by_unique(
            raw[spec.time], parse(spec.time, spec.time_formats, "time_formats")
        )
        day_s = pd.Series(day, index=raw.index).dt.normalize()
        clock_s = pd.Series(clock, index=raw.index)
        values = day_s + (clock_s - clock_s.dt.normalize())
        why = np.where(pd.isna(why_d), why_t, why_d)
        return values.astype("datetime64[us]"), why
    col = spec.column
    if spec.formats:
        values, why = _by_unique(raw[col], parse(col, spec.formats, "formats"))
        return pd.Series(values, index=raw.index).astype("datetime64[us]"), why

    # ISO 8601: validate_frame parses it (and applies the timezone to offsets).
    def iso(uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        missing = _missing_mask(uniq, local)
        out = np.array([None if m else t.strip() for t, m in zip(uniq, missing, strict=True)])
        why = np.full(len(uniq), None, dtype=object)
        why[missing] = f"received_at: {col} is empty or a missing marker"
        return out.astype(object), why

    values, why = _by_unique(raw[col], iso)
    return pd.Series(values, index=raw.index, dtype="string"), why


def used_columns(raw: pd.DataFrame, mapping: Mapping | None) -> list[str]:
    """Source columns the quarantine shows: those the mapping reads (all without a mapping)."""
    if mapping is None:
        return list(raw.columns)
    wanted = {c for _, c in mapping.source_columns()}
    wanted |= {t.column for t in mapping.extra_header_rows}
    return [c for c in raw.columns if c in wanted]


def _quarantine_frame(
    raw: pd.DataFrame, index: pd.Index, reasons: Iterable[str], columns: list[str]
) -> pd.DataFrame:
    q = raw.loc[index, columns].copy()
    q.insert(0, "_reason", pd.Series(list(reasons), index=index, dtype="string"))
    q.insert(0, "_row", (np.asarray(index) + 1).astype("int64"))
    return q


def apply_mapping(raw: pd.DataFrame, mapping: Mapping | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Raw text frame -> (canonical-named frame for validate_frame, rows the mapping rejected).

    Both frames keep `raw`'s index (data row number - 1). The canonical frame holds the mapped
    fields plus `keep:` columns; the rejected frame holds `_row`, `_reason` and the raw values of
    the source columns the mapping reads. Without a mapping the export must already use canonical
    names and every column is carried through. Expects header rows already removed
    (`skip_header_rows`).
    """
    if mapping is None:
        missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
        if missing:
            hints = "".join(_did_you_mean(c, raw.columns) for c in missing[:1])
            raise UserError(
                f"the export has no column {', '.join(missing)}{hints}: without --mapping the "
                "columns must already have canonical names; write a mapping (docs/ingest.md)"
            )
        empty = _quarantine_frame(raw, raw.index[:0], [], list(raw.columns))
        return raw.copy(), empty

    for where, col in mapping.source_columns():
        if col not in raw.columns:
            raise UserError(_missing_column_msg(where, col, raw.columns))
    markers = {m.strip().lower() for m in mapping.missing_values} | {""}
    reason = np.full(len(raw), None, dtype=object)
    out: dict[str, Any] = {}
    order = [f for f in MAPPABLE_FIELDS if f in mapping.fields]
    for name in order:
        spec = mapping.fields[name]
        kind = _field_kind(name)
        if spec.value is not None:
            value = _target(kind, spec.value)
            out[name] = pd.Series([value] * len(raw), index=raw.index, dtype="object")
            why = np.full(len(raw), None, dtype=object)
        elif kind == "time":
            out[name], why = _map_time(spec, raw, markers, mapping.timezone)
        else:
            values, why = _map_column(name, spec, raw[spec.column], markers)
            out[name] = pd.Series(values, index=raw.index, dtype="object")
        if kind == "bool":
            out[name] = out[name].astype("boolean")
        elif kind != "time":
            out[name] = out[name].astype("string")
        first = pd.isna(reason) & ~pd.isna(why)
        reason[first] = why[first]

    canonical = pd.DataFrame(out, index=raw.index)
    for col in mapping.keep:
        canonical[col] = raw[col]
    bad = ~pd.isna(reason)
    rejected = _quarantine_frame(
        raw, raw.index[bad], reason[bad].tolist(), used_columns(raw, mapping)
    )
    return canonical.loc[~bad], rejected


# --------------------------------------------------------------------------- the whole step


def _sources_by_field(mapping: Mapping | None) -> dict[str, str]:
    """Canonical field -> where it came from, appended to validate_frame's reasons."""
    if mapping is None:
        return {}
    src = {}
    for name, spec in mapping.fields.items():
        if spec.value is not None:
            src[name] = "constant in the mapping"
        elif spec.date is not None:
            src[name] = f"columns {spec.date} + {spec.time}"
        else:
            src[name] = f"column {spec.column}"
    if "latitude" in src or "longitude" in src:
        src["latitude/longitude"] = " and ".join(
            src[f] for f in ("latitude", "longitude") if f in src
        )
    return src


def _explain_reasons(reasons: pd.Series, mapping: Mapping | None) -> pd.Series:
    """Adds the source column to each validate_frame reason (which names only the field)."""
    sources = _sources_by_field(mapping)
    if not sources or reasons.empty:
        return reasons
    lookup = {}
    for r in reasons.unique():
        field = str(r).split(":", 1)[0]
        lookup[r] = f"{r} ({sources[field]})" if field in sources else r
    return reasons.map(lookup)


def _rename_reserved(raw: pd.DataFrame) -> pd.DataFrame:
    """Renames source columns called `_row`/`_reason` (a quarantine file fed back in).

    The quarantine adds its own `_row` and `_reason`; the earlier ones stay visible, renamed.
    """
    clash = {c: f"_earlier{c}" for c in RESERVED_COLUMNS if c in raw.columns}
    if not clash:
        return raw
    for old, new in clash.items():
        if new in raw.columns:
            raise UserError(f"the export has both {old!r} and {new!r}: rename one of them")
    log.info("renamed source columns %s (names ingest reserves)", clash)
    return raw.rename(columns=clash)


def _dropped_columns(raw: pd.DataFrame, mapping: Mapping | None) -> list[str]:
    """Source columns that neither feed a field nor are kept (they do not reach calls.parquet)."""
    if mapping is None:
        return []
    read = {c for spec in mapping.fields.values() for _, c in spec.source_columns()}
    return [str(c) for c in raw.columns if c not in read and c not in mapping.keep]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Writes next to the target and renames, so a crash never leaves half a file behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _output_paths(out_dir: Path, input_path: Path) -> dict[str, Path]:
    """The three output paths; refuses a file as --out or outputs that would replace the input."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out must be a directory, but {out_dir} is a file")
    paths = {
        "out": out_dir / CALLS_FILE,
        "quarantine": out_dir / QUARANTINE_FILE,
        "report": out_dir / REPORT_FILE,
    }
    src = input_path.resolve()
    for p in paths.values():
        if p.resolve() == src:
            raise UserError(
                f"--out {out_dir} would overwrite the input {input_path}; choose another directory"
            )
    return paths


def _make_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output directory {out_dir}: {exc.strerror}") from None


def ingest_file(input_path: Path, out_dir: Path, mapping_path: Path | None = None) -> dict:
    """Export (+ mapping) -> calls.parquet, quarantine.csv and ingest_report.json in `out_dir`.

    Returns the report: rows_in, rows_accepted, rows_quarantined, header_rows_skipped, reasons
    (the most common quarantine reasons with counts), mapping name, output paths and seconds.
    The input file is only read, never written.
    """
    started = time.perf_counter()
    input_path, out_dir = Path(input_path), Path(out_dir)
    mapping = load_mapping(Path(mapping_path)) if mapping_path is not None else None
    paths = _output_paths(out_dir, input_path)
    encoding = mapping.encoding if mapping else "utf-8"
    raw = read_export(
        input_path, encoding=encoding, delimiter=mapping.delimiter if mapping else None
    )
    log.info("read %s: %d rows x %d columns", input_path, len(raw), len(raw.columns))
    raw = _rename_reserved(raw)
    raw, n_headers = skip_header_rows(raw, mapping)
    if n_headers:
        log.info("skipped %d extra header row(s)", n_headers)
    if raw.empty:
        raise UserError(f"{input_path}: the export has a header but no data rows")

    canonical, rejected = apply_mapping(raw, mapping)
    if len(rejected):
        log.info("mapping step: %d row(s) rejected", len(rejected))
    tz = mapping.timezone if mapping else None
    try:
        result = validate_frame(canonical, tz=tz, row_numbers=canonical.index + 1)
    except SchemaError as exc:  # only reachable without a mapping; apply_mapping checks first
        raise UserError(f"{input_path}: {exc}") from None
    vq = result.quarantined
    vq_index = pd.Index(vq["_row"].to_numpy(dtype="int64") - 1)
    quarantine = pd.concat(
        [
            rejected,
            _quarantine_frame(
                raw,
                vq_index,
                _explain_reasons(vq["_reason"].astype("string"), mapping).tolist(),
                used_columns(raw, mapping),
            ),
        ]
    ).sort_values("_row", kind="stable")
    accepted = result.accepted

    rows_in = len(raw)
    if rows_in != len(accepted) + len(quarantine):  # an invariant, kept even under python -O
        raise AssertionError(
            f"ingest accounting broken: {rows_in} in, {len(accepted)} accepted, "
            f"{len(quarantine)} quarantined"
        )

    protected = [c for c in accepted.columns if protected_reason(str(c))]
    warnings = []
    if protected:
        warnings.append(
            "columns that look like protected attributes are carried through (no mapping was "
            f"given): {', '.join(protected)}; they are never features, but a mapping drops them"
        )
        log.warning(warnings[-1])

    # Only now, with every check passed, does anything touch the disk.
    _make_out_dir(out_dir)
    _write_atomic(paths["out"], lambda p: accepted.to_parquet(p, index=False))
    _write_atomic(
        paths["quarantine"],
        lambda p: quarantine.to_csv(p, index=False, encoding="utf-8", lineterminator="\n"),
    )
    counts = quarantine["_reason"].value_counts()
    report = {
        "input": str(input_path),
        "input_sha256": _sha256(input_path),
        "mapping": mapping.name if mapping else None,
        "mapping_path": str(mapping_path) if mapping_path is not None else None,
        "rows_in": rows_in,
        "rows_accepted": len(accepted),
        "rows_quarantined": len(quarantine),
        "header_rows_skipped": n_headers,
        "reasons": {str(k): int(v) for k, v in counts.head(TOP_REASONS).items()},
        "distinct_reasons": len(counts),
        "columns": [str(c) for c in accepted.columns],
        "dropped_columns": _dropped_columns(raw, mapping),
        "warnings": warnings,
        "out": str(paths["out"]),
        "quarantine": str(paths["quarantine"]),
        "report": str(paths["report"]),
        "seconds": round(time.perf_counter() - started, 3),
    }
    _write_atomic(
        paths["report"], lambda p: p.write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    )
    log.info(
        "ingest: %d in, %d accepted, %d quarantined -> %s (%.1fs)",
        rows_in,
        len(accepted),
        len(quarantine),
        paths["out"],
        report["seconds"],
    )
    return report
