"""`risk-model serve` as a child process on 127.0.0.1, ready when entered and stopped on exit.

For whatever drives the real server from outside: the end-to-end tests and the service
benchmark. The server runs in its own process group, so stopping it also stops the BentoML
workers it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path


class ServerDidNotStart(RuntimeError):
    """The server exited or did not answer /readyz in time; the message ends with its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_process(
    port: int,
    args: Sequence[str] = (),
    *,
    env: Mapping[str, str],
    cwd: Path,
    log: Path,
    headers: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> Iterator[subprocess.Popen]:
    """Starts `risk-model serve --port PORT ARGS...` (environment `env` over this process's),
    waits until /readyz answers 200 and yields the process; stops the group on exit."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "risk_model.cli", "serve", "--port", str(port), *args],
            env={**os.environ, **env},
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_ready(proc, port, dict(headers or {}), timeout, log)
            yield proc
        finally:
            stop(proc)


def _wait_ready(
    proc: subprocess.Popen, port: int, headers: dict[str, str], timeout: float, log: Path
) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/readyz", headers=headers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerDidNotStart(f"the server exited early:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(request, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:  # not listening yet, or 503 while the model loads
            pass
        time.sleep(0.25)
    raise ServerDidNotStart(f"the server was not ready in {timeout:.0f} s:\n{_tail(log)}")


def _tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL if it has not gone within 30 s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
