"""Review-page sessions: a signed, expiring, read-only credential in place of the API token.

The API token authorizes everything, including `/ingest`, which writes premise history (and so
raises the risk at any address). A supervisor's link or browser cookie must not carry it: a
leaked link would let anyone write. The review page therefore hands out its own credential:

    rv1.<expires: unix seconds>.<id: 16 random bytes, base64url>.<HMAC-SHA256, base64url>

The signing key is random and never derived from the API token: 32 bytes from `secrets`, kept in
`review_session.key` (mode 0600) beside the service's audit log and made at the first start, or
derived from CALL_RISK_REVIEW_SECRET when that is set (at least 32 characters, not the token).
A key derived from the token alone made every review link an offline oracle for the token (a
guess checked against a link's signature: ~64,000 guesses a second, a weak token fell in five);
with a random key, a leaked session says nothing about the token. The MAC also covers a SHA-256
of the token, so changing the token still ends every session, as does a new key (delete the key
file, or change the secret).

A session is only ever accepted by the review page's read-only routes (serving/review.py); the
service's gate never accepts it, so it cannot score or ingest. It expires (CALL_RISK_REVIEW_HOURS,
default 12 hours).

Only the standard library: `hmac`, `hashlib`, `secrets`; signatures compared in constant time.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import logging
import os
import secrets
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from risk_model.errors import UserError

log = logging.getLogger(__name__)

ENV_REVIEW_SECRET = "CALL_RISK_REVIEW_SECRET"
ENV_REVIEW_HOURS = "CALL_RISK_REVIEW_HOURS"
DEFAULT_HOURS = 12.0
MAX_HOURS = 24.0 * 31
SESSION_COOKIE = "call_risk_review"
PREFIX = "rv1"
KEY_NAME = "review_session.key"
_CONTEXT = b"call-risk review session v2"
_MAX_LEN = 200
# A token or secret shorter than this, or made of few distinct characters, is refused at start.
MIN_SECRET_CHARS = 32
MIN_DISTINCT_CHARS = 10
MAKE_A_TOKEN = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def require_strong(name: str, value: str) -> str:
    """`value` if it is long and varied enough to resist guessing; else one clear error.

    A bearer token is checked online (rate limited) and, if anything derived from it leaks,
    offline: 32 random URL-safe characters are ~190 bits, beyond any search.
    """
    if len(value) < MIN_SECRET_CHARS or len(set(value)) < MIN_DISTINCT_CHARS:
        raise UserError(
            f"{name} is too weak ({len(value)} characters, {len(set(value))} distinct): use at "
            f"least {MIN_SECRET_CHARS} random characters, e.g. the output of {MAKE_A_TOKEN}"
        )
    return value


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


def load_or_create_key(path: Path) -> bytes:
    """The review sessions' signing key kept in `path`, made (32 random bytes, mode 0600) the
    first time. Several worker processes may start at once: the file appears whole or not at all
    (written aside, then linked into place), and whoever loses the race reads the winner's."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32).hex().encode("ascii") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
            log.info("review sessions: made a new signing key in %s (mode 0600)", path)
        except FileExistsError:
            pass
    except OSError as exc:
        raise UserError(f"review session key {path} cannot be written: {_why(exc)}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)


def _why(exc: OSError) -> str:
    if exc.errno == errno.EROFS:
        return "the file system is mounted read-only"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    return exc.strerror or type(exc).__name__


def _read_key(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            info = os.fstat(fh.fileno())
            text = fh.read(200)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UserError(f"review session key {path} cannot be read: {_why(exc)}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UserError(
            f"review session key {path} is readable by other users (mode "
            f"{stat.S_IMODE(info.st_mode):04o}): delete it (a new key is made at the next start; "
            "open review sessions end) or `chmod 600` it if no one else has read it"
        )
    try:
        key = bytes.fromhex(text.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) < 32:
        raise UserError(
            f"review session key {path} is damaged: delete it (a new key is made at the next "
            "start; open review sessions end)"
        )
    return key


def signing_key(api_token: str, key_file: Path, secret: str | None = None) -> bytes:
    """The key review sessions are signed with: from CALL_RISK_REVIEW_SECRET when set (strong,
    and never the API token itself), else the random key kept in `key_file`."""
    if secret:
        require_strong(ENV_REVIEW_SECRET, secret)
        if hmac.compare_digest(secret.encode(), api_token.encode()):
            raise UserError(
                f"{ENV_REVIEW_SECRET} is the API token: review sessions need a key of their own "
                f"(another random value, or leave it unset to use {KEY_NAME})"
            )
        return hmac.new(secret.encode(), _CONTEXT, hashlib.sha256).digest()
    return load_or_create_key(key_file)


@dataclass(frozen=True)
class ReviewSessions:
    """Issues and checks review sessions with one key; `seconds` is the default lifetime.

    `key` is random (never derived from the token); `token_tag`, a SHA-256 of the API token,
    is covered by every signature so that a new token ends the sessions made under the old one.
    """

    key: bytes
    token_tag: bytes = b""
    seconds: int = int(DEFAULT_HOURS * 3600)

    @classmethod
    def for_token(
        cls, api_token: str | None, key: bytes, hours: float = DEFAULT_HOURS
    ) -> ReviewSessions | None:
        """Sessions for a service with this token; None when the service has no token (then
        the whole service, review page included, is open and needs no session)."""
        if not api_token:
            return None
        if len(key) < 32:
            raise ValueError("a review session key has at least 32 bytes")
        tag = hashlib.sha256(b"call-risk api token\0" + api_token.encode()).digest()
        return cls(key=key, token_tag=tag, seconds=max(1, round(hours * 3600)))

    @classmethod
    def from_env(
        cls, api_token: str | None, key_file: Path, environ: Mapping[str, str] | None = None
    ) -> ReviewSessions | None:
        """Sessions as the service configured in `environ` makes them (CALL_RISK_REVIEW_SECRET,
        CALL_RISK_REVIEW_HOURS; the key kept in `key_file` when there is no secret)."""
        env = os.environ if environ is None else environ
        hours = parse_hours(env.get(ENV_REVIEW_HOURS))
        if not api_token:
            return None
        key = signing_key(api_token, key_file, env.get(ENV_REVIEW_SECRET) or None)
        return cls.for_token(api_token, key, hours)

    def _sign(self, payload: str) -> str:
        mac = hmac.new(self.key, self.token_tag + payload.encode("ascii"), hashlib.sha256)
        return _b64(mac.digest())

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
    base_url: str, sessions: ReviewSessions | None, hours: float | None = None
) -> dict:
    """A supervisor's link to the review page carrying a review session (never the API token).

    Printed for the person who asked (`risk-model review-link`), never written to a log: the
    link signs its holder in until it expires.
    """
    if sessions is None:
        raise UserError(
            "CALL_RISK_API_TOKEN is not set: the service (and its review page) is open, "
            f"use {base_url.rstrip('/')}/review/"
        )
    seconds = None if hours is None else round(parse_hours(str(hours), "--hours") * 3600)
    value = sessions.issue(seconds=seconds)
    expires = int(value.split(".")[1])
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expires))
    return {"url": f"{base_url.rstrip('/')}/review/?token={value}", "expires": when}
