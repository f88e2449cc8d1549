"""Rows that share a call id: one incident in several rows, or a duplicate (SPEC §1).

Use-of-force and response-to-resistance registers hold one row per officer and subject, each with
its own outcome. Keeping the first row lost the later rows' injuries (31% of the injured incidents
in one real register), so a mapping that declares `incident_rows: fold` makes the rows one call:
an outcome is true when any row's is, false when every row's is, unknown otherwise; the call-time
fields must agree (else the first row's value, with one warning per field); `officers` counts the
rows (or the distinct officer ids). Without the declaration a repeated id whose rows disagree on
an outcome is an error, never a silent first-row-wins; identical repeats are duplicates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from risk_model.errors import UserError
from risk_model.schema import (
    AGENCY,
    CANONICAL_COLUMNS,
    OFFICERS,
    OUTCOME_COLUMNS,
    RECEIVED_UNTIL,
)

log = logging.getLogger(__name__)

DUPLICATE_REASON = "call_id: duplicate of an earlier row"
# Fields known when the call was taken: the rows of one incident must agree on them.
CALL_TIME_FIELDS: tuple[str, ...] = (
    *(c for c in CANONICAL_COLUMNS if c != "call_id"),
    RECEIVED_UNTIL,
)


@dataclass
class Repeats:
    """What became of the accepted rows: positions are 0-based rows of the validated frame."""

    calls: pd.DataFrame  # one row per call, in the order of each call's first row
    kept: np.ndarray  # position of the row each call stands on (its first row)
    folded: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    duplicates: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    warnings: list[str] = field(default_factory=list)


def _call_codes(calls: pd.DataFrame) -> np.ndarray:
    """One code per call: its id, within its agency when the calls carry one (two agencies may
    number their calls alike, as `validate_frame` allows)."""
    ids = calls["call_id"].astype(str)
    if AGENCY in calls.columns:
        ids = calls[AGENCY].astype("string").fillna("").astype(str) + "\x1f" + ids
    codes, _ = pd.factorize(ids.to_numpy(dtype=object), sort=False)
    return codes


def _outcomes_differ(calls: pd.DataFrame, codes: np.ndarray) -> np.ndarray:
    """Per row: True where its call's rows do not all give the same outcomes."""
    differ = np.zeros(len(calls), dtype=bool)
    for name in (c for c in OUTCOME_COLUMNS if c in calls.columns):
        # Unknown is a value of its own here: unknown beside false is not "the same outcome".
        values, _ = pd.factorize(calls[name], use_na_sentinel=False)
        differ |= values != values[np.flatnonzero(_first(codes))][codes]
    return differ


def _first(codes: np.ndarray) -> np.ndarray:
    """Per row: True for the first row of its call."""
    return ~pd.Series(codes).duplicated(keep="first").to_numpy()


def duplicates_or_refuse(calls: pd.DataFrame, key: str) -> Repeats:
    """Without `incident_rows: fold`: later rows of an id are duplicates, unless they differ.

    Refuses (one line naming the key column and the count) when any repeated id's rows disagree
    on an outcome: keeping the first row would decide the label by row order.
    """
    codes = _call_codes(calls)
    first = _first(codes)
    if first.all():
        return Repeats(calls, np.arange(len(calls)))
    differ = _outcomes_differ(calls, codes)
    if differ.any():
        bad = np.unique(codes[differ])
        example = str(calls["call_id"].iloc[int(np.flatnonzero(codes == bad[0])[0])])
        raise UserError(
            f"{key}: {len(bad):,} call id(s) repeat with different outcomes (e.g. "
            f"{example!r}); if the export holds one row per officer or subject, declare "
            "`incident_rows: fold` in the mapping (an outcome is then true when any row's is)"
        )
    kept = np.flatnonzero(first)
    return Repeats(
        calls.iloc[kept].reset_index(drop=True), kept, duplicates=np.flatnonzero(~first)
    )


def fold_incidents(
    calls: pd.DataFrame, officer_ids: pd.Series | None = None, key: str = "call_id"
) -> Repeats:
    """`incident_rows: fold`: the rows sharing a call id become one call (see the module doc).

    `officer_ids` (aligned with `calls`' rows, raw text) makes `officers` the number of distinct
    non-empty ids per call, each row without an id counting as one more officer; without it,
    `officers` is the number of rows. The ids themselves are never kept.
    """
    codes = _call_codes(calls)
    first = _first(codes)
    kept = np.flatnonzero(first)
    out = calls.iloc[kept].copy()
    rows_per = np.bincount(codes)
    warnings: list[str] = []

    if officer_ids is None:
        officers = rows_per
    else:
        text = officer_ids.astype("string").str.strip().to_numpy(dtype=object)
        given = np.array([isinstance(t, str) and t != "" for t in text], dtype=bool)
        distinct = pd.DataFrame({"c": codes[given], "id": text[given]}).drop_duplicates()
        officers = np.bincount(distinct["c"].to_numpy(), minlength=len(kept))
        officers = officers + np.bincount(codes[~given], minlength=len(kept))
    out[OFFICERS] = pd.array(officers, dtype="Int64")

    n = len(kept)
    for name in (c for c in OUTCOME_COLUMNS if c in calls.columns):
        v = calls[name].astype("boolean")
        says_true = v.eq(True).fillna(False).to_numpy(dtype=bool)
        says_false = v.eq(False).fillna(False).to_numpy(dtype=bool)
        folded = pd.array([pd.NA] * n, dtype="boolean")
        folded[np.bincount(codes, weights=says_false, minlength=n) == rows_per] = False
        folded[np.bincount(codes, weights=says_true, minlength=n) > 0] = True
        out[name] = folded
    if len(kept) < len(calls):
        for name in (c for c in CALL_TIME_FIELDS if c in calls.columns):
            # Each value as a code (empty is a value of its own), compared with the code of the
            # incident's first row: vectorised, a million rows in well under a second.
            values, _ = pd.factorize(calls[name], use_na_sentinel=False)
            differ = values != values[kept][codes]
            split = len(np.unique(codes[differ]))
            if split:
                warnings.append(
                    f"incident_rows fold: {name}: {split:,} incident(s) disagree across their "
                    "rows; each keeps its first row's value"
                )
                log.warning(warnings[-1])
    folded_pos = np.flatnonzero(~first)
    log.info(
        "incident_rows fold: %d row(s) folded into %d call(s) with several rows (%s)",
        len(folded_pos),
        int((rows_per > 1).sum()),
        key,
    )
    return Repeats(out.reset_index(drop=True), kept, folded=folded_pos, warnings=warnings)
