"""Every command fails with one clear line and a non-zero exit on bad input, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from risk_model.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--data", "nope.parquet"], "data file not found"),
        (["train", "--data", "{csv}", "--target", "stolen"], "--target must be"),
        (["train", "--data", "{csv}", "--config", "nope.yaml"], "config file not found"),
        (["train", "--data", "{csv}", "--config", "{bad_config}"], "model.num_leaves"),
        (["train", "--data", "{txt}"], "expected a .parquet or .csv file"),
        (
            ["score", "--model", "runs:/x/model", "--input", "nope.csv", "--out", "o.csv"],
            "not found",
        ),
        (
            ["score", "--model", "runs:/x/model", "--input", "{csv}", "--out", "o.txt"],
            "expected a .parquet or .csv",
        ),
        (["load-history", "--data", "nope.parquet", "--db", "{tmp}/h.db"], "data file not found"),
        (["simulate", "--calls", "10", "--out", "{tmp}/x.json"], ".json"),
        (["audit-prune", "--audit-db", "{tmp}/none.db", "--keep-days", "30"], "no audit log"),
    ],
)
def test_user_errors_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    csv = tmp_path / "calls.csv"
    csv.write_text("call_id,received_at,call_type\nA,2025-01-01T10:00:00,THEFT\n")
    (tmp_path / "x.txt").write_text("hello")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  num_leaves: 1\n")
    fill = {
        "{csv}": str(csv),
        "{txt}": str(tmp_path / "x.txt"),
        "{bad_config}": str(bad),
        "{tmp}": str(tmp_path),
    }
    argv = [a for a in args]
    for i, a in enumerate(argv):
        for k, v in fill.items():
            a = a.replace(k, v)
        argv[i] = a
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert message in result.output
    assert result.output.strip().startswith("error:")


def test_training_without_outcomes_is_a_clear_error(tmp_path: Path) -> None:
    csv = tmp_path / "calls.csv"
    rows = ["call_id,received_at,call_type"] + [
        f"C{i},2025-01-{1 + i % 28:02d}T10:{i % 60:02d}:00,THEFT" for i in range(200)
    ]
    csv.write_text("\n".join(rows) + "\n")
    result = runner.invoke(app, ["train", "--data", str(csv)])
    assert result.exit_code == 2
    assert "needs outcome column" in result.output
