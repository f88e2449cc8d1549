"""Review-page sessions: a signed, expiring, read-only credential in place of the API token.

The API token authorizes everything, including `/ingest`, which writes premise history (and so
raises the risk at any address). A supervisor's link or browser cookie must not carry it: a
leaked link would let anyone write. The review page therefore hands out its own credential:

    rv1.<expires: unix seconds>.<id: 16 random bytes, base64url>.<HMAC-SHA256, base64url>

signed with a key derived from the API token (or from CALL_RISK_REVIEW_SECRET when set, so review
sessions can be revoked without changing the API token). It is only ever accepted by the review
page's read-only routes (serving/review.py); the service's gate never accepts it, so it cannot
score or ingest. It expires (CALL_RISK_REVIEW_HOURS, default 12 hours). Changing the token or
the secret ends every session.

Only the standard library: `hmac`, `hashlib`, `secrets`; signatures compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from risk_model.errors import UserError

ENV_REVIEW_SECRET = "CALL_RISK_REVIEW_SECRET"
ENV_REVIEW_HOURS = "CALL_RISK_REVIEW_HOURS"
DEFAULT_HOURS = 12.0
MAX_HOURS = 24.0 * 31
SESSION_COOKIE = "call_risk_review"
PREFIX = "rv1"
_CONTEXT = b"call-risk review session v1"
_MAX_LEN = 200


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def parse_hours(text: str | None, name: str = ENV_REVIEW_HOURS) -> float:
    """Session lifetime in hours from a setting; one clear error for anything else."""
    if text is None or not str(text).strip():
        return DEFAULT_HOURS
    try:
        hours = float(text)
    except ValueError:
        hours = float("nan")
    if not (0 < hours <= MAX_HOURS):  # also false for NaN
        raise UserError(
            f"{name} must be a number of hours above 0 and at most {MAX_HOURS:g}, got {text!r}"
        )
    return hours


@dataclass(frozen=True)
class ReviewSessions:
    """Issues and checks review sessions with one key; `seconds` is the default lifetime."""

    key: bytes
    seconds: int = int(DEFAULT_HOURS * 3600)

    @classmethod
    def for_token(
        cls, api_token: str | None, secret: str | None = None, hours: float = DEFAULT_HOURS
    ) -> ReviewSessions | None:
        """Sessions for a service with this token; None when the service has no token (then
        the whole service, review page included, is open and needs no session)."""
        if not api_token:
            return None
        material = (secret or api_token).encode()
        key = hmac.new(material, _CONTEXT, hashlib.sha256).digest()
        return cls(key=key, seconds=max(1, round(hours * 3600)))

    @classmethod
    def from_env(
        cls, api_token: str | None, environ: Mapping[str, str] | None = None
    ) -> ReviewSessions | None:
        env = os.environ if environ is None else environ
        hours = parse_hours(env.get(ENV_REVIEW_HOURS))
        return cls.for_token(api_token, env.get(ENV_REVIEW_SECRET) or None, hours)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.key, payload.encode("ascii"), hashlib.sha256).digest())

    def issue(self, now: float | None = None, seconds: int | None = None) -> str:
        """A new session valid for `seconds` (default: the configured lifetime)."""
        expires = int(now if now is not None else time.time()) + int(seconds or self.seconds)
        payload = f"{PREFIX}.{expires}.{_b64(secrets.token_bytes(16))}"
        return f"{payload}.{self._sign(payload)}"

    def expires(self, value: str, now: float | None = None) -> int | None:
        """The session's expiry (unix seconds) if `value` is one this key signed and it has not
        expired; None for anything else (tampered, expired, another key, not a session)."""
        if not value or len(value) > _MAX_LEN or not value.isascii():
            return None
        parts = value.split(".")
        if len(parts) != 4 or parts[0] != PREFIX or not parts[1].isdigit():
            return None
        payload = ".".join(parts[:3])
        if not hmac.compare_digest(self._sign(payload).encode(), parts[3].encode()):
            return None
        expiry = int(parts[1])
        return expiry if expiry > (now if now is not None else time.time()) else None


def is_session(value: str) -> bool:
    """Looks like a review session (not proof of one: `ReviewSessions.expires` checks that)."""
    return value.startswith(PREFIX + ".")


def review_link(
    base_url: str, hours: float | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A supervisor's link to the review page carrying a review session (never the API token),
    for the service configured in `environ` (CALL_RISK_API_TOKEN, CALL_RISK_REVIEW_SECRET)."""
    env = os.environ if environ is None else environ
    token = env.get("CALL_RISK_API_TOKEN") or None
    if not token:
        raise UserError(
            "CALL_RISK_API_TOKEN is not set: the service (and its review page) is open, "
            f"use {base_url.rstrip('/')}/review/"
        )
    life = (
        parse_hours(env.get(ENV_REVIEW_HOURS))
        if hours is None
        else parse_hours(str(hours), "--hours")
    )
    sessions = ReviewSessions.for_token(token, env.get(ENV_REVIEW_SECRET) or None, life)
    assert sessions is not None
    value = sessions.issue()
    expires = int(value.split(".")[1])
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expires))
    return {"url": f"{base_url.rstrip('/')}/review/?token={value}", "expires": when}
