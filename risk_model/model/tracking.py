"""MLflow plumbing: the tracking store, loading a model by URI, and the registry's champion alias.

The tracking store defaults to a SQLite file in the working directory (`sqlite:///mlflow.db`,
artifacts under ./mlruns); `MLFLOW_TRACKING_URI` overrides it. Nothing here runs at import time.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from risk_model.errors import UserError

if TYPE_CHECKING:
    from risk_model.model.bundle import CallRiskModel

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_MODEL_NAME = "call-risk"
CHAMPION = "champion"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def configure() -> str:
    """Points MLflow at the tracking store and quiets its console chatter (progress bars)."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    return uri


@dataclass(frozen=True)
class ModelRef:
    """Which model a URI resolved to: registry name and version when it has them."""

    uri: str
    name: str
    version: str
    run_id: str | None


_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")
_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")


def resolve(uri: str) -> ModelRef:
    """Pins a URI: an alias resolves to the version it names now, so a later promotion does not
    silently change a running service's model."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        if m := _ALIAS.match(uri):
            mv = client.get_model_version_by_alias(m["name"], m["alias"])
            version = str(mv.version)
            return ModelRef(f"models:/{m['name']}/{version}", m["name"], version, mv.run_id)
        if m := _VERSION.match(uri):
            mv = client.get_model_version(m["name"], m["version"])
            return ModelRef(uri, m["name"], str(mv.version), mv.run_id)
    except MlflowException as exc:
        why = (
            _no_champion(client, m["name"]) if m and m.groupdict().get("alias") == CHAMPION else ""
        )
        raise UserError(
            f"model {uri!r} not found in {tracking_uri()}: {why or exc.message}"
        ) from None
    if uri.startswith("runs:/"):
        run_id = uri.split("/")[1]
        return ModelRef(uri, DEFAULT_MODEL_NAME, f"run-{run_id[:8]}", run_id)
    return ModelRef(uri, DEFAULT_MODEL_NAME, uri.rsplit("/", 1)[-1], None)


def _no_champion(client: Any, name: str) -> str:
    """Why a registered model has no champion: its newest version's reason (the champion gate
    tags every version with one), so `serve` and `score` say what `train` said."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return ""
    if not versions:
        return ""
    newest = max(versions, key=lambda v: int(v.version))
    reason = (newest.tags or {}).get("champion_reason")
    if not reason:
        return ""
    return (
        f"no version of {name!r} is champion; the newest, version {newest.version}, was "
        f"registered without the alias: {reason} (serve a version explicitly with "
        f"models:/{name}/{newest.version}, or retrain)"
    )


def load_model(uri: str) -> tuple[CallRiskModel, ModelRef]:
    """Loads the scoring object behind a pyfunc URI (runs:/..., models:/name@alias, ...)."""
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    configure()
    ref = resolve(uri)
    try:
        pyfunc = mlflow.pyfunc.load_model(ref.uri)
    except (MlflowException, OSError) as exc:
        raise UserError(f"cannot load model {uri!r} from {tracking_uri()}: {exc}") from None
    model = pyfunc.unwrap_python_model().model
    model.metadata.setdefault("name", ref.name)
    model.metadata["version"] = ref.version
    model.metadata["uri"] = ref.uri
    return model, ref


def champion_version(name: str) -> Any | None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return MlflowClient().get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
