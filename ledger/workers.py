"""Worker processes for pure-Python work over many records (checking files, mapping FHIR).

The work is pure Python, so threads would wait on each other's interpreter lock; processes
run on every processor. Workers are forked, never spawned: spawning would re-run the caller's
script (a training script does not expect that), and a fork hands the workers what the parent
already built, such as the state and the graph, without pickling it. A fork copies no thread
but the caller's, so workers are only started while the process has no other thread.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_all_start_methods, get_context
from typing import Any, TypeVar

R = TypeVar("R")

PARALLEL_FROM = 1024  # records to work on before worker processes pay for their start-up


def fork_pool(items: int) -> ProcessPoolExecutor | None:
    """One forked worker per processor, started now, if ``items`` are many enough to pay for
    them and forking is safe here; None otherwise (the caller works in-process)."""
    workers = os.cpu_count() or 1
    if items < PARALLEL_FROM or workers < 2:
        return None
    if "fork" not in get_all_start_methods() or threading.active_count() > 1:
        return None
    pool = ProcessPoolExecutor(workers, mp_context=get_context("fork"))
    # Fork the workers now, while the process has one thread, not at the first task.
    list(pool.map(int, range(workers)))
    return pool


def ordered(
    pool: ProcessPoolExecutor, work: Callable[..., R], tasks: Iterable[tuple[Any, ...]]
) -> Iterator[R]:
    """``work(*task)`` for each task, in the tasks' order, with a few tasks in flight at a
    time: ``tasks`` is read lazily, so neither its inputs nor the results pile up."""
    ahead = 2 * (os.cpu_count() or 1)
    flying: deque[Future[R]] = deque()
    for task in tasks:
        flying.append(pool.submit(work, *task))
        if len(flying) > ahead:
            yield flying.popleft().result()
    while flying:
        yield flying.popleft().result()
