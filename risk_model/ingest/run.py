"""Agency export -> canonical calls (SPEC §1), through a mapping file, with a quarantine.

The flow is: read every cell as text (nothing coerced; one file, or a folder or glob of one
agency's files stacked with their headers matched: `files.py`), drop header rows repeated inside
a file, drop rows that are not calls (`exclude:`, counted by rule), apply the mapping (rename,
recode, derive flags, split one-value-per-officer cells, combine date + time or date + shift
band), validate with `risk_model.schema.validate_frame`, fold the rows of one incident or
quarantine duplicates (`fold.py`), read a column of midnights as dates (`times.py`), blank places
that are not premises (`not_premises:`), join officer-harm flags from their own file
(`outcomes:`), then write accepted rows to Parquet and every rejected row to a quarantine CSV with
one reason naming the canonical field and the source column.
Exact accounting (`rows_in = rows_accepted + rows_folded + rows_quarantined + rows_excluded`, and
`outcome_rows_in = matched + unmatched + quarantined`) is asserted on every run.

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
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from risk_model.dataset import PARTITION_CHOICES, replace_path, write_csv, write_partitioned
from risk_model.errors import UserError
from risk_model.ingest.drops import nothing_left, nothing_matched, quarantine_share
from risk_model.ingest.eido_files import ingest_eido_folder, is_eido_folder
from risk_model.ingest.files import (
    COMPRESSED_SUFFIXES,
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    FileSpan,
    align_headers,
    concat_frames,
    export_paths,
    per_file,
    rows_in_files,
)
from risk_model.ingest.fold import DUPLICATE_REASON, Repeats, duplicates_or_refuse, fold_incidents
from risk_model.ingest.guards import GUARD_WHY, GUARDS, guard_reason, protected_reason
from risk_model.ingest.times import midnight_as_dates
from risk_model.schema import (
    AGENCY,
    AGENCY_PATTERN,
    BOOL_COLUMNS,
    BOOL_FALSE,
    BOOL_TRUE,
    CANONICAL_COLUMNS,
    OUTCOME_COLUMNS,
    OUTCOME_KNOWN_AT,
    PRIORITY_MAX,
    PRIORITY_MIN,
    REQUIRED_COLUMNS,
    SchemaError,
    known_at_column,
    parse_bool,
    validate_frame,
)

log = logging.getLogger(__name__)

CALLS_FILE = "calls.parquet"
QUARANTINE_FILE = "quarantine.csv"
REPORT_FILE = "ingest_report.json"
EXCLUDED_FILE = "excluded.csv"
OUTCOMES_UNMATCHED_FILE = "outcomes_unmatched.csv"
OUTCOMES_QUARANTINE_FILE = "outcomes_quarantine.csv"
# The exclusive end of the interval a call was received in (DESIGN: times known to a range); NaT
# when received_at is exact. Written only by mappings that can give a day or a shift band.
RECEIVED_UNTIL = "received_until"
# received_until is written by ingest from received_at's mapping (a day, a shift band), never
# mapped on its own, even once the schema lists it as a canonical column.
MAPPABLE_FIELDS: tuple[str, ...] = tuple(
    c for c in (*CANONICAL_COLUMNS, *OUTCOME_COLUMNS) if c != RECEIVED_UNTIL
)
TOP_REASONS = 20
RESERVED_COLUMNS = ("_row", "_reason")

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


class RowRule(Condition):
    """A row test on one source column (`exclude:`, `not_premises:`), case-insensitive."""

    column: str

    def label(self, where: str) -> str:
        """How the report and excluded.csv name the rule: `exclude[0]: NATURE equals [...]`."""
        parts = [f"{k} {getattr(self, k)!r}" for k in ("equals", "contains") if getattr(self, k)]
        return f"{where}: {self.column} {' or '.join(parts)}"


class Allowance(_Strict):
    """An explicit override for a column that only LOOKS personal or post-incident."""

    column: str
    because: str


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
    split: str | None = None
    shift: str | None = None
    shifts: dict[str, str] | None = None
    time_optional: bool = False

    def source_columns(self) -> list[tuple[str, str]]:
        """(key, source column) pairs this field reads."""
        keys = ("column", "date", "time", "shift")
        return [(k, getattr(self, k)) for k in keys if getattr(self, k)]


class OutcomeSpec(_Strict):
    """The `outcomes:` block: officer harm from its own file, joined onto accepted calls."""

    file: str
    key: str
    call_key: str | None = None
    absent: Literal["false", "unknown"]
    encoding: str = "utf-8"
    delimiter: str | None = None
    missing_values: list[str] = []
    fields: dict[str, FieldSpec]

    @field_validator("fields", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ({"column": s} if isinstance(s, str) else s) for k, s in v.items()}
        return v


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
    exclude: list[RowRule] = []
    not_premises: list[RowRule] = []
    allow: list[Allowance] = []
    outcomes: OutcomeSpec | None = None
    # `fold`: rows sharing the call id are one incident (one row per officer/subject); see fold.py.
    incident_rows: Literal["fold"] | None = None
    # The agency every call of the export belongs to (`ingest --agency` gives it too).
    agency: Annotated[str | None, Field(pattern=AGENCY_PATTERN)] = None
    # With `incident_rows: fold`, the column of an officer's id: `officers` then counts distinct
    # ids per incident instead of rows. Read only to count; the ids are never kept.
    officer_id: str | None = None

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
    "exclude.*": RowRule,
    "not_premises.*": RowRule,
    "allow.*": Allowance,
    "outcomes": OutcomeSpec,
    "outcomes.fields.*": FieldSpec,
    "outcomes.fields.*.true_when": Condition,
    "outcomes.fields.*.false_when": Condition,
    "fields.*": FieldSpec,
    "fields.*.true_when": Condition,
    "fields.*.false_when": Condition,
    "extra_header_rows.*": HeaderRowTest,
}


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Which mapping block a pydantic error location points into (for "allowed keys")."""
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] in (
        "fields",
        "extra_header_rows",
        "exclude",
        "not_premises",
        "allow",
    ):
        parts[1] = "*"
    if len(parts) >= 3 and parts[:2] == ["outcomes", "fields"]:
        parts[2] = "*"
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
        elif err["type"] == "missing" and loc == ("outcomes", "absent"):
            parts.append(
                'outcomes.absent: required: "false" (the outcome file lists every harmed call, '
                'so a call with no row was not harmed) or "unknown"'
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
    if "%I" in fmt and "%p" not in fmt:
        return f"{fmt!r} uses a 12-hour clock (%I) without AM/PM (%p)"
    if not _has_clock(fmt) and re.search(r"%[MS]", fmt):
        return f"{fmt!r} has minutes or seconds but no hour code (%H, or %I with %p)"
    return None


_BAND_RE = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?\s*$")


def _band_hours(text: str) -> tuple[dt.timedelta, dt.timedelta] | None:
    """ "15-23" -> (15 h, 23 h); "23-07" -> (23 h, 31 h): a band crossing midnight ends next day.

    None when the text is not a band of hours (or starts and ends at the same time).
    """
    m = _BAND_RE.match(text or "")
    if not m:
        return None
    h1, m1, h2, m2 = (int(g) if g else 0 for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        return None
    start = dt.timedelta(hours=h1, minutes=m1)
    end = dt.timedelta(hours=h2, minutes=m2)
    if end == start:
        return None
    if end < start:
        end += dt.timedelta(days=1)
    return start, end


_COMPACT_CLOCK = {"%H%M": 4, "%H%M%S": 6}


def pad_compact_clock(texts: pd.Series, fmt: str) -> pd.Series:
    """`220` under `%H%M` is 02:20, not 22:00: an HHMM time stored as a number lost its zeros.

    strptime reads `%H` greedily ("220" -> 22:00), so digit-only texts shorter than the format's
    width get their leading zeros back before parsing. Other formats are left alone.
    """
    width = _COMPACT_CLOCK.get(fmt)
    if width is None:
        return texts
    short = texts.str.fullmatch(rf"\d{{1,{width - 1}}}", na=False)
    return texts.where(~short, texts.str.zfill(width))


def _has_clock(fmt: str) -> bool:
    """Whether a strptime format reads a clock time (else a time parsed by it is a whole day)."""
    return bool(re.search(r"%[HI]", fmt))


def _check_formats(at: str, formats: list[str] | None) -> list[str]:
    """Problems with a time field's `formats` list (a date alone is allowed: known to the day)."""
    errs = [f"{at}.formats: {p}" for fmt in formats or [] if (p := _check_format(fmt, "date"))]
    if formats is not None and not formats:
        errs.append(f"{at}.formats: empty list; leave it out for ISO 8601 times")
    return errs


def _check_target(
    field: str, kind: str, value: str, what: str, block: str = "fields"
) -> str | None:
    """A problem with a value the mapping writes into a canonical field, or None."""
    text = value.strip()
    if text == "":
        return None
    if kind == "bool":
        try:
            parse_bool(text)
        except SchemaError:
            return f"{block}.{field}.{what}: {value!r} is not true or false"
    elif kind == "int":
        try:
            n = float(text)
        except ValueError:
            return f"{block}.{field}.{what}: {value!r} is not a whole number"
        if n != int(n) or not PRIORITY_MIN <= n <= PRIORITY_MAX:
            return f"{block}.{field}.{what}: {value!r} is not a whole number in 1..9"
    elif kind == "float":
        try:
            float(text)
        except ValueError:
            return f"{block}.{field}.{what}: {value!r} is not a number"
    return None


def _check_field(name: str, spec: FieldSpec, block: str = "fields") -> list[str]:
    """Which key combinations make sense for this canonical field."""
    kind = _field_kind(name)
    at = f"{block}.{name}"
    errs: list[str] = []
    sources = [k for k in ("column", "value", "date") if getattr(spec, k) is not None]
    if spec.time is not None and spec.date is None:
        errs.append(f"{at}: time needs date (the column holding the day)")
    if len(sources) != 1:
        how = "column, or date (+ time or shift)" if kind == "time" else "column or value"
        errs.append(f"{at}: give exactly one of {how}")
        return errs
    if kind == "time":
        if spec.value is not None:
            errs.append(f"{at}: a constant time makes no sense; map a column")
        for key in ("values", "true_when", "false_when", "default", "unmatched"):
            if getattr(spec, key) is not None:
                errs.append(f"{at}: {key} is not used for received_at")
        if spec.date is not None:
            if spec.time is not None and spec.shift is not None:
                errs.append(f"{at}: give time or shift, not both")
            if spec.formats is not None:
                errs.append(f"{at}: with date (+ time), use date_formats and time_formats")
            if not spec.date_formats:
                errs.append(f"{at}: date needs date_formats (a list)")
            if spec.time is not None and not spec.time_formats:
                errs.append(f"{at}: date + time need date_formats and time_formats (lists)")
            if spec.time is None and spec.time_formats is not None:
                errs.append(f"{at}: time_formats need time (the column holding the clock time)")
            if spec.time_optional and spec.time is None and spec.shift is None:
                errs.append(f"{at}: time_optional needs time or shift")
            for key, needs in (("date_formats", "date"), ("time_formats", "time")):
                for fmt in getattr(spec, key) or []:
                    if "%z" in fmt or "%Z" in fmt:
                        errs.append(
                            f"{at}.{key}: {fmt!r}: offsets (%z) work only with `column` + "
                            "`formats`"
                        )
                    elif problem := _check_format(fmt, needs):
                        errs.append(f"{at}.{key}: {problem}")
            if spec.shift is not None:
                if not spec.shifts:
                    errs.append(
                        f"{at}: shift needs shifts, the agency's shift table (band text: "
                        '"HH-HH", e.g. {"Day": "07-15"}); bands are never guessed'
                    )
                for band, hours in (spec.shifts or {}).items():
                    if _band_hours(hours) is None:
                        errs.append(
                            f"{at}.shifts[{band!r}]: {hours!r} is not a band of hours like "
                            '"07-15", "23-07" or "06:30-14:30"'
                        )
            elif spec.shifts is not None:
                errs.append(f"{at}: shifts need shift (the column holding the band text)")
        else:
            for key in ("date_formats", "time_formats", "shift", "shifts"):
                if getattr(spec, key) is not None:
                    errs.append(f"{at}: {key} needs date (the column holding the day)")
            if spec.time_optional:
                errs.append(f"{at}: time_optional needs date + time")
            errs += _check_formats(at, spec.formats)
        return errs

    for key in (
        "date",
        "time",
        "formats",
        "date_formats",
        "time_formats",
        "shift",
        "shifts",
    ):
        if getattr(spec, key) is not None:
            errs.append(f"{at}: {key} is only for received_at")
    if spec.time_optional:
        errs.append(f"{at}: time_optional is only for received_at")
    derived = spec.true_when is not None or spec.false_when is not None
    if spec.split is not None:
        if kind != "bool":
            errs.append(f"{at}.split: only true/false fields split a cell into parts")
        elif spec.column is None:
            errs.append(f"{at}.split: needs a column, not a constant value")
        elif spec.split == "":
            errs.append(f'{at}.split: give the separator text, e.g. split: "|"')
    if spec.value is not None:
        if name == "call_id":
            errs.append(f"{at}: call_id cannot be a constant (every row would be a duplicate)")
        for key in ("values", "true_when", "false_when", "default", "unmatched"):
            if getattr(spec, key) is not None:
                errs.append(f"{at}: {key} needs a column, not a constant value")
        if spec.missing_values:
            errs.append(f"{at}: missing_values needs a column, not a constant value")
        if problem := _check_target(name, kind, spec.value, "value", block):
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
            if problem := _check_target(name, kind, target, f"values[{src!r}]", block):
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
        elif problem := _check_target(name, kind, spec.default, "default", block):
            errs.append(problem)
    return errs


def _check_known_at(spec: FieldSpec) -> list[str]:
    """`outcomes.fields.outcome_known_at`: a report-time column, ISO 8601 or `formats` (a format
    without a clock time gives the day: known from its end)."""
    at = f"outcomes.fields.{OUTCOME_KNOWN_AT}"
    errs: list[str] = []
    if spec.column is None:
        errs.append(f"{at}: give the outcome file's column holding the report's time (column:)")
    for key in (
        "value",
        "date",
        "time",
        "date_formats",
        "time_formats",
        "shift",
        "shifts",
        "values",
        "true_when",
        "false_when",
        "unmatched",
        "default",
        "split",
    ):
        if getattr(spec, key) is not None:
            errs.append(f"{at}: {key} is not used for a report time (use column and formats)")
    if spec.time_optional:
        errs.append(f"{at}: time_optional is not used for a report time (a date alone is fine)")
    errs += _check_formats(at, spec.formats)
    return errs


def _check_outcomes(m: Mapping) -> list[str]:
    """The `outcomes:` block: outcome fields only, not also under `fields:`, a readable file."""
    o = m.outcomes
    assert o is not None
    errs: list[str] = []
    if not any(name in OUTCOME_COLUMNS for name in o.fields):
        errs.append("outcomes.fields: map officer_assaulted and/or officer_injured")
    for name, spec in o.fields.items():
        if name == OUTCOME_KNOWN_AT:
            errs += _check_known_at(spec)
            continue
        if name not in OUTCOME_COLUMNS:
            errs.append(
                f"outcomes.fields.{name}: only {' and '.join(OUTCOME_COLUMNS)} (and "
                f"{OUTCOME_KNOWN_AT}, the report's filing time) come from the outcome file "
                "(only the outcome flags and their time cross the join)"
                + _did_you_mean(name, (*OUTCOME_COLUMNS, OUTCOME_KNOWN_AT))
            )
            continue
        if name in m.fields:
            errs.append(
                f"outcomes.fields.{name}: also mapped under fields.{name}; take it from one "
                "place (the export or the outcome file)"
            )
        errs += _check_field(name, spec, "outcomes.fields")
    try:
        codecs.lookup(o.encoding)
    except LookupError:
        errs.append(f"outcomes.encoding: {o.encoding!r} is not a known text encoding")
    if o.delimiter is not None and len(o.delimiter.replace("\\t", "\t")) != 1:
        errs.append(f"outcomes.delimiter: {o.delimiter!r} must be one character")
    if not o.file.strip():
        errs.append("outcomes.file: give the outcome file (relative to the mapping, or absolute)")
    if o.call_key is None and "call_id" in m.fields and m.fields["call_id"].column is None:
        errs.append("outcomes.call_key: give the export's column holding the call's number")
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
    allowed = {a.column for a in m.allow}
    for where, col in m.source_columns():
        at = f"fields.{where}" if not where.startswith("keep") else where
        if why := protected_reason(col, m.never_map):
            errs.append(
                f"{at}: column {col!r} looks like a protected attribute ({why}); "
                + GUARD_WHY["protected"]
            )
        elif (
            where.split(".")[0] not in OUTCOME_COLUMNS
            and col not in allowed
            and (guard := guard_reason(col))
        ):
            category, token = guard
            errs.append(
                f"{at}: column {col!r} looks {category} ({token!r}); "
                + GUARD_WHY[category]
                + f'; if it only looks so, add `allow: [{{column: {col}, because: "..."}}]`'
            )
    for i, a in enumerate(m.allow):
        if why := protected_reason(a.column):
            errs.append(
                f"allow[{i}]: {a.column!r} looks like a protected attribute ({why}), which no "
                "override can allow"
            )
        if not a.because.strip():
            errs.append(f"allow[{i}].because: say why {a.column!r} is safe to read")
    for key in ("exclude", "not_premises"):
        for i, rule in enumerate(getattr(m, key)):
            if not (rule.equals or rule.contains):
                errs.append(f"{key}[{i}]: give equals and/or contains (lists of texts)")
            if why := protected_reason(rule.column, m.never_map):
                errs.append(
                    f"{key}[{i}]: column {rule.column!r} looks like a protected attribute ({why})"
                )
    if m.outcomes is not None:
        errs += _check_outcomes(m)
    if m.officer_id is not None and m.incident_rows != "fold":
        errs.append(
            "officer_id: only counts officers of an incident with several rows; add "
            "`incident_rows: fold` or remove officer_id"
        )
    if m.officer_id is not None and (why := protected_reason(m.officer_id, m.never_map)):
        errs.append(
            f"officer_id: column {m.officer_id!r} looks like a protected attribute ({why})"
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
    # Counted once (a Counter), not `out.count(n)` per name: that was quadratic in the columns.
    dupes = sorted(n for n, k in Counter(out).items() if k > 1)
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
            dtype=object,
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
    cells = df.to_numpy(dtype=object)
    # Short rows are padded by the parser with NaN; a missing cell is an empty cell.
    cells[pd.isna(cells)] = ""
    names = [str(v).strip() for v in cells[0]]
    return _text_frame(cells[1:], _unique_names(names, path))


def _text_frame(cells: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Cells (rows x columns, all text) -> one frame backed by ONE 2-D object block.

    One block per column (what `dtype=str` gives) makes every row selection and copy cost a
    step per column; an export with 100,000 columns then took minutes. One block keeps ingest
    linear in the columns.
    """
    return pd.DataFrame(
        cells,
        columns=pd.Index(names, dtype=object),
        index=pd.RangeIndex(len(cells)),
        dtype=object,
        copy=False,
    )


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"{path}: not a readable Parquet file ({exc})") from None
    names = _unique_names([str(n).strip() for n in table.column_names], path)
    cells = np.empty((table.num_rows, len(names)), dtype=object)
    for j, col in enumerate(table.columns):
        try:
            text = pc.cast(col, pa.large_string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            text = pa.chunked_array(
                [pa.array([None if v is None else str(v) for v in col.to_pylist()])],
                type=pa.large_string(),
            )
        cells[:, j] = pc.fill_null(text, "").to_numpy(zero_copy_only=False)
    return _text_frame(cells, names)


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
    col: pd.Series, fn: Callable[[np.ndarray], tuple[np.ndarray, ...]]
) -> tuple[np.ndarray, ...]:
    """Runs `fn` once per distinct value and spreads its arrays (values, reasons) to every row.

    Exports repeat the same dates, codes and words millions of times; parsing each distinct text
    once is what keeps a million-row ingest within seconds.
    """
    codes, uniques = pd.factorize(col.to_numpy(dtype=object), sort=False)
    return tuple(a[codes] for a in fn(np.asarray(uniques, dtype=object)))


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


def _bool_reader(
    name: str, spec: FieldSpec, markers: set[str]
) -> Callable[[str], tuple[bool | None, str | None]]:
    """One typed reader for a true/false field, whatever form the mapping uses.

    Returns a function from one stripped, non-missing text to (value, reason): `true_when` /
    `false_when`, a `values` recode, or (short form, plain `{column: X}`) the SPEC booleans
    (true/false, 1/0, yes/no, y/n, t/f). A reason (the row is quarantined) names the field and the
    source column; nothing is ever guessed.
    """
    src = spec.column
    mc = spec.match_case

    def key(t: str) -> str:
        return t if mc else t.lower()

    if spec.true_when is not None or spec.false_when is not None:

        def cond(c: Condition | None) -> tuple[set[str], list[str]]:
            if c is None:
                return set(), []
            return {key(e.strip()) for e in c.equals}, [key(x) for x in c.contains]

        t_eq, t_sub = cond(spec.true_when)
        f_eq, f_sub = cond(spec.false_when)

        def derived(text: str) -> tuple[bool | None, str | None]:
            k = key(text)
            t = k in t_eq or any(x in k for x in t_sub)
            f = k in f_eq or any(x in k for x in f_sub)
            if t and f:
                return None, (
                    f"{name}: {src} value {text[:40]!r} matches both true_when and false_when"
                )
            if t or f:
                return bool(t), None
            if spec.unmatched == "quarantine":
                return None, (
                    f"{name}: {src} value {text[:40]!r} matches neither true_when nor false_when"
                )
            return None, None

        return derived
    if spec.values is not None:
        table = {key(k.strip()): _target("bool", v) for k, v in spec.values.items()}

        def recode(text: str) -> tuple[bool | None, str | None]:
            k = key(text)
            if k in table:
                return table[k], None
            if text.lower() in markers:
                return None, None
            if spec.unmatched == "unknown":
                return None, None
            return None, f"{name}: {src} value {text[:40]!r} has no recode in fields.{name}.values"

        return recode

    def plain(text: str) -> tuple[bool | None, str | None]:
        low = text.lower()
        if low in BOOL_TRUE:
            return True, None
        if low in BOOL_FALSE:
            return False, None
        return None, (
            f"{name}: {src} value {text[:40]!r} is not true or false (true/false, 1/0, yes/no, "
            f"y/n, t/f; or recode it with fields.{name}.values)"
        )

    return plain


def _map_bool(
    name: str, spec: FieldSpec, col: pd.Series, markers: set[str]
) -> tuple[np.ndarray, np.ndarray]:
    """A true/false field from one source column, with `split` for one value per officer.

    With `split`, a cell is cut on the separator and each part read on its own: true when any part
    is true, false when every part is false, unknown otherwise (empty or missing parts are
    unknown). A part the mapping cannot read quarantines the row.
    """
    local = markers | {m.strip().lower() for m in spec.missing_values}
    default = _target("bool", spec.default) if spec.default is not None else None
    read = _bool_reader(name, spec, local)
    table_keys = (
        {(k.strip() if spec.match_case else k.strip().lower()) for k in spec.values}
        if spec.values is not None
        else set()
    )

    def whole_missing(text: str) -> bool:
        # A missing marker the recode table lists on purpose is a value, not a missing cell.
        k = text if spec.match_case else text.lower()
        return text.lower() in local and k not in table_keys

    def fn(uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(uniq)
        out = np.full(n, None, dtype=object)
        why = np.full(n, None, dtype=object)
        for i in range(n):
            text = uniq[i].strip()
            if whole_missing(text):
                out[i] = default
                continue
            if spec.split is None:
                out[i], why[i] = read(text)
                continue
            parts = [p.strip() for p in text.split(spec.split)]
            got: list[bool | None] = []
            for p in parts:
                if whole_missing(p):
                    got.append(None)
                    continue
                value, reason = read(p)
                if reason is not None:
                    why[i] = f"{reason} (a part of {text[:60]!r} split on {spec.split!r})"
                    break
                got.append(value)
            if why[i] is None:
                out[i] = (
                    True
                    if True in got
                    else (False if got and all(g is False for g in got) else None)
                )
        return out, why

    return _by_unique(col, fn)


def _map_column(
    name: str, spec: FieldSpec, col: pd.Series, markers: set[str]
) -> tuple[np.ndarray, np.ndarray]:
    """One non-time field from one source column: missing markers, recode or derive, default."""
    kind = _field_kind(name)
    if kind == "bool":
        return _map_bool(name, spec, col, markers)
    src = spec.column
    local = markers | {m.strip().lower() for m in spec.missing_values}
    default = _target(kind, spec.default) if spec.default is not None else None

    def fn(uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(uniq)
        missing = _missing_mask(uniq, local)
        out = np.empty(n, dtype=object)
        why = np.full(n, None, dtype=object)
        keys = _norm(uniq, spec.match_case)
        if spec.values is not None:
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


def _parse_with_formats(
    texts: np.ndarray, formats: list[str], tz: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct texts -> (naive datetime64[us], NaT where no format fits; day-only mask).

    Formats are tried in order; a text parsed by a format without a clock time is known only to
    the day (second array True), so its time is the day at 00:00 and never an invented hour.
    """
    out = pd.Series(pd.NaT, index=range(len(texts)), dtype="datetime64[us]")
    day_only = np.zeros(len(texts), dtype=bool)
    todo = pd.Series([t.strip() for t in texts], dtype=object)
    for fmt in formats:
        left = out.isna() & (todo != "")
        if not left.any():
            break
        if "%z" in fmt or "%Z" in fmt:
            parsed = pd.to_datetime(todo[left], format=fmt, errors="coerce", utc=True)
            parsed = parsed.dt.tz_convert(tz).dt.tz_localize(None)
        else:
            parsed = pd.to_datetime(
                pad_compact_clock(todo[left], fmt), format=fmt, errors="coerce"
            )
        out[left] = parsed.astype("datetime64[us]")
        if not _has_clock(fmt):
            day_only[left.to_numpy() & parsed.reindex(out.index).notna().to_numpy()] = True
    return out.to_numpy().copy(), day_only


def _map_time(
    spec: FieldSpec, raw: pd.DataFrame, markers: set[str], tz: str | None
) -> tuple[pd.Series, np.ndarray, pd.Series | None]:
    """received_at (and received_until where a call is known only to a range) from the export.

    Forms: one column (ISO 8601, or `formats`, some of which may have no clock time), date alone
    (known to the day), date + time (`time_optional`: an empty time leaves the day), date + shift
    band (only bands listed in `shifts`). Returns (received_at, reasons, received_until or None
    when this mapping can only give exact times); received_until is NaT for an exact time.
    """
    local = markers | {m.strip().lower() for m in spec.missing_values}
    nat = np.datetime64("NaT", "us")
    index = raw.index

    def parse(col: str, formats: list[str], label: str, optional: bool = False) -> Callable:
        def fn(uniq: np.ndarray) -> tuple[np.ndarray, ...]:
            missing = _missing_mask(uniq, local)
            values, day_only = _parse_with_formats(uniq, formats, tz)
            values[missing] = nat
            why = np.full(len(uniq), None, dtype=object)
            if not optional:
                why[missing] = f"received_at: {col} is empty or a missing marker"
            bad = ~missing & np.isnat(values)
            why[bad] = f"received_at: {col} does not match any of {label} {formats}"
            return values, why, day_only, missing

        return fn

    def series(values: np.ndarray) -> pd.Series:
        return pd.Series(values, index=index).astype("datetime64[us]")

    def until_of(start: pd.Series, ranged: np.ndarray, length: Any) -> pd.Series:
        end = start + length
        return end.where(pd.Series(ranged, index=index), pd.NaT).astype("datetime64[us]")

    if spec.date is not None:
        day_v, why, _, _ = _by_unique(
            raw[spec.date], parse(spec.date, spec.date_formats, "date_formats")
        )
        day = series(day_v).dt.normalize()
        if spec.shift is None and spec.time is None:
            return day, why, until_of(day, np.ones(len(raw), bool), pd.Timedelta(days=1))
        if spec.time is not None:
            clock_v, why_t, _, no_time = _by_unique(
                raw[spec.time],
                parse(spec.time, spec.time_formats, "time_formats", spec.time_optional),
            )
            clock = series(clock_v)
            values = day + (clock - clock.dt.normalize()).fillna(pd.Timedelta(0))
            why = np.where(pd.isna(why), why_t, why)
            if not spec.time_optional:
                return values.astype("datetime64[us]"), why, None
            return values, why, until_of(day, no_time, pd.Timedelta(days=1))
        start, length, why_s, no_band = _by_unique(raw[spec.shift], _shift_reader(spec, local))
        values = day + pd.to_timedelta(pd.Series(start, index=index)).fillna(pd.Timedelta(0))
        why = np.where(pd.isna(why), why_s, why)
        until = values + pd.to_timedelta(pd.Series(length, index=index))
        until = until.where(~pd.Series(no_band, index=index), day + pd.Timedelta(days=1))
        return values.astype("datetime64[us]"), why, until.astype("datetime64[us]")
    col = spec.column
    if spec.formats:
        values_v, why, day_only, _ = _by_unique(raw[col], parse(col, spec.formats, "formats"))
        values = series(values_v)
        if all(_has_clock(f) for f in spec.formats):
            return values, why, None
        return values, why, until_of(values, day_only, pd.Timedelta(days=1))

    # ISO 8601: validate_frame parses it (and applies the timezone to offsets).
    def iso(uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        missing = _missing_mask(uniq, local)
        out = np.array([None if m else t.strip() for t, m in zip(uniq, missing, strict=True)])
        why = np.full(len(uniq), None, dtype=object)
        why[missing] = f"received_at: {col} is empty or a missing marker"
        return out.astype(object), why

    values, why = _by_unique(raw[col], iso)
    return pd.Series(values, index=index, dtype="string"), why, None


def _shift_reader(spec: FieldSpec, local: set[str]) -> Callable:
    """Band text -> (start offset, length, reason, missing) per distinct text; never guessed."""
    table = {k.strip().lower(): _band_hours(v) for k, v in (spec.shifts or {}).items()}

    def fn(uniq: np.ndarray) -> tuple[np.ndarray, ...]:
        n = len(uniq)
        start = np.full(n, np.timedelta64("NaT"), dtype="timedelta64[us]")
        length = np.full(n, np.timedelta64("NaT"), dtype="timedelta64[us]")
        why = np.full(n, None, dtype=object)
        missing = _missing_mask(uniq, local)
        for i in range(n):
            text = uniq[i].strip()
            if missing[i]:
                if not spec.time_optional:
                    why[i] = f"received_at: {spec.shift} is empty or a missing marker"
                continue
            band = table.get(text.lower())
            if band is None:
                why[i] = (
                    f"received_at: {spec.shift} value {text[:40]!r} is not in "
                    "fields.received_at.shifts (bands are never guessed; add it to the table)"
                )
                continue
            start[i] = np.timedelta64(band[0], "us")
            length[i] = np.timedelta64(band[1] - band[0], "us")
        return start, length, why, missing

    return fn


def used_columns(raw: pd.DataFrame, mapping: Mapping | None) -> list[str]:
    """Source columns the quarantine shows: those the mapping reads (all without a mapping)."""
    if mapping is None:
        return list(raw.columns)
    wanted = {c for _, c in mapping.source_columns()}
    wanted |= {t.column for t in mapping.extra_header_rows}
    wanted |= {r.column for r in (*mapping.exclude, *mapping.not_premises)}
    if mapping.outcomes is not None and mapping.outcomes.call_key:
        wanted.add(mapping.outcomes.call_key)
    return [c for c in raw.columns if c in wanted]


def _rule_match(raw: pd.DataFrame, rule: RowRule, where: str) -> np.ndarray:
    """Rows whose `rule.column` equals or contains one of the texts (stripped, any case)."""
    if rule.column not in raw.columns:
        raise UserError(
            f"mapping {where}: column {rule.column!r} not in the export"
            f"{_did_you_mean(rule.column, [str(c) for c in raw.columns])}"
        )

    def fn(uniq: np.ndarray) -> tuple[np.ndarray]:
        return (_matches(rule, [t.strip().lower() for t in uniq], False),)

    (hit,) = _by_unique(raw[rule.column], fn)
    return np.asarray(hit, dtype=bool)


def exclude_rows(
    raw: pd.DataFrame, mapping: Mapping | None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Drops rows that are not calls (`exclude:`) before any validation.

    Returns (the remaining rows, the excluded rows with `_row`, `_rule` and the columns the mapping
    reads, {rule label: rows}). A row is counted under the first rule it matches.
    """
    rules = mapping.exclude if mapping is not None else []
    rule_of = np.full(len(raw), None, dtype=object)
    counts: dict[str, int] = {}
    for i, rule in enumerate(rules):
        label = rule.label(f"exclude[{i}]")
        first = _rule_match(raw, rule, f"exclude[{i}]") & pd.isna(rule_of)
        rule_of[first] = label
        counts[label] = int(first.sum())
    hit = ~pd.isna(rule_of)
    cols = used_columns(raw, mapping)
    excluded = raw.loc[hit, cols].copy()
    excluded.insert(0, "_rule", pd.Series(rule_of[hit], index=excluded.index, dtype="string"))
    excluded.insert(0, "_row", (np.asarray(excluded.index) + 1).astype("int64"))
    return raw.loc[~hit], excluded, counts


def _not_premise_mask(raw: pd.DataFrame, mapping: Mapping | None) -> np.ndarray:
    """Rows at places that are not premises (`not_premises:`): the station, the jail, the ER."""
    mask = np.zeros(len(raw), dtype=bool)
    for i, rule in enumerate(mapping.not_premises if mapping is not None else []):
        mask |= _rule_match(raw, rule, f"not_premises[{i}]")
    return mask


def _blank_not_premises(accepted: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """Blanks address and coordinates of not-premise calls; the address moves aside.

    Such a call stays a call (scored, counted, labelled) but never builds or reads premise
    history: a police station or jail collects every prisoner transport and booking.
    """
    out = accepted.copy()
    original = out["address"].astype("string") if "address" in out else None
    keep = pd.Series(pd.NA, index=out.index, dtype="string")
    if original is not None:
        keep[mask] = original[mask]
        out.loc[mask, "address"] = pd.NA
    for col in ("latitude", "longitude"):
        if col in out:
            out.loc[mask, col] = np.nan
    out["address_not_premise"] = keep
    return out


def _quarantine_frame(
    raw: pd.DataFrame, index: pd.Index, reasons: Iterable[str], columns: list[str]
) -> pd.DataFrame:
    q = raw.loc[index, columns].copy()
    q.insert(0, "_reason", pd.Series(list(reasons), index=index, dtype="string"))
    q.insert(0, "_row", (np.asarray(index) + 1).astype("int64"))
    return q


def _check_guarded_content(raw: pd.DataFrame, mapping: Mapping) -> None:
    """Refuses a mapped column whose values say post-incident though its name does not.

    The name guard runs when the mapping loads; this one needs the data (a sample of each
    column's distinct values, so it stays cheap). Outcome fields and `allow:`ed columns pass.
    """
    allowed = {a.column for a in mapping.allow}
    seen: set[str] = set()
    for where, col in mapping.source_columns():
        if where.split(".")[0] in OUTCOME_COLUMNS or col in allowed or col in seen:
            continue
        seen.add(col)
        hit = GUARDS.content_reason(raw[col], mapping.missing_values)
        if hit is not None:
            at = f"fields.{where}" if not where.startswith("keep") else where
            raise UserError(
                f"{at}: column {col!r} holds post-incident values ({hit.text()}); "
                + GUARD_WHY["post-incident"]
                + f'; if it only looks so, add `allow: [{{column: {col}, because: "..."}}]`'
            )


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
    _check_guarded_content(raw, mapping)
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
            out[name], why, until = _map_time(spec, raw, markers, mapping.timezone)
            if until is not None:
                out[RECEIVED_UNTIL] = until
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


# --------------------------------------------------------------------------- outcomes from a file


def _outcome_path(spec: OutcomeSpec, mapping_path: Path | None) -> Path:
    path = Path(spec.file)
    if not path.is_absolute() and mapping_path is not None:
        path = Path(mapping_path).parent / path
    if not path.is_file():
        raise UserError(
            f"mapping outcomes.file: {path} not found (a path relative to the mapping file, or "
            "absolute)"
        )
    return path


def _map_known_at(
    spec: FieldSpec, col: pd.Series, markers: set[str], tz: str | None
) -> tuple[pd.Series, np.ndarray]:
    """The report time per outcome row: (naive datetime64[us], NaT when empty; reasons).

    ISO 8601, or the mapping's `formats` in order; a value read without a clock time (a bare
    date) is the day's last microsecond: the outcome is known from the end of that day.
    """
    local = markers | {m.strip().lower() for m in spec.missing_values}
    at = f"outcomes.fields.{OUTCOME_KNOWN_AT}"

    def fn(uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        missing = _missing_mask(uniq, local)
        if spec.formats:
            values, day_only = _parse_with_formats(uniq, spec.formats, tz)
            end = values + np.timedelta64(1, "D") - np.timedelta64(1, "us")
            values = np.where(day_only, end, values)
            label = f"formats {spec.formats}"
        else:
            text = pd.Series([None if m else t for t, m in zip(uniq, missing, strict=True)])
            parsed, _ = known_at_column(text.astype(object), tz)
            values = parsed.to_numpy(dtype="datetime64[us]").copy()
            label = "ISO 8601 (or give formats)"
        values[missing] = np.datetime64("NaT", "us")
        why = np.full(len(uniq), None, dtype=object)
        bad = ~missing & np.isnat(values)
        why[bad] = f"{at}: {spec.column} does not match {label}"
        return values, why

    values, why = _by_unique(col, fn)
    return pd.Series(values, index=col.index).astype("datetime64[us]"), why


def map_outcome_rows(
    oraw: pd.DataFrame,
    spec: OutcomeSpec,
    source: Path | str = "the outcome file",
    tz: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outcome-file rows -> (key + outcome flags per good row, quarantined rows with reasons).

    Outcome fields go through the same machinery as `fields:` (value, column, values,
    true_when/false_when, split, short form). Only the key, the flags and the report time
    (`outcome_known_at`, when mapped) come out: no other column of the outcome file ever reaches
    the calls (it could exist only for harmed calls). The report time is no feature either: it
    only says from when the call's outcome counts as history for later calls.
    """
    where = {
        "key": spec.key,
        **{f"fields.{n}": c for n, f in spec.fields.items() for _, c in f.source_columns()},
    }
    for at, col in where.items():
        if col not in oraw.columns:
            raise UserError(
                f"mapping outcomes.{at}: column {col!r} not in {source}"
                f"{_did_you_mean(col, [str(c) for c in oraw.columns])}"
            )
    markers = {m.strip().lower() for m in spec.missing_values} | {""}
    key = oraw[spec.key].astype(str).str.strip()
    reason = np.full(len(oraw), None, dtype=object)
    reason[(key == "").to_numpy()] = f"outcomes.key: {spec.key} is empty"
    flags = pd.DataFrame({"_key": key}, index=oraw.index)
    for name in OUTCOME_COLUMNS:
        f = spec.fields.get(name)
        if f is None:
            continue
        if f.value is not None:
            flags[name] = pd.Series(_target("bool", f.value), index=oraw.index, dtype="boolean")
            continue
        values, why = _map_bool(name, f, oraw[f.column], markers)
        flags[name] = pd.Series(values, index=oraw.index, dtype="object").astype("boolean")
        first = pd.isna(reason) & ~pd.isna(why)
        reason[first] = why[first]
    known = spec.fields.get(OUTCOME_KNOWN_AT)
    if known is not None and known.column is not None:
        flags[OUTCOME_KNOWN_AT], why = _map_known_at(known, oraw[known.column], markers, tz)
        first = pd.isna(reason) & ~pd.isna(why)
        reason[first] = why[first]
    bad = ~pd.isna(reason)
    cols = [c for c in oraw.columns if c in set(where.values())]
    quarantined = _quarantine_frame(oraw, oraw.index[bad], reason[bad].tolist(), cols)
    return flags.loc[~bad], quarantined


def join_outcomes(
    accepted_keys: pd.Series,
    flags: pd.DataFrame,
    oquarantined_keys: pd.Series,
    absent: str,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Outcome flags per accepted call (index of `accepted_keys`), and which flag rows matched.

    A call is harmed when any of its rows says so, not harmed when every row says not, unknown
    otherwise; a call with no row is `absent` ("false" or "unknown"). A call one of whose outcome
    rows was quarantined is never set false on the strength of the rows that remain. With report
    times, the call's `outcome_known_at` is the EARLIEST report among its rows that say harmed
    (or among all its rows when none does): the harm was known from the first such report.
    """
    keys = accepted_keys.astype(str).str.strip()
    matched = flags["_key"].isin(set(keys)).to_numpy()
    rows = flags.loc[matched]
    has_rows = keys.isin(set(rows["_key"]))
    doubtful = keys.isin(set(oquarantined_keys))
    out = pd.DataFrame(index=accepted_keys.index)
    for name in (c for c in OUTCOME_COLUMNS if c in flags.columns):
        v = rows[name]
        g = pd.DataFrame(
            {"_key": rows["_key"], "t": v.eq(True).fillna(False), "f": v.eq(False).fillna(False)}
        ).groupby("_key")
        any_true, all_false = g["t"].any(), g["f"].all()
        col = pd.Series(pd.NA, index=keys.index, dtype="boolean")
        if absent == "false":
            col[~has_rows & ~doubtful] = False
        col[keys.map(all_false).fillna(False).astype(bool) & ~doubtful] = False
        col[keys.map(any_true).fillna(False).astype(bool)] = True
        out[name] = col
    if OUTCOME_KNOWN_AT in flags.columns:
        names = [c for c in OUTCOME_COLUMNS if c in flags.columns]
        says_harm = np.zeros(len(rows), dtype=bool)
        for name in names:
            says_harm |= rows[name].eq(True).fillna(False).to_numpy(dtype=bool)
        when = pd.DataFrame({"_key": rows["_key"].to_numpy(), "t": rows[OUTCOME_KNOWN_AT]})
        first_any = when.groupby("_key")["t"].min()
        first_harm = when.loc[says_harm].groupby("_key")["t"].min()
        harmed_keys = set(when.loc[says_harm, "_key"])
        pick = first_harm.reindex(first_any.index).where(
            first_any.index.isin(harmed_keys), first_any
        )
        # Looked up by reindex, not `keys.map(pick)`: with no matched row `pick` is empty and
        # `map` returns floats that cannot become times (the crash of issue 22, N3).
        pick = pick.astype("datetime64[us]")
        out[OUTCOME_KNOWN_AT] = pd.Series(
            pick.reindex(keys.to_numpy()).to_numpy(), index=keys.index, dtype="datetime64[us]"
        )
    return out, matched


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
            src[name] = "columns " + " + ".join(c for _, c in spec.source_columns())
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


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Writes next to the target and renames, so a crash never leaves half a file behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _output_paths(out_dir: Path, inputs: list[Path]) -> dict[str, Path]:
    """The output paths; refuses a file as --out or outputs that would replace an input."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out must be a directory, but {out_dir} is a file")
    paths = {
        "out": out_dir / CALLS_FILE,
        "quarantine": out_dir / QUARANTINE_FILE,
        "report": out_dir / REPORT_FILE,
        "excluded": out_dir / EXCLUDED_FILE,
        "outcomes_unmatched": out_dir / OUTCOMES_UNMATCHED_FILE,
        "outcomes_quarantine": out_dir / OUTCOMES_QUARANTINE_FILE,
    }
    for input_path in inputs:
        src = input_path.resolve()
        for p in paths.values():
            if p.resolve() == src or p.resolve() in src.parents:
                raise UserError(
                    f"--out {out_dir} would overwrite the input {input_path}; choose another "
                    "directory"
                )
    return paths


def _wanted_columns(mapping: Mapping | None) -> list[str]:
    """Every export column a mapping names (headers are matched to these spellings)."""
    if mapping is None:
        return []
    cols = [c for _, c in mapping.source_columns()]
    cols += [t.column for t in mapping.extra_header_rows]
    cols += [r.column for r in (*mapping.exclude, *mapping.not_premises)]
    if mapping.outcomes is not None and mapping.outcomes.call_key:
        cols.append(mapping.outcomes.call_key)
    if mapping.officer_id:
        cols.append(mapping.officer_id)
    return cols


def read_inputs(
    files: list[Path], mapping: Mapping | None
) -> tuple[pd.DataFrame, list[FileSpan], list[int]]:
    """Reads one export or several files of one agency as one text frame.

    Each file is read as `read_export` reads one, its headers matched to the mapping's spellings
    (`files.align_headers`: whitespace, underscores and case ignored), its extra header rows
    skipped; then the files are stacked (`files.concat_frames`). Returns the frame (a global
    index: `files.file_of` turns it back into file and row), each file's span, and the header
    rows skipped per file.
    """
    encoding = mapping.encoding if mapping else "utf-8"
    delimiter = mapping.delimiter if mapping else None
    frames, skipped = [], []
    for path in files:
        raw = read_export(path, encoding=encoding, delimiter=delimiter)
        log.info("read %s: %d rows x %d columns", path, len(raw), len(raw.columns))
        raw = _rename_reserved(align_headers(raw, _wanted_columns(mapping), path))
        raw, n = skip_header_rows(raw, mapping)
        if n:
            log.info("%s: skipped %d extra header row(s)", path, n)
        frames.append(raw)
        skipped.append(n)
    raw, spans = concat_frames(frames, files)
    return raw, spans, skipped


def _resolve_repeats(
    accepted: pd.DataFrame, raw_rows: pd.DataFrame, mapping: Mapping | None
) -> Repeats:
    """Rows sharing a call id: folded into one incident (`incident_rows: fold`), or duplicates
    (quarantined; an id whose rows disagree on an outcome is refused). `raw_rows` are the
    accepted rows' source rows (for the officer id column)."""
    key = (
        f"fields.call_id ({mapping.fields['call_id'].column})"
        if mapping is not None and mapping.fields["call_id"].column
        else "call_id"
    )
    if mapping is not None and mapping.incident_rows == "fold":
        ids = raw_rows[mapping.officer_id] if mapping.officer_id else None
        return fold_incidents(accepted, ids, key)
    return duplicates_or_refuse(accepted, key)


def _make_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output directory {out_dir}: {exc.strerror}") from None


_VALIDATED = frozenset((*CANONICAL_COLUMNS, *OUTCOME_COLUMNS, RECEIVED_UNTIL, AGENCY))


def _count_ranged(accepted: pd.DataFrame) -> int:
    """Accepted calls known only to a range (a day, a shift band): received_until is set."""
    if RECEIVED_UNTIL not in accepted.columns:
        return 0
    return int(accepted[RECEIVED_UNTIL].notna().sum())


def _reports_before_calls(
    flags: pd.DataFrame,
    oquarantine: pd.DataFrame,
    oraw: pd.DataFrame,
    spec: OutcomeSpec,
    keys: pd.Series,
    accepted: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outcome rows whose report time is before their call's received_at move to the
    quarantine (an outcome cannot be known before its call: a wrong date, or the wrong call)."""
    if OUTCOME_KNOWN_AT not in flags.columns or flags.empty:
        return flags, oquarantine
    received = pd.Series(accepted["received_at"].to_numpy(), index=keys.to_numpy())
    latest_call = received.groupby(level=0).max()  # a key shared by calls: the latest of them
    call_at = flags["_key"].map(latest_call)
    both_given = flags[OUTCOME_KNOWN_AT].notna() & call_at.notna()
    early = (both_given & (flags[OUTCOME_KNOWN_AT] < call_at)).to_numpy(dtype=bool)
    if not early.any():
        return flags, oquarantine
    column = spec.fields[OUTCOME_KNOWN_AT].column
    reasons = [
        f"outcomes.fields.{OUTCOME_KNOWN_AT}: {column} {str(known)[:19]} is before the call's "
        f"received_at {str(at)[:19]} (an outcome cannot be known before its call)"
        for known, at in zip(flags.loc[early, OUTCOME_KNOWN_AT], call_at[early], strict=True)
    ]
    used = [c for c in oquarantine.columns if c not in RESERVED_COLUMNS]
    moved = _quarantine_frame(oraw, flags.index[early], reasons, used)
    both = pd.concat([oquarantine, moved]).sort_values("_row", kind="stable")
    return flags.loc[~early], both


def _outcomes_step(
    mapping: Mapping,
    mapping_path: Path,
    raw: pd.DataFrame,
    accepted: pd.DataFrame,
    accepted_index: pd.Index,
    quarantine: pd.DataFrame,
    excluded: pd.DataFrame,
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, pd.DataFrame]]:
    """Reads the outcome file, joins its flags onto accepted calls, accounts for every row."""
    spec = mapping.outcomes
    assert spec is not None
    call_key = spec.call_key or mapping.fields["call_id"].column
    assert call_key is not None
    if call_key not in raw.columns:
        raise UserError(
            f"mapping outcomes.call_key: column {call_key!r} not in the export"
            f"{_did_you_mean(call_key, [str(c) for c in raw.columns])}"
        )
    path = _outcome_path(spec, mapping_path)
    oraw = read_export(path, encoding=spec.encoding, delimiter=spec.delimiter)
    oraw = _rename_reserved(oraw)
    oraw, o_headers = skip_header_rows(oraw, None)
    flags, oquarantine = map_outcome_rows(oraw, spec, path, mapping.timezone)
    keys = raw.loc[accepted_index, call_key].astype(str).str.strip()
    keys.index = accepted.index
    flags, oquarantine = _reports_before_calls(flags, oquarantine, oraw, spec, keys, accepted)
    qkeys = oraw.loc[oquarantine.index, spec.key].astype(str).str.strip()
    joined, matched = join_outcomes(keys, flags, qkeys, spec.absent)
    accepted = accepted.copy()
    for name in joined.columns:
        accepted[name] = joined[name]
    order = [
        c
        for c in (*CANONICAL_COLUMNS, *OUTCOME_COLUMNS, OUTCOME_KNOWN_AT)
        if c in accepted.columns
    ]
    accepted = accepted[order + [c for c in accepted.columns if c not in order]]

    # Why each unmatched row matched nothing: its call was quarantined, excluded, or is absent.
    fate = {}
    for frame, what in ((quarantine, "call quarantined"), (excluded, "row excluded")):
        if len(frame) and call_key in frame.columns:
            for k in frame[call_key].astype(str).str.strip():
                fate.setdefault(k, what)
    unmatched_keys = flags.loc[~matched, "_key"]
    reasons = [
        f"no accepted call with {call_key} {k!r} ({fate.get(k, 'not in the export')})"
        for k in unmatched_keys
    ]
    used = [c for c in oquarantine.columns if c not in RESERVED_COLUMNS]
    unmatched = _quarantine_frame(oraw, unmatched_keys.index, reasons, used)

    n_in, n_matched = len(oraw), int(matched.sum())
    n_unmatched, n_quarantined = len(unmatched), len(oquarantine)
    if n_in != n_matched + n_unmatched + n_quarantined:  # kept even under python -O
        raise AssertionError(
            f"outcome accounting broken: {n_in} in, {n_matched} matched, {n_unmatched} "
            f"unmatched, {n_quarantined} quarantined"
        )
    matched_keys = set(flags.loc[matched, "_key"])
    warnings = []
    shared = keys[keys.duplicated(keep=False)]
    if len(shared):
        warnings.append(
            f"outcomes.call_key {call_key}: {shared.nunique()} value(s) are shared by several "
            f"accepted calls ({len(shared)} calls); each such call gets the key's outcome rows"
        )
    report = {
        "outcome_file": str(path),
        "outcome_rows_in": n_in,
        "outcome_rows_matched": n_matched,
        "outcome_rows_unmatched": n_unmatched,
        "outcome_rows_quarantined": n_quarantined,
        "outcome_header_rows_skipped": o_headers,
        "calls_with_outcome_rows": int(keys.isin(matched_keys).sum()),
        "outcome_absent": spec.absent,
        "outcome_reasons": {
            str(k): int(v)
            for k, v in pd.concat([unmatched["_reason"], oquarantine["_reason"]])
            .str.replace(r" '[^']*' \(", " ... (", regex=True)
            .value_counts()
            .head(TOP_REASONS)
            .items()
        },
        "_warnings": warnings,
    }
    log.info(
        "outcomes: %d row(s) in %s, %d matched, %d unmatched, %d quarantined",
        n_in,
        path,
        n_matched,
        n_unmatched,
        n_quarantined,
    )
    return accepted, report, {"outcomes_unmatched": unmatched, "outcomes_quarantine": oquarantine}


def _validate(
    canonical: pd.DataFrame,
    rejected: pd.DataFrame,
    raw: pd.DataFrame,
    mapping: Mapping | None,
    input_path: Path,
) -> tuple[pd.DataFrame, pd.Index, pd.Index, pd.DataFrame, list[str]]:
    """Mapped rows -> (accepted calls with the `keep:` columns, the source rows they stand on,
    the rows folded into them, every quarantined row with its reason, warnings).

    Checks the schema (`validate_frame`), then resolves rows sharing a call id: folded into one
    incident, or duplicates (quarantined), or refused when their outcomes differ.
    """
    tz = mapping.timezone if mapping else None
    # validate_frame checks the canonical columns and carries extras one column at a time, which
    # grows with the square of the column count (a 100,000-column export took minutes); the
    # extras are never checked, so they skip it and are joined back in one step below.
    core = [c for c in canonical.columns if c in _VALIDATED]
    extras = [c for c in canonical.columns if c not in _VALIDATED]
    try:
        result = validate_frame(
            canonical[core], tz=tz, row_numbers=canonical.index + 1, keep_duplicates=True
        )
    except SchemaError as exc:  # only reachable without a mapping; apply_mapping checks first
        raise UserError(f"{input_path}: {exc}") from None
    vq = result.quarantined
    vq_index = pd.Index(vq["_row"].to_numpy(dtype="int64") - 1)
    # validate_frame keeps row order: the accepted rows are the canonical rows not quarantined.
    valid_index = canonical.index[~canonical.index.isin(vq_index)]
    if len(valid_index) != len(result.accepted):
        raise AssertionError("ingest: accepted rows no longer line up with the export's rows")
    repeats = _resolve_repeats(result.accepted, raw.loc[valid_index], mapping)
    accepted = repeats.calls
    accepted_index = valid_index[repeats.kept]
    folded_index = valid_index[repeats.folded]
    dup_index = valid_index[repeats.duplicates]
    reasons = pd.concat(
        [vq["_reason"].astype("string"), pd.Series([DUPLICATE_REASON] * len(dup_index))],
        ignore_index=True,
    ).astype("string")
    quarantine = pd.concat(
        [
            rejected,
            _quarantine_frame(
                raw,
                vq_index.append(dup_index),
                _explain_reasons(reasons, mapping).tolist(),
                used_columns(raw, mapping),
            ),
        ]
    ).sort_values("_row", kind="stable")

    if extras:
        carried = canonical.loc[accepted_index, extras].reset_index(drop=True)
        accepted = pd.concat([accepted, carried], axis=1)
    return accepted, accepted_index, folded_index, quarantine, repeats.warnings


def agency_of_export(given: str | None, mapping: Mapping | None) -> str | None:
    """The agency code for every call of an export: `--agency` or the mapping's `agency:`; both
    given must agree. Checked before anything is read, so a typo costs nothing."""
    in_mapping = mapping.agency if mapping is not None else None
    if given is not None and not re.match(AGENCY_PATTERN, given):
        raise UserError(
            f"--agency {given!r}: not a code (a letter or digit, then letters, digits, '_', '-' "
            "or '.'; at most 32)"
        )
    if given is not None and in_mapping is not None and given != in_mapping:
        raise UserError(f"--agency {given} differs from the mapping's agency: {in_mapping}")
    return given or in_mapping


def ingest_file(
    input_path: Path,
    out_dir: Path,
    mapping_path: Path | None = None,
    partition_by: str = "none",
    allow_drops: bool = False,
    quarantine_gate: bool = False,
    agency: str | None = None,
) -> dict:
    """Export (+ mapping) -> calls.parquet, quarantine.csv and ingest_report.json in `out_dir`.

    `input_path` is one export, or a folder or glob of one agency's files (`files.py`): they are
    read as one export, each file accounted for under `files`. `partition_by` "month" or "year"
    writes calls.parquet as a hive-partitioned dataset folder (risk_model/dataset.py).

    Returns the report: rows_in, rows_accepted, rows_folded, rows_quarantined, rows_excluded (with
    excluded_by_rule), rows_not_premise, rows_known_to_a_range, header_rows_skipped, reasons (the
    most common quarantine reasons with counts), files, the outcome_* keys when the mapping joins
    an outcome file, mapping name, output paths and seconds (docs/ingest.md lists every key).
    `rows_in = rows_accepted + rows_folded + rows_quarantined + rows_excluded`, always.

    Refused unless `allow_drops` (SPEC §3: a command that drops its input says so and stops):
    `exclude:` rules that remove every row, and an outcome join that matches no call. With
    `quarantine_gate` (the CLI's rule), more than 1% of the rows quarantined is refused too,
    after the outputs are written so that quarantine.csv can be read; without it, a warning.
    `agency` (or the mapping's `agency:`) names the agency of every call (SPEC §1 "Agencies").
    The inputs are only read.
    """
    started = time.perf_counter()
    if partition_by not in PARTITION_CHOICES:
        raise UserError(
            f"--partition-by {partition_by!r}: choose one of {', '.join(PARTITION_CHOICES)}"
        )
    input_path, out_dir = Path(input_path), Path(out_dir)
    if is_eido_folder(input_path):  # NENA EIDO documents, one per incident (ingest/eido_files.py)
        paths = _output_paths(out_dir, [input_path])
        report = ingest_eido_folder(input_path, paths, mapping_path, partition_by)
        # The same 1% rule as an export's (the outputs are written, so the quarantine can be read).
        line, refusal = quarantine_share(
            pd.Series(report["reasons"], dtype="int64"),
            report["rows_in"],
            paths["quarantine"],
            allow=allow_drops,
            refuse=quarantine_gate,
            quarantined=report["rows_quarantined"],
        )
        if refusal is not None:
            raise refusal
        report["warnings"] += [line] if line else []
        return report
    mapping = load_mapping(Path(mapping_path)) if mapping_path is not None else None
    agency = agency_of_export(agency, mapping)
    files = export_paths(input_path)
    if input_path.is_dir() and out_dir.resolve() == input_path.resolve():
        raise UserError(
            f"--out {out_dir} is the input folder (its outputs would be read as exports next "
            "time); choose another directory"
        )
    paths = _output_paths(out_dir, files)
    raw, spans, skipped = read_inputs(files, mapping)
    n_headers = sum(skipped)
    if raw.empty:
        raise UserError(f"{input_path}: the export has a header but no data rows")

    rows_in = len(raw)
    all_rows = raw.index.to_numpy(dtype=np.int64)
    raw, excluded, excluded_by_rule = exclude_rows(raw, mapping)
    warnings: list[str] = []
    if len(excluded):
        log.info("excluded %d row(s) that are not calls", len(excluded))
        if raw.empty:
            warnings.append(nothing_left(rows_in, excluded_by_rule, allow_drops) or "")
    canonical, rejected = apply_mapping(raw, mapping)
    if len(rejected):
        log.info("mapping step: %d row(s) rejected", len(rejected))
    accepted, accepted_index, folded_index, quarantine, fold_warnings = _validate(
        canonical, rejected, raw, mapping, input_path
    )
    warnings += fold_warnings
    rows_folded = len(folded_index)
    if rows_in != len(accepted) + rows_folded + len(quarantine) + len(excluded):
        raise AssertionError(  # kept even under python -O
            f"ingest accounting broken: {rows_in} in, {len(accepted)} accepted, {rows_folded} "
            f"folded, {len(quarantine)} quarantined, {len(excluded)} excluded"
        )
    accepted, midnight = midnight_as_dates(accepted)
    if midnight:
        warnings.append(midnight)
    if agency is not None:
        accepted.insert(1, AGENCY, pd.Series(agency, index=accepted.index, dtype="string"))

    rows_not_premise = 0
    if mapping is not None and mapping.not_premises:
        mask = _not_premise_mask(raw.loc[accepted_index], mapping)
        accepted = _blank_not_premises(accepted, mask)
        rows_not_premise = int(mask.sum())

    outcome_report: dict[str, Any] = {}
    outcome_files: dict[str, pd.DataFrame] = {}
    if mapping is not None and mapping.outcomes is not None:
        accepted, outcome_report, outcome_files = _outcomes_step(
            mapping, Path(mapping_path), raw, accepted, accepted_index, quarantine, excluded
        )
        warnings += outcome_report.pop("_warnings", [])
        if none := nothing_matched(outcome_report, len(accepted), allow_drops):
            warnings.append(none)

    protected = [c for c in accepted.columns if protected_reason(str(c))]
    if protected:
        warnings.append(
            "columns that look like protected attributes are carried through (no mapping was "
            f"given): {', '.join(protected)}; they are never features, but a mapping drops them"
        )
        log.warning(warnings[-1])
    counts = quarantine["_reason"].value_counts()
    line, refusal = quarantine_share(
        counts, rows_in, paths["quarantine"], allow=allow_drops, refuse=quarantine_gate
    )
    warnings.append(line or "")
    warnings = [w for w in warnings if w]

    if partition_by != "none" and partition_by in accepted.columns:
        raise UserError(
            f"--partition-by {partition_by}: the calls already have a column named "
            f"{partition_by!r}; rename or drop it in the mapping, or use --partition-by none"
        )

    # Only now, with every check passed, does anything touch the disk.
    _make_out_dir(out_dir)
    partitions: int | None = None
    if partition_by != "none":
        partitions = replace_path(
            paths["out"], lambda p: write_partitioned(accepted, p, partition_by)
        )
        log.info("wrote %d partition(s) by %s under %s", partitions, partition_by, paths["out"])
    elif paths["out"].is_dir():  # a dataset folder from an earlier --partition-by run
        replace_path(paths["out"], lambda p: accepted.to_parquet(p, index=False))
    else:
        _write_atomic(paths["out"], lambda p: accepted.to_parquet(p, index=False))

    def write_table(path: Path, frame: pd.DataFrame) -> None:
        # Formula cells neutralised (risk_model.dataset.spreadsheet_safe): analysts open these
        # in spreadsheets, and their cells are whatever the export held.
        _write_atomic(path, lambda p: write_csv(frame, p, encoding="utf-8", lineterminator="\n"))

    write_table(paths["quarantine"], rows_in_files(quarantine, spans))
    if mapping is not None and mapping.exclude:
        write_table(paths["excluded"], rows_in_files(excluded, spans))
    for key, frame in outcome_files.items():
        write_table(paths[key], frame)
    file_reports = per_file(
        spans,
        skipped,
        rows_in=all_rows,
        rows_accepted=accepted_index.to_numpy(dtype=np.int64),
        rows_folded=folded_index.to_numpy(dtype=np.int64),
        rows_quarantined=quarantine["_row"].to_numpy(dtype=np.int64) - 1,
        rows_excluded=excluded["_row"].to_numpy(dtype=np.int64) - 1,
    )
    digest = (
        file_reports[0]["sha256"]
        if len(file_reports) == 1
        else hashlib.sha256("".join(f["sha256"] for f in file_reports).encode()).hexdigest()
    )
    report = {
        "input": str(input_path),
        "input_sha256": digest,
        "files": file_reports,
        "mapping": mapping.name if mapping else None,
        "mapping_path": str(mapping_path) if mapping_path is not None else None,
        "incident_rows": mapping.incident_rows if mapping else None,
        "agency": agency,
        "rows_in": rows_in,
        "rows_accepted": len(accepted),
        "rows_folded": rows_folded,
        "rows_quarantined": len(quarantine),
        "rows_excluded": len(excluded),
        "excluded_by_rule": excluded_by_rule,
        "rows_not_premise": rows_not_premise,
        "rows_known_to_a_range": _count_ranged(accepted),
        "header_rows_skipped": n_headers,
        "reasons": {str(k): int(v) for k, v in counts.head(TOP_REASONS).items()},
        "distinct_reasons": len(counts),
        **outcome_report,
        "columns": [str(c) for c in accepted.columns],
        "dropped_columns": _dropped_columns(raw, mapping),
        "warnings": warnings + ([str(refusal)] if refusal else []),
        "out": str(paths["out"]),
        **({"partitions": partitions} if partitions is not None else {}),
        "quarantine": str(paths["quarantine"]),
        "excluded": str(paths["excluded"]) if mapping is not None and mapping.exclude else None,
        **{k: str(paths[k]) for k in outcome_files},
        "report": str(paths["report"]),
        "seconds": round(time.perf_counter() - started, 3),
    }
    _write_atomic(
        paths["report"], lambda p: p.write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    )
    log.info(
        "ingest: %d in, %d accepted, %d folded, %d quarantined -> %s (%.1fs)",
        rows_in,
        len(accepted),
        rows_folded,
        len(quarantine),
        paths["out"],
        report["seconds"],
    )
    if refusal is not None:
        raise refusal
    return report
