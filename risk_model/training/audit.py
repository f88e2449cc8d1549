"""Audit by place: calibration and error rates per district and call-type family.

Premise and area history reflect where police were sent before, so a model can be well calibrated
overall and still over-flag some districts. At the top-k operating point an agency would use
(flag the top 5% of calls), this reports per group: calls, positives, observed rate, mean score,
calibration ratio, flagged share, false-positive and false-negative rates, and their disparity
ratios against the overall rates. Protected attributes are never inputs; the audit is about places.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, false_negative_rate, false_positive_rate


def _flagged_share(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(y_pred)) if len(y_pred) else float("nan")


def _positives(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.sum(y_true))


def audit_table(
    frame: pd.DataFrame,
    group: str,
    top_fraction: float = 0.05,
    min_calls: int = 200,
) -> pd.DataFrame:
    """Audit rows for one grouping column of the evaluation frame (needs score, label, group)."""
    score = frame["score"].to_numpy(dtype=float)
    y = frame["label"].to_numpy(dtype=int)
    k = max(int(np.ceil(top_fraction * len(score))), 1)
    threshold = np.partition(score, len(score) - k)[len(score) - k]
    flagged = (score >= threshold).astype(int)
    groups = frame[group].astype(object).where(frame[group].notna(), "(unknown)").astype(str)
    mf = MetricFrame(
        metrics={
            "fpr": false_positive_rate,
            "fnr": false_negative_rate,
            "flagged_share": _flagged_share,
            "positives": _positives,
        },
        y_true=y,
        y_pred=flagged,
        sensitive_features=groups.rename(group),
    )
    table = mf.by_group.copy()
    stats = (
        pd.DataFrame({"g": groups, "score": score, "y": y})
        .groupby("g")
        .agg(calls=("y", "size"), observed_rate=("y", "mean"), mean_score=("score", "mean"))
    )
    table = table.join(stats)
    overall = mf.overall
    table["calibration_ratio"] = np.where(
        table["observed_rate"] > 0, table["mean_score"] / table["observed_rate"], np.nan
    )
    table["fpr_ratio"] = table["fpr"] / overall["fpr"] if overall["fpr"] > 0 else np.nan
    table["fnr_ratio"] = table["fnr"] / overall["fnr"] if overall["fnr"] > 0 else np.nan
    table["flagged_ratio"] = table["flagged_share"] / overall["flagged_share"]
    table["enough_calls"] = table["calls"] >= min_calls
    table.index.name = group
    table = table.reset_index()
    table.insert(0, "grouping", group)
    table = table.rename(columns={group: "group"})
    cols = [
        "grouping",
        "group",
        "calls",
        "positives",
        "observed_rate",
        "mean_score",
        "calibration_ratio",
        "flagged_share",
        "flagged_ratio",
        "fpr",
        "fpr_ratio",
        "fnr",
        "fnr_ratio",
        "enough_calls",
    ]
    table["positives"] = table["positives"].astype(int)
    table.attrs["threshold"] = float(threshold)
    return table[cols].sort_values(["grouping", "calls"], ascending=[True, False])


def audit(frame: pd.DataFrame, top_fraction: float = 0.05, min_calls: int = 200) -> pd.DataFrame:
    """District and call-family audit in one table."""
    parts = [
        audit_table(frame, col, top_fraction, min_calls)
        for col in ("district", "call_family")
        if col in frame.columns
    ]
    return pd.concat(parts, ignore_index=True)


def audit_summary(table: pd.DataFrame) -> dict[str, float]:
    """Worst disparities among groups with enough calls (logged as metrics)."""
    out: dict[str, float] = {}
    for grouping, part in table[table["enough_calls"]].groupby("grouping"):
        for col in ("fpr_ratio", "fnr_ratio", "calibration_ratio"):
            values = part[col].replace([np.inf, -np.inf], np.nan).dropna()
            if len(values):
                out[f"audit_{grouping}_{col}_max"] = float(values.max())
                out[f"audit_{grouping}_{col}_min"] = float(values.min())
    return out
