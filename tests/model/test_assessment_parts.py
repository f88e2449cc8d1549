"""The parts of an assessment on tiny inline data: honest reasons (a weapon that raises the
score is named, an unlearned call type is not described by its raw name), honest warnings
(synthetic model, outside the training period, unseen area, no outcome history), the marker a
simulated file carries, and the two premise-history lookups (live store, offline frame) agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from risk_model import vocab
from risk_model.config import FeatureConfig
from risk_model.dataset import is_simulated, mark_simulated
from risk_model.features.build import events_frame
from risk_model.features.store import SqliteHistoryStore
from risk_model.model.assessment import FramePremiseHistory, TrainingScope, call_warnings
from risk_model.model.explain import reasons_for_row
from risk_model.text import premise_key

CFG = FeatureConfig()
LABELS = ["call_type", "priority", "hour", "prem_calls_365d", "source", "weapon_reported"]
ROW = {
    "call_type": "BUSINESS CHECK",
    "priority": 2.0,
    "hour_sin": 0.0,
    "hour_cos": 1.0,
    "prem_calls_365d": 4.0,
    "source": "911",
    "weapon_reported": 1.0,
}


def _features(reasons: list) -> list[str]:
    return [r.feature for r in reasons]


@pytest.mark.parametrize(
    ("weapon", "contribution", "shown"),
    [
        (1.0, 0.05, True),  # reported and raises the score: named though 5 others are larger
        (1.0, 0.001, False),  # reported but does not move the score
        (0.0, 0.05, False),  # not reported
        (None, 0.05, False),  # unknown
    ],
)
def test_a_reported_weapon_that_raises_the_score_is_a_reason(
    weapon: float | None, contribution: float, shown: bool
) -> None:
    grouped = np.array([0.4, -0.3, 0.2, 0.15, 0.1, contribution])
    reasons = reasons_for_row(LABELS, grouped, {**ROW, "weapon_reported": weapon}, 3, CFG)
    assert len(reasons) == 3
    assert ("weapon_reported" in _features(reasons)) is shown
    assert _features(reasons)[0] == "call_type"  # the largest stays first
    sizes = [abs(r.contribution) for r in reasons]
    assert sizes == sorted(sizes, reverse=True)


def test_both_weapon_flags_stay_when_both_raise_the_score() -> None:
    labels = [*LABELS, "nar_weapon"]
    grouped = np.array([0.4, -0.3, 0.2, 0.15, 0.1, 0.12, 0.05])
    row = {**ROW, "nar_weapon": 1.0}
    named = _features(reasons_for_row(labels, grouped, row, 3, CFG))
    assert named == ["call_type", "weapon_reported", "nar_weapon"]


def test_an_unlearned_call_type_is_described_as_such() -> None:
    grouped = np.array([0.34, 0.0, 0.0, 0.0, 0.0, 0.0])
    learned = reasons_for_row(LABELS, grouped, ROW, 2, CFG)[0]
    assert learned.text == "Call type: BUSINESS CHECK"
    unseen = reasons_for_row(LABELS, grouped, ROW, 2, CFG, known_type=False)[0]
    assert unseen.feature == "call_type" and unseen.value == "OTHER"
    assert "not seen in training" in unseen.text
    assert "scored with the other rare types" in unseen.text
    assert not unseen.text.startswith("Call type: BUSINESS CHECK")


def _us(text: str) -> int:
    return int(pd.Timestamp(text).value // 1000)


SCOPE = TrainingScope.from_metadata(
    {
        "history_from": "2025-01-01 00:03:00",
        "history_until": "2025-12-31 23:50:00",
        "seen_areas": {"beat": ["B1"], "district": ["D1"]},
        "trained_on_simulated": True,
    },
    outside_days=180,
)


def _codes(**kw: object) -> list[str]:
    args = {
        "call_type": "ASSAULT",
        "known_type": True,
        "premise": "P1",
        "beat": "B1",
        "district": "D1",
        "ts_us": _us("2025-06-01"),
        "row": {"district_assaults_365d": 3.0, "beat_assaults_365d": 1.0},
        "decision": "high",
    }
    args.update(kw)
    warnings = call_warnings(SCOPE, **args)  # type: ignore[arg-type]
    assert all(vocab.warning_code(w) in vocab.WARNING_CODES for w in warnings)
    return [vocab.warning_code(w) for w in warnings]


def test_warnings_say_where_the_model_knows_nothing() -> None:
    assert _codes() == [vocab.SYNTHETIC_MODEL]
    assert vocab.OUTSIDE_TRAINING_PERIOD in _codes(ts_us=_us("2018-03-02"))
    assert vocab.OUTSIDE_TRAINING_PERIOD not in _codes(ts_us=_us("2026-06-01"))  # 152 days
    assert vocab.OUTSIDE_TRAINING_PERIOD in _codes(ts_us=_us("2026-09-01"))  # 244 days
    assert vocab.UNSEEN_AREA in _codes(district="D9")
    assert vocab.UNSEEN_AREA in _codes(beat="B9")
    assert vocab.UNSEEN_AREA not in _codes(district=None)  # missing is no_area_history
    assert vocab.NO_AREA_HISTORY in _codes(district=None)
    assert vocab.UNKNOWN_CALL_TYPE in _codes(known_type=False)
    zero = {"district_assaults_365d": 0.0, "beat_assaults_365d": 2.0}
    assert vocab.NO_OUTCOME_HISTORY in _codes(row=zero)
    assert vocab.NO_PREMISE_HISTORY in _codes(premise=None)
    assert _codes(decision="cant_tell")[-1] == vocab.CANT_TELL
    real = TrainingScope.from_metadata({"history_until": "2025-12-31"}, outside_days=180)
    assert (
        call_warnings(
            real,
            call_type="ASSAULT",
            known_type=True,
            premise="P1",
            beat="B1",
            district="D1",
            ts_us=_us("2018-03-02"),  # no first call recorded: only "long after" can be checked
            row={"district_assaults_365d": 3.0},
            decision="low",
        )
        == []
    )


def test_the_simulator_marks_its_files(tmp_path: Path) -> None:
    table = pa.table({"call_id": ["C1"]})
    pq.write_table(mark_simulated(table), tmp_path / "sim.parquet")
    pq.write_table(table, tmp_path / "real.parquet")
    assert is_simulated(tmp_path / "sim.parquet")
    assert not is_simulated(tmp_path / "real.parquet")
    (tmp_path / "real.csv").write_text("call_id\nC1\n")
    assert not is_simulated(tmp_path / "real.csv")
    truth = tmp_path / "real.truth.parquet"
    pq.write_table(table, truth)
    assert is_simulated(tmp_path / "real.csv", truth)


def test_the_offline_premise_lookup_equals_the_live_store(tmp_path: Path) -> None:
    address = "100 MAIN ST"
    key = str(premise_key([address], [None], [None])[0])

    def call(i: int, day: str, call_type: str, assault: bool = False, knife: bool = False):
        return {
            "call_id": f"C{i}",
            "received_at": pd.Timestamp(f"{day} 12:{i:02d}:00"),
            "call_type": call_type,
            "address": address,
            "beat": "B1",
            "district": "D1",
            "narrative": "caller says suspect has a knife" if knife else None,
            "officer_assaulted": assault,
            "officer_injured": False,
        }

    calls = [
        call(1, "2025-01-05", "ASSAULT", assault=True),
        call(2, "2025-02-01", "DISTURBANCE", knife=True),
        call(3, "2025-03-01", "FIGHT"),
        call(4, "2025-03-02", "DOMESTIC", assault=True),
        call(5, "2025-03-03", "NOISE"),
        call(6, "2021-03-03", "FIGHT"),  # beyond the premise horizon
    ]
    store = SqliteHistoryStore(tmp_path / "history.db", CFG)
    store.append(calls)
    frame = FramePremiseHistory(events_frame(pd.DataFrame(calls), CFG), CFG.premise_horizon_days)
    for before in ("2025-01-05 12:01:00", "2025-03-02 12:04:00", "2025-04-01"):
        for limit in (1, 10):
            live = store.premise_incidents(key, _us(before), limit=limit)
            assert frame.premise_incidents(key, _us(before), limit=limit) == live, before
    assert frame.premise_incidents("nowhere", _us("2025-04-01")) == []


def test_a_model_saved_before_the_rename_keeps_its_limit() -> None:
    """Bundles written with `service.stale_model_days` still load; the limit carries over."""
    from risk_model.config import Settings

    old = Settings().model_dump(mode="json")
    old["service"] = {"top_reasons": 5, "max_batch": 1000, "stale_model_days": 120}
    assert Settings.model_validate(old).service.outside_period_days == 120
    assert Settings().service.outside_period_days == 180
