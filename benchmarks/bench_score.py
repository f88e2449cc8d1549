"""Benchmark of offline scoring (`risk-model score`) beside the service's batch path.

    .venv/bin/python benchmarks/bench_score.py [--workdir .bench/score] [--sizes 100000,1000000]

Set-up (skipped when present in --workdir): one simulated world of `--history` calls followed
by max(--sizes) later calls, the first part written as the history file (with outcomes), the
later calls as the files to score (without); `risk-model train --register call-risk-bench` on
the history.

Then, per size, `risk-model score --history` in a child process under /usr/bin/time: wall
time, calls per second and peak resident memory of the whole command (model and history loading
included: what an analyst waits for), full answers (reasons, precautions, warnings). Beside it,
in this process, the service's batch path (`LiveAssessor.assess`, batches of 100, audited, as
`/score_batch` runs it without HTTP) on the same model and a store loaded from the same history.
The machine's load average is recorded before and after (the host may be shared). Progress goes
to stderr; the last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("bench_score")

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NAME = "call-risk-bench"


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    log.info("$ %s", " ".join(cmd))
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}


def set_up(workdir: Path, history: int, later: int, seed: int, env: dict[str, str]) -> None:
    """The world, split into history and later calls, and a registered model (when missing)."""
    import pandas as pd

    workdir.mkdir(parents=True, exist_ok=True)
    rm = str(BIN / "risk-model")
    world = workdir / "world.parquet"
    if not world.exists():
        # A year of history at its density, then the later calls; ending a month ago (calls
        # dated in the future break the schema).
        days = max(30, round(365 * (history + later) / max(history, 1)))
        start = (pd.Timestamp.now().normalize() - pd.Timedelta(days=days + 30)).date()
        sim = ["simulate", "--calls", str(history + later), "--seed", str(seed)]
        sim += ["--start", str(start), "--days", str(days)]
        run([rm, *sim, "--out", str(world), "--json"], env, workdir)
    hist_file = workdir / "history.parquet"
    if not hist_file.exists():
        calls = pd.read_parquet(world).sort_values("received_at", kind="stable")
        calls.iloc[:history].to_parquet(hist_file, index=False)
        rest = calls.iloc[history:].drop(columns=["officer_assaulted", "officer_injured"])
        rest.to_parquet(workdir / "later.parquet", index=False)
    if not (workdir / "trained.json").exists():
        train = ["train", "--data", str(hist_file), "--register", NAME, "--json"]
        result = run([rm, *train], env, workdir)
        (workdir / "trained.json").write_text(json.dumps(result, default=str))


def score_run(workdir: Path, size: int, env: dict[str, str], model_uri: str) -> dict[str, Any]:
    """`risk-model score` on the first `size` later calls, timed with its peak memory."""
    import pandas as pd

    data = workdir / f"later_{size}.parquet"
    if not data.exists():
        pd.read_parquet(workdir / "later.parquet").iloc[:size].to_parquet(data, index=False)
    out = workdir / f"scored_{size}.csv"
    cmd = [
        *("/usr/bin/time", "-f", "%e %M"),
        *(str(BIN / "risk-model"), "score", "--model", model_uri, "--input", str(data)),
        *("--history", str(workdir / "history.parquet"), "--out", str(out), "--json"),
    ]
    log.info("$ %s", " ".join(cmd[3:]))
    load = os.getloadavg()[0]
    done = subprocess.run(cmd, env=env, cwd=workdir, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit("risk-model score failed")
    wall, peak_kb = done.stderr.strip().splitlines()[-1].split()
    result = json.loads(done.stdout.strip().splitlines()[-1])
    figures = {
        "calls": size,
        "rows_scored": result["rows_scored"],
        "wall_s": float(wall),
        "calls_per_s": round(size / float(wall)),
        "peak_rss_gb": round(int(peak_kb) / 1024**2, 2),
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }
    log.info("score %s calls: %s", f"{size:,}", figures)
    return figures


def service_batches(workdir: Path, env: dict[str, str], model_uri: str, calls: int) -> dict:
    """The service's batch path in process: `LiveAssessor.assess` on batches of 100, audited."""
    import pandas as pd

    os.environ.update(env)
    from risk_model.batch.score import load_history_file
    from risk_model.features.store import SqliteHistoryStore
    from risk_model.model import tracking
    from risk_model.model.assessment import ModelInfo
    from risk_model.service.assessor import LiveAssessor
    from risk_model.service.audit_log import AuditLog
    from serving.api_models import CallIn

    db = workdir / "history.db"
    if not db.exists():
        load_history_file(workdir / "history.parquet", db)
    model, ref = tracking.load_model(model_uri)
    store = SqliteHistoryStore(db, model.settings.features)
    audit = workdir / "audit.db"
    audit.unlink(missing_ok=True)
    assessor = LiveAssessor(model, store, audit=AuditLog(audit), info=ModelInfo(ref.name, "1"))
    frame = pd.read_parquet(workdir / "later.parquet").iloc[:calls]
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    fields = set(CallIn.model_fields)
    rows = []
    for r in records:
        body = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
        rows.append(CallIn.model_validate({k: v for k, v in body.items() if k in fields}).to_row())
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    for start in range(0, len(rows), 100):
        assessor.assess(rows[start : start + 100])
    seconds = time.perf_counter() - t0
    return {
        "calls": len(rows),
        "calls_per_s": round(len(rows) / seconds),
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=REPO / ".bench" / "score")
    ap.add_argument("--history", type=int, default=300_000, help="history calls (set-up)")
    ap.add_argument("--sizes", default="100000", help="calls to score, comma-separated")
    ap.add_argument("--service-calls", type=int, default=20_000, help="0: skip the service")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = args.workdir.absolute()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    }
    set_up(workdir, args.history, max(sizes), args.seed, env)
    model_uri = f"models:/{NAME}/1"
    result: dict[str, Any] = {"history_calls": args.history, "cores": os.cpu_count()}
    result["score"] = [score_run(workdir, n, env, model_uri) for n in sizes]
    if args.service_calls:
        log.info("service batch path in process (LiveAssessor.assess, batches of 100)")
        result["service_batch_100"] = service_batches(workdir, env, model_uri, args.service_calls)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
