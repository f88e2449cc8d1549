"""`risk-model champion` and `risk-model serve` (SPEC §3): the champion check the demo relies on,
clear one-line errors before any server starts, and one end-to-end run of the real server on
127.0.0.1, stopped and started again (the history store survives the restart)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from service_helpers import service_env

from serving.service import EXAMPLE_CALL

pytestmark = pytest.mark.xdist_group("model")

CLI = (sys.executable, "-m", "risk_model.cli")


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_champion_prints_the_version_or_exits_1(service_data: dict, tmp_path: Path) -> None:
    found = run_cli("champion", "--json", env=service_env(service_data, tmp_path), cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    info = json.loads(found.stdout.strip().splitlines()[-1])
    assert info["version"] == service_data["version"]
    assert info["model_uri"] == "models:/call-risk@champion"

    empty = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}"}
    missing = run_cli("champion", env=empty, cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert "no champion" in missing.stderr


def test_serve_refuses_to_start_with_one_clear_line(service_data: dict, tmp_path: Path) -> None:
    env = service_env(service_data, tmp_path)
    db = env["CALL_RISK_HISTORY_DB"]
    args = ("serve", "--history-db", db)
    no_model = run_cli(*args, "--model", "models:/call-risk@nobody", env=env, cwd=tmp_path)
    assert no_model.returncode == 2
    assert no_model.stderr.strip().splitlines()[-1].startswith("error: model ")
    assert "Traceback" not in no_model.stderr

    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nrules:\n  - id: x\n    text: short\n    program: VALOR\n")
    bad_rules = run_cli(*args, env={**env, "CALL_RISK_PRECAUTIONS": str(rules)}, cwd=tmp_path)
    assert bad_rules.returncode == 2
    last = bad_rules.stderr.strip().splitlines()[-1]
    assert last.startswith("error: precaution rules") and "'x'" in last


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(env: dict[str, str], cwd: Path, port: int) -> Iterator[httpx.Client]:
    """`risk-model serve` in its own process group, ready; stopped with SIGTERM afterwards."""
    log = open(cwd / f"serve-{port}.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--history-db", env["CALL_RISK_HISTORY_DB"]],
        env={**os.environ, **env},
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (cwd / f"serve-{port}.log").read_text()[-3000:]
            try:
                if client.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.25)
        yield client
    finally:
        client.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


@pytest.mark.slow
def test_serve_end_to_end_and_the_history_survives_a_restart(
    service_data: dict, tmp_path: Path
) -> None:
    env = service_env(service_data, tmp_path)
    port = free_port()
    address = "5 END TO END CT"
    prior = {
        **EXAMPLE_CALL,
        "call_id": "E2E-1",
        "received_at": "2025-12-05T21:00:00",
        "address": address,
        "officer_assaulted": True,
    }
    probe = {**EXAMPLE_CALL, "received_at": "2025-12-28T21:00:00", "address": address}
    with served(env, tmp_path, port) as client:
        assert client.get("/healthz").status_code == 200
        first = client.post("/score", json={"call": {**probe, "call_id": "E2E-2"}})
        assert first.status_code == 200, first.text
        assert first.json()["model"] == {"name": "call-risk", "version": service_data["version"]}
        assert client.post("/ingest", json={"calls": [prior]}).json()["inserted"] == 1
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)

    with served(env, tmp_path, port) as client:
        again = client.post("/score", json={"call": {**probe, "call_id": "E2E-3"}}).json()
    ids = {p["id"] for p in again["precautions"]}
    assert "premise_caution" in ids
    caution = next(p for p in again["precautions"] if p["id"] == "premise_caution")
    assert "2025-12-05 assault on an officer" in caution["text"]
    assert again["risk_score"] > first.json()["risk_score"]
