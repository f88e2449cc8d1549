"""The cluster path's features equal the single-machine builder's, call for call, bit for bit.

Two layers: the per-(area, day) totals and the split engine, checked in-process with Hypothesis
(no cluster needed), then the whole path on a LocalCluster of 2 worker processes with calls
known only to a day, outcome report times, calls without an address, and (for scoring) a
history that overlaps the calls.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from agency_shape import agency_shaped
from hypothesis import given, settings
from hypothesis import strategies as st

from risk_model.config import FeatureConfig
from risk_model.features.build import (
    AreaDays,
    area_day_counts,
    build_features,
    events_frame,
    sum_area_days,
)
from risk_model.simulate.generate import simulate

CFG = FeatureConfig()


def _real_shaped(n: int, seed: int) -> pd.DataFrame:
    """A simulated city's calls in agency shape (`agency_shape.py`), in time order."""
    calls, _ = simulate(calls=n, seed=seed, start="2025-01-01", days=240)
    shaped = agency_shaped(calls, seed)
    return shaped.sort_values("received_at", kind="stable").reset_index(drop=True)


def _same(ref: pd.DataFrame, got: pd.DataFrame) -> None:
    got = got.set_index("call_id").loc[ref["call_id"].to_numpy()].reset_index()
    # Text may come back as pandas strings (a concat with an empty part, a dask compute): the
    # values are what must match; dtypes of every numeric column are checked below.
    for c in ref.columns:
        if ref[c].dtype == object and got[c].dtype != object:
            got[c] = got[c].astype(object).where(got[c].notna(), None)
    assert list(got.columns) == list(ref.columns)
    pd.testing.assert_frame_equal(ref, got, check_exact=True)


# --------------------------------------------------------------------------- in process


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return _real_shaped(6_000, seed=5)


@settings(max_examples=25, deadline=None)
@given(parts=st.integers(1, 7), seed=st.integers(0, 10_000))
def test_area_totals_add_up_over_any_split(small: pd.DataFrame, parts: int, seed: int) -> None:
    ev = events_frame(small, CFG)
    whole = area_day_counts(ev)
    owner = np.random.default_rng(seed).integers(0, parts, len(ev))
    summed = sum_area_days([area_day_counts(ev[owner == k]) for k in range(parts)])
    pd.testing.assert_frame_equal(
        whole.reset_index(drop=True), summed.reset_index(drop=True), check_dtype=False
    )


@settings(max_examples=15, deadline=None)
@given(parts=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_premise_groups_with_city_totals_equal_the_builder(
    small: pd.DataFrame, parts: int, seed: int
) -> None:
    """What every worker does, here in one process: calls split into any premise groups, each
    built with the city-wide day totals, give the single-machine features."""
    ref = build_features(small, CFG)
    area = AreaDays.from_counts(area_day_counts(events_frame(small, CFG)))
    premise = ref["_premise"].to_numpy(dtype=object)
    key = np.where(pd.isna(premise), small["call_id"].to_numpy(dtype=object), premise)
    codes = pd.factorize(key)[0]
    owner = np.random.default_rng(seed).integers(0, parts, codes.max() + 1)[codes]
    got = pd.concat(
        [build_features(small[owner == k], CFG, area=area) for k in range(parts)],
        ignore_index=True,
    )
    _same(ref, got)


# --------------------------------------------------------------------------- on a LocalCluster


@pytest.mark.slow
@pytest.mark.xdist_group("dask")
def test_cluster_features_equal_single_machine(dask_client) -> None:
    import dask.dataframe as dd

    from risk_model.features.partitions import cluster_features

    calls = _real_shaped(30_000, seed=8)
    ref = build_features(calls, CFG)
    # Input partitions in time order, as a monthly dataset reads; the shuffle regroups them.
    ddf = dd.from_pandas(calls, npartitions=5, sort=False)
    res = cluster_features(dask_client, ddf, CFG, partitions=6)
    got = res.features.compute()
    assert res.partitions == 6
    assert len(got) == len(ref)
    _same(ref, got)
    assert (ref["received_at"].notna()).all()
    # The day-only calls and late reports really were there to be handled.
    assert calls["received_until"].notna().sum() > 3000
    assert calls["outcome_known_at"].notna().sum() > 20


@pytest.mark.slow
@pytest.mark.xdist_group("dask")
def test_cluster_features_with_history_equal_scoring(dask_client) -> None:
    """`score --dask --history`: history calls count as events only, a call in both counted
    once, as `build_features(calls, history=events_frame(history))` does."""
    import dask.dataframe as dd

    from risk_model.features.partitions import cluster_features

    calls = _real_shaped(20_000, seed=9)
    cut = calls["received_at"].quantile(0.8)
    history = calls[calls["received_at"] < cut + pd.Timedelta("3D")]  # overlaps the new calls
    new = calls[calls["received_at"] >= cut].drop(columns=["officer_assaulted", "officer_injured"])
    ref = build_features(new, CFG, history=events_frame(history, CFG))
    res = cluster_features(
        dask_client,
        dd.from_pandas(new, npartitions=2, sort=False),
        CFG,
        history=dd.from_pandas(history, npartitions=3, sort=False),
        partitions=4,
    )
    _same(ref, res.features.compute())


@pytest.mark.slow
@pytest.mark.xdist_group("dask")
def test_a_call_id_repeated_across_files_is_kept_once_as_train_keeps_it(
    dask_client, tmp_path
) -> None:
    """Each file is validated on its own worker; a call_id in two files is still kept once,
    where it first comes with a valid row, as `train` reading the whole folder keeps it."""
    from risk_model.dataset import load_calls
    from risk_model.features.partitions import read_calls

    calls, _ = simulate(calls=3_000, seed=3, start="2025-01-01", days=90)
    calls = calls.sort_values("received_at", kind="stable").reset_index(drop=True)
    one, two, three = calls.iloc[:1000].copy(), calls.iloc[1000:2000].copy(), calls.iloc[2000:]
    three = three.copy()
    # A: valid in file 1, again (other content) in file 2 -> file 1's row.
    a = one.iloc[[5]].assign(call_type="REPEATED IN FILE 2")
    # B: broken in file 1 (no time), valid in file 2 -> file 2's row.
    b_id = two["call_id"].iloc[7]
    one.loc[one.index[9], "call_id"] = b_id
    one.loc[one.index[9], "received_at"] = pd.NaT
    # C: in files 2 and 3 -> file 2's; D: twice within file 3 -> the first.
    c = two.iloc[[11]].assign(priority=1)
    d = three.iloc[[3]].assign(priority=5)
    folder = tmp_path / "dataset"
    folder.mkdir()
    for i, part in enumerate([one, pd.concat([two, a]), pd.concat([three, c, d])]):
        part.to_parquet(folder / f"part-{i}.parquet", index=False)

    expected, expected_rejected = load_calls(folder, in_time_order=False)
    read = read_calls(folder)
    got = read.calls.compute()
    assert int(read.rejected.compute()) == expected_rejected == 1 + 3  # B's broken row, A C D
    assert len(got) == len(expected) == 3_000 - 1  # the row that lent B its id is gone
    key = ["call_id"]
    ref = expected.sort_values(key).reset_index(drop=True)
    got = got.sort_values(key).reset_index(drop=True)
    for col in ref.columns:
        if ref[col].dtype == object and got[col].dtype != object:
            got[col] = got[col].astype(object).where(got[col].notna(), None)
    pd.testing.assert_frame_equal(ref, got[ref.columns], check_exact=True)
    kept = got.set_index("call_id")
    assert kept.loc[a["call_id"].iloc[0], "call_type"] != "REPEATED IN FILE 2"
    assert kept.loc[b_id, "received_at"] == two["received_at"].iloc[7]
    assert kept.loc[c["call_id"].iloc[0], "priority"] == two["priority"].iloc[11]
    assert kept.loc[d["call_id"].iloc[0], "priority"] == three["priority"].iloc[3]
