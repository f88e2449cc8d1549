"""Calls known only to a day or a shift band (`received_until`): validation, row-local features
and their words. History semantics are in test_history.py, store parity in test_feature_parity.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from risk_model.config import FeatureConfig
from risk_model.features.call import call_columns, call_features
from risk_model.features.registry import FEATURES, describe
from risk_model.schema import CallRecord, CallWithOutcome, records_to_frame, validate_frame

CFG = FeatureConfig()
CLOCK_FEATURES = ("hour_sin", "hour_cos", "is_night")


def table(rows: list[dict]) -> pd.DataFrame:
    base = {"call_type": "DISTURBANCE", "address": "1 A ST"}
    return pd.DataFrame([{"call_id": f"c{i}", **base, **r} for i, r in enumerate(rows)])


# --------------------------------------------------------------------------- validation


def test_validate_frame_reads_intervals_and_keeps_exact_rows_exact() -> None:
    res = validate_frame(
        table(
            [
                {"received_at": "2025-03-04", "received_until": "2025-03-05"},  # the day
                {"received_at": "2025-03-04T15:00", "received_until": "2025-03-04T23:00"},
                {"received_at": "2025-03-04T23:00", "received_until": "2025-03-05T07:00"},
                {"received_at": "2025-03-04T10:15", "received_until": ""},  # exact
            ]
        ),
        now=pd.Timestamp("2025-06-01"),
    )
    assert len(res.quarantined) == 0
    acc = res.accepted
    assert list(acc.columns[:3]) == ["call_id", "received_at", "received_until"]
    assert acc["received_at"].iloc[0] == pd.Timestamp("2025-03-04 00:00")
    assert acc["received_until"].iloc[0] == pd.Timestamp("2025-03-05 00:00")
    assert acc["received_until"].iloc[2] == pd.Timestamp("2025-03-05 07:00")
    assert pd.isna(acc["received_until"].iloc[3])
    assert acc["received_until"].dtype == "datetime64[us]"


def test_a_table_without_the_column_is_unchanged() -> None:
    res = validate_frame(table([{"received_at": "2025-03-04T10:15"}]))
    assert "received_until" not in res.accepted.columns


@pytest.mark.parametrize(
    ("start", "until", "why"),
    [
        ("2025-03-04T10:00", "2025-03-04T10:00", "not after received_at"),
        ("2025-03-04T10:00", "2025-03-04T09:00", "not after received_at"),
        ("2025-03-04", "2025-03-07", "more than 2 days after received_at"),
        ("2025-03-04T10:00", "tomorrow", "cannot parse"),
    ],
)
def test_bad_intervals_are_quarantined_naming_received_until(
    start: str, until: str, why: str
) -> None:
    res = validate_frame(
        table(
            [
                {"received_at": start, "received_until": until},
                {"received_at": "2025-03-04T10:00", "received_until": None},
            ]
        ),
        now=pd.Timestamp("2025-06-01"),
    )
    assert res.rows_in == 2 and len(res.accepted) == 1
    reason = res.quarantined["_reason"].iloc[0]
    assert reason.startswith("received_until: ") and why in reason


def test_two_days_is_the_longest_interval_and_a_bare_date_still_needs_received_until() -> None:
    res = validate_frame(
        table(
            [
                {"received_at": "2025-03-04", "received_until": "2025-03-06"},
                {"received_at": "2025-03-04", "received_until": None},
            ]
        ),
        now=pd.Timestamp("2025-06-01"),
    )
    assert list(res.accepted["call_id"]) == ["c0"]
    assert res.quarantined["_reason"].iloc[0] == "received_at: a date without a time of day"


def test_call_record_accepts_and_checks_received_until() -> None:
    rec = CallRecord.model_validate(
        {
            "call_id": "x",
            "received_at": "2025-03-04",
            "received_until": "2025-03-05",
            "call_type": "FIGHT",
        }
    )
    assert rec.received_at == pd.Timestamp("2025-03-04").to_pydatetime()
    assert rec.received_until == pd.Timestamp("2025-03-05").to_pydatetime()
    exact = CallWithOutcome.model_validate(
        {"call_id": "y", "received_at": "2025-03-04T10:00", "received_until": "", "call_type": "F"}
    )
    assert exact.received_until is None
    with pytest.raises(ValidationError) as err:
        CallRecord.model_validate(
            {
                "call_id": "z",
                "received_at": "2025-03-04T10:00",
                "received_until": "2025-03-04T09:00",
                "call_type": "FIGHT",
            }
        )
    assert err.value.errors()[0]["loc"] == ("received_until",)
    with pytest.raises(ValidationError):  # a bare date alone is still not a time
        CallRecord.model_validate({"call_id": "z", "received_at": "2025-03-04", "call_type": "F"})
    frame = records_to_frame([rec, exact])
    assert frame["received_until"].iloc[0] == pd.Timestamp("2025-03-05")
    assert pd.isna(frame["received_until"].iloc[1])


# --------------------------------------------------------------------------- row-local features


def features(rows: list[dict]) -> dict[str, np.ndarray]:
    frame = validate_frame(table(rows), now=pd.Timestamp("2025-06-01")).accepted
    return call_features(call_columns(frame), CFG)


def test_clock_features_are_unknown_unless_the_exact_time_is_known() -> None:
    f = features(
        [
            {"received_at": "2025-03-04T01:30", "received_until": None},  # Tuesday, night
            {"received_at": "2025-03-04", "received_until": "2025-03-05"},
            {"received_at": "2025-03-04T15:00", "received_until": "2025-03-04T23:00"},
            {"received_at": "2025-03-04T23:00", "received_until": "2025-03-05T07:00"},
        ]
    )
    for name in CLOCK_FEATURES:
        assert not np.isnan(f[name][0]), name
        assert np.isnan(f[name][1:]).all(), name  # never midnight, never the band's start
    assert f["is_night"][0] == 1.0
    # The weekday is known when the whole interval lies within one calendar day.
    np.testing.assert_array_equal(f["weekday"][:3], [1.0, 1.0, 1.0])
    assert np.isnan(f["weekday"][3])
    # Queries as of the earliest time, counts as history from the interval's last microsecond.
    start = f["_ts"]
    np.testing.assert_array_equal(f["_ev_ts"][0], start[0])
    us = pd.Timestamp("2025-03-05").value // 1000
    assert f["_ev_ts"][1] == us - 1
    assert f["_ev_ts"][3] == us + 7 * 3600 * 1_000_000 - 1


def test_exact_times_keep_one_time_array() -> None:
    f = features([{"received_at": "2025-03-04T01:30"}, {"received_at": "2025-03-05T11:00"}])
    assert f["_ev_ts"] is f["_ts"]  # the offline builder's exact-time path stays as it was


def test_the_interval_itself_is_not_a_feature() -> None:
    """How precisely a row is timed says which file it came from (e.g. a use-of-force report):
    a day and a shift band within that day give the same features."""
    f = features(
        [
            {"received_at": "2025-03-04", "received_until": "2025-03-05"},
            {"received_at": "2025-03-04T07:00", "received_until": "2025-03-04T15:00"},
            {"received_at": "2025-03-04T15:00", "received_until": "2025-03-04T23:00"},
        ]
    )
    model_features = [d.name for d in FEATURES if d.name in f]
    for name in model_features:
        a = np.asarray(f[name])
        if a.dtype == object:
            assert a[0] == a[1] == a[2], name
        else:
            np.testing.assert_array_equal(a[1:], np.repeat(a[:1], 2), err_msg=name)


def test_words_never_show_a_clock_time_for_a_day_only_call() -> None:
    f = features([{"received_at": "2025-03-04", "received_until": "2025-03-05"}])
    row = {k: float(v[0]) for k, v in f.items() if not k.startswith("_") and v.dtype != object}
    words = [describe(n, row) for n in ("hour_sin", "hour_cos", "is_night", "weekday")]
    assert words[0] == words[1] == "Time of day: unknown"
    assert "unknown" in words[2].lower()
    assert words[3] == "Day of week: Tuesday"
    assert not any("00:00" in w for w in words)
    spans = {"weekday": math.nan, "hour_sin": np.float32("nan"), "hour_cos": 1.0}
    assert describe("weekday", spans).startswith("Day of week unknown")
    assert describe("hour_sin", spans) == "Time of day: unknown"


# --------------------------------------------------------------------------- the live store


def test_live_store_takes_service_records_and_dates_day_only_incidents_by_day(
    tmp_path: Path,
) -> None:
    from risk_model.features.build import online_features
    from risk_model.features.store import SqliteHistoryStore
    from risk_model.model.assessment import incident_words
    from risk_model.text import premise_key

    store = SqliteHistoryStore(tmp_path / "history.db", CFG)
    day_only = CallWithOutcome.model_validate(
        {
            "call_id": "uof-1",
            "received_at": "2025-03-04",
            "received_until": "2025-03-05",
            "call_type": "ASSAULT",
            "address": "1 A ST",
            "officer_assaulted": "true",
            # The report was filed that day: the assault is known from the day's end (without
            # it, the reporting lag would delay it a day more).
            "outcome_known_at": "2025-03-04",
        }
    )
    assert store.append([day_only.model_dump()]).inserted == 1

    def probe(at: str) -> dict[str, np.ndarray]:
        rec = CallRecord.model_validate(
            {"call_id": f"p-{at}", "received_at": at, "call_type": "NOISE", "address": "1 A ST"}
        )
        return online_features([rec.to_row()], store, CFG)

    assert probe("2025-03-04T22:00")["prem_assaults_365d"][0] == 0  # it may have been later
    assert probe("2025-03-05T00:00")["prem_assaults_365d"][0] == 1
    key = str(premise_key(["1 A ST"], [None], [None])[0])
    before = pd.Timestamp("2025-03-06").value // 1000
    (incident,) = store.premise_incidents(key, before)
    assert incident.received_at == "2025-03-04"  # the day, never "2025-03-04T00:00:00"
    assert incident_words([incident]).startswith("2025-03-04 assault on an officer")
    same_day = pd.Timestamp("2025-03-04T22:00").value // 1000
    assert store.premise_incidents(key, same_day) == []


TIMED = st.lists(
    st.fixed_dictionaries(
        {
            "minute": st.integers(0, 60 * 24 * 20),
            "timing": st.sampled_from(["exact", "day", "band_15_23", "band_23_07"]),
            "address": st.sampled_from(["1 A ST", "2 B ST", None]),
            "beat": st.sampled_from(["B1", "B2", None]),
            "call_type": st.sampled_from(["ASSAULT", "THEFT REPORT", "PERSON WITH WEAPON"]),
            "officer_assaulted": st.sampled_from([True, False, None]),
        }
    ),
    min_size=2,
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=TIMED)
def test_live_store_fed_call_by_call_matches_the_offline_builder(events: list[dict]) -> None:
    """Any mix of exact, day-only and shift-band calls: the store, fed in order of received_at
    (each call scored, then appended), gives exactly the offline builder's features."""
    import tempfile

    from risk_model.features.build import HISTORY_NAMES, build_features, online_features
    from risk_model.features.store import SqliteHistoryStore

    epoch = pd.Timestamp("2025-01-01")
    rows = []
    for i, e in enumerate(events):
        at = epoch + pd.Timedelta(minutes=e["minute"])
        day, until = at.normalize(), None
        if e["timing"] == "day":
            at, until = day, day + pd.Timedelta(days=1)
        elif e["timing"] == "band_15_23":
            at, until = day + pd.Timedelta(hours=15), day + pd.Timedelta(hours=23)
        elif e["timing"] == "band_23_07":
            at, until = day + pd.Timedelta(hours=23), day + pd.Timedelta(hours=31)
        rows.append(
            {
                "call_id": f"e{i}",
                "received_at": at.isoformat(),
                "received_until": until.isoformat() if until is not None else "",
                "district": "D1",
                **{k: v for k, v in e.items() if k not in ("minute", "timing")},
            }
        )
    calls = validate_frame(pd.DataFrame(rows), now=pd.Timestamp("2025-06-01")).accepted
    calls = calls.sort_values("received_at", kind="stable").reset_index(drop=True)
    offline = build_features(calls, CFG).set_index("call_id")
    names = list(dict.fromkeys([*(f.name for f in FEATURES), *HISTORY_NAMES]))
    records = calls.astype(object).where(calls.notna(), None).to_dict("records")
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteHistoryStore(Path(tmp) / "h.db", CFG)
        for call in records:
            pre = {k: v for k, v in call.items() if k != "officer_assaulted"}
            online = online_features([pre], store, CFG)
            for name in names:
                a, b = offline.loc[call["call_id"], name], online[name][0]
                if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
                    assert a == b or (pd.isna(a) and pd.isna(b)), (call["call_id"], name)
                else:
                    assert (np.isnan(a) and np.isnan(b)) or a == b, (call["call_id"], name, a, b)
            store.append([call])
        store.close()
