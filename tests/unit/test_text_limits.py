"""One limit per text field for the API and for files (issue 21: the API allowed a 64-character
beat while ingest took 4,000)."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from risk_model.schema import TEXT_LIMITS, CallRecord, validate_frame

BASE = {"call_id": "1", "received_at": "2025-01-01T10:00:00", "call_type": "ASSAULT"}


@pytest.mark.parametrize("field", sorted(TEXT_LIMITS))
def test_the_api_and_files_share_each_limit(field: str) -> None:
    limit = TEXT_LIMITS[field]
    for length, ok in ((limit, True), (limit + 1, False)):
        row = {**BASE, field: "X" * length}
        accepted = len(validate_frame(pd.DataFrame([row])).accepted) == 1
        assert accepted is ok, (field, length)
        try:
            CallRecord.model_validate(row)
            api_ok = True
        except ValidationError as exc:
            api_ok = False
            assert field in str(exc)
        assert api_ok is ok, (field, length)
