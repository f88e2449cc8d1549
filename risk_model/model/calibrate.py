"""Calibration (so risk_score is a probability) and Mondrian conformal decisions.

Both are fitted on the calibration window, which the booster never saw. They read the booster's
raw margin: calibration maps it to a probability; conformal compares it with the calibration
window's margins per class. Conformal sets are invariant to monotone maps, so using the margin
rather than the calibrated score loses nothing and avoids fitting both on the same transform.
Fitted state is plain arrays (np.interp / searchsorted on the request path, no sklearn).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

log = logging.getLogger(__name__)

EPS = 1e-6
Method = Literal["isotonic", "platt"]


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


class Calibrator:
    """Isotonic or Platt scaling of a margin; `method="auto"` picks by held-out log loss.

    Auto: the calibration window is split in time into halves; each method is fitted on one half
    and scored on the other (both ways); the lower mean log loss wins and is refitted on all.
    """

    def __init__(self, method: Literal["auto", "isotonic", "platt"] = "auto") -> None:
        self.method = method

    @staticmethod
    def _fit_one(method: Method, m: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        if method == "platt":
            lr = LogisticRegression(C=1e6, max_iter=1000)
            lr.fit(m.reshape(-1, 1), y)
            return {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}
        # A pseudo-count keeps empty low bins from claiming a probability of exactly zero.
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        iso.fit(m, y)
        x, yy = iso.X_thresholds_, iso.y_thresholds_
        floor = 0.5 / (len(y) + 1)
        return {"x": x.astype(float).tolist(), "y": np.maximum(yy, floor).astype(float).tolist()}

    @staticmethod
    def _apply(method: Method, params: dict[str, Any], m: np.ndarray) -> np.ndarray:
        if method == "platt":
            return 1.0 / (1.0 + np.exp(-(params["a"] * m + params["b"])))
        return np.interp(m, np.asarray(params["x"]), np.asarray(params["y"]))

    def fit(self, margin: np.ndarray, y: np.ndarray) -> Calibrator:
        """`margin` and `y` must be in time order (the halves are earlier and later time)."""
        margin = np.asarray(margin, dtype=float)
        y = np.asarray(y, dtype=float)
        self.scores_: dict[str, float] = {}
        if self.method == "auto":
            half = len(y) // 2
            parts = [(slice(0, half), slice(half, None)), (slice(half, None), slice(0, half))]
            for method in ("isotonic", "platt"):
                losses = []
                for fit_part, eval_part in parts:
                    if y[fit_part].sum() == 0 or y[eval_part].sum() == 0:
                        continue
                    params = self._fit_one(method, margin[fit_part], y[fit_part])
                    losses.append(
                        log_loss(self._apply(method, params, margin[eval_part]), y[eval_part])
                    )
                self.scores_[method] = float(np.mean(losses)) if losses else float("inf")
            chosen: Method = min(self.scores_, key=lambda k: self.scores_[k])  # type: ignore[assignment]
        else:
            chosen = self.method
        self.method_: Method = chosen
        self.params_ = self._fit_one(chosen, margin, y)
        log.info("calibration: %s (held-out log loss %s)", chosen, self.scores_ or "n/a")
        return self

    def transform(self, margin: np.ndarray) -> np.ndarray:
        return self._apply(self.method_, self.params_, np.asarray(margin, dtype=float))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method_, "params": self.params_, "scores": self.scores_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        cal = cls(method=data["method"])
        cal.method_ = data["method"]
        cal.params_ = data["params"]
        cal.scores_ = data.get("scores", {})
        return cal


class MondrianConformal:
    """Class-conditional split conformal prediction sets at error rate `alpha` per class.

    For a new margin s: p_high = (#{calibration positives with margin <= s} + 1) / (n1 + 1),
    p_low = (#{calibration negatives with margin >= s} + 1) / (n0 + 1). A class is in the set when
    its p-value exceeds alpha. {high} -> "high", {low} -> "low", both or neither -> "cant_tell".
    Guarantee (exchangeability): each true class is covered with probability >= 1 - alpha.
    """

    def __init__(self, alpha: float = 0.1) -> None:
        self.alpha = alpha

    def fit(self, margin: np.ndarray, y: np.ndarray) -> MondrianConformal:
        margin = np.asarray(margin, dtype=float)
        y = np.asarray(y).astype(bool)
        self.pos_ = np.sort(margin[y])
        self.neg_ = np.sort(margin[~y])
        if len(self.pos_) == 0 or len(self.neg_) == 0:
            raise ValueError("conformal calibration needs both classes in the calibration window")
        return self

    def p_values(self, margin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = np.asarray(margin, dtype=float)
        n1, n0 = len(self.pos_), len(self.neg_)
        p_high = (np.searchsorted(self.pos_, s, side="right") + 1) / (n1 + 1)
        p_low = (n0 - np.searchsorted(self.neg_, s, side="left") + 1) / (n0 + 1)
        return p_high, p_low

    def sets(self, margin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(contains high, contains low) for each margin."""
        p_high, p_low = self.p_values(margin)
        return p_high > self.alpha, p_low > self.alpha

    def decide(self, margin: np.ndarray) -> np.ndarray:
        has_high, has_low = self.sets(margin)
        out = np.full(len(has_high), "cant_tell", dtype=object)
        out[has_high & ~has_low] = "high"
        out[has_low & ~has_high] = "low"
        return out

    def coverage(self, margin: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """Empirical per-class coverage: share of each true class whose set contains it."""
        y = np.asarray(y).astype(bool)
        has_high, has_low = self.sets(margin)
        return {
            "coverage_high": float(has_high[y].mean()) if y.any() else float("nan"),
            "coverage_low": float(has_low[~y].mean()) if (~y).any() else float("nan"),
        }

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"pos": self.pos_, "neg": self.neg_, "alpha": np.array([self.alpha])}

    @classmethod
    def from_arrays(cls, arrays: Any) -> MondrianConformal:
        conf = cls(alpha=float(arrays["alpha"][0]))
        conf.pos_ = np.asarray(arrays["pos"], dtype=float)
        conf.neg_ = np.asarray(arrays["neg"], dtype=float)
        return conf


def tier_thresholds(
    base_rate: float, elevated_multiple: float, high_multiple: float
) -> tuple[float, float]:
    """The probabilities where `elevated` and `high` start: `multiple` times the base rate's
    odds. On the odds scale a multiple means the same at any base rate: at 0.3% it is all but
    the same as a multiple of the probability (2x: 0.60%), while at 16% the probability
    multiples would put `high` at 80% and leave it unused (odds: 2x -> 27.6%, 5x -> 48.8%)."""
    b = min(max(float(base_rate), EPS), 1 - EPS)
    odds = b / (1 - b)
    at = [m * odds / (1 + m * odds) for m in (elevated_multiple, high_multiple)]
    return at[0], at[1]


def tier(
    p: np.ndarray,
    base_rate: float,
    elevated_multiple: float,
    high_multiple: float,
    decision: np.ndarray | None = None,
) -> np.ndarray:
    """low / elevated / high relative to the model's base rate (not 0.5), agreeing with the
    conformal decision at any base rate (SPEC §4).

    By the score: `elevated` from `elevated_multiple` times the base rate's odds, `high` from
    `high_multiple` times (`tier_thresholds`). Then the decision has the last word where they
    would disagree: a `high` decision is at least `elevated` (`high` when the score reaches
    it), a `low` decision is always `low`; `cant_tell` keeps the score's tier.
    """
    p = np.asarray(p, dtype=float)
    elevated_at, high_at = tier_thresholds(base_rate, elevated_multiple, high_multiple)
    out = np.full(len(p), "low", dtype=object)
    out[p >= elevated_at] = "elevated"
    out[p >= high_at] = "high"
    if decision is not None:
        decision = np.asarray(decision, dtype=object)
        out[(decision == "high") & (out == "low")] = "elevated"
        out[decision == "low"] = "low"
    return out
