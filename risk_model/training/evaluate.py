"""Test-window metrics for the model and every baseline, with bootstrap intervals when thin.

Everything reads one evaluation frame per test window (call_id, received_at, score, label,
district, ...), in the spirit of aequitas: metrics, calibration and the audit all read it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
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


class _RankedScore:
    """One score sorted once for many weighted AUCs (a bootstrap's replicates).

    With the score sorted, a positive's weighted count of negatives below it (ties count one
    half) is a cumulative sum read at its tie group's bounds: per replicate one cumulative sum
    over the calls and a read at the positives, which are few.
    """

    def __init__(self, score: np.ndarray, y: np.ndarray) -> None:
        score = np.asarray(score, dtype=float)
        self.order = np.argsort(score, kind="stable")
        s = score[self.order]
        self.neg = 1.0 - np.asarray(y, dtype=float)[self.order]
        self.pos = np.flatnonzero(self.neg == 0.0)
        # Each positive's tie group [lo, hi) in sorted order.
        self.lo = np.searchsorted(s, s[self.pos], side="left")
        self.hi = np.searchsorted(s, s[self.pos], side="right")
        self._cn = np.zeros(len(s) + 1)

    def auc(self, w_sorted: np.ndarray) -> float:
        """The AUC with row weights given in sorted order (NaN without both classes)."""
        np.cumsum(w_sorted * self.neg, out=self._cn[1:])
        wp = w_sorted[self.pos]
        tp, tn = wp.sum(), self._cn[-1]
        if tp == 0 or tn == 0:
            return float("nan")
        below = self._cn[self.lo]
        tied = self._cn[self.hi] - below
        return float((wp * (below + 0.5 * tied)).sum() / (tp * tn))


def bootstrap_intervals(
    score: np.ndarray, y: np.ndarray, reps: int, seed: int = 0, level: float = 0.95
) -> dict[str, list[float]]:
    """Percentile intervals (Poisson bootstrap) for AUC, Brier and recall in the top 5%."""
    if reps <= 0:
        return {}
    ranked = _RankedScore(score, y)
    order = ranked.order
    s, yy = np.asarray(score, dtype=float)[order], np.asarray(y, dtype=float)[order]
    n = len(s)
    k = int(np.ceil(0.05 * n))
    top = np.zeros(n, dtype=bool)
    top[n - k :] = True
    aucs, briers, recalls = [], [], []
    sq = (s - yy) ** 2
    for w in poisson_weights(n, reps, seed):
        aucs.append(ranked.auc(w))
        briers.append(float((w * sq).sum() / max(w.sum(), 1)))
        pos = (w * yy).sum()
        recalls.append(float((w * yy * top).sum() / pos) if pos else float("nan"))
    return {
        "auc": percentile_interval(aucs, level),
        "brier": percentile_interval(briers, level),
        "recall_top5pct": percentile_interval(recalls, level),
    }


# Poisson(1) by inverse CDF on uniform draws: the same distribution as `rng.poisson(1.0, n)`
# (cut at 20, whose tail is below 1e-19) at a third of its cost, which dominates a replicate.
_POISSON1_CDF = np.cumsum(np.exp(-1.0) / np.cumprod(np.r_[1.0, np.arange(1, 21)]))


def poisson_weights(n: int, reps: int, seed: int) -> Iterator[np.ndarray]:
    """One Poisson(1) weight per row and replicate: the resampling every bootstrap here uses
    (a replicate weights each call by how often a resample with replacement would draw it)."""
    rng = np.random.default_rng(seed)
    for _ in range(reps):
        yield np.searchsorted(_POISSON1_CDF, rng.random(n), side="right").astype(float)


def percentile_interval(values: Sequence[float], level: float = 0.95) -> list[float]:
    """The central `level` percentile interval of replicate values (NaN replicates left out)."""
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return [float(np.percentile(arr, lo)), float(np.percentile(arr, hi))] if len(arr) else []


def paired_auc_bootstrap(
    scores: Mapping[str, np.ndarray], y: np.ndarray, reps: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """AUC replicates of several scores on the SAME resampled calls (paired bootstrap).

    Each replicate weights the test calls once (Poisson, as `bootstrap_intervals`) and every
    score is measured on those weights, so a difference of two scores' replicates is the
    difference on one resample: its interval is far tighter than two separate intervals
    suggest, and honest about it (the champion gate, training/gate.py, reads it).
    """
    ranked = {name: _RankedScore(score, y) for name, score in scores.items()}
    out: dict[str, list[float]] = {name: [] for name in scores}
    for w in poisson_weights(len(y), reps, seed):
        for name, r in ranked.items():
            out[name].append(r.auc(w[r.order]))
    return {name: np.asarray(v, dtype=float) for name, v in out.items()}


def decision_summary(decision: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Share of calls per conformal decision and the observed rate within each."""
    y = np.asarray(y, dtype=float)
    out: dict[str, Any] = {}
    for d in DECISIONS:
        mask = np.asarray(decision) == d
        out[f"share_{d}"] = float(mask.mean()) if len(mask) else float("nan")
        out[f"rate_{d}"] = float(y[mask].mean()) if mask.any() else float("nan")
    return out
