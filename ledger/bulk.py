"""Building millions of small objects at once (a state, its graph, a Bundle) without paying the
garbage collector for it.

CPython's cyclic collector runs every few hundred allocations and, now and then, walks every
object the process holds. A ledger state at 100,000 records holds tens of millions, none of them
in reference cycles (the objects are freed by reference counting), so those walks are pure cost:
more than half the time of reading a kept state at that size. The collector is paused for such a
phase and restored after it, so a host process (a training script) keeps its own setting.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block; restore what it was after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
