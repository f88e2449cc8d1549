"""Honest answers from the trained model: a reported weapon that raises a call's score is among
its reasons, every answer of a model trained on simulated calls says so, and `load-history`
says what it loaded (period, outcome coverage, areas the model never saw)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from risk_model import vocab
from risk_model.batch.score import load_history_file
from risk_model.features.build import build_features, events_frame
from risk_model.model import tracking
from risk_model.model.explain import PIN_MIN_CONTRIBUTION
from risk_model.model.precautions import load_rules
from risk_model.schema import OUTCOME_COLUMNS, validate_frame

pytestmark = pytest.mark.xdist_group("model")


@pytest.fixture(scope="module")
def model(trained: dict):
    return tracking.load_model(trained["model_uri"])[0]


@pytest.fixture(scope="module")
def calls(trained: dict) -> pd.DataFrame:
    return validate_frame(pd.read_parquet(trained["data"])).accepted


def test_a_reported_weapon_that_moves_the_score_is_a_reason(model, calls: pd.DataFrame) -> None:
    sample = calls.iloc[-600:]
    feats = build_features(
        sample,
        model.settings.features,
        history=events_frame(calls.iloc[:-600], model.settings.features),
    ).assign(weapon_reported=1.0)
    ids = sample["call_id"].astype(str).tolist()
    res = model.assess_features(feats, ids, None, load_rules())
    column = res.labels.index("weapon_reported")
    moved = res.grouped[:, column] >= PIN_MIN_CONTRIBUTION
    assert moved.sum() > 50  # the model does use a reported weapon
    for a, raises in zip(res.assessments, moved, strict=True):
        named = [r["feature"] for r in a.reasons]
        assert len(named) == model.settings.service.top_reasons
        if raises:
            assert "weapon_reported" in named, a.call_id


def test_every_answer_of_a_simulated_model_says_so(model, calls: pd.DataFrame) -> None:
    assert model.metadata["trained_on_simulated"] is True
    assert model.metadata["history_from"] < model.metadata["history_until"]
    scored = model.score_calls(calls.iloc[-50:].drop(columns=list(OUTCOME_COLUMNS)))
    for warnings in scored["warnings"]:
        assert any(w.startswith(f"{vocab.SYNTHETIC_MODEL}:") for w in json.loads(warnings))


def test_load_history_says_what_it_loaded(
    trained: dict, calls: pd.DataFrame, tmp_path: Path
) -> None:
    part = calls.iloc[:400].copy()
    part.loc[part.index[:10], "district"] = "NEW DISTRICT 77"
    part.loc[part.index[::2], ["officer_assaulted", "officer_injured"]] = None
    part.to_parquet(tmp_path / "part.parquet", index=False)
    out = load_history_file(
        tmp_path / "part.parquet", tmp_path / "history.db", model_uri=trained["model_uri"]
    )
    assert out["inserted"] == 400
    assert out["first_call"] == str(part["received_at"].min())
    assert out["last_call"] == str(part["received_at"].max())
    assert out["outcome_coverage"] == pytest.approx(0.5)
    unknown = out["unknown_areas"]
    assert len(unknown["district"]) == 1 and "77" in unknown["district"][0]
    assert unknown["beat"] == []
    assert out["areas_unknown_to_model"].startswith("district 1 of ")
    assert np.isfinite(out["seconds"])
