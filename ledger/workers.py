"""Worker processes for pure-Python work over many records (checking files, mapping FHIR).

The work is pure Python, so threads would wait on each other's interpreter lock; processes
run on every processor. Workers are forked, never spawned: spawning would re-run the caller's
script, which a training script does not expect. Tasks carry their inputs: a worker that read
the parent's objects would write their reference counts and so copy the parent's memory page by
page. A fork copies no thread but the caller's, so workers only start while the process has no
other thread. ``LEDGER_WORKERS`` sets how many run (0 or 1: none).
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import tempfile
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any, TypeVar

from ledger.bulk import freezes
from ledger.errors import UsageError

if TYPE_CHECKING:
    from concurrent.futures import Future

R = TypeVar("R")

PARALLEL_FROM = 1024  # records to work on before worker processes pay for their start-up
MAX_WORKERS = 8  # each holds its own guard and batch; more rarely pays on one machine's memory
ENV = "LEDGER_WORKERS"


def worker_count() -> int:
    """How many worker processes to run: ``LEDGER_WORKERS`` if set (0 or 1: none), else one per
    processor this process may run on (a container's CPU set, not the host's count), at most
    ``MAX_WORKERS``."""
    given = os.environ.get(ENV, "").strip()
    if given:
        if not given.isdigit():
            raise UsageError(
                f"{ENV}={given!r} is not a whole number; fix: set it to the number of worker "
                "processes (0 or 1: none), or unset it"
            )
        return int(given)
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on every platform
        usable = os.cpu_count() or 1
    return min(usable, MAX_WORKERS)


class Workers:
    """Forked worker processes, all started at once; close them (or leave the ``with``
    block) when the work is done."""

    def __init__(self, count: int) -> None:
        self.count = count
        # What the parent holds at the fork is frozen out of the workers' garbage collections
        # (which would write to every object and so copy every page); each worker collects
        # its own garbage, also when the parent forked while pausing its collector.
        # Imported here: most commands never fork, and these imports are about 30 ms.
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        gc.freeze()
        try:
            self.pool = ProcessPoolExecutor(
                count, mp_context=get_context("fork"), initializer=gc.enable
            )
            # Fork the workers now, while the process has one thread, not at the first task.
            list(self.pool.map(int, range(count)))
        finally:
            if not freezes():  # the command line keeps what it built frozen (ledger.bulk)
                gc.unfreeze()

    def map(self, work: Callable[..., R], *iterables: Iterable[Any]) -> Iterator[R]:
        return self.pool.map(work, *iterables)

    def ordered(self, work: Callable[..., R], tasks: Iterable[tuple[Any, ...]]) -> Iterator[R]:
        """``work(*task)`` for each task, in the tasks' order, with a few tasks in flight at
        a time: ``tasks`` is read lazily, so neither its inputs nor the results pile up."""
        flying: deque[Future[R]] = deque()
        for task in tasks:
            flying.append(self.pool.submit(work, *task))
            if len(flying) > 2 * self.count:
                yield flying.popleft().result()
        while flying:
            yield flying.popleft().result()

    def close(self) -> None:
        self.pool.shutdown()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fork_pool(items: int) -> Workers | None:
    """Worker processes (see ``worker_count``) if ``items`` are many enough to pay for them
    and forking is safe here; None otherwise (the caller works in-process)."""
    count = worker_count()
    if items < PARALLEL_FROM or not can_fork():
        return None
    return Workers(count)


def can_fork() -> bool:
    """Whether a second process may run beside this one: more than one worker allowed, and
    forking is safe (the platform forks, and this process runs no other thread)."""
    if worker_count() < 2:
        return False
    from multiprocessing import get_all_start_methods

    return "fork" in get_all_start_methods() and threading.active_count() == 1


class Background:
    """One forked process doing a part of a command while this one does the rest: ``work``
    writes its output into temporary files, which ``result`` hands back once it is done.

    The child inherits everything this process built (read, never written back) and runs
    with one processor fewer for its own workers, which this process keeps busy. It must not
    use a conversation with another process that it inherited (a git or SQLite handle): the
    parent goes on using it, so ``work`` opens its own."""

    def __init__(self, work: Callable[[list[IO[bytes]]], Any], files: int, workers: int) -> None:
        self.outputs: list[IO[bytes]] = [tempfile.TemporaryFile() for _ in range(files)]  # noqa: SIM115
        self._status = tempfile.TemporaryFile()  # noqa: SIM115
        self._done: int | None = None
        # As for ``Workers``: what exists now stays out of the child's collections, which would
        # otherwise write to every object and copy every page.
        gc.freeze()
        try:
            self.pid = os.fork()
            if self.pid == 0:  # the child: never returns
                self._child(work, workers)
        finally:
            if not freezes():
                gc.unfreeze()

    def _child(self, work: Callable[[list[IO[bytes]]], Any], workers: int) -> None:
        code = 1
        try:
            os.environ[ENV] = str(workers)
            value = work(self.outputs)
            for output in self.outputs:
                output.flush()
            pickle.dump((True, value), self._status)
            code = 0
        except BaseException as exc:
            trace = "".join(traceback.format_exception(exc))
            try:
                pickle.dump((False, (exc, trace)), self._status)
            except Exception:  # an exception that does not pickle: its text does
                pickle.dump((False, (RuntimeError(trace), trace)), self._status)
        finally:
            try:
                self._status.flush()
            finally:
                # No clean-up of the parent's objects (files, connections, the git process):
                # they are the parent's, and it goes on using them.
                os._exit(code)

    def result(self) -> Any:
        """What ``work`` returned, once it has (its outputs read from their start); what it
        raised is raised here."""
        if self._done is None:
            _, self._done = os.waitpid(self.pid, 0)
        self._status.seek(0)
        try:
            ok, value = pickle.load(self._status)
        except (EOFError, pickle.UnpicklingError):
            raise RuntimeError(
                f"the background process of this command ended without a result ({self._done})"
            ) from None
        if not ok:
            error, trace = value
            # Not pickled with it: an exception's own ``__reduce__`` may leave its notes out.
            error.add_note(f"in the background process:\n{trace}")
            raise error
        for output in self.outputs:
            output.seek(0)
        return value

    def close(self) -> None:
        """Stop the child if it still runs, and remove its files."""
        if self._done is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            _, self._done = os.waitpid(self.pid, 0)
        for file in (*self.outputs, self._status):
            file.close()

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fork_background(
    items: int, work: Callable[[list[IO[bytes]]], Any], files: int, siblings: int = 1
) -> Background | None:
    """``work`` in a ``Background`` process if ``items`` are many enough to pay for it and
    there are processors to spare (``worker_count``) and forking is safe here; None otherwise
    (the caller does the work itself, when its turn comes). The processors this one leaves
    are shared among ``siblings`` such processes, for their own workers."""
    count = worker_count()
    if items < PARALLEL_FROM or count < 2:
        return None
    from multiprocessing import get_all_start_methods

    if "fork" not in get_all_start_methods() or threading.active_count() > 1:
        return None
    return Background(work, files, max(1, (count - 1) // siblings))
