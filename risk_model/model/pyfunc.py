"""The MLflow pyfunc model, logged as "model from code" (no pickled objects).

Input: canonical calls (SPEC §1 columns; extra columns are ignored). Output: one row per call
with call_id, risk_score, risk_tier, decision, reasons, precautions and warnings (lists as JSON
text), exactly what `risk-model score` writes for the same calls and history: both call
`CallRiskModel.score_calls`, which makes each row from the one typed `Assessment`.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd

from risk_model.model.bundle import CallRiskModel
from risk_model.schema import validate_frame


class CallRiskPyfunc(mlflow.pyfunc.PythonModel):
    """Loads the model bundle (booster, encoder, calibrator, conformal, history snapshot)."""

    def load_context(self, context: Any) -> None:
        self.model = CallRiskModel.load(context.artifacts["bundle"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        checked = validate_frame(model_input)
        if len(checked.quarantined):
            first = checked.quarantined.iloc[0]
            raise ValueError(f"row {first['_row']}: {first['_reason']}")
        return self.model.score_calls(checked.accepted)


mlflow.models.set_model(CallRiskPyfunc())
