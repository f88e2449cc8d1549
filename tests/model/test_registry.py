"""Champion/challenger: the alias moves only when the new model wins on the same test window."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from risk_model.cli import app
from risk_model.config import EvaluationConfig, ModelConfig, Settings
from risk_model.model import tracking
from risk_model.training.pipeline import train

pytestmark = pytest.mark.xdist_group("model")


def test_a_weaker_challenger_does_not_take_the_champion_alias(trained: dict) -> None:
    weak = Settings(
        model=ModelConfig(
            n_estimators=10,
            early_stopping_rounds=5,
            learning_rate=0.01,
            num_leaves=2,
            refit_on_validation=False,
        ),
        evaluation=EvaluationConfig(bootstrap=0),
    )
    cwd = os.getcwd()
    os.chdir(trained["root"])
    try:
        result = train(trained["data"], weak, experiment="tests", register="call-risk")
    finally:
        os.chdir(cwd)
    reg = result["registered"]
    assert reg["version"] == "2"
    assert reg["champion"] is False
    assert reg["champion_auc_same_window"] > reg["challenger_auc"]
    tracking.configure()
    assert str(tracking.champion_version("call-risk").version) == "1"

    out = CliRunner().invoke(app, ["compare", "--experiment", "tests", "--json"])
    assert out.exit_code == 0, out.output
    runs = __import__("json").loads(out.output.strip().splitlines()[-1])["runs"]
    assert len(runs) >= 2 and all(r["AUC"] is not None for r in runs)
