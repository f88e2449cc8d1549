"""History features: point-in-time semantics on tiny inline tables, and Hypothesis properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from risk_model.config import FeatureConfig
from risk_model.features.build import build_features
from risk_model.features.history import HISTORY_AGGS, US_PER_DAY, day_of

CFG = FeatureConfig(premise_horizon_days=400, near_repeat_days=14)
HISTORY_NAMES = [a.name for a in HISTORY_AGGS] + [
    "prem_near_repeat",
    "beat_violent_share_30d",
    "beat_assault_rate_365d",
    "district_violent_share_30d",
    "district_assault_rate_365d",
]


def calls(rows: list[dict]) -> pd.DataFrame:
    base = {
        "call_type": "THEFT REPORT",
        "address": "100 MAIN ST",
        "beat": "B1",
        "district": "D1",
        "officer_assaulted": False,
        "officer_injured": False,
    }
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["received_at"] = pd.to_datetime(frame["received_at"], format="mixed").astype(
        "datetime64[us]"
    )
    frame["call_id"] = frame.get("call_id", pd.Series([f"c{i}" for i in range(len(frame))]))
    return frame


def feats_of(frame: pd.DataFrame) -> pd.DataFrame:
    return build_features(frame, CFG).set_index("call_id")


def test_counts_use_strictly_earlier_calls_and_ties_are_not_earlier() -> None:
    f = feats_of(
        calls(
            [
                {"call_id": "a", "received_at": "2025-01-01 10:00"},
                {"call_id": "b", "received_at": "2025-01-01 10:00"},  # same instant as a
                {"call_id": "c", "received_at": "2025-01-05 09:00"},
                {"call_id": "d", "received_at": "2025-01-09 09:00"},  # a, b fall out of 7 days
            ]
        )
    )
    assert f.loc["a", "prem_calls_7d"] == 0
    assert f.loc["b", "prem_calls_7d"] == 0
    assert f.loc["c", "prem_calls_7d"] == 2
    assert f.loc["d", "prem_calls_7d"] == 1
    assert f.loc["d", "prem_calls_30d"] == 3


@pytest.mark.parametrize(
    ("offset_days", "expected"),
    [(0.5, 1.0), (7.0, 1.0), (7.01, 0.0), (30, 0.0)],  # [t - 7 days, t)
)
def test_seven_day_window_is_half_open(offset_days: float, expected: float) -> None:
    t0 = pd.Timestamp("2025-03-01 12:00")
    f = feats_of(
        calls(
            [
                {"call_id": "old", "received_at": t0},
                {"call_id": "new", "received_at": t0 + pd.Timedelta(days=offset_days)},
            ]
        )
    )
    assert f.loc["new", "prem_calls_7d"] == expected


def test_outcomes_and_days_since_violent() -> None:
    f = feats_of(
        calls(
            [
                {
                    "call_id": "v",
                    "received_at": "2025-01-01 00:00",
                    "call_type": "DOMESTIC DISTURBANCE",
                    "officer_assaulted": True,
                    "officer_injured": True,
                },
                {"call_id": "x", "received_at": "2025-01-11 12:00"},
                {"call_id": "y", "received_at": "2025-03-01 00:00"},
            ]
        )
    )
    assert f.loc["v", "prem_assaults_365d"] == 0  # its own outcome is never a feature
    assert f.loc["x", "prem_assaults_365d"] == 1
    assert f.loc["x", "prem_injuries_all"] == 1
    assert f.loc["x", "prem_violent_365d"] == 1
    assert f.loc["x", "prem_days_since_violent"] == pytest.approx(10.5)
    assert f.loc["x", "prem_near_repeat"] == 1
    assert f.loc["y", "prem_near_repeat"] == 0
    assert np.isnan(f.loc["v", "prem_days_since_violent"])


def test_premise_effects_expire_after_the_horizon() -> None:
    f = feats_of(
        calls(
            [
                {"call_id": "a", "received_at": "2023-01-01 00:00", "officer_assaulted": True},
                {"call_id": "b", "received_at": "2024-01-01 00:00"},
                {"call_id": "c", "received_at": "2024-03-01 00:00"},
            ]
        )
    )
    assert f.loc["b", "prem_assaults_all"] == 1  # 365 days < 400-day horizon
    assert f.loc["c", "prem_assaults_all"] == 0  # 425 days: expired


def test_area_windows_use_whole_previous_days() -> None:
    f = feats_of(
        calls(
            [
                {"call_id": "a", "received_at": "2025-05-01 08:00", "address": "1 A ST"},
                {"call_id": "b", "received_at": "2025-05-01 20:00", "address": "2 B ST"},
                {"call_id": "c", "received_at": "2025-05-02 00:01", "address": "3 C ST"},
            ]
        )
    )
    assert f.loc["b", "beat_calls_30d"] == 0  # same day: not in yesterday's aggregate
    assert f.loc["c", "beat_calls_30d"] == 2
    assert f.loc["c", "district_calls_30d"] == 2


def test_missing_address_falls_back_to_grid_cell_and_none_gives_nan() -> None:
    f = feats_of(
        calls(
            [
                {
                    "call_id": "a",
                    "received_at": "2025-05-01",
                    "address": None,
                    "latitude": 32.78,
                    "longitude": -96.80,
                },
                {
                    "call_id": "b",
                    "received_at": "2025-05-02 00:00",
                    "address": None,
                    "latitude": 32.78001,
                    "longitude": -96.80001,
                },
                {"call_id": "c", "received_at": "2025-05-03 00:00", "address": None},
            ]
        )
    )
    assert f.loc["b", "_premise"].startswith("G:")
    assert f.loc["b", "prem_calls_7d"] == 1
    assert pd.isna(f.loc["c", "_premise"])
    assert np.isnan(f.loc["c", "prem_calls_7d"])
    assert np.isnan(f.loc["c", "prem_near_repeat"])


def test_address_spellings_share_one_premise() -> None:
    f = feats_of(
        calls(
            [
                {"call_id": "a", "received_at": "2025-05-01", "address": "1234 North Main Street"},
                {"call_id": "b", "received_at": "2025-05-02 00:00", "address": "1234 N. MAIN ST"},
            ]
        )
    )
    assert f.loc["b", "prem_calls_7d"] == 1


def test_history_argument_counts_history_and_earlier_input_calls() -> None:
    hist = calls([{"call_id": "h1", "received_at": "2025-01-01 00:00", "officer_assaulted": True}])
    new = calls(
        [
            {"call_id": "n1", "received_at": "2025-01-02 00:00", "officer_assaulted": None},
            {"call_id": "n2", "received_at": "2025-01-03 00:00", "officer_assaulted": None},
        ]
    )
    from risk_model.features.build import events_frame

    f = build_features(new, CFG, history=events_frame(hist, CFG)).set_index("call_id")
    assert f.loc["n1", "prem_calls_7d"] == 1
    assert f.loc["n2", "prem_calls_7d"] == 2
    assert f.loc["n2", "prem_assaults_365d"] == 1


# --------------------------------------------------------------------------- properties

EPOCH = pd.Timestamp("2025-01-01")
event_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "minute": st.integers(0, 60 * 24 * 60),  # sixty days, minute resolution -> ties
            "address": st.sampled_from(["1 A ST", "2 B ST", "3 C ST", None]),
            "beat": st.sampled_from(["B1", "B2", None]),
            "district": st.sampled_from(["D1", "D2"]),
            "call_type": st.sampled_from(["ASSAULT", "THEFT REPORT", "PERSON WITH WEAPON"]),
            "officer_assaulted": st.sampled_from([True, False, None]),
            "officer_injured": st.sampled_from([True, False, None]),
        }
    ),
    min_size=2,
    max_size=40,
)


def frame_of(events: list[dict]) -> pd.DataFrame:
    rows = []
    for i, e in enumerate(events):
        row = dict(e)
        row["call_id"] = f"e{i}"
        row["received_at"] = EPOCH + pd.Timedelta(minutes=e["minute"])
        del row["minute"]
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["received_at"] = frame["received_at"].astype("datetime64[us]")
    for col in ("officer_assaulted", "officer_injured"):
        frame[col] = frame[col].astype("boolean")
    return frame


def history_of(frame: pd.DataFrame) -> pd.DataFrame:
    return build_features(frame, CFG).set_index("call_id")[HISTORY_NAMES]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_strategy, pick=st.integers(0, 39), data=st.data())
def test_events_at_or_after_a_call_never_change_its_features(
    events: list[dict], pick: int, data: st.DataObject
) -> None:
    frame = frame_of(events)
    target = frame.iloc[pick % len(frame)]
    before = history_of(frame).loc[target["call_id"]]
    later = frame["received_at"] >= target["received_at"]
    later &= frame["call_id"] != target["call_id"]
    changed = frame.copy()
    action = data.draw(st.sampled_from(["remove", "flip", "add"]))
    if action == "remove":
        changed = changed[~later]
    elif action == "flip":
        changed.loc[later, "officer_assaulted"] = ~changed.loc[later, "officer_assaulted"].fillna(
            False
        ).astype(bool)
        changed.loc[later, "call_type"] = "SHOTS FIRED"
    else:
        extra = changed[changed["call_id"] == target["call_id"]].copy()
        extra["call_id"] = "added"
        extra["received_at"] = target["received_at"] + pd.Timedelta(
            minutes=data.draw(st.integers(0, 10_000))
        )
        extra["officer_assaulted"] = True
        changed = pd.concat([changed, extra], ignore_index=True)
    after = history_of(changed.reset_index(drop=True)).loc[target["call_id"]]
    pd.testing.assert_series_equal(before, after, check_names=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_strategy, pick=st.integers(0, 39))
def test_a_calls_own_outcome_never_changes_its_features(events: list[dict], pick: int) -> None:
    frame = frame_of(events)
    idx = pick % len(frame)
    call_id = frame.loc[idx, "call_id"]
    before = build_features(frame, CFG).set_index("call_id").loc[call_id]
    changed = frame.copy()
    was = frame.loc[idx, "officer_assaulted"]
    changed.loc[idx, "officer_assaulted"] = not (False if pd.isna(was) else bool(was))
    changed.loc[idx, "officer_injured"] = pd.NA
    after = build_features(changed, CFG).set_index("call_id").loc[call_id]
    pd.testing.assert_series_equal(before, after, check_names=False)


def test_day_of_handles_times_before_and_after_midnight() -> None:
    ts = np.array(
        [
            pd.Timestamp("2025-05-01 23:59:59").value // 1000,
            pd.Timestamp("2025-05-02").value // 1000,
        ]
    )
    assert day_of(ts)[1] - day_of(ts)[0] == 1
    assert day_of(ts)[1] * US_PER_DAY == ts[1]
