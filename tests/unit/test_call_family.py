"""The call-type family lexicon: common CAD shorthand, APCO-style categories, and the simulator.

The simulator table is pinned: trained-model tests and benchmarks read families of the simulated
call types, so widening the lexicon must never move one of them (the table was computed with the
lexicon as it stood before the CAD-shorthand additions).
"""

from __future__ import annotations

import pytest

from risk_model.simulate.generate import simulate
from risk_model.simulate.world import DEFAULT_CALL_TYPES
from risk_model.text import FAMILIES, call_family, normalize_call_type

# Every call type (and final call type) of simulate(calls=20000, seed=1), and every name in
# DEFAULT_CALL_TYPES, with its family under the lexicon before the additions.
SIMULATOR_FAMILIES: dict[str, str] = {
    "911 HANG UP": "service",
    "ALARM": "alarm",
    "ANIMAL COMPLAINT": "service",
    "ASSAULT": "assault",
    "ASSAULT ON OFFICER": "assault",
    "ASSIST EMS": "service",
    "BOMB THREAT": "other",
    "BURGLARY IN PROGRESS": "burglary",
    "BURGLARY REPORT": "burglary",
    "CIVIL DISORDER": "civil_disorder",
    "DISTURBANCE": "disturbance",
    "DOMESTIC DISTURBANCE": "domestic",
    "FOLLOW UP": "service",
    "INTOXICATED PERSON": "other",
    "MENTAL HEALTH CRISIS": "mental_health",
    "MOTOR VEHICLE ACCIDENT": "traffic",
    "NARCOTICS": "narcotics",
    "NOISE COMPLAINT": "noise",
    "OFFICER INJURED": "officer_assist",
    "OFFICER NEEDS ASSISTANCE": "officer_assist",
    "PARKING": "traffic",
    "PERSON WITH WEAPON": "weapons",
    "RECKLESS DRIVER": "traffic",
    "ROBBERY IN PROGRESS": "robbery",
    "SHOPLIFTING": "theft",
    "SHOTS FIRED": "weapons",
    "SUICIDAL PERSON": "suicide",
    "SUSPICIOUS PERSON": "suspicious",
    "SUSPICIOUS VEHICLE": "suspicious",
    "THEFT REPORT": "theft",
    "TRAFFIC STOP": "traffic_stop",
    "TRESPASS": "trespass",
    "VEHICLE PURSUIT": "other",
    "WARRANT SERVICE": "warrant",
    "WELFARE CHECK": "welfare",
}


def test_simulator_call_types_keep_their_families() -> None:
    calls, _ = simulate(calls=20000, seed=1)
    produced = set(calls["call_type"].dropna()) | set(calls["final_call_type"].dropna())
    names = produced | {t.name for t in DEFAULT_CALL_TYPES}
    assert names <= set(SIMULATOR_FAMILIES), sorted(names - set(SIMULATOR_FAMILIES))
    ordered = sorted(names)
    got = dict(zip(ordered, call_family(ordered).tolist(), strict=True))
    assert got == {n: SIMULATOR_FAMILIES[n] for n in ordered}


SHORTHAND: list[tuple[str, str]] = [
    # CAD shorthand seen in real exports
    ("TRBL W/SUBJ", "disturbance"),
    ("TRBL W/ SUBJ", "disturbance"),
    ("TROUBLE WITH SUBJECT", "disturbance"),
    ("UNK TRBL", "disturbance"),
    ("UNKNOWN TROUBLE", "disturbance"),
    ("FAMILY TROUBLE", "domestic"),
    ("FAM TRBL", "domestic"),
    ("FAM DISP", "domestic"),
    ("RECK USE OF WEAP", "weapons"),
    ("DIST W/WEAP", "weapons"),
    ("PERS W/WEAP", "weapons"),
    ("ADW", "weapons"),
    ("BRANDISHING", "weapons"),
    ("ACC PDO", "traffic"),
    ("ACC W/INJ", "traffic"),
    ("ACC PI", "traffic"),
    ("PDO", "traffic"),
    ("SUBJ WITH GUN", "weapons"),
    ("SUBJ W/GUN", "weapons"),
    ("MAN W/GUN", "weapons"),
    ("MAN W/KNIFE", "weapons"),
    ("BATTERY DV", "domestic"),
    ("BATT", "assault"),
    ("SIMPLE BATT", "assault"),
    ("SHOTSPOTTER", "weapons"),
    ("SHOT SPOTTER ALERT", "weapons"),
    ("SHOTS FIRED", "weapons"),
    ("DIST W/SUBJ", "disturbance"),
    ("VERBAL DISP", "disturbance"),
    ("10-16 DOMESTIC", "domestic"),
    ("10-16 DOM", "domestic"),
    ("DOMESTIC", "domestic"),
    ("415", "disturbance"),
    ("415 FIGHT", "assault"),
    ("415F", "domestic"),
    ("415 FAMILY", "domestic"),
    ("WELFARE CHK", "welfare"),
    ("WELF CHK", "welfare"),
    ("CHK WELF", "welfare"),
    ("SUSP PERS", "suspicious"),
    ("SUSP VEH", "suspicious"),
    ("SUSP PERS/VEH", "suspicious"),
    ("BURG IP", "burglary"),
    ("BURG RES", "burglary"),
    ("ALARM RES", "alarm"),
    ("ALARM COMM", "alarm"),
    ("AUD ALM", "alarm"),
    ("HOLDUP ALARM", "alarm"),
    ("MVA W/INJ", "traffic"),
    ("MVA NO INJ", "traffic"),
    ("MVC W/O INJURIES", "traffic"),
    ("MVC WITH INJURIES", "traffic"),
    ("H&R", "traffic"),
    ("HIT & RUN", "traffic"),
    ("DRUNK DRIVER", "traffic"),
    ("DISABLED VEH", "traffic"),
    ("LARC", "theft"),
    ("WANTED SUBJ", "warrant"),
    ("OFCR NEEDS ASSIST", "officer_assist"),
    ("911 OPEN LINE", "service"),
    ("OPEN LINE", "service"),
    ("MAN DOWN", "service"),
    # APCO ANS 2.103.2-style common incident categories
    ("Assault", "assault"),
    ("Domestic Disturbance/Violence", "domestic"),
    ("Shooting", "weapons"),
    ("Stabbing/Cutting", "weapons"),
    ("Shots Fired", "weapons"),
    ("Weapons", "weapons"),
    ("Suspicious Person/Vehicle", "suspicious"),
    ("Suspicious Circumstances", "suspicious"),
    ("Traffic Stop", "traffic_stop"),
    ("Traffic Crash/Collision", "traffic"),
    ("Welfare Check", "welfare"),
    ("Check Welfare", "welfare"),
    ("Mental Health", "mental_health"),
    ("Suicide/Attempt", "suicide"),
    ("Alarm", "alarm"),
    ("Burglary", "burglary"),
    ("Robbery/Hold Up", "robbery"),
    ("Theft/Larceny", "theft"),
    ("Fraud", "theft"),
    ("Disturbance", "disturbance"),
    ("Harassment/Threats", "disturbance"),
    ("Noise", "noise"),
    ("Trespass", "trespass"),
    ("Drugs/Narcotics", "narcotics"),
    ("Overdose/Poisoning", "service"),
    ("Homicide", "assault"),
    ("Sexual Assault", "assault"),
    ("Kidnapping/Abduction", "assault"),
    ("Missing Person", "welfare"),
    ("Warrant", "warrant"),
    ("Animal", "service"),
    ("Civil", "service"),
    ("Assist Other Agency", "service"),
    ("Officer Needs Assistance", "officer_assist"),
    ("Abandoned Vehicle", "traffic"),
    ("Unknown Problem/Person Down", "service"),
    ("Vandalism", "other"),
    ("Fire", "other"),
    ("Vehicle Pursuit", "other"),
    ("Intoxicated Person", "other"),
]


@pytest.mark.parametrize(("raw", "family"), SHORTHAND)
def test_shorthand_family(raw: str, family: str) -> None:
    assert family in FAMILIES
    assert call_family([raw]).tolist() == [family]
    # Raw and normalised spellings agree (call_family normalises first).
    assert call_family(normalize_call_type([raw])).tolist() == [family]


def test_ambiguous_ten_code_alone_stays_other() -> None:
    """10-16 is "domestic" in many agencies and "pick up prisoner" in the APCO list: a bare code
    is left to the mapping; with the word beside it the word decides."""
    assert call_family(["10-16", "10-16 DOMESTIC"]).tolist() == ["other", "domestic"]


def test_officer_in_trouble_is_not_a_disturbance() -> None:
    """ "TRBL"/"TROUBLE W/ ..." are disturbances; an officer in trouble stays officer_assist."""
    assert call_family(["OFFICER IN TROUBLE", "TROUBLE W/ NEIGHBOR"]).tolist() == [
        "officer_assist",
        "disturbance",
    ]
