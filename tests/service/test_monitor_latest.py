"""The latest monitor report beside the audit log: written atomically by `risk-model monitor`,
exported as Prometheus gauges (`/monitor/metrics`) and read by the review page's Live view
(`/review/api/monitor`, behind the review session). No trained model needed."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from risk_model.monitor.latest import (
    LATEST_NAME,
    latest_path,
    prometheus_text,
    read_latest,
    write_latest,
)
from risk_model.review.session import ReviewSessions
from serving.monitor_metrics import PROMETHEUS_TYPE, create_metrics_app
from serving.review import create_review_app

TOKEN = "latest-t0ken_for-tests-0123456789abcdef"


def _report(verdict: str = "watch") -> dict[str, Any]:
    return {
        "verdict": verdict,
        "reasons": ["watch: district SOUTH: observed harm rate 2.00% vs predicted 0.40% (5.00x)"],
        "model": "call-risk/3",
        "calls_scored": 7000,
        "outcomes_known": 6500,
        "observed_rate": 0.0061,
        "predicted_rate": 0.0032,
        "window": {"from": "2025-12-10T00:00:00", "to": "2025-12-31T23:00:00", "days": 30},
        "versions": {
            "call-risk/3": {"psi": {"score": 0.04, "features": {"call_type": 0.31, "hour": 0.01}}}
        },
        "daily": [
            {
                "day": "2025-12-10",
                "calls_scored": 300,
                "outcomes_known": 290,
                "observed_rate": 0.01,
                "predicted_rate": 0.003,
            },
        ],
        "feedback_loop": {"window_days": 30, "premises": 4, "excess": 1.5},
    }


def _gauge(text: str, name: str) -> float:
    lines = [ln for ln in text.splitlines() if ln.startswith(name + " ")]
    assert len(lines) == 1, text
    return float(lines[0].split()[1])


def test_written_atomically_beside_the_audit_log_and_read_back(tmp_path: Path) -> None:
    audit = tmp_path / "svc" / "audit.db"
    out = write_latest(_report(), audit)
    assert out == latest_path(audit) == tmp_path / "svc" / LATEST_NAME
    assert [p.name for p in out.parent.iterdir()] == [LATEST_NAME]  # no temporary file left
    report, why = read_latest(audit)
    assert why is None and report is not None
    assert report["verdict"] == "watch" and report["file_modified"] > 0


def test_missing_or_broken_file_says_why(tmp_path: Path) -> None:
    audit = tmp_path / "audit.db"
    report, why = read_latest(audit)
    assert report is None and "run `risk-model monitor`" in why
    latest_path(audit).write_text("{not json")
    report, why = read_latest(audit)
    assert report is None and why.startswith(f"cannot read {LATEST_NAME}")
    latest_path(audit).write_text(json.dumps({"something": 1}))
    assert read_latest(audit) == (None, f"{LATEST_NAME} is not a monitor report")


def test_prometheus_gauges_carry_the_verdicts_figures(tmp_path: Path) -> None:
    text = prometheus_text(_report("retrain"))
    assert _gauge(text, "call_risk_monitor_report_available") == 1
    assert _gauge(text, "call_risk_monitor_verdict_level") == 2
    assert _gauge(text, "call_risk_monitor_observed_harm_rate") == 0.0061
    assert _gauge(text, "call_risk_monitor_predicted_harm_rate") == 0.0032
    assert _gauge(text, "call_risk_monitor_calls_scored") == 7000
    assert _gauge(text, "call_risk_monitor_outcomes_known") == 6500
    assert _gauge(text, "call_risk_monitor_max_feature_psi") == 0.31
    assert _gauge(text, "call_risk_monitor_score_psi") == 0.04
    assert "# TYPE call_risk_monitor_verdict_level gauge" in text
    # a figure the report does not have is left out, never exported as 0
    partial = _report("ok")
    partial["observed_rate"] = None
    text = prometheus_text(partial)
    assert "call_risk_monitor_observed_harm_rate" not in text
    assert _gauge(text, "call_risk_monitor_verdict_level") == 0
    none = prometheus_text(None)
    assert _gauge(none, "call_risk_monitor_report_available") == 0
    assert "verdict_level" not in none


def test_metrics_route_reads_the_latest_file_on_every_scrape(tmp_path: Path) -> None:
    audit = tmp_path / "audit.db"
    app = create_metrics_app(lambda: SimpleNamespace(audit_db=audit))
    client = TestClient(Starlette(routes=[Mount("/monitor", app=app)]))
    resp = client.get("/monitor/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == PROMETHEUS_TYPE
    assert _gauge(resp.text, "call_risk_monitor_report_available") == 0
    write_latest(_report("retrain"), audit)
    resp = client.get("/monitor/metrics")
    assert _gauge(resp.text, "call_risk_monitor_verdict_level") == 2


def test_review_live_route_is_behind_the_session(tmp_path: Path) -> None:
    audit = tmp_path / "audit.db"
    assessor = SimpleNamespace(audit=SimpleNamespace(path=audit))
    app = create_review_app(
        lambda: assessor, token=TOKEN, sessions=ReviewSessions.for_token(TOKEN, b"k" * 32)
    )
    client = TestClient(Starlette(routes=[Mount("/review", app=app)]))
    assert client.get("/review/api/monitor").status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = client.get("/review/api/monitor", headers=auth).json()
    assert body["available"] is False and "risk-model monitor" in body["why"]
    write_latest(_report(), audit)
    body = client.get("/review/api/monitor", headers=auth).json()
    assert body["available"] is True and body["why"] is None
    assert body["report"]["verdict"] == "watch"
    assert body["report"]["daily"][0]["day"] == "2025-12-10"


ODD_SHAPES = [
    {"verdict": "watch", "versions": ["not", "a", "map"], "model": "m"},
    {"verdict": "watch", "versions": {"m": [1, 2]}, "model": "m"},
    {"verdict": "watch", "versions": {}, "model": ["unhashable"]},
    {"verdict": "watch", "versions": {"m": {"psi": "high"}}, "model": "m"},
    {
        "verdict": "watch",
        "versions": {"m": {"psi": {"features": [0.3], "score": "x"}}},
        "model": "m",
    },
    {"verdict": ["ok"], "observed_rate": "0.1", "calls_scored": {"n": 1}, "outcomes_known": True},
    {"verdict": "ok", "observed_rate": float("nan"), "predicted_rate": 1e400},
]


@pytest.mark.parametrize("report", ODD_SHAPES)
def test_an_unexpected_report_shape_never_breaks_a_scrape(tmp_path: Path, report: dict) -> None:
    """Issue 22, N10: `/monitor/metrics` (and `/metrics`, which appends the same gauges)
    answered 500 for a monitor_latest.json of an unexpected shape."""
    audit = tmp_path / "audit.db"
    write_latest(report, audit)
    app = create_metrics_app(lambda: SimpleNamespace(audit_db=audit))
    client = TestClient(Starlette(routes=[Mount("/monitor", app=app)]))
    resp = client.get("/monitor/metrics")
    assert resp.status_code == 200, resp.text
    assert _gauge(resp.text, "call_risk_monitor_report_available") == 1
    for line in resp.text.splitlines():  # every exported value is a finite number
        if line and not line.startswith("#"):
            assert math.isfinite(float(line.split()[-1])), line


def test_an_unreadable_report_is_named_without_the_server_path(tmp_path: Path) -> None:
    audit = tmp_path / "audit.db"
    path = write_latest(_report(), audit)
    path.write_text("[" * 100_000 + "]" * 100_000)  # deeper than any JSON reader goes
    report, why = read_latest(audit)
    assert report is None and why.startswith("cannot read monitor_latest.json")
    assert str(tmp_path) not in why
