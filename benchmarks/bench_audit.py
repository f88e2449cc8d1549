"""Benchmark of the audit log: bytes per scored call, and the review page's queries at 1M calls.

    .venv/bin/python benchmarks/bench_audit.py [--workdir .bench/audit] [--score 20000]
                                               [--calls 1000000]

Set-up (skipped when present in --workdir): simulate a year of calls and train a small model
(the test suite's settings: 400 trees), registered in a SQLite MLflow store in --workdir (or the
store MLFLOW_TRACKING_URI names, when it already holds a champion; --data reuses its calls); load
all but the newest --score calls into a history store.

  1. Bytes per call: the newest --score calls are scored through `LiveAssessor.assess` (batches
     of 100, audited, exactly as the service writes them) into a fresh audit log; after VACUUM,
     bytes per call = file size / calls. The same entries in the previous format (one JSON text
     per call, the old table and indexes) are written beside it for comparison.
  2. Scale: the scored entries are repeated (new call ids, times spread over a year, so every
     district, tier and decision recurs) through the same `AuditLog.write`, in batches of 1,000,
     until the log holds --calls records; then the review page's routes are timed in process
     (Starlette TestClient, no network): /review/api/facets, /review/api/calls (newest first,
     highest first, one district highest first, a one-week window, tier + decision) and one
     call's page, each the median of 20 requests after one warm-up request.

Progress goes to stderr; the last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger("bench_audit")

REPO = Path(__file__).resolve().parents[1]
NAME = "call-risk"


def set_up(workdir: Path, calls: int, seed: int, data: Path | None = None) -> Path:
    """Simulated year + small champion (each step only when missing). MLFLOW_TRACKING_URI, when
    set, names a store that may already hold a champion (else: a SQLite store in `workdir`)."""
    from risk_model.batch.score import champion_info
    from risk_model.config import EvaluationConfig, ModelConfig, Settings

    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{workdir / 'mlflow.db'}")
    data = data or workdir / "calls.parquet"
    if not data.exists():
        from risk_model.simulate.files import simulate_to_file

        log.info("simulating %d calls", calls)
        simulate_to_file(data, calls=calls, seed=seed, start="2025-01-01", days=365)
    if champion_info(NAME) is None:
        from risk_model.training.pipeline import train

        settings = Settings(
            model=ModelConfig(n_estimators=400, early_stopping_rounds=40, learning_rate=0.06),
            evaluation=EvaluationConfig(bootstrap=20),
        )
        log.info("training a small model")
        cwd = os.getcwd()
        os.chdir(workdir)  # MLflow writes artifacts under ./mlruns of the working directory
        try:
            train(data, settings, experiment="bench-audit", register=NAME)
        finally:
            os.chdir(cwd)
    return data


def file_bytes(path: Path) -> int:
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("VACUUM")
    con.close()
    return path.stat().st_size


OLD_SCHEMA = """
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL, scored_at TEXT NOT NULL,
    received_at TEXT NOT NULL, district TEXT, call_type TEXT, risk_score REAL NOT NULL,
    risk_tier TEXT NOT NULL, decision TEXT NOT NULL, model TEXT NOT NULL, record TEXT NOT NULL);
CREATE INDEX audit_call ON audit (call_id);
CREATE INDEX audit_received ON audit (received_at);
"""


def previous_format_bytes(path: Path, entries: list[dict[str, Any]]) -> int:
    """The same entries as the previous format stored them: one JSON text per call."""
    from risk_model.service.audit_log import dumps

    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    con.executescript(OLD_SCHEMA)
    now = datetime.now().isoformat(timespec="seconds")
    con.executemany(
        "INSERT INTO audit (call_id, scored_at, received_at, district, call_type, risk_score, "
        "risk_tier, decision, model, record) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [
            (
                e["assessment"]["call_id"],
                now,
                e["call"]["received_at"],
                e["call"].get("district"),
                e["call"].get("call_type"),
                e["assessment"]["risk_score"],
                e["assessment"]["risk_tier"],
                e["assessment"]["decision"],
                "call-risk/1",
                dumps(e),
            )
            for e in entries
        ],
    )
    con.commit()
    con.close()
    return file_bytes(path)


def score_calls(workdir: Path, data: Path, n: int) -> tuple[Any, list[dict[str, Any]], dict]:
    """Scores the newest n calls into a fresh audit log; returns the assessor, the entries as
    logged and the size figures."""
    import pandas as pd

    from risk_model.batch.score import load_history_file
    from risk_model.features.store import SqliteHistoryStore
    from risk_model.model import tracking
    from risk_model.schema import CallRecord
    from risk_model.service.assessor import LiveAssessor
    from risk_model.service.audit_log import AuditLog

    calls = pd.read_parquet(data).sort_values("received_at", kind="stable")
    calls = calls.reset_index(drop=True)
    history_db = workdir / "history.db"
    if not history_db.exists():
        calls.iloc[:-n].to_parquet(workdir / "history.parquet", index=False)
        load_history_file(workdir / "history.parquet", history_db)
    model, _ = tracking.load_model(f"models:/{NAME}@champion")
    model.history = None
    audit_db = workdir / "audit_scored.db"
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(f"{audit_db}{suffix}").unlink(missing_ok=True)
    store = SqliteHistoryStore(history_db, model.settings.features)
    assessor = LiveAssessor(model, store, audit=AuditLog(audit_db))
    frame = calls.iloc[-n:].drop(columns=["officer_assaulted", "officer_injured"], errors="ignore")
    records = []
    for rec in frame.to_dict(orient="records"):
        clean = {k: (None if pd.isna(v) else v) for k, v in rec.items() if not isinstance(v, list)}
        records.append(CallRecord.model_validate(clean).to_row())
    t0 = time.perf_counter()
    for start in range(0, len(records), 100):
        assessor.assess(records[start : start + 100])
    seconds = time.perf_counter() - t0
    log.info("scored %d calls in %.1f s", len(records), seconds)
    rows = assessor.audit._con().execute("SELECT call_id FROM audit_entry").fetchall()
    entries = [assessor.audit.entry(r[0]) for r in rows]
    size = file_bytes(audit_db)
    old = previous_format_bytes(workdir / "audit_previous_format.db", entries)
    figures = {
        "scored_calls": len(records),
        "audit_bytes": size,
        "audit_bytes_per_call": round(size / len(records), 1),
        "previous_format_bytes_per_call": round(old / len(records), 1),
        "score_and_audit_ms_per_call_batch_100": round(seconds / len(records) * 1e3, 3),
    }
    # The audit write's share of a single /score: the same calls assessed one at a time,
    # audited and not (alternating, so load changes hit both alike).
    sample = records[:300]
    costs: dict[bool, list[float]] = {True: [], False: []}
    for rec in sample:
        for audited in (True, False):
            t = time.perf_counter()
            assessor.assess([rec], audit=audited)
            costs[audited].append(time.perf_counter() - t)
    figures["assess_one_ms_audited_vs_not"] = [
        round(statistics.median(costs[True]) * 1e3, 3),
        round(statistics.median(costs[False]) * 1e3, 3),
    ]
    # What the log stores: the compact numbers, not the words rendered from them.
    from risk_model.service.audit_log import _compact_contributions

    return assessor, [_compact_contributions(e) for e in entries], figures


def fill(audit: Any, entries: list[dict[str, Any]], total: int, batch: int = 1000) -> float:
    """Repeats `entries` through `audit.write` until the log holds `total` records."""
    start = datetime(2025, 1, 1)
    have = audit.count()
    t0 = time.perf_counter()
    i = 0
    while have < total:
        chunk = []
        for _ in range(min(batch, total - have)):
            e = entries[i % len(entries)]
            cid = f"B{i:08d}"
            when = (start + timedelta(seconds=(i * 31.536) % 31_536_000)).isoformat(
                timespec="seconds"
            )
            call = {**e["call"], "call_id": cid, "received_at": when}
            chunk.append({**e, "call": call, "assessment": {**e["assessment"], "call_id": cid}})
            i += 1
        audit.write(chunk)
        have += len(chunk)
        if have % 100_000 < batch:
            log.info("%d records (%.0f s)", have, time.perf_counter() - t0)
    return time.perf_counter() - t0


def time_routes(assessor: Any, call_id: str) -> dict[str, Any]:
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    if str(REPO) not in sys.path:  # serving/ is not an installed package
        sys.path.insert(0, str(REPO))
    from serving.review import create_review_app

    app = create_review_app(lambda: assessor, token=None)
    client = TestClient(Starlette(routes=[Mount("/review", app=app)]))
    district = client.get("/review/api/facets").json()["district"][0]
    routes = {
        "facets": ("/review/api/facets", {}),
        "calls_newest": ("/review/api/calls", {}),
        "calls_highest": ("/review/api/calls", {"sort": "score"}),
        "calls_lowest": ("/review/api/calls", {"sort": "score_asc"}),
        "calls_district_highest": ("/review/api/calls", {"district": district, "sort": "score"}),
        "calls_one_week": (
            "/review/api/calls",
            {"since": "2025-06-01", "until": "2025-06-08", "sort": "score"},
        ),
        "calls_high_cant_tell": (
            "/review/api/calls",
            {"tier": "high", "decision": "cant_tell", "sort": "score"},
        ),
        "one_call": (f"/review/api/calls/{call_id}", {}),
    }
    out: dict[str, Any] = {}
    for name, (path, params) in routes.items():
        first = time.perf_counter()
        resp = client.get(path, params=params)
        cold = time.perf_counter() - first
        if resp.status_code != 200:
            raise SystemExit(f"{path} {params}: {resp.status_code} {resp.text[:300]}")
        times = []
        for _ in range(20):
            t = time.perf_counter()
            client.get(path, params=params)
            times.append(time.perf_counter() - t)
        out[name] = {
            "median_ms": round(statistics.median(times) * 1e3, 2),
            "max_ms": round(max(times) * 1e3, 2),
            "first_ms": round(cold * 1e3, 2),
        }
        log.info("%s: %s", name, out[name])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", type=Path, default=REPO / ".bench" / "audit")
    p.add_argument("--simulate", type=int, default=80_000, help="Calls in the simulated year.")
    p.add_argument("--score", type=int, default=20_000, help="Calls scored through the assessor.")
    p.add_argument("--calls", type=int, default=1_000_000, help="Audit records for the timings.")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--data", type=Path, default=None, help="Simulated calls to reuse.")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    load = os.getloadavg()[0]
    data = set_up(args.workdir, args.simulate, args.seed, args.data)
    assessor, entries, figures = score_calls(args.workdir, data, args.score)
    big = args.workdir / "audit_1m.db"
    from risk_model.service.audit_log import AuditLog

    audit = AuditLog(big)
    if audit.count() > args.calls:
        raise SystemExit(f"{big} holds more than {args.calls} records: delete it")
    fill_seconds = fill(audit, entries, args.calls)
    assessor.audit = audit
    figures["records"] = audit.count()
    figures["fill_seconds"] = round(fill_seconds, 1)
    figures["fill_us_per_record"] = round(fill_seconds / max(1, args.calls) * 1e6, 1)
    figures["routes"] = time_routes(assessor, "B00000000")
    figures["file_bytes_at_records"] = big.stat().st_size
    figures["load_average_before_after"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
