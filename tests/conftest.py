"""Shared fixtures: simulated data made locally (nothing is downloaded) and one trained model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from risk_model.simulate import simulate

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def sim_year() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A simulated year of 40,000 calls (and its truth frame), shared by data and model tests."""
    return simulate(calls=40_000, seed=11, start="2025-01-01", days=365)


@pytest.fixture(scope="session")
def sim_calls(sim_year: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    return sim_year[0]
