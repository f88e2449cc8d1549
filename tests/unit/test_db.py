"""SQLite plumbing (risk_model/db.py): the write lock holds one writer at a time across threads
and processes."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from pathlib import Path

from risk_model.db import WriteLock


def _hold(path: str, held: mp.synchronize.Event, release: mp.synchronize.Event) -> None:
    with WriteLock(path):
        held.set()
        release.wait(10)


def test_a_second_process_waits_for_the_holder(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    held, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(str(tmp_path / "x.db"), held, release))
    proc.start()
    try:
        assert held.wait(10)
        lock, got = WriteLock(tmp_path / "x.db"), threading.Event()

        def take() -> None:
            with lock:
                got.set()

        taker = threading.Thread(target=take)
        taker.start()
        time.sleep(0.2)
        assert not got.is_set()  # blocked while the other process holds it
        release.set()
        assert got.wait(10)  # and woken as soon as it lets go
        taker.join()
    finally:
        release.set()
        proc.join(10)


def test_threads_take_turns_and_an_error_releases(tmp_path: Path) -> None:
    lock, inside, overlap = WriteLock(tmp_path / "y.db"), [0], []

    def work() -> None:
        for _ in range(50):
            with lock:
                inside[0] += 1
                overlap.append(inside[0])
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(overlap) == 1 and len(overlap) == 200
    try:
        with lock:
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with lock:  # not left held
        pass
