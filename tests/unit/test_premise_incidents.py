"""Dated premise incidents, the words a dispatcher reads under "history at this address": harm to
officers is listed before weapons and other violence, and repeats on one day are counted, not
repeated."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from risk_model.config import FeatureConfig
from risk_model.features.store import PremiseIncident, SqliteHistoryStore
from risk_model.model.assessment import incident_words
from risk_model.text import premise_key

CFG = FeatureConfig()
ADDRESS = "100 MAIN ST"
KEY = str(premise_key([ADDRESS], [None], [None])[0])  # as the features file it


def _call(i: int, day: str, call_type: str, **outcome: bool) -> dict:
    return {
        "call_id": f"C{i}",
        "received_at": pd.Timestamp(f"{day} 12:{i:02d}:00"),
        "call_type": call_type,
        "address": ADDRESS,
        "beat": "B1",
        "district": "D1",
        "narrative": "caller says suspect has a knife" if outcome.pop("knife", False) else None,
        "officer_assaulted": outcome.get("assault", False),
        "officer_injured": outcome.get("injury", False),
    }


def test_officer_harm_is_listed_first_then_weapons_newest_first(tmp_path: Path) -> None:
    store = SqliteHistoryStore(tmp_path / "history.db", CFG)
    store.append(
        [
            _call(1, "2025-01-05", "ASSAULT", assault=True),
            _call(2, "2025-02-01", "DISTURBANCE", knife=True),
            _call(3, "2025-03-01", "FIGHT"),
            _call(4, "2025-03-02", "DOMESTIC", assault=True, injury=True),
            _call(5, "2025-03-03", "NOISE"),  # neither violent nor harmful: not an incident
        ]
    )
    before = int(pd.Timestamp("2025-04-01").value // 1000)
    got = store.premise_incidents(KEY, before, limit=10)
    ids = [i.call_id for i in got]
    assert ids[:2] == ["C4", "C1"]  # officer harm, newest first
    assert ids[2] == "C2"  # then the weapon call
    assert "C5" not in ids
    assert store.premise_incidents(KEY, before, limit=1)[0].call_id == "C4"
    # Strictly before the call being scored.
    early = int(pd.Timestamp("2025-01-05 12:01:00").value // 1000)
    assert store.premise_incidents(KEY, early) == []


def test_same_day_same_kind_incidents_are_counted() -> None:
    inc = [
        PremiseIncident("a", "2025-03-02T01:00:00", "FIGHT", True, False, False, False),
        PremiseIncident("b", "2025-03-02T03:00:00", "FIGHT", True, False, False, False),
        PremiseIncident("c", "2025-03-01T03:00:00", "FIGHT", True, False, False, False),
        PremiseIncident("d", "2025-03-02T05:00:00", "DOMESTIC", True, False, True, True),
    ]
    words = incident_words(inc)
    assert words.count("2025-03-02") == 2  # the fights grouped, the assault separate
    assert "2025-03-02 violent or disturbance call (FIGHT) x2" in words
    assert "2025-03-01 violent or disturbance call (FIGHT)" in words
    assert "x1" not in words
    assert "assault on an officer" in words and "officer injured" in words
    assert incident_words([]).startswith("no dated incidents")
