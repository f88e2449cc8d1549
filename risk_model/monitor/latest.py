"""The latest monitor report, where the service can read it: `risk-model monitor` writes it as
`monitor_latest.json` beside the audit log; the service exposes its main figures as Prometheus
gauges (`GET /metrics` and `GET /monitor/metrics`) and the review page's "Live" view reads it
(`GET /review/api/monitor`). A file, not a database table: the monitor runs on a schedule in
another process and the service only ever reads (docs/monitoring.md, "Live view and metrics").
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LATEST_NAME = "monitor_latest.json"
LEVELS = {"ok": 0, "watch": 1, "retrain": 2}
# Largest latest-report file the service reads (a report is a few tens of kB).
MAX_BYTES = 20_000_000


def latest_path(audit_db: Path | str) -> Path:
    """Where the latest report of the service using `audit_db` lives."""
    return Path(audit_db).with_name(LATEST_NAME)


def write_latest(report: dict[str, Any], audit_db: Path | str) -> Path:
    """Writes the report atomically (a reader never sees half a file)."""
    out = latest_path(audit_db)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".monitor_latest.", dir=out.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(report, fh, default=str)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def read_latest(audit_db: Path | str) -> tuple[dict[str, Any] | None, str | None]:
    """(report, None), or (None, why there is none) when the file is missing or unreadable."""
    path = latest_path(audit_db)
    try:
        if path.stat().st_size > MAX_BYTES:
            return None, f"{path.name} is larger than {MAX_BYTES:,} bytes"
        modified = path.stat().st_mtime
        report = json.loads(path.read_text())
    except FileNotFoundError:
        return None, f"no monitor report yet: run `risk-model monitor` (it writes {path.name})"
    except (OSError, ValueError, RecursionError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        # The reason is shown to clients: the file's name, never the server's path.
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        return None, f"cannot read {path.name}: {why}"
    if not isinstance(report, dict) or "verdict" not in report:
        return None, f"{path.name} is not a monitor report"
    report["file_modified"] = modified
    return report, None


def _dict(value: Any) -> dict[str, Any]:
    """`value` if it is a mapping, else empty: the file is read as found, any shape."""
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    """A finite number, else None (a gauge is left out rather than wrong)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _max_psi(report: dict[str, Any]) -> tuple[float | None, float | None]:
    model = report.get("model")
    head = _dict(_dict(report.get("versions")).get(model)) if isinstance(model, str) else {}
    ps = _dict(head.get("psi"))
    feats = [v for v in map(_number, _dict(ps.get("features")).values()) if v is not None]
    return (max(feats) if feats else None), _number(ps.get("score"))


def gauges(report: dict[str, Any] | None) -> dict[str, tuple[str, float | None]]:
    """Gauge name -> (help, value) from a report (None: only `..._report_available 0`)."""
    out: dict[str, tuple[str, float | None]] = {
        "call_risk_monitor_report_available": (
            "1 when a monitor report was read (monitor_latest.json beside the audit log)",
            0.0 if report is None else 1.0,
        )
    }
    if report is None:
        return out
    max_feature, score_psi = _max_psi(report)
    out.update(
        {
            "call_risk_monitor_verdict_level": (
                "latest monitor verdict: 0 ok, 1 watch, 2 retrain",
                LEVELS.get(report.get("verdict"))
                if isinstance(report.get("verdict"), str)
                else None,
            ),
            "call_risk_monitor_observed_harm_rate": (
                "observed harm rate of scored calls with known outcomes",
                _number(report.get("observed_rate")),
            ),
            "call_risk_monitor_predicted_harm_rate": (
                "mean predicted harm rate of the same calls",
                _number(report.get("predicted_rate")),
            ),
            "call_risk_monitor_calls_scored": (
                "calls scored in the monitor window",
                _number(report.get("calls_scored")),
            ),
            "call_risk_monitor_outcomes_known": (
                "scored calls whose outcome is known",
                _number(report.get("outcomes_known")),
            ),
            "call_risk_monitor_max_feature_psi": (
                "largest population stability index of any feature against training",
                max_feature,
            ),
            "call_risk_monitor_score_psi": (
                "population stability index of the score against training",
                score_psi,
            ),
            "call_risk_monitor_report_timestamp_seconds": (
                "when the latest report file was written (unix seconds)",
                _number(report.get("file_modified")),
            ),
        }
    )
    return out


def prometheus_text(report: dict[str, Any] | None) -> str:
    """The gauges in Prometheus text exposition format (a gauge without a value is left out,
    so an absent figure never reads as 0)."""
    lines: list[str] = []
    try:
        figures = gauges(report)
    except Exception:  # whatever the file holds, the scrape (BentoML's metrics too) answers
        log.exception("monitor report: gauges could not be read; exported as unavailable")
        figures = gauges(None)
    for name, (help_, value) in figures.items():
        if not isinstance(value, int | float) or not math.isfinite(float(value)):
            continue
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", f"{name} {float(value)!r}"]
    return "\n".join(lines) + "\n"
