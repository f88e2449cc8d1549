"""The leakage guard `train` runs before fitting (SPEC §3 "train refuses a leak").

A field written after the incident (an offence description that names the police, a use-of-force
reason pasted into the notes, an "officer down" flag) separates the outcome far better than
anything a call-taker knows. Mapped as a call-time input it trains a model that looks excellent
and is useless in service. The guard looks for that signature in every model input, on the
windows the booster would learn from, and stops the run with one line unless the analyst
overrides that input explicitly (`--allow-leak INPUT` or `leakage.allow`).

Four checks, all cheap (vector counts, no model):
- `rate_auc`: each input alone as a predictor: its per-value harmed rate learned on the train
  window (smoothed like the call_type_rate baseline), scored on the validation and calibration
  windows (held out, still before the test window). For call_type this is exactly the
  today's-practice baseline. Fires when the AUC's 95% lower bound is above `max_auc`, so a
  handful of held-out positives cannot make an honest input look like a leak.
- `category`: a value of a categorical input or flag (call_type, premise_type, source, priority,
  weapon_reported, ...) harmed in at least `min_share` of at least `min_calls` labelled calls, with
  its 95% lower bound well above the overall rate.
- `phrase`: the same for a word or two-word phrase of the narrative.
- a flag's AUC is the `rate_auc` check; its figures add the true-share among harmed and unharmed.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from risk_model.config import LeakageConfig
from risk_model.errors import UserError
from risk_model.features.registry import FEATURES

log = logging.getLogger(__name__)

PRIOR_STRENGTH = 50.0  # the call_type_rate baseline's smoothing (training/models.py)
MAX_LEVELS = 64  # numeric inputs with more distinct values are binned by quantiles
BINS = 20
Z95 = 1.959964
_GROUP_SOURCE = {
    "time": "received_at",
    "narrative": "narrative",
    "premise": "address",
    "area": "beat/district",
}
_KIND = {f.name: f.kind for f in FEATURES}


def source_column(feature: str) -> str:
    """The canonical column an input is computed from: what the analyst mapped and can fix."""
    if feature == "call_family":
        return "call_type"
    if feature == "narrative":
        return "narrative"
    group = next(f.group for f in FEATURES if f.name == feature)
    return _GROUP_SOURCE.get(group, feature)


def known_inputs() -> set[str]:
    """Names `--allow-leak` accepts: every model input and every source column."""
    names = {f.name for f in FEATURES}
    return names | {source_column(n) for n in names} | {"narrative"}


@dataclass
class Finding:
    """One input (and value) that separates the outcome like a post-incident field."""

    check: str  # rate_auc | category | phrase
    input: str
    source: str
    value: str | None = None
    auc: float | None = None
    auc_lower: float | None = None
    calls: int | None = None
    harmed: int | None = None
    share: float | None = None
    lower: float | None = None
    true_share_harmed: float | None = None
    true_share_unharmed: float | None = None
    overridden: bool = False

    def text(self, overall: float) -> str:
        """The figures in words, for the error line, the log and the model card."""
        where = f"{self.source}" + (f" (input {self.input})" if self.input != self.source else "")
        if self.check == "rate_auc":
            out = (
                f"{where} alone reaches AUC {self.auc:.3f} (95% lower bound "
                f"{self.auc_lower:.3f}) on the held-out windows before the test window"
            )
            if self.true_share_harmed is not None and self.true_share_unharmed is not None:
                out += (
                    f" (true for {self.true_share_harmed:.0%} of harmed calls vs "
                    f"{self.true_share_unharmed:.0%} of the others)"
                )
            return out
        what = "phrase" if self.check == "phrase" else "value"
        return (
            f"{where} {what} {self.value!r} is harmed in {self.harmed:,} of {self.calls:,} "
            f"labelled calls ({self.share:.0%}, 95% lower bound {self.lower:.0%}; "
            f"overall {overall:.1%})"
        )


@dataclass
class LeakageReport:
    """Everything the guard measured: logged to MLflow as leakage_check.json and on the card."""

    findings: list[Finding]
    auc: dict[str, float]
    overall_rate: float
    calls_train: int
    calls_held_out: int
    positives_held_out: int
    text_rows: int
    thresholds: dict[str, Any]
    allowed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    enabled: bool = True

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if not f.overridden]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["findings"] = [{**asdict(f), "text": f.text(self.overall_rate)} for f in self.findings]
        out["auc"] = {k: (v if np.isfinite(v) else None) for k, v in self.auc.items()}
        out["passed"] = not self.blocking
        return out

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, default=_json_default)

    def metrics(self) -> dict[str, float]:
        """A few MLflow metrics: the largest single-input AUC and the finding counts."""
        out: dict[str, float] = {
            "leakage_findings": float(len(self.findings)),
            "leakage_overridden": float(sum(f.overridden for f in self.findings)),
        }
        finite = {k: v for k, v in self.auc.items() if np.isfinite(v)}
        if finite:
            out["leakage_max_input_auc"] = float(max(finite.values()))
        if np.isfinite(self.auc.get("call_type", float("nan"))):
            out["leakage_call_type_auc"] = float(self.auc["call_type"])
        return out

    def error_line(self) -> str:
        """One line: the worst finding with its figures, the others named, and the override."""
        worst = self.blocking
        first = worst[0]
        others = [f for f in worst[1:] if f.source != first.source]
        more = sorted({f.source for f in others})
        sources = [first.source, *more]
        allow = " ".join(f"--allow-leak {s}" for s in sources)
        keys = ", ".join(sources)
        detail = next(
            (f for f in worst[1:] if f.source == first.source and f.check != first.check), None
        )
        figures = first.text(self.overall_rate)
        if detail is not None:
            figures += f"; {detail.text(self.overall_rate)}"
        line = (
            f"leakage guard: {figures}; a fact known when the call comes in does not separate "
            f"the outcome this well (limits: AUC lower bound {self.thresholds['max_auc']}, "
            f"harmed share {self.thresholds['min_share']:.0%} over "
            f"{self.thresholds['min_calls']} calls), so {first.source} looks post-incident"
        )
        if more:
            line += f" (also flagged: {', '.join(more)})"
        return (
            f"{line}. Map a call-time column instead, or if it truly is known at call time rerun "
            f"with {allow} (or leakage.allow: [{keys}] in the settings YAML given to --config)"
        )


def wilson_lower(harmed: np.ndarray, calls: np.ndarray, z: float = Z95) -> np.ndarray:
    """95% Wilson lower bound of a share: small counts cannot pass as certainty."""
    n = np.maximum(np.asarray(calls, dtype=float), 1.0)
    p = np.asarray(harmed, dtype=float) / n
    denom = 1 + z * z / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / denom


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, -1 for missing; the distinct values), by hashing: no sort of every row."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniques)


def _levels(values: np.ndarray, codes: np.ndarray, uniques: np.ndarray) -> np.ndarray:
    """Integer level per row: categories as they are, numbers by value or quantile bin, missing
    as a level of its own (unknown is information too)."""
    if values.dtype != object and len(uniques) > MAX_LEVELS:
        present = codes >= 0
        edges = np.unique(np.quantile(values[present], np.linspace(0, 1, BINS + 1)[1:-1]))
        codes = np.where(present, np.searchsorted(edges, values, side="right"), -1)
    return np.where(codes < 0, codes.max(initial=0) + 1, codes)


def auc_lower(auc: float, positives: int, negatives: int, z: float = Z95) -> float:
    """95% lower bound of an AUC (Hanley & McNeil 1982): with a handful of positives in the
    held-out windows an honest input can reach a high AUC by chance; a leak stays high."""
    if not np.isfinite(auc) or positives < 1 or negatives < 1:
        return float("nan")
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    return float(auc - z * math.sqrt(max(var, 0.0)))


def _rate_auc(levels: np.ndarray, y: np.ndarray, train: np.ndarray, valid: np.ndarray) -> float:
    """AUC on the held-out windows of the per-level harmed rate learned on train (smoothed)."""
    yv = y[valid]
    if not 0 < yv.sum() < len(yv) or not train.any():
        return float("nan")
    size = int(levels.max(initial=0)) + 1
    lt = levels[train]
    count = np.bincount(lt, minlength=size).astype(float)
    pos = np.bincount(lt, weights=y[train], minlength=size)
    overall = float(y[train].mean())
    rate = (pos + PRIOR_STRENGTH * overall) / (count + PRIOR_STRENGTH)
    return _grouped_auc(rate, levels[valid], yv)


def _grouped_auc(score: np.ndarray, levels: np.ndarray, y: np.ndarray) -> float:
    """AUC of `score[levels]` against y, from counts per distinct score (ties count half):
    the same number as sklearn's roc_auc_score, without sorting every call."""
    size = len(score)
    pos = np.bincount(levels, weights=y, minlength=size)
    neg = np.bincount(levels, minlength=size) - pos
    values, inverse = np.unique(score, return_inverse=True)
    p = np.bincount(inverse, weights=pos, minlength=len(values))
    n = np.bincount(inverse, weights=neg, minlength=len(values))
    below = np.cumsum(n) - n
    total_p, total_n = p.sum(), n.sum()
    return float(np.sum(p * (below + 0.5 * n)) / (total_p * total_n))


def _shares(
    keys: np.ndarray, y: np.ndarray, labels: np.ndarray, cfg: LeakageConfig, overall: float
) -> list[tuple[str, int, int, float, float]]:
    """(value, calls, harmed, share, lower bound) of the values that pass the category test."""
    size = len(labels)
    count = np.bincount(keys, minlength=size)
    harmed = np.bincount(keys, weights=y, minlength=size)
    ok = count >= cfg.min_calls
    if not ok.any():
        return []
    share = np.where(ok, harmed / np.maximum(count, 1), 0.0)
    lower = wilson_lower(harmed, count)
    need = overall + cfg.min_lift * (1 - overall)
    hit = np.flatnonzero(ok & (share >= cfg.min_share) & (lower >= need))
    hit = hit[np.argsort(-lower[hit], kind="stable")]
    return [
        (str(labels[i]), int(count[i]), int(harmed[i]), float(share[i]), float(lower[i]))
        for i in hit
    ]


def _category_findings(
    name: str,
    values: np.ndarray,
    codes: np.ndarray,
    uniques: np.ndarray,
    y: np.ndarray,
    cfg: LeakageConfig,
    overall: float,
) -> list[Finding]:
    if values.dtype == object:
        labels = uniques.astype(object)
    elif len(uniques) > MAX_LEVELS:
        return []
    elif _KIND.get(name) == "flag":
        labels = np.array(["false" if u == 0 else "true" for u in uniques], dtype=object)
    else:
        labels = np.array([f"{u:g}" for u in uniques], dtype=object)
    keep = codes >= 0
    if not keep.any():
        return []
    hits = _shares(codes[keep], y[keep], labels, cfg, overall)
    return [
        Finding("category", name, source_column(name), v, calls=n, harmed=k, share=s, lower=lo)
        for v, n, k, s, lo in hits[:3]
    ]


def _phrase_findings(
    narrative: Any, y: np.ndarray, cfg: LeakageConfig, overall: float
) -> list[Finding]:
    """Words and two-word phrases of the narrative, counted once per call."""
    arr = pa.array(narrative, type=pa.large_string(), from_pandas=True)
    tokens = pc.split_pattern_regex(pc.utf8_upper(pc.fill_null(arr, "")), r"[^A-Z0-9]+")
    parents = np.asarray(pc.list_parent_indices(tokens))
    flat = pc.list_flatten(tokens)
    if len(flat) == 0:
        return []
    same = parents[1:] == parents[:-1]
    pairs = pc.binary_join_element_wise(flat[:-1], flat[1:], pa.scalar(" ", pa.large_string()))
    words = pa.concat_arrays([flat, pairs.filter(pa.array(same))])
    rows = np.concatenate([parents, parents[:-1][same]])
    lengths = np.asarray(pc.utf8_length(words))
    long_enough = lengths >= 2
    enc = pc.dictionary_encode(words.filter(pa.array(long_enough)))
    idx = np.asarray(enc.indices, dtype=np.int64)
    labels = np.asarray(enc.dictionary.to_pylist(), dtype=object)
    rows = rows[long_enough]
    if len(idx) == 0:  # no narrative has a word of two letters (an export without remarks)
        return []
    pair_key = np.sort(rows.astype(np.int64) * len(labels) + idx)
    pair_key = pair_key[np.r_[True, pair_key[1:] != pair_key[:-1]]]  # once per call
    keys = pair_key % len(labels)
    hits = _shares(keys, y[pair_key // len(labels)], labels, cfg, overall)
    # A phrase whose own words already fire says nothing new: keep the shortest forms.
    kept: list[tuple[str, int, int, float, float]] = []
    fired = {h[0] for h in hits}
    for h in hits:
        parts = h[0].split(" ")
        if len(parts) == 2 and (parts[0] in fired or parts[1] in fired):
            continue
        kept.append(h)
    return [
        Finding("phrase", "narrative", "narrative", v, calls=n, harmed=k, share=s, lower=lo)
        for v, n, k, s, lo in kept[:3]
    ]


def check_leakage(
    feats: pd.DataFrame,
    narrative: Any,
    y: np.ndarray,
    window: np.ndarray,
    cfg: LeakageConfig,
    seed: int = 0,
) -> LeakageReport:
    """Measures every input on the windows before the test window; never raises (see `enforce`).

    `feats` is the frame `build_features` returns, `narrative` the calls' narrative column (or
    None), `y` the 1/0/NaN labels and `window` the window name per row.
    """
    t0 = time.perf_counter()
    labelled = ~np.isnan(y)
    train = (window == "train") & labelled
    # Validation and calibration: held out from the rates, still before the test window. Both
    # together hold more positives than validation alone, so honest inputs score less noisily.
    valid = np.isin(window, ("validation", "calibration")) & labelled
    seen = train | valid
    y0 = np.where(labelled, y, 0.0)
    overall = float(y0[seen].mean()) if seen.any() else float("nan")
    thresholds = {
        "max_auc": cfg.max_auc,
        "min_share": cfg.min_share,
        "min_calls": cfg.min_calls,
        "min_lift": cfg.min_lift,
    }
    report = LeakageReport(
        [],
        {},
        overall,
        int(train.sum()),
        int(valid.sum()),
        int(np.nansum(y[valid])),
        0,
        thresholds,
        sorted(cfg.allow),
        enabled=cfg.enabled,
    )
    if not cfg.enabled or not seen.any():
        return report
    findings: list[Finding] = []
    positives = report.positives_held_out
    sub = np.flatnonzero(seen)
    ys = y0[sub]
    is_train = train[sub]
    is_valid = valid[sub]
    for f in FEATURES:
        if f.name not in feats.columns:
            continue
        values = feats[f.name].to_numpy()[sub]
        if values.dtype != object:
            values = values.astype("float64")
        codes, uniques = _factorize(values)
        auc = _rate_auc(_levels(values, codes, uniques), ys, is_train, is_valid)
        report.auc[f.name] = auc
        low = auc_lower(auc, report.positives_held_out, report.calls_held_out - positives)
        if np.isfinite(low) and low > cfg.max_auc:
            finding = Finding("rate_auc", f.name, source_column(f.name), auc=auc, auc_lower=low)
            if f.kind == "flag":
                v, yv = values[is_valid], ys[is_valid]
                finding.true_share_harmed = float(np.mean(v[yv == 1] == 1))
                finding.true_share_unharmed = float(np.mean(v[yv == 0] == 1))
            findings.append(finding)
        if f.kind in ("categorical", "flag") or f.name == "priority":
            findings += _category_findings(f.name, values, codes, uniques, ys, cfg, overall)
    if narrative is not None:
        text_rows = sub
        if len(sub) > cfg.max_text_rows:
            rng = np.random.default_rng(seed)
            text_rows = np.sort(rng.choice(sub, cfg.max_text_rows, replace=False))
        report.text_rows = len(text_rows)
        texts = np.asarray(narrative, dtype=object)[text_rows]
        findings += _phrase_findings(texts, y0[text_rows], cfg, overall)
    allowed = set(cfg.allow)
    for finding in findings:
        finding.overridden = finding.input in allowed or finding.source in allowed
    order = {"rate_auc": 0, "category": 1, "phrase": 1}
    findings.sort(key=lambda f: (f.overridden, order[f.check], -(f.auc or f.lower or 0)))
    report.findings = findings
    report.seconds = round(time.perf_counter() - t0, 2)
    return report


def validate_allow(allow: tuple[str, ...] | list[str]) -> None:
    """An override must name a real input, or a typo would silently allow nothing."""
    known = known_inputs()
    for name in allow:
        if name not in known:
            raise UserError(
                f"--allow-leak / leakage.allow: {name!r} is not a model input or source column; "
                f"use one of: {', '.join(sorted(known))}"
            )


def enforce(report: LeakageReport) -> None:
    """Logs the figures; stops the run with one line when a finding is not overridden."""
    for f in report.findings:
        level = logging.WARNING if f.overridden else logging.ERROR
        note = " (allowed by override)" if f.overridden else ""
        log.log(level, "leakage guard: %s%s", f.text(report.overall_rate), note)
    log.info(
        "leakage guard: %d inputs checked in %.2fs, largest single-input AUC %.3f",
        len(report.auc),
        report.seconds,
        report.metrics().get("leakage_max_input_auc", float("nan")),
    )
    if report.blocking:
        raise UserError(report.error_line())
    if report.enabled and report.auc and not any(np.isfinite(v) for v in report.auc.values()):
        # A guard that measured nothing has not passed: say so instead of logging AUC nan.
        raise UserError(
            f"leakage guard: no input could be measured (the validation and calibration "
            f"windows hold {report.positives_held_out:,} positives among "
            f"{report.calls_held_out:,} labelled calls; the guard needs both outcomes there): "
            "check the outcome mapping or widen the windows"
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)
