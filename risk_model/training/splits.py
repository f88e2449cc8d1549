"""Temporal splits: train on earlier time, validate, calibrate, test on later time. Never random.

`make_windows` is one pure function from (the data's time span, SplitConfig) to named windows.
It fails fast on impossible windows (out of order, empty, outside the data).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from risk_model.config import SplitConfig
from risk_model.errors import UserError

WINDOW_NAMES = ("train", "validation", "calibration", "test")


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
    for (n1, t1), (n2, t2) in itertools.pairwise(points):
        if not t1 < t2:
            raise UserError(f"split: {n1} ({t1}) must be before {n2} ({t2})")
    if train_start > last or test_start > last:
        raise UserError(f"split: windows start after the data ends ({last})")
    if test_end <= first or val_start <= first:
        raise UserError(f"split: windows end before the data begins ({first})")
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
