"""`score` answers every input row, so rows that break the schema stop it in one line that names
what is wrong and what to do, never "run ingest first" for a file ingest wrote (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from risk_model.cli import app

CSV = "call_id,received_at,call_type\n1,2025-01-01T10:00:00,ASSAULT\n2,not a time,ASSAULT\n"


def test_score_refuses_broken_rows_in_one_line_naming_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "calls.csv").write_text(CSV, encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["score", "--model", "models:/none@champion", "--input", str(tmp_path / "calls.csv"),
         "--out", str(tmp_path / "scored.csv")],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert "1 rows break the schema" in errors[0]
    assert "answers every input row" in errors[0]
    # The reason, in the warning logged just before the error (stderr for a person).
    assert any("received_at" in r.getMessage() for r in caplog.records)
    assert not (tmp_path / "scored.csv").exists()
