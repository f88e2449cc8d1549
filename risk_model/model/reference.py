"""The model's reference for drift monitoring, saved with it at training time.

Quantile bins of the score and of every numeric feature, and the shares of each categorical
feature's frequent values, on the training run's test window; `risk-model monitor`
(risk_model/monitor/job.py) measures the population stability (PSI) of live calls against
it. It lives with the model, not the monitor, because training writes it and training must not
import the live service.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REFERENCE_JSON = "monitor_reference.json"
REFERENCE_VERSION = 1


def psi(expected: np.ndarray, actual: np.ndarray, floor: float = 1e-4) -> float:
    """Population stability index sum((a - e) * ln(a / e)) over matching bins of shares.

    Empty bins are floored at `floor` so a bin that appears or vanishes counts heavily but
    finitely. Usual reading: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 large shift.
    """
    e = np.clip(np.asarray(expected, dtype=float), floor, None)
    a = np.clip(np.asarray(actual, dtype=float), floor, None)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def _is_categorical(name: str, values: pd.Series) -> bool:
    from risk_model.features.registry import CATEGORICAL

    return name in CATEGORICAL or values.dtype == object or str(values.dtype) == "category"


def _numeric_reference(values: np.ndarray, bins: int) -> dict[str, Any]:
    x = values[~np.isnan(values)]
    edges = (
        np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1])) if len(x) else np.array([])
    )
    ref = {"kind": "numeric", "edges": edges.tolist()}
    ref["shares"] = numeric_shares(values, ref).tolist()
    return ref


def numeric_shares(values: np.ndarray, ref: dict[str, Any]) -> np.ndarray:
    """Shares of `values` in the reference's quantile bins, the last bin being 'missing'."""
    values = np.asarray(values, dtype=float)
    edges = np.asarray(ref["edges"], dtype=float)
    missing = np.isnan(values)
    idx = np.searchsorted(edges, values[~missing], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    counts = np.append(counts, missing.sum())
    total = counts.sum()
    return counts / total if total else counts


def categorical_shares(values: Any, ref: dict[str, Any]) -> np.ndarray:
    """Shares of the reference's categories, then 'other' (unseen or rare), then 'missing'."""
    cats = list(ref["categories"])
    pos = {c: i for i, c in enumerate(cats)}
    counts = np.zeros(len(cats) + 2)
    s = pd.Series(values, dtype=object)
    missing = s.isna()
    counts[-1] = missing.sum()
    for value, n in s[~missing].astype(str).value_counts().items():
        counts[pos.get(value, len(cats))] += n
    total = counts.sum()
    return counts / total if total else counts


def reference_from(
    features_frame: pd.DataFrame, scores: np.ndarray, bins: int = 10, top: int = 30
) -> dict[str, Any]:
    """What the monitor compares live calls with: saved with the model at training time.

    Quantile bins (deciles by default) with their shares for the score and each numeric feature,
    and the shares of the `top` most frequent values of each categorical feature (the rest
    pooled as 'other'); missing values are a bin of their own. Computed on the training run's
    test window: the latest calls the model was judged on, closest to what it will serve.
    """
    from risk_model.features.registry import FEATURE_NAMES

    features: dict[str, Any] = {}
    for name in FEATURE_NAMES:
        if name not in features_frame.columns:
            continue
        col = features_frame[name]
        if _is_categorical(name, col):
            counts = col.dropna().astype(str).value_counts()
            ref = {"kind": "categorical", "categories": counts.index[:top].tolist()}
            ref["shares"] = categorical_shares(col.to_numpy(dtype=object), ref).tolist()
        else:
            ref = _numeric_reference(pd.to_numeric(col, errors="coerce").to_numpy(float), bins)
        features[name] = ref
    return {
        "version": REFERENCE_VERSION,
        "calls": len(features_frame),
        "score": _numeric_reference(np.asarray(scores, dtype=float), bins),
        "features": features,
    }


def save_reference(directory: Path | str, features_frame: pd.DataFrame, scores: Any) -> Path:
    """Writes `monitor_reference.json` into a run's artifact directory and logs it to the
    active MLflow run (the one call the training pipeline makes)."""
    import mlflow

    path = Path(directory) / REFERENCE_JSON
    path.write_text(json.dumps(reference_from(features_frame, np.asarray(scores))))
    mlflow.log_artifact(str(path))
    return path


def psi_against(reference: dict[str, Any], scores: np.ndarray, rows: pd.DataFrame) -> dict:
    """PSI of the score and each referenced feature present in `rows`."""
    out: dict[str, Any] = {
        "score": round(
            psi(reference["score"]["shares"], numeric_shares(scores, reference["score"])), 4
        )
    }
    feats = {}
    for name, ref in reference.get("features", {}).items():
        if name not in rows.columns:
            continue
        col = rows[name]
        if ref["kind"] == "categorical":
            cur = categorical_shares(col.to_numpy(dtype=object), ref)
        else:
            cur = numeric_shares(pd.to_numeric(col, errors="coerce").to_numpy(float), ref)
        feats[name] = round(psi(ref["shares"], cur), 4)
    out["features"] = dict(sorted(feats.items(), key=lambda kv: -kv[1]))
    return out
