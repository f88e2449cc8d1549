"""The offline builder: one vectorised pass that gives every call its point-in-time features.

Training, batch scoring and the pyfunc model call `build_features`; the live service calls
`online_features` with the history store. Both use `call_features` for the row-local part and the
same `HISTORY_AGGS` definitions for history, so their outputs are identical (tests/unit and
tests/data prove it).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from risk_model.config import FeatureConfig
from risk_model.features.call import (
    FEATURE_DTYPE,
    NO_INTERVAL,
    as_feature_dtype,
    call_columns,
    call_features,
    known_at_us,
    outcome_events,
    outcome_time,
)
from risk_model.features.history import (
    AREA_AGGS,
    HISTORY_AGGS,
    PREMISE_AGGS,
    US_PER_DAY,
    EventTable,
    QueryTable,
    compute_history,
    day_of,
    derive,
)
from risk_model.features.registry import FEATURE_NAMES
from risk_model.memory import return_large_blocks_to_os

if TYPE_CHECKING:
    from risk_model.features.store import HistoryStore

log = logging.getLogger(__name__)

INTERNAL_COLUMNS = ("_premise", "_beat", "_district")
HISTORY_NAMES = tuple(a.name for a in HISTORY_AGGS)


# `ts` is when a call counts as history for other calls: its latest possible time (the last
# microsecond of its interval when only a day or shift band is known, else its exact time).
# `received_us` is its earliest possible time (received_at), when its own features are taken;
# events frames written before intervals existed lack it, and then it equals `ts`.
# `outcome_us` is when the call's outcome (assault, injury) counts as history: its
# `outcome_known_at` where given, else `ts` plus the reporting lag (`call.outcome_time`);
# `outcome_known_us` keeps the given known time (missing: the lag rule), so a store opened with
# another lag can recompute. Frames written before known times existed lack both: then outcomes
# count from `ts` plus the lag of the settings reading the frame.
EVENT_COLUMNS = (
    "call_id",
    "ts",
    "received_us",
    "outcome_us",
    "outcome_known_us",
    "premise",
    "beat",
    "district",
    "call_type",
    "violent",
    "weapon",
    "assault",
    "injury",
)


def events_frame(
    calls: pd.DataFrame, cfg: FeatureConfig, feats: dict[str, np.ndarray] | None = None
) -> pd.DataFrame:
    """Calls as history events: what later calls' features need, and nothing else.

    This compact frame is what the history store holds, what a model carries as its training-time
    history snapshot, and what `score --history` builds from a canonical file.
    """
    feats = feats if feats is not None else call_features(call_columns(calls), cfg)
    assault, injury = outcome_events(calls, len(calls))
    known = known_at_us(calls, len(calls))
    own = {
        **feats,
        "_assault": assault,
        "_injury": injury,
        "_outcome_ts": outcome_time(known, feats["_ev_ts"], cfg),
    }
    return events_from_own(own, calls["call_id"], known)


def events_from_own(own: Any, call_ids: Any, known_us: Any) -> pd.DataFrame:
    """The events frame of calls given as `call_level`'s columns (a mapping of arrays, or a frame
    of them as the cluster path holds them) and their given outcome-known times (NO_INTERVAL:
    not given)."""

    def col(name: str, dtype: Any) -> np.ndarray:
        return np.asarray(own[name]).astype(dtype, copy=False)

    return pd.DataFrame(
        {
            "call_id": pd.Series(np.asarray(call_ids, dtype=object)).astype(str).to_numpy(object),
            "ts": col("_ev_ts", np.int64),
            "received_us": col("_ts", np.int64),
            "outcome_us": col("_outcome_ts", np.int64),
            "outcome_known_us": nullable_us(np.asarray(known_us, dtype=np.int64)),
            "premise": col("_premise", object),
            "beat": col("_beat", object),
            "district": col("_district", object),
            "call_type": col("call_type", object),
            "violent": col("_violent", np.int8),
            "weapon": col("_weapon", np.int8),
            "assault": col("_assault", np.int8),
            "injury": col("_injury", np.int8),
        }
    )


def nullable_us(us: np.ndarray) -> pd.arrays.IntegerArray:
    """int64 microseconds with NO_INTERVAL markers -> nullable Int64 (missing = not given)."""
    out = pd.array(us, dtype="Int64")
    out[us == NO_INTERVAL] = pd.NA
    return out


KEY_COLUMNS = ("premise", "beat", "district")


def none_for_missing(values: np.ndarray) -> np.ndarray:
    """An object array with every missing value (NaN, pd.NA) as None, as the engines hold keys
    and text; copied only when something changes."""
    missing = pd.isna(values)
    if missing.any():
        values = values.copy()
        values[missing] = None
    return values


def frame_outcome_us(ev: pd.DataFrame, cfg: FeatureConfig | None = None) -> np.ndarray:
    """An events frame's outcome times; a frame written before known times existed has none,
    and its outcomes count from `ts` plus the lag (of `cfg`, else the default settings)."""
    ts = ev["ts"].to_numpy(dtype=np.int64)
    if "outcome_us" in ev.columns:
        return ev["outcome_us"].to_numpy(dtype=np.int64)
    return outcome_time(np.full(len(ev), NO_INTERVAL, dtype=np.int64), ts, cfg or FeatureConfig())


def event_table(ev: pd.DataFrame, cfg: FeatureConfig | None = None) -> EventTable:
    """An events frame as the arrays the history engine reads."""

    return EventTable(
        ts=ev["ts"].to_numpy(dtype=np.int64),
        outcome_ts=frame_outcome_us(ev, cfg),
        keys={k: none_for_missing(ev[k].to_numpy(dtype=object)) for k in KEY_COLUMNS},
        events={
            "call": np.ones(len(ev), dtype=np.int8),
            **{
                k: ev[k].to_numpy(dtype=np.int8)
                for k in ("violent", "weapon", "assault", "injury")
            },
        },
    )


@dataclass
class History:
    """An events frame prepared once for repeated scoring: arrays plus the set of its call_ids."""

    table: EventTable
    ids: frozenset[str]

    @classmethod
    def from_frame(cls, ev: pd.DataFrame, cfg: FeatureConfig | None = None) -> History:
        """`cfg` gives the lag for frames written before outcome times existed."""
        return cls(event_table(ev, cfg), frozenset(ev["call_id"].astype(str).tolist()))


def _outcome_ts(t: EventTable) -> np.ndarray:
    return t.ts if t.outcome_ts is None else t.outcome_ts


def _concat(a: EventTable, b: EventTable, keep_b: np.ndarray) -> EventTable:
    return EventTable(
        ts=np.concatenate([a.ts, b.ts[keep_b]]),
        outcome_ts=np.concatenate([_outcome_ts(a), _outcome_ts(b)[keep_b]]),
        keys={k: np.concatenate([a.keys[k], b.keys[k][keep_b]]) for k in a.keys},
        events={k: np.concatenate([a.events[k], b.events[k][keep_b]]) for k in a.events},
    )


def queries_from(feats: dict[str, np.ndarray]) -> QueryTable:
    """Calls as history queries: as of their earliest possible time."""
    return QueryTable(
        ts=feats["_ts"],
        keys={
            "premise": feats["_premise"],
            "beat": feats["_beat"],
            "district": feats["_district"],
        },
    )


def _frame(feats: dict[str, Any], call_ids: Any, received_at: Any) -> pd.DataFrame:
    """The feature frame, built without pandas copying millions of rows around.

    Numeric columns are written once into one column-major block that the frame adopts as is;
    text columns stay plain object columns (converting millions of strings to an Arrow-backed
    dtype would cost more than everything else the frame holds). Columns: call_id, received_at,
    the numeric features and aggregates, then the text features and keys.
    """
    names = list(dict.fromkeys([*FEATURE_NAMES, *HISTORY_NAMES, *INTERNAL_COLUMNS]))
    numeric = [n for n in names if np.asarray(feats[n]).dtype != object]
    text_cols = [n for n in names if n not in numeric]
    n = len(np.asarray(feats["_ts"]))
    block = np.empty((n, len(numeric)), dtype=FEATURE_DTYPE, order="F")
    for j, name in enumerate(numeric):
        block[:, j] = feats.pop(name)  # each column is freed as soon as it is copied
    frame = pd.DataFrame(block, columns=numeric, copy=False)
    frame.insert(0, "call_id", pd.Series(np.asarray(call_ids, dtype=object), dtype=object))
    frame.insert(1, "received_at", np.asarray(received_at, dtype="datetime64[us]"))
    for name in text_cols:
        frame[name] = pd.Series(np.asarray(feats[name], dtype=object), dtype=object, copy=False)
    return frame


def build_features(
    calls: pd.DataFrame,
    cfg: FeatureConfig,
    history: pd.DataFrame | History | None = None,
    area: AreaDays | None = None,
) -> pd.DataFrame:
    """Features for every row of `calls` from strictly earlier events.

    Without `history`, the calls are their own history (training). With `history` (an events
    frame, see `events_frame`), events are the history plus the calls themselves: a call's own
    facts are known to the calls after it, its outcome only if the row carries one. Calls whose
    call_id is already in `history` are not counted twice. A call known only to a day or shift
    band queries history as of its interval's start and counts for other calls from its
    interval's last microsecond (`call_features`). Output: call_id, received_at, the model
    features in registry order, and the premise/beat/district keys (prefixed "_").

    `area` (the cluster path, `features.cluster`): beat and district history come from these
    city-wide per-day totals instead of the events at hand, which then need only hold whole
    premise histories.
    """
    return with_history(
        call_level(calls, cfg), calls["call_id"], calls["received_at"], cfg, history, area
    )


def call_level(calls: pd.DataFrame, cfg: FeatureConfig) -> dict[str, np.ndarray]:
    """Everything row-local about the calls: `call_features` plus their outcome events
    (`_assault`, `_injury`) and when those count (`_outcome_ts`). The cluster path computes
    this once per input partition, before any shuffle."""
    return_large_blocks_to_os()  # columns freed along the way go back to the OS (see memory.py)
    own = call_features(call_columns(calls), cfg)
    own["_assault"], own["_injury"] = outcome_events(calls, len(calls))
    # Their outcomes: from when known (the report's time, else ts + the reporting lag).
    own["_outcome_ts"] = outcome_time(known_at_us(calls, len(calls)), own["_ev_ts"], cfg)
    return own


OWN_EVENT_COLUMNS = ("_assault", "_injury", "_outcome_ts")


def own_events(own: dict[str, np.ndarray]) -> EventTable:
    """The calls themselves as history events (from `call_level`'s columns)."""
    return EventTable(
        ts=own["_ev_ts"],  # as events: from their latest possible time (own["_ts"] if exact)
        outcome_ts=own["_outcome_ts"],
        # The very arrays the queries use: the engine then encodes keys once.
        keys={"premise": own["_premise"], "beat": own["_beat"], "district": own["_district"]},
        events={
            "call": np.ones(len(own["_ts"]), dtype=np.int8),
            "violent": own["_violent"],
            "weapon": own["_weapon"],
            "assault": own["_assault"],
            "injury": own["_injury"],
        },
    )


def with_history(
    own: dict[str, np.ndarray],
    call_ids: Any,
    received_at: Any,
    cfg: FeatureConfig,
    history: pd.DataFrame | History | None = None,
    area: AreaDays | None = None,
) -> pd.DataFrame:
    """`build_features` after the row-local part: history aggregates, then the frame."""
    t0 = time.perf_counter()
    for name in OWN_EVENT_COLUMNS:
        own[name] = np.asarray(own[name])
    own_table = own_events(own)
    if history is None:
        all_events = own_table
    else:
        prepared = history if isinstance(history, History) else History.from_frame(history, cfg)
        ids = pd.Series(np.asarray(call_ids, dtype=object)).astype(str).tolist()
        fresh = np.array([cid not in prepared.ids for cid in ids], dtype=bool)
        all_events = _concat(prepared.table, own_table, fresh)
    queries = queries_from(own)
    if area is None:
        hist = compute_history(all_events, queries, cfg)
    else:
        hist = compute_history(all_events, queries, cfg, aggs=PREMISE_AGGS, derived=False)
        hist.update(compute_history(area.table, queries, cfg, aggs=AREA_AGGS, derived=False))
        hist.update({k: v.astype(np.float32) for k, v in derive(hist, cfg).items()})
    for name in OWN_EVENT_COLUMNS:
        del own[name]
    own.update({k: as_feature_dtype(v) for k, v in hist.items()})
    t1 = time.perf_counter()
    log.info(
        "features: %s calls (%s history events): history %.1fs",
        f"{len(queries):,}",
        f"{len(all_events):,}",
        t1 - t0,
    )
    return _frame(own, call_ids, received_at)


# --------------------------------------------------------------------------- area per-day totals

AREA_KINDS = ("beat", "district")
AREA_COUNT_COLUMNS = ("call", "violent", "weapon", "assault", "injury")


def area_day_counts(ev: pd.DataFrame, cfg: FeatureConfig | None = None) -> pd.DataFrame:
    """Per (area kind, area, day) event totals of an events frame: all that beat and district
    history needs (their windows are whole previous days). A call counts on the day of `ts`;
    its harm, as its own row with no call weight, on the day its outcome counts (`outcome_us`),
    as in the engines. Totals of disjoint frames add up: the cluster path sums partitions'."""
    ts = ev["ts"].to_numpy(dtype=np.int64)
    out_ts = frame_outcome_us(ev, cfg)
    assault = ev["assault"].to_numpy(dtype=np.int64)
    injury = ev["injury"].to_numpy(dtype=np.int64)
    harmed = (assault != 0) | (injury != 0)
    n, h = len(ev), int(harmed.sum())
    zeros_n = np.zeros(n, dtype=np.int64)
    parts = []
    for kind in AREA_KINDS:
        key = ev[kind].to_numpy(dtype=object)
        frame = pd.DataFrame(
            {
                "kind": kind,
                "key": np.concatenate([key, key[harmed]]),
                "day": np.concatenate([day_of(ts), day_of(out_ts[harmed])]),
                "call": np.concatenate([np.ones(n, dtype=np.int64), np.zeros(h, np.int64)]),
                "violent": np.concatenate(
                    [ev["violent"].to_numpy(dtype=np.int64), np.zeros(h, np.int64)]
                ),
                "weapon": np.concatenate(
                    [ev["weapon"].to_numpy(dtype=np.int64), np.zeros(h, np.int64)]
                ),
                "assault": np.concatenate([zeros_n, assault[harmed]]),
                "injury": np.concatenate([zeros_n, injury[harmed]]),
            }
        )
        parts.append(frame[pd.notna(frame["key"])])
    return sum_area_days(parts)


def sum_area_days(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Totals of several `area_day_counts` frames (disjoint calls): a row per (kind, key, day)."""
    if not parts:
        return pd.DataFrame(columns=["kind", "key", "day", *AREA_COUNT_COLUMNS])
    both = pd.concat(parts, ignore_index=True)
    both["key"] = both["key"].astype(object)
    return (
        both.groupby(["kind", "key", "day"], sort=True, observed=True)[list(AREA_COUNT_COLUMNS)]
        .sum()
        .reset_index()
    )


@dataclass
class AreaDays:
    """City-wide per-(area, day) totals as an event table the numpy engine reads (weighted
    rows, one per area and day): the same beat and district history as every call's events."""

    table: EventTable
    rows: int

    @classmethod
    def from_counts(cls, counts: pd.DataFrame) -> AreaDays:
        n = len(counts)
        kind = counts["kind"].to_numpy(dtype=object)
        key = counts["key"].to_numpy(dtype=object)
        none = np.full(n, None, dtype=object)
        keys = {"premise": none}
        for k in AREA_KINDS:
            keys[k] = np.where(kind == k, key, none)
        return cls(
            EventTable(
                ts=counts["day"].to_numpy(dtype=np.int64) * US_PER_DAY,
                keys=keys,
                events={c: counts[c].to_numpy(dtype=np.int64) for c in AREA_COUNT_COLUMNS},
                outcome_ts=None,  # outcomes are rows of their own already, on their own day
            ),
            n,
        )


def online_features(
    calls: list[dict[str, Any]], store: HistoryStore, cfg: FeatureConfig
) -> dict[str, np.ndarray]:
    """Features for live calls from the history store: the same row-local code, store history.

    Returns column arrays (no pandas frame on the request path): model features plus the keys.
    """
    own = call_features(call_columns(calls), cfg)
    own.update(store.history_features(queries_from(own)))
    return {k: as_feature_dtype(v) for k, v in own.items()}
