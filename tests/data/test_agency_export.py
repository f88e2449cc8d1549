"""The agency-style export (`simulate --agency-export`): real-shaped files of the canonical world.

The files must carry the difficulties a real export has (unit-status rows, date-only times,
duplicates, post-dispatch columns, a separate per-officer harm file with multi-valued cells and
rows for incidents outside the export), and the mapping written beside them must read them back
to exactly the canonical world: every row accounted for, every harm label equal to the truth.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.simulate.agency_export import (
    CAD_COLUMNS,
    CAD_FILE,
    HARM_COLUMNS,
    HARM_FILE,
    HARM_ONLY_COLUMNS,
    JAIL_ADDRESS,
    MAPPING_FILE,
    MAPPING_TEXT,
    NATURE_CODES,
    POST_DISPATCH_CAD_COLUMNS,
    STATION_ADDRESS,
    SUMMARY_FILE,
    TRUTH_FILE,
    build_agency_export,
    incident_number,
)
from risk_model.simulate.files import simulate_to_file

REPO = Path(__file__).resolve().parents[2]
N_CALLS = 30_000
SEED = 41
UNIT_STATUSES = ("RETURN STATION", "PRISONER TRANSPORT", "OUT OF SERVICE", "COURT")
DATE_ONLY = re.compile(r"^\d{2}/\d{2}/\d{4}$")
FULL_TIME = re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2} [AP]M$")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One world written through the command line: canonical file plus the agency export."""
    root = tmp_path_factory.mktemp("agency")
    result = CliRunner().invoke(
        app,
        [
            "simulate", "--calls", str(N_CALLS), "--seed", str(SEED), "--start", "2025-01-01",
            "--out", str(root / "world.parquet"), "--agency-export", str(root / "agency"),
            "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    agency = root / "agency"
    return {
        "root": root,
        "dir": agency,
        "summary": summary,
        "counts": summary["agency_export"],
        "calls": pd.read_parquet(root / "world.parquet"),
        "cad": pd.read_csv(agency / CAD_FILE, dtype=str, keep_default_na=False),
        "harm": pd.read_csv(agency / HARM_FILE, dtype=str, keep_default_na=False),
    }


@pytest.fixture(scope="module")
def canonical_harm(written) -> pd.DataFrame:
    """The canonical outcomes, indexed by the agency's incident number."""
    calls = written["calls"]
    frame = calls[["officer_assaulted", "officer_injured"]].astype(bool)
    frame.index = incident_number(calls["call_id"]).to_numpy()
    return frame


# ------------------------------------------------------------------ the files' promised shape


def test_cli_writes_every_file_and_a_summary(written) -> None:
    d = written["dir"]
    for name in (CAD_FILE, HARM_FILE, MAPPING_FILE, TRUTH_FILE, SUMMARY_FILE):
        assert (d / name).is_file(), name
    on_disk = json.loads((d / SUMMARY_FILE).read_text())
    assert on_disk == written["counts"]
    assert written["counts"]["cad_rows"] == len(written["cad"])
    assert written["counts"]["harm_rows"] == len(written["harm"])


def test_canonical_world_is_unchanged_by_the_export(written, tmp_path: Path) -> None:
    """Same seed, byte-for-byte the same canonical file and truth, with or without the export."""
    simulate_to_file(out=tmp_path / "plain.parquet", calls=N_CALLS, seed=SEED, start="2025-01-01")
    root = written["root"]
    assert (tmp_path / "plain.parquet").read_bytes() == (root / "world.parquet").read_bytes()
    assert (tmp_path / "plain.truth.parquet").read_bytes() == (
        root / "world.truth.parquet"
    ).read_bytes()


def test_export_is_deterministic(written) -> None:
    again = build_agency_export(written["calls"], seed=SEED)
    assert again.counts == {k: v for k, v in written["counts"].items() if k in again.counts}
    pd.testing.assert_series_equal(
        again.cad["INCIDENT_NO"].reset_index(drop=True),
        written["cad"]["INCIDENT_NO"],
        check_dtype=False,
        check_names=False,
    )


def test_cad_columns_are_the_agencys_with_post_dispatch_columns(written) -> None:
    cad = written["cad"]
    assert tuple(cad.columns) == CAD_COLUMNS
    assert set(POST_DISPATCH_CAD_COLUMNS) <= set(cad.columns)
    assert (cad["DISPOSITION"] != "").mean() > 0.99
    # Closed as assault on officer: the post-dispatch column leaks the outcome, as in real data.
    assert (cad["FINAL_NATURE"] == "ASLT ON OFFICER").sum() > 0
    assert not set(cad.columns) & {"officer_assaulted", "officer_injured", "OFFICER_INJURED"}


def test_call_types_are_cad_shorthand(written) -> None:
    natures = set(written["cad"]["NATURE"])
    for code in ("DIST W/SUBJ", "FAMILY TROUBLE", "SUBJ WITH GUN", "TRBL W/SUBJ", "ACC PDO",
                 "SHOTSPOTTER"):  # fmt: skip
        assert code in natures, code
    canonical_names = set(NATURE_CODES) - {c for opts in NATURE_CODES.values() for c, _ in opts}
    assert not natures & canonical_names  # e.g. "DOMESTIC DISTURBANCE" is never written as such


def test_unit_status_rows_are_mixed_in_at_the_station(written) -> None:
    cad, counts = written["cad"], written["counts"]
    status = cad["NATURE"].isin(UNIT_STATUSES)
    assert status.sum() == counts["unit_status_rows"]
    assert 0.03 < status.mean() < 0.05
    assert set(cad.loc[status, "NATURE"]) == set(UNIT_STATUSES)
    # Interleaved in time order, not appended at the end.
    positions = np.flatnonzero(status.to_numpy())
    assert positions[0] < len(cad) * 0.1 and positions[-1] > len(cad) * 0.9
    at_station = cad["BLOCK_ADDRESS"] == STATION_ADDRESS
    assert at_station.sum() > 0.03 * len(cad)  # the busiest "premise" of the export
    addresses = cad.loc[cad["BLOCK_ADDRESS"] != "", "BLOCK_ADDRESS"]
    assert addresses.value_counts().index[0] == STATION_ADDRESS
    walk_ins = at_station & (cad["CALL_SOURCE"] == "WALK-IN")
    assert walk_ins.sum() > 0 and (at_station & status).sum() > 0


def test_some_times_are_a_date_only(written) -> None:
    cad, counts = written["cad"], written["counts"]
    date_only = cad["CALL_RECEIVED"].str.match(DATE_ONLY)
    full = cad["CALL_RECEIVED"].str.match(FULL_TIME)
    assert (date_only | full).all()
    assert 0.01 < date_only.mean() < 0.03
    calls_only = ~cad["NATURE"].isin(UNIT_STATUSES) & ~cad["INCIDENT_NO"].duplicated()
    assert (date_only & calls_only).sum() == counts["date_only_rows"]


def test_some_calls_are_exported_twice(written) -> None:
    cad, counts = written["cad"], written["counts"]
    dup = cad["INCIDENT_NO"].duplicated(keep="first")
    assert dup.sum() == counts["duplicate_rows"] > 0
    first = cad[cad["INCIDENT_NO"].isin(cad.loc[dup, "INCIDENT_NO"]) & ~dup]
    assert (first["UNIT"].str[-1] != "D").all()  # the copy (second unit) comes after the call


def test_harm_file_is_per_officer_with_multi_valued_cells(written) -> None:
    harm = written["harm"]
    assert tuple(harm.columns) == HARM_COLUMNS
    keyed = harm[harm["INCIDENT_NUMBER"] != ""]
    assert keyed["INCIDENT_NUMBER"].duplicated().sum() > 0  # several rows for some calls
    multi = harm["OFFICER_ASSAULTED"].str.contains("|", regex=False)
    assert multi.sum() > 0
    assert harm.loc[multi, "OFFICER_ASSAULTED"].str.fullmatch(r"(Yes|No)( \| (Yes|No))+").all()
    assert harm.loc[~multi, "OFFICER_ASSAULTED"].isin(["Y", "N", "Yes", "No"]).all()
    # The LEOKA circumstance exists only for harmed calls.
    assert (harm["LEOKA_CIRCUMSTANCE"] != "").all()
    assert "DISTURBANCE CALL" in set(harm["LEOKA_CIRCUMSTANCE"])


def test_harm_file_has_rows_outside_the_export(written) -> None:
    harm, cad, counts = written["harm"], written["cad"], written["counts"]
    calls = set(cad.loc[~cad["NATURE"].isin(UNIT_STATUSES), "INCIDENT_NO"])
    statuses = set(cad.loc[cad["NATURE"].isin(UNIT_STATUSES), "INCIDENT_NO"])
    key = harm["INCIDENT_NUMBER"]
    other_years = ~key.isin(calls | statuses) & (key != "")
    assert other_years.sum() == counts["harm_rows_other_years"] >= 2
    export_years = {k[:2] for k in calls}
    assert not set(key[other_years].str[:2]) & export_years
    assert key.isin(statuses).sum() == counts["harm_rows_prisoner_transport"]
    assert (key == "").sum() == counts["harm_rows_missing_key"] >= 1
    assert key.isin(calls).sum() == counts["harm_rows_for_calls"]


def test_harm_file_read_by_hand_gives_the_canonical_outcomes(written, canonical_harm) -> None:
    """Independently of ingest: any officer's Yes/Y makes the call assaulted (injured)."""
    harm = written["harm"]

    def any_yes(cells: pd.Series) -> pd.Series:
        parts = cells.str.split("|").explode().str.strip().str.upper()
        return parts.isin(["Y", "YES"]).groupby(level=0).any()

    flags = pd.DataFrame(
        {
            "key": harm["INCIDENT_NUMBER"],
            "a": any_yes(harm["OFFICER_ASSAULTED"]),
            "i": any_yes(harm["OFFICER_INJURED"]),
        }
    )
    per_call = flags[flags["key"].isin(canonical_harm.index)].groupby("key")[["a", "i"]].any()
    truth = canonical_harm.reindex(per_call.index)
    assert per_call["a"].tolist() == truth["officer_assaulted"].tolist()
    assert per_call["i"].tolist() == truth["officer_injured"].tolist()
    harmed = canonical_harm.index[canonical_harm.any(axis=1)]
    assert set(harmed) == set(per_call.index)  # absent = not harmed is the truth
    assert (per_call["a"] | per_call["i"]).all()


def test_mapping_maps_no_post_dispatch_or_harm_only_column(written) -> None:
    text = (written["dir"] / MAPPING_FILE).read_text()
    assert text == MAPPING_TEXT
    mapping = yaml.safe_load(text)
    mapped = set()
    for spec in [*mapping["fields"].values(), *mapping["outcomes"]["fields"].values()]:
        mapped.add(spec if isinstance(spec, str) else spec.get("column"))
    assert not mapped & set(POST_DISPATCH_CAD_COLUMNS)
    assert not mapped & set(HARM_ONLY_COLUMNS)
    assert mapping["outcomes"]["file"] == HARM_FILE
    assert mapping["exclude"][0]["equals"] == list(UNIT_STATUSES)
    assert mapping["not_premises"][0]["equals"] == [STATION_ADDRESS, JAIL_ADDRESS]
    assert mapping["fields"]["received_at"]["formats"][-1] == "%m/%d/%Y"


def test_shipped_mapping_is_the_generated_one() -> None:
    """docs cite data/mappings/agency_demo.yaml: it is exactly what the simulator writes."""
    assert (REPO / "data" / "mappings" / "agency_demo.yaml").read_text() == MAPPING_TEXT


def test_oracle_truth_is_keyed_by_incident_number(written) -> None:
    truth = pd.read_parquet(written["dir"] / TRUTH_FILE)
    world_truth = pd.read_parquet(written["root"] / "world.truth.parquet")
    assert truth["call_id"].tolist() == incident_number(world_truth["call_id"]).tolist()
    assert np.array_equal(truth["true_risk"].to_numpy(), world_truth["true_risk"].to_numpy())


def test_bad_export_directory_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(
        app,
        ["simulate", "--calls", "200", "--out", str(tmp_path / "w.parquet"),
         "--agency-export", str(blocker / "sub")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "agency export" in result.output and "Traceback" not in result.output


# ------------------------------------------------------------------ ingest with the mapping


@pytest.fixture(scope="module")
def ingested(written, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from risk_model.ingest.run import ingest_file

    out = tmp_path_factory.mktemp("canonical")
    report = ingest_file(
        input_path=written["dir"] / CAD_FILE,
        out_dir=out,
        mapping_path=written["dir"] / MAPPING_FILE,
    )
    return {"report": report, "out": out, "calls": pd.read_parquet(out / "calls.parquet")}


def test_ingest_accounts_for_every_call_row(written, ingested) -> None:
    r, counts = ingested["report"], written["counts"]
    assert r["rows_in"] == counts["cad_rows"]
    assert r["rows_in"] == r["rows_accepted"] + r["rows_quarantined"] + r["rows_excluded"]
    assert r["rows_excluded"] == counts["unit_status_rows"]
    assert sum(r["excluded_by_rule"].values()) == counts["unit_status_rows"]
    assert r["rows_quarantined"] == counts["duplicate_rows"]  # the second copy of a call
    assert r["rows_accepted"] == N_CALLS
    assert set(ingested["calls"]["call_id"]) == set(incident_number(written["calls"]["call_id"]))


def test_ingest_accounts_for_every_outcome_row(written, ingested) -> None:
    r, counts = ingested["report"], written["counts"]
    assert r["outcome_rows_in"] == counts["harm_rows"]
    assert r["outcome_rows_in"] == (
        r["outcome_rows_matched"] + r["outcome_rows_unmatched"] + r["outcome_rows_quarantined"]
    )
    assert r["outcome_rows_matched"] == counts["harm_rows_for_calls"]
    # Other years and prisoner transports (excluded rows are not calls) match no accepted call;
    # the report entered without its incident number breaks the mapping (no key).
    outside = counts["harm_rows_other_years"] + counts["harm_rows_prisoner_transport"]
    assert r["outcome_rows_unmatched"] == outside
    assert r["outcome_rows_quarantined"] == counts["harm_rows_missing_key"]
    assert r["calls_with_outcome_rows"] == counts["harmed_calls"]
    unmatched = pd.read_csv(ingested["out"] / "outcomes_unmatched.csv", dtype=str)
    assert len(unmatched) == r["outcome_rows_unmatched"]
    reasons = unmatched["_reason"]
    assert reasons.str.contains("row excluded").sum() == counts["harm_rows_prisoner_transport"]
    assert reasons.str.contains("not in the export").sum() == counts["harm_rows_other_years"]
    quarantined = pd.read_csv(ingested["out"] / "outcomes_quarantine.csv", dtype=str)
    assert len(quarantined) == r["outcome_rows_quarantined"]
    assert quarantined["_reason"].str.contains("INCIDENT_NUMBER").all()


def test_ingested_harm_labels_equal_the_truth(ingested, canonical_harm) -> None:
    calls = ingested["calls"].set_index("call_id")
    truth = canonical_harm.reindex(calls.index)
    assert calls["officer_assaulted"].notna().all() and calls["officer_injured"].notna().all()
    assert calls["officer_assaulted"].astype(bool).tolist() == truth["officer_assaulted"].tolist()
    assert calls["officer_injured"].astype(bool).tolist() == truth["officer_injured"].tolist()
    assert calls["officer_assaulted"].astype(bool).sum() > 0


def test_only_the_outcome_flags_cross_the_join(written, ingested) -> None:
    columns = set(ingested["calls"].columns)
    assert not columns & set(HARM_ONLY_COLUMNS)
    assert not columns & set(POST_DISPATCH_CAD_COLUMNS)
    assert not {c.lower() for c in columns} & {c.lower() for c in HARM_ONLY_COLUMNS}


def test_station_and_jail_build_no_premise_history(written, ingested) -> None:
    calls, counts = ingested["calls"], written["counts"]
    assert ingested["report"]["rows_not_premise"] == counts["walk_in_rows"]
    blanked = calls["address_not_premise"].notna()
    assert blanked.sum() == counts["walk_in_rows"]
    assert calls.loc[blanked, "address"].isna().all()
    assert calls.loc[blanked, "latitude"].isna().all()
    addresses = calls["address"].dropna().str.upper()
    assert not addresses.isin([STATION_ADDRESS, JAIL_ADDRESS]).any()


def test_date_only_calls_are_known_to_the_day(written, ingested) -> None:
    calls, counts = ingested["calls"], written["counts"]
    until = calls["received_until"]
    day_only = until.notna()
    assert day_only.sum() == counts["date_only_rows"]
    assert ingested["report"]["rows_known_to_a_range"] == counts["date_only_rows"]
    at = calls.loc[day_only, "received_at"]
    assert (at == at.dt.normalize()).all()
    assert (until[day_only] - at == pd.Timedelta(days=1)).all()


# ------------------------------------------------------------------ the docs ship what they cite


def _section_zero() -> str:
    guide = (REPO / "docs" / "analyst-guide.md").read_text("utf-8")
    return guide[guide.index("## 0. ") : guide.index("## 1. ")]


def test_analyst_guide_quotes_the_shipped_mapping_verbatim() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", _section_zero(), flags=re.S)
    assert len(blocks) >= 4
    for block in blocks:
        for line in block.splitlines():
            code = line.split(" #")[0].rstrip()  # the guide may comment a line differently
            if code.strip() and code.strip() != "...":
                assert code in MAPPING_TEXT, line


def test_docs_cite_files_that_exist() -> None:
    for doc in ("analyst-guide.md", "simulator.md"):
        text = (REPO / "docs" / doc).read_text("utf-8")
        for path in re.findall(r"`((?:data|tests|pipelines|risk_model)/[\w./-]+)`", text):
            assert (REPO / path).exists(), f"{doc} cites {path}"
        for link in re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]+)?\)", text):
            assert (REPO / "docs" / link).exists(), f"{doc} links {link}"
