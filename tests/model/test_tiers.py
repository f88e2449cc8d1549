"""Tiers agree with decisions at any base rate (SPEC §4; issue 18 item 7): at a 16% harm rate
every call was tier "low" while 13% got decision "high" when tiers were multiples of the
probability. Calibration and conformal are fitted here on synthetic margins at each rate."""

from __future__ import annotations

import numpy as np
import pytest

from risk_model.config import TierConfig
from risk_model.model.calibrate import Calibrator, MondrianConformal, tier, tier_thresholds


def _fitted(rate: float, seed: int = 0):
    """Calibrator and conformal fitted on 40,000 calls at `rate`, and 40,000 fresh calls."""
    rng = np.random.default_rng(seed)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < rate).astype(float)
        return rng.normal(0.0, 1.0, n) + 1.8 * y, y

    m_cal, y_cal = draw(40_000)
    calibrator = Calibrator("platt").fit(m_cal, y_cal)
    conformal = MondrianConformal(0.1).fit(m_cal, y_cal)
    m_test, _ = draw(40_000)
    return calibrator, conformal, m_test, float(y_cal.mean())


@pytest.mark.parametrize("rate", [0.005, 0.05, 0.16])
def test_tiers_and_decisions_never_contradict_and_every_tier_is_used(rate: float) -> None:
    calibrator, conformal, margin, base = _fitted(rate)
    score = calibrator.transform(margin)
    decision = conformal.decide(margin)
    cfg = TierConfig()
    tiers = tier(score, base, cfg.elevated_multiple, cfg.high_multiple, decision)
    assert not ((decision == "high") & (tiers == "low")).any()  # SPEC §4
    assert (tiers[decision == "low"] == "low").all()
    assert set(tiers) == {"low", "elevated", "high"}
    assert set(decision) == {"low", "high", "cant_tell"}
    # `high` is still a statement about risk: the score reached the high threshold.
    _, high_at = tier_thresholds(base, cfg.elevated_multiple, cfg.high_multiple)
    assert (score[tiers == "high"] >= high_at).all()
    # Tiers still order risk: each tier's mean score above the one below it.
    means = [score[tiers == t].mean() for t in ("low", "elevated", "high")]
    assert means == sorted(means)


@pytest.mark.parametrize(
    ("base", "elevated_at", "high_at"),
    [
        (0.0028, 0.005585, 0.013845),  # rare harm: all but 2x and 5x the probability
        (0.05, 0.095238, 0.208333),
        (0.16, 0.275862, 0.487805),  # reachable, unlike 32% and 80%
        (0.6, 0.75, 0.882353),  # a base rate above 50% still leaves room for both tiers
    ],
)
def test_thresholds_are_multiples_of_the_base_odds(
    base: float, elevated_at: float, high_at: float
) -> None:
    assert tier_thresholds(base, 2.0, 5.0) == pytest.approx((elevated_at, high_at), abs=1e-6)


@pytest.mark.parametrize(
    ("score", "decision", "expected"),
    [
        (0.001, "high", "elevated"),  # a high decision is never low
        (0.5, "high", "high"),
        (0.5, "low", "low"),  # a low decision is always low
        (0.5, "cant_tell", "high"),  # can't tell keeps the score's tier
        (0.007, "cant_tell", "elevated"),
        (0.001, "cant_tell", "low"),
    ],
)
def test_the_decision_bounds_the_tier(score: float, decision: str, expected: str) -> None:
    got = tier(np.array([score]), 0.0028, 2.0, 5.0, np.array([decision], dtype=object))
    assert got[0] == expected
