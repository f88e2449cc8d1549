"""Point-in-time history features, defined once as declarative window aggregates.

A `WindowAgg` says *what* is counted (an event kind), *where* (premise, beat or district) and *over
which past interval*. Three engines run the same definitions and must agree exactly:

- `compute_history` (numpy): the offline builder, one vectorised pass (sort + searchsorted).
- `window_sql` (SQL window functions): the same definitions as a query DuckDB runs here and
  Spark SQL runs on a cluster; a test proves it equals the numpy engine.
- `risk_model.features.store` (SQLite aggregates): the live service, one call at a time.

Time semantics (SPEC §2): only events received strictly before the call count; ties in time are
not "earlier". Premise windows end at the call's own time: [t - w, t). Area windows use whole
previous days: [day(t) - w, day(t)), the form a nightly area aggregate has, which the live store
keeps as per-day buckets. Premise effects older than the configured horizon expire.

Calls known only to an interval (a day, a shift band: `received_until`) have two times: they
query history as of their EARLIEST possible time and count as events for other calls from their
LATEST possible time (the interval's last microsecond). So events and queries carry separate
time arrays; for exact times they are the same array.

An earlier call's OUTCOME (assault, injury) counts from when it was known (SPEC §2): its report
time where the data has one, else its latest possible time plus the configured reporting lag
(`features.call.outcome_time`). Each engine therefore places a harmed call's outcome as its own
event at that time, with no call weight: the call counts from its time, its harm from the
report's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from risk_model.config import FeatureConfig

US_PER_DAY = 86_400_000_000
EVENT_KINDS: tuple[str, ...] = ("call", "violent", "weapon", "assault", "injury")
# What happened to the officers: known only when the report is filed, so these count from the
# call's outcome time (`EventTable.outcome_ts`), the others from the call's own time.
OUTCOME_KINDS: tuple[str, ...] = ("assault", "injury")
KEY_KINDS: tuple[str, ...] = ("premise", "beat", "district")

KeyKind = Literal["premise", "beat", "district"]
EventKind = Literal["call", "violent", "weapon", "assault", "injury"]


@dataclass(frozen=True)
class WindowAgg:
    """One history aggregate.

    `window_days=None` means the premise horizon (the "all time" that policy allows) and
    `window_days="near_repeat"` the configured near-repeat window.
    `agg="count"` counts events in the window; `agg="days_since"` gives days since the latest
    event in the window (NaN when none).
    """

    name: str
    key: KeyKind
    event: EventKind
    window_days: int | Literal["near_repeat"] | None
    agg: Literal["count", "days_since"] = "count"

    @property
    def anchor(self) -> Literal["time", "day"]:
        return "time" if self.key == "premise" else "day"

    def days(self, cfg: FeatureConfig) -> int:
        if self.window_days is None:
            return cfg.premise_horizon_days
        if self.window_days == "near_repeat":
            return cfg.near_repeat_days
        return self.window_days


W = WindowAgg
HISTORY_AGGS: tuple[WindowAgg, ...] = (
    W("prem_calls_7d", "premise", "call", 7),
    W("prem_calls_30d", "premise", "call", 30),
    W("prem_calls_365d", "premise", "call", 365),
    W("prem_violent_near", "premise", "violent", "near_repeat"),
    W("prem_violent_365d", "premise", "violent", 365),
    W("prem_weapon_365d", "premise", "weapon", 365),
    W("prem_assaults_365d", "premise", "assault", 365),
    W("prem_assaults_all", "premise", "assault", None),
    W("prem_injuries_365d", "premise", "injury", 365),
    W("prem_injuries_all", "premise", "injury", None),
    W("prem_days_since_violent", "premise", "violent", None, "days_since"),
    W("beat_calls_30d", "beat", "call", 30),
    W("beat_violent_30d", "beat", "violent", 30),
    W("beat_calls_365d", "beat", "call", 365),
    W("beat_assaults_365d", "beat", "assault", 365),
    W("district_calls_30d", "district", "call", 30),
    W("district_violent_30d", "district", "violent", 30),
    W("district_calls_365d", "district", "call", 365),
    W("district_assaults_365d", "district", "assault", 365),
)
del W


def derive(base: Mapping[str, np.ndarray], cfg: FeatureConfig) -> dict[str, np.ndarray]:
    """Features computed row-locally from the window aggregates (identical in every engine)."""
    recent = np.asarray(base["prem_violent_near"], dtype=np.float64)
    out = {"prem_near_repeat": np.where(np.isnan(recent), np.nan, (recent > 0).astype(np.float64))}
    # What a premise's past calls were like: its latent hazard shows through these shares.
    calls365 = np.asarray(base["prem_calls_365d"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, num, scale in (
            ("prem_violent_share_365d", "prem_violent_365d", 1.0),
            ("prem_weapon_share_365d", "prem_weapon_365d", 1.0),
            ("prem_assault_rate_365d", "prem_assaults_365d", 1000.0),
        ):
            out[name] = np.where(
                calls365 > 0, scale * np.asarray(base[num], dtype=np.float64) / calls365, np.nan
            )
    for area in ("beat", "district"):
        calls30 = np.asarray(base[f"{area}_calls_30d"], dtype=np.float64)
        calls365 = np.asarray(base[f"{area}_calls_365d"], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"{area}_violent_share_30d"] = np.where(
                calls30 > 0, np.asarray(base[f"{area}_violent_30d"]) / calls30, np.nan
            )
            out[f"{area}_assault_rate_365d"] = np.where(
                calls365 > 0, 1000.0 * np.asarray(base[f"{area}_assaults_365d"]) / calls365, np.nan
            )
    return out


@dataclass
class EventTable:
    """Past calls as history events: time, keys and 0/1 event indicators (equal lengths)."""

    ts: np.ndarray  # int64 microseconds, agency local time: the latest possible time
    keys: dict[str, np.ndarray]  # key kind -> object array (None = no key)
    events: dict[str, np.ndarray]  # event kind -> int8 0/1
    # int64 microseconds from which the call's outcome (OUTCOME_KINDS) counts; None: from `ts`.
    outcome_ts: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ts)


@dataclass
class QueryTable:
    """Calls that need features: their time and keys."""

    ts: np.ndarray  # int64 microseconds: the earliest possible time (received_at)
    keys: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.ts)


def day_of(ts_us: np.ndarray) -> np.ndarray:
    """Day number (days since 1970-01-01, agency local) of microsecond timestamps."""
    return np.floor_divide(ts_us, US_PER_DAY)


def _encode_keys(ev: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joint integer codes for event and query keys; -1 where the key is missing."""
    # The offline builder: the calls are their own history, so the KEY arrays are one (their
    # event and query times may still differ; times are never read here).
    if ev is q:
        codes, _ = pd.factorize(ev, use_na_sentinel=True)
        codes = codes.astype(np.int64)
        return codes, codes
    codes, _ = pd.factorize(np.concatenate([ev, q]), use_na_sentinel=True)
    codes = codes.astype(np.int64)
    return codes[: len(ev)], codes[len(ev) :]


def _sorted_search(comp: np.ndarray, needles: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """searchsorted(comp, needles, "left"), searching in `perm` order (needles sorted there):
    sorted needles walk `comp` in order, which is several times faster on large arrays."""
    found = np.empty(len(needles), dtype=np.int32 if len(comp) < 2**31 else np.int64)
    found[perm] = np.searchsorted(comp, needles[perm], side="left")
    return found


PREMISE_AGGS: tuple[WindowAgg, ...] = tuple(a for a in HISTORY_AGGS if a.key == "premise")
AREA_AGGS: tuple[WindowAgg, ...] = tuple(a for a in HISTORY_AGGS if a.key != "premise")


def compute_history(
    events: EventTable,
    queries: QueryTable,
    cfg: FeatureConfig,
    aggs: Sequence[WindowAgg] = HISTORY_AGGS,
    derived: bool = True,
) -> dict[str, np.ndarray]:
    """Numpy engine: every aggregate for every query from strictly earlier events.

    Events and queries may be the same calls (the offline builder) or different sets (scoring new
    calls against a history). Per key kind: events sorted by (key, time) once (area events first
    collapsed to per-day counts), then two binary searches per distinct window and a cumulative
    sum per event kind: count = cumsum[hi] - cumsum[lo] over the events in [t - w, t).

    An event row may stand for several calls: its `events` values are then counts (the cluster
    path's per-(area, day) totals, `features.cluster`), "call" included. Each key kind is computed
    on its own, so a caller may split `aggs` by key kind across engines and pass `derived=False`,
    then apply `derive` to the union: the result is the same as one call with every aggregate.
    """
    out: dict[str, np.ndarray] = {}
    nq = len(queries)
    n_ev = len(events)
    # Harmed calls' outcomes become extra event rows at their outcome time (no call weight);
    # a few per thousand calls, so the exact-time pass costs about the same.
    harm: np.ndarray | None = None
    if events.outcome_ts is not None and any(a.event in OUTCOME_KINDS for a in aggs):
        any_harm = np.zeros(n_ev, dtype=bool)
        for e in OUTCOME_KINDS:
            any_harm |= events.events[e] != 0
        harm = np.flatnonzero(any_harm)
        times_all = np.concatenate([events.ts, events.outcome_ts[harm]])
    else:
        times_all = events.ts

    call_weight = events.events.get("call")
    if call_weight is None:
        call_weight = np.ones(n_ev, dtype=np.int8)

    def row_weights(e: str) -> np.ndarray:
        """Per event row (calls, then outcome rows) weight of event kind `e`."""
        if harm is None:
            return call_weight if e == "call" else events.events[e]
        base = (
            call_weight
            if e == "call"
            else np.zeros(n_ev, dtype=np.int8)
            if e in OUTCOME_KINDS
            else events.events[e]
        )
        extra = events.events[e][harm] if e in OUTCOME_KINDS else np.zeros(len(harm), np.int8)
        return np.concatenate([base, extra])

    for kind in KEY_KINDS:
        kind_aggs = [a for a in aggs if a.key == kind]
        if not kind_aggs:
            continue
        anchor = kind_aggs[0].anchor
        ev_key, q_key = _encode_keys(events.keys[kind], queries.keys[kind])
        if harm is not None:
            ev_key = np.concatenate([ev_key, ev_key[harm]])
        keep = ev_key >= 0
        ev_key = ev_key[keep]
        ev_time = times_all[keep] if anchor == "time" else day_of(times_all[keep])
        q_time = queries.ts if anchor == "time" else day_of(queries.ts)
        unit = US_PER_DAY if anchor == "time" else 1
        kinds_needed = {a.event for a in kind_aggs}
        order = np.lexsort((ev_time, ev_key))
        key_sorted = ev_key[order]
        time_sorted = ev_time[order]
        weights = {e: row_weights(e)[keep][order].astype(np.int32) for e in kinds_needed}
        if anchor == "day" and len(order):
            # Area history only needs per-(area, day) totals: a few thousand rows, not millions.
            new_group = np.ones(len(order), dtype=bool)
            new_group[1:] = (key_sorted[1:] != key_sorted[:-1]) | (
                time_sorted[1:] != time_sorted[:-1]
            )
            starts = np.flatnonzero(new_group)
            key_sorted, time_sorted = key_sorted[starts], time_sorted[starts]
            weights = {e: np.add.reduceat(w, starts) for e, w in weights.items()}
        del ev_key, ev_time, keep, order  # sorted copies from here on: free the originals
        uniq = np.unique(time_sorted)
        m = np.int64(len(uniq) + 1)

        def rank(x: np.ndarray, uniq: np.ndarray = uniq) -> np.ndarray:
            return np.searchsorted(uniq, x, side="left").astype(np.int64)

        comp = key_sorted * m + rank(time_sorted)
        q_valid = q_key >= 0
        qk = np.where(q_valid, q_key, 0)
        q_rank = rank(q_time)
        base = qk * m
        del qk
        perm = np.argsort(base + q_rank, kind="stable")  # needles of every window sort alike
        hi = _sorted_search(comp, base + q_rank, perm)
        lows: dict[int, np.ndarray] = {}
        cumsums = {
            e: np.concatenate([np.zeros(1, np.int64), np.cumsum(w, dtype=np.int64)])
            for e, w in weights.items()
        }
        for agg in kind_aggs:
            days = agg.days(cfg)
            if days not in lows:
                lows[days] = _sorted_search(comp, base + rank(q_time - days * unit), perm)
            lo = lows[days]
            if agg.agg == "count":
                cs = cumsums[agg.event]
                values = (cs[hi] - cs[lo]).astype(np.float64)
            else:  # days_since: latest event in [lo, hi); premise (time-anchored) only
                ind = weights[agg.event] > 0
                if len(ind) == 0:  # no event has this key kind: nothing happened before
                    out[agg.name] = np.full(nq, np.nan)
                    continue
                last = np.maximum.accumulate(np.where(ind, np.arange(len(ind)), -1))
                prev = hi - 1
                lastpos = np.where(prev >= 0, last[np.maximum(prev, 0)], -1)
                found = (lastpos >= lo) & (lastpos >= 0)
                t_last = time_sorted[np.maximum(lastpos, 0)]
                values = np.where(found, (q_time - t_last) / unit, np.nan).astype(np.float64)
            # Stored as float32, the features' dtype (exact for counts; days are computed in
            # float64 first, as the live store does).
            out[agg.name] = (np.where(q_valid, values, np.nan) if nq else values).astype(
                np.float32
            )
        # Free this key kind's working arrays before the next kind allocates its own.
        del key_sorted, time_sorted, weights, comp, perm, hi, lows, cumsums, base, q_rank
    if derived:
        out.update({k: v.astype(np.float32) for k, v in derive(out, cfg).items()})
    return out


def window_sql(
    cfg: FeatureConfig,
    table: str = "events",
    aggs: Sequence[WindowAgg] = HISTORY_AGGS,
    query_ts: str = "received_us",
    query_day: str = "received_day",
    outcome_ts: str | None = "outcome_us",
) -> str:
    """The same aggregates as SQL window functions over one history table.

    The table has columns call_id, ts and day (BIGINT microseconds and day number of when the
    call counts as history: its latest possible time), `query_ts` and `query_day` (when the call
    takes its own features: its earliest possible time, `received_us` in an events frame),
    `outcome_ts` (when its outcome counts: `outcome_us` in an events frame; None for a table
    without one, whose outcomes then count from `ts`), premise, beat, district and 0/1 columns
    per event kind. Every row gets its features from rows whose event time is strictly before
    its query time. Each call appears in one timeline as an event (its call facts at `ts`), as
    an outcome event when harmed (assault/injury at `outcome_ts`) and as a query (weights 0), so
    one RANGE frame over the query row sees exactly the earlier events; the query uses only
    standard window functions over integers, so Spark SQL runs it unchanged. A table of exact
    times only may pass query_ts="ts", query_day="day".
    """
    facts = [k for k in EVENT_KINDS[1:] if k not in OUTCOME_KINDS]
    outcomes = list(OUTCOME_KINDS)
    keys = "call_id, premise, beat, district"

    def select(kinds: list[str]) -> str:
        return ", ".join(k if k in kinds else f"0 AS {k}" for k in EVENT_KINDS[1:])

    if outcome_ts is None:
        parts = [
            f"SELECT {keys}, ts, day, 0 AS is_query, 1 AS is_call, {select(facts + outcomes)} "
            f"FROM {table}"
        ]
    else:
        # The outcome's day, exactly, in integer arithmetic any SQL engine has (times > 1970).
        o_day = f"CAST(({outcome_ts} - MOD({outcome_ts}, {US_PER_DAY})) / {US_PER_DAY} AS BIGINT)"
        harmed = " OR ".join(f"{k} = 1" for k in outcomes)
        parts = [
            f"SELECT {keys}, ts, day, 0 AS is_query, 1 AS is_call, {select(facts)} FROM {table}",
            f"SELECT {keys}, {outcome_ts} AS ts, {o_day} AS day, 0 AS is_query, 0 AS is_call, "
            f"{select(outcomes)} FROM {table} WHERE {harmed}",
        ]
    parts.append(
        f"SELECT {keys}, {query_ts} AS ts, {query_day} AS day, 1 AS is_query, 0 AS is_call, "
        f"{select([])} FROM {table}"
    )
    timeline = " UNION ALL ".join(parts)
    cols = []
    for agg in aggs:
        order_col = "ts" if agg.anchor == "time" else "day"
        width = agg.days(cfg) * (US_PER_DAY if agg.anchor == "time" else 1)
        frame = (
            f"PARTITION BY {agg.key} ORDER BY {order_col} "
            f"RANGE BETWEEN {width} PRECEDING AND 1 PRECEDING"
        )
        if agg.agg == "count":
            event = "is_call" if agg.event == "call" else agg.event
            cols.append(
                f"CASE WHEN {agg.key} IS NULL THEN NULL "
                f"ELSE COALESCE(SUM({event}) OVER ({frame}), 0) END AS {agg.name}"
            )
        else:
            unit = US_PER_DAY if agg.anchor == "time" else 1
            cols.append(
                f"CASE WHEN {agg.key} IS NULL THEN NULL ELSE ({order_col} - "
                f"MAX(CASE WHEN {agg.event} = 1 THEN {order_col} END) OVER ({frame}))"
                f" / {float(unit)} END AS {agg.name}"
            )
    names = ", ".join(a.name for a in aggs)
    return (
        f"SELECT call_id, {names} FROM (SELECT is_query, call_id, {', '.join(cols)} "
        f"FROM ({timeline}) AS timeline) AS windows WHERE is_query = 1"
    )
