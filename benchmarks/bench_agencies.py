"""Benchmark: does pooling help a small agency? Its test AUC pooled with a large one vs alone.

    .venv/bin/python benchmarks/bench_agencies.py --big 200000 --small 20000 --seeds 1 2 3

Two simulated agencies (different seeds: different cities, premises and hazards; the same kind
of world), the small one a year earlier than the big one, both numbering calls and naming
streets, beats and districts alike (the keys are namespaced inside the project). For each seed
the small agency is trained alone and pooled (`risk-model train --json` on the files as an analyst
would, an `agency` column set); its windows are placed by its own labelled calls either way, so
both runs test on the same calls. Prints, per seed, the small agency's test AUC alone and pooled
with their bootstrap intervals, and the pooled run's per-agency figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import run_train


def agency_files(tmp: Path, big: int, small: int, seed: int) -> tuple[Path, Path]:
    """(pooled file, small agency's file): simulated calls with an `agency` column."""
    from risk_model.simulate.generate import simulate

    big_calls, _ = simulate(calls=big, seed=seed, start="2025-01-01", days=365)
    small_calls, _ = simulate(calls=small, seed=seed + 1000, start="2024-01-01", days=365)
    big_calls.insert(1, "agency", "BIG")
    small_calls.insert(1, "agency", "SMALL")
    pooled = tmp / "pooled.parquet"
    alone = tmp / "small.parquet"
    pd.concat([big_calls, small_calls], ignore_index=True).to_parquet(pooled, index=False)
    small_calls.to_parquet(alone, index=False)
    return pooled, alone


def small_auc(summary: dict[str, Any], pooled: bool) -> dict[str, Any]:
    m = summary["agencies"]["SMALL"]["metrics"] if pooled else summary["metrics"]
    ci = m.get("ci", {}).get("auc", [])
    return {"auc": round(m["auc"], 4), "ci": [round(v, 4) for v in ci]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big", type=int, default=200_000)
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument(
        "--min-window-positives", type=int, default=3, help="lets the small agency train alone"
    )
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        tmp = Path(tempfile.mkdtemp(prefix="bench-agencies-"))
        pooled, alone = agency_files(tmp, args.big, args.small, seed)
        cfg = tmp / "settings.yaml"
        # Intervals on every run (the default only bootstraps thin test windows).
        cfg.write_text(
            "evaluation:\n  bootstrap: 200\n  bootstrap_below_positives: 1000000\n"
            f"split:\n  min_window_positives: {args.min_window_positives}\n"
        )
        try:
            wall_alone, r_alone = run_train(alone, tmp, "--config", str(cfg), db="alone.db")
        except SystemExit:  # too small to train alone (the error is on stderr above)
            wall_alone, r_alone = float("nan"), None
        wall_pooled, r_pooled = run_train(pooled, tmp, "--config", str(cfg), db="pooled.db")
        row = {
            "seed": seed,
            "small_alone": small_auc(r_alone, pooled=False) if r_alone else "cannot train",
            "small_pooled": small_auc(r_pooled, pooled=True),
            "small_test": {
                "calls": r_pooled["agencies"]["SMALL"]["test_calls"],
                "positives": r_pooled["agencies"]["SMALL"]["test_positives"],
            },
            "big_pooled_auc": round(r_pooled["agencies"]["BIG"]["metrics"]["auc"], 4),
            "pooled_auc": round(r_pooled["metrics"]["auc"], 4),
            "seconds": {"alone": round(wall_alone, 1), "pooled": round(wall_pooled, 1)},
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    gain = [
        r["small_pooled"]["auc"] - r["small_alone"]["auc"]
        for r in rows
        if isinstance(r["small_alone"], dict)
    ]
    if gain:
        print(json.dumps({"mean_auc_gain_pooled_minus_alone": round(sum(gain) / len(gain), 4)}))


if __name__ == "__main__":
    main()
