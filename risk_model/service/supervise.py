"""What `risk-model serve` checks before the server starts, and what keeps its workers from
outliving it.

- `check_port`: a port already taken (often a server left over from an earlier run) is one line
  naming the port and how to find the process holding it, not a traceback from the server.
- `check_service`: the model is loaded and makes one prediction, and the history store and the
  audit log are opened and written once, in a child process. LightGBM can abort the whole
  process on a corrupt model file; in the server that became an endless crash loop of workers
  behind a /healthz that said 200. In a child it is one line and exit code 2 before anything
  listens.
- `die_with_server`: each worker watches the server process that started it and stops when it
  is gone (after `kill -9`, say), instead of serving on without a supervisor and holding the port.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping

from risk_model.errors import UserError

log = logging.getLogger(__name__)

# Set by `risk-model serve` to its own process id, which the BentoML server keeps (exec).
ENV_SERVER_PID = "CALL_RISK_SERVER_PID"
CHECK_TIMEOUT_S = 600.0
POLL_S = 0.5
# A worker whose server is gone finishes in-flight requests for at most this long.
GRACE_S = 5.0

# One call every model can score (the fields SPEC §1 requires and a few more).
SAMPLE_CALL = {
    "call_id": "START-UP-CHECK",
    "received_at": "2025-06-01T12:00:00",
    "call_type": "DISTURBANCE",
    "priority": 2,
    "address": "100 MAIN ST",
    "latitude": 35.0,
    "longitude": -97.0,
    "beat": "1",
    "district": "CENTRAL",
}


def check_port(host: str, port: int) -> None:
    """Raises UserError when `host:port` cannot be bound (in use, or not permitted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the server binds: a port in TIME_WAIT after a clean stop is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(
                    f"port {port} on {host} is already in use (a server still running from an "
                    f"earlier start?): find it with `ss -ltnp 'sport = :{port}'` or "
                    f"`lsof -i :{port}`, stop it, or pass another --port"
                ) from None
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def check_service(env: Mapping[str, str], timeout: float = CHECK_TIMEOUT_S) -> None:
    """Loads the service in a child process (`python -m risk_model.service.supervise` with
    `env`): the model and one prediction, the history store and the audit log with one write each.

    Raises UserError with one line naming the real cause; a child killed by a signal (LightGBM
    aborting on a corrupt model file) is reported as such with LightGBM's own last words.
    """
    uri = env.get("CALL_RISK_MODEL_URI", "?")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "risk_model.service.supervise"],
            env=dict(env),
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",  # LightGBM quotes the corrupt bytes it met
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise UserError(
            f"model {uri!r}: the start-up check did not finish in {timeout:.0f} s"
        ) from None
    if proc.returncode == 0:
        return
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        said = [line for line in lines if "[Fatal]" in line] or [
            line for line in lines if "LightGBM" in line
        ]
        detail = f": {_one_line(said[-1], 160)}" if said else ""
        raise UserError(
            f"model {uri!r} crashed the process loading it ({name}); its files are corrupt or "
            f"not a call-risk model{detail}"
        )
    last = lines[-1] if lines else f"exit code {proc.returncode}"
    raise UserError(last.removeprefix("error: "))


def _check_main() -> int:
    """The child of `check_service`: exit 0, or one `error: ...` line on stderr and exit 2."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        from risk_model.schema import CallRecord
        from risk_model.service.settings import ServiceSettings, load_assessor

        assessor = load_assessor(ServiceSettings.from_env())
        row = CallRecord.model_validate(SAMPLE_CALL).to_row()
        out = assessor.assess([row], audit=False)
        score = float(out[0]["risk_score"])
        if not 0.0 <= score <= 1.0:
            raise UserError(f"the model's test prediction is {score}, not a probability")
    except UserError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except Exception as exc:  # any other failure is still one line, with its type
        uri = os.environ.get("CALL_RISK_MODEL_URI", "?")
        print(
            f"error: model {uri!r} failed its start-up check: {type(exc).__name__}: "
            f"{_one_line(str(exc))}",
            file=sys.stderr,
        )
        return 2
    return 0


def _one_line(text: str, limit: int = 300) -> str:
    """One printable line (LightGBM quotes the corrupt bytes it met)."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def die_with_server(poll_s: float = POLL_S, grace_s: float = GRACE_S) -> threading.Thread | None:
    """In a worker started by `risk-model serve`: a daemon thread that stops this process once
    the server process (CALL_RISK_SERVER_PID, this worker's parent) is gone.

    A worker whose parent dies is re-parented, so a changed parent pid is the signal. The
    worker gets SIGTERM (finish in-flight requests, close cleanly) and, if it is still there
    after `grace_s`, exits. Does nothing outside `risk-model serve` (no variable set) or when
    this process is not the server's child.
    """
    server = os.environ.get(ENV_SERVER_PID)
    if not server or not server.isdigit():
        return None
    server_pid = int(server)
    if os.getpid() == server_pid:
        return None
    if os.getppid() != server_pid:
        if pid_alive(server_pid):  # not its direct child: leave it to whoever started it
            return None
        _stop(grace_s)  # the server died before this worker got here
        return None

    def watch() -> None:
        while os.getppid() == server_pid:
            time.sleep(poll_s)
        log.error("the server process %d is gone; this worker stops", server_pid)
        _stop(grace_s)

    thread = threading.Thread(target=watch, name="call-risk-die-with-server", daemon=True)
    thread.start()
    return thread


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (owned by anyone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop(grace_s: float) -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace_s)
    os._exit(1)


if __name__ == "__main__":
    sys.exit(_check_main())
