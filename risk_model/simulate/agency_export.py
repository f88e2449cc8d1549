"""The simulated world as a real agency would hand it over: a CAD export, an officer-harm file
and the mapping that reads them.

`risk-model simulate --agency-export DIR` writes these beside the canonical file, so the demo and
the tests walk the analyst's path (export -> mapping -> `ingest` with the outcome join) on data
whose truth is known. What makes it real-shaped, each a difficulty real exports have
(docs/simulator.md, "The agency-style export"):

- the agency's own column names, time format ("11/03/2025 01:14:07 AM") and call-type shorthand
  ("DIST W/SUBJ", "FAMILY TROUBLE", "SUBJ WITH GUN", "SHOTSPOTTER", ...);
- post-dispatch columns (DISPOSITION, CLEAR_CODE, FINAL_NATURE, CLEARED_AT, UNIT) that a mapping
  must not map;
- unit-status rows that are not calls (RETURN STATION, PRISONER TRANSPORT, OUT OF SERVICE,
  COURT), mostly at the police station, and walk-in reports taken at the station's front desk;
- a few calls whose time is written as a date only, and a few calls exported twice (once per
  dispatched unit);
- no outcome columns: officer assaults and injuries sit in a separate LEOKA-style file, one row
  per officer for some reports and one row per report with one value per officer ("No | Yes")
  for others, with rows for incidents outside the export (other years, prisoner transports),
  a report entered twice without its incident number, and columns that exist only for harmed
  calls (circumstance, weapon, injury) which must never cross the join.

The calls are exactly the canonical world's calls (same seed): an incident number is the
canonical call_id without its leading "C", and every harm label the mapping reads back equals
the canonical `officer_assaulted` / `officer_injured`. A separate random stream (derived from the
seed) draws the agency-only details, so the canonical output is unchanged by this module.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from risk_model.errors import UserError
from risk_model.simulate.force_register import write_force_register

log = logging.getLogger(__name__)

CAD_FILE = "cad_calls.csv"
HARM_FILE = "officer_harm.csv"
MAPPING_FILE = "mapping.yaml"
TRUTH_FILE = "oracle_truth.parquet"
SUMMARY_FILE = "export_summary.json"

TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"
DATE_FORMAT = "%m/%d/%Y"

STATION_ADDRESS = "2000 N CIVIC CENTER PLZ"
JAIL_ADDRESS = "1100 N CIVIC CENTER PLZ"
COURT_ADDRESS = "600 W COURTHOUSE SQ"

CAD_COLUMNS: tuple[str, ...] = (
    "INCIDENT_NO",
    "CALL_RECEIVED",
    "NATURE",
    "PRI",
    "CALL_SOURCE",
    "BLOCK_ADDRESS",
    "LATITUDE",
    "LONGITUDE",
    "BEAT",
    "DISTRICT",
    "PREMISE",
    "WEAPON_YN",
    "DV_YN",
    "MENTAL_YN",
    "ETOH_YN",
    "IN_PROG_YN",
    "REMARKS",
    "UNIT",
    "DISPOSITION",
    "CLEAR_CODE",
    "FINAL_NATURE",
    "CLEARED_AT",
)
# Written after dispatch: present in every real export, never mapped (they leak the outcome).
POST_DISPATCH_CAD_COLUMNS: tuple[str, ...] = (
    "UNIT",
    "DISPOSITION",
    "CLEAR_CODE",
    "FINAL_NATURE",
    "CLEARED_AT",
)
HARM_COLUMNS: tuple[str, ...] = (
    "REPORT_NO",
    "INCIDENT_NUMBER",
    "REPORT_DATE",
    "OFFICERS_ON_REPORT",
    "OFFICER_SEQ",
    "ASSIGNMENT",
    "LEOKA_CIRCUMSTANCE",
    "WEAPON_TYPE",
    "INJURY_TYPE",
    "OFFICER_ASSAULTED",
    "OFFICER_INJURED",
)
# Exist only for harmed calls: joined onto calls they would hand the model its label.
HARM_ONLY_COLUMNS: tuple[str, ...] = (
    "REPORT_NO",
    "REPORT_DATE",
    "OFFICERS_ON_REPORT",
    "OFFICER_SEQ",
    "ASSIGNMENT",
    "LEOKA_CIRCUMSTANCE",
    "WEAPON_TYPE",
    "INJURY_TYPE",
)

# The simulator's call types as a CAD writes them at call-taking: (shorthand, weight), drawn per
# call. Types not listed (a custom SimConfig) are written as they are.
NATURE_CODES: dict[str, tuple[tuple[str, float], ...]] = {
    "DISTURBANCE": (("DIST W/SUBJ", 0.5), ("DISTURBANCE", 0.3), ("TRBL W/SUBJ", 0.2)),
    "DOMESTIC DISTURBANCE": (("FAMILY TROUBLE", 0.6), ("DOMESTIC DIST", 0.4)),
    "ASSAULT": (("ASSAULT", 0.6), ("BATTERY", 0.4)),
    "PERSON WITH WEAPON": (("SUBJ WITH GUN", 0.5), ("SUBJ WITH KNIFE", 0.2),
                           ("RECK USE OF WEAP", 0.3)),
    "SHOTS FIRED": (("SHOTS FIRED", 0.6), ("SHOTSPOTTER", 0.4)),
    "WARRANT SERVICE": (("WARRANT SVC", 1.0),),
    "NARCOTICS": (("NARCOTICS ACTIVITY", 1.0),),
    "SHOPLIFTING": (("SHOPLIFTER", 1.0),),
    "TRESPASS": (("CRIM TRESPASS", 1.0),),
    "SUSPICIOUS PERSON": (("SUSP PERSON", 1.0),),
    "SUSPICIOUS VEHICLE": (("SUSP VEH", 1.0),),
    "TRAFFIC STOP": (("TRAFFIC STOP", 1.0),),
    "MOTOR VEHICLE ACCIDENT": (("ACC PDO", 0.7), ("ACC W/INJ", 0.3)),
    "RECKLESS DRIVER": (("RECKLESS DRIVER", 1.0),),
    "VEHICLE PURSUIT": (("PURSUIT", 1.0),),
    "CIVIL DISORDER": (("CROWD CONTROL", 1.0),),
    "MENTAL HEALTH CRISIS": (("EDP", 0.6), ("MENTAL SUBJ", 0.4)),
    "SUICIDAL PERSON": (("SUICIDAL SUBJ", 1.0),),
    "BURGLARY IN PROGRESS": (("BURG IN PROG", 1.0),),
    "ROBBERY IN PROGRESS": (("ROBBERY IN PROG", 1.0),),
    "WELFARE CHECK": (("WELFARE CHECK", 1.0),),
    "ALARM": (("ALARM BURG", 0.7), ("ALARM RES", 0.3)),
    "911 HANG UP": (("911 HANGUP", 1.0),),
    "NOISE COMPLAINT": (("LOUD MUSIC", 0.6), ("NOISE CMPL", 0.4)),
    "THEFT REPORT": (("THEFT RPT", 1.0),),
    "BURGLARY REPORT": (("BURG RPT", 1.0),),
    "FOLLOW UP": (("FOLLOW UP", 1.0),),
    "PARKING": (("PARKING VIOL", 1.0),),
    "ANIMAL COMPLAINT": (("ANIMAL CMPL", 1.0),),
    "INTOXICATED PERSON": (("INTOX SUBJ", 1.0),),
    "ASSIST EMS": (("ASSIST EMS", 1.0),),
    "OFFICER NEEDS ASSISTANCE": (("OFFICER NEEDS ASSIST", 1.0),),
    "BOMB THREAT": (("BOMB THREAT", 1.0),),
}  # fmt: skip
# What the call was closed as (FINAL_NATURE): the first shorthand of its type, or these.
FINAL_NATURE_EXTRA: dict[str, str] = {
    "ASSAULT ON OFFICER": "ASLT ON OFFICER",
    "OFFICER INJURED": "OFFICER INJURED",
}
SOURCE_CODES: dict[str, str] = {
    "911": "E911",
    "NON-EMERGENCY": "ADMIN LINE",
    "OFFICER INITIATED": "SELF-INIT",
    "ALARM COMPANY": "ALARM CO",
    "TEXT": "TEXT-911",
}
WALK_IN_SOURCE = "WALK-IN"
WALK_IN_TYPES: tuple[str, ...] = ("THEFT REPORT", "FOLLOW UP", "BURGLARY REPORT")
UNIT_STATUSES: tuple[tuple[str, float, str, tuple[str, ...]], ...] = (
    # status, weight, where, remarks
    ("RETURN STATION", 0.40, STATION_ADDRESS, ("10-8 FROM STATION", "RTS FOR REPORTS", "")),
    ("PRISONER TRANSPORT", 0.25, "", ("TRANSPORT 1 TO COUNTY", "1 IN CUSTODY ENRT JAIL", "")),
    ("OUT OF SERVICE", 0.20, STATION_ADDRESS, ("OOS VEH MAINT", "OOS MEAL", "OOS TRAINING")),
    ("COURT", 0.15, COURT_ADDRESS, ("MUNI COURT RM 3", "DISTRICT COURT SUBPOENA", "")),
)
DISPOSITION_CODES: dict[str, str] = {
    "ARREST": "CA",
    "REPORT": "RPT",
    "ADVISED": "ADV",
    "GONE ON ARRIVAL": "GOA",
    "UNFOUNDED": "UNF",
    "CITATION": "CIT",
    "WARNING": "WRN",
    "FALSE ALARM": "FA",
}
LEOKA_CIRCUMSTANCES: dict[str, str] = {
    "disturbance": "DISTURBANCE CALL",
    "other_arrests": "ATTEMPTING OTHER ARRESTS",
    "suspicious": "INVESTIGATING SUSPICIOUS PERSONS OR CIRCUMSTANCES",
    "traffic": "TRAFFIC PURSUITS AND STOPS",
    "civil_disorder": "CIVIL DISORDER",
    "mental_illness": "HANDLING PERSONS WITH MENTAL ILLNESS",
    "burglary_in_progress": "BURGLARY IN PROGRESS OR PURSUING BURGLARY SUSPECTS",
    "robbery_in_progress": "ROBBERY IN PROGRESS OR PURSUING ROBBERY SUSPECTS",
    "other": "ALL OTHER",
}
PRISONER_CIRCUMSTANCE = "HANDLING, TRANSPORTING, CUSTODY OF PRISONERS"
ASSIGNMENTS: tuple[str, ...] = (
    "TWO-OFFICER VEHICLE",
    "ONE-OFFICER VEHICLE ALONE",
    "ONE-OFFICER VEHICLE ASSISTED",
    "DETECTIVE OR SPECIAL ASSIGNMENT",
)
ASSIGNMENT_WEIGHTS: tuple[float, ...] = (0.30, 0.35, 0.30, 0.05)
WEAPON_TYPES: tuple[str, ...] = ("PERSONAL WEAPONS", "OTHER DANGEROUS WEAPON", "KNIFE OR CUTTING",
                                 "FIREARM")  # fmt: skip
INJURY_TYPES: tuple[str, ...] = ("MINOR", "SERIOUS")

MAPPING_TEXT = f"""\
# Mapping for the simulated agency-style export (risk-model simulate --agency-export DIR).
# It reads {CAD_FILE} (the CAD export) and joins {HARM_FILE} (officer assaults and injuries, one
# row per officer or one row per report) written beside it. docs/analyst-guide.md explains each
# block; docs/ingest.md documents every key.
version: 1
name: agency_demo
description: Simulated agency CAD export with a separate LEOKA-style officer-harm file
timezone: America/Chicago

fields:
  call_id: INCIDENT_NO
  received_at:
    column: CALL_RECEIVED
    # Most calls carry date and clock time; a few were entered with the date only: those are
    # known to the day (time-of-day features unknown, history from earlier days only).
    formats: ["{TIME_FORMAT}", "{DATE_FORMAT}"]
  call_type: NATURE                  # the INITIAL nature; never FINAL_NATURE (written at close)
  priority:
    column: PRI
    values: {{"P1": 1, "P2": 2, "P3": 3, "P4": 4, "P5": 5}}
  source:
    column: CALL_SOURCE
    values:
      E911: "911"
      ADMIN LINE: non-emergency line
      SELF-INIT: officer-initiated
      ALARM CO: alarm company
      TEXT-911: text
      WALK-IN: walk-in
  address: BLOCK_ADDRESS
  latitude: LATITUDE
  longitude: LONGITUDE
  beat: BEAT
  district: DISTRICT
  premise_type: PREMISE
  weapon_reported: {{column: WEAPON_YN, values: {{"Y": "true", "N": "false"}}}}
  domestic: {{column: DV_YN, values: {{"Y": "true", "N": "false"}}}}
  mental_health: {{column: MENTAL_YN, values: {{"Y": "true", "N": "false"}}}}
  intoxication: {{column: ETOH_YN, values: {{"Y": "true", "N": "false"}}}}
  in_progress: {{column: IN_PROG_YN, values: {{"Y": "true", "N": "false"}}}}
  narrative: REMARKS
  # Not mapped, on purpose: UNIT, DISPOSITION, CLEAR_CODE, FINAL_NATURE, CLEARED_AT are written
  # after dispatch and would tell the model the outcome.

# Unit-status entries are not calls for service: dropped before validation, counted by rule.
exclude:
  - {{column: NATURE, equals: ["RETURN STATION", "PRISONER TRANSPORT", "OUT OF SERVICE", "COURT"]}}

# Walk-in reports are taken at the station's front desk and prisoners are booked at the jail:
# those addresses are not the premises the calls are about, so they never build premise history.
not_premises:
  - {{column: BLOCK_ADDRESS, equals: ["{STATION_ADDRESS}", "{JAIL_ADDRESS}"]}}

# Officer assaults and injuries come from their own file, keyed by the incident number.
# Only these two flags cross the join; the file's other columns (circumstance, weapon, injury)
# exist only for harmed calls and would hand the model its label.
outcomes:
  file: {HARM_FILE}
  key: INCIDENT_NUMBER
  call_key: INCIDENT_NO
  absent: "false"                    # the file lists every assaulted or injured officer
  fields:
    officer_assaulted: {{column: OFFICER_ASSAULTED, split: "|"}}    # "No | Yes" = one per officer
    officer_injured: {{column: OFFICER_INJURED, split: "|"}}
"""


@dataclass(frozen=True)
class AgencyConfig:
    """Shares of the agency-only quirks. Sources and rationale: docs/simulator.md."""

    unit_status_share: float = 0.04  # unit-status rows per call
    date_only_share: float = 0.02  # calls whose time was entered as a date only
    duplicate_share: float = 0.002  # calls exported twice (a second dispatched unit)
    walk_in_share: float = 0.25  # of report-type calls (WALK_IN_TYPES) taken at the station
    per_officer_rows: float = 0.6  # harm reports written one row per officer (else one row)
    officers_on_call: tuple[float, ...] = (0.35, 0.45, 0.15, 0.05)  # P(1, 2, 3, 4 officers)
    prisoner_transport_harm: float = 0.01  # transports with an officer assaulted or injured
    other_year_share: float = 0.03  # harm rows for incidents of other years, per harm row
    missing_key_rows: int = 1  # harm rows re-entered without their incident number (min)


@dataclass
class AgencyExport:
    """The export's frames and what a test needs to check them against the canonical world."""

    cad: pd.DataFrame
    harm: pd.DataFrame
    mapping_text: str
    incident_of_call: pd.Series  # canonical call_id -> INCIDENT_NO
    counts: dict[str, int] = field(default_factory=dict)


def incident_number(call_ids: pd.Series) -> pd.Series:
    """The agency's incident number of a canonical call: its call_id without the leading "C"."""
    return call_ids.astype("string").str.slice(1)


def _fmt(values: np.ndarray, fmt: str) -> np.ndarray:
    arr = pa.array(values.astype("datetime64[s]"))
    return np.asarray(pc.strftime(arr, format=fmt).to_pylist(), dtype=object)


def _choice(
    rng: np.random.Generator, options: tuple, size: int, p: tuple[float, ...] | None = None
) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.choice(len(options), size=size, p=p)]


def _text(values: pd.Series) -> np.ndarray:
    """A writable object array of the column's text, "" for missing."""
    return values.astype("string").fillna("").to_numpy(dtype=object).copy()


def _yn(values: pd.Series) -> np.ndarray:
    out = np.full(len(values), "", dtype=object)
    known = values.notna().to_numpy()
    v = values.fillna(False).to_numpy(dtype=bool)
    out[known & v] = "Y"
    out[known & ~v] = "N"
    return out


def _nature(rng: np.random.Generator, call_type: pd.Series) -> np.ndarray:
    out = call_type.fillna("").to_numpy(dtype=object).copy()
    u = rng.random(len(out))
    for name, options in NATURE_CODES.items():
        idx = np.flatnonzero(out == name)
        if not len(idx):
            continue
        weights = np.cumsum([w for _, w in options])
        pick = np.minimum(np.searchsorted(weights / weights[-1], u[idx], side="right"),
                          len(options) - 1)  # fmt: skip
        out[idx] = np.asarray([c for c, _ in options], dtype=object)[pick]
    return out


def _station_area() -> tuple[float, float, str, str]:
    """Coordinates, beat and district of the civic centre (the city grid's middle cell)."""
    from risk_model.simulate.world import _DISTRICT_NAMES, BEAT_COLS, SimConfig, _district_of_cell

    cfg = SimConfig()
    col, row = BEAT_COLS // 2, 3
    d = _district_of_cell(col, row)
    return (
        cfg.center_lat,
        cfg.center_lon,
        f"{d + 1}{row * BEAT_COLS + col + 1:02d}",
        (_DISTRICT_NAMES[d]),
    )


def build_agency_export(
    calls: pd.DataFrame, seed: int, config: AgencyConfig | None = None
) -> AgencyExport:
    """The agency-style frames of one canonical world (`simulate(...)[0]`), deterministic in seed.

    The canonical frame is only read. Agency-only randomness comes from its own stream, so the
    canonical world is the same with or without the export.
    """
    cfg = config or AgencyConfig()
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xA6E7C1]))
    n = len(calls)
    if n == 0:
        raise UserError("--calls must be at least 1")
    received = calls["received_at"].to_numpy(dtype="datetime64[s]")
    call_type = calls["call_type"].astype("string")
    incident = incident_number(calls["call_id"])
    st_lat, st_lon, st_beat, st_district = _station_area()

    # ---- the calls, in the agency's words
    source = calls["source"].astype("string").map(SOURCE_CODES).astype(object)
    source = source.where(calls["source"].notna(), "").to_numpy(dtype=object).copy()
    walk_in = (
        call_type.isin(WALK_IN_TYPES).to_numpy(dtype=bool)
        & (calls["source"].astype("string") != "OFFICER INITIATED").fillna(True).to_numpy(bool)
        & (rng.random(n) < cfg.walk_in_share)
    )
    address = _text(calls["address"])
    lat = calls["latitude"].to_numpy(dtype=float, na_value=np.nan).copy()
    lon = calls["longitude"].to_numpy(dtype=float, na_value=np.nan).copy()
    beat = _text(calls["beat"])
    district = _text(calls["district"])
    premise = _text(calls["premise_type"])
    remarks = _text(calls["narrative"])
    source[walk_in] = WALK_IN_SOURCE
    address[walk_in] = STATION_ADDRESS
    lat[walk_in], lon[walk_in] = st_lat, st_lon
    beat[walk_in], district[walk_in] = st_beat, st_district
    premise[walk_in] = "GOVT BUILDING"
    remarks[walk_in] = np.where(
        remarks[walk_in] == "", "RP AT FRONT DESK", "RP AT FRONT DESK " + remarks[walk_in]
    )
    date_only = rng.random(n) < cfg.date_only_share
    when = _fmt(received, TIME_FORMAT)
    when[date_only] = _fmt(received[date_only], DATE_FORMAT)
    prio = calls["priority"]
    pri = ("P" + prio.astype("string")).fillna("").to_numpy(dtype=object)
    final = calls["final_call_type"].astype("string").fillna("")
    final_map = {k: v[0][0] for k, v in NATURE_CODES.items()} | FINAL_NATURE_EXTRA
    unit = np.char.add(beat.astype(str), _choice(rng, ("A", "B", "C"), n).astype(str))
    cad = pd.DataFrame(
        {
            "INCIDENT_NO": incident.to_numpy(dtype=object),
            "CALL_RECEIVED": when,
            "NATURE": _nature(rng, call_type),
            "PRI": pri,
            "CALL_SOURCE": source,
            "BLOCK_ADDRESS": address,
            "LATITUDE": lat,
            "LONGITUDE": lon,
            "BEAT": beat,
            "DISTRICT": district,
            "PREMISE": premise,
            "WEAPON_YN": _yn(calls["weapon_reported"]),
            "DV_YN": _yn(calls["domestic"]),
            "MENTAL_YN": _yn(calls["mental_health"]),
            "ETOH_YN": _yn(calls["intoxication"]),
            "IN_PROG_YN": _yn(calls["in_progress"]),
            "REMARKS": remarks,
            "UNIT": unit.astype(object),
            "DISPOSITION": calls["disposition"].astype(object).to_numpy(),
            "CLEAR_CODE": calls["clearance_code"].astype(object).to_numpy(),
            "FINAL_NATURE": final.map(lambda v: final_map.get(v, v)).to_numpy(dtype=object),
            "CLEARED_AT": _fmt(calls["cleared_at"].to_numpy(dtype="datetime64[s]"), TIME_FORMAT),
        }
    )
    order_key = np.arange(n, dtype=float)
    cad_time = received.copy()

    # ---- the same call exported twice (a second dispatched unit): later copy is a duplicate
    n_dup = round(n * cfg.duplicate_share)
    dup_idx = np.sort(rng.choice(n, size=min(n_dup, n), replace=False))
    dups = cad.iloc[dup_idx].copy()
    dups["UNIT"] = np.char.add(beat[dup_idx].astype(str), "D").astype(object)

    # ---- unit-status rows: not calls
    n_status = round(n * cfg.unit_status_share)
    t_lo, t_hi = received.min().astype(np.int64), received.max().astype(np.int64)
    status_t = np.sort(rng.integers(t_lo, t_hi + 1, size=n_status)).astype("datetime64[s]")
    weights = np.array([w for _, w, _, _ in UNIT_STATUSES])
    kind = rng.choice(len(UNIT_STATUSES), size=n_status, p=weights / weights.sum())
    s_nature = np.asarray([s for s, _, _, _ in UNIT_STATUSES], dtype=object)[kind]
    s_where = np.asarray([w for _, _, w, _ in UNIT_STATUSES], dtype=object)[kind]
    transport = s_nature == "PRISONER TRANSPORT"
    s_where[transport] = np.where(rng.random(int(transport.sum())) < 0.5, STATION_ADDRESS,
                                  JAIL_ADDRESS)  # fmt: skip
    s_remarks = np.empty(n_status, dtype=object)
    for k, (_, _, _, bank) in enumerate(UNIT_STATUSES):
        idx = np.flatnonzero(kind == k)
        s_remarks[idx] = _choice(rng, bank, len(idx))
    s_year = status_t.astype("datetime64[Y]").astype(np.int64) + 1970
    s_incident = np.asarray(
        [f"{y % 100:02d}-A{j + 1:06d}" for j, y in enumerate(s_year)], dtype=object
    )
    beat_bank = np.asarray(sorted(set(beat[beat != ""]) or {st_beat}), dtype=object)
    s_beat = beat_bank[rng.integers(0, len(beat_bank), size=n_status)]
    status = pd.DataFrame(
        {
            "INCIDENT_NO": s_incident,
            "CALL_RECEIVED": _fmt(status_t, TIME_FORMAT),
            "NATURE": s_nature,
            "PRI": "",
            "CALL_SOURCE": SOURCE_CODES["OFFICER INITIATED"],
            "BLOCK_ADDRESS": s_where,
            "LATITUDE": np.where(s_where == COURT_ADDRESS, st_lat - 0.004, st_lat),
            "LONGITUDE": np.where(s_where == COURT_ADDRESS, st_lon + 0.003, st_lon),
            "BEAT": st_beat,
            "DISTRICT": st_district,
            "PREMISE": "GOVT BUILDING",
            "WEAPON_YN": "",
            "DV_YN": "",
            "MENTAL_YN": "",
            "ETOH_YN": "",
            "IN_PROG_YN": "",
            "REMARKS": s_remarks,
            "UNIT": np.char.add(s_beat.astype(str), "A").astype(object),
            "DISPOSITION": "UNIT STATUS",
            "CLEAR_CODE": "",
            "FINAL_NATURE": s_nature,
            "CLEARED_AT": _fmt(
                status_t + rng.integers(600, 7200, size=n_status).astype("timedelta64[s]"),
                TIME_FORMAT,
            ),
        }
    )
    status_key = np.searchsorted(received, status_t, side="right") - 0.5

    rows = pd.concat([cad, dups, status], ignore_index=True)
    keys = np.concatenate([order_key, dup_idx + 0.25, status_key])
    times = np.concatenate([cad_time, received[dup_idx], status_t])
    rows = rows.iloc[np.lexsort((keys, times))].reset_index(drop=True)
    rows = rows[list(CAD_COLUMNS)]

    # ---- the officer-harm file
    harm = _harm_rows(rng, calls, incident, received, cfg)
    harm_calls = len(harm)
    prisoner_idx = np.flatnonzero(transport & (rng.random(n_status) < cfg.prisoner_transport_harm))
    prisoner = _report_frame(
        rng,
        incident=s_incident[prisoner_idx],
        day=status_t[prisoner_idx],
        circumstance=np.full(len(prisoner_idx), PRISONER_CIRCUMSTANCE, dtype=object),
        assaulted=np.ones(len(prisoner_idx), dtype=bool),
        injured=rng.random(len(prisoner_idx)) < 0.3,
        prefix="LKP",
    )
    n_other = max(2, round(cfg.other_year_share * max(harm_calls, 1)))
    years = received.astype("datetime64[Y]").astype(np.int64) + 1970
    other_year = np.where(rng.random(n_other) < 0.5, years.min() - 1, years.max() + 1)
    year_start = (other_year - 1970).astype("datetime64[Y]").astype("datetime64[s]")
    other_day = year_start + rng.integers(0, 365 * 86400, size=n_other).astype("timedelta64[s]")
    other_seq = rng.integers(1, 10**7, size=n_other)
    other_incident = [f"{y % 100:02d}-{s:07d}" for y, s in zip(other_year, other_seq, strict=True)]
    other = _report_frame(
        rng,
        incident=np.asarray(other_incident, dtype=object),
        day=other_day,
        circumstance=_choice(rng, tuple(LEOKA_CIRCUMSTANCES.values()), n_other),
        assaulted=rng.random(n_other) < 0.9,
        injured=rng.random(n_other) < 0.35,
        prefix="LKO",
    )
    other.loc[~other["OFFICER_ASSAULTED"].str.contains("Y"), "OFFICER_INJURED"] = "Y"
    harm_all = pd.concat([harm, prisoner, other], ignore_index=True)
    n_missing = max(cfg.missing_key_rows, 0) if len(harm) else 0
    missing = harm.iloc[rng.choice(len(harm), size=min(n_missing, len(harm)), replace=False)]
    missing = missing.copy()
    missing["INCIDENT_NUMBER"] = ""
    harm_all = pd.concat([harm_all, missing], ignore_index=True)
    report_day = pd.to_datetime(harm_all["REPORT_DATE"], format=DATE_FORMAT)
    harm_all = harm_all.iloc[np.argsort(report_day.to_numpy(), kind="stable")]
    harm_all = harm_all.reset_index(drop=True)[list(HARM_COLUMNS)]

    counts = {
        "cad_rows": len(rows),
        "calls": n,
        "unit_status_rows": n_status,
        "date_only_rows": int(date_only.sum()),
        "duplicate_rows": len(dups),
        "walk_in_rows": int(walk_in.sum()),
        "harm_rows": len(harm_all),
        "harm_rows_for_calls": len(harm),
        "harm_rows_prisoner_transport": len(prisoner),
        "harm_rows_other_years": len(other),
        "harm_rows_missing_key": len(missing),
        "harmed_calls": int(
            (calls["officer_assaulted"].fillna(False) | calls["officer_injured"].fillna(False))
            .astype(bool)
            .sum()
        ),
    }
    return AgencyExport(
        cad=rows,
        harm=harm_all,
        mapping_text=MAPPING_TEXT,
        incident_of_call=pd.Series(incident.to_numpy(dtype=object), index=calls["call_id"]),
        counts=counts,
    )


def _report_frame(
    rng: np.random.Generator,
    incident: np.ndarray,
    day: np.ndarray,
    circumstance: np.ndarray,
    assaulted: np.ndarray,
    injured: np.ndarray,
    prefix: str,
) -> pd.DataFrame:
    """One single-officer row per report (incidents outside the export, prisoner transports)."""
    m = len(incident)
    delay = rng.integers(0, 4, size=m).astype("timedelta64[D]")
    report_day = day.astype("datetime64[D]") + delay
    return pd.DataFrame(
        {
            "REPORT_NO": [f"{prefix}-{i + 1:06d}" for i in range(m)],
            "INCIDENT_NUMBER": incident,
            "REPORT_DATE": _fmt(report_day.astype("datetime64[s]"), DATE_FORMAT),
            "OFFICERS_ON_REPORT": np.ones(m, dtype=np.int64),
            "OFFICER_SEQ": "1",
            "ASSIGNMENT": _choice(rng, ASSIGNMENTS, m, ASSIGNMENT_WEIGHTS),
            "LEOKA_CIRCUMSTANCE": circumstance,
            "WEAPON_TYPE": np.where(assaulted, _choice(rng, WEAPON_TYPES, m), ""),
            "INJURY_TYPE": np.where(injured, _choice(rng, INJURY_TYPES, m), "NONE"),
            "OFFICER_ASSAULTED": np.where(assaulted, "Y", "N"),
            "OFFICER_INJURED": np.where(injured, "Y", "N"),
        }
    )


def _harm_rows(
    rng: np.random.Generator,
    calls: pd.DataFrame,
    incident: pd.Series,
    received: np.ndarray,
    cfg: AgencyConfig,
) -> pd.DataFrame:
    """Harm reports of the export's own calls: per-officer rows, or one row per report with one
    value per officer ("No | Yes | No"). Any row of a call says assaulted (injured) exactly when
    the canonical call was."""
    from risk_model.simulate.world import DEFAULT_CALL_TYPES

    assaulted = calls["officer_assaulted"].fillna(False).to_numpy(dtype=bool)
    injured = calls["officer_injured"].fillna(False).to_numpy(dtype=bool)
    idx = np.flatnonzero(assaulted | injured)
    m = len(idx)
    p_off = np.asarray(cfg.officers_on_call, dtype=float)
    k = rng.choice(len(p_off), size=m, p=p_off / p_off.sum()) + 1
    n_assaulted = np.where(assaulted[idx], 1 + rng.binomial(k - 1, 0.3), 0)
    rotate = rng.integers(0, 4, size=m)
    per_officer = rng.random(m) < cfg.per_officer_rows
    leoka = {t.name: LEOKA_CIRCUMSTANCES.get(t.leoka, "ALL OTHER") for t in DEFAULT_CALL_TYPES}
    ctype = calls["call_type"].astype("string").to_numpy(dtype=object)[idx]
    circumstance = np.asarray([leoka.get(c, "ALL OTHER") for c in ctype], dtype=object)
    delay = rng.integers(0, 4, size=m).astype("timedelta64[D]")
    report_day = _fmt(
        (received[idx].astype("datetime64[D]") + delay).astype("datetime64[s]"), DATE_FORMAT
    )
    assignment = rng.choice(len(ASSIGNMENTS), size=(m, 4), p=ASSIGNMENT_WEIGHTS)
    weapon = rng.integers(0, len(WEAPON_TYPES), size=m)
    injury = rng.integers(0, len(INJURY_TYPES), size=m)
    yy = incident.to_numpy(dtype=object)[idx]
    out: list[tuple] = []
    for j in range(m):
        kj = int(k[j])
        pos = [(o + int(rotate[j])) % kj for o in range(kj)]  # officer o sits at pos[o]
        a = [False] * kj
        i = [False] * kj
        for o in range(int(n_assaulted[j])):
            a[pos[o]] = True
        if injured[idx[j]]:
            i[pos[0]] = True
        assign = [ASSIGNMENTS[assignment[j, o]] for o in range(kj)]
        wtype = WEAPON_TYPES[weapon[j]]
        itype = INJURY_TYPES[injury[j]]
        report = f"LK-{j + 1:06d}"
        common = (report, yy[j], report_day[j], kj)
        if per_officer[j]:
            for o in range(kj):
                if not (a[o] or i[o]):
                    continue
                out.append((*common, str(o + 1), assign[o], circumstance[j], wtype if a[o] else "",
                            itype if i[o] else "NONE", "Y" if a[o] else "N",
                            "Y" if i[o] else "N"))  # fmt: skip
        else:
            out.append((
                *common,
                " | ".join(str(o + 1) for o in range(kj)),
                " | ".join(assign),
                circumstance[j],
                " | ".join(wtype if x else "" for x in a),
                " | ".join(itype if x else "NONE" for x in i),
                " | ".join("Yes" if x else "No" for x in a),
                " | ".join("Yes" if x else "No" for x in i),
            ))  # fmt: skip
    frame = pd.DataFrame(out, columns=list(HARM_COLUMNS))
    frame["OFFICERS_ON_REPORT"] = frame["OFFICERS_ON_REPORT"].astype(np.int64)
    return frame


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV as many CAD systems export it: every text value in double quotes, missing = empty."""
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), path)


def write_agency_export(
    out_dir: Path,
    calls: pd.DataFrame,
    truth: pd.DataFrame,
    seed: int,
    config: AgencyConfig | None = None,
) -> dict:
    """Writes the CAD export, the harm file, the mapping, the oracle truth (keyed by incident
    number, for `train --truth`) and a summary into `out_dir`. Returns the summary."""  # fmt: skip
    export = build_agency_export(calls, seed, config)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_csv(export.cad, out_dir / CAD_FILE)
        _write_csv(export.harm, out_dir / HARM_FILE)
        (out_dir / MAPPING_FILE).write_text(export.mapping_text, encoding="utf-8")
        oracle = truth.copy()
        oracle["call_id"] = export.incident_of_call.reindex(truth["call_id"]).to_numpy()
        pq.write_table(pa.Table.from_pandas(oracle, preserve_index=False), out_dir / TRUTH_FILE)
        # The same world's use-of-force register, its CAD nature text from its own stream.
        nature = _nature(
            np.random.default_rng(np.random.SeedSequence([int(seed), 0x7A7]).spawn(1)[0]),
            calls["call_type"].astype("string"),
        )
        register = write_force_register(out_dir, calls, nature, seed)
        summary = {
            "dir": str(out_dir),
            "cad": str(out_dir / CAD_FILE),
            "harm": str(out_dir / HARM_FILE),
            "mapping": str(out_dir / MAPPING_FILE),
            "truth": str(out_dir / TRUTH_FILE),
            **export.counts,
            **register,
        }
        (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    except OSError as exc:
        msg = f"cannot write the agency export to {out_dir}: {exc.strerror or exc}"
        raise UserError(msg) from None
    log.info(
        "simulate: agency export in %s: %d CAD rows (%d unit-status, %d date-only), %d harm rows",
        out_dir, summary["cad_rows"], summary["unit_status_rows"], summary["date_only_rows"],
        summary["harm_rows"],
    )  # fmt: skip
    return summary


__all__ = [
    "CAD_COLUMNS",
    "HARM_COLUMNS",
    "HARM_ONLY_COLUMNS",
    "MAPPING_TEXT",
    "NATURE_CODES",
    "POST_DISPATCH_CAD_COLUMNS",
    "AgencyConfig",
    "AgencyExport",
    "build_agency_export",
    "incident_number",
    "write_agency_export",
]
