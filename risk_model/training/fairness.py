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

AUDIT_COLUMNS = [
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


def top_k_threshold(score: np.ndarray, fraction: float) -> float:
    """The score at which the top `fraction` of calls are flagged."""
    k = max(int(np.ceil(fraction * len(score))), 1)
    return float(np.partition(score, len(score) - k)[len(score) - k])


def audit_table(
    frame: pd.DataFrame,
    group: str,
    top_fraction: float = 0.05,
    min_calls: int = 200,
) -> pd.DataFrame:
    """Audit rows for one grouping column of the evaluation frame (needs score, label, group).

    The per-group error rates are what fairlearn's MetricFrame gives with false_positive_rate
    and false_negative_rate (tests/unit/test_audit.py checks that), computed with one groupby
    because MetricFrame takes seconds on a quarter-year of calls.
    """
    score = frame["score"].to_numpy(dtype=float)
    y = frame["label"].to_numpy(dtype=int)
    threshold = top_k_threshold(score, top_fraction)
    flagged = score >= threshold
    groups = frame[group].astype(object).where(frame[group].notna(), "(unknown)").astype(str)
    parts = pd.DataFrame(
        {
            "g": groups.to_numpy(),
            "score": score,
            "y": y,
            "flag": flagged,
            "fp": flagged & (y == 0),
            "fn": ~flagged & (y == 1),
        }
    )
    table = parts.groupby("g", sort=False).agg(
        calls=("y", "size"),
        positives=("y", "sum"),
        observed_rate=("y", "mean"),
        mean_score=("score", "mean"),
        flagged_share=("flag", "mean"),
        fp=("fp", "sum"),
        fn=("fn", "sum"),
    )
    negatives = table["calls"] - table["positives"]
    table["fpr"] = np.where(negatives > 0, table["fp"] / negatives.clip(lower=1), np.nan)
    table["fnr"] = np.where(
        table["positives"] > 0, table["fn"] / table["positives"].clip(lower=1), np.nan
    )
    overall_fpr = (flagged & (y == 0)).sum() / max((y == 0).sum(), 1)
    overall_fnr = (~flagged & (y == 1)).sum() / max((y == 1).sum(), 1)
    overall_flagged = flagged.mean() if len(flagged) else np.nan
    table["calibration_ratio"] = np.where(
        table["observed_rate"] > 0, table["mean_score"] / table["observed_rate"], np.nan
    )
    table["fpr_ratio"] = table["fpr"] / overall_fpr if overall_fpr > 0 else np.nan
    table["fnr_ratio"] = table["fnr"] / overall_fnr if overall_fnr > 0 else np.nan
    table["flagged_ratio"] = table["flagged_share"] / overall_flagged
    table["enough_calls"] = table["calls"] >= min_calls
    table = table.reset_index().rename(columns={"g": "group"})
    table.insert(0, "grouping", group)
    table["positives"] = table["positives"].astype(int)
    table.attrs["threshold"] = threshold
    return table[AUDIT_COLUMNS].sort_values(["grouping", "calls"], ascending=[True, False])


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
