"""Runs that would lose their whole input in silence (issue 22, N13; SPEC §3).

An outcome join that matches no call labels every call alike ("not harmed" with
`absent: "false"`), and `exclude:` rules can remove every row; both once passed with exit 0.
Each is one line naming the cause: an error, or (the analyst passed `--allow-drops`) a warning
the report keeps. More than 1% quarantined follows `errors.check_drops`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from risk_model.errors import ALLOW_DROPS_FLAG, DROP_SHARE, UserError, check_drops

log = logging.getLogger(__name__)


def nothing_matched(report: dict[str, Any], accepted: int, allow: bool) -> str | None:
    """An outcome join that matches no accepted call would label every call alike (N13)."""
    if accepted == 0 or report.get("calls_with_outcome_rows", 1) > 0:
        return None
    label = "not harmed" if report["outcome_absent"] == "false" else "unknown"
    top = next(iter(report["outcome_reasons"]), None)
    line = (
        f"outcomes: no row of {report['outcome_file']} matches an accepted call "
        f"({report['outcome_rows_in']:,} outcome row(s): {report['outcome_rows_unmatched']:,} "
        f"unmatched, {report['outcome_rows_quarantined']:,} quarantined"
        + (f"; most often {top!r}" if top else "")
        + f"), so every call would be labelled {label}; check outcomes.key and "
        "outcomes.call_key against both files"
    )
    if not allow:
        raise UserError(f"{line}, or pass {ALLOW_DROPS_FLAG} to go on")
    log.warning(line)
    return line


def nothing_left(rows_in: int, by_rule: dict[str, int], allow: bool) -> str | None:
    """`exclude:` rules that remove every row leave nothing to ingest (N13)."""
    rules = ", ".join(f"{k}: {v:,}" for k, v in by_rule.items() if v)
    line = (
        f"exclude: the rules remove every row ({rows_in:,} of {rows_in:,}; {rules}), so nothing "
        "is left to ingest; check the rules (whole values for equals, any case)"
    )
    if not allow:
        raise UserError(f"{line}, or pass {ALLOW_DROPS_FLAG} to go on")
    log.warning(line)
    return line


def quarantine_share(
    counts: pd.Series,
    rows_in: int,
    where: Path,
    allow: bool,
    refuse: bool,
    quarantined: int | None = None,
) -> tuple[str | None, UserError | None]:
    """More than 1% of the rows quarantined: (the warning line, the refusal to raise or None).

    `counts` are the quarantine reasons with their counts (all, or the most common ones with
    `quarantined` the total). Refused (`refuse`, the CLI) unless `allow`; the caller raises the
    refusal only after writing the outputs, so that the analyst can read the quarantine it
    points to. Without `refuse`, the line is a warning.
    """
    n = int(counts.sum()) if quarantined is None else quarantined
    if rows_in <= 0 or n <= DROP_SHARE * rows_in:
        return None, None
    top = f"most often for {counts.index[0]!r} ({int(counts.iloc[0]):,} rows"
    if not refuse:
        return f"{n:,} of {rows_in:,} rows ({n / rows_in:.1%}) quarantined, {top})", None
    cause = f"quarantined, {top}; every row and reason in {where})"
    try:
        line = check_drops(n, rows_in, "rows", cause, allow)
    except UserError as exc:
        return None, exc
    if line:
        log.warning(line)
    return line, None
