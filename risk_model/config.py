"""Typed settings from one YAML (`--config FILE`, e.g. pipelines/dallas.yaml), validated first.

Sections are pydantic models passed around as objects, never as nested dicts. Every default here is
the documented default; a config file only needs the keys it changes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator

from risk_model.errors import UserError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureConfig(_Section):
    """Point-in-time feature settings (premise and area history)."""

    # Premise effects expire after this many days, as CAD hazard-file policies require.
    premise_horizon_days: int = Field(1095, ge=30, le=3650)
    # A violent call at the same premise within this many days marks a near-repeat.
    near_repeat_days: int = Field(14, ge=1, le=365)
    # Fallback premise key when the address is missing: a grid cell of this size.
    grid_cell_m: float = Field(150.0, gt=10, le=2000)
    # Categories seen fewer times than this in training are pooled as "OTHER".
    min_category_count: int = Field(20, ge=1)
    # An earlier call's outcome (assault, injury) counts for later calls from when it was known:
    # its `outcome_known_at` (the report's filing time) where the data has one, else its latest
    # possible received time plus this many days. Assault and injury reports are rarely filed
    # within the hour; the live store only learns an outcome when the report arrives
    # (docs/features.md, "When an outcome counts").
    outcome_lag_days: float = Field(1.0, ge=0, le=90)


class SplitConfig(_Section):
    """Named time windows. Dates are inclusive starts / exclusive ends (YYYY-MM-DD).

    When a window is left empty, `train` derives it from the data. With `placement: calls`
    (default) the fractions are shares of the LABELLED calls in time order: the last
    `test_fraction` of them is the test window, the `calibration_fraction` before it calibration,
    the `validation_fraction` before that validation, the rest training; boundaries are rounded
    down to midnight. So a few records dated decades early, or years of calls without outcomes,
    cannot squeeze the windows. `placement: span` is the old rule: fractions of the time span.
    Records far outside the bulk (before the `outlier_quantile` time minus `outlier_margin_days`,
    or after the 1 - `outlier_quantile` time plus the margin) are reported and left out of every
    window. A window with fewer than `min_window_calls` labelled calls or `min_window_positives`
    positives stops the run with one line naming the key to change.
    """

    train_start: str | None = None
    validation_start: str | None = None
    calibration_start: str | None = None
    test_start: str | None = None
    test_end: str | None = None
    validation_fraction: float = Field(0.09, gt=0, lt=0.5)
    calibration_fraction: float = Field(0.16, gt=0, lt=0.5)
    test_fraction: float = Field(0.25, gt=0, lt=0.6)
    placement: Literal["calls", "span"] = "calls"
    outlier_quantile: float = Field(0.005, ge=0, lt=0.1)
    outlier_margin_days: int = Field(90, ge=0)
    min_window_calls: int = Field(100, ge=1)
    min_window_positives: int = Field(5, ge=1)
    # Rolling-origin backtest: number of extra, earlier test windows of the same length (0 = off).
    backtest_folds: int = Field(0, ge=0, le=12)


class LeakageConfig(_Section):
    """The leakage guard `train` runs before fitting (docs/model.md, "Leakage guard").

    An input that alone separates the outcome far better than any call-time fact is the signature
    of a post-incident field (an offence description naming the police, a use-of-force reason in
    the notes). Defaults: on the simulator's honest data the call-type rate reaches AUC ~0.79 and
    no category, phrase or flag comes near an 80% harmed share.
    """

    enabled: bool = True
    # Single-input AUC (its rate per value learned on train, scored on validation + calibration):
    # fires when the AUC's 95% lower bound is above this.
    max_auc: float = Field(0.85, gt=0.5, le=1)
    # A category or narrative phrase with at least this harmed share over min_calls calls...
    min_share: float = Field(0.8, gt=0, le=1)
    min_calls: int = Field(30, ge=5)
    # ... and a 95% lower bound above the overall rate by this share of the remaining headroom.
    min_lift: float = Field(0.5, gt=0, lt=1)
    # Narrative phrases are counted on at most this many labelled calls (a seeded sample).
    max_text_rows: int = Field(300_000, ge=1000)
    # Inputs (source columns such as call_type, narrative, or feature names) allowed to pass.
    allow: tuple[str, ...] = ()


class ModelConfig(_Section):
    """LightGBM settings, measured in docs/benchmarks.md.

    Small, shallow trees: with a few hundred positives a year the risk is close to additive in
    log-odds, and TreeSHAP's per-call cost grows with trees x leaves x depth^2, so this size also
    keeps explanations well inside the service's latency budget. Imbalance is handled by early
    stopping on AUC (not accuracy), large leaves and calibration afterwards; positive weighting
    (`scale_pos_weight` > 1) was measured to lower test AUC and is off by default.
    """

    num_leaves: int = Field(7, ge=2, le=255)
    max_depth: int = Field(3, ge=-1, le=32)
    learning_rate: float = Field(0.05, gt=0, le=1)
    n_estimators: int = Field(3000, ge=10, le=20000)
    early_stopping_rounds: int = Field(100, ge=5)
    max_bin: int = Field(63, ge=7, le=1023)
    min_child_samples: int = Field(500, ge=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    scale_pos_weight: float = Field(1.0, gt=0)
    # After early stopping picks the number of trees, refit on train + validation (both earlier
    # than the calibration window) with that many trees: more positives, same honesty.
    refit_on_validation: bool = True
    seed: int = 7
    num_threads: int = Field(2, ge=1)
    monotone: bool = True


class CalibrationConfig(_Section):
    method: Literal["auto", "isotonic", "platt"] = "auto"


class ConformalConfig(_Section):
    """Class-conditional (Mondrian) split conformal: per-class error rate."""

    alpha: float = Field(0.1, gt=0, lt=0.5)


class TierConfig(_Section):
    """Risk tiers as multiples of the training base rate (documented in docs/model.md)."""

    elevated_multiple: float = Field(2.0, gt=1)
    high_multiple: float = Field(5.0, gt=1)

    @model_validator(mode="after")
    def _ordered(self) -> TierConfig:
        if self.high_multiple <= self.elevated_multiple:
            raise ValueError("high_multiple must be larger than elevated_multiple")
        return self


class EvaluationConfig(_Section):
    # Recall in the top 1%, 5% and 10%: the cutoffs a dispatcher flag or a supervisor's review
    # would use, reported for the model and every baseline in every run.
    top_fractions: tuple[float, ...] = (0.01, 0.05, 0.10)
    # Poisson-bootstrap replicates for the intervals of the model, today's practice and the oracle.
    bootstrap: int = Field(100, ge=0, le=5000)
    # Bootstrap intervals are reported when the test window has fewer positives than this.
    bootstrap_below_positives: int = Field(100_000, ge=0)
    audit_min_calls: int = Field(200, ge=1)


class ChampionConfig(_Section):
    """The champion gate of `train --register` (docs/model.md, "Registry and champion").

    `paired_bootstrap`: the model becomes champion only when, for every baseline, the `level`
    interval of its test-window AUC minus the baseline's (a paired bootstrap: the same resampled
    test calls for both) lies above zero, and its own AUC interval lies above 0.5 ("no
    signal" otherwise). `point_estimate`: a higher AUC than every baseline is enough (the
    no-signal check still applies). `train --force-champion` overrides either, and says so.
    """

    rule: Literal["paired_bootstrap", "point_estimate"] = "paired_bootstrap"
    level: float = Field(0.95, gt=0.5, lt=1)
    # Replicates of the paired bootstrap (each scores every baseline on the same resample).
    reps: int = Field(1000, ge=50, le=10_000)


class AnswerConfig(_Section):
    """How a trained model words its answers: reasons per call, batch size, the training period.

    Saved with the model, so offline scoring, the pyfunc and the service answer alike. Not the
    live service's environment (that is risk_model.service.settings.ServiceSettings). The YAML
    section and the saved bundle keep the key `service`, so configs and saved models still load.
    """

    top_reasons: int = Field(5, ge=1, le=20)
    max_batch: int = Field(1000, ge=1)
    # A call more than this many days after the training data's last call is outside the
    # training period (warning `outside_training_period`). Models saved before the rename carry
    # it as `stale_model_days`, still read.
    outside_period_days: int = Field(
        180, ge=1, validation_alias=AliasChoices("outside_period_days", "stale_model_days")
    )


class MonitorConfig(_Section):
    """`risk-model monitor` thresholds (docs/monitoring.md, "Verdict rules").

    A finding at `watch` asks an analyst to look; at `retrain` the model no longer matches the
    calls it serves. The worst finding is the verdict.
    """

    # Calibration is judged only with at least this many known outcomes.
    min_outcomes: int = Field(200, ge=1)
    # Observed / predicted harm rate beyond this factor (either way), with the predicted rate
    # outside the observed 95% interval: retrain; outside the interval but closer: watch.
    ratio_retrain: float = Field(1.5, gt=1)
    # AUC / PR-AUC are computed with at least this many harmed calls; bootstrap replicates.
    min_positives: int = Field(30, ge=5)
    bootstrap: int = Field(100, ge=0, le=2000)
    # AUC below the training test window's by more than this: watch; retrain when the whole
    # bootstrap interval is below.
    auc_drop: float = Field(0.05, gt=0, lt=0.5)
    # Conformal coverage per class: watch when the 95% upper bound is below the target (1 -
    # alpha) minus this, with at least min_class_calls calls of that class.
    coverage_tolerance: float = Field(0.05, ge=0, lt=0.5)
    min_class_calls: int = Field(50, ge=1)
    # Share of a decision more than this far (absolute) from the training test window: watch.
    decision_shift: float = Field(0.10, gt=0, lt=1)
    # Share of calls with unknown_call_type / unseen_area / outside_training_period.
    warning_watch: float = Field(0.05, gt=0, lt=1)
    warning_retrain: float = Field(0.20, gt=0, le=1)
    # Population stability index of the score (and of features, watch only).
    psi_watch: float = Field(0.10, gt=0)
    psi_retrain: float = Field(0.25, gt=0)
    # Audit records decoded for features and warnings (a seeded sample; the rest is read whole).
    decode_sample: int = Field(200_000, ge=100)
    # Feedback-loop watch: calls at a premise this many days before and after its first flag.
    feedback_days: int = Field(30, ge=1, le=365)
    # Conformal alpha when the model's run summary cannot be read.
    default_alpha: float = Field(0.1, gt=0, lt=0.5)
    seed: int = 0


class ClusterConfig(_Section):
    """`train --dask`: how many labelled calls of each window reach the machine running the
    command (the client). Past these, a window comes as a seeded sample chosen by a hash of the
    call_id (docs/cluster.md): ~1.1 KB a row on the client (measured), so the defaults hold the
    collected rows to ~3.5M, ~4 GB; the model's history snapshot (~0.94 KB a call) comes on top."""

    # The train window's sample: the leakage check and the logistic baseline read it.
    train_sample_rows: int = Field(500_000, ge=1_000)
    # Each of validation, calibration and test: a million calls pin a calibration curve, a
    # conformal quantile and a test AUC far tighter than any difference that matters.
    later_window_rows: int = Field(1_000_000, ge=1_000)


class Settings(_Section):
    features: FeatureConfig = FeatureConfig()
    split: SplitConfig = SplitConfig()
    leakage: LeakageConfig = LeakageConfig()
    model: ModelConfig = ModelConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    conformal: ConformalConfig = ConformalConfig()
    tiers: TierConfig = TierConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    champion: ChampionConfig = ChampionConfig()
    service: AnswerConfig = AnswerConfig()
    monitor: MonitorConfig = MonitorConfig()
    cluster: ClusterConfig = ClusterConfig()
    target: Literal["harmed", "assaulted", "injured"] = "harmed"

    def digest(self) -> str:
        """Short stable hash of every setting, logged with each model."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def load_settings(path: Path | str | None = None) -> Settings:
    """Loads and validates a config YAML (or the defaults); problems become one clear UserError."""
    if path is None:
        return Settings()
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"config {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise UserError(f"config {path} must be a mapping of sections")
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(f"config {path}: {where}: {first['msg']}") from None
