"""Process memory behaviour for the big offline passes (feature builder, training).

glibc serves allocations under its mmap threshold from the heap, and raises that threshold (up to
32 MB) each time a large block is freed. A 5M-row float32 column is 20 MB: after the first few are
freed, every later column lands on the heap, and freeing it does not return the memory to the OS.
The builder frees columns as it goes (e.g. while packing them into the feature frame), so with the
default policy the resident peak was the sum of everything ever held: 4.3 GB for 5M calls. A
fixed 1 MB threshold sends every column to its own mapping, returned on free: 3.9 GB, and no
slower (measured with benchmarks/bench_features.py, docs/benchmarks.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_DONE = False


def return_large_blocks_to_os(threshold: int = 1 << 20) -> bool:
    """Fixes glibc's mmap threshold (once per process); False where that is not glibc/Linux."""
    global _DONE
    if _DONE:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, int(threshold)))
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    _DONE = ok
    if not ok:
        log.debug("mallopt(M_MMAP_THRESHOLD) refused; keeping the default allocator policy")
    return ok
