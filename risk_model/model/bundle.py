"""The trained model as one object: everything needed to score a call, save and load.

`CallRiskModel` bundles the fitted encoder, the LightGBM booster, the calibrator, the conformal
thresholds, the tier thresholds, the feature settings and (optionally) the training-time history
snapshot. `assess_features` is the one code path from feature columns to typed `Assessment`s
(score, tier, decision, reasons, precautions, warnings): the MLflow pyfunc and `risk-model score`
(through `assess_calls`) and the live service (risk_model/service/assessor.py) all call it, so
they agree by construction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from risk_model.config import Settings
from risk_model.features.build import (
    History,
    build_features,
    call_level,
    events_from_own,
    with_history,
)
from risk_model.features.call import known_at_us
from risk_model.features.registry import FEATURE_NAMES
from risk_model.model.assessment import (
    PREMISE_PLACEHOLDER,
    Assessed,
    Assessment,
    FramePremiseHistory,
    ModelInfo,
    PremiseHistory,
    TrainingScope,
    call_warnings,
    incident_words,
    incidents_of,
    plain_column,
)
from risk_model.model.calibrate import Calibrator, MondrianConformal, tier
from risk_model.model.encode import FeatureEncoder
from risk_model.model.explain import grouped_contributions, ranked_labels, reasons_for_row
from risk_model.model.precautions import RuleFile, evaluate_rules, load_rules

log = logging.getLogger(__name__)

BUNDLE_FORMAT = 1
# Calls assessed at a time offline: their feature dicts and SHAP rows stay small (~0.1 GB).
ASSESS_PART_ROWS = 20_000


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
        self._scope: TrainingScope | None = None

    # ------------------------------------------------------------------ scoring
    def matrix(self, feats: Any) -> np.ndarray:
        return self.encoder.transform(feats)

    def margin(self, x: np.ndarray) -> np.ndarray:
        return self.booster.predict(x, raw_score=True, num_threads=1 if len(x) < 512 else 0)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Exact TreeSHAP per feature (+ bias as the last column), log-odds of the raw model."""
        return self.booster.predict(x, pred_contrib=True, num_threads=1 if len(x) < 512 else 0)

    @property
    def info(self) -> ModelInfo:
        """Name and version as the training run recorded them (the registry's are better)."""
        meta = self.metadata
        return ModelInfo(str(meta.get("name", "call-risk")), str(meta.get("version", "?")))

    @property
    def scope(self) -> TrainingScope:
        """What the training data covered (for the warnings), read once from the metadata."""
        if self._scope is None:
            self._scope = TrainingScope.from_metadata(
                self.metadata, self.settings.service.outside_period_days, self.history
            )
        return self._scope

    def assess(self, feats: Any, top_k: int | None = None, explain: bool = True) -> Assessments:
        """Feature columns (frame or mapping of arrays) -> score, tier, decision (and reasons).

        The scores-only view training and evaluation use; `assess_features` gives the full
        assessment from the same steps.
        """
        x = self.matrix(feats)
        if not explain:
            margin = self.margin(x)
            return self._scored(margin)
        contrib = self.contributions(x)
        out = self._scored(contrib.sum(axis=1))
        labels, grouped = grouped_contributions(contrib[:, :-1], self.encoder.feature_names)
        rows = feature_rows(feats)
        known = self.encoder.is_known("call_type", feats["call_type"])
        k = top_k or self.settings.service.top_reasons
        for i in range(len(x)):
            reasons = reasons_for_row(
                labels, grouped[i], rows[i], k, self.settings.features, bool(known[i])
            )
            out.reasons.append([r.as_dict() for r in reasons])
            out.raising.append([labels[j] for j in np.flatnonzero(grouped[i] > 0)])
        return out

    def _scored(self, margin: np.ndarray) -> Assessments:
        score = self.calibrator.transform(margin)
        tiers = self.settings.tiers
        decision = self.conformal.decide(margin)
        return Assessments(
            margin=margin,
            risk_score=score,
            risk_tier=tier(
                score, self.base_rate, tiers.elevated_multiple, tiers.high_multiple, decision
            ),
            decision=decision,
        )

    def assess_features(
        self,
        feats: Any,
        call_ids: list[str],
        premises: PremiseHistory | None,
        rules: RuleFile,
        info: ModelInfo | None = None,
        keep_incidents: bool = False,
    ) -> Assessed:
        """Typed assessments for calls whose features are built (a frame or column arrays).

        One TreeSHAP pass gives the score (its row sum is the margin), the reasons and the rule
        inputs; `premises` supplies the dated incidents a precaution quotes (fetched only when
        a precaution quotes them, or always with `keep_incidents`, for the audit log).
        """
        info = info or self.info
        x = self.matrix(feats)
        contrib = self.contributions(x)
        scored = self._scored(contrib.sum(axis=1))
        labels, grouped = grouped_contributions(contrib[:, :-1], self.encoder.feature_names)
        rows = feature_rows(feats)
        known = self.encoder.is_known("call_type", feats["call_type"])
        k = self.settings.service.top_reasons
        cfg = self.settings.features
        scope = self.scope
        premise = plain_column(feats["_premise"])
        beat = plain_column(feats["_beat"])
        district = plain_column(feats["_district"])
        call_type = plain_column(feats["call_type"])
        ts = call_times_us(feats)
        out = Assessed([], rows, labels, grouped, contrib[:, -1])
        n = len(x)
        raises = grouped > 0
        fired_all, quoting = [], []
        for i in range(n):
            raising = [labels[j] for j in np.flatnonzero(raises[i])]
            fired = evaluate_rules(
                rules, rows[i], raising, str(scored.risk_tier[i]), str(scored.decision[i])
            )
            fired_all.append(fired)
            quoting.append(any(PREMISE_PLACEHOLDER in p["text"] for p in fired))
        # The dated incidents, for every call that needs them at once (see `incidents_of`).
        need = [
            i
            for i in range(n)
            if premises is not None and premise[i] is not None and (keep_incidents or quoting[i])
        ]
        found = incidents_of(premises, [premise[i] for i in need], [int(ts[i]) for i in need])
        by_call = dict(zip(need, found, strict=True))
        ranked = ranked_labels(grouped, k)
        for i in range(n):
            row = rows[i]
            tier_i = str(scored.risk_tier[i])
            decision = str(scored.decision[i])
            reasons = reasons_for_row(labels, grouped[i], row, k, cfg, bool(known[i]), ranked[i])
            fired = fired_all[i]
            incidents = by_call.get(i, [])
            if quoting[i]:
                words = incident_words(incidents)
                for p in fired:
                    p["text"] = p["text"].replace(PREMISE_PLACEHOLDER, words)
            warnings = call_warnings(
                scope,
                call_type=call_type[i],
                known_type=bool(known[i]),
                premise=premise[i],
                beat=beat[i],
                district=district[i],
                ts_us=int(ts[i]),
                row=row,
                decision=decision,
            )
            out.assessments.append(
                Assessment(
                    call_id=str(call_ids[i]),
                    risk_score=round(float(scored.risk_score[i]), 6),
                    risk_tier=tier_i,  # type: ignore[arg-type]
                    decision=decision,  # type: ignore[arg-type]
                    reasons=[r.as_dict() for r in reasons],
                    precautions=[
                        {"id": p["id"], "text": p["text"], "because": p["because"]} for p in fired
                    ],
                    warnings=warnings,
                    model=info,
                )
            )
            out.incidents.append(incidents)
            out.programs.append({p["id"]: p["program"] for p in fired})
        return out

    def assess_calls(
        self,
        calls: pd.DataFrame,
        history: pd.DataFrame | None = None,
        rules: RuleFile | None = None,
        info: ModelInfo | None = None,
    ) -> list[Assessment]:
        """Offline assessments: features from history strictly before each call (the calls
        themselves count for the calls after them), then `assess_features`.

        `history` is an events frame; by default the model's training-time snapshot is used.
        Precautions quote the premise history from the same events.
        """
        return [a for part in self.assessed_parts(calls, history, rules, info) for a in part]

    def assessed_parts(
        self,
        calls: pd.DataFrame,
        history: pd.DataFrame | None = None,
        rules: RuleFile | None = None,
        info: ModelInfo | None = None,
        part_rows: int = ASSESS_PART_ROWS,
    ) -> Iterator[list[Assessment]]:
        """`assess_calls` a part at a time, in input order: the features for every call at once
        (one vectorised pass), then the assessments `part_rows` calls at a time, so a million
        calls never hold a million feature dicts and a caller can report progress."""
        cfg = self.settings.features
        hist = self.history if history is None else history
        prepared = self._snapshot() if history is None else history
        ids = calls["call_id"].astype(str)
        own_cols = call_level(calls, cfg)
        # The calls as events (for the quoted incidents) from the same row-local pass.
        own = events_from_own(own_cols, ids, known_at_us(calls, len(calls)))
        feats = with_history(
            own_cols, calls["call_id"], calls["received_at"], cfg, history=prepared
        )
        if hist is not None:
            # Only the premises these calls are at: indexing a million-event snapshot for a
            # handful of calls cost seconds per call (the pyfunc's input example: ~15 s).
            hist_ids = hist["call_id"].astype(str)
            known = hist_ids[hist_ids.isin(own["call_id"])]
            hist = hist[hist["premise"].isin(own["premise"].dropna().unique())]
            own = pd.concat([hist, own[~own["call_id"].isin(known)]], ignore_index=True)
        premises = FramePremiseHistory(own, cfg.premise_horizon_days)
        del own
        id_list = ids.tolist()
        rules = rules or load_rules()
        for start in range(0, len(calls), max(1, part_rows)):
            part = feats.iloc[start : start + part_rows]
            ids_part = id_list[start : start + part_rows]
            yield self.assess_features(part, ids_part, premises, rules, info).assessments

    def score_calls(
        self,
        calls: pd.DataFrame,
        history: pd.DataFrame | History | None = None,
        top_k: int | None = None,
        explain: bool = True,
        rules: RuleFile | None = None,
        info: ModelInfo | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> pd.DataFrame:
        """`risk-model score`'s and the pyfunc's output: one row per call (SPEC §3), lists as
        JSON text. Without `explain`, scores only (call_id, risk_score, risk_tier, decision).
        `progress(done, total)` is called after each part of the calls is assessed."""
        if not explain:
            hist = self._snapshot() if history is None else history
            feats = build_features(calls, self.settings.features, history=hist)
            res = self.assess(feats, explain=False)
            return pd.DataFrame(
                {
                    "call_id": calls["call_id"].astype(str).to_numpy(),
                    "risk_score": res.risk_score,
                    "risk_tier": res.risk_tier,
                    "decision": res.decision,
                }
            )
        if isinstance(history, History):
            raise TypeError("score_calls with explain needs an events frame as history")
        frames, done = [], 0
        for part in self.assessed_parts(calls, history, rules, info):
            frames.append(assessment_frame(part))
            done += len(part)
            if progress is not None:
                progress(done, len(calls))
        if len(frames) == 1:
            return frames[0]
        if not frames:
            return assessment_frame([])
        return pd.concat(frames, ignore_index=True)

    def _snapshot(self) -> History | None:
        """The training-time history, prepared once and reused by every scoring call."""
        if self.history is None:
            return None
        if self._prepared is None or self._prepared_from is not self.history:
            self._prepared = History.from_frame(self.history, self.settings.features)
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


def feature_rows(feats: Any) -> list[dict[str, Any]]:
    """Feature values per call as plain Python (NaN -> None), column by column."""
    columns = [plain_column(feats[name]) for name in FEATURE_NAMES]
    return [dict(zip(FEATURE_NAMES, values, strict=True)) for values in zip(*columns, strict=True)]


def call_times_us(feats: Any) -> np.ndarray:
    """Each call's (earliest) time in microseconds: live features carry `_ts`, a feature frame
    its `received_at`."""
    if "_ts" in feats:
        return np.asarray(feats["_ts"], dtype=np.int64)
    received = np.asarray(feats["received_at"], dtype="datetime64[us]")
    return received.astype(np.int64)


def assessment_frame(assessments: list[Assessment]) -> pd.DataFrame:
    """Assessments as SPEC §3 rows: call_id, risk_score, risk_tier, decision, reasons,
    precautions, warnings (lists as JSON text)."""
    return pd.DataFrame(
        {
            "call_id": [a.call_id for a in assessments],
            "risk_score": np.array([a.risk_score for a in assessments], dtype=np.float64),
            "risk_tier": [a.risk_tier for a in assessments],
            "decision": [a.decision for a in assessments],
            "reasons": [json.dumps(a.reasons) for a in assessments],
            "precautions": [json.dumps(a.precautions) for a in assessments],
            "warnings": [json.dumps(a.warnings) for a in assessments],
        }
    )
