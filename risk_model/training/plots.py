"""The plots people look at: calibration, precision-recall, SHAP summary and dependence, audit.

Contributions come from LightGBM (exact TreeSHAP); the shap package only draws them.
Every function writes one PNG and returns its path. Matplotlib runs headless (Agg).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve

from risk_model.training.evaluate import calibration_table


def calibration_plot(scores: dict[str, np.ndarray], y: np.ndarray, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 5))
    top = 0.0
    for (name, s), marker in zip(scores.items(), "osd^v", strict=False):
        table = calibration_table(s, y)
        ax.plot(table["mean_predicted"], table["observed_rate"], marker=marker, label=name)
        top = max(top, table["mean_predicted"].max(), table["observed_rate"].max())
    ax.plot([0, top], [0, top], "k--", lw=1, label="perfect calibration")
    ax.set_xlabel("mean predicted risk (decile of calls)")
    ax.set_ylabel("observed rate")
    ax.set_title("Calibration on the test window")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pr_plot(scores: dict[str, np.ndarray], y: np.ndarray, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, s in scores.items():
        precision, recall, _ = precision_recall_curve(y, s)
        ax.plot(recall, precision, label=name)
    ax.axhline(float(np.mean(y)), color="k", ls="--", lw=1, label="base rate")
    ax.set_xlabel("recall (share of harmed-officer calls found)")
    ax.set_ylabel("precision")
    ax.set_yscale("log")
    ax.set_title("Precision-recall on the test window")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def shap_plots(
    contrib: np.ndarray, x: np.ndarray, names: list[str], out_dir: Path, dependence: int = 3
) -> list[Path]:
    """Beeswarm summary plus dependence plots of the top features, drawn by shap."""
    import shap

    explanation = shap.Explanation(
        values=contrib[:, :-1],
        base_values=contrib[:, -1],
        data=x,
        feature_names=names,
    )
    paths = []
    plt.figure()
    shap.plots.beeswarm(explanation, max_display=15, show=False)
    plt.title("What drives the score (SHAP, log-odds)")
    plt.tight_layout()
    path = out_dir / "shap_summary.png"
    plt.savefig(path, dpi=110)
    plt.close("all")
    paths.append(path)
    order = np.argsort(-np.abs(contrib[:, :-1]).mean(axis=0))
    for j in order[:dependence]:
        plt.figure()
        shap.plots.scatter(explanation[:, int(j)], show=False)
        plt.title(f"SHAP dependence: {names[j]}")
        plt.tight_layout()
        path = out_dir / f"shap_dependence_{names[j]}.png"
        plt.savefig(path, dpi=110)
        plt.close("all")
        paths.append(path)
    return paths


def audit_plot(table: pd.DataFrame, path: Path) -> Path:
    part = table[(table["grouping"] == "district") & table["enough_calls"]]
    fig, ax = plt.subplots(figsize=(7, 4))
    if len(part):
        idx = np.arange(len(part))
        ax.bar(idx - 0.2, part["fpr_ratio"], width=0.4, label="false-positive rate ratio")
        ax.bar(
            idx + 0.2, part["fnr_ratio"], width=0.4, label="false-negative rate ratio", hatch="//"
        )
        ax.set_xticks(idx, part["group"].astype(str), rotation=45, ha="right")
    ax.axhline(1.0, color="k", lw=1)
    ax.set_ylabel("ratio to the overall rate")
    ax.set_title("Error rates by district at the top-5% operating point")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
