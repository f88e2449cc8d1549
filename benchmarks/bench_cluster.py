"""Benchmark: `train --dask` (features + training) by calls and workers, beside `train`.

    .venv/bin/python benchmarks/bench_cluster.py --calls 1000000 2000000 4000000 --workers 1 2
    .venv/bin/python benchmarks/bench_cluster.py --calls 4000000 --workers 2 \
        --later-window-rows 1000000 200000    # the client's memory with sampled later windows

For each size, simulates a year of calls (not timed) and writes it as the monthly Parquet
dataset `ingest --partition-by month` writes; then for each worker count starts a LocalCluster
(`--dask local:N`: N processes, one thread each) and runs the whole cluster training run in a
fresh process of its own (so each run's client memory is its own), sampling the resident
memory of every worker process and of the client every 0.2 s. With --single it also times
`risk-model train` on the same calls in a subprocess (its peak RSS from the kernel). Prints one
JSON line per run: wall time, the run's stage times, peak memory per worker and of the client,
the bytes the shuffle moved, rows collected to the client, and test AUC.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil


class MemorySampler:
    """Peak RSS of this process and of each of its descendant processes (the dask workers)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.client_peak = 0
        self.worker_peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            self.client_peak = max(self.client_peak, me.memory_info().rss)
            for child in me.children(recursive=True):
                try:
                    rss = child.memory_info().rss
                except psutil.Error:
                    continue
                self.worker_peaks[child.pid] = max(self.worker_peaks.get(child.pid, 0), rss)
            time.sleep(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cluster_run(
    dataset: Path, truth: Path, workers: int, tmp: Path, later_window_rows: int | None = None
) -> dict:
    from risk_model.config import ClusterConfig, Settings
    from risk_model.dask_client import connect
    from risk_model.training.dask_fit import train_on_cluster

    settings = Settings()
    if later_window_rows is not None:
        settings = Settings(cluster=ClusterConfig(later_window_rows=later_window_rows))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / f'mlflow-{workers}.db'}"
    with connect(f"local:{workers}") as client, MemorySampler() as mem:
        t0 = time.perf_counter()
        out = train_on_cluster(dataset, settings, truth=truth, client=client)
        wall = time.perf_counter() - t0
    # Each worker process sits under a nanny process: the largest `workers` peaks are workers.
    peaks = sorted(mem.worker_peaks.values(), reverse=True)
    return {
        "engine": f"dask local:{workers}",
        "seconds": round(wall, 1),
        "stages": out["cluster"]["seconds"],
        "worker_peak_gb": [round(p / 1e9, 2) for p in peaks[:workers]],
        "client_peak_gb": round(mem.client_peak / 1e9, 2),
        "client_peak_gb_by_stage": out["cluster"]["client_peak_gb"],
        "shuffle_gb": round(out["cluster"]["shuffle_bytes"] / 1e9, 2),
        "partitions": out["cluster"]["partitions"],
        "rows_to_client": out["cluster"]["rows_to_client"],
        "sample_shares": out["cluster"]["sample_shares"],
        "auc": round(out["metrics"]["auc"], 4),
    }


def single_run(data: Path, tmp: Path) -> dict:
    from bench_train import run_train  # benchmarks/ is this script's folder

    wall, r = run_train(data, tmp, db="mlflow-single.db")
    return {
        "engine": "single machine",
        "seconds": round(wall, 1),
        "peak_gb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6, 2),
        "auc": round(r["metrics"]["auc"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--single", action="store_true", help="also time `risk-model train`")
    parser.add_argument("--keep", help="keep the working directory here")
    parser.add_argument(
        "--later-window-rows",
        type=int,
        nargs="+",
        default=[None],
        help="settings cluster.later_window_rows, one run per value (default: the default)",
    )
    args = parser.parse_args()
    import logging

    import pandas as pd

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"
    )

    from risk_model.dataset import write_partitioned
    from risk_model.simulate.files import simulate_to_file

    root = Path(args.keep or tempfile.mkdtemp(prefix="bench-cluster-"))
    for n in args.calls:
        tmp = root / f"calls-{n}"
        tmp.mkdir(parents=True, exist_ok=True)
        data = tmp / "calls.parquet"
        dataset = tmp / "dataset"
        if not data.exists():
            simulate_to_file(data, calls=n, seed=args.seed, days=365)
        if not dataset.exists():
            write_partitioned(pd.read_parquet(data), dataset, "month")
        truth = tmp / "calls.truth.parquet"
        if args.single:
            print(json.dumps({"calls": n, **_with_load(single_run(data, tmp))}), flush=True)
        for w in args.workers:
            for cap in args.later_window_rows:
                run = _with_load(in_fresh_process(cluster_run, dataset, truth, w, tmp, cap))
                print(json.dumps({"calls": n, "later_window_rows": cap, **run}), flush=True)


def _call_into(queue: Any, func: Callable[..., dict], args: tuple) -> None:
    queue.put(func(*args))


def in_fresh_process(func: Callable[..., dict], *args: Any) -> dict:
    """`func(*args)` in a new process (spawned, not forked), so the client's peak memory is this
    run's alone: a process keeps the pages an earlier run freed, and two runs in one process
    once reported 12.0 GB for a run that peaks at 7.3 GB alone."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_call_into, args=(queue, func, args))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _with_load(run: dict) -> dict:
    """The 1-minute load average at the end of a run: on a shared host, how busy it was."""
    return {**run, "load_1min": round(os.getloadavg()[0], 2)}


if __name__ == "__main__":
    main()
