"""Audit retention: `risk-model audit-prune` deletes records older than the agency keeps."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.service.audit_log import AuditLog


def _entry(call_id: str) -> dict:
    return {
        "call": {"call_id": call_id, "received_at": "2025-01-01T00:00:00", "district": "D1"},
        "assessment": {
            "call_id": call_id,
            "risk_score": 0.01,
            "risk_tier": "low",
            "decision": "low",
            "model": {"name": "call-risk", "version": "1"},
        },
    }


def test_prune_keeps_the_retention_window(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.db")
    audit.write([_entry(f"C{i}") for i in range(5)])
    soon = datetime.now() + timedelta(days=2)
    kept = audit.prune(keep_days=3, now=soon)  # written 2 days before "now": kept
    assert (kept["deleted"], kept["kept"]) == (0, 5)
    gone = audit.prune(keep_days=1, now=soon, vacuum=True)
    assert (gone["deleted"], gone["kept"]) == (5, 0)
    assert audit.entry("C1") is None


def test_the_command_reports_what_it_deleted(tmp_path: Path) -> None:
    AuditLog(tmp_path / "audit.db").write([_entry("C1")])
    args = ["audit-prune", "--audit-db", str(tmp_path / "audit.db"), "--keep-days", "30"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["deleted"], summary["kept"]) == (0, 1)
