"""Benchmark: the offline feature builder on N simulated calls (target: 5M in < 60 s, < 4 GB).

    .venv/bin/python benchmarks/bench_features.py --calls 5000000 [--days 365] [--seed 1]

Simulates the calls first (not timed), then times `build_features` on them in a fresh child
process, so the peak-RSS figure is the builder's own (plus the input frame it must hold).
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


def child(path: str) -> None:
    import pandas as pd

    from risk_model.config import FeatureConfig
    from risk_model.features.build import build_features
    from risk_model.schema import validate_frame

    calls = validate_frame(pd.read_parquet(path)).accepted
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    t0 = time.perf_counter()
    feats = build_features(calls, FeatureConfig())
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(
        json.dumps(
            {
                "calls": len(calls),
                "features": feats.shape[1],
                "seconds": round(seconds, 1),
                "peak_rss_gb": round(peak, 2),
                "rss_before_build_gb": round(base_rss, 2),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    from risk_model.simulate import simulate_to_file

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "calls.parquet"
        simulate_to_file(data, calls=args.calls, seed=args.seed, days=args.days)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(data)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
    result["load_avg_1m"] = os.getloadavg()[0]
    result["cores"] = os.cpu_count()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
