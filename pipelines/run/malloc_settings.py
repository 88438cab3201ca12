"""glibc malloc settings for the local runner's processes, so that memory they free goes back to the system.

Beam's runner and its workers keep allocating and freeing buffers of a few MB: gRPC chunks, encoded
bundles, grouped values. glibc raises its mmap threshold each time a block that size is freed,
up to 32 MiB. After that, such buffers come from the heap, and memory freed between live objects
stays with the process: its resident memory only grows. ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` at 1 MiB fix both thresholds, which also turns the raising off. Blocks of
1 MiB or more are then mapped and unmapped on their own, and the heap is trimmed once 1 MiB at its
top is free. ``benchmarks/dedup_scale.py`` measures the peak memory of all processes this way;
``MALLOC_ARENA_MAX`` made no further difference there.

Workers read the variables when they start (they inherit the environment); this process gets the
same values through ``mallopt``. A value the user set in the environment is kept. Without glibc
(macOS, musl) nothing is changed.
"""
from __future__ import annotations

import ctypes
import os

#: environment variable -> mallopt parameter (glibc's malloc.h: M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3)
SETTINGS = {"MALLOC_TRIM_THRESHOLD_": -1, "MALLOC_MMAP_THRESHOLD_": -3}
DEFAULT_BYTES = 1 << 20


def return_freed_memory() -> bool:
    """Set the thresholds here and, through the environment, in the workers this process starts.
    True when glibc took them."""
    values = {}
    for name in SETTINGS:
        os.environ.setdefault(name, str(DEFAULT_BYTES))
        try:
            values[name] = int(os.environ[name])
        except ValueError:  # the user's own setting, unreadable: glibc ignores it too
            return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return all(mallopt(SETTINGS[name], value) == 1 for name, value in values.items())
