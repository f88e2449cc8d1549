"""SQLite plumbing shared by the history store and the audit log: connections and a write lock.

The write lock is cross-process, for the files the service writes (history store, audit log).

With several worker processes, SQLite's own busy handler makes a blocked writer sleep and retry
(1, 2, 5, 10 ... 100 ms), so under load a write can wait far longer than the write it waits for.
An advisory `flock` on a side file queues writers in the kernel and wakes the next one as soon as
the lock is released; SQLite's locking still guards correctness, this only removes the sleeps.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from pathlib import Path
from types import TracebackType


def connect(path: Path | str, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """An autocommit connection that waits up to 30 s for a lock instead of failing at once.

    One per thread: sqlite3 connections are not shared across threads. WAL with
    synchronous=NORMAL: a commit survives a crash of the process; power loss can lose the last
    few commits, never corrupt the file.
    """
    con = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    con.execute("PRAGMA busy_timeout=30000")
    con.execute(f"PRAGMA synchronous={synchronous}")
    return con


WRITE_CHECK_BYTES = 64 * 1024


def write_check(con: sqlite3.Connection, path: Path | str) -> None:
    """Raises (OSError, sqlite3.Error) when the database at `path` cannot take a write now.

    Two checks, because neither alone tells the truth: 64 KB written and synced to a scratch
    file beside the database catches a full disk, a read-only mount or an I/O error (SQLite
    can still commit a small change into space its WAL file already holds); a transaction that
    must allocate new pages, then rolled back, catches a database that cannot be written or
    grown (read-only file, size limit, lock held too long). Nothing is left behind.
    """
    path = Path(path)
    scratch = path.with_name(f".{path.name}.write-check")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        data = memoryview(b"\0" * WRITE_CHECK_BYTES)
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(scratch)
    con.execute("CREATE TABLE IF NOT EXISTS write_check (k INTEGER PRIMARY KEY, pad BLOB)")
    page = int(con.execute("PRAGMA page_size").fetchone()[0])
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute("INSERT INTO write_check (pad) VALUES (zeroblob(?))", (4 * page,))
    finally:
        if con.in_transaction:
            con.execute("ROLLBACK")


class WriteLock:
    """Exclusive across threads (a mutex) and processes (flock on `<db>.lock`)."""

    def __init__(self, db_path: Path | str) -> None:
        self.path = Path(f"{db_path}.lock")
        self._mutex = threading.Lock()
        self._fd: int | None = None
        self._pid = -1

    def _file(self) -> int:
        # A descriptor inherited through fork shares its lock with the parent: reopen per process.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            self._pid = os.getpid()
        return self._fd

    def __enter__(self) -> WriteLock:
        self._mutex.acquire()
        try:
            fcntl.flock(self._file(), fcntl.LOCK_EX)
        except BaseException:
            self._mutex.release()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            fcntl.flock(self._file(), fcntl.LOCK_UN)
        finally:
            self._mutex.release()
