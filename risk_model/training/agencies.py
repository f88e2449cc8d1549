"""Training on calls of several agencies: one outcome definition, windows within each agency,
figures per agency beside the pooled ones.

A pooled model helps a small agency borrow what a larger one's history teaches about call types
and places (docs/model.md, "Several agencies"), but pooling has three traps this module closes:
- agencies record different outcomes (one assaults, the other injuries): "harmed" would then mean
  two different things, and every negative of one agency would read as unknown;
- one set of time windows over pooled calls splits by agency when their years differ (train on
  one city, test on the other): windows are placed within each agency instead, so every agency
  contributes to train, validation, calibration and test;
- a pooled figure can hide an agency the model fails: each agency's test figures are reported.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
import pandas as pd

from risk_model.config import SplitConfig
from risk_model.errors import UserError
from risk_model.schema import AGENCY, OUTCOME_COLUMNS
from risk_model.training.evaluate import bootstrap_intervals, core_metrics
from risk_model.training.splits import (
    Placement,
    TimeWindows,
    check_window_sizes,
    place_windows,
    window_counts,
)

log = logging.getLogger(__name__)

NO_AGENCY = "(none)"


def agency_codes(calls: pd.DataFrame) -> np.ndarray | None:
    """Each call's agency code (NO_AGENCY where empty), or None when the data holds one agency
    or none: a single agency trains exactly as data without the column."""
    if AGENCY not in calls.columns:
        return None
    codes = calls[AGENCY].astype(object).where(calls[AGENCY].notna(), NO_AGENCY).to_numpy()
    return codes if len(pd.unique(codes)) > 1 else None


def recorded_outcomes(calls: pd.DataFrame) -> tuple[str, ...]:
    """The outcome columns a set of calls actually records (at least one known value)."""
    return tuple(c for c in OUTCOME_COLUMNS if c in calls.columns and calls[c].notna().any())


def check_outcome_definitions(calls: pd.DataFrame, codes: np.ndarray) -> None:
    """Refuses to pool agencies that record different outcomes, in one line naming them."""
    seen: dict[tuple[str, ...], list[str]] = {}
    for code in sorted(pd.unique(codes)):
        seen.setdefault(recorded_outcomes(calls.loc[codes == code]), []).append(str(code))
    if len(seen) > 1:
        parts = "; ".join(
            f"{', '.join(agencies)} record {' and '.join(cols) if cols else 'no outcome'}"
            for cols, agencies in seen.items()
        )
        raise UserError(
            f"the agencies record different outcomes ({parts}): a pooled target would mean "
            "different things per agency; train each agency alone, or pool only agencies that "
            "record the same outcome columns"
        )


def place_windows_by_agency(
    times: pd.Series, y: np.ndarray, codes: np.ndarray, cfg: SplitConfig
) -> tuple[Placement, np.ndarray, dict[str, TimeWindows]]:
    """Windows placed within each agency by its own labelled calls (the same rule and settings as
    for one agency); returns a pooled placement (the outliers of every agency, windows spanning
    them all, for the run's summary), each call's window, and each agency's windows.

    An agency too small for a window of its own still contributes the windows it has; the pooled
    windows must be big enough, as for one agency (checked by the caller's size check)."""
    t = np.asarray(times, dtype="datetime64[us]")
    window = np.full(len(t), "", dtype=object)
    outlier = np.zeros(len(t), dtype=bool)
    per_agency: dict[str, TimeWindows] = {}
    reports: dict[str, object] = {}
    before = after = 0
    for code in sorted(pd.unique(codes)):
        rows = np.flatnonzero(codes == code)
        try:
            placed = place_windows(t[rows], y[rows], cfg, check_size=False)
        except UserError as exc:
            raise UserError(f"agency {code}: {exc}") from None
        window[rows] = placed.assign(t[rows])
        outlier[rows] = placed.outlier
        per_agency[str(code)] = placed.windows
        reports[str(code)] = placed.report
        mine = t[rows].astype(np.int64)
        before += int((mine < placed.bulk_us[0]).sum())
        after += int((mine > placed.bulk_us[1]).sum())
    bounds = [w.bounds() for w in per_agency.values()]
    span = TimeWindows(
        min(b["train"][0] for b in bounds),
        min(b["validation"][0] for b in bounds),
        min(b["calibration"][0] for b in bounds),
        min(b["test"][0] for b in bounds),
        max(b["test"][1] for b in bounds),
    )
    inside = t[~outlier].astype(np.int64)
    report: dict[str, object] = {
        "calls_before_bulk": before,
        "calls_after_bulk": after,
        "bulk_start": str(pd.Timestamp(int(inside.min()), unit="us")) if len(inside) else "-",
        "bulk_end": str(pd.Timestamp(int(inside.max()), unit="us")) if len(inside) else "-",
        "agencies": reports,
    }
    bulk = (int(inside.min()), int(inside.max())) if len(inside) else (0, 0)
    check_window_sizes(
        window, y, ~np.isnan(y), cfg, lambda name: f"the {name} windows of the agencies hold"
    )
    return Placement(span, outlier, report, bulk), window, per_agency


def window_counts_by_agency(
    window: np.ndarray, y: np.ndarray, codes: np.ndarray
) -> dict[str, dict[str, dict[str, int]]]:
    """Calls and positives per agency and window (as the pooled `window_counts`); warned about
    when an agency has no positive in a window (it then teaches or tests nothing there)."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for code in sorted(pd.unique(codes)):
        mine = codes == code
        out[str(code)] = window_counts(window[mine], y[mine])
        empty = [w for w, c in out[str(code)].items() if c["positives"] == 0]
        if empty:
            log.warning(
                "agency %s has no labelled positive in the %s window(s): its figures there are "
                "not measurable",
                code,
                ", ".join(empty),
            )
    return out


def metrics_by_agency(
    frame: pd.DataFrame,
    codes: np.ndarray,
    baselines: dict[str, np.ndarray],
    top_fractions: tuple[float, ...] | list[float],
    reps: int,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Each agency's test-window figures: the model's metrics (with bootstrap intervals), each
    baseline's, and its test counts. `frame` is the evaluation frame (score, label), `codes` and
    `baselines` aligned with it."""
    out: dict[str, dict[str, Any]] = {}
    for code in sorted(pd.unique(codes)):
        rows = codes == code
        y = frame["label"].to_numpy(dtype=float)[rows]
        score = frame["score"].to_numpy(dtype=float)[rows]
        metrics: dict[str, Any] = core_metrics(score, y, top_fractions)
        if 0 < y.sum() < len(y):
            metrics["ci"] = bootstrap_intervals(score, y, reps, seed=seed)
        out[str(code)] = {
            "metrics": metrics,
            "baselines": {
                name: {"auc": core_metrics(s[rows], y, top_fractions)["auc"]}
                for name, s in baselines.items()
            },
            "test_calls": len(y),
            "test_positives": int(y.sum()),
        }
        log.info(
            "agency %s: test AUC %.3f on %s calls (%s positives); call-type rate %.3f",
            code,
            metrics["auc"],
            f"{len(y):,}",
            f"{int(y.sum()):,}",
            out[str(code)]["baselines"].get("call_type_rate", {}).get("auc", float("nan")),
        )
    return out


def log_agency_metrics(run_id: str, figures: dict[str, dict[str, Any]]) -> None:
    """Each agency's test metrics in the MLflow run (`agency_<code>_<metric>`), so runs can be
    compared per agency in the tracking UI as well as pooled."""
    import mlflow

    client = mlflow.MlflowClient()
    for code, fig in figures.items():
        for name in ("auc", "pr_auc", "brier", "ece", "recall_top5pct"):
            value = fig.get("metrics", {}).get(name)
            if value is not None and np.isfinite(value):
                safe = re.sub(r"[^A-Za-z0-9_.-]", "_", code)
                client.log_metric(run_id, f"agency_{safe}_{name}", float(value))
