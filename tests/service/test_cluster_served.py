"""A model trained with `train --dask` is served as a single-machine model is: the same routes
answer in the same shape (the SPEC's assessment), from the same history store."""

from __future__ import annotations

import shutil
from typing import Any

import pandas as pd
import pytest
from service_helpers import json_record, running_service

from risk_model.batch.score import load_history_file
from risk_model.schema import CallRecord

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dask")]


def _shape(value: Any) -> Any:
    """The structure of a JSON answer: keys and value types, not values."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return "list"
    return type(value).__name__ if value is not None else "null"


def _item_keys(answers: list[dict], field: str) -> set[tuple[str, ...]]:
    return {tuple(sorted(item)) for a in answers for item in a[field]}


def test_cluster_trained_model_answers_like_the_single_machine_one(
    cluster_trained: dict, tmp_path
) -> None:
    calls = pd.read_parquet(cluster_trained["data"]).sort_values("received_at", kind="stable")
    history, live = calls.iloc[:-60], calls.iloc[-60:]
    history_file = tmp_path / "history.parquet"
    history.to_parquet(history_file, index=False)
    load_history_file(history_file, tmp_path / "base.db")
    columns = [c for c in CallRecord.model_fields if c in live.columns]
    records = [json_record(r) for r in live[columns].to_dict(orient="records")]

    answers: dict[str, tuple[dict, list[dict]]] = {}
    for name in ("single", "cluster"):
        db = tmp_path / f"{name}.db"
        shutil.copy(tmp_path / "base.db", db)
        env = {
            "CALL_RISK_MODEL_URI": cluster_trained[name]["model_uri"],
            "CALL_RISK_HISTORY_DB": str(db),
            "MLFLOW_TRACKING_URI": cluster_trained["tracking_uri"],
        }
        with running_service(env) as client:
            one = client.post("/score", json={"call": records[0]})
            batch = client.post("/score_batch", json={"calls": records})
            assert one.status_code == 200, one.text
            assert batch.status_code == 200, batch.text
            answers[name] = (one.json(), batch.json())

    single_one, single_batch = answers["single"]
    cluster_one, cluster_batch = answers["cluster"]
    assert _shape(cluster_one) == _shape(single_one)
    assert [a["call_id"] for a in cluster_batch] == [a["call_id"] for a in single_batch]
    assert {_shape(a)["model"] == _shape(single_one)["model"] for a in cluster_batch} == {True}
    for field in ("reasons", "precautions"):
        seen = _item_keys(single_batch, field)
        if seen:  # every item the cluster model gives has the fields the single one's have
            assert _item_keys(cluster_batch, field) <= seen
    assert {a["decision"] for a in cluster_batch} <= {"high", "low", "cant_tell"}
    # Simulated training data: both models say so on every answer.
    assert all("synthetic_model" in str(a["warnings"]) for a in cluster_batch)
