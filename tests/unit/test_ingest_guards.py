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


# --------------------------------------------------------------------------- one list, by content


def test_draft_and_ingest_read_the_one_guard_object() -> None:
    from risk_model.ingest import draft, guards, run

    assert draft.GUARDS is guards.GUARDS and run.GUARDS is guards.GUARDS
    assert run.guard_reason == guards.GUARDS.guard_reason
    assert run.protected_reason == guards.GUARDS.protected_reason


def test_no_other_ingest_module_spells_a_guard_vocabulary() -> None:
    """A set, list or tuple literal holding two guard words outside guards.py is a second list."""
    import ast

    from risk_model.ingest.guards import GUARDS

    words = GUARDS.protected_tokens | GUARDS.personal_tokens | GUARDS.post_tokens
    folder = Path(__file__).resolve().parents[2] / "risk_model" / "ingest"
    spelled = []
    for path in sorted(folder.glob("*.py")):
        if path.name == "guards.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Set | ast.List | ast.Tuple):
                texts = {
                    e.value.lower()
                    for e in node.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                }
                if len(texts & words) >= 2:
                    spelled.append(f"{path.name}:{node.lineno} {sorted(texts & words)}")
    assert spelled == []


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("CLOSED_AT", ("post-incident", "closed")),
        ("SUBJECT_OFFENSE", ("post-incident", "offense")),
        ("RESISTANCE_LEVEL", ("post-incident", "resistance")),
        ("TASER_USED", ("post-incident", "taser")),
        ("OFFICER_ID", ("personal", "officer id")),
        ("OFFICER_HIRE_DATE", None),
    ],
)
def test_one_list_knows_what_the_draft_and_ingest_each_knew(
    column: str, expected: tuple[str, str] | None
) -> None:
    assert guard_reason(column) == expected


@pytest.mark.parametrize(
    ("values", "flagged"),
    [
        # Dallas REASON_FOR_FORCE: why force was used, written after the incident.
        (["Arrest", "Danger to self or others", "Active Aggression", "Detention/Frisk",
          "Weapon Display", "Other", "Assault to Other Person", "NULL", "Barricaded"], True),
        (["Resisting arrest", "Passive resistance", "Compliant", "Fled on foot"], True),
        (["Taser", "Verbal Command", "Joint Locks", "Held Suspect Down"], True),
        (["Abrasion/Scrape", "No injuries noted or visible", "Laceration/Cut"], True),
        (["Taken into custody", "Arrested", "Released"], True),
        (["Arrest", "No arrest"], True),
        # Dallas INCIDENT_REASON: why officers were there (one "Arrest" among many).
        (["Arrest", "Service Call", "Call for Cover", "Traffic Stop", "Crime in Progress",
          "Off-Duty Employment", "Suspicious Activity", "Pedestrian Stop", "NULL"], False),
        # Dallas SUBJECT_DESCRIPTION, call types, flags: nothing after arrival.
        (["Mentally unstable", "Alchohol", "Unknown Drugs", "None detected",
          "FD-Suspect w/ Gun"], False),
        (["DIST W/SUBJ", "SHOTS FIRED", "ARREST WARRANT", "ASSAULT", "SUBJ WITH GUN",
          "FAMILY TROUBLE", "ALARM RES"], False),
        (["Y", "N", ""], False),
        (["NULL", "NULL"], False),
    ],
)  # fmt: skip
def test_content_guard(values: list[str], flagged: bool) -> None:
    import pandas as pd

    from risk_model.ingest.guards import content_reason

    hit = content_reason(pd.Series(values, dtype=object))
    assert (hit is not None) is flagged
    if hit is not None:
        assert "describe what happened after arrival" in hit.text()


def test_content_guard_reads_a_sample_of_distinct_values() -> None:
    """Cheap on any size: a bounded number of evenly spaced rows, then the distinct values."""
    import pandas as pd

    from risk_model.ingest.guards import GUARDS

    big = pd.Series(["Arrest", "Danger to self or others", "Compliant", "Other"] * 100_000)
    assert len(GUARDS.distinct_sample(big)) == 3  # "Other" is a missing word
    assert GUARDS.content_reason(big) is not None


CONTENT_EXPORT = (
    "ID,T,TYPE,REASON_DESC\n"
    "1,2024-01-01T10:00:00,DIST,Arrest\n"
    "2,2024-01-01T11:00:00,DIST,Danger to self or others\n"
    "3,2024-01-01T12:00:00,THEFT,Crowd Control\n"
)


def test_ingest_refuses_a_column_whose_values_say_post_incident(tmp_path: Path) -> None:
    from risk_model.ingest.run import ingest_file

    export = tmp_path / "e.csv"
    export.write_text(CONTENT_EXPORT, encoding="utf-8")
    (tmp_path / "m.yaml").write_text(BASE + "  narrative: REASON_DESC\n", encoding="utf-8")
    with pytest.raises(UserError) as err:
        ingest_file(export, tmp_path / "out", tmp_path / "m.yaml")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(
        "fields.narrative: column 'REASON_DESC' holds post-incident values (2 of"
    )
    assert "'Arrest'" in msg and 'allow: [{column: REASON_DESC, because: "..."}]' in msg

    # The same override as for a name: `allow:` with a reason.
    (tmp_path / "m.yaml").write_text(
        BASE + "  narrative: REASON_DESC\nallow:\n"
        '  - {column: REASON_DESC, because: "checked: written by the call-taker"}\n',
        encoding="utf-8",
    )
    report = ingest_file(export, tmp_path / "out2", tmp_path / "m.yaml")
    assert (report["rows_in"], report["rows_accepted"]) == (3, 3)
