"""A synthetic CAD world: calls for service with premises, times, flags, narratives and outcomes.

It feeds the demo, the tests and the training benchmarks, so a model trained on it has to meet
the same difficulties as on an agency's export: a rare outcome (a few assaults on officers per
1,000 calls), most of the signal in the call type, and the rest spread over what the call-taker
heard, the time, the place and the place's history. Every rate is grounded in
/work/shared/FIELD_NOTES.md and listed with its source in docs/simulator.md, which also says what
is invented.

The generator is vectorised (numpy + pyarrow compute; no Python loop per call), so a million
calls take seconds. Randomness comes from one `numpy.random.Generator` seeded by `seed`, used in a
fixed order: the same arguments always give the same frames.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from risk_model.errors import UserError
from risk_model.schema import CANONICAL_COLUMNS, FLAG_COLUMNS, OUTCOME_COLUMNS

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

# LEOKA 2020: share of officers assaulted by circumstance (FIELD_NOTES). Prisoner handling and
# ambush are not calls for service; the other shares are renormalised over the rest (86.6%).
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

# LEOKA time of day: share of assaults per two-hour bin, 00-02 first. FIELD_NOTES gives the peak
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


# --------------------------------------------------------------------------- the generator


@dataclass
class _Premises:
    ptype: np.ndarray
    hazard: np.ndarray  # latent hazard incl. premise-type mean
    tilt: np.ndarray  # (idiosyncratic hazard x area) ** violent_hazard_power
    hbin: np.ndarray
    area: np.ndarray
    propensity: np.ndarray
    beat: np.ndarray
    district: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    street: np.ndarray  # index into the street-name bank
    suffix: np.ndarray  # suffix kind
    direction: np.ndarray  # index into DIRECTIONALS
    number: np.ndarray  # house number, or block number for STREET premises


def _make_premises(rng: np.random.Generator, n: int, config: SimConfig) -> _Premises:
    """Places on a city grid, each with a type, call propensity, latent hazard, beat, address."""
    pts = config.premise_types
    ptype = rng.choice(len(pts), size=n, p=_normalise([p.share for p in pts]))
    street_idx = next((i for i, p in enumerate(pts) if p.name == "STREET"), -1)
    n_blocks = N_EW * N_NS + N_NS * N_EW  # E-W blocks + N-S blocks
    is_street = ptype == street_idx
    if is_street.sum() > n_blocks:  # more street premises than blocks: the rest become houses
        extra = np.flatnonzero(is_street)[n_blocks:]
        ptype[extra] = 0
        is_street = ptype == street_idx
        log.warning("street blocks saturated; %d street premises became residences", len(extra))
    n_houses = n - int(is_street.sum())
    if n_houses > n_blocks * 100:
        raise UserError(f"too many premises for the city grid ({n}); use fewer calls")
    block = np.empty(n, dtype=np.int64)
    num = np.empty(n, dtype=np.int64)
    block[is_street] = rng.choice(n_blocks, size=int(is_street.sum()), replace=False)
    num[is_street] = 50
    slots = rng.choice(n_blocks * 100, size=n_houses, replace=False)
    block[~is_street] = slots // 100
    num[~is_street] = slots % 100

    n_ew_blocks = N_EW * N_NS
    ew = block < n_ew_blocks
    side = np.where(num % 2 == 0, -12.0, 12.0)
    # E-W street j, block b (between N-S streets b and b+1): x along, y fixed.
    j, b_ew = block // N_NS, block % N_NS
    k = block - n_ew_blocks
    i, b_ns = k // N_EW, k % N_EW
    x = np.where(ew, b_ew * GRID_M + num, (i + 0.5) * GRID_M + side)
    y = np.where(ew, (j + 0.5) * GRID_M + side, b_ns * GRID_M + num)
    half_x, half_y = N_NS // 2, N_EW // 2
    east = b_ew >= half_x
    north = b_ns >= half_y
    direction = np.where(ew, np.where(east, 2, 3), np.where(north, 0, 1))
    blk_label = np.where(
        ew,
        np.where(east, b_ew - half_x, half_x - 1 - b_ew),
        np.where(north, b_ns - half_y, half_y - 1 - b_ns),
    )
    # Houses are numbered 1..100 within their hundred block, so no two premises share a number.
    number = np.where(is_street, blk_label * 100, blk_label * 100 + num + 1)
    street = np.where(ew, j, N_EW + i)
    cycle = np.array(_EW_SUFFIX_CYCLE)
    suffix = np.where(ew, cycle[j % len(cycle)], np.where(i % 10 == 9, 4, 1))

    width, height = N_NS * GRID_M, N_EW * GRID_M
    col = np.clip((x / width * BEAT_COLS).astype(int), 0, BEAT_COLS - 1)
    row = np.clip((y / height * BEAT_ROWS).astype(int), 0, BEAT_ROWS - 1)
    beat = row * BEAT_COLS + col
    cell_district = np.array(
        [_district_of_cell(c, r) for r in range(BEAT_ROWS) for c in range(BEAT_COLS)]
    )
    district = cell_district[beat]
    district_mult = _mean_one_lognormal(rng, config.district_sigma, len(_DISTRICT_NAMES))
    beat_mult = _mean_one_lognormal(rng, config.beat_sigma, BEAT_COLS * BEAT_ROWS)
    area = district_mult[district] * beat_mult[beat]

    z_h = rng.standard_normal(n)
    rho = config.hazard_propensity_corr
    z_p = rho * z_h + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    idio = np.exp(config.hazard_sigma * z_h - config.hazard_sigma**2 / 2)
    hazard = np.array([p.hazard for p in pts])[ptype] * idio
    propensity = (
        np.array([p.calls for p in pts])[ptype]
        * np.exp(config.propensity_sigma * z_p)
        * area**config.area_calls_power
    )
    hbin = np.digitize(z_h, [-1.5, -0.75, 0.0, 0.75, 1.5, 2.25])

    m_per_deg = 111_320.0
    lat = config.center_lat + (y - height / 2) / m_per_deg
    lon = config.center_lon + (x - width / 2) / (m_per_deg * np.cos(np.radians(config.center_lat)))
    return _Premises(
        ptype=ptype,
        hazard=hazard,
        tilt=(idio * area) ** config.violent_hazard_power,
        hbin=hbin,
        area=area,
        propensity=propensity,
        beat=beat,
        district=district,
        lat=lat,
        lon=lon,
        street=street,
        suffix=suffix,
        direction=direction,
        number=number,
    )


def _normalise(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr / arr.sum()


def _ipf(seed: np.ndarray, rows: np.ndarray, cols: np.ndarray, iters: int = 60) -> np.ndarray:
    """Iterative proportional fitting: a table with these margins and the seed's odds ratios."""
    table = seed * (rows / np.maximum(seed.sum(axis=1), 1e-300))[:, None]
    for _ in range(iters):
        table *= (cols / np.maximum(table.sum(axis=0), 1e-300))[None, :]
        table *= (rows / np.maximum(table.sum(axis=1), 1e-300))[:, None]
    return table


def _call_types_for(
    rng: np.random.Generator, prem: _Premises, premise: np.ndarray, arr: dict, config: SimConfig
) -> np.ndarray:
    """Draws each call's type given its premise: right overall shares, right places, and more
    violent calls at high-hazard premises."""
    n_bins = 7
    n_pt = len(config.premise_types)
    group_of_premise = prem.ptype * n_bins + prem.hbin
    group = group_of_premise[premise]
    n_groups = n_pt * n_bins
    rows = np.bincount(group, minlength=n_groups).astype(float)
    tilt_sum = np.bincount(group, weights=prem.tilt[premise], minlength=n_groups)
    tilt = np.where(rows > 0, tilt_sum / np.maximum(rows, 1), 1.0)
    affinity = np.array([PREMISE_AFFINITY[t.premises] for t in config.call_types]).T  # (pt, t)
    if affinity.shape[0] != n_pt:
        raise UserError("premise affinity presets must list one weight per premise type")
    seed = np.repeat(affinity, n_bins, axis=0)
    seed = seed * np.where(arr["violent"][None, :], tilt[:, None], 1.0)
    joint = _ipf(seed, rows, arr["share"] * rows.sum())
    return _draw(rng, joint + 1e-12 * (rows[:, None] > 0), group)


def _times(
    rng: np.random.Generator, ctype: np.ndarray, start: pd.Timestamp, days: int, config: SimConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seconds since start, hour and weekday of each call, from its type's hourly profile."""
    prof_names = list(HOUR_PROFILES)
    prof_of_type = np.array([prof_names.index(t.hours) for t in config.call_types])
    prof = prof_of_type[ctype]
    base = np.array([HOUR_PROFILES[p] for p in prof_names])  # (P, 24)
    weights = base[:, None, :] * np.array(WEEKDAY_CALLS)[None, :, None]  # (P, 7, 24)
    weights = weights * _weekend_night_matrix(config.weekend_night_calls)[None, :, :]
    dow_of_day = (start.day_of_week + np.arange(days)) % 7
    day = np.empty(len(ctype), dtype=np.int64)
    for p in range(len(prof_names)):
        idx = np.flatnonzero(prof == p)
        if len(idx):
            day_w = weights[p].sum(axis=1)[dow_of_day]
            day[idx] = rng.choice(days, size=len(idx), p=day_w / day_w.sum())
    dow = dow_of_day[day]
    hour = _draw(rng, weights.reshape(-1, 24), prof * 7 + dow)
    seconds = rng.integers(0, 3600, size=len(ctype))
    return day * 86_400 + hour * 3600 + seconds, hour, dow


def _weekend_night_matrix(boost: float) -> np.ndarray:
    """(7, 24) multipliers: Friday and Saturday nights (20:00-03:59 the next day) get `boost`."""
    m = np.ones((7, 24))
    m[4, 20:] = m[5, 20:] = boost  # Fri, Sat evenings
    m[5, :4] = m[6, :4] = boost  # early Sat, early Sun
    return m


def _near_repeat(premise: np.ndarray, t_sec: np.ndarray, violent: np.ndarray, window: int):
    """Violent calls at the same premise in (t - window, t): a sort + searchsorted, no loop."""
    span = int(t_sec.max(initial=0)) + window + 1
    key = premise.astype(np.int64) * span + t_sec + window
    v = np.sort(key[violent])
    return np.searchsorted(v, key, side="left") - np.searchsorted(v, key - window, side="right")


def _calibrate_risk(
    m0: np.ndarray, ctype: np.ndarray, hour: np.ndarray, rate: np.ndarray, config: SimConfig
) -> np.ndarray:
    """P(assault) per call: multipliers scaled so each type's mean is its table rate and the hour
    profile of expected assaults matches LEOKA's.

    Scaling in-sample keeps the table exact for any world size; the hour multipliers come from
    alternating the two constraints (converges in a few rounds).
    """
    n_types = len(rate)
    counts = np.bincount(ctype, minlength=n_types).astype(float)
    target = _normalise(config.assault_share_2h)
    if len(target) != 12:
        raise UserError("assault_share_2h must hold 12 two-hour shares")
    hm = np.ones(24)

    def scale(m: np.ndarray) -> np.ndarray:
        mean_t = np.bincount(ctype, weights=m, minlength=n_types) / np.maximum(counts, 1)
        return np.where(mean_t > 0, rate / np.where(mean_t > 0, mean_t, 1), 0.0)

    for _ in range(6):
        m = m0 * hm[hour]
        p = scale(m)[ctype] * m
        share = np.bincount(hour // 2, weights=p, minlength=12)
        share = share / max(share.sum(), 1e-300)
        adj = np.where(share > 0, target / np.where(share > 0, share, 1), 1.0)
        hm *= np.repeat(adj, 2)
    m = m0 * hm[hour]
    s = scale(m)
    # The cap binds for a few calls of the riskiest types: re-scale those types (only their
    # calls, so it is cheap) until their mean is exact again.
    capped = np.bincount(ctype, weights=s[ctype] * m > config.p_cap, minlength=n_types) > 0
    sub = np.flatnonzero(capped[ctype])
    for _ in range(100):
        if not len(sub):
            break
        p = np.minimum(config.p_cap, s[ctype[sub]] * m[sub])
        mean_t = np.bincount(ctype[sub], weights=p, minlength=n_types) / np.maximum(counts, 1)
        ratio = np.where(capped & (mean_t > 0), rate / np.where(mean_t > 0, mean_t, 1), 1.0)
        if np.abs(ratio - 1).max() < 1e-9:
            break
        s *= ratio
    return np.minimum(config.p_cap, s[ctype] * m)


def _addresses(
    rng: np.random.Generator, prem: _Premises, premise: np.ndarray, street_pt: int
) -> pa.Array:
    """Addresses as CAD writes them: one premise, many spellings (case, spaces, suffixes, ...)."""
    n = len(premise)
    number = pc.cast(pa.array(prem.number[premise]), pa.string())
    is_street = prem.ptype[premise] == street_pt
    form = rng.integers(0, len(BLOCK_FORMS), size=n)
    block_word = _take(_bank(BLOCK_FORMS), np.where(is_street, form, -1))
    lead = _join([number, block_word], " ")
    abbrev_dir = rng.random(n) < 0.75
    direction = _take(
        _bank([s for pair in DIRECTIONALS for s in pair]),
        prem.direction[premise] * 2 + abbrev_dir,
    )
    names = _bank([*_EW_NAMES, *(_ordinal(k) for k in range(1, N_NS + 1))])
    name = _take(names, prem.street[premise])
    variant = rng.choice(3, size=n, p=[0.25, 0.65, 0.10])
    suffix = _take(
        _bank([s for trio in SUFFIXES for s in trio]), prem.suffix[premise] * 3 + variant
    )
    sep = _take(_bank([" ", "  "]), (rng.random(n) < 0.04).astype(np.int64))
    text = _join([lead, direction, name, suffix], sep)
    period = (rng.random(n) < 0.05) & (variant != 2)
    text = pc.if_else(pa.array(period), pc.binary_join_element_wise(text, ".", ""), text)
    case = rng.choice(3, size=n, p=[0.87, 0.08, 0.05])
    text = pc.if_else(pa.array(case == 1), pc.utf8_title(text), text)
    return pc.if_else(pa.array(case == 2), pc.utf8_lower(text), text)


def _narratives(
    rng: np.random.Generator,
    facts: np.ndarray,
    flags: np.ndarray,
    ctype: np.ndarray,
    source: np.ndarray,
    config: SimConfig,
) -> pa.Array:
    """Call-taker remarks from phrase banks; some facts are written only here."""
    n = len(ctype)
    offsets: dict[str, int] = {}
    bank_list: list[str] = []
    for fam, phrases in PHRASES.items():
        offsets[fam] = len(bank_list)
        bank_list.extend(phrases)
    bank = _bank(bank_list)

    def pick(fam: str, mask: np.ndarray) -> np.ndarray:
        k = rng.integers(0, len(PHRASES[fam]), size=n)
        return np.where(mask, offsets[fam] + k, -1)

    u = rng.random((n, 8))
    type_facts = _spec_arrays(config)["facts"][ctype]
    flagged_w = flags[:, 0] == 1
    mention = np.where(flagged_w, config.mention_flagged, config.mention_unflagged)
    w_fact = facts[:, F_WEAPON]
    weapon_pos = (w_fact & (u[:, 0] < mention)) | (
        ~w_fact & (u[:, 0] < config.mention_false_weapon)
    )
    weapon_neg = (
        ~w_fact
        & ~weapon_pos
        & (type_facts[:, F_WEAPON] >= 0.02)
        & (u[:, 0] > 1 - config.mention_negated)
    )
    weapon = np.where(weapon_pos, pick("weapon", weapon_pos), pick("weapon_neg", weapon_neg))
    threat = pick("threat", facts[:, F_THREATS] & (u[:, 1] < config.mention_threats))
    phys = facts[:, F_PHYSICAL]
    violence = np.where(
        phys,
        pick("violence", phys & (u[:, 2] < config.mention_violence)),
        pick(
            "violence_neg",
            ~phys
            & (type_facts[:, F_PHYSICAL] >= 0.1)
            & (u[:, 2] < config.mention_violence_negated),
        ),
    )
    suicidal_type = np.array([t.name == "SUICIDAL PERSON" for t in config.call_types])[ctype]
    p_mental = np.where(
        flags[:, 2] == 1, config.mention_mental_flagged, config.mention_mental_unflagged
    )
    mental_mention = facts[:, F_MENTAL] & (u[:, 3] < p_mental)
    suicide = mental_mention & (suicidal_type | (u[:, 4] < 0.1))
    mental = np.where(suicide, pick("suicide", suicide), pick("mental", mental_mention))
    intox_fact = facts[:, F_INTOX]
    intox = pick(
        "intox",
        (intox_fact & (u[:, 5] < config.mention_intox)) | (~intox_fact & (u[:, 5] < 0.005)),
    )
    kids = facts[:, F_CHILDREN]
    children = np.where(
        kids,
        pick("children", kids & (u[:, 6] < config.mention_children)),
        pick(
            "children_neg",
            ~kids & facts[:, F_DOMESTIC] & (u[:, 6] < config.mention_children_negated),
        ),
    )
    filler_fam = [t.filler for t in config.call_types]
    fam_names = list(dict.fromkeys(filler_fam))
    fam_of_type = np.array([fam_names.index(f) for f in filler_fam])[ctype]
    n_fill = rng.choice(len(config.filler_counts), size=n, p=_normalise(config.filler_counts))
    fam_size = np.array([len(PHRASES[f]) for f in fam_names])[fam_of_type]
    fam_offset = np.array([offsets[f] for f in fam_names])[fam_of_type]
    first = rng.integers(0, 1 << 30, size=n)
    # Consecutive phrases of the family from a random start: never the same filler twice.
    fillers = [
        np.where(n_fill > slot, fam_offset + (first + slot) % fam_size, -1)
        for slot in range(len(config.filler_counts) - 1)
    ]
    parts = np.column_stack([weapon, threat, violence, mental, intox, children, *fillers])
    order = np.argsort(rng.random(parts.shape), axis=1)  # real remarks come in any order
    parts = np.take_along_axis(parts, order, axis=1)
    empty = rng.random(n) < np.asarray(config.empty_narrative_by_source)[source]
    parts[empty] = -1
    sep = _take(_bank(NARRATIVE_SEPARATORS), rng.integers(0, len(NARRATIVE_SEPARATORS), size=n))
    return _join([_take(bank, parts[:, c]) for c in range(parts.shape[1])], sep)


def _simulate_tables(
    calls: int, seed: int, start: str, days: int, config: SimConfig
) -> tuple[pa.Table, pa.Table]:
    """The world as two Arrow tables (calls, truth); `simulate` and the writer share it."""
    if int(calls) < 1:
        raise UserError("--calls must be at least 1")
    if int(days) < 1:
        raise UserError("--days must be at least 1")
    try:
        start_ts = pd.Timestamp(start).normalize()
    except (ValueError, TypeError) as exc:
        raise UserError(f"--start {start!r} is not a date (YYYY-MM-DD)") from exc
    if start_ts is pd.NaT or start_ts.tzinfo is not None:
        raise UserError(f"--start {start!r} must be a plain date (YYYY-MM-DD)")
    if int(seed) < 0:
        raise UserError("--seed must be zero or positive")
    n = int(calls)
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    arr = _spec_arrays(config)
    t0 = time.perf_counter()

    # Places and who calls from them.
    n_prem = max(1, round(n * config.premises_per_call))
    prem = _make_premises(rng, n_prem, config)
    cum = np.cumsum(prem.propensity)
    premise = np.minimum(np.searchsorted(cum, rng.random(n) * cum[-1], side="right"), n_prem - 1)
    ctype = _call_types_for(rng, prem, premise, arr, config)
    t_sec, hour, dow = _times(rng, ctype, start_ts, int(days), config)
    order = np.argsort(t_sec, kind="stable")
    premise, ctype, t_sec, hour, dow = (a[order] for a in (premise, ctype, t_sec, hour, dow))
    log.info("simulate: %d calls at %d premises placed in time (%.1fs)", n, n_prem,
             time.perf_counter() - t0)  # fmt: skip

    # Hidden true facts of each call.
    ptype = prem.ptype[premise]
    night = (hour >= 21) | (hour < 4)
    p_facts = arr["facts"][ctype].copy()
    hz = prem.hazard[premise] ** config.fact_hazard_power
    for f in (F_WEAPON, F_THREATS, F_INTOX, F_PHYSICAL):
        p_facts[:, f] *= hz
    p_facts[:, F_INTOX] *= np.where(night, config.night_intox, 0.7)
    facts = rng.random(p_facts.shape) < np.minimum(p_facts, 0.97)

    # What the call-taker hears: source, flags, priority.
    src = _draw(rng, np.array([SOURCE_PRESETS[t.source] for t in config.call_types]), ctype)
    fact_of_flag = (F_WEAPON, F_DOMESTIC, F_MENTAL, F_INTOX, F_IN_PROGRESS)
    flags = np.empty((n, len(FLAG_COLUMNS)), dtype=np.int8)  # 1 true, 0 false, -1 unknown
    unknown_base = np.asarray(config.unknown_by_source)[src]
    for c, f in enumerate(fact_of_flag):
        fp = config.flag_false_positive[c]
        if c == 0:
            fp = np.maximum(fp, arr["weapon_claim"][ctype])
        p_true = np.where(facts[:, f], config.flag_sensitivity[c], fp)
        value = (rng.random(n) < p_true).astype(np.int8)
        unknown = rng.random(n) < np.clip(unknown_base + config.flag_unknown_offset[c], 0, 1)
        flags[:, c] = np.where(unknown, -1, value)
    prio_rows = np.array([PRIORITY_PRESETS[t.priority] for t in config.call_types])
    priority = _draw(rng, prio_rows, ctype) + 1
    urgent = ((flags[:, 0] == 1) | (flags[:, 4] == 1)) & (rng.random(n) < config.priority_bump)
    priority = np.where(urgent, np.maximum(priority - 1, 1), priority)

    # The outcome.
    nr = _near_repeat(premise, t_sec, arr["violent"][ctype], int(config.near_repeat_days * 86400))
    pts = config.premise_types
    pt_time = np.where(night, np.array([p.night for p in pts])[ptype],
                       np.array([p.day for p in pts])[ptype])  # fmt: skip
    weekend_night = _weekend_night_matrix(config.weekend_night_risk)[dow, hour]
    effects = (
        (F_WEAPON, config.weapon_effect),
        (F_THREATS, config.threats_effect),
        (F_INTOX, config.intox_effect),
        (F_MENTAL, config.mental_effect),
        (F_PHYSICAL, config.physical_effect),
    )
    fact_mult = np.ones(n)
    for f, eff in effects:
        fact_mult *= np.where(facts[:, f], eff, 1.0)
    m0 = (
        prem.hazard[premise]
        * prem.area[premise]
        * pt_time
        * weekend_night
        * fact_mult
        * (1 + config.near_repeat_effect * np.minimum(nr, config.near_repeat_cap))
    )
    p_assault = _calibrate_risk(m0, ctype, hour, arr["rate"], config)
    p_inj_given = np.where(
        facts[:, F_WEAPON], config.injury_given_assault_weapon, config.injury_given_assault
    )
    p_inj_only = (
        np.where(
            arr["roadway"][ctype],
            config.injury_only_roadway_per_1000,
            config.injury_only_other_per_1000,
        )
        / 1000.0
    )
    true_risk = p_assault + (1 - p_assault) * p_inj_only
    u = rng.random((n, 3))
    assaulted = u[:, 0] < p_assault
    injured = np.where(assaulted, u[:, 1] < p_inj_given, u[:, 2] < p_inj_only)
    log.info("simulate: outcomes drawn: %d assaults, %d injuries (%.1fs)", assaulted.sum(),
             injured.sum(), time.perf_counter() - t0)  # fmt: skip

    # Post-dispatch fields: what the call was closed as. They leak the outcome by design.
    disp_rows = np.array([DISPOSITION_PRESETS[t.disposition] for t in config.call_types])
    disposition = _draw(rng, disp_rows, ctype)
    arrest = rng.random(n) < config.assault_arrest
    disposition = np.where(assaulted, np.where(arrest, 0, 1), disposition)
    clearance = disposition.copy()
    aoo = assaulted & (rng.random(n) < config.assault_clearance)
    type_names = [t.name for t in config.call_types]
    final_bank = _bank([*type_names, ASSAULT_ON_OFFICER, OFFICER_INJURED])
    reclass_idx = np.array([type_names.index(t.reclass) if t.reclass in type_names else i
                            for i, t in enumerate(config.call_types)])  # fmt: skip
    final = np.where(rng.random(n) < config.reclassified, reclass_idx[ctype], ctype)
    final = np.where(
        assaulted & (rng.random(n) < config.assault_final_type), len(type_names), final
    )
    injury_final = ~assaulted & injured & (rng.random(n) < config.injury_final_type)
    final = np.where(injury_final, len(type_names) + 1, final)
    minutes = arr["minutes"][ctype] * np.exp(0.6 * rng.standard_normal(n))
    minutes *= np.where(disposition == 0, 2.5, 1.0) * np.where(assaulted | injured, 2.0, 1.0)
    cleared_sec = t_sec + np.maximum(np.round(minutes * 60), 120).astype(np.int64)

    # Location as recorded.
    r_loc = rng.random(n)
    no_loc = r_loc < config.location_missing
    no_addr = r_loc < config.location_missing + config.address_missing
    street_pt = next((i for i, p in enumerate(pts) if p.name == "STREET"), -1)
    address = _addresses(rng, prem, premise, street_pt)
    address = pc.if_else(pa.array(no_addr), pa.scalar(None, pa.string()), address)
    jitter = config.jitter_m / 111_320.0
    lat = np.round(prem.lat[premise] + jitter * rng.standard_normal(n), 6)
    lon = np.round(
        prem.lon[premise]
        + jitter / np.cos(np.radians(config.center_lat)) * rng.standard_normal(n),
        6,
    )
    area_missing = no_loc & (rng.random(n) < 0.5)
    beat_names = [
        f"{_district_of_cell(c, r) + 1}{r * BEAT_COLS + c + 1:02d}"
        for r in range(BEAT_ROWS)
        for c in range(BEAT_COLS)
    ]
    beat = _take(_bank(beat_names), np.where(area_missing, -1, prem.beat[premise]))
    district = _take(_bank(_DISTRICT_NAMES), np.where(area_missing, -1, prem.district[premise]))
    pt_missing = rng.random(n) < config.premise_type_missing
    premise_type = _take(_bank([p.name for p in pts]), np.where(pt_missing, -1, ptype))
    narrative = _narratives(rng, facts, flags, ctype, src, config)
    log.info("simulate: text built (%.1fs)", time.perf_counter() - t0)

    received = start_ts.to_datetime64().astype("datetime64[s]") + t_sec.astype("timedelta64[s]")
    cleared = start_ts.to_datetime64().astype("datetime64[s]") + cleared_sec.astype(
        "timedelta64[s]"
    )
    year = received.astype("datetime64[Y]").astype(np.int64) + 1970
    yy = pc.utf8_lpad(pc.cast(pa.array(year % 100), pa.string()), width=2, padding="0")
    seq = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), width=7, padding="0")
    call_id = pc.binary_join_element_wise(pc.binary_join_element_wise("C", yy, ""), seq, "-")
    prio_missing = rng.random(n) < config.priority_missing
    src_missing = rng.random(n) < config.source_missing

    columns: dict[str, pa.Array] = {
        "call_id": call_id,
        "received_at": pa.array(received.astype("datetime64[us]")),
        "call_type": _take(_bank(type_names), ctype),
        "priority": pa.array(priority.astype(np.int64), mask=prio_missing),
        "source": _take(_bank(SOURCES), np.where(src_missing, -1, src)),
        "address": address,
        "latitude": pa.array(lat, mask=no_loc),
        "longitude": pa.array(lon, mask=no_loc),
        "beat": beat,
        "district": district,
        "premise_type": premise_type,
    }
    for c, name in enumerate(FLAG_COLUMNS):
        columns[name] = _bool_array(flags[:, c] == 1, flags[:, c] >= 0)
    columns["narrative"] = narrative
    columns["officer_assaulted"] = _bool_array(assaulted)
    columns["officer_injured"] = _bool_array(injured)
    columns["disposition"] = _take(_bank(DISPOSITIONS), disposition)
    columns["final_call_type"] = _take(final_bank, final)
    columns["clearance_code"] = _take(
        _bank([*CLEARANCE_CODES, "AOO"]), np.where(aoo, len(CLEARANCE_CODES), clearance)
    )
    columns["cleared_at"] = pa.array(cleared.astype("datetime64[us]"))
    calls_table = pa.table({c: columns[c] for c in CALL_COLUMNS})

    truth_cols: dict[str, pa.Array] = {
        "call_id": call_id,
        "true_risk": pa.array(true_risk),
        "true_p_assault": pa.array(p_assault),
        "true_p_injury_only": pa.array(p_inj_only),
        "premise_id": pa.array(premise.astype(np.int64)),
        "premise_hazard": pa.array(prem.hazard[premise]),
        "area_multiplier": pa.array(prem.area[premise]),
        "near_repeat_violent_14d": pa.array(nr.astype(np.int64)),
    }
    for name, f in zip(
        TRUTH_COLUMNS[8:],
        (F_WEAPON, F_THREATS, F_INTOX, F_MENTAL, F_CHILDREN, F_PHYSICAL, F_IN_PROGRESS,
         F_DOMESTIC),
        strict=True,
    ):  # fmt: skip
        truth_cols[name] = _bool_array(facts[:, f])
    truth_table = pa.table(truth_cols)
    log.info("simulate: done (%.1fs)", time.perf_counter() - t0)
    return calls_table, truth_table


_PANDAS_TYPES = {
    pa.string(): pd.StringDtype(),
    pa.bool_(): pd.BooleanDtype(),
    pa.int64(): pd.Int64Dtype(),
}


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=_PANDAS_TYPES.get)


def _drifted_tables(
    calls: int,
    seed: int,
    start: str,
    days: int,
    config: SimConfig,
    drift: str | None,
    drift_from: str | None,
) -> tuple[pa.Table, pa.Table]:
    """The world, with the planted drift if any (drawn after it, on its own random stream)."""
    from risk_model.simulate_drift import apply_drift, drift_start, parse_drift

    drifts = parse_drift(drift, _DISTRICT_NAMES)  # a bad --drift fails before the long draw
    calls_table, truth_table = _simulate_tables(calls, seed, start, days, config)
    if not drifts:
        return calls_table, truth_table
    since = drift_start(pd.Timestamp(start).normalize(), int(days), drift_from)
    return apply_drift(calls_table, truth_table, drifts, since, int(seed))


def simulate(
    calls: int,
    seed: int,
    start: str = "2025-01-01",
    days: int = 365,
    config: SimConfig | None = None,
    drift: str | None = None,
    drift_from: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(calls frame, truth frame). Deterministic for (calls, seed, start, days, config).

    The calls frame holds the SPEC §1 canonical columns, both outcomes and four post-dispatch
    columns, sorted by received_at. The truth frame is aligned row for row (same call_id order)
    and holds the exact probability each outcome was drawn from, plus the hidden facts.
    `drift` plants changes from `drift_from` on (risk_model/simulate_drift.py); without it the
    world is exactly the undrifted one.
    """
    calls_table, truth_table = _drifted_tables(
        calls, seed, start, days, config or SimConfig(), drift, drift_from
    )
    return _to_pandas(calls_table), _to_pandas(truth_table)


def truth_path_for(out: Path) -> Path:
    """Where the truth side file of `out` goes: `<out without suffix>.truth.parquet`."""
    out = Path(out)
    return out.with_name(out.stem + ".truth.parquet")


def simulate_to_file(
    out: Path,
    calls: int,
    seed: int,
    start: str = "2025-01-01",
    days: int = 365,
    config: SimConfig | None = None,
    agency_export: Path | None = None,
    drift: str | None = None,
    drift_from: str | None = None,
) -> dict:
    """Writes `out` (.parquet or .csv by extension; anything else -> UserError) and the truth
    side file `<out without suffix>.truth.parquet`. Returns a JSON-able summary.

    With `agency_export`, the same world is also written there as an agency would hand it over
    (CAD export, officer-harm file, mapping: see risk_model/agency_export.py); `out` and its
    truth file are unchanged by it."""
    t0 = time.perf_counter()
    out = Path(out)
    kind = out.suffix.lower()
    if kind not in (".parquet", ".csv"):
        raise UserError(f"--out must end in .parquet or .csv, got {out.name!r}")
    truth_out = truth_path_for(out)
    calls_table, truth_table = _drifted_tables(
        calls, seed, start, days, config or SimConfig(), drift, drift_from
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if kind == ".parquet":
            pq.write_table(mark_simulated(calls_table), out)
        else:
            _write_csv(calls_table, out)
        pq.write_table(truth_table, truth_out)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from exc
    n = calls_table.num_rows
    assaulted = calls_table["officer_assaulted"].to_numpy()
    injured = calls_table["officer_injured"].to_numpy()
    harmed = assaulted | injured
    agency = None
    if agency_export is not None:
        from risk_model.agency_export import write_agency_export

        agency = write_agency_export(
            Path(agency_export), _to_pandas(calls_table), _to_pandas(truth_table), seed=seed
        )
    seconds = time.perf_counter() - t0
    log.info("simulate: wrote %s and %s in %.1fs", out, truth_out, seconds)
    summary = {
        "out": str(out),
        "truth": str(truth_out),
        "calls": n,
        "seconds": round(seconds, 3),
        "assault_rate": float(assaulted.mean()),
        "injury_rate": float(injured.mean()),
        "harmed_rate": float(harmed.mean()),
        "positives": int(harmed.sum()),
    }
    if agency is not None:
        summary["agency_export"] = agency
    if drift:
        summary["drift"] = drift
    return summary


# The marker a simulated Parquet file carries in its schema metadata: `train` records it in the
# model (`trained_on_simulated`), so every answer of a model trained on it says so.
SIMULATED_KEY = b"risk_model.simulated"


def mark_simulated(table: pa.Table) -> pa.Table:
    return table.replace_schema_metadata({**(table.schema.metadata or {}), SIMULATED_KEY: b"true"})


def is_simulated(data: Path, truth: Path | None = None) -> bool:
    """True for calls the simulator made: a Parquet file it wrote carries `SIMULATED_KEY`; a CSV
    cannot, but only the simulator writes the oracle truth side file found beside it (`truth`).
    """
    if truth is not None and Path(truth).is_file():
        return True
    data = Path(data)
    if data.suffix.lower() != ".parquet" or not data.is_file():
        return False
    try:
        meta = pq.read_schema(data).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return False
    return meta.get(SIMULATED_KEY) == b"true"


def _write_csv(table: pa.Table, out: Path) -> None:
    """CSV as SPEC §1 reads it: ISO 8601 times, true/false, unknown as an empty cell."""
    cols = []
    for name in table.column_names:
        col = table[name]
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(pc.cast(col, pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%S")
        cols.append(col)
    pacsv.write_csv(pa.table(dict(zip(table.column_names, cols, strict=True))), out)


__all__ = [
    "CALL_COLUMNS",
    "POST_DISPATCH_COLUMNS",
    "TRUTH_COLUMNS",
    "CallTypeSpec",
    "Facts",
    "PremiseTypeSpec",
    "SimConfig",
    "call_type_table",
    "leoka_comparison",
    "simulate",
    "simulate_to_file",
    "truth_path_for",
]
