"""Test-window metrics for the model and every baseline, with bootstrap intervals when thin.

Everything reads one evaluation frame per test window (call_id, received_at, score, label,
district, ...), in the spirit of aequitas: metrics, calibration and the audit all read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from risk_model.vocab import DECISIONS


def recall_at_top(score: np.ndarray, y: np.ndarray, fraction: float) -> float:
    """Share of all positives among the `fraction` of calls scored highest.

    Ties at the cut are shared pro rata (the expected value under random tie-breaking), so a
    coarse score such as a call-type rate is neither helped nor hurt by the order of its ties.
    """
    score = np.asarray(score, dtype=float)
    y = np.asarray(y, dtype=float)
    n, pos = len(score), y.sum()
    if n == 0 or pos == 0:
        return float("nan")
    k = int(np.ceil(fraction * n))
    cut = np.partition(score, n - k)[n - k]
    above = score > cut
    tied = score == cut
    slots = k - above.sum()
    tied_pos = y[tied].sum()
    return float((y[above].sum() + tied_pos * slots / max(tied.sum(), 1)) / pos)


def ece(score: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-count bins (equal-width bins are empty at p~0.003)."""
    order = np.argsort(score, kind="stable")
    s, yy = np.asarray(score)[order], np.asarray(y, dtype=float)[order]
    parts = np.array_split(np.arange(len(s)), bins)
    total = 0.0
    for idx in parts:
        if len(idx):
            total += len(idx) * abs(s[idx].mean() - yy[idx].mean())
    return float(total / max(len(s), 1))


def calibration_table(score: np.ndarray, y: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Calibration by decile of score: mean predicted vs observed rate."""
    order = np.argsort(score, kind="stable")
    s, yy = np.asarray(score)[order], np.asarray(y, dtype=float)[order]
    rows = []
    for i, idx in enumerate(np.array_split(np.arange(len(s)), bins)):
        if len(idx):
            rows.append(
                {
                    "decile": i + 1,
                    "calls": len(idx),
                    "mean_predicted": float(s[idx].mean()),
                    "observed_rate": float(yy[idx].mean()),
                    "positives": int(yy[idx].sum()),
                }
            )
    return pd.DataFrame(rows)


def core_metrics(
    score: np.ndarray, y: np.ndarray, top_fractions: Sequence[float] = (0.05, 0.10)
) -> dict[str, float]:
    score = np.asarray(score, dtype=float)
    y = np.asarray(y, dtype=float)
    both = 0 < y.sum() < len(y)
    out = {
        "auc": float(roc_auc_score(y, score)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, score)) if both else float("nan"),
        "brier": float(np.mean((score - y) ** 2)),
        "ece": ece(score, y),
        "mean_predicted": float(score.mean()),
        "observed_rate": float(y.mean()),
    }
    for f in top_fractions:
        out[f"recall_top{round(f * 100)}pct"] = recall_at_top(score, y, f)
    return out


def _weighted_auc(sorted_score: np.ndarray, sorted_y: np.ndarray, w: np.ndarray) -> float:
    """AUC with row weights on pre-sorted scores (ties count one half): O(n) per replicate."""
    wp = w * sorted_y
    wn = w * (1 - sorted_y)
    bounds = np.flatnonzero(np.diff(sorted_score)) + 1
    starts = np.concatenate([[0], bounds])
    gp = np.add.reduceat(wp, starts)
    gn = np.add.reduceat(wn, starts)
    below = np.cumsum(gn) - gn
    tp, tn = gp.sum(), gn.sum()
    if tp == 0 or tn == 0:
        return float("nan")
    return float((gp * (below + 0.5 * gn)).sum() / (tp * tn))


def bootstrap_intervals(
    score: np.ndarray, y: np.ndarray, reps: int, seed: int = 0, level: float = 0.95
) -> dict[str, list[float]]:
    """Percentile intervals (Poisson bootstrap) for AUC, Brier and recall in the top 5%."""
    if reps <= 0:
        return {}
    rng = np.random.default_rng(seed)
    order = np.argsort(score, kind="stable")
    s, yy = np.asarray(score, dtype=float)[order], np.asarray(y, dtype=float)[order]
    n = len(s)
    k = int(np.ceil(0.05 * n))
    top = np.zeros(n, dtype=bool)
    top[n - k :] = True
    aucs, briers, recalls = [], [], []
    sq = (s - yy) ** 2
    for _ in range(reps):
        w = rng.poisson(1.0, n).astype(float)
        aucs.append(_weighted_auc(s, yy, w))
        briers.append(float((w * sq).sum() / max(w.sum(), 1)))
        pos = (w * yy).sum()
        recalls.append(float((w * yy * top).sum() / pos) if pos else float("nan"))
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100

    def ci(values: list[float]) -> list[float]:
        arr = np.asarray(values)
        arr = arr[~np.isnan(arr)]
        return [float(np.percentile(arr, lo)), float(np.percentile(arr, hi))] if len(arr) else []

    return {"auc": ci(aucs), "brier": ci(briers), "recall_top5pct": ci(recalls)}


def decision_summary(decision: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Share of calls per conformal decision and the observed rate within each."""
    y = np.asarray(y, dtype=float)
    out: dict[str, Any] = {}
    for d in DECISIONS:
        mask = np.asarray(decision) == d
        out[f"share_{d}"] = float(mask.mean()) if len(mask) else float("nan")
        out[f"rate_{d}"] = float(y[mask].mean()) if mask.any() else float("nan")
    return out
