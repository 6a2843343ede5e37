"""Arrow's memory handed back to the system as soon as it is freed, so a sync's RSS is what it holds.

pyarrow's default allocator (mimalloc in the wheels) keeps freed pages for reuse: a 500,000-record sync
peaked at 620 MB while Arrow itself never held more than 82 MB at once; every chunk, COPY buffer and
snapshot slice left its pages behind. jemalloc with a decay of 0 returns them at once, and glibc's own
heap is kept from hoarding large blocks (below): the same sync peaks at 464 MB, no slower
(bench.sync).

Arrow's C++ parts (CSV reader, Parquet writer, compute kernels) take the process's default pool, which
Arrow reads from ARROW_DEFAULT_MEMORY_POOL once, when pyarrow is first imported: so the choice is made
at the import of `pipeline` and `lienthong`, before anything of ours imports pyarrow. An operator's own
ARROW_DEFAULT_MEMORY_POOL wins.
"""

from __future__ import annotations

import os


def prefer_jemalloc() -> None:
    """Arrow's default pool: jemalloc, unless pyarrow is already imported or the operator chose."""
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)


def return_freed_memory() -> None:
    """jemalloc returns freed pages at once (decay 0) when it is Arrow's default pool in this process, and
    glibc serves large blocks (128 KiB and up) with their own mappings, given back when freed."""
    import pyarrow as pa

    if pa.default_memory_pool().backend_name == "jemalloc":
        pa.jemalloc_set_decay_ms(0)
    _fixed_mmap_threshold()


def _fixed_mmap_threshold() -> None:
    """glibc raises its mmap threshold each time a mapped block is freed (up to 32 MiB), so the 1 MB
    blocks a snapshot is streamed in soon come from the heap, which keeps them: 45 MB more peak RSS on
    a 500,000-record sync. Setting the threshold turns that adjustment off (mallopt(3))."""
    import ctypes

    try:
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 128 * 1024)  # the process's own libc
    except (OSError, AttributeError):  # a libc without mallopt: its own policy stays
        return
