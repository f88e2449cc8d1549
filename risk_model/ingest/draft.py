"""A first, commented mapping for an agency export: `risk-model map --draft`.

An analyst with a new export spends the first hour finding which column is the call number, which
time is "received", which date format the CAD writes and which columns must never go near a model.
This module does that first pass from a sample of the export and writes it down as a mapping YAML
full of comments: every guess says why it was made, every column left out says why, and the
call-type values are listed with the family the lexicon gives them. The analyst then edits it;
nothing here is trusted blindly (the draft says so at the top).

Recognition is by column name (a synonyms table of common CAD export names) and by content
(unique ids, parseable times, coordinate ranges, yes/no flags, small sets of priority codes).
Columns whose names say post-incident (force, disposition, arrest, injury, cleared, final) or
personal (race, ethnicity, sex, age, birth date, build, height, weight, names, phones, SSN) are
flagged and left out, the same names `risk-model ingest` refuses. The draft is checked with the
same loader `ingest` uses, and says at the top whether it loads as written.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import logging
import lzma
import os
import re
import tempfile
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from risk_model.errors import UserError
from risk_model.ingest.files import concat_frames, export_paths
from risk_model.ingest.run import (
    COMPRESSED_SUFFIXES,
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    FieldSpec,
    Mapping,
    load_mapping,
    protected_reason,
    read_export,
)
from risk_model.schema import BOOL_FALSE, BOOL_TRUE
from risk_model.text import call_family, normalize_call_type

log = logging.getLogger(__name__)

DEFAULT_SAMPLE = 20_000
OUTCOME_SAMPLE = 200_000
TOP_CALL_TYPES = 25

# --------------------------------------------------------------------------- column names

_TOKEN_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def _tokens(name: str) -> list[str]:
    """Lower-case name tokens: "IncidentNo" -> [incident, no]; "CALL_DATE" -> [call, date]."""
    return [
        t.lower() for part in re.split(r"[^0-9A-Za-z]+", name) for t in _TOKEN_RE.findall(part)
    ]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _key(name: str) -> str:
    return "_".join(_tokens(name))


# Names seen in CAD exports, best first. Matched on the token key ("Incident No." -> incident_no).
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "call_id": _words(
        "call_id incident_no incident_number incident_num incident_id inc_no inc_num "
        "inc_number event_number event_no event_num event_id cad_num cad_number cad_no cad_id "
        "cad_event_number cad_incident_number call_number call_no call_num cfs_number cfs_no "
        "cfs_num cfs_id master_incident_number service_number service_no call_key event "
        "incident incident_key id"
    ),
    "received_at": _words(
        "received_at received received_time received_date_time received_datetime time_received "
        "date_time_received call_received call_received_time call_date_time call_datetime "
        "call_time call_date create_time create_date_time created created_at created_date "
        "created_time creation_time entry_time entered entered_time entry_date time_entered "
        "call_entered time_call_entered time_phone_pickup incident_date_time incident_datetime "
        "incident_date incident_time event_date_time event_date event_time response_date "
        "date_time datetime date time occ_date occurred occurrence_date occ_date_time"
    ),
    "call_type": _words(
        "call_type calltype initial_call_type initial_type original_call_type "
        "call_type_original orig_call_type nature nature_code nature_of_call problem "
        "problem_type incident_type event_type cfs_type call_nature call_type_desc "
        "call_type_description call_description type_description incident_type_description "
        "call_reason type description"
    ),
    "priority": _words(
        "priority call_priority initial_priority priority_code priority_level pri prio "
        "original_priority"
    ),
    "source": _words(
        "source call_source received_via how_received origin call_origin receive_source "
        "method_received call_method source_type"
    ),
    "address": _words(
        "address addr incident_address incident_location block_address street_address "
        "full_address call_address event_address location_address location block address_block"
    ),
    "latitude": _words("latitude lat geo_lat lat_dec y_lat map_lat"),
    "longitude": _words("longitude lon long lng geo_lon geo_long lon_dec x_long"),
    "beat": _words("beat beat_id patrol_beat police_beat zone post reporting_area"),
    "district": _words(
        "district police_district patrol_district division precinct sector patrol_area area "
        "station_area"
    ),
    "premise_type": _words(
        "premise_type premise premises location_type place_type premise_description premise_desc"
    ),
    "weapon_reported": _words(
        "weapon_reported weapon weapons weapon_flag weapon_involved weapons_flag armed weapon_yn"
    ),
    "domestic": _words("domestic domestic_flag dv dv_flag family_violence domestic_yn"),
    "mental_health": _words(
        "mental_health mental_health_flag mh mh_flag edp crisis mental_health_yn mental"
    ),
    "intoxication": _words(
        "intoxication intoxicated intox intox_flag alcohol drugs_alcohol alcohol_drugs etoh"
    ),
    "in_progress": _words("in_progress inprogress in_prog ip in_progress_flag"),
    "narrative": _words(
        "narrative remarks comments comment notes call_notes call_remarks call_comments "
        "details synopsis call_narrative"
    ),
}
_FLAG_FIELDS = ("weapon_reported", "domestic", "mental_health", "intoxication", "in_progress")
_TEXT_FIELDS = ("source", "address", "beat", "district", "premise_type", "narrative")

# Names that say "known only after the call": flagged and left out (ingest refuses them too).
_POST_TOKENS = frozenset(
    {"force", "disposition", "dispositions", "dispo", "disp", "final", "clear", "cleared",
     "clearance", "clr", "closed", "outcome", "outcomes", "resolution", "offense", "offence",
     "offenses"}
)  # fmt: skip
_POST_PREFIXES = ("injur", "arrest", "dispos", "clearanc")
# Personal attributes: never features (race, ethnicity, sex, gender and religion not even by
# override). "name" counts unless the name is about a place or a thing.
_PERSONAL_TOKENS = frozenset(
    {"age", "ages", "dob", "build", "height", "weight", "hgt", "wgt", "ssn", "phone",
     "phones", "telephone", "tel", "name", "names", "fname", "lname", "firstname",
     "lastname", "surname", "license", "licence", "dl", "socsec"}
)  # fmt: skip
_PERSONAL_PREFIXES = ("birth", "ethnic", "relig")
_PLACE_TOKENS = frozenset(
    {"street", "st", "location", "loc", "business", "place", "premise", "premises", "common",
     "beat", "district", "agency", "unit", "city", "county", "zone", "area", "sector",
     "division", "type", "call", "file", "event", "nature", "problem", "station", "building",
     "landmark", "venue", "site", "road", "intersection", "cross", "plate", "vehicle", "veh",
     "apartment", "complex", "facility", "school", "park", "hospital", "region"}
)  # fmt: skip
# Times recorded after the call came in: never received_at.
_LATER_TIME_TOKENS = frozenset(
    {"dispatch", "dispatched", "dispatch_time", "enroute", "en", "route", "arrive", "arrived",
     "arrival", "onscene", "on", "scene", "clear", "cleared", "close", "closed", "complete",
     "completed", "end", "ended", "assigned", "ack", "acknowledged", "disp", "final", "last",
     "update", "updated", "modified"}
)  # fmt: skip


def looks_post_incident(name: str) -> str | None:
    """The name token that says post-incident ("disposition", "injur..."), or None."""
    for t in _tokens(name):
        if t in _POST_TOKENS or t.startswith(_POST_PREFIXES):
            return t
    return None


def looks_personal(name: str) -> str | None:
    """The name token that says personal attribute, or None (place and thing names pass)."""
    why = protected_reason(name)
    if why is not None:
        return why
    toks = _tokens(name)
    if any(t.startswith(_PERSONAL_PREFIXES) for t in toks):
        return next(t for t in toks if t.startswith(_PERSONAL_PREFIXES))
    hits = [t for t in toks if t in _PERSONAL_TOKENS]
    if not hits:
        return None
    if set(hits) <= {"name", "names"} and any(t in _PLACE_TOKENS for t in toks):
        return None  # LOCATION_NAME, STREET_NAME, BUSINESS_NAME: a place, not a person
    return hits[0]


# --------------------------------------------------------------------------- time formats

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
_COMPACT_TIME: tuple[str, ...] = ("%H%M%S", "%H%M")
_MIN_COVER = 0.9  # share of distinct values a time column's formats must read
_YEARS = (1970, 2100)


@dataclass
class TimeGuess:
    """How a column holds times: kind ("datetime", "date", "time"), formats, share read."""

    kind: str
    formats: list[str]
    share: float
    all_midnight: bool = False
    day_month_ambiguous: bool = False


def _parse(values: pd.Series, fmt: str) -> pd.Series:
    if "%z" in fmt:
        out = pd.to_datetime(values, format=fmt, errors="coerce", utc=True)
        return out.dt.tz_localize(None)
    return pd.to_datetime(values, format=fmt, errors="coerce")


def _greedy_formats(values: pd.Series, formats: Iterable[str], kind: str) -> TimeGuess | None:
    """Formats that together read the most values, best first (the order ingest tries them)."""
    parsed = {f: _parse(values, f) for f in formats}
    ok = {f: p.notna().to_numpy().copy() for f, p in parsed.items()}
    if kind != "time":
        for f, p in parsed.items():
            years = p.dt.year
            ok[f] &= ((years >= _YEARS[0]) & (years <= _YEARS[1])).fillna(False).to_numpy()
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


def detect_time(name: str, values: pd.Series) -> TimeGuess | None:
    """The formats that read a column's (distinct, non-empty) values, or None if not a time."""
    values = pd.Series(pd.unique(values[values != ""]), dtype=object)
    if values.empty or not values.str.contains(r"\d", regex=True).all():
        return None
    toks = set(_tokens(name))
    dateish = bool(toks & {"date", "time", "datetime", "dt", "timestamp", "received", "created"})
    if len(values) > 2000:
        values = values.sample(2000, random_state=0)
    has_clock = values.str.contains(":", regex=False).mean() > 0.5
    stamp_formats = _DATETIME_FORMATS + _DATE_FORMATS + (_COMPACT_FORMATS if dateish else ())
    if has_clock or dateish or values.str.contains(r"[-/.]", regex=True).mean() > 0.9:
        guess = _greedy_formats(values, stamp_formats, "datetime")
        if guess is not None:
            clock = [f for f in guess.formats if re.search(r"%[HI]", f)]
            if not clock:
                guess.kind = "date"
            return guess
    if has_clock or "time" in toks:
        return _greedy_formats(
            values, _TIME_FORMATS + (_COMPACT_TIME if "time" in toks else ()), "time"
        )
    return None


# --------------------------------------------------------------------------- reading a sample


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


# --------------------------------------------------------------------------- recognising columns


@dataclass
class Guess:
    """One canonical field's draft: the YAML lines (without indent) and why."""

    field: str
    column: str
    lines: list[str]
    why: list[str] = field(default_factory=list)
    also_reads: list[str] = field(default_factory=list)  # e.g. the time column of date + time


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML; the loader reads text)."""
    return json.dumps(str(text), ensure_ascii=False)


def _flow(items: Iterable[str]) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"


# Suffixes that mark a column's form, not its meaning: "DV_YN", "WEAPON_FLAG", "MH_IND".
_FORM_TOKENS = frozenset({"yn", "flag", "flg", "ind", "indicator", "cd", "code", "desc"})


def _name_rank(field_name: str, column: str) -> int | None:
    """Position of the column's name in the field's synonyms (0 = best), or None."""
    names = _SYNONYMS[field_name]
    key = _key(column)
    if key in names:
        return names.index(key)
    toks = _tokens(column)
    while toks and toks[-1] in _FORM_TOKENS:
        toks = toks[:-1]
        if "_".join(toks) in names:
            return len(names) + names.index("_".join(toks))
    return None


def _nonempty(col: pd.Series) -> pd.Series:
    return col[col != ""]


_BOOL_WORDS = BOOL_TRUE | BOOL_FALSE
_UNKNOWN_WORDS = frozenset({"u", "unk", "unknown", "na", "n/a", "null", "none", "-", "?"})


def _bool_shape(col: pd.Series) -> tuple[str, dict[str, str], list[str]] | None:
    """How a column holds yes/no values: ("plain" | "split", recode table, unknown markers).

    None when it does not. The recode table lists every value seen (as written), so the draft
    spells out what each code means instead of leaving it to a default reading.
    """
    vals = list(_nonempty(col).unique())
    if not vals:
        return None
    how = "plain"
    if any("|" in v for v in vals) and not {v.lower() for v in vals} <= _BOOL_WORDS:
        how = "split"
        vals = list(dict.fromkeys(p.strip() for v in vals for p in v.split("|") if p.strip()))
    low = {v.lower() for v in vals}
    if not (low <= _BOOL_WORDS | _UNKNOWN_WORDS and low & _BOOL_WORDS):
        return None
    table: dict[str, str] = {}
    for v in vals:
        if v.lower() in _BOOL_WORDS and v.lower() not in {k.lower() for k in table}:
            table[v] = "true" if v.lower() in BOOL_TRUE else "false"
    # A sample may hold only one side ("N" everywhere): the other side of the same spelling is
    # added, so a "Y" later in the file is read rather than quarantined as an unknown code.
    seen = {k.lower() for k in table}
    for k in list(table):
        other = _OPPOSITE.get(k.lower())
        if other is not None and other not in seen:
            spelled = other.upper() if k.isupper() else other.title() if k.istitle() else other
            table[spelled] = "true" if other in BOOL_TRUE else "false"
            seen.add(other)
    unknown = sorted({v for v in vals if v.lower() in _UNKNOWN_WORDS})
    return how, table, unknown


_PAIRS = (("y", "n"), ("yes", "no"), ("true", "false"), ("t", "f"), ("1", "0"))
_OPPOSITE = {a: b for a, b in _PAIRS} | {b: a for a, b in _PAIRS}


def _flag_spec(column: str, shape: tuple[str, dict[str, str], list[str]]) -> str:
    how, table, unknown = shape
    keys = [f"column: {_q(column)}"]
    if how == "split":
        keys.append('split: "|"')
    pairs = ", ".join(f"{_q(k)}: {_q(v)}" for k, v in table.items())
    keys.append(f"values: {{{pairs}}}")
    if unknown:
        keys.append(f"missing_values: {_flow(unknown)}")
    return "{" + ", ".join(keys) + "}"


def _counts_comment(col: pd.Series, limit: int = 6) -> str:
    counts = _nonempty(col).value_counts()
    shown = ", ".join(f"{k} ({v:,})" for k, v in counts.head(limit).items())
    more = f", ... ({len(counts) - limit} more)" if len(counts) > limit else ""
    return shown + more


def _numeric(col: pd.Series) -> pd.Series:
    return pd.to_numeric(_nonempty(col), errors="coerce")


@dataclass
class Draft:
    """Everything the draft says about an export, before it is written as YAML."""

    guesses: dict[str, Guess] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    exclude: list[tuple[str, list[tuple[str, int]]]] = field(default_factory=list)
    not_premises: list[tuple[str, list[tuple[str, int]]]] = field(default_factory=list)
    call_types: list[tuple[str, str, int]] = field(default_factory=list)
    n_call_types: int = 0
    other_times: list[str] = field(default_factory=list)
    shift_lines: list[str] = field(default_factory=list)


def _pick(candidates: list[tuple[Any, str]]) -> str | None:
    return min(candidates)[1] if candidates else None


def _guess_call_id(df: pd.DataFrame, free: list[str], d: Draft) -> None:
    n = len(df)
    cands = []
    for c in free:
        rank = _name_rank("call_id", c)
        col = df[c].str.strip()
        filled = int((col != "").sum())
        unique = col[col != ""].nunique() == filled and filled == n
        if rank is not None:
            cands.append(((0 if unique else 1, rank), c))
        elif unique and filled == n and detect_time(c, col) is None and _numeric(col).isna().all():
            idish = bool(set(_tokens(c)) & {"id", "no", "num", "number", "key", "nbr"})
            cands.append(((2 if idish else 3, 0), c))
        elif unique and filled == n and set(_tokens(c)) & {"id", "no", "num", "number", "nbr"}:
            cands.append(((2, 1), c))
    best = _pick(cands)
    if best is None:
        d.notes.append("call_id: no column looks like a call number; map the export's id column")
        return
    col = df[best].str.strip()
    dupes = int(col[col != ""].duplicated().sum())
    empty = int((col == "").sum())
    why = ["matched by name" if _name_rank("call_id", best) is not None else "chosen by content"]
    if dupes or empty:
        why.append(
            f"{dupes:,} repeated and {empty:,} empty ids in the sample: repeats are quarantined "
            "as duplicates (the first row kept); an export with one row per unit or per update "
            "needs de-duplicating first"
        )
    else:
        why.append("a different value in every sampled row")
    d.guesses["call_id"] = Guess("call_id", best, [f"call_id: {_q(best)}"], why)


def _time_lines(guess: TimeGuess, column: str) -> list[str]:
    return ["received_at:", f"  column: {_q(column)}", f"  formats: {_flow(guess.formats)}"]


def _time_why(guess: TimeGuess, sample_label: str) -> list[str]:
    why = [f"{guess.share:.0%} of the distinct {sample_label} read with these formats"]
    if guess.kind == "date" or any(not re.search(r"%[HI]", f) for f in guess.formats):
        why.append(
            "a format without a clock time: such calls are known to the day only (their "
            "time-of-day features are unknown, their history counts only earlier days)"
        )
    if guess.all_midnight and guess.kind == "datetime":
        why.append(
            "every sampled time is exactly midnight: the export may know only the day; if so, "
            "use a date-only format instead of inventing 00:00"
        )
    if guess.day_month_ambiguous:
        why.append("no day above 12 in the sample: month/day order assumed, check it")
    if any("%z" in f for f in guess.formats):
        why.append("times carry UTC offsets: set `timezone:` to the agency's zone")
    return why


def _guess_received_at(df: pd.DataFrame, free: list[str], d: Draft) -> None:
    times: dict[str, TimeGuess] = {}
    for c in free:
        g = detect_time(c, df[c].str.strip())
        if g is not None:
            times[c] = g
    later = {c for c in times if set(_tokens(c)) & _LATER_TIME_TOKENS}
    usable = {c: g for c, g in times.items() if c not in later}

    def median(c: str) -> float:
        g = times[c]
        vals = _nonempty(df[c].str.strip())
        parsed = pd.Series(pd.NaT, index=vals.index, dtype="datetime64[ns]")
        for f in g.formats:
            parsed = parsed.fillna(_parse(vals, f))
        return float(parsed.dropna().astype("int64").median()) if parsed.notna().any() else 0.0

    # A date column and a time column with the same stem ("CALL_DATE" + "CALL_TIME").
    pairs: list[tuple[str, str]] = []
    dates = [c for c, g in usable.items() if g.kind == "date"]
    clocks = [c for c, g in usable.items() if g.kind == "time"]
    for dc in dates:
        stem = [t for t in _tokens(dc) if t not in ("date", "dt")]
        for tc in clocks:
            if [t for t in _tokens(tc) if t not in ("time", "tm")] == stem:
                pairs.append((dc, tc))
    cands: list[tuple[Any, Any]] = []
    for c, g in usable.items():
        if g.kind == "time":
            continue
        rank = _name_rank("received_at", c)
        whole = 0 if g.kind == "datetime" else 1
        cands.append(((rank if rank is not None else 999, whole, median(c)), ("one", c)))
    for dc, tc in pairs:
        rank = _name_rank("received_at", dc)
        rank = min(rank if rank is not None else 999, _name_rank("received_at", tc) or 999)
        cands.append(((rank, 0, median(dc)), ("pair", dc, tc)))
    if not cands:
        d.notes.append(
            "received_at: no column reads as a date/time with the usual formats; map it by hand "
            "with `formats:` (see the format table in docs/ingest.md)"
        )
        return
    best = min(cands, key=lambda x: x[0])[1]
    if best[0] == "pair":
        dc, tc = best[1], best[2]
        gd, gt = usable[dc], usable[tc]
        lines = [
            "received_at:",
            f"  date: {_q(dc)}",
            f"  date_formats: {_flow(gd.formats)}",
            f"  time: {_q(tc)}",
            f"  time_formats: {_flow(gt.formats)}",
        ]
        why = [f"a date column and a time column: {dc} + {tc}"]
        why += _time_why(gd, f"{dc} values")[1:]
        empty_times = int((df[tc].str.strip() == "").sum())
        if empty_times and "time_optional" in FieldSpec.model_fields:
            lines.append('  time_optional: "true"')
            why.append(
                f"{empty_times:,} sampled rows have a date but no time: time_optional keeps them, "
                "known to the day"
            )
        g = Guess("received_at", dc, lines, why, also_reads=[tc])
        used = {dc, tc}
    else:
        c = best[1]
        g = Guess("received_at", c, _time_lines(usable[c], c), _time_why(usable[c], "values"))
        if _name_rank("received_at", c) is None:
            g.why.insert(0, "no 'received' name: the earliest time column in the sample")
        used = {c}
    d.guesses["received_at"] = g
    d.other_times = [c for c in times if c not in used]


_SHIFT_TOKENS = frozenset({"shift", "shifts", "watch", "tour", "band", "platoon"})
_CLOCK_RE = re.compile(r"(\d{1,2})(?::?(\d{2}))?\s*([ap])?\.?m?\.?", re.IGNORECASE)


def _band_guess(text: str) -> str | None:
    """ "Between 7am-3pm" -> "07-15"; None when the text does not name two clock times."""
    times = []
    for m in _CLOCK_RE.finditer(text):
        hour, minute, half = int(m.group(1)), int(m.group(2) or 0), (m.group(3) or "").lower()
        if half == "p" and hour < 12:
            hour += 12
        elif half == "a" and hour == 12:
            hour = 0
        if hour > 24 or minute > 59:
            return None
        times.append((hour, minute))
    if len(times) != 2 or times[0] == times[1]:
        return None
    return "-".join(f"{h:02d}:{m:02d}" if m else f"{h:02d}" for h, m in times)


def _propose_shift(df: pd.DataFrame, d: Draft) -> None:
    """A date-only received_at plus a shift column: a commented date + shift alternative.

    The band table is the agency's to confirm (ingest never guesses a band), so the draft only
    proposes the hours it reads in each band's text and marks the others SET_ME.
    """
    g = d.guesses.get("received_at")
    if (
        g is None
        or "shift" not in FieldSpec.model_fields
        or not any("known to the day" in w for w in g.why)
    ):
        return
    date_col = g.column
    for c in df.columns:
        if c in d.left_out or not set(_tokens(c)) & _SHIFT_TOKENS:
            continue
        values = list(_nonempty(df[c].str.strip()).value_counts().index)
        if not values or len(values) > 12:
            continue
        fmts = next(li for li in g.lines if li.startswith("  formats:")).strip()
        bands = [v for v in values if v.lower() not in _UNKNOWN_WORDS]
        unknown = [v for v in values if v.lower() in _UNKNOWN_WORDS]
        table = ", ".join(f"{_q(v)}: {_q(_band_guess(v) or 'SET_ME')}" for v in bands)
        d.shift_lines = [
            f"# {c} looks like the shift the call fell in. If the agency's shift table says",
            "# which hours each band covers, received_at can be the date plus the band (the call",
            "# is then known to those hours, not the whole day). Bands are never guessed: check",
            "# the hours read from each band's text, fill in SET_ME, then use instead:",
            "#   received_at:",
            f"#     date: {_q(date_col)}",
            f"#     date_{fmts}",
            f"#     shift: {_q(c)}",
            f"#     shifts: {{{table}}}",
        ]
        if unknown:
            d.shift_lines += [
                f"#     missing_values: {_flow(unknown)}   # no band: the call keeps its day",
                '#     time_optional: "true"',
            ]
        return


def _guess_call_type(df: pd.DataFrame, free: list[str], d: Draft) -> None:
    cands = []
    for c in free:
        col = _nonempty(df[c].str.strip())
        if col.empty:
            continue
        uniq = col.unique()
        if len(uniq) > 5000 or detect_time(c, col) is not None:
            continue
        if len(uniq) > max(50, 0.5 * len(col)):
            continue  # free text (remarks), not a coded call type
        rank = _name_rank("call_type", c)
        fams = pd.Series(call_family(list(uniq)), index=uniq)
        share = float((fams.reindex(col.to_numpy()).to_numpy() != "other").mean())
        if rank is not None:
            cands.append(((0, -round(share, 1), rank), c))
        elif share >= 0.3 and len(uniq) >= 3:
            cands.append(((1, -share, 0), c))
    best = _pick(cands)
    if best is None:
        d.notes.append("call_type: no column looks like the call type; map it by hand")
        return
    col = _nonempty(df[best].str.strip())
    counts = col.value_counts()
    top = counts.head(TOP_CALL_TYPES)
    fams = call_family(list(top.index))
    d.call_types = [(v, f, int(n)) for (v, n), f in zip(top.items(), fams, strict=True)]
    d.n_call_types = len(counts)
    every = pd.Series(call_family(list(counts.index)), index=counts.index)
    other_share = float(counts[every == "other"].sum() / max(counts.sum(), 1))
    why = ["matched by name" if _name_rank("call_type", best) is not None else "by content"]
    why.append(
        f"{len(counts):,} distinct values; {other_share:.0%} of sampled calls fall to family "
        "'other' (the lexicon in docs/lexicon.md does not know them)"
    )
    if "initial" not in _tokens(best) and any("final" in _tokens(c) for c in df.columns):
        why.append("use the call type as coded at call-taking, never the final one")
    d.guesses["call_type"] = Guess("call_type", best, [f"call_type: {_q(best)}"], why)


def _guess_priority(df: pd.DataFrame, free: list[str], d: Draft) -> None:
    cands = [(r, c) for c in free if (r := _name_rank("priority", c)) is not None]
    for _, c in sorted(cands):
        col = _nonempty(df[c].str.strip())
        vals = sorted(col.unique())
        if not vals:
            continue
        nums = pd.to_numeric(pd.Series(vals), errors="coerce")
        if nums.notna().all() and nums.between(1, 9).all() and (nums % 1 == 0).all():
            d.guesses["priority"] = Guess(
                "priority", c, [f"priority: {_q(c)}"], [f"values {_counts_comment(col)}"]
            )
            return
        if len(vals) <= 15:
            digits = {v: re.search(r"[1-9]", v) for v in vals}
            if all(digits.values()):
                pairs = ", ".join(f"{_q(v)}: {_q(m.group(0))}" for v, m in digits.items() if m)
                d.guesses["priority"] = Guess(
                    "priority",
                    c,
                    [f"priority: {{column: {_q(c)}, values: {{{pairs}}}}}"],
                    [f"codes {_counts_comment(col)}: the digit in each code taken as 1..9; check"],
                )
                return
        d.notes.append(
            f"priority: {c} holds {_counts_comment(col, 4)}; map codes to 1..9 with `values:`"
        )
        return


def _guess_coordinates(df: pd.DataFrame, free: list[str], d: Draft) -> None:
    for name, bound in (("latitude", 90.0), ("longitude", 180.0)):
        cands = sorted((r, c) for c in free if (r := _name_rank(name, c)) is not None)
        for _, c in cands:
            nums = _numeric(df[c].str.strip())
            if nums.empty or nums.isna().mean() > 0.05:
                continue
            inside = nums.dropna().abs().between(0.01, bound)
            if inside.mean() < 0.95:
                d.notes.append(
                    f"{name}: {c} holds numbers outside +/-{bound:g} degrees (projected "
                    "coordinates such as state plane?); convert to WGS84 degrees before mapping"
                )
                break
            zeros = int((nums == 0).sum())
            why = [f"numbers within +/-{bound:g} degrees"]
            if zeros:
                why.append(f"{zeros:,} zeros in the sample: 0 is a placeholder, not a place")
            d.guesses[name] = Guess(name, c, [f"{name}: {_q(c)}"], why)
            break


def _guess_text(df: pd.DataFrame, free: list[str], d: Draft, name: str) -> None:
    cands = sorted((r, c) for c in free if (r := _name_rank(name, c)) is not None)
    for _, c in cands:
        col = _nonempty(df[c].str.strip())
        if col.empty or (name != "narrative" and detect_time(c, col) is not None):
            continue
        why = [f"matched by name; {len(col) / max(len(df), 1):.0%} of sampled rows filled"]
        if name == "narrative":
            why.append(
                "remarks must be what the call-taker typed before dispatch; an export whose "
                "remarks run on after the call (officer notes, disposition text) leaks the outcome"
            )
        elif name != "address":
            why.append(f"values {_counts_comment(col, 5)}")
        d.guesses[name] = Guess(name, c, [f"{name}: {_q(c)}"], why)
        return


def _guess_flag(df: pd.DataFrame, free: list[str], d: Draft, name: str, split_ok: bool) -> None:
    cands = sorted((r, c) for c in free if (r := _name_rank(name, c)) is not None)
    for _, c in cands:
        col = df[c].str.strip()
        shape = _bool_shape(col)
        if shape is None:
            d.notes.append(
                f"{name}: {c} is not yes/no ({_counts_comment(col, 4)}); derive it with "
                "true_when/false_when if it should count"
            )
            continue
        if shape[0] == "split" and not split_ok:
            d.notes.append(f"{name}: {c} holds one value per officer ('Yes | No'); needs split")
            continue
        line = f"{name}: {_flag_spec(c, shape)}"
        why = [f"yes/no values: {_counts_comment(col)}"]
        if shape[0] == "split":
            why.append("one value per officer: true when any part is true")
        d.guesses[name] = Guess(name, c, [line], why)
        return


# Unit-status and administrative entries mixed into CAD exports (not calls for service).
_STATUS_EXACT = frozenset(
    {"RETURN STATION", "RETURN TO STATION", "RTS", "OUT OF SERVICE", "OOS", "COURT",
     "COURT APPEARANCE", "COURT DUTY", "PRISONER TRANSPORT", "TRANSPORT PRISONER",
     "PRISONER TRANS", "TRANSPORT", "MEAL", "MEAL BREAK", "LUNCH", "BREAK", "FUEL", "GAS",
     "FUELING", "CAR WASH", "VEHICLE MAINTENANCE", "VEH MAINT", "MAINTENANCE", "TRAINING",
     "ADMIN", "ADMINISTRATIVE", "ADMIN DUTY", "REPORT WRITING", "PAPERWORK", "SHIFT CHANGE",
     "BRIEFING", "ROLL CALL", "MEETING", "BUSY", "ON BREAK", "PERSONAL", "RELIEF", "BOOKING",
     "JAIL", "EVIDENCE", "EVIDENCE DROP", "AT STATION", "IN SERVICE", "UNIT STATUS", "STATUS",
     "PERSONAL BREAK", "RESTROOM", "LOG ON", "LOG OFF", "END OF SHIFT", "SUBPOENA SERVICE"}
)  # fmt: skip
_STATUS_PREFIXES = (
    "OUT OF SERVICE", "RETURN TO STATION", "RETURN STATION", "PRISONER TRANSPORT",
    "TRANSPORT PRISONER", "ADMIN ", "MEAL ", "UNIT STATUS",
)  # fmt: skip


def _is_status(value: str) -> bool:
    norm = normalize_call_type([value])[0] or ""
    return norm in _STATUS_EXACT or norm.startswith(_STATUS_PREFIXES)


def _propose_exclude(df: pd.DataFrame, d: Draft) -> None:
    g = d.guesses.get("call_type")
    if g is None:
        return
    col = _nonempty(df[g.column].str.strip())
    counts = col.value_counts()
    hits = [(v, int(n)) for v, n in counts.items() if _is_status(v)]
    if not hits:
        return
    d.exclude.append((g.column, hits))
    # Where the status rows are: the station, the jail, the court. Not premises.
    addr = d.guesses.get("address")
    if addr is not None:
        status_rows = df[df[g.column].str.strip().isin([v for v, _ in hits])]
        places = _nonempty(status_rows[addr.column].str.strip()).value_counts().head(3)
        share = places / max(len(status_rows), 1)
        top = [(p, int(n)) for p, n in places.items() if share[p] >= 0.1 and n >= 3]
        if top:
            d.not_premises.append((addr.column, top))


# --------------------------------------------------------------------------- outcomes


_OFFICER_TOKENS = frozenset({"off", "officer", "ofc", "ofcr", "officers", "leo", "employee"})
_SUBJECT_TOKENS = frozenset(
    {"subj", "subject", "suspect", "susp", "cit", "citizen", "civilian", "sub", "arrestee"}
)


@dataclass
class OutcomeDraft:
    file: str
    key: str | None = None
    key_share: float = 0.0
    call_key: str | None = None
    fields: dict[str, list[str]] = field(default_factory=dict)
    why: list[str] = field(default_factory=list)
    rows: int = 0


def _outcome_flag_line(name: str, col: pd.Series, column: str, split_ok: bool) -> str | None:
    shape = _bool_shape(col)
    if shape is None:
        return None
    if shape[0] == "split" and not split_ok:
        return None
    return f"{name}: {_flag_spec(column, shape)}"


def _guess_outcomes(
    path: Path, out: Path, export: pd.DataFrame, d: Draft, split_ok: bool
) -> OutcomeDraft:
    sample = read_sample(path, OUTCOME_SAMPLE)
    of = sample.frame
    try:
        rel = os.path.relpath(path.resolve(), out.resolve().parent)
    except ValueError:  # another drive (Windows)
        rel = str(path.resolve())
    o = OutcomeDraft(file=rel.replace(os.sep, "/"), rows=len(of))
    call_id = d.guesses.get("call_id")
    # Export columns that could hold the number an outcome row refers to.
    ex_cols = [
        c
        for c in export.columns
        if _nonempty(export[c].str.strip()).nunique() >= 0.5 * max(len(export), 1)
        and not looks_personal(c)
    ]
    ex_sets = {c: set(_nonempty(export[c].str.strip())) for c in ex_cols}
    best: tuple[float, int, str, str] | None = None
    for oc in of.columns:
        if looks_personal(oc):
            continue
        vals = set(_nonempty(of[oc].str.strip()))
        if not vals:
            continue
        for ec, evals in ex_sets.items():
            share = len(vals & evals) / len(vals)
            prefer = 1 if call_id is not None and ec == call_id.column else 0
            cand = (share, prefer, oc, ec)
            if share > 0 and (best is None or cand[:2] > best[:2]):
                best = cand
    if best is not None:
        o.key_share, _, o.key, o.call_key = best
        o.why.append(
            f"key: {o.key_share:.0%} of the distinct {o.key} values are {o.call_key} values "
            "in the export sample (outcome rows for calls outside the export are expected)"
        )
    else:
        named = [c for c in of.columns if _name_rank("call_id", c) is not None]
        o.key = named[0] if named else None
        o.why.append(
            "key: no outcome column shares values with the export sample; check the key "
            "(leading zeros, prefixes, another number such as the report number)"
        )
    toks = {c: set(_tokens(c)) for c in of.columns}
    for name, stem in (("officer_assaulted", "assault"), ("officer_injured", "injur")):
        cols = [c for c in of.columns if any(t.startswith(stem) for t in toks[c])]
        cols = [c for c in cols if not toks[c] & _SUBJECT_TOKENS]
        cols.sort(key=lambda c: (0 if toks[c] & _OFFICER_TOKENS else 1, c))
        for c in cols:
            line = _outcome_flag_line(name, of[c].str.strip(), c, split_ok)
            if line is not None:
                o.fields[name] = [line]
                o.why.append(f"{name} <- {c}: {_counts_comment(of[c].str.strip(), 4)}")
                break
    fname = set(_tokens(path.stem))
    if "officer_assaulted" not in o.fields and (
        fname & {"assault", "assaults", "assaulted", "leoka", "aoo"} or not o.fields
    ):
        o.fields["officer_assaulted"] = ['officer_assaulted: {value: "true"}']
        o.why.append(
            "officer_assaulted: every row of this file taken as an assault on an officer "
            "(guessed from the file; check what a row means)"
        )
    return o


def _guess_export_outcomes(df: pd.DataFrame, d: Draft, split_ok: bool) -> None:
    """Officer assault/injury flags carried in the export itself: outcome fields (training only).

    Only yes/no columns named for an officer (or named exactly like the canonical outcome) count;
    a subject's injury or a use-of-force column is never an officer-harm outcome.
    """
    for name, stem in (("officer_assaulted", "assault"), ("officer_injured", "injur")):
        for c in df.columns:
            toks = set(_tokens(c))
            if not any(t.startswith(stem) for t in toks) or toks & _SUBJECT_TOKENS:
                continue
            if not (toks & _OFFICER_TOKENS or _key(c) == name):
                continue
            line = _outcome_flag_line(name, df[c].str.strip(), c, split_ok)
            if line is None or c in {g.column for g in d.guesses.values()}:
                continue
            d.guesses[name] = Guess(
                name,
                c,
                [line],
                [
                    f"the outcome, read for training only (never an input): "
                    f"{_counts_comment(df[c].str.strip(), 4)}",
                    "if officer harm lives in another file, map it with --outcomes instead",
                ],
            )
            break


# --------------------------------------------------------------------------- writing YAML


def _comment(lines: Iterable[str], indent: str = "") -> list[str]:
    """Comment lines wrapped to fit 99 columns; a wrapped line's rest is indented."""
    out = []
    for line in lines:
        wrapped = textwrap.wrap(line, 97 - len(indent), subsequent_indent="  ") or [""]
        out += [f"{indent}# {part}".rstrip() for part in wrapped]
    return out


def _render(
    export: Path,
    sample: Sample,
    d: Draft,
    outcome: OutcomeDraft | None,
    outcomes_ok: bool,
    unused: list[str],
) -> str:
    n = len(sample.frame)
    rows = f"the first {n:,} rows" if sample.truncated else f"all {n:,} rows"
    out = [
        f"# DRAFT mapping for {export.name}, written by `risk-model map --draft` from {rows}.",
        "# Every line is a guess: check each against the export and the agency's documentation,",
        "# then run `risk-model ingest --input EXPORT --mapping THIS_FILE --out runs/check` on a",
        "# sample and read runs/check/quarantine.csv. docs/ingest.md explains every key.",
        "version: 1",
        f"name: {_q(export.stem)}",
        "# timezone: America/Chicago   # the agency's IANA zone; needed for times with offsets",
    ]
    if sample.encoding != "utf-8":
        out.append(f"encoding: {_q(sample.encoding)}   # the file is not UTF-8")
    if sample.delimiter is not None:
        out.append(f"delimiter: {_q(sample.delimiter)}")
    out.append("fields:")
    order = (
        "call_id", "received_at", "call_type", "priority", "source", "address", "latitude",
        "longitude", "beat", "district", "premise_type", *_FLAG_FIELDS, "narrative",
    )  # fmt: skip
    for name in order:
        g = d.guesses.get(name)
        if g is None:
            continue
        out += _comment([f"{name} <- {g.column}: {g.why[0]}", *g.why[1:]], "  ")
        if name == "call_type" and d.call_types:
            out.append(f"  #   the {len(d.call_types)} most common of {d.n_call_types:,} values:")
            width = max(len(_q(v)) for v, _, _ in d.call_types)
            for v, fam, cnt in d.call_types:
                status = "   <- unit status? (see exclude: below)" if _is_status(v) else ""
                out.append(f"  #   {cnt:>8,}  {_q(v):<{width}}  {fam}{status}")
        out += [f"  {line}" for line in g.lines]
    missing = [f for f in ("call_id", "received_at", "call_type") if f not in d.guesses]
    for f in missing:
        out.append(f"  # {f}: REQUIRED and not recognised; map it by hand")
    for name in ("officer_assaulted", "officer_injured"):
        g = d.guesses.get(name)
        if g is not None:
            out += _comment([f"{name} <- {g.column}: {g.why[0]}", *g.why[1:]], "  ")
            out += [f"  {line}" for line in g.lines]
    if not d.guesses:
        out[-1] = "fields: {}   # nothing recognised: map call_id, received_at, call_type by hand"
    if d.shift_lines:
        out += ["", *d.shift_lines]
    if d.exclude:
        out += [
            "",
            "# Rows that are not calls (unit-status and administrative entries) look like these",
            "# values; scored, they rank highest (the station builds premise history). Review the",
            "# list, then uncomment to drop them before validation (they are counted by rule):",
            "# exclude:",
        ]
        for col, hits in d.exclude:
            total = sum(c for _, c in hits)
            out.append(f"#   - {{column: {_q(col)}, equals: {_flow(v for v, _ in hits)}}}")
            out.append(
                f"#     # {total:,} sampled rows: " + ", ".join(f"{v} ({c:,})" for v, c in hits)
            )
    if d.not_premises:
        out += [
            "",
            "# Where those status rows happen (the station, the jail, the court?). Places that",
            "# are not premises never build premise history; uncomment after checking:",
            "# not_premises:",
        ]
        for col, hits in d.not_premises:
            out.append(f"#   - {{column: {_q(col)}, equals: {_flow(v for v, _ in hits)}}}")
            out.append("#     # " + ", ".join(f"{v} ({c:,} status rows)" for v, c in hits))
    if outcome is not None:
        out += ["", *_render_outcomes(outcome, d, outcomes_ok)]
    if d.left_out:
        out += [
            "",
            "# LEFT OUT on purpose. Post-incident columns are known only after the call (mapped,",
            "# they hand the model its answer); personal attributes never become inputs. ingest",
            "# refuses these names; `allow:` overrides a column that only looks like one (never",
            "# race, ethnicity, sex/gender or religion):",
        ]
        width = max(len(c) for c in d.left_out)
        out += [f"#   {c:<{width}}  {why}" for c, why in d.left_out.items()]
    if d.other_times:
        out += [
            "",
            "# Other time columns (later steps of the call; ingest needs only received_at):",
        ]
        out += [f"#   {c}" for c in d.other_times]
    if unused:
        out += [
            "",
            "# Not used (no canonical field recognised; extra columns are never features):",
        ]
        out += [f"#   {c}" for c in unused]
    if d.notes:
        out += ["", "# To do by hand:"]
        out += [f"#   - {note}" for note in d.notes]
    # A value or column name with a line break would end a comment line early: one line each.
    return "\n".join(_ONE_LINE.sub(" ", line) for line in out) + "\n"


_ONE_LINE = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]+")


def _render_outcomes(o: OutcomeDraft, d: Draft, active: bool) -> list[str]:
    lines = [
        f"outcomes:   # officer harm from its own file ({o.rows:,} rows read)",
        f"  file: {_q(o.file)}",
        f"  key: {_q(o.key or 'SET_ME')}",
    ]
    call_id = d.guesses.get("call_id")
    if o.call_key is not None and (call_id is None or o.call_key != call_id.column):
        lines.append(f"  call_key: {_q(o.call_key)}   # the export column the key matches")
    lines.append(
        '  absent: "false"   # "false" if the file lists every harmed call, else "unknown"'
    )
    lines.append("  fields:")
    for name in ("officer_assaulted", "officer_injured"):
        for line in o.fields.get(name, []):
            lines.append(f"    {line}")
    notes = _comment(o.why)
    notes.append(
        "# Only these flags cross the join: no other outcome-file column reaches the model."
    )
    if not active:
        notes.append(
            "# This version of `risk-model ingest` does not read `outcomes:` yet: kept as a "
            "comment."
        )
        lines = ["# " + line for line in lines]
    return notes + lines


# --------------------------------------------------------------------------- the command


def _write(out: Path, text: str) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None


def draft_mapping(
    export: Path,
    out: Path,
    *,
    outcomes: Path | None = None,
    sample: int = DEFAULT_SAMPLE,
    force: bool = False,
) -> dict[str, Any]:
    """Writes a commented draft mapping for `export` to `out`; returns a JSON-able summary.

    Refuses to overwrite `out` unless `force` (an analyst's edited mapping is not to be lost).
    """
    export, out = Path(export), Path(out)
    if sample < 1:
        raise UserError(f"--sample must be at least 1, not {sample}")
    if out.is_dir():
        raise UserError(f"--out {out} is a directory; give a file name such as my_cad.yaml")
    if out.exists() and not force:
        raise UserError(f"{out} exists; pass --force to overwrite it (an edited mapping is lost)")
    if out.suffix.lower() not in (".yaml", ".yml"):
        raise UserError(f"--out must end in .yaml or .yml, got {out.name!r}")
    if outcomes is not None and not Path(outcomes).is_file():
        raise UserError(f"outcome file not found: {outcomes}")
    smp = read_sample(export, sample)
    df = smp.frame
    log.info("draft: read %d rows x %d columns of %s", len(df), len(df.columns), export)
    split_ok = "split" in FieldSpec.model_fields
    outcomes_ok = "outcomes" in Mapping.model_fields

    d = Draft()
    if outcomes is None:
        _guess_export_outcomes(df, d, split_ok)
    outcome_cols = {g.column for g in d.guesses.values()}
    for c in df.columns:
        if c in outcome_cols:
            continue
        if why := looks_personal(c):
            if protected_reason(c) is not None:
                d.left_out[c] = f"personal attribute ({why}): never mapped, not overridable"
            else:
                d.left_out[c] = f"personal ({why})"
        elif why := looks_post_incident(c):
            d.left_out[c] = f"post-incident (name says {why!r})"
    free = [c for c in df.columns if c not in d.left_out and c not in outcome_cols]

    def take(fn: Any, *args: Any) -> None:
        taken = {c for g in d.guesses.values() for c in (g.column, *g.also_reads)}
        fn(df, [c for c in free if c not in taken], d, *args)

    take(_guess_call_id)
    take(_guess_received_at)
    _propose_shift(df, d)
    free = [c for c in free if c not in d.other_times]
    take(_guess_call_type)
    take(_guess_priority)
    take(_guess_coordinates)
    for name in _TEXT_FIELDS:
        take(_guess_text, name)
    for name in _FLAG_FIELDS:
        take(_guess_flag, name, split_ok)
    _propose_exclude(df, d)
    used = {c for g in d.guesses.values() for c in (g.column, *g.also_reads)}
    unused = [c for c in df.columns if c not in used and c not in d.left_out]
    unused = [c for c in unused if c not in d.other_times]

    o = None
    if outcomes is not None:
        o = _guess_outcomes(Path(outcomes), out, df, d, split_ok)
    text = _render(export, smp, d, o, outcomes_ok, unused)
    _write(out, text)
    try:
        load_mapping(out)
        problem = None
    except UserError as exc:
        problem = _ONE_LINE.sub(" ", str(exc).replace(f"mapping {out}: ", ""))
        _write(
            out,
            "# NOTE: `risk-model ingest` does not accept this draft as written yet:\n"
            f"#   {problem}\n# Fix that first.\n" + text,
        )
    log.info("draft: wrote %s (%s)", out, "loads" if problem is None else "needs edits")
    return {
        "out": str(out),
        "rows_sampled": len(df),
        "sample_truncated": smp.truncated,
        "fields": {name: g.column for name, g in d.guesses.items()},
        "left_out": dict(d.left_out),
        "exclude_values": [v for _, hits in d.exclude for v, _ in hits],
        "call_types": d.n_call_types,
        "outcomes_key": None if o is None else o.key,
        "loads": problem is None,
        "load_problem": problem,
    }
