"""The garbage collector's settings for channelsync's own processes.

CPython runs a young-generation collection every 700 net allocations and a full one
every hundred of those. A sync cycle builds hundreds of thousands of short-lived
records (bindings read, outbox entries, plans) while the process holds a large, stable
set (channels, caches, the marketplace fakes in tests): each full collection walks all
of it, and at the defaults they run many times a cycle. Records are plain data
without reference cycles, freed by reference counting as soon as a step is done, so
collecting less often costs little memory. Measured (``benchmarks/engine_cycle.py``,
SQLite, one machine, interleaved): the first cycle of 100,000 SKUs x 4 channels
81.5 s -> 66.5 s; ingest of 5,000 orders at 10,000 SKUs 2,744 -> 3,617 orders/s.

Every ``channelsync`` command applies :data:`GC_THRESHOLDS`. A program that calls the
library can call :func:`tune_garbage_collection` itself; the library never changes the
collector of a process it is only imported into.

A full collection still walks every object alive. The long-running commands
(``channelsync run``, ``channelsync worker``) therefore work inside
:func:`start_up_frozen` once they are built: what exists then (modules, plugins,
configuration, channels, the engine) lives as long as the process, so the collector
stops walking it, and each full collection walks only what the work made since.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["GC_THRESHOLDS", "start_up_frozen", "tune_garbage_collection"]

#: Allocations before a young collection, then young collections per middle one and
#: middle ones per full one (CPython's defaults: 700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 20)


def tune_garbage_collection() -> None:
    """Collect garbage at :data:`GC_THRESHOLDS`, as channelsync's commands do.

    Only ever raises the thresholds: a process that set larger ones keeps them.
    """
    current = gc.get_threshold()
    gc.set_threshold(*(max(old, new) for old, new in zip(current, GC_THRESHOLDS, strict=True)))


@contextmanager
def start_up_frozen() -> Iterator[int]:
    """Move every object alive out of the collector's reach while the block runs.

    For a process that is built and about to work for long: its start-up objects are
    never garbage, and a full collection no longer walks them (``gc.freeze``). Yields
    how many objects are frozen; they are thawed when the block ends, so a program
    (or a test) that ran a command in its own process gets its collector back. A
    process that froze objects itself is left as it is (yields 0).
    """
    if gc.get_freeze_count():
        yield 0
        return
    gc.collect()
    gc.freeze()
    try:
        yield gc.get_freeze_count()
    finally:
        gc.unfreeze()
