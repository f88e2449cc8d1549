"""Fixtures for the service tests: the trained champion, a loaded history store, live calls, and
the later calls as /score bodies (helpers to run the service are in service_helpers.py)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from service_helpers import LIVE_CALLS, json_record

from risk_model.batch.score import load_history_file
from risk_model.schema import OUTCOME_COLUMNS, CallRecord
from serving.middleware import FAILED_CREDENTIALS


@pytest.fixture(autouse=True)
def _forget_failed_credentials() -> None:
    """Each test starts with no failed credentials counted (the tests all come from one
    address; the limit itself is tested in test_review_auth.py)."""
    FAILED_CREDENTIALS.clear()


@pytest.fixture(scope="session")
def service_data(trained: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """History file + a store loaded from it, and the later calls as /score bodies.

    Every test that writes to a store copies `base_db` first (see `service_env`).
    """
    root = tmp_path_factory.mktemp("service")
    calls = pd.read_parquet(trained["data"]).sort_values("received_at", kind="stable")
    calls = calls.reset_index(drop=True)
    history, live = calls.iloc[:-LIVE_CALLS], calls.iloc[-LIVE_CALLS:]
    history_file, live_file = root / "history.parquet", root / "live.parquet"
    history.to_parquet(history_file, index=False)
    live.to_parquet(live_file, index=False)
    load_history_file(history_file, root / "base_history.db")
    columns = list(CallRecord.model_fields)
    records = [
        json_record(r)
        for r in live[[c for c in columns if c in live.columns]].to_dict(orient="records")
    ]
    assert not set(OUTCOME_COLUMNS) & set(records[0])
    return {
        "root": root,
        "history_file": history_file,
        "live_file": live_file,
        "base_db": root / "base_history.db",
        "records": records,
        "model_uri": trained["model_uri"],
        "tracking_uri": trained["tracking_uri"],
        "version": str(trained["result"]["registered"]["version"]),
    }
