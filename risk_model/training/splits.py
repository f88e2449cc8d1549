"""Temporal splits: train on earlier time, validate, calibrate, test on later time. Never random.

`place_windows` is what `train` uses: it finds records dated far outside the bulk of the data
(reported, left out of every window), places the windows by where the labelled calls are (shares
of the labelled calls in time order, `split.placement: calls`) or by fractions of the time span
(`placement: span`, via `make_windows`), and fails fast with one line naming the setting to
change when a window is out of order or too small to fit or judge a model.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from risk_model.config import SplitConfig
from risk_model.errors import UserError

WINDOW_NAMES = ("train", "validation", "calibration", "test")
_WHERE = "in the split section of a settings YAML passed with `risk-model train --config FILE`"
# The setting that grows each window (shares of the labelled calls, or of the time span).
_GROW = {
    "train": "split.train_start (earlier) or smaller split.validation_fraction/"
    "calibration_fraction/test_fraction",
    "validation": "split.validation_fraction",
    "calibration": "split.calibration_fraction",
    "test": "split.test_fraction",
}


@dataclass(frozen=True)
class TimeWindows:
    """Half-open windows [start, next start); test ends at test_end (exclusive)."""

    train_start: pd.Timestamp
    validation_start: pd.Timestamp
    calibration_start: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    def bounds(self) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
        return {
            "train": (self.train_start, self.validation_start),
            "validation": (self.validation_start, self.calibration_start),
            "calibration": (self.calibration_start, self.test_start),
            "test": (self.test_start, self.test_end),
        }

    def as_dict(self) -> dict[str, str]:
        return {
            f"{k}_{e}": str(v[i])
            for k, v in self.bounds().items()
            for i, e in enumerate(("start", "end"))
        }

    def assign(self, times: pd.Series | np.ndarray) -> np.ndarray:
        """Window name for each time ('' outside every window)."""
        t = np.asarray(times, dtype="datetime64[us]")
        out = np.full(len(t), "", dtype=object)
        for name, (lo, hi) in self.bounds().items():
            mask = (t >= np.datetime64(lo, "us")) & (t < np.datetime64(hi, "us"))
            out[mask] = name
        return out


def _ts(value: str | None, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(value)
    except ValueError:
        raise UserError(f"split.{name}: {value!r} is not a date (YYYY-MM-DD)") from None


def make_windows(first: pd.Timestamp, last: pd.Timestamp, cfg: SplitConfig) -> TimeWindows:
    """Named windows over [first, last]; explicit dates in cfg win, fractions fill the rest."""
    first, last = pd.Timestamp(first), pd.Timestamp(last)
    if not last > first:
        raise UserError("data covers a single instant: at least two distinct times are needed")
    end = last + pd.Timedelta(microseconds=1)
    span = end - first
    test_end = _ts(cfg.test_end, "test_end") or end
    test_start = _ts(cfg.test_start, "test_start") or (test_end - span * cfg.test_fraction)
    cal_start = _ts(cfg.calibration_start, "calibration_start") or (
        test_start - span * cfg.calibration_fraction
    )
    val_start = _ts(cfg.validation_start, "validation_start") or (
        cal_start - span * cfg.validation_fraction
    )
    train_start = _ts(cfg.train_start, "train_start") or first
    points = [
        ("train_start", train_start),
        ("validation_start", val_start),
        ("calibration_start", cal_start),
        ("test_start", test_start),
        ("test_end", test_end),
    ]
    _check_order(points)
    if train_start > last or test_start > last:
        raise UserError(
            f"split: windows start after the data ends ({last}): set the split dates {_WHERE}"
        )
    if test_end <= first or val_start <= first:
        raise UserError(
            f"split: windows end before the data begins ({first}): set the split dates {_WHERE}"
        )
    return TimeWindows(train_start, val_start, cal_start, test_start, test_end)


def backtest_windows(base: TimeWindows, folds: int) -> list[TimeWindows]:
    """Rolling-origin backtest: the same layout shifted back by one test length per fold."""
    step = base.test_end - base.test_start
    out = []
    for k in range(1, folds + 1):
        shift = step * k
        w = TimeWindows(
            base.train_start,
            base.validation_start - shift,
            base.calibration_start - shift,
            base.test_start - shift,
            base.test_end - shift,
        )
        if not (w.train_start < w.validation_start):
            raise UserError(f"split.backtest_folds={folds}: fold {k} leaves no training time")
        out.append(w)
    return out


@dataclass(frozen=True)
class Placement:
    """Windows plus what was left out: records dated far outside the bulk of the data."""

    windows: TimeWindows
    outlier: np.ndarray  # bool per call: outside the bulk, in no window
    report: dict[str, object]
    bulk_us: tuple[int, int]  # the bulk of the data, [start, end] in microseconds

    def assign(self, times: pd.Series | np.ndarray) -> np.ndarray:
        """Window name per call ('' outside every window and outside the bulk): for the calls
        the windows were placed on, or any others (a cluster partition's)."""
        out = self.windows.assign(times)
        t = np.asarray(times, dtype="datetime64[us]").astype(np.int64)
        out[(t < self.bulk_us[0]) | (t > self.bulk_us[1])] = ""
        return out


def find_outliers(
    times: np.ndarray, cfg: SplitConfig
) -> tuple[np.ndarray, dict[str, object], tuple[int, int]]:
    """Calls dated far before or after the bulk: outside [q - margin, q' + margin] where q, q' are
    the `outlier_quantile` and 1 - `outlier_quantile` times (a typo'd year, a 1970 default)."""
    t = np.asarray(times, dtype="datetime64[us]").astype(np.int64)
    q = cfg.outlier_quantile
    lo, hi = np.quantile(t, [q, 1 - q], method="lower") if len(t) else (0, 0)
    margin = cfg.outlier_margin_days * 86_400_000_000
    start, end = int(lo) - margin, int(hi) + margin
    early, late = t < start, t > end
    as_ts = lambda v: str(pd.Timestamp(int(v), unit="us"))  # noqa: E731
    report: dict[str, object] = {
        "calls_before_bulk": int(early.sum()),
        "calls_after_bulk": int(late.sum()),
        "bulk_start": as_ts(start),
        "bulk_end": as_ts(end),
    }
    if early.any():
        report["earliest"] = as_ts(t[early].min())
    if late.any():
        report["latest"] = as_ts(t[late].max())
    return early | late, report, (start, end)


def _floor_day(t: pd.Timestamp, after: pd.Timestamp | None) -> pd.Timestamp:
    """Midnight before t when that stays after `after` (windows read better on day bounds)."""
    day = t.floor("D")
    return day if after is None or day > after else t


def _calls_windows(times: np.ndarray, labelled: np.ndarray, cfg: SplitConfig) -> TimeWindows:
    """Windows by shares of the labelled calls, working back from the end like `make_windows`
    works back through the span; explicit dates win."""
    lt = np.sort(times[labelled])
    n = len(lt)
    if n < 2:
        raise UserError(
            f"only {n} labelled call(s) inside the bulk of the data: training needs outcomes "
            "(officer_assaulted / officer_injured) on many calls"
        )
    first, last = pd.Timestamp(lt[0]), pd.Timestamp(lt[-1])
    test_end = _ts(cfg.test_end, "test_end") or last + pd.Timedelta(microseconds=1)
    train_start = _ts(cfg.train_start, "train_start") or first.floor("D")

    def back(before: pd.Timestamp, share: float) -> pd.Timestamp:
        k = int(np.searchsorted(lt, np.datetime64(before, "us"), side="left"))
        idx = min(max(k - max(round(n * share), 1), 0), n - 1)
        return _floor_day(pd.Timestamp(lt[idx]), train_start)

    test_start = _ts(cfg.test_start, "test_start") or back(test_end, cfg.test_fraction)
    cal_start = _ts(cfg.calibration_start, "calibration_start") or back(
        test_start, cfg.calibration_fraction
    )
    val_start = _ts(cfg.validation_start, "validation_start") or back(
        cal_start, cfg.validation_fraction
    )
    points = [
        ("train_start", train_start),
        ("validation_start", val_start),
        ("calibration_start", cal_start),
        ("test_start", test_start),
        ("test_end", test_end),
    ]
    _check_order(points, f" with {n:,} labelled calls")
    return TimeWindows(train_start, val_start, cal_start, test_start, test_end)


def _check_order(points: list[tuple[str, pd.Timestamp]], context: str = "") -> None:
    """Window boundaries must strictly increase; the error names the two settings to change."""
    for (n1, t1), (n2, t2) in itertools.pairwise(points):
        if not t1 < t2:
            raise UserError(
                f"split: {n1} ({t1}) must be before {n2} ({t2}){context}: set split.{n1}, "
                f"split.{n2} or the split fractions {_WHERE}"
            )


def place_windows(
    times: pd.Series | np.ndarray, y: np.ndarray, cfg: SplitConfig, check_size: bool = True
) -> Placement:
    """Windows for `train`: outliers out, windows placed, each window big enough to use.

    `y` holds 1/0 labels and NaN for unlabelled calls. Raises UserError with one line naming
    the setting to change.
    """
    t = np.asarray(times, dtype="datetime64[us]")
    y = np.asarray(y, dtype=float)
    if len(t) == 0:
        raise UserError("the data holds no calls")
    outlier, report, bulk_us = find_outliers(t, cfg)
    labelled = ~np.isnan(y) & ~outlier
    if cfg.placement == "span":
        inside = t[~outlier]
        windows = make_windows(inside.min(), inside.max(), cfg)
    else:
        windows = _calls_windows(t, labelled, cfg)
    placement = Placement(windows, outlier, report, bulk_us)
    if check_size:
        bounds = windows.bounds()
        check_window_sizes(
            placement.assign(t),
            y,
            labelled,
            cfg,
            lambda name: f"the {name} window ({bounds[name][0]} to {bounds[name][1]}) has",
        )
    return placement


def window_counts(window: np.ndarray, y: np.ndarray) -> dict[str, dict[str, int]]:
    """Calls and positives per window, as `train --json` reports them (`window_counts`)."""
    return {
        w: {"calls": int((window == w).sum()), "positives": int(np.nansum(y[window == w]))}
        for w in WINDOW_NAMES
    }


def check_window_sizes(
    window: np.ndarray,
    y: np.ndarray,
    labelled: np.ndarray,
    cfg: SplitConfig,
    which: Callable[[str], str],
) -> None:
    """Each window holds at least split.min_window_calls labelled calls and
    split.min_window_positives positives, or the run stops in one line naming the window (as
    `which(name)` words it) and the settings that grow it."""
    for name in WINDOW_NAMES:
        mask = (window == name) & labelled
        calls, positives = int(mask.sum()), int(y[mask].sum())
        if calls < cfg.min_window_calls or positives < cfg.min_window_positives:
            raise UserError(
                f"split: {which(name)} {calls:,} labelled calls and {positives:,} positives, "
                f"fewer than split.min_window_calls={cfg.min_window_calls} or "
                f"split.min_window_positives={cfg.min_window_positives}: widen it with "
                f"{_GROW[name]}, or lower those minimums, {_WHERE}"
            )
