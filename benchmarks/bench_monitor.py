"""Benchmark of `risk-model monitor`: wall time and peak memory over a large audit log.

    .venv/bin/python benchmarks/bench_monitor.py [--workdir .bench/monitor] [--calls 1000000]
                                                 [--written 100000] [--days 400]

Set-up (skipped when the files in --workdir already hold --calls records):
  1. --written synthetic assessments (every model feature, reasons, precautions, warnings, the
     grouped contributions: ~1 KB records like the service's) are written through
     `AuditLog.write` in batches of 1,000, exactly the service's encoding;
  2. the log is grown to --calls records by copying those compact records inside SQLite with new
     call ids and receive times spread over a year (writing 1M through `AuditLog.write` takes
     ~8 minutes on this machine: docs/benchmarks.md, audit log);
  3. a history store (the service's schema) gets 90% of the calls with an outcome drawn from
     their score, so the model is calibrated by construction, at 50,000 premises.

Then `monitor()` runs in a fresh child process (scores, outcomes, calibration, ranking with 100
bootstrap replicates, coverage, decisions, warnings by district, PSI of the score and every
feature on a 200,000-record decoded sample, the feedback-loop watch) against a reference built
from the same world; its wall time and peak RSS are reported. The last stdout line is one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("bench_monitor")
DISTRICTS = [f"D{i}" for i in range(1, 8)]
TYPES = ["DISTURBANCE", "DOMESTIC", "ALARM", "THEFT", "TRAFFIC", "WELFARE", "ASSAULT", "NOISE"]


def _features(rng: np.random.Generator, n: int) -> pd.DataFrame:
    from risk_model.features.registry import CATEGORICAL, FEATURE_NAMES

    cols: dict[str, Any] = {}
    for name in FEATURE_NAMES:
        if name in CATEGORICAL:
            cols[name] = rng.choice(TYPES, n)
        elif (
            name.startswith(("hour_", "prem_violent_share", "prem_weapon_share")) or "rate" in name
        ):
            cols[name] = np.round(rng.random(n).astype(np.float32), 4).astype(float)
        else:
            cols[name] = rng.poisson(2, n).astype(float)
    return pd.DataFrame(cols)


def _entry(i: int, feats: dict[str, Any], score: float, when: str, labels: list[str]) -> dict:
    decision = "high" if score > 0.08 else "low" if score < 0.015 else "cant_tell"
    warnings = []
    if i % 40 == 0:
        warnings.append(f"unknown_call_type: 'X{i % 7}' was rare or unseen in training")
    if decision == "cant_tell":
        warnings.append("cant_tell: the data cannot separate high from low risk for this call")
    return {
        "call": {
            "call_id": f"c{i}",
            "received_at": when,
            "district": DISTRICTS[i % len(DISTRICTS)],
            "beat": f"B{i % 60}",
            "call_type": feats["call_type"],
            "priority": 2,
            "address": f"{100 + i % 5000} MAIN ST",
        },
        "assessment": {
            "call_id": f"c{i}",
            "risk_score": round(score, 6),
            "risk_tier": "high" if score > 0.1 else "elevated" if score > 0.04 else "low",
            "decision": decision,
            "reasons": [
                {"feature": "call_type", "text": f"Call type {feats['call_type']}", "weight": 0.3},
                {"feature": "prem_calls_365d", "text": "Several calls here", "weight": 0.1},
            ],
            "precautions": [],
            "model": {"name": "call-risk", "version": "1"},
            "warnings": warnings,
        },
        "features": feats,
        "premise_incidents": [],
        "precaution_programs": {},
        "contributions": {
            "base": -3.9,
            "labels": labels,
            "values": [round(float(v), 5) for v in np.sin(np.arange(len(labels)) + i)],
            "near_repeat_days": 14,
        },
    }


def set_up(workdir: Path, calls: int, written: int, seed: int = 0) -> dict[str, Any]:
    from risk_model.model.reference import reference_from
    from risk_model.service.audit_log import AuditLog

    workdir.mkdir(parents=True, exist_ok=True)
    audit_db, history_db = workdir / "audit.db", workdir / "history.db"
    rng = np.random.default_rng(seed)
    ref_feats = _features(rng, 50_000)
    ref_scores = rng.beta(1.2, 40, 50_000)
    reference = reference_from(ref_feats, ref_scores)
    summary = {
        "conformal_alpha": 0.1,
        "metrics": {"model": {"auc": 0.5, "share_high": 0.1, "share_low": 0.4}},
    }
    out: dict[str, Any] = {
        "audit": audit_db,
        "history": history_db,
        "summary": summary,
        "ref": reference,
    }
    if not (audit_db.exists() and AuditLog(audit_db).count() >= calls):
        for p in (audit_db, history_db):
            p.unlink(missing_ok=True)
        out.update(_fill_audit(audit_db, calls, written, rng))
    if not history_db.exists():
        _fill_history(audit_db, history_db, rng)
    return out


def _fill_audit(audit_db: Path, calls: int, written: int, rng: np.random.Generator) -> dict:
    from risk_model.service.audit_log import AuditLog

    audit = AuditLog(audit_db)
    labels = [f"g{j}" for j in range(30)]
    feats = _features(rng, written).to_dict("records")
    scores = rng.beta(1.2, 40, written)
    t0 = time.perf_counter()
    for start in range(0, written, 1000):
        batch = [
            _entry(
                i,
                feats[i],
                float(scores[i]),
                pd.Timestamp("2025-01-01") + pd.Timedelta(seconds=int(i * 31_536_000 / written)),
                labels,
            )
            for i in range(start, min(written, start + 1000))
        ]
        for e in batch:
            e["call"]["received_at"] = e["call"]["received_at"].isoformat()
        audit.write(batch)
    write_s = time.perf_counter() - t0
    log.info("wrote %d records through AuditLog.write in %.0f s", written, write_s)
    con = sqlite3.connect(audit_db)
    t0 = time.perf_counter()
    copies = -(-calls // written) - 1
    for k in range(1, copies + 1):
        con.execute(
            "INSERT INTO audit_entry (call_id, received, scored, district, call_type, score, "
            "tier, decision, model, latest, record) SELECT call_id || '-' || ?, "
            "received + ? % 31536000, scored, district, call_type, score, tier, decision, model,"
            " 1, record FROM audit_entry WHERE id <= ? ORDER BY id LIMIT ?",
            (k, k * 3_600 * 7, written, calls - written * k),
        )
        con.commit()
    copy_s = time.perf_counter() - t0
    total = con.execute("SELECT COUNT(*) FROM audit_entry").fetchone()[0]
    con.close()
    log.info("copied to %d records in %.0f s", total, copy_s)
    return {"written_s": round(write_s, 1), "copy_s": round(copy_s, 1)}


def _fill_history(audit_db: Path, history_db: Path, rng: np.random.Generator) -> None:
    """90% of the audited calls with an outcome drawn from the score, at 50,000 premises (the
    feedback-loop watch reads their calls before and after each premise's first flag)."""
    from risk_model.features.store import SqliteHistoryStore

    con = sqlite3.connect(audit_db)
    rows = con.execute("SELECT call_id, score, received FROM audit_entry").fetchall()
    con.close()
    SqliteHistoryStore(history_db)  # the service's schema and indexes
    hist = sqlite3.connect(history_db)
    keep = rng.random(len(rows)) < 0.9
    harm = rng.random(len(rows))
    premise = rng.integers(0, 50_000, len(rows))
    hist.executemany(
        "INSERT INTO calls (call_id, ts, premise, violent, weapon, assault, injury)"
        " VALUES (?, ?, ?, 0, 0, ?, 0)",
        [
            (cid, t * 1_000_000, f"P{p}", int(h < s))
            for (cid, s, t), k, h, p in zip(rows, keep, harm, premise, strict=True)
            if k
        ],
    )
    hist.commit()
    hist.close()


CHILD = """
import json, resource, sys, time
from risk_model.monitor.job import monitor
args = json.loads(sys.argv[1])
art = json.load(open(args["artifacts"]))
t0 = time.perf_counter()
r = monitor(args["audit"], args["history"], days=args["days"], artifacts=art)
secs = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": round(secs, 2), "peak_rss_mb": round(peak), "verdict": r["verdict"],
                  "calls_scored": r["calls_scored"], "outcomes_known": r["outcomes_known"],
                  "decoded_sample": r["decoded_sample"], "reasons": r["reasons"],
                  "feedback_loop": {k: v for k, v in r["feedback_loop"].items()
                                    if not k.startswith("what_")}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", type=Path, default=Path(".bench/monitor"))
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--written", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=400)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    files = set_up(a.workdir, a.calls, min(a.written, a.calls))
    art = a.workdir / "artifacts.json"
    art.write_text(json.dumps({"summary": files["summary"], "reference": files["ref"]}))
    args = {"audit": str(files["audit"]), "history": str(files["history"]), "days": a.days}
    args["artifacts"] = str(art)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result.update({k: files[k] for k in ("written_s", "copy_s") if k in files})
    result["audit_mb"] = round(files["audit"].stat().st_size / 1e6)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
