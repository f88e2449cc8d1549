"""Benchmark: the full training run on a simulated year, timed, with the quality targets checked.

    .venv/bin/python benchmarks/bench_train.py --calls 1000000 --seed 1

Simulates a year of calls (not timed), then runs `risk-model train --json` as an analyst would
(features, LightGBM, calibration, conformal, baselines, audit, MLflow logging) in a temporary
working directory, and prints the wall time, peak memory and the issue's targets:
AUC within 0.02 of the oracle's and >= 0.05 above call_type_rate, recall in the top 5% >= 1.6x the
baseline's, mean predicted risk within 10% of the observed rate, conformal coverage within two
points of 1 - alpha per class.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def run_train(
    data: Path, tmp: Path, *extra: str, db: str = "mlflow.db"
) -> tuple[float, dict[str, Any]]:
    """`risk-model train --data DATA --json [extra]` as an analyst runs it, in `tmp` with its own
    tracking store: (wall seconds, the JSON summary). Exits with the run's code on failure."""
    exe = Path(sys.executable).with_name("risk-model")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(exe), "train", "--data", str(data), "--json", *extra],
        cwd=tmp,
        capture_output=True,
        text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / db}"},
        check=False,
    )
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(proc.returncode)
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--keep", help="keep the working directory here")
    args = parser.parse_args()
    from risk_model.simulate.files import simulate_to_file

    tmp = Path(args.keep or tempfile.mkdtemp(prefix="bench-train-"))
    tmp.mkdir(parents=True, exist_ok=True)
    data = tmp / "calls.parquet"
    simulate_to_file(data, calls=args.calls, seed=args.seed, days=args.days)
    wall, r = run_train(data, tmp, "--register", "call-risk")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    m, b, o = r["metrics"], r["baselines"]["call_type_rate"], r.get("oracle", {})
    alpha = 0.1
    checks = {
        "auc_gap_to_oracle": round(o.get("auc", float("nan")) - m["auc"], 4),
        "auc_over_call_type_rate": round(m["auc"] - b["auc"], 4),
        "recall_top5_ratio": round(m["recall_top5pct"] / b["recall_top5pct"], 3),
        "oracle_recall_top5_ratio": round(
            o.get("recall_top5pct", float("nan")) / b["recall_top5pct"], 3
        ),
        "mean_predicted_vs_observed": round(m["mean_predicted"] / m["observed_rate"] - 1, 4),
        "coverage_high_minus_target": round(m["coverage_high"] - (1 - alpha), 4),
        "coverage_low_minus_target": round(m["coverage_low"] - (1 - alpha), 4),
    }
    passed = {
        "auc_gap_to_oracle": checks["auc_gap_to_oracle"] <= 0.02,
        "auc_over_call_type_rate": checks["auc_over_call_type_rate"] >= 0.05,
        "recall_top5_ratio": checks["recall_top5_ratio"] >= 1.6,
        "calibration_in_the_large": abs(checks["mean_predicted_vs_observed"]) <= 0.10,
        "coverage_high": abs(checks["coverage_high_minus_target"]) <= 0.02,
        "coverage_low": abs(checks["coverage_low_minus_target"]) <= 0.02,
        "under_2_minutes": wall < 120,
    }
    print(
        json.dumps(
            {
                "calls": args.calls,
                "seed": args.seed,
                "wall_seconds": round(wall, 1),
                "peak_rss_gb": round(peak, 2),
                "load_avg_1m": os.getloadavg()[0],
                "metrics": {k: m[k] for k in ("auc", "pr_auc", "brier", "ece", "recall_top5pct")},
                "call_type_rate": {k: b[k] for k in ("auc", "recall_top5pct")},
                "logistic": {k: r["baselines"]["logistic"][k] for k in ("auc", "recall_top5pct")},
                "oracle": {k: o.get(k) for k in ("auc", "recall_top5pct")},
                "coverage": {"high": m["coverage_high"], "low": m["coverage_low"]},
                "checks": checks,
                "passed": passed,
                "workdir": str(tmp),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
