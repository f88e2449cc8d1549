"""A first, commented mapping for an agency export: `risk-model map --draft`.

An analyst with a new export spends the first hour finding which column is the call number, which
time is "received", which date format the CAD writes and which columns must never go near a model.
This module does that first pass from a sample of the export and writes it down as a mapping YAML
full of comments: every guess says why it was made, every column left out says why, and the
call-type values are listed with the family the lexicon gives them. The analyst then edits it;
nothing here is trusted blindly (the draft says so at the top).

Recognition is by column name (a synonyms table of common CAD export names) and by content
(unique ids, parseable times, coordinate ranges, yes/no flags, small sets of priority codes).
Columns guarded by `risk_model.ingest.guards` (protected, personal, post-incident; by name and by
the values they hold) are left out and listed with the reason: the one list ingest refuses.
The draft is checked with the same loader `ingest` uses, and says at the top whether it loads
as written.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from risk_model.errors import UserError
from risk_model.ingest.draft_content import (
    PERSON_DATE_TOKENS,
    busiest,
    date_range,
    fill_and_distinct,
    id_profile,
    looks_coordinate,
    looks_free_text,
    median_time,
    rows_years_before,
)
from risk_model.ingest.draft_model import (
    FLAG_FIELDS,
    Draft,
    Guess,
    OutcomeDraft,
    flow,
    is_status,
    q,
)
from risk_model.ingest.draft_sample import read_sample
from risk_model.ingest.draft_times import (
    YEARS,
    TimeGuess,
    cached_tokens,
    detect_time,
    parse_with,
)
from risk_model.ingest.draft_yaml import ONE_LINE, render
from risk_model.ingest.guards import GUARDS
from risk_model.ingest.run import FieldSpec, Mapping, load_mapping
from risk_model.schema import BOOL_FALSE, BOOL_TRUE
from risk_model.text import call_family

log = logging.getLogger(__name__)

DEFAULT_SAMPLE = 20_000
OUTCOME_SAMPLE = 200_000
TOP_CALL_TYPES = 25

# --------------------------------------------------------------------------- column names


def _tokens(name: str) -> list[str]:
    """Lower-case name tokens: "IncidentNo" -> [incident, no]; "CALL_DATE" -> [call, date]."""
    return list(cached_tokens(name))


_LETTER_RE = re.compile(r"[A-Za-z]")
_NUMBER_RE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


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
_TEXT_FIELDS = ("source", "address", "beat", "district", "premise_type", "narrative")

# Times recorded after the call came in: never received_at (guarded names such as CLEARED_AT
# are left out before times are read).
_LATER_TIME_TOKENS = frozenset(
    {"dispatch", "dispatched", "dispatch_time", "enroute", "en", "route", "arrive", "arrived",
     "arrival", "onscene", "on", "scene", "close", "complete", "completed", "end", "ended",
     "assigned", "ack", "acknowledged", "last", "update", "updated", "modified"}
)  # fmt: skip


def _personal(column: str) -> bool:
    """A protected or personal name (never a join key, never mapped)."""
    guard = GUARDS.guard_reason(column)
    return GUARDS.protected_reason(column) is not None or (guard or ("",))[0] == "personal"


def guarded(column: str, values: pd.Series | list[str]) -> str | None:
    """Why the draft leaves a column out (the guards ingest applies), or None.

    By name first (cheap), then by a sample of the distinct values: a column whose name says
    nothing ("REASON_DESC") but whose values say "Arrest", "Danger to self or others" is a
    post-incident column all the same.
    """
    if why := GUARDS.protected_reason(column):
        return f"protected attribute ({why}): never mapped, not overridable"
    if guard := GUARDS.guard_reason(column):
        return f"{guard[0]} (name says {guard[1]!r})"
    hit = GUARDS.content_of(values) if isinstance(values, list) else GUARDS.content_reason(values)
    if hit:
        return f"post-incident (values say so: {hit.text()})"
    return None


# --------------------------------------------------------------------------- recognising columns


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
    # A place's words inside a longer name: LOCATION_LATITUDE, FULL_STREET_ADDRESS_OR_...
    strong = _STRONG_WORDS.get(field_name, ())
    hits = [strong.index(t) for t in _tokens(column) if t in strong]
    return 2 * len(names) + min(hits) if hits else None


# Words that name a field wherever they sit in a longer column name.
_STRONG_WORDS: dict[str, tuple[str, ...]] = {
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lon", "lng"),
    "address": ("address", "addr"),
}


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
    keys = [f"column: {q(column)}"]
    if how == "split":
        keys.append('split: "|"')
    pairs = ", ".join(f"{q(k)}: {q(v)}" for k, v in table.items())
    keys.append(f"values: {{{pairs}}}")
    if unknown:
        keys.append(f"missing_values: {flow(unknown)}")
    return "{" + ", ".join(keys) + "}"


def _counts_comment(col: pd.Series, limit: int = 6) -> str:
    counts = _nonempty(col).value_counts()
    shown = ", ".join(f"{k} ({v:,})" for k, v in counts.head(limit).items())
    more = f", ... ({len(counts) - limit} more)" if len(counts) > limit else ""
    return shown + more


def _numeric(col: pd.Series) -> pd.Series:
    return pd.to_numeric(_nonempty(col), errors="coerce")


_ID_TOKENS = frozenset({"id", "no", "num", "number", "key", "nbr", "nr"})


def _id_candidates(
    df: pd.DataFrame, free: list[str], d: Draft
) -> list[tuple[tuple[Any, ...], str]]:
    """Columns that can hold an incident's number, best first, by name and by content.

    Content first: filled in (nearly) every row, a distinct value per incident (unique, or
    grouped: one incident, a few rows), never a time, a coordinate or free text. Then the name:
    a CAD id name beats an id-like name ("UOF_NUMBER") beats a name that says nothing.
    """
    cands = []
    n = len(df)
    for c in free:
        filled, distinct = d.filled(df, c), len(d.distinct(df, c))  # most columns stop here
        if filled < 0.95 * n or distinct < max(2, 0.5 * filled):
            continue
        col = df[c]
        rank = _name_rank("call_id", c)
        klass = 0 if rank is not None else 1 if set(_tokens(c)) & _ID_TOKENS else 2
        if klass == 2 and (
            distinct < 0.98 * filled or any(_NUMBER_RE.fullmatch(v) for v in d.distinct(df, c))
        ):
            continue  # an unnamed id is unique and never a number (a count, an amount)
        if looks_coordinate(col) or looks_free_text(col) or d.time_of(df, c) is not None:
            continue
        ratio = distinct / filled
        cands.append(((klass, rank if rank is not None else 0, -round(ratio, 2)), c))
    return sorted(cands)


def _guess_call_id(df: pd.DataFrame, free: list[str], d: Draft) -> None:
    cands = _id_candidates(df, free, d)
    if not cands:
        d.notes.append("call_id: no column looks like a call number; map the export's id column")
        return
    best = cands[0][1]
    col = df[best]
    prof = id_profile(col)
    klass = cands[0][0][0]
    why = [("matched by name", "an id-like name", "chosen by content")[klass] + f": {prof.text()}"]
    if prof.repeated:
        d.fold = (best, prof)
        why.append(
            f"{prof.groups_text()}: one incident, several rows (one per officer, subject or "
            "unit); see incident_rows below"
        )
    else:
        why.append("a different value in every sampled row")
    if prof.filled < prof.rows:
        why.append(
            f"{prof.rows - prof.filled:,} empty ids in the sample: those rows are quarantined"
        )
    if len(cands) > 1:
        other = cands[1][1]
        why.append(f"the other candidate: {other} ({id_profile(df[other]).text()})")
    d.guesses["call_id"] = Guess("call_id", best, [f"call_id: {q(best)}"], why)


def _time_lines(guess: TimeGuess, column: str) -> list[str]:
    return ["received_at:", f"  column: {q(column)}", f"  formats: {flow(guess.formats)}"]


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


def _parsed(values: pd.Series, guess: TimeGuess) -> pd.Series:
    """Row-aligned times read with a guess's formats (NaT where none reads, or out of range)."""
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for f in guess.formats:
        left = out.isna()
        if not left.any():
            break
        out[left] = parse_with(values[left], f).astype("datetime64[ns]")
    years = out.dt.year
    return out.where((years >= YEARS[0]) & (years <= YEARS[1]))


def _person_dates(df: pd.DataFrame, times: dict[str, TimeGuess], d: Draft) -> dict[str, pd.Series]:
    """Marks an officer's or subject's date (hire, commission, birth): never the call's time.

    By name, or by content: a date that sits a year or more before another time column of the
    same row in nine rows of ten is about a person, not the call (a hire date is the earliest
    date in every row of a register of force). Returns the parsed dates and times.
    """
    stamps = {c: _parsed(df[c], g) for c, g in times.items() if g.kind != "time"}
    named = {c: set(_tokens(c)) & PERSON_DATE_TOKENS for c in stamps}
    for c, words in named.items():
        if words:
            d.person_dates[c] = (
                f"an officer's or subject's date (name says {sorted(words)[0]!r}), "
                f"{date_range(stamps[c])}"
            )
    # Compared with the few best-named other times only: linear in the number of columns.
    refs = sorted(
        (c for c in stamps if not named[c]),
        key=lambda c: (_name_rank("received_at", c) is None, _name_rank("received_at", c) or 0),
    )[:5]
    for c in stamps:
        if c in d.person_dates:
            continue
        for o in refs:
            if o == c:
                continue
            share = rows_years_before(stamps[c], stamps[o])
            if share >= 0.9:
                d.person_dates[c] = (
                    f"{share:.0%} of rows a year or more before {o} ({date_range(stamps[c])} "
                    f"against {date_range(stamps[o])}): a person's date, not the call's"
                )
                break
    return stamps


def _guess_received_at(df: pd.DataFrame, free: list[str], d: Draft) -> None:
    """The call's time among columns whose dates fall where the bulk of the records fall.

    Later steps of the call (dispatch, arrival) and a person's dates are never chosen; a date
    column and a time-of-day column (same stem, or the only time-of-day column) are combined.
    """
    times: dict[str, TimeGuess] = {}
    for c in free:
        g = d.time_of(df, c)
        if g is not None:
            times[c] = g
    stamps = _person_dates(df, times, d)
    later = {c for c in times if set(_tokens(c)) & _LATER_TIME_TOKENS}
    usable = {c: g for c, g in times.items() if c not in later and c not in d.person_dates}

    # A date column and a time column with the same stem ("CALL_DATE" + "CALL_TIME"), else the
    # one time-of-day column beside the dates ("OCC_DATE" + "HHMM").
    pairs: list[tuple[str, str]] = []
    # A datetime whose clock is always midnight is a date (exports write "2016-09-03 00:00:00").
    dates = [c for c, g in usable.items() if g.kind == "date" or g.all_midnight]
    clocks = [c for c, g in usable.items() if g.kind == "time"]
    for dc in dates:
        stem = [t for t in _tokens(dc) if t not in ("date", "dt")]
        for tc in clocks:
            if [t for t in _tokens(tc) if t not in ("time", "tm")] == stem:
                pairs.append((dc, tc))
    if not pairs and len(clocks) == 1:
        pairs = [(dc, clocks[0]) for dc in dates]
    cands: list[tuple[Any, Any]] = []
    for c, g in usable.items():
        if g.kind == "time":
            continue
        rank = _name_rank("received_at", c)
        whole = 0 if g.kind == "datetime" and not g.all_midnight else 1
        cands.append(((rank if rank is not None else 999, whole, median_time(stamps[c])), (c,)))
    for dc, tc in pairs:
        ranks = [_name_rank("received_at", dc), _name_rank("received_at", tc)]
        rank = min((r for r in ranks if r is not None), default=999)
        cands.append(((rank, 0, median_time(stamps[dc])), (dc, tc)))
    if not cands:
        d.notes.append(
            "received_at: no column reads as a date/time with the usual formats; map it by hand "
            "with `formats:` (see the format table in docs/ingest.md)"
        )
        return
    cands.sort(key=lambda x: x[0])
    best = cands[0][1]
    if len(best) == 2:
        dc, tc = best
        g = _pair_guess(df, usable[dc], usable[tc], dc, tc)
        used = {dc, tc}
    else:
        c = best[0]
        g = Guess("received_at", c, _time_lines(usable[c], c), _time_why(usable[c], "values"))
        if _name_rank("received_at", c) is None:
            g.why.insert(0, "no 'received' name: the earliest time column with the bulk's dates")
        used = {c}
    g.why.append(f"dates {date_range(stamps[best[0]])}")
    others = [o[1] for o in cands[1:] if o[1][0] != best[0]]
    if others:
        o = others[0]
        g.why.append(f"the other candidate: {' + '.join(o)} (dates {date_range(stamps[o[0]])})")
    d.guesses["received_at"] = g
    d.other_times = [c for c in times if c not in used and c not in d.person_dates]


def _pair_guess(df: pd.DataFrame, gd: TimeGuess, gt: TimeGuess, dc: str, tc: str) -> Guess:
    """received_at from a date column plus a time-of-day column (`date:` + `time:`)."""
    lines = [
        "received_at:",
        f"  date: {q(dc)}",
        f"  date_formats: {flow(gd.formats)}",
        f"  time: {q(tc)}",
        f"  time_formats: {flow(gt.formats)}",
    ]
    why = [f"a date column and a time-of-day column combined: {dc} + {tc}"]
    why += [
        w
        for w in _time_why(gd, f"{dc} values")[1:]
        if "known to the day" not in w and "exactly midnight" not in w
    ]
    if gd.all_midnight:
        why.append(f"{dc}'s clock part is always midnight: the time of day comes from {tc}")
    clock = df[tc]
    if any(f in ("%H%M", "%H%M%S") for f in gt.formats):
        short = clock[clock.str.fullmatch(r"\d{1,3}")]
        if len(short):
            why.append(
                f"{tc} holds HHMM as a number that lost its leading zeros ({short.iloc[0]!r} "
                f"= {short.iloc[0].zfill(4)[:2]}:{short.iloc[0].zfill(4)[2:]}): ingest pads them"
            )
    no_time = int((~clock.str.contains(r"\d", regex=True)).sum())
    if no_time and "time_optional" in FieldSpec.model_fields:
        lines.append('  time_optional: "true"')
        why.append(
            f"{no_time:,} sampled rows have a date but no time: time_optional keeps them, known "
            "to the day"
        )
    return Guess("received_at", dc, lines, why, also_reads=[tc])


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
        values = list(_nonempty(df[c]).value_counts().index)
        if not values or len(values) > 12:
            continue
        fmts = next(li for li in g.lines if li.startswith("  formats:")).strip()
        bands = [v for v in values if v.lower() not in _UNKNOWN_WORDS]
        unknown = [v for v in values if v.lower() in _UNKNOWN_WORDS]
        table = ", ".join(f"{q(v)}: {q(_band_guess(v) or 'SET_ME')}" for v in bands)
        d.shift_lines = [
            f"# {c} looks like the shift the call fell in. If the agency's shift table says",
            "# which hours each band covers, received_at can be the date plus the band (the call",
            "# is then known to those hours, not the whole day). Bands are never guessed: check",
            "# the hours read from each band's text, fill in SET_ME, then use instead:",
            "#   received_at:",
            f"#     date: {q(date_col)}",
            f"#     date_{fmts}",
            f"#     shift: {q(c)}",
            f"#     shifts: {{{table}}}",
        ]
        if unknown:
            d.shift_lines += [
                f"#     missing_values: {flow(unknown)}   # no band: the call keeps its day",
                '#     time_optional: "true"',
            ]
        return


# Names of what officers found or did, written afterwards: never how the call began.
_AFTER_TOKENS = frozenset(
    {"conduct", "behavior", "behaviour", "condition", "influence", "effect", "effects",
     "result", "results", "finding", "findings", "found", "actual", "closing", "close"}
)  # fmt: skip


def _guess_call_type(df: pd.DataFrame, free: list[str], d: Draft) -> None:
    """How the call began (nature, call type, incident type, problem), from names and values.

    A column describing a person (SUBJECT_DESCRIPTION) or what was found afterwards is never the
    call type, however well its values read as call types.
    """
    cands = []
    skipped: list[str] = []
    for c in free:
        after = bool(set(_tokens(c)) & (GUARDS.person_words | _AFTER_TOKENS))
        rank = _name_rank("call_type", c)
        filled, uniq = d.filled(df, c), d.distinct(df, c)  # most columns stop here
        if not filled or len(uniq) > 5000 or len(uniq) > max(50, 0.5 * filled):
            continue  # empty, or free text (remarks), not a coded call type
        if rank is None and sum(bool(_LETTER_RE.search(v)) for v in uniq) < 0.5 * len(uniq):
            continue  # unnamed numbers: codes the lexicon cannot read
        if d.time_of(df, c) is not None:
            continue
        col = _nonempty(df[c])
        fams = pd.Series(call_family(list(uniq)), index=uniq)
        share = float((fams.reindex(col.to_numpy()).to_numpy() != "other").mean())
        if rank is not None:
            key: tuple[Any, ...] | None = (0, -round(share, 1), rank)
        elif share >= 0.3 and len(uniq) >= 3:
            key = (1, -share, 0)
        else:
            key = None
        if key is not None and after:
            skipped.append(c)
        elif key is not None:
            cands.append((key, c))
    cands.sort()
    best = cands[0][1] if cands else None
    if best is None:
        d.notes.append("call_type: no column looks like the call type; map it by hand")
        return
    col = _nonempty(df[best])
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
    if len(cands) > 1:
        why.append(f"the other candidate: {cands[1][1]}")
    if skipped:
        why.append(
            f"not {', '.join(skipped[:3])}: a description of a person or of what was found, "
            "written after the call"
        )
    d.guesses["call_type"] = Guess("call_type", best, [f"call_type: {q(best)}"], why)


def _guess_priority(df: pd.DataFrame, free: list[str], d: Draft) -> None:
    cands = [(r, c) for c in free if (r := _name_rank("priority", c)) is not None]
    for _, c in sorted(cands):
        col = _nonempty(df[c])
        vals = sorted(col.unique())
        if not vals:
            continue
        nums = pd.to_numeric(pd.Series(vals), errors="coerce")
        if nums.notna().all() and nums.between(1, 9).all() and (nums % 1 == 0).all():
            d.guesses["priority"] = Guess(
                "priority", c, [f"priority: {q(c)}"], [f"values {_counts_comment(col)}"]
            )
            return
        if len(vals) <= 15:
            digits = {v: re.search(r"[1-9]", v) for v in vals}
            if all(digits.values()):
                pairs = ", ".join(f"{q(v)}: {q(m.group(0))}" for v, m in digits.items() if m)
                d.guesses["priority"] = Guess(
                    "priority",
                    c,
                    [f"priority: {{column: {q(c)}, values: {{{pairs}}}}}"],
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
            nums = _numeric(df[c])
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
            d.guesses[name] = Guess(name, c, [f"{name}: {q(c)}"], why)
            break


def _guess_text(df: pd.DataFrame, free: list[str], d: Draft, name: str) -> None:
    cands = sorted((r, c) for c in free if (r := _name_rank(name, c)) is not None)
    for _, c in cands:
        col = _nonempty(df[c])
        if col.empty or (name != "narrative" and d.time_of(df, c) is not None):
            continue
        why = [f"matched by name; {len(col) / max(len(df), 1):.0%} of sampled rows filled"]
        if name == "narrative":
            why.append(
                "remarks must be what the call-taker typed before dispatch; an export whose "
                "remarks run on after the call (officer notes, disposition text) leaks the outcome"
            )
        elif name != "address":
            why.append(f"values {_counts_comment(col, 5)}")
        d.guesses[name] = Guess(name, c, [f"{name}: {q(c)}"], why)
        return


def _guess_flag(df: pd.DataFrame, free: list[str], d: Draft, name: str, split_ok: bool) -> None:
    cands = sorted((r, c) for c in free if (r := _name_rank(name, c)) is not None)
    for _, c in cands:
        col = df[c]
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


def _propose_exclude(df: pd.DataFrame, d: Draft) -> None:
    g = d.guesses.get("call_type")
    if g is None:
        return
    col = _nonempty(df[g.column])
    counts = col.value_counts()
    hits = [(v, int(n)) for v, n in counts.items() if is_status(v)]
    if not hits:
        return
    d.exclude.append((g.column, hits))
    addr = d.guesses.get("address")
    if addr is not None:
        _propose_not_premises(df, d, g.column, addr.column, {v for v, _ in hits})


def _propose_not_premises(
    df: pd.DataFrame, d: Draft, type_col: str, addr_col: str, admin: set[str]
) -> None:
    """Stations, headquarters, the jail, the court: places dominated by admin/status entries.

    Every such place is proposed (not only the top few): each builds premise history from
    paperwork, and headquarters is usually the busiest address of all.
    """
    rows = df[[type_col, addr_col]]
    rows = rows[rows[addr_col] != ""]
    is_admin = rows[type_col].isin(admin)
    counts = rows[addr_col].value_counts()
    share = is_admin.groupby(rows[addr_col]).mean().reindex(counts.index)
    places = busiest(counts, share, min_share=0.5, min_rows=3).head(20)
    if len(places):
        top = int(counts.iloc[0])
        evidence = [
            (
                p,
                f"{p} ({n:,} rows, {share[p]:.0%} admin/status"
                + (", the busiest address" if n == top else "")
                + ")",
            )
            for p, n in places.items()
        ]
        d.not_premises.append((addr_col, evidence))


# --------------------------------------------------------------------------- outcomes


_OFFICER_TOKENS = frozenset({"off", "officer", "ofc", "ofcr", "officers", "leo", "employee"})
_SUBJECT_TOKENS = frozenset(
    {"subj", "subject", "suspect", "susp", "cit", "citizen", "civilian", "sub", "arrestee"}
)


def _outcome_flag_line(name: str, col: pd.Series, column: str, split_ok: bool) -> str | None:
    shape = _bool_shape(col)
    if shape is None:
        return None
    if shape[0] == "split" and not split_ok:
        return None
    return f"{name}: {_flag_spec(column, shape)}"


def _key_columns(
    frame: pd.DataFrame, d: Draft | None = None, per_id: float = 0.5
) -> dict[str, set[str]]:
    """Columns that can hold an incident's number: distinct values by column.

    Never a timestamp (two files share minutes by coincidence: 8% of one agency's positives were
    calls that only happened in the same minute as an assault), free text, a coordinate or a
    person's column; values unique or grouped per incident (at least `per_id` distinct values
    per filled row: 0.5 in the export, 0.2 in an outcome file of one row per officer).
    """
    out = {}
    for c in frame.columns:
        if _personal(c):
            continue
        col = frame[c]
        filled, distinct = (
            fill_and_distinct(col)
            if d is None
            else (d.filled(frame, c), len(d.distinct(frame, c)))
        )
        if distinct < max(2, per_id * filled):
            continue
        timed = d.time_of(frame, c) if d is not None else detect_time(c, col)
        if timed is not None or looks_free_text(col) or looks_coordinate(col):
            continue
        out[c] = set(col[col != ""])
    return out


def _overlaps(of_sets: dict[str, set[str]], ex_sets: dict[str, set[str]]) -> dict:
    """{(outcome column, export column): share of the outcome column's values found}.

    Through an index from each export value to the columns holding it: one pass over the
    values, never every pair of columns (a wide export times a wide outcome file).
    """
    where: dict[str, list[str]] = {}
    for ec, values in ex_sets.items():
        for v in values:
            where.setdefault(v, []).append(ec)
    shares = {}
    for oc, values in of_sets.items():
        hits: dict[str, int] = {}
        for v in values:
            for ec in where.get(v, ()):
                hits[ec] = hits.get(ec, 0) + 1
        for ec, n in hits.items():
            shares[(oc, ec)] = n / len(values)
    return shares


def _choose_join_key(of: pd.DataFrame, export: pd.DataFrame, d: Draft, o: OutcomeDraft) -> None:
    """The outcome file's key and the export column it matches, by overlap of values."""
    call_id = d.guesses.get("call_id")
    ex_sets = _key_columns(export, d)
    of_sets = _key_columns(of, per_id=0.2)
    cands = []
    for (oc, ec), share in _overlaps(of_sets, ex_sets).items():
        prefer = 1 if call_id is not None and ec == call_id.column else 0
        cands.append((share >= 0.5, prefer, _key(oc) == _key(ec), share, oc, ec))
    cands.sort(reverse=True)
    if not cands:
        named = [c for c in of.columns if _name_rank("call_id", c) is not None]
        o.key = named[0] if named else None
        o.why.append(
            "key: no outcome column shares values with the export sample; check the key "
            "(leading zeros, prefixes, another number such as the report number)"
        )
        return
    *_, o.key_share, o.key, o.call_key = cands[0]
    prof = id_profile(of[o.key])
    o.why.append(
        f"key: {o.key_share:.0%} of the distinct {o.key} values are {o.call_key} values in the "
        f"export sample (outcome rows for calls outside the export are expected); {o.key}: "
        f"{prof.text()}"
        + (f", {prof.groups_text()} (one row per officer)" if prof.repeated else "")
    )
    rest = [c for c in cands[1:] if (c[4], c[5]) != (o.key, o.call_key)]
    if rest:
        o.why.append(
            f"the other candidate: {rest[0][4]} = {rest[0][5]} ({rest[0][3]:.0%} overlap)"
        )
    skipped = sorted(set(of.columns) & set(export.columns) - set(of_sets))
    if skipped:
        o.why.append(
            f"not {', '.join(skipped[:3])} (shared by both files, but a time, free text or "
            "not an id): a join key is never a timestamp"
        )


def _guess_outcomes(
    path: Path, out: Path, export: pd.DataFrame, d: Draft, split_ok: bool
) -> OutcomeDraft:
    sample = read_sample(path, OUTCOME_SAMPLE)
    of = _stripped(sample.frame)
    try:
        rel = os.path.relpath(path.resolve(), out.resolve().parent)
    except ValueError:  # another drive (Windows)
        rel = str(path.resolve())
    o = OutcomeDraft(file=rel.replace(os.sep, "/"), rows=len(of))
    _choose_join_key(of, export, d, o)
    toks = {c: set(_tokens(c)) for c in of.columns}
    for name, stem in (("officer_assaulted", "assault"), ("officer_injured", "injur")):
        cols = [c for c in of.columns if any(t.startswith(stem) for t in toks[c])]
        cols = [c for c in cols if not toks[c] & _SUBJECT_TOKENS]
        cols.sort(key=lambda c: (0 if toks[c] & _OFFICER_TOKENS else 1, c))
        for c in cols:
            line = _outcome_flag_line(name, of[c], c, split_ok)
            if line is not None:
                o.fields[name] = [line]
                o.why.append(f"{name} <- {c}: {_counts_comment(of[c], 4)}")
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
            line = _outcome_flag_line(name, df[c], c, split_ok)
            if line is None or c in {g.column for g in d.guesses.values()}:
                continue
            d.guesses[name] = Guess(
                name,
                c,
                [line],
                [
                    f"the outcome, read for training only (never an input): "
                    f"{_counts_comment(df[c], 4)}",
                    "if officer harm lives in another file, map it with --outcomes instead",
                ],
            )
            break


# --------------------------------------------------------------------------- writing YAML


_MISSING_SPELLINGS = ("NULL", "null", "(null)", "#N/A", "N/A", "n/a")


def _missing_markers(df: pd.DataFrame) -> list[str]:
    """Words an export writes for "no value" in whole cells of several columns ("NULL")."""
    cells = df.to_numpy(dtype=object)
    return [w for w in _MISSING_SPELLINGS if int((cells == w).any(axis=0).sum()) >= 2]


# --------------------------------------------------------------------------- the command


def _stripped(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as plain text without surrounding spaces, once (guesses read columns often).

    Object columns, not Arrow strings: the guesses compare and count small columns many times,
    where an object column costs a fraction of an Arrow one.
    """
    strip = np.frompyfunc(lambda v: v.strip() if isinstance(v, str) else "", 1, 1)
    cells = frame.to_numpy(dtype=object)
    cells = strip(cells) if cells.size else cells
    return pd.DataFrame(cells, index=frame.index, columns=frame.columns, dtype=object)


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
    df = _stripped(smp.frame)
    log.info("draft: read %d rows x %d columns of %s", len(df), len(df.columns), export)
    split_ok = "split" in FieldSpec.model_fields
    outcomes_ok = "outcomes" in Mapping.model_fields

    d = Draft(missing_values=_missing_markers(df))
    d.read(df)
    if outcomes is None:
        _guess_export_outcomes(df, d, split_ok)
    outcome_cols = {g.column for g in d.guesses.values()}
    for c in df.columns:
        if c in outcome_cols:
            continue
        if why := guarded(c, d.distinct(df, c)):
            d.left_out[c] = why
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
    for name in FLAG_FIELDS:
        take(_guess_flag, name, split_ok)
    _propose_exclude(df, d)
    used = {c for g in d.guesses.values() for c in (g.column, *g.also_reads)}
    unused = [c for c in df.columns if c not in used and c not in d.left_out]
    unused = [c for c in unused if c not in d.other_times and c not in d.person_dates]

    o = None
    if outcomes is not None:
        o = _guess_outcomes(Path(outcomes), out, df, d, split_ok)
    text = render(export, smp, d, o, outcomes_ok, unused)
    _write(out, text)
    try:
        load_mapping(out)
        problem = None
    except UserError as exc:
        problem = ONE_LINE.sub(" ", str(exc).replace(f"mapping {out}: ", ""))
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
        "incident_rows": None if d.fold is None else "fold",
        "person_dates": list(d.person_dates),
        "loads": problem is None,
        "load_problem": problem,
    }
