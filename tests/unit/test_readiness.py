"""Readiness across workers (risk_model/service/readiness.py): a worker is ready only when every
worker of its server has loaded and is alive."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from risk_model.service.readiness import WorkerReadiness, configured_workers, server_directory


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_ready_only_when_every_worker_has_loaded(tmp_path: Path) -> None:
    one, two = WorkerReadiness(tmp_path, 1, 2), WorkerReadiness(tmp_path, 2, 2)
    one.loading()
    two.loading()
    assert one.not_ready() == [1, 2]
    one.loaded()
    assert one.not_ready() == [2] == two.not_ready()
    two.loaded()
    assert one.not_ready() == [] == two.not_ready()


def test_a_dead_or_restarted_worker_is_not_ready(tmp_path: Path) -> None:
    one, two = WorkerReadiness(tmp_path, 1, 2), WorkerReadiness(tmp_path, 2, 2)
    one.loaded()
    two.loaded()
    two.marker(2).write_text(str(_dead_pid()))  # worker 2 was killed
    assert one.not_ready() == [2]
    two.loaded()
    assert one.not_ready() == []
    two.loading()  # circus restarted worker 2: its old marker no longer counts
    assert one.not_ready() == [2]
    two.marker(2).write_text("garbage")
    assert one.not_ready() == [2]


def test_a_starting_worker_clears_only_the_folders_of_stopped_servers(tmp_path: Path) -> None:
    dead = _dead_pid()
    stopped = tmp_path / f"call-risk-ready-{dead}-123"
    reused = tmp_path / f"call-risk-ready-{os.getppid()}-1"  # a live pid, another start time
    live = server_directory(os.getppid(), tmp_path)
    unrelated = tmp_path / "call-risk-ready-notes"
    for folder in (stopped, reused, live, unrelated):
        folder.mkdir()
        (folder / "worker-1.ready").write_text(str(dead))
    WorkerReadiness(server_directory(os.getpid(), tmp_path), 1, 2).loading()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, unrelated.name, server_directory(os.getpid(), tmp_path).name]
    )


def test_the_folder_names_the_server_and_its_start_time() -> None:
    here = server_directory(os.getpid())
    assert here.name.startswith(f"call-risk-ready-{os.getpid()}-")
    assert here == server_directory(os.getpid())
    assert not here.name.endswith("-0")  # the start time was found
    assert server_directory(os.getppid()) != here


def test_outside_a_server_there_is_one_worker() -> None:
    assert WorkerReadiness.for_this_worker() is None
    assert configured_workers("no-such-service") == 1
