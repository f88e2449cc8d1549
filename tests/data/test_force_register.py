"""The simulated response-to-resistance register (`simulate --agency-export`): the shapes that
led the tool astray on real records, on known truth. Its draft, unedited, must choose the
incident number, the date + time columns (never the hire date) and the nature of call (never the
offence), fold the officer rows, and ingest with every row accounted for and every injured
incident kept."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.simulate.force_register import (
    HEADER_DRIFT,
    REGISTER_COLUMNS,
    REGISTER_DIR,
    REGISTER_MAPPING_FILE,
)

SEED = 7


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two years of a simulated city with its agency export (and so its force register)."""
    root = tmp_path_factory.mktemp("register")
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["simulate", "--calls", "60000", "--seed", str(SEED), "--start", "2023-01-01",
         "--days", "730", "--out", str(root / "world.parquet"),
         "--agency-export", str(root / "agency"), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])["agency_export"]
    calls = pd.read_parquet(root / "world.parquet")
    injured = calls.loc[calls["officer_injured"].fillna(False).astype(bool), "call_id"]
    return {
        "root": root,
        "dir": root / "agency" / REGISTER_DIR,
        "mapping": root / "agency" / REGISTER_MAPPING_FILE,
        "summary": summary,
        "injured": set(injured.str.slice(1)),  # incident numbers of injured calls
    }


def _ingest(folder: Path, mapping: Path, out: Path) -> dict:
    result = CliRunner().invoke(
        app,
        ["ingest", "--input", str(folder), "--mapping", str(mapping), "--out", str(out),
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_yearly_files_with_drifting_headers(world: dict) -> None:
    files = sorted(world["dir"].glob("force_register_*.csv"))
    assert [f.name for f in files] == ["force_register_2023.csv", "force_register_2024.csv"]
    first, second = (pd.read_csv(f, nrows=0).columns.tolist() for f in files)
    assert first == list(REGISTER_COLUMNS)
    assert second == [HEADER_DRIFT.get(c, c) for c in REGISTER_COLUMNS]
    assert world["summary"]["force_register_files"] == 2


def test_the_shapes_of_a_real_register(world: dict) -> None:
    undrift = {v: k for k, v in HEADER_DRIFT.items()}
    rows = pd.concat(
        [
            pd.read_csv(f, dtype=str).rename(columns=undrift)
            for f in sorted(world["dir"].glob("*.csv"))
        ],
        ignore_index=True,
    )
    per_incident = rows.groupby("UOF_NUMBER").size()
    assert (per_incident > 1).mean() > 0.3  # one row per officer
    # A clock time before 10:00 lost its leading zero, as a number written out does.
    assert rows["INCIDENT_TIME"].str.len().min() <= 3
    # The hire date is the earliest date in every row.
    hire = pd.to_datetime(rows["OFFICER_HIRE_DATE"], format="%m/%d/%Y")
    assert (hire < pd.to_datetime(rows["INCIDENT_DATE"], format="%m/%d/%Y")).all()
    # An injured incident whose first row says "No": first-row-wins would lose it.
    first = rows.groupby("UOF_NUMBER")["OFFICER_INJURY"].first()
    any_yes = rows.groupby("UOF_NUMBER")["OFFICER_INJURY"].agg(lambda v: (v == "Yes").any())
    assert (any_yes & (first == "No")).sum() > 0
    # Injury is a minority of force incidents, far above the rate per dispatched call.
    assert 0.08 < any_yes.mean() < 0.25


def test_shipped_mapping_ingests_with_exact_accounting_and_every_injury(
    world: dict, tmp_path: Path
) -> None:
    report = _ingest(world["dir"], world["mapping"], tmp_path / "out")
    assert report["rows_in"] == (
        report["rows_accepted"] + report["rows_folded"] + report["rows_quarantined"]
        + report["rows_excluded"]
    )  # fmt: skip
    assert report["rows_quarantined"] == 0
    assert [f["rows_in"] for f in report["files"]] == [
        len(pd.read_csv(f)) for f in sorted(world["dir"].glob("*.csv"))
    ]
    calls = pd.read_parquet(tmp_path / "out" / "calls.parquet")
    injured = set(calls.loc[calls["officer_injured"].astype(bool), "call_id"])
    assert injured == world["injured"]  # every injured call of the world, none invented
    assert (calls["officers"] >= 1).all()
    # 220 read as 02:20, never 22:00: the times equal the world's to the minute.
    world_calls = pd.read_parquet(world["root"] / "world.parquet")
    world_calls["call_id"] = world_calls["call_id"].str.slice(1)
    both = calls.merge(world_calls[["call_id", "received_at"]], on="call_id", suffixes=("", "_w"))
    assert len(both) == len(calls)
    assert (both["received_at"] == both["received_at_w"].dt.floor("min")).all()


def test_the_draft_unedited_chooses_right_and_ingests_the_same(
    world: dict, tmp_path: Path
) -> None:
    draft = tmp_path / "draft.yaml"
    result = CliRunner().invoke(app, ["map", "--draft", str(world["dir"]), "--out", str(draft)])
    assert result.exit_code == 0, result.output
    text = draft.read_text()
    mapping = yaml.safe_load(text)
    fields = mapping["fields"]
    assert fields["call_id"] == "UOF_NUMBER"
    assert fields["received_at"]["date"] == "INCIDENT_DATE"
    assert fields["received_at"]["time"] == "INCIDENT_TIME"
    assert fields["call_type"] == "NATURE_OF_CALL"
    assert mapping["incident_rows"] == "fold"
    mapped = json.dumps(fields)
    for never in ("OFFICER_HIRE_DATE", "OFFENSE", "REASON_FOR_FORCE", "SUBJECT_RESISTANCE"):
        assert never not in mapped, never
    shipped = _ingest(world["dir"], world["mapping"], tmp_path / "shipped")
    drafted = _ingest(world["dir"], draft, tmp_path / "drafted")
    for key in ("rows_in", "rows_accepted", "rows_folded", "rows_quarantined"):
        assert drafted[key] == shipped[key], key


def test_an_after_the_fact_column_is_refused_by_its_values(world: dict, tmp_path: Path) -> None:
    """REASON_FOR_FORCE's name says nothing; its values (Arrest, Active Aggression) do."""
    mapping = yaml.safe_load(world["mapping"].read_text())
    mapping["fields"]["call_type"] = "REASON_FOR_FORCE"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(mapping))
    result = CliRunner().invoke(
        app, ["ingest", "--input", str(world["dir"]), "--mapping", str(bad), "--out",
              str(tmp_path / "o")],
    )  # fmt: skip
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "REASON_FOR_FORCE" in errors[0], result.output
