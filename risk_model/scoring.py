"""The trained model as one object: everything needed to score a call, save and load.

`CallRiskModel` bundles the fitted encoder, the LightGBM booster, the calibrator, the conformal
thresholds, the tier thresholds, the feature settings and (optionally) the training-time history
snapshot. The pyfunc model, `risk-model score` and the live service all score through it, so they
agree by construction; `assess` is the one code path from feature columns to assessments.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from risk_model.config import Settings
from risk_model.explain import grouped_contributions, reasons_for_row
from risk_model.features.build import History, build_features
from risk_model.features.registry import FEATURE_NAMES
from risk_model.training.calibrate import Calibrator, MondrianConformal, tier
from risk_model.training.encode import FeatureEncoder

log = logging.getLogger(__name__)

BUNDLE_FORMAT = 1


@dataclass
class Assessments:
    """Scores for a batch of calls, as arrays plus per-call reasons."""

    margin: np.ndarray
    risk_score: np.ndarray
    risk_tier: np.ndarray
    decision: np.ndarray
    reasons: list[list[dict[str, Any]]] = field(default_factory=list)
    raising: list[list[str]] = field(default_factory=list)  # features that raised the score


class CallRiskModel:
    """A trained call-risk model; see module docstring."""

    def __init__(
        self,
        settings: Settings,
        encoder: FeatureEncoder,
        booster: lgb.Booster,
        calibrator: Calibrator,
        conformal: MondrianConformal,
        base_rate: float,
        metadata: dict[str, Any] | None = None,
        history: pd.DataFrame | None = None,
    ) -> None:
        self.settings = settings
        self.encoder = encoder
        self.booster = booster
        self.calibrator = calibrator
        self.conformal = conformal
        self.base_rate = float(base_rate)
        self.metadata = dict(metadata or {})
        self.history = history
        self._prepared: History | None = None
        self._prepared_from: pd.DataFrame | None = None

    # ------------------------------------------------------------------ scoring
    def matrix(self, feats: Any) -> np.ndarray:
        return self.encoder.transform(feats)

    def margin(self, x: np.ndarray) -> np.ndarray:
        return self.booster.predict(x, raw_score=True, num_threads=1 if len(x) < 512 else 0)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Exact TreeSHAP per feature (+ bias as the last column), log-odds of the raw model."""
        return self.booster.predict(x, pred_contrib=True, num_threads=1 if len(x) < 512 else 0)

    def assess(self, feats: Any, top_k: int | None = None, explain: bool = True) -> Assessments:
        """Feature columns (frame or mapping of arrays) -> score, tier, decision, reasons.

        With `explain`, one pred_contrib pass gives both the reasons and (from its row sum) the
        margin, so the explanation is the score's own decomposition.
        """
        x = self.matrix(feats)
        if explain:
            contrib = self.contributions(x)
            margin = contrib.sum(axis=1)
        else:
            contrib = None
            margin = self.margin(x)
        score = self.calibrator.transform(margin)
        tiers = self.settings.tiers
        out = Assessments(
            margin=margin,
            risk_score=score,
            risk_tier=tier(score, self.base_rate, tiers.elevated_multiple, tiers.high_multiple),
            decision=self.conformal.decide(margin),
        )
        if contrib is not None:
            k = top_k or self.settings.service.top_reasons
            labels, grouped = grouped_contributions(contrib[:, :-1], self.encoder.feature_names)
            for i in range(len(x)):
                row = {name: _item(feats[name], i) for name in FEATURE_NAMES}
                reasons = reasons_for_row(labels, grouped[i], row, k, self.settings.features)
                out.reasons.append([r.as_dict() for r in reasons])
                out.raising.append([labels[j] for j in np.flatnonzero(grouped[i] > 0)])
        return out

    def score_calls(
        self,
        calls: pd.DataFrame,
        history: pd.DataFrame | History | None = None,
        top_k: int | None = None,
        explain: bool = True,
    ) -> pd.DataFrame:
        """Offline scoring: features from history strictly before each call, then `assess`.

        `history` is an events frame; by default the model's training-time snapshot is used.
        """
        hist = self._snapshot() if history is None else history
        feats = build_features(calls, self.settings.features, history=hist)
        res = self.assess(feats, top_k=top_k, explain=explain)
        out = pd.DataFrame(
            {
                "call_id": calls["call_id"].astype(str).to_numpy(),
                "risk_score": res.risk_score,
                "risk_tier": res.risk_tier,
                "decision": res.decision,
            }
        )
        if explain:
            out["reasons"] = [json.dumps(r) for r in res.reasons]
        return out

    def _snapshot(self) -> History | None:
        """The training-time history, prepared once and reused by every scoring call."""
        if self.history is None:
            return None
        if self._prepared is None or self._prepared_from is not self.history:
            self._prepared = History.from_frame(self.history)
            self._prepared_from = self.history
        return self._prepared

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(path / "booster.txt"))
        np.savez(path / "conformal.npz", **self.conformal.to_arrays())
        meta = {
            "format": BUNDLE_FORMAT,
            "settings": self.settings.model_dump(mode="json"),
            "encoder": self.encoder.to_dict(),
            "calibrator": self.calibrator.to_dict(),
            "base_rate": self.base_rate,
            "metadata": self.metadata,
        }
        (path / "bundle.json").write_text(json.dumps(meta, indent=2, default=str))
        if self.history is not None:
            self.history.to_parquet(path / "history.parquet", index=False)
        return path

    @classmethod
    def load(cls, path: Path | str) -> CallRiskModel:
        path = Path(path)
        meta = json.loads((path / "bundle.json").read_text())
        if meta.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"unsupported model bundle format {meta.get('format')!r} in {path}")
        history = None
        if (path / "history.parquet").exists():
            history = pd.read_parquet(path / "history.parquet")
        with np.load(path / "conformal.npz") as arrays:
            conformal = MondrianConformal.from_arrays(arrays)
        return cls(
            settings=Settings.model_validate(meta["settings"]),
            encoder=FeatureEncoder.from_dict(meta["encoder"]),
            booster=lgb.Booster(model_file=str(path / "booster.txt")),
            calibrator=Calibrator.from_dict(meta["calibrator"]),
            conformal=conformal,
            base_rate=meta["base_rate"],
            metadata=meta.get("metadata", {}),
            history=history,
        )


def _item(col: Any, i: int) -> Any:
    """Element i of a column (Series or array) as a plain Python value."""
    value = col.iloc[i] if isinstance(col, pd.Series) else col[i]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value
