"""Labels that cannot teach anything stop `train` with one line before any fitting (issue 22 N4),
and the leakage guard never passes on figures it could not measure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from risk_model.config import LeakageConfig
from risk_model.errors import UserError
from risk_model.simulate.generate import simulate
from risk_model.training.leakage import LeakageReport, enforce
from risk_model.training.pipeline import check_labels


def _one_sided(kind: str) -> pd.DataFrame:
    """Simulated calls relabelled as a one-sided outcome mapping leaves them."""
    calls, _ = simulate(calls=3000, seed=3, start="2025-01-01", days=120)
    n = len(calls)
    known = np.arange(n) % 7 == 0
    na = pd.array([pd.NA] * n, dtype="boolean")
    calls["officer_assaulted"] = calls["officer_injured"] = na
    if kind == "positive":  # absent: unknown + {value: "true"}: only harmed calls are known
        calls["officer_assaulted"] = pd.array(np.where(known, True, None), dtype="boolean")
    elif kind == "negative":  # negative needs every outcome column false
        for col in ("officer_assaulted", "officer_injured"):
            calls[col] = pd.array(np.where(known, False, None), dtype="boolean")
    return calls


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("positive", ["all 429 labelled calls are positive", "absent: unknown"]),
        ("negative", ["all 429 labelled calls are negative"]),
        ("none", ["no call has a known 'harmed' outcome"]),
    ],
)
def test_train_refuses_one_sided_labels_in_one_line(
    kind: str, words: list[str], tmp_path: Path
) -> None:
    data = tmp_path / "calls.parquet"
    _one_sided(kind).to_parquet(data, index=False)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    proc = subprocess.run(
        [sys.executable, "-m", "risk_model.cli", "train", "--data", str(data), "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for w in words:
        assert w in errors[0]
    assert proc.stdout.strip() == ""  # nothing fitted, no JSON
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.parametrize(
    ("y", "fails"),
    [
        (np.array([1.0, np.nan, 0.0]), False),
        (np.array([1.0, 1.0, np.nan]), True),
        (np.array([0.0, np.nan, 0.0]), True),
        (np.array([np.nan, np.nan]), True),
    ],
)
def test_check_labels(y: np.ndarray, fails: bool) -> None:
    if fails:
        with pytest.raises(UserError):
            check_labels(y, "harmed")
    else:
        check_labels(y, "harmed")


def _report(auc: dict[str, float], positives: int) -> LeakageReport:
    cfg = LeakageConfig()
    thresholds = {"max_auc": cfg.max_auc, "min_share": 0.8, "min_calls": 30, "min_lift": 0.5}
    return LeakageReport([], auc, 1.0, 500, 200, positives, 0, thresholds, [], enabled=True)


def test_the_leakage_guard_does_not_pass_on_nan() -> None:
    with pytest.raises(UserError, match=r"no input could be measured.*200 positives among 200"):
        enforce(_report({"priority": float("nan"), "call_type": float("nan")}, 200))
    enforce(_report({"priority": 0.55, "call_type": float("nan")}, 20))  # measured: passes
