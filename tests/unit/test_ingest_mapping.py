"""Mapping files: loading and validation, date/time combining, recodes, missing markers, flags."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from risk_model.errors import UserError
from risk_model.ingest.run import (
    Mapping,
    apply_mapping,
    ingest_file,
    load_mapping,
    protected_reason,
    read_export,
    skip_header_rows,
)
from risk_model.schema import BOOL_COLUMNS, CANONICAL_COLUMNS, OUTCOME_COLUMNS

REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FIELD_NAMES = "|".join((*CANONICAL_COLUMNS, *OUTCOME_COLUMNS, "latitude/longitude"))
REASON_RE = re.compile(rf"^({FIELD_NAMES}): \S")


def mapping(fields: dict, **top) -> Mapping:
    """A validated mapping from inline dicts, with the three required fields defaulted."""
    base = {"call_id": "ID", "received_at": "T", "call_type": "TYPE"}
    return Mapping.model_validate({"fields": {**base, **fields}, **top})


def frame(**cols: list[str]) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {"ID": [f"c{i}" for i in range(n)], "T": ["2024-01-01T10:00"] * n, "TYPE": ["X"] * n}
    return pd.DataFrame({**base, **cols}, dtype=str)


def write_yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- date + time


DALLAS_TIME = {
    "date": "D",
    "time": "T2",
    "date_formats": ["%m/%d/%Y", "%m/%d/%y"],
    "time_formats": ["%I:%M:%S %p", "%H:%M"],
}


@pytest.mark.parametrize(
    ("date", "clock", "expected"),
    [
        ("9/3/2016", "4:14:00 AM", "2016-09-03 04:14:00"),
        ("3/22/16", "11:00:00 PM", "2016-03-22 23:00:00"),
        ("09/03/2016", "12:15:00 AM", "2016-09-03 00:15:00"),
        ("09/03/2016", "12:00:00 PM", "2016-09-03 12:00:00"),
        ("12/31/16", "11:59:59 pm", "2016-12-31 23:59:59"),
        (" 1/1/2017 ", " 23:05 ", "2017-01-01 23:05:00"),
    ],
)
def test_date_and_time_are_combined(date: str, clock: str, expected: str) -> None:
    canon, rejected = apply_mapping(
        frame(D=[date], T2=[clock]), mapping({"received_at": DALLAS_TIME})
    )
    assert rejected.empty
    assert canon["received_at"].iloc[0] == pd.Timestamp(expected)
    assert str(canon["received_at"].dtype) == "datetime64[us]"


def test_excel_style_date_and_time_columns_use_only_their_own_part() -> None:
    # Access/Excel exports put a dummy time on the date and a dummy date (1899-12-30) on the time.
    spec = {
        "date": "D",
        "time": "T2",
        "date_formats": ["%Y-%m-%d %H:%M:%S"],
        "time_formats": ["%Y-%m-%d %H:%M:%S"],
    }
    canon, _ = apply_mapping(
        frame(D=["2016-09-03 00:00:00"], T2=["1899-12-30 04:14:00"]),
        mapping({"received_at": spec}),
    )
    assert canon["received_at"].iloc[0] == pd.Timestamp("2016-09-03 04:14:00")


@pytest.mark.parametrize(
    ("date", "clock", "reason"),
    [
        ("13/45/2016", "4:14:00 AM", "received_at: D does not match any of date_formats"),
        ("2016-09-03", "4:14:00 AM", "received_at: D does not match any of date_formats"),
        ("9/3/2016", "25:00:00 PM", "received_at: T2 does not match any of time_formats"),
        ("9/3/2016", "4:14 AM", "received_at: T2 does not match any of time_formats"),
        ("", "4:14:00 AM", "received_at: D is empty or a missing marker"),
        ("9/3/2016", "NULL", "received_at: T2 is empty or a missing marker"),
    ],
)
def test_unparsable_date_or_time_is_rejected_naming_the_column(
    date: str, clock: str, reason: str
) -> None:
    canon, rejected = apply_mapping(
        frame(D=[date], T2=[clock]),
        mapping({"received_at": DALLAS_TIME}, missing_values=["NULL"]),
    )
    assert canon.empty
    assert rejected["_reason"].iloc[0].startswith(reason)
    assert rejected["_row"].tolist() == [1]
    assert rejected["D"].iloc[0] == date  # raw value shown as written


def test_single_column_formats_and_offsets_convert_to_agency_time() -> None:
    spec = {"column": "T", "formats": ["%Y-%m-%dT%H:%M:%S%z", "%m/%d/%Y %H:%M"]}
    m = mapping({"received_at": spec}, timezone="America/Chicago")
    raw = frame(T=["2016-07-04T12:00:00+00:00", "2016-01-15T12:00:00-05:00", "07/04/2016 08:30"])
    canon, rejected = apply_mapping(raw, m)
    assert rejected.empty
    assert canon["received_at"].tolist() == [
        pd.Timestamp("2016-07-04 07:00"),  # CDT = UTC-5
        pd.Timestamp("2016-01-15 11:00"),  # CST = UTC-6
        pd.Timestamp("2016-07-04 08:30"),  # naive: already local
    ]


def test_iso_times_without_formats_are_left_to_the_schema(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("ID,T,TYPE\na,2016-07-04T12:00:00Z,X\nb,not a time,X\n", encoding="utf-8")
    m = write_yaml(
        tmp_path,
        "timezone: America/Chicago\nfields:\n  call_id: ID\n  received_at: T\n  call_type: TYPE\n",
    )
    report = ingest_file(src, tmp_path / "out", m)
    calls = pd.read_parquet(report["out"])
    assert calls["received_at"].tolist() == [pd.Timestamp("2016-07-04 07:00")]
    q = pd.read_csv(report["quarantine"], dtype=str)
    assert q["_reason"].tolist() == ["received_at: cannot parse as an ISO 8601 time (column T)"]


# --------------------------------------------------------------------------- recodes


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Yes", True),
        ("yes", True),
        (" No ", False),
        ("NO", False),
        ("NULL", None),
        ("", None),
        ("n/a", None),
    ],
)
def test_boolean_recode_from_agency_words(value: str, expected: bool | None) -> None:
    m = mapping(
        {"officer_injured": {"column": "OI", "values": {"Yes": "true", "No": "false"}}},
        missing_values=["NULL", "N/A"],
    )
    canon, rejected = apply_mapping(frame(OI=[value]), m)
    assert rejected.empty
    got = canon["officer_injured"].iloc[0]
    assert (got is pd.NA) if expected is None else (bool(got) is expected)


@pytest.mark.parametrize(
    ("spec", "value", "expected", "reason"),
    [
        ({"values": {"Yes": "true"}}, "Maybe", None, "officer_injured: OI value 'Maybe' has no"),
        ({"values": {"Yes": "true"}, "match_case": "true"}, "yes", None, "no recode"),
        ({"values": {"Yes": "true"}, "unmatched": "unknown"}, "Maybe", pd.NA, None),
        ({"values": {"Yes": "true"}, "default": "false"}, "", False, None),
    ],
)
def test_boolean_recode_unmatched_values(
    spec: dict, value: str, expected: object, reason: str | None
) -> None:
    m = mapping({"officer_injured": {"column": "OI", **spec}})
    canon, rejected = apply_mapping(frame(OI=[value]), m)
    if reason:
        assert canon.empty
        assert reason in rejected["_reason"].iloc[0]
        assert rejected["_reason"].iloc[0].startswith("officer_injured: OI")
    else:
        assert rejected.empty
        got = canon["officer_injured"].iloc[0]
        assert got is pd.NA if expected is pd.NA else bool(got) is expected


@pytest.mark.parametrize(
    ("unmatched", "value", "expected"),
    [
        ("keep", "P1", "1"),
        ("keep", "3", "3"),
        ("unknown", "P9", None),
        ("quarantine", "P2", "2"),
    ],
)
def test_text_recode(unmatched: str, value: str, expected: str | None) -> None:
    m = mapping(
        {"priority": {"column": "P", "values": {"P1": "1", "P2": "2"}, "unmatched": unmatched}}
    )
    canon, rejected = apply_mapping(frame(P=[value]), m)
    assert rejected.empty
    got = canon["priority"].iloc[0]
    assert (got is pd.NA) if expected is None else got == expected


def test_explicit_recode_wins_over_a_missing_marker() -> None:
    m = mapping(
        {"call_type": {"column": "TYPE", "values": {"NULL": "Not recorded"}, "unmatched": "keep"}},
        missing_values=["NULL"],
    )
    canon, _ = apply_mapping(frame(TYPE=["NULL", "Theft"]), m)
    assert canon["call_type"].tolist() == ["Not recorded", "Theft"]


# --------------------------------------------------------------------------- missing markers


@pytest.mark.parametrize(
    ("value", "is_missing"),
    [
        ("NULL", True),
        ("null", True),
        (" N/A ", True),
        ("UNKNOWN", True),  # per-column marker of beat
        ("", True),
        ("NULLS", False),
        ("121", False),
    ],
)
def test_missing_markers_global_and_per_column(value: str, is_missing: bool) -> None:
    m = mapping(
        {"beat": {"column": "B", "missing_values": ["Unknown"]}, "district": "DIST"},
        missing_values=["NULL", "N/A"],
    )
    canon, _ = apply_mapping(frame(B=[value], DIST=["UNKNOWN"]), m)
    assert (canon["beat"].iloc[0] is pd.NA) is is_missing
    # "Unknown" is a marker for beat only: district keeps it.
    assert canon["district"].iloc[0] == "UNKNOWN"


def test_default_fills_missing_values_only() -> None:
    m = mapping(
        {"call_type": {"column": "TYPE", "default": "Not recorded"}}, missing_values=["NULL"]
    )
    canon, _ = apply_mapping(frame(TYPE=["NULL", "", "Arrest"]), m)
    assert canon["call_type"].tolist() == ["Not recorded", "Not recorded", "Arrest"]


# --------------------------------------------------------------------------- derived flags

FLAGS = {
    "mental_health": {
        "column": "SD",
        "true_when": {"equals": ["Mentally unstable"]},
        "false_when": {"equals": ["None detected"]},
    },
    "intoxication": {
        "column": "SD",
        "true_when": {"contains": ["alchohol", "drugs", "marijuana"]},
        "false_when": {"equals": ["None detected"]},
    },
    "weapon_reported": {
        "column": "SD",
        "true_when": {"equals": ["FD-Suspect w/ Gun", "FD-Suspect w/ Other Weapon"]},
        "false_when": {"equals": ["FD-Suspect Unarmed"]},
    },
}


@pytest.mark.parametrize(
    ("value", "mental", "intox", "weapon"),
    [
        ("Mentally unstable", True, None, None),
        ("mentally UNSTABLE", True, None, None),
        ("None detected", False, False, None),
        ("Alchohol", None, True, None),
        ("Alchohol and unknown drugs", None, True, None),
        ("Unknown Drugs", None, True, None),
        ("Marijuana", None, True, None),
        ("FD-Suspect w/ Gun", None, None, True),
        ("FD-Suspect w/ Other Weapon", None, None, True),
        ("FD-Suspect Unarmed", None, None, False),
        ("FD-Unknown if Armed", None, None, None),
        ("Unknown", None, None, None),
        ("NULL", None, None, None),
        ("", None, None, None),
    ],
)
def test_flags_derived_from_a_description_column(
    value: str, mental: bool | None, intox: bool | None, weapon: bool | None
) -> None:
    canon, rejected = apply_mapping(frame(SD=[value]), mapping(FLAGS, missing_values=["NULL"]))
    assert rejected.empty
    for name, want in (
        ("mental_health", mental),
        ("intoxication", intox),
        ("weapon_reported", weapon),
    ):
        got = canon[name].iloc[0]
        assert (got is pd.NA) if want is None else bool(got) is want, (name, value)
        assert str(canon[name].dtype) == "boolean"


def test_derived_flag_conflicts_and_unmatched_quarantine() -> None:
    spec = {
        "column": "SD",
        "true_when": {"contains": ["gun"]},
        "false_when": {"contains": ["no"]},
        "unmatched": "quarantine",
    }
    canon, rejected = apply_mapping(
        frame(SD=["gun", "no gun", "knife", "no"]), mapping({"weapon_reported": spec})
    )
    assert canon["weapon_reported"].tolist() == [True, False]
    assert rejected["_row"].tolist() == [2, 3]
    assert rejected["_reason"].tolist() == [
        "weapon_reported: SD value 'no gun' matches both true_when and false_when",
        "weapon_reported: SD value 'knife' matches neither true_when nor false_when",
    ]


def test_constants_and_keep_and_dropping() -> None:
    m = mapping(
        {"source": {"value": "911"}, "in_progress": {"value": "no"}},
        keep=["DISPOSITION"],
    )
    canon, _ = apply_mapping(frame(DISPOSITION=["ARREST"], CALLER_RACE=["W"]), m)
    assert canon["source"].tolist() == ["911"]
    assert canon["in_progress"].tolist() == [False]
    assert canon["DISPOSITION"].tolist() == ["ARREST"]
    assert "CALLER_RACE" not in canon.columns


# --------------------------------------------------------------------------- header rows


def test_repeated_header_rows_are_skipped_anywhere() -> None:
    raw = pd.DataFrame(
        {
            "ID": ["a", "ID", "b", " ID "],
            "T": ["1", "T", "2", "T"],
            "TYPE": ["x", "TYPE", "y", "TYPE"],
        }
    )
    out, n = skip_header_rows(raw, None)
    assert n == 2
    assert out["ID"].tolist() == ["a", "b"]
    assert out.index.tolist() == [0, 2]  # row numbers still point into the file


def test_declared_extra_header_rows_are_skipped() -> None:
    raw = pd.DataFrame(
        {"ID": ["UOFNum", "a"], "T": ["OCCURRED_T", "1"], "TYPE": ["SERVICE_TY", "x"]}
    )
    m = mapping({}, extra_header_rows=[{"column": "ID", "equals": "uofnum"}])
    out, n = skip_header_rows(raw, m)
    assert (n, out["ID"].tolist()) == (1, ["a"])


def test_a_row_equal_to_the_header_in_one_column_only_is_data() -> None:
    raw = pd.DataFrame({"ID": ["ID"], "T": ["2024-01-01"], "TYPE": ["x"]})
    assert skip_header_rows(raw, None)[1] == 0


# --------------------------------------------------------------------------- mapping errors


BASE = "fields:\n  call_id: ID\n  received_at: T\n  call_type: TYPE\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASE + "colums: [a]\n", "unknown key 'colums' in top level"),
        (
            "fields:\n  call_id: {colum: ID}\n  received_at: T\n  call_type: X\n",
            "unknown key 'colum' in fields.call_id (did you mean 'column'?)",
        ),
        (
            "fields:\n  call_id: ID\n  received_at: T\n  call_typ: X\n",
            "fields.call_typ: not a canonical field (did you mean 'call_type'?)",
        ),
        (
            "fields:\n  call_id: ID\n  received_at: T\n",
            "fields.call_type: required field is not mapped",
        ),
        (
            BASE + "  beat: SUBJECT_RACE\n",
            "fields.beat: column 'SUBJECT_RACE' looks like a protected",
        ),
        (BASE + "  district: OFFICER_GENDER\n", "protected attribute (gender)"),
        (
            BASE + "keep: [OffSex]\n",
            "keep[0]: column 'OffSex' looks like a protected attribute (sex)",
        ),
        (BASE + "keep: [CitEthnicity]\n", "protected attribute (ethnicity)"),
        (BASE + "keep: [RELIGION]\n", "protected attribute (religion)"),
        (
            BASE + "keep: [CALLER_NAME]\nnever_map: [name]\n",
            "protected attribute (never_map: name)",
        ),
        (BASE + "timezone: Mars/Olympus\n", "timezone: 'Mars/Olympus' is not an IANA time zone"),
        (
            "fields:\n  call_id: ID\n  call_type: X\n  received_at: {date: D, time: T, "
            "date_formats: ['%m/%d/%Y'], time_formats: ['%I:%M:%S']}\n",
            "uses a 12-hour clock (%I) without AM/PM (%p)",
        ),
        (
            "fields:\n  call_id: ID\n  call_type: X\n  received_at: {date: D, time: T}\n",
            "date + time need date_formats and time_formats",
        ),
        (
            "fields:\n  call_id: ID\n  call_type: X\n  received_at: {date: D, time: T, "
            "date_formats: [%m/%d/%Y], time_formats: ['%H:%M']}\n",
            "line 4: YAML syntax error",
        ),
        (
            "fields:\n  call_id: ID\n  call_type: X\n"
            "  received_at: {column: T, formats: ['%Y-%m-%dT%H:%M%z']}\n",
            "timezone: formats with offsets (%z) need the agency's timezone",
        ),
        (
            BASE + "  beat: {column: B, true_when: {equals: [a]}}\n",
            "true_when/false_when only fill",
        ),
        (BASE + "  domestic: {column: DV, values: {Y: maybe}}\n", "'maybe' is not true or false"),
        (BASE + "  priority: {column: P, values: {A: 0}}\n", "'0' is not a whole number in 1..9"),
        (
            "fields:\n  call_id: {value: x}\n  received_at: T\n  call_type: X\n",
            "call_id cannot be a constant",
        ),
        (BASE + "  beat: {column: B, value: x}\n", "give exactly one of column or value"),
        (BASE + "  domestic: {column: DV, unmatched: keep}\n", "unmatched needs values"),
        (
            "fields:\n  call_id: ID\n  call_type: X\n"
            "  received_at: {column: T, formats: ['%H:%M']}\n",
            "'%H:%M' has no day code",
        ),
        (BASE + "version: 2\n", "only version 1 exists"),
        (BASE + "missing_values: {a: b}\n", "missing_values: expected a list"),
        ("- a\n", "expected `key: value` lines at the top"),
        ("", "expected `key: value` lines at the top"),
        (BASE + "encoding: klingon\n", "encoding: 'klingon' is not a known text encoding"),
        (BASE + "keep: [call_type]\n", "keep[0]: 'call_type' is a canonical field name"),
    ],
)
def test_broken_mapping_gives_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UserError) as err:
        load_mapping(write_yaml(tmp_path, text))
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith(f"mapping {tmp_path / 'm.yaml'}")


def test_missing_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="mapping file not found"):
        load_mapping(tmp_path / "nope.yaml")


def test_yaml_values_are_read_as_written(tmp_path: Path) -> None:
    # YAML 1.1 would read Yes as true, NULL as null and 010 as 8; agency codes must survive.
    m = load_mapping(
        write_yaml(
            tmp_path,
            BASE
            + "  beat: {column: B, values: {010: 10, Yes: Y}}\n"
            + "  officer_injured: {column: OI, values: {Yes: true, No: false}}\n"
            + "missing_values: NULL\n",
        )
    )
    assert m.fields["beat"].values == {"010": "10", "Yes": "Y"}
    assert m.fields["officer_injured"].values == {"Yes": "true", "No": "false"}
    assert m.missing_values == ["NULL"]
    assert m.name == "m"


@pytest.mark.parametrize(
    ("column", "protected"),
    [
        ("SUBJECT_RACE", True),
        ("OffRace", True),
        ("CitSex", True),
        ("OFFICER_GENDER", True),
        ("ETHNICITY", True),
        ("subject religion", True),
        ("TRACE_ID", False),
        ("SEXUAL_ASSAULT_FLAG", False),
        ("BRACELET", False),
        ("UOF_NUMBER", False),
    ],
)
def test_protected_attribute_names(column: str, protected: bool) -> None:
    assert (protected_reason(column) is not None) is protected


def test_missing_source_column_names_the_field_and_suggests(tmp_path: Path) -> None:
    m = mapping(
        {"received_at": {**DALLAS_TIME, "date": "INCIDENT_DAT"}},
    )
    raw = frame(INCIDENT_DATE=["9/3/2016"], T2=["4:14:00 AM"])
    with pytest.raises(UserError) as err:
        apply_mapping(raw, m)
    assert str(err.value) == (
        "mapping field received_at.date: column 'INCIDENT_DAT' not in the export "
        "(did you mean 'INCIDENT_DATE'?)"
    )


def test_without_mapping_canonical_names_are_required() -> None:
    with pytest.raises(UserError, match=r"no column call_type \(did you mean 'calltype'\?\)"):
        apply_mapping(
            pd.DataFrame({"call_id": ["a"], "received_at": ["x"], "calltype": ["y"]}), None
        )


# --------------------------------------------------------------------------- the CAD template


def test_example_cad_template_maps_a_small_export(tmp_path: Path) -> None:
    m = load_mapping(REPO / "data" / "mappings" / "example_cad.yaml")
    header = (
        "INCIDENT_NO,CALL_RECEIVED,NATURE_CODE,PRIORITY,CALL_SOURCE,ADDRESS,LAT,LON,BEAT,DISTRICT,"
        "LOCATION_TYPE,WEAPON_FLAG,DV_FLAG,REMARKS,OFFICER_INJURED,OFFICER_ASSAULTED,DISPOSITION,"
        "FINAL_NATURE_CODE,CLEARED_AT,CALLER_RACE"
    )
    rows = [
        "24-1,03/14/2024 22:15:07,DIST,P2,E911,100 MAIN ST,39.7,-104.9,121,D1,APARTMENT,N,Y,"
        "RP ADV MALE YELLING,N,N,REPORT,DIST,03/14/2024 23:40:00,W",
        "24-2,03/14/2024 22:16,EDP,3,SELF,5 ELM ST,,,122,D1,UNK,NULL,N,,Y,Y,ARREST,EDP,,B",
        "Incident Number,Received,Nature,Priority,Source,Address,Lat,Lon,Beat,District,Type,"
        "Weapon,DV,Remarks,Injured,Assaulted,Disposition,Final,Cleared,Race",
        "24-3,3/15/24 1:05 AM,BURG-IP,P1,ALARM,9 OAK AVE,39.8,-104.8,123,D2,BUSINESS,X,N,,N,N,,,,",
    ]
    src = tmp_path / "cad.csv"
    src.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    raw, n = skip_header_rows(read_export(src), m)
    canon, rejected = apply_mapping(raw, m)
    assert n == 1
    assert canon["call_id"].tolist() == ["24-1", "24-2"]
    assert canon["received_at"].tolist() == [
        pd.Timestamp("2024-03-14 22:15:07"),
        pd.Timestamp("2024-03-14 22:16"),
    ]
    assert canon["priority"].tolist() == ["2", "3"]
    assert canon["source"].tolist() == ["911", "officer-initiated"]
    assert canon["premise_type"].tolist()[1] is pd.NA
    assert canon["mental_health"].tolist() == [pd.NA, True]
    assert canon["weapon_reported"].tolist() == [False, pd.NA]
    assert "CALLER_RACE" not in canon.columns and "DISPOSITION" in canon.columns
    # WEAPON_FLAG "X" has no recode: the row is quarantined, naming field and column.
    assert rejected["_row"].tolist() == [4]
    assert rejected["_reason"].tolist() == [
        "weapon_reported: WEAPON_FLAG value 'X' has no recode in fields.weapon_reported.values"
    ]
    assert "CALLER_RACE" not in rejected.columns


def test_the_annotated_example_in_the_docs_is_a_valid_mapping(tmp_path: Path) -> None:
    docs = (REPO / "docs" / "ingest.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", docs, flags=re.DOTALL)
    assert blocks, "docs/ingest.md has no yaml example"
    m = load_mapping(write_yaml(tmp_path, blocks[0]))
    assert m.name == "anytown_pd_cad"
    assert {"call_id", "received_at", "call_type", "officer_injured"} <= set(m.fields)


# --------------------------------------------------------------------------- property


PROP_MAPPING = """
missing_values: ["NULL"]
fields:
  call_id: ID
  received_at: {date: D, time: T, date_formats: ["%m/%d/%Y", "%m/%d/%y"],
                time_formats: ["%I:%M:%S %p"]}
  call_type: {column: TYPE, default: Not recorded}
  priority: P
  latitude: LAT
  longitude: LON
  officer_injured: {column: OI, values: {"Yes": true, "No": false}}
  mental_health: {column: SD, true_when: {equals: [Mentally unstable]},
                  false_when: {equals: [None detected]}}
"""

valid_row = st.fixed_dictionaries(
    {
        "ID": st.sampled_from(["1", "2", "3", "4", "5", "6", "7", "8"]),
        "D": st.sampled_from(["9/3/2016", "09/03/2016", "3/22/16", "12/31/2016"]),
        "T": st.sampled_from(["4:14:00 AM", "11:00:00 PM", "12:00:00 PM"]),
        "TYPE": st.sampled_from(["Arrest", "Service Call", "NULL"]),
        "P": st.sampled_from(["", "1", "5"]),
        "LAT": st.sampled_from(["", "32.78"]),
        "OI": st.sampled_from(["Yes", "No", "NULL"]),
        "SD": st.sampled_from(["Mentally unstable", "None detected", "Unknown"]),
    }
)
corruptions = st.sampled_from(
    [
        ("ID", ""),
        ("D", "31/31/2016"),
        ("D", "NULL"),
        ("T", "4:14"),
        ("P", "0"),
        ("P", "high"),
        ("LAT", "132.5"),
        ("OI", "Maybe"),
        ("T", "' OR 1=1; --"),
        ("ID", "x" * 200),
    ]
)
any_row = st.one_of(
    valid_row.map(lambda r: (r, False)),
    st.tuples(valid_row, corruptions).map(lambda rc: ({**rc[0], rc[1][0]: rc[1][1]}, True)),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(any_row, min_size=1, max_size=25), one_outcome_per_id=st.booleans())
def test_accounting_is_exact_and_every_rejection_names_a_field(
    rows: list[tuple[dict, bool]], one_outcome_per_id: bool
) -> None:
    if one_outcome_per_id:  # repeats agree on the outcome: duplicates, first valid row wins
        rows = [
            ({**r, "OI": r["OI"] if r["OI"] == "Maybe" else ("Yes", "No")[int(r["ID"]) % 2]}, c)
            if r["ID"].isdigit()
            else (r, c)
            for r, c in rows
        ]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        df = pd.DataFrame([r for r, _ in rows])
        # Longitude follows latitude so that only a corrupted latitude is out of range.
        df["LON"] = df["LAT"].map(lambda v: "" if v == "" else "-96.8")
        df.to_csv(d / "x.csv", index=False)
        (d / "m.yaml").write_text(PROP_MAPPING, encoding="utf-8")
        # A call id whose valid rows disagree on the outcome is refused, never first-row-wins
        # (SPEC §1); the mapping declares no `incident_rows: fold`.
        outcomes: dict[str, set[str]] = {}
        for row, corrupted in rows:
            if not corrupted:
                outcomes.setdefault(row["ID"], set()).add(row["OI"])
        if any(len(v) > 1 for v in outcomes.values()):
            with pytest.raises(UserError, match="repeat with different outcomes"):
                ingest_file(d / "x.csv", d / "out", d / "m.yaml")
            return
        report = ingest_file(d / "x.csv", d / "out", d / "m.yaml")
        q = pd.read_csv(report["quarantine"], dtype=str, keep_default_na=False)
        calls = pd.read_parquet(report["out"])
    assert report["rows_in"] == len(rows)
    assert report["rows_in"] == report["rows_accepted"] + report["rows_quarantined"]
    assert len(q) == report["rows_quarantined"] and len(calls) == report["rows_accepted"]
    assert q["_row"].is_unique
    assert all(REASON_RE.match(r) for r in q["_reason"]), q["_reason"].tolist()
    # Exactly the first uncorrupted row of each call_id is accepted; corrupted rows never
    # count as "first".
    first: dict[str, int] = {}
    for i, (row, corrupted) in enumerate(rows, start=1):
        if not corrupted:
            first.setdefault(row["ID"], i)
    assert sorted(calls["call_id"]) == sorted(first)
    assert set(q["_row"].astype(int)) == set(range(1, len(rows) + 1)) - set(first.values())
    for name in BOOL_COLUMNS:
        if name in calls.columns:
            assert str(calls[name].dtype) == "boolean"
