"""What the service does when a request repeats a call or the disk lets it down (issue 14):
a repeated call_id in one /ingest body is merged or rejected with a reason, never dropped; a
write that fails (full disk, read-only file) answers 503 naming the cause and turns readiness
off until a write succeeds again; a store that cannot be opened at start-up is named as such.
In process, through `CallRisk.to_asgi()`; the subprocess faults are in test_faults.py."""

from __future__ import annotations

import copy
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from service_helpers import assessor_of, running_service, service_env
from starlette.testclient import TestClient

from serving.api_models import EXAMPLE_CALL, MAX_BATCH

pytestmark = pytest.mark.xdist_group("model")


@pytest.fixture(scope="module")
def client(service_data: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    env = service_env(service_data, tmp_path_factory.mktemp("failures"))
    with running_service(env) as c:
        yield c


def call(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(EXAMPLE_CALL)
    out.update(changes)
    return out


def stored(client: TestClient, call_id: str) -> tuple[int, int] | None:
    """(assault, injury) as the history store holds them for a call, or None."""
    path = assessor_of(client).store.path
    with sqlite3.connect(path) as con:
        row = con.execute(
            "SELECT assault, injury FROM calls WHERE call_id = ?", (call_id,)
        ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


# ------------------------------------------------------------------ defect 1: repeated call_id


def test_a_repeated_call_id_is_merged_and_its_outcome_kept(client: TestClient) -> None:
    first = call(call_id="DUP-1", received_at="2025-12-03T10:00:00")
    later = {**first, "officer_assaulted": True}
    resp = client.post("/ingest", json={"calls": [first, later]})
    assert resp.status_code == 200, resp.text
    assert stored(client, "DUP-1") == (1, 0)  # the outcome of the second row is kept
    body = resp.json()
    assert (body["accepted"], body["rejected"], body["inserted"]) == (2, 0, 1)
    assert body["errors"] == []
    assert body["merged"] == [
        {"index": 1, "call_id": "DUP-1", "merged_into": 0, "added": ["officer_assaulted"]}
    ]


def test_a_repeat_that_contradicts_the_earlier_row_is_rejected_by_name(
    client: TestClient,
) -> None:
    base = call(call_id="DUP-2", received_at="2025-12-03T11:00:00")
    calls = [
        {**base, "officer_assaulted": False},
        {**base, "officer_assaulted": True},  # contradicts the outcome
        {**base, "received_at": "2025-12-03T12:00:00"},  # contradicts a call fact
        {**base, "officer_injured": True},  # fills an unknown outcome: merged
    ]
    resp = client.post("/ingest", json={"calls": calls})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["accepted"], body["rejected"], body["inserted"]) == (2, 2, 1)
    assert [(e["index"], e["call_id"], e["field"]) for e in body["errors"]] == [
        (1, "DUP-2", "calls[1].officer_assaulted"),
        (2, "DUP-2", "calls[2].received_at"),
    ]
    assert "calls[0]" in body["errors"][0]["error"]
    assert "false" in body["errors"][0]["error"] and "true" in body["errors"][0]["error"]
    assert [(m["index"], m["added"]) for m in body["merged"]] == [(3, ["officer_injured"])]
    assert stored(client, "DUP-2") == (0, 1)


def test_a_later_outcome_for_a_stored_call_updates_its_history(client: TestClient) -> None:
    first = call(call_id="LATE-1", received_at="2025-12-04T09:00:00")
    assert client.post("/ingest", json={"calls": [first]}).json()["inserted"] == 1
    assert stored(client, "LATE-1") == (0, 0)
    again = client.post("/ingest", json={"calls": [{**first, "officer_assaulted": True}]})
    assert again.json()["updated"] == 1
    assert stored(client, "LATE-1") == (1, 0)


# ------------------------------------------------------------------ defect 3: failing writes


class _NoSpaceLeft:
    """A connection on which every write fails with SQLite's own "database or disk is full",
    as on a disk with no byte left. (A connection merely barred from growing the file still
    takes a small write into the slack of its last pages: a compact audit record fits.)"""

    WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP")

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def _check(self, sql: str) -> None:
        if sql.lstrip().upper().startswith(self.WRITES):
            raise sqlite3.OperationalError("database or disk is full")

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self._check(sql)
        return self.con.execute(sql, *args)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        self._check(sql)
        return self.con.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)


def _full(path: Path) -> Any:
    """A connection to `path` that cannot grow the file (SQLite's own "database or disk is
    full", as on a full disk) and has no slack left to write into."""
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    con.execute(f"PRAGMA max_page_count={pages}")
    return _NoSpaceLeft(con)


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot write (as a file on a read-only mount: root ignores chmod)."""
    return sqlite3.connect(
        f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
    )


@contextmanager
def audit_connection(client: TestClient, con: sqlite3.Connection) -> Iterator[None]:
    audit = assessor_of(client).audit
    audit._con = lambda: con  # type: ignore[method-assign]
    try:
        yield
    finally:
        del audit._con
        con.close()


@contextmanager
def store_connection(client: TestClient, con: sqlite3.Connection) -> Iterator[None]:
    store = assessor_of(client).store

    @contextmanager
    def connect() -> Iterator[sqlite3.Connection]:
        yield con

    store._connect = connect  # type: ignore[method-assign]
    try:
        yield
    finally:
        del store._connect
        con.close()


def _unready_because(client: TestClient, *words: str) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 503, ready.text
    for word in words:
        assert word in ready.json()["error"], ready.text


@pytest.mark.parametrize("fault", [_full, _read_only], ids=["disk full", "read-only"])
def test_a_failing_audit_write_answers_503_and_flips_readiness(
    client: TestClient, fault: Any, caplog: pytest.LogCaptureFixture
) -> None:
    audit = assessor_of(client).audit
    before = audit.count()
    cause = "database or disk is full" if fault is _full else "readonly"
    probe = call(call_id=f"AUD-{fault.__name__}", received_at="2025-12-05T10:00:00")
    assert client.get("/readyz").status_code == 200
    with audit_connection(client, fault(audit.path)):
        scored = client.post("/score", json={"call": probe})
        assert scored.status_code == 503, scored.text
        error = scored.json()["error"]
        assert "audit log" in error and cause in error and "not returned" in error
        # Nothing silent: the log names the call that was assessed but not answered.
        assert any(probe["call_id"] in r.getMessage() for r in caplog.records)
        batch = client.post("/score_batch", json={"calls": [probe]})
        assert batch.status_code == 503 and cause in batch.json()["error"]
        _unready_because(client, "audit log", cause)
        _unready_because(client, "audit log", cause)  # stays off while writes fail
    # Writable again: readiness comes back on its next check, and scoring works.
    assert client.get("/readyz").status_code == 200
    assert client.post("/score", json={"call": probe}).status_code == 200
    assert audit.count() == before + 1
    assert audit.entry(probe["call_id"]) is not None


@pytest.mark.parametrize("fault", [_full, _read_only], ids=["disk full", "read-only"])
def test_a_failing_history_write_answers_503_and_stores_nothing(
    client: TestClient, fault: Any
) -> None:
    store = assessor_of(client).store
    cause = "database or disk is full" if fault is _full else "readonly"
    # A full batch: more than the free space left in the store's last pages.
    rows = [
        call(call_id=f"HIS-{fault.__name__}-{i}", received_at="2025-12-05T11:00:00")
        for i in range(MAX_BATCH)
    ]
    with store_connection(client, fault(store.path)):
        resp = client.post("/ingest", json={"calls": rows})
        assert resp.status_code == 503, resp.text
        error = resp.json()["error"]
        assert "history store" in error and cause in error and "nothing" in error
        _unready_because(client, "history store", cause)
    assert stored(client, rows[0]["call_id"]) is None
    assert client.get("/readyz").status_code == 200
    again = client.post("/ingest", json={"calls": rows})
    assert again.status_code == 200 and again.json()["inserted"] == len(rows)


def test_an_os_error_on_write_is_a_503_naming_it(client: TestClient) -> None:
    audit = assessor_of(client).audit

    def no_space(entries: list) -> None:
        raise OSError(28, "No space left on device")

    audit.write = no_space  # type: ignore[method-assign]
    try:
        resp = client.post("/score", json={"call": call(call_id="OSE-1")})
        assert resp.status_code == 503
        assert "No space left on device" in resp.json()["error"]
    finally:
        del audit.write
    assert client.get("/readyz").status_code == 200


# ------------------------------------------------------------------ defect 10: start-up causes


def test_an_unreadable_history_store_is_named_at_start_up(
    service_data: dict, tmp_path: Path
) -> None:
    bad = tmp_path / "history.db"
    bad.write_bytes(b"this is not a SQLite file, it was overwritten by something else" * 100)
    env = service_env(service_data, tmp_path)
    with running_service(env, ready=False) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready = client.get("/readyz")
            if "could not start" in ready.text:
                break
            time.sleep(0.1)
        assert ready.status_code == 503
        # The file is named; the server's folders are not shown to clients (issue 22, N18).
        assert f"history store {bad.name} cannot be opened" in ready.json()["error"]
        assert str(tmp_path) not in ready.text
        scored = client.post("/score", json={"call": EXAMPLE_CALL})
        assert scored.status_code == 503
        error = scored.json()["error"]
        assert "history store" in error and "not a database" in error
        assert "could not load its model" not in error
        review = client.get("/review/api/facets")
        assert review.status_code == 503
        assert "could not start" in review.json()["error"]
        assert "loading" not in review.json()["error"]
        assert client.get("/healthz").status_code == 503
