"""Live assessment: what the service does per call, without HTTP.

`LiveAssessor` ties the trained model, the history store, the precaution rules and the audit log
(service/audit_log.py) together. The BentoML service validates input and calls `assess` /
`ingest`; the benchmarks call the same methods to measure the in-process floor. No pandas frame
is built on the scoring path.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from risk_model.features.build import online_features
from risk_model.features.store import AppendResult, HistoryStore
from risk_model.model.assessment import Assessed, ModelInfo
from risk_model.model.bundle import CallRiskModel
from risk_model.model.precautions import RuleFile, load_rules
from risk_model.service.audit_log import AuditLog, expand_entry

log = logging.getLogger(__name__)

# What a failed write to SQLite raises: a full disk or a read-only file is an OperationalError
# ("database or disk is full", "attempt to write a readonly database"); an I/O error can also
# surface as OSError.
WRITE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.DatabaseError, OSError)
# Readiness turns off below this much free space under the history store or the audit log:
# ~200 audit records, so traffic moves elsewhere before writes start to fail.
MIN_FREE_BYTES = 1 << 20

ADVISORY = "Advisory only: a person decides. The score is a calibrated probability, not a verdict."


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
        self.info = info or model.info
        self.cfg = model.settings.features
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
            cause = write_error_cause(exc, path if isinstance(path, Path) else None)
            reason = f"{target} {path} not writable: {cause}"
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
        self,
        calls: list[dict[str, Any]],
        audit: bool = True,
        detail: bool = False,
        extra_warnings: Sequence[Sequence[str]] | None = None,
    ) -> list[dict[str, Any]]:
        """SPEC §4 assessments for validated call records, in order.

        The model makes each assessment (`CallRiskModel.assess_features`, the path offline
        scoring and the pyfunc take); this adds what is live: features and premise incidents
        from the history store, and the audit record. With `detail`, each assessment also
        carries every grouped contribution and the features used. `extra_warnings` (one list
        per call) are what reading the request found (an EIDO part not read): added to the
        answer before it is audited, so the audit log holds what was answered.
        """
        feats = online_features(calls, self.store, self.cfg)
        keep = audit or detail
        ids = [str(c["call_id"]) for c in calls]
        res = self.model.assess_features(
            feats, ids, self.store, self.rules, self.info, keep_incidents=keep
        )
        out = [a.as_dict() for a in res.assessments]
        for a, extra in zip(out, extra_warnings or (), strict=False):
            a["warnings"] = [*a["warnings"], *extra]
        entries = []
        if keep:
            for i, call in enumerate(calls):
                entries.append(
                    {
                        "call": {k: _jsonable(v) for k, v in call.items()},
                        "assessment": out[i],
                        "features": res.rows[i],
                        "premise_incidents": [inc.__dict__ for inc in res.incidents[i]],
                        "precaution_programs": res.programs[i],
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

    def _all_contributions(self, res: Assessed, i: int) -> dict[str, Any]:
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


def write_error_cause(exc: BaseException, path: Path | str | None = None) -> str:
    """The cause of a failed write in a few words ("database or disk is full").

    With the file's `path`, a read-only mount is named as such: SQLite only says "unable to
    open database file" or "attempt to write a readonly database", which sends an operator
    looking at file permissions rather than at the mount."""
    if path is not None:
        try:
            if os.statvfs(Path(path).parent).f_flag & os.ST_RDONLY:
                return f"its file system ({Path(path).parent}) is mounted read-only"
        except OSError:
            pass
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _probe_store(store: HistoryStore) -> None:
    check = getattr(store, "write_check", None)
    if check is not None:
        check()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value
