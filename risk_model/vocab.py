"""Every word the project's parts exchange, declared once.

The model bundle, the service, the review page (which takes its labels from the server), the
audit log and the training run all import these instead of spelling the words by hand, so a
renamed tier or a new warning code changes one line here. Imports nothing of the project: every
stage may import it without running back up the flow.
"""

from __future__ import annotations

from typing import Final, Literal

# ----------------------------------------------------------------------------- tiers
Tier = Literal["low", "elevated", "high"]
TIERS: Final[tuple[Tier, ...]] = ("low", "elevated", "high")
TIER_LABELS: Final[dict[str, str]] = {"low": "Low", "elevated": "Elevated", "high": "High"}

# ----------------------------------------------------------------------------- decisions
Decision = Literal["high", "low", "cant_tell"]
DECISIONS: Final[tuple[Decision, ...]] = ("high", "low", "cant_tell")
DECISION_LABELS: Final[dict[str, str]] = {"high": "High", "low": "Low", "cant_tell": "Can't tell"}

# ----------------------------------------------------------------------------- warnings
# Each warning is a text that starts with its code and a colon (SPEC §4).
CANT_TELL: Final = "cant_tell"
UNKNOWN_CALL_TYPE: Final = "unknown_call_type"
NO_PREMISE_HISTORY: Final = "no_premise_history"
NO_AREA_HISTORY: Final = "no_area_history"
OUTSIDE_TRAINING_PERIOD: Final = "outside_training_period"
UNSEEN_AREA: Final = "unseen_area"
NO_OUTCOME_HISTORY: Final = "no_outcome_history"
SYNTHETIC_MODEL: Final = "synthetic_model"
# From the EIDO reader (risk_model/ingest/eido.py): a part of a NENA EIDO document it could not
# read (the call is scored without it), and a caution it carries that is not a model input.
EIDO_UNREAD: Final = "eido_unread"
EIDO_CAUTION: Final = "eido_caution"
WARNING_CODES: Final[tuple[str, ...]] = (
    SYNTHETIC_MODEL,
    OUTSIDE_TRAINING_PERIOD,
    UNSEEN_AREA,
    UNKNOWN_CALL_TYPE,
    NO_OUTCOME_HISTORY,
    NO_PREMISE_HISTORY,
    NO_AREA_HISTORY,
    CANT_TELL,
    EIDO_UNREAD,
    EIDO_CAUTION,
)
# What each code means, for the review page's legend and the docs.
WARNING_LABELS: Final[dict[str, str]] = {
    SYNTHETIC_MODEL: "Model trained on simulated calls: for demonstration only",
    OUTSIDE_TRAINING_PERIOD: "Call is before the model's data or long after it",
    UNSEEN_AREA: "Beat or district never seen in training",
    UNKNOWN_CALL_TYPE: "Call type rare or unseen in training",
    NO_OUTCOME_HISTORY: "No recorded outcomes for this area in the history store",
    NO_PREMISE_HISTORY: "No address or coordinates: premise history unused",
    NO_AREA_HISTORY: "No beat or district: area history unused",
    CANT_TELL: "The data cannot separate high from low risk for this call",
    EIDO_UNREAD: "Part of the EIDO document could not be read: scored without it",
    EIDO_CAUTION: "A caution in the EIDO document, not a model input: read it",
}


def warning(code: str, text: str) -> str:
    """One warning as the API carries it: `code: text`."""
    if code not in WARNING_LABELS:
        raise ValueError(f"unknown warning code {code!r}")
    return f"{code}: {text}"


def warning_code(text: str) -> str:
    """The code of a warning text (the part before the first colon)."""
    return text.split(":", 1)[0].strip()


# ----------------------------------------------------------------------------- history events
EventKind = Literal["call", "violent", "weapon", "assault", "injury"]
EVENT_KINDS: Final[tuple[EventKind, ...]] = ("call", "violent", "weapon", "assault", "injury")
KeyKind = Literal["premise", "beat", "district"]
KEY_KINDS: Final[tuple[KeyKind, ...]] = ("premise", "beat", "district")

# ----------------------------------------------------------------------------- run artifacts
SUMMARY_JSON: Final = "summary.json"
MODEL_CARD_MD: Final = "model_card.md"
LEAKAGE_CHECK_JSON: Final = "leakage_check.json"
CALIBRATION_BY_DECILE_CSV: Final = "calibration_by_decile.csv"
AUDIT_CSV: Final = "audit.csv"
FEATURE_IMPORTANCE_CSV: Final = "feature_importance.csv"

# ------------------------------------------------------------------------ premise hazard flags
# The families an agency's free-text premise caution flags are sorted into (risk_model/hazards.py).
# `other` is still a caution: the practice baseline counts every family.
HazardFamily = Literal["weapons", "officer_safety", "dog", "mental_health", "other"]
HAZARD_FAMILIES: Final[tuple[HazardFamily, ...]] = (
    "weapons",
    "officer_safety",
    "dog",
    "mental_health",
    "other",
)
HAZARD_LABELS: Final[dict[str, str]] = {
    "weapons": "weapons",
    "officer_safety": "officer safety",
    "dog": "dog",
    "mental_health": "mental health",
    "other": "caution",
}
