"""`GET /monitor/metrics`: the latest monitor verdict's main figures as Prometheus gauges.

`risk-model monitor` (a scheduled job) writes `monitor_latest.json` beside the audit log; this
route reads it on every scrape, so the gauges follow the latest run without a restart. The same
gauges are appended to BentoML's own `/metrics` by the service's `__metrics__` hook; this route
also answers where BentoML's `/metrics` is not served (in process under `Service.to_asgi()`)
(docs/monitoring.md, "Live view and metrics"). Behind the API token like every non-review route.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from risk_model.monitor.latest import prometheus_text, read_latest
from risk_model.service.settings import ServiceSettings

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ROUTE_TEMPLATES = ("/metrics",)


def _settings() -> ServiceSettings:
    import bentoml

    try:
        running = bentoml.get_current_service()
    except Exception:
        running = None
    settings = getattr(running, "settings", None)
    return settings if settings is not None else ServiceSettings.from_env()


def create_metrics_app(get_settings: Any = _settings) -> Starlette:
    """The /monitor mount: `/metrics` in Prometheus text (gauges absent when no report)."""

    def metrics(request: Request) -> Response:
        report, _why = read_latest(get_settings().audit_db)
        return Response(
            prometheus_text(report),
            media_type=PROMETHEUS_TYPE,
            headers={"Cache-Control": "no-store"},
        )

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])
