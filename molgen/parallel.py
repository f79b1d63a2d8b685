"""The one process pool of molgen: RDKit parsing, metric features and checkpoint sampling.

One meaning of ``n_jobs`` everywhere (:func:`resolve_jobs`): ``None`` or ``1`` runs in this
process (no pool), ``k > 1`` on ``k`` worker processes, ``-1`` on one process per core; anything
else is an error. One start method: ``forkserver`` where the platform has it (Linux, macOS),
``spawn`` elsewhere. Workers are forked from a single-threaded server process, never from the
caller, whose torch/OpenMP threads (or CUDA context) a plain fork would copy in an unusable
state; the server preloads molgen's chemistry and torch once, so a worker starts in milliseconds
after the first. Scripts that use a pool need the usual ``if __name__ == "__main__":`` guard.

Workers run torch on one thread each (the pool already fills the cores). A worker whose
``initializer`` raises does not hang the pool: every task sent to it raises that same error in
the caller.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from typing import Any, TypeVar

__all__ = ["ProcessPool", "resolve_jobs"]

T = TypeVar("T")
R = TypeVar("R")

#: Parts per worker in :meth:`ProcessPool.map`: several even out molecules of uneven cost.
PARTS_PER_JOB = 4
#: Modules the forkserver imports once, so workers inherit them instead of importing them.
#: ``__main__`` too, so functions a script defines can be sent to workers.
_PRELOAD = ["__main__", "torch", "molgen.chem.graph", "molgen.chem.properties"]


def resolve_jobs(n_jobs: int | None) -> int:
    """Number of processes for ``n_jobs``: None or 1 -> 1 (this process), -1 -> every core,
    k > 1 -> k. Raises ValueError for 0, values below -1, bools and non-integers."""
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be None, -1 (all cores) or a positive int, got {n_jobs!r}")
    return (os.cpu_count() or 1) if n_jobs == -1 else n_jobs


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


#: Signals whose Python handlers interrupt the caller (KeyboardInterrupt, the CLI's SIGTERM).
_INTERRUPTIONS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _interruptions_deferred() -> Iterator[None]:
    """Run the block whole: SIGINT and SIGTERM that arrive in it are raised again, to their own
    handlers, once it is done. Outside the main thread (no handler runs there) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {
        signum: signal.signal(signum, lambda signum, frame: received.append(signum))
        for signum in _INTERRUPTIONS
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            # None: a handler not set from Python, which cannot be restored; the default's
            # effect is the closest
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for signum in dict.fromkeys(received):
            signal.raise_signal(signum)


class ProcessPool:
    """A pool of ``resolve_jobs(n_jobs)`` processes, started on first parallel use; with one job
    everything runs in this process and nothing is started.

    :meth:`imap` streams ``fn(item)`` in order with a bounded number of tasks in flight;
    :meth:`map` applies ``fn`` to contiguous parts of a sequence. ``fn`` must be picklable (a
    module-level function or a :func:`functools.partial` of one). ``initializer(*initargs)``
    runs once in each worker (never in this process), e.g. to load a model the tasks share.
    Use as a context manager: leaving it shuts the workers down (leaving on an error or an
    interruption cancels pending tasks and terminates running ones). An interruption that
    comes while a worker starts is raised once that start is done, so that no worker is left
    half-started, unknown to the pool.
    """

    def __init__(
        self,
        n_jobs: int | None = None,
        initializer: Callable[..., object] | None = None,
        initargs: tuple = (),
    ) -> None:
        self.n_jobs = resolve_jobs(n_jobs)
        self._initializer = initializer
        self._initargs = initargs
        self._executor: ProcessPoolExecutor | None = None
        self._others: set[multiprocessing.process.BaseProcess] = set()  # not the pool's

    def __repr__(self) -> str:
        return f"ProcessPool(n_jobs={self.n_jobs}, started={self._executor is not None})"

    def _submit(self, fn: Callable[..., R], *args: Any) -> Future:
        # A submit may start a worker: an interruption inside that start would leave a worker
        # that no record holds, which outlives the pool or prints a traceback at its end.
        with _interruptions_deferred():
            if self._executor is None:
                self._others = set(multiprocessing.active_children())
                self._executor = ProcessPoolExecutor(
                    self.n_jobs,
                    mp_context=_context(),
                    initializer=_init_worker,
                    initargs=(self._initializer, self._initargs),
                )
            return self._executor.submit(_run_task, fn, *args)

    def imap(
        self, fn: Callable[[T], R], items: Iterable[T], *, in_flight: int | None = None
    ) -> Iterator[R]:
        """``fn(item)`` for each item, yielded in order as they complete. At most ``in_flight``
        tasks (default ``2 * n_jobs``) are queued, so memory stays bounded for any number of
        items and ``items`` may be a lazy iterator."""
        if self.n_jobs == 1:
            yield from map(fn, items)
            return
        ahead = 2 * self.n_jobs if in_flight is None else in_flight
        if ahead < 1:
            raise ValueError(f"in_flight must be >= 1, got {ahead}")
        items = iter(items)
        pending = deque(self._submit(fn, item) for item in islice(items, ahead))
        while pending:
            result = pending.popleft().result()
            pending.extend(self._submit(fn, item) for item in islice(items, 1))
            yield result

    def map(
        self, fn: Callable[[Sequence[T]], R], items: Sequence[T], *, min_part: int = 1
    ) -> list[R]:
        """``[fn(part) for part in parts]`` over contiguous parts of ``items`` (in order), so the
        caller joins the results. ``items`` needs ``len`` and slicing. The work is split over
        ``min(n_jobs, len(items) // min_part)`` workers, :data:`PARTS_PER_JOB` parts each; when
        that is one worker, ``fn(items)`` runs here as the only part."""
        jobs = min(self.n_jobs, len(items) // max(min_part, 1))
        if jobs <= 1:
            return [fn(items)]
        n_parts = jobs * PARTS_PER_JOB
        bounds = [len(items) * k // n_parts for k in range(n_parts + 1)]
        futures = [self._submit(fn, items[lo:hi]) for lo, hi in itertools.pairwise(bounds)]
        return [future.result() for future in futures]

    def close(self, cancel: bool = False) -> None:
        """Stop the workers: wait for running tasks, or, when ``cancel``, drop pending tasks and
        terminate the workers, so that an error, Ctrl-C or SIGTERM stops the caller at once,
        however long a task would still run."""
        if self._executor is not None:
            if cancel:
                # ProcessPoolExecutor waits for running tasks and cannot cancel them (Python
                # 3.14 adds terminate_workers). Its workers are the processes started since it
                # was: one whose start an interruption cut short is not in its own records.
                workers = set(multiprocessing.active_children()) - self._others
                for process in workers:
                    process.terminate()
                for process in workers:
                    process.join()
                # A worker terminated while it sent a result leaves half a message in the
                # result pipe, and the executor's manager thread would wait for the rest for
                # ever. With the workers gone, this process holds the pipe's last write end:
                # closing it ends that read (the executor then counts itself broken and stops).
                self._executor._result_queue._writer.close()
            self._executor.shutdown(wait=True, cancel_futures=cancel)
            self._executor = None

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(cancel=exc_type is not None)


# --------------------------------------------------------------------------- in the workers
_init_error: BaseException | None = None


def _init_worker(initializer: Callable[..., object] | None, initargs: tuple) -> None:
    global _init_error
    os.environ["OMP_NUM_THREADS"] = "1"  # for a torch imported later in the worker
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    if initializer is None:
        return
    try:
        initializer(*initargs)
    except BaseException as error:  # raised in the caller by every task, instead of a hang
        _init_error = error


def _run_task(fn: Callable[..., R], *args: Any) -> R:
    if _init_error is not None:
        raise _init_error
    return fn(*args)
