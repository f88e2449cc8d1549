"""Outcomes only accumulate unless a row says it corrects them (issue 22, N14).

A later `/ingest` row saying `officer_assaulted: false` used to erase a recorded assault
(`updated: 1`, nothing logged), and two clients racing left whichever wrote last. An assault or
injury once recorded true now stays true unless the later row carries `correction: true`; every
change is logged, every refused erasure is logged and reported, and the result does not depend
on the order rows arrive in.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from risk_model.features.store import SqliteHistoryStore

CALL = {
    "call_id": "C-1",
    "received_at": "2025-03-01T10:00:00",
    "call_type": "DISTURBANCE",
    "address": "1 MAIN ST",
    "beat": "B1",
    "district": "D1",
}


def row(**outcome: object) -> dict:
    return {**CALL, **outcome}


def recorded(store: SqliteHistoryStore, call_id: str = "C-1") -> tuple[int, int]:
    with sqlite3.connect(store.path) as con:
        return con.execute(
            "SELECT assault, injury FROM calls WHERE call_id = ?", (call_id,)
        ).fetchone()


def premise_assaults(store: SqliteHistoryStore) -> int:
    with sqlite3.connect(store.path) as con:
        (n,) = con.execute(
            "SELECT COALESCE(SUM(assault), 0) FROM area_days WHERE kind = 'premise'"
        ).fetchone()
    return n


def test_a_later_row_saying_false_never_erases_a_recorded_assault(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteHistoryStore(tmp_path / "h.db")
    store.append([row(officer_assaulted=True, officer_injured=True)])
    caplog.set_level(logging.INFO, "risk_model.features.store")
    res = store.append([row(officer_assaulted=False, officer_injured=None)])
    assert (res.updated, res.unchanged) == (0, 1)
    assert res.kept == [("C-1", "officer_assaulted")]
    assert recorded(store) == (1, 1) and premise_assaults(store) == 1
    assert "C-1" in caplog.text and "keeps officer_assaulted true" in caplog.text
    # Saying nothing (unknown) never erases either.
    assert store.append([row(officer_assaulted=None)]).unchanged == 1
    assert recorded(store) == (1, 1)


def test_a_correction_changes_it_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteHistoryStore(tmp_path / "h.db")
    store.append([row(officer_assaulted=True)])
    caplog.set_level(logging.INFO, "risk_model.features.store")
    res = store.append([row(officer_assaulted=False, correction=True)])
    assert (res.updated, res.kept) == (1, [])
    assert recorded(store) == (0, 0) and premise_assaults(store) == 0
    assert "officer_assaulted True -> False (correction)" in caplog.text
    # An outcome learnt later is a change too, and logged.
    caplog.clear()
    assert store.append([row(officer_injured=True)]).updated == 1
    assert "officer_injured False -> True" in caplog.text


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_the_result_does_not_depend_on_the_order_rows_arrive_in(
    tmp_path: Path, order: tuple[int, ...]
) -> None:
    rows = [
        row(officer_assaulted=True),
        row(officer_assaulted=False, officer_injured=False),
        row(officer_injured=True),
    ]
    store = SqliteHistoryStore(tmp_path / "h.db")
    for i in order:
        store.append([rows[i]])
    assert recorded(store) == (1, 1)
    assert premise_assaults(store) == 1


def test_two_clients_racing_leave_the_assault_recorded(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    SqliteHistoryStore(path).append([row()])
    barrier = threading.Barrier(2)

    def client(value: bool) -> None:
        store = SqliteHistoryStore(path)  # each client its own connection, as two workers
        barrier.wait()
        for _ in range(20):
            store.append([row(officer_assaulted=value)])

    threads = [threading.Thread(target=client, args=(v,)) for v in (True, False)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = SqliteHistoryStore(path)
    assert recorded(store) == (1, 0)
    assert premise_assaults(store) == 1  # counted once, never twice or lost
