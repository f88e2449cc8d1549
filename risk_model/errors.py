"""Errors a user can act on. The CLI prints their message as one line and exits non-zero."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input (file, mapping, option): no traceback, one clear line."""


# A command that drops more than this share of its input stops (SPEC §3) unless told to go on.
DROP_SHARE = 0.01
ALLOW_DROPS_FLAG = "--allow-drops"


def check_drops(dropped: int, total: int, what: str, cause: str, allow: bool) -> str | None:
    """Refuses a run that would drop more than 1% of its input in silence.

    `what` names the input ("rows of calls.parquet"), `cause` the true reason in a few words.
    Returns None when at most 1% is dropped; otherwise the one line saying so, which the caller
    logs and reports when `allow` (the analyst said go on), and raises as a `UserError` when not.
    """
    if total <= 0 or dropped <= 0 or dropped <= DROP_SHARE * total:
        return None
    line = f"{dropped:,} of {total:,} {what} ({dropped / total:.1%}) dropped: {cause}"
    if not allow:
        raise UserError(f"{line}; fix the cause, or pass {ALLOW_DROPS_FLAG} to go on without them")
    return line
