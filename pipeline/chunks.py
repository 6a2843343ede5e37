"""The page stream of an extraction, read ahead in a thread and cut into chunks of many pages.

`prefetched` reads pages in a background thread (the agency builds the next page, and the socket
fills, while this process validates the last chunk), at most `depth` pages ahead, so memory stays
bounded. `chunks` joins pages into tables of about `rows` rows: Great Expectations and COPY have a
fixed cost per call that a 1,000-row page pays again and again.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa

# LIENTHONG_CHUNK_ROWS overrides. 25,000 keeps GX at batch speed with 65 MB less peak RSS than 50,000
# (a 200,000-record sync: 525 vs 591 MB, no slower).
CHUNK_ROWS = 25_000


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


_END = object()


def prefetched(pages: Iterable[pa.RecordBatch], depth: int = 16) -> Iterator[pa.RecordBatch]:
    """`pages`, read up to `depth` ahead in a thread; an error there is raised here, in order."""
    ahead: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        source = iter(pages)
        try:
            for page in source:
                if not put(page):
                    break
            else:
                put(_END)
        except BaseException as exc:  # handed to the reading thread, raised there
            put(_Failed(exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # the generator's own thread closes it (its connection, its reader)

    reader = threading.Thread(target=read, name="prefetch", daemon=True)
    reader.start()
    try:
        while True:
            item = ahead.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            assert isinstance(item, pa.RecordBatch)
            yield item
    finally:
        stop.set()
        while reader.is_alive():
            with contextlib.suppress(queue.Empty):
                ahead.get(timeout=0.05)
        reader.join()


def chunks(pages: Iterable[pa.RecordBatch], rows: int = CHUNK_ROWS) -> Iterator[pa.Table]:
    """Consecutive pages joined into tables of at least `rows` rows (the last one smaller)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for page in pages:
        if not page.num_rows:
            continue
        pending.append(page)
        count += page.num_rows
        if count >= rows:
            yield _joined(pending)
            pending, count = [], 0
    if pending:
        yield _joined(pending)


def _joined(pages: list[pa.RecordBatch]) -> pa.Table:
    try:
        return pa.Table.from_batches(pages)
    except pa.ArrowInvalid:  # pages typed apart (a field null on one page): one schema for the chunk
        return pa.concat_tables([pa.Table.from_batches([p]) for p in pages], promote_options="permissive")
