"""`score --json` counts the answers by decision and by warning code (SPEC §3), and the stderr
summary prints the counts and the top warnings (issue 18 item 9)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from risk_model.batch.score import answer_summary

pytestmark = pytest.mark.xdist_group("model")


def _answers(rows: list[tuple[str, str, list[str]]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "call_id": [f"C{i}" for i in range(len(rows))],
            "risk_tier": [t for t, _, _ in rows],
            "decision": [d for _, d, _ in rows],
            "warnings": [json.dumps(w) for _, _, w in rows],
        }
    )


SYN = "synthetic_model: trained on simulated calls"
UNSEEN = "unseen_area: beat B9 was never seen in training"
CANT = "cant_tell: the data cannot separate high from low risk"


@pytest.mark.parametrize(
    ("rows", "decisions", "warnings", "line"),
    [
        (
            [
                ("low", "low", [SYN]),
                ("high", "high", [SYN, UNSEEN]),
                ("low", "cant_tell", [SYN, CANT]),
            ],
            {"high": 1, "low": 1, "cant_tell": 1},
            {"synthetic_model": 3, "unseen_area": 1, "cant_tell": 1},
            "every answer carried synthetic_model",
        ),
        (
            [("low", "low", []), ("elevated", "cant_tell", [CANT])],
            {"high": 0, "low": 1, "cant_tell": 1},
            {"cant_tell": 1},
            "cant_tell on 1 (50.0%)",
        ),
        ([("low", "low", [])], {"high": 0, "low": 1, "cant_tell": 0}, {}, "no answer carried"),
    ],
)
def test_answer_summary_counts(rows, decisions, warnings, line, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="risk_model.batch.score"):
        out = answer_summary(_answers(rows))
    assert out["decisions"] == decisions
    assert out["warnings"] == warnings
    assert list(out["warnings"]) == sorted(warnings, key=lambda c: -warnings[c])  # top first
    assert sum(out["tiers"].values()) == len(rows)
    assert line in caplog.text


def test_score_json_reports_counts_and_stderr_the_top_warnings(
    trained: dict, tmp_path: Path
) -> None:
    calls = pd.read_parquet(trained["data"]).iloc[-300:]
    inp = tmp_path / "in.parquet"
    calls.drop(columns=["officer_assaulted", "officer_injured"]).to_parquet(inp)
    out = tmp_path / "scored.csv"
    args = ["score", "--model", trained["model_uri"], "--input", str(inp), "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "risk_model.cli", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=trained["root"],
        env={**os.environ, "MLFLOW_TRACKING_URI": trained["tracking_uri"]},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    scored = pd.read_csv(out)
    assert summary["rows_scored"] == 300
    assert summary["decisions"] == {
        d: int((scored["decision"] == d).sum()) for d in ("high", "low", "cant_tell")
    }
    assert sum(summary["tiers"].values()) == 300
    # A model trained on simulated calls says so on every answer, and the summary says so too.
    assert summary["warnings"]["synthetic_model"] == 300
    assert "every answer carried synthetic_model" in proc.stderr
    assert "score: 300 answers: decision high" in proc.stderr
