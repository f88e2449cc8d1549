"""The feature registry: documented, worded, and consistent with the history definitions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from risk_model.config import FeatureConfig
from risk_model.features.history import HISTORY_AGGS
from risk_model.features.registry import (
    BY_NAME,
    FEATURE_NAMES,
    definitions_hash,
    describe,
    monotone_constraints,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_every_feature_is_documented() -> None:
    text = DOCS.read_text()
    missing = [name for name in FEATURE_NAMES if f"`{name}`" not in text]
    assert not missing


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("prem_assaults_365d", 2.0, "2 assaults on officers at this address in the past year"),
        ("prem_assaults_365d", 1.0, "1 assault on an officer at this address in the past year"),
        ("prem_assaults_365d", 0.0, "No assaults on officers at this address in the past year"),
        ("prem_assaults_365d", math.nan, "No address or location: premise history not available"),
        ("weapon_reported", 1.0, "Caller reported a weapon"),
        ("weapon_reported", 0.0, "Caller reported no weapon"),
        ("weapon_reported", None, "Not known whether a weapon is involved"),
        ("prem_calls_30d", 1.0, "1 earlier call to this address in the past 30 days"),
        (
            "prem_near_repeat",
            1.0,
            "Violent or disturbance call at this address in the past 14 days",
        ),
        (
            "beat_violent_share_30d",
            0.125,
            "12% of calls in this beat in the past 30 days were violent or disturbances",
        ),
        ("call_type", "DOMESTIC DISTURBANCE", "Call type: DOMESTIC DISTURBANCE"),
    ],
)
def test_values_in_words(name: str, value: object, expected: str) -> None:
    assert describe(name, {name: value}) == expected


def test_hour_is_explained_as_a_clock_time() -> None:
    angle = 2 * math.pi * 1.5 / 24
    row = {"hour_sin": math.sin(angle), "hour_cos": math.cos(angle)}
    assert describe("hour_sin", row) == "Time of day: 01:30"


def test_every_template_renders_for_typical_values() -> None:
    for name, fdef in BY_NAME.items():
        value = "X" if fdef.kind == "categorical" else 3.0
        row = {n: 0.5 for n in FEATURE_NAMES} | {name: value}
        assert describe(name, row)
        assert describe(name, {name: None, "hour_sin": 0.0, "hour_cos": 1.0})


def test_monotone_features_are_risk_factors_and_history_names_are_unique() -> None:
    constrained = {n for n, m in zip(FEATURE_NAMES, monotone_constraints(), strict=True) if m}
    assert {"weapon_reported", "prem_assaults_365d", "prem_assaults_all"} <= constrained
    names = [a.name for a in HISTORY_AGGS]
    assert len(names) == len(set(names))


def test_definitions_hash_changes_with_the_settings() -> None:
    a = definitions_hash(FeatureConfig())
    assert a == definitions_hash(FeatureConfig())
    assert a != definitions_hash(FeatureConfig(premise_horizon_days=365))
