"""Address normalisation over many distinct spellings inside a daemonic process (a Dask worker
is one): no child processes may start there, so it runs in-process, with the same keys.

Found by the cluster benchmark: at 4M calls a read task's 500,000 rows held more distinct
addresses than the parallel threshold, and the worker failed."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np

from risk_model import text


def _keys_in_daemon(addresses: list[str], out: mp.Queue) -> None:
    try:
        keys = text.premise_key(np.asarray(addresses, dtype=object), None, None, 150)
        out.put(("ok", list(keys)))
    except BaseException as exc:  # reported to the test, not swallowed
        out.put(("error", repr(exc)))


def test_premise_keys_in_a_daemonic_process_equal_the_parent_s() -> None:
    n = text._PARALLEL_MIN + 5_000
    addresses = [f"{i} MAIN ST" if i % 3 else f"{i} Elm Street Apt {i % 7}" for i in range(n)]
    expected = list(text.premise_key(np.asarray(addresses, dtype=object), None, None, 150))
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_keys_in_daemon, args=(addresses, queue), daemon=True)
    proc.start()
    status, keys = queue.get(timeout=300)
    proc.join(timeout=60)
    assert status == "ok", keys
    assert keys == expected
