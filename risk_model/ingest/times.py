"""Times that are really dates: a received_at column whose clock times are (nearly) all midnight.

Exports often write a date as a time at 00:00 ("01/05/2016 12:00:00 AM"). Read as exact, every
such call would sit at midnight, in the peak-assault hours, and its history would count the
whole day as earlier. Ingest therefore stores those calls as known to the day (received_until =
the next midnight), the same as a date-only format, and says so in one warning line; train and
every later step then read them exactly as ingest stored them (one rule for times).
"""

from __future__ import annotations

import logging

import pandas as pd

from risk_model.schema import RECEIVED_UNTIL

log = logging.getLogger(__name__)

# A column is read as dates when at least this share of its exactly-timed calls falls at
# 00:00:00 (real clock times put about 1 call in 1,440 there, a default time a few more) ...
MIDNIGHT_SHARE = 0.95
# ... and it holds at least this many exactly-timed calls (fewer cannot tell a date from chance).
MIDNIGHT_MIN_ROWS = 20


def midnight_as_dates(calls: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """Marks midnight-only received_at values as known to the day; returns (calls, warning).

    Only calls with an exact time (no received_until yet) are tested and changed; a call whose
    column holds a real clock time stays exact. The warning names the column's share of
    midnights and what was done; None when the column has real clock times.
    """
    if calls.empty or "received_at" not in calls.columns:
        return calls, None
    at = calls["received_at"]
    if not pd.api.types.is_datetime64_any_dtype(at.dtype):
        return calls, None
    exact = at.notna()
    if RECEIVED_UNTIL in calls.columns:
        exact &= calls[RECEIVED_UNTIL].isna()
    n_exact = int(exact.sum())
    midnight = exact & (at == at.dt.normalize())
    n_mid = int(midnight.sum())
    if n_exact < MIDNIGHT_MIN_ROWS or n_mid < MIDNIGHT_SHARE * n_exact:
        return calls, None
    out = calls.copy()
    until = (
        out[RECEIVED_UNTIL].astype("datetime64[us]")
        if RECEIVED_UNTIL in out.columns
        else pd.Series(pd.NaT, index=out.index, dtype="datetime64[us]")
    )
    until[midnight] = (at[midnight] + pd.Timedelta(days=1)).astype("datetime64[us]")
    out[RECEIVED_UNTIL] = until
    if RECEIVED_UNTIL in calls.columns:
        return out, _line(n_mid, n_exact)
    # received_until goes right after received_at, where validate_frame puts it.
    cols = list(out.columns)
    cols.remove(RECEIVED_UNTIL)
    cols.insert(cols.index("received_at") + 1, RECEIVED_UNTIL)
    return out[cols], _line(n_mid, n_exact)


def _line(n_mid: int, n_exact: int) -> str:
    line = (
        f"received_at: {n_mid:,} of {n_exact:,} exact times ({n_mid / n_exact:.1%}) are exactly "
        "00:00, so the column holds dates: those calls are stored as known to the day "
        "(received_until = the next day; time-of-day features unknown); map a time-of-day "
        "column with `time:` if the export has one"
    )
    log.warning(line)
    return line
