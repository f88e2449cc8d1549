"""Premise hazard flags: the canonical record of an agency's CAD hazard file.

Every CAD keeps caution notes on addresses, entered by hand ("weapons at this address", "dog",
"officer safety"), each with the date it was entered and often an expiry. They are the most
direct evidence a dispatcher has and today's practice call-risk must beat, so they are both a
feature input (the flags active at a call's premise when it came in) and a baseline (`practice`).

This module is the ground floor every stage shares: the columns of a canonical flag table, the
families a flag's free text is sorted into, and the one validation that turns a frame into
accepted flags and quarantined rows with reasons. It imports only the schema and vocab, so
ingest, the simulator, the feature engines and the service may all read it.

A flag counts for a call received at t when `entered_at < t` (strictly before: a flag entered
while or after the call was handled is hindsight) and `expires_at` is empty or `> t`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from risk_model.schema import AGENCY, AGENCY_PATTERN, MAX_ID_LEN, parse_timestamp_column
from risk_model.vocab import HAZARD_FAMILIES, HazardFamily

FLAG_ID: Final = "flag_id"
FLAG_TYPE: Final = "flag_type"
FAMILY: Final = "family"
ENTERED_AT: Final = "entered_at"
EXPIRES_AT: Final = "expires_at"
REASON: Final = "reason"
# In output order; `agency` is added after flag_id when the table has it.
HAZARD_COLUMNS: Final[tuple[str, ...]] = (
    FLAG_ID,
    "address",
    "latitude",
    "longitude",
    FLAG_TYPE,
    FAMILY,
    ENTERED_AT,
    EXPIRES_AT,
)
# What a flag record must carry to be usable at all.
HAZARD_REQUIRED: Final[tuple[str, ...]] = (FLAG_TYPE, ENTERED_AT)
MAX_FLAG_TEXT: Final = 200

# Free-text flag types sorted into families by word, first family that matches wins: a
# "weapons - officer safety" note is a weapons flag. Words are matched on word boundaries of the
# lower-cased text. Agencies name flags in their own words; what matches none is `other` (still a
# caution, still counted by the practice baseline).
_FAMILY_WORDS: Final[tuple[tuple[HazardFamily, tuple[str, ...]], ...]] = (
    (
        "weapons",
        (
            "weapon",
            "weapons",
            "gun",
            "guns",
            "firearm",
            "firearms",
            "armed",
            "knife",
            "knives",
            "rifle",
            "shotgun",
            "handgun",
            "explosive",
            "explosives",
            "ammunition",
        ),
    ),
    (
        "officer_safety",
        (
            "officer safety",
            "officer caution",
            "os",
            "caution",
            "violent",
            "violence",
            "combative",
            "assaultive",
            "assault",
            "fights police",
            "resists",
            "resisted",
            "hostile",
            "threat",
            "threats",
            "threatens",
            "dangerous",
            "gang",
            "barricade",
            "sovereign citizen",
            "domestic",
        ),
    ),
    ("dog", ("dog", "dogs", "k9", "canine", "pit bull", "pitbull", "animal", "animals")),
    (
        "mental_health",
        (
            "mental",
            "mental health",
            "mh",
            "edp",
            "suicidal",
            "suicide",
            "crisis",
            "psychiatric",
            "psych",
            "dementia",
            "autism",
            "autistic",
        ),
    ),
)
_FAMILY_RES: Final[tuple[tuple[HazardFamily, re.Pattern[str]], ...]] = tuple(
    (family, re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b"))
    for family, words in _FAMILY_WORDS
)


def hazard_family(flag_type: object) -> HazardFamily:
    """The family of one flag's free text (`other` when no family's words appear)."""
    if flag_type is None or (isinstance(flag_type, float) and np.isnan(flag_type)):
        return "other"
    low = " ".join(str(flag_type).lower().replace("_", " ").replace("-", " ").split())
    for family, pattern in _FAMILY_RES:
        if pattern.search(low):
            return family
    return "other"


def hazard_families(flag_types: pd.Series) -> pd.Series:
    """hazard_family over a column, one regex pass per distinct text."""
    text = flag_types.astype("string")
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    mapped = np.array([hazard_family(u) for u in uniques] + ["other"], dtype=object)
    return pd.Series(mapped[codes], index=flag_types.index, dtype="string")


def _flag_ids(frame: pd.DataFrame) -> pd.Series:
    """A stable id from the record's content, for files that carry none: the same record read
    twice (a re-exported hazard file, a re-sent /ingest) gets the same id and is kept once."""
    parts = [frame[c].astype("string").fillna("") for c in ("address", FLAG_TYPE, ENTERED_AT)]
    joined = parts[0] + "\x1f" + parts[1] + "\x1f" + parts[2]
    if AGENCY in frame.columns:
        joined = frame[AGENCY].astype("string").fillna("") + "\x1f" + joined
    return joined.map(lambda s: "H-" + hashlib.sha1(s.encode()).hexdigest()[:16]).astype("string")


@dataclass(frozen=True)
class HazardValidation:
    """Accepted flags (canonical columns) and quarantined rows (input columns + `reason`)."""

    accepted: pd.DataFrame
    quarantined: pd.DataFrame

    @property
    def rows_in(self) -> int:
        return len(self.accepted) + len(self.quarantined)


def validate_hazards(frame: pd.DataFrame, tz: str | None = None) -> HazardValidation:
    """Canonical flags from a frame already renamed to canonical names; nothing is dropped
    silently: every refused row is quarantined with the first reason that refuses it.

    Refused: no flag_type; an entered_at missing or unreadable (a flag with no start cannot be
    placed in time, so it could leak into calls before it existed); an expires_at unreadable or
    not after entered_at; neither an address nor both coordinates (no premise to attach it to);
    an agency code that breaks the pattern; texts over the limits. Times are naive agency-local,
    as received_at (an offset is converted to `tz`).
    """
    n = len(frame)
    reasons = pd.Series(pd.NA, index=frame.index, dtype="string")

    def refuse(mask: pd.Series, why: str) -> None:
        hit = mask.fillna(False).astype(bool) & reasons.isna()
        reasons[hit] = why

    def text(col: str) -> pd.Series:
        if col not in frame.columns:
            return pd.Series(pd.NA, index=frame.index, dtype="string")
        s = frame[col].astype("string").str.strip()
        return s.mask(s == "", pd.NA)

    flag_type = text(FLAG_TYPE)
    refuse(flag_type.isna(), "flag_type: missing")
    refuse(flag_type.str.len() > MAX_FLAG_TEXT, f"flag_type: longer than {MAX_FLAG_TEXT}")

    if ENTERED_AT in frame.columns:
        entered, bad_entered = parse_timestamp_column(frame[ENTERED_AT], tz)
    else:
        entered = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us]")
        bad_entered = pd.Series(False, index=frame.index)
    refuse(bad_entered, "entered_at: not a date and time")
    refuse(entered.isna(), "entered_at: missing")

    expires_raw = text(EXPIRES_AT)
    if EXPIRES_AT in frame.columns:
        expires, bad_expires = _expiry_column(frame[EXPIRES_AT], tz)
    else:
        expires = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us]")
        bad_expires = pd.Series(False, index=frame.index)
    refuse(bad_expires & expires_raw.notna(), "expires_at: not a date and time")
    refuse(
        expires.notna() & entered.notna() & (expires <= entered),
        "expires_at: not after entered_at",
    )

    address = text("address")
    lat = pd.to_numeric(frame["latitude"], errors="coerce") if "latitude" in frame else None
    lon = pd.to_numeric(frame["longitude"], errors="coerce") if "longitude" in frame else None
    has_point = (
        lat.notna() & lon.notna() & lat.between(-90, 90) & lon.between(-180, 180)
        if lat is not None and lon is not None
        else pd.Series(False, index=frame.index)
    )
    refuse(address.isna() & ~has_point, "address: missing (and no latitude/longitude)")
    refuse(address.str.len() > 500, "address: longer than 500")

    ids = text(FLAG_ID)
    refuse(ids.str.len() > MAX_ID_LEN, f"flag_id: longer than {MAX_ID_LEN}")
    if AGENCY in frame.columns:
        agency = text(AGENCY)
        refuse(agency.notna() & ~agency.str.match(AGENCY_PATTERN, na=False), "agency: not a code")

    out = pd.DataFrame(index=frame.index)
    out["address"] = address
    out["latitude"] = (lat if lat is not None else pd.Series(np.nan, index=frame.index)).where(
        has_point
    )
    out["longitude"] = (lon if lon is not None else pd.Series(np.nan, index=frame.index)).where(
        has_point
    )
    out[FLAG_TYPE] = flag_type
    out[ENTERED_AT] = entered
    out[EXPIRES_AT] = expires
    if AGENCY in frame.columns:
        out[AGENCY] = text(AGENCY)
    out[FLAG_ID] = ids.fillna(_flag_ids(out)) if n else ids
    out[FAMILY] = hazard_families(flag_type) if n else pd.Series(dtype="string")

    ok = reasons.isna()
    accepted = out[ok]
    # One record per flag id: a re-sent flag is the same flag (the last one read wins, so a
    # record re-exported with a new expiry updates it).
    accepted = accepted[~accepted[FLAG_ID].duplicated(keep="last")]
    order = [FLAG_ID, *([AGENCY] if AGENCY in accepted.columns else []), *HAZARD_COLUMNS[1:]]
    quarantined = frame[~ok].copy()
    quarantined[REASON] = reasons[~ok]
    return HazardValidation(accepted[order].reset_index(drop=True), quarantined)


def _expiry_column(col: pd.Series, tz: str | None) -> tuple[pd.Series, pd.Series]:
    """expires_at parsed: a bare date means the flag lapses at the end of that day."""
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return parse_timestamp_column(col, tz)
    s = col.astype("string").str.strip()
    date_only = s.str.fullmatch(r"\d{4}-\d{2}-\d{2}", na=False).astype(bool)
    values, bad = parse_timestamp_column(s.mask(date_only, pd.NA), tz)
    if date_only.any():
        days = pd.to_datetime(s[date_only].astype(object), format="%Y-%m-%d", errors="coerce")
        values = values.copy()
        values[date_only] = (days + pd.Timedelta(days=1)).astype("datetime64[us]")
        bad = bad & ~date_only
    return values, bad.astype(bool)


def active_mask(flags: pd.DataFrame, at: pd.Timestamp) -> pd.Series:
    """Flags active at `at`: entered strictly before it and not yet expired (the one rule)."""
    entered = flags[ENTERED_AT]
    expires = flags[EXPIRES_AT]
    return (entered < at) & (expires.isna() | (expires > at))


def read_hazards(path: Path) -> pd.DataFrame:
    """A canonical flag table written by `ingest` (CSV or Parquet), checked again on the way in:
    a hand-edited file gets the same refusals as an export, and refused rows stop the read."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"hazard file not found: {path}")
    if path.suffix.lower() == ".parquet":
        raw = pd.read_parquet(path)
    else:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    result = validate_hazards(raw)
    if len(result.quarantined):
        first = result.quarantined.iloc[0]
        raise ValueError(
            f"{path}: {len(result.quarantined)} hazard flag row(s) refused, first: {first[REASON]}"
            " (run `risk-model ingest` on the agency's hazard file to quarantine them)"
        )
    return result.accepted


def empty_hazards() -> pd.DataFrame:
    """A canonical flag table with no rows (a model trained without a hazard file)."""
    frame = pd.DataFrame({c: pd.Series(dtype="string") for c in HAZARD_COLUMNS})
    frame["latitude"] = frame["latitude"].astype(float)
    frame["longitude"] = frame["longitude"].astype(float)
    frame[ENTERED_AT] = frame[ENTERED_AT].astype("datetime64[us]")
    frame[EXPIRES_AT] = frame[EXPIRES_AT].astype("datetime64[us]")
    return frame


__all__ = [
    "ENTERED_AT",
    "EXPIRES_AT",
    "FAMILY",
    "FLAG_ID",
    "FLAG_TYPE",
    "HAZARD_COLUMNS",
    "HAZARD_FAMILIES",
    "HAZARD_REQUIRED",
    "HazardValidation",
    "active_mask",
    "empty_hazards",
    "hazard_families",
    "hazard_family",
    "read_hazards",
    "validate_hazards",
]
