"""Benchmark of the dispatch service: HTTP latency and throughput against the in-process floor.

    .venv/bin/python benchmarks/bench_service.py [--workdir .bench/service] [--calls 1000000]

Set-up (skipped when present in --workdir): simulate a year of calls, train and register a
champion with the default settings (`risk-model train --register call-risk`), bulk-load the year
into the history store (`risk-model load-history`). Then, on 127.0.0.1 only:

  1. the floor: `LiveAssessor.assess` on one call in this process (audited, as the service does),
     and on batches of 100;
  2. `risk-model serve` in a child process, and a keep-alive HTTP/1.1 client (asyncio, one
     connection per concurrent caller) measuring /score latency at concurrency 1, 8 and 32 and
     /score_batch calls per second at batch 100, from one client and from two at once;
  3. fairness: /score at concurrency 8 alone, then beside one client sending maximum-size
     /score_batch bodies back to back (a batch must not starve single calls).

`--phases` runs a subset (e.g. `--phases fairness` for the third alone).

Every phase is bounded by a request count and a time limit; the server is stopped at the end.
Calls are the newest calls of the simulated year, so the store holds their premise history.
The machine's load average is recorded before and after (measure when it is below 0.5).
Progress goes to stderr; the last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("bench_service")

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NAME = "call-risk"


# --------------------------------------------------------------------------- set-up


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    log.info("$ %s", " ".join(cmd))
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}


def set_up(workdir: Path, calls: int, seed: int, env: dict[str, str]) -> dict[str, Any]:
    """Simulated year, champion and loaded store in `workdir` (each step only when missing)."""
    workdir.mkdir(parents=True, exist_ok=True)
    rm = str(BIN / "risk-model")
    data = workdir / "calls.parquet"
    info: dict[str, Any] = {}
    if not data.exists():
        sim = ["simulate", "--calls", str(calls), "--seed", str(seed), "--out", str(data)]
        run([rm, *sim, "--json"], env, workdir)

    def champion() -> subprocess.CompletedProcess:
        ask = [rm, "champion", "--json"]
        return subprocess.run(ask, env=env, cwd=workdir, capture_output=True, text=True)

    found = champion()
    if found.returncode == 1:
        t0 = time.perf_counter()
        train = ["train", "--data", str(data), "--register", NAME, "--json"]
        trained = run([rm, *train], env, workdir)
        info["train_seconds"] = round(time.perf_counter() - t0, 1)
        info["train_metrics"] = trained.get("metrics")
        found = champion()
    if found.returncode != 0:
        raise SystemExit(found.stderr)
    info["model"] = json.loads(found.stdout.strip().splitlines()[-1])
    db = workdir / "history.db"
    if not db.exists():
        run([rm, "load-history", "--data", str(data), "--db", str(db), "--json"], env, workdir)
    return info


def load_calls(data: Path, n: int) -> list[dict[str, Any]]:
    """The newest n calls as /score bodies (call facts only, ISO times)."""
    import pandas as pd

    from risk_model.schema import CANONICAL_COLUMNS

    frame = pd.read_parquet(data, columns=list(CANONICAL_COLUMNS))
    frame = frame.sort_values("received_at", kind="stable").tail(n)
    out = []
    for rec in frame.to_dict(orient="records"):
        row = {}
        for k, v in rec.items():
            if v is None or v is pd.NA or (isinstance(v, float) and v != v):
                row[k] = None
            elif isinstance(v, pd.Timestamp):
                row[k] = v.isoformat()
            else:
                row[k] = v.item() if hasattr(v, "item") else v
        out.append(row)
    return out


# --------------------------------------------------------------------------- floor


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "n": len(ordered),
        "p50_ms": round(pick(0.50) * 1e3, 3),
        "p90_ms": round(pick(0.90) * 1e3, 3),
        "p99_ms": round(pick(0.99) * 1e3, 3),
        "mean_ms": round(statistics.fmean(ordered) * 1e3, 3),
    }


def floor(env: dict[str, str], workdir: Path, calls: list[dict], seconds: float) -> dict:
    """In-process cost of the same assessment, without HTTP (validation + assess, audited)."""
    os.environ.update(env)
    from risk_model.service.audit_log import AuditLog
    from risk_model.service.settings import ServiceSettings, load_assessor
    from serving.api_models import CallIn

    settings = ServiceSettings.from_env(env)
    assessor = load_assessor(settings)
    assessor.audit = AuditLog(workdir / "audit_floor.db")
    rows = [CallIn.model_validate(c).to_row() for c in calls]
    for r in rows[:50]:  # warm-up
        assessor.assess([r])
    out: dict[str, Any] = {}
    for label, audit in (("assess_one_audited", True), ("assess_one_unaudited", False)):
        times, deadline = [], time.monotonic() + seconds
        for r in rows:
            t0 = time.perf_counter()
            assessor.assess([r], audit=audit)
            times.append(time.perf_counter() - t0)
            if time.monotonic() > deadline:
                break
        out[label] = percentiles(times)
    times, deadline = [], time.monotonic() + seconds
    for c in calls:
        t0 = time.perf_counter()
        assessor.assess([CallIn.model_validate(c).to_row()])
        times.append(time.perf_counter() - t0)
        if time.monotonic() > deadline:
            break
    out["validate_and_assess_one"] = percentiles(times)
    done, t0 = 0, time.perf_counter()
    for start in range(0, len(rows), 100):
        assessor.assess(rows[start : start + 100])
        done += len(rows[start : start + 100])
        if time.perf_counter() - t0 > seconds:
            break
    out["assess_batch100_calls_per_s"] = round(done / (time.perf_counter() - t0), 1)
    return out


# --------------------------------------------------------------------------- HTTP


class Conn:
    """One keep-alive HTTP/1.1 connection: a cheap client, so the server is what is measured."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{self.extra}\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def load(
    port: int,
    path: str,
    bodies: list[bytes],
    concurrency: int,
    max_requests: int,
    seconds: float,
    headers: dict[str, str],
) -> dict[str, Any]:
    conns = [Conn(port, headers) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in conns))
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.monotonic() + seconds

    async def caller(conn: Conn) -> None:
        nonlocal issued, errors
        while issued < max_requests and time.monotonic() < deadline:
            body = bodies[issued % len(bodies)]
            issued += 1
            t0 = time.perf_counter()
            status, _ = await conn.post(path, body)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in conns))
    wall = time.perf_counter() - t0
    for c in conns:
        c.close()
    out = percentiles(latencies)
    out.update(
        concurrency=concurrency,
        errors=errors,
        seconds=round(wall, 2),
        requests_per_s=round(len(latencies) / wall, 1),
    )
    return out


def http_phases(
    port: int, calls: list[dict], args: argparse.Namespace, headers: dict[str, str]
) -> dict[str, Any]:
    """/score at concurrency 1, 8 and 32, then /score_batch (100 calls) from 1 and 2 clients."""
    out: dict[str, Any] = {"score": {}}
    single = [json.dumps({"call": c}).encode() for c in calls]
    asyncio.run(load(port, "/score", single, 4, 200, args.seconds, headers))  # warm-up
    for c in (1, 8, 32):
        log.info("/score at concurrency %d", c)
        out["score"][f"c{c}"] = asyncio.run(
            load(port, "/score", single, c, args.requests, args.seconds, headers)
        )
    batches = [
        json.dumps({"calls": calls[i : i + 100]}).encode() for i in range(0, len(calls) - 99, 100)
    ]
    for c in (1, 2):  # one CAD client sending batches back to back; two at once
        log.info("/score_batch, 100 calls per request, concurrency %d", c)
        b = asyncio.run(
            load(port, "/score_batch", batches, c, args.batches, args.seconds, headers)
        )
        b["calls_per_s"] = round(b["requests_per_s"] * 100, 1)
        out["score_batch100" if c == 1 else f"score_batch100_c{c}"] = b
    return out


async def beside(
    port: int,
    single: list[bytes],
    batches: list[bytes],
    seconds: float,
    requests: int,
    headers: dict[str, str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """/score at concurrency 8 while one client sends /score_batch bodies back to back."""
    singles, batch = await asyncio.gather(
        load(port, "/score", single, 8, requests, seconds, headers),
        load(port, "/score_batch", batches, 1, 10**9, seconds, headers),
    )
    return singles, batch


def fairness(
    port: int, calls: list[dict], args: argparse.Namespace, headers: dict[str, str]
) -> dict[str, Any]:
    """/score p99 at concurrency 8 alone and beside a client sending maximum-size batches."""
    from serving.api_models import MAX_BATCH

    single = [json.dumps({"call": c}).encode() for c in calls]
    size = min(MAX_BATCH, len(calls))
    batches = [
        json.dumps({"calls": calls[i : i + size]}).encode()
        for i in range(0, len(calls) - size + 1, size)
    ]
    asyncio.run(load(port, "/score", single, 4, 200, args.seconds, headers))  # warm-up
    log.info("/score at concurrency 8, alone")
    alone = asyncio.run(load(port, "/score", single, 8, 10**9, args.seconds, headers))
    log.info("/score_batch with %d calls, one client, alone", size)
    batch_alone = asyncio.run(load(port, "/score_batch", batches, 1, 10**9, args.seconds, headers))
    batch_alone["calls_per_s"] = round(batch_alone["n"] * size / batch_alone["seconds"], 1)
    log.info("/score at concurrency 8 beside a client sending %d-call batches", size)
    with_batch, batch = asyncio.run(beside(port, single, batches, args.seconds, 10**9, headers))
    batch["calls_per_s"] = round(batch["n"] * size / batch["seconds"], 1)
    return {
        "batch_size": size,
        "score_c8_alone": alone,
        "batch_alone": batch_alone,
        "score_c8_beside_batch": with_batch,
        "batch_beside_score": batch,
        "p99_ratio": round(with_batch["p99_ms"] / alone["p99_ms"], 2),
        "throughput_ratio": round(with_batch["requests_per_s"] / alone["requests_per_s"], 2),
    }


def auth(env: dict[str, str]) -> dict[str, str]:
    token = env.get("CALL_RISK_API_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=REPO / ".bench" / "service")
    ap.add_argument("--calls", type=int, default=1_000_000, help="simulated calls (set-up)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bodies", type=int, default=5000, help="distinct calls sent")
    ap.add_argument("--seconds", type=float, default=20.0, help="time limit per phase")
    ap.add_argument("--requests", type=int, default=3000, help="request limit per phase")
    ap.add_argument("--batches", type=int, default=150, help="request limit for /score_batch")
    ap.add_argument(
        "--workers", type=int, default=None, help="server processes (default: the service's)"
    )
    ap.add_argument(
        "--phases",
        default="floor,http,fairness",
        help="comma-separated subset of floor, http, fairness",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    sys.path.insert(0, str(REPO))  # serving/ is not an installed package
    workdir = args.workdir.resolve()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{workdir / 'mlflow.db'}",
        "CALL_RISK_HISTORY_DB": str(workdir / "history.db"),
    }
    if args.workers:
        overrides = {"services": {NAME: {"workers": args.workers}}}
        env["BENTOML_CONFIG_OVERRIDES"] = json.dumps(overrides)
    result: dict[str, Any] = {
        "workdir": str(workdir),
        "cpus": os.cpu_count(),
        "workers": args.workers or "service default",
    }
    result.update(set_up(workdir, args.calls, args.seed, env))
    for name in ("audit_floor.db", "audit_http.db"):  # every run starts with empty audit logs
        for suffix in ("", "-wal", "-shm"):
            (workdir / f"{name}{suffix}").unlink(missing_ok=True)
    calls = load_calls(workdir / "calls.parquet", args.bodies)
    result["load_before"] = loadavg()
    if result["load_before"] >= 0.5:
        log.warning("load average %.2f: figures will be pessimistic", result["load_before"])

    phases = set(args.phases.split(","))
    if "floor" in phases:
        log.info("floor: LiveAssessor.assess in process")
        result["in_process"] = floor(env, workdir, calls, args.seconds)

    from risk_model.service.serve_process import ServerDidNotStart, free_port, serve_process

    port = free_port()
    log.info("starting risk-model serve on 127.0.0.1:%d", port)
    headers = auth(env)
    try:
        with serve_process(
            port,
            ["--history-db", str(workdir / "history.db")],
            env={**env, "CALL_RISK_AUDIT_DB": str(workdir / "audit_http.db")},
            cwd=workdir,
            log=workdir / "serve.log",
            headers=headers,
            timeout=180,
        ):
            if "http" in phases:
                result.update(http_phases(port, calls, args, headers))
            if "fairness" in phases:
                result["fairness"] = fairness(port, calls, args, headers)
    except ServerDidNotStart as exc:
        raise SystemExit(str(exc)) from None
    result["load_after"] = loadavg()

    goals: dict[str, bool] = {}
    if {"floor", "http"} <= phases:
        floor_p50 = result["in_process"]["validate_and_assess_one"]["p50_ms"]
        http_p50 = result["score"]["c1"]["p50_ms"]
        result["http_overhead_p50_ms"] = round(http_p50 - floor_p50, 3)
        result["http_overhead_ratio"] = round((http_p50 - floor_p50) / floor_p50, 2)
        goals["p50_c1_under_5ms"] = http_p50 < 5
        goals["overhead_at_most_2x_floor"] = result["http_overhead_ratio"] <= 2
    if "http" in phases:
        goals["p99_c8_under_15ms"] = result["score"]["c8"]["p99_ms"] < 15
        goals["batch_at_least_2000_calls_per_s"] = (
            max(
                result["score_batch100"]["calls_per_s"],
                result["score_batch100_c2"]["calls_per_s"],
            )
            >= 2000
        )
    if "fairness" in phases:
        goals["p99_c8_beside_batch_within_2x"] = result["fairness"]["p99_ratio"] <= 2
    result["goals"] = goals
    print(json.dumps(result))


if __name__ == "__main__":
    main()
