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

_freezing = False


def freeze_after_bulk() -> None:
    """For a process that runs one command and exits (the command line): what a ``quiet_gc``
    block built is then moved out of the collector's reach (``gc.freeze``). Otherwise the first
    collection after the block walks every object it made, a fifth of a warm command's time at
    10,000 records. A library caller keeps its collector as it was."""
    global _freezing
    _freezing = True


def freezes() -> bool:
    """Whether ``freeze_after_bulk`` is in force (so nothing may ``gc.unfreeze``)."""
    return _freezing


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block; restore what it was after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _freezing:
            gc.freeze()
        if was_enabled:
            gc.enable()
