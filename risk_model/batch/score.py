"""The library side of the offline commands: score a file, load-history, compare, champion.

Everything here reads files and the MLflow registry and writes files; none of it runs the live
service (that is risk_model/service/, started by `risk_model.service.serve`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from risk_model import vocab
from risk_model.config import load_settings
from risk_model.dataset import rows_refused, write_csv
from risk_model.errors import UserError
from risk_model.features.build import events_frame

log = logging.getLogger(__name__)


def _write(frame: pd.DataFrame, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise UserError(f"--out {path}: expected a .parquet or .csv file")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        write_csv(frame, path)  # formula cells neutralised: people open it in spreadsheets


class Progress:
    """Progress of a long `score` on stderr: a line each time another tenth of the calls is
    done or 30 s have passed since the last line, with the rate and the time left; short runs
    (one part of the calls) stay quiet until the end."""

    def __init__(self, every_share: float = 0.1, every_seconds: float = 30.0) -> None:
        self.every_share = every_share
        self.every_seconds = every_seconds
        self.t0 = self.last_t = time.perf_counter()
        self.last_done = 0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        due = done - self.last_done >= self.every_share * total
        if not (due or now - self.last_t >= self.every_seconds or done >= total):
            return
        rate = done / max(now - self.t0, 1e-9)
        left = (total - done) / rate if rate > 0 else 0.0
        log.info(
            "score: %s / %s calls (%.0f%%), %s calls/s, ~%.0f s left",
            f"{done:,}",
            f"{total:,}",
            100.0 * done / max(total, 1),
            f"{rate:,.0f}",
            left,
        )
        self.last_t, self.last_done = now, done


def score_file(
    model_uri: str, input_path: Path, out_path: Path, history_path: Path | None = None
) -> dict[str, Any]:
    """`risk-model score`: the same scoring object the pyfunc and the service use."""
    from risk_model.dataset import load_calls
    from risk_model.model import tracking
    from risk_model.model.assessment import ModelInfo

    t0 = time.perf_counter()
    if out_path.suffix.lower() not in (".parquet", ".csv"):
        raise UserError(f"--out {out_path}: expected a .parquet or .csv file")
    calls, rejected = load_calls(input_path, in_time_order=False)
    if rejected:
        raise rows_refused(input_path, rejected)
    model, ref = tracking.load_model(model_uri)
    history = None
    if history_path is not None:
        hist_calls, _ = load_calls(history_path)
        history = events_frame(hist_calls, model.settings.features)
        log.info("history: %s calls from %s", f"{len(history):,}", history_path)
    log.info("score: %s calls to score", f"{len(calls):,}")
    scored = model.score_calls(
        calls,
        history=history,
        info=ModelInfo(ref.name, ref.version),
        progress=Progress(),
    )
    _write(scored, out_path)
    return {
        "rows_scored": len(scored),
        "out": str(out_path),
        "model": {"name": ref.name, "version": ref.version},
        **answer_summary(scored),
        "seconds": round(time.perf_counter() - t0, 2),
    }


def answer_summary(scored: pd.DataFrame) -> dict[str, Any]:
    """Counts of the answers by decision, tier and warning code (SPEC §3: `score --json`), and
    the same in a few stderr lines: a file where every answer carried `synthetic_model` or
    `unseen_area` must say so where the analyst looks, not only inside each row."""
    n = len(scored)
    decisions = {d: int((scored["decision"] == d).sum()) for d in vocab.DECISIONS}
    tiers = {t: int((scored["risk_tier"] == t).sum()) for t in vocab.TIERS}
    text = scored["warnings"].astype(str)
    # Each warning is a JSON string `"code: text"`: its code follows an opening quote.
    counts = {c: int(text.str.contains(f'"{c}:', regex=False).sum()) for c in vocab.WARNING_CODES}
    warnings = dict(sorted(((c, k) for c, k in counts.items() if k), key=lambda ck: -ck[1]))

    def share(k: int) -> str:
        return f"{k:,} ({k / n:.1%})" if n else "0"

    log.info(
        "score: %s answers: decision %s; tier %s",
        f"{n:,}",
        ", ".join(f"{d} {share(k)}" for d, k in decisions.items()),
        ", ".join(f"{t} {share(k)}" for t, k in tiers.items()),
    )
    if warnings:
        top = [
            f"every answer carried {c}" if k == n else f"{c} on {share(k)}"
            for c, k in list(warnings.items())[:5]
        ]
        log.warning("score: warnings: %s", "; ".join(top))
    else:
        log.info("score: no answer carried a warning")
    return {"decisions": decisions, "tiers": tiers, "warnings": warnings}


def load_history_file(
    data: Path,
    db: Path,
    config: Path | None = None,
    model_uri: str | None = None,
    allow_drops: bool = False,
) -> dict[str, Any]:
    """`risk-model load-history`: bulk-load canonical calls into the SQLite history store, and
    say what was loaded: its period, the share of calls with a known outcome and (with a
    model) the beats and districts that model never saw, whose calls will carry `unseen_area`.
    """
    from risk_model.dataset import load_calls
    from risk_model.features.store import SqliteHistoryStore

    t0 = time.perf_counter()
    settings = load_settings(config)
    # More than 1% of the rows breaking the schema stops the load (SPEC §3) unless allowed.
    calls, rejected = load_calls(data, allow_drops=allow_drops)
    store = SqliteHistoryStore(db, settings.features)
    ev = events_frame(calls, settings.features)
    known = np.zeros(len(calls), dtype=bool)
    for name, col in (("officer_assaulted", "_known_a"), ("officer_injured", "_known_i")):
        ev[col] = calls[name].notna().to_numpy() if name in calls.columns else False
        known |= np.asarray(ev[col], dtype=bool)
    res = store.bulk_load(ev)
    out: dict[str, Any] = {
        "db": str(db),
        "inserted": res.inserted,
        "updated": res.updated,
        "unchanged": res.unchanged,
        "rows_rejected": rejected,
        "calls_in_store": store.count(),
        "first_call": str(calls["received_at"].min()) if len(calls) else None,
        "last_call": str(calls["received_at"].max()) if len(calls) else None,
        "outcome_coverage": round(float(known.mean()), 4) if len(calls) else 0.0,
    }
    if model_uri is not None:
        out.update(_areas_unknown_to(model_uri, ev))
    out["seconds"] = round(time.perf_counter() - t0, 2)
    if out["outcome_coverage"] == 0.0:
        log.warning("load-history: no call in %s has a known outcome (no_outcome_history)", data)
    return out


def _areas_unknown_to(model_uri: str, ev: pd.DataFrame) -> dict[str, Any]:
    """The loaded beats and districts the model never saw in training, counted and listed."""
    from risk_model.model import tracking

    model, ref = tracking.load_model(model_uri)
    areas = model.scope.areas
    if areas is None:
        return {"areas_unknown_to_model": f"model {ref.name} v{ref.version} lists no areas"}
    unknown = {}
    for kind in ("district", "beat"):
        loaded = sorted(ev[kind].dropna().astype(str).unique())
        unknown[kind] = [k for k in loaded if k not in areas.get(kind, ())]
    loaded_n = {k: ev[k].dropna().nunique() for k in unknown}
    summary = "; ".join(
        f"{kind} {len(keys)} of {loaded_n[kind]}"
        + (f" ({', '.join(keys[:5])}{', ...' if len(keys) > 5 else ''})" if keys else "")
        for kind, keys in unknown.items()
    )
    return {"areas_unknown_to_model": summary, "unknown_areas": unknown}


def compare_runs(experiment: str, max_runs: int = 10) -> dict[str, Any]:
    """`risk-model compare`: newest runs side by side with their baselines."""
    import mlflow

    from risk_model.model import tracking

    tracking.configure()
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        raise UserError(f"no MLflow experiment named {experiment!r} in {tracking.tracking_uri()}")
    runs = mlflow.search_runs(
        [exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=max_runs
    )
    if runs.empty:
        raise UserError(f"experiment {experiment!r} has no runs yet")
    cols = {
        "run": "run_id",
        "started": "start_time",
        "test from": "params.window.test_start",
        "AUC": "metrics.test_auc",
        "PR-AUC": "metrics.test_pr_auc",
        "Brier": "metrics.test_brier",
        "ECE": "metrics.test_ece",
        "recall@5%": "metrics.test_recall_top5pct",
        "type-rate AUC": "metrics.call_type_rate_auc",
        "logistic AUC": "metrics.logistic_auc",
        "oracle AUC": "metrics.oracle_auc",
        "features": "params.feature_hash",
    }
    table = pd.DataFrame({k: runs[v] if v in runs.columns else None for k, v in cols.items()})
    table["run"] = table["run"].str[:8]
    table["started"] = pd.to_datetime(table["started"]).dt.strftime("%Y-%m-%d %H:%M")
    text = table.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-")
    records = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    return {"experiment": experiment, "runs": records, "table": text}


def champion_info(name: str) -> dict[str, Any] | None:
    """`risk-model champion`: the version behind `models:/<name>@champion`, or None."""
    from risk_model.model import tracking

    uri = tracking.configure()
    mv = tracking.champion_version(name)
    if mv is None:
        return None
    return {
        "name": name,
        "version": str(mv.version),
        "run_id": mv.run_id,
        "model_uri": f"models:/{name}@{tracking.CHAMPION}",
        "tracking_uri": uri,
    }
