"""The pieces behind issue 14's service fixes, without a model: a worker stops when its server
process dies, a taken port is one clear line, repeated call_ids in one batch are merged or
rejected (never dropped), and the write check sees a database that cannot grow."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from risk_model.db import write_check
from risk_model.errors import UserError
from risk_model.service.assessor import merge_repeated_calls
from risk_model.service.supervise import check_port

# A "server" that starts a "worker" the way `risk-model serve` does (the variable names the
# server's pid), prints the worker's pid and waits.
SERVER = """
import os, subprocess, sys, time
env = {**os.environ, "CALL_RISK_SERVER_PID": str(os.getpid())}
worker = subprocess.Popen([sys.executable, "-c", sys.argv[1]], env=env)
print(worker.pid, flush=True)
time.sleep(600)
"""
WORKER = """
import time
from risk_model.service.supervise import die_with_server
assert die_with_server(poll_s=0.05, grace_s=0.5) is not None
time.sleep(600)
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_a_worker_stops_when_its_server_is_killed() -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, WORKER], stdout=subprocess.PIPE, text=True
    )
    worker = int(server.stdout.readline())  # type: ignore[union-attr]
    try:
        time.sleep(1.0)  # the worker has imported and is watching
        assert _running(worker)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _running(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(worker), "the worker outlived its server"
    finally:
        for pid in (server.pid, worker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_without_the_variable_nothing_is_watched(monkeypatch: pytest.MonkeyPatch) -> None:
    from risk_model.service.supervise import ENV_SERVER_PID, die_with_server

    monkeypatch.delenv(ENV_SERVER_PID, raising=False)
    assert die_with_server() is None


def test_a_taken_port_is_one_line_naming_it() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(UserError, match=rf"port {port} on 127.0.0.1 is already in use"):
            check_port("127.0.0.1", port)
    check_port("127.0.0.1", port)  # free again


def test_repeated_call_ids_merge_or_are_rejected_never_dropped() -> None:
    rows = [
        (0, {"call_id": "A", "received_at": 1, "officer_assaulted": None, "beat": None}),
        (1, {"call_id": "B", "received_at": 2, "officer_assaulted": None, "beat": "7"}),
        (2, {"call_id": "A", "received_at": 1, "officer_assaulted": True, "beat": "3"}),
        (3, {"call_id": "A", "received_at": 9, "officer_assaulted": True, "beat": None}),
        (4, {"call_id": "A", "received_at": 1, "officer_assaulted": False, "beat": None}),
    ]
    unique, repeats = merge_repeated_calls(rows)
    assert unique == [
        {"call_id": "A", "received_at": 1, "officer_assaulted": True, "beat": "3"},
        {"call_id": "B", "received_at": 2, "officer_assaulted": None, "beat": "7"},
    ]
    assert [(r.index, r.earlier, r.merged, r.fields) for r in repeats] == [
        (2, 0, True, ("officer_assaulted", "beat")),
        (3, 0, False, ("received_at",)),
        (4, 0, False, ("officer_assaulted",)),
    ]
    assert repeats[2].values == ((True, False),)
    assert rows[0][1]["officer_assaulted"] is None  # the caller's rows are not changed


def test_the_write_check_sees_a_database_that_cannot_grow(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    write_check(con, path)  # fine, and leaves nothing behind
    assert sorted(p.name for p in tmp_path.iterdir() if "write-check" in p.name) == []
    assert con.execute("SELECT COUNT(*) FROM write_check").fetchone()[0] == 0
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    con.execute(f"PRAGMA max_page_count={pages}")
    with pytest.raises(sqlite3.OperationalError, match="full"):
        write_check(con, path)
    ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        write_check(ro, path)
