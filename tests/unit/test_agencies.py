"""Several agencies in one data set: keys namespaced, one outcome definition, windows by agency."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from risk_model.config import FeatureConfig, SplitConfig
from risk_model.errors import UserError
from risk_model.features.build import build_features
from risk_model.schema import validate_frame
from risk_model.training.agencies import (
    agency_codes,
    check_outcome_definitions,
    metrics_by_agency,
    place_windows_by_agency,
)
from risk_model.training.pipeline import target_labels


def _calls(rows: list[dict]) -> pd.DataFrame:
    base = {"call_type": "DISTURBANCE", "address": "100 MAIN ST", "beat": "1", "district": "N"}
    return pd.DataFrame([{**base, **r} for r in rows])


@pytest.mark.parametrize(
    ("agencies", "ids", "accepted"),
    [
        (["A", "B"], ["1", "1"], 2),  # two agencies may number their calls alike
        (["A", "A"], ["1", "1"], 1),  # within one agency a repeat is a duplicate
        ([None, None], ["1", "1"], 1),
    ],
)
def test_call_ids_are_unique_within_an_agency(agencies: list, ids: list, accepted: int) -> None:
    frame = _calls(
        [
            {"call_id": i, "agency": a, "received_at": f"2025-01-0{k + 1}T10:00:00"}
            for k, (i, a) in enumerate(zip(ids, agencies, strict=True))
        ]
    )
    result = validate_frame(frame)
    assert len(result.accepted) == accepted
    assert len(result.accepted) + len(result.quarantined) == 2


def test_a_bad_agency_code_is_quarantined_naming_the_field() -> None:
    frame = _calls([{"call_id": "1", "agency": "no spaces!", "received_at": "2025-01-01T10:00"}])
    result = validate_frame(frame)
    assert len(result.accepted) == 0
    assert result.quarantined["_reason"].iloc[0].startswith("agency:")


def test_histories_of_two_agencies_never_mix() -> None:
    """Same address, beat and district names in two agencies: the second agency's call sees no
    history of the first's, while a later call of the first agency does."""
    frame = _calls(
        [
            {"call_id": "1", "agency": "A", "received_at": "2025-01-01T10:00:00"},
            {"call_id": "1", "agency": "B", "received_at": "2025-01-02T10:00:00"},
            {"call_id": "2", "agency": "A", "received_at": "2025-01-03T10:00:00"},
        ]
    )
    calls = validate_frame(frame).accepted
    feats = build_features(calls, FeatureConfig())
    assert list(feats["prem_calls_30d"]) == [0, 0, 1]
    assert feats["_beat"].tolist() == ["A/1", "B/1", "A/1"]
    assert feats["_district"].tolist() == ["A/N", "B/N", "A/N"]


def test_without_agencies_keys_are_unchanged() -> None:
    frame = _calls([{"call_id": "1", "received_at": "2025-01-01T10:00:00"}])
    feats = build_features(validate_frame(frame).accepted, FeatureConfig())
    assert feats["_beat"].tolist() == ["1"]
    assert agency_codes(frame) is None


def test_agencies_recording_different_outcomes_are_refused_in_one_line() -> None:
    frame = pd.DataFrame(
        {
            "agency": ["LMPD", "LMPD", "APD", "APD"],
            "officer_assaulted": pd.array([True, False, None, None], dtype="boolean"),
            "officer_injured": pd.array([None, None, True, False], dtype="boolean"),
        }
    )
    codes = agency_codes(frame)
    assert codes is not None
    with pytest.raises(UserError) as err:
        check_outcome_definitions(frame, codes)
    text = str(err.value)
    assert "\n" not in text
    assert "APD record officer_injured" in text and "LMPD record officer_assaulted" in text


def test_an_outcome_nobody_records_does_not_turn_negatives_unknown() -> None:
    frame = pd.DataFrame(
        {
            "officer_assaulted": pd.array([True, False, None], dtype="boolean"),
            "officer_injured": pd.array([None, None, None], dtype="boolean"),
        }
    )
    y = target_labels(frame, "harmed", ("officer_assaulted",))
    assert y[:2].tolist() == [1.0, 0.0] and np.isnan(y[2])
    # Without the recorded set (a cluster partition), the old reading stands.
    assert np.isnan(target_labels(frame, "harmed")[1])


def test_windows_are_placed_within_each_agency() -> None:
    """Agency A's calls are all in 2023 and B's in 2024: pooled windows would train on A and test
    on B; within each agency, both contribute to every window."""
    rng = np.random.default_rng(0)
    n = 4000
    times = np.concatenate(
        [
            pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.uniform(0, 365, n), unit="D"),
            pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 365, n), unit="D"),
        ]
    )
    codes = np.array(["A"] * n + ["B"] * n, dtype=object)
    y = (rng.random(2 * n) < 0.05).astype(float)
    cfg = SplitConfig(min_window_calls=50, min_window_positives=5)
    placement, window, per_agency = place_windows_by_agency(pd.Series(times), y, codes, cfg)
    for code in ("A", "B"):
        mine = window[codes == code]
        for name in ("train", "validation", "calibration", "test"):
            assert (mine == name).sum() > 100, (code, name)
    assert per_agency["A"].test_start.year == 2023
    assert per_agency["B"].test_start.year == 2024
    assert placement.report["calls_before_bulk"] == 0


def test_an_agency_too_small_to_place_is_named() -> None:
    """One labelled call cannot be split into windows: the error names the agency."""
    days = pd.to_timedelta(np.arange(300), unit="D")
    times = [*pd.Series(pd.Timestamp("2024-01-01") + days), pd.Timestamp("2024-01-05")]
    codes = np.array(["A"] * 300 + ["TINY"], dtype=object)
    y = np.array([0.0, 1.0, 0.0] * 100 + [1.0])
    with pytest.raises(UserError, match="agency TINY"):
        place_windows_by_agency(pd.Series(times), y, codes, SplitConfig(min_window_calls=1))


def test_metrics_by_agency_reports_each_agency_with_its_counts() -> None:
    rng = np.random.default_rng(1)
    n = 600
    label = (rng.random(n) < 0.2).astype(int)
    score = np.where(label == 1, 0.6, 0.4) + rng.normal(0, 0.2, n)
    codes = np.array(["A"] * 400 + ["B"] * 200, dtype=object)
    frame = pd.DataFrame({"score": score, "label": label})
    out = metrics_by_agency(frame, codes, {"call_type_rate": rng.random(n)}, (0.05,), 20, 0)
    assert set(out) == {"A", "B"}
    assert out["B"]["test_calls"] == 200
    assert out["B"]["test_positives"] == int(label[400:].sum())
    assert out["A"]["metrics"]["auc"] > 0.7
    lo, hi = out["A"]["metrics"]["ci"]["auc"]
    assert lo <= out["A"]["metrics"]["auc"] <= hi
    assert 0.3 < out["A"]["baselines"]["call_type_rate"]["auc"] < 0.7
