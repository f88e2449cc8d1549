"""Each server its own metrics (issue 22, N5): BentoML keeps every server's Prometheus files in
one folder under BENTOML_HOME and empties it when a server starts, so two servers on one host
showed each other's counters on /metrics. `risk-model serve` gives each server its own folder,
BentoML's with the port appended."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from risk_model.service import serve


def _command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, port: int, history: Path
) -> tuple[list[str], dict[str, str]]:
    from risk_model.model import tracking
    from risk_model.service import supervise

    class Exec(Exception):
        pass

    got: dict[str, Any] = {}

    def fake_exec(exe: str, cmd: list[str], env: dict[str, str]) -> None:
        got.update(cmd=cmd, env=env)
        raise Exec

    monkeypatch.delenv("CALL_RISK_API_TOKEN", raising=False)
    monkeypatch.delenv("CALL_RISK_AUDIT_DB", raising=False)
    monkeypatch.setattr(supervise, "check_service", lambda env: None)
    monkeypatch.setattr(supervise, "check_port", lambda host, port: None)
    monkeypatch.setattr(tracking, "configure", lambda: None)
    monkeypatch.setattr(
        tracking,
        "resolve",
        lambda uri: SimpleNamespace(uri="models:/call-risk/1", name="call-risk", version="1"),
    )
    monkeypatch.setattr(serve.os, "execve", fake_exec)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    with pytest.raises(Exec):
        serve.serve_service("models:/call-risk@champion", port, history)
    return got["cmd"], got["env"]


def test_two_servers_get_two_metrics_folders(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    a, _ = _command(monkeypatch, tmp_path, 3001, tmp_path / "a" / "history.db")
    b, _ = _command(monkeypatch, tmp_path, 3002, tmp_path / "b" / "history.db")
    assert a[3] == "3001" and b[3] == "3002"  # the folder's suffix
    assert a[4:6] == ["serve", str(serve.REPO_ROOT)] and a[a.index("--port") + 1] == "3001"


def test_bentoml_reads_the_folder_the_command_sets(tmp_path: Path) -> None:
    """The command's first step is what BentoML's `serve` asks for its Prometheus folder."""
    cmd = serve.bentoml_command(3001, "ignored")
    code = (
        cmd[2]
        .replace(
            "from bentoml_cli.cli import cli\n",
            "from bentoml.serving import ensure_prometheus_dir\n",
        )
        .replace("cli()\n", "print(ensure_prometheus_dir())\n")
    )
    assert code != cmd[2]
    done = subprocess.run(
        [sys.executable, "-c", code, *cmd[3:]],
        env={**os.environ, "BENTOML_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    folder = tmp_path / "home" / "prometheus_multiproc_dir-3001"
    assert done.stdout.strip().splitlines()[-1] == str(folder)
    assert folder.is_dir()
