"""Connecting to a Dask cluster for `train --dask` and `score --dask`.

`local:N` starts N worker processes on this machine (one thread each: the feature engine and
LightGBM are single-threaded per partition, and processes sidestep the GIL); any other address
is an existing scheduler (`tcp://host:8786`, the address `dask scheduler` prints). Every worker
must have the same call-risk version installed as the client: checked on connect, because a
worker running other feature code would silently build other features.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import struct
from collections.abc import Iterator
from typing import Any

from risk_model import __version__
from risk_model.errors import UserError

log = logging.getLogger(__name__)

LOCAL = re.compile(r"^local:(\d+)$")
CONNECT_TIMEOUT_S = 20
# A Dask scheduler speaks first: its handshake arrives as soon as a connection is open.
HANDSHAKE_TIMEOUT_S = 10.0
_TCP = re.compile(r"^(?:tcp://)?\[?([^\]/]+?)\]?:(\d+)/?$")


def _first_bytes(sock: socket.socket, timeout: float) -> bytes:
    """Up to 8 bytes the server sends within `timeout` (fewer if it closes; b"" if silent)."""
    sock.settimeout(timeout)
    head = b""
    try:
        while len(head) < 8:
            chunk = sock.recv(8 - len(head))
            if not chunk:
                break
            head += chunk
    except TimeoutError:
        pass
    return head


def _probe(address: str, timeout: float = HANDSHAKE_TIMEOUT_S) -> None:
    """One line, not a traceback or a hang, when `address` is not a Dask scheduler.

    distributed reads whatever answers as its own framing: an HTTP server's reply became a
    request to allocate 3.07 EiB (a 76-line traceback), and a server that accepts the
    connection and never answers hung the client for ever. A scheduler sends its handshake
    as soon as the connection opens, starting with a small frame count; anything else (nothing
    within `timeout`, text, an impossible count) is refused here. tls:// and other transports
    are left to distributed."""
    m = _TCP.match(address.strip())
    if not m:
        return
    host, port = m.group(1), int(m.group(2))
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            head = _first_bytes(sock, min(2.0, timeout))
            if not head:
                # Quiet: an HTTP server waits for a request; ask it one (a scheduler spoke
                # long before, so only a slow one ever sees this, and it still answers).
                sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
                head = _first_bytes(sock, timeout)
            if not head:
                raise TimeoutError
    except TimeoutError:
        raise UserError(
            f"--dask {address}: no answer within {timeout:g} s: the server there accepted the "
            "connection but is not a Dask scheduler (or it is stuck)"
        ) from None
    except OSError as exc:
        raise UserError(f"--dask {address}: cannot reach the Dask scheduler: {exc}") from None
    if head[:5] in (b"HTTP/", b"<!DOC", b"<html") or (head.isascii() and head.isalpha()):
        raise UserError(
            f"--dask {address}: an HTTP server answers there, not a Dask scheduler (the "
            "scheduler's address is what `dask scheduler` prints, e.g. tcp://host:8786; the "
            "dashboard's http:// address is another port)"
        )
    if len(head) < 8:
        raise UserError(
            f"--dask {address}: the server closed the connection: not a Dask scheduler"
        )
    (frames,) = struct.unpack("<Q", head)
    if not 0 < frames < 1024:
        raise UserError(f"--dask {address}: the server there does not speak Dask's protocol")


def _cluster_lost(exc: BaseException) -> bool:
    """A scheduler or worker gone mid-run (distributed's own errors, a closed comm), as opposed
    to a mistake in the work itself."""
    from distributed.comm.core import CommClosedError

    module = type(exc).__module__ or ""
    return isinstance(exc, CommClosedError) or module.startswith(("distributed.", "tornado."))


def _dask_settings() -> None:
    """Text columns stay plain Python objects through shuffles, as the single-machine builder
    holds them (dask would otherwise turn them into Arrow strings, with NaN for None)."""
    import dask

    dask.config.set({"dataframe.convert-string": False})


@contextlib.contextmanager
def connect(address: str, memory_limit: str | None = None) -> Iterator[Any]:
    """A `distributed.Client` for `address`; a local cluster is closed on exit.

    Raises UserError (one line) for a malformed address, an unreachable scheduler, no workers,
    or workers running another call-risk version.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise UserError(f"--dask needs dask[distributed] installed: {exc}") from None
    _dask_settings()
    # The scheduler and nanny of a local cluster log every worker start and stop at INFO.
    for name in ("distributed", "bokeh"):
        logging.getLogger(name).setLevel(logging.WARNING)
    m = LOCAL.match(address.strip())
    cluster = None
    if m:
        n = int(m.group(1))
        if not 1 <= n <= 256:
            raise UserError(f"--dask {address}: local:N needs 1 <= N <= 256 workers")
        log.info("dask: starting a local cluster of %d worker processes", n)
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: a second cluster never clashes
            memory_limit=memory_limit or "auto",
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
        # Worker processes inherit this terminal: what their libraries print (LightGBM's network
        # set-up, on fd 1) goes to stderr with the progress lines, keeping stdout for --json.
        client.run(_stdout_to_stderr)
    else:
        if "://" not in address and ":" not in address:
            raise UserError(
                f"--dask {address!r}: expected a scheduler address (tcp://host:8786) or local:N"
            )
        _probe(address, HANDSHAKE_TIMEOUT_S)
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError, MemoryError) as exc:
            raise UserError(f"--dask {address}: cannot reach the Dask scheduler: {exc}") from None
    try:
        workers = client.scheduler_info().get("workers", {})
        if not workers:
            raise UserError(f"--dask {address}: the scheduler has no workers")
        versions = client.run(_worker_version)
        other = {w: v for w, v in versions.items() if v != __version__}
        if other:
            worker, version = next(iter(other.items()))
            raise UserError(
                f"--dask {address}: worker {worker} runs call-risk {version}, this client "
                f"{__version__}: install the same version on every worker"
            )
        log.info(
            "dask: %d workers, %d threads, dashboard %s",
            len(workers),
            sum(client.nthreads().values()),
            client.dashboard_link,
        )
        try:
            yield client
        except Exception as exc:
            if not _cluster_lost(exc):
                raise
            raise UserError(
                f"--dask {address}: the cluster was lost mid-run ({type(exc).__name__}: "
                f"{str(exc)[:200]}); nothing was written: start the scheduler again and re-run"
            ) from None
    finally:
        with contextlib.suppress(Exception):  # closing a client whose scheduler is gone
            client.close()
        if cluster is not None:
            cluster.close()


def _stdout_to_stderr() -> None:
    import os
    import sys

    sys.stdout.flush()
    os.dup2(2, 1)


def _worker_version() -> str:
    try:
        from risk_model import __version__ as v
    except ImportError:
        return "not installed"
    return v


def worker_threads(client: Any) -> int:
    """Threads per worker (the smallest): LightGBM's num_threads on each worker."""
    return max(1, min(client.nthreads().values()))
