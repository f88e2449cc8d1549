"""Data contract of the simulated CAD world: schema, rates, structure, leakage columns, files.

One 200k-call world (about a second to build) serves the statistical checks; bounds are the
brief's, and each sits several standard errors away from the simulator's expected value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.schema import (
    CANONICAL_COLUMNS,
    FLAG_COLUMNS,
    OUTCOME_COLUMNS,
    validate_frame,
)
from risk_model.simulate.files import simulate_to_file
from risk_model.simulate.generate import simulate
from risk_model.simulate.world import (
    ASSAULT_ON_OFFICER,
    CALL_COLUMNS,
    DEFAULT_CALL_TYPES,
    PHRASES,
    POST_DISPATCH_COLUMNS,
    TRUTH_COLUMNS,
    call_type_table,
)

N_CALLS = 200_000
WEAPON_RE = "|".join(re.escape(p) for p in PHRASES["weapon"])


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, pd.DataFrame]:
    return simulate(N_CALLS, seed=20250101)


@pytest.fixture(scope="module")
def calls(world) -> pd.DataFrame:
    return world[0]


@pytest.fixture(scope="module")
def truth(world) -> pd.DataFrame:
    return world[1]


@pytest.fixture(scope="module")
def harmed(calls) -> np.ndarray:
    return (calls["officer_assaulted"] | calls["officer_injured"]).to_numpy(dtype=bool)


# --------------------------------------------------------------------------- schema contract


def test_columns_and_dtypes(calls: pd.DataFrame) -> None:
    assert tuple(calls.columns) == CALL_COLUMNS
    assert calls["received_at"].dtype == "datetime64[us]"
    assert calls["cleared_at"].dtype == "datetime64[us]"
    assert calls["priority"].dtype == "Int64"
    for col in (*FLAG_COLUMNS, *OUTCOME_COLUMNS):
        assert calls[col].dtype == "boolean", col
    for col in ("call_id", "call_type", "source", "address", "beat", "district",
                "premise_type", "narrative", *POST_DISPATCH_COLUMNS[:3]):  # fmt: skip
        assert isinstance(calls[col].dtype, pd.StringDtype), col
    assert calls["latitude"].dtype == calls["longitude"].dtype == "float64"


def test_validate_frame_accepts_every_row(calls: pd.DataFrame) -> None:
    result = validate_frame(calls)
    assert len(result.quarantined) == 0, result.quarantined["_reason"].value_counts().head()
    assert len(result.accepted) == N_CALLS
    # Validation is a no-op on simulated values (same ids, times, flags).
    assert (result.accepted["call_id"] == calls["call_id"]).all()
    assert (result.accepted["received_at"] == calls["received_at"]).all()
    pd.testing.assert_series_equal(result.accepted["weapon_reported"], calls["weapon_reported"])


def test_ids_unique_times_sorted_and_in_range(calls: pd.DataFrame) -> None:
    assert calls["call_id"].is_unique
    assert calls["call_id"].str.fullmatch(r"C\d{2}-\d{7}").all()
    assert calls["received_at"].is_monotonic_increasing
    assert calls["received_at"].min() >= pd.Timestamp("2025-01-01")
    assert calls["received_at"].max() < pd.Timestamp("2026-01-01")
    assert (calls["cleared_at"] > calls["received_at"]).all()


def test_outcomes_always_known(calls: pd.DataFrame) -> None:
    for col in OUTCOME_COLUMNS:
        assert calls[col].notna().all()


def test_truth_aligned_and_exact(calls: pd.DataFrame, truth: pd.DataFrame) -> None:
    assert tuple(truth.columns) == TRUTH_COLUMNS
    assert (truth["call_id"] == calls["call_id"]).all()
    p_a, p_i = truth["true_p_assault"], truth["true_p_injury_only"]
    np.testing.assert_allclose(truth["true_risk"], p_a + (1 - p_a) * p_i)
    assert truth["true_p_assault"].between(0, 0.3).all()
    assert (truth["premise_hazard"] > 0).all()
    # Each type's mean assault probability is exactly its table rate (calibrated in-sample).
    table = call_type_table().set_index("call_type")["assaults_per_1000"] / 1000
    mean_p = truth["true_p_assault"].groupby(calls["call_type"].to_numpy()).mean()
    np.testing.assert_allclose(mean_p, table[mean_p.index], rtol=1e-6)


def test_outcome_drawn_from_true_risk(truth: pd.DataFrame, harmed: np.ndarray) -> None:
    expected = truth["true_risk"].sum()
    assert abs(harmed.sum() - expected) < 4 * np.sqrt(expected)
    top = truth["true_risk"] >= truth["true_risk"].quantile(0.9)
    assert harmed[top.to_numpy()].mean() > 3 * harmed[~top.to_numpy()].mean()


# --------------------------------------------------------------------------- rates and time


def test_assault_and_injury_rates(calls: pd.DataFrame) -> None:
    assaulted = calls["officer_assaulted"].to_numpy(dtype=bool)
    injured = calls["officer_injured"].to_numpy(dtype=bool)
    assert 1.5 <= 1000 * assaulted.mean() <= 5.0
    assert 0.2 <= injured[assaulted].mean() <= 0.4
    assert (injured & ~assaulted).sum() < 0.3 * injured.sum()  # a few injury-only calls


def test_assaults_peak_after_midnight(calls: pd.DataFrame) -> None:
    hour = calls["received_at"].dt.hour.to_numpy()
    assaulted = calls["officer_assaulted"].to_numpy(dtype=bool)
    share = np.bincount(hour[assaulted] // 2, minlength=12) / assaulted.sum()
    assert share[0] >= 0.10
    assert share[3] <= 0.05  # 06-08 trough
    assert share[0] > 2 * share[3]


def test_calls_peak_in_the_evening(calls: pd.DataFrame) -> None:
    per_hour = np.bincount(calls["received_at"].dt.hour, minlength=24)
    assert 15 <= per_hour.argmax() <= 21
    assert per_hour[17:21].mean() > 2 * per_hour[3:7].mean()


def test_weekend_nights_busier(calls: pd.DataFrame) -> None:
    ts = calls["received_at"]
    late = ts.dt.hour >= 20
    fri_sat = ts[late].dt.day_of_week.isin([4, 5]).sum() / 2
    mon_thu = ts[late].dt.day_of_week.isin([0, 1, 2, 3]).sum() / 4
    assert fri_sat > 1.15 * mon_thu


def test_call_type_mix(calls: pd.DataFrame) -> None:
    shares = calls["call_type"].value_counts(normalize=True)
    table = call_type_table().set_index("call_type")["share_of_calls_pct"] / 100
    assert set(shares.index) == set(table.index)
    common = table[table > 0.01].index
    np.testing.assert_allclose(shares[common], table[common], rtol=0.1)
    stops = calls[calls["call_type"] == "TRAFFIC STOP"]
    assert (stops["source"].dropna() == "OFFICER INITIATED").all()
    alarms = calls[calls["call_type"] == "ALARM"]
    assert (alarms["source"] == "ALARM COMPANY").mean() > 0.8
    assert calls["priority"].dropna().between(1, 5).all()
    by_type = calls.groupby("call_type")["priority"].mean()
    assert by_type["PERSON WITH WEAPON"] < by_type["THEFT REPORT"]


# --------------------------------------------------------------------------- places


def test_heavy_tailed_premises(calls: pd.DataFrame, truth: pd.DataFrame) -> None:
    per_premise = truth["premise_id"].value_counts()
    assert N_CALLS / 12 <= len(per_premise) <= N_CALLS / 5
    top = per_premise.iloc[: max(1, len(per_premise) // 100)].sum()
    assert top / N_CALLS >= 0.15


def test_problem_premises_have_more_violent_calls(calls, truth) -> None:
    violent = calls["call_type"].isin([t.name for t in DEFAULT_CALL_TYPES if t.violent])
    high = truth["premise_hazard"] > truth["premise_hazard"].quantile(0.8)
    low = truth["premise_hazard"] < truth["premise_hazard"].quantile(0.2)
    assert violent[high].mean() > 1.5 * violent[low].mean()


def test_areas(calls: pd.DataFrame) -> None:
    assert calls["district"].nunique() == 7
    assert 50 <= calls["beat"].nunique() <= 70
    # every beat lies in one district
    assert (calls.dropna(subset=["beat"]).groupby("beat")["district"].nunique() == 1).all()
    assert set(calls["premise_type"].dropna()) >= {"RESIDENCE", "APARTMENT", "BUSINESS",
                                                   "STREET", "BAR", "SCHOOL", "PARK"}  # fmt: skip


def test_missing_locations(calls: pd.DataFrame) -> None:
    no_addr = calls["address"].isna()
    no_coords = calls["latitude"].isna()
    assert (calls["latitude"].isna() == calls["longitude"].isna()).all()
    assert 0.02 <= (no_addr & ~no_coords).mean() <= 0.04
    assert 0.005 <= (no_addr & no_coords).mean() <= 0.015
    assert not (no_coords & ~no_addr).any()


def test_coordinates_jitter_a_few_metres(calls: pd.DataFrame, truth: pd.DataFrame) -> None:
    lat = calls["latitude"].groupby(truth["premise_id"].to_numpy()).std().dropna()
    assert 0 < lat.median() * 111_320 < 20


def _normalise_address(s: pd.Series) -> pd.Series:
    """A normaliser that knows only the variants the brief lists (the simulator's contract)."""
    s = s.str.upper().str.replace(".", "", regex=False)
    s = s.str.replace(r"\s+", " ", regex=True).str.strip()
    for full, short in (("STREET", "ST"), ("AVENUE", "AVE"), ("DRIVE", "DR"), ("ROAD", "RD"),
                        ("BOULEVARD", "BLVD"), ("LANE", "LN"), ("NORTH", "N"), ("SOUTH", "S"),
                        ("EAST", "E"), ("WEST", "W"), ("BLOCK OF", "BLOCK"),
                        ("BLK", "BLOCK")):  # fmt: skip
        s = s.str.replace(rf"\b{full}\b", short, regex=True)
    return s


def test_addresses_vary_but_normalise_to_one_key_per_premise(calls, truth) -> None:
    has = calls["address"].notna()
    raw = calls.loc[has, "address"]
    key = _normalise_address(raw)
    pid = truth.loc[has, "premise_id"]
    frame = pd.DataFrame({"key": key.to_numpy(), "pid": pid.to_numpy(), "raw": raw.to_numpy()})
    assert (frame.groupby("pid")["key"].nunique() == 1).all()
    assert (frame.groupby("key")["pid"].nunique() == 1).all()
    spellings = frame.groupby("pid")["raw"].nunique()
    busy = frame["pid"].value_counts()
    assert (spellings[busy[busy >= 20].index] > 1).mean() > 0.9  # CAD spells it many ways
    blocks = raw[calls.loc[has, "premise_type"] == "STREET"]
    assert blocks.str.contains(r"\d00 (?:BLOCK|BLK|Block|Blk|block|blk)", regex=True).mean() > 0.9


# --------------------------------------------------------------------------- what is reported


def test_flags_sometimes_unknown_and_informative(calls, truth) -> None:
    for col in FLAG_COLUMNS:
        unknown = calls[col].isna().mean()
        assert 0.15 <= unknown <= 0.30, (col, unknown)
    weapon = calls["weapon_reported"]
    present = truth["weapon_present"].to_numpy(dtype=bool)
    known = weapon.notna().to_numpy()
    flagged = weapon.fillna(False).to_numpy(dtype=bool)
    assert flagged[present & known].mean() > 5 * flagged[~present & known].mean()


def test_some_weapons_only_in_the_narrative(calls: pd.DataFrame) -> None:
    text = calls["narrative"].fillna("")
    in_text = text.str.contains(WEAPON_RE, regex=True).to_numpy(dtype=bool)
    flag = calls["weapon_reported"]
    not_flagged = (flag == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712
    unknown = flag.isna().to_numpy()
    assert (in_text & not_flagged).sum() > 50
    assert (in_text & unknown).sum() > 50


def test_narratives_are_upper_case_phrase_lists(calls: pd.DataFrame) -> None:
    text = calls["narrative"]
    assert 0.1 < text.isna().mean() < 0.4
    present = text.dropna()
    assert (present == present.str.upper()).all()
    negated = present.str.contains("NO WEAPONS SEEN|NEG WEAPONS|RP DENIES WEAPONS|NO WPNS")
    assert negated.sum() > 100
    stops = calls.loc[calls["call_type"] == "TRAFFIC STOP", "narrative"]
    assert stops.isna().mean() > 0.5  # officer-initiated calls rarely have remarks


def test_narrative_and_flags_carry_signal(calls, harmed) -> None:
    text = calls["narrative"].fillna("")
    weapon_text = text.str.contains(WEAPON_RE, regex=True).to_numpy(dtype=bool)
    assert harmed[weapon_text].mean() > 2 * harmed[~weapon_text].mean()


# --------------------------------------------------------------------------- leakage columns


def test_post_dispatch_columns_leak_the_outcome(calls: pd.DataFrame, harmed: np.ndarray) -> None:
    assaulted = calls["officer_assaulted"].to_numpy(dtype=bool)
    aoo = (calls["final_call_type"] == ASSAULT_ON_OFFICER).to_numpy(dtype=bool)
    assert aoo[assaulted].mean() > 0.6
    assert not aoo[~assaulted].any()
    arrest = (calls["disposition"] == "ARREST").to_numpy(dtype=bool)
    assert arrest[assaulted].mean() > 0.8
    assert arrest[~assaulted].mean() < 0.15
    code = (calls["clearance_code"] == "AOO").to_numpy(dtype=bool)
    assert code[assaulted].mean() > 0.4 and not code[~assaulted].any()
    minutes = (calls["cleared_at"] - calls["received_at"]).dt.total_seconds() / 60
    assert minutes[harmed].median() > 2 * minutes[~harmed].median()
    changed = calls["final_call_type"] != calls["call_type"]
    assert 0.03 < changed[~assaulted].mean() < 0.2  # some ordinary reclassification too


# --------------------------------------------------------------------------- files and CLI


def test_parquet_file_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "calls.parquet"
    summary = simulate_to_file(out, calls=5000, seed=3, days=90)
    assert set(summary) >= {"out", "truth", "calls", "seconds", "assault_rate", "injury_rate",
                            "harmed_rate", "positives"}  # fmt: skip
    json.dumps(summary)
    assert summary["calls"] == 5000 and summary["out"] == str(out)
    schema = pq.read_schema(out)
    assert schema.field("received_at").type == pa.timestamp("us")  # naive: agency local time
    assert schema.field("priority").type == pa.int64()
    assert schema.field("weapon_reported").type == pa.bool_()
    assert schema.field("narrative").type == pa.string()
    back = pd.read_parquet(out)
    ref, ref_truth = simulate(5000, 3, days=90)
    assert list(back.columns) == list(ref.columns)
    assert (back["call_id"] == ref["call_id"]).all()
    assert (back["received_at"].to_numpy() == ref["received_at"].to_numpy()).all()
    truth = pd.read_parquet(summary["truth"])
    assert Path(summary["truth"]) == tmp_path / "calls.truth.parquet"
    assert (truth["call_id"] == back["call_id"]).all()
    np.testing.assert_array_equal(truth["true_risk"], ref_truth["true_risk"])
    positives = (back["officer_assaulted"] | back["officer_injured"]).sum()
    assert summary["positives"] == positives


def test_csv_file_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "calls.csv"
    simulate_to_file(out, calls=5000, seed=3, days=90)
    raw = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(raw.columns) == list(CALL_COLUMNS)
    assert raw["received_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").all()
    assert set(raw["weapon_reported"]) <= {"true", "false", ""}
    assert (raw["weapon_reported"] == "").any()  # unknown is an empty cell
    result = validate_frame(raw)
    assert len(result.quarantined) == 0
    ref, _ = simulate(5000, 3, days=90)
    got = result.accepted
    for col in CANONICAL_COLUMNS:
        if col in ("latitude", "longitude"):
            np.testing.assert_allclose(got[col], ref[col])
        else:
            pd.testing.assert_series_equal(
                got[col].astype("string"), ref[col].astype("string"), check_names=False
            )
    for col in OUTCOME_COLUMNS:
        assert (got[col] == ref[col]).all()
    assert (pd.to_datetime(raw["cleared_at"]) == ref["cleared_at"]).all()


def test_cli_simulate_json(tmp_path: Path) -> None:
    out = tmp_path / "sim.parquet"
    result = CliRunner().invoke(
        app, ["simulate", "--calls", "2000", "--seed", "5", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["calls"] == 2000
    assert out.exists() and (tmp_path / "sim.truth.parquet").exists()


def test_cli_bad_extension_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--calls", "10", "--out", str(tmp_path / "sim.xlsx")]
    )
    assert result.exit_code == 2
    assert ".parquet or .csv" in result.output
