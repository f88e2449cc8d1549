"""Simulated calls made to look like an agency's records, for the cluster tests: a share known
only to the day (`received_until`), outcome reports filed days later (`outcome_known_at`), and
some calls without an address or coordinates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from risk_model.schema import validate_frame


def agency_shaped(calls: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The calls, reshaped as above and validated (canonical dtypes), in their given order."""
    calls = calls.copy()
    rng = np.random.default_rng(seed)
    received = pd.to_datetime(calls["received_at"])
    day_only = rng.random(len(calls)) < 0.15
    calls["received_until"] = pd.NaT
    calls.loc[day_only, "received_until"] = received[day_only].dt.floor("D") + pd.Timedelta("1D")
    calls.loc[day_only, "received_at"] = received[day_only].dt.floor("D")
    harmed = (calls["officer_assaulted"] == 1) | (calls["officer_injured"] == 1)
    late = harmed & (rng.random(len(calls)) < 0.6)
    calls["outcome_known_at"] = pd.NaT
    calls.loc[late, "outcome_known_at"] = received[late] + pd.to_timedelta(
        rng.integers(1, 20, late.sum()), unit="D"
    )
    no_address = rng.random(len(calls)) < 0.05
    calls.loc[no_address, ["address", "latitude", "longitude"]] = None
    return validate_frame(calls).accepted.reset_index(drop=True)
