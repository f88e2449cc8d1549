"""Planted drift in the simulator (`--drift`): each kind changes only the calls from the drift day
on, the way it says, and a run without drift is the run it always was."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.errors import UserError
from risk_model.simulate.drift import REPEAT_SUFFIX, parse_drift
from risk_model.simulate.files import simulate_to_file
from risk_model.simulate.generate import simulate

N, SEED, DAYS = 200_000, 3, 120
SINCE = pd.Timestamp("2025-03-01")


@pytest.fixture(scope="module")
def base() -> tuple[pd.DataFrame, pd.DataFrame]:
    return simulate(N, SEED, days=DAYS)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_no_drift_is_byte_identical(tmp_path: Path) -> None:
    simulate_to_file(tmp_path / "a.parquet", N, SEED, days=DAYS)
    simulate_to_file(tmp_path / "b.parquet", N, SEED, days=DAYS, drift=None)
    simulate_to_file(tmp_path / "c.parquet", N, SEED, days=DAYS, drift="")
    digests = {_digest(tmp_path / f"{k}.parquet") for k in "abc"}
    assert len(digests) == 1
    truths = {_digest(tmp_path / f"{k}.truth.parquet") for k in "abc"}
    assert len(truths) == 1


def test_new_call_type_renames_a_share_after_the_drift_day(base: tuple) -> None:
    calls, _ = simulate(N, SEED, days=DAYS, drift="new_call_type:0.5", drift_from="2025-03-01")
    before = calls["received_at"] < SINCE
    pd.testing.assert_frame_equal(calls[before], base[0][before])
    renamed = calls["call_type"].str.endswith("-NEW").astype(bool)
    assert not renamed[before].any()
    share = renamed[~before].mean()
    assert 0.45 < share < 0.55
    original = calls.loc[renamed, "call_type"].str.removesuffix("-NEW")
    assert (original == base[0].loc[renamed, "call_type"]).all()
    assert (calls["final_call_type"] == base[0]["final_call_type"]).all()


def test_harm_rate_doubles_in_one_district_only(base: tuple) -> None:
    calls, truth = simulate(N, SEED, days=DAYS, drift="harm_rate:south", drift_from="2025-01-15")
    b_calls, b_truth = base
    harmed = calls["officer_assaulted"].fillna(False) | calls["officer_injured"].fillna(False)
    b_harmed = b_calls["officer_assaulted"].fillna(False) | b_calls["officer_injured"].fillna(
        False
    )
    after = calls["received_at"] >= pd.Timestamp("2025-01-15")
    central = (calls["district"] == "SOUTH").fillna(False).astype(bool)
    touched = after & central
    # harm is only ever added, only on touched calls
    assert not (b_harmed & ~harmed).any()
    assert not (harmed & ~b_harmed & ~touched).any()
    # the truth says exactly what was drawn: twice the risk (capped at 1) on touched calls
    expected = (2 * b_truth["true_risk"]).clip(upper=1)
    assert (truth.loc[touched, "true_risk"] == expected[touched]).all()
    assert (truth.loc[~touched, "true_risk"] == b_truth.loc[~touched, "true_risk"]).all()
    # observed: the touched calls' harm count is about twice the undrifted one (binomial noise)
    new, old = int(harmed[touched].sum()), int(b_harmed[touched].sum())
    assert old > 30
    assert 1.5 * old < new < 2.6 * old
    assert new == pytest.approx(truth.loc[touched, "true_risk"].sum(), rel=0.35)


def test_flag_feedback_repeats_calls_at_the_most_hazardous_premises(base: tuple) -> None:
    calls, truth = simulate(N, SEED, days=DAYS, drift="flag_feedback:3", drift_from="2025-03-01")
    b_calls, b_truth = base
    assert calls["call_id"].is_unique
    assert calls["received_at"].is_monotonic_increasing
    assert (calls["call_id"].to_numpy() == truth["call_id"].to_numpy()).all()
    repeats = calls["call_id"].str.endswith(REPEAT_SUFFIX).astype(bool)
    assert repeats.sum() > 0
    top = b_truth.drop_duplicates("premise_id").nlargest(3, "premise_hazard")["premise_id"]
    assert set(truth.loc[repeats.to_numpy(), "premise_id"]) <= set(top)
    assert (calls.loc[repeats, "received_at"] >= SINCE).all()
    # those premises draw more calls after the drift day than before it, per day
    at_top = truth["premise_id"].isin(top).to_numpy()
    b_at_top = b_truth["premise_id"].isin(top).to_numpy()
    after = (calls["received_at"] >= SINCE).to_numpy()
    b_after = (b_calls["received_at"] >= SINCE).to_numpy()
    assert (at_top & after).sum() > (b_at_top & b_after).sum()
    # the undrifted calls are all still there, unchanged
    kept = calls[~repeats].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, b_calls.reset_index(drop=True))


@pytest.mark.parametrize(
    "spec",
    ["bogus", "harm_rate", "harm_rate:NOWHERE", "new_call_type:2", "flag_feedback:0", "x:1:2:3"],
)
def test_bad_drift_spec_is_one_clear_line(spec: str) -> None:
    with pytest.raises(UserError, match="--drift"):
        parse_drift(spec, ("NORTH", "CENTRAL"))


def test_bad_drift_spec_fails_before_drawing(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown district; use one of"):
        simulate_to_file(tmp_path / "x.parquet", 10, 0, drift="harm_rate:NOWHERE")
    assert not (tmp_path / "x.parquet").exists()


def test_cli_drift_option(tmp_path: Path) -> None:
    out = tmp_path / "d.parquet"
    result = CliRunner().invoke(
        app,
        ["simulate", "--calls", "2000", "--days", "60", "--seed", "1", "--out", str(out),
         "--drift", "new_call_type,harm_rate:NORTH", "--drift-from", "2025-02-01", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["drift"] == "new_call_type,harm_rate:NORTH"
    calls = pd.read_parquet(out)
    assert calls["call_type"].str.endswith("-NEW").any()
    bad = CliRunner().invoke(
        app, ["simulate", "--calls", "10", "--out", str(out), "--drift-from", "someday",
              "--drift", "new_call_type"],
    )  # fmt: skip
    assert bad.exit_code != 0
    assert "--drift-from 'someday' is not a date" in bad.output
