"""Shared fixtures: simulated data made locally (nothing is downloaded) and one trained model."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest

from risk_model.simulate.generate import simulate

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def sim_year() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A simulated year of 40,000 calls (and its truth frame), shared by data and model tests."""
    return simulate(calls=40_000, seed=11, start="2025-01-01", days=365)


@pytest.fixture(scope="session")
def sim_calls(sim_year: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    return sim_year[0]


def _shared_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A directory every xdist worker of this run sees (the run's own one without xdist)."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    base = tmp_path_factory.getbasetemp()
    path = base.parent / f"{name}-{run}" if run else base / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One small model trained end to end and registered as call-risk@champion.

    Shared by the model, service and review tests: under xdist the first worker to get here
    trains it (under a file lock) and the others reuse it. The tracking store is a SQLite file in
    that shared directory; MLFLOW_TRACKING_URI points at it for the session.
    """
    from risk_model.config import EvaluationConfig, ModelConfig, Settings

    root = _shared_dir(tmp_path_factory, "trained")
    settings = Settings(
        model=ModelConfig(n_estimators=400, early_stopping_rounds=40, learning_rate=0.06),
        evaluation=EvaluationConfig(bootstrap=20),
    )
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    done = root / "result.json"
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            from risk_model.simulate.files import simulate_to_file
            from risk_model.training.pipeline import train

            data = root / "calls.parquet"
            simulate_to_file(data, calls=120_000, seed=5, start="2025-01-01", days=365)
            cwd = os.getcwd()
            os.chdir(root)  # MLflow writes artifacts under ./mlruns of the working directory
            try:
                result = train(data, settings, experiment="tests", register="call-risk")
            finally:
                os.chdir(cwd)
            done.write_text(json.dumps(result, default=str))
        result = json.loads(done.read_text())
    yield {
        "root": root,
        "data": root / "calls.parquet",
        "truth": root / "calls.truth.parquet",
        "settings": settings,
        "result": result,
        "model_uri": "models:/call-risk@champion",
        "tracking_uri": tracking_uri,
    }
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


@pytest.fixture(scope="session")
def dask_client():
    """A LocalCluster of 2 worker processes (one thread each), as `--dask local:2` starts it.

    Tests that use it carry `pytest.mark.xdist_group("dask")`, so one xdist worker holds the
    one cluster for the session."""
    from risk_model.dask_client import connect

    with connect("local:2", memory_limit="3GiB") as client:
        yield client


@pytest.fixture(scope="session")
def cluster_trained(dask_client, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same simulated year trained twice: `train` on the single file, and `train --dask` on
    the monthly dataset ingest writes, on the 2-worker LocalCluster (tracking store of its own).

    Tests that use it carry `pytest.mark.xdist_group("dask")`."""
    from risk_model.config import EvaluationConfig, ModelConfig, Settings
    from risk_model.dataset import write_partitioned
    from risk_model.simulate.files import simulate_to_file
    from risk_model.training.dask_fit import train_on_cluster
    from risk_model.training.pipeline import train

    root = tmp_path_factory.mktemp("cluster-trained")
    data = root / "calls.parquet"
    simulate_to_file(data, calls=120_000, seed=21, start="2025-01-01", days=365)
    dataset = root / "dataset"
    write_partitioned(pd.read_parquet(data), dataset, "month")
    settings = Settings(
        model=ModelConfig(n_estimators=600, early_stopping_rounds=40, learning_rate=0.06),
        evaluation=EvaluationConfig(bootstrap=50),
    )
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    # MLflow writes artifacts under ./mlruns of the working directory: the fixture's own.
    with (
        mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": tracking_uri}),
        contextlib.chdir(root),
    ):
        single = train(data, settings, experiment="single", register="single")
        cluster = train_on_cluster(
            dataset,
            settings,
            experiment="cluster",
            register="cluster",
            truth=root / "calls.truth.parquet",
            client=dask_client,
        )
    return {
        "root": root,
        "data": data,
        "dataset": dataset,
        "settings": settings,
        "tracking_uri": tracking_uri,
        "single": single,
        "cluster": cluster,
    }
