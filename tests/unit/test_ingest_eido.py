"""`ingest` of a folder of EIDO documents: the accounting of a CSV export (rows_in = accepted +
quarantined), unreadable documents quarantined with the file and the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from eido_docs import current_doc, older_doc, transfer_doc, without

from risk_model import vocab
from risk_model.errors import UserError
from risk_model.ingest.run import ingest_file


def _write(folder: Path, name: str, doc: object) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = doc if isinstance(doc, str) else json.dumps(doc)
    (folder / name).write_text(text, encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "eido"
    _write(docs, "01_current.json", current_doc())
    _write(docs, "02_older.JSON", older_doc() | {"incidentTrackingIdentifier": "x"})
    older = older_doc()
    older["incidentComponent"][0]["internalIncidentId"] = "E-2025-2000"
    _write(docs, "03_older.json", older)
    _write(docs, "04_transfer.json", transfer_doc())
    _write(docs, "05_broken.json", '{"incidentComponent": ')
    no_type = without(current_doc(), "incidentComponent", "incidentTypeCommonRegistryText")
    _write(docs, "06_no_type.json", no_type | {"$id": "other"})
    old = current_doc(internalIncidentId="E-1985")
    old["callComponent"][0]["callStartTimestamp"] = "1985-01-01T10:00:00-06:00"
    _write(docs, "07_too_old.json", old)
    (docs / ".DS_Store").write_bytes(b"\0")
    return docs


def test_a_folder_of_eido_documents_is_ingested_with_full_accounting(
    folder: Path, tmp_path: Path
) -> None:
    report = ingest_file(folder, tmp_path / "out")
    assert report["input_kind"] == "eido"
    assert report["rows_in"] == 7
    assert report["rows_in"] == report["rows_accepted"] + report["rows_quarantined"]
    assert (report["rows_accepted"], report["rows_quarantined"]) == (2, 5)

    calls = pd.read_parquet(report["out"])
    assert list(calls["call_id"]) == ["E-2025-1042", "E-2025-2000"]
    assert list(calls["eido_file"]) == ["01_current.json", "03_older.json"]
    first = calls.iloc[0]
    assert first["call_type"] == "DOMESTIC DISTURBANCE"
    assert first["address"] == "3400 E CEDAR BLVD"
    assert str(first["received_at"]) == "2025-11-14 01:12:00"  # the clock time as written
    assert calls.iloc[1]["latitude"] == pytest.approx(35.15906)  # from the malformed PIDF-LO
    assert pd.isna(first["weapon_reported"])  # no weapon caution: unknown, not false

    quarantine = pd.read_csv(report["quarantine"])
    by_file = dict(zip(quarantine["eido_file"], quarantine["_reason"], strict=True))
    assert by_file["02_older.JSON"] == "call_id: duplicate of an earlier row"
    assert by_file["04_transfer.json"].startswith("incidentComponent: missing")
    assert by_file["05_broken.json"].startswith("file: not JSON")
    assert by_file["06_no_type.json"].startswith(
        "incidentComponent.incidentTypeCommonRegistryText: missing"
    )
    assert by_file["07_too_old.json"] == "received_at: before 1990-01-01"
    assert list(quarantine["_row"]) == [2, 4, 5, 6, 7]

    assert report["eido_warnings"][vocab.EIDO_CAUTION] == 2
    assert report["eido_warnings"][vocab.EIDO_UNREAD] >= 1  # the malformed location
    assert json.loads(Path(report["report"]).read_text())["rows_in"] == 7


def test_a_folder_mixing_eido_documents_and_exports_is_refused(
    folder: Path, tmp_path: Path
) -> None:
    (folder / "calls.csv").write_text("call_id,received_at,call_type\n")
    with pytest.raises(UserError, match=r"EIDO \.json file"):
        ingest_file(folder, tmp_path / "out")


def test_eido_documents_take_no_mapping(folder: Path, tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text("fields: {}\n")
    with pytest.raises(UserError, match="--mapping is for CAD exports"):
        ingest_file(folder, tmp_path / "out", mapping_path=mapping)


def test_a_folder_where_no_document_is_a_call_is_an_error(tmp_path: Path) -> None:
    docs = tmp_path / "eido"
    _write(docs, "a.json", transfer_doc())
    with pytest.raises(UserError, match="no EIDO document could be read as a call"):
        ingest_file(docs, tmp_path / "out")


def test_notes_written_on_scene_never_reach_history(tmp_path: Path) -> None:
    doc = current_doc()
    doc["notesComponent"].append(
        {
            "$id": "note-late",
            "lastUpdateTimeStamp": "2025-11-14T02:05:00-06:00",
            "notesActionComments": "SUSPECT RESISTED, OFFICER INJURED",
        }
    )
    docs = tmp_path / "eido"
    _write(docs, "a.json", doc)
    report = ingest_file(docs, tmp_path / "out")
    calls = pd.read_parquet(report["out"])
    assert calls.loc[0, "narrative"] == "RP STATES BF PUSHED HER & IS STILL ON SCENE"
    assert (
        "1 note stamped more than 10 minutes" in report["eido_warning_examples"]["eido_unread"][0]
    )


def test_eido_calls_can_be_written_partitioned_by_month(folder: Path, tmp_path: Path) -> None:
    report = ingest_file(folder, tmp_path / "out", partition_by="month")
    assert report["partitions"] == 1
    assert (Path(report["out"]) / "month=2025-11").is_dir()
    assert len(pd.read_parquet(report["out"])) == report["rows_accepted"] == 2


def test_the_cli_keeps_the_one_percent_rule_for_documents(folder: Path, tmp_path: Path) -> None:
    # 5 of 7 documents are quarantined: one line and exit 2, as for an export (SPEC §3), the
    # outputs written so that the quarantine can be read; --allow-drops goes on.
    from typer.testing import CliRunner

    from risk_model.cli import app

    args = ["ingest", "--input", str(folder), "--out", str(tmp_path / "o"), "--json"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2
    errors = [line for line in refused.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "5 of 7 rows (71.4%) dropped: quarantined" in errors[0]
    assert (tmp_path / "o" / "quarantine.csv").is_file()
    ok = CliRunner().invoke(app, [*args, "--allow-drops"])
    assert ok.exit_code == 0, ok.output
    last = json.loads(ok.stdout.strip().splitlines()[-1])
    assert any("dropped: quarantined" in w for w in last["warnings"])
