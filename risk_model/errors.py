"""Errors a user can act on. The CLI prints their message as one line and exits non-zero."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input (file, mapping, option): no traceback, one clear line."""
