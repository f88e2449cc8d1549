"""Agency-editable precaution rules -> suggested safety measures, each tied to its reasons.

The rule file (data/precautions.yaml) is validated at start-up: a rule naming an unknown feature,
tier or operator is a clear error, not a silent no-op. Rules suggest tactics (two-officer response,
time-distance-cover, stage EMS); they never put a label on a person (wrong dispatch information
primes officers: Taylor 2020, a randomized study of 306 officers).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from risk_model import vocab
from risk_model.errors import UserError
from risk_model.features.registry import BY_NAME, FEATURE_NAMES

# The agency-editable default lives with the data, not the code: data/precautions.yaml.
DEFAULT_RULES = Path(__file__).resolve().parents[2] / "data" / "precautions.yaml"
REASON_LABELS = frozenset(FEATURE_NAMES) | {"hour"}
Op = Literal[">", ">=", "<", "<=", "==", "!=", "in"]


class FeatureTest(BaseModel):
    """A test on one feature's value, e.g. {name: prem_assaults_365d, op: ">=", value: 1}."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    op: Op = ">="
    value: Any = 1

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in BY_NAME:
            raise ValueError(f"unknown feature {v!r}")
        return v


class Condition(BaseModel):
    """One atom: exactly one of tier, decision, reason, feature."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    tier: list[vocab.Tier] | None = None
    decision: list[vocab.Decision] | None = None
    reason: list[str] | None = Field(
        None, description="fires when one of these is among the call's risk-raising reasons"
    )
    feature: FeatureTest | None = None

    @field_validator("reason", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("reason")
    @classmethod
    def _known_reasons(cls, v: list[str] | None) -> list[str] | None:
        for name in v or []:
            if name not in REASON_LABELS:
                raise ValueError(f"unknown reason feature {name!r}")
        return v

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        set_fields = [f for f in ("tier", "decision", "reason", "feature") if getattr(self, f)]
        if len(set_fields) != 1:
            raise ValueError("each condition needs exactly one of tier, decision, reason, feature")
        return self


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    text: str = Field(min_length=5)
    program: str = Field(min_length=3, description="the officer-safety program it comes from")
    any: list[Condition] = Field(default_factory=list)
    all: list[Condition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_condition(self) -> Rule:
        if not self.any and not self.all:
            raise ValueError("a rule needs 'any' or 'all' conditions")
        return self


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = 1
    rules: list[Rule]

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleFile:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate rule ids: {', '.join(dupes)}")
        return self


def load_rules(path: Path | str | None = None) -> RuleFile:
    """Reads and validates a rule file; any problem is one UserError naming the rule and key."""
    path = Path(path) if path else DEFAULT_RULES
    if not path.is_file():
        raise UserError(f"precaution rules not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"precaution rules {path} are not valid YAML: {exc}") from None
    try:
        return RuleFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            rules = (raw or {}).get("rules") or []
            rid = rules[loc[1]].get("id") if loc[1] < len(rules) else None
            where = f"rule {rid or loc[1]!r}: " + ".".join(str(p) for p in loc[2:])
        raise UserError(f"precaution rules {path}: {where}: {err['msg']}") from None


def _compare(value: Any, op: str, target: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if op == "in":
        return value in (target if isinstance(target, list) else [target])
    if isinstance(value, str) or isinstance(target, str):
        return {"==": value == target, "!=": value != target}.get(op, False)
    v, t = float(value), float(target)
    return {
        ">": v > t,
        ">=": v >= t,
        "<": v < t,
        "<=": v <= t,
        "==": v == t,
        "!=": v != t,
    }[op]


def _atom(
    cond: Condition, features: dict[str, Any], raising: Sequence[str], tier: str, decision: str
) -> list[str] | None:
    """The reasons an atom fired on, or None when it did not fire."""
    if cond.tier is not None:
        return ["risk_tier"] if tier in cond.tier else None
    if cond.decision is not None:
        return ["decision"] if decision in cond.decision else None
    if cond.reason is not None:
        hits = [r for r in cond.reason if r in raising]
        return hits or None
    assert cond.feature is not None
    f = cond.feature
    return [f.name] if _compare(features.get(f.name), f.op, f.value) else None


def evaluate_rules(
    rules: RuleFile,
    features: dict[str, Any],
    raising_reasons: Sequence[str],
    tier: str,
    decision: str,
    context: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Precautions for one call: id, text (placeholders filled from context), because, program."""
    context = context or {}
    out = []
    for rule in rules.rules:
        because: list[str] = []
        fired_any = not rule.any
        for cond in rule.any:
            hit = _atom(cond, features, raising_reasons, tier, decision)
            if hit:
                fired_any = True
                because.extend(hit)
        fired_all = True
        for cond in rule.all:
            hit = _atom(cond, features, raising_reasons, tier, decision)
            if not hit:
                fired_all = False
                break
            because.extend(hit)
        if fired_any and fired_all:
            text = rule.text
            for key, value in context.items():
                text = text.replace("{" + key + "}", value)
            out.append(
                {
                    "id": rule.id,
                    "text": text,
                    "because": list(dict.fromkeys(because)),
                    "program": rule.program,
                }
            )
    return out
