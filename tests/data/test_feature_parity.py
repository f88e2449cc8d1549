"""One feature path: the offline builder, the SQL definitions and the live store agree exactly."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from risk_model.config import FeatureConfig
from risk_model.features.build import (
    HISTORY_NAMES,
    build_features,
    events_frame,
    online_features,
)
from risk_model.features.history import day_of, window_sql
from risk_model.features.registry import FEATURE_NAMES
from risk_model.features.store import SqliteHistoryStore
from risk_model.schema import validate_frame

CFG = FeatureConfig()
COMPARED = list(dict.fromkeys([*FEATURE_NAMES, *HISTORY_NAMES]))


def canonical(calls: pd.DataFrame) -> pd.DataFrame:
    return validate_frame(calls).accepted


def assert_same(offline: dict | pd.DataFrame, online: dict, names: list[str]) -> None:
    for name in names:
        a = np.asarray(offline[name])
        b = np.asarray(online[name])
        if a.dtype == object or b.dtype == object:
            assert list(a) == list(b), name
        else:
            np.testing.assert_array_equal(a.astype(float), b.astype(float), err_msg=name)


def test_online_store_fed_call_by_call_matches_offline_builder(
    sim_calls: pd.DataFrame, tmp_path: Path
) -> None:
    calls = canonical(sim_calls)
    offline = build_features(calls, CFG).set_index("call_id")
    cut = calls["received_at"].max() - pd.Timedelta(days=30)
    past, last_month = calls[calls["received_at"] < cut], calls[calls["received_at"] >= cut]
    assert len(last_month) > 2000

    store = SqliteHistoryStore(tmp_path / "history.db", CFG)
    ev = events_frame(past, CFG)
    store.bulk_load(ev)
    assert store.count() == len(past)
    records = last_month.astype(object).where(last_month.notna(), None).to_dict("records")
    for start in range(0, len(records)):
        call = records[start]
        pre = {k: v for k, v in call.items() if k not in ("officer_assaulted", "officer_injured")}
        online = online_features([pre], store, CFG)
        expected = offline.loc[call["call_id"]]
        for name in COMPARED:
            a, b = expected[name], online[name][0]
            if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
                assert a == b or (pd.isna(a) and pd.isna(b)), (call["call_id"], name, a, b)
            else:
                assert (np.isnan(a) and np.isnan(b)) or a == b, (call["call_id"], name, a, b)
        store.append([call])  # the call, with its outcome, becomes history for later calls
    assert store.count() == len(calls)


def test_sql_window_definitions_match_the_numpy_engine(sim_calls: pd.DataFrame) -> None:
    calls = canonical(sim_calls).iloc[:15_000]
    offline = build_features(calls, CFG)
    events = events_frame(calls, CFG)
    events["day"] = day_of(events["ts"].to_numpy())
    events["received_day"] = day_of(events["received_us"].to_numpy())
    con = duckdb.connect()
    con.register("events", events)
    sql = con.sql(window_sql(CFG)).df().set_index("call_id").loc[offline["call_id"]]
    for agg_name in [c for c in sql.columns]:
        # The SQL engine computes in float64; features are stored as float32 by every path.
        np.testing.assert_array_equal(
            sql[agg_name].to_numpy(dtype=float).astype(np.float32),
            offline[agg_name].to_numpy(dtype=np.float32),
            err_msg=agg_name,
        )


def test_post_dispatch_columns_and_outcomes_never_reach_features(sim_calls: pd.DataFrame) -> None:
    calls = canonical(sim_calls).iloc[:8000].reset_index(drop=True)
    post = [
        c for c in ("disposition", "final_call_type", "clearance_code", "cleared_at") if c in calls
    ]
    assert post, "the simulator must carry post-dispatch columns"
    base = build_features(calls, CFG)
    rng = np.random.default_rng(0)
    shuffled = calls.copy()
    for col in post:
        shuffled[col] = shuffled[col].to_numpy()[rng.permutation(len(calls))]
    dropped = calls.drop(columns=post)
    for other in (shuffled, dropped):
        pd.testing.assert_frame_equal(base, build_features(other, CFG))
    # Outcomes are history for *later* calls only: blanking them changes no call's own row fields.
    blank = calls.assign(officer_assaulted=pd.NA, officer_injured=pd.NA)
    own_fields = [n for n in FEATURE_NAMES if not n.startswith(("prem_", "beat_", "district_"))]
    pd.testing.assert_frame_equal(base[own_fields], build_features(blank, CFG)[own_fields])


def test_store_survives_restart_and_updates_outcomes(
    sim_calls: pd.DataFrame, tmp_path: Path
) -> None:
    calls = canonical(sim_calls).iloc[:3000]
    path = tmp_path / "h.db"
    first = SqliteHistoryStore(path, CFG)
    res = first.append(calls.assign(officer_assaulted=pd.NA, officer_injured=pd.NA))
    assert res.inserted == len(calls)
    first.close()
    second = SqliteHistoryStore(path, CFG)
    assert second.count() == len(calls)
    res = second.append(calls)  # the outcomes arrive later
    assert res.inserted == 0
    assert res.updated == int((calls["officer_assaulted"] | calls["officer_injured"]).sum())
    fresh = SqliteHistoryStore(tmp_path / "fresh.db", CFG)
    fresh.append(calls)
    probe = calls.iloc[-1:].assign(received_at=calls["received_at"].max() + pd.Timedelta(days=1))
    rec = probe.astype(object).where(probe.notna(), None).to_dict("records")
    assert_same(online_features(rec, second, CFG), online_features(rec, fresh, CFG), COMPARED)


@pytest.mark.parametrize("n_threads", [4])
def test_concurrent_readers_and_a_writer(
    sim_calls: pd.DataFrame, tmp_path: Path, n_threads: int
) -> None:
    import threading

    calls = canonical(sim_calls).iloc[:4000]
    store = SqliteHistoryStore(tmp_path / "c.db", CFG)
    store.append(calls.iloc[:2000])
    rec = calls.iloc[2000:2050].astype(object).where(calls.iloc[2000:2050].notna(), None)
    records = rec.to_dict("records")
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for r in records:
                feats = online_features([r], store, CFG)
                assert not np.isnan(feats["beat_calls_30d"][0]) or r["beat"] is None
        except BaseException as exc:
            errors.append(exc)

    def writer() -> None:
        try:
            for start in range(2000, 4000, 100):
                store.append(calls.iloc[start : start + 100])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(n_threads)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert store.count() == 4000


def test_area_sums_follow_writes_by_another_store(sim_calls: pd.DataFrame, tmp_path: Path) -> None:
    """Beat and district sums are remembered per day; a write through another connection (the
    CLI's load-history, a second worker) is seen by the very next call, as is the outcome of an
    earlier call arriving late."""
    calls = canonical(sim_calls).iloc[:3000]
    path = tmp_path / "h.db"
    server, other = SqliteHistoryStore(path, CFG), SqliteHistoryStore(path, CFG)
    server.append(calls.iloc[:2000].assign(officer_assaulted=False, officer_injured=False))
    probe = calls.iloc[-1:].assign(received_at=calls["received_at"].max() + pd.Timedelta(days=2))
    rec = probe.astype(object).where(probe.notna(), None).to_dict("records")
    before = online_features(rec, server, CFG)
    assert_same(before, online_features(rec, server, CFG), COMPARED)  # the cached answer

    other.append(calls.iloc[2000:])  # from another connection
    fresh = SqliteHistoryStore(tmp_path / "fresh.db", CFG)
    fresh.append(calls.iloc[:2000].assign(officer_assaulted=False, officer_injured=False))
    fresh.append(calls.iloc[2000:])
    after = online_features(rec, server, CFG)
    assert_same(after, online_features(rec, fresh, CFG), COMPARED)
    assert after["district_calls_365d"][0] > before["district_calls_365d"][0]

    other.append(calls.iloc[:2000])  # the outcomes of the first calls arrive late
    fresh.append(calls.iloc[:2000])
    assert_same(online_features(rec, server, CFG), online_features(rec, fresh, CFG), COMPARED)


# ------------------------------------------------- times known only to a day or a shift band


def with_intervals(calls: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    """A canonical table where some calls are known only to their day or to a shift band (one
    crossing midnight), as use-of-force and crime files record them; the rest stay exact."""
    rng = np.random.default_rng(seed)
    at = calls["received_at"]
    day = at.dt.normalize()
    kind = rng.choice(["exact", "day", "band", "night_band"], len(calls), p=[0.6, 0.2, 0.1, 0.1])
    hour = at.dt.hour
    band_start = day + pd.to_timedelta(np.where(hour < 15, 7, 15), unit="h")
    night_start = day + pd.Timedelta(hours=23)
    start = np.select(
        [kind == "day", kind == "band", kind == "night_band"], [day, band_start, night_start], at
    )
    until = np.select(
        [kind == "day", kind == "band", kind == "night_band"],
        [
            day + pd.Timedelta(days=1),
            band_start + pd.Timedelta(hours=8),
            night_start + pd.Timedelta(hours=8),
        ],
        pd.NaT,
    )
    text = pd.DataFrame(
        {
            "received_at": pd.Series(start).dt.strftime("%Y-%m-%dT%H:%M:%S"),
            "received_until": pd.Series(until).dt.strftime("%Y-%m-%dT%H:%M:%S"),
        }
    )
    raw = calls.astype(object).assign(
        received_at=text["received_at"].to_numpy(),
        received_until=text["received_until"].fillna("").to_numpy(),
    )
    res = validate_frame(raw, now=calls["received_at"].max() + pd.Timedelta(days=30))
    assert len(res.quarantined) == 0, res.quarantined["_reason"].iloc[0]
    return res.accepted.sort_values("received_at", kind="stable").reset_index(drop=True)


def test_interval_times_give_the_same_features_offline_in_sql_and_in_the_live_store(
    sim_calls: pd.DataFrame, tmp_path: Path
) -> None:
    calls = with_intervals(canonical(sim_calls).iloc[:9000])
    assert calls["received_until"].notna().sum() > 2500
    offline = build_features(calls, CFG).set_index("call_id")

    # The SQL definitions over the same events (times as the events frame stores them).
    events = events_frame(calls, CFG)
    events["day"] = day_of(events["ts"].to_numpy())
    events["received_day"] = day_of(events["received_us"].to_numpy())
    con = duckdb.connect()
    con.register("events", events)
    sql = con.sql(window_sql(CFG)).df().set_index("call_id").loc[offline.index]
    for agg_name in sql.columns:
        np.testing.assert_array_equal(
            sql[agg_name].to_numpy(dtype=float).astype(np.float32),
            offline[agg_name].to_numpy(dtype=np.float32),
            err_msg=agg_name,
        )

    # The live store: a bulk-loaded past, then call by call, each appended after it is scored.
    cut = calls["received_at"].iloc[len(calls) // 2]
    past, recent = calls[calls["received_at"] < cut], calls[calls["received_at"] >= cut]
    store = SqliteHistoryStore(tmp_path / "history.db", CFG)
    store.bulk_load(events_frame(past, CFG))
    records = recent.astype(object).where(recent.notna(), None).to_dict("records")
    for call in records:
        pre = {k: v for k, v in call.items() if k not in ("officer_assaulted", "officer_injured")}
        online = online_features([pre], store, CFG)
        expected = offline.loc[call["call_id"]]
        for name in COMPARED:
            a, b = expected[name], online[name][0]
            if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
                assert a == b or (pd.isna(a) and pd.isna(b)), (call["call_id"], name, a, b)
            else:
                assert (np.isnan(a) and np.isnan(b)) or a == b, (call["call_id"], name, a, b)
        store.append([call])
    assert store.count() == len(calls)
    # Day-only and shift-band calls have no clock time, in both paths.
    banded = recent["received_until"].notna().to_numpy()
    assert np.isnan(offline.loc[recent["call_id"], "hour_sin"].to_numpy()[banded]).all()


def test_old_events_frames_and_stores_without_interval_times_still_work(
    sim_calls: pd.DataFrame, tmp_path: Path
) -> None:
    """A model snapshot or a history store written before received_until existed holds exact
    times only: it loads and gives the features it always gave."""
    import sqlite3

    calls = canonical(sim_calls).iloc[:3000]
    probe = calls.iloc[-1:].assign(
        call_id="probe", received_at=calls["received_at"].max() + pd.Timedelta(days=1)
    )
    rec = probe.astype(object).where(probe.notna(), None).to_dict("records")
    old_events = events_frame(calls, CFG).drop(columns=["received_us"])
    old = SqliteHistoryStore(tmp_path / "old.db", CFG)
    old.bulk_load(old_events)
    old.close()
    with sqlite3.connect(tmp_path / "old.db") as con:  # as an older release left it
        con.execute("ALTER TABLE calls DROP COLUMN received_us")
    reopened = SqliteHistoryStore(tmp_path / "old.db", CFG)
    fresh = SqliteHistoryStore(tmp_path / "fresh.db", CFG)
    fresh.append(calls)
    assert_same(online_features(rec, reopened, CFG), online_features(rec, fresh, CFG), COMPARED)
    offline = build_features(probe, CFG, history=old_events)
    assert_same(offline, online_features(rec, fresh, CFG), COMPARED)
    reopened.append(probe)  # and takes new calls
    assert reopened.count() == len(calls) + 1


def with_known_times(calls: pd.DataFrame, seed: int = 5) -> pd.DataFrame:
    """Some calls' outcomes known at a report time (from the call's start to ten days later,
    some only to the day), the rest by the reporting lag, as an outcome-file join leaves them."""
    rng = np.random.default_rng(seed)
    n = len(calls)
    harmed = (calls["officer_assaulted"] | calls["officer_injured"]).fillna(False).to_numpy()
    kind = np.where(
        harmed,
        rng.choice(["lag", "exact", "day"], n, p=[0.15, 0.55, 0.3]),
        rng.choice(["lag", "exact", "day"], n, p=[0.4, 0.4, 0.2]),
    )
    delay = pd.to_timedelta(rng.integers(0, 10 * 24 * 60, n), unit="min")
    known = calls["received_at"] + delay
    text = np.where(
        kind == "exact",
        known.dt.strftime("%Y-%m-%dT%H:%M:%S"),
        np.where(kind == "day", known.dt.strftime("%Y-%m-%d"), ""),
    )
    raw = calls.astype(object).assign(
        received_at=calls["received_at"].dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(),
        outcome_known_at=text,
    )
    if "received_until" in calls:
        until = calls["received_until"].dt.strftime("%Y-%m-%dT%H:%M:%S")
        raw["received_until"] = until.fillna("").to_numpy()
    res = validate_frame(raw, now=calls["received_at"].max() + pd.Timedelta(days=30))
    assert len(res.quarantined) == 0, res.quarantined["_reason"].iloc[0]
    return res.accepted


def test_report_times_give_the_same_features_offline_in_sql_and_in_the_live_store(
    sim_calls: pd.DataFrame, tmp_path: Path
) -> None:
    """SPEC §2: an earlier call's outcome counts from when it was known, in every engine, on a
    mix of exact, day-only and shift-band calls with and without report times."""
    calls = with_known_times(with_intervals(canonical(sim_calls).iloc[:9000]))
    harmed = (calls["officer_assaulted"] | calls["officer_injured"]).fillna(False)
    assert (harmed & calls["outcome_known_at"].notna()).sum() >= 8
    offline = build_features(calls, CFG).set_index("call_id")
    # The report times matter: with outcomes counted from the call's time the features differ.
    at_call = build_features(
        calls.drop(columns=["outcome_known_at"]), CFG.model_copy(update={"outcome_lag_days": 0})
    ).set_index("call_id")
    assert (offline["prem_assaults_all"] != at_call["prem_assaults_all"]).any()

    events = events_frame(calls, CFG)
    events["day"] = day_of(events["ts"].to_numpy())
    events["received_day"] = day_of(events["received_us"].to_numpy())
    con = duckdb.connect()
    con.register("events", events)
    sql = con.sql(window_sql(CFG)).df().set_index("call_id").loc[offline.index]
    for agg_name in sql.columns:
        np.testing.assert_array_equal(
            sql[agg_name].to_numpy(dtype=float).astype(np.float32),
            offline[agg_name].to_numpy(dtype=np.float32),
            err_msg=agg_name,
        )

    cut = calls["received_at"].iloc[len(calls) // 2]
    past, recent = calls[calls["received_at"] < cut], calls[calls["received_at"] >= cut]
    store = SqliteHistoryStore(tmp_path / "history.db", CFG)
    store.bulk_load(events_frame(past, CFG))
    records = recent.astype(object).where(recent.notna(), None).to_dict("records")
    for call in records:
        pre = {
            k: v
            for k, v in call.items()
            if k not in ("officer_assaulted", "officer_injured", "outcome_known_at")
        }
        online = online_features([pre], store, CFG)
        expected = offline.loc[call["call_id"]]
        for name in COMPARED:
            a, b = expected[name], online[name][0]
            if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
                assert a == b or (pd.isna(a) and pd.isna(b)), (call["call_id"], name, a, b)
            else:
                assert (np.isnan(a) and np.isnan(b)) or a == b, (call["call_id"], name, a, b)
        store.append([call])  # with its outcome and report time: counted from that time on
    assert store.count() == len(calls)


# ------------------------------------------- months after the history: every engine, one rule

LATER_DAY = pd.Timedelta(days=1)
EPOCH_LATER = pd.Timestamp("2025-01-01")
# Keys a later call may carry: one the history holds, one it never saw, or none at all.
later_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "minute": st.integers(0, 60 * 24 * 200),  # up to ~6.5 months after the history
            "timing": st.sampled_from(("exact", "day")),
            "address": st.sampled_from(["1 A ST", "2 B ST", "77 NEW RD", None]),
            "beat": st.sampled_from(["B1", "B2", "B9", None]),
            "district": st.sampled_from(["D1", "D2", "D9", None]),
            "call_type": st.sampled_from(["ASSAULT", "THEFT REPORT", "PERSON WITH WEAPON"]),
        }
    ),
    min_size=1,
    max_size=12,
)
history_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "minute": st.integers(0, 60 * 24 * 45),  # a month and a half of history
            "timing": st.sampled_from(("exact", "day")),
            "address": st.sampled_from(["1 A ST", "2 B ST", None]),
            "beat": st.sampled_from(["B1", "B2", None]),
            "district": st.sampled_from(["D1", "D2", None]),
            "call_type": st.sampled_from(["ASSAULT", "THEFT REPORT", "PERSON WITH WEAPON"]),
            "officer_assaulted": st.sampled_from([True, False, None]),
            "officer_injured": st.sampled_from([True, False, None]),
        }
    ),
    min_size=0,
    max_size=25,
)


def _timed(rows: list[dict], prefix: str, start: pd.Timestamp) -> pd.DataFrame:
    """Canonical calls from drawn rows: exact times (never at midnight, which with a
    received_until column reads as a bare date), or known only to the day."""
    out = []
    for i, e in enumerate(rows):
        at = start + pd.Timedelta(minutes=e["minute"], seconds=7)
        day_only = e["timing"] == "day"
        out.append(
            {
                **{k: v for k, v in e.items() if k not in ("minute", "timing")},
                "call_id": f"{prefix}{i}",
                "received_at": at.normalize() if day_only else at,
                "received_until": at.normalize() + LATER_DAY if day_only else None,
            }
        )
    keys = ["call_id", "received_at", "received_until", "call_type", "address", "beat"]
    frame = pd.DataFrame(out, columns=[*keys, "district", "officer_assaulted", "officer_injured"])
    res = validate_frame(frame)
    assert res.quarantined.empty, res.quarantined["_reason"].tolist()
    return res.accepted


def _three_engines(history: pd.DataFrame, later: pd.DataFrame, tmp: Path) -> list[pd.DataFrame]:
    """The later calls' features from the offline builder, the live store (each call scored,
    then ingested, in time order) and the cluster path's per-partition code."""
    from risk_model.features.build import AreaDays, call_level, sum_area_days
    from risk_model.features.partitions import (
        SHUFFLE_KEY,
        own_frame,
        partition_area_counts,
        partition_features,
    )

    ev = events_frame(history, CFG)
    offline = build_features(later, CFG, history=ev).set_index("call_id")

    store = SqliteHistoryStore(tmp / "h.db", CFG)
    if len(ev):
        store.bulk_load(ev)
    live = {}
    records = later.astype(object).where(later.notna(), None).to_dict("records")
    for rec in sorted(records, key=lambda r: r["received_at"]):
        live[rec["call_id"]] = online_features([rec], store, CFG)
        store.append([rec])
    store.close()
    online = pd.DataFrame(
        {name: [live[c][name][0] for c in offline.index] for name in COMPARED},
        index=offline.index,
    )

    dtypes = {k: np.asarray(v).dtype for k, v in call_level(later, CFG).items()}
    both = pd.concat(
        [own_frame(history, CFG, role=1), own_frame(later, CFG, role=0)], ignore_index=True
    )
    groups = pd.factorize(both[SHUFFLE_KEY])[0] % 2
    parts = [both[groups == g] for g in range(2)]
    area = AreaDays.from_counts(sum_area_days([partition_area_counts(p) for p in parts]))
    cluster = pd.concat(
        [partition_features(p, CFG, area, dtypes) for p in parts if (p["_role"] == 0).any()]
    ).set_index("call_id")
    return [offline[COMPARED], online[COMPARED], cluster.loc[offline.index, COMPARED]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(past=history_strategy, later=later_strategy, gap_days=st.integers(0, 400))
def test_calls_months_after_the_history_get_one_answer_from_every_engine(
    past: list[dict], later: list[dict], gap_days: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Empty windows, zero denominators, areas and premises the history never saw, calls with no
    area, calls known only to the day, and gaps of weeks to months after the last event: the
    offline builder, the live store and the cluster path agree on every feature."""
    history = _timed(past, "h", EPOCH_LATER)
    end = EPOCH_LATER + pd.Timedelta(days=45 + gap_days)
    calls = _timed(later, "n", end)
    offline, online, cluster = _three_engines(history, calls, tmp_path_factory.mktemp("s"))
    for other in (online, cluster):
        for name in COMPARED:
            a, b = offline[name].to_numpy(), other[name].to_numpy()
            if a.dtype == object or b.dtype == object:
                assert [None if pd.isna(v) else v for v in a] == [
                    None if pd.isna(v) else v for v in b
                ], name
            else:
                np.testing.assert_array_equal(a.astype(float), b.astype(float), err_msg=name)
