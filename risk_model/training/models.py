"""The gradient-boosted model and the honest baselines it must beat on the same test window.

- `train_booster`: LightGBM with native categoricals, positive-class weighting, monotone
  constraints from the registry (a reported weapon or prior assault never lowers the score), early
  stopping on the time-later validation window, fixed seeds and deterministic mode.
- `CallTypeRate`: today's practice, the call type's historical rate (smoothed toward the overall
  rate so rare types are not 0 or 1).
- `logistic_baseline`: a logistic regression on the same features.
"""

from __future__ import annotations

import logging
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from risk_model.config import ModelConfig
from risk_model.features.registry import CATEGORICAL, FEATURE_NAMES, monotone_constraints

log = logging.getLogger(__name__)


def booster_params(cfg: ModelConfig, monotone: list[int] | None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "objective": "binary",
        "metric": "auc",
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "max_bin": cfg.max_bin,
        "max_depth": cfg.max_depth,
        "min_data_in_leaf": cfg.min_child_samples,
        "bagging_fraction": cfg.subsample,
        "bagging_freq": 1 if cfg.subsample < 1 else 0,
        "feature_fraction": cfg.colsample_bytree,
        "lambda_l2": cfg.reg_lambda,
        "scale_pos_weight": cfg.scale_pos_weight,
        "cat_smooth": 20.0,
        "min_data_per_group": 50,
        "seed": cfg.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": cfg.num_threads,
        "verbose": -1,
    }
    if monotone is not None and any(monotone):
        params["monotone_constraints"] = monotone
        params["monotone_constraints_method"] = "intermediate"
    return params


def train_booster(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    categorical: list[int],
    cfg: ModelConfig,
    feature_names: tuple[str, ...] = FEATURE_NAMES,
) -> lgb.Booster:
    monotone = monotone_constraints(feature_names) if cfg.monotone else None
    params = booster_params(cfg, monotone)
    dtrain = lgb.Dataset(
        x_train,
        label=y_train,
        feature_name=list(feature_names),
        categorical_feature=categorical,
        free_raw_data=True,
    )
    dvalid = lgb.Dataset(x_valid, label=y_valid, reference=dtrain)
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=cfg.n_estimators,
        valid_sets=[dvalid],
        valid_names=["validation"],
        callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
    )
    best = booster.best_iteration or booster.current_iteration()
    log.info(
        "lightgbm: best iteration %d of at most %d, validation AUC %.4f",
        best,
        cfg.n_estimators,
        booster.best_score["validation"]["auc"],
    )
    if cfg.refit_on_validation:
        both = lgb.Dataset(
            np.vstack([x_train, x_valid]),
            label=np.concatenate([y_train, y_valid]),
            feature_name=list(feature_names),
            categorical_feature=categorical,
        )
        booster = lgb.train(params, both, num_boost_round=best)
        log.info("lightgbm: refit on train + validation with %d trees", best)
    elif best < booster.current_iteration():
        # Keep only the trees up to the best iteration: explanations cost only what scores use.
        booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    return booster


class CallTypeRate:
    """Historical rate of the outcome per call type, smoothed toward the overall rate."""

    def __init__(self, prior_strength: float = 50.0) -> None:
        self.prior_strength = prior_strength

    def fit(self, call_type: np.ndarray, y: np.ndarray) -> CallTypeRate:
        frame = pd.DataFrame({"t": np.asarray(call_type, dtype=object), "y": np.asarray(y, float)})
        return self.fit_counts(frame.groupby("t", dropna=False)["y"].agg(["sum", "count"]))

    def fit_counts(self, g: pd.DataFrame) -> CallTypeRate:
        """Fit from per-call-type `sum` (harmed) and `count` (calls): a cluster's summed totals."""
        self.overall_ = float(g["sum"].sum() / g["count"].sum())
        m = self.prior_strength
        self.rates_ = ((g["sum"] + m * self.overall_) / (g["count"] + m)).to_dict()
        return self

    def predict(self, call_type: np.ndarray) -> np.ndarray:
        s = pd.Series(np.asarray(call_type, dtype=object))
        return s.map(self.rates_).fillna(self.overall_).to_numpy(dtype=float)


def logistic_baseline(frame: pd.DataFrame, y: np.ndarray, seed: int = 0) -> Pipeline:
    """Logistic regression on the registry features: one-hot categoricals, imputed numerics."""
    numeric = [n for n in FEATURE_NAMES if n not in CATEGORICAL]
    pre = ColumnTransformer(
        [
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="MISSING"),
                    OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20),
                ),
                list(CATEGORICAL),
            ),
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                    StandardScaler(),
                ),
                numeric,
            ),
        ]
    )
    model = Pipeline(
        [("pre", pre), ("lr", LogisticRegression(C=0.5, max_iter=300, random_state=seed))]
    )
    model.fit(_as_lr_frame(frame), y)
    return model


def _as_lr_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[list(FEATURE_NAMES)].copy()
    for name in CATEGORICAL:
        out[name] = out[name].astype(object).where(out[name].notna(), "MISSING").astype(str)
    return out


def logistic_predict(model: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(_as_lr_frame(frame))[:, 1]
