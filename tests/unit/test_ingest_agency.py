"""`ingest --agency` (or the mapping's `agency:`) names the agency of every call; two agencies'
files then pool without a key edited by hand (SPEC §1 "Agencies")."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.config import FeatureConfig
from risk_model.dataset import load_calls
from risk_model.errors import UserError
from risk_model.features.build import build_features
from risk_model.ingest.run import ingest_file

# Two agencies that number calls alike and name beats and streets alike.
CAD = (
    "INCIDENT_NO,CALL_TIME,NATURE,ADDRESS,BEAT\n"
    "1,2024-03-01T10:00,DISTURBANCE,12 ELM ST,B1\n"
    "2,2024-03-02T10:00,ASSAULT,12 ELM ST,B1\n"
)
MAPPING = """
fields:
  call_id: INCIDENT_NO
  received_at: CALL_TIME
  call_type: NATURE
  address: ADDRESS
  beat: BEAT
"""


def _export(tmp_path: Path, mapping: str = MAPPING) -> tuple[Path, Path]:
    (tmp_path / "cad.csv").write_text(CAD, encoding="utf-8")
    (tmp_path / "m.yaml").write_text(mapping, encoding="utf-8")
    return tmp_path / "cad.csv", tmp_path / "m.yaml"


def test_agency_is_set_on_every_call_and_reported(tmp_path: Path) -> None:
    cad, mapping = _export(tmp_path)
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["ingest", "--input", str(cad), "--mapping", str(mapping), "--out", str(tmp_path / "o"),
         "--agency", "LMPD", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["agency"] == "LMPD"
    calls = pd.read_parquet(tmp_path / "o" / "calls.parquet")
    assert calls.columns[:2].tolist() == ["call_id", "agency"]
    assert calls["agency"].tolist() == ["LMPD", "LMPD"]


def test_the_mapping_can_name_the_agency(tmp_path: Path) -> None:
    cad, mapping = _export(tmp_path, MAPPING + "agency: APD\n")
    report = ingest_file(cad, tmp_path / "o", mapping)
    assert report["agency"] == "APD"
    assert set(pd.read_parquet(tmp_path / "o" / "calls.parquet")["agency"]) == {"APD"}


@pytest.mark.parametrize(
    ("extra", "agency", "message"),
    [
        ("agency: APD\n", "LMPD", "differs from the mapping's agency: APD"),
        ("", "has space", "not a code"),
    ],
)
def test_a_bad_or_contradicting_agency_is_one_error(
    tmp_path: Path, extra: str, agency: str, message: str
) -> None:
    cad, mapping = _export(tmp_path, MAPPING + extra)
    with pytest.raises(UserError, match=message):
        ingest_file(cad, tmp_path / "o", mapping, agency=agency)
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_two_agencies_ingested_apart_pool_in_one_folder(tmp_path: Path) -> None:
    """Each agency's export ingested with its code, the two calls.parquet files in one folder:
    every call kept (same call numbers), and neither agency's calls count as the other's
    premise history."""
    cad, mapping = _export(tmp_path)
    pooled = tmp_path / "pooled"
    pooled.mkdir()
    for code in ("LMPD", "APD"):
        ingest_file(cad, tmp_path / code, mapping, agency=code)
        (tmp_path / code / "calls.parquet").rename(pooled / f"{code}.parquet")
    calls, rejected = load_calls(pooled)
    assert (len(calls), rejected) == (4, 0)
    feats = build_features(calls, FeatureConfig())
    by_agency = feats.assign(agency=calls["agency"].to_numpy())
    # The second call of each agency sees exactly one earlier call at its premise: its own.
    second = by_agency[by_agency["call_id"] == "2"]
    assert second["prem_calls_30d"].tolist() == [1, 1]
