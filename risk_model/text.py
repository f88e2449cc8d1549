"""Row-local text normalisers: addresses, premise keys, call types and the narrative lexicon.

The same functions serve the offline builder (millions of calls at once) and the live service (a
one-element list), so every function takes a sequence (list, numpy object array or pandas Series of
str/None/NaN) and returns a numpy array of the same length, computed row by row with no dependence
on the other rows: a call's features never change with the batch it arrives in.

Speed comes from two tricks, not from special cases:
- addresses, call types and categories repeat a lot, so only the *unique* values are normalised
  (`pd.factorize`, a Python pass over the uniques, then a take back to rows);
- narratives are mostly unique, so they go through vectorised RE2 kernels of pyarrow.compute over
  the whole column (in chunks, on all cores), never a Python loop per row.

Every rule here is documented, with its reasons and limits, in docs/lexicon.md.
"""

from __future__ import annotations

import logging
import math
import os
import re
import unicodedata
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

logger = logging.getLogger(__name__)

__all__ = [
    "FAMILIES",
    "NARRATIVE_SIGNALS",
    "VIOLENT_FAMILIES",
    "WEAPON_FAMILIES",
    "call_family",
    "grid_cell",
    "narrative_signals",
    "normalize_address",
    "normalize_call_type",
    "normalize_category",
    "premise_key",
]

# --------------------------------------------------------------------------- shared helpers


def _is_missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and math.isnan(v)


def _map_unique(
    values: Any,
    func: Callable[[Any], Hashable],
    apply: Callable[[Callable[[Any], Any], np.ndarray], Any] | None = None,
) -> np.ndarray:
    """Applies `func` to each distinct non-missing value once, then maps the results back to rows.

    Missing values (None, NaN, pd.NA) map to `func(None)`. Categories repeat heavily in CAD data
    (a few thousand call types, a few hundred thousand addresses over millions of calls), so this
    is what keeps the Python-level rules cheap. `apply(func, uniques)` may replace the plain loop
    over the distinct values (the address rules use it).
    """
    data = _as_object_array(values)
    if len(data) <= _SMALL_MAP:
        return _map_small(data, func)
    codes, uniques = pd.factorize(data, use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object)
    mapped = np.empty(len(uniques) + 1, dtype=object)
    mapped[: len(uniques)] = (apply or _apply_each)(func, uniques)
    mapped[len(uniques)] = func(None)
    return mapped[np.where(codes < 0, len(uniques), codes)]


def _apply_each(func: Callable[[Any], Any], uniques: np.ndarray) -> list[Any]:
    return [func(u) for u in uniques.tolist()]


# A live call is one row: a dictionary beats pd.factorize's fixed cost (~25 us a call) up to a
# few hundred rows. Same values in, same results out (tests/unit/test_text.py covers both paths).
_SMALL_MAP = 256


def _map_small(data: Any, func: Callable[[Any], Hashable]) -> np.ndarray:
    out = np.empty(len(data), dtype=object)
    done: dict[Any, Any] = {}
    missing = func(None)
    for i, v in enumerate(data.tolist() if hasattr(data, "tolist") else list(data)):
        if _is_missing(v):
            out[i] = missing
            continue
        r = done.get(v, _UNSEEN)
        if r is _UNSEEN:
            r = done[v] = func(v)
        out[i] = r
    return out


_UNSEEN = object()
_APOSTROPHES = str.maketrans("", "", "'’‘`ʼ´")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _fold_upper(text: str) -> str:
    """Upper-cases text to plain ASCII so that case and accents never split one value into two.

    Unicode casefold (plus NFKD to strip accents and ligatures) makes x, x.upper() and x.lower()
    fold to the same string; characters with no ASCII form become separators. Apostrophes vanish
    ("O'CONNOR" -> "OCONNOR", "DON'T" -> "DONT").
    """
    if text.isascii():
        return text.translate(_APOSTROPHES).upper()
    folded = unicodedata.normalize("NFKD", text.casefold().replace("ı", "i"))
    folded = "".join(c for c in folded if not unicodedata.combining(c))  # "Ñ" -> "N", not "N "
    return _NON_ASCII.sub(" ", folded.translate(_APOSTROPHES)).upper()


# --------------------------------------------------------------------------- addresses

# USPS Publication 28 street suffix abbreviations, keyed by every spelling seen in CAD exports
# (dots are already gone when this is consulted, so "St." is "ST").
_SUFFIX_SPELLINGS: dict[str, tuple[str, ...]] = {
    "ST": ("STREET", "STR", "STRT"),
    "AVE": ("AVENUE", "AV", "AVEN", "AVENU", "AVN", "AVNUE"),
    "BLVD": ("BOULEVARD", "BOUL", "BOULV", "BLV"),
    "DR": ("DRIVE", "DRIV", "DRV"),
    "RD": ("ROAD",),
    "LN": ("LANE",),
    "CT": ("COURT", "CRT"),
    "PL": ("PLACE",),
    "PKWY": ("PARKWAY", "PARKWY", "PKWAY", "PKY", "PWY"),
    "HWY": ("HIGHWAY", "HIGHWY", "HIWAY", "HIWY", "HWAY"),
    "FWY": ("FREEWAY", "FREEWY", "FRWAY", "FRWY"),
    "CIR": ("CIRCLE", "CIRC", "CIRCL", "CRCL", "CRCLE"),
    "TER": ("TERRACE", "TERR"),
    "TRL": ("TRAIL", "TRAILS", "TRLS"),
    "EXPY": ("EXPRESSWAY", "EXPRESS", "EXPR", "EXPW", "EXPWY"),
    "PLZ": ("PLAZA", "PLZA"),
    "SQ": ("SQUARE", "SQR", "SQRE", "SQU"),
    "XING": ("CROSSING", "CRSSNG"),
    "ALY": ("ALLEY", "ALLEE", "ALLY"),
    "TPKE": ("TURNPIKE", "TRNPK", "TURNPK"),
    "CV": ("COVE",),
}
_SUFFIX_MAP: dict[str, str] = {
    spelling: short for short, spellings in _SUFFIX_SPELLINGS.items() for spelling in spellings
}
_SUFFIXES = frozenset(_SUFFIX_SPELLINGS) | {"WAY", "LOOP", "ROW", "RUN", "PATH", "WALK", "PIKE"}
_WORD_MAP = {**_SUFFIX_MAP, "BUILDING": "BLDG"}
_DIRECTIONALS = {
    "NORTH": "N",
    "SOUTH": "S",
    "EAST": "E",
    "WEST": "W",
    "NORTHEAST": "NE",
    "NORTHWEST": "NW",
    "SOUTHEAST": "SE",
    "SOUTHWEST": "SW",
}
# Unit designators: the designator and the one token after it (the unit id) are dropped.
_UNIT_WORDS = frozenset({"APT", "APTS", "APARTMENT", "UNIT", "STE", "SUITE", "RM", "ROOM", "#"})
_UNIT_FILLER = frozenset({"NO", "NUMBER", "NUM", "#"})
_FLOOR_WORDS = frozenset({"FLOOR", "FLR"})
_GLUED_UNIT = re.compile(r"^(?:APT|UNIT|STE|SUITE|RM)\d+[A-Z]?$")
_ORDINAL = re.compile(r"^\d+(?:ST|ND|RD|TH)?$")
_HOUSE_NUMBER = re.compile(r"^\d")
_FRACTION = re.compile(r"^\d+/\d+$")
# Everything but letters, digits and the characters that carry structure becomes a space.
_ADDR_JUNK = re.compile(r"[^A-Z0-9/&@#\- ]+")
_INTERSECTION = re.compile(r"\s*(?:&|@|\bAND\b|(?<!\d)/|/(?!\d))\s*")
_INTERSECTION_PREFIX = re.compile(r"^\s*(?:INTERSECTION|INTERSEC|INTX|CORNER)(?:\s+OF)?\b")


# Export placeholders for "no address": kept, they would make one giant premise of every call
# with a missing address.
_ADDRESS_PLACEHOLDERS = frozenset(
    {"", "NULL", "NONE", "NA", "N/A", "UNK", "UNKNOWN", "UNKNOWN ADDRESS", "NO ADDRESS", "0"}
)


def _normalize_street(part: str) -> str:
    """One street or street address (no intersection marker left in it) -> canonical tokens."""
    tokens = [t.strip("-") for t in part.split()]
    tokens = [t for t in tokens if t]
    if len(tokens) >= 2 and tokens[0] == "UNIT" and tokens[1] in ("BLOCK", "BLK"):
        tokens[:2] = ["0", "BLK"]  # CAD "unit block" is the 0-99 block

    # Units: a premise is the building (see docs/lexicon.md for why).
    kept: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in _UNIT_WORDS:
            i += 1
            while i < len(tokens) and tokens[i] in _UNIT_FILLER:
                i += 1
            i += 1  # the unit id
            continue
        if tok in _FLOOR_WORDS:
            if kept and _ORDINAL.match(kept[-1]) and len(kept) > 1:
                kept.pop()  # "3RD FLOOR"
                i += 1
            else:
                i += 2  # "FLOOR 3"
            continue
        if _GLUED_UNIT.match(tok):
            i += 1
            continue
        kept.append(tok)
        i += 1
    tokens = kept
    if not tokens:
        return ""

    # House number and block forms: "1200 BLOCK OF MAIN" -> "1200 BLK MAIN".
    start = 0
    if _HOUSE_NUMBER.match(tokens[0]):
        if tokens[0].isdigit():
            tokens[0] = tokens[0].lstrip("0") or "0"
        start = 1
        if start < len(tokens) and _FRACTION.match(tokens[start]):
            start += 1
    if start < len(tokens) and tokens[start] in ("BLOCK", "BLK"):
        tokens[start] = "BLK"
        start += 1
        if start < len(tokens) and tokens[start] == "OF":
            del tokens[start]

    tokens = [tok if k < start else _WORD_MAP.get(tok, tok) for k, tok in enumerate(tokens)]

    # Directionals: only in the pre-directional slot (right after the number) when a street name
    # follows, or as the last token after a suffix; "NORTHWEST HWY", "DALLAS NORTH TOLLWAY" and
    # "100 NORTH ST" keep the word because there it is the street's name.
    if start < len(tokens) and tokens[start] in _DIRECTIONALS:
        rest = tokens[start + 1 :]
        if rest and not (len(rest) == 1 and rest[0] in _SUFFIXES):
            tokens[start] = _DIRECTIONALS[tokens[start]]
    if len(tokens) - 1 > start and tokens[-1] in _DIRECTIONALS and tokens[-2] in _SUFFIXES:
        tokens[-1] = _DIRECTIONALS[tokens[-1]]
    return " ".join(tokens)


def _normalize_address_one(value: Any) -> str | None:
    if _is_missing(value):
        return None
    text = _fold_upper(str(value)).replace("#", " # ")
    text = _ADDR_JUNK.sub(" ", text)
    text = _INTERSECTION_PREFIX.sub(" ", text)
    if " ".join(text.split()) in _ADDRESS_PLACEHOLDERS:
        return None
    parts = {_normalize_street(p) for p in _INTERSECTION.split(text)}
    parts -= _ADDRESS_PLACEHOLDERS
    if not parts:
        return None
    return " & ".join(sorted(parts))


# Above this many distinct spellings, a vectorised first pass (case, apostrophes, punctuation,
# spacing) merges trivially different ones before the per-spelling Python rules run. It gives
# the same answer: `_normalize_address_one` starts with exactly these steps, and everything after
# them ignores spacing (tests/unit/test_text_prefold.py checks it).
_PREFOLD_MIN_UNIQUES = 5_000


def _prefold_addresses(uniques: np.ndarray) -> np.ndarray:
    """ASCII spellings upper-cased, apostrophes dropped, junk to spaces, spaces collapsed."""
    arr = pa.array(uniques.tolist(), type=pa.large_string())
    ascii_mask = pc.fill_null(pc.string_is_ascii(arr), False)
    folded = pc.utf8_upper(arr)
    folded = pc.replace_substring_regex(folded, "['`]", "")
    folded = pc.replace_substring_regex(folded, r"[^A-Z0-9/&@#\- ]+", " ")
    folded = pc.utf8_trim_whitespace(pc.replace_substring_regex(folded, " {2,}", " "))
    out = np.asarray(pc.if_else(ascii_mask, folded, arr).to_pylist(), dtype=object)
    return out


def _map_addresses(values: Any, func: Callable[[Any], Hashable]) -> np.ndarray:
    """`_map_unique` for addresses, with the vectorised first pass on many distinct spellings."""
    return _map_unique(values, func, apply=_apply_to_addresses)


def _apply_to_addresses(func: Callable[[Any], Any], uniques: np.ndarray) -> Any:
    if len(uniques) < _PREFOLD_MIN_UNIQUES:
        return _apply_each(func, uniques)
    folded_codes, folded = pd.factorize(_prefold_addresses(uniques), use_na_sentinel=True)
    results = np.array([*_apply_parallel(func, list(folded)), func(None)], dtype=object)
    return results[np.where(folded_codes < 0, len(folded), folded_codes)]


# Past this many distinct spellings the per-spelling rules run in worker processes (one per
# core): pure functions of one string, so the result is identical, only sooner.
_PARALLEL_MIN = 100_000


def _apply_chunk(args: tuple[Callable[[Any], Any], list[Any]]) -> list[Any]:
    func, items = args
    return [func(v) for v in items]


def _apply_parallel(func: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    import multiprocessing as mp

    workers = os.cpu_count() or 1
    # A daemonic process may not start children: a Dask worker is one (and there the cluster
    # already spreads the work over the cores).
    if len(items) < _PARALLEL_MIN or workers < 2 or mp.current_process().daemon:
        return [func(v) for v in items]
    from concurrent.futures import ProcessPoolExecutor

    size = -(-len(items) // workers)
    chunks = [(func, items[i : i + size]) for i in range(0, len(items), size)]
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
            parts = list(pool.map(_apply_chunk, chunks))
    except (OSError, RuntimeError):  # no fork here (or no room for workers): do it in-process
        return [func(v) for v in items]
    return [v for part in parts for v in part]


def _as_object_array(values: Any) -> Any:
    if isinstance(values, pd.Series | pd.Index):
        return values
    if isinstance(values, np.ndarray):
        return values.ravel() if values.dtype == object else values.astype(object).ravel()
    items = list(values)
    data = np.empty(len(items), dtype=object)  # element-wise: a list of tuples stays 1-D
    data[:] = items
    return data


def normalize_address(values: Sequence[Any]) -> np.ndarray:
    """Canonical address per row (object array of str, None where there is no address).

    Upper case, punctuation dropped, USPS suffixes and directionals, block forms as "1200 BLK
    MAIN ST", units stripped (the premise is the building), intersections as "A & B" in sorted
    order. Idempotent: normalising a normalised address changes nothing.
    """
    return _map_addresses(values, _normalize_address_one)


# --------------------------------------------------------------------------- grid cells

_METRES_PER_DEGREE = 111_320.0
_MIN_COS = 1e-6  # keeps the polar bands finite; no agency is there


def _coords(values: Any) -> np.ndarray:
    """Coordinates as float64; anything unreadable (None, "", "abc") becomes NaN."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        return values.astype(np.float64).ravel()
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _grid_ij(lat: Any, lon: Any, cell_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer cell indices (i, j) and a validity mask for each row."""
    if not (cell_m > 0 and math.isfinite(cell_m)):
        raise ValueError(f"cell_m must be a positive number of metres, got {cell_m!r}")
    la, lo = _coords(lat), _coords(lon)
    if la.shape != lo.shape:
        raise ValueError(f"latitude and longitude differ in length ({la.size} vs {lo.size})")
    ok = np.isfinite(la) & np.isfinite(lo) & (np.abs(la) <= 90.0) & (np.abs(lo) <= 180.0)
    step_lat = cell_m / _METRES_PER_DEGREE
    i = np.zeros(la.shape, dtype=np.int64)
    j = np.zeros(la.shape, dtype=np.int64)
    if ok.any():
        i_ok = np.floor(la[ok] / step_lat).astype(np.int64)
        # The longitude step depends on the band's latitude only, computed with math.cos on the
        # distinct bands: scalar libm, so a one-row call and a batch agree to the last bit.
        inverse, bands = pd.factorize(i_ok)
        cos = np.array(
            [max(math.cos(math.radians((b + 0.5) * step_lat)), _MIN_COS) for b in bands.tolist()]
        )
        step_lon = step_lat / cos
        i[ok] = i_ok
        j[ok] = np.floor(lo[ok] / step_lon[inverse]).astype(np.int64)
    return i, j, ok


def _format_cells(i: np.ndarray, j: np.ndarray, ok: np.ndarray, prefix: str) -> np.ndarray:
    """Labels per row, formatted once per distinct cell (cells repeat far more than rows)."""
    out = np.full(i.shape, None, dtype=object)
    if ok.any():
        offset = np.int64(2**31)
        key = ((i[ok] + offset).astype(np.uint64) << np.uint64(32)) | (j[ok] + offset).astype(
            np.uint64
        )
        codes, uniques = pd.factorize(key)
        cell_i = (uniques >> np.uint64(32)).astype(np.int64) - offset
        cell_j = (uniques & np.uint64(2**32 - 1)).astype(np.int64) - offset
        labels = np.array(
            [f"{prefix}{a}:{b}" for a, b in zip(cell_i.tolist(), cell_j.tolist(), strict=True)],
            dtype=object,
        )
        out[ok] = labels[codes]
    return out


def grid_cell(lat: Sequence[Any], lon: Sequence[Any], cell_m: float = 150.0) -> np.ndarray:
    """Grid cell "G:<i>:<j>" of about `cell_m` metres per row; None without usable coordinates.

    Latitude bands are cell_m / 111,320 degrees high; within a band the longitude step is scaled
    by 1 / cos(band-centre latitude) so cells stay roughly square. Deterministic and stateless.
    """
    i, j, ok = _grid_ij(lat, lon, cell_m)
    return _format_cells(i, j, ok, "G:")


def _address_key_one(value: Any) -> str | None:
    address = _normalize_address_one(value)
    return None if address is None else "A:" + address


def premise_key(
    address: Sequence[Any], lat: Sequence[Any], lon: Sequence[Any], cell_m: float = 150.0
) -> np.ndarray:
    """Premise key per row: "A:<address>" when an address is known, else "G:<i>:<j>", else None."""
    keys = _map_addresses(address, _address_key_one)
    no_addr = pd.isna(keys)
    if no_addr.any():
        la, lo = _coords(lat), _coords(lon)
        if la.shape != keys.shape or lo.shape != keys.shape:
            raise ValueError("address, latitude and longitude must have the same length")
        keys[no_addr] = grid_cell(la[no_addr], lo[no_addr], cell_m)
    return keys


# --------------------------------------------------------------------------- categories


def _normalize_category_one(value: Any) -> str | None:
    if _is_missing(value):
        return None
    text = " ".join(str(value).upper().split())
    return text or None


def normalize_category(values: Sequence[Any]) -> np.ndarray:
    """Free-text categories (source, premise_type, beat, district): upper, trimmed, collapsed.

    Nothing else is rewritten: these vocabularies are agency-specific and short, and one-hot or
    target encoding downstream only needs spelling noise (case, stray spaces) removed.
    """
    return _map_unique(values, _normalize_category_one)


# --------------------------------------------------------------------------- call types

_CALL_TYPE_JUNK = re.compile(r"[^A-Z0-9/]+")


def _normalize_call_type_one(value: Any) -> str | None:
    if _is_missing(value):
        return None
    text = _CALL_TYPE_JUNK.sub(" ", _fold_upper(str(value))).strip()
    return text or None


def normalize_call_type(values: Sequence[Any]) -> np.ndarray:
    """Call type per row: upper, non-alphanumerics except '/' to spaces, collapsed; None if empty.

    "Other ( In Narrative)" -> "OTHER IN NARRATIVE". Idempotent.
    """
    return _map_unique(values, _normalize_call_type_one)


FAMILIES: tuple[str, ...] = (
    "assault",
    "domestic",
    "disturbance",
    "weapons",
    "robbery",
    "burglary",
    "theft",
    "mental_health",
    "suicide",
    "suspicious",
    "traffic_stop",
    "traffic",
    "warrant",
    "narcotics",
    "alarm",
    "welfare",
    "noise",
    "trespass",
    "civil_disorder",
    "officer_assist",
    "service",
    "other",
)
# "Violent or conflict" calls for premise history: LEOKA's largest assault circumstance is the
# disturbance call, so disturbances, civil disorder and officer-assist calls count with assaults.
VIOLENT_FAMILIES: frozenset[str] = frozenset(
    {
        "assault",
        "domestic",
        "weapons",
        "robbery",
        "disturbance",
        "civil_disorder",
        "officer_assist",
    }
)
WEAPON_FAMILIES: frozenset[str] = frozenset({"weapons"})

# Ordered rules: the first family whose pattern matches the normalised call type wins. The order
# encodes the precedence decisions documented in docs/lexicon.md (a weapon named in the call type
# beats everything; alarms beat the crime they are named after; domestic beats assault and
# disturbance; mental health beats "disturbed"; specific disorder kinds beat plain disturbance).
_FAMILY_RULES: tuple[tuple[str, str], ...] = (
    (
        "weapons",
        r"WEAPONS?|WPNS?|GUNS?|HANDGUNS?|SHOTGUNS?|RIFLES?|PISTOLS?|FIREARMS?|GUNFIRE|GUNSHOTS?"
        r"|GUNPOINT|GUNMAN|KNIFE|KNIVES|MACHETE|STAB|STABBING|STABBED|SHOOTING|SHOOTER|SHOT"
        r"|SHOTS|SHOTSPOTTER|ARMED|MWW|PWW|MAN W/ ?W|PERSON W/ ?W"
        r"|WEAP|WEAPS|ADW|BRANDISH\w*|STABBINGS|SHOOTINGS|SHOT SPOTTER",
    ),
    ("alarm", r"ALARMS?|ALRM|ALM"),
    ("suicide", r"SUICID\w*|SELF HARM|ATTEMPTED SUICIDE"),
    (
        "domestic",
        r"DOMESTIC|DOM|DV|FAMILY VIOLENCE|FAM VIOL|FAMILY DIST\w*|FAM DIST\w*|FAMILY DISPUTE"
        r"|FAMILY FIGHT|FAMILY DISORDER"
        r"|FAMILY TROUBLE|FAMILY TRBL|FAM TRBL|FAMILY PROBLEM|FAM DISP\w*|FAM FIGHT|415 ?F"
        r"|415 FAM\w*",
    ),
    ("robbery", r"ROBBERY|ROBB|ROB|ROBBED|HOLDUP|HOLD UP|CARJACK\w*|HOME INVASION"),
    (
        "assault",
        r"ASSAULT\w*|ASLT|ASSLT|AGG ASLT|BATTERY|FIGHT|FIGHTS|FIGHTING|SEXUAL ASSAULT|RAPE"
        r"|ATTACK\w*|BEATING"
        r"|BATT|HOMICIDE|MURDER|KIDNAP\w*|ABDUCT\w*",
    ),
    ("burglary", r"BURGLARY|BURG|BURGL\w*|BREAK IN|BREAKING|BREAKIN|B/E|B E|HOME ENTRY"),
    (
        "mental_health",
        r"MENTAL\w*|EDP|EMOTIONALLY DISTURBED|PSYCH|PSYCHIATRIC|PSYCHOTIC|CRISIS|CIT|5150|MHMR",
    ),
    (
        "civil_disorder",
        r"CIVIL DISORDER|CIVIL UNREST|RIOT\w*|CROWD\w*|PROTEST\w*|DEMONSTRATION\w*"
        r"|UNLAWFUL ASSEMBLY",
    ),
    ("noise", r"NOISE|LOUD MUSIC|LOUD PARTY|LOUD|PARTY NOISE|MUSIC"),
    (
        "disturbance",
        r"DISTURBANCE|DISTURB\w*|DIST|DISORDERLY|DISORDER|DISPUTE|ARGUMENT|ARGUING|NUISANCE"
        r"|UNRULY|DISTURBING THE PEACE"
        r"|DISP|TRBL|TROUBLE W/ ?\w+|TROUBLE WITH \w+|UNKNOWN TROUBLE|UNK TROUBLE|HARASS\w*|415",
    ),
    ("trespass", r"TRESPASS\w*|TRESP|UNWANTED\w*"),
    ("service", r"OVERDOSE|OD"),  # a medical call, even when a drug is named in it
    ("narcotics", r"NARCOTICS?|NARC|DRUGS?|DRUG ACTIVITY|DEALING"),
    (
        "theft",
        r"THEFT|LARCENY|SHOPLIFT\w*|STOLEN|STEALING|PICKPOCKET|PURSE SNATCH\w*|UUMV|FRAUD"
        r"|EMBEZZLEMENT"
        r"|LARC|SHOPLIFTER",
    ),
    (
        "traffic_stop",
        r"TRAFFIC STOP|TRAF STOP|T STOP|VEHICLE STOP|VEH STOP|CAR STOP|MV STOP"
        r"|MOTOR VEHICLE STOP|MOTORIST STOP",
    ),
    (
        "suspicious",
        r"SUSPICIOUS|SUSP|PROWLER|PEDESTRIAN STOP|PED STOP|SUBJECT STOP|PERSON STOP"
        r"|LOITER\w*",
    ),
    ("warrant", r"WARRANTS?|WARR|WRNT|ARREST|ARRESTS|WANTED PERSON|WANTED SUBJ\w*"),
    (
        "traffic",
        r"TRAFFIC|TRAF|MVA|MVC|ACCIDENT|CRASH|COLLISION|RECKLESS|DUI|DWI|HIT AND RUN|HIT RUN"
        r"|HIT/RUN|PARKING|PARKED|DISABLED VEHICLE|STALLED|ROAD HAZARD|TOW|ABANDONED VEHICLE"
        r"|MOTOR VEHICLE|RACING|SPEEDING|WRONG WAY"
        r"|ACC|ACCID|PDO|PIA|H/R|H R|DRUNK DRIVER|IMPAIRED DRIVER|INTOX DRIVER|DISABLED VEH"
        r"|STALLED VEH",
    ),
    ("welfare", r"WELFARE|WELL BEING|WELLBEING|CHECK ON|MISSING|RUNAWAY|WELF|WELF CHK"),
    (
        "officer_assist",
        r"OFFICER NEEDS\w*|ASSIST OFFICER|OFFICER ASSIST\w*|OFFICER DOWN|OFFICER IN TROUBLE"
        r"|OFFICER INJURED|CALL FOR COVER|COVER|BACKUP|BACK UP|OFFICER EMERGENCY"
        r"|OFCR NEEDS\w*|OFC NEEDS\w*|ASSIST OFCR|OFFICER NEEDS HELP",
    ),
    (
        "service",
        r"SERVICE|FOLLOW UP|FOLLOWUP|911|HANG UP|HANGUP|HANG UPS|ABANDONED CALL|INFORMATION|INFO"
        r"|ASSIST|CITIZEN ASSIST|MOTORIST ASSIST|ESCORT|STANDBY|CIVIL MATTER|CIVIL|LOST"
        r"|FOUND PROPERTY|LOST PROPERTY|ANIMAL|MEDICAL|OVERDOSE|SICK|INJURED|LOCKOUT|MESSAGE"
        r"|OPEN LINE|PERSON DOWN|MAN DOWN|SUBJ DOWN",
    ),
)
_FAMILY_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (family, re.compile(rf"(?<![A-Z0-9])(?:{pattern})(?![A-Z0-9])"))
    for family, pattern in _FAMILY_RULES
)


def _call_family_one(value: Any) -> str:
    text = _normalize_call_type_one(value)
    if text is None:
        return "other"
    for family, pattern in _FAMILY_PATTERNS:
        if pattern.search(text):
            return family
    return "other"


def call_family(normalized_call_types: Sequence[Any]) -> np.ndarray:
    """Family of each call type (object array of names from FAMILIES; unknown -> "other").

    Accepts raw or normalised call types (normalising is idempotent). Never raises on a new type.
    """
    return _map_unique(normalized_call_types, _call_family_one)


# --------------------------------------------------------------------------- narratives

NARRATIVE_SIGNALS: tuple[str, ...] = (
    "weapon",
    "threat",
    "violence",
    "mental_health",
    "suicide",
    "intoxication",
    "children",
)

# Lexicon fragments are RE2 (pyarrow) patterns over the raw remark, matched case-insensitively.
# In a fragment a space means "one or more separators" (anything but a letter, digit or '/',
# e.g. spaces, hyphens, quotes) and '~' means "an optional separator", so "E~D~P" also reads
# "E.D.P." and "DON~T" reads "DON'T", "DONT" and "DON T".
_SEP = r"[^A-Za-z0-9/|]+"
# Negation never crosses a clause boundary: , ; ! ? | a line break, a full stop followed by a
# space or the end, or a contrast word. Inside cancellation patterns separators therefore exclude
# the boundary characters (a full stop is allowed only inside abbreviations such as "E.D.P").
_CLAUSE_CHARS = r",;!?|\r\n."
_IN_CLAUSE = f"[^A-Za-z0-9/{_CLAUSE_CHARS}]"
_SEP_IN_CLAUSE = rf"(?:{_IN_CLAUSE}+|{_IN_CLAUSE}*\.[^A-Za-z0-9/{_CLAUSE_CHARS}\s]*)"
_CONTRAST_WORDS: tuple[str, ...] = ("BUT", "HOWEVER", "EXCEPT", "ALTHOUGH", "THOUGH", "THEN")


def _word_except(excluded: Sequence[str]) -> str:
    """RE2 for one word ([A-Za-z0-9/]+) that is none of `excluded` (upper case; used with (?i)).

    RE2 has no lookahead, so the complement is spelled out over the words' trie: a word leaves
    the trie at some node with a character no excluded word has there, or stops at a node that
    ends no excluded word.
    """
    trie: dict[str, Any] = {}
    for word in excluded:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node["$"] = {}
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/"
    alternatives: list[str] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        others = "".join(c for c in alphabet if c not in node)
        alternatives.append(f"{re.escape(prefix)}[{others}][A-Za-z0-9/]*")
        if prefix and "$" not in node:
            alternatives.append(re.escape(prefix))
        for ch, child in node.items():
            if ch != "$":
                walk(child, prefix + ch)

    walk(trie, "")
    return "(?:" + "|".join(alternatives) + ")"


_WORD_IN_CLAUSE = _word_except(_CONTRAST_WORDS)
_CLAUSE_END = (
    rf"(?:{_IN_CLAUSE}*(?:[,;!?|\r\n]|\.(?:\s|$)|$)"
    rf"|{_SEP_IN_CLAUSE}(?:{'|'.join(_CONTRAST_WORDS)})\b)"
)

_SELF = r"(?:(?:HIM|HER|HIS|MY|YOUR|ONE|IT|THEIR)~)?SELF|THEMSELVES|THEMSELF|THEIRSELVES"
_SELF_HARM = (
    rf"(?:KILL|HURT|HARM|SHOOT|STAB|CUT|HANG|DROWN|OD|OVERDOSE|END)(?:S|ED|ING|TING)? (?:{_SELF})"
    r"|(?:END|ENDING|TAKE|TAKING) (?:HIS|HER|THEIR|MY) (?:OWN )?LIFE"
)
_INTENT = (
    r"WILL|WOULD|WOULDVE|GONNA|GUNNA|GOING TO|GOING 2|GOIN TO|WANTS TO|WANTED TO|WANTING TO"
    r"|TRYING TO|TRIED TO|THREATENING TO|THREATENED TO|THREATENS TO|SAID HE WOULD|SAID SHE WOULD"
)
_CONTRACTION_NEG = r"(?:DO|DOES|DID|IS|WAS|ARE|WERE|HAS|HAVE|HAD|CA|WO|COULD|WOULD|SHOULD)N~T"

_PRE_NEGATORS: tuple[str, ...] = (
    "NO",
    "NOT",
    "NON",
    "NEG",
    "NEGATIVE",
    "NOR",
    "DENIES",
    "DENIED",
    "DENY",
    "DENYING",
    "W/O",
    "WITHOUT",
    "NONE",
    "NEVER",
    _CONTRACTION_NEG,
    "UNK(?:NOWN)? (?:IF|WHETHER)",
    "UNSURE (?:IF|WHETHER)",
)
_POST_NEGATORS: tuple[str, ...] = (
    r"NOT (?:SEEN|PRESENT|INVOLVED|ON~SCENE|THERE|HOME|REPORTED|MENTIONED|OBSERVED|VISIBLE"
    r"|KNOWN|FOUND|LOCATED|IN (?:THE )?(?:RES|RESIDENCE|HOME|HOUSE|VEH|VEHICLE))",
    "NEG",
    "NEGATIVE",
    "NONE(?: SEEN| REPORTED)?",
    "DENIED",
    "RULED OUT",
)
# A negator cancels a term at most this many words after it ("NO KNOWN WEAPONS", "DENIES ANY
# PRIOR WEAPONS" are negated; "NO ANSWER AT DOOR SUBJ HAS GUN" is not).
_NEGATION_WINDOW = 2


@dataclass(frozen=True)
class _Lexicon:
    """One signal: the terms that fire it and the phrases that cancel an occurrence."""

    terms: tuple[str, ...]
    cancel: tuple[str, ...] = ()  # non-negation exclusions ("HIT AND RUN", "KILL HERSELF")
    pre: tuple[str, ...] = ()  # signal-specific negators before the term
    post: tuple[str, ...] = ()  # signal-specific negators after the term, at a clause end


_LEXICONS: dict[str, _Lexicon] = {
    "weapon": _Lexicon(
        terms=(
            r"GUNS?|HANDGUNS?|SHOTGUNS?|GUNPOINT|GUNFIRE|GUNSHOTS?|GUNMAN|GUNMEN|FIREARMS?",
            r"PISTOLS?|RIFLES?|REVOLVERS?|GLOCKS?|DERRINGER|UZI|AK~47|AR~15|(?:9|10)~MM",
            r"\d{2,3}~CAL(?:IBER)?|AMMO|AMMUNITION|BULLETS?",
            r"KNIFE|KNIVES|KNIFES|SWITCHBLADE|MACHETES?|SWORDS?|AXE|HATCHET|BOX~CUTTER",
            r"STAB|STABS|STABBED|STABBING|STABBINGS|BRANDISH(?:ED|ES|ING)?",
            r"WEAPONS?|WPNS?|WEAP|ARMED",
            r"SHOTS|SHOT|SHOOTING|SHOOTER|SHOTSPOTTER",
            r"(?:BASEBALL|METAL|WOODEN|WOOD|ALUMINUM|A|WITH) BAT|W/~BAT",
        ),
        cancel=(
            r"(?:NAIL|STAPLE|GLUE|RADAR|HEAT|SPRAY|WATER|CAULK|CAULKING|PAINT|SPEED|GREASE"
            r"|TATTOO|STUN) GUNS?",
            r"(?:ALARM|SYSTEM)(?: (?:IS|WAS|IS NOT|WAS NOT|NOT))? ARMED",
            r"ARMED (?:THE |HIS |HER |THEIR )?(?:ALARM|SYSTEM)",
            r"ARMED (?:FORCES|SERVICES|SECURITY|GUARDS?)",
            r"(?:FLU|BOOSTER|VACCINE|COVID|INSULIN) SHOTS?",
            r"UNK(?:NOWN)? (?:WEAPONS?|WPNS?)",
        ),
        post=(r"UNK(?:NOWN)?",),
    ),
    "threat": _Lexicon(
        terms=(
            r"THREAT|THREATS|THREATEN|THREATENS|THREATENED|THREATENING|THREATNING",
            r"THRT|THRTS|THRTD|THRTNG|THRTNING|THRTENING|TERRORISTIC|MENACING",
            rf"(?:{_INTENT}) (?:KILL|SHOOT|STAB|HURT|MURDER|CUT|BEAT UP|BLOW UP|BURN DOWN|SLIT)",
            r"KILL(?:ING)? (?:RP|R/P|CALLER|COMP|COMPL|COMPLAINANT|HIM|HER|THEM|YOU|ME|US"
            r"|EVERYONE|EVERYBODY|NEIGHBORS?|WIFE|HUSBAND|GF|BF|OFFICERS?|POLICE|COPS?"
            r"|HIS \w+|HER \w+|THE \w+)",
        ),
        cancel=(
            rf"(?:(?:THREAT\w*|THRT\w*|{_INTENT})(?: TO)? )?(?:COMMIT )?"
            rf"(?:SUICIDE|SELF~HARM|{_SELF_HARM})",
        ),
    ),
    "violence": _Lexicon(
        terms=(
            r"FIGHT|FIGHTS|FIGHTING|FIGHTIN|ALTERCATION|BRAWL|BRAWLING|WRESTLING",
            r"PHYSICAL|PHYSICALLY|PHYS",
            r"HIT|HITS|HITTING|PUNCH|PUNCHED|PUNCHES|PUNCHING|KICK|KICKED|KICKING|KICKS",
            r"SLAP|SLAPPED|SLAPPING|SLAPS|SHOVE|SHOVED|SHOVES|SHOVING|PUSHED|GRABBED",
            r"CHOKE|CHOKED|CHOKES|CHOKING|STRANGL\w*|HEADBUTT\w*|STOMP|STOMPED|STOMPING",
            r"ASSAULT|ASSAULTS|ASSAULTED|ASSAULTING|ASLT|ASSLT|ATTACK|ATTACKED|ATTACKING|ATTACKS",
            r"BATTERED|BEATING|BEATINGS|BEATEN|BEAT (?:UP|HIM|HER|THEM|RP|ME|US|HIS|ON)",
            r"STRUCK|STABBED|STABBING|SHOOTING|SHOT (?:HIM|HER|THEM|RP|AT)",
            r"VIOLENT|VIOLENCE",
            r"(?:PUT|PUTTING|LAID|LAY|LAYING) (?:HIS |HER |THEIR )?HANDS ON",
        ),
        cancel=(
            r"HIT(?:/|~|~AND~|~N~)RUN",
            r"(?:HIT|STRUCK) BY (?:A |AN |THE )?(?:CAR|VEH\w*|TRUCK|BUS|TRAIN|MOTORIST|DRIVER"
            r"|SUV|VAN|LIGHTNING|BALL|PITCH|TREE|BRANCH)",
            r"(?:VEH\w*|CAR|TRUCK|SUV|VAN|BUS|DRIVER|MOTORIST|TRAIN)(?: WAS)? (?:HIT|STRUCK)",
            r"(?:HIT|STRUCK) (?:A |AN |THE |HIS |HER |MY |THEIR )?(?:PARKED )?(?:CAR|VEH\w*"
            r"|TRUCK|MAILBOX|POLE|TREE|CURB|FENCE|HYDRANT|DEER|GUARD~RAIL|BARRIER|BUILDING)",
            r"KICK(?:ED|ING|S)?(?: (?:HIM|HER|THEM|RP|ME|US|SUBJ|SOMEONE|HIM/HER))? OUT",
            r"CHOK(?:E|ED|ES|ING) ON",
            r"PHYSICAL(?:LY)? (?:THERAPY|THERAPIST|DISABILITY|DISABLED|HANDICAP\w*|EXAM"
            r"|CONDITION|HEALTH|DESCRIPTION|DESC)",
            r"VERBAL (?:ONLY )?(?:ALTERCATION|FIGHT\w*|DISPUTE|ARGUMENT|DIST\w*)",
            # "FIGHT, VERBAL ONLY": the qualifier may follow a comma (but not a new sentence).
            r"(?:FIGHT|FIGHTS|FIGHTING|ALTERCATION)[\t\x20]*,?[\t\x20]*(?:\w+[\t\x20]+)?VERBAL"
            r"(?:[\t\x20]+ONLY)?",
        ),
        post=(r"VERBAL(?: ONLY)?",),
    ),
    "mental_health": _Lexicon(
        terms=(
            r"E~D~P|EDPS|EMOTIONALLY DISTURBED|MENTAL|MENTALLY|MHMR|5150",
            r"PSYCH|PSYCHS|PSYCHIATRIC|PSYCHIATRY|PSYCHIATRIST|PSYCHOTIC|PSYCHOSIS|PSYCHO"
            r"|PSYCHOLOGICAL",
            r"SCHIZ\w*|BI~POLAR|DELUSION\w*|HALLUCINAT\w*|PARANOI\w*|DEPRESSED|DEPRESSION"
            r"|DEPRESSIVE|PTSD|MANIC",
            r"(?:HEARING|HEARS|HEAR) VOICES|(?:HEARING|SEEING) THINGS",
            r"(?:OFF|NOT TAKING|STOPPED TAKING|QUIT TAKING|REFUS\w* (?:TO )?TAKE"
            rf"|(?:DOES NOT|DO NOT|WONT|WILL NOT|HAS NOT BEEN|NOT BEEN|{_CONTRACTION_NEG})"
            r"(?: BEEN)? TAK(?:E|ING)) (?:OF )?(?:HIS |HER |THEIR |THE |ALL )?(?:PSYCH )?"
            r"(?:MEDS|MEDICATIONS?|MEDICINE)",
        ),
    ),
    "suicide": _Lexicon(
        terms=(
            r"SUICID\w*|SELF~HARM\w*|SELF~INFLICTED",
            _SELF_HARM,
            r"(?:WANTS|WANT|WANTED|WANTING|TRYING|TRIED|GOING) TO (?:DIE|END IT)|END IT ALL",
            r"JUMP(?:ING|ED)? OFF (?:A |THE |OF )?(?:BRIDGE|ROOF|BUILDING|OVERPASS|BALCONY"
            r"|LEDGE)",
        ),
    ),
    "intoxication": _Lexicon(
        terms=(
            r"INTOX\w*|DRUNK|DRUNKEN|DRUNKS|ETOH|E~TOH|ALCOHOL\w*|ALCHOHOL\w*|ALC|LIQUOR"
            r"|INEBRIATED|DRINKING|DUI|DWI",
            r"UNDER (?:THE )?INFLUENCE|HIGH ON",
            r"(?:IS|WAS|BEING|GETTING|GOT|SEEMS|APPEARS|LOOKS|VERY|REAL|SUPER|STILL|HE~S|SHE~S"
            r"|HES|SHES) HIGH",
            r"(?:ON|USING|DOING|TAKING|UNK|UNKNOWN) DRUGS|DRUGGED|DRUG~INDUCED",
            r"METH|METHAMPHETAMINE|PCP|K2|HEROIN|COCAINE|FENTANYL|MARIJUANA|OVERDOS\w*",
        ),
    ),
    "children": _Lexicon(
        terms=(
            r"CHILD|CHILDS|CHILDREN|CHILDRENS|KID|KIDS|KIDDO|KIDDOS|INFANT|INFANTS|BABY|BABIES"
            r"|BABYS|TODDLER|TODDLERS|NEWBORN|NEWBORNS|JUV|JUVS|JUVENILE|JUVENILES",
            r"TEEN|TEENS|TEENAGER|TEENAGERS|GRANDKIDS?|GRANDCHILD|GRANDCHILDREN|STEPCHILD"
            r"|STEPCHILDREN",
            r"(?:[0-9]|1[0-7])~(?:Y(?:/|~)O(?:A|M|F)?|YRS? OLD|YEARS? OLD|MONTHS? OLD|MOS? OLD"
            r"|MTHS? OLD|WEEKS? OLD|WKS? OLD)",
        ),
        cancel=(
            r"BABY(?:~S)? (?:MOMMA|MAMA|MOMMY|MOM|MOMS|MOTHER|DADDY|DADY|DAD|FATHER)",
            r"CHILD SUPPORT",
        ),
    ),
}


def _fragment(text: str, sep: str = _SEP) -> str:
    """Lexicon fragment -> RE2: a space is a run of separators, '~' an optional one."""
    return text.replace(" ", sep).replace("~", f"(?:{sep})?")


@dataclass(frozen=True)
class _Compiled:
    positive: str  # any occurrence of a term, anywhere in the remark
    cancel: str  # occurrences that do not count: negated within their clause, or excluded


def _compile(lex: _Lexicon) -> _Compiled:
    def group(fragments: Sequence[str]) -> str:
        return "(?:" + "|".join(_fragment(f, _SEP_IN_CLAUSE) for f in fragments) + ")"

    terms = group(lex.terms)
    pre = group(_PRE_NEGATORS + lex.pre)
    post = group(_POST_NEGATORS + lex.post)
    sep, word = _SEP_IN_CLAUSE, _WORD_IN_CLAUSE
    alternatives = [
        rf"\b{pre}(?:{sep}{word}){{0,{_NEGATION_WINDOW}}}{sep}{terms}\b",
        rf"\b{terms}(?:{sep}{word})?{sep}{post}{_CLAUSE_END}",
        *(rf"\b{_fragment(c, sep)}\b" for c in lex.cancel),
    ]
    return _Compiled(
        positive="(?i)\\b(?:" + "|".join(_fragment(t) for t in lex.terms) + ")\\b",
        cancel="(?i)" + "|".join(f"(?:{a})" for a in alternatives),
    )


_COMPILED: dict[str, _Compiled] = {}
_ANY_TERM: list[str] = []
_CHUNK_ROWS = 262_144
_PREFILTER_SAMPLE = 2_048
_PREFILTER_MAX_RATE = 0.8


def _compiled() -> dict[str, _Compiled]:
    """Patterns are built on first use (no work at import time) and then reused."""
    if not _COMPILED:
        _COMPILED.update({name: _compile(_LEXICONS[name]) for name in NARRATIVE_SIGNALS})
    return _COMPILED


def _any_term() -> str:
    if not _ANY_TERM:
        _ANY_TERM.append(_any_term_pattern())
    return _ANY_TERM[0]


def _to_arrow_strings(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(pa.large_string())
    try:
        if isinstance(values, pd.Series):
            arr = pa.array(values, from_pandas=True)
            return arr.cast(pa.large_string())
        return pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        # Mixed types (numbers in a text column): read each value as text, keep missing as null.
        items = values.tolist() if hasattr(values, "tolist") else list(values)
        return pa.array(
            [None if _is_missing(v) else str(v) for v in items], type=pa.large_string()
        )


def _fold_arrow(arr: pa.Array) -> pa.Array:
    """ASCII-only folding for the rare non-ASCII remarks (accents, ligatures, full-width text).

    Mirrors `_fold_upper`: NFKD splits accents and ligatures into ASCII letters plus marks, 'ß'
    becomes "SS" and dotless 'ı' becomes "I", so a remark, its upper and its lower case read the
    same; what is left outside ASCII acts as a separator in the lexicon patterns.
    """
    ascii_mask = pc.fill_null(pc.string_is_ascii(arr), True)
    if pc.all(ascii_mask).as_py():
        return arr
    idx = np.flatnonzero(~ascii_mask.to_numpy(zero_copy_only=False))
    sub = pc.utf8_normalize(arr.take(pa.array(idx)), "NFKD")
    sub = pc.replace_substring_regex(sub, r"\p{Mn}+", "")  # accents go, the letter stays
    for src, dst in (("ẞ", "SS"), ("ß", "SS"), ("ı", "I")):
        sub = pc.replace_substring(sub, src, dst)
    sub = pc.utf8_upper(sub)
    mask = np.zeros(len(arr), dtype=bool)
    mask[idx] = True
    return pc.replace_with_mask(arr, pa.array(mask), sub)


def _as_bool(arr: pa.Array) -> np.ndarray:
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False)


def _any_term_pattern() -> str:
    fragments = [_fragment(t) for name in NARRATIVE_SIGNALS for t in _LEXICONS[name].terms]
    return "(?i)\\b(?:" + "|".join(fragments) + ")\\b"


def _signals_chunk(arr: pa.Array) -> dict[str, np.ndarray]:
    """Signals for one chunk of remarks.

    Work is staged so that each step touches only the rows the previous one kept: remarks with
    any lexicon term, then remarks with this signal's term, then remarks where a cancellation
    matches (only those are rewritten and matched again). Stages only skip rows that cannot fire,
    so a row's result never depends on the other rows.
    """
    compiled = _compiled()
    arr = _fold_arrow(arr)
    n = len(arr)
    # A remark with no letter or digit ("...", "", None) is unknown, not 0.0.
    present = _as_bool(pc.match_substring_regex(arr, "[A-Za-z0-9]"))
    # The any-term prefilter pays off when many remarks mention nothing; a sample decides.
    sample = _as_bool(pc.match_substring_regex(arr.slice(0, _PREFILTER_SAMPLE), _any_term()))
    if sample.size and sample.mean() > _PREFILTER_MAX_RATE:
        some_idx = np.flatnonzero(present)
    else:
        some_idx = np.flatnonzero(_as_bool(pc.match_substring_regex(arr, _any_term())))
    some = arr.take(some_idx)
    out: dict[str, np.ndarray] = {}
    for name in NARRATIVE_SIGNALS:
        rules = compiled[name]
        hit = _as_bool(pc.match_substring_regex(some, rules.positive))
        idx = np.flatnonzero(hit)
        if idx.size:
            cancelled = _as_bool(pc.match_substring_regex(some.take(idx), rules.cancel))
            idx = idx[cancelled]
        if idx.size:
            kept = pc.replace_substring_regex(some.take(idx), rules.cancel, " | ")
            hit[idx] = _as_bool(pc.match_substring_regex(kept, rules.positive))
        result = np.zeros(n, dtype=np.float32)
        result[some_idx] = hit
        result[~present] = np.nan
        out[name] = result
    return out


# Up to this many remarks (a live call or a batch), Python's re runs the same patterns,
# compiled once and cached, where each pyarrow kernel call recompiles its RE2 pattern
# (~0.5 ms apiece). The two engines agree on these patterns once RE2-only spellings are
# translated (`_python_pattern`); tests/unit/test_text_engines.py proves it on the lexicon
# tables, simulated remarks and generated text.
# Measured: 100 remarks take ~2 ms in Python vs ~50 ms through pyarrow, 1,000 take 16 vs
# 70 ms; past a few thousand the pyarrow kernels (and their threads) win.
_SMALL_BATCH = 4096
_PY_PATTERNS: dict[str, re.Pattern[str]] = {}
_RE2_WHITESPACE = "\t\n\f\r "  # RE2's \s (Python's ASCII \s also has \v)


def _python_pattern(pattern: str) -> re.Pattern[str]:
    """The RE2 pattern as a Python regex with identical matches (ASCII classes, \\Z ends)."""
    cached = _PY_PATTERNS.get(pattern)
    if cached is None:
        py = pattern.replace("\\s]", _RE2_WHITESPACE + "]")
        py = py.replace("(?:\\s|$)", f"(?:[{_RE2_WHITESPACE}]|\\Z)").replace("|$)", "|\\Z)")
        if "\\s" in py or "$" in py:
            raise ValueError("lexicon pattern uses RE2 syntax with no translation")
        cached = _PY_PATTERNS[pattern] = re.compile(py, re.ASCII)
    return cached


def _signals_small(arr: pa.Array) -> dict[str, np.ndarray]:
    """`_signals_chunk` for a handful of remarks, with Python's re (see _SMALL_BATCH)."""
    compiled = _compiled()
    texts = arr.to_pylist()
    if not all(t is None or t.isascii() for t in texts):
        texts = _fold_arrow(arr).to_pylist()
    n = len(texts)
    has_text = _python_pattern("[A-Za-z0-9]")
    present = np.array(
        [t is not None and has_text.search(t) is not None for t in texts], dtype=bool
    )
    out: dict[str, np.ndarray] = {}
    for name in NARRATIVE_SIGNALS:
        positive = _python_pattern(compiled[name].positive)
        cancel = _python_pattern(compiled[name].cancel)
        result = np.zeros(n, dtype=np.float32)
        for i, text in enumerate(texts):
            if not present[i] or positive.search(text) is None:
                continue
            if cancel.search(text) is not None:
                text = cancel.sub(" | ", text)
                if positive.search(text) is None:
                    continue
            result[i] = 1.0
        result[~present] = np.nan
        out[name] = result
    return out


def narrative_signals(values: Sequence[Any]) -> dict[str, np.ndarray]:
    """Lexicon signals of each call-taker remark: 1.0 mentioned, 0.0 not, NaN for no remark.

    A remark with no letter or digit (None, NaN, "", "  ", "...") is unknown, not false. A term
    cancelled by a nearby negator ("NO WEAPONS SEEN") or an exclusion ("HIT AND RUN") does not
    count; any other occurrence of a term in the same remark still fires the signal.
    """
    arr = _to_arrow_strings(values)
    n = len(arr)
    _compiled(), _any_term()  # build the patterns once, before any worker thread needs them
    if n <= _SMALL_BATCH:
        return _signals_small(arr)
    if n <= _CHUNK_ROWS:
        return _signals_chunk(arr)
    chunks = [arr.slice(start, _CHUNK_ROWS) for start in range(0, n, _CHUNK_ROWS)]
    workers = max(1, min(len(chunks), os.cpu_count() or 1))
    logger.debug("narrative signals: %d rows in %d chunks on %d threads", n, len(chunks), workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(_signals_chunk, chunks))
    return {name: np.concatenate([p[name] for p in parts]) for name in NARRATIVE_SIGNALS}
