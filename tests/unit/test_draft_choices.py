"""`map --draft` right where it matters (issue 18 item 1): keys, time, call type, stations.

Each test is a small inline export shaped like a real record set that led the old draft wrong:
a timestamp shared with the outcome file, an officer's hire date, a date beside an HHMM number,
an offence beside the nature of call, a register of force with several rows per incident, a
CAD month whose busiest address is headquarters.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from risk_model.ingest.draft import draft_mapping
from risk_model.ingest.run import Mapping, ingest_file

REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _times(n: int, day: int = 1) -> list[str]:
    return [f"2024-03-{day + i // 24:02d} {i % 24:02d}:{(7 * i) % 60:02d}:00" for i in range(n)]


def test_join_key_is_the_incident_number_never_a_shared_timestamp(tmp_path: Path) -> None:
    """Both files carry INCIDENT_NO and CALL_TIME. The timestamps overlap completely; the
    incident numbers less (one outcome row was keyed with a typo): the key is still the
    incident number, and the draft says why the timestamp was not taken."""
    times = _times(12)
    export = _write(
        tmp_path / "cad.csv",
        "INCIDENT_NO,CALL_TIME,NATURE",
        [f"24-{i:05d},{t},DISTURBANCE" for i, t in enumerate(times)],
    )
    harm = _write(
        tmp_path / "harm.csv",
        "REPORT_NO,INCIDENT_NO,CALL_TIME,OFFICER_INJURED",
        [
            f"R1,24-00002,{times[2]},Y",
            f"R2,24-00002,{times[2]},N",
            f"R3,24-00005,{times[5]},Y",
            f"R4,24-0009,{times[9]},Y",  # keyed with a typo: the number misses, the time matches
        ],
    )
    out = tmp_path / "m.yaml"
    summary = draft_mapping(export, out, outcomes=harm)
    assert summary["fields"]["call_id"] == "INCIDENT_NO"
    assert summary["fields"]["received_at"] == "CALL_TIME"
    assert summary["outcomes_key"] == "INCIDENT_NO"
    text = out.read_text()
    assert "key: 67% of the distinct INCIDENT_NO values are INCIDENT_NO values" in text
    assert "not CALL_TIME (shared by both files, but a time" in text
    if "outcomes" in Mapping.model_fields:
        block = yaml.safe_load(text)["outcomes"]
        assert (block["key"], block.get("call_key")) == ("INCIDENT_NO", None)


def test_join_key_of_an_outcome_file_with_three_rows_per_incident(tmp_path: Path) -> None:
    """One row per officer: three officers per incident is still a key (grouped, not unique)."""
    export = _write(
        tmp_path / "cad.csv",
        "CAD_NUM,CREATE_TIME,NATURE",
        [f"E{i},{t},DISTURBANCE" for i, t in enumerate(_times(9))],
    )
    harm = _write(
        tmp_path / "uof.csv",
        "CASE,CAD_NUM,OFFICER_INJURED",
        [f"K{i // 3},E{i // 3},{'Y' if i % 3 == 0 else 'N'}" for i in range(9)],
    )
    summary = draft_mapping(export, tmp_path / "m.yaml", outcomes=harm)
    assert summary["outcomes_key"] == "CAD_NUM"
    assert "3 distinct values in 9 filled rows (33%), 3 of 3 ids have 3 rows" in (
        (tmp_path / "m.yaml").read_text().replace("\n#   ", " ")
    )


@pytest.mark.parametrize(
    ("header", "person", "chosen"),
    [
        # By name: the hire date is never the call time, however early it is.
        ("CALL_NO,OFFICER_HIRE_DATE,INCIDENT_DATE,NATURE", "OFFICER_HIRE_DATE", "INCIDENT_DATE"),
        # By content: a plain "DATE" (a better name than OCC_DATE) that sits years before the
        # other date in every row is a person's date, not the call's.
        ("CALL_NO,DATE,OCC_DATE,NATURE", "DATE", "OCC_DATE"),
    ],
)
def test_an_officer_or_subject_date_is_never_the_call_time(
    tmp_path: Path, header: str, person: str, chosen: str
) -> None:
    rows = [
        f"C{i},{1 + i % 12}/{1 + i % 27}/{2005 + i % 9},{3 + i % 9}/{1 + i}/2016,DISTURBANCE"
        for i in range(20)
    ]
    export = _write(tmp_path / "uof.csv", header, rows)
    out = tmp_path / "m.yaml"
    summary = draft_mapping(export, out)
    assert summary["fields"]["received_at"] == chosen
    assert person in summary["person_dates"]
    text = out.read_text()
    assert f"#   {person}: " in text.split("# Never the call time")[1]
    assert "dates 2016-" in text  # the chosen column's range is in its comment
    report = ingest_file(export, tmp_path / "run", out)
    calls = pd.read_parquet(report["out"])
    assert (calls["received_at"].dt.year == 2016).all()


def test_a_date_and_an_hhmm_number_are_combined_and_220_is_0220(tmp_path: Path) -> None:
    export = _write(
        tmp_path / "e.csv",
        "INCIDENT_NO,INC_DATE,INC_TIME,NATURE",
        [
            "A1,2016-09-03,220,DISTURBANCE",
            "A2,2016-09-03,1315,THEFT",
            "A3,2016-09-04,5,ALARM",
            "A4,2016-09-04,2359,SUSP PERSON",
            "A5,2016-09-05,45,DISTURBANCE",
        ],
    )
    out = tmp_path / "m.yaml"
    summary = draft_mapping(export, out)
    assert summary["loads"] is True
    text = out.read_text()
    rt = yaml.safe_load(text)["fields"]["received_at"]
    assert rt == {
        "date": "INC_DATE",
        "date_formats": ["%Y-%m-%d"],
        "time": "INC_TIME",
        "time_formats": ["%H%M"],
    }
    assert "'220' = 02:20" in text
    report = ingest_file(export, tmp_path / "run", out)
    calls = pd.read_parquet(report["out"]).set_index("call_id")["received_at"]
    assert calls["A1"] == pd.Timestamp("2016-09-03 02:20")
    assert calls["A2"] == pd.Timestamp("2016-09-03 13:15")
    assert calls["A3"] == pd.Timestamp("2016-09-04 00:05")
    assert calls["A5"] == pd.Timestamp("2016-09-05 00:45")


def test_a_date_at_midnight_and_an_hhmm_number_are_combined(tmp_path: Path) -> None:
    """FIELD_NOTES: "a date at midnight plus HHMM as a number"."""
    export = _write(
        tmp_path / "e.csv",
        "INCIDENT_NO,OCC_DATE,OCC_TIME,NATURE",
        [
            "A1,2016-09-03 00:00:00,220,DISTURBANCE",
            "A2,2016-09-03 00:00:00,1315,THEFT",
            "A3,2016-09-04 00:00:00,5,ALARM",
        ],
    )
    out = tmp_path / "m.yaml"
    summary = draft_mapping(export, out)
    assert summary["loads"] is True
    rt = yaml.safe_load(out.read_text())["fields"]["received_at"]
    assert (rt["date"], rt["time"], rt["time_formats"]) == ("OCC_DATE", "OCC_TIME", ["%H%M"])
    assert "clock part is always midnight" in out.read_text()
    report = ingest_file(export, tmp_path / "run", out)
    calls = pd.read_parquet(report["out"]).set_index("call_id")["received_at"]
    assert calls["A1"] == pd.Timestamp("2016-09-03 02:20")
    assert calls["A3"] == pd.Timestamp("2016-09-04 00:05")


def test_call_type_is_how_the_call_began_never_an_after_the_fact_description(
    tmp_path: Path,
) -> None:
    export = _write(
        tmp_path / "e.csv",
        "INCIDENT_NO,CALL_DATE_TIME,OFFENSE,SUBJECT_DESCRIPTION,NATURE_OF_CALL",
        [
            "A1,2024-01-01 10:00:00,ASSAULT ON PUBLIC SERVANT,ASSAULT,SUSP PERSON",
            "A2,2024-01-01 11:00:00,PUBLIC INTOX,DISTURBANCE,WELFARE CHECK",
            "A3,2024-01-01 12:00:00,RESISTING ARREST,ASSAULT,ALARM RES",
            "A4,2024-01-01 13:00:00,NO OFFENSE,DOMESTIC DISTURBANCE,DISTURBANCE",
        ],
    )
    out = tmp_path / "m.yaml"
    summary = draft_mapping(export, out)
    assert summary["fields"]["call_type"] == "NATURE_OF_CALL"
    assert "OFFENSE" in summary["left_out"]
    assert "SUBJECT_DESCRIPTION" not in summary["fields"].values()
    assert "not SUBJECT_DESCRIPTION: a description of a person" in out.read_text()


def test_rows_sharing_an_incident_id_are_marked_and_fold_is_proposed(tmp_path: Path) -> None:
    """A register of force: one row per officer. The grouped incident number is the call id
    (not the unique row id), and the draft proposes `incident_rows: fold` with the count."""
    rows = []
    for i in range(10):
        for officer in range(1 + (i in (3, 7)) + (i == 7)):
            rows.append(f"R{len(rows) + 1},UOF-{i:03d},0{1 + i % 9}/0{1 + officer}/2016,ARREST")
    export = _write(tmp_path / "uof.csv", "ROW_ID,INCIDENT_NUM,OCC_DATE,INCIDENT_TYPE", rows)
    out = tmp_path / "m.yaml"
    summary = draft_mapping(export, out)
    assert summary["fields"]["call_id"] == "INCIDENT_NUM"
    assert summary["incident_rows"] == "fold"
    text = out.read_text()
    assert "2 of 10 ids have 2-3 rows" in text
    assert "the other candidate: ROW_ID (13 distinct values in 13 filled rows (100%))" in text
    if "incident_rows" in Mapping.model_fields:
        assert yaml.safe_load(text)["incident_rows"] == "fold"
    else:
        assert "\n# incident_rows: fold\n" in text


def test_stations_and_headquarters_are_proposed_from_content(tmp_path: Path) -> None:
    """Admin entries (REPORTS, ASSIGNMENT, BUSINESS CHECK, ...) go to `exclude:`; every place
    dominated by them goes to `not_premises:`, headquarters (the busiest address) included."""
    hq, north, south = "1400 S LAMAR ST", "9801 HARRY HINES BLVD", "1999 E CAMP WISDOM RD"
    admin = [(hq, "REPORTS")] * 9 + [(hq, "ASSIGNMENT")] * 5 + [(hq, "BUSINESS CHECK")] * 3
    admin += [(north, "RETURN STATION")] * 4 + [(south, "OUT OF SERVICE")] * 3
    admin += [(hq, "DISTURBANCE"), (north, "THEFT RPT")]
    calls = [
        (f"{100 + i} ELM ST", ("DISTURBANCE", "THEFT RPT", "ALARM RES")[i % 3]) for i in range(20)
    ]
    calls += [("5 OAK AVE", "DISTURBANCE")] * 3  # a busy premise, but not an admin place
    rows = [
        f"E{i},{t},{nature},{addr}"
        for i, ((addr, nature), t) in enumerate(
            zip(admin + calls, _times(len(admin + calls)), strict=True)
        )
    ]
    export = _write(tmp_path / "cad.csv", "EVENT_NUMBER,CREATE_TIME,NATURE,ADDRESS", rows)
    out = tmp_path / "m.yaml"
    summary = draft_mapping(export, out)
    assert set(summary["exclude_values"]) == {
        "REPORTS", "ASSIGNMENT", "BUSINESS CHECK", "RETURN STATION", "OUT OF SERVICE",
    }  # fmt: skip
    text = out.read_text()
    line = next(li for li in text.splitlines() if li.startswith('#   - {column: "ADDRESS"'))
    assert line == f'#   - {{column: "ADDRESS", equals: ["{hq}", "{north}", "{south}"]}}'
    assert f"{hq} (18 rows, 94% admin/status, the busiest address)" in text
    assert "5 OAK AVE" not in line


def test_guarded_by_content_in_the_draft_is_left_out_with_the_values(tmp_path: Path) -> None:
    export = _write(
        tmp_path / "e.csv",
        "INCIDENT_NO,CALL_DATE_TIME,NATURE,REASON_DESC",
        [
            "A1,2024-01-01 10:00:00,DISTURBANCE,Arrest",
            "A2,2024-01-01 11:00:00,THEFT,Danger to self or others",
            "A3,2024-01-01 12:00:00,ALARM RES,Active Aggression",
        ],
    )
    summary = draft_mapping(export, tmp_path / "m.yaml")
    why = summary["left_out"]["REASON_DESC"]
    assert why.startswith("post-incident (values say so: 3 of 3 distinct values")


def _dallas() -> Path | None:
    for base in (REPO.parent, REPO.parent.parent):
        path = base / "shared" / "data" / "dallas_uof_2016" / "37-00049_UOF-P_2016_prepped.csv"
        if path.is_file():
            return path
    return None


@pytest.mark.dallas
def test_dallas_draft_chooses_id_time_call_type_and_folds(tmp_path: Path) -> None:
    path = _dallas()
    if path is None:
        pytest.skip("Dallas records not found beside the repository (shared/data/dallas_uof_2016)")
    out = tmp_path / "dallas.yaml"
    summary = draft_mapping(path, out)
    fields = summary["fields"]
    assert fields["call_id"] == "UOF_NUMBER"
    assert fields["received_at"] == "INCIDENT_DATE"
    assert fields["call_type"] == "INCIDENT_REASON"
    assert fields["officer_injured"] == "OFFICER_INJURY"
    assert summary["person_dates"] == ["OFFICER_HIRE_DATE"]
    assert summary["incident_rows"] == "fold" and summary["loads"] is True
    for col in ("REASON_FOR_FORCE", "SUBJECT_OFFENSE", "OFFICER_ID", "SUBJECT_RACE"):
        assert col in summary["left_out"], col
    text = out.read_text()
    rt = yaml.safe_load(text)["fields"]["received_at"]
    assert (rt["date"], rt["time"]) == ("INCIDENT_DATE", "INCIDENT_TIME")
    assert "50 of 2,328 ids have 2-4 rows" in text
    report = ingest_file(path, tmp_path / "run", out)
    parts = ("rows_accepted", "rows_quarantined", "rows_excluded", "rows_folded")
    assert report["rows_in"] == sum(report.get(k, 0) for k in parts) == 2383
    calls = pd.read_parquet(report["out"])
    assert (calls["received_at"].dt.year == 2016).all()


# --------------------------------------------------------------------------- wide headers (N12)


def _count(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[int]:
    """Counts calls to `module.name` (the draft calls its helpers by module-level name)."""
    calls = [0]
    real = getattr(module, name)

    def counted(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("extra", [2_000, 20_000])
def test_a_wide_header_costs_a_few_calls_per_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: int
) -> None:
    """A 200,000-column header once took more than 600 s: every guess re-read every column.
    Each column is now read once (its distinct values and time format cached), so the work is
    linear: the number of per-column calls is counted, not timed."""
    from risk_model.ingest import draft, draft_model

    header = ",".join(
        ["INCIDENT_NO", "CALL_DATE_TIME", "NATURE", *(f"X{i}" for i in range(extra))]
    )
    rows = [
        ",".join(
            [
                f"A{r}",
                f"2024-01-0{r + 1} 10:00:00",
                "DISTURBANCE",
                *(str((r * i) % 7) for i in range(extra)),
            ]
        )
        for r in range(5)
    ]
    export = _write(tmp_path / "wide.csv", header, rows)
    times = _count(monkeypatch, draft_model, "detect_time")
    guards = _count(monkeypatch, draft, "guarded")
    ranks = _count(monkeypatch, draft, "_name_rank")
    reads = [0]
    real_facts = draft.Draft._facts

    def facts(self: draft.Draft, df: pd.DataFrame, column: str) -> tuple[int, list[str]]:
        reads[0] += column not in self.distincts
        return real_facts(self, df, column)

    monkeypatch.setattr(draft.Draft, "_facts", facts)
    summary = draft_mapping(export, tmp_path / "m.yaml")
    columns = extra + 3
    assert summary["fields"]["call_id"] == "INCIDENT_NO"
    assert summary["fields"]["received_at"] == "CALL_DATE_TIME"
    assert summary["fields"]["call_type"] == "NATURE"
    assert guards[0] == columns  # each column guarded once
    assert 0 < reads[0] <= columns  # each column's distinct values computed once
    assert 0 < times[0] <= columns  # each column's time format detected at most once
    assert 0 < ranks[0] <= 20 * columns  # a name lookup per canonical field, no more


def test_many_date_columns_are_compared_with_a_few_references_not_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from risk_model.ingest import draft

    n = 100
    header = ",".join(["INCIDENT_NO", "NATURE", *(f"D{i}_DATE" for i in range(n))])
    rows = [
        ",".join([f"A{r}", "DISTURBANCE", *(f"0{1 + r}/1{i % 10}/2016" for i in range(n))])
        for r in range(4)
    ]
    export = _write(tmp_path / "dates.csv", header, rows)
    pairs = _count(monkeypatch, draft, "rows_years_before")
    draft_mapping(export, tmp_path / "m.yaml")
    assert 0 < pairs[0] <= 5 * n  # not n * (n - 1) = 9,900


def test_demo_export_draft_chooses_id_join_key_time_call_type_and_places(tmp_path: Path) -> None:
    """The simulator's agency export (CAD file + officer-harm file), drafted unedited: the right
    id, key, time and call type, the unit-status rule, and the station, jail and court."""
    from typer.testing import CliRunner

    from risk_model.cli import app
    from risk_model.simulate.agency_export import (
        CAD_FILE,
        COURT_ADDRESS,
        HARM_FILE,
        JAIL_ADDRESS,
        STATION_ADDRESS,
    )

    res = CliRunner().invoke(
        app,
        [
            "simulate", "--calls", "3000", "--seed", "5", "--out", str(tmp_path / "w.parquet"),
            "--agency-export", str(tmp_path / "agency"),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    agency = tmp_path / "agency"
    out = tmp_path / "draft.yaml"
    summary = draft_mapping(agency / CAD_FILE, out, outcomes=agency / HARM_FILE)
    fields = summary["fields"]
    assert (fields["call_id"], fields["received_at"], fields["call_type"]) == (
        "INCIDENT_NO",
        "CALL_RECEIVED",
        "NATURE",
    )
    assert summary["outcomes_key"] == "INCIDENT_NUMBER" and summary["loads"] is True
    assert {"RETURN STATION", "PRISONER TRANSPORT", "OUT OF SERVICE", "COURT"} <= set(
        summary["exclude_values"]
    )
    for col in ("DISPOSITION", "CLEAR_CODE", "FINAL_NATURE", "CLEARED_AT"):
        assert col in summary["left_out"], col
    line = next(li for li in out.read_text().splitlines() if '{column: "BLOCK_ADDRESS"' in li)
    for place in (STATION_ADDRESS, JAIL_ADDRESS, COURT_ADDRESS):
        assert place in line, place
    report = ingest_file(agency / CAD_FILE, tmp_path / "run", out)
    parts = ("rows_accepted", "rows_quarantined", "rows_excluded", "rows_folded")
    assert report["rows_in"] == sum(report.get(k, 0) for k in parts)
