"""The audit log's compact record: read back word for word, under 1 KB a call, indexed for the
review page's queries, and a log in the previous format still opens (converted in place)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from risk_model.features.registry import FEATURE_NAMES
from risk_model.service.audit_log import AuditLog, expand_entry

DISTRICTS = ["NORTH", "SOUTH", "EAST", "WEST", "CENTRAL", "SOUTHEAST", "NORTHWEST"]
TYPES = ["DOMESTIC DISTURBANCE", "THEFT", "ASSAULT", "MISCHIEF", "SUSPICIOUS PERSON", "ALARM"]
PRECAUTIONS = {
    "two_officer_response": (
        "Dispatch at least two officers; wait for cover before contact",
        "Two-officer response policy (agency SOP 4.12)",
    ),
    "premise_history_brief": (
        "Brief responding officers on prior incidents at this address",
        "Premise hazard notification program",
    ),
    "stage_for_ems": (
        "Stage EMS nearby until the scene is secured",
        "Joint police-fire staging protocol",
    ),
}


def make_entry(i: int, rng: np.random.Generator, call_id: str | None = None) -> dict[str, Any]:
    """An audit entry shaped as LiveAssessor writes it: the call as received, the assessment,
    every feature, dated premise incidents, precaution programs and every contribution."""
    cid = call_id or f"C-{i:07d}"
    district = DISTRICTS[i % len(DISTRICTS)]
    call_type = TYPES[int(rng.integers(len(TYPES)))]
    received = f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i % 59:02d}"
    call = {
        "call_id": cid,
        "received_at": received,
        "call_type": call_type,
        "priority": int(rng.integers(1, 5)),
        "source": "911",
        "address": f"{100 * int(rng.integers(1, 90))} BLOCK E CEDAR BLVD",
        "latitude": round(35 + float(rng.random()), 6),
        "longitude": round(-97 - float(rng.random()), 6),
        "beat": str(100 + i % 40),
        "district": district,
        "premise_type": "APARTMENT",
        "weapon_reported": bool(rng.random() < 0.1),
        "domestic": bool(rng.random() < 0.3),
        "mental_health": None,
        "intoxication": None,
        "in_progress": bool(rng.random() < 0.5),
        "narrative": "RP STATES BF PUSHED HER, HE IS STILL ON SCENE, UNK WEAPONS",
    }
    features: dict[str, Any] = {}
    for name in FEATURE_NAMES:
        if name in ("call_type", "call_family", "source", "premise_type", "district", "beat"):
            features[name] = call.get(name, "disturbance")
        elif "sin" in name or "cos" in name or "rate" in name or "dist" in name:
            features[name] = float(np.float32(rng.normal()))  # the model's matrix is float32
        else:
            features[name] = int(rng.poisson(0.7))
    values = np.round(rng.normal(0, 0.2, len(FEATURE_NAMES)), 5).tolist()
    score = round(float(rng.beta(1, 200)), 6)
    reasons = [
        {
            "feature": FEATURE_NAMES[j],
            "value": features[FEATURE_NAMES[j]],
            "contribution": round(values[j], 4),
            "text": f"{int(rng.integers(0, 4))} assaults on officers at this address this year",
        }
        for j in rng.choice(len(FEATURE_NAMES), 3, replace=False)
    ]
    chosen = list(PRECAUTIONS)[: 1 + i % 3]
    tier = ["low", "elevated", "high"][i % 3]
    decision = ["low", "cant_tell", "high"][(i // 3) % 3]
    return {
        "call": call,
        "assessment": {
            "call_id": cid,
            "risk_score": score,
            "risk_tier": tier,
            "decision": decision,
            "reasons": reasons,
            "precautions": [
                {"id": p, "text": PRECAUTIONS[p][0], "because": [reasons[0]["feature"]]}
                for p in chosen
            ],
            "model": {"name": "call-risk", "version": str(1 + i % 2)},
            "warnings": (
                [
                    "cant_tell: the data cannot separate high from low risk for this call; "
                    "rely on the call facts"
                ]
                if decision == "cant_tell"
                else []
            ),
        },
        "features": features,
        "premise_incidents": [
            {
                "received_at": f"2024-{1 + k:02d}-0{1 + k}T10:00:00",
                "call_type": "ASSAULT",
                "violent": True,
                "weapon": k == 0,
                "assault": k == 1,
                "injury": False,
            }
            for k in range(i % 4)
        ],
        "precaution_programs": {p: PRECAUTIONS[p][1] for p in chosen},
        "contributions": {
            "base": -5.12345,
            "labels": list(FEATURE_NAMES),
            "values": values,
            "near_repeat_days": 14,
        },
    }


def test_an_entry_reads_back_word_for_word(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    audit = AuditLog(tmp_path / "audit.db")
    entries = [make_entry(i, rng) for i in range(80)]
    entries[3]["features"]["prem_days_since_violent"] = 66.154  # not a float32: kept as is
    entries[4]["features"]["call_type"] = None
    audit.write(entries[:10])  # before the preset dictionary exists
    for e in entries[10:]:  # one call at a time, as /score writes
        audit.write([e])
    for e in entries[::7]:
        got = audit.entry(e["call"]["call_id"])
        assert got == expand_entry(json.loads(json.dumps(e)))


def test_a_call_takes_under_1_kb(tmp_path: Path) -> None:
    """The previous format took ~4.2 KB a scored call; the target is under 1 KB with indexes."""
    rng = np.random.default_rng(2)
    path = tmp_path / "audit.db"
    audit = AuditLog(path)
    n = 3000
    for start in range(0, n, 100):
        audit.write([make_entry(i, rng) for i in range(start, start + 100)])
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("VACUUM")
    con.close()
    per_call = path.stat().st_size / n
    assert per_call < 1024, f"{per_call:.0f} bytes a call"


def test_a_call_scored_again_is_listed_once_with_its_latest_answer(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    audit = AuditLog(tmp_path / "audit.db")
    first, again = make_entry(1, rng, "C-1"), make_entry(2, rng, "C-1")
    audit.write([first, make_entry(3, rng)])
    audit.write([again])
    rows = [r for r in audit.recent() if r["call_id"] == "C-1"]
    assert len(rows) == 1 and rows[0]["risk_score"] == again["assessment"]["risk_score"]
    assert audit.entry("C-1")["assessment"]["risk_score"] == again["assessment"]["risk_score"]
    # Twice in one batch: the later one counts.
    a, b = make_entry(4, rng, "C-2"), make_entry(5, rng, "C-2")
    audit.write([a, b])
    rows = [r for r in audit.recent() if r["call_id"] == "C-2"]
    assert [r["risk_score"] for r in rows] == [b["assessment"]["risk_score"]]
    assert audit.count() == 5


def test_filters_orders_and_facets(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    audit = AuditLog(tmp_path / "audit.db")
    entries = [make_entry(i, rng) for i in range(300)]
    audit.write(entries)
    north = [e for e in entries if e["call"]["district"] == "NORTH"]
    got = audit.recent(limit=1000, district="NORTH", order="score")
    assert [r["risk_score"] for r in got] == sorted(
        (e["assessment"]["risk_score"] for e in north), reverse=True
    )
    assert {r["district"] for r in got} == {"NORTH"}
    times = sorted(e["call"]["received_at"] for e in entries)
    window = audit.recent(limit=1000, since=times[50], until=times[200])
    assert sorted(r["received_at"] for r in window) == [
        t for t in times if times[50] <= t < times[200]
    ]
    high = audit.recent(limit=1000, tier="high", decision="cant_tell", call_type="THEFT")
    assert {r["call_id"] for r in high} == {
        e["call"]["call_id"]
        for e in entries
        if e["assessment"]["risk_tier"] == "high"
        and e["assessment"]["decision"] == "cant_tell"
        and e["call"]["call_type"] == "THEFT"
    }
    assert audit.recent(district="NOWHERE") == []
    facets = audit.facets()
    assert facets["district"] == sorted(DISTRICTS)
    assert facets["risk_tier"] == ["elevated", "high", "low"]
    assert set(facets["call_type"]) <= set(TYPES)


def _plan(con: sqlite3.Connection, sql: str, args: list) -> str:
    return " | ".join(r[-1] for r in con.execute(f"EXPLAIN QUERY PLAN {sql}", args))


def test_review_queries_read_indexes_not_the_whole_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every review query (each filter, each order, the facets) searches an index; none scans
    the log (the previous format scanned it for the facets and for every list)."""
    rng = np.random.default_rng(5)
    audit = AuditLog(tmp_path / "audit.db")
    audit.write([make_entry(i, rng) for i in range(50)])
    con = audit._con()
    plans: list[str] = []
    real_execute = sqlite3.Connection.execute

    class Spy:
        def __init__(self, inner: sqlite3.Connection) -> None:
            self.inner = inner

        def execute(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
            if sql.lstrip().upper().startswith("SELECT") and "audit_entry" in sql:
                plans.append(_plan(self.inner, sql, list(args)))
            return real_execute(self.inner, sql, args)

    monkeypatch.setattr(audit._local, "con", Spy(con))
    audit.facets()
    for order in ("time", "score", "score_asc"):
        audit.recent(order=order)
        audit.recent(order=order, district="NORTH")
        audit.recent(order=order, since="2025-03-01", until="2025-06-01")
    audit.recent(tier="high")
    audit.recent(decision="cant_tell")
    audit.recent(call_type="THEFT")
    assert plans
    for plan in plans:
        for step in plan.split(" | "):
            assert not (step.startswith("SCAN") and "INDEX" not in step), plan


def _previous_format(path: Path, entries: list[dict[str, Any]]) -> None:
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL, scored_at TEXT NOT NULL,
            received_at TEXT NOT NULL, district TEXT, call_type TEXT, risk_score REAL NOT NULL,
            risk_tier TEXT NOT NULL, decision TEXT NOT NULL, model TEXT NOT NULL,
            record TEXT NOT NULL);
        CREATE INDEX audit_call ON audit (call_id);
        """
    )
    for e in entries:
        a, c = e["assessment"], e["call"]
        con.execute(
            "INSERT INTO audit (call_id, scored_at, received_at, district, call_type, "
            "risk_score, risk_tier, decision, model, record) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                a["call_id"],
                "2025-12-01T10:00:00",
                c["received_at"],
                c["district"],
                c["call_type"],
                a["risk_score"],
                a["risk_tier"],
                a["decision"],
                f"{a['model']['name']}/{a['model']['version']}",
                json.dumps(e),
            ),
        )
    con.commit()
    con.close()


def test_a_log_in_the_previous_format_is_converted_in_place(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    path = tmp_path / "audit.db"
    entries = [make_entry(i, rng) for i in range(2500)]
    entries.append(make_entry(9, rng, entries[0]["call"]["call_id"]))  # scored again later
    # One record from before the contributions were stored as numbers (words kept inline).
    entries[5] = expand_entry(entries[5])
    _previous_format(path, entries)

    audit = AuditLog(path)
    assert audit.count() == len(entries)
    tables = {r[0] for r in audit._con().execute("SELECT name FROM sqlite_master")}
    assert "audit" not in tables
    assert audit.entry(entries[10]["call"]["call_id"]) == expand_entry(entries[10])
    assert audit.entry(entries[5]["call"]["call_id"]) == entries[5]
    first = entries[0]["call"]["call_id"]
    assert audit.entry(first)["assessment"] == entries[-1]["assessment"]
    listed = audit.recent(limit=1000, order="score")
    assert len({r["call_id"] for r in listed}) == len(listed)
    assert listed[0]["scored_at"] == "2025-12-01T10:00:00"
    AuditLog(path)  # opening it again is a no-op
    assert audit.count() == len(entries)


def test_an_interrupted_conversion_resumes_without_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between converting a batch and deleting it from the old table would convert it
    twice; both happen in one transaction, so a crash at the delete loses nothing and adds
    nothing."""
    import risk_model.service.audit_log as audit_module

    rng = np.random.default_rng(7)
    path = tmp_path / "audit.db"
    entries = [make_entry(i, rng) for i in range(2500)]
    _previous_format(path, entries)
    real_connect = audit_module.connect
    deletes = {"n": 0}

    class CrashAtSecondDelete:
        def __init__(self, con: sqlite3.Connection) -> None:
            self.con = con

        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
            if sql.startswith("DELETE FROM audit "):
                deletes["n"] += 1
                if deletes["n"] == 2:
                    raise OSError("killed")
            return self.con.execute(sql, *args)

        def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
            return self.con.executemany(sql, rows)

        def executescript(self, sql: str) -> sqlite3.Cursor:
            return self.con.executescript(sql)

        @property
        def in_transaction(self) -> bool:
            return self.con.in_transaction

    monkeypatch.setattr(audit_module, "connect", lambda p: CrashAtSecondDelete(real_connect(p)))
    with pytest.raises(OSError):
        AuditLog(path)
    monkeypatch.setattr(audit_module, "connect", real_connect)
    audit = AuditLog(path)
    assert deletes["n"] == 2
    assert audit.count() == len(entries)
    ids = [r[0] for r in audit._con().execute("SELECT call_id FROM audit_entry")]
    assert sorted(ids) == sorted(e["call"]["call_id"] for e in entries)
