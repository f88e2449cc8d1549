"""A response-to-resistance register of the simulated world, shaped like the real ones.

Real agencies publish use-of-force registers, not just CAD exports, and those are what analysts
first try (docs/simulator.md, "The force register"). This writes one for the same world, in the
shapes that led the tool astray on real records, so each guard can be tried on known truth:
- **one row per officer** (and the odd second subject): an incident with three officers is three
  rows sharing UOF_NUMBER, each with its own OFFICER_INJURY; keeping the first row loses injuries;
- **yearly files** (`force_register_<year>.csv`) whose headers drift from year to year (a double
  space, a space before a name);
- **date and time of day in two columns**, the time as `HHMM` without its leading zero (`220` is
  02:20), and an **officer's hire date**, the earliest date of every row, never the call time;
- **after-the-fact columns whose names do not say so** (REASON_FOR_FORCE, SUBJECT_RESISTANCE,
  OFFENSE), whose values do ("Arrest", "Resisting arrest", "ASSAULT ON PUBLIC SERVANT").

The population is force incidents, not calls: every harmed call, and a sample of other calls of
the kinds where force is used, so officer injury is ~15% of incidents (10-22% in real registers),
against a few per 1,000 dispatched calls. A model on it answers "given force, was an officer
hurt". The incident number is the canonical call_id without its "C", and an incident is injured
exactly when the canonical call's `officer_injured` is true.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

REGISTER_DIR = "force_register"
REGISTER_MAPPING_FILE = "force_register_mapping.yaml"
REGISTER_COLUMNS: tuple[str, ...] = (
    "INCIDENT_DATE",
    "INCIDENT_TIME",
    "UOF_NUMBER",
    "OFFICER_ID",
    "OFFICER_HIRE_DATE",
    "OFFICER_INJURY",
    "NATURE_OF_CALL",
    "OFFENSE",
    "REASON_FOR_FORCE",
    "SUBJECT_RESISTANCE",
    "ADDRESS",
    "BEAT",
    "DIVISION",
    "LATITUDE",
    "LONGITUDE",
)
# How a later year's export spells some headers: the same columns, drifted.
HEADER_DRIFT: dict[str, str] = {
    "OFFICER_INJURY": "OFFICER  INJURY",
    "NATURE_OF_CALL": " NATURE_OF_CALL",
}
# Call types where force is used often enough to appear in the register when no one was hurt.
FORCE_TYPES: tuple[str, ...] = (
    "DISTURBANCE",
    "DOMESTIC DISTURBANCE",
    "ASSAULT",
    "PERSON WITH WEAPON",
    "SHOTS FIRED",
    "WARRANT SERVICE",
    "NARCOTICS",
    "SHOPLIFTING",
    "TRESPASS",
    "SUSPICIOUS PERSON",
    "TRAFFIC STOP",
    "VEHICLE PURSUIT",
    "CIVIL DISORDER",
    "MENTAL HEALTH CRISIS",
    "INTOXICATED PERSON",
    "ROBBERY IN PROGRESS",
    "BURGLARY IN PROGRESS",
)
INJURY_SHARE = 0.15  # injured incidents among force incidents
OFFICERS_P = (0.45, 0.35, 0.15, 0.05)  # 1, 2, 3, 4 officers on an incident
REASONS = ("Arrest", "Active Aggression", "Danger to self or others", "Detention/Frisk")
RESISTANCE = ("Resisting arrest", "Pulled away", "Verbal non-compliance", "Fled on foot")
OFFENSES = ("PUBLIC INTOXICATION", "ASSAULT", "RESIST ARREST", "CRIMINAL TRESPASS", "APOWW")

REGISTER_MAPPING_TEXT = """\
# Mapping for the simulated response-to-resistance register (force_register/, yearly files).
# One row per officer and subject: the rows of an incident fold into one call. Read
# docs/analyst-guide.md ("A use-of-force register") before training on it: every row is an
# incident where force was already used.
version: 1
name: force_register_demo
description: Simulated response-to-resistance register, one row per officer, yearly files
timezone: America/Chicago
incident_rows: fold
officer_id: OFFICER_ID

fields:
  call_id: UOF_NUMBER
  received_at:
    date: INCIDENT_DATE
    time: INCIDENT_TIME              # HHMM without its leading zero: 220 is 02:20
    date_formats: ["%m/%d/%Y"]
    time_formats: ["%H%M"]
  call_type: NATURE_OF_CALL          # how the call began; never OFFENSE (written afterwards)
  address: ADDRESS
  beat: BEAT
  district: DIVISION
  latitude: LATITUDE
  longitude: LONGITUDE
  officer_injured:
    column: OFFICER_INJURY
    values: {"Yes": true, "No": false}
  # Not mapped, on purpose: OFFICER_HIRE_DATE (a person's date, never the call time), OFFENSE,
  # REASON_FOR_FORCE and SUBJECT_RESISTANCE (written after the incident: they leak the outcome).
"""


def build_force_register(
    calls: pd.DataFrame, nature: np.ndarray, seed: int
) -> dict[int, pd.DataFrame]:
    """The register's rows by year, from the canonical calls and the CAD's nature text of each
    (`nature`, aligned with `calls`). Deterministic in seed; the canonical frame is only read."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xF0CE]))
    injured = calls["officer_injured"].fillna(False).to_numpy(dtype=bool)
    forceful = calls["call_type"].astype("string").isin(FORCE_TYPES).fillna(False).to_numpy(bool)
    others = np.flatnonzero(forceful & ~injured)
    want = round(int(injured.sum()) * (1 - INJURY_SHARE) / INJURY_SHARE)
    picked = rng.choice(others, size=min(want, len(others)), replace=False)
    rows = np.sort(np.concatenate([np.flatnonzero(injured), picked]))
    if not len(rows):  # a world too small for an injured officer: no register at all
        return {}
    officers = rng.choice(len(OFFICERS_P), size=len(rows), p=OFFICERS_P) + 1
    rep = np.repeat(np.arange(len(rows)), officers)
    seq = np.concatenate([np.arange(k) for k in officers])
    src = rows[rep]
    # Injured incidents: the first officer row is hurt; a later officer now and then too. The
    # rows are then shuffled within the incident, so "the first row" is no one in particular.
    hurt = injured[src] & ((seq == 0) | (rng.random(len(src)) < 0.2))
    received = calls["received_at"].to_numpy(dtype="datetime64[m]")[src]
    day = received.astype("datetime64[D]")
    minutes = (received - day).astype(np.int64)
    hhmm = (minutes // 60) * 100 + minutes % 60
    hire_years = rng.integers(1, 25, size=len(src))
    hire = day - (hire_years * 365 + rng.integers(0, 365, size=len(src))).astype("timedelta64[D]")
    officer_id = (10_000 + rng.integers(0, 2_000, size=len(src))).astype(str)
    frame = pd.DataFrame(
        {
            "INCIDENT_DATE": pd.to_datetime(day).strftime("%m/%d/%Y"),
            "INCIDENT_TIME": hhmm.astype(str),  # 0220 written as a number: 220
            "UOF_NUMBER": calls["call_id"].astype("string").str.slice(1).to_numpy(object)[src],
            "OFFICER_ID": officer_id,
            "OFFICER_HIRE_DATE": pd.to_datetime(hire).strftime("%m/%d/%Y"),
            "OFFICER_INJURY": np.where(hurt, "Yes", "No"),
            "NATURE_OF_CALL": np.asarray(nature, dtype=object)[src],
            "OFFENSE": np.where(
                injured[src], "ASSAULT ON PUBLIC SERVANT", rng.choice(OFFENSES, size=len(src))
            ),
            "REASON_FOR_FORCE": rng.choice(REASONS, size=len(src)),
            "SUBJECT_RESISTANCE": rng.choice(RESISTANCE, size=len(src)),
            "ADDRESS": calls["address"].astype("string").fillna("").to_numpy(object)[src],
            "BEAT": calls["beat"].astype("string").fillna("").to_numpy(object)[src],
            "DIVISION": calls["district"].astype("string").fillna("").to_numpy(object)[src],
            "LATITUDE": calls["latitude"].to_numpy(dtype=float, na_value=np.nan)[src],
            "LONGITUDE": calls["longitude"].to_numpy(dtype=float, na_value=np.nan)[src],
        }
    )
    shuffle = np.lexsort((rng.random(len(src)), rep))
    frame = frame.iloc[shuffle].reset_index(drop=True)
    years = pd.to_datetime(frame["INCIDENT_DATE"], format="%m/%d/%Y").dt.year.to_numpy()
    return {int(y): frame[years == y].reset_index(drop=True) for y in np.unique(years)}


def write_force_register(
    out_dir: Path, calls: pd.DataFrame, nature: np.ndarray, seed: int
) -> dict[str, object]:
    """Writes `force_register/force_register_<year>.csv` (headers drifting after the first year)
    and its mapping into `out_dir`; returns counts for the export summary."""
    by_year = build_force_register(calls, nature, seed)
    if not by_year:
        log.info("simulate: no officer injured in this world, so no force register")
        return {"force_register_rows": 0, "force_register_incidents": 0}
    folder = Path(out_dir) / REGISTER_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for k, (year, frame) in enumerate(sorted(by_year.items())):
        if k:
            frame = frame.rename(columns=HEADER_DRIFT)
        frame.to_csv(folder / f"force_register_{year}.csv", index=False)
    (Path(out_dir) / REGISTER_MAPPING_FILE).write_text(REGISTER_MAPPING_TEXT, encoding="utf-8")
    rows = sum(len(f) for f in by_year.values())
    incidents = sum(f["UOF_NUMBER"].nunique() for f in by_year.values())
    log.info("simulate: force register in %s: %d rows, %d incidents", folder, rows, incidents)
    return {
        "force_register": str(folder),
        "force_register_mapping": str(Path(out_dir) / REGISTER_MAPPING_FILE),
        "force_register_rows": rows,
        "force_register_incidents": incidents,
        "force_register_files": len(by_year),
    }
