"""The training run an analyst starts with `risk-model train`: features -> split by time -> fit ->
calibrate -> conformal -> evaluate against baselines (and the oracle, on simulated data) -> audit
-> log everything to MLflow -> optionally register and promote a champion.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from risk_model import __version__
from risk_model.config import Settings
from risk_model.errors import UserError
from risk_model.features.build import build_features, events_frame
from risk_model.features.registry import FEATURE_NAMES, definitions_hash
from risk_model.monitor import save_reference
from risk_model.schema import OUTCOME_COLUMNS, validate_frame
from risk_model.scoring import CallRiskModel
from risk_model.training import plots
from risk_model.training.audit import audit, audit_summary
from risk_model.training.calibrate import Calibrator, MondrianConformal
from risk_model.training.card import model_card
from risk_model.training.encode import FeatureEncoder
from risk_model.training.evaluate import (
    bootstrap_intervals,
    calibration_table,
    core_metrics,
    decision_summary,
)
from risk_model.training.leakage import LeakageReport, check_leakage, enforce, validate_allow
from risk_model.training.models import (
    CallTypeRate,
    logistic_baseline,
    logistic_predict,
    train_booster,
)
from risk_model.training.splits import backtest_windows, place_windows

log = logging.getLogger(__name__)

PYFUNC_CODE = Path(__file__).resolve().parent / "pyfunc_model.py"
SHAP_SAMPLE = 4000
LOGISTIC_MAX_ROWS = 300_000


# --------------------------------------------------------------------------- data


def load_calls(path: Path, in_time_order: bool = True) -> tuple[pd.DataFrame, int]:
    """Canonical calls from Parquet or CSV, validated; returns (rows, rows rejected).

    Training expects ingested data; rows that still break the schema are reported, not used.
    Training wants the calls in time order; scoring keeps the file's order (`in_time_order=False`)
    so an analyst's output lines up with the input row for row, as the pyfunc's does.
    """
    if not path.is_file():
        raise UserError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            raw = pd.read_parquet(path)
        elif suffix == ".csv":
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        else:
            raise UserError(f"{path}: expected a .parquet or .csv file")
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    try:
        result = validate_frame(raw)
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None
    if len(result.quarantined):
        top = result.quarantined["_reason"].value_counts().head(3).to_dict()
        log.warning(
            "%s rows break the schema and are not used (run `risk-model ingest` first): %s",
            f"{len(result.quarantined):,}",
            top,
        )
    calls = result.accepted
    if in_time_order:
        calls = calls.sort_values("received_at", kind="stable")
    return calls.reset_index(drop=True), len(result.quarantined)


def target_labels(calls: pd.DataFrame, target: str) -> np.ndarray:
    """1/0 label per call, NaN when unknown. "harmed" = assaulted or injured (SPEC §1)."""
    cols = {
        "harmed": [c for c in OUTCOME_COLUMNS if c in calls.columns],
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


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


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
    x_ca = encoder.transform(feats[masks["calibration"]])
    m_ca = booster.predict(x_ca, raw_score=True)
    y_ca = y[masks["calibration"]]
    calibrator = Calibrator(settings.calibration.method).fit(m_ca, y_ca)
    conformal = MondrianConformal(settings.conformal.alpha).fit(m_ca, y_ca)
    base_rate = float(np.mean(y[masks["train"]]))
    model = CallRiskModel(settings, encoder, booster, calibrator, conformal, base_rate)

    ctr = CallTypeRate().fit(train["call_type"].to_numpy(), y[masks["train"]])
    lr_rows = np.flatnonzero(masks["train"])
    if len(lr_rows) > LOGISTIC_MAX_ROWS:  # the baseline saturates long before; keep runs fast
        rng = np.random.default_rng(settings.model.seed)
        lr_rows = np.sort(rng.choice(lr_rows, LOGISTIC_MAX_ROWS, replace=False))
    logistic = logistic_baseline(feats.iloc[lr_rows], y[lr_rows], seed=settings.model.seed)
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
) -> dict[str, Any]:
    """The whole run; returns the JSON summary `risk-model train --json` prints."""
    import mlflow

    from risk_model import tracking

    t0 = time.perf_counter()
    validate_allow(settings.leakage.allow)
    calls, rejected = load_calls(data)
    log.info("data: %s calls from %s", f"{len(calls):,}", data)
    y = target_labels(calls, settings.target)
    placement = place_windows(calls["received_at"], y, settings.split)
    windows = placement.windows
    window = placement.assign(calls["received_at"])
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
    feats = build_features(calls, settings.features)
    counts = {
        w: {"calls": int((window == w).sum()), "positives": int(np.nansum(y[window == w]))}
        for w in ("train", "validation", "calibration", "test")
    }
    log.info("windows: %s", {k: (str(v[0]), str(v[1])) for k, v in windows.bounds().items()})
    log.info("window sizes: %s", counts)
    test_mask = (window == "test") & ~np.isnan(y)
    if test_mask.sum() == 0 or y[test_mask].sum() == 0:
        raise UserError(
            "the test window has no labelled positives: widen it with split.test_fraction in a "
            "settings YAML passed with `risk-model train --config`"
        )
    leakage = check_leakage(
        feats,
        calls["narrative"] if "narrative" in calls.columns else None,
        y,
        window,
        settings.leakage,
        seed=settings.model.seed,
    )
    enforce(leakage)  # stops here, before any fitting, unless every finding is overridden

    fitted = fit_all(feats, y, window, settings)
    t_fit = time.perf_counter()
    truth_path = truth or default_truth_path(data)
    truth_series = None
    if truth_path is not None:
        tf = pd.read_parquet(truth_path, columns=["call_id", "true_risk"])
        truth_series = pd.Series(tf["true_risk"].to_numpy(), index=tf["call_id"].astype(str))
        log.info("truth: oracle probabilities from %s", truth_path)
    results, eval_frame, scores = evaluate_window(
        fitted, feats, y, test_mask, settings, truth_series
    )
    audit_table = audit(
        eval_frame.assign(score=eval_frame["score"]),
        top_fraction=0.05,
        min_calls=settings.evaluation.audit_min_calls,
    )
    backtests = []
    for k, w in enumerate(backtest_windows(windows, settings.split.backtest_folds), start=1):
        bwin = w.assign(calls["received_at"])
        bwin[placement.outlier] = ""
        try:
            bfit = fit_all(feats, y, bwin, settings)
        except UserError as exc:
            log.warning("backtest fold %d skipped: %s", k, exc)
            continue
        bmask = (bwin == "test") & ~np.isnan(y)
        bres, _, _ = evaluate_window(bfit, feats, y, bmask, settings, truth_series)
        backtests.append({"fold": k, "windows": w.as_dict(), **{n: bres[n] for n in bres}})
    t_eval = time.perf_counter()

    # Contributions on a sample of the test window: global importance and SHAP plots.
    rng = np.random.default_rng(settings.model.seed)
    test_idx = np.flatnonzero(test_mask)
    sample = np.sort(rng.choice(test_idx, min(SHAP_SAMPLE, len(test_idx)), replace=False))
    x_sample = fitted.model.matrix(feats.iloc[sample])
    contrib = fitted.model.contributions(x_sample)
    importance = (
        pd.DataFrame(
            {"feature": list(FEATURE_NAMES), "mean_abs_shap": np.abs(contrib[:, :-1]).mean(0)}
        )
        .sort_values("mean_abs_shap", ascending=False)
        .reset_index(drop=True)
    )

    model = fitted.model
    history = events_frame(calls, settings.features)
    model.history = history
    feature_hash = definitions_hash(settings.features)
    model.metadata.update(
        {
            "name": register or tracking.DEFAULT_MODEL_NAME,
            "trained_at": pd.Timestamp.now().isoformat(timespec="seconds"),
            "windows": windows.as_dict(),
            "window_counts": counts,
            "feature_hash": feature_hash,
            "settings_digest": settings.digest(),
            "code_version": __version__,
            "data_file": str(data),
            "data_sha256": file_digest(data),
            "history_until": str(calls["received_at"][~placement.outlier].max()),
            "target": settings.target,
            "base_rate": model.base_rate,
            "calibration": model.calibrator.method_,
            "num_trees": model.booster.num_trees(),
            "outside_bulk": outliers,
            "leakage_allowed": list(settings.leakage.allow),
        }
    )

    tracking.configure()
    mlflow.set_experiment(experiment)
    summary_metrics = _flat_metrics(results)
    summary_metrics.update(audit_summary(audit_table))
    summary_metrics.update(leakage.metrics())
    summary_metrics["calls_outside_bulk"] = float(
        outliers["calls_before_bulk"] + outliers["calls_after_bulk"]
    )
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params(_params(settings, model.metadata, rejected))
        mlflow.log_metrics(summary_metrics)
        mlflow.set_tags(
            {"feature_hash": feature_hash, "data_sha256": model.metadata["data_sha256"]}
        )
        with tempfile.TemporaryDirectory() as tmp:
            tmpdir = Path(tmp)
            _log_artifacts(
                tmpdir,
                settings,
                results,
                backtests,
                eval_frame,
                scores,
                audit_table,
                importance,
                contrib,
                x_sample,
                model,
                counts,
                leakage,
            )
            save_reference(tmpdir, feats[test_mask], scores["model"])  # for `risk-model monitor`
            bundle = model.save(tmpdir / "bundle")
            example = calls.iloc[-3:].drop(
                columns=[c for c in calls.columns if c in OUTCOME_COLUMNS]
            )
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(PYFUNC_CODE),
                artifacts={"bundle": str(bundle)},
                signature=model_signature(),
                input_example=_example_frame(example),
            )
        run_id = run.info.run_id
    model_uri = f"runs:/{run_id}/model"
    registered = None
    if register:
        registered = register_and_promote(
            register, info.model_uri, run_id, feats, y, test_mask, results
        )
    t_end = time.perf_counter()
    log.info(
        "done in %.1fs (features+fit %.1fs, evaluation %.1fs, logging %.1fs)",
        t_end - t0,
        t_fit - t0,
        t_eval - t_fit,
        t_end - t_eval,
    )
    metric_keys = ("auc", "pr_auc", "brier", "ece", "recall_top5pct", "recall_top10pct")
    out: dict[str, Any] = {
        "run_id": run_id,
        "model_uri": model_uri,
        "logged_model_uri": info.model_uri,
        "metrics": {
            **{k: results["model"][k] for k in metric_keys},
            **{
                k: results["model"][k]
                for k in (
                    "coverage_high",
                    "coverage_low",
                    "share_high",
                    "share_low",
                    "share_cant_tell",
                    "mean_predicted",
                    "observed_rate",
                )
            },
        },
        "baselines": {
            name: {k: results[name][k] for k in metric_keys}
            for name in ("call_type_rate", "logistic")
        },
        "windows": windows.as_dict(),
        "window_counts": counts,
        "rows_rejected": rejected,
        "outside_bulk": outliers,
        "leakage": {
            "passed": True,
            "max_input_auc": leakage.metrics().get("leakage_max_input_auc"),
            "call_type_auc": leakage.metrics().get("leakage_call_type_auc"),
            "overridden": [f.text(leakage.overall_rate) for f in leakage.findings],
        },
        "feature_hash": feature_hash,
        "seconds": round(t_end - t0, 1),
    }
    if "oracle" in results:
        out["oracle"] = {k: results["oracle"][k] for k in metric_keys}
    if "ci" in results["model"]:
        out["metrics"]["ci"] = results["model"]["ci"]
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
    return out


def register_and_promote(
    name: str,
    model_uri: str,
    run_id: str,
    feats: pd.DataFrame,
    y: np.ndarray,
    test_mask: np.ndarray,
    results: dict[str, Any],
) -> dict[str, Any]:
    """Registers the model; sets alias `champion` only if it beats the current champion on the
    same test window (higher AUC; PR-AUC breaks a tie)."""
    import mlflow
    from mlflow import MlflowClient

    from risk_model import tracking

    client = MlflowClient()
    mv = mlflow.register_model(model_uri, name)
    current = tracking.champion_version(name)
    new = results["model"]
    out: dict[str, Any] = {"name": name, "version": str(mv.version)}
    if current is None:
        client.set_registered_model_alias(name, tracking.CHAMPION, mv.version)
        out.update(champion=True, reason="no champion yet")
    else:
        champ, _ = tracking.load_model(f"models:/{name}/{current.version}")
        score = champ.assess(feats[test_mask], explain=False).risk_score
        old = core_metrics(score, y[test_mask])
        better = (new["auc"], new["pr_auc"]) > (old["auc"], old["pr_auc"])
        out.update(
            champion=better,
            previous_champion=str(current.version),
            champion_auc_same_window=old["auc"],
            challenger_auc=new["auc"],
            reason=(
                "beats the champion on the same test window"
                if better
                else "does not beat the champion on the same test window; alias unchanged"
            ),
        )
        if better:
            client.set_registered_model_alias(name, tracking.CHAMPION, mv.version)
    client.set_model_version_tag(name, mv.version, "run_id", run_id)
    log.info("registry: %s version %s (%s)", name, mv.version, out["reason"])
    return out


# --------------------------------------------------------------------------- logging helpers


def _flat_metrics(results: dict[str, Any]) -> dict[str, float]:
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


def _params(settings: Settings, meta: dict[str, Any], rejected: int) -> dict[str, Any]:
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
            "tiers": f"{settings.tiers.elevated_multiple}x/{settings.tiers.high_multiple}x base",
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
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


def _example_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """An input example in the signature's types (canonical columns only, plain dtypes)."""
    from risk_model.schema import FEATURE_INPUT_COLUMNS

    cols = [c for c in FEATURE_INPUT_COLUMNS if c in frame.columns]
    out = frame[cols].copy()
    for c in out.columns:
        if c in ("received_at", "received_until"):
            out[c] = out[c].astype("datetime64[ns]")
        elif c in ("priority", "latitude", "longitude"):
            out[c] = out[c].astype("float64")
        else:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out.reset_index(drop=True)


def _log_artifacts(
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
) -> None:
    import mlflow

    (tmpdir / "config.yaml").write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    summary = {
        "metrics": results,
        "backtest": backtests,
        "metadata": model.metadata,
        "tiers": {
            "base_rate": model.base_rate,
            "elevated_at": model.base_rate * settings.tiers.elevated_multiple,
            "high_at": model.base_rate * settings.tiers.high_multiple,
        },
        "conformal_alpha": settings.conformal.alpha,
        "window_counts": counts,
        "leakage_check": leakage.as_dict() if leakage is not None else None,
    }
    (tmpdir / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    yt = eval_frame["label"].to_numpy()
    calib = pd.concat(
        [calibration_table(s, yt).assign(model=name) for name, s in scores.items()],
        ignore_index=True,
    )
    calib.to_csv(tmpdir / "calibration_by_decile.csv", index=False)
    audit_table.to_csv(tmpdir / "audit.csv", index=False)
    importance.to_csv(tmpdir / "feature_importance.csv", index=False)
    eval_frame.to_parquet(tmpdir / "evaluation.parquet", index=False)
    plot_dir = tmpdir / "plots"
    plot_dir.mkdir()
    plots.calibration_plot(scores, yt, plot_dir / "calibration.png")
    plots.pr_plot(scores, yt, plot_dir / "precision_recall.png")
    plots.shap_plots(contrib, x_sample, list(FEATURE_NAMES), plot_dir)
    plots.audit_plot(audit_table, plot_dir / "audit_districts.png")
    (tmpdir / "model_card.md").write_text(
        model_card(model, results, audit_table, importance, settings, counts, leakage)
    )
    names = ["leakage_check.json"] if leakage is not None else []
    if leakage is not None:
        (tmpdir / "leakage_check.json").write_text(leakage.to_json())
    for name in (
        "config.yaml",
        "summary.json",
        "calibration_by_decile.csv",
        "audit.csv",
        "feature_importance.csv",
        "evaluation.parquet",
        "model_card.md",
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
