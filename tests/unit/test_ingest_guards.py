"""Name guards: personal and post-incident source columns are refused unless `allow:`ed."""

from __future__ import annotations

from pathlib import Path

import pytest

from risk_model.errors import UserError
from risk_model.ingest.run import guard_reason, load_mapping

BASE = "fields:\n  call_id: ID\n  received_at: T\n  call_type: TYPE\n"


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        # personal
        ("SUBJECT_AGE", ("personal", "age")),
        ("OffAge", ("personal", "age")),
        ("DOB", ("personal", "dob")),
        ("DATE_OF_BIRTH", ("personal", "birth")),
        ("SUSPECT_BUILD", ("personal", "build")),
        ("Height", ("personal", "height")),
        ("WEIGHT_LBS", ("personal", "weight")),
        ("CALLER_PHONE", ("personal", "phone")),
        ("SSN", ("personal", "ssn")),
        ("DL_NUMBER", ("personal", "dl")),
        ("DRIVERS_LICENSE", ("personal", "license")),
        ("NAME", ("personal", "name")),
        ("CallerName", ("personal", "caller name")),
        ("FIRST_NAME", ("personal", "first name")),
        ("SUSPECT_NAME", ("personal", "suspect name")),
        ("SUBJECT_ID", ("personal", "subject id")),
        ("OFFICER_BADGE", ("personal", "badge")),
        # post-incident
        ("DISPOSITION", ("post-incident", "disposition")),
        ("UOF_FORCE_TYPE", ("post-incident", "force")),
        ("UseOfForce", ("post-incident", "force")),
        ("ARREST_MADE", ("post-incident", "arrest")),
        ("ArrestedFlag", ("post-incident", "arrested")),
        ("OFFICER_INJURY", ("post-incident", "injury")),
        ("SUBJ_INJURED", ("post-incident", "injured")),
        ("CLEARED_BY", ("post-incident", "cleared")),
        ("CLEARANCE_CODE", ("post-incident", "clearance")),
        ("FINAL_CALL_TYPE", ("post-incident", "final")),
        ("OUTCOME", ("post-incident", "outcome")),
        # look-alikes that pass
        ("STREET_NAME", None),
        ("LOCATION_NAME", None),
        ("BUSINESS_NAME", None),
        ("BEAT_NAME", None),
        ("STAGE", None),
        ("MESSAGE", None),
        ("INCIDENT_ID", None),
        ("CALL_NUMBER", None),
        ("ENFORCEMENT_AREA", None),
        ("BUILDING_TYPE", None),
        ("DISPATCH_TIME", None),
        ("WEIGHTED_PRIORITY", None),
        ("FIRST_UNIT_ID", None),
        ("MOBILE_UNIT", None),
        ("CELL_SECTOR", None),
    ],
)
def test_guard_reason(column: str, expected: tuple[str, str] | None) -> None:
    assert guard_reason(column) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "  narrative: UOF_REASON_FORCE\n",
            "fields.narrative: column 'UOF_REASON_FORCE' looks post-incident ('force')",
        ),
        (
            "  premise_type: SUBJECT_AGE\n",
            "fields.premise_type: column 'SUBJECT_AGE' looks personal",
        ),
        ("keep: [CALLER_NAME]\n", "keep[0]: column 'CALLER_NAME' looks personal ('caller name')"),
        ("  call_type: FINAL_NATURE\n", "fields.call_type: column 'FINAL_NATURE' looks post"),
    ],
)
def test_guarded_columns_are_refused_naming_column_category_and_override(
    tmp_path: Path, line: str, message: str
) -> None:
    text = (BASE.replace("  call_type: TYPE\n", "") if "call_type" in line else BASE) + line
    (tmp_path / "m.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as err:
        load_mapping(tmp_path / "m.yaml")
    msg = str(err.value)
    assert message in msg and "\n" not in msg
    assert "allow: [{column: " in msg and 'because: "..."' in msg


def test_allow_overrides_a_look_alike(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        BASE + "  district: FORCE_REGION\nallow:\n"
        '  - {column: FORCE_REGION, because: "the patrol region, not a use of force"}\n',
        encoding="utf-8",
    )
    m = load_mapping(tmp_path / "m.yaml")
    assert m.fields["district"].column == "FORCE_REGION"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            BASE + "  beat: SUBJECT_RACE\nallow:\n  - {column: SUBJECT_RACE, because: x}\n",
            "allow[0]: 'SUBJECT_RACE' looks like a protected attribute (race), which no "
            "override can allow",
        ),
        (BASE + "  beat: OFF_SEX\nallow:\n  - {column: OFF_SEX, because: x}\n", "(sex)"),
        (BASE + "  district: FORCE_REGION\nallow:\n  - {column: FORCE_REGION}\n", "because"),
        (
            BASE + "  district: FORCE_REGION\nallow:\n  - {column: FORCE_REGION, because: ' '}\n",
            "allow[0].because: say why 'FORCE_REGION' is safe",
        ),
    ],
)
def test_protected_attributes_are_never_overridable(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "m.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as err:
        load_mapping(tmp_path / "m.yaml")
    assert message in str(err.value)


def test_outcome_columns_are_outcomes_by_design(tmp_path: Path) -> None:
    # OFFICER_INJURY says post-incident: that is what an outcome is; the guard reads features.
    (tmp_path / "m.yaml").write_text(
        BASE + "  officer_injured: {column: OFFICER_INJURY, values: {Yes: true, No: false}}\n",
        encoding="utf-8",
    )
    assert load_mapping(tmp_path / "m.yaml").fields["officer_injured"].column == "OFFICER_INJURY"
    (tmp_path / "m.yaml").write_text(
        BASE + "outcomes:\n  file: o.csv\n  key: INJURY_REPORT_NO\n  absent: unknown\n"
        "  fields: {officer_injured: OFFICER_INJURED_FLAG}\n",
        encoding="utf-8",
    )
    assert load_mapping(tmp_path / "m.yaml").outcomes is not None
