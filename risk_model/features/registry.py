"""The feature registry: every model feature's name, meaning, unit and words for a dispatcher.

Explanations and precaution rules read this, never column names alone. The order of FEATURES is
the column order of the model matrix. `definitions_hash` fingerprints the registry, the history
aggregates, the feature settings and the feature code; it is logged with every model.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from risk_model.config import FeatureConfig
from risk_model.features.history import HISTORY_AGGS

Kind = Literal["categorical", "numeric", "flag", "count"]


@dataclass(frozen=True)
class FeatureDef:
    """One model feature.

    Templates: `text` formats a present value (`{v}` raw, `{n}` whole number, `{s}` plural "s");
    `one`/`zero` override `text` for counts of 1 and 0; `true`/`false` for flags; `unknown` when
    the value is missing. `monotone` = +1 means more of it never lowers the score.
    """

    name: str
    group: Literal["call", "time", "flags", "narrative", "premise", "area"]
    kind: Kind
    description: str
    unit: str
    text: str = ""
    one: str | None = None
    zero: str | None = None
    true: str | None = None
    false: str | None = None
    unknown: str = ""
    monotone: int = 0
    reason_group: str | None = None  # features explained together (hour_sin + hour_cos)
    extra: dict[str, Any] = field(default_factory=dict)


F = FeatureDef
_NOPREM = "No address or location: premise history not available"
# Time-of-day features of a call known only to a day or shift band: unknown, never a guessed time.
_NOCLOCK = "Time of day unknown: only the day or shift of the call is recorded"
HOUR_UNKNOWN = "Time of day: unknown"

FEATURES: tuple[FeatureDef, ...] = (
    F(
        "call_type",
        "call",
        "categorical",
        "Initial call type as coded at call-taking (normalised)",
        "category",
        text="Call type: {v}",
        unknown="Call type not recognised",
    ),
    F(
        "call_family",
        "call",
        "categorical",
        "Family of the call type (disturbance, domestic, ...)",
        "category",
        text="Type of call: {v}",
        unknown="Call type family unknown",
    ),
    F(
        "priority",
        "call",
        "numeric",
        "Dispatch priority (1 = most urgent)",
        "level",
        text="Dispatch priority {n}",
        unknown="Priority not given",
    ),
    F(
        "source",
        "call",
        "categorical",
        "How the call arrived (911, officer-initiated, ...)",
        "category",
        text="Call came in via {v}",
        unknown="How the call came in is not recorded",
    ),
    F(
        "premise_type",
        "call",
        "categorical",
        "Kind of place (residence, bar, street, ...)",
        "category",
        text="Location type: {v}",
        unknown="Location type not recorded",
    ),
    F(
        "hour_sin",
        "time",
        "numeric",
        "Time of day, cyclical (sine part)",
        "",
        text="{hour}",
        unknown=_NOCLOCK,
        reason_group="hour",
    ),
    F(
        "hour_cos",
        "time",
        "numeric",
        "Time of day, cyclical (cosine part)",
        "",
        text="{hour}",
        unknown=_NOCLOCK,
        reason_group="hour",
    ),
    F(
        "weekday",
        "time",
        "numeric",
        "Day of the week (Monday = 0)",
        "day",
        text="Day of week: {weekday}",
        unknown="Day of week unknown: the call's time spans two days",
    ),
    F(
        "is_night",
        "time",
        "flag",
        "Call received 22:00-05:59",
        "flag",
        true="Night-time call (22:00-06:00)",
        false="Daytime call",
        unknown=_NOCLOCK,
    ),
    F(
        "weapon_reported",
        "flags",
        "flag",
        "Caller reported a weapon",
        "flag",
        true="Caller reported a weapon",
        false="Caller reported no weapon",
        unknown="Not known whether a weapon is involved",
        monotone=1,
    ),
    F(
        "domestic",
        "flags",
        "flag",
        "Caller reported a domestic situation",
        "flag",
        true="Caller reported a domestic situation",
        false="Not reported as domestic",
        unknown="Not known whether domestic",
    ),
    F(
        "mental_health",
        "flags",
        "flag",
        "Caller reported a mental-health crisis",
        "flag",
        true="Caller reported a mental-health crisis",
        false="No mental-health crisis reported",
        unknown="Not known whether a mental-health crisis is involved",
    ),
    F(
        "intoxication",
        "flags",
        "flag",
        "Caller reported intoxication",
        "flag",
        true="Caller reported intoxication",
        false="No intoxication reported",
        unknown="Not known whether anyone is intoxicated",
    ),
    F(
        "in_progress",
        "flags",
        "flag",
        "Caller reported the incident in progress",
        "flag",
        true="Incident reported in progress",
        false="Incident not in progress",
        unknown="Not known whether in progress",
    ),
    F(
        "nar_weapon",
        "narrative",
        "flag",
        "Call notes mention a weapon (not negated)",
        "flag",
        true="Call notes mention a weapon",
        false="Call notes mention no weapon",
        unknown="No call notes",
        monotone=1,
    ),
    F(
        "nar_threat",
        "narrative",
        "flag",
        "Call notes mention threats",
        "flag",
        true="Call notes mention threats",
        false="Call notes mention no threats",
        unknown="No call notes",
        monotone=1,
    ),
    F(
        "nar_violence",
        "narrative",
        "flag",
        "Call notes mention physical violence",
        "flag",
        true="Call notes mention physical violence",
        false="Call notes mention no violence",
        unknown="No call notes",
        monotone=1,
    ),
    F(
        "nar_mental_health",
        "narrative",
        "flag",
        "Call notes mention a mental-health crisis",
        "flag",
        true="Call notes mention a mental-health crisis",
        false="Call notes mention no mental-health crisis",
        unknown="No call notes",
    ),
    F(
        "nar_suicide",
        "narrative",
        "flag",
        "Call notes mention suicide risk",
        "flag",
        true="Call notes mention suicide risk",
        false="Call notes mention no suicide risk",
        unknown="No call notes",
    ),
    F(
        "nar_intoxication",
        "narrative",
        "flag",
        "Call notes mention alcohol or drugs",
        "flag",
        true="Call notes mention alcohol or drugs",
        false="Call notes mention no intoxication",
        unknown="No call notes",
    ),
    F(
        "nar_children",
        "narrative",
        "flag",
        "Call notes mention children present",
        "flag",
        true="Call notes mention children present",
        false="Call notes mention no children",
        unknown="No call notes",
    ),
    F(
        "prem_calls_7d",
        "premise",
        "count",
        "Earlier calls to this address, past 7 days",
        "calls",
        text="{n} earlier call{s} to this address in the past 7 days",
        zero="No other calls to this address in the past 7 days",
        unknown=_NOPREM,
    ),
    F(
        "prem_calls_30d",
        "premise",
        "count",
        "Earlier calls to this address, past 30 days",
        "calls",
        text="{n} earlier call{s} to this address in the past 30 days",
        zero="No other calls to this address in the past 30 days",
        unknown=_NOPREM,
    ),
    F(
        "prem_calls_365d",
        "premise",
        "count",
        "Earlier calls to this address, past year",
        "calls",
        text="{n} earlier call{s} to this address in the past year",
        zero="No other calls to this address in the past year",
        unknown=_NOPREM,
    ),
    F(
        "prem_violent_near",
        "premise",
        "count",
        "Earlier violent or disturbance calls at this address, near-repeat window",
        "calls",
        text="{n} violent or disturbance call{s} here in the past {near_repeat_days} days",
        zero="No violent or disturbance calls here in the past {near_repeat_days} days",
        unknown=_NOPREM,
    ),
    F(
        "prem_violent_365d",
        "premise",
        "count",
        "Earlier violent or disturbance calls at this address, past year",
        "calls",
        text="{n} violent or disturbance call{s} at this address in the past year",
        zero="No violent or disturbance calls at this address in the past year",
        unknown=_NOPREM,
    ),
    F(
        "prem_weapon_365d",
        "premise",
        "count",
        "Earlier weapon calls at this address, past year",
        "calls",
        text="{n} call{s} involving a weapon at this address in the past year",
        zero="No calls involving a weapon at this address in the past year",
        unknown=_NOPREM,
    ),
    F(
        "prem_assaults_365d",
        "premise",
        "count",
        "Assaults on officers at this address, past year",
        "assaults",
        text="{n} assaults on officers at this address in the past year",
        one="1 assault on an officer at this address in the past year",
        zero="No assaults on officers at this address in the past year",
        unknown=_NOPREM,
        monotone=1,
    ),
    F(
        "prem_assaults_all",
        "premise",
        "count",
        "Assaults on officers at this address within the premise-history horizon",
        "assaults",
        text="{n} assaults on officers at this address on record",
        one="1 assault on an officer at this address on record",
        zero="No assaults on officers at this address on record",
        unknown=_NOPREM,
        monotone=1,
    ),
    F(
        "prem_injuries_365d",
        "premise",
        "count",
        "Officers injured at this address, past year",
        "injuries",
        text="{n} officer injuries at this address in the past year",
        one="1 officer injured at this address in the past year",
        zero="No officers injured at this address in the past year",
        unknown=_NOPREM,
        monotone=1,
    ),
    F(
        "prem_injuries_all",
        "premise",
        "count",
        "Officers injured at this address within the premise-history horizon",
        "injuries",
        text="{n} officer injuries at this address on record",
        one="1 officer injured at this address on record",
        zero="No officers injured at this address on record",
        unknown=_NOPREM,
        monotone=1,
    ),
    F(
        "prem_days_since_violent",
        "premise",
        "numeric",
        "Days since the last violent or disturbance call at this address",
        "days",
        text="Last violent or disturbance call at this address {n} day{s} ago",
        unknown="No violent or disturbance call at this address on record",
    ),
    F(
        "prem_near_repeat",
        "premise",
        "flag",
        "A violent or disturbance call at this address within the near-repeat window",
        "flag",
        true="Violent or disturbance call at this address in the past {near_repeat_days} days",
        false="No violent or disturbance call here in the past {near_repeat_days} days",
        unknown=_NOPREM,
    ),
    F(
        "prem_violent_share_365d",
        "premise",
        "numeric",
        "Share of earlier calls to this address in the past year: violent or disturbances",
        "share",
        text="{pct} of earlier calls here in the past year were violent or disturbances",
        unknown="No earlier calls to this address in the past year",
    ),
    F(
        "prem_weapon_share_365d",
        "premise",
        "numeric",
        "Share of the earlier calls to this address in the past year involving a weapon",
        "share",
        text="{pct} of earlier calls to this address in the past year involved a weapon",
        unknown="No earlier calls to this address in the past year",
    ),
    F(
        "prem_assault_rate_365d",
        "premise",
        "numeric",
        "Assaults on officers per 1,000 earlier calls to this address, past year",
        "per 1,000 calls",
        text="{v:.0f} assaults on officers per 1,000 earlier calls here in the past year",
        unknown="No earlier calls to this address in the past year",
        monotone=1,
    ),
    F(
        "beat_calls_30d",
        "area",
        "count",
        "Calls in this beat over the previous 30 days",
        "calls",
        text="{n} call{s} in this beat in the past 30 days",
        unknown="Beat not recorded",
    ),
    F(
        "beat_violent_share_30d",
        "area",
        "numeric",
        "Share of this beat's calls that were violent or disturbances, previous 30 days",
        "share",
        text="{pct} of calls in this beat in the past 30 days were violent or disturbances",
        unknown="No recent calls recorded in this beat",
    ),
    F(
        "beat_assault_rate_365d",
        "area",
        "numeric",
        "Assaults on officers per 1,000 calls in this beat, previous year",
        "per 1,000 calls",
        text="{v:.1f} assaults on officers per 1,000 calls in this beat in the past year",
        unknown="No calls recorded in this beat in the past year",
        monotone=1,
    ),
    F(
        "district_violent_share_30d",
        "area",
        "numeric",
        "Share of this district's calls that were violent or disturbances, previous 30 days",
        "share",
        text="{pct} of calls in this district in the past 30 days were violent or disturbances",
        unknown="No recent calls recorded in this district",
    ),
    F(
        "district_assault_rate_365d",
        "area",
        "numeric",
        "Assaults on officers per 1,000 calls in this district, previous year",
        "per 1,000 calls",
        text="{v:.1f} assaults on officers per 1,000 calls in this district in the past year",
        unknown="No calls recorded in this district in the past year",
        monotone=1,
    ),
)
del F

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
CATEGORICAL: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "categorical")
BY_NAME: dict[str, FeatureDef] = {f.name: f for f in FEATURES}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return False
    try:
        return math.isnan(value)  # float, numpy float32/float64
    except (TypeError, ValueError):
        return False


def describe(name: str, row: dict[str, Any], cfg: FeatureConfig | None = None) -> str:
    """A feature's value for one call in words, e.g. '2 assaults on officers at this address...'.

    `row` holds the call's feature values by name (the hour reason reads hour_sin and hour_cos).
    """
    fdef = BY_NAME[name]
    cfg = cfg or FeatureConfig()
    value = row.get(name)
    ctx: dict[str, Any] = {"near_repeat_days": cfg.near_repeat_days}
    if fdef.reason_group == "hour":
        if _is_missing(row.get("hour_sin")) or _is_missing(row.get("hour_cos")):
            return HOUR_UNKNOWN  # known only to a day or shift band: no clock time to show
        angle = math.atan2(float(row["hour_sin"]), float(row["hour_cos"]))
        minutes = round((angle % (2 * math.pi)) / (2 * math.pi) * 1440) % 1440
        return f"Time of day: {minutes // 60:02d}:{minutes % 60:02d}"
    if _is_missing(value):
        return fdef.unknown.format(**ctx) or f"{fdef.description}: unknown"
    if fdef.kind == "flag":
        template = fdef.true if float(value) >= 0.5 else fdef.false
        return (template or fdef.description).format(**ctx)
    if fdef.kind == "categorical":
        return fdef.text.format(v=str(value).replace("_", " "), **ctx)
    num = float(value)
    whole = round(num)
    if fdef.kind == "count" and whole == 0 and fdef.zero:
        return fdef.zero.format(**ctx)
    if fdef.kind == "count" and whole == 1 and fdef.one:
        return fdef.one.format(**ctx)
    if name == "weekday":
        return fdef.text.format(weekday=WEEKDAYS[int(whole) % 7])
    return fdef.text.format(
        v=num, n=f"{whole:,}", s="" if whole == 1 else "s", pct=f"{num:.0%}", **ctx
    )


def monotone_constraints(names: tuple[str, ...] = FEATURE_NAMES) -> list[int]:
    return [BY_NAME[n].monotone for n in names]


def definitions_hash(cfg: FeatureConfig) -> str:
    """Fingerprint of what the features mean: registry, history aggregates, settings and code."""
    h = hashlib.sha256()
    h.update(json.dumps([asdict(f) for f in FEATURES], sort_keys=True, default=str).encode())
    h.update(json.dumps([asdict(a) for a in HISTORY_AGGS], sort_keys=True).encode())
    h.update(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode())
    here = Path(__file__).resolve().parent
    for path in sorted(here.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
