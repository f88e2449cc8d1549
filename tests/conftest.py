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


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One small model trained end to end and registered as call-risk@champion.

    Shared by the model, service and review tests (keep them in xdist group "model" so a
    worker trains it once). The tracking store is a SQLite file in a temporary directory.
    """
    import os

    from risk_model.config import EvaluationConfig, ModelConfig, Settings
    from risk_model.simulate import simulate_to_file
    from risk_model.training.pipeline import train

    root = tmp_path_factory.mktemp("trained")
    data = root / "calls.parquet"
    simulate_to_file(data, calls=120_000, seed=5, start="2025-01-01", days=365)
    settings = Settings(
        model=ModelConfig(n_estimators=400, early_stopping_rounds=40, learning_rate=0.06),
        evaluation=EvaluationConfig(bootstrap=20),
    )
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    cwd = os.getcwd()
    os.chdir(root)  # MLflow writes artifacts under ./mlruns of the working directory
    try:
        result = train(data, settings, experiment="tests", register="call-risk")
    finally:
        os.chdir(cwd)
    yield {
        "root": root,
        "data": data,
        "truth": root / "calls.truth.parquet",
        "settings": settings,
        "result": result,
        "model_uri": "models:/call-risk@champion",
        "tracking_uri": os.environ["MLFLOW_TRACKING_URI"],
    }
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old
