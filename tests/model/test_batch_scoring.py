"""Offline scoring looks up premise incidents for a whole batch at once
(`FramePremiseHistory.premise_incidents_many`); the answers must be the per-call lookup's, list
for list and in the same order, and the scored file byte for byte the same."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from risk_model.config import FeatureConfig
from risk_model.features.build import events_frame
from risk_model.features.history import US_PER_DAY
from risk_model.model.assessment import FramePremiseHistory, incidents_of
from risk_model.schema import validate_frame
from risk_model.simulate.generate import simulate

CFG = FeatureConfig()
BUSY = "1 BUSY ST"


def _us(value: str | pd.Timestamp) -> int:
    return int(pd.Timestamp(value).value // 1000)


def busy_history(sim: pd.DataFrame) -> pd.DataFrame:
    """A simulated history plus one address with hundreds of incidents: many per day, calls
    known only to the day (which share their day's last microsecond as history), harm, weapons,
    and calls with no address at all."""
    rng = np.random.default_rng(3)
    rows = []
    start = pd.Timestamp("2025-01-01")
    for i in range(400):
        day = start + pd.Timedelta(days=int(rng.integers(0, 365)))
        day_only = i % 3 == 0
        rows.append(
            {
                "call_id": f"B{i}",
                "received_at": day if day_only else day + pd.Timedelta(minutes=int(i % 1440)),
                "received_until": day + pd.Timedelta(days=1) if day_only else pd.NaT,
                "call_type": ["ASSAULT", "FIGHT", "DISTURBANCE", "NOISE"][i % 4],
                "address": None if i % 7 == 0 else BUSY,
                "beat": "B1",
                "district": "D1",
                "narrative": "suspect has a knife" if i % 5 == 0 else None,
                "officer_assaulted": bool(i % 11 == 0),
                "officer_injured": bool(i % 13 == 0),
            }
        )
    busy = pd.DataFrame(rows)
    both = pd.concat([sim.assign(received_until=pd.NaT), busy], ignore_index=True)
    res = validate_frame(both, now=pd.Timestamp("2026-06-01"))
    assert len(res.quarantined) == 0
    return res.accepted


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    sim, _ = simulate(calls=4000, seed=7, start="2025-01-01", days=365)
    return events_frame(busy_history(sim), CFG)


def queries(ev: pd.DataFrame, n: int, seed: int) -> tuple[list[str], list[int]]:
    """Premises of the history (and some it never saw) at times on, just after and between its
    events, and months after it ends."""
    rng = np.random.default_rng(seed)
    keys = ev["premise"].dropna().astype(str).to_numpy()
    ts = ev["ts"].to_numpy(dtype=np.int64)
    premises = rng.choice(keys, n).tolist()
    premises[::17] = ["NEVER SEEN"] * len(premises[::17])
    times = rng.choice(ts, n) + rng.choice([0, 1, -1, US_PER_DAY, 90 * US_PER_DAY], n)
    return premises, times.tolist()


def test_the_batch_lookup_equals_the_per_call_lookup(history: pd.DataFrame) -> None:
    frame = FramePremiseHistory(history, CFG.premise_horizon_days)
    premises, times = queries(history, 3000, seed=1)
    busy = str(history.loc[history["call_id"] == "B1", "premise"].iloc[0])
    premises[:300] = [busy] * 300  # the address with hundreds of incidents, often at the limit
    for limit in (1, 10):
        many = frame.premise_incidents_many(premises, times, limit=limit)
        one = [
            frame.premise_incidents(p, t, limit=limit)
            for p, t in zip(premises, times, strict=True)
        ]
        assert many == one
    full = frame.premise_incidents_many([busy], [times[0] + 400 * US_PER_DAY])[0]
    assert len(full) == 10 and all(inc.assault or inc.injury for inc in full)
    assert any(len(inc.received_at) == 10 for lst in one for inc in lst)  # day-only calls
    assert incidents_of(frame, [], []) == [] and incidents_of(None, ["x"], [0]) == [[]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.tuples(st.integers(0, 10**6), st.integers(-3, 3)), min_size=1, max_size=40),
    limit=st.integers(0, 12),
)
def test_any_batch_of_queries_gets_the_per_call_answers(
    history: pd.DataFrame, picks: list[tuple[int, int]], limit: int
) -> None:
    frame = FramePremiseHistory(history, CFG.premise_horizon_days)
    rows = history.iloc[[i % len(history) for i, _ in picks]]
    premises = rows["premise"].fillna("NEVER SEEN").astype(str).tolist()
    shifts = [s * US_PER_DAY if abs(s) > 1 else s for _, s in picks]
    times = (rows["ts"].to_numpy(dtype=np.int64) + np.array(shifts)).tolist()
    many = frame.premise_incidents_many(premises, times, limit=limit)
    pairs = zip(premises, times, strict=True)
    assert many == [frame.premise_incidents(p, t, limit=limit) for p, t in pairs]


class PerCall:
    """A `PremiseHistory` that only answers one call at a time, as the per-call path did."""

    def __init__(self, frame: FramePremiseHistory) -> None:
        self.frame = frame

    def premise_incidents(self, premise: str, before_us: int, limit: int = 10) -> list:
        return self.frame.premise_incidents(premise, before_us, limit)


def test_scored_file_is_byte_for_byte_the_per_call_one(trained: dict) -> None:
    """The whole assessment (reasons, precautions quoting incidents, warnings) as CSV bytes."""
    from risk_model.dataset import load_calls
    from risk_model.features.build import build_features
    from risk_model.model import tracking
    from risk_model.model.bundle import assessment_frame
    from risk_model.model.precautions import load_rules

    model, _ = tracking.load_model(trained["model_uri"])
    calls, _ = load_calls(trained["data"])
    past, new = calls.iloc[:-3000], calls.iloc[-3000:].copy()
    new.loc[new.index[::9], ["address", "latitude", "longitude"]] = None  # no premise
    cfg = model.settings.features
    hist = events_frame(past, cfg)
    feats = build_features(new, cfg, history=hist)
    both = pd.concat([hist, events_frame(new, cfg)], ignore_index=True)
    frame = FramePremiseHistory(both, cfg.premise_horizon_days)
    ids = new["call_id"].astype(str).tolist()
    out = []
    for premises in (frame, PerCall(frame)):
        assessed = model.assess_features(feats, ids, premises, load_rules(), keep_incidents=True)
        buf = io.StringIO()
        assessment_frame(assessed.assessments).to_csv(buf, index=False)
        out.append((buf.getvalue(), assessed.incidents))
    assert out[0] == out[1]
    assert sum(bool(x) for x in out[0][1]) > 100  # many calls quote real incidents
    assert "{premise_incidents}" not in out[0][0]


def test_scoring_a_part_at_a_time_changes_nothing(trained: dict) -> None:
    """`score` assesses 20,000 calls at a time (memory, progress): any part size, same rows."""
    from risk_model.dataset import load_calls
    from risk_model.model import tracking

    model, _ = tracking.load_model(trained["model_uri"])
    calls, _ = load_calls(trained["data"])
    calls = calls.iloc[-700:]
    whole = model.score_calls(calls)
    seen: list[tuple[int, int]] = []
    frames = [
        pd.DataFrame([a.as_dict() for a in part])
        for part in model.assessed_parts(calls, part_rows=64)
    ]
    assert [len(f) for f in frames] == [64] * 10 + [60]
    model_parts = model.score_calls(calls, progress=lambda done, total: seen.append((done, total)))
    pd.testing.assert_frame_equal(whole, model_parts)
    assert pd.concat(frames)["call_id"].tolist() == whole["call_id"].tolist()
    assert seen == [(700, 700)]


def test_progress_lines_come_every_tenth_and_at_the_end(caplog: pytest.LogCaptureFixture) -> None:
    from risk_model.batch.score import Progress

    progress = Progress(every_share=0.1, every_seconds=3600)
    with caplog.at_level("INFO", logger="risk_model.batch.score"):
        for done in range(50, 1001, 50):
            progress(done, 1000)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 10
    assert lines[-1].startswith("score: 1,000 / 1,000 calls (100%)")
    assert "calls/s" in lines[0] and "s left" in lines[0]


harm_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "minute": st.integers(0, 60 * 24 * 20),
            "day_only": st.booleans(),
            "address": st.sampled_from(["1 A ST", "2 B ST"]),
            "call_type": st.sampled_from(["ASSAULT", "DISTURBANCE", "NOISE", "THEFT REPORT"]),
            "knife": st.booleans(),
            "assault": st.sampled_from([True, False, None]),
            "injury": st.sampled_from([True, False]),
            "report_after_h": st.sampled_from([None, 0, 3, 30, 24 * 9]),
        }
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=harm_strategy, probes=st.lists(st.integers(-60 * 24, 60 * 24 * 30), max_size=12))
def test_offline_incidents_follow_the_store_while_reports_are_pending(
    rows: list[dict], probes: list[int], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Harm counts from when it was known, offline as in the live store: a call just after a
    harmed call (its report pending, or filed days later) sees it by what else it was."""
    from risk_model.features.store import SqliteHistoryStore

    start = pd.Timestamp("2025-03-01")
    calls = []
    for i, r in enumerate(rows):
        at = start + pd.Timedelta(minutes=r["minute"], seconds=7)  # day-only calls tie
        day = at.normalize()
        calls.append(
            {
                "call_id": f"C{i}",
                "received_at": day if r["day_only"] else at,
                "received_until": day + pd.Timedelta(days=1) if r["day_only"] else None,
                "call_type": r["call_type"],
                "address": r["address"],
                "narrative": "suspect has a knife" if r["knife"] else None,
                "officer_assaulted": r["assault"],
                "officer_injured": r["injury"],
                "outcome_known_at": None
                if r["report_after_h"] is None
                else at + pd.Timedelta(hours=r["report_after_h"]),
            }
        )
    res = validate_frame(pd.DataFrame(calls), now=pd.Timestamp("2026-01-01"))
    assert res.quarantined.empty, res.quarantined["_reason"].tolist()
    ev = events_frame(res.accepted, CFG)
    store = SqliteHistoryStore(tmp_path_factory.mktemp("s") / "h.db", CFG)
    store.append_events(ev)
    frame = FramePremiseHistory(ev, CFG.premise_horizon_days)
    keys = sorted(ev["premise"].dropna().astype(str).unique())
    times = [int((start + pd.Timedelta(minutes=m)).value // 1000) for m in probes]
    times += ev["ts"].tolist() + (ev["outcome_us"] + 1).tolist()
    pairs = [(k, t) for k in keys for t in times]
    live = [store.premise_incidents(k, t, limit=4) for k, t in pairs]
    assert [frame.premise_incidents(k, t, limit=4) for k, t in pairs] == live
    assert frame.premise_incidents_many([k for k, _ in pairs], [t for _, t in pairs], 4) == live
    store.close()
