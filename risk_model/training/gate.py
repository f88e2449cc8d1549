"""The champion gate: `train --register` makes a model champion only when it beats every
baseline on the test window by more than chance (SPEC §3, "The champion gate").

A point estimate is not enough: on real records a model at AUC 0.526 lost to both baselines
(0.549, 0.551) and still became champion, and `serve` loads the champion. Here every baseline is
measured on the same resampled test calls as the model (a paired bootstrap, training/evaluate.py),
and the interval of the AUC difference must lie above zero. A model whose own AUC interval
reaches 0.5 has no signal and says so plainly, whatever the baselines do. Then the registry:
`decide_champion` adds the current champion's comparison and the override, `register_version`
acts on the decision.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from risk_model.config import ChampionConfig, Settings
from risk_model.training.evaluate import core_metrics, paired_auc_bootstrap, percentile_interval

log = logging.getLogger(__name__)

# Scores in the evaluation that are not competitors: the model itself and the simulator's
# oracle (a ceiling no model can pass, present only on simulated data).
NOT_BASELINES = ("model", "oracle")


@dataclass(frozen=True)
class GateVerdict:
    """What the gate measured and decided; `reason` is the one line the run reports."""

    passed: bool
    no_signal: bool
    reason: str
    rule: str
    level: float
    reps: int
    model_auc: float
    model_auc_ci: list[float]
    baselines: dict[str, dict[str, Any]]  # name -> auc, difference, ci, beaten

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def champion_gate(
    scores: Mapping[str, np.ndarray], y: np.ndarray, cfg: ChampionConfig, seed: int = 0
) -> GateVerdict:
    """Judges the model's test-window scores against every baseline's on the same calls."""
    y = np.asarray(y, dtype=float)
    names = [n for n in scores if n not in NOT_BASELINES]
    competing = {"model": scores["model"], **{n: scores[n] for n in names}}
    reps = paired_auc_bootstrap(competing, y, cfg.reps, seed=seed)
    both = 0 < y.sum() < len(y)
    point = {
        name: float(roc_auc_score(y, s)) if both else float("nan") for name, s in competing.items()
    }
    model_ci = percentile_interval(reps["model"], cfg.level)
    no_signal = not model_ci or not np.isfinite(point["model"]) or model_ci[0] <= 0.5
    baselines: dict[str, dict[str, Any]] = {}
    for name in names:
        diff = reps["model"] - reps[name]
        ci = percentile_interval(diff, cfg.level)
        difference = point["model"] - point[name]
        if cfg.rule == "paired_bootstrap":
            beaten = bool(ci) and ci[0] > 0
        else:
            beaten = bool(np.isfinite(difference) and difference > 0)
        baselines[name] = {
            "auc": point[name],
            "difference": difference,
            "ci": ci,
            "beaten": beaten,
        }
    passed = not no_signal and all(b["beaten"] for b in baselines.values())
    level = f"{cfg.level:.0%}"
    if no_signal:
        lo, hi = (model_ci or [float("nan"), float("nan")])[:2]
        where = "lies below" if hi < 0.5 else "includes"
        reason = (
            f"no signal: the model's test AUC is {point['model']:.3f} and its {level} interval "
            f"({lo:.3f} to {hi:.3f}) {where} 0.5, what a coin toss scores"
        )
    else:
        shown = baselines if passed else {k: v for k, v in baselines.items() if not v["beaten"]}
        parts = "; ".join(
            f"{name} {b['auc']:.3f} (difference {b['difference']:+.3f}, {level} interval "
            + (f"{b['ci'][0]:+.3f} to {b['ci'][1]:+.3f})" if b["ci"] else "n/a)")
            for name, b in shown.items()
        )
        head = "beats every baseline" if passed else "does not beat every baseline"
        rule = "" if cfg.rule == "paired_bootstrap" else " by point estimate"
        reason = f"{head}{rule} on the test window: AUC {point['model']:.3f} vs {parts}"
    return GateVerdict(
        passed=passed,
        no_signal=no_signal,
        reason=reason,
        rule=cfg.rule,
        level=cfg.level,
        reps=cfg.reps,
        model_auc=point["model"],
        model_auc_ci=model_ci,
        baselines=baselines,
    )


# --------------------------------------------------------------------------- the registry


def decide_champion(
    name: str,
    scores: dict[str, np.ndarray],
    feats: pd.DataFrame,
    y: np.ndarray,
    test_mask: np.ndarray,
    results: dict[str, Any],
    settings: Settings,
    force: bool = False,
) -> dict[str, Any]:
    """Whether the new version takes the alias `champion`, and why, in one line: decided before
    logging so the model card and the run summary (the review page reads it) say the same.

    The champion gate (training/gate.py) first: the model must beat every baseline on the test
    window by a paired bootstrap interval (or the rule in `champion:`). Then the current
    champion, re-scored on the same test window, must lose (higher AUC; PR-AUC breaks a tie).
    `force` (`--force-champion`) sets the alias whatever the two say, and the reason says so.
    """
    from risk_model.model import tracking

    yt = y[test_mask]
    gate = champion_gate(scores, yt, settings.champion, seed=settings.model.seed)
    out: dict[str, Any] = {"gate": gate.as_dict()}
    tracking.configure()
    current = tracking.champion_version(name)
    beats_current = True
    if current is not None:
        champ, _ = tracking.load_model(f"models:/{name}/{current.version}")
        old = core_metrics(champ.assess(feats[test_mask], explain=False).risk_score, yt)
        new = results["model"]
        beats_current = (new["auc"], new["pr_auc"]) > (old["auc"], old["pr_auc"])
        out.update(
            previous_champion=str(current.version),
            champion_auc_same_window=old["auc"],
            challenger_auc=new["auc"],
        )
    if not gate.passed:
        reason = gate.reason
    elif not beats_current:
        reason = (
            f"{gate.reason}, but does not beat the current champion (version "
            f"{out['previous_champion']}, AUC {out['champion_auc_same_window']:.3f} on the same "
            "test window)"
        )
    elif current is not None:
        reason = f"{gate.reason}, and the current champion (version {current.version})"
    else:
        reason = gate.reason
    champion = gate.passed and beats_current
    if force and not champion:
        reason = f"forced by --force-champion although: {reason}"
    # `forced`: the override made the difference (a model that earned the alias was not forced).
    out.update(champion=champion or force, forced=force and not champion, reason=reason)
    return out


def register_version(
    name: str, model_uri: str, run_id: str, decision: dict[str, Any]
) -> dict[str, Any]:
    """Registers the logged model as a new version; sets the alias `champion` only when
    `decide_champion` said so. The reason is tagged on the version and logged in one line."""
    import mlflow
    from mlflow import MlflowClient

    from risk_model.model import tracking

    client = MlflowClient()
    mv = mlflow.register_model(model_uri, name)
    out: dict[str, Any] = {
        "name": name,
        "version": str(mv.version),
        **decision,
    }
    if decision["champion"]:
        client.set_registered_model_alias(name, tracking.CHAMPION, mv.version)
    client.set_model_version_tag(name, mv.version, "run_id", run_id)
    client.set_model_version_tag(name, mv.version, "champion_reason", decision["reason"][:4000])
    if decision["champion"]:
        log.info("registry: %s version %s is champion: %s", name, mv.version, decision["reason"])
    else:
        log.warning(
            "registry: %s version %s registered without the champion alias: %s",
            name,
            mv.version,
            decision["reason"],
        )
    return out
