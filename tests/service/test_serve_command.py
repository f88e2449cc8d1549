"""`risk-model champion` and `risk-model serve` (SPEC §3): the champion check the demo relies on,
clear one-line errors before any server starts, and one end-to-end run of the real server on
127.0.0.1, stopped and started again (the history store survives the restart)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from service_helpers import service_env

from risk_model.service.readiness import server_directory
from risk_model.service.serve_process import ServerDidNotStart, free_port, serve_process
from serving.api_models import EXAMPLE_CALL

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


def test_a_server_that_exits_is_reported_with_its_log(service_data: dict, tmp_path: Path) -> None:
    env = service_env(service_data, tmp_path)
    args = ["--model", "models:/call-risk@nobody", "--history-db", env["CALL_RISK_HISTORY_DB"]]
    log = tmp_path / "serve.log"
    with (
        pytest.raises(ServerDidNotStart, match=r"(?s)exited early.*error: model "),
        serve_process(free_port(), args, env=env, cwd=tmp_path, log=log),
    ):
        pass


@contextmanager
def served(
    env: dict[str, str], cwd: Path, port: int
) -> Iterator[tuple[httpx.Client, subprocess.Popen]]:
    """`risk-model serve` in its own process group, ready; stopped with SIGTERM afterwards."""
    args = ["--history-db", env["CALL_RISK_HISTORY_DB"]]
    with (
        serve_process(port, args, env=env, cwd=cwd, log=cwd / f"serve-{port}.log") as proc,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        yield client, proc


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
    with served(env, tmp_path, port) as (client, proc):
        # Ready means every worker has loaded (both markers), so no call, on any connection
        # and whichever worker takes it, is answered "still loading".
        markers = server_directory(proc.pid)
        assert sorted(p.name for p in markers.iterdir()) == ["worker-1.ready", "worker-2.ready"]
        for i in range(8):
            fresh = httpx.post(
                f"http://127.0.0.1:{port}/score",
                json={"call": {**probe, "call_id": f"E2E-FRESH-{i}"}},
                timeout=30,
            )
            assert fresh.status_code == 200, fresh.text
        assert client.get("/healthz").status_code == 200
        first = client.post("/score", json={"call": {**probe, "call_id": "E2E-2"}})
        assert first.status_code == 200, first.text
        assert first.json()["model"] == {"name": "call-risk", "version": service_data["version"]}
        assert client.post("/ingest", json={"calls": [prior]}).json()["inserted"] == 1
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)

    with served(env, tmp_path, port) as (client, _):
        assert not markers.exists(), "the next server did not clear the stopped one's markers"
        again = client.post("/score", json={"call": {**probe, "call_id": "E2E-3"}}).json()
    ids = {p["id"] for p in again["precautions"]}
    assert "premise_caution" in ids
    caution = next(p for p in again["precautions"] if p["id"] == "premise_caution")
    assert "2025-12-05 assault on an officer" in caution["text"]
    assert again["risk_score"] > first.json()["risk_score"]
