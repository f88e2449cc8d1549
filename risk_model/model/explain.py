"""SHAP contributions from the model itself, turned into reasons a dispatcher can read.

LightGBM's `pred_contrib` is exact TreeSHAP (identical to the shap package's TreeExplainer) in
log-odds of the raw model, one column per feature plus the bias. It is the main per-call cost, so
it is computed once per call and shared by the reasons and the precaution rules.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from risk_model.config import FeatureConfig
from risk_model.features.registry import BY_NAME, describe


@dataclass(frozen=True)
class Reason:
    feature: str
    value: Any
    contribution: float
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "value": self.value,
            "contribution": round(self.contribution, 4),
            "text": self.text,
        }


def display_value(name: str, value: Any) -> Any:
    """A feature value as JSON shows it: counts as ints, flags as booleans, unknown as null."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    fdef = BY_NAME[name]
    if fdef.kind == "categorical":
        return str(value)
    if fdef.kind == "flag":
        return bool(float(value) >= 0.5)
    if fdef.kind == "count":
        return round(float(value))
    return round(float(value), 4)


@functools.cache
def _groups(names: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    """Reason labels and the 0/1 matrix that sums feature columns into them (built once)."""
    labels: list[str] = []
    index: dict[str, int] = {}
    member: list[int] = []
    for name in names:
        group = BY_NAME[name].reason_group or name
        if group not in index:
            index[group] = len(labels)
            labels.append(group)
        member.append(index[group])
    matrix = np.zeros((len(names), len(labels)))
    matrix[np.arange(len(names)), member] = 1.0
    return labels, matrix


def grouped_contributions(
    contrib: np.ndarray, names: tuple[str, ...]
) -> tuple[list[str], np.ndarray]:
    """Sums columns explained together (hour_sin + hour_cos -> 'hour'); drops the bias."""
    labels, matrix = _groups(tuple(names))
    return list(labels), np.atleast_2d(contrib) @ matrix


# A reported weapon is what a dispatcher looks for first: when it raises the score by at least
# this much (log-odds), it is among the reasons even if k larger contributions crowd it out.
PINNED = ("weapon_reported", "nar_weapon")
PIN_MIN_CONTRIBUTION = 0.01
UNSEEN_CALL_TYPE = (
    "Call type {v} not seen in training (or too rare): scored with the other rare types"
)


def ranked_labels(grouped: np.ndarray, k: int) -> np.ndarray:
    """Per row, the reason labels by size of contribution (either sign; ties in label order),
    the first k + len(PINNED): all `reasons_for_row` reads, even when weapons are pinned."""
    return np.argsort(-np.abs(grouped), axis=-1, kind="stable")[..., : k + len(PINNED)]


def reasons_for_row(
    labels: list[str],
    grouped_row: np.ndarray,
    feature_row: dict[str, Any],
    k: int,
    cfg: FeatureConfig,
    known_type: bool = True,
    ranked: np.ndarray | None = None,
) -> list[Reason]:
    """The k largest contributions (by size, either sign), in words.

    A weapon flag (reported, or in the notes) that is set and raises the score is always among
    the k, in place of the smallest other contributions. A call type the model did not learn
    (`known_type` false: it was scored as the shared OTHER code) is described as such, never by
    its raw name as if that name moved the score. `ranked`: the row's labels by size, at least
    the first k + len(PINNED) (`ranked_labels` for a whole batch at once).
    """
    if ranked is None:
        ranked = ranked_labels(grouped_row, k)
    must = []
    for name in PINNED:
        if name in labels:
            j = labels.index(name)
            value = feature_row.get(name)
            if (
                value is not None
                and float(value) >= 0.5
                and grouped_row[j] >= PIN_MIN_CONTRIBUTION
            ):
                must.append(j)
    must = must[:k]
    order = must + [int(j) for j in ranked if j not in must][: k - len(must)]
    order.sort(key=lambda j: -abs(grouped_row[j]))
    out = []
    for j in order:
        label = labels[j]
        if label == "call_type" and not known_type:
            raw = feature_row.get("call_type")
            text = UNSEEN_CALL_TYPE.format(v=repr(raw) if raw is not None else "")
            out.append(Reason(label, "OTHER", float(grouped_row[j]), text.replace("  ", " ")))
            continue
        if label == "hour":
            text = describe("hour_sin", feature_row, cfg)
            value: Any = text.rsplit(" ", 1)[-1]
        else:
            text = describe(label, feature_row, cfg)
            value = display_value(label, feature_row.get(label))
        out.append(Reason(label, value, float(grouped_row[j]), text))
    return out
