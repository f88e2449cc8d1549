"""An earlier call's outcome counts from when it was known (SPEC §2): its report time
(`outcome_known_at`) where the data has one, else its latest possible received time plus
`features.outcome_lag_days`, in the offline builder and the live store alike."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from risk_model.config import FeatureConfig
from risk_model.features.build import (
    HISTORY_NAMES,
    build_features,
    events_frame,
    online_features,
)
from risk_model.features.store import SqliteHistoryStore
from risk_model.schema import CallWithOutcome, validate_frame

CFG = FeatureConfig()  # the default reporting lag: 1 day
D = pd.Timestamp("2025-03-10")
HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)
US = pd.Timedelta(microseconds=1)
OUTCOME_FEATURES = (
    "prem_assaults_365d",
    "prem_assaults_all",
    "prem_injuries_365d",
    "prem_injuries_all",
    "prem_assault_rate_365d",
    "beat_assaults_365d",
    "beat_assault_rate_365d",
    "district_assaults_365d",
    "district_assault_rate_365d",
)


def frame(rows: list[dict]) -> pd.DataFrame:
    """Canonical calls (validated as ingest writes them) at one address, beat and district."""
    base = {"call_type": "NOISE", "address": "1 A ST", "beat": "B1", "district": "D1"}
    # Times written out in full (a bare midnight would read as a date without a time of day).
    rows = [
        {k: v.isoformat() if isinstance(v, pd.Timestamp) else v for k, v in r.items()}
        for r in rows
    ]
    res = validate_frame(pd.DataFrame([{**base, **r} for r in rows]), now=pd.Timestamp("2030"))
    assert res.quarantined.empty, res.quarantined["_reason"].tolist()
    return res.accepted


def records(calls: pd.DataFrame) -> list[dict]:
    return calls.astype(object).where(calls.notna(), None).to_dict("records")


def predecessor(known_at: pd.Timestamp | None) -> dict:
    """An assault at D 10:00 whose report was filed at `known_at` (None: not recorded)."""
    row = {
        "call_id": "pred",
        "received_at": D + 10 * HOUR,
        "call_type": "ASSAULT",
        "officer_assaulted": True,
        "officer_injured": True,
    }
    return row if known_at is None else {**row, "outcome_known_at": known_at}


def offline_probe(history: pd.DataFrame, at: pd.Timestamp, cfg: FeatureConfig = CFG) -> pd.Series:
    probe = frame([{"call_id": "probe", "received_at": at}])
    return build_features(probe, cfg, history=events_frame(history, cfg)).iloc[0]


def live_probe(store: SqliteHistoryStore, at: pd.Timestamp) -> dict:
    probe = records(frame([{"call_id": "probe", "received_at": at}]))
    return {k: v[0] for k, v in online_features(probe, store, store.cfg).items()}


def same(a: object, b: object) -> bool:
    return (pd.isna(a) and pd.isna(b)) or a == b


# --------------------------------------------------------------------------- the column


def test_known_at_is_validated_and_a_bare_date_means_the_end_of_that_day() -> None:
    res = validate_frame(
        pd.DataFrame(
            {
                "call_id": ["a", "b", "c", "d", "e"],
                "received_at": ["2025-03-10T10:00"] * 5,
                "call_type": ["ASSAULT"] * 5,
                "outcome_known_at": [
                    "2025-03-10",  # filed that day: known from its end
                    "2025-03-09",  # before the call
                    "",  # not recorded: the lag applies
                    "2025-03-13T09:00",
                    "next week",
                ],
            }
        ),
        now=pd.Timestamp("2026-01-01"),
    )
    got = res.accepted.set_index("call_id")["outcome_known_at"]
    assert got["a"] == pd.Timestamp("2025-03-10T23:59:59.999999")
    assert pd.isna(got["c"])
    assert got["d"] == pd.Timestamp("2025-03-13T09:00")
    reasons = dict(zip(res.quarantined["call_id"], res.quarantined["_reason"], strict=True))
    assert reasons["b"].startswith("outcome_known_at: before received_at")
    assert reasons["e"].startswith("outcome_known_at: cannot parse")
    with pytest.raises(ValidationError, match="outcome_known_at"):
        CallWithOutcome.model_validate(
            {
                "call_id": "x",
                "received_at": "2025-03-10T10:00",
                "call_type": "ASSAULT",
                "outcome_known_at": "2025-03-10T09:59",
            }
        )


def test_known_at_is_never_a_feature_of_the_call_itself() -> None:
    calls = frame([predecessor(D + 3 * DAY), {"call_id": "later", "received_at": D + 9 * DAY}])
    base = build_features(calls, CFG)
    other = calls.assign(outcome_known_at=calls["outcome_known_at"] + DAY)
    moved = build_features(other, CFG)
    own = [c for c in base.columns if c not in HISTORY_NAMES]
    pd.testing.assert_frame_equal(base[own], moved[own])


# --------------------------------------------------------------------------- (a) a late outcome


@pytest.mark.parametrize(
    ("known_at", "not_yet", "counted"),
    [
        # The report was filed three days later: a call at D+2 cannot know of the assault.
        (D + 3 * DAY, D + 2 * DAY, D + 4 * DAY),
        # No report time: the call's received time plus the 1-day lag, strictly after.
        (None, D + 10 * HOUR + DAY, D + 10 * HOUR + DAY + US),
    ],
    ids=["report_time", "lag"],
)
def test_offline_builder_and_live_store_agree_on_a_late_outcome(
    tmp_path: Path, known_at: pd.Timestamp | None, not_yet: pd.Timestamp, counted: pd.Timestamp
) -> None:
    history = frame([predecessor(known_at)])
    store = SqliteHistoryStore(tmp_path / "h.db", CFG)
    store.append(records(history))
    for at, expected in ((not_yet, 0), (counted, 1)):
        offline = offline_probe(history, at)
        online = live_probe(store, at)
        assert offline["prem_assaults_365d"] == expected, at
        assert offline["prem_injuries_all"] == expected, at
        # The call itself counts from its own time in both cases.
        assert offline["prem_calls_7d"] == 1, at
        assert offline["prem_violent_365d"] == 1, at
        for name in (*HISTORY_NAMES, *OUTCOME_FEATURES):
            assert same(offline[name], online[name]), (at, name, offline[name], online[name])


def test_area_buckets_count_an_outcome_from_the_day_it_was_known(tmp_path: Path) -> None:
    """Area windows are whole previous days: a report filed on D+3 counts from D+4 on."""
    history = frame([predecessor(D + 3 * DAY + 9 * HOUR)])
    store = SqliteHistoryStore(tmp_path / "h.db", CFG)
    store.append(records(history))
    for at, expected in ((D + 3 * DAY + 23 * HOUR, 0), (D + 4 * DAY, 1)):
        assert offline_probe(history, at)["beat_assaults_365d"] == expected
        assert live_probe(store, at)["beat_assaults_365d"] == expected
        assert live_probe(store, at)["beat_calls_365d"] == 1  # the call: from day D+1 on


def test_an_outcome_arriving_later_records_its_known_time(tmp_path: Path) -> None:
    """The service first stores the call, then (via /ingest) its outcome with the report time:
    the store then answers as if it had both from the start."""
    late = frame([predecessor(D + 3 * DAY)])
    store = SqliteHistoryStore(tmp_path / "late.db", CFG)
    call_only = late.drop(columns=["outcome_known_at"]).assign(
        officer_assaulted=pd.NA, officer_injured=pd.NA
    )
    assert store.append(records(call_only)).inserted == 1
    res = store.append(records(late))
    assert (res.inserted, res.updated) == (0, 1)
    fresh = SqliteHistoryStore(tmp_path / "fresh.db", CFG)
    fresh.append(records(late))
    for at in (D + 2 * DAY, D + 3 * DAY + US, D + 5 * DAY):
        a, b = live_probe(store, at), live_probe(fresh, at)
        for name in HISTORY_NAMES:
            assert same(a[name], b[name]), (at, name)
    # Appended again without a report time, the recorded one stays.
    assert store.append(records(late.drop(columns=["outcome_known_at"]))).unchanged == 1
    assert live_probe(store, D + 2 * DAY)["prem_assaults_365d"] == 0
    # A corrected report time moves the outcome's day bucket too.
    earlier = late.assign(outcome_known_at=D + 11 * HOUR)
    assert store.append(records(earlier)).updated == 1
    assert live_probe(store, D + DAY)["beat_assaults_365d"] == 1
    assert live_probe(store, D + 12 * HOUR)["prem_assaults_365d"] == 1


def test_dated_incidents_show_harm_only_once_it_was_known(tmp_path: Path) -> None:
    history = frame([predecessor(D + 3 * DAY)])
    store = SqliteHistoryStore(tmp_path / "h.db", CFG)
    store.append(records(history))
    key = online_features(records(history), store, CFG)["_premise"][0]
    before = store.premise_incidents(key, int((D + 2 * DAY).value // 1000))
    assert [(i.call_id, i.violent, i.assault, i.injury) for i in before] == [
        ("pred", True, False, False)  # listed as the violent call it was, harm not yet known
    ]
    (after,) = store.premise_incidents(key, int((D + 4 * DAY).value // 1000))
    assert (after.assault, after.injury) == (True, True)


def test_the_lag_is_a_setting_and_a_store_rebuilds_its_buckets_for_another(
    tmp_path: Path,
) -> None:
    history = frame([predecessor(None)])
    path = tmp_path / "h.db"
    SqliteHistoryStore(path, CFG).append(records(history))
    at = D + 2 * DAY + 11 * HOUR  # 2 days and 1 hour after the call
    three = FeatureConfig(outcome_lag_days=3)
    reopened = SqliteHistoryStore(path, three)
    for name, expected in (("prem_assaults_365d", 0), ("beat_assaults_365d", 0)):
        assert offline_probe(history, at, three)[name] == expected
        assert live_probe(reopened, at)[name] == expected
    assert offline_probe(history, at)["prem_assaults_365d"] == 1
    back = SqliteHistoryStore(path, CFG)
    assert live_probe(back, at)["prem_assaults_365d"] == 1
    assert live_probe(back, at)["beat_assaults_365d"] == 1


def test_old_frames_and_stores_without_known_times_use_the_lag(tmp_path: Path) -> None:
    """A model's history snapshot or a store written before known times existed: outcomes
    count from the call's time plus the lag of the settings reading them."""
    history = frame([predecessor(None), {"call_id": "other", "received_at": D + 11 * HOUR}])
    old_events = events_frame(history, CFG).drop(columns=["outcome_us", "outcome_known_us"])
    path = tmp_path / "old.db"
    SqliteHistoryStore(path, CFG).bulk_load(old_events)
    with sqlite3.connect(path) as con:  # as an older release left it
        con.execute("DROP INDEX calls_premise_outcome_ts")
        con.execute("ALTER TABLE calls DROP COLUMN known_us")
        con.execute("ALTER TABLE calls DROP COLUMN outcome_ts")
        con.execute("DELETE FROM meta WHERE k = 'outcome_lag_us'")
        # buckets as they were built then: outcomes on the call's own day
        con.execute("UPDATE area_days SET assault = 0, injury = 0")
        day = int((D + 10 * HOUR).value // 1000 // 86_400_000_000)
        con.execute("UPDATE area_days SET assault = 1, injury = 1 WHERE day = ?", (day,))
    reopened = SqliteHistoryStore(path, CFG)
    for at in (D + 23 * HOUR, D + DAY + 10 * HOUR + US, D + 2 * DAY):
        offline = build_features(
            frame([{"call_id": "probe", "received_at": at}]), CFG, history=old_events
        ).iloc[0]
        online = live_probe(reopened, at)
        for name in HISTORY_NAMES:
            assert same(offline[name], online[name]), (at, name)
    assert live_probe(reopened, D + 23 * HOUR)["prem_assaults_365d"] == 0
    assert live_probe(reopened, D + 2 * DAY)["beat_assaults_365d"] == 1


# --------------------------------------------------------------------------- (b) the property

EARLIER = st.lists(
    st.fixed_dictionaries(
        {
            "minute": st.integers(0, 60 * 24 * 12),
            "address": st.sampled_from(["1 A ST", "2 B ST", None]),
            "beat": st.sampled_from(["B1", "B2", None]),
            "assault": st.booleans(),
            "injury": st.booleans(),
            # minutes after the call the report was filed (None: not recorded, the lag applies)
            "report_after": st.one_of(st.none(), st.integers(0, 60 * 24 * 6)),
        }
    ),
    min_size=1,
    max_size=25,
)


def _history(events: list[dict]) -> pd.DataFrame:
    rows = []
    for i, e in enumerate(events):
        at = D + pd.Timedelta(minutes=e["minute"])
        known = None if e["report_after"] is None else at + pd.Timedelta(minutes=e["report_after"])
        rows.append(
            {
                "call_id": f"e{i}",
                "received_at": at,
                "address": e["address"],
                "beat": e["beat"],
                "call_type": "ASSAULT" if i % 2 else "NOISE",
                "officer_assaulted": e["assault"],
                "officer_injured": e["injury"],
                "outcome_known_at": known,
            }
        )
    out = frame(rows)
    out["outcome_known_at"] = out["outcome_known_at"].astype("datetime64[us]")
    return out


def _known_from(history: pd.DataFrame, lag: pd.Timedelta) -> pd.Series:
    return history["outcome_known_at"].fillna(history["received_at"] + lag)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=EARLIER, query_minute=st.integers(0, 60 * 24 * 14))
def test_an_outcome_known_at_or_after_the_query_never_changes_its_features(
    events: list[dict], query_minute: int
) -> None:
    history = _history(events)
    at = D + pd.Timedelta(minutes=query_minute)
    late = (_known_from(history, DAY) >= at).to_numpy()
    # Those outcomes erased, or reported even later: the query's features are the same.
    erased = history.copy()
    erased.loc[late, ["officer_assaulted", "officer_injured"]] = False
    later = history.copy()
    later.loc[late, "outcome_known_at"] = _known_from(history, DAY)[late] + 30 * DAY
    base = offline_probe(history, at)
    for other in (erased, later):
        got = offline_probe(other, at)
        for name in HISTORY_NAMES:
            assert same(base[name], got[name]), name


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=EARLIER, query_minute=st.integers(0, 60 * 24 * 14))
def test_the_live_store_gives_the_offline_features_whatever_the_report_times(
    events: list[dict], query_minute: int
) -> None:
    history = _history(events)
    at = D + pd.Timedelta(minutes=query_minute)
    offline = offline_probe(history, at)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteHistoryStore(Path(tmp) / "h.db", CFG)
        # Calls first, outcomes later (as the service learns them), in a shuffled order.
        store.append(records(history.assign(officer_assaulted=pd.NA, officer_injured=pd.NA)))
        order = np.random.default_rng(len(events)).permutation(len(history))
        store.append(records(history.iloc[order]))
        online = live_probe(store, at)
        store.close()
    for name in HISTORY_NAMES:
        assert same(offline[name], online[name]), (name, offline[name], online[name])


# --------------------------------------------------------------------------- (d) the ingest join

CAD = (
    "INCIDENT_NO,CALL_TIME,NATURE,ADDRESS\n"
    "24-1,03/01/2024 10:00,DISTURBANCE,12 ELM ST\n"
    "24-2,03/01/2024 10:05,ASSAULT,9 OAK AVE\n"
    "24-3,03/01/2024 10:07,FIGHT,1 MAIN ST\n"
    "24-4,03/02/2024 08:00,FIGHT,2 MAIN ST\n"
    "24-5,03/02/2024 09:00,DOMESTIC,3 MAIN ST\n"
    "24-6,03/02/2024 10:00,WELFARE CHECK,5 PINE ST\n"
)
# One row per officer, each with the date its report was filed (some only to the day).
REPORTS = (
    "INCIDENT_NUMBER,ASSAULTED,INJURED,REPORTED\n"
    "24-1,N,N,03/02/2024 08:00\n"  # earliest, but says no harm
    "24-1,Y,N,03/05/2024 14:00\n"
    "24-1,Y,Y,03/03/2024\n"  # the earliest harmed report: known from the end of 3 March
    "24-2,N,N,03/06/2024 11:00\n"
    "24-2,N,N,03/02/2024 09:30\n"  # none harmed: the earliest of all
    "24-3,Y,N,\n"  # no date: the reporting lag applies
    "24-4,Y,N,03/01/2024\n"  # before the call was received
    "24-5,Y,N,soon\n"  # unreadable
)
JOIN = """
fields:
  call_id: INCIDENT_NO
  received_at: {column: CALL_TIME, formats: ["%m/%d/%Y %H:%M"]}
  call_type: NATURE
  address: ADDRESS
outcomes:
  file: reports.csv
  key: INCIDENT_NUMBER
  absent: "false"
  fields:
    officer_assaulted: {column: ASSAULTED, values: {"Y": "true", "N": "false"}}
    officer_injured: {column: INJURED, values: {"Y": "true", "N": "false"}}
    outcome_known_at: {column: REPORTED, formats: ["%m/%d/%Y %H:%M", "%m/%d/%Y"]}
"""


def test_the_ingest_join_takes_the_earliest_harmed_report_time(tmp_path: Path) -> None:
    from risk_model.ingest.run import ingest_file

    (tmp_path / "cad.csv").write_text(CAD, encoding="utf-8")
    (tmp_path / "reports.csv").write_text(REPORTS, encoding="utf-8")
    (tmp_path / "m.yaml").write_text(JOIN, encoding="utf-8")
    report = ingest_file(tmp_path / "cad.csv", tmp_path / "out", tmp_path / "m.yaml")
    calls = pd.read_parquet(tmp_path / "out" / "calls.parquet").set_index("call_id")
    known = calls["outcome_known_at"]
    assert known["24-1"] == pd.Timestamp("2024-03-03T23:59:59.999999")
    assert known["24-2"] == pd.Timestamp("2024-03-02T09:30")
    assert pd.isna(known["24-3"]) and bool(calls.loc["24-3", "officer_assaulted"])
    assert pd.isna(known["24-6"]) and not bool(calls.loc["24-6", "officer_assaulted"])
    # A report dated before its call, or unreadable, is quarantined naming the field; its call
    # is then never set "not harmed" on the strength of nothing.
    assert pd.isna(calls.loc["24-4", "officer_assaulted"])
    assert pd.isna(calls.loc["24-5", "officer_assaulted"])
    q = pd.read_csv(tmp_path / "out" / "outcomes_quarantine.csv")
    reasons = dict(zip(q["INCIDENT_NUMBER"], q["_reason"], strict=True))
    assert reasons["24-4"].startswith("outcomes.fields.outcome_known_at: REPORTED 2024-03-01")
    assert "before the call's received_at 2024-03-02 08:00" in reasons["24-4"]
    assert reasons["24-5"].startswith("outcomes.fields.outcome_known_at: REPORTED does not match")
    assert report["outcome_rows_in"] == 8
    assert (report["outcome_rows_matched"], report["outcome_rows_quarantined"]) == (6, 2)
    # The calls load as canonical calls, and the report times reach the features' events.
    res = validate_frame(calls.reset_index(), now=pd.Timestamp("2030"))
    assert res.quarantined.empty
    ev = events_frame(res.accepted, CFG).set_index("call_id")
    assert ev.loc["24-1", "outcome_us"] == pd.Timestamp("2024-03-03T23:59:59.999999").value // 1000
    assert ev.loc["24-3", "outcome_us"] == ev.loc["24-3", "ts"] + 86_400_000_000


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            '{column: REPORTED, values: {"x": "y"}}',
            "outcomes.fields.outcome_known_at: values is not used for a report time",
        ),
        ("{column: REPORTED, formats: ['%H:%M']}", "outcome_known_at.formats: '%H:%M' has no day"),
        ('{value: "2024-03-01"}', "outcomes.fields.outcome_known_at: give the outcome file's"),
    ],
)
def test_a_wrong_report_time_mapping_is_refused_in_one_line(
    tmp_path: Path, spec: str, message: str
) -> None:
    from risk_model.errors import UserError
    from risk_model.ingest.run import load_mapping

    text = JOIN.replace(
        'outcome_known_at: {column: REPORTED, formats: ["%m/%d/%Y %H:%M", "%m/%d/%Y"]}',
        f"outcome_known_at: {spec}",
    )
    (tmp_path / "m.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("'", "'")):
        load_mapping(tmp_path / "m.yaml")
