"""Unit tests of the simulator's building blocks and its world tables (tiny inputs, fast)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from risk_model.errors import UserError
from risk_model.schema import CANONICAL_COLUMNS
from risk_model.simulate.files import simulate_to_file, truth_path_for
from risk_model.simulate.generate import _ipf, _near_repeat, simulate
from risk_model.simulate.world import (
    ASSAULT_SHARE_2H,
    CALL_COLUMNS,
    DEFAULT_CALL_TYPES,
    PHRASES,
    SimConfig,
    _draw,
    _join,
    _ordinal,
    call_type_table,
    leoka_comparison,
)


def test_join_skips_nulls_and_keeps_all_null_rows() -> None:
    parts = [pa.array(["A", None, None, "X"]), pa.array(["B", "C", None, None])]
    out = _join(parts, pa.array([" ", ", ", ";", "-"]))
    assert out.to_pylist() == ["A B", "C", None, "X"]


def test_draw_follows_row_probabilities() -> None:
    rng = np.random.default_rng(0)
    probs = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 2.0]])
    rows = np.repeat([0, 1, 2], 4000)
    out = _draw(rng, probs, rows)
    assert (out[rows == 0] == 0).all()
    assert set(out[rows == 1]) == {1, 2}
    assert abs((out[rows == 1] == 1).mean() - 0.5) < 0.05
    assert (out[rows == 2] == 2).all()


def test_ipf_matches_both_margins() -> None:
    seed = np.array([[1.0, 2.0, 0.5], [0.2, 1.0, 3.0]])
    rows, cols = np.array([60.0, 40.0]), np.array([30.0, 50.0, 20.0])
    table = _ipf(seed, rows, cols, iters=200)
    np.testing.assert_allclose(table.sum(axis=1), rows, rtol=1e-6)
    np.testing.assert_allclose(table.sum(axis=0), cols, rtol=1e-6)


@pytest.mark.parametrize(
    ("times", "violent", "expected"),
    [
        # one premise: violent at day 0; calls at day 1 and day 20 -> only day 1 is within 14 days
        ([0, 86_400, 20 * 86_400], [True, False, False], [0, 1, 0]),
        # a call never counts itself, and exactly 14 days later is outside (t - 14d, t)
        ([0, 14 * 86_400], [True, True], [0, 0]),
        # two violent calls before: both count (the cap is applied by the caller)
        ([0, 10, 20], [True, True, False], [0, 1, 2]),
    ],
)
def test_near_repeat_counts_earlier_violent_calls_only(times, violent, expected) -> None:
    t = np.array(times, dtype=np.int64)
    premise = np.zeros(len(t), dtype=np.int64)
    got = _near_repeat(premise, t, np.array(violent), 14 * 86_400)
    assert got.tolist() == expected


def test_near_repeat_does_not_cross_premises() -> None:
    premise = np.array([0, 1, 1])
    t = np.array([5, 0, 10], dtype=np.int64)
    got = _near_repeat(premise, t, np.array([True, False, False]), 14 * 86_400)
    assert got.tolist() == [0, 0, 0]


@pytest.mark.parametrize(("k", "text"), [(1, "1ST"), (2, "2ND"), (3, "3RD"), (11, "11TH"),
                                          (12, "12TH"), (21, "21ST"), (112, "112TH")])  # fmt: skip
def test_ordinal(k: int, text: str) -> None:
    assert _ordinal(k) == text


def test_call_type_table_is_grounded() -> None:
    table = call_type_table()
    assert 25 <= len(table) <= 35
    assert table["call_type"].is_unique
    assert table["share_of_calls_pct"].sum() == pytest.approx(100)
    overall = (table["share_of_calls_pct"] * table["assaults_per_1000"]).sum() / 100
    assert 2.0 <= overall <= 4.0
    rates = table.set_index("call_type")["assaults_per_1000"]
    assert rates["DISTURBANCE"] == pytest.approx(3.1)  # Tampa, general disturbance
    assert rates["DOMESTIC DISTURBANCE"] == pytest.approx(2.6)  # Tampa, domestic disturbance
    assert rates["TRAFFIC STOP"] < rates["DISTURBANCE"] < rates["PERSON WITH WEAPON"]


def test_leoka_shares_reproduced() -> None:
    comp = leoka_comparison()
    assert (comp["world_pct"] - comp["leoka_calls_only_pct"]).abs().max() < 1.0


def test_hour_profile_matches_field_notes() -> None:
    shares = np.array(ASSAULT_SHARE_2H) / sum(ASSAULT_SHARE_2H)
    assert 0.13 <= shares[0] <= 0.16  # 00-02 peak
    assert 0.024 <= shares[3] <= 0.030  # 06-08 trough
    assert shares.argmax() == 0


def test_required_phrases_present() -> None:
    assert "SUBJ POSS ARMED" in PHRASES["weapon"]
    assert "NO WPNS" in PHRASES["weapon_neg"]
    assert "VERBAL ONLY" in PHRASES["violence_neg"]
    assert "EDP" in PHRASES["mental"]
    negated = " ".join(PHRASES["weapon_neg"])
    assert not any(p in negated for p in PHRASES["weapon"])  # no positive phrase inside a negation


def test_presets_reference_known_tables() -> None:
    bad = dataclasses.replace(DEFAULT_CALL_TYPES[0], hours="never")
    with pytest.raises(UserError, match="unknown preset"):
        simulate(10, 0, config=SimConfig(call_types=(bad,)))


def test_tiny_world_has_all_columns() -> None:
    calls, truth = simulate(1, 0, days=1)
    assert tuple(calls.columns) == CALL_COLUMNS
    assert set(CANONICAL_COLUMNS) <= set(calls.columns)
    assert len(calls) == len(truth) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"calls": 0}, "calls"),
        ({"days": 0}, "days"),
        ({"start": "not a date"}, "start"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_are_user_errors(kwargs: dict, message: str) -> None:
    args = {"calls": 10, "seed": 0, **kwargs}
    with pytest.raises(UserError, match=message):
        simulate(**args)


@pytest.mark.parametrize("name", ["calls.txt", "calls.json", "calls", "calls.parquet.gz"])
def test_bad_extension_is_user_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(UserError, match=r"\.parquet or \.csv"):
        simulate_to_file(tmp_path / name, calls=10, seed=0)
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(
    ("out", "truth"),
    [("a/calls.parquet", "a/calls.truth.parquet"), ("calls.csv", "calls.truth.parquet"),
     ("x.y.CSV", "x.y.truth.parquet")],
)  # fmt: skip
def test_truth_path(out: str, truth: str) -> None:
    assert truth_path_for(Path(out)) == Path(truth)


def test_same_seed_same_world_other_seed_other_world() -> None:
    a_calls, a_truth = simulate(3000, 11, days=30)
    b_calls, b_truth = simulate(3000, 11, days=30)
    pd.testing.assert_frame_equal(a_calls, b_calls)
    pd.testing.assert_frame_equal(a_truth, b_truth)
    c_calls, _ = simulate(3000, 12, days=30)
    assert not a_calls.equals(c_calls)
    assert (a_calls["received_at"] != c_calls["received_at"]).any()


def test_config_knobs_change_the_world() -> None:
    base, _ = simulate(5000, 1, days=60)
    none_missing, _ = simulate(
        5000, 1, days=60, config=SimConfig(address_missing=0.0, location_missing=0.0)
    )
    assert base["address"].isna().any()
    assert none_missing["address"].notna().all()
