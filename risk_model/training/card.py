"""A model card in markdown, generated for every trained model and logged with it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from risk_model.config import Settings
from risk_model.model.bundle import CallRiskModel
from risk_model.model.calibrate import tier_thresholds
from risk_model.training.leakage import LeakageReport


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def model_card(
    model: CallRiskModel,
    results: dict[str, Any],
    audit_table: pd.DataFrame,
    importance: pd.DataFrame,
    settings: Settings,
    counts: dict[str, Any],
    leakage: LeakageReport | None = None,
    champion: dict[str, Any] | None = None,
) -> str:
    meta = model.metadata
    w = meta.get("windows", {})
    lines = [
        f"# Model card: {meta.get('name', 'call-risk')}",
        "",
        f"Trained {meta.get('trained_at')} · features `{meta.get('feature_hash')}` · "
        f"settings `{meta.get('settings_digest')}` · code {meta.get('code_version')} · "
        f"data `{meta.get('data_sha256')}`",
        "",
        "## Intended use",
        "Advises a dispatcher, per call for service, how likely responding officers are to be "
        f"harmed (target: **{meta.get('target')}**), why, and which precautions fit. It scores "
        "calls, not people: inputs are the call record as known when it is taken and the history "
        "of earlier calls at the address and in the area. No race, ethnicity, sex or other "
        "protected attribute is an input. The service advises; a person decides.",
        "",
        "## Data and time windows",
        "| window | from | to | calls | positives |",
        "|---|---|---|---|---|",
    ]
    for name in ("train", "validation", "calibration", "test"):
        c = counts.get(name, {})
        lines.append(
            f"| {name} | {w.get(name + '_start')} | {w.get(name + '_end')} | "
            f"{c.get('calls', 0):,} | {c.get('positives', 0):,} |"
        )
    outside = meta.get("outside_bulk") or {}
    if outside.get("calls_before_bulk") or outside.get("calls_after_bulk"):
        lines += [
            "",
            f"Left out of every window: {outside.get('calls_before_bulk', 0):,} calls dated "
            f"before {outside.get('bulk_start')} (earliest {outside.get('earliest', '-')}) and "
            f"{outside.get('calls_after_bulk', 0):,} after {outside.get('bulk_end')} (latest "
            f"{outside.get('latest', '-')}): far outside the bulk of the data.",
        ]
    elevated_at, high_at = tier_thresholds(
        model.base_rate, settings.tiers.elevated_multiple, settings.tiers.high_multiple
    )
    lines += [
        "",
        f"Base rate (train): {model.base_rate:.4%}. Tiers: elevated from "
        f"{settings.tiers.elevated_multiple}x the base rate's odds ({elevated_at:.4f}), high "
        f"from {settings.tiers.high_multiple}x ({high_at:.4f}); a high decision is never tier "
        "low, a low decision always is.",
        "",
        "## Test-window results",
        "| model | AUC | PR-AUC | Brier | ECE | recall top 1% | recall top 5% | recall top 10% |"
        " mean predicted | observed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in results.items():
        lines.append(
            f"| {name} | {_fmt(m.get('auc'))} | {_fmt(m.get('pr_auc'), 4)} | "
            f"{_fmt(m.get('brier'), 5)} | {_fmt(m.get('ece'), 5)} | "
            f"{_fmt(m.get('recall_top1pct'))} | {_fmt(m.get('recall_top5pct'))} | "
            f"{_fmt(m.get('recall_top10pct'))} | "
            f"{_fmt(m.get('mean_predicted'), 5)} | {_fmt(m.get('observed_rate'), 5)} |"
        )
    ci = results["model"].get("ci", {})
    if ci:
        lines += [
            "",
            "95% bootstrap intervals (model): "
            + ", ".join(f"{k} [{v[0]:.3f}, {v[1]:.3f}]" for k, v in ci.items() if len(v) == 2),
        ]
    if champion is not None:
        lines += ["", *champion_section(champion)]
    m = results["model"]
    lines += [
        "",
        "## Calibration and conformal decisions",
        f"Calibration: {model.calibrator.method_} on the calibration window. Conformal "
        f"(class-conditional split, error rate {settings.conformal.alpha} per class): coverage "
        f"of harmed calls {_fmt(m.get('coverage_high'))}, of unharmed calls "
        f"{_fmt(m.get('coverage_low'))} (target {1 - settings.conformal.alpha:.2f}).",
        f"Decisions on the test window: high {_fmt(m.get('share_high'))} of calls (observed "
        f"rate {_fmt(m.get('rate_high'), 4)}), low {_fmt(m.get('share_low'))} (observed "
        f"{_fmt(m.get('rate_low'), 4)}), can't tell {_fmt(m.get('share_cant_tell'))} "
        f"(observed {_fmt(m.get('rate_cant_tell'), 4)}).",
        "",
        "## What drives the score (mean |SHAP|, test sample)",
    ]
    for row in importance.head(10).itertuples():
        lines.append(f"- {row.feature}: {row.mean_abs_shap:.3f}")
    lines += ["", "## Audit by district (top-5% operating point)"]
    part = audit_table[audit_table["grouping"] == "district"]
    lines += [
        "| district | calls | positives | observed | mean score | calib. ratio | FPR ratio |"
        " FNR ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in part.itertuples():
        flag = "" if r.enough_calls else " (few calls)"
        lines.append(
            f"| {r.group}{flag} | {r.calls:,} | {r.positives} | {_fmt(r.observed_rate, 4)} | "
            f"{_fmt(r.mean_score, 4)} | {_fmt(r.calibration_ratio, 2)} | "
            f"{_fmt(r.fpr_ratio, 2)} | {_fmt(r.fnr_ratio, 2)} |"
        )
    if leakage is not None:
        lines += ["", *leakage_section(leakage)]
    lines += [
        "",
        "## Limits and safeguards",
        "- Outcomes are under-reported (LEOKA counts only assaults that injure, involve a weapon "
        "or go beyond minor resistance); the model learns reported harm.",
        "- Premise and area history reflect where police were sent before: the district audit "
        "above is the check on that feedback loop. Premise effects expire after "
        f"{settings.features.premise_horizon_days} days.",
        "- A false 'high' can prime officers toward force (Taylor 2020): scores are calibrated "
        "probabilities, 'can't tell' is said when the data cannot separate the classes, and "
        "precautions are phrased as tactics, never as a label on a person.",
        "- Post-dispatch fields (disposition, final call type, clearance) are never features.",
        "",
    ]
    return "\n".join(lines)


def champion_section(decision: dict[str, Any]) -> list[str]:
    """The champion gate at registration: the verdict in one line, then its figures."""
    gate = decision.get("gate") or {}
    verdict = "**Champion**" if decision.get("champion") else "**Not champion**"
    lines = ["## Champion gate (at registration)", f"{verdict}: {decision.get('reason')}."]
    if decision.get("forced"):
        lines += ["", "The alias was set by an explicit override (`--force-champion`)."]
    if gate:
        level = f"{gate.get('level', 0.95):.0%}"
        ci = gate.get("model_auc_ci") or []
        rule = gate.get("rule")
        beat = (
            "with the interval of the AUC difference above zero"
            if rule == "paired_bootstrap"
            else "by a higher AUC"
        )
        model_ci = f" ({level} interval {ci[0]:.3f} to {ci[1]:.3f})" if len(ci) == 2 else ""
        lines += [
            "",
            f"Rule `{rule}`: a paired bootstrap ({gate.get('reps')} resamples of the test "
            "calls, every score measured on the same resample). The model must beat every "
            f"baseline {beat}, and its own AUC interval must lie above 0.5. Model AUC "
            f"{_fmt(gate.get('model_auc'))}{model_ci}.",
            "",
            f"| baseline | AUC | model minus baseline | {level} interval | beaten |",
            "|---|---|---|---|---|",
        ]
        for name, b in (gate.get("baselines") or {}).items():
            bci = b.get("ci") or []
            interval = f"{bci[0]:+.3f} to {bci[1]:+.3f}" if len(bci) == 2 else "n/a"
            lines.append(
                f"| {name} | {_fmt(b.get('auc'))} | {b.get('difference', float('nan')):+.3f} | "
                f"{interval} | {'yes' if b.get('beaten') else 'no'} |"
            )
    return lines


def leakage_section(report: LeakageReport) -> list[str]:
    """The leakage guard's figures: what was checked, the strongest inputs, any override."""
    t = report.thresholds
    lines = [
        "## Leakage check (before fitting)",
        f"Every input alone: its rate learned on {report.calls_train:,} train calls, scored on "
        f"{report.calls_held_out:,} validation and calibration calls "
        f"({report.positives_held_out:,} positives); categories and narrative phrases counted "
        f"on the same calls (phrases on {report.text_rows:,}). Limits: AUC 95% lower bound "
        f"{t['max_auc']}, harmed share {t['min_share']:.0%} over at least {t['min_calls']} "
        "calls.",
    ]
    if not report.enabled:
        return [*lines, "", "**The check was switched off (leakage.enabled: false).**"]
    top = sorted(((k, v) for k, v in report.auc.items() if np.isfinite(v)), key=lambda kv: -kv[1])[
        :5
    ]
    lines += ["", "| input | AUC alone (held out) |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in top]
    if report.findings:
        lines += ["", "Findings allowed by an explicit override (`--allow-leak`):"]
        lines += [f"- {f.text(report.overall_rate)}" for f in report.findings]
    else:
        lines += ["", "No input separated the outcome like a post-incident field."]
    return lines
