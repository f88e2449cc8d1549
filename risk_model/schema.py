"""The canonical call record (SPEC §1): one pydantic model for a call, one validator for a table.

Everything downstream (features, training, the service) reads only these columns. Extra columns
an export carries (disposition, final call type, ...) pass through ingest untouched but are never
read by feature code; `FEATURE_INPUT_COLUMNS` is the allow-list that enforces it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

BOOL_TRUE = frozenset({"true", "1", "yes", "y", "t"})
BOOL_FALSE = frozenset({"false", "0", "no", "n", "f"})

REQUIRED_COLUMNS: tuple[str, ...] = ("call_id", "received_at", "call_type")
STRING_COLUMNS: tuple[str, ...] = (
    "call_id",
    "call_type",
    "source",
    "address",
    "beat",
    "district",
    "premise_type",
    "narrative",
)
FLAG_COLUMNS: tuple[str, ...] = (
    "weapon_reported",
    "domestic",
    "mental_health",
    "intoxication",
    "in_progress",
)
OUTCOME_COLUMNS: tuple[str, ...] = ("officer_assaulted", "officer_injured")
# Optional, with the outcomes: when the call's outcome became known (the report's filing time),
# naive agency-local like received_at; never before received_at. It only says from when the
# call's outcome counts as history for LATER calls (docs/features.md); it is never a feature
# input (it is filled mostly for harmed calls, so reading it would leak the label). A bare date
# means known from the end of that day.
OUTCOME_KNOWN_AT = "outcome_known_at"
# Optional, written by ingest when a mapping folds several rows per incident
# (`incident_rows: fold`): how many officers (rows, or distinct officer ids) the incident had.
# Counted after the fact (who came and used force is known only afterwards), so it is never a
# feature input, like the outcomes beside it.
OFFICERS = "officers"
CANONICAL_COLUMNS: tuple[str, ...] = (
    "call_id",
    "received_at",
    "call_type",
    "priority",
    "source",
    "address",
    "latitude",
    "longitude",
    "beat",
    "district",
    "premise_type",
    *FLAG_COLUMNS,
    "narrative",
)
# Optional: the agency a call belongs to (a short code), for data or a service holding several
# agencies. Keys (premise, beat, district) are namespaced by it inside the project, so two
# agencies may name a beat alike; call_ids need only be unique within an agency.
AGENCY = "agency"
AGENCY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
# Optional: the exclusive end of the interval the call was received in, when only the day or a
# shift band is known (received_at is then the interval's start). Empty = received_at is exact.
RECEIVED_UNTIL = "received_until"
# The longest interval accepted: a shift band crossing midnight, or one day, fits well within it.
MAX_RECEIVED_INTERVAL = pd.Timedelta(days=2)
# The only columns feature code may read: the call as known when it was taken. received_until is
# read only to know which time facts are known and from when the call counts as history; no
# feature is computed from it alone (how precisely a row is timed says which file it came from).
FEATURE_INPUT_COLUMNS: tuple[str, ...] = (*CANONICAL_COLUMNS, RECEIVED_UNTIL, AGENCY)
BOOL_COLUMNS: tuple[str, ...] = FLAG_COLUMNS + OUTCOME_COLUMNS

PRIORITY_MIN, PRIORITY_MAX = 1, 9
# Calls before this are almost certainly a broken date field (e.g. 1900-01-01 placeholders).
EARLIEST_PLAUSIBLE = pd.Timestamp("1990-01-01")
# Field sizes a CAD record never exceeds; anything longer is a broken export or an attack.
MAX_ID_LEN = 128
MAX_TEXT_LEN = 4000
# The longest value of each text field, one rule for the API (CallRecord) and for files
# (validate_frame): a 300-character beat is a broken export or an attack either way.
TEXT_LIMITS: dict[str, int] = {
    "call_id": MAX_ID_LEN,
    "call_type": 200,
    "source": 200,
    "address": 300,
    "beat": 64,
    "district": 64,
    "premise_type": 100,
    "narrative": MAX_TEXT_LEN,
}

# A UTC offset after a clock time ("...10:00:00-05:00", "...10:00Z"); group 1 is the clock time.
_OFFSET_RE = re.compile(
    r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE
)
_HAS_OFFSET_RE = re.compile(_OFFSET_RE.pattern.replace("(\\d{2}:", "(?:\\d{2}:", 1), re.IGNORECASE)
# A date with no clock time: midnight would be invented (and land in the peak-assault hours).
_DATE_ONLY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SchemaError(ValueError):
    """A value that breaks the canonical schema; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


# --------------------------------------------------------------------------- scalars


def parse_bool(value: Any, field: str = "value") -> bool | None:
    """Reads a SPEC boolean. Empty/None is unknown (None), which is never the same as False."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, float) and np.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, int | np.integer) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text == "":
        return None
    if text in BOOL_TRUE:
        return True
    if text in BOOL_FALSE:
        return False
    raise SchemaError(
        field, f"cannot read {str(value)[:40]!r} as a boolean (true/false, 1/0, yes/no)"
    )


def iso_time_pattern(year: str, leap_year: str) -> str:
    """A regular expression (JSON Schema and Python alike) for an exact ISO 8601 time.

    Date and clock time (`T` or a space between), seconds and a fraction optional, then an
    optional offset (`Z`, `+hh:mm`, `+hhmm`, `+hh`); surrounding whitespace is allowed, as it is
    stripped. Only real calendar days match (30 April, 29 February in leap years only), so
    the pattern accepts exactly what `parse_timestamp` reads. `year` and `leap_year` are the
    patterns for the years allowed (the service narrows them to 1990 and later).
    """
    day = (
        rf"{year}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])"
        rf"|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8]))"
        rf"|{leap_year}-02-29"
    )
    clock = r"(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?"
    offset = r"(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?"
    return rf"^\s*(?:{day})[T ]{clock}{offset}\s*$"


# Any year; a leap year is divisible by 4, and centuries only when divisible by 400.
ISO_TIME_PATTERN = iso_time_pattern(
    r"\d{4}", r"(?:\d{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
)
_ISO_TIME_RE = re.compile(ISO_TIME_PATTERN)


def parse_timestamp(value: Any, field: str = "received_at", tz: str | None = None) -> dt.datetime:
    """Parses an exact ISO 8601 time (see `iso_time_pattern`) into naive agency-local time.

    Strict on purpose: free text such as "now" or "today" would otherwise be read against the
    server's clock. A date alone is refused (its midnight would be invented). Naive input is
    already agency local time. With an offset: if `tz` (the agency's IANA zone) is given the
    instant is converted to it; otherwise the wall-clock time as written is kept, which is right
    for exports that stamp local time with the local offset. Tables read with a mapping's own
    formats go through `risk_model.ingest.run`, not here.
    """
    if isinstance(value, pd.Timestamp | dt.datetime):
        if value is pd.NaT:
            raise SchemaError(field, "missing")
        when = pd.Timestamp(value).to_pydatetime()
    else:
        text = "" if value is None else str(value).strip()
        if not text:
            raise SchemaError(field, "missing")
        if _DATE_ONLY_RE.match(text):
            raise SchemaError(field, "a date without a time of day")
        if not isinstance(value, str) or not _ISO_TIME_RE.search(text):
            raise SchemaError(
                field,
                f"cannot parse {text[:40]!r} as an ISO 8601 time "
                "(e.g. 2025-11-14T01:12:00 or 2025-11-14T07:12:00Z)",
            )
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError as exc:  # year 0000, the only form the pattern lets through
            raise SchemaError(field, f"cannot parse {text[:40]!r} as an ISO 8601 time") from exc
    if when.tzinfo is not None:
        if tz:
            when = when.astimezone(ZoneInfo(tz))
        when = when.replace(tzinfo=None)
    return when


def _is_empty(value: Any) -> bool:
    """None, NaN/NaT/NA or blank text: an optional value that is not given."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


_INTERVAL_NOT_AFTER = "not after received_at (it is the exclusive end of the interval)"
_INTERVAL_TOO_LONG = (
    f"more than {MAX_RECEIVED_INTERVAL.days} days after received_at "
    "(give the day or the shift band the call was received in)"
)


def interval_problem(start: pd.Timestamp, until: pd.Timestamp) -> str | None:
    """Why [start, until) cannot be the interval a call was received in, or None."""
    if until <= start:
        return _INTERVAL_NOT_AFTER
    if until - start > MAX_RECEIVED_INTERVAL:
        return _INTERVAL_TOO_LONG
    return None


def known_at_value(value: Any, tz: str | None = None) -> dt.datetime | None:
    """An outcome_known_at value: None when empty; a bare date is the last microsecond of that
    day (the report was filed that day, so the outcome is known from its end, never earlier)."""
    if _is_empty(value):
        return None
    if isinstance(value, str) and _DATE_ONLY_RE.match(value.strip()):
        day = pd.Timestamp(value.strip())
        return (day + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)).to_pydatetime()
    return parse_timestamp(value, OUTCOME_KNOWN_AT, tz)


_KNOWN_BEFORE_CALL = "before received_at (an outcome cannot be known before its call)"


# --------------------------------------------------------------------------- one call

BoolOrUnknown = bool | None


class CallRecord(BaseModel):
    """One call as known when it is taken: the body of `/score`, one row of a canonical table."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    call_id: Annotated[str, Field(min_length=1, max_length=MAX_ID_LEN)]
    received_at: dt.datetime
    # Set only when the exact time is not known: the exclusive end of the interval (a day, a
    # shift band) that starts at received_at.
    received_until: dt.datetime | None = None
    call_type: Annotated[str, Field(min_length=1, max_length=TEXT_LIMITS["call_type"])]
    priority: Annotated[int | None, Field(ge=PRIORITY_MIN, le=PRIORITY_MAX)] = None
    source: Annotated[str | None, Field(max_length=TEXT_LIMITS["source"])] = None
    address: Annotated[str | None, Field(max_length=TEXT_LIMITS["address"])] = None
    latitude: Annotated[float | None, Field(ge=-90, le=90)] = None
    longitude: Annotated[float | None, Field(ge=-180, le=180)] = None
    beat: Annotated[str | None, Field(max_length=TEXT_LIMITS["beat"])] = None
    district: Annotated[str | None, Field(max_length=TEXT_LIMITS["district"])] = None
    premise_type: Annotated[str | None, Field(max_length=TEXT_LIMITS["premise_type"])] = None
    weapon_reported: BoolOrUnknown = None
    domestic: BoolOrUnknown = None
    mental_health: BoolOrUnknown = None
    intoxication: BoolOrUnknown = None
    in_progress: BoolOrUnknown = None
    narrative: Annotated[str | None, Field(max_length=TEXT_LIMITS["narrative"])] = None

    @field_validator("received_at", mode="before")
    @classmethod
    def _time(cls, v: Any) -> dt.datetime:
        try:
            return parse_timestamp(v)
        except SchemaError as exc:
            raise ValueError(str(exc).split(": ", 1)[1]) from exc

    @model_validator(mode="before")
    @classmethod
    def _interval_start(cls, data: Any) -> Any:
        """A bare date in received_at is the start of the day when received_until is given (the
        interval is then known; nothing is invented), as `validate_frame` reads it."""
        if isinstance(data, dict) and not _is_empty(data.get(RECEIVED_UNTIL)):
            start = data.get("received_at")
            if isinstance(start, str) and _DATE_ONLY_RE.match(start.strip()):
                data = {**data, "received_at": f"{start.strip()}T00:00:00"}
        return data

    @field_validator(RECEIVED_UNTIL, mode="before")
    @classmethod
    def _until(cls, v: Any) -> dt.datetime | None:
        if _is_empty(v):
            return None
        if isinstance(v, str) and _DATE_ONLY_RE.match(v.strip()):
            v = f"{v.strip()}T00:00:00"  # a bare date ends the interval at that midnight
        try:
            return parse_timestamp(v, RECEIVED_UNTIL)
        except SchemaError as exc:
            raise ValueError(str(exc).split(": ", 1)[1]) from exc

    @field_validator(RECEIVED_UNTIL)
    @classmethod
    def _until_after_start(cls, v: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        start = info.data.get("received_at")
        if v is not None and start is not None:
            problem = interval_problem(pd.Timestamp(start), pd.Timestamp(v))
            if problem:
                raise ValueError(problem)
        return v

    @field_validator(*FLAG_COLUMNS, mode="before")
    @classmethod
    def _flag(cls, v: Any) -> bool | None:
        try:
            return parse_bool(v)
        except SchemaError as exc:
            raise ValueError(str(exc).split(": ", 1)[1]) from exc

    @field_validator("source", "address", "beat", "district", "premise_type", "narrative")
    @classmethod
    def _empty_is_unknown(cls, v: str | None) -> str | None:
        return v or None

    @field_validator("latitude", "longitude")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not np.isfinite(v):
            raise ValueError("must be a finite number")
        return v

    def to_row(self) -> dict[str, Any]:
        """The call as a plain dict of canonical columns (what feature code reads)."""
        return self.model_dump()


class CallWithOutcome(CallRecord):
    """A call plus its outcome, as `/ingest` and training data carry it."""

    officer_assaulted: BoolOrUnknown = None
    officer_injured: BoolOrUnknown = None
    # When the outcome became known (the report's filing time); empty: received + the lag.
    outcome_known_at: dt.datetime | None = None

    @field_validator(*OUTCOME_COLUMNS, mode="before")
    @classmethod
    def _outcome(cls, v: Any) -> bool | None:
        try:
            return parse_bool(v)
        except SchemaError as exc:
            raise ValueError(str(exc).split(": ", 1)[1]) from exc

    @field_validator(OUTCOME_KNOWN_AT, mode="before")
    @classmethod
    def _known_at(cls, v: Any) -> dt.datetime | None:
        try:
            return known_at_value(v)
        except SchemaError as exc:
            raise ValueError(str(exc).split(": ", 1)[1]) from exc

    @field_validator(OUTCOME_KNOWN_AT)
    @classmethod
    def _known_after_call(cls, v: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        start = info.data.get("received_at")
        if v is not None and start is not None and v < start:
            raise ValueError(_KNOWN_BEFORE_CALL)
        return v


# --------------------------------------------------------------------------- tables


@dataclass
class ValidationResult:
    """Accepted rows in canonical dtypes, and rejected rows with one reason each."""

    accepted: pd.DataFrame
    quarantined: pd.DataFrame  # original values as strings, plus `_row` and `_reason`

    @property
    def rows_in(self) -> int:
        return len(self.accepted) + len(self.quarantined)


def _as_text(col: pd.Series) -> pd.Series:
    """Column as stripped text with missing as <NA>; numbers keep their shortest form."""
    if pd.api.types.is_float_dtype(col.dtype):
        s = col.map(lambda v: None if pd.isna(v) else (str(int(v)) if v == int(v) else repr(v)))
        s = s.astype("string")
    else:
        s = col.astype("string")
    s = s.str.strip()
    return s.mask(s == "", pd.NA)


def _parse_bool_column(col: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Vectorised parse_bool: (values as pandas boolean, mask of unreadable cells)."""
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.astype("boolean"), pd.Series(False, index=col.index)
    text = _as_text(col).str.lower()
    out = pd.Series(pd.NA, index=col.index, dtype="boolean")
    is_true = text.isin(BOOL_TRUE).fillna(False).astype(bool)
    is_false = text.isin(BOOL_FALSE).fillna(False).astype(bool)
    out[is_true] = True
    out[is_false] = False
    bad = text.notna() & ~is_true & ~is_false
    return out, bad.astype(bool)


def parse_timestamp_column(col: pd.Series, tz: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Vectorised parse_timestamp: (naive datetime64[us] values, mask of unreadable cells)."""
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        values = col
        if getattr(col.dt, "tz", None) is not None:
            values = col.dt.tz_convert(tz) if tz else col
            values = values.dt.tz_localize(None)
        values = values.astype("datetime64[us]")
        return values, values.isna() & col.notna()
    text = _as_text(col)
    has_offset = text.str.contains(_HAS_OFFSET_RE, na=False).astype(bool)
    out = pd.Series(pd.NaT, index=col.index, dtype="datetime64[us]")
    naive_idx = text.notna() & ~has_offset
    if naive_idx.any():
        out[naive_idx] = pd.to_datetime(
            text[naive_idx].astype(object), format="ISO8601", errors="coerce"
        ).astype("datetime64[us]")
    if has_offset.any():
        if tz:
            parsed = pd.to_datetime(
                text[has_offset].astype(object), format="ISO8601", errors="coerce", utc=True
            )
            out[has_offset] = (
                parsed.dt.tz_convert(tz).dt.tz_localize(None).astype("datetime64[us]")
            )
        else:
            wall = text[has_offset].str.replace(_OFFSET_RE, r"\1", regex=True)
            out[has_offset] = pd.to_datetime(
                wall.astype(object), format="ISO8601", errors="coerce"
            ).astype("datetime64[us]")
    bad = (text.notna() & out.isna()) | text.str.match(_DATE_ONLY_RE, na=False).astype(bool)
    return out, bad.astype(bool)


def known_at_column(col: pd.Series, tz: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Vectorised known_at_value: (naive datetime64[us], NaT when empty; unreadable cells).
    A bare date is the last microsecond of that day."""
    values, bad = parse_timestamp_column(col, tz)
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return values, bad
    text = _as_text(col)
    date_only = text.str.match(_DATE_ONLY_RE, na=False).astype(bool)
    if date_only.any():
        days = pd.to_datetime(text[date_only].astype(object), format="%Y-%m-%d", errors="coerce")
        end = days + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
        values = values.copy()
        values[date_only] = end.astype("datetime64[us]")
        bad = (bad & ~date_only) | (date_only & values.isna())
    return values, bad.astype(bool)


# Canonical columns in output order: agency after call_id and received_until after received_at,
# when the table has them.
_OUTPUT_ORDER = (
    CANONICAL_COLUMNS[0],
    AGENCY,
    CANONICAL_COLUMNS[1],
    RECEIVED_UNTIL,
    *CANONICAL_COLUMNS[2:],
)


def _received_until(
    df: pd.DataFrame, tz: str | None
) -> tuple[pd.Series | None, pd.Series, pd.Series]:
    """The optional received_until column: (values or None when the table has no such column,
    mask of rows that give one, mask of unreadable cells). A bare date is that day's midnight: an
    interval's end on a day boundary, not an invented clock time."""
    if RECEIVED_UNTIL not in df.columns:
        none = pd.Series(False, index=df.index)
        return None, none, none
    values, bad = parse_timestamp_column(df[RECEIVED_UNTIL], tz)
    text = _as_text(df[RECEIVED_UNTIL])
    bad = bad & ~text.str.match(_DATE_ONLY_RE, na=False).astype(bool)
    return values, text.notna().astype(bool), bad.astype(bool)


class _Checks:
    """One validation in progress: the input, the canonical columns built so far, and each row's
    first reason for refusal. Each step below reads `df`, fills `out` and refuses rows."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.out = pd.DataFrame(index=df.index)
        self.reason = pd.Series(pd.NA, index=df.index, dtype="string")

    def refuse(self, mask: pd.Series | np.ndarray, why: str) -> None:
        """Refuse the rows in `mask` that no earlier check refused (the first reason wins)."""
        m = pd.Series(np.asarray(mask, dtype=bool), index=self.df.index) & self.reason.isna()
        self.reason[m] = why

    def missing(self, dtype: str) -> pd.Series:
        return pd.Series(pd.NA if dtype != "float64" else np.nan, index=self.df.index, dtype=dtype)


def validate_frame(
    df: pd.DataFrame,
    tz: str | None = None,
    now: pd.Timestamp | None = None,
    row_numbers: Iterable[int] | None = None,
    keep_duplicates: bool = False,
) -> ValidationResult:
    """Checks a frame against SPEC §1; returns canonical accepted rows and quarantined rows.

    Every input row ends up in exactly one of the two outputs. Rows are quarantined with the first
    reason found (a reason names the field). Duplicate call_ids keep their first *valid* row.
    Extra columns are carried through unchanged (they are never features). `row_numbers` are the
    source-file row numbers reported in quarantine (default: 1-based position).
    `keep_duplicates` accepts repeated call_ids (ingest resolves them: `ingest/fold.py`).
    """
    df = df.reset_index(drop=True)
    rows = np.arange(1, len(df) + 1) if row_numbers is None else np.asarray(list(row_numbers))
    for name in REQUIRED_COLUMNS:
        if name not in df.columns:
            raise SchemaError(name, "required column is missing from the table")
    checks = _Checks(df)
    _check_texts_and_ids(checks)
    times = _check_times(checks, tz, now)
    _check_text_limits(checks)
    _check_priority(checks)
    _check_coordinates(checks)
    _check_booleans(checks)
    _check_after_the_fact(checks, times, tz)
    if not keep_duplicates:
        _check_duplicates(checks)
    return _split(checks, rows)


def _check_texts_and_ids(c: _Checks) -> None:
    """Text columns as stripped text; an agency code and a call_id that can key a call."""
    for name in STRING_COLUMNS:
        c.out[name] = _as_text(c.df[name]) if name in c.df.columns else c.missing("string")
    if AGENCY in c.df.columns:
        agency = c.out[AGENCY] = _as_text(c.df[AGENCY])
        c.refuse(
            agency.notna() & ~agency.str.match(AGENCY_PATTERN, na=False).astype(bool),
            "agency: not a code (a letter or digit, then letters, digits, '_', '-' or '.'; "
            "at most 32)",
        )
    c.refuse(c.out["call_id"].isna(), "call_id: missing")
    c.refuse(
        c.out["call_id"].str.len().fillna(0) > MAX_ID_LEN, f"call_id: longer than {MAX_ID_LEN}"
    )


def _check_times(c: _Checks, tz: str | None, now: pd.Timestamp | None) -> pd.Series:
    """received_at (and the optional received_until that makes a bare date an interval)."""
    df = c.df
    times, bad_time = parse_timestamp_column(df["received_at"], tz)
    c.refuse(df["received_at"].isna() | _as_text(df["received_at"]).isna(), "received_at: missing")
    # Only a TEXT date lacks a clock time. A parsed time column (Parquet from ingest) is exact, or
    # known to the day where received_until says so: its text form says nothing (pandas prints
    # a column whose times are all midnight as bare dates), so it is never refused as a date.
    # One rule with ingest: what ingest stored, train reads the same (issue 18, item 4).
    if pd.api.types.is_datetime64_any_dtype(df["received_at"].dtype):
        date_only = pd.Series(False, index=df.index)
    else:
        date_only = _as_text(df["received_at"]).str.match(_DATE_ONLY_RE, na=False).astype(bool)
    # With received_until given, a bare date is the start of a known interval, not a guess.
    until, until_given, bad_until = _received_until(df, tz)
    c.refuse(date_only & ~until_given, "received_at: a date without a time of day")
    c.refuse(
        bad_time & ~(date_only & until_given), "received_at: cannot parse as an ISO 8601 time"
    )
    latest = (now or pd.Timestamp.now()) + pd.Timedelta(days=1)
    c.refuse(times < EARLIEST_PLAUSIBLE, f"received_at: before {EARLIEST_PLAUSIBLE.date()}")
    c.refuse(times > latest, "received_at: in the future")
    c.out["received_at"] = times
    if until is not None:
        c.refuse(bad_until, f"{RECEIVED_UNTIL}: cannot parse as an ISO 8601 time")
        c.refuse(until.notna() & (until <= times), f"{RECEIVED_UNTIL}: {_INTERVAL_NOT_AFTER}")
        c.refuse(
            until.notna() & (until - times > MAX_RECEIVED_INTERVAL),
            f"{RECEIVED_UNTIL}: {_INTERVAL_TOO_LONG}",
        )
        c.out[RECEIVED_UNTIL] = until
    c.refuse(c.out["call_type"].isna(), "call_type: missing")
    return times


def _check_text_limits(c: _Checks) -> None:
    for name in STRING_COLUMNS:
        limit = TEXT_LIMITS.get(name, MAX_TEXT_LEN)
        c.refuse(
            c.out[name].str.len().fillna(0) > limit, f"{name}: longer than {limit} characters"
        )


def _check_priority(c: _Checks) -> None:
    if "priority" not in c.df.columns:
        c.out["priority"] = c.missing("Int64")
        return
    ptext = _as_text(c.df["priority"])
    pnum = pd.to_numeric(ptext, errors="coerce")
    c.refuse(ptext.notna() & pnum.isna(), "priority: not a number")
    c.refuse(pnum.notna() & (pnum != np.floor(pnum)), "priority: not a whole number")
    c.refuse(
        pnum.notna() & ((pnum < PRIORITY_MIN) | (pnum > PRIORITY_MAX)),
        f"priority: outside {PRIORITY_MIN}..{PRIORITY_MAX}",
    )
    ok = pnum.notna() & (pnum == np.floor(pnum)) & pnum.between(PRIORITY_MIN, PRIORITY_MAX)
    c.out["priority"] = pnum.where(ok).astype("Int64")


def _check_coordinates(c: _Checks) -> None:
    for name, lo, hi in (("latitude", -90, 90), ("longitude", -180, 180)):
        if name not in c.df.columns:
            c.out[name] = c.missing("float64")
            continue
        text = _as_text(c.df[name])
        num = pd.to_numeric(text, errors="coerce")
        c.refuse(text.notna() & num.isna(), f"{name}: not a number")
        c.refuse(num.notna() & ~np.isfinite(num), f"{name}: not a finite number")
        c.refuse(num.notna() & ((num < lo) | (num > hi)), f"{name}: outside {lo}..{hi}")
        c.out[name] = num.where(num.between(lo, hi)).astype("float64")
    c.refuse(
        c.out["latitude"].isna() != c.out["longitude"].isna(),
        "latitude/longitude: only one of the pair is given",
    )


def _check_booleans(c: _Checks) -> None:
    for name in BOOL_COLUMNS:
        if name in c.df.columns:
            values, bad = _parse_bool_column(c.df[name])
            c.refuse(bad, f"{name}: not a boolean (true/false, 1/0, yes/no, y/n, t/f)")
            c.out[name] = values
        elif name in FLAG_COLUMNS:
            c.out[name] = c.missing("boolean")


def _check_after_the_fact(c: _Checks, times: pd.Series, tz: str | None) -> None:
    """Fields known only after the call: when its outcome was known, how many officers came."""
    if OUTCOME_KNOWN_AT in c.df.columns:
        known, bad_known = known_at_column(c.df[OUTCOME_KNOWN_AT], tz)
        c.refuse(bad_known, f"{OUTCOME_KNOWN_AT}: cannot parse as an ISO 8601 time or date")
        c.refuse(known.notna() & (known < times), f"{OUTCOME_KNOWN_AT}: {_KNOWN_BEFORE_CALL}")
        c.out[OUTCOME_KNOWN_AT] = known
    if OFFICERS in c.df.columns:
        otext = _as_text(c.df[OFFICERS])
        onum = pd.to_numeric(otext, errors="coerce")
        good = onum.notna() & (onum == np.floor(onum)) & (onum >= 1)
        c.refuse(otext.notna() & ~good, f"{OFFICERS}: not a whole number of 1 or more")
        c.out[OFFICERS] = onum.where(good).astype("Int64")


def _check_duplicates(c: _Checks) -> None:
    """Among rows valid so far, the first occurrence of each call_id wins (within its agency: two
    agencies may number their calls alike). Callers that resolve repeats themselves (ingest folds
    an incident's rows or refuses differing ones: ingest/fold.py) skip this."""
    valid = c.reason.isna()
    dup_of_valid = pd.Series(False, index=c.df.index)
    key_cols = ["call_id", AGENCY] if AGENCY in c.out.columns else ["call_id"]
    dup_of_valid[valid] = c.out.loc[valid, key_cols].duplicated(keep="first")
    c.refuse(dup_of_valid, "call_id: duplicate of an earlier row")


def _split(c: _Checks, rows: np.ndarray) -> ValidationResult:
    """Accepted rows in canonical order (extra columns carried after them) and quarantined rows
    as read, with their source row number and reason."""
    out, df = c.out, c.df
    extra = [col for col in df.columns if col not in out.columns]
    for name in extra:
        out[name] = df[name]
    ordered = [
        col
        for col in (*_OUTPUT_ORDER, *OUTCOME_COLUMNS, OUTCOME_KNOWN_AT, OFFICERS)
        if col in out.columns
    ] + extra
    ok = c.reason.isna().to_numpy()
    accepted = out[ordered].loc[ok].reset_index(drop=True)
    q = df.loc[~ok].astype("string").copy()
    # A quarantine file fed back in already has these columns: keep them, renamed.
    q = q.rename(columns={"_row": "_earlier_row", "_reason": "_earlier_reason"})
    q.insert(0, "_reason", c.reason[~ok].to_numpy())
    q.insert(0, "_row", rows[~ok])
    return ValidationResult(accepted=accepted, quarantined=q.reset_index(drop=True))


def empty_canonical_frame() -> pd.DataFrame:
    """A zero-row frame with canonical dtypes (useful for tests and cold starts)."""
    return validate_frame(
        pd.DataFrame({c: pd.Series([], dtype=object) for c in REQUIRED_COLUMNS})
    ).accepted


def records_to_frame(records: Iterable[dict[str, Any] | BaseModel]) -> pd.DataFrame:
    """Validated pydantic records -> canonical frame (same dtypes as validate_frame gives)."""
    rows = [r.model_dump() if isinstance(r, BaseModel) else dict(r) for r in records]
    if not rows:
        return empty_canonical_frame()
    res = validate_frame(pd.DataFrame(rows))
    if len(res.quarantined):
        raise SchemaError("calls", str(res.quarantined["_reason"].iloc[0]))
    return res.accepted
