"""The online history store the live service reads per call and appends to as calls arrive.

`HistoryStore` is the seam: anything that can answer the `HISTORY_AGGS` for a call from strictly
earlier events and take appends can replace the embedded `SqliteHistoryStore` (e.g. Redis sorted
sets per premise plus per-day area counters, when an agency runs several service replicas).

The SQLite store is one file in WAL mode: many readers and one writer at a time, across threads
and processes, and every committed append survives a restart. Premise aggregates are computed by
SQLite over the premise's rows within the horizon; area aggregates read per-day buckets, so a
query touches at most a year of days however busy the beat.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from risk_model.config import FeatureConfig
from risk_model.db import WriteLock, connect, write_check
from risk_model.features.call import (
    NO_INTERVAL,
    call_columns,
    call_features,
    known_at_us,
    lag_us,
    outcome_events,
)
from risk_model.features.history import (
    HISTORY_AGGS,
    OUTCOME_KINDS,
    US_PER_DAY,
    QueryTable,
    WindowAgg,
    day_of,
    derive,
)

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id   TEXT PRIMARY KEY,
    ts        INTEGER NOT NULL,
    received_us INTEGER,
    premise   TEXT,
    beat      TEXT,
    district  TEXT,
    call_type TEXT,
    violent   INTEGER NOT NULL,
    weapon    INTEGER NOT NULL,
    assault   INTEGER NOT NULL DEFAULT 0,
    injury    INTEGER NOT NULL DEFAULT 0,
    known_us  INTEGER,
    outcome_ts INTEGER
);
CREATE INDEX IF NOT EXISTS calls_premise_ts ON calls (premise, ts);
CREATE INDEX IF NOT EXISTS calls_premise_violent_ts ON calls (premise, violent, ts);
CREATE INDEX IF NOT EXISTS calls_premise_harm_ts ON calls (premise, ts)
    WHERE assault = 1 OR injury = 1;
CREATE INDEX IF NOT EXISTS calls_premise_weapon_ts ON calls (premise, ts) WHERE weapon = 1;
CREATE TABLE IF NOT EXISTS area_days (
    kind    TEXT NOT NULL,
    key     TEXT NOT NULL,
    day     INTEGER NOT NULL,
    call    INTEGER NOT NULL DEFAULT 0,
    violent INTEGER NOT NULL DEFAULT 0,
    weapon  INTEGER NOT NULL DEFAULT 0,
    assault INTEGER NOT NULL DEFAULT 0,
    injury  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, key, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
"""
EVENTS = ("call", "violent", "weapon", "assault", "injury")
AREA_KINDS = ("beat", "district")
# `calls.ts` is when a call counts as history: its latest possible time (the last microsecond of
# its interval when only a day or shift band is known). `calls.received_us` is its earliest
# possible time, kept only when it differs (NULL: the time is exact), for dating incidents.
# `calls.known_us` is the outcome's given known time (outcome_known_at; NULL: not given) and
# `calls.outcome_ts` when the outcome counts as history: known_us, else ts plus the reporting lag,
# never before ts. Day buckets hold a call's facts on ts's day and its outcome on outcome_ts's
# day; meta `outcome_lag_us` is the lag they were built with (another lag rebuilds them on open).
# Created by _migrate (after the columns exist in stores written before known times).
_OUTCOME_INDEX = (
    "CREATE INDEX IF NOT EXISTS calls_premise_outcome_ts ON calls (premise, outcome_ts) "
    "WHERE assault = 1 OR injury = 1"
)


@dataclass
class AppendResult:
    inserted: int  # new calls
    updated: int  # known calls whose outcome changed
    unchanged: int  # known calls with nothing new
    # (call_id, outcome column) where a row said false but the store keeps the recorded true:
    # an outcome only accumulates unless the row is a correction (`correction: true`).
    kept: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class PremiseIncident:
    call_id: str
    received_at: str
    call_type: str | None
    violent: bool
    weapon: bool
    assault: bool
    injury: bool


class HistoryStore(ABC):
    """What the service needs from history: point-in-time aggregates and appends."""

    @abstractmethod
    def history_features(self, queries: QueryTable) -> dict[str, np.ndarray]:
        """HISTORY_AGGS (and derived features) for each query from strictly earlier events."""

    @abstractmethod
    def append(self, calls: pd.DataFrame | list[dict[str, Any]]) -> AppendResult:
        """Adds calls; a known call_id only updates its outcome (call facts are immutable)."""

    @abstractmethod
    def premise_incidents(
        self, premise: str, before_us: int, limit: int = 10
    ) -> list[PremiseIncident]:
        """Dated prior incidents at a premise: assaults/injuries, then weapons, newest first."""

    @abstractmethod
    def count(self) -> int:
        """Number of calls held."""


def _premise_sql(cfg: FeatureConfig, aggs: tuple[WindowAgg, ...]) -> tuple[str, str, str]:
    """Three queries for a premise's window counts, whatever its call volume.

    A window [t - w days, t) is the whole days strictly between day(t) - w and day(t), read from
    per-(premise, day) buckets, plus the rows of the two partial days at its ends. So a premise
    with ten thousand calls a year costs the same as one with ten. Days since the last violent
    call is one indexed MAX.
    """
    counts = [a for a in aggs if a.agg == "count"]
    bucket_exprs = [
        f"COALESCE(SUM(CASE WHEN day > ? THEN {a.event} ELSE 0 END), 0)" for a in counts
    ]
    buckets = (
        f"SELECT {', '.join(bucket_exprs)} FROM area_days "
        "WHERE kind = 'premise' AND key = ? AND day > ? AND day < ?"
    )
    # A call's facts count from ts, its outcome from outcome_ts: two parts per time range.
    partial = (
        "SELECT ? AS part, COUNT(*), COALESCE(SUM(violent), 0), COALESCE(SUM(weapon), 0), "
        "0, 0 FROM calls WHERE premise = ? AND ts >= ? AND ts < ? UNION ALL "
        "SELECT ? AS part, 0, 0, 0, COALESCE(SUM(assault), 0), COALESCE(SUM(injury), 0) "
        "FROM calls WHERE premise = ? AND (assault = 1 OR injury = 1) "
        "AND outcome_ts >= ? AND outcome_ts < ?"
    )
    last = (
        "SELECT MAX({col}) FROM calls WHERE premise = ? AND {event} = 1 "
        "AND {col} >= ? AND {col} < ?"
    )
    return buckets, partial, last


# Dated incidents at a premise, most serious first: harm to officers, then weapons, then other
# violent calls, newest first within each. Each part reads its own (partial) index newest first
# and stops at the limit, so a premise with thousands of calls costs the same as one with ten.
# Harm counts as known from outcome_ts (as in the features): a harmed call whose report is not
# yet known is listed by what else it was (weapon, violent), without the harm.
# Calls at one time (calls known only to a day share its last microsecond) are listed the later
# recorded first (rowid, the index's own order, so no sort): offline, later in the frame first.
_INCIDENT_COLS = (
    "call_id, ts, call_type, violent, weapon, assault, injury, received_us, outcome_ts"
)
_HARM_KNOWN = "(assault = 1 OR injury = 1) AND outcome_ts < ?"
_INCIDENTS_SQL = " UNION ALL ".join(
    f"SELECT * FROM (SELECT {rank} AS rank, {_INCIDENT_COLS} FROM calls WHERE {where} "
    "ORDER BY ts DESC, rowid DESC LIMIT ?)"
    for rank, where in enumerate(
        (
            "premise = ? AND (assault = 1 OR injury = 1) AND outcome_ts >= ? AND outcome_ts < ?",
            f"premise = ? AND weapon = 1 AND ts >= ? AND ts < ? AND NOT ({_HARM_KNOWN})",
            f"premise = ? AND violent = 1 AND weapon = 0 AND ts >= ? AND ts < ? "
            f"AND NOT ({_HARM_KNOWN})",
        )
    )
)

_EVENT_INDEX = {"call": 0, "violent": 1, "weapon": 2, "assault": 3, "injury": 4}


def _incident_time(ts: int, received_us: int | None) -> str:
    """An incident's time as text: the exact time to the second, or only the date (of the
    interval's start) when the call is known only to a day or shift band: never a clock time
    that was not recorded."""
    if received_us is None:
        return str(np.datetime64(int(ts), "us").astype("datetime64[s]"))
    return str(np.datetime64(int(received_us), "us").astype("datetime64[D]"))


def _area_sql(aggs: tuple[WindowAgg, ...]) -> str:
    exprs = [f"COALESCE(SUM(CASE WHEN day >= ? THEN {agg.event} ELSE 0 END), 0)" for agg in aggs]
    return (
        f"SELECT {', '.join(exprs)} FROM area_days "
        "WHERE kind = ? AND key = ? AND day >= ? AND day < ?"
    )


def _known_or_none(known: np.ndarray) -> list[int | None]:
    """Given outcome known times (NO_INTERVAL: not given) as SQLite values."""
    return [None if k == NO_INTERVAL else k for k in known.tolist()]


def _received_or_none(received: np.ndarray, ts: np.ndarray) -> list[int | None]:
    """The earliest possible time per call where it differs from `ts`, else None (exact)."""
    if received is ts or np.array_equal(received, ts):
        return [None] * len(ts)
    return [None if r == t else r for r, t in zip(received.tolist(), ts.tolist(), strict=True)]


def _settled(recorded: int, sent: int, carried: bool, correction: bool) -> int:
    """A known call's outcome after a later row: the row's value when it is a correction;
    else true if either says true (an outcome once recorded is never erased by a later row)."""
    if not carried:
        return recorded
    return sent if correction else max(recorded, sent)


def _log_outcome_changes(
    changes: list[tuple[str, str, int, int, bool]], kept: list[tuple[str, str]]
) -> None:
    """One line per outcome changed, and per recorded outcome a row tried to erase."""
    for cid, name, was, now, corrected in changes:
        log.info(
            "history: call %s: %s %s -> %s%s",
            ascii(cid),
            name,
            bool(was),
            bool(now),
            " (correction)" if corrected else "",
        )
    for cid, name in kept:
        log.warning(
            "history: call %s keeps %s true: a later row said false without correction: true",
            ascii(cid),
            name,
        )


class SqliteHistoryStore(HistoryStore):
    """Embedded, file-backed history (SQLite, WAL). Safe for concurrent readers and a writer."""

    def __init__(self, path: Path | str, cfg: FeatureConfig | None = None) -> None:
        self.path = Path(path)
        self.cfg = cfg or FeatureConfig()
        self._local = threading.local()
        self._write_lock = WriteLock(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)
        self._premise_aggs = tuple(a for a in HISTORY_AGGS if a.key == "premise")
        self._premise_buckets, self._premise_partial, self._premise_last = _premise_sql(
            self.cfg, self._premise_aggs
        )
        self._premise_counts = tuple(a for a in self._premise_aggs if a.agg == "count")
        self._migrate()
        self._area_aggs = {k: tuple(a for a in HISTORY_AGGS if a.key == k) for k in AREA_KINDS}
        self._area_sql = {k: _area_sql(v) for k, v in self._area_aggs.items()}

    # ------------------------------------------------------------------ connections
    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = connect(self.path, synchronous="FULL")  # history writes: durable at commit
        try:
            yield con
        finally:
            con.close()

    def _reader(self) -> sqlite3.Connection:
        """One connection per thread (sqlite3 connections are not shared across threads)."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = connect(self.path)
        return con

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    # ------------------------------------------------------------------ reads
    def history_features(self, queries: QueryTable) -> dict[str, np.ndarray]:
        n = len(queries)
        out = {a.name: np.full(n, np.nan) for a in HISTORY_AGGS}
        con = self._reader()
        area = self._area_cache(con)
        for i in range(n):
            t = int(queries.ts[i])
            key = queries.keys["premise"][i]
            if key is not None:
                self._premise_row(con, key, t, i, out)
            day = int(day_of(np.int64(t)))
            for kind in AREA_KINDS:
                key = queries.keys[kind][i]
                if key is None:
                    continue
                aggs = self._area_aggs[kind]
                row = area.get((kind, key, day))
                if row is None:
                    widest = max(a.days(self.cfg) for a in aggs)
                    args = [day - a.days(self.cfg) for a in aggs] + [kind, key, day - widest, day]
                    row = con.execute(self._area_sql[kind], args).fetchone()
                    area[(kind, key, day)] = row
                for agg, value in zip(aggs, row, strict=True):
                    out[agg.name][i] = float(value)
        out.update(derive(out, self.cfg))
        return out

    def _area_cache(self, con: sqlite3.Connection) -> dict[tuple[str, str, int], tuple]:
        """Beat and district aggregates, remembered per (kind, key, day) until the store changes.

        Area windows end at the start of the call's day, so every call in a beat on one day reads
        the same sums (two 365-row scans, ~0.1 ms a call). `PRAGMA data_version` changes whenever
        any other connection, in this process or another, commits; then everything is dropped, so
        an ingest is seen by the very next call.
        """
        version = con.execute("PRAGMA data_version").fetchone()[0]
        cache = getattr(self._local, "area", None)
        if cache is None or self._local.area_version != version or len(cache) > 100_000:
            cache = self._local.area = {}
            self._local.area_version = version
        return cache

    def _premise_row(
        self, con: sqlite3.Connection, key: str, t: int, i: int, out: dict[str, np.ndarray]
    ) -> None:
        """Premise aggregates for one call at time t (see _premise_sql for the method)."""
        today = t // US_PER_DAY
        spans = {a.days(self.cfg) for a in self._premise_counts}
        widest = max(spans)
        row = con.execute(
            self._premise_buckets,
            [today - a.days(self.cfg) for a in self._premise_counts]
            + [key, today - widest, today],
        ).fetchone()
        totals = [int(v) for v in row]
        # Rows of today before t count for every window; rows of the window's first day count
        # from t - w days on.
        # All partial days in one statement (one round trip, each part on the index).
        widths = sorted(spans)
        ranges = [(today * US_PER_DAY, t)] + [
            (t - w * US_PER_DAY, (today - w + 1) * US_PER_DAY) for w in widths
        ]
        sql = " UNION ALL ".join([self._premise_partial] * len(ranges))
        params = [v for n, (lo, hi) in enumerate(ranges) for v in (n, key, lo, hi) * 2]
        parts = [[0] * 5 for _ in ranges]
        for row in con.execute(sql, params).fetchall():  # facts and outcomes per range
            acc = parts[row[0]]
            for j, v in enumerate(row[1:]):
                acc[j] += int(v)
        now = parts[0]
        first = dict(zip(widths, parts[1:], strict=True))
        for agg, total in zip(self._premise_counts, totals, strict=True):
            j = _EVENT_INDEX[agg.event]
            w = agg.days(self.cfg)
            out[agg.name][i] = float(total + int(now[j]) + int(first[w][j]))
        for agg in self._premise_aggs:
            if agg.agg == "days_since":
                lo = t - agg.days(self.cfg) * US_PER_DAY
                col = "outcome_ts" if agg.event in OUTCOME_KINDS else "ts"
                (last,) = con.execute(
                    self._premise_last.format(event=agg.event, col=col), (key, lo, t)
                ).fetchone()
                if last is not None:
                    out[agg.name][i] = (t - last) / US_PER_DAY

    def _migrate(self) -> None:
        """Brings a store written by earlier code up to date, once, on open.

        Stores written before interval times existed get the (empty) received_us column; before
        outcome known times existed, known_us and outcome_ts. Day buckets are (re)built from
        the calls when they were built before premise buckets existed or with another reporting
        lag than this store's settings: every outcome without a given known time then counts
        from ts plus this lag, facts on ts's day and outcomes on outcome_ts's day.
        """
        lag = lag_us(self.cfg)
        with self._write_lock, self._connect() as con:
            columns = {r[1] for r in con.execute("PRAGMA table_info(calls)")}
            for col in ("received_us", "known_us", "outcome_ts"):
                if col not in columns:
                    con.execute(f"ALTER TABLE calls ADD COLUMN {col} INTEGER")
            con.execute(_OUTCOME_INDEX)
            built = dict(
                con.execute(
                    "SELECT k, v FROM meta WHERE k IN ('premise_days', 'outcome_lag_us')"
                ).fetchall()
            )
            if built.get("premise_days") == "1" and built.get("outcome_lag_us") == str(lag):
                return
            t0 = time.perf_counter()
            con.execute("BEGIN IMMEDIATE")
            con.execute(
                "UPDATE calls SET outcome_ts = MAX(COALESCE(known_us, ts + ?), ts)", (lag,)
            )
            con.execute("DELETE FROM area_days")
            for kind in ("premise", *AREA_KINDS):  # fixed names, not user values
                con.execute(
                    "INSERT INTO area_days (kind, key, day, call, violent, weapon) "
                    f"SELECT '{kind}', {kind}, ts / {US_PER_DAY}, COUNT(*), SUM(violent), "
                    f"SUM(weapon) FROM calls WHERE {kind} IS NOT NULL "
                    f"GROUP BY {kind}, ts / {US_PER_DAY}"
                )
                con.execute(
                    "INSERT INTO area_days (kind, key, day, assault, injury) "
                    f"SELECT '{kind}', {kind}, outcome_ts / {US_PER_DAY}, SUM(assault), "
                    f"SUM(injury) FROM calls WHERE {kind} IS NOT NULL "
                    f"AND (assault = 1 OR injury = 1) GROUP BY {kind}, outcome_ts / {US_PER_DAY} "
                    "ON CONFLICT (kind, key, day) DO UPDATE SET "
                    "assault = assault + excluded.assault, injury = injury + excluded.injury"
                )
            con.executemany(
                "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)",
                [("premise_days", "1"), ("outcome_lag_us", str(lag))],
            )
            con.execute("COMMIT")
            log.info(
                "history: day buckets built with a reporting lag of %s days (%.1fs)",
                self.cfg.outcome_lag_days,
                time.perf_counter() - t0,
            )

    def premise_incidents(
        self, premise: str, before_us: int, limit: int = 10
    ) -> list[PremiseIncident]:
        lo = before_us - self.cfg.premise_horizon_days * US_PER_DAY
        params = (premise, lo, before_us, limit) + (premise, lo, before_us, before_us, limit) * 2
        rows = self._reader().execute(_INCIDENTS_SQL, params)
        rows = sorted(rows.fetchall(), key=lambda r: (r[0], -r[2]))[:limit]
        rows = [r[1:] for r in rows]
        return [
            PremiseIncident(
                call_id=r[0],
                received_at=_incident_time(r[1], r[7]),
                call_type=r[2],
                violent=bool(r[3]),
                weapon=bool(r[4]),
                # harm only once known (outcome_ts), as the features count it
                assault=bool(r[5]) and r[8] < before_us,
                injury=bool(r[6]) and r[8] < before_us,
            )
            for r in rows
        ]

    def count(self) -> int:
        return int(self._reader().execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def meta(self, key: str) -> str | None:
        row = self._reader().execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._write_lock, self._connect() as con:
            con.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------------ writes
    def write_check(self) -> None:
        """Raises if the store cannot take a write now (risk_model.db.write_check)."""
        with self._write_lock, self._connect() as con:
            write_check(con, self.path)

    def append(self, calls: pd.DataFrame | list[dict[str, Any]]) -> AppendResult:
        """Adds canonical calls (a frame or validated records); no pandas for small batches."""
        n = len(calls)
        if n == 0:
            return AppendResult(0, 0, 0)
        feats = call_features(call_columns(calls), self.cfg)
        assault, injury = outcome_events(calls, n)
        if isinstance(calls, pd.DataFrame):
            ids = calls["call_id"].astype(str).tolist()
            known = [
                calls[c].notna().to_numpy() if c in calls.columns else np.zeros(n, dtype=bool)
                for c in ("officer_assaulted", "officer_injured")
            ]
            corrections = (
                calls["correction"].fillna(False).astype(bool).tolist()
                if "correction" in calls.columns
                else [False] * n
            )
        else:
            ids = [str(r["call_id"]) for r in calls]
            known = [
                np.array([r.get(c) is not None for r in calls], dtype=bool)
                for c in ("officer_assaulted", "officer_injured")
            ]
            corrections = [r.get("correction") is True for r in calls]
        return self._write(
            ids,
            feats["_ev_ts"].tolist(),
            _received_or_none(feats["_ts"], feats["_ev_ts"]),
            feats["_premise"].tolist(),
            feats["_beat"].tolist(),
            feats["_district"].tolist(),
            feats["call_type"].tolist(),
            feats["_violent"].tolist(),
            feats["_weapon"].tolist(),
            assault.tolist(),
            injury.tolist(),
            known[0].tolist(),
            known[1].tolist(),
            _known_or_none(known_at_us(calls, n)),
            corrections,
        )

    def append_events(self, ev: pd.DataFrame) -> AppendResult:
        """Appends an events frame (see features.build.events_frame) in one transaction.

        Optional boolean columns `_known_a`/`_known_i` say which outcomes the rows actually carry;
        without them every outcome is taken as known.
        """
        n = len(ev)

        def col(name: str) -> list[Any]:
            values = ev[name].to_numpy(dtype=object)
            mask = pd.isna(values)
            if mask.any():
                values = values.copy()
                values[mask] = None
            return values.tolist()

        def flags(name: str) -> list[Any]:
            if name not in ev.columns:
                return [True] * n
            return ev[name].to_numpy(dtype=bool).tolist()

        ts = ev["ts"].to_numpy(dtype=np.int64)
        # Events frames written before interval times existed have no received_us: exact times.
        received = ev["received_us"].to_numpy(dtype=np.int64) if "received_us" in ev else ts
        # ... and before known times existed, no outcome_known_us: the lag rule for all.
        given = (
            ev["outcome_known_us"].astype("Int64").to_numpy(dtype=np.int64, na_value=NO_INTERVAL)
            if "outcome_known_us" in ev
            else np.full(n, NO_INTERVAL, dtype=np.int64)
        )
        return self._write(
            ev["call_id"].astype(str).tolist(),
            ts.tolist(),
            _received_or_none(received, ts),
            col("premise"),
            col("beat"),
            col("district"),
            col("call_type"),
            *(
                ev[c].to_numpy(dtype=np.int64).tolist()
                for c in ("violent", "weapon", "assault", "injury")
            ),
            flags("_known_a"),
            flags("_known_i"),
            _known_or_none(given),
            [False] * n,  # loaded files only add: a correction is an explicit /ingest row
        )

    def _write(self, ids: list[str], *columns: list[Any]) -> AppendResult:
        """One transaction: insert new calls, update known calls' outcomes, bump day buckets.

        Outcomes only accumulate: an assault or injury once recorded stays recorded when a later
        row says false (or nothing), unless that row is a correction. So the result does not
        depend on the order rows arrive in (two clients racing, a stale resend), and a recorded
        assault, which raises every later call's risk at the address, is never erased in
        silence: each change is logged, and each refused erasure is logged and reported.
        """
        (
            ts,
            received,
            premise,
            beat,
            district,
            ctype,
            violent,
            weapon,
            assault,
            injury,
            ka,
            ki,
            known,
            correction,
        ) = columns
        lag = lag_us(self.cfg)

        def outcome_at(t: int, k: int | None) -> int:
            """When an outcome counts (features.call.outcome_time, one call)."""
            return max(t + lag if k is None else k, t)

        seen: set[str] = set()
        order = []
        for i, cid in enumerate(ids):  # first row of a repeated call_id wins, as in ingest
            if cid not in seen:
                seen.add(cid)
                order.append(i)
        with self._write_lock, self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                existing: dict[str, tuple[Any, ...]] = {}
                uniq = [ids[i] for i in order]
                for start in range(0, len(uniq), 900):
                    chunk = uniq[start : start + 900]
                    marks = ",".join("?" * len(chunk))
                    for r in con.execute(
                        "SELECT call_id, ts, premise, beat, district, assault, injury, known_us "
                        f"FROM calls WHERE call_id IN ({marks})",
                        chunk,
                    ):
                        existing[r[0]] = r[1:]
                inserts, updates = [], []
                buckets: dict[tuple[str, str, int], list[int]] = {}

                def bump(t: int, p: Any, b: Any, d: Any, delta: tuple[int, ...]) -> None:
                    if not any(delta):
                        return
                    day = t // US_PER_DAY
                    for kind, key in (("premise", p), ("beat", b), ("district", d)):
                        if key is not None:
                            acc = buckets.setdefault((kind, key, day), [0, 0, 0, 0, 0])
                            for j, v in enumerate(delta):
                                acc[j] += v

                unchanged = 0
                kept: list[tuple[str, str]] = []
                changes: list[tuple[str, str, int, int, bool]] = []
                for i in order:
                    cid = ids[i]
                    old = existing.get(cid)
                    if old is None:
                        out_ts = outcome_at(ts[i], known[i])
                        inserts.append(
                            (
                                cid,
                                ts[i],
                                received[i],
                                premise[i],
                                beat[i],
                                district[i],
                                ctype[i],
                                violent[i],
                                weapon[i],
                                assault[i],
                                injury[i],
                                known[i],
                                out_ts,
                            )
                        )
                        place = (premise[i], beat[i], district[i])
                        bump(ts[i], *place, (1, violent[i], weapon[i], 0, 0))
                        bump(out_ts, *place, (0, 0, 0, assault[i], injury[i]))
                        continue
                    old_ts, old_premise, old_beat, old_district, old_a, old_i, old_k = old
                    new_a = _settled(old_a, assault[i], ka[i], correction[i])
                    new_i = _settled(old_i, injury[i], ki[i], correction[i])
                    for name, was, sent, carried, now in (
                        ("officer_assaulted", old_a, assault[i], ka[i], new_a),
                        ("officer_injured", old_i, injury[i], ki[i], new_i),
                    ):
                        if carried and sent != now:
                            kept.append((cid, name))
                        elif was != now:
                            changes.append((cid, name, was, now, correction[i]))
                    # A known time arriving with (or after) the outcome is recorded; an append
                    # without one keeps the time already recorded.
                    new_k = known[i] if known[i] is not None else old_k
                    if (new_a, new_i, new_k) == (old_a, old_i, old_k):
                        unchanged += 1
                        continue
                    new_out = outcome_at(old_ts, new_k)
                    updates.append((new_a, new_i, new_k, new_out, cid))
                    place = (old_premise, old_beat, old_district)
                    bump(outcome_at(old_ts, old_k), *place, (0, 0, 0, -old_a, -old_i))
                    bump(new_out, *place, (0, 0, 0, new_a, new_i))
                con.executemany(
                    "INSERT INTO calls (call_id, ts, received_us, premise, beat, district,"
                    " call_type, violent, weapon, assault, injury, known_us, outcome_ts)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    inserts,
                )
                con.executemany(
                    "UPDATE calls SET assault = ?, injury = ?, known_us = ?, outcome_ts = ? "
                    "WHERE call_id = ?",
                    updates,
                )
                con.executemany(
                    "INSERT INTO area_days (kind, key, day, call, violent, weapon, assault,"
                    " injury)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, key, day) DO UPDATE SET "
                    "call = call + excluded.call, violent = violent + excluded.violent, "
                    "weapon = weapon + excluded.weapon, assault = assault + excluded.assault, "
                    "injury = injury + excluded.injury",
                    [(k[0], k[1], k[2], *v) for k, v in buckets.items()],
                )
                con.execute("COMMIT")
                _log_outcome_changes(changes, kept)
            except BaseException:
                # After a full disk SQLite has already rolled back; a second ROLLBACK would
                # raise "no transaction is active" and hide the real cause.
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
        return AppendResult(
            inserted=len(inserts), updated=len(updates), unchanged=unchanged, kept=kept
        )

    def bulk_load(self, events: pd.DataFrame, chunk_rows: int = 200_000) -> AppendResult:
        """Loads an events frame (e.g. a year of calls) in large transactions, with progress."""
        total = AppendResult(0, 0, 0)
        t0 = time.perf_counter()
        for start in range(0, len(events), chunk_rows):
            res = self.append_events(events.iloc[start : start + chunk_rows])
            total = AppendResult(
                total.inserted + res.inserted,
                total.updated + res.updated,
                total.unchanged + res.unchanged,
            )
            log.info(
                "history: loaded %s / %s calls (%.1fs)",
                f"{min(start + chunk_rows, len(events)):,}",
                f"{len(events):,}",
                time.perf_counter() - t0,
            )
        return total
