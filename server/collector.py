"""The cyclic garbage collector, paused around a burst of allocations.

A lock storm keeps tens of thousands of young objects alive at once (each
lock's conversation before and after, its timeline entry, summary, events,
frames: ~30 tracked objects, alive until its chunk is published). None of
them is garbage while the storm runs, yet the collector scans them again
and again: its young-generation passes every 700 allocations, and the full
collections their promotion triggers (the node's settled heap is frozen,
so a storm soon outnumbers the heap the collector counts as long-lived):
at 20,000 locks, ~900 collections, of which ~7 full ones, ~0.5 s of CPU
(bench/README.md, "Lock storm, round four"). Reference counting still frees
everything acyclic meanwhile; cyclic garbage made during the pause waits
for the collector's next pass after it (a storm lasts seconds).

Not for anything that can wait on a client or a peer for long: the pause
lasts as long as the ``with`` block.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_paused = 0
"""Pauses open now (they may overlap: the last one to end resumes)."""
_resume = False
"""Whether the collector was enabled when the first open pause began."""


@contextmanager
def paused() -> Iterator[None]:
    """No automatic collection inside the block. Pauses may nest or
    overlap (coroutines); the collector is enabled again when the last one
    ends, and only if it was enabled when the first one began."""
    global _paused, _resume
    if _paused == 0:
        _resume = gc.isenabled()
        gc.disable()
    _paused += 1
    try:
        yield
    finally:
        _paused -= 1
        if _paused == 0 and _resume:
            gc.enable()
