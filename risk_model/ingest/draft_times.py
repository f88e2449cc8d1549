"""Time formats in a column of an agency export, for `risk-model map --draft`.

A CAD writes its times in one of a few dozen shapes (`9/3/2016 4:14:00 AM`, `2016-09-03T22:15`,
`03-Sep-16 10.15.07.000 PM`, a date alone, `HHMM` as a number). The draft tries the known formats
on a column's distinct values and keeps those that together read them, in the order ingest tries
them, so the mapping it writes reads the export as the draft saw it. Cheap tests in plain Python
come first: a column that is no time costs microseconds, which matters on a wide header.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from risk_model.ingest.guards import name_tokens
from risk_model.ingest.run import pad_compact_clock


@functools.lru_cache(maxsize=1 << 18)
def cached_tokens(name: str) -> tuple[str, ...]:
    """`name_tokens`, once per name (every field's synonyms are matched against every column)."""
    return tuple(name_tokens(name))


_DATETIME_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
    "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M",
    "%m/%d/%y %I:%M:%S %p", "%m/%d/%y %I:%M %p", "%m/%d/%y %H:%M:%S", "%m/%d/%y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y %I:%M:%S %p", "%d/%m/%Y %I:%M %p",
    "%m-%d-%Y %H:%M:%S", "%m-%d-%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M",
    "%d-%b-%Y %H:%M:%S", "%d-%b-%y %I.%M.%S.%f %p", "%d-%b-%y %H:%M:%S", "%b %d %Y %I:%M%p",
    "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z",
)  # fmt: skip
_DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%d/%m/%Y", "%Y/%m/%d", "%m-%d-%Y", "%d.%m.%Y",
    "%d-%b-%Y", "%d-%b-%y", "%b %d %Y", "%B %d, %Y",
)  # fmt: skip
_TIME_FORMATS: tuple[str, ...] = (
    "%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p", "%H:%M:%S.%f",
)  # fmt: skip
_COMPACT_FORMATS: tuple[str, ...] = ("%Y%m%d%H%M%S", "%Y%m%d")  # only when the name says date/time
_MIN_COVER = 0.9  # share of distinct values a time column's formats must read
_DIGIT_RE = re.compile(r"\d")
_SEP_RE = re.compile(r"[-/.]")
YEARS = (1970, 2100)


@dataclass
class TimeGuess:
    """How a column holds times: kind ("datetime", "date", "time"), formats, share read."""

    kind: str
    formats: list[str]
    share: float
    all_midnight: bool = False
    day_month_ambiguous: bool = False


def parse_with(values: pd.Series, fmt: str) -> pd.Series:
    """Texts read with one format (NaT where it does not read); HHMM numbers padded first."""
    if "%z" in fmt:
        out = pd.to_datetime(values, format=fmt, errors="coerce", utc=True)
        return out.dt.tz_localize(None)
    return pd.to_datetime(pad_compact_clock(values, fmt), format=fmt, errors="coerce")


def _shapes(values: pd.Series) -> list[str]:
    """One value of each shape ("9/3/2016 4:14:00 AM" -> "9/9/9999 9:99:99 aa"), in order."""
    seen: dict[str, str] = {}
    for v in values:
        seen.setdefault(_DIGIT_RE.sub("9", _SHAPE_LETTER.sub("a", v)), v)
    return list(seen.values())


_SHAPE_LETTER = re.compile(r"[A-Za-z]")


def _could_read(shapes: list[str], fmt: str) -> bool:
    """Whether `fmt` reads one value of any shape the column holds (plain strptime: fast).

    Only formats that pass are tried on every value with pandas, so a time column costs a few
    parses instead of one per known format; a rare shape (a few date-only entries) still counts.
    """
    for text in pad_compact_clock(pd.Series(shapes, dtype=object), fmt):
        try:
            dt.datetime.strptime(text, fmt)
            return True
        except ValueError:
            continue
    return False


def _greedy_formats(values: pd.Series, formats: Iterable[str], kind: str) -> TimeGuess | None:
    """Formats that together read the most values, best first (the order ingest tries them)."""
    shapes = _shapes(values)
    formats = [f for f in formats if _could_read(shapes, f)]
    if not formats:
        return None
    parsed = {f: parse_with(values, f) for f in formats}
    ok = {f: p.notna().to_numpy().copy() for f, p in parsed.items()}
    if kind != "time":
        for f, p in parsed.items():
            years = p.dt.year
            ok[f] &= ((years >= YEARS[0]) & (years <= YEARS[1])).fillna(False).to_numpy()
    left = np.ones(len(values), dtype=bool)
    chosen: list[str] = []
    while left.any():
        best = max(ok, key=lambda f: int((ok[f] & left).sum()))
        gain = int((ok[best] & left).sum())
        if gain == 0 or (chosen and gain < max(1, 0.005 * len(values))):
            break
        chosen.append(best)
        left &= ~ok[best]
    share = 1.0 - left.sum() / max(len(values), 1)
    if not chosen or share < _MIN_COVER:
        return None
    guess = TimeGuess(kind, chosen, float(share))
    first = parsed[chosen[0]]
    if kind == "datetime":
        read = first.dropna()
        guess.all_midnight = bool(len(read)) and bool((read == read.dt.normalize()).all())
    swapped = chosen[0].replace("%m/%d", "%d/%m") if "%m/%d" in chosen[0] else None
    if swapped and swapped in ok and ok[swapped].sum() == ok[chosen[0]].sum():
        guess.day_month_ambiguous = True
    return guess


def detect_time(
    name: str, values: pd.Series, distinct: list[str] | None = None
) -> TimeGuess | None:
    """The formats that read a column's (distinct, non-empty) values, or None if not a time.

    `distinct` may give the column's distinct non-empty values when the caller has them.
    """
    if distinct is None:
        distinct = [v for v in pd.unique(values.to_numpy(dtype=object)) if v != ""]
    with_digits = [v for v in distinct if _DIGIT_RE.search(v)]
    if not distinct or len(with_digits) < _MIN_COVER * len(distinct):
        return None
    # "NULL", "Unknown": missing markers, not a format to read. The cheap tests below run in
    # plain Python on the distinct values, so a column that is no time costs microseconds.
    toks = set(cached_tokens(name))
    dateish = bool(toks & {"date", "time", "datetime", "dt", "timestamp", "received", "created"})
    clockish = bool(toks & {"time", "tm", "hhmm", "clock"})
    if len(with_digits) > 2000:
        with_digits = list(pd.Series(with_digits).sample(2000, random_state=0))
    has_clock = sum(":" in v for v in with_digits) > 0.5 * len(with_digits)
    separated = sum(bool(_SEP_RE.search(v)) for v in with_digits) > 0.9 * len(with_digits)
    if not (has_clock or dateish or clockish or separated):
        return None
    values = pd.Series(with_digits, dtype=object)
    stamp_formats = _DATETIME_FORMATS + _DATE_FORMATS + (_COMPACT_FORMATS if dateish else ())
    if has_clock or dateish or separated:
        guess = _greedy_formats(values, stamp_formats, "datetime")
        if guess is not None:
            clock = [f for f in guess.formats if re.search(r"%[HI]", f)]
            if not clock:
                guess.kind = "date"
            return guess
    if has_clock or clockish:
        # HHMM stored as a number loses its zeros ("220" = 02:20): ingest pads them back, so
        # the compact format is chosen by the widest value (4 digits HHMM, 6 digits HHMMSS).
        wide = int(values.str.len().max())
        compact = ("%H%M",) if wide <= 4 else ("%H%M%S",)
        return _greedy_formats(values, _TIME_FORMATS + (compact if clockish else ()), "time")
    return None
