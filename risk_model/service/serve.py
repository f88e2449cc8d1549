"""`risk-model serve`: check everything the live service needs, then run BentoML in its place.

Kept apart from the offline commands (risk_model/batch/score.py) because it starts the live side:
settings from the environment, the start-up check in a child process, the review link.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from risk_model.errors import UserError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]

# `bentoml serve`, with this server's own Prometheus folder. BentoML puts every server's metrics
# files in one folder under BENTOML_HOME and empties it when a server starts: two servers on one
# host showed each other's counters (and a start wiped the other's). The folder is a BentoML
# setting with no command-line option, so it is set here before BentoML's command runs: the same
# place with the port appended (`prometheus_multiproc_dir-3000`). Not beside the history store:
# a full state disk must not take the metrics files (memory-mapped, a worker dies on them) along.
_BENTOML_SERVE = (
    "import sys\n"
    "from bentoml._internal.configuration.containers import BentoMLContainer as C\n"
    "C.prometheus_multiproc_dir.set(C.prometheus_multiproc_dir.get() + '-' + sys.argv.pop(1))\n"
    "from bentoml_cli.cli import cli\n"
    "sys.argv[0] = 'bentoml'\n"
    "cli()\n"
)


def bentoml_command(port: int, *args: str) -> list[str]:
    """The command that runs `bentoml <args>` with a Prometheus folder of its own for the
    server on `port` (BentoML empties it at start: a restart on that port begins from zero)."""
    return [sys.executable, "-c", _BENTOML_SERVE, str(port), *args]


def serve_service(model_uri: str, port: int, history_db: Path) -> int:
    """`risk-model serve`: BentoML serving serving.service (from bentofile.yaml) on 127.0.0.1.

    Checks what the service needs before any server process starts, so a mistake is one clear
    line (exit code 2) rather than a crashing worker or a dead server: the precaution rules are
    validated, the port is free, the model URI is resolved and pinned (an alias becomes the
    version it names now, so every worker loads the same model even if the alias moves), and
    the whole service is loaded once in a child process (`supervise.check_service`: the model
    and one prediction, the history store and audit log with one write each). Relative paths are
    made absolute because the server's working directory is the repository. The workers stop
    when this process does, however it ends (`supervise.die_with_server`).
    """
    from dataclasses import replace

    from risk_model.model import tracking
    from risk_model.model.precautions import load_rules
    from risk_model.service.settings import ENV_AUDIT, ServiceSettings
    from risk_model.service.supervise import ENV_SERVER_PID, check_port, check_service

    if not model_uri.strip():
        raise UserError(
            "--model is empty: give an MLflow model URI (runs:/<run_id>/model, "
            "models:/call-risk@champion, ...) or leave --model out to serve the champion"
        )
    check_port("127.0.0.1", port)
    if Path(model_uri).exists():  # a local model directory: the server runs elsewhere
        model_uri = str(Path(model_uri).resolve())
    settings = replace(ServiceSettings.from_env(), model_uri=model_uri, history_db=history_db)
    if not os.environ.get(ENV_AUDIT):
        settings = replace(settings, audit_db=history_db.with_name("audit.db"))
    settings = settings.absolute()
    load_rules(settings.precautions)
    os.environ["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    tracking.configure()
    ref = tracking.resolve(model_uri)
    settings = replace(settings, model_uri=ref.uri)
    env = {**os.environ, **settings.to_env()}
    t0 = time.perf_counter()
    check_service(env)
    log.info("start-up check passed in %.1f s", time.perf_counter() - t0)
    # The server keeps this process id (exec below); each worker stops when it is gone.
    env[ENV_SERVER_PID] = str(os.getpid())
    cmd = bentoml_command(
        port,
        "serve",
        str(REPO_ROOT),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--working-dir",
        str(REPO_ROOT),
    )
    log.info(
        "serving %s (version %s) on http://127.0.0.1:%d; history %s; audit %s",
        ref.name,
        ref.version,
        port,
        settings.history_db,
        settings.audit_db,
    )
    if settings.api_token:
        # Made (or checked) here, once, before any worker starts. No link is written to the
        # log: a link signs its holder in, and logs are read by more people than supervisors.
        settings.review_sessions()
        log.info(
            "review page: give supervisors a read-only, expiring link from "
            "`risk-model review-link --url http://127.0.0.1:%d`",
            port,
        )
    # The server replaces this process: signals (Ctrl-C, SIGTERM from a supervisor) reach
    # BentoML directly and stop it cleanly.
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, cmd, env)
    return 0  # pragma: no cover - execve does not return
