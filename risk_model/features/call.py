"""Row-local features: what the call's own record says when it is taken.

`call_columns` reads only the canonical pre-dispatch columns (schema.FEATURE_INPUT_COLUMNS), so
post-dispatch fields and outcomes cannot reach a feature by construction. The same function serves
a 5-million-row history and a single live call (as one-element columns).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from risk_model import text
from risk_model.config import FeatureConfig
from risk_model.schema import (
    AGENCY,
    FEATURE_INPUT_COLUMNS,
    FLAG_COLUMNS,
    OUTCOME_KNOWN_AT,
    RECEIVED_UNTIL,
)

NIGHT_START_HOUR, NIGHT_END_HOUR = 22, 6  # 22:00-05:59, when assaults concentrate (LEOKA)

# Features are stored and fed to the model as float32: exact for counts, ample for shares and
# times, and half the memory of float64 on millions of calls. Every path casts the same way,
# after computing in float64.
FEATURE_DTYPE = np.float32
# interval_end_us's marker for a call whose exact time is known.
NO_INTERVAL = np.iinfo(np.int64).min


def as_feature_dtype(values: Any) -> Any:
    """Numeric feature columns in the one dtype all paths use; text, keys and times untouched."""
    arr = np.asarray(values)
    return arr.astype(FEATURE_DTYPE, copy=False) if arr.dtype.kind == "f" else values


def call_columns(source: Any) -> dict[str, Sequence[Any]]:
    """Pre-dispatch columns of a frame, a mapping of columns or a list of row dicts.

    Missing optional columns become all-unknown. Nothing outside FEATURE_INPUT_COLUMNS is read.
    """
    if isinstance(source, pd.DataFrame):
        n = len(source)
        return {
            c: (source[c] if c in source.columns else [None] * n) for c in FEATURE_INPUT_COLUMNS
        }
    if isinstance(source, Mapping):
        n = len(next(iter(source.values()))) if source else 0
        return {c: source.get(c, [None] * n) for c in FEATURE_INPUT_COLUMNS}
    rows = list(source)
    return {c: [r.get(c) for r in rows] for c in FEATURE_INPUT_COLUMNS}


def to_us(values: Sequence[Any]) -> np.ndarray:
    """Timestamps (datetime64, pandas or python datetimes) -> int64 microseconds, naive local."""
    if isinstance(values, pd.Series):
        arr = values.to_numpy(dtype="datetime64[us]")
    else:
        arr = np.asarray(values, dtype="datetime64[us]")
    if np.isnat(arr).any():
        raise ValueError("received_at: missing time in feature input")
    return arr.astype(np.int64)


def interval_end_us(values: Sequence[Any], start_us: np.ndarray) -> np.ndarray | None:
    """received_until as int64 microseconds, NO_INTERVAL where the exact time is known; None when
    no call has an interval (the common case costs one scan; callers keep the exact-time path)."""
    if isinstance(values, pd.Series):
        if not values.notna().any():
            return None
        arr = values.to_numpy(dtype="datetime64[us]")
    else:
        values = values if isinstance(values, list) else list(values)
        if values.count(None) == len(values):  # a table without the column: no Python loop
            return None
        given = [None if v is None or v is pd.NA or pd.isna(v) else v for v in values]
        if all(v is None for v in given):
            return None
        arr = np.asarray(given, dtype="datetime64[us]")
    missing = np.isnat(arr)
    end = arr.astype(np.int64)
    if ((end <= start_us) & ~missing).any():
        raise ValueError(f"{RECEIVED_UNTIL}: not after received_at in feature input")
    return np.where(missing, NO_INTERVAL, end)


def flag_values(values: Sequence[Any]) -> np.ndarray:
    """Nullable booleans -> float 1.0/0.0, NaN for unknown (unknown is not false)."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.BooleanDtype):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            continue
        out[i] = 1.0 if bool(v) else 0.0
    return out


def numeric_values(values: Sequence[Any]) -> np.ndarray:
    if isinstance(values, pd.Series):
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return np.array([np.nan if v is None or v is pd.NA else float(v) for v in values], dtype="f8")


def object_values(values: Sequence[Any]) -> np.ndarray:
    """Strings as an object array with None for missing (pandas NA/NaN included)."""
    if isinstance(values, pd.Series):
        arr = values.astype(object).to_numpy()
    else:
        arr = np.asarray(list(values), dtype=object)
    mask = pd.isna(arr)
    if mask.any():
        arr = arr.copy()
        arr[mask] = None
    return arr


def text_values(values: Sequence[Any]) -> Any:
    """Text columns for the text functions: a pandas column as it is (Arrow-backed strings stay
    compact and vectorised; no Python string per row), anything else as an object array."""
    return values if isinstance(values, pd.Series) else object_values(values)


def namespaced(agency: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """History keys within their agency: `AGENCY/key` where both are known, the key alone for a
    call without an agency. Two agencies pooled in one model or one service may name a beat or
    a district alike (or list an address both patrol); their histories must not mix.

    Every engine (offline builder, live store, cluster path) gets its keys from `call_features`,
    so this is the one place keys are namespaced."""
    has = ~pd.isna(agency)
    if not has.any():
        return keys
    keyed = has & ~pd.isna(keys)
    out = np.asarray(keys, dtype=object).copy()
    prefixed = pd.Series(agency[keyed], dtype=object) + "/" + pd.Series(out[keyed], dtype=object)
    out[keyed] = prefixed.to_numpy(dtype=object)
    return out


def call_features(cols: Mapping[str, Sequence[Any]], cfg: FeatureConfig) -> dict[str, np.ndarray]:
    """Row-local features plus the keys and event indicators history features need.

    Returns model features (see registry) and, prefixed with "_", the internals: `_ts` (the
    call's earliest possible time: it queries history as of then), `_ev_ts` (its latest possible
    time: it counts as history for other calls from then on; the very `_ts` array when every
    time is exact), `_premise`, `_beat`, `_district`, `_violent`, `_weapon`.

    A call known only to an interval [received_at, received_until) (a day, a shift band) has no
    clock-time features (NaN: unknown, never invented), and a weekday only when the interval
    lies within one calendar day.
    """
    ts = to_us(cols["received_at"])
    until = interval_end_us(cols[RECEIVED_UNTIL], ts)
    minutes = np.floor_divide(ts, 60_000_000) % 1440
    hour = minutes / 60.0
    hour_int = minutes // 60
    days = np.floor_divide(ts, 86_400_000_000)
    out: dict[str, np.ndarray] = {}

    ctype = text.normalize_call_type(text_values(cols["call_type"]))
    family = text.call_family(ctype)
    out["call_type"] = ctype
    out["call_family"] = family
    out["priority"] = numeric_values(cols["priority"])
    out["source"] = text.normalize_category(text_values(cols["source"]))
    out["premise_type"] = text.normalize_category(text_values(cols["premise_type"]))
    out["hour_sin"] = np.sin(2 * np.pi * hour / 24.0)
    out["hour_cos"] = np.cos(2 * np.pi * hour / 24.0)
    out["weekday"] = ((days + 3) % 7).astype(np.float64)  # 1970-01-01 was a Thursday; Monday = 0
    out["is_night"] = ((hour_int >= NIGHT_START_HOUR) | (hour_int < NIGHT_END_HOUR)).astype("f8")
    ev_ts = ts
    if until is not None:
        interval = until != NO_INTERVAL
        ev_ts = np.where(interval, until - 1, ts)  # the last microsecond of the interval
        for name in ("hour_sin", "hour_cos", "is_night"):
            out[name][interval] = np.nan
        spans_days = interval & (np.floor_divide(ev_ts, 86_400_000_000) != days)
        out["weekday"][spans_days] = np.nan
    for flag in FLAG_COLUMNS:
        out[flag] = flag_values(cols[flag])
    signals = text.narrative_signals(text_values(cols["narrative"]))
    for name in text.NARRATIVE_SIGNALS:
        out[f"nar_{name}"] = np.asarray(signals[name], dtype=np.float64)

    address = text_values(cols["address"])
    lat = numeric_values(cols["latitude"])
    lon = numeric_values(cols["longitude"])
    out["_premise"] = text.premise_key(address, lat, lon, cfg.grid_cell_m)
    out["_beat"] = text.normalize_category(text_values(cols["beat"]))
    out["_district"] = text.normalize_category(text_values(cols["district"]))
    agency = object_values(cols[AGENCY])
    for key in ("_premise", "_beat", "_district"):
        out[key] = namespaced(agency, out[key])
    out["_ts"] = ts
    out["_ev_ts"] = ev_ts
    out["_violent"] = (
        np.isin(family, list(text.VIOLENT_FAMILIES)) | (out["nar_violence"] == 1.0)
    ).astype(np.int8)
    out["_weapon"] = (
        np.isin(family, list(text.WEAPON_FAMILIES))
        | (out["weapon_reported"] == 1.0)
        | (out["nar_weapon"] == 1.0)
    ).astype(np.int8)
    return {k: as_feature_dtype(v) for k, v in out.items()}


def outcome_events(source: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(assault, injury) 0/1 indicators of past calls; unknown outcomes count as no event."""

    def get(name: str) -> np.ndarray:
        if isinstance(source, pd.DataFrame):
            if name not in source.columns:
                return np.zeros(n, dtype=np.int8)
            return (flag_values(source[name]) == 1.0).astype(np.int8)
        if isinstance(source, Mapping):
            if name not in source:
                return np.zeros(n, dtype=np.int8)
            return (flag_values(source[name]) == 1.0).astype(np.int8)
        return (flag_values([r.get(name) for r in source]) == 1.0).astype(np.int8)

    return get("officer_assaulted"), get("officer_injured")


def lag_us(cfg: FeatureConfig) -> int:
    """The configured reporting lag in microseconds."""
    return round(cfg.outcome_lag_days * 86_400_000_000)


def known_at_us(source: Any, n: int) -> np.ndarray:
    """outcome_known_at as int64 microseconds, NO_INTERVAL where not given (a frame, a mapping of
    columns or row dicts; a table without the column gives all NO_INTERVAL)."""
    if isinstance(source, pd.DataFrame):
        if OUTCOME_KNOWN_AT not in source.columns:
            return np.full(n, NO_INTERVAL, dtype=np.int64)
        values: Any = source[OUTCOME_KNOWN_AT]
    elif isinstance(source, Mapping):
        if OUTCOME_KNOWN_AT not in source:
            return np.full(n, NO_INTERVAL, dtype=np.int64)
        values = source[OUTCOME_KNOWN_AT]
    else:
        values = [r.get(OUTCOME_KNOWN_AT) for r in source]
    if isinstance(values, pd.Series):
        arr = values.to_numpy(dtype="datetime64[us]")
    else:
        given = [None if v is None or v is pd.NA or pd.isna(v) else v for v in values]
        arr = np.asarray(given, dtype="datetime64[us]")
    return np.where(np.isnat(arr), NO_INTERVAL, arr.astype(np.int64))


def outcome_time(known_us: np.ndarray, ev_ts: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """When each call's outcome counts as history for later calls (SPEC §2).

    Its known time (the report's filing time) where given, else its latest possible received
    time plus the configured lag; never before the call itself counts (`ev_ts`), so an outcome
    is never history while its call is not.
    """
    lagged = ev_ts + lag_us(cfg)
    return np.maximum(np.where(known_us == NO_INTERVAL, lagged, known_us), ev_ts)
