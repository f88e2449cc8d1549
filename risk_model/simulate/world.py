"""A synthetic CAD world: calls for service with premises, times, flags, narratives and outcomes.

It feeds the demo, the tests and the training benchmarks, so a model trained on it has to meet
the same difficulties as on an agency's export: a rare outcome (a few assaults on officers per
1,000 calls), most of the signal in the call type, and the rest spread over what the call-taker
heard, the time, the place and the place's history. Every rate is grounded in
public sources (FBI LEOKA, the Tampa call study, NLEOMF) listed in docs/simulator.md, which
also says what is invented.

The generator is vectorised (numpy + pyarrow compute; no Python loop per call), so a million
calls take seconds. Randomness comes from one `numpy.random.Generator` seeded by `seed`, used in a
fixed order: the same arguments always give the same frames.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from risk_model.errors import UserError
from risk_model.schema import CANONICAL_COLUMNS, OUTCOME_COLUMNS

log = logging.getLogger(__name__)

POST_DISPATCH_COLUMNS: tuple[str, ...] = (
    "disposition",
    "final_call_type",
    "clearance_code",
    "cleared_at",
)
CALL_COLUMNS: tuple[str, ...] = (*CANONICAL_COLUMNS, *OUTCOME_COLUMNS, *POST_DISPATCH_COLUMNS)
TRUTH_COLUMNS: tuple[str, ...] = (
    "call_id",
    "true_risk",
    "true_p_assault",
    "true_p_injury_only",
    "premise_id",
    "premise_hazard",
    "area_multiplier",
    "near_repeat_violent_14d",
    "weapon_present",
    "threats",
    "intoxicated",
    "mental_crisis",
    "children_present",
    "physical_violence",
    "in_progress_fact",
    "domestic_fact",
)

SOURCES: tuple[str, ...] = ("911", "NON-EMERGENCY", "OFFICER INITIATED", "ALARM COMPANY", "TEXT")

# LEOKA 2020: share of officers assaulted by circumstance (docs/simulator.md). Prisoner handling
# and ambush are not calls for service; the other shares are renormalised over the rest (86.6%).
LEOKA_2020_SHARES: dict[str, float] = {
    "disturbance": 29.6,
    "other_arrests": 16.1,
    "prisoners": 12.6,
    "suspicious": 8.8,
    "traffic": 8.4,
    "civil_disorder": 4.1,
    "mental_illness": 3.9,
    "burglary_in_progress": 1.3,
    "ambush": 0.8,
    "robbery_in_progress": 0.8,
    "other": 13.6,
}
LEOKA_NOT_CALLS: tuple[str, ...] = ("prisoners", "ambush")

# LEOKA time of day: share of assaults per two-hour bin, 00-02 first. LEOKA gives the peak
# (00:01-02:00, 13-16%) and the trough (06:01-08:00, 2.4-3.0%); the shape between is invented.
ASSAULT_SHARE_2H: tuple[float, ...] = (
    15.0, 11.0, 5.0, 2.7, 4.0, 5.2, 6.5, 7.5, 8.8, 10.3, 11.0, 13.0,
)  # fmt: skip


# --------------------------------------------------------------------------- world tables


@dataclass(frozen=True)
class Facts:
    """Per call type: probability of each hidden true fact of a call (before modulation)."""

    weapon: float = 0.0
    threats: float = 0.0
    intox: float = 0.0
    mental: float = 0.0
    children: float = 0.0
    physical: float = 0.0
    in_progress: float = 0.0
    domestic: float = 0.0


FACT_NAMES: tuple[str, ...] = (
    "weapon", "threats", "intox", "mental", "children", "physical", "in_progress", "domestic",
)  # fmt: skip
F_WEAPON, F_THREATS, F_INTOX, F_MENTAL, F_CHILDREN, F_PHYSICAL, F_IN_PROGRESS, F_DOMESTIC = range(
    8
)


@dataclass(frozen=True)
class CallTypeSpec:
    """One call type of the world.

    `share` is its share of calls in percent (normalised over the table), `assault_per_1000` its
    mean assault rate per call; the other fields name presets (tables below) for time of day,
    priority, source, premises, disposition and narrative filler.
    """

    name: str
    share: float
    assault_per_1000: float
    leoka: str
    violent: bool
    hours: str
    priority: str
    source: str
    premises: str
    disposition: str
    minutes: float
    filler: str
    facts: Facts
    weapon_claim: float = 0.0  # caller reports a weapon although none is present
    reclass: str = ""  # what the call is sometimes closed as (final_call_type)


def _t(*args: Any, **kw: Any) -> CallTypeSpec:
    return CallTypeSpec(*args, **kw)


# name, % of calls, assaults/1000, LEOKA circumstance, violent, hours, priority, source,
# premises, disposition, minutes on call, filler family, facts.
DEFAULT_CALL_TYPES: tuple[CallTypeSpec, ...] = (
    # Disturbance calls (LEOKA: family quarrels, bar fights, person with a firearm, ...).
    _t("DISTURBANCE", 8.0, 3.1, "disturbance", True, "night", "high", "caller", "public",
       "violent", 35, "generic",
       Facts(weapon=.05, threats=.15, intox=.30, mental=.05, children=.05, physical=.30,
             in_progress=.80, domestic=.15), reclass="DOMESTIC DISTURBANCE"),
    _t("DOMESTIC DISTURBANCE", 5.5, 2.6, "disturbance", True, "night", "high", "caller", "home",
       "violent", 45, "generic",
       Facts(weapon=.06, threats=.30, intox=.30, mental=.06, children=.35, physical=.45,
             in_progress=.85, domestic=1.0), reclass="DISTURBANCE"),
    _t("ASSAULT", 1.8, 13.6, "disturbance", True, "night", "urgent", "caller", "public",
       "violent", 50, "generic",
       Facts(weapon=.12, threats=.20, intox=.40, mental=.05, children=.05, physical=.80,
             in_progress=.55, domestic=.30), reclass="DOMESTIC DISTURBANCE"),
    _t("PERSON WITH WEAPON", 0.7, 22.0, "disturbance", True, "evening", "urgent", "caller",
       "public", "violent", 45, "generic",
       Facts(weapon=.55, threats=.45, intox=.25, mental=.12, children=.05, physical=.15,
             in_progress=.80, domestic=.15), weapon_claim=0.6, reclass="DISTURBANCE"),
    _t("SHOTS FIRED", 1.3, 5.0, "disturbance", True, "night", "urgent", "caller", "public",
       "violent", 30, "shots",
       Facts(weapon=.35, threats=.10, intox=.15, mental=.02, children=.02, physical=.05,
             in_progress=.60, domestic=.05), weapon_claim=0.3),
    # Calls where officers attempt arrests (LEOKA "attempting other arrests").
    _t("WARRANT SERVICE", 1.1, 18.0, "other_arrests", False, "day", "officer", "officer",
       "home", "arrest", 40, "generic",
       Facts(weapon=.08, threats=.05, intox=.15, mental=.05, children=.10, physical=.05,
             in_progress=.05)),
    _t("NARCOTICS", 1.2, 6.0, "other_arrests", False, "evening", "medium", "mixed", "public",
       "arrest", 40, "generic",
       Facts(weapon=.10, threats=.03, intox=.45, mental=.03, children=.02, physical=.03,
             in_progress=.50)),
    _t("SHOPLIFTING", 2.0, 5.0, "other_arrests", False, "day", "medium", "mixed_caller",
       "retail", "arrest", 45, "generic",
       Facts(weapon=.03, threats=.05, intox=.12, mental=.04, physical=.08, in_progress=.60),
       reclass="THEFT REPORT"),
    _t("TRESPASS", 2.2, 4.2, "other_arrests", False, "general", "medium", "caller", "public",
       "service", 30, "generic",
       Facts(weapon=.03, threats=.06, intox=.30, mental=.10, physical=.03, in_progress=.70)),
    # Suspicious persons and vehicles.
    _t("SUSPICIOUS PERSON", 4.5, 4.2, "suspicious", False, "evening", "medium", "caller",
       "public", "service", 25, "generic",
       Facts(weapon=.04, threats=.03, intox=.20, mental=.10, physical=.02, in_progress=.60),
       reclass="TRESPASS"),
    _t("SUSPICIOUS VEHICLE", 3.5, 1.9, "suspicious", False, "night", "medium", "mixed",
       "vehicle", "service", 20, "vehicle",
       Facts(weapon=.02, intox=.08, in_progress=.50)),
    # Traffic pursuits and stops.
    _t("TRAFFIC STOP", 12.0, 1.43, "traffic", False, "traffic", "officer", "self", "street",
       "traffic", 15, "vehicle",
       Facts(weapon=.015, threats=.01, intox=.06, mental=.01, children=.05, physical=.005,
             in_progress=1.0)),
    _t("MOTOR VEHICLE ACCIDENT", 5.0, 0.5, "traffic", False, "general", "high", "caller",
       "street", "report", 45, "vehicle",
       Facts(weapon=.003, threats=.02, intox=.08, mental=.01, children=.10, physical=.02,
             in_progress=.70)),
    _t("RECKLESS DRIVER", 2.0, 0.8, "traffic", False, "evening", "medium", "caller", "street",
       "service", 15, "vehicle", Facts(weapon=.01, intox=.25, in_progress=.90)),
    _t("VEHICLE PURSUIT", 0.1, 30.0, "traffic", False, "traffic", "urgent", "officer", "street",
       "arrest", 40, "vehicle",
       Facts(weapon=.12, threats=.05, intox=.35, physical=.05, in_progress=1.0)),
    # Civil disorder (rare, high rate per call).
    _t("CIVIL DISORDER", 0.25, 47.0, "civil_disorder", True, "night", "urgent", "caller",
       "public", "arrest", 90, "generic",
       Facts(weapon=.12, threats=.30, intox=.35, physical=.60, in_progress=.95)),
    # Persons with mental illness.
    _t("MENTAL HEALTH CRISIS", 1.5, 5.5, "mental_illness", False, "general", "high", "caller",
       "home", "service", 60, "generic",
       Facts(weapon=.08, threats=.25, intox=.20, mental=.85, physical=.12, in_progress=.70,
             domestic=.10)),
    _t("SUICIDAL PERSON", 1.0, 3.0, "mental_illness", False, "evening", "high", "caller",
       "home", "service", 60, "generic",
       Facts(weapon=.18, threats=.10, intox=.30, mental=.90, in_progress=.75, domestic=.08),
       reclass="MENTAL HEALTH CRISIS"),
    # Crimes in progress.
    _t("BURGLARY IN PROGRESS", 0.5, 7.5, "burglary_in_progress", False, "night", "urgent",
       "caller", "home_biz", "arrest", 45, "generic",
       Facts(weapon=.08, threats=.05, intox=.10, physical=.03, in_progress=1.0),
       reclass="BURGLARY REPORT"),
    _t("ROBBERY IN PROGRESS", 0.25, 9.0, "robbery_in_progress", True, "evening", "urgent",
       "caller", "retail", "arrest", 60, "generic",
       Facts(weapon=.60, threats=.50, intox=.10, physical=.20, in_progress=1.0),
       weapon_claim=0.4),
    # All other calls: mostly service and reports, far safer per call.
    _t("WELFARE CHECK", 6.0, 1.5, "other", False, "day", "medium", "mixed_caller", "home",
       "service", 30, "generic",
       Facts(weapon=.01, threats=.02, intox=.12, mental=.20, children=.05, in_progress=.30),
       reclass="MENTAL HEALTH CRISIS"),
    _t("ALARM", 8.0, 0.1, "other", False, "alarm", "medium", "alarm", "alarm", "alarm", 15,
       "alarm", Facts(in_progress=.90), reclass="BURGLARY REPORT"),
    _t("911 HANG UP", 6.0, 0.7, "other", False, "general", "medium", "hangup", "home",
       "service", 15, "generic",
       Facts(weapon=.01, threats=.03, intox=.06, mental=.03, children=.08, physical=.04,
             in_progress=.30, domestic=.10), reclass="DOMESTIC DISTURBANCE"),
    _t("NOISE COMPLAINT", 4.0, 0.8, "other", False, "night", "low", "report", "home",
       "service", 15, "generic", Facts(intox=.25, physical=.01, in_progress=.95),
       reclass="DISTURBANCE"),
    _t("THEFT REPORT", 5.0, 0.3, "other", False, "day", "low", "report", "any", "report", 35,
       "generic", Facts(in_progress=.05)),
    _t("BURGLARY REPORT", 2.0, 0.3, "other", False, "day", "low", "report", "home_biz",
       "report", 45, "generic", Facts(in_progress=.02)),
    _t("FOLLOW UP", 4.0, 0.3, "other", False, "day", "low", "followup", "any", "report", 30,
       "generic", Facts()),
    _t("PARKING", 3.0, 0.2, "other", False, "day", "low", "report", "vehicle", "service", 15,
       "vehicle", Facts()),
    _t("ANIMAL COMPLAINT", 1.5, 0.2, "other", False, "day", "low", "report", "home", "service",
       20, "generic", Facts()),
    _t("INTOXICATED PERSON", 1.0, 9.0, "other", False, "night", "medium", "caller",
       "nightlife", "service", 35, "generic",
       Facts(weapon=.02, threats=.08, intox=.95, mental=.08, physical=.10, in_progress=.80)),
    _t("ASSIST EMS", 1.5, 2.5, "other", False, "general", "high", "caller", "home", "service",
       30, "generic",
       Facts(weapon=.01, threats=.05, intox=.30, mental=.20, physical=.05, in_progress=.60)),
    _t("OFFICER NEEDS ASSISTANCE", 0.05, 60.0, "other", True, "night", "p1", "officer",
       "public", "arrest", 60, "generic",
       Facts(weapon=.20, threats=.30, intox=.30, physical=.70, in_progress=1.0)),
    _t("BOMB THREAT", 0.03, 0.5, "other", False, "day", "high", "caller", "school_biz",
       "report", 90, "generic", Facts(threats=.90, in_progress=.10)),
)  # fmt: skip


@dataclass(frozen=True)
class PremiseTypeSpec:
    """A kind of place: how common, how many calls, how risky, and how much riskier at night."""

    name: str
    share: float  # share of premises
    calls: float  # call-propensity multiplier
    hazard: float  # mean latent hazard multiplier
    night: float  # risk multiplier 21:00-03:59
    day: float  # risk multiplier otherwise


DEFAULT_PREMISE_TYPES: tuple[PremiseTypeSpec, ...] = (
    PremiseTypeSpec("RESIDENCE", 0.55, 0.7, 1.0, 1.0, 1.0),
    PremiseTypeSpec("APARTMENT", 0.12, 1.5, 1.2, 1.3, 0.9),
    PremiseTypeSpec("BUSINESS", 0.11, 1.3, 0.8, 1.0, 1.0),
    PremiseTypeSpec("STREET", 0.12, 2.0, 1.0, 1.2, 0.95),
    PremiseTypeSpec("BAR", 0.012, 3.0, 1.5, 1.8, 0.8),
    PremiseTypeSpec("SCHOOL", 0.008, 2.0, 0.7, 0.8, 1.0),
    PremiseTypeSpec("PARK", 0.015, 1.2, 1.1, 1.4, 0.9),
    PremiseTypeSpec("GAS STATION", 0.012, 3.0, 1.1, 1.3, 0.9),
    PremiseTypeSpec("HOTEL", 0.008, 3.0, 1.3, 1.3, 0.9),
    PremiseTypeSpec("PARKING LOT", 0.025, 1.2, 1.0, 1.2, 0.9),
)
_PT = {p.name: i for i, p in enumerate(DEFAULT_PREMISE_TYPES)}

# Where each kind of call happens: relative weight per premise type, in DEFAULT_PREMISE_TYPES
# order (RESIDENCE, APARTMENT, BUSINESS, STREET, BAR, SCHOOL, PARK, GAS STATION, HOTEL, LOT).
PREMISE_AFFINITY: dict[str, tuple[float, ...]] = {
    "home": (1.0, 1.2, 0.03, 0.02, 0.01, 0.02, 0.01, 0.01, 0.4, 0.01),
    "public": (0.35, 0.5, 0.5, 1.0, 1.5, 0.3, 0.8, 0.8, 0.6, 0.7),
    "street": (0.01, 0.01, 0.02, 1.0, 0.01, 0.005, 0.02, 0.15, 0.01, 0.2),
    "retail": (0.01, 0.01, 1.0, 0.01, 0.3, 0.05, 0.01, 0.8, 0.2, 0.1),
    "vehicle": (0.25, 0.4, 0.3, 1.0, 0.2, 0.1, 0.3, 0.5, 0.3, 1.0),
    "alarm": (0.35, 0.05, 1.0, 0.001, 0.3, 1.0, 0.01, 0.4, 0.2, 0.01),
    "home_biz": (1.0, 0.6, 0.8, 0.001, 0.2, 0.3, 0.01, 0.2, 0.3, 0.01),
    "any": (1.0,) * 10,
    "nightlife": (0.4, 0.8, 0.3, 1.0, 3.0, 0.05, 0.6, 1.0, 1.0, 1.0),
    "school_biz": (0.02, 0.02, 1.0, 0.001, 0.1, 2.0, 0.01, 0.1, 0.3, 0.01),
}

# Calls per hour of day (relative), 00 first. "general" peaks in the early evening.
HOUR_PROFILES: dict[str, tuple[float, ...]] = {
    "general": (2.6, 2.1, 1.8, 1.5, 1.3, 1.4, 2.0, 3.0, 3.8, 4.3, 4.6, 4.8,
                4.9, 5.0, 5.2, 5.5, 5.9, 6.3, 6.5, 6.4, 6.0, 5.3, 4.5, 3.5),
    "evening": (3.5, 2.8, 2.2, 1.6, 1.2, 1.0, 1.2, 1.8, 2.5, 3.2, 3.8, 4.2,
                4.6, 5.0, 5.4, 5.8, 6.2, 6.6, 7.0, 7.0, 6.6, 6.0, 5.2, 4.3),
    "night": (5.5, 5.0, 4.2, 3.0, 1.8, 1.0, 0.8, 1.0, 1.4, 1.8, 2.2, 2.6,
              3.0, 3.3, 3.6, 4.0, 4.5, 5.0, 5.6, 6.2, 6.8, 7.2, 7.0, 6.4),
    "day": (0.8, 0.5, 0.4, 0.3, 0.3, 0.5, 1.2, 3.0, 5.5, 7.0, 7.5, 7.5,
            7.2, 7.0, 6.8, 6.5, 6.0, 5.2, 4.2, 3.2, 2.5, 1.8, 1.3, 1.0),
    "traffic": (4.5, 4.0, 3.0, 2.0, 1.2, 1.0, 2.5, 4.5, 5.0, 4.5, 4.0, 3.8,
                3.8, 4.0, 4.2, 4.8, 5.2, 5.0, 4.5, 4.5, 4.8, 5.2, 5.2, 5.0),
    "alarm": (3.0, 2.8, 2.6, 2.5, 2.6, 3.5, 5.5, 7.5, 7.0, 5.5, 4.5, 4.0,
              3.8, 3.6, 3.6, 3.8, 4.2, 4.6, 4.5, 4.0, 3.6, 3.4, 3.2, 3.1),
}  # fmt: skip
# Calls per day of week (Mon..Sun): Friday and Saturday a little busier.
WEEKDAY_CALLS: tuple[float, ...] = (0.98, 0.97, 0.98, 1.0, 1.07, 1.07, 0.93)

PRIORITY_PRESETS: dict[str, tuple[float, ...]] = {  # P(priority 1..5)
    "p1": (0.95, 0.05, 0.0, 0.0, 0.0),
    "urgent": (0.60, 0.32, 0.08, 0.0, 0.0),
    "high": (0.15, 0.50, 0.30, 0.05, 0.0),
    "medium": (0.03, 0.17, 0.50, 0.25, 0.05),
    "low": (0.0, 0.02, 0.18, 0.50, 0.30),
    "officer": (0.0, 0.05, 0.35, 0.45, 0.15),
}
SOURCE_PRESETS: dict[str, tuple[float, ...]] = {  # in SOURCES order
    "caller": (0.78, 0.17, 0.02, 0.0, 0.03),
    "mixed_caller": (0.50, 0.44, 0.03, 0.0, 0.03),
    "report": (0.15, 0.78, 0.05, 0.0, 0.02),
    "self": (0.0, 0.0, 1.0, 0.0, 0.0),  # traffic stops: always officer initiated
    "officer": (0.04, 0.02, 0.94, 0.0, 0.0),
    "mixed": (0.45, 0.28, 0.24, 0.0, 0.03),
    "alarm": (0.06, 0.02, 0.0, 0.92, 0.0),
    "hangup": (0.97, 0.0, 0.0, 0.0, 0.03),
    "followup": (0.0, 0.35, 0.65, 0.0, 0.0),
}
DISPOSITIONS: tuple[str, ...] = (
    "ARREST", "REPORT", "ADVISED", "GONE ON ARRIVAL", "UNFOUNDED", "CITATION", "WARNING",
    "FALSE ALARM",
)  # fmt: skip
CLEARANCE_CODES: tuple[str, ...] = ("CA", "RPT", "ADV", "GOA", "UNF", "CIT", "WRN", "FA")
DISPOSITION_PRESETS: dict[str, tuple[float, ...]] = {  # in DISPOSITIONS order
    "violent": (0.15, 0.30, 0.28, 0.15, 0.12, 0.0, 0.0, 0.0),
    "arrest": (0.45, 0.25, 0.15, 0.10, 0.05, 0.0, 0.0, 0.0),
    "report": (0.03, 0.80, 0.10, 0.04, 0.03, 0.0, 0.0, 0.0),
    "service": (0.03, 0.12, 0.60, 0.15, 0.10, 0.0, 0.0, 0.0),
    "traffic": (0.04, 0.05, 0.02, 0.0, 0.0, 0.52, 0.37, 0.0),
    "alarm": (0.005, 0.03, 0.10, 0.0, 0.015, 0.0, 0.0, 0.85),
}
ASSAULT_ON_OFFICER = "ASSAULT ON OFFICER"
OFFICER_INJURED = "OFFICER INJURED"

# --------------------------------------------------------------------------- narrative phrases
# Families a lexicon reads; keep to these styles (see docs/simulator.md).
PHRASES: dict[str, tuple[str, ...]] = {
    "weapon": ("SUBJ POSS ARMED", "W/ KNIFE", "HAS A GUN", "HANDGUN", "FIREARM IN WAISTBAND",
               "MACHETE", "BRANDISHING A BAT"),
    "weapon_neg": ("NO WEAPONS SEEN", "NEG WEAPONS", "RP DENIES WEAPONS", "NO WPNS"),
    "threat": ("THREATENING TO KILL RP", "MAKING THREATS", "THREATENED NEIGHBOR"),
    "violence": ("SUBJS FIGHTING", "HITTING HIS GF", "PUNCHED RP", "PHYSICAL DIST", "CHOKING"),
    "violence_neg": ("VERBAL ONLY", "NOT PHYSICAL"),
    "mental": ("EDP", "OFF HIS MEDS", "HEARING VOICES", "HX OF BIPOLAR", "PSYCH HX"),
    "suicide": ("SUICIDAL", "THREATENING TO KILL HERSELF", "WANTS TO END HIS LIFE"),
    "intox": ("INTOX", "DRUNK", "ETOH", "HIGH ON METH", "UNDER THE INFLUENCE"),
    "children": ("CHILDREN PRESENT", "2 KIDS IN RES", "INFANT ON SCENE"),
    "children_neg": ("NO CHILDREN",),
    # Filler banks are read in runs of up to three consecutive phrases (from a random start):
    # phrases that would contradict each other (two directions, two vehicles) sit apart.
    "generic": ("LAST SEEN NB", "RP ADV", "CALLER REQ CONTACT", "WEARING BLK HOODIE", "UNK LOC",
                "LAST SEEN SB", "RP WILL MEET OFCR", "CALLBACK NUMBER ON FILE",
                "UNK IF STILL ON SCENE", "LAST SEEN EB", "RP REQ NO CONTACT", "WEARING RED SHIRT",
                "ADV CALLER TO STAY ON LINE", "LAST SEEN WB", "3RD PARTY CALLER",
                "NEIGHBOR CALLING", "RP IS MANAGER", "SEE PREV CALL"),
    "vehicle": ("VEH DESC WHI SEDAN", "PARTIAL PLATE ONLY", "LAST SEEN NB", "VEH DESC BLK SUV",
                "VEH ON SHOULDER", "RP ADV", "VEH DESC RED PICKUP", "NO PLATE", "LAST SEEN SB"),
    "alarm": ("ALARM CO ADV FRONT DOOR ZONE", "AUDIBLE ALARM", "KEYHOLDER ENRT", "REAR DOOR ZONE",
              "MOTION ZONE 3", "NO KEYHOLDER"),
    "shots": ("HEARD SEVERAL SHOTS", "UNK DIRECTION", "RP ADV", "POSS FIREWORKS", "UNK LOC"),
}  # fmt: skip
NARRATIVE_SEPARATORS: tuple[str, ...] = (" ", ". ", ", ", "; ")

# --------------------------------------------------------------------------- the city grid
_EW_NAMES: tuple[str, ...] = (
    "OAK", "MAPLE", "ELM", "PINE", "CEDAR", "BIRCH", "ASPEN", "WILLOW", "HICKORY", "WALNUT",
    "CHESTNUT", "MAGNOLIA", "SYCAMORE", "POPLAR", "SPRUCE", "CYPRESS", "JUNIPER", "LAUREL",
    "HAWTHORN", "DOGWOOD", "WASHINGTON", "ADAMS", "JEFFERSON", "MADISON", "MONROE", "JACKSON",
    "VAN BUREN", "HARRISON", "TYLER", "POLK", "TAYLOR", "FILLMORE", "PIERCE", "BUCHANAN",
    "LINCOLN", "JOHNSON", "GRANT", "HAYES", "GARFIELD", "ARTHUR", "CLEVELAND", "MCKINLEY",
    "ROOSEVELT", "WILSON", "HARDING", "COOLIDGE", "HOOVER", "TRUMAN", "MAIN", "MARKET",
    "CHURCH", "MILL", "RIVER", "LAKE", "HILL", "BRIDGE", "SPRING", "UNION", "LIBERTY",
    "FRANKLIN", "COMMERCE", "COLLEGE", "HIGHLAND", "SUNSET", "MEADOW", "VALLEY", "FOREST",
    "RIDGE", "TEXAS", "OHIO", "KANSAS", "NEVADA", "OREGON", "DAKOTA", "MONTANA", "VERMONT",
    "GEORGIA", "ARIZONA", "INDIANA", "IOWA", "ALABAMA", "COLORADO", "DELAWARE", "FLORIDA",
    "IDAHO", "KENTUCKY", "NEBRASKA", "WYOMING", "CARDINAL", "BLUEBIRD", "ROBIN", "SPARROW",
    "FALCON", "EAGLE", "HERON", "QUAIL", "MOCKINGBIRD", "ORIOLE", "WREN", "LARK",
)  # fmt: skip
# Street suffix kinds and the spellings CAD uses for each (full, abbreviation, title + period).
SUFFIXES: tuple[tuple[str, str, str], ...] = (
    ("STREET", "ST", "St."),
    ("AVENUE", "AVE", "Ave."),
    ("DRIVE", "DR", "Dr."),
    ("ROAD", "RD", "Rd."),
    ("BOULEVARD", "BLVD", "Blvd."),
    ("LANE", "LN", "Ln."),
)
DIRECTIONALS: tuple[tuple[str, str], ...] = (
    ("NORTH", "N"), ("SOUTH", "S"), ("EAST", "E"), ("WEST", "W"),
)  # fmt: skip
BLOCK_FORMS: tuple[str, ...] = ("BLOCK", "BLK", "BLOCK OF")
_EW_SUFFIX_CYCLE = (0, 2, 3, 0, 4, 5, 0, 2, 3, 1)  # suffix kind of E-W street j: cycle[j % 10]
N_EW, N_NS = 100, 140  # streets; one every 100 m: the city is 14 km x 10 km
GRID_M = 100.0
BEAT_COLS, BEAT_ROWS = 10, 6
# District of each beat cell, rows from south (0) to north (5), columns west to east.
_DISTRICT_NAMES = ("NORTHWEST", "NORTH", "NORTHEAST", "CENTRAL", "SOUTHWEST", "SOUTH", "SOUTHEAST")


def _district_of_cell(col: int, row: int) -> int:
    west, east = col <= 3, col >= 7
    if row >= 3 and west:
        return 0
    if row >= 3 and east:
        return 2
    if row >= 4:
        return 1
    if row >= 2 and not west and not east:
        return 3
    if west:
        return 4
    if east:
        return 6
    return 5


def _ordinal(k: int) -> str:
    suffix = "TH" if 10 <= k % 100 <= 20 else {1: "ST", 2: "ND", 3: "RD"}.get(k % 10, "TH")
    return f"{k}{suffix}"


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class SimConfig:
    """Every knob of the world, with its default. Sources for each are in docs/simulator.md."""

    call_types: tuple[CallTypeSpec, ...] = DEFAULT_CALL_TYPES
    premise_types: tuple[PremiseTypeSpec, ...] = DEFAULT_PREMISE_TYPES
    # Premises: how many per call, how unequal their call volume, how unequal their hazard.
    premises_per_call: float = 1 / 8
    propensity_sigma: float = 1.7  # log-sd of call propensity: top 1% of premises ~25% of calls
    hazard_sigma: float = 0.7  # log-sd of the latent premise hazard (mean one)
    hazard_propensity_corr: float = 0.5  # problem premises also call more
    violent_hazard_power: float = 1.0  # hazard tilts a premise's calls toward violent types
    fact_hazard_power: float = 0.3  # weapons, threats, intoxication more likely at such places
    district_sigma: float = 0.25  # log-sd of district risk multipliers
    beat_sigma: float = 0.2  # log-sd of beat risk multipliers within a district
    area_calls_power: float = 0.5  # riskier areas also produce more calls
    # Effects of hidden true facts on the assault rate (multipliers).
    weapon_effect: float = 2.5
    threats_effect: float = 2.0
    intox_effect: float = 1.8
    mental_effect: float = 1.6
    physical_effect: float = 1.5
    night_intox: float = 1.6  # intoxication more likely 21:00-03:59 (and 0.7x by day)
    # Time.
    assault_share_2h: tuple[float, ...] = ASSAULT_SHARE_2H
    weekend_night_calls: float = 1.25  # Fri/Sat 20:00-03:59 call volume
    weekend_night_risk: float = 1.3  # and assault risk
    # Near-repeat: violent calls at the premise in the previous days raise the risk.
    near_repeat_days: float = 14.0
    near_repeat_effect: float = 0.7  # +70% per prior violent call in the window...
    near_repeat_cap: int = 3  # ...counting at most this many
    p_cap: float = 0.3  # no call is more likely than this to end in an assault
    # Injuries: LEOKA 2020, 30.9% of assaulted officers injured; more often with weapons.
    injury_given_assault: float = 0.26
    injury_given_assault_weapon: float = 0.45
    injury_only_roadway_per_1000: float = 0.15  # struck-by / collisions on traffic calls
    injury_only_other_per_1000: float = 0.02
    # What the call-taker hears: P(flag true | fact), P(flag true | no fact), P(unknown).
    flag_sensitivity: tuple[float, ...] = (0.60, 0.92, 0.65, 0.45, 0.85)  # FLAG_COLUMNS order
    flag_false_positive: tuple[float, ...] = (0.015, 0.01, 0.02, 0.03, 0.08)
    flag_unknown_offset: tuple[float, ...] = (0.0, -0.03, 0.0, 0.0, -0.05)
    unknown_by_source: tuple[float, ...] = (0.14, 0.22, 0.45, 0.60, 0.30)  # SOURCES order
    # Narrative: P(fact is written | fact, flagged), P(... | fact, not flagged), and others.
    mention_flagged: float = 0.70
    mention_unflagged: float = 0.40
    mention_false_weapon: float = 0.01
    mention_negated: float = 0.12  # "NO WEAPONS SEEN" on types where weapons occur
    mention_threats: float = 0.55
    mention_violence: float = 0.60
    mention_violence_negated: float = 0.25  # "VERBAL ONLY" on types where fights occur
    mention_mental_flagged: float = 0.70
    mention_mental_unflagged: float = 0.45
    mention_intox: float = 0.50
    mention_children: float = 0.50
    mention_children_negated: float = 0.10  # "NO CHILDREN" on domestic calls
    empty_narrative_by_source: tuple[float, ...] = (0.05, 0.05, 0.70, 0.30, 0.05)
    filler_counts: tuple[float, ...] = (0.25, 0.40, 0.25, 0.10)  # P(0, 1, 2, 3 fillers)
    # Location quality.
    address_missing: float = 0.03  # coordinates only
    location_missing: float = 0.01  # neither address nor coordinates
    jitter_m: float = 5.0
    center_lat: float = 35.20
    center_lon: float = -97.40
    # Missing optional fields.
    priority_missing: float = 0.005
    source_missing: float = 0.005
    premise_type_missing: float = 0.06
    priority_bump: float = 0.4  # a reported weapon / in-progress call moves up one priority
    reclassified: float = 0.10  # non-assault calls closed under another type
    assault_arrest: float = 0.88  # assaulted calls closed with an arrest
    injury_final_type: float = 0.7  # injury-only calls closed as OFFICER INJURED
    assault_final_type: float = 0.75  # assaulted calls closed as ASSAULT ON OFFICER
    assault_clearance: float = 0.6  # assaulted calls cleared with code AOO


# --------------------------------------------------------------------------- small helpers


def _draw(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One categorical draw per element, from row `rows[i]` of `probs` (rows need not sum to 1).

    Groups elements by row and uses searchsorted, so memory stays O(n) whatever the row width.
    """
    probs = np.asarray(probs, dtype=float)
    cdf = np.cumsum(probs, axis=1)
    total = cdf[:, -1:].copy()
    total[total <= 0] = 1.0
    cdf /= total
    u = rng.random(len(rows))
    out = np.zeros(len(rows), dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    counts = np.bincount(rows, minlength=len(probs))
    ends = np.cumsum(counts)
    for r in np.flatnonzero(counts):
        idx = order[ends[r] - counts[r] : ends[r]]
        out[idx] = np.searchsorted(cdf[r], u[idx], side="right")
    return np.minimum(out, probs.shape[1] - 1)


def _take(bank: pa.Array, idx: np.ndarray) -> pa.Array:
    """bank[idx] as an Arrow string array; negative indices are null."""
    idx = np.asarray(idx)
    return bank.take(pa.array(idx.astype(np.int32), mask=idx < 0))


def _join(parts: list[pa.Array], sep: pa.Array | str) -> pa.Array:
    """Joins string columns row by row with `sep`, skipping nulls; all-null rows stay null.

    (pyarrow's own null_handling="skip" drops all-null rows from its output, so not used.)
    """
    acc = parts[0]
    for part in parts[1:]:
        both = pc.binary_join_element_wise(acc, part, sep)
        acc = pc.coalesce(both, acc, part)
    return acc


def _bank(values: tuple[str, ...] | list[str]) -> pa.Array:
    return pa.array(list(values), type=pa.string())


def _bool_array(values: np.ndarray, known: np.ndarray | None = None) -> pa.Array:
    values = np.asarray(values, dtype=bool)
    return pa.array(values, mask=None if known is None else ~np.asarray(known, dtype=bool))


def _mean_one_lognormal(rng: np.random.Generator, sigma: float, size: int) -> np.ndarray:
    return np.exp(sigma * rng.standard_normal(size) - sigma**2 / 2)


def _spec_arrays(config: SimConfig) -> dict[str, np.ndarray]:
    types = config.call_types
    if not types:
        raise UserError("the simulator needs at least one call type")
    unknown = [
        (t.name, key)
        for t in types
        for key, table in (
            (t.hours, HOUR_PROFILES),
            (t.priority, PRIORITY_PRESETS),
            (t.source, SOURCE_PRESETS),
            (t.premises, PREMISE_AFFINITY),
            (t.disposition, DISPOSITION_PRESETS),
            (t.filler, PHRASES),
        )
        if key not in table
    ]
    if unknown:
        raise UserError(f"call type {unknown[0][0]!r} names an unknown preset {unknown[0][1]!r}")
    share = np.array([t.share for t in types], dtype=float)
    return {
        "share": share / share.sum(),
        "rate": np.array([t.assault_per_1000 for t in types], dtype=float) / 1000.0,
        "violent": np.array([t.violent for t in types], dtype=bool),
        "roadway": np.array([t.leoka == "traffic" for t in types], dtype=bool),
        "facts": np.array([[getattr(t.facts, f) for f in FACT_NAMES] for t in types], dtype=float),
        "weapon_claim": np.array([t.weapon_claim for t in types], dtype=float),
        "minutes": np.array([t.minutes for t in types], dtype=float),
    }


def call_type_table(config: SimConfig | None = None) -> pd.DataFrame:
    """The call-type table of the world: share of calls, assault rate, share of assaults.

    `share_of_assaults` is the share this type contributes when every type runs at its mean rate
    (what the simulator calibrates to); docs/simulator.md prints this table.
    """
    config = config or SimConfig()
    arr = _spec_arrays(config)
    mass = arr["share"] * arr["rate"]
    return pd.DataFrame(
        {
            "call_type": [t.name for t in config.call_types],
            "leoka_circumstance": [t.leoka for t in config.call_types],
            "share_of_calls_pct": 100 * arr["share"],
            "assaults_per_1000": 1000 * arr["rate"],
            "share_of_assaults_pct": 100 * mass / mass.sum(),
        }
    )


def leoka_comparison(config: SimConfig | None = None) -> pd.DataFrame:
    """Share of assaults by LEOKA circumstance: the world's vs LEOKA 2020 (renormalised)."""
    table = call_type_table(config)
    world = table.groupby("leoka_circumstance")["share_of_assaults_pct"].sum()
    callable_total = sum(v for k, v in LEOKA_2020_SHARES.items() if k not in LEOKA_NOT_CALLS)
    rows = [
        {
            "leoka_circumstance": k,
            "leoka_2020_pct": v,
            "leoka_calls_only_pct": 100 * v / callable_total,
            "world_pct": float(world.get(k, 0.0)),
        }
        for k, v in LEOKA_2020_SHARES.items()
        if k not in LEOKA_NOT_CALLS
    ]
    return pd.DataFrame(rows)
