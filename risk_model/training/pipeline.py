"""The training run an analyst starts with `risk-model train`: load -> split by time -> features
-> leakage check -> fit (calibrate, conformal) -> evaluate against baselines (and the oracle, on
simulated data) -> audit -> backtest -> explain -> log everything to MLflow -> optionally register
and promote a champion. `train` lists the steps; each is a named function below it.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from risk_model import __version__
from risk_model.config import Settings
from risk_model.dataset import data_digest, is_simulated, load_calls
from risk_model.errors import UserError
from risk_model.features.build import build_features, events_frame
from risk_model.features.registry import FEATURE_NAMES, definitions_hash
from risk_model.model.assessment import seen_areas
from risk_model.model.bundle import CallRiskModel
from risk_model.model.calibrate import Calibrator, MondrianConformal
from risk_model.model.encode import FeatureEncoder
from risk_model.model.reference import save_reference
from risk_model.schema import OUTCOME_COLUMNS
from risk_model.training.agencies import (
    agency_codes,
    check_outcome_definitions,
    log_agency_metrics,
    metrics_by_agency,
    place_windows_by_agency,
    recorded_outcomes,
    window_counts_by_agency,
)
from risk_model.training.evaluate import bootstrap_intervals, core_metrics, decision_summary
from risk_model.training.fairness import audit, audit_summary
from risk_model.training.gate import decide_champion, register_version
from risk_model.training.leakage import LeakageReport, check_leakage, enforce, validate_allow
from risk_model.training.models import (
    CallTypeRate,
    logistic_baseline,
    logistic_predict,
    train_booster,
)
from risk_model.training.run_log import flat_metrics, log_artifacts, run_params
from risk_model.training.splits import (
    Placement,
    TimeWindows,
    backtest_windows,
    place_windows,
    window_counts,
)

log = logging.getLogger(__name__)

PYFUNC_CODE = Path(__file__).resolve().parents[1] / "model" / "pyfunc.py"
SHAP_SAMPLE = 4000
LOGISTIC_MAX_ROWS = 300_000


# --------------------------------------------------------------------------- data


def target_labels(
    calls: pd.DataFrame, target: str, recorded: tuple[str, ...] | None = None
) -> np.ndarray:
    """1/0 label per call, NaN when unknown. "harmed" = assaulted or injured (SPEC §1).

    `recorded`: the outcome columns the whole data set records (`recorded_outcomes`); a column
    with no known value anywhere (an export without injuries) says nothing, and reading it as
    "unknown" would turn every negative unknown. Default: every outcome column present (a
    cluster partition cannot tell on its own)."""
    present = [c for c in OUTCOME_COLUMNS if c in calls.columns]
    if recorded is not None:
        present = [c for c in present if c in recorded] or present
    cols = {
        "harmed": present,
        "assaulted": ["officer_assaulted"] if "officer_assaulted" in calls.columns else [],
        "injured": ["officer_injured"] if "officer_injured" in calls.columns else [],
    }[target]
    if not cols:
        raise UserError(
            f"target {target!r} needs outcome column(s) "
            f"{' or '.join(OUTCOME_COLUMNS) if target == 'harmed' else 'officer_' + target}"
        )
    values = np.stack([calls[c].to_numpy(dtype="float64", na_value=np.nan) for c in cols], axis=1)
    any_true = (values == 1.0).any(axis=1)
    all_false = (values == 0.0).all(axis=1)
    return np.where(any_true, 1.0, np.where(all_false, 0.0, np.nan))


def check_labels(y: np.ndarray, target: str) -> None:
    """Stops the run before any fitting when the labels cannot teach anything: no labelled
    call, or every labelled call on one side. A mapping that labels only harmed calls
    (`absent: unknown` with `{value: "true"}`) does exactly that, and every later step
    (leakage guard, calibration, conformal) would fail on it in its own, less clear way."""
    labelled = ~np.isnan(y)
    n = int(labelled.sum())
    if n == 0:
        raise UserError(
            f"no call has a known {target!r} outcome: check the outcome columns or the outcome "
            "mapping (an outcome file that matched no call leaves every outcome unknown)"
        )
    positives = int(y[labelled].sum())
    if positives == n:
        raise UserError(
            f"all {n:,} labelled calls are positive ({target}): check the outcome mapping "
            "(absent: unknown with value: true labels only harmed calls; use absent: false "
            "when a call without an outcome row was not harmed)"
        )
    if positives == 0:
        raise UserError(
            f"all {n:,} labelled calls are negative (none {target}): check the outcome mapping "
            "(the outcome columns, the join to the outcome file, its true values) or --target"
        )


def file_digest(path: Path) -> str:
    """data_sha256: a file's bytes, or a dataset folder's files (paths and bytes), streamed."""
    return data_digest(path)[:16]


def default_truth_path(data: Path) -> Path | None:
    candidate = data.with_name(data.name.rsplit(".", 1)[0] + ".truth.parquet")
    return candidate if candidate.is_file() else None


# --------------------------------------------------------------------------- fit


@dataclass
class Fitted:
    model: CallRiskModel
    call_type_rate: CallTypeRate
    logistic: Any


def fit_all(feats: pd.DataFrame, y: np.ndarray, window: np.ndarray, settings: Settings) -> Fitted:
    """Encoder, booster, calibrator, conformal and baselines for one set of windows."""
    labelled = ~np.isnan(y)
    masks = {w: (window == w) & labelled for w in ("train", "validation", "calibration")}
    for name, mask in masks.items():
        positives = int(y[mask].sum())
        if mask.sum() == 0 or positives == 0:
            raise UserError(
                f"the {name} window has {int(mask.sum()):,} labelled calls and {positives} "
                "positives: widen the windows (the split section of a settings YAML passed "
                "with `risk-model train --config`)"
            )
    train = feats[masks["train"]]
    encoder = FeatureEncoder(min_count=settings.features.min_category_count).fit(train)
    x_tr = encoder.transform(train)
    x_va = encoder.transform(feats[masks["validation"]])
    booster = train_booster(
        x_tr,
        y[masks["train"]],
        x_va,
        y[masks["validation"]],
        encoder.categorical_indices(),
        settings.model,
    )
    ctr = CallTypeRate().fit(train["call_type"].to_numpy(), y[masks["train"]])
    return finish_fit(
        settings,
        encoder,
        booster,
        feats[masks["calibration"]],
        y[masks["calibration"]],
        float(np.mean(y[masks["train"]])),
        ctr,
        feats,
        y,
        masks["train"],
    )


def finish_fit(
    settings: Settings,
    encoder: FeatureEncoder,
    booster: Any,
    calibration: pd.DataFrame,
    y_cal: np.ndarray,
    base_rate: float,
    ctr: CallTypeRate,
    lr_feats: pd.DataFrame,
    lr_y: np.ndarray,
    lr_mask: np.ndarray,
) -> Fitted:
    """After the booster: calibration and conformal on the calibration window, the model, and
    the logistic baseline on (up to LOGISTIC_MAX_ROWS of) the `lr_mask` rows. Shared by the
    single-machine fit and the cluster's (training/dask_fit.py), whose later windows are here."""
    m_ca = booster.predict(encoder.transform(calibration), raw_score=True)
    calibrator = Calibrator(settings.calibration.method).fit(m_ca, y_cal)
    conformal = MondrianConformal(settings.conformal.alpha).fit(m_ca, y_cal)
    model = CallRiskModel(settings, encoder, booster, calibrator, conformal, base_rate)
    lr_rows = np.flatnonzero(lr_mask)
    if len(lr_rows) > LOGISTIC_MAX_ROWS:  # the baseline saturates long before; keep runs fast
        rng = np.random.default_rng(settings.model.seed)
        lr_rows = np.sort(rng.choice(lr_rows, LOGISTIC_MAX_ROWS, replace=False))
    logistic = logistic_baseline(lr_feats.iloc[lr_rows], lr_y[lr_rows], seed=settings.model.seed)
    return Fitted(model, ctr, logistic)


def evaluate_window(
    fitted: Fitted,
    feats: pd.DataFrame,
    y: np.ndarray,
    mask: np.ndarray,
    settings: Settings,
    truth: pd.Series | None,
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, np.ndarray]]:
    """Metrics for the model and baselines on one test window, and the evaluation frame."""
    test = feats[mask]
    yt = y[mask]
    res = fitted.model.assess(test, explain=False)
    scores = {
        "model": res.risk_score,
        "call_type_rate": fitted.call_type_rate.predict(test["call_type"].to_numpy()),
        "logistic": logistic_predict(fitted.logistic, test),
    }
    if truth is not None:
        oracle = truth.reindex(test["call_id"].to_numpy()).to_numpy(dtype=float)
        if not np.isnan(oracle).any():
            scores["oracle"] = oracle
    ev = settings.evaluation
    results: dict[str, Any] = {
        name: core_metrics(s, yt, ev.top_fractions) for name, s in scores.items()
    }
    results["model"].update(fitted.model.conformal.coverage(res.margin, yt))
    results["model"].update(decision_summary(res.decision, yt))
    if yt.sum() < ev.bootstrap_below_positives and ev.bootstrap:
        for name, s in scores.items():
            if name != "logistic":  # the intervals that matter: model vs today's practice
                results[name]["ci"] = bootstrap_intervals(
                    s, yt, ev.bootstrap, seed=settings.model.seed
                )
    frame = pd.DataFrame(
        {
            "call_id": test["call_id"].to_numpy(),
            "received_at": test["received_at"].to_numpy(),
            "score": res.risk_score,
            "margin": res.margin,
            "label": yt.astype(int),
            "tier": res.risk_tier,
            "decision": res.decision,
            "district": test["_district"].to_numpy(),
            "beat": test["_beat"].to_numpy(),
            "call_family": test["call_family"].to_numpy(),
            "call_type": test["call_type"].to_numpy(),
            "baseline_call_type_rate": scores["call_type_rate"],
        }
    )
    return results, frame, scores


# --------------------------------------------------------------------------- run


def train(
    data: Path,
    settings: Settings,
    experiment: str = "call-risk",
    register: str | None = None,
    truth: Path | None = None,
    run_name: str | None = None,
    allow_drops: bool = False,
    force_champion: bool = False,
) -> dict[str, Any]:
    """The whole run; returns the JSON summary `risk-model train --json` prints.

    Reads as its table of contents: load -> windows -> features -> leakage check -> fit (with
    calibration and conformal) -> evaluate -> audit -> backtest -> explain -> describe -> the
    champion gate -> log -> register. Every step is one named function; each check stops the
    run before the costly steps it would waste (docs/model.md, "The run, step by step").
    """
    t0 = time.perf_counter()
    validate_allow(settings.leakage.allow)
    # More than 1% of the rows breaking the schema stops the run (SPEC §3) unless allowed.
    calls, rejected = load_calls(data, allow_drops=allow_drops)
    log.info("data: %s calls from %s", f"{len(calls):,}", data)
    y = target_labels(calls, settings.target, recorded_outcomes(calls))
    codes = agency_codes(calls)
    if codes is not None:
        check_outcome_definitions(calls, codes)
    check_labels(y, settings.target)
    split = split_by_time(calls, y, settings)
    feats = build_features(calls, settings.features)
    leakage = leakage_check(feats, calls, y, split, settings)
    fitted = fit_all(feats, y, split.window, settings)
    t_fit = time.perf_counter()
    truth_path = truth or default_truth_path(data)
    truth_series = load_truth(truth_path)
    results, eval_frame, scores = evaluate_window(
        fitted, feats, y, split.test_mask, settings, truth_series
    )
    audit_table = audit_test_window(eval_frame, settings)
    agencies = figures_by_agency(eval_frame, scores, split, settings)
    backtests = backtest(feats, y, calls, split, settings, truth_series)
    t_eval = time.perf_counter()
    importance = explain_globally(fitted.model, feats, split.test_mask, settings)
    inside = calls["received_at"][~split.placement.outlier]
    describe_model(
        fitted.model,
        events_frame(calls, settings.features),
        (str(inside.min()), str(inside.max())),
        data,
        split,
        settings,
        register,
        truth_path,
    )
    decision = None
    if register:
        decision = decide_champion(
            register, scores, feats, y, split.test_mask, results, settings, force_champion
        )
    run_id, logged_model_uri = log_run(
        experiment,
        run_name,
        calls.iloc[-3:],
        settings,
        rejected,
        fitted.model,
        split,
        leakage,
        Evaluation(results, eval_frame, scores, audit_table, backtests, decision),
        importance,
        feats.loc[split.test_mask],
    )
    registered = None
    if register and decision is not None:
        registered = register_version(register, logged_model_uri, run_id, decision)
    t_end = time.perf_counter()
    log.info(
        "done in %.1fs (features+fit %.1fs, evaluation %.1fs, logging %.1fs)",
        t_end - t0,
        t_fit - t0,
        t_eval - t_fit,
        t_end - t_eval,
    )
    summary = run_summary(
        run_id,
        logged_model_uri,
        results,
        backtests,
        split,
        rejected,
        leakage,
        fitted.model.metadata["feature_hash"],
        registered,
        seconds=round(t_end - t0, 1),
    )
    if agencies:
        log_agency_metrics(run_id, agencies)
        summary["agencies"] = agencies
    return summary


# --------------------------------------------------------------------------- the steps


@dataclass(frozen=True)
class Split:
    """Where every call falls: the placed windows, each call's window name, their sizes."""

    placement: Placement
    window: np.ndarray  # window name per call ('' in none)
    counts: dict[str, dict[str, int]]
    test_mask: np.ndarray  # labelled calls of the test window
    # Several agencies: each call's agency code and each agency's windows and counts (None and
    # empty for one agency, which trains exactly as data without the column).
    agency: np.ndarray | None = None
    by_agency: dict[str, Any] = field(default_factory=dict)

    @property
    def windows(self) -> TimeWindows:
        return self.placement.windows


@dataclass(frozen=True)
class Evaluation:
    """What the test window and the backtests showed: the metrics, the evaluation frame every
    later table reads (SPEC: one frame per test window), each model's scores, the audit."""

    results: dict[str, Any]
    frame: pd.DataFrame
    scores: dict[str, np.ndarray]
    audit_table: pd.DataFrame
    backtests: list[dict[str, Any]]
    champion: dict[str, Any] | None = None  # the champion gate's decision (with --register)


@dataclass(frozen=True)
class Importance:
    """Contributions on a sample of the test window: the global table and the SHAP plots' data."""

    table: pd.DataFrame
    contrib: np.ndarray
    x_sample: np.ndarray


def split_by_time(calls: pd.DataFrame, y: np.ndarray, settings: Settings) -> Split:
    """Places the train/validation/calibration/test windows by time, before any feature is
    built, so a split that cannot work (no labelled positives to test on) fails in seconds.
    Calls dated far outside the bulk of the data go in no window and are reported."""
    codes = agency_codes(calls)
    by_agency: dict[str, Any] = {}
    if codes is None:
        placement = place_windows(calls["received_at"], y, settings.split)
        window = placement.assign(calls["received_at"])
    else:
        placement, window, agency_windows = place_windows_by_agency(
            calls["received_at"], y, codes, settings.split
        )
        by_agency = {
            code: {"windows": w.as_dict(), "window_counts": counts}
            for (code, w), counts in zip(
                agency_windows.items(),
                window_counts_by_agency(window, y, codes).values(),
                strict=True,
            )
        }
        log.info("windows placed within each of %d agencies: %s", len(by_agency), by_agency)
    outliers = placement.report
    if outliers["calls_before_bulk"] or outliers["calls_after_bulk"]:
        log.warning(
            "%s calls dated before %s (earliest %s) and %s after %s (latest %s) lie far outside "
            "the bulk of the data and are left out of every window (check their dates; "
            "split.outlier_quantile / split.outlier_margin_days set the limits)",
            f"{outliers['calls_before_bulk']:,}",
            outliers["bulk_start"],
            outliers.get("earliest", "-"),
            f"{outliers['calls_after_bulk']:,}",
            outliers["bulk_end"],
            outliers.get("latest", "-"),
        )
    counts = window_counts(window, y)
    log.info(
        "windows: %s", {k: (str(v[0]), str(v[1])) for k, v in placement.windows.bounds().items()}
    )
    log.info("window sizes: %s", counts)
    test_mask = (window == "test") & ~np.isnan(y)
    if test_mask.sum() == 0 or y[test_mask].sum() == 0:
        raise UserError(
            "the test window has no labelled positives: widen it with split.test_fraction in a "
            "settings YAML passed with `risk-model train --config`"
        )
    return Split(placement, window, counts, test_mask, codes, by_agency)


def leakage_check(
    feats: pd.DataFrame, calls: pd.DataFrame, y: np.ndarray, split: Split, settings: Settings
) -> LeakageReport:
    """Stops the run before any fitting when an input predicts the outcome too well to be known
    at call time (training/leakage.py), unless every finding is overridden by name."""
    leakage = check_leakage(
        feats,
        calls["narrative"] if "narrative" in calls.columns else None,
        y,
        split.window,
        settings.leakage,
        seed=settings.model.seed,
    )
    enforce(leakage)
    return leakage


def load_truth(path: Path | None) -> pd.Series | None:
    """The simulator's true risk per call_id, when the data came with it: the oracle row of the
    evaluation, i.e. how far the model is from the best any model could do on this data."""
    if path is None:
        return None
    tf = pd.read_parquet(path, columns=["call_id", "true_risk"])
    log.info("truth: oracle probabilities from %s", path)
    return pd.Series(tf["true_risk"].to_numpy(), index=tf["call_id"].astype(str))


def figures_by_agency(
    frame: pd.DataFrame, scores: dict[str, np.ndarray], split: Split, settings: Settings
) -> dict[str, dict[str, Any]]:
    """With several agencies, each one's windows, counts and test figures beside the pooled ones
    (`train --json`: `agencies`): a pooled figure can hide an agency the model fails."""
    if split.agency is None:
        return {}
    codes = split.agency[split.test_mask]
    baselines = {k: v for k, v in scores.items() if k != "model"}
    figures = metrics_by_agency(
        frame,
        codes,
        baselines,
        settings.evaluation.top_fractions,
        settings.evaluation.bootstrap,
        settings.model.seed,
    )
    return {code: {**split.by_agency.get(code, {}), **figures.get(code, {})} for code in figures}


def audit_test_window(frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Error rates by district and call family at the top 5% an agency would act on: a model
    that is good on average can still fail one part of the city."""
    return audit(frame, top_fraction=0.05, min_calls=settings.evaluation.audit_min_calls)


def backtest(
    feats: pd.DataFrame,
    y: np.ndarray,
    calls: pd.DataFrame,
    split: Split,
    settings: Settings,
    truth: pd.Series | None,
) -> list[dict[str, Any]]:
    """Refits on earlier folds and tests on the window after each: one test window can be a
    lucky one. A fold without enough labelled calls is skipped with a warning. With several
    agencies the folds would cut each agency's own windows differently: not run (said in the
    log; `--json` has no backtests)."""
    out: list[dict[str, Any]] = []
    if split.agency is not None:
        log.warning("backtests skipped: the data holds several agencies (windows per agency)")
        return out
    for k, w in enumerate(backtest_windows(split.windows, settings.split.backtest_folds), start=1):
        bwin = w.assign(calls["received_at"])
        bwin[split.placement.outlier] = ""
        try:
            bfit = fit_all(feats, y, bwin, settings)
        except UserError as exc:
            log.warning("backtest fold %d skipped: %s", k, exc)
            continue
        bmask = (bwin == "test") & ~np.isnan(y)
        bres, _, _ = evaluate_window(bfit, feats, y, bmask, settings, truth)
        out.append({"fold": k, "windows": w.as_dict(), **{n: bres[n] for n in bres}})
    return out


def explain_globally(
    model: CallRiskModel, feats: pd.DataFrame, test_mask: np.ndarray, settings: Settings
) -> Importance:
    """SHAP contributions on a seeded sample of the test window: which inputs move the scores
    overall (the card's table and the plots), at a cost that does not grow with the data."""
    rng = np.random.default_rng(settings.model.seed)
    test_idx = np.flatnonzero(test_mask)
    sample = np.sort(rng.choice(test_idx, min(SHAP_SAMPLE, len(test_idx)), replace=False))
    x_sample = model.matrix(feats.iloc[sample])
    contrib = model.contributions(x_sample)
    table = (
        pd.DataFrame(
            {"feature": list(FEATURE_NAMES), "mean_abs_shap": np.abs(contrib[:, :-1]).mean(0)}
        )
        .sort_values("mean_abs_shap", ascending=False)
        .reset_index(drop=True)
    )
    return Importance(table, contrib, x_sample)


def describe_model(
    model: CallRiskModel,
    history: pd.DataFrame,
    span: tuple[str, str],
    data: Path,
    split: Split,
    settings: Settings,
    register: str | None,
    truth_path: Path | None,
) -> None:
    """Gives the model its premise history and the metadata that trace any later score back to
    the data, windows, feature definitions, settings and code that made it (and whether that
    data was simulated: every answer of such a model says so)."""
    from risk_model.model import tracking

    model.history = history  # the calls as events (features.build.events_frame)
    model.metadata.update(
        {
            "name": register or tracking.DEFAULT_MODEL_NAME,
            "trained_at": pd.Timestamp.now().isoformat(timespec="seconds"),
            "windows": split.windows.as_dict(),
            "window_counts": split.counts,
            "feature_hash": definitions_hash(settings.features),
            "settings_digest": settings.digest(),
            "code_version": __version__,
            "data_file": str(data),
            "data_sha256": file_digest(data),
            "history_from": span[0],  # the calls inside the bulk of the data
            "history_until": span[1],
            "seen_areas": seen_areas(model.history),
            "trained_on_simulated": is_simulated(data, truth_path),
            "target": settings.target,
            "base_rate": model.base_rate,
            "calibration": model.calibrator.method_,
            "num_trees": model.booster.num_trees(),
            "outside_bulk": split.placement.report,
            "leakage_allowed": list(settings.leakage.allow),
        }
    )


def log_run(
    experiment: str,
    run_name: str | None,
    example_calls: pd.DataFrame,
    settings: Settings,
    rejected: int,
    model: CallRiskModel,
    split: Split,
    leakage: LeakageReport,
    evaluation: Evaluation,
    importance: Importance,
    test_features: pd.DataFrame,
) -> tuple[str, str]:
    """One MLflow run holding everything needed to judge and reuse the model: params, metrics,
    tags, the tables, plots and card, the monitor's reference (the test window's features and
    scores), and the pyfunc (with its bundle). Returns (run id, the logged model's URI)."""
    import mlflow

    from risk_model.model import tracking

    tracking.configure()
    mlflow.set_experiment(experiment)
    outliers = split.placement.report
    summary_metrics = flat_metrics(evaluation.results)
    summary_metrics.update(audit_summary(evaluation.audit_table))
    summary_metrics.update(leakage.metrics())
    summary_metrics["calls_outside_bulk"] = float(
        outliers["calls_before_bulk"] + outliers["calls_after_bulk"]
    )
    if evaluation.champion is not None:
        gate = evaluation.champion["gate"]
        summary_metrics["champion"] = float(evaluation.champion["champion"])
        summary_metrics["champion_gate_passed"] = float(gate["passed"])
        for name, b in gate["baselines"].items():
            if len(b["ci"]) == 2:
                summary_metrics[f"auc_minus_{name}_ci_low"] = b["ci"][0]
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params(run_params(settings, model.metadata, rejected))
        mlflow.log_metrics(summary_metrics)
        mlflow.set_tags(
            {
                "feature_hash": model.metadata["feature_hash"],
                "data_sha256": model.metadata["data_sha256"],
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            tmpdir = Path(tmp)
            log_artifacts(
                tmpdir,
                settings,
                evaluation.results,
                evaluation.backtests,
                evaluation.frame,
                evaluation.scores,
                evaluation.audit_table,
                importance.table,
                importance.contrib,
                importance.x_sample,
                model,
                split.counts,
                leakage,
                evaluation.champion,
            )
            # The drift reference `risk-model monitor` compares live calls with.
            save_reference(tmpdir, test_features, evaluation.scores["model"])
            bundle = model.save(tmpdir / "bundle")
            example = example_calls.drop(
                columns=[c for c in example_calls.columns if c in OUTCOME_COLUMNS]
            )
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(PYFUNC_CODE),
                artifacts={"bundle": str(bundle)},
                signature=model_signature(),
                input_example=_example_frame(example),
            )
        run_id = run.info.run_id
    return run_id, info.model_uri


SUMMARY_METRICS = (
    "auc",
    "pr_auc",
    "brier",
    "ece",
    "recall_top1pct",
    "recall_top5pct",
    "recall_top10pct",
)
DECISION_METRICS = (
    "coverage_high",
    "coverage_low",
    "share_high",
    "share_low",
    "share_cant_tell",
    "mean_predicted",
    "observed_rate",
)


def run_summary(
    run_id: str,
    logged_model_uri: str,
    results: dict[str, Any],
    backtests: list[dict[str, Any]],
    split: Split,
    rejected: int,
    leakage: LeakageReport,
    feature_hash: str,
    registered: dict[str, Any] | None,
    seconds: float,
) -> dict[str, Any]:
    """What `risk-model train --json` prints: the headline figures, not the whole run (that is
    in MLflow), so a script or a person can judge the run at a glance."""
    model = results["model"]
    out: dict[str, Any] = {
        "run_id": run_id,
        "model_uri": f"runs:/{run_id}/model",
        "logged_model_uri": logged_model_uri,
        "metrics": {k: model[k] for k in (*SUMMARY_METRICS, *DECISION_METRICS)},
        "baselines": {
            name: {k: results[name][k] for k in SUMMARY_METRICS}
            for name in ("call_type_rate", "logistic")
        },
        "windows": split.windows.as_dict(),
        "window_counts": split.counts,
        "rows_rejected": rejected,
        "outside_bulk": split.placement.report,
        "leakage": {
            "passed": True,
            "max_input_auc": leakage.metrics().get("leakage_max_input_auc"),
            "call_type_auc": leakage.metrics().get("leakage_call_type_auc"),
            "overridden": [f.text(leakage.overall_rate) for f in leakage.findings],
        },
        "feature_hash": feature_hash,
        "seconds": seconds,
    }
    if "oracle" in results:
        out["oracle"] = {k: results["oracle"][k] for k in SUMMARY_METRICS}
    if "ci" in model:
        out["metrics"]["ci"] = model["ci"]
    if backtests:
        out["backtest"] = [
            {
                "fold": b["fold"],
                "auc": b["model"]["auc"],
                "call_type_rate_auc": b["call_type_rate"]["auc"],
            }
            for b in backtests
        ]
    if registered:
        out["registered"] = registered
        out["champion"] = registered["champion"]
        out["reason"] = registered["reason"]
    return out


# --------------------------------------------------------------------------- the pyfunc's contract


def model_signature() -> Any:
    """The pyfunc's contract: canonical call columns in, one assessment row out.

    Declared rather than inferred, so MLflow does not run the model an extra time to guess it.
    Times, numbers and flags are typed Any: the model's own validator parses them per SPEC §1
    (e.g. "yes"/"1"/"" for flags, ISO 8601 text for times, nullable integers for priority),
    which MLflow's stricter types would reject before the model sees them.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import AnyType

    from risk_model.schema import FEATURE_INPUT_COLUMNS, REQUIRED_COLUMNS, STRING_COLUMNS

    def kind(name: str) -> Any:
        return "string" if name in STRING_COLUMNS else AnyType()

    # FEATURE_INPUT_COLUMNS: the canonical columns plus received_until (a time known only to a
    # day or shift band); MLflow drops any input the signature does not name.
    inputs = Schema(
        [ColSpec(kind(c), c, required=c in REQUIRED_COLUMNS) for c in FEATURE_INPUT_COLUMNS]
    )
    outputs = Schema(
        [
            ColSpec("string", "call_id"),
            ColSpec("double", "risk_score"),
            ColSpec("string", "risk_tier"),
            ColSpec("string", "decision"),
            ColSpec("string", "reasons"),
            ColSpec("string", "precautions"),
            ColSpec("string", "warnings"),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


def _example_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """An input example in the signature's types (canonical columns only, plain dtypes)."""
    from risk_model.schema import FEATURE_INPUT_COLUMNS

    cols = [c for c in FEATURE_INPUT_COLUMNS if c in frame.columns]
    out = frame[cols].copy()
    for c in out.columns:
        if c == "received_at":
            out[c] = out[c].astype("datetime64[ns]")
        elif c == "received_until":
            # Mostly empty: MLflow writes an empty datetime as text the model cannot read, so the
            # example carries ISO 8601 text or null, as a client would send it.
            out[c] = [None if pd.isna(v) else pd.Timestamp(v).isoformat() for v in out[c]]
        elif c in ("priority", "latitude", "longitude"):
            out[c] = out[c].astype("float64")
        else:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out.reset_index(drop=True)
