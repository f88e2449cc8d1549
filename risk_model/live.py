"""Live assessment: what the service does per call, without HTTP.

`LiveAssessor` ties the trained model, the history store, the precaution rules and the audit log
together. The BentoML service validates input and calls `assess` / `ingest`; the benchmarks call
the same methods to measure the in-process floor. No pandas frame is built on the scoring path.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from risk_model.config import FeatureConfig
from risk_model.db import WriteLock, connect, write_check
from risk_model.explain import grouped_contributions, reasons_for_row
from risk_model.features.build import online_features
from risk_model.features.history import US_PER_DAY
from risk_model.features.registry import FEATURE_NAMES, describe
from risk_model.features.store import AppendResult, HistoryStore, PremiseIncident
from risk_model.precautions import RuleFile, evaluate_rules, load_rules
from risk_model.scoring import CallRiskModel
from risk_model.training.calibrate import tier

log = logging.getLogger(__name__)

# What a failed write to SQLite raises: a full disk or a read-only file is an OperationalError
# ("database or disk is full", "attempt to write a readonly database"); an I/O error can also
# surface as OSError.
WRITE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.DatabaseError, OSError)
# Readiness turns off below this much free space under the history store or the audit log:
# ~200 audit records, so traffic moves elsewhere before writes start to fail.
MIN_FREE_BYTES = 1 << 20

ADVISORY = "Advisory only: a person decides. The score is a calibrated probability, not a verdict."
PREMISE_PLACEHOLDER = "{premise_incidents}"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str


@dataclass
class _Explained:
    """One batch explained: per-call outputs plus the grouped contribution matrix."""

    risk_score: np.ndarray
    risk_tier: np.ndarray
    decision: np.ndarray
    reasons: list[list[dict[str, Any]]]
    raising: list[list[str]]
    rows: list[dict[str, Any]]  # feature values per call, plain Python (NaN -> None)
    labels: list[str]
    grouped: np.ndarray  # calls x labels, log-odds
    base: np.ndarray


def incident_words(incidents: list[PremiseIncident]) -> str:
    """Dated prior incidents in words, e.g. '2025-03-02 assault on an officer (DOMESTIC ...)'."""
    if not incidents:
        return "no dated incidents on record in the history store"
    # Same day, same kind of incident: one entry with a count, so a busy address reads as a
    # short list of dates, not ten copies of one line.
    grouped: dict[tuple[str, str], int] = {}
    for inc in incidents:
        what = []
        if inc.assault:
            what.append("assault on an officer")
        if inc.injury:
            what.append("officer injured")
        if not what and inc.weapon:
            what.append("weapon involved")
        if not what and inc.violent:
            what.append("violent or disturbance call")
        kind = f" ({inc.call_type})" if inc.call_type else ""
        key = (inc.received_at[:10], f"{', '.join(what)}{kind}")
        grouped[key] = grouped.get(key, 0) + 1
    return "; ".join(
        f"{day} {what}" + (f" x{count}" if count > 1 else "")
        for (day, what), count in grouped.items()
    )


class StoreUnavailable(RuntimeError):
    """A write to the history store or the audit log failed (disk full, read-only, I/O error).

    The message names the file and the cause; the service answers 503 with it and is not ready
    until a write to that file succeeds again.
    """


@dataclass(frozen=True)
class RepeatedRow:
    """A row of an ingest batch whose call_id an earlier row of the same batch already had.

    `merged`: its values were added to the earlier row (`fields`: those it filled in, possibly
    none). Otherwise it contradicts the earlier row and was not ingested (`fields`: where).
    """

    index: int
    call_id: str
    earlier: int
    merged: bool
    fields: tuple[str, ...]
    values: tuple[tuple[Any, Any], ...] = ()  # (earlier, this row) per conflicting field


def merge_repeated_calls(
    rows: Sequence[tuple[int, dict[str, Any]]],
) -> tuple[list[dict[str, Any]], list[RepeatedRow]]:
    """One record per call_id from (position, record) pairs, and what happened to each repeat.

    The history store keeps one row per call, so a batch that names a call twice (the call,
    then its outcome) must become one record before it is written: a later row fills in what
    the earlier one left unknown (None), and a later row that contradicts a known value (call
    facts or an outcome) is rejected with the fields named. Nothing a caller sent is dropped
    without being reported.
    """
    first: dict[str, tuple[int, dict[str, Any]]] = {}
    out: list[dict[str, Any]] = []
    repeats: list[RepeatedRow] = []
    for index, row in rows:
        cid = str(row["call_id"])
        if cid not in first:
            merged = dict(row)
            first[cid] = (index, merged)
            out.append(merged)
            continue
        at, merged = first[cid]
        conflicts = [
            k
            for k, v in row.items()
            if v is not None and merged.get(k) is not None and merged[k] != v
        ]
        if conflicts:
            values = tuple((merged[k], row[k]) for k in conflicts)
            repeats.append(RepeatedRow(index, cid, at, False, tuple(conflicts), values))
            continue
        added = [k for k, v in row.items() if v is not None and merged.get(k) is None]
        for k in added:
            merged[k] = row[k]
        repeats.append(RepeatedRow(index, cid, at, True, tuple(added)))
    return out, repeats


class AuditLog:
    """Every scored call, for supervisors: call facts, score, decision, reasons, precautions.

    SQLite in WAL mode; one connection per thread. Holds the call record as received (no personal
    data beyond it) and the assessment.
    """

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS audit (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id     TEXT NOT NULL,
        scored_at   TEXT NOT NULL,
        received_at TEXT NOT NULL,
        district    TEXT,
        call_type   TEXT,
        risk_score  REAL NOT NULL,
        risk_tier   TEXT NOT NULL,
        decision    TEXT NOT NULL,
        model       TEXT NOT NULL,
        record      TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS audit_call ON audit (call_id);
    CREATE INDEX IF NOT EXISTS audit_received ON audit (received_at);
    """
    INSERT = (
        "INSERT INTO audit (call_id, scored_at, received_at, district, call_type, risk_score,"
        " risk_tier, decision, model, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = WriteLock(self.path)
        con = self._con()
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(self.SCHEMA)

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = connect(self.path)
        return con

    def write(self, entries: list[dict[str, Any]]) -> None:
        now = datetime.now().isoformat(timespec="seconds")
        rows = [
            (
                e["assessment"]["call_id"],
                now,
                e["call"]["received_at"],
                e["call"].get("district"),
                e["call"].get("call_type"),
                e["assessment"]["risk_score"],
                e["assessment"]["risk_tier"],
                e["assessment"]["decision"],
                f"{e['assessment']['model']['name']}/{e['assessment']['model']['version']}",
                dumps(e),
            )
            for e in entries
        ]
        con = self._con()
        with self._write_lock:
            if len(rows) == 1:  # one statement is its own transaction (autocommit)
                con.execute(self.INSERT, rows[0])
                return
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany(self.INSERT, rows)
            except BaseException:
                if con.in_transaction:  # SQLite has already rolled back after a full disk
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

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
        "score" gives the highest-scored matching calls, not the highest of the newest."""
        orders = {
            "time": "received_at DESC, id DESC",
            "score": "risk_score DESC, received_at DESC, id DESC",
            "score_asc": "risk_score ASC, received_at DESC, id DESC",
        }
        if order not in orders:
            raise ValueError(f"order must be one of {', '.join(orders)}")
        where, args = [], []
        for col, value in (
            ("district", district),
            ("call_type", call_type),
            ("risk_tier", tier),
            ("decision", decision),
        ):
            if value:
                where.append(f"{col} = ?")
                args.append(value)
        if since:
            where.append("received_at >= ?")
            args.append(since)
        if until:
            where.append("received_at < ?")
            args.append(until)
        sql = (
            "SELECT id, call_id, scored_at, received_at, district, call_type, risk_score, "
            f"risk_tier, decision, model FROM audit WHERE id IN (SELECT MAX(id) FROM audit "
            f"GROUP BY call_id) {('AND ' + ' AND '.join(where)) if where else ''} "
            f"ORDER BY {orders[order]} LIMIT ?"
        )
        cur = self._con().execute(sql, [*args, int(limit)])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def entry(self, call_id: str) -> dict[str, Any] | None:
        row = (
            self._con()
            .execute(
                "SELECT record FROM audit WHERE call_id = ? ORDER BY id DESC LIMIT 1", (call_id,)
            )
            .fetchone()
        )
        return None if row is None else expand_entry(json.loads(row[0]))

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
            deleted = con.execute("DELETE FROM audit WHERE scored_at < ?", (cutoff,)).rowcount
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
        """Distinct values for the review page's filters."""
        con = self._con()
        out = {}
        for col in ("district", "call_type", "risk_tier", "decision"):
            rows = con.execute(
                f"SELECT DISTINCT {col} FROM audit WHERE {col} IS NOT NULL ORDER BY {col}"
            ).fetchall()
            out[col] = [r[0] for r in rows]
        return out

    def count(self) -> int:
        return int(self._con().execute("SELECT COUNT(*) FROM audit").fetchone()[0])

    def ping(self) -> None:
        """Raises when the log cannot be read (a cheap query, unlike COUNT(*))."""
        self._con().execute("SELECT id FROM audit LIMIT 1").fetchall()

    def probe(self) -> None:
        """Raises if the log cannot take a write now (risk_model.db.write_check)."""
        con = self._con()
        with self._write_lock:
            write_check(con, self.path)


class LiveAssessor:
    """Scores live calls from the history store; ingests calls and outcomes into it."""

    def __init__(
        self,
        model: CallRiskModel,
        store: HistoryStore,
        rules: RuleFile | None = None,
        audit: AuditLog | None = None,
        info: ModelInfo | None = None,
    ) -> None:
        self.model = model
        self.store = store
        self.rules = rules or load_rules()
        self.audit = audit
        self.info = info or ModelInfo(
            str(model.metadata.get("name", "call-risk")), str(model.metadata.get("version", "?"))
        )
        self.cfg = model.settings.features
        until = model.metadata.get("history_until")
        self._data_until_us = int(np.datetime64(until, "us").astype(np.int64)) if until else None
        # "audit log" / "history store" -> why its last write failed; cleared by a good write.
        self._write_failures: dict[str, str] = {}

    @property
    def write_failure(self) -> str | None:
        """Why the last write to the audit log or history store failed, or None if it did not."""
        failures = list(self._write_failures.values())
        return "; ".join(failures) if failures else None

    def _written(self, target: str, path: Any, write: Any, *args: Any) -> Any:
        """Runs one write to `target`; a failure is remembered (readiness reports it) and raised
        as StoreUnavailable naming the file and the cause; a success clears it."""
        try:
            result = write(*args)
        except WRITE_ERRORS as exc:
            reason = f"{target} {path} not writable: {write_error_cause(exc)}"
            self._write_failures[target] = reason
            raise StoreUnavailable(reason) from exc
        self._write_failures.pop(target, None)
        return result

    def storage_problem(self, min_free: int = MIN_FREE_BYTES) -> str | None:
        """Why the files cannot take writes now, as the filesystem says: read-only, (nearly)
        full, or no write permission; None if none of these.

        Every worker sees the same filesystem, so readiness tells the truth in all of them,
        not only in the one whose write happened to fail. Two system calls per file.
        """
        files = [("history store", getattr(self.store, "path", None))]
        if self.audit is not None:
            files.append(("audit log", self.audit.path))
        for target, path in files:
            if path is None:
                continue
            path = Path(path)
            try:
                st = os.statvfs(path.parent)
            except OSError as exc:
                return f"{target} {path}: {write_error_cause(exc)}"
            if st.f_flag & os.ST_RDONLY:
                return f"{target} {path} not writable: read-only file system"
            free = st.f_bavail * st.f_frsize
            if free < min_free:
                return (
                    f"{target} {path} not writable: disk full "
                    f"({free // 1024:,} KB free on its file system)"
                )
            if path.exists() and not os.access(path, os.W_OK):
                return f"{target} {path} not writable: permission denied"
        return None

    def check_writes(self, only_failed: bool = True) -> None:
        """The write check (risk_model.db.write_check) on each store, by default only those
        whose last write failed: readiness retries it, so the service is ready again as soon
        as space is freed or the file is writable again. Raises StoreUnavailable naming the
        first failure."""
        targets: list[tuple[str, Any, Any]] = [
            ("history store", getattr(self.store, "path", "?"), lambda: _probe_store(self.store))
        ]
        if self.audit is not None:
            targets.append(("audit log", self.audit.path, self.audit.probe))
        for target, path, probe in targets:
            if not only_failed or target in self._write_failures:
                self._written(target, path, probe)

    def assess(
        self, calls: list[dict[str, Any]], audit: bool = True, detail: bool = False
    ) -> list[dict[str, Any]]:
        """SPEC §4 assessments for validated call records, in order.

        One TreeSHAP pass per call gives the score, the reasons, the rule inputs and (for the
        audit log and the review page) every grouped contribution. With `detail`, each
        assessment also carries those contributions and the features used.
        """
        feats = online_features(calls, self.store, self.cfg)
        res = self._explain(feats)
        known_type = self.model.encoder.is_known("call_type", feats["call_type"])
        keep = audit or detail
        out, entries = [], []
        for i, call in enumerate(calls):
            row = res.rows[i]
            tier = str(res.risk_tier[i])
            decision = str(res.decision[i])
            precautions = evaluate_rules(self.rules, row, res.raising[i], tier, decision)
            premise = feats["_premise"][i]
            incidents: list[PremiseIncident] | None = None
            if premise is not None and (
                keep or any(PREMISE_PLACEHOLDER in p["text"] for p in precautions)
            ):
                incidents = self.store.premise_incidents(premise, int(feats["_ts"][i]))
            for p in precautions:
                if PREMISE_PLACEHOLDER in p["text"]:
                    p["text"] = p["text"].replace(
                        PREMISE_PLACEHOLDER, incident_words(incidents or [])
                    )
            assessment = {
                "call_id": str(call["call_id"]),
                "risk_score": round(float(res.risk_score[i]), 6),
                "risk_tier": tier,
                "decision": decision,
                "reasons": res.reasons[i],
                "precautions": [
                    {"id": p["id"], "text": p["text"], "because": p["because"]}
                    for p in precautions
                ],
                "model": {"name": self.info.name, "version": self.info.version},
                "warnings": self._warnings(call, feats, i, bool(known_type[i]), decision),
            }
            out.append(assessment)
            if keep:
                entries.append(
                    {
                        "call": {k: _jsonable(v) for k, v in call.items()},
                        "assessment": assessment,
                        "features": row,
                        "premise_incidents": [inc.__dict__ for inc in incidents or []],
                        "precaution_programs": {p["id"]: p["program"] for p in precautions},
                        "contributions": self._all_contributions(res, i),
                    }
                )
                if detail:
                    entries[-1] = expand_entry(entries[-1])
        if audit and self.audit is not None and entries:
            try:
                self._written("audit log", self.audit.path, self.audit.write, entries)
            except StoreUnavailable as exc:
                # Not silent: the caller gets a 503 and the log keeps what was assessed.
                log.error(
                    "%s: %d assessment(s) not returned because they could not be audited: %s",
                    exc,
                    len(out),
                    ", ".join(f"{a['call_id']} (risk {a['risk_score']})" for a in out[:50]),
                )
                raise
        if detail:
            for a, e in zip(out, entries, strict=True):
                a["detail"] = {k: v for k, v in e.items() if k not in ("assessment",)}
        return out

    def _explain(self, feats: dict[str, Any]) -> _Explained:
        """Score, tier, decision and reasons from one `pred_contrib` pass, keeping every grouped
        contribution for the audit detail.

        These are the steps of `CallRiskModel.assess` (tests/service/test_live.py proves the two
        agree call for call); `assess` discards the contribution matrix, and computing it a
        second time for the audit log doubled the per-call cost of the explanation.
        """
        model = self.model
        x = model.matrix(feats)
        contrib = model.contributions(x)
        margin = contrib.sum(axis=1)
        score = model.calibrator.transform(margin)
        tiers = model.settings.tiers
        labels, grouped = grouped_contributions(contrib[:, :-1], model.encoder.feature_names)
        k = model.settings.service.top_reasons
        columns = [_plain_column(feats[name]) for name in FEATURE_NAMES]
        rows = [
            dict(zip(FEATURE_NAMES, values, strict=True)) for values in zip(*columns, strict=True)
        ]
        return _Explained(
            risk_score=score,
            risk_tier=tier(score, model.base_rate, tiers.elevated_multiple, tiers.high_multiple),
            decision=model.conformal.decide(margin),
            reasons=[
                [r.as_dict() for r in reasons_for_row(labels, grouped[i], rows[i], k, self.cfg)]
                for i in range(len(x))
            ],
            raising=[[labels[j] for j in np.flatnonzero(grouped[i] > 0)] for i in range(len(x))],
            rows=rows,
            labels=labels,
            grouped=grouped,
            base=contrib[:, -1],
        )

    def _all_contributions(self, res: _Explained, i: int) -> dict[str, Any]:
        """Every grouped contribution and the base value, stored compactly (numbers only).

        The words are rendered when a supervisor opens the call (`expand_entry`), not on the
        request path: it halves the audit record and the per-call cost of writing it.
        """
        return {
            "base": round(float(res.base[i]), 5),
            "labels": res.labels,
            "values": res.grouped[i].round(5).tolist(),
            "near_repeat_days": self.cfg.near_repeat_days,
        }

    def _warnings(
        self, call: dict[str, Any], feats: dict[str, Any], i: int, known_type: bool, decision: str
    ) -> list[str]:
        warnings = []
        if not known_type:
            warnings.append(
                f"unknown_call_type: {feats['call_type'][i]!r} was rare or unseen in training; "
                "it is scored as OTHER"
            )
        if feats["_premise"][i] is None:
            warnings.append(
                "no_premise_history: no address or coordinates, premise history unused"
            )
        missing_area = [k for k in ("beat", "district") if feats[f"_{k}"][i] is None]
        if missing_area:
            warnings.append(
                f"no_area_history: no {' or '.join(missing_area)} given, "
                f"{' and '.join(missing_area)} history unused"
            )
        if self._data_until_us is not None:
            age_days = (int(feats["_ts"][i]) - self._data_until_us) / US_PER_DAY
            limit = self.model.settings.service.stale_model_days
            if age_days > limit:
                warnings.append(
                    "stale_model: trained on data up to "
                    f"{self.model.metadata['history_until'][:10]},"
                    f" {age_days:.0f} days before this call (limit {limit}); retrain"
                )
        if decision == "cant_tell":
            warnings.append(
                "cant_tell: the data cannot separate high from low risk for this call; "
                "rely on the call facts"
            )
        return warnings

    def ping(self) -> None:
        """Raises when the history store or the audit log cannot be read (for readiness)."""
        meta = getattr(self.store, "meta", None)
        if meta is not None:
            meta("schema")  # one primary-key lookup; COUNT(*) would scan a year of calls
        else:
            self.store.count()
        if self.audit is not None:
            self.audit.ping()

    def ingest(self, calls: list[dict[str, Any]]) -> AppendResult:
        """Adds validated calls (and outcomes) to the history store in one transaction.

        Repeated call_ids must already be merged (`merge_repeated_calls`): the store keeps one
        row per call. A failed write raises StoreUnavailable; nothing of the batch is stored.
        """
        t0 = time.perf_counter()
        ids = [str(c["call_id"]) for c in calls]
        if len(set(ids)) != len(ids):
            raise ValueError("repeated call_id in one ingest batch: merge_repeated_calls first")
        result = self._written(
            "history store", getattr(self.store, "path", "?"), self.store.append, calls
        )
        log.debug("ingest %d calls in %.1f ms", len(calls), (time.perf_counter() - t0) * 1e3)
        return result


def write_error_cause(exc: BaseException) -> str:
    """The cause of a failed write in a few words ("database or disk is full")."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _probe_store(store: HistoryStore) -> None:
    check = getattr(store, "write_check", None)
    if check is not None:
        check()


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


def dumps(value: Any) -> str:
    """JSON text for audit records and answers (orjson: numpy scalars, NaN as null)."""
    return orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _plain_column(values: Any) -> list[Any]:
    """A feature column as Python values, NaN as None (one `tolist`, not a call per cell)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        return [None if v != v else v for v in arr.tolist()]
    if arr.dtype.kind in "iub":
        return arr.tolist()
    return [_plain(v) for v in arr.tolist()]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value
