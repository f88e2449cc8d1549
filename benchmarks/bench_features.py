"""Benchmark: the offline feature builder on N simulated calls (target: 5M in < 60 s, < 4 GB).

    .venv/bin/python benchmarks/bench_features.py --calls 5000000 [--days 365] [--seed 1]

Simulates the calls first (not timed), then times `build_features` on them in a fresh child
process and reports the peak resident memory during the build (the input frame included; the
peak mark is reset after loading, so parsing the file does not count).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
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
    gc.collect()
    _release_free_memory()
    before = _status_gb("VmRSS")
    _reset_peak()
    t0 = time.perf_counter()
    feats = build_features(calls, FeatureConfig())
    seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "calls": len(calls),
                "features": feats.shape[1],
                "seconds": round(seconds, 1),
                "input_frame_rss_gb": round(before, 2),
                # Peak resident memory while building, the input frame included.
                "peak_rss_during_build_gb": round(_status_gb("VmHWM"), 2),
                "process_peak_rss_gb": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2
                ),
            }
        )
    )


def _status_gb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024 / 1e9
    return float("nan")


def _release_free_memory() -> None:
    """Hands freed heap back to the OS, so the baseline is the input frame, not parse garbage."""
    import ctypes

    import pyarrow as pa

    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    pool = pa.default_memory_pool()
    if hasattr(pool, "release_unused"):
        pool.release_unused()


def _reset_peak() -> None:
    """Linux: writing 5 to clear_refs resets the peak-RSS mark (VmHWM) to the current RSS."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


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
    from risk_model.simulate.files import simulate_to_file

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
