"""What a training run leaves in MLflow besides the model: params, flat metrics, and the artifact
files (summary, tables, evaluation frame, plots, model card, leakage check).

Kept apart from the pipeline so the run reads as its steps; the file names come from
`risk_model.vocab`, where the review page that reads them back finds the same names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from risk_model import vocab
from risk_model.config import Settings
from risk_model.features.registry import FEATURE_NAMES
from risk_model.model.calibrate import tier_thresholds
from risk_model.training import plots
from risk_model.training.card import model_card
from risk_model.training.evaluate import calibration_table
from risk_model.training.leakage import LeakageReport

if TYPE_CHECKING:
    from risk_model.scoring import CallRiskModel

# Read back by nothing in the project (only people and MLflow), so named here, beside the
# writer; the files other parts read back are named in risk_model.vocab.
CONFIG_YAML = "config.yaml"
EVALUATION_PARQUET = "evaluation.parquet"


def flat_metrics(results: dict[str, Any]) -> dict[str, float]:
    """Nested results -> MLflow's flat metric names (`test_auc`, `logistic_auc`,
    `test_auc_ci_low`), so runs compare side by side in the MLflow UI and `risk-model compare`."""
    out: dict[str, float] = {}
    for name, metrics in results.items():
        prefix = "test_" if name == "model" else f"{name}_"
        for key, value in metrics.items():
            if key == "ci":
                for mk, (lo, hi) in ((k, v) for k, v in value.items() if len(v) == 2):
                    out[f"{prefix}{mk}_ci_low"] = lo
                    out[f"{prefix}{mk}_ci_high"] = hi
            elif isinstance(value, int | float) and np.isfinite(value):
                out[f"{prefix}{key}"] = float(value)
    return out


def run_params(settings: Settings, meta: dict[str, Any], rejected: int) -> dict[str, Any]:
    """The settings, windows, data digest and row counts as MLflow params: what to change to
    reproduce a run, or to explain why two runs differ."""
    tiers = settings.tiers
    params: dict[str, Any] = {f"model.{k}": v for k, v in settings.model.model_dump().items()}
    params.update({f"window.{k}": v for k, v in meta["windows"].items()})
    params.update(
        {
            "target": settings.target,
            "feature_hash": meta["feature_hash"],
            "settings_digest": meta["settings_digest"],
            "code_version": meta["code_version"],
            "data_file": meta["data_file"],
            "data_sha256": meta["data_sha256"],
            "rows_rejected": rejected,
            "calibration": meta["calibration"],
            "conformal.alpha": settings.conformal.alpha,
            "tiers": f"{tiers.elevated_multiple}x/{tiers.high_multiple}x base odds",
            "num_trees": meta["num_trees"],
            "features": len(FEATURE_NAMES),
            "leakage.allow": ",".join(settings.leakage.allow) or "-",
            "leakage.max_auc": settings.leakage.max_auc,
            "split.placement": settings.split.placement,
        }
    )
    for w, c in meta["window_counts"].items():
        params[f"rows.{w}"] = c["calls"]
        params[f"positives.{w}"] = c["positives"]
    return params


def log_artifacts(
    tmpdir: Path,
    settings: Settings,
    results: dict[str, Any],
    backtests: list[dict[str, Any]],
    eval_frame: pd.DataFrame,
    scores: dict[str, np.ndarray],
    audit_table: pd.DataFrame,
    importance: pd.DataFrame,
    contrib: np.ndarray,
    x_sample: np.ndarray,
    model: CallRiskModel,
    counts: dict[str, Any],
    leakage: LeakageReport | None = None,
    champion: dict[str, Any] | None = None,
) -> None:
    """Writes every table, plot and the model card under `tmpdir` and logs them to the active
    run: the evidence a reviewer reads (the review page reads the same files back)."""
    import mlflow

    tiers = settings.tiers.model_dump()
    (tmpdir / CONFIG_YAML).write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    summary = {
        "metrics": results,
        "backtest": backtests,
        "metadata": model.metadata,
        "tiers": dict(
            zip(
                ("base_rate", "elevated_at", "high_at"),
                (model.base_rate, *tier_thresholds(model.base_rate, **tiers)),
                strict=True,
            )
        ),
        "conformal_alpha": settings.conformal.alpha,
        "window_counts": counts,
        "leakage_check": leakage.as_dict() if leakage is not None else None,
        # The champion gate's decision at registration (None without --register).
        "champion": champion,
    }
    (tmpdir / vocab.SUMMARY_JSON).write_text(json.dumps(summary, indent=2, default=_json_default))
    yt = eval_frame["label"].to_numpy()
    calib = pd.concat(
        [calibration_table(s, yt).assign(model=name) for name, s in scores.items()],
        ignore_index=True,
    )
    calib.to_csv(tmpdir / vocab.CALIBRATION_BY_DECILE_CSV, index=False)
    audit_table.to_csv(tmpdir / vocab.AUDIT_CSV, index=False)
    importance.to_csv(tmpdir / vocab.FEATURE_IMPORTANCE_CSV, index=False)
    eval_frame.to_parquet(tmpdir / EVALUATION_PARQUET, index=False)
    plot_dir = tmpdir / "plots"
    plot_dir.mkdir()
    plots.calibration_plot(scores, yt, plot_dir / "calibration.png")
    plots.pr_plot(scores, yt, plot_dir / "precision_recall.png")
    plots.shap_plots(contrib, x_sample, list(FEATURE_NAMES), plot_dir)
    plots.audit_plot(audit_table, plot_dir / "audit_districts.png")
    (tmpdir / vocab.MODEL_CARD_MD).write_text(
        model_card(model, results, audit_table, importance, settings, counts, leakage, champion)
    )
    names = [vocab.LEAKAGE_CHECK_JSON] if leakage is not None else []
    if leakage is not None:
        (tmpdir / vocab.LEAKAGE_CHECK_JSON).write_text(leakage.to_json())
    for name in (
        CONFIG_YAML,
        vocab.SUMMARY_JSON,
        vocab.CALIBRATION_BY_DECILE_CSV,
        vocab.AUDIT_CSV,
        vocab.FEATURE_IMPORTANCE_CSV,
        EVALUATION_PARQUET,
        vocab.MODEL_CARD_MD,
        *names,
    ):
        mlflow.log_artifact(str(tmpdir / name))
    mlflow.log_artifacts(str(plot_dir), artifact_path="plots")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return str(value)
