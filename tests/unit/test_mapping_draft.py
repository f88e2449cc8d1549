"""`risk-model map --draft`: a first mapping from a sample of an export, on small inline files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.errors import UserError
from risk_model.ingest.draft import detect_time, draft_mapping, guarded, read_sample
from risk_model.ingest.run import FieldSpec, Mapping, ingest_file, load_mapping

runner = CliRunner()

CAD_HEADER = (
    "INCIDENT_NO,CALL_DATE_TIME,NATURE,PRIORITY,ADDRESS,BEAT,DISPATCH_TIME,DISPOSITION,"
    "SUBJECT_RACE,OFFICER_NAME,WEAPON_FLAG"
)
CAD_ROWS = """\
24-000101,03/01/2024 01:15:07 AM,TRBL W/SUBJ,2,100 MAIN ST,B1,01:20:00 AM,REPORT,W,SMITH,N
24-000102,03/01/2024 02:40:55 AM,FAMILY TROUBLE,1,22 OAK AVE,B2,02:44:10 AM,ARREST,B,JONES,Y
24-000103,03/01/2024 08:05:00 AM,RETURN STATION,5,1400 S LAMAR ST,B1,08:05:00 AM,CLEARED,,DOE,N
24-000104,03/01/2024 11:59:59 AM,ACC PDO,3,I-30 / ERVAY ST,B3,12:10:00 PM,REPORT,,DOE,N
24-000105,03/01/2024 12:30:00 PM,OUT OF SERVICE,5,1400 S LAMAR ST,B1,12:30:00 PM,CLEARED,,ROE,N
24-000106,03/01/2024 01:02:03 PM,SUBJ WITH GUN,1,9 ELM ST,B2,01:03:00 PM,ARREST,H,ROE,Y
24-000107,03/01/2024 03:45:00 PM,WELFARE CHK,3,5 PINE RD,B3,03:59:00 PM,NO REPORT,,SMITH,N
24-000108,03/01/2024 06:10:30 PM,SUSP PERS,3,100 MAIN ST,B1,06:15:00 PM,GOA,W,JONES,N
24-000109,03/01/2024 09:20:00 PM,RETURN STATION,5,1400 S LAMAR ST,B1,09:20:00 PM,CLEARED,,DOE,N
24-000110,03/01/2024 11:11:11 PM,BATTERY DV,1,22 OAK AVE,B2,11:15:00 PM,ARREST,B,SMITH,N
24-000111,03/02/2024 12:05:00 AM,SHOTSPOTTER,1,40 FIFTH ST,B3,12:06:00 AM,UNFOUNDED,,ROE,Y
24-000112,03/02/2024 04:44:44 AM,ALARM RES,4,7 HILL CT,B2,04:50:00 AM,FALSE ALARM,,DOE,N
""".splitlines()


def _cad(tmp_path: Path, rows: list[str] | None = None, header: str = CAD_HEADER) -> Path:
    path = tmp_path / "cad_export.csv"
    path.write_text("\n".join([header, *(rows or CAD_ROWS)]) + "\n", encoding="utf-8")
    return path


def _uncomment_block(text: str, block: str) -> str:
    """The draft with a commented `block:` (e.g. exclude) turned on, as an analyst would."""
    out, inside = [], False
    for line in text.splitlines():
        if line == f"# {block}:":
            inside = True
            out.append(f"{block}:")
        elif inside and line.startswith("#   - "):
            out.append(line[2:])
        elif inside and line.startswith("#     #"):
            continue
        else:
            inside = False
            out.append(line)
    return "\n".join(out) + "\n"


def test_cad_export_draft_maps_fields_flags_leftouts_and_ingests(tmp_path: Path) -> None:
    export = _cad(tmp_path)
    out = tmp_path / "mapping.yaml"
    summary = draft_mapping(export, out)

    assert summary["fields"] == {
        "call_id": "INCIDENT_NO",
        "received_at": "CALL_DATE_TIME",
        "call_type": "NATURE",
        "priority": "PRIORITY",
        "address": "ADDRESS",
        "beat": "BEAT",
        "weapon_reported": "WEAPON_FLAG",
    }
    for col in ("DISPOSITION", "SUBJECT_RACE", "OFFICER_NAME"):
        assert col in summary["left_out"], col
    assert "post-incident" in summary["left_out"]["DISPOSITION"]
    assert "not overridable" in summary["left_out"]["SUBJECT_RACE"]
    assert summary["exclude_values"] == ["RETURN STATION", "OUT OF SERVICE"]
    assert summary["loads"] is True and summary["rows_sampled"] == len(CAD_ROWS)

    text = out.read_text()
    data = yaml.safe_load(text)
    assert data["fields"]["received_at"] == {
        "column": "CALL_DATE_TIME",
        "formats": ["%m/%d/%Y %I:%M:%S %p"],
    }
    assert data["fields"]["weapon_reported"]["values"] == {"N": "false", "Y": "true"}
    # Left-out columns are named in comments and appear nowhere in the mapping itself.
    mapped = json.dumps(data)
    for col in ("DISPOSITION", "SUBJECT_RACE", "OFFICER_NAME", "DISPATCH_TIME"):
        assert col not in mapped
        assert f"#   {col}" in text
    # Call types listed with their lexicon family and count; the exclude rule proposed.
    assert '"TRBL W/SUBJ"' in text and "disturbance" in text
    assert '"RETURN STATION"  other   <- unit status?' in text
    assert (
        '# exclude:\n#   - {column: "NATURE", equals: ["RETURN STATION", "OUT OF SERVICE"]}'
        in text
    )
    assert '#   - {column: "ADDRESS", equals: ["1400 S LAMAR ST"]}' in text

    mapping = load_mapping(out)
    assert mapping.fields["call_id"].column == "INCIDENT_NO"
    report = ingest_file(export, tmp_path / "run", out)
    assert report["rows_in"] == len(CAD_ROWS)
    assert report["rows_accepted"] + report["rows_quarantined"] == report["rows_in"]
    assert report["rows_quarantined"] == 0

    if "exclude" in Mapping.model_fields:  # the loader reads exclude: (issue 10 ingest work)
        on = tmp_path / "mapping_on.yaml"
        on.write_text(_uncomment_block(text, "exclude"))
        report = ingest_file(export, tmp_path / "run_on", on)
        assert report["rows_excluded"] == 3
        assert report["rows_accepted"] + report["rows_quarantined"] + 3 == len(CAD_ROWS)


def test_date_and_time_columns_become_date_plus_time(tmp_path: Path) -> None:
    export = tmp_path / "e.csv"
    export.write_text(
        "CAD_NUM,CALL_DATE,CALL_TIME,CALL_TYPE,CLEARED_TIME\n"
        "A1,2024-03-01,13:45:10,DIST W/SUBJ,14:00:00\n"
        "A2,2024-03-01,23:59:59,MVA W/INJ,00:30:00\n"
        "A3,2024-03-02,00:00:01,MAN W/GUN,01:00:00\n"
    )
    out = tmp_path / "m.yaml"
    summary = draft_mapping(export, out)
    rt = yaml.safe_load(out.read_text())["fields"]["received_at"]
    assert rt == {
        "date": "CALL_DATE",
        "date_formats": ["%Y-%m-%d"],
        "time": "CALL_TIME",
        "time_formats": ["%H:%M:%S"],
    }
    assert "CLEARED_TIME" in summary["left_out"]
    report = ingest_file(export, tmp_path / "run", out)
    assert (report["rows_in"], report["rows_accepted"]) == (3, 3)


def test_date_only_column_gets_a_date_only_format_with_the_reason(tmp_path: Path) -> None:
    export = tmp_path / "uof.csv"
    export.write_text(
        "INCIDENT_NUMBER,OCC_DATE,INCIDENT_TYPE\n"
        "U1,1/4/2016,Arrest\nU2,1/17/2016,Traffic Stop\nU3,2/29/2016,Service Call\n"
    )
    out = tmp_path / "m.yaml"
    draft_mapping(export, out)
    text = out.read_text()
    rt = yaml.safe_load(text)["fields"]["received_at"]
    assert rt == {"column": "OCC_DATE", "formats": ["%m/%d/%Y"]}
    assert "known to the day only" in text


@pytest.mark.parametrize(
    ("values", "formats", "kind"),
    [
        (["2024-03-01 10:00:00", "2024-03-02 23:15:00"], ["%Y-%m-%d %H:%M:%S"], "datetime"),
        (["2024-03-01T10:00:00", "2024-03-02T23:15:00"], ["%Y-%m-%dT%H:%M:%S"], "datetime"),
        (["13/01/2024 10:00", "25/12/2024 23:15"], ["%d/%m/%Y %H:%M"], "datetime"),
        (["1/13/2024 10:00", "12/25/2024 23:15"], ["%m/%d/%Y %H:%M"], "datetime"),
        (["01/02/2024 1:05 PM", "01/03/2024 11:59 AM"], ["%m/%d/%Y %I:%M %p"], "datetime"),
        # Mixed: a few rows known only to the day, as DESIGN's example mapping reads them.
        (
            ["01/02/2024 13:05", "01/03/2024 11:59", "01/04/2024 08:00", "01/05/2024"],
            ["%m/%d/%Y %H:%M", "%m/%d/%Y"],
            "datetime",
        ),
        (["20240102", "20240315"], ["%Y%m%d"], "date"),
        (["13:05", "23:59"], ["%H:%M"], "time"),
    ],
)
def test_time_formats_detected(values: list[str], formats: list[str], kind: str) -> None:
    import pandas as pd

    guess = detect_time("CALL_DATE_TIME" if kind != "time" else "CALL_TIME", pd.Series(values))
    assert guess is not None
    assert (guess.kind, guess.formats) == (kind, formats)


def test_numbers_and_words_are_not_times() -> None:
    import pandas as pd

    assert detect_time("PRIORITY", pd.Series(["1", "2", "3"])) is None
    assert detect_time("NATURE", pd.Series(["THEFT", "DIST"])) is None
    assert detect_time("INCIDENT_NO", pd.Series(["24-000101", "24-000102"])) is None


@pytest.mark.parametrize(
    ("name", "values", "why"),
    [
        ("SUBJECT_RACE", [], "protected attribute"),
        ("SubjectEthnicity", [], "protected attribute"),
        ("OFFICER_NAME", [], "personal"),
        ("Suspect_DOB", [], "personal"),
        ("DATE_OF_BIRTH", [], "personal"),
        ("SUBJ_HEIGHT", [], "personal"),
        ("Weight", [], "personal"),
        ("Build", [], "personal"),
        ("CALLER_PHONE", [], "personal"),
        ("AGE_AT_INCIDENT", [], "personal"),
        ("OFFICER_ID", [], "personal"),
        ("LOCATION_NAME", [], None),
        ("STREET_NAME", [], None),
        ("AGENCY", [], None),
        ("STAGE", [], None),
        ("DISPOSITION", [], "post-incident (name"),
        ("FINAL_CALL_TYPE", [], "post-incident (name"),
        ("OFF_INJURE", [], "post-incident (name"),
        ("ForceType", [], "post-incident (name"),
        ("ARRESTED", [], "post-incident (name"),
        ("CLEARANCE_CODE", [], "post-incident (name"),
        ("CLOSED_AT", [], "post-incident (name"),
        ("OFFENSE", [], "post-incident (name"),
        ("CALL_TYPE", ["DISTURBANCE", "ARREST WARRANT", "THEFT", "ALARM"], None),
        ("SEXUAL_ASSAULT", [], None),
        # Names that say nothing, values that say post-incident.
        (
            "REASON_DESC",
            ["Arrest", "Danger to self or others", "Other", "Crowd Control"],
            "post-incident (values",
        ),
        (
            "SUBJ_CONDUCT",
            ["Resisting arrest", "Passive resistance", "Compliant", "Fled"],
            "post-incident (values",
        ),
    ],
)
def test_guarded_by_name_and_by_content(name: str, values: list[str], why: str | None) -> None:
    import pandas as pd

    got = guarded(name, pd.Series(values, dtype=object))
    assert (got is None) if why is None else (got is not None and got.startswith(why)), got


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    export = _cad(tmp_path)
    out = tmp_path / "m.yaml"
    out.write_text("# my edited mapping\n")
    with pytest.raises(UserError, match="--force"):
        draft_mapping(export, out)
    assert out.read_text() == "# my edited mapping\n"
    draft_mapping(export, out, force=True)
    assert "DRAFT mapping" in out.read_text()


def test_sample_reads_only_the_first_rows(tmp_path: Path) -> None:
    rows = [f"C{i},2024-01-01 10:{i % 60:02d}:00,THEFT" for i in range(500)]
    export = tmp_path / "big.csv"
    export.write_text("call_no,created,nature\n" + "\n".join(rows) + "\n")
    sample = read_sample(export, 50)
    assert len(sample.frame) == 50 and sample.truncated
    assert sample.frame["call_no"].tolist()[:2] == ["C0", "C1"]
    summary = draft_mapping(export, tmp_path / "m.yaml", sample=50)
    assert summary["rows_sampled"] == 50
    assert "from the first 50 rows" in (tmp_path / "m.yaml").read_text()


def test_semicolon_cp1252_export(tmp_path: Path) -> None:
    export = tmp_path / "e.csv"
    export.write_bytes(
        "Event Number;Received;Problem;Location\n"
        "E1;2024-05-01 10:00:00;DISTURBANCE;CAFÉ MAIN\n"
        "E2;2024-05-01 11:00:00;SUSP VEH;2 OAK\n".encode("cp1252")
    )
    out = tmp_path / "m.yaml"
    summary = draft_mapping(export, out)
    data = yaml.safe_load(out.read_text())
    assert (data["encoding"], data["delimiter"]) == ("cp1252", ";")
    assert summary["fields"]["call_id"] == "Event Number"
    assert summary["fields"]["address"] == "Location"
    report = ingest_file(export, tmp_path / "run", out)
    assert (report["rows_in"], report["rows_accepted"]) == (2, 2)


def test_outcomes_block_guesses_key_and_fields(tmp_path: Path) -> None:
    export = _cad(tmp_path)
    harm = tmp_path / "officer_harm.csv"
    harm.write_text(
        "CASE_ID,INCIDENT_NUMBER,OFFICER_INJURED,SUBJECT_INJURED\n"
        "1,24-000102,Y,N\n2,24-000102,N,Y\n3,24-000106,N,N\n4,23-999999,Y,N\n"
    )
    out = tmp_path / "m.yaml"
    summary = draft_mapping(export, out, outcomes=harm)
    assert summary["outcomes_key"] == "INCIDENT_NUMBER"
    text = out.read_text()
    if "outcomes" not in Mapping.model_fields:
        assert "# outcomes:" in text  # kept as a comment until the loader reads it
        lines = text.splitlines()
        start = lines.index(next(li for li in lines if li.startswith("# outcomes:")))
        end = start
        while end < len(lines) and lines[end].startswith("# "):
            end += 1
        text = "\n".join([*lines[:start], *(li[2:] for li in lines[start:end]), *lines[end:]])
    block = yaml.safe_load(text)["outcomes"]
    assert block["file"] == "officer_harm.csv"
    assert block["key"] == "INCIDENT_NUMBER"
    assert "call_key" not in block  # it matches the column mapped to call_id
    assert block["fields"]["officer_injured"] == {
        "column": "OFFICER_INJURED",
        "values": {"Y": "true", "N": "false"},
    }
    assert "SUBJECT_INJURED" not in json.dumps(block)
    if "outcomes" in Mapping.model_fields:
        assert summary["loads"] is True
        report = ingest_file(export, tmp_path / "run", out)
        assert report["outcome_rows_in"] == 4
        assert (
            report["outcome_rows_matched"]
            + report["outcome_rows_unmatched"]
            + report["outcome_rows_quarantined"]
        ) == 4


def test_multi_valued_flag_uses_split_when_the_loader_has_it(tmp_path: Path) -> None:
    export = tmp_path / "e.csv"
    export.write_text(
        "INCIDENT_NO,CALL_DATE_TIME,NATURE,WEAPONS\n"
        "A1,2024-01-01 10:00:00,DIST,No | Yes | No\n"
        "A2,2024-01-01 11:00:00,DIST,No | No\n"
        "A3,2024-01-01 12:00:00,DIST,No\n"
    )
    out = tmp_path / "m.yaml"
    summary = draft_mapping(export, out)
    if "split" in FieldSpec.model_fields:
        spec = yaml.safe_load(out.read_text())["fields"]["weapon_reported"]
        assert spec == {
            "column": "WEAPONS",
            "split": "|",
            "values": {"No": "false", "Yes": "true"},
        }
        assert summary["loads"] is True
    else:
        assert "weapon_reported" not in summary["fields"]
        assert "needs split" in out.read_text()


def test_cli_map_draft(tmp_path: Path) -> None:
    export = _cad(tmp_path)
    out = tmp_path / "draft.yaml"
    # The SPEC's order: risk-model map --draft EXPORT --out YAML
    res = runner.invoke(app, ["map", "--draft", str(export), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["out"] == str(out) and summary["loads"] is True
    assert summary["fields"]["call_type"] == "NATURE"

    again = runner.invoke(app, ["map", str(export), "--draft", "--out", str(out)])
    assert again.exit_code == 2
    assert again.output.strip().count("\n") == 0 and "--force" in again.output

    folder = runner.invoke(app, ["map", "--draft", str(export), "--out", str(tmp_path)])
    assert folder.exit_code == 2 and "is a directory" in folder.output
    missing = runner.invoke(app, ["map", str(tmp_path / "nope.csv"), "--draft", "--out", "x.yaml"])
    assert missing.exit_code == 2 and "not found" in missing.output
    no_draft = runner.invoke(app, ["map", str(export), "--out", str(tmp_path / "y.yaml")])
    assert no_draft.exit_code == 2 and "--draft" in no_draft.output


def test_flag_columns_with_form_suffixes(tmp_path: Path) -> None:
    """DV_YN, MENTAL_YN, ETOH_YN, IN_PROG_YN are the flags; CLEAR_CODE is left out."""
    export = tmp_path / "e.csv"
    export.write_text(
        "INCIDENT_NO,CALL_RECEIVED,NATURE,DV_YN,MENTAL_YN,ETOH_YN,IN_PROG_YN,CLEAR_CODE\n"
        "A1,2024-01-01 10:00:00,DIST,Y,N,N,Y,RPT\n"
        "A2,2024-01-01 11:00:00,DIST,N,Y,N,,ADV\n"
        "A3,2024-01-01 12:00:00,DIST,N,N,Y,N,ARR\n"
    )
    out = tmp_path / "m.yaml"
    summary = draft_mapping(export, out)
    assert {k: summary["fields"][k] for k in ("domestic", "mental_health", "intoxication")} == {
        "domestic": "DV_YN",
        "mental_health": "MENTAL_YN",
        "intoxication": "ETOH_YN",
    }
    assert summary["fields"]["in_progress"] == "IN_PROG_YN"
    assert "CLEAR_CODE" in summary["left_out"]
    report = ingest_file(export, tmp_path / "run", out)
    assert (report["rows_in"], report["rows_accepted"]) == (3, 3)


def test_date_plus_shift_band_is_proposed_and_ingests(tmp_path: Path) -> None:
    """A day-only time and a shift column: the draft proposes date + shift with the hours it
    reads in each band's text (the analyst confirms them); turned on, every call is known to a
    band or, with no band, to its day."""
    export = tmp_path / "uof.csv"
    export.write_text(
        "INCIDENT_NUMBER,OCC_DATE,SHIFT,INCIDENT_TYPE\n"
        "U1,1/4/2016,Between 7am-3pm,Arrest\n"
        "U2,1/17/2016,Between 3pm-11pm,Traffic Stop\n"
        "U3,2/29/2016,Between 11pm-7am,Service Call\n"
        "U4,3/1/2016,Unknown,Arrest\n"
    )
    out = tmp_path / "m.yaml"
    draft_mapping(export, out)
    text = out.read_text()
    if "shift" not in FieldSpec.model_fields:
        assert "shifts:" not in text
        return
    assert (
        '#     shifts: {"Between 7am-3pm": "07-15", "Between 3pm-11pm": "15-23", '
        '"Between 11pm-7am": "23-07"}'
    ) in text
    lines = text.splitlines()
    alt_start = lines.index("#   received_at:")
    alt = [
        li[2:] for li in lines[alt_start:] if li.startswith("#     ") or li == "#   received_at:"
    ]
    at = lines.index("  received_at:")
    edited = [*lines[:at], *alt, *lines[at + 3 :]]
    mapping = tmp_path / "edited.yaml"
    mapping.write_text("\n".join(edited) + "\n")
    assert load_mapping(mapping).fields["received_at"].shift == "SHIFT"
    report = ingest_file(export, tmp_path / "run", mapping)
    assert (report["rows_in"], report["rows_accepted"]) == (4, 4)
    assert report["rows_known_to_a_range"] == 4


def test_outcome_flags_in_the_export_and_one_sided_samples(tmp_path: Path) -> None:
    """An export that carries the officer's outcome maps it under fields (training only); a
    sample with only "N" still reads a later "Y" (the other side of the spelling is added)."""
    rows = [f"C{i},2024-01-01 10:{i:02d}:00,DIST,N,N,Y" for i in range(30)]
    rows.append("C99,2024-01-01 11:00:00,DIST,Y,Y,N")  # beyond a 30-row sample
    export = tmp_path / "e.csv"
    export.write_text(
        "CALL_ID,CREATED,NATURE,OFFICER_INJURED,OFF_ASSAULTED,SUBJECT_INJURED\n"
        + "\n".join(rows)
        + "\n"
    )
    out = tmp_path / "m.yaml"
    summary = draft_mapping(export, out, sample=30)
    assert summary["fields"]["officer_injured"] == "OFFICER_INJURED"
    assert summary["fields"]["officer_assaulted"] == "OFF_ASSAULTED"
    assert "SUBJECT_INJURED" in summary["left_out"]
    spec = yaml.safe_load(out.read_text())["fields"]["officer_injured"]
    assert spec["values"] == {"N": "false", "Y": "true"}
    report = ingest_file(export, tmp_path / "run", out)
    assert (report["rows_in"], report["rows_accepted"]) == (31, 31)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "the file is empty"), ("A,B,C\n", "header but no data rows")],
)
def test_empty_exports_are_one_line_errors_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    export = tmp_path / "export.csv"
    export.write_text(text)
    with pytest.raises(UserError, match=message) as err:
        draft_mapping(export, tmp_path / "m.yaml")
    assert str(export) in str(err.value)
    assert not (tmp_path / "m.yaml").exists()


def test_nothing_recognised_still_writes_a_draft_that_says_why(tmp_path: Path) -> None:
    export = tmp_path / "e.csv"
    export.write_text("A,B\nfoo,bar\nfoo,bar\n")  # no column is unique, a time or a type
    summary = draft_mapping(export, tmp_path / "m.yaml")
    assert summary["loads"] is False
    assert "required field is not mapped" in summary["load_problem"]
    text = (tmp_path / "m.yaml").read_text()
    assert text.startswith("# NOTE: `risk-model ingest` does not accept this draft")
    assert yaml.safe_load(text)["fields"] == {}


def test_line_breaks_in_values_keep_the_draft_valid_yaml(tmp_path: Path) -> None:
    export = tmp_path / "e.csv"
    export.write_text(
        'INCIDENT_NO,CALL_DATE_TIME,NATURE,"NOTE\nS"\n'
        'A1,2024-01-01 10:00:00,"RETURN\nSTATION",x\n'
        'A2,2024-01-01 11:00:00,DIST,"two\nlines"\n'
        "A3,2024-01-01 12:00:00,DIST,y\n"
    )
    out = tmp_path / "m.yaml"
    summary = draft_mapping(export, out)
    assert summary["loads"] is True
    assert yaml.safe_load(out.read_text())["fields"]["call_type"] == "NATURE"
