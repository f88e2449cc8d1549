"""Readiness across the server's worker processes: /readyz says 200 only when every worker has
loaded the model.

Each BentoML worker loads the model on its own, and the kernel hands a connection to whichever
worker accepts it first. Readiness answered by one worker alone let a load balancer (or a test)
see 200 from a loaded worker and then send a call to one still loading, which answered 503
"still loading" (seen in CI: a clean-clone run failed on it). So each worker leaves a marker
file, holding its process id, once it is loaded; a worker is ready only when the markers of all
workers of the same server are there and their processes are alive. A worker that dies is not
ready until circus has restarted it and the new process has loaded. The folders of stopped
servers are removed by the next server to start (`sweep_stopped_servers`).

The markers live in a directory of the temporary folder named after the server process (the
workers' parent) and its start time, so a later server that happens to get the same process id
never reads an old server's markers. Outside a BentoML worker (the in-process test client) there
is one process, and readiness is its own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from risk_model.service.supervise import pid_alive

SERVICE_NAME = "call-risk"
PREFIX = "call-risk-ready-"


@dataclass(frozen=True)
class WorkerReadiness:
    """This worker's place among the server's `count` workers (index 1..count, as circus
    numbers them) and the directory where their markers live."""

    directory: Path
    index: int
    count: int

    @classmethod
    def for_this_worker(cls, service_name: str = SERVICE_NAME) -> WorkerReadiness | None:
        """The worker's readiness marker set, or None when not running as a BentoML worker."""
        from bentoml._internal.context import server_context

        index = server_context.worker_index
        if index is None:
            return None
        count = configured_workers(service_name)
        return cls(server_directory(os.getppid()), int(index), count)

    def marker(self, index: int) -> Path:
        return self.directory / f"worker-{index}.ready"

    def loading(self) -> None:
        """Called as the worker starts: a restarted worker's old marker no longer counts, and
        the folders of servers that have stopped go."""
        sweep_stopped_servers(self.directory.parent)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.marker(self.index).unlink(missing_ok=True)

    def loaded(self) -> None:
        """Called once the model is loaded; written atomically (a reader sees all or nothing)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.marker(self.index).with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(str(os.getpid()))
        tmp.replace(self.marker(self.index))

    def not_ready(self) -> list[int]:
        """The workers (1-based) that have not loaded, or whose process is gone."""
        return [i for i in range(1, self.count + 1) if not _marker_alive(self.marker(i))]


def configured_workers(service_name: str = SERVICE_NAME) -> int:
    """The worker count the server started with: the service's `workers` after
    BENTOML_CONFIG_OVERRIDES, as BentoML's allocator reads it ("cpu_count" included)."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    try:
        workers = BentoMLContainer.config.services[service_name].get().get("workers") or 1
    except Exception:  # config not loaded: a single process
        return 1
    if workers == "cpu_count":
        from bentoml._internal.resource import system_resources

        return int(system_resources()["cpu"]) or 1
    return max(1, int(workers))


def server_directory(server_pid: int, parent: Path | None = None) -> Path:
    """Where the workers of the server with process id `server_pid` leave their markers."""
    started = _start_time(server_pid)
    return (parent or Path(tempfile.gettempdir())) / f"{PREFIX}{server_pid}-{started}"


def sweep_stopped_servers(parent: Path) -> list[Path]:
    """Removes the marker folders of servers no longer running; returns them.

    Markers are not removed as a worker stops: uvicorn ends a worker by re-raising SIGTERM (no
    exit handlers run), and BentoML's shutdown hooks fail when the service never started. A
    stopped server's markers are harmless anyway (their processes are gone, and the folder
    name holds the server's start time), so the next server to start clears them.
    """
    removed = []
    for folder in parent.glob(f"{PREFIX}*-*"):
        pid = folder.name.removeprefix(PREFIX).split("-", 1)[0]
        if not pid.isdigit():
            continue
        if pid_alive(int(pid)) and server_directory(int(pid), parent) == folder:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _start_time(pid: int) -> str:
    try:
        import psutil

        return str(int(psutil.Process(pid).create_time() * 1000))
    except Exception:  # no such process, or psutil unavailable: the pid alone
        return "0"


def _marker_alive(marker: Path) -> bool:
    try:
        pid = int(marker.read_text().strip())
    except (OSError, ValueError):
        return False
    return pid_alive(pid)
