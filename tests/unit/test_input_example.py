"""The input example logged with every model must be one the model itself accepts: MLflow runs
the model on it at logging time and warns (and drops the dependency capture) when it fails."""

from __future__ import annotations

import json

import pandas as pd

from risk_model.schema import validate_frame
from risk_model.training.pipeline import _example_frame


def test_the_logged_input_example_reads_back_as_valid_calls() -> None:
    from mlflow.models import convert_input_example_to_serving_input

    calls = pd.DataFrame(
        {
            "call_id": ["A", "B", "C"],
            "received_at": pd.to_datetime(
                ["2025-03-04 00:00:00", "2025-03-04 10:15:00", "2025-03-05 23:59:00"]
            ),
            # One call known only to the day, two with exact times (empty received_until).
            "received_until": pd.to_datetime(["2025-03-05 00:00:00", None, None]),
            "call_type": ["DIST W/SUBJ", "ACC PDO", "FAMILY TROUBLE"],
            "weapon_reported": pd.array([True, None, False], dtype="boolean"),
            "priority": pd.array([1, None, 3], dtype="Int64"),
        }
    )
    payload = json.loads(convert_input_example_to_serving_input(_example_frame(calls)))
    split = payload["dataframe_split"]
    sent = pd.DataFrame(split["data"], columns=split["columns"])
    result = validate_frame(sent)
    assert result.quarantined.empty, result.quarantined["_reason"].tolist()
    assert result.accepted["received_until"].notna().tolist() == [True, False, False]
