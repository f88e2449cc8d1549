"""An assessment as a NENA EIDO caution component (SPEC §4 "EIDO", `?format=eido`).

A CAD that speaks EIDO can show call-risk's answer beside the incident the way it shows any
other caution: a type, a severity from the standard's five, a source, and a short text with the
reasons and precautions. Pure: an assessment dict (the shape `POST /score` answers) in, one
caution component out; the service's route and any batch writer share it.

Severity comes from the decision first and the tier second (docs/eido.md has the table): the
conformal decision says whether the data separate the call at all, the tier how far its score
is from the base rate. A "can't tell" is never below `normal`: not knowing is not "low".
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from risk_model import vocab
from risk_model.ingest.eido import OWN_CAUTION_TEXT

# The severities of NENA-STA-021's CautionType (cautionSeverity), most serious first.
CAUTION_SEVERITIES: Final[tuple[str, ...]] = ("highest", "high", "normal", "low", "lowest")
# (decision, tier) -> cautionSeverity.
SEVERITY: Final[dict[tuple[str, str], str]] = {
    ("high", "high"): "highest",
    ("high", "elevated"): "high",
    ("high", "low"): "high",  # never happens (a high decision is never tier low); kept total
    ("cant_tell", "high"): "high",
    ("cant_tell", "elevated"): "normal",
    ("cant_tell", "low"): "normal",
    ("low", "high"): "normal",
    ("low", "elevated"): "low",
    ("low", "low"): "lowest",
}
# The registry text sent with every call-risk caution, and the text field (the published
# CautionType has none; EIDO components may carry extra keys, and a CAD reads this one).
CAUTION_REGISTRY_TEXT: Final = "OfficerSafety"
CAUTION_TEXT_KEY: Final = "cautionDescriptionText"
# The keys every caution component carries (the CautionType's required keys and the prologue's).
CAUTION_REQUIRED: Final[tuple[str, ...]] = (
    "$id",
    "lastUpdateTimeStamp",
    "updatedByAgencyReference",
    "cautionTypeInternalText",
    "cautionTypeCommonRegistryText",
    "cautionSeverity",
)
ADVISORY_TEXT: Final = "Advisory: a person decides."


def caution_severity(decision: str, tier: str) -> str:
    """The cautionSeverity for a decision and tier (`SEVERITY`)."""
    try:
        return SEVERITY[(decision, tier)]
    except KeyError:
        raise ValueError(f"no caution severity for decision {decision!r}, tier {tier!r}") from None


def caution_source(model: dict[str, Any]) -> str:
    """`call-risk <model version>`; a model registered under another name says it too."""
    name, version = str(model.get("name", "")), str(model.get("version", "?"))
    if name and name != OWN_CAUTION_TEXT:
        return f"{OWN_CAUTION_TEXT} {name} {version}"
    return f"{OWN_CAUTION_TEXT} {version}"


def caution_text(assessment: dict[str, Any]) -> str:
    """One paragraph a dispatcher reads: the answer, the reasons, the precautions, the
    warnings, and that a person decides."""
    decision = vocab.DECISION_LABELS.get(assessment["decision"], assessment["decision"])
    tier = vocab.TIER_LABELS.get(assessment["risk_tier"], assessment["risk_tier"])
    score = float(assessment["risk_score"])
    parts = [
        f"call-risk: decision {decision}, tier {tier} "
        f"(estimated chance of harm to an officer {score:.1%})."
    ]
    reasons = [str(r["text"]) for r in assessment.get("reasons", []) if r.get("text")]
    if reasons:
        parts.append("Reasons: " + "; ".join(reasons) + ".")
    precautions = [str(p["text"]) for p in assessment.get("precautions", []) if p.get("text")]
    if precautions:
        parts.append("Precautions: " + "; ".join(precautions) + ".")
    warnings = [str(w) for w in assessment.get("warnings", [])]
    if warnings:
        parts.append("Warnings: " + "; ".join(warnings) + ".")
    parts.append(ADVISORY_TEXT)
    return " ".join(parts)


def caution_component(
    assessment: dict[str, Any],
    *,
    agency_ref: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The assessment as one EIDO caution component.

    `$id` is fixed per incident (`<call_id>:caution:call-risk`), so a CAD that receives a new
    answer for the same incident replaces the caution instead of stacking them. `agency_ref`:
    the agency the incoming document was updated by (the component's prologue names one);
    "call-risk" when there is none.
    """
    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    iso = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "$id": f"{assessment['call_id']}:caution:{OWN_CAUTION_TEXT}",
        "lastUpdateTimeStamp": iso,
        "updatedByAgencyReference": {"$ref": agency_ref or OWN_CAUTION_TEXT},
        "cautionTypeInternalText": OWN_CAUTION_TEXT,
        "cautionTypeCommonRegistryText": CAUTION_REGISTRY_TEXT,
        "cautionSeverity": caution_severity(assessment["decision"], assessment["risk_tier"]),
        "cautionSource": caution_source(assessment.get("model", {})),
        "startDate": iso,
        CAUTION_TEXT_KEY: caution_text(assessment),
    }
