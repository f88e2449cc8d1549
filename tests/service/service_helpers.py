"""Helpers for the service tests: run the BentoML service in-process through
`Service.to_asgi()` (starlette TestClient, which runs the lifespan) with its own settings."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from starlette.testclient import TestClient

LIVE_CALLS = 200  # the newest calls are scored "live"; everything before them is history


def json_record(rec: dict[str, Any]) -> dict[str, Any]:
    """A canonical row as a dispatch system would send it (ISO time, no NaN)."""
    out = {}
    for key, value in rec.items():
        if (isinstance(value, float) and value != value) or value is pd.NA or value is pd.NaT:
            value = None
        elif isinstance(value, pd.Timestamp):
            value = value.isoformat()
        out[key] = value
    return out


def service_env(data: dict[str, Any], workdir: Path, **extra: str) -> dict[str, str]:
    """Service settings for one run: its own copy of the loaded history store."""
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "history.db"
    if not db.exists():
        shutil.copy(data["base_db"], db)
    env = {
        "CALL_RISK_MODEL_URI": data["model_uri"],
        "CALL_RISK_HISTORY_DB": str(db),
        "MLFLOW_TRACKING_URI": data["tracking_uri"],
    }
    env.update(extra)
    return env


@contextmanager
def patched_env(env: dict[str, str], drop: tuple[str, ...] = ()) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in (*env, *drop)}
    os.environ.update(env)
    for k in drop:
        os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def wait_ready(client: TestClient, timeout: float = 60.0, headers: dict | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/readyz", headers=headers).status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError("the service did not become ready")


_APP: Any = None


def service_app() -> Any:
    """One `CallRisk.to_asgi()` app per test process: BentoML registers its Prometheus metrics
    when an app is built, so a second app in one process fails. Each `running_service` runs the
    app's lifespan again, which creates a fresh service instance from the current settings."""
    global _APP
    if _APP is None:
        from serving.service import CallRisk

        _APP = CallRisk.to_asgi()
    return _APP


@contextmanager
def running_service(
    env: dict[str, str], ready: bool = True, headers: dict | None = None
) -> Iterator[TestClient]:
    """The BentoML service in-process, started and stopped around use.

    Settings are read from the environment when the service starts; CALL_RISK_API_TOKEN and
    CALL_RISK_AUDIT_DB are cleared unless `env` sets them.
    """
    drop = tuple(k for k in ("CALL_RISK_API_TOKEN", "CALL_RISK_AUDIT_DB") if k not in env)
    with patched_env(env, drop), TestClient(service_app()) as client:
        if ready:
            wait_ready(client, headers=headers)
        yield client


def assessor_of(client: TestClient) -> Any:
    """The running service instance's LiveAssessor (for checking the audit log)."""
    import bentoml

    return bentoml.get_current_service().assessor
