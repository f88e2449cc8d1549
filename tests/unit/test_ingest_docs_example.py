"""The real-shaped example in docs/ingest.md ingests with exactly the counts the page shows."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from risk_model.ingest.run import ingest_file

REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
BLOCK = re.compile(r"\*\*`([\w.]+)`\*\*[^\n]*(?:\n[^\n`]+)*\n+```\w*\n(.*?)```", re.DOTALL)


def test_real_agency_records_example(tmp_path: Path) -> None:
    text = (REPO / "docs" / "ingest.md").read_text(encoding="utf-8")
    section = text.split("## Real agency records", 1)[1].split("\n## ", 1)[0]
    files = dict(BLOCK.findall(section))
    assert set(files) == {"cad_export.csv", "officer_harm.csv", "agency.yaml"}
    for name, body in files.items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    report = ingest_file(tmp_path / "cad_export.csv", tmp_path / "out", tmp_path / "agency.yaml")
    # The table in the docs, key by key.
    table = dict(re.findall(r"^\| `(\w+)` \| (\d+) \|", section, re.MULTILINE))
    assert len(table) == 11
    for key, value in table.items():
        assert report[key] == int(value), key
    calls = pd.read_parquet(tmp_path / "out" / "calls.parquet").set_index("call_id")

    def col(name: str) -> dict[str, bool | None]:
        return {k: (None if v is pd.NA else bool(v)) for k, v in calls[name].items()}

    assert col("officer_assaulted") == {
        "24-000101": False,
        "24-000103": True,
        "24-000104": True,
        "24-000106": False,
    }
    assert col("officer_injured") == {
        "24-000101": False,
        "24-000103": True,
        "24-000104": False,
        "24-000106": False,
    }
    assert col("weapon_reported") == {
        "24-000101": False,
        "24-000103": True,
        "24-000104": False,
        "24-000106": True,
    }
    assert calls.loc["24-000104", "received_until"] == pd.Timestamp("2024-03-02")
    assert pd.isna(calls.loc["24-000103", "address"])
    assert calls.loc["24-000103", "address_not_premise"] == "1400 S LAMAR ST"
    assert "CIRCUMSTANCE" not in calls.columns
    unmatched = pd.read_csv(tmp_path / "out" / "outcomes_unmatched.csv", dtype=str)
    assert unmatched["_reason"].tolist() == [
        "no accepted call with INCIDENT_NO '24-000107' (call quarantined)",
        "no accepted call with INCIDENT_NO '23-009912' (not in the export)",
    ]


def test_docs_cite_nothing_outside_the_repo() -> None:
    text = (REPO / "docs" / "ingest.md").read_text(encoding="utf-8")
    assert "../shared" not in text and "FIELD_NOTES" not in text
