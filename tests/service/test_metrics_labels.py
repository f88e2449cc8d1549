"""`/metrics` labels requests by route template, so nobody can grow the scrape (issue 22, N1).

BentoML labelled each request by its raw path before any credential or route was checked: every
distinct unauthenticated `GET /review/<anything>` added ~20 series, for the life of the process.
The service now labels by route template, every unknown path under one label. No trained model is
needed: the service is built without one (it answers 503 to scoring) in a child process that has
its own Prometheus folder, as `bentoml serve` gives each server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from serving.middleware import UNKNOWN_ROUTE, RouteLabels

LABELS = RouteLabels(
    {"/score", "/metrics", "/healthz"},
    {
        "/review": ("", "/", "/api/calls", "/api/calls/{call_id:path}", "/static/{path:path}"),
        "/monitor": ("/metrics",),
    },
)


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/score", "/score"),
        ("/metrics", "/metrics"),
        ("/review", "/review"),
        ("/review/", "/review/"),
        ("/review/api/calls", "/review/api/calls"),
        ("/review/api/calls/C-1/x", "/review/api/calls/{call_id:path}"),
        ("/review/static/review.js", "/review/static/{path:path}"),
        ("/review/nope-123", f"/review/{UNKNOWN_ROUTE}"),
        ("/review/api/calls\n", f"/review/{UNKNOWN_ROUTE}"),
        ("/reviewer", UNKNOWN_ROUTE),
        ("/monitor/metrics", "/monitor/metrics"),
        ("/monitor/x", f"/monitor/{UNKNOWN_ROUTE}"),
        ("/score/../x", UNKNOWN_ROUTE),
        ("/anything-at-all", UNKNOWN_ROUTE),
    ],
)
def test_a_path_is_labelled_by_its_route_template(path: str, label: str) -> None:
    assert LABELS(path) == label


SCRIPT = r"""
import json, os, sys
from starlette.testclient import TestClient
from serving.service import CallRisk
import serving.service
assert serving.service.__file__.startswith(os.environ["WORKTREE"]), serving.service.__file__

token = os.environ["CALL_RISK_API_TOKEN"]
auth = {"Authorization": f"Bearer {token}"}

def series(text):
    return sorted(l.rsplit(" ", 1)[0] for l in text.splitlines() if l and not l.startswith("#"))

def paths(start, n):
    for i in range(start, start + n):
        yield f"/review/probe-{i}"
        yield f"/review/api/calls/C-{i}"
        yield f"/no-such-route-{i}"

with TestClient(CallRisk.to_asgi()) as client:
    for p in paths(0, 5):
        client.get(p)
    before = client.get("/metrics", headers=auth)
    statuses = {client.get(p).status_code for p in paths(5, int(sys.argv[1]))}
    after = client.get("/metrics", headers=auth)
print(json.dumps({
    "status": [before.status_code, after.status_code], "statuses": sorted(statuses),
    "bytes": [len(before.content), len(after.content)],
    "series": [series(before.text), series(after.text)],
}))
"""


def test_metrics_size_is_constant_after_many_distinct_unauthenticated_paths(
    tmp_path: Path,
) -> None:
    prom = tmp_path / "prometheus"
    prom.mkdir()
    # A monitor report of an unexpected shape beside the audit log (issue 22, N10): the scrape
    # still answers, with BentoML's own metrics.
    (tmp_path / "monitor_latest.json").write_text('{"verdict": "ok", "versions": [1], "model": 2}')
    worktree = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(prom),
        "CALL_RISK_API_TOKEN": "t" * 8 + "-metrics-labels-test-token-0123456789",
        "CALL_RISK_MODEL_URI": str(tmp_path / "no-model"),
        "CALL_RISK_HISTORY_DB": str(tmp_path / "history.db"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "PYTHONPATH": worktree + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "WORKTREE": worktree,
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "300"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["status"] == [200, 200]
    assert set(out["statuses"]) <= {401, 404}, out["statuses"]  # refused, never served
    before, after = out["series"]
    assert after == before  # 900 more distinct paths: not one series more
    assert any(s.startswith("bentoml_") for s in after)
    assert any(s.startswith("call_risk_monitor_report_available") for s in after)
    assert "probe-" not in "".join(after) and "no-such-route" not in "".join(after)
    assert abs(out["bytes"][1] - out["bytes"][0]) < 0.01 * out["bytes"][0]
