"""Data for the supervisor review page: one call's explanation and the model's report card.

Supervisors review why a call was scored as it was; analysts and the public ask how the model
behaves across the city. This module turns an audit-log entry and a trained model's MLflow
artifacts (the summary, calibration, audit and feature-importance files named in
`risk_model.vocab`) into plain JSON the page draws. Tier, decision and warning words come from
`risk_model.vocab` too, and reach the page through the server (`vocabulary()`). Everything but
`fetch_artifacts` and `run_id_for` is a pure function of its inputs, so the wording and the
numbers are unit-tested without a server or a browser.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from risk_model import vocab
from risk_model.features.registry import BY_NAME
from risk_model.model.calibrate import tier_thresholds

log = logging.getLogger(__name__)

ARTIFACTS = (
    vocab.SUMMARY_JSON,
    vocab.CALIBRATION_BY_DECILE_CSV,
    vocab.AUDIT_CSV,
    vocab.FEATURE_IMPORTANCE_CSV,
)

# Baselines and metrics in the words a shift supervisor reads; order is the table's order.
MODEL_LABELS = {
    "model": "This model",
    "call_type_rate": "Call type's past rate (current practice)",
    "logistic": "Simple logistic model",
    "oracle": "Oracle: the simulator's true risk (synthetic data only)",
}
METRICS = (
    (
        "auc",
        "Ranking (AUC)",
        "Chance that a call where an officer was harmed is scored above one where no one was "
        "(0.5 = coin flip, 1 = perfect). Higher is better.",
        True,
    ),
    (
        "recall_top1pct",
        "Harm found in the top 1%",
        "Share of all calls where an officer was harmed that were among the 1% of calls scored "
        "highest: what a dispatcher flag on the very top would catch. Higher is better.",
        True,
    ),
    (
        "recall_top5pct",
        "Harm found in the top 5%",
        "Share of all calls where an officer was harmed that were among the 5% of calls scored "
        "highest. Higher is better.",
        True,
    ),
    (
        "recall_top10pct",
        "Harm found in the top 10%",
        "The same among the 10% of calls scored highest. Higher is better.",
        True,
    ),
    (
        "pr_auc",
        "Precision-recall (PR-AUC)",
        "How well the highest scores pick out harm when harm is rare. Higher is better.",
        True,
    ),
    (
        "brier",
        "Brier score",
        "Average squared gap between the probability and what happened. Lower is better.",
        False,
    ),
    (
        "ece",
        "Calibration error (ECE)",
        "Average gap between predicted and observed rates over ten score bands. Lower is better.",
        False,
    ),
)

FLAGS = (
    ("weapon_reported", "Weapon reported"),
    ("domestic", "Domestic situation"),
    ("mental_health", "Mental-health crisis"),
    ("intoxication", "Intoxication"),
    ("in_progress", "In progress"),
)

TIER_LABELS = vocab.TIER_LABELS
DECISION_LABELS = vocab.DECISION_LABELS
SORTS = ("time", "score", "score_asc")
# How many dated incidents the service keeps per call (HistoryStore.premise_incidents' default):
# at this many the list may be cut, while the premise counts in the reasons cover all of them.
PREMISE_LIST_LIMIT = 10
FEW_CALLS = "few calls"


# ------------------------------------------------------------------ numbers in words


def format_percent(p: float | None) -> str:
    """A probability as a percentage with enough digits for rare events (0.019%, 0.53%, 12%)."""
    if p is None or not math.isfinite(p):
        return "unknown"
    pct = 100.0 * p
    if pct == 0:
        return "0%"
    if pct >= 10:
        return f"{pct:.0f}%"
    if pct >= 1:
        return f"{pct:.1f}%"
    if pct >= 0.1:
        return f"{pct:.2f}%"
    return f"{pct:.3f}%"


def one_in(p: float | None) -> str:
    """'about 1 in 190 calls' for a probability; people read rare risks better as counts."""
    if p is None or not math.isfinite(p) or p <= 0:
        return ""
    n = 1.0 / p
    if n < 1.5:
        return "nearly every call"
    digits = max(len(str(round(n))) - 2, 0)
    rounded = round(n, -digits)
    return f"about 1 in {int(rounded):,} calls"


def times_base(p: float, base_rate: float) -> float | None:
    return None if base_rate <= 0 or not math.isfinite(p) else p / base_rate


def times_base_words(p: float, base_rate: float) -> str:
    """'1.9 times the base rate' (the base rate is the training share of calls with harm)."""
    x = times_base(p, base_rate)
    if x is None:
        return "base rate unknown"
    if x < 0.1:
        return "less than a tenth of the base rate"
    return f"{x:.1f} times the base rate"


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# ------------------------------------------------------------------ one call


def tier_meaning(
    tier: str, base_rate: float, elevated_multiple: float, high_multiple: float
) -> str:
    """What a tier means, with its thresholds as multiples of the base rate's odds and as
    percentages, and how the decision bounds it (model/calibrate.py:tier)."""
    elevated_at, high_at = tier_thresholds(base_rate, elevated_multiple, high_multiple)
    elevated, high = format_percent(elevated_at), format_percent(high_at)
    base = format_percent(base_rate)
    if tier == "high":
        return (
            f"High: the odds are at least {high_multiple:g} times the base rate's odds "
            f"(a probability of {high} or more; the base rate is {base} of calls)."
        )
    if tier == "elevated":
        return (
            f"Elevated: the odds are at least {elevated_multiple:g} times the base rate's odds "
            f"({elevated} or more) but below {high_multiple:g} times ({high}), or the model's "
            "decision is high."
        )
    if tier == "low":
        return (
            f"Low: the odds are below {elevated_multiple:g} times the base rate's odds "
            f"(under {elevated}; the base rate is {base} of calls), or the model's decision is "
            "low."
        )
    return f"Unknown tier {tier!r}."


def decision_meaning(decision: str, alpha: float) -> str:
    """The conformal decision in plain words; says why "can't tell" is an honest answer."""
    pct = f"{alpha:.0%}"
    if decision == "high":
        return (
            "High: this call's score sits where past calls with no harm to officers rarely do "
            f"(checked at a {pct} error rate), so the model can tell it apart from them. It does "
            "not mean harm is likely: most high calls still end without harm. See the probability."
        )
    if decision == "low":
        return (
            "Low: this call's score sits where past calls in which an officer was harmed rarely "
            f"do (checked at a {pct} error rate), so the model can tell it apart from them. "
            "Low risk is not no risk."
        )
    if decision == "cant_tell":
        return (
            "Can't tell: this call's score sits where past calls with and without harm to "
            f"officers overlap, so the data cannot separate them at a {pct} error rate. The model "
            "says so rather than guess: rely on the call facts and the officers' judgement."
        )
    return f"Unknown decision {decision!r}."


def flag_word(value: Any) -> str:
    """A reported flag as the page shows it: yes, no, or unknown (empty is not false)."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return (
            "unknown"
            if isinstance(value, float) and math.isnan(value)
            else ("yes" if value else "no")
        )
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "y", "t"):
        return "yes"
    if text in ("false", "0", "no", "n", "f"):
        return "no"
    return "unknown"


def call_facts(call: dict[str, Any]) -> list[dict[str, str]]:
    """The call as taken, in reading order; missing fields say 'not recorded'."""

    def val(key: str) -> str:
        v = call.get(key)
        return "not recorded" if v is None or v == "" else str(v)

    received = call.get("received_at")
    return [
        {"key": "call_type", "label": "Call type", "value": val("call_type")},
        {
            "key": "received_at",
            "label": "Received",
            "value": format_time(received) if received else "not recorded",
        },
        {"key": "address", "label": "Address", "value": val("address")},
        {"key": "priority", "label": "Priority (1 = most urgent)", "value": val("priority")},
        {"key": "source", "label": "How the call came in", "value": val("source")},
        {"key": "premise_type", "label": "Location type", "value": val("premise_type")},
        {"key": "district", "label": "District", "value": val("district")},
        {"key": "beat", "label": "Beat", "value": val("beat")},
    ]


def format_time(value: Any) -> str:
    """ISO time as 'YYYY-MM-DD HH:MM' (agency local time as recorded; an offset is kept)."""
    text = str(value)
    if len(text) >= 16 and text[10] in "T ":
        rest = text[19:] if len(text) > 19 else ""
        if rest.startswith("."):
            rest = rest.lstrip(".0123456789")
        return f"{text[:10]} {text[11:16]}{(' ' + rest) if rest else ''}"
    return text


def reported_flags(call: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"key": key, "label": label, "value": flag_word(call.get(key))} for key, label in FLAGS
    ]


def waterfall(contributions: dict[str, Any], top: int = 8) -> dict[str, Any]:
    """Steps of the waterfall chart: from the model's starting point, each factor's push (in
    log-odds of the raw model), the rest summed, to this call's raw score.

    The largest `top` contributions (by size, either sign) get their own bar; the others are one
    "all other factors" bar, so the chart stays readable and still adds up.
    """
    base = float(contributions.get("base", 0.0))
    items = sorted(
        contributions.get("items", []), key=lambda d: -abs(float(d.get("contribution", 0.0)))
    )
    steps: list[dict[str, Any]] = []
    level = base
    for item in items[:top]:
        c = float(item["contribution"])
        steps.append(
            {
                "feature": item["feature"],
                "text": item["text"],
                "contribution": c,
                "odds_multiplier": math.exp(c),
                "start": level,
                "end": level + c,
            }
        )
        level += c
    rest = items[top:]
    other = None
    if rest:
        c = float(sum(float(d["contribution"]) for d in rest))
        other = {
            "count": len(rest),
            "text": f"All other factors ({len(rest)}) together",
            "contribution": c,
            "odds_multiplier": math.exp(c),
            "start": level,
            "end": level + c,
        }
        level += c
    return {"base": base, "steps": steps, "other": other, "total": level}


# Each history event kind a premise incident can carry (risk_model.vocab.EVENT_KINDS, less the
# plain "call" every incident is), in words, most serious first.
EVENT_WORDS: dict[vocab.EventKind, str] = {
    "assault": "assault on an officer",
    "injury": "officer injured",
    "weapon": "weapon involved",
    "violent": "violent call",
}


def _what_happened(incident: dict[str, Any]) -> str:
    what = [words for kind, words in EVENT_WORDS.items() if incident.get(kind)]
    return ", ".join(what) or "call on record"


def premise_history(incidents: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Dated prior incidents at the address, newest first, in words."""
    rows = [
        {
            "date": str(inc.get("received_at", ""))[:10],
            "time": format_time(inc.get("received_at", "")),
            "call_type": inc.get("call_type") or "not recorded",
            "what": _what_happened(inc),
            "call_id": str(inc.get("call_id", "")),
            "received_at": str(inc.get("received_at", "")),
        }
        for inc in incidents
    ]
    rows.sort(key=lambda r: r["received_at"], reverse=True)
    return rows


def call_view(
    entry: dict[str, Any],
    base_rate: float,
    elevated_multiple: float,
    high_multiple: float,
    alpha: float,
    current_model: dict[str, str] | None = None,
    top: int = 8,
) -> dict[str, Any]:
    """One audit-log entry as the call page shows it.

    `assessment` is passed through unchanged (what the API answered); everything else is derived
    for reading: facts, flags, meanings, the waterfall, precautions with their reasons in words.
    """
    call = entry.get("call", {})
    a = entry["assessment"]
    score = float(a["risk_score"])
    contributions = entry.get("contributions") or {"base": 0.0, "items": []}
    words = {d["feature"]: d["text"] for d in contributions.get("items", [])}
    words.update({r["feature"]: r["text"] for r in a.get("reasons", [])})
    # Rules can also fire on the tier or the decision themselves (evaluate_rules names them so).
    words["risk_tier"] = f"Risk tier: {TIER_LABELS.get(a['risk_tier'], a['risk_tier'])}"
    words["decision"] = f"Decision: {DECISION_LABELS.get(a['decision'], a['decision'])}"
    programs = entry.get("precaution_programs", {})
    precautions = [
        {
            "id": p["id"],
            "text": p["text"],
            "program": programs.get(p["id"], ""),
            "because": [
                {"feature": f, "text": words.get(f) or _feature_label(f)} for f in p["because"]
            ],
        }
        for p in a.get("precautions", [])
    ]
    model = a.get("model", {})
    out = {
        "call_id": a["call_id"],
        "facts": call_facts(call),
        "flags": reported_flags(call),
        "narrative": call.get("narrative") or None,
        "assessment": a,
        "score": {
            "probability": score,
            "percent": format_percent(score),
            "one_in": one_in(score),
            "times_base": times_base(score, base_rate),
            "times_base_words": times_base_words(score, base_rate),
            "base_rate": base_rate,
            "base_rate_percent": format_percent(base_rate),
        },
        "tier": {
            "value": a["risk_tier"],
            "label": TIER_LABELS.get(a["risk_tier"], a["risk_tier"]),
            "meaning": tier_meaning(a["risk_tier"], base_rate, elevated_multiple, high_multiple),
        },
        "decision": {
            "value": a["decision"],
            "label": DECISION_LABELS.get(a["decision"], a["decision"]),
            "meaning": decision_meaning(a["decision"], alpha),
        },
        "reasons": a.get("reasons", []),
        "waterfall": waterfall(contributions, top=top),
        "precautions": precautions,
        "premise_history": premise_history(entry.get("premise_incidents", [])),
        "premise_history_may_be_cut": len(entry.get("premise_incidents", []))
        >= PREMISE_LIST_LIMIT,
        "warnings": a.get("warnings", []),
        "warning_items": warning_items(a.get("warnings", [])),
        "model": model,
        "scored_by_current_model": current_model is None
        or (
            str(model.get("name")) == str(current_model.get("name"))
            and str(model.get("version")) == str(current_model.get("version"))
        ),
    }
    return out


def warning_items(warnings: list[str]) -> list[dict[str, str]]:
    """Each `code: text` warning with its code's label, for the page to show both.

    A code this version does not know (an audit entry written by a newer model) keeps its text
    and is labelled by its code, so nothing the model said is hidden.
    """
    out = []
    for w in warnings:
        code = vocab.warning_code(w)
        text = w.split(":", 1)[1].strip() if ":" in w else w
        out.append({"code": code, "label": vocab.WARNING_LABELS.get(code, code), "text": text})
    return out


def vocabulary() -> dict[str, Any]:
    """The words the page shows for tiers, decisions and warning codes, in their display order:
    served to the page (`/review/api/vocab`) so it never spells them itself."""
    return {
        "tiers": [{"value": t, "label": vocab.TIER_LABELS[t]} for t in vocab.TIERS],
        "decisions": [{"value": d, "label": vocab.DECISION_LABELS[d]} for d in vocab.DECISIONS],
        "warnings": [{"code": c, "label": vocab.WARNING_LABELS[c]} for c in vocab.WARNING_CODES],
    }


def _feature_label(name: str) -> str:
    if name == "hour":
        return "Time of day"
    fdef = BY_NAME.get(name)
    return fdef.description if fdef else name


# ------------------------------------------------------------------ the calls list


def call_row(row: dict[str, Any], base_rate: float) -> dict[str, Any]:
    """One calls-list row: the audit summary plus the score in words."""
    score = float(row["risk_score"])
    return {
        **row,
        "received": format_time(row["received_at"]),
        "percent": format_percent(score),
        "times_base": times_base(score, base_rate),
        "tier_label": TIER_LABELS.get(row["risk_tier"], row["risk_tier"]),
        "decision_label": DECISION_LABELS.get(row["decision"], row["decision"]),
    }


# ------------------------------------------------------------------ the model's artifacts


@dataclass(frozen=True)
class RunArtifacts:
    """The review-relevant artifacts of one training run (None when a file is missing)."""

    summary: dict[str, Any] | None
    calibration: pd.DataFrame | None
    audit: pd.DataFrame | None
    importance: pd.DataFrame | None
    missing: tuple[str, ...] = ()


def run_id_for(metadata: dict[str, Any], name: str, version: str) -> str | None:
    """The MLflow run behind a loaded model: from its pinned URI, else from the registry."""
    from risk_model.errors import UserError
    from risk_model.model import tracking

    uri = str(metadata.get("uri") or f"models:/{name}/{version}")
    try:
        return tracking.resolve(uri).run_id
    except UserError as exc:
        log.warning("review: cannot resolve the run of %s: %s", uri, exc)
        return None


def fetch_artifacts(run_id: str, dest: Path) -> Path:
    """Downloads the run's review artifacts into `dest` (missing ones are skipped, logged)."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    from risk_model.model import tracking

    tracking.configure()
    dest.mkdir(parents=True, exist_ok=True)
    for name in ARTIFACTS:
        try:
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=name, dst_path=str(dest)
            )
        except (MlflowException, OSError) as exc:
            log.warning("review: run %s has no %s (%s)", run_id, name, exc)
    return dest


def read_artifacts(directory: Path) -> RunArtifacts:
    """Reads the four review artifacts from a directory; a missing or unreadable file is None."""
    missing: list[str] = []

    def csv(name: str) -> pd.DataFrame | None:
        path = directory / name
        if not path.is_file():
            missing.append(name)
            return None
        try:
            return pd.read_csv(path)
        except (ValueError, OSError) as exc:
            log.warning("review: cannot read %s: %s", path, exc)
            missing.append(name)
            return None

    summary = None
    path = directory / vocab.SUMMARY_JSON
    if path.is_file():
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            log.warning("review: cannot read %s: %s", path, exc)
            missing.append(vocab.SUMMARY_JSON)
    else:
        missing.append(vocab.SUMMARY_JSON)
    return RunArtifacts(
        summary=summary,
        calibration=csv(vocab.CALIBRATION_BY_DECILE_CSV),
        audit=csv(vocab.AUDIT_CSV),
        importance=csv(vocab.FEATURE_IMPORTANCE_CSV),
        missing=tuple(missing),
    )


def _order(names: list[str]) -> list[str]:
    known = [n for n in MODEL_LABELS if n in names]
    return known + sorted(n for n in names if n not in MODEL_LABELS)


def metrics_table(summary: dict[str, Any]) -> dict[str, Any]:
    """Test-window metrics: one row per metric, one column per model (this model first, then the
    baselines, then the oracle when the data were simulated)."""
    results = summary.get("metrics") or {}
    names = _order(list(results))
    columns = [{"key": n, "label": MODEL_LABELS.get(n, n.replace("_", " "))} for n in names]
    rows = []
    for key, label, help_text, higher in METRICS:
        values = {n: _finite(results[n].get(key)) for n in names}
        ci = (results.get("model") or {}).get("ci", {}).get(key)
        comparable = {n: v for n, v in values.items() if v is not None and n != "oracle"}
        best = None
        if comparable:
            best = (max if higher else min)(comparable, key=lambda n: comparable[n])
        rows.append(
            {
                "key": key,
                "label": label,
                "help": help_text,
                "higher_is_better": higher,
                "values": values,
                "model_ci": [float(v) for v in ci] if ci and len(ci) == 2 else None,
                "best": best,
            }
        )
    return {"columns": columns, "rows": rows}


def decisions_summary(summary: dict[str, Any]) -> dict[str, Any] | None:
    """How often the model said high / low / can't tell on the test window, and what happened."""
    m = (summary.get("metrics") or {}).get("model")
    if not m:
        return None
    out = []
    for d in vocab.DECISIONS:
        share = _finite(m.get(f"share_{d}"))
        rate = _finite(m.get(f"rate_{d}"))
        if share is None:
            continue
        out.append(
            {
                "decision": d,
                "label": DECISION_LABELS[d],
                "share": share,
                "observed_rate": rate,
            }
        )
    return {
        "rows": out,
        "coverage_high": _finite(m.get("coverage_high")),
        "coverage_low": _finite(m.get("coverage_low")),
        "alpha": _finite(summary.get("conformal_alpha")),
    }


def training_window(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The train / validation / calibration / test windows with their calls and positives."""
    meta = summary.get("metadata") or {}
    windows = meta.get("windows") or {}
    counts = summary.get("window_counts") or meta.get("window_counts") or {}
    words = {
        "train": "Training",
        "validation": "Validation (choosing the model size)",
        "calibration": "Calibration (turning scores into probabilities)",
        "test": "Test (held out; the results below)",
    }
    out = []
    for name, label in words.items():
        start, end = windows.get(f"{name}_start"), windows.get(f"{name}_end")
        if start is None and end is None:
            continue
        c = counts.get(name) or {}
        out.append(
            {
                "window": name,
                "label": label,
                "from": str(start)[:10] if start else None,
                "to": str(end)[:10] if end else None,
                "calls": c.get("calls"),
                "positives": c.get("positives"),
            }
        )
    return out


def calibration_curves(calib: pd.DataFrame) -> list[dict[str, Any]]:
    """Predicted vs observed rate per score decile, one curve per model (this model first)."""
    out = []
    for name in _order(list(calib["model"].unique())):
        part = calib[calib["model"] == name].sort_values("decile")
        out.append(
            {
                "model": name,
                "label": MODEL_LABELS.get(name, name),
                "points": [
                    {
                        "decile": int(r["decile"]),
                        "calls": int(r["calls"])
                        if "calls" in part and pd.notna(r["calls"])
                        else None,
                        "positives": (
                            int(r["positives"])
                            if "positives" in part and pd.notna(r["positives"])
                            else None
                        ),
                        "mean_predicted": float(r["mean_predicted"]),
                        "observed_rate": float(r["observed_rate"]),
                    }
                    for _, r in part.iterrows()
                ],
            }
        )
    return out


def importance_bars(imp: pd.DataFrame, top: int = 15) -> list[dict[str, Any]]:
    """Global importance (mean |SHAP| in log-odds) with the registry's descriptions.

    The two cyclical time-of-day columns are one bar, "Time of day" (their sum: an upper bound of
    the combined effect), because a supervisor thinks of one clock, not a sine and a cosine.
    """
    totals: dict[str, float] = {}
    for _, r in imp.iterrows():
        name = str(r["feature"])
        fdef = BY_NAME.get(name)
        key = fdef.reason_group if fdef and fdef.reason_group else name
        totals[key] = totals.get(key, 0.0) + float(r["mean_abs_shap"])
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    out = []
    for key, value in ranked:
        fdef = BY_NAME.get(key)
        if key == "hour":
            label, unit, group = "Time of day", "hour", "time"
        elif fdef is not None:
            label, unit, group = fdef.description, fdef.unit, fdef.group
        else:
            label, unit, group = key, "", ""
        out.append(
            {"feature": key, "label": label, "unit": unit, "group": group, "mean_abs_shap": value}
        )
    return out


def audit_rows(
    audit: pd.DataFrame, grouping: str = "district", min_calls: int | None = None
) -> dict[str, Any]:
    """Audit rows for one grouping at the top-5% operating point, largest groups first.

    Groups below the audit's minimum size (`min_calls` test calls) are marked "few calls": their
    ratios are noise.
    """
    part = audit[audit["grouping"] == grouping].sort_values("calls", ascending=False)
    rows = []
    for _, r in part.iterrows():
        enough = bool(r["enough_calls"]) if "enough_calls" in part else True
        rows.append(
            {
                "group": str(r["group"]),
                "calls": int(r["calls"]),
                "positives": int(r["positives"]),
                "observed_rate": _finite(r.get("observed_rate")),
                "mean_score": _finite(r.get("mean_score")),
                "calibration_ratio": _finite(r.get("calibration_ratio")),
                "flagged_share": _finite(r.get("flagged_share")),
                "fpr": _finite(r.get("fpr")),
                "fpr_ratio": _finite(r.get("fpr_ratio")),
                "fnr": _finite(r.get("fnr")),
                "fnr_ratio": _finite(r.get("fnr_ratio")),
                "enough_calls": enough,
                "marker": None if enough else FEW_CALLS,
            }
        )
    return {"grouping": grouping, "top_fraction": 0.05, "min_calls": min_calls, "rows": rows}


def champion_gate(decision: dict[str, Any] | None) -> dict[str, Any] | None:
    """The champion gate's verdict at registration, as the run recorded it (None when the
    model was not registered): whether it became champion, the one-line reason, an override."""
    if not isinstance(decision, dict) or "champion" not in decision:
        return None
    champion = bool(decision.get("champion"))
    forced = bool(decision.get("forced"))
    gate = decision.get("gate") if isinstance(decision.get("gate"), dict) else {}
    reason = str(decision.get("reason") or "")
    warning = None
    if forced:
        verdict = "Champion by an explicit override (--force-champion)"
        warning = f"This model became champion only by an explicit override: {reason}."
    elif champion:
        verdict = "Champion: it beat every baseline on the test window"
    else:
        verdict = "Not made champion"
        warning = f"This model was not made champion when it was registered: {reason}."
    return {
        "champion": champion,
        "forced": forced,
        "no_signal": bool(gate.get("no_signal")),
        "passed": bool(gate.get("passed")),
        "verdict": verdict,
        "reason": reason,
        "warning": warning,  # shown at the top of the model view when set
    }


def model_report(
    artifacts: RunArtifacts,
    name: str,
    version: str,
    run_id: str | None,
    metadata: dict[str, Any] | None = None,
    min_calls: int | None = None,
) -> dict[str, Any]:
    """Everything the model view shows, from one run's artifacts and the loaded model's metadata.

    Sections whose artifact is missing are None (the page says so) rather than an error.
    """
    summary = artifacts.summary or {}
    meta = {**(metadata or {}), **(summary.get("metadata") or {})}
    tiers = summary.get("tiers") or {}
    base_rate = _finite(tiers.get("base_rate")) or _finite(meta.get("base_rate"))
    return {
        "name": name,
        "version": version,
        "run_id": run_id,
        "trained_at": meta.get("trained_at"),
        "history_until": str(meta["history_until"])[:10] if meta.get("history_until") else None,
        "feature_hash": meta.get("feature_hash"),
        "target": meta.get("target"),
        "calibration_method": meta.get("calibration"),
        "base_rate": base_rate,
        "base_rate_percent": format_percent(base_rate) if base_rate is not None else None,
        "tiers": {
            "elevated_at": _finite(tiers.get("elevated_at")),
            "high_at": _finite(tiers.get("high_at")),
        },
        "champion": champion_gate(summary.get("champion")),
        "windows": training_window(summary) if summary else [],
        "metrics": metrics_table(summary) if summary else None,
        "decisions": decisions_summary(summary) if summary else None,
        "calibration": (
            calibration_curves(artifacts.calibration)
            if artifacts.calibration is not None
            else None
        ),
        "importance": (
            importance_bars(artifacts.importance) if artifacts.importance is not None else None
        ),
        "audit_district": (
            audit_rows(artifacts.audit, "district", min_calls)
            if artifacts.audit is not None
            else None
        ),
        "audit_call_family": (
            audit_rows(artifacts.audit, "call_family", min_calls)
            if artifacts.audit is not None
            else None
        ),
        "missing": list(artifacts.missing),
    }
