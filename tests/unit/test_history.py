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

# Outcomes count from the call's own time here (no reporting lag): these tests pin the time
# windows; when outcomes count is tested in test_outcome_known_at.py.
CFG = FeatureConfig(premise_horizon_days=400, near_repeat_days=14, outcome_lag_days=0)
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


# ------------------------------------------------- times known only to a day or a shift band

DAY = pd.Timedelta(days=1)
US = pd.Timedelta(microseconds=1)
AREA_NAMES = [n for n in HISTORY_NAMES if n.startswith(("beat_", "district_"))]
# How a call's time is known: exactly, to the day, or to a shift band (one crossing midnight).
TIMINGS = ("exact", "day", "band_15_23", "band_23_07")

timed_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "minute": st.integers(0, 60 * 24 * 30),  # thirty days, minute resolution -> ties
            "timing": st.sampled_from(TIMINGS),
            "address": st.sampled_from(["1 A ST", "2 B ST", None]),
            "beat": st.sampled_from(["B1", "B2", None]),
            "district": st.sampled_from(["D1", "D2"]),
            "call_type": st.sampled_from(["ASSAULT", "THEFT REPORT", "PERSON WITH WEAPON"]),
            "officer_assaulted": st.sampled_from([True, False, None]),
            "officer_injured": st.sampled_from([True, False, None]),
        }
    ),
    min_size=2,
    max_size=30,
)


def interval_of(at: pd.Timestamp, timing: str) -> tuple[pd.Timestamp, pd.Timestamp | None]:
    """(received_at, received_until) of a call that happened at `at`, known as `timing` says."""
    day = at.normalize()
    if timing == "day":
        return day, day + DAY
    if timing == "band_15_23":
        return day + pd.Timedelta(hours=15), day + pd.Timedelta(hours=23)
    if timing == "band_23_07":
        return day + pd.Timedelta(hours=23), day + pd.Timedelta(hours=31)
    return at, None


def timed_frame(events: list[dict]) -> pd.DataFrame:
    rows = []
    for i, e in enumerate(events):
        row = {k: v for k, v in e.items() if k not in ("minute", "timing")}
        start, until = interval_of(EPOCH + pd.Timedelta(minutes=e["minute"]), e["timing"])
        rows.append({**row, "call_id": f"e{i}", "received_at": start, "received_until": until})
    frame = pd.DataFrame(rows)
    for col in ("received_at", "received_until"):
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
    for col in ("officer_assaulted", "officer_injured"):
        frame[col] = frame[col].astype("boolean")
    return frame


def latest(frame: pd.DataFrame) -> pd.Series:
    """When each call counts as history: its interval's last microsecond, else its time."""
    return (frame["received_until"] - US).fillna(frame["received_at"])


def test_exact_call_never_counts_a_day_only_call_of_its_day() -> None:
    """A day-only call of day D may have been at 23:59: an exact call at D 10:00 does not count
    it, a call from D+1 00:00 on does (its latest possible time, D 23:59:59.999999, is earlier)."""
    d = pd.Timestamp("2025-02-10")
    day_only = {
        "call_id": "day",
        "received_at": d,
        "received_until": d + DAY,
        "call_type": "ASSAULT",
        "officer_assaulted": True,
    }
    probes = {
        "d_0000": d,
        "d_1000": d + pd.Timedelta(hours=10),
        "d_2359": d + DAY - US,
        "d1_0000": d + DAY,
        "d1_0000_000001": d + DAY + US,
        "d1_1000": d + DAY + pd.Timedelta(hours=10),
    }
    frame = calls([day_only, *({"call_id": k, "received_at": t} for k, t in probes.items())])
    frame["received_until"] = frame["received_until"].astype("datetime64[us]")
    f = feats_of(frame)
    # Only the day-only call is violent or harmful: the probes show whether it is counted.
    for name in ("d_0000", "d_1000", "d_2359"):
        assert f.loc[name, "prem_assaults_365d"] == 0, name
        assert f.loc[name, "prem_violent_near"] == 0, name
        assert np.isnan(f.loc[name, "prem_days_since_violent"]), name
    assert f.loc["d_1000", "prem_calls_7d"] == 1  # the exact call at D 00:00 only
    for name in ("d1_0000", "d1_0000_000001", "d1_1000"):
        assert f.loc[name, "prem_assaults_365d"] == 1, name
        assert f.loc[name, "prem_violent_near"] == 1, name
    assert f.loc["d1_0000", "prem_calls_7d"] == 4  # the day-only call and three exact calls
    # Area windows are whole previous days: the day-only call lands in day D's bucket.
    assert f.loc["d_2359", "beat_assaults_365d"] == 0
    assert f.loc["d1_0000", "beat_assaults_365d"] == 1
    # The days since it are counted from its latest possible time: never more than true.
    assert f.loc["d1_1000", "prem_days_since_violent"] == pytest.approx(10 / 24, abs=1e-6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(minute=st.integers(0, 1439), later_us=st.integers(1, 5 * 86_400_000_000))
def test_a_day_only_call_counts_from_the_next_day_on(minute: int, later_us: int) -> None:
    d = pd.Timestamp("2025-02-10")
    frame = calls(
        [
            {"call_id": "day", "received_at": d, "received_until": d + DAY},
            {"call_id": "same_day", "received_at": d + pd.Timedelta(minutes=minute)},
            {"call_id": "after", "received_at": d + DAY + pd.Timedelta(microseconds=later_us)},
        ]
    )
    frame["received_until"] = frame["received_until"].astype("datetime64[us]")
    f = feats_of(frame)
    assert f.loc["same_day", "prem_calls_7d"] == 0
    assert f.loc["after", "prem_calls_30d"] == 2  # the day-only call and the same-day call


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=timed_strategy, pick=st.integers(0, 29))
def test_a_day_only_call_never_sees_an_event_of_its_own_day(events: list[dict], pick: int) -> None:
    frame = timed_frame(events)
    idx = pick % len(frame)
    start, until = interval_of(frame.loc[idx, "received_at"], "day")
    frame.loc[idx, ["received_at", "received_until"]] = [start, until]
    target = frame.loc[idx, "call_id"]
    before = history_of(frame).loc[target]
    # Every other call that ends on that day or later, whatever its timing: gone, or flipped.
    later = (latest(frame) >= start) & (frame["call_id"] != target)
    after = history_of(frame[~later].reset_index(drop=True)).loc[target]
    pd.testing.assert_series_equal(before, after, check_names=False)
    flipped = frame.copy()
    flipped.loc[later, "officer_assaulted"] = True
    flipped.loc[later, "call_type"] = "SHOTS FIRED"
    pd.testing.assert_series_equal(before, history_of(flipped).loc[target], check_names=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=timed_strategy, pick=st.integers(0, 29), data=st.data())
def test_events_at_or_after_a_calls_earliest_time_never_change_its_features(
    events: list[dict], pick: int, data: st.DataObject
) -> None:
    frame = timed_frame(events)
    target = frame.iloc[pick % len(frame)]
    before = history_of(frame).loc[target["call_id"]]
    later = (latest(frame) >= target["received_at"]) & (frame["call_id"] != target["call_id"])
    action = data.draw(st.sampled_from(["remove", "flip", "add"]))
    changed = frame.copy()
    if action == "remove":
        changed = changed[~later]
    elif action == "flip":
        changed.loc[later, "officer_assaulted"] = True
        changed.loc[later, "call_type"] = "SHOTS FIRED"
    else:  # a call that may have happened before the target, but may also have been later
        extra = changed[changed["call_id"] == target["call_id"]].copy()
        start = target["received_at"] - pd.Timedelta(minutes=data.draw(st.integers(0, 600)))
        length = data.draw(st.integers(1, 2 * 24 * 60))
        until = max(start + pd.Timedelta(minutes=length), target["received_at"] + US)
        extra[["call_id", "received_at", "received_until"]] = ["added", start, until]
        extra["officer_assaulted"] = True
        changed = pd.concat([changed, extra], ignore_index=True)
    after = history_of(changed.reset_index(drop=True)).loc[target["call_id"]]
    pd.testing.assert_series_equal(before, after, check_names=False)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=timed_strategy, hours=st.lists(st.integers(0, 23), min_size=30, max_size=30))
def test_area_features_do_not_move_with_the_latest_time_shift(
    events: list[dict], hours: list[int]
) -> None:
    """Within one day, when a call counts (its latest time) and when it happened agree on the
    day, and area windows see only whole days: area features are those of the exact times."""
    for e in events:  # intervals within one day only (a band crossing midnight ends a day on)
        if e["timing"] == "band_23_07":
            e["timing"] = "day"
    frame = timed_frame(events)
    exact = frame.copy()
    inside = frame["received_until"].notna()
    for i in np.flatnonzero(inside):  # one time the call may really have had, in its interval
        lo, hi = frame.loc[i, "received_at"], frame.loc[i, "received_until"]
        span_h = int((hi - lo) / pd.Timedelta(hours=1))
        exact.loc[i, "received_at"] = lo + pd.Timedelta(hours=hours[i] % span_h)
    exact["received_until"] = pd.NaT
    a = build_features(frame, CFG).set_index("call_id")[AREA_NAMES]
    b = build_features(exact, CFG).set_index("call_id")[AREA_NAMES]
    pd.testing.assert_frame_equal(a, b)
