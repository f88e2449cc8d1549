"""The audit log: every scored call, kept for supervisors, and how an entry is read back.

Split from the assessor (risk_model/service/assessor.py) because it is its own store with its
own readers: the review page, `risk-model audit-prune` and the benchmarks open it without a
model. `expand_entry` renders the compact contributions in words when a call is opened.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import struct
import threading
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import orjson

from risk_model.config import FeatureConfig
from risk_model.db import WriteLock, connect, write_check
from risk_model.features.registry import describe
from risk_model.service import audit_codec

log = logging.getLogger(__name__)


# What reading a damaged record raises: a corrupt page, a bad header, bad deflate or JSON.
_DAMAGE = (sqlite3.DatabaseError, ValueError, TypeError, KeyError, zlib.error, struct.error)


class DamagedRecord(Exception):
    """An audit record that cannot be read or decoded (a corrupt page, a bad record)."""


class AuditLog:
    """Every scored call, for supervisors: call facts, score, decision, reasons, precautions.

    SQLite in WAL mode; one connection per thread. Holds the call record as received (no personal
    data beyond it) and the assessment, compactly (risk_model/service/audit_codec.py: ~0.9 KB a
    call with its indexes instead of 4.2-8.8 KB), with the summary in indexed columns for the
    review page's queries. A log in the previous format (one JSON text per call) is converted in
    place when it is opened.
    """

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS audit_value (
        id    INTEGER PRIMARY KEY,
        kind  TEXT NOT NULL,
        value TEXT NOT NULL,
        UNIQUE (kind, value)
    );
    CREATE TABLE IF NOT EXISTS audit_zdict (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS audit_entry (
        id        INTEGER PRIMARY KEY,
        call_id   TEXT NOT NULL,
        received  INTEGER NOT NULL,
        scored    INTEGER NOT NULL,
        district  INTEGER,
        call_type INTEGER,
        score     REAL NOT NULL,
        tier      INTEGER NOT NULL,
        decision  INTEGER NOT NULL,
        model     INTEGER NOT NULL,
        latest    INTEGER NOT NULL,
        record    BLOB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS audit_entry_id ON audit_entry (call_id);
    -- A call scored again: its earlier records leave the list (one statement per record).
    CREATE TRIGGER IF NOT EXISTS audit_entry_latest AFTER INSERT ON audit_entry BEGIN
        UPDATE audit_entry SET latest = 0
        WHERE call_id = NEW.call_id AND latest = 1 AND id < NEW.id;
    END;
    -- The review list: the latest record per call, filtered, newest or highest first. One
    -- index per order and leading filter (`recent` names the one it reads); the other filters
    -- follow in each, so a rare combination is checked in the index, not in the records.
    CREATE INDEX IF NOT EXISTS audit_by_time
        ON audit_entry (received, tier, decision, district, call_type) WHERE latest = 1;
    CREATE INDEX IF NOT EXISTS audit_by_score
        ON audit_entry (score, tier, decision, district, call_type) WHERE latest = 1;
    CREATE INDEX IF NOT EXISTS audit_district_time
        ON audit_entry (district, received, tier, decision, call_type) WHERE latest = 1;
    CREATE INDEX IF NOT EXISTS audit_district_score
        ON audit_entry (district, score, tier, decision, call_type) WHERE latest = 1;
    CREATE INDEX IF NOT EXISTS audit_type_time
        ON audit_entry (call_type, received, tier, decision, district) WHERE latest = 1;
    CREATE INDEX IF NOT EXISTS audit_type_score
        ON audit_entry (call_type, score, tier, decision, district) WHERE latest = 1;
    CREATE INDEX IF NOT EXISTS audit_tier_score
        ON audit_entry (tier, score, decision, district, call_type) WHERE latest = 1;
    CREATE INDEX IF NOT EXISTS audit_decision_score
        ON audit_entry (decision, score, tier, district, call_type) WHERE latest = 1;
    """
    INSERT = (
        "INSERT INTO audit_entry (call_id, received, scored, district, call_type, score, tier,"
        " decision, model, latest, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)"
    )
    # Filter and facet name -> summary column (each an id into audit_value of that kind).
    VALUE_COLUMNS: ClassVar[dict[str, str]] = {
        "district": "district",
        "call_type": "call_type",
        "risk_tier": "tier",
        "decision": "decision",
    }
    MIGRATE_BATCH = 2000

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = WriteLock(self.path)
        self._ids: dict[tuple[str, str], int] = {}  # (kind, value) -> id; ids never change
        self._values: dict[int, tuple[str, str]] = {}
        self._key_ids: dict[tuple[str, ...], int | None] = {}  # a dict's keys -> id
        self._zdicts: dict[int, bytes] = {}
        self._zdict_id = 0  # the preset dictionary new records use (0 = none yet)
        con = self._con()
        con.execute("PRAGMA journal_mode=WAL")
        with self._write_lock:
            con.executescript(self.SCHEMA)
        self._migrate_v1()

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = connect(self.path)
        return con

    # ------------------------------------------------------------------ values and dictionaries

    def _value(self, id_: int | None) -> str | None:
        if id_ is None:
            return None
        if id_ not in self._values:
            row = (
                self._con()
                .execute("SELECT kind, value FROM audit_value WHERE id = ?", (id_,))
                .fetchone()
            )
            if row is None:
                return None
            self._values[id_] = (row[0], row[1])
        return self._values[id_][1]

    def _keys(self, id_: int) -> tuple[str, ...]:
        return tuple(json.loads(self._value(id_) or "[]"))

    def _lookup(self, kind: str, value: str) -> int | None:
        """The id of a known value, without writing (None: no record has it)."""
        key = (kind, value)
        if key not in self._ids:
            row = (
                self._con()
                .execute("SELECT id FROM audit_value WHERE kind = ? AND value = ?", key)
                .fetchone()
            )
            if row is None:
                return None
            self._ids[key] = row[0]
            self._values[row[0]] = key
        return self._ids[key]

    def _zdict(self, id_: int) -> bytes | None:
        if not id_:
            return None
        if id_ not in self._zdicts:
            row = (
                self._con().execute("SELECT data FROM audit_zdict WHERE id = ?", (id_,)).fetchone()
            )
            if row is None:
                raise ValueError(f"audit log: preset dictionary {id_} is missing")
            self._zdicts[id_] = bytes(row[0])
        return self._zdicts[id_]

    # ------------------------------------------------------------------ writing

    def write(self, entries: list[dict[str, Any]]) -> None:
        """Appends one record per entry (one transaction); a call scored again becomes the
        latest for its call_id in the review page's list.

        Usually every value and key list is known already: the records are then encoded before
        the write lock is taken and a single call is one INSERT statement.
        """
        now = datetime.now().isoformat(timespec="seconds")
        scored = [now] * len(entries)
        rows = None
        if self._zdict_id:
            try:
                rows = self._rows(entries, scored, self._known, self._known_keys, self._zdict_id)
            except _NotKnown:
                rows = None
        con = self._con()
        with self._write_lock:
            if rows is None:
                self._append(con, entries, scored)
            elif len(rows) == 1:  # one statement is its own transaction (autocommit)
                con.execute(self.INSERT, rows[0])
            else:
                con.execute("BEGIN IMMEDIATE")
                try:
                    con.executemany(self.INSERT, rows)
                except BaseException:
                    if con.in_transaction:  # SQLite has already rolled back after a full disk
                        con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")

    def _known(self, kind: str, value: str) -> int:
        found = self._ids.get((kind, value))
        if found is None:
            raise _NotKnown
        return found

    def _known_keys(self, keys: tuple[str, ...]) -> int | None:
        if keys not in self._key_ids:
            raise _NotKnown
        return self._key_ids[keys]

    def _rows(
        self,
        entries: list[dict[str, Any]],
        scored: list[str],
        intern: Callable[[str, str], int],
        keys_id: Callable[[tuple[str, ...]], int | None],
        zid: int,
    ) -> list[tuple]:
        """The INSERT parameters for `entries`, values and key lists as ids from `intern` and
        `keys_id`, deflated with preset dictionary `zid` (0 = none)."""
        zdict = self._zdict(zid)
        rows = []
        for e, when in zip(entries, scored, strict=True):
            a, call = e["assessment"], e["call"]
            district, call_type = call.get("district"), call.get("call_type")
            model = orjson.dumps([str(a["model"]["name"]), str(a["model"]["version"])])
            data = orjson.dumps(
                audit_codec.pack(audit_codec.body(e), keys_id),
                default=str,
                option=orjson.OPT_SERIALIZE_NUMPY,
            )
            rows.append(
                (
                    str(a["call_id"]),
                    audit_codec.to_seconds(call["received_at"]),
                    audit_codec.to_seconds(when),
                    None if district is None else intern("district", str(district)),
                    None if call_type is None else intern("call_type", str(call_type)),
                    float(a["risk_score"]),
                    intern("risk_tier", str(a["risk_tier"])),
                    intern("decision", str(a["decision"])),
                    intern("model", model.decode()),
                    audit_codec.encode_json(data, zid, zdict),
                )
            )
        return rows

    def _append(
        self,
        con: sqlite3.Connection,
        entries: list[dict[str, Any]],
        scored: list[str],
        also: str | None = None,
        also_args: tuple = (),
    ) -> None:
        """Writes `entries` in one transaction, adding the values, key lists and (once) the
        preset dictionary they need; `also` is one more statement in the same transaction.
        Call with the write lock held."""
        pending: dict[tuple[str, str], int] = {}
        pending_keys: dict[tuple[str, ...], int | None] = {}

        def intern(kind: str, value: str) -> int:
            key = (kind, value)
            found = self._ids.get(key) or pending.get(key)
            if found is None:
                con.execute("INSERT OR IGNORE INTO audit_value (kind, value) VALUES (?, ?)", key)
                found = con.execute(
                    "SELECT id FROM audit_value WHERE kind = ? AND value = ?", key
                ).fetchone()[0]
                pending[key] = found
            return found

        def keys_id(keys: tuple[str, ...]) -> int | None:
            if keys in self._key_ids:
                return self._key_ids[keys]
            if keys not in pending_keys:
                text = audit_codec.keys_text(keys)
                pending_keys[keys] = None if text is None else intern("keys", text)
            return pending_keys[keys]

        con.execute("BEGIN IMMEDIATE")
        try:
            zid = self._zdict_id or self._current_zdict(con, entries, keys_id)
            con.executemany(self.INSERT, self._rows(entries, scored, intern, keys_id, zid))
            if also:
                con.execute(also, also_args)
        except BaseException:
            if con.in_transaction:  # SQLite has already rolled back after a full disk
                con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        for key, id_ in pending.items():  # only ids that are now committed
            self._ids[key] = id_
            self._values[id_] = key
        self._key_ids.update(pending_keys)
        self._zdict_id = zid

    def _current_zdict(
        self,
        con: sqlite3.Connection,
        entries: list[dict[str, Any]],
        keys_id: Callable[[tuple[str, ...]], int | None],
    ) -> int:
        """The preset dictionary for new records: made once, from the log's first records,
        when it holds ZDICT_SAMPLES of them (before that, records are deflated without one).
        Inside the write transaction: another process may have made it meanwhile."""
        row = con.execute("SELECT MAX(id) FROM audit_zdict").fetchone()
        if row[0] is not None:
            return int(row[0])
        n = audit_codec.ZDICT_SAMPLES
        earlier = con.execute(
            "SELECT record FROM audit_entry ORDER BY id DESC LIMIT ?", (n,)
        ).fetchall()
        samples = [audit_codec.decode_json(bytes(r[0]), None) for r in reversed(earlier)]
        samples += [
            orjson.dumps(
                audit_codec.pack(audit_codec.body(e), keys_id),
                default=str,
                option=orjson.OPT_SERIALIZE_NUMPY,
            )
            for e in entries[-n:]
        ]
        if len(samples) < n:
            return 0
        zdict = audit_codec.make_zdict(samples[-n:])
        cur = con.execute("INSERT INTO audit_zdict (data) VALUES (?)", (zdict,))
        self._zdicts[int(cur.lastrowid)] = zdict
        return int(cur.lastrowid)

    def _migrate_v1(self) -> None:
        """Converts a log in the previous format (table `audit`, one JSON text per call) in
        place, a batch per transaction (an interrupted conversion resumes), then drops it.

        The freed pages are reused by new records; `risk-model audit-prune --vacuum` returns
        them to the file system.
        """
        con = self._con()
        moved = 0
        while True:
            with self._write_lock:
                old = con.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit'"
                ).fetchone()
                if old is None:
                    break
                rows = con.execute(
                    "SELECT id, scored_at, record FROM audit ORDER BY id LIMIT ?",
                    (self.MIGRATE_BATCH,),
                ).fetchall()
                if not rows:
                    con.execute("DROP TABLE audit")
                    log.info(
                        "audit log %s: %d records converted to the compact format",
                        self.path,
                        moved,
                    )
                    break
                entries = [_compact_contributions(json.loads(r[2])) for r in rows]
                # Converted and deleted in one transaction: a crash never converts a batch twice.
                self._append(
                    con,
                    entries,
                    [r[1] for r in rows],
                    "DELETE FROM audit WHERE id <= ?",
                    (rows[-1][0],),
                )
                moved += len(rows)

    # ------------------------------------------------------------------ reading

    def recent(
        self,
        limit: int = 200,
        district: str | None = None,
        call_type: str | None = None,
        tier: str | None = None,
        decision: str | None = None,
        since: str | None = None,
        until: str | None = None,
        order: str = "time",
    ) -> list[dict[str, Any]]:
        """The latest assessment per call, filtered, summary fields only; `order` "time" (newest
        first), "score" (highest first) or "score_asc". The limit applies after ordering, so
        "score" gives the highest-scored matching calls, not the highest of the newest.
        Times compare to the second; every query reads one index in order."""
        orders = {
            "time": "received DESC, id DESC",
            "score": "score DESC, received DESC, id DESC",
            "score_asc": "score ASC, received DESC, id DESC",
        }
        if order not in orders:
            raise ValueError(f"order must be one of {', '.join(orders)}")
        where, args = ["latest = 1"], []
        for kind, value in (
            ("district", district),
            ("call_type", call_type),
            ("risk_tier", tier),
            ("decision", decision),
        ):
            if value:
                id_ = self._lookup(kind, value)
                if id_ is None:
                    return []  # no record has this value
                where.append(f"{self.VALUE_COLUMNS[kind]} = ?")
                args.append(id_)
        if since:
            where.append("received >= ?")
            args.append(audit_codec.to_seconds(since))
        if until:
            where.append("received < ?")
            args.append(audit_codec.to_seconds(until))
        by = "time" if order == "time" else "score"
        if district:
            index = f"audit_district_{by}"
        elif call_type:
            index = f"audit_type_{by}"
        elif tier and by == "score":
            index = "audit_tier_score"
        elif decision and by == "score":
            index = "audit_decision_score"
        else:  # newest first (tier and decision checked in the index) or no filter
            index = f"audit_by_{by}"
        sql = (
            "SELECT id, call_id, scored, received, district, call_type, score, tier, decision, "
            f"model FROM audit_entry INDEXED BY {index} WHERE {' AND '.join(where)} "
            f"ORDER BY {orders[order]} LIMIT ?"
        )
        rows = self._con().execute(sql, [*args, int(limit)]).fetchall()
        out = []
        for r in rows:
            try:
                out.append(self._summary(r))
            except (ValueError, TypeError, OverflowError) as exc:  # a damaged record
                log.warning("audit log %s: record %s skipped: damaged (%s)", self.path, r[0], exc)
        return out

    def _summary(self, row: tuple) -> dict[str, Any]:
        id_, call_id, scored, received, district, call_type, score, tier, decision, model = row
        name, version = json.loads(self._value(model) or '["?", "?"]')
        return {
            "id": id_,
            "call_id": call_id,
            "scored_at": audit_codec.from_seconds(scored),
            "received_at": audit_codec.from_seconds(received),
            "district": self._value(district),
            "call_type": self._value(call_type),
            "risk_score": score,
            "risk_tier": self._value(tier),
            "decision": self._value(decision),
            "model": f"{name}/{version}",
        }

    def entry(self, call_id: str) -> dict[str, Any] | None:
        """The latest full record of a call; None if it was never audited. A record that
        cannot be read or decoded raises DamagedRecord (one line saying so), never anything
        a caller would have to guess at."""
        try:
            row = (
                self._con()
                .execute(
                    "SELECT call_id, score, tier, decision, model, record FROM audit_entry "
                    "WHERE call_id = ? ORDER BY id DESC LIMIT 1",
                    (call_id,),
                )
                .fetchone()
            )
            return None if row is None else expand_entry(self._decode(row))
        except (
            sqlite3.DatabaseError,
            ValueError,
            TypeError,
            KeyError,
            zlib.error,
            struct.error,
        ) as exc:
            log.warning(
                "audit log %s: the record of call %s is damaged: %s",
                self.path,
                ascii(call_id),
                exc,
            )
            raise DamagedRecord(
                f"the audit record of call {call_id!r} is damaged and cannot be shown "
                f"({type(exc).__name__})"
            ) from None

    def _decode(self, row: tuple) -> dict[str, Any]:
        call_id, score, tier, decision, model, blob = row
        blob = bytes(blob)
        _, zid = audit_codec.header(blob)
        data = orjson.loads(audit_codec.decode_json(blob, self._zdict(zid)))
        entry = audit_codec.unpack(data, self._keys)
        name, version = json.loads(self._value(model) or '["?", "?"]')
        entry["assessment"] = {
            "call_id": call_id,
            "risk_score": score,
            "risk_tier": self._value(tier),
            "decision": self._value(decision),
            **entry.get("assessment", {}),
            "model": {"name": name, "version": version},
        }
        return entry

    def prune(self, keep_days: int, vacuum: bool = False, now: datetime | None = None) -> dict:
        """Deletes records scored more than `keep_days` ago (an agency's retention policy).

        Safe while the service runs (writes queue on the write lock). Deleted pages are reused
        by later records; `vacuum` also shrinks the file, which locks it for the duration.
        """
        if keep_days < 1:
            raise ValueError("keep_days must be at least 1")
        cutoff = ((now or datetime.now()) - timedelta(days=keep_days)).isoformat(
            timespec="seconds"
        )
        con = self._con()
        with self._write_lock:
            deleted = con.execute(
                "DELETE FROM audit_entry WHERE scored < ?", (audit_codec.to_seconds(cutoff),)
            ).rowcount
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if vacuum:
            con.execute("VACUUM")
        return {
            "audit_db": str(self.path),
            "deleted": deleted,
            "kept": self.count(),
            "scored_before": cutoff,
            "file_bytes": self.path.stat().st_size,
        }

    def facets(self) -> dict[str, list[str]]:
        """Distinct values for the review page's filters: the known values (a small table) that
        some latest record still has (one index probe each), not a scan of the log."""
        con = self._con()
        out = {}
        for kind, col in self.VALUE_COLUMNS.items():
            rows = con.execute(
                "SELECT v.value FROM audit_value v WHERE v.kind = ? AND EXISTS (SELECT 1 FROM "
                f"audit_entry c WHERE c.latest = 1 AND c.{col} = v.id) ORDER BY v.value",
                (kind,),
            ).fetchall()
            out[kind] = [r[0] for r in rows]
        return out

    def count(self) -> int:
        return int(self._con().execute("SELECT COUNT(*) FROM audit_entry").fetchone()[0])

    def ping(self) -> None:
        """Raises when the log cannot be read (a cheap query, unlike COUNT(*))."""
        self._con().execute("SELECT id FROM audit_entry LIMIT 1").fetchall()

    def probe(self) -> None:
        """Raises if the log cannot take a write now (risk_model.db.write_check)."""
        con = self._con()
        with self._write_lock:
            write_check(con, self.path)


def expand_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """An audit entry with its contributions in words ({base, items[feature, contribution,
    text]}, largest first), from the compact numbers stored per call."""
    contrib = entry.get("contributions") or {}
    if "items" in contrib or "values" not in contrib:
        return entry
    cfg = FeatureConfig(near_repeat_days=int(contrib.get("near_repeat_days", 14)))
    row = entry.get("features") or {}
    items = [
        {
            "feature": label,
            "contribution": value,
            "text": describe("hour_sin" if label == "hour" else label, row, cfg),
        }
        for label, value in zip(contrib["labels"], contrib["values"], strict=True)
    ]
    items.sort(key=lambda d: -abs(d["contribution"]))
    return {**entry, "contributions": {"base": contrib["base"], "items": items}}


class _NotKnown(Exception):
    """A value or key list the audit log has not stored yet (write it in a transaction)."""


def _compact_contributions(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry of an older log with its contributions in words ({base, items}) back to the
    numbers `expand_entry` renders (the words are the same for the same features)."""
    contrib = entry.get("contributions") or {}
    if "items" not in contrib:
        return entry
    items = contrib["items"]
    compact = {
        "base": contrib.get("base", 0.0),
        "labels": [d["feature"] for d in items],
        "values": [d["contribution"] for d in items],
        "near_repeat_days": FeatureConfig().near_repeat_days,
    }
    return {**entry, "contributions": compact}


def dumps(value: Any) -> str:
    """JSON text for audit records and answers (orjson: numpy scalars, NaN as null)."""
    return orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY).decode()
