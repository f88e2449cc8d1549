"""Settings of the live service, read from the environment, and the factory that builds it.

The BentoML service (serving/service.py) and `risk-model serve` read the same variables, so the
command line can check them (and pin the model) before any server process starts:

    CALL_RISK_MODEL_URI    MLflow model URI or registry alias (default models:/call-risk@champion)
    CALL_RISK_HISTORY_DB   the SQLite history store (default history.db)
    CALL_RISK_AUDIT_DB     the SQLite audit log (default audit.db beside the history store)
    CALL_RISK_PRECAUTIONS  the precaution rule file (default data/precautions.yaml)
    CALL_RISK_API_TOKEN    when set, every request needs `Authorization: Bearer <token>`;
                           at least 32 random characters (a weak one stops the start)
                           (the review page uses its own sessions, signed with a random key
                           kept beside the audit log: risk_model/review/session.py)
    CALL_RISK_TIMEZONE     the agency's IANA time zone (e.g. America/Chicago): a received_at
                           with an offset is converted to it; unset, such times are refused
    MLFLOW_TRACKING_URI    the MLflow tracking store (default sqlite:///mlflow.db)

Relative paths are taken from the directory the settings are read in; `absolute()` turns them
into absolute ones before they are handed to server processes with another working directory.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from risk_model.errors import UserError
from risk_model.model import tracking
from risk_model.model.precautions import DEFAULT_RULES
from risk_model.review.session import KEY_NAME, ReviewSessions, require_strong

if TYPE_CHECKING:
    from risk_model.model.precautions import RuleFile
    from risk_model.service.assessor import LiveAssessor

log = logging.getLogger(__name__)

DEFAULT_MODEL_URI = f"models:/{tracking.DEFAULT_MODEL_NAME}@{tracking.CHAMPION}"
ENV_MODEL = "CALL_RISK_MODEL_URI"
ENV_HISTORY = "CALL_RISK_HISTORY_DB"
ENV_AUDIT = "CALL_RISK_AUDIT_DB"
ENV_PRECAUTIONS = "CALL_RISK_PRECAUTIONS"
ENV_TOKEN = "CALL_RISK_API_TOKEN"
ENV_TRACKING = "MLFLOW_TRACKING_URI"
ENV_TIMEZONE = "CALL_RISK_TIMEZONE"
_SQLITE = "sqlite:///"


@dataclass(frozen=True)
class ServiceSettings:
    """Where the service finds its model, history, audit log and rules."""

    model_uri: str = DEFAULT_MODEL_URI
    history_db: Path = Path("history.db")
    audit_db: Path = Path("audit.db")
    precautions: Path = DEFAULT_RULES
    api_token: str | None = None
    tracking_uri: str = tracking.DEFAULT_TRACKING_URI
    # The agency's IANA zone; None: times with an offset are refused (see `agency_timezone`).
    timezone: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        env = os.environ if environ is None else environ
        history = Path(env.get(ENV_HISTORY) or "history.db")
        audit = env.get(ENV_AUDIT)
        return cls(
            model_uri=env.get(ENV_MODEL) or DEFAULT_MODEL_URI,
            history_db=history,
            audit_db=Path(audit) if audit else history.with_name("audit.db"),
            precautions=Path(env.get(ENV_PRECAUTIONS) or DEFAULT_RULES),
            api_token=api_token(env.get(ENV_TOKEN)),
            tracking_uri=env.get(ENV_TRACKING) or tracking.DEFAULT_TRACKING_URI,
            timezone=agency_timezone(env.get(ENV_TIMEZONE)),
        )

    def absolute(self, base: Path | None = None) -> ServiceSettings:
        """The same settings with every relative path (and a relative SQLite tracking URI)
        made absolute against `base` (default: the current directory)."""
        root = (base or Path.cwd()).resolve()

        def fix(p: Path) -> Path:
            return p if p.is_absolute() else root / p

        uri = self.tracking_uri
        if uri.startswith(_SQLITE) and not uri[len(_SQLITE) :].startswith("/"):
            uri = _SQLITE + str(root / uri[len(_SQLITE) :])
        return replace(
            self,
            history_db=fix(self.history_db),
            audit_db=fix(self.audit_db),
            precautions=fix(self.precautions),
            tracking_uri=uri,
        )

    @property
    def review_key(self) -> Path:
        """Where the review sessions' random signing key is kept: beside the audit log."""
        return self.audit_db.with_name(KEY_NAME)

    def review_sessions(self, environ: Mapping[str, str] | None = None) -> ReviewSessions | None:
        """The review sessions of this service (None without a token: the page is open)."""
        return ReviewSessions.from_env(self.api_token, self.review_key, environ)

    def to_env(self) -> dict[str, str]:
        """The variables a server process needs to rebuild these settings."""
        env = {
            ENV_MODEL: self.model_uri,
            ENV_HISTORY: str(self.history_db),
            ENV_AUDIT: str(self.audit_db),
            ENV_PRECAUTIONS: str(self.precautions),
            ENV_TRACKING: self.tracking_uri,
        }
        if self.api_token:
            env[ENV_TOKEN] = self.api_token
        if self.timezone:
            env[ENV_TIMEZONE] = self.timezone
        return env


def api_token(value: str | None) -> str | None:
    """The API token, checked when the settings are read: a weak token stops the start."""
    if not value:
        return None
    return require_strong(ENV_TOKEN, value)


def agency_timezone(name: str | None) -> str | None:
    """The agency's time zone, checked when the settings are read so that a typo stops the
    service at start rather than failing every call that carries an offset.

    Unset stays unset: guessing (the server's zone, UTC) would silently move every
    offset-bearing call to the wrong hour of the day, and the hour is a feature.
    """
    name = (name or "").strip()
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(
            f"{ENV_TIMEZONE}: {name!r} is not an IANA time zone (e.g. America/Chicago)"
        ) from None
    return name


def token_accepted(secret: str | None, authorization: str) -> bool:
    """True without a configured token; else only for `Authorization: Bearer <token>`.

    The API token is never taken from a cookie: a cookie is sent by the browser on its own, and
    the review page's cookie holds a read-only session (risk_model.review.session),
    never this token. Compared in constant time on the bytes as sent (header values are latin-1).
    """
    if not secret:
        return True
    return authorization[:7].lower() == "bearer " and hmac.compare_digest(
        authorization[7:].strip().encode("latin-1"), secret.encode()
    )


def load_assessor(settings: ServiceSettings, rules: RuleFile | None = None) -> LiveAssessor:
    """Loads the pinned model, opens the history store and the audit log, and checks that both
    can be written (one small committed write each).

    Each failure is a UserError naming its real cause and file (the model, the history store or
    the audit log), so the service and `risk-model serve` say what is wrong rather than "could
    not load its model" for a store that cannot be opened or written.

    The model's training-time history snapshot is dropped (after its training scope is read):
    the live store replaces it, and keeping it would hold a year of events in every server
    process for nothing.
    """
    from risk_model.errors import UserError
    from risk_model.features.store import SqliteHistoryStore
    from risk_model.model.assessment import ModelInfo
    from risk_model.model.precautions import load_rules
    from risk_model.service.assessor import WRITE_ERRORS, LiveAssessor, StoreUnavailable
    from risk_model.service.audit_log import AuditLog

    rules = rules or load_rules(settings.precautions)
    os.environ[ENV_TRACKING] = settings.tracking_uri
    model, ref = tracking.load_model(settings.model_uri)
    # What the training data covered is read first: a model saved before `seen_areas` was
    # recorded finds its areas in the snapshot, as offline scoring of the same model does.
    _ = model.scope
    model.history = None
    try:
        store = SqliteHistoryStore(settings.history_db, model.settings.features)
        calls = store.count()
    except WRITE_ERRORS as exc:
        raise UserError(
            f"history store {settings.history_db} cannot be opened: "
            f"{_cause(exc, settings.history_db)}"
        ) from None
    try:
        audit = AuditLog(settings.audit_db)
    except WRITE_ERRORS as exc:
        raise UserError(
            f"audit log {settings.audit_db} cannot be opened: {_cause(exc, settings.audit_db)}"
        ) from None
    assessor = LiveAssessor(
        model, store, rules=rules, audit=audit, info=ModelInfo(ref.name, ref.version)
    )
    try:
        assessor.check_writes(only_failed=False)
    except StoreUnavailable as exc:
        raise UserError(str(exc)) from None
    log.info(
        "model %s version %s (%s); history %s (%s calls); audit %s",
        ref.name,
        ref.version,
        ref.uri,
        settings.history_db,
        f"{calls:,}",
        settings.audit_db,
    )
    return assessor


def _cause(exc: BaseException, path: Path) -> str:
    from risk_model.service.assessor import write_error_cause

    return write_error_cause(exc, path)
