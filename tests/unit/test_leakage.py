"""The leakage guard: it fires on planted post-incident fields and stays quiet on honest data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from risk_model.config import FeatureConfig, LeakageConfig, SplitConfig
from risk_model.errors import UserError
from risk_model.features.build import build_features
from risk_model.simulate.generate import simulate
from risk_model.training.leakage import (
    LeakageReport,
    check_leakage,
    enforce,
    validate_allow,
    wilson_lower,
)
from risk_model.training.pipeline import target_labels
from risk_model.training.splits import place_windows

SIM_CALLS = 30_000


def _check(calls: pd.DataFrame, cfg: LeakageConfig | None = None) -> LeakageReport:
    """The guard exactly as `train` runs it: labels, windows, features, then the check."""
    calls = calls.sort_values("received_at", kind="stable").reset_index(drop=True)
    y = target_labels(calls, "harmed")
    window = place_windows(calls["received_at"], y, SplitConfig()).assign(calls["received_at"])
    feats = build_features(calls, FeatureConfig())
    return check_leakage(feats, calls["narrative"], y, window, cfg or LeakageConfig())


@pytest.fixture(scope="module")
def honest() -> pd.DataFrame:
    return simulate(calls=SIM_CALLS, seed=21, start="2025-01-01", days=365)[0]


def _harmed(calls: pd.DataFrame) -> np.ndarray:
    return target_labels(calls, "harmed") == 1.0


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_quiet_on_the_simulators_honest_data(seed: int, honest: pd.DataFrame) -> None:
    calls = honest if seed == 21 else simulate(calls=SIM_CALLS, seed=seed)[0]
    report = _check(calls)
    assert report.findings == [], [f.text(report.overall_rate) for f in report.findings]
    # The check measured every input, and call type is informative but far from a leak.
    assert 0.6 < report.auc["call_type"] < 0.85
    assert report.text_rows > 0
    enforce(report)  # does not raise


def test_fires_on_a_call_type_that_names_the_outcome(honest: pd.DataFrame) -> None:
    calls = honest.copy()
    harmed = np.flatnonzero(_harmed(calls))
    rng = np.random.default_rng(0)
    leak = rng.choice(harmed, int(0.8 * len(harmed)), replace=False)
    calls["call_type"] = calls["call_type"].astype(object)
    calls.loc[leak, "call_type"] = "ASSAULT ON OFFICER"
    report = _check(calls)
    sources = {f.source for f in report.blocking}
    assert "call_type" in sources
    category = next(f for f in report.blocking if f.check == "category" and f.value)
    assert category.value == "ASSAULT ON OFFICER"
    assert category.share == 1.0 and category.calls >= 30
    assert report.auc["call_type"] > 0.85
    with pytest.raises(UserError) as err:
        enforce(report)
    line = str(err.value)
    assert "\n" not in line
    assert "call_type" in line and "--allow-leak call_type" in line
    assert "AUC" in line or "ASSAULT ON OFFICER" in line


def test_fires_on_a_narrative_phrase_only_harmed_calls_carry(honest: pd.DataFrame) -> None:
    calls = honest.copy()
    harmed = np.flatnonzero(_harmed(calls))
    some = harmed[::2]  # half of them: the phrase alone does not reach the AUC limit
    calls["narrative"] = calls["narrative"].astype(object)
    calls.loc[some, "narrative"] = (
        calls.loc[some, "narrative"].fillna("") + " UOF REASON: SUBJECT RESISTED"
    )
    report = _check(calls)
    phrases = [f for f in report.blocking if f.check == "phrase"]
    assert phrases, [f.text(report.overall_rate) for f in report.findings]
    assert phrases[0].source == "narrative"
    assert phrases[0].value in {"UOF", "RESISTED", "UOF REASON", "SUBJECT RESISTED", "REASON"}
    assert phrases[0].share >= 0.8 and phrases[0].calls >= 30
    with pytest.raises(UserError, match="narrative"):
        enforce(report)


def test_fires_on_a_flag_that_equals_the_outcome(honest: pd.DataFrame) -> None:
    calls = honest.copy()
    calls["in_progress"] = pd.array(_harmed(calls), dtype="boolean")
    report = _check(calls)
    flag = next(f for f in report.blocking if f.check == "rate_auc")
    assert flag.input == "in_progress" and flag.source == "in_progress"
    assert flag.auc > 0.99
    assert flag.true_share_harmed == 1.0 and flag.true_share_unharmed == 0.0
    with pytest.raises(UserError, match="in_progress"):
        enforce(report)


def test_an_explicit_override_lets_the_input_pass_and_is_recorded(honest: pd.DataFrame) -> None:
    calls = honest.copy()
    calls["in_progress"] = pd.array(_harmed(calls), dtype="boolean")
    report = _check(calls, LeakageConfig(allow=("in_progress",)))
    assert report.findings and all(f.overridden for f in report.findings)
    assert report.blocking == []
    enforce(report)
    data = report.as_dict()
    assert data["passed"] is True and data["allowed"] == ["in_progress"]
    assert data["findings"][0]["overridden"] is True
    assert report.metrics()["leakage_overridden"] >= 1


def test_switched_off_checks_nothing(honest: pd.DataFrame) -> None:
    calls = honest.copy()
    calls["in_progress"] = pd.array(_harmed(calls), dtype="boolean")
    report = _check(calls, LeakageConfig(enabled=False))
    assert report.findings == [] and report.auc == {}


def test_an_override_must_name_a_real_input() -> None:
    validate_allow(("call_type", "narrative", "call_family", "weapon_reported"))
    with pytest.raises(UserError, match="'call_typo' is not a model input"):
        validate_allow(("call_typo",))


def test_wilson_lower_bound() -> None:
    low = wilson_lower(np.array([30, 3, 0]), np.array([30, 3, 10]))
    assert 0.88 < low[0] < 0.9  # 30 of 30: still not certainty
    assert 0.4 < low[1] < 0.45  # 3 of 3 is weak evidence
    assert low[2] == pytest.approx(0.0, abs=1e-12)


def test_small_categories_do_not_fire() -> None:
    """A call type harmed 5 times out of 5 is chance, not a leak (fewer than min_calls)."""
    n = 4000
    rng = np.random.default_rng(1)
    y = (rng.random(n) < 0.05).astype(float)
    ctype = np.array(["THEFT"] * n, dtype=object)
    ctype[np.flatnonzero(y == 1)[:5]] = "RARE"
    window = np.where(np.arange(n) < 3000, "train", "validation")
    feats = pd.DataFrame({"call_type": ctype})
    report = check_leakage(feats, None, y, window, LeakageConfig())
    assert [f for f in report.findings if f.check == "category"] == []


@pytest.mark.parametrize("texts", [["", "", ""], [None, "", "A"], ["A B", "", "C"]])
def test_an_export_without_remarks_has_no_phrase_findings(texts: list) -> None:
    """Real exports often carry no call-taker remarks (the Dallas records: every cell empty):
    the phrase check finds nothing rather than failing."""
    from risk_model.training.leakage import _phrase_findings

    y = np.array([1.0, 0.0, 0.0])
    assert _phrase_findings(texts, y, LeakageConfig(), overall=1 / 3) == []
