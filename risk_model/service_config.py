"""Settings of the live service, read from the environment, and the factory that builds it.

The BentoML service (serving/service.py) and `risk-model serve` read the same variables, so the
command line can check them (and pin the model) before any server process starts:

    CALL_RISK_MODEL_URI    MLflow model URI or registry alias (default models:/call-risk@champion)
    CALL_RISK_HISTORY_DB   the SQLite history store (default history.db)
    CALL_RISK_AUDIT_DB     the SQLite audit log (default audit.db beside the history store)
    CALL_RISK_PRECAUTIONS  the precaution rule file (default data/precautions.yaml)
    CALL_RISK_API_TOKEN    when set, every request needs `Authorization: Bearer <token>`
                           (the review page uses its own sessions: risk_model/review_session.py)
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

from risk_model import tracking
from risk_model.precautions import DEFAULT_RULES

if TYPE_CHECKING:
    from risk_model.live import LiveAssessor
    from risk_model.precautions import RuleFile

log = logging.getLogger(__name__)

DEFAULT_MODEL_URI = f"models:/{tracking.DEFAULT_MODEL_NAME}@{tracking.CHAMPION}"
ENV_MODEL = "CALL_RISK_MODEL_URI"
ENV_HISTORY = "CALL_RISK_HISTORY_DB"
ENV_AUDIT = "CALL_RISK_AUDIT_DB"
ENV_PRECAUTIONS = "CALL_RISK_PRECAUTIONS"
ENV_TOKEN = "CALL_RISK_API_TOKEN"
ENV_TRACKING = "MLFLOW_TRACKING_URI"
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
            api_token=env.get(ENV_TOKEN) or None,
            tracking_uri=env.get(ENV_TRACKING) or tracking.DEFAULT_TRACKING_URI,
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
        return env


def token_accepted(secret: str | None, authorization: str) -> bool:
    """True without a configured token; else only for `Authorization: Bearer <token>`.

    The API token is never taken from a cookie: a cookie is sent by the browser on its own, and
    the review page's cookie holds a read-only session (risk_model.review_session), never this
    token. Compared in constant time on the bytes as sent (header values are latin-1).
    """
    if not secret:
        return True
    return authorization[:7].lower() == "bearer " and hmac.compare_digest(
        authorization[7:].strip().encode("latin-1"), secret.encode()
    )


def load_assessor(settings: ServiceSettings, rules: RuleFile | None = None) -> LiveAssessor:
    """Loads the pinned model, opens the history store and the audit log.

    The model's training-time history snapshot is dropped: the live store replaces it, and
    keeping it would hold a year of events in every server process for nothing.
    """
    from risk_model.features.store import SqliteHistoryStore
    from risk_model.live import AuditLog, LiveAssessor, ModelInfo
    from risk_model.precautions import load_rules

    rules = rules or load_rules(settings.precautions)
    os.environ[ENV_TRACKING] = settings.tracking_uri
    model, ref = tracking.load_model(settings.model_uri)
    model.history = None
    store = SqliteHistoryStore(settings.history_db, model.settings.features)
    audit = AuditLog(settings.audit_db)
    log.info(
        "model %s version %s (%s); history %s (%s calls); audit %s",
        ref.name,
        ref.version,
        ref.uri,
        settings.history_db,
        f"{store.count():,}",
        settings.audit_db,
    )
    return LiveAssessor(
        model, store, rules=rules, audit=audit, info=ModelInfo(ref.name, ref.version)
    )
