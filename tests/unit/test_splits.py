"""Windows placed by where the labelled calls are: outliers out, time order kept, clear errors."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from risk_model.config import SplitConfig
from risk_model.errors import UserError
from risk_model.training.splits import WINDOW_NAMES, make_windows, place_windows


def _year(n: int, seed: int = 0, rate: float = 0.05, start: str = "2025-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.integers(0, 365 * 86_400, n)).astype("timedelta64[s]")
    times = np.datetime64(start, "s") + offsets
    return pd.DataFrame({"t": times, "y": (rng.random(n) < rate).astype(float)})


def _with_1970(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    early = pd.DataFrame({"t": pd.date_range("1970-01-01", periods=k, freq="D"), "y": np.ones(k)})
    return pd.concat([early, frame], ignore_index=True)


def _check_order(frame: pd.DataFrame, window: np.ndarray) -> None:
    """Every window's calls come strictly after the previous window's: no overlap, no mixing."""
    t = frame["t"].to_numpy()
    spans = [(t[window == w].min(), t[window == w].max()) for w in WINDOW_NAMES]
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end < start


def test_five_calls_dated_1970_do_not_squeeze_the_windows() -> None:
    frame = _with_1970(_year(10_000), 5)
    placement = place_windows(frame["t"], frame["y"].to_numpy(), SplitConfig())
    window = placement.assign(frame["t"])
    assert placement.report["calls_before_bulk"] == 5
    assert placement.report["earliest"] == "1970-01-01 00:00:00"
    assert (window[:5] == "").all()  # reported and left out of every window
    w = placement.windows
    assert w.train_start == pd.Timestamp("2025-01-01")
    shares = {name: (window == name).mean() for name in WINDOW_NAMES}
    assert shares["train"] == pytest.approx(0.50, abs=0.01)
    assert shares["validation"] == pytest.approx(0.09, abs=0.01)
    assert shares["calibration"] == pytest.approx(0.16, abs=0.01)
    assert shares["test"] == pytest.approx(0.25, abs=0.01)
    _check_order(frame, window)


def test_the_old_span_rule_still_works_and_also_drops_outliers() -> None:
    frame = _with_1970(_year(10_000), 5)
    placement = place_windows(frame["t"], frame["y"].to_numpy(), SplitConfig(placement="span"))
    window = placement.assign(frame["t"])
    assert placement.report["calls_before_bulk"] == 5
    assert (window == "train").sum() > 4000  # not the 4-call window the raw span gave
    _check_order(frame, window)


def test_a_few_records_dated_far_in_the_future_are_reported_too() -> None:
    frame = _year(10_000)
    late = pd.DataFrame({"t": pd.to_datetime(["2099-01-01", "2099-06-01"]), "y": [0.0, 1.0]})
    frame = pd.concat([frame, late], ignore_index=True)
    placement = place_windows(frame["t"], frame["y"].to_numpy(), SplitConfig())
    assert placement.report["calls_after_bulk"] == 2
    assert placement.report["latest"] == "2099-06-01 00:00:00"
    assert placement.windows.test_end < pd.Timestamp("2026-01-02")


def test_windows_follow_the_labelled_calls_not_the_export() -> None:
    """Outcomes cover only the second half of the export: windows sit on that half."""
    frame = _year(20_000)
    frame.loc[frame["t"] < pd.Timestamp("2025-07-01"), "y"] = np.nan
    placement = place_windows(frame["t"], frame["y"].to_numpy(), SplitConfig())
    assert placement.windows.train_start >= pd.Timestamp("2025-07-01")
    window = placement.assign(frame["t"])
    labelled = frame["y"].notna().to_numpy()
    assert (window[labelled] == "train").mean() == pytest.approx(0.5, abs=0.01)


def test_explicit_dates_still_win() -> None:
    frame = _year(10_000)
    cfg = SplitConfig(
        validation_start="2025-06-01",
        calibration_start="2025-07-01",
        test_start="2025-09-01",
        test_end="2026-01-01",
    )
    w = place_windows(frame["t"], frame["y"].to_numpy(), cfg).windows
    assert (w.validation_start, w.calibration_start, w.test_start, w.test_end) == tuple(
        pd.Timestamp(d) for d in ("2025-06-01", "2025-07-01", "2025-09-01", "2026-01-01")
    )


def test_boundaries_fall_on_midnight() -> None:
    frame = _year(10_000)
    w = place_windows(frame["t"], frame["y"].to_numpy(), SplitConfig()).windows
    for t in (w.train_start, w.validation_start, w.calibration_start, w.test_start):
        assert t == t.floor("D")


def test_a_window_too_small_fails_with_the_key_and_the_flag_to_change() -> None:
    frame = _year(3_000)
    frame["y"] = (np.arange(len(frame)) % 200 == 0).astype(float)  # 1-2 per validation window
    with pytest.raises(UserError) as err:
        place_windows(frame["t"], frame["y"].to_numpy(), SplitConfig())
    msg = str(err.value)
    assert "\n" not in msg
    assert "split.validation_fraction" in msg and "split.min_window_positives" in msg
    assert "--config" in msg and "pipelines/config.yaml" not in msg


def test_out_of_order_dates_name_the_keys_and_the_flag() -> None:
    frame = _year(10_000)
    cfg = SplitConfig(validation_start="2025-09-01", calibration_start="2025-08-01")
    with pytest.raises(UserError, match=r"split\.validation_start.*--config"):
        place_windows(frame["t"], frame["y"].to_numpy(), cfg)
    with pytest.raises(UserError, match="--config"):
        make_windows(pd.Timestamp("2025-01-01"), pd.Timestamp("2025-12-31"), cfg)


def test_no_labelled_calls_is_a_clear_error() -> None:
    frame = _year(1_000)
    with pytest.raises(UserError, match="labelled call"):
        place_windows(frame["t"], np.full(len(frame), np.nan), SplitConfig())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2_000, 12_000),
    early=st.integers(0, 8),
    seed=st.integers(0, 10_000),
    test_fraction=st.floats(0.1, 0.4),
    calibration_fraction=st.floats(0.05, 0.2),
    validation_fraction=st.floats(0.05, 0.2),
    placement=st.sampled_from(["calls", "span"]),
)
def test_windows_keep_time_order_and_never_overlap(
    n: int,
    early: int,
    seed: int,
    test_fraction: float,
    calibration_fraction: float,
    validation_fraction: float,
    placement: str,
) -> None:
    frame = _with_1970(_year(n, seed=seed, rate=0.2), early)
    cfg = SplitConfig(
        test_fraction=test_fraction,
        calibration_fraction=calibration_fraction,
        validation_fraction=validation_fraction,
        placement=placement,
        min_window_calls=50,
        min_window_positives=5,
    )
    p = place_windows(frame["t"], frame["y"].to_numpy(), cfg)
    w = p.windows
    assert w.train_start < w.validation_start < w.calibration_start < w.test_start < w.test_end
    window = p.assign(frame["t"])
    assert p.report["calls_before_bulk"] == early
    assert (window[:early] == "").all()
    assert (window[early:] != "").all()  # every call of the bulk lands in exactly one window
    _check_order(frame, window)
    if placement == "calls":
        assert (window == "test").mean() == pytest.approx(test_fraction, abs=0.02)
