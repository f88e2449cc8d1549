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
from collections.abc import Iterator
from typing import Any

from risk_model import __version__
from risk_model.errors import UserError

log = logging.getLogger(__name__)

LOCAL = re.compile(r"^local:(\d+)$")
CONNECT_TIMEOUT_S = 20


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
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
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
        yield client
    finally:
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
