"""Runs every benchmark in turn (make bench) and prints one JSON line per benchmark.

Each benchmark is also runnable on its own; the commands and figures are in docs/benchmarks.md.
Benchmarks measure real work on simulated data made on the spot; nothing is downloaded.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = [
    ["bench_simulate.py", "--calls", "1000000"],
    ["bench_text.py"],
    ["bench_features.py", "--calls", "5000000"],
    ["bench_train.py", "--calls", "1000000", "--seed", "1"],
    ["bench_cluster.py", "--calls", "1000000", "--workers", "1", "2"],
    ["bench_score.py", "--sizes", "100000,1000000"],
    ["bench_service.py"],
    ["bench_audit.py"],
]


def main() -> None:
    failed = 0
    for args in RUNS:
        script = HERE / args[0]
        if not script.exists():
            print(f"# skipped {args[0]} (not present)", flush=True)
            continue
        print(f"# {' '.join(args)}", flush=True)
        code = subprocess.call([sys.executable, str(script), *args[1:]])
        failed += code != 0
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
