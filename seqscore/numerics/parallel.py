"""Every way seqscore spreads work: one module for processes and threads.

Schedulers for three kinds of work:

- :func:`map_row_spans` cuts a block of rows (logits, beams) into one span
  per core and runs a function on each, this thread taking the first span
  and a pool of threads that lives as long as the process the rest. Numpy
  kernels and compiled code release the GIL, so threads share them out
  without pickling their (large) arguments, and many small calls do not pay
  for starting threads. The token kernel, the decoders and beam selection
  use it. :func:`map_dealt` deals many small items to the same threads one
  at a time instead, so that a core another process takes costs only its
  share (a model's output layer, in slices of the vocabulary).
- :func:`ordered_map` sends a stream of items to a pool of processes (or
  threads) and yields the results in input order, keeping at most
  ``window`` items in flight, so a file larger than memory streams through
  in constant space (unlike ``Pool.imap``, whose feeder thread reads the
  whole input ahead). JSON parsing holds the GIL, so threads cannot share it
  out; processes can. :func:`completed_map` runs a few hundred small items
  (file names) and yields each result as it completes.

Their thread pools are separate on purpose: an :func:`ordered_map` task may
call the kernel, whose :func:`map_row_spans` would wait on a pool that its
own caller's task occupies.

A pool's processes never outlive the run that started them: each asks the
kernel to kill it when its parent dies (``PR_SET_PDEATHSIG`` on Linux; a
thread that watches the parent elsewhere), so a ``kill -9`` of the parent
leaves no worker writing shards or hanging on its queue; and a map that
stops before its end (an error, an interrupt, a consumer that gives up)
kills the work in flight instead of waiting for it.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import itertools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from typing import TypeVar

from seqscore.errors import InvalidInputError

__all__ = [
    "completed_map",
    "cpu_count",
    "map_dealt",
    "map_row_spans",
    "ordered_map",
]

T = TypeVar("T")
R = TypeVar("R")

#: Below this many entries a row block is one span: the thread hand-off
#: would cost more than it saves.
PARALLEL_MIN_ELEMENTS = 1 << 20


def cpu_count() -> int:
    """The processors this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def map_row_spans(
    fn,
    n_rows: int,
    n_cols: int,
    *,
    workers: int | None = None,
    min_elements: int = PARALLEL_MIN_ELEMENTS,
):
    """``[fn(lo, hi), ...]`` over consecutive spans covering ``range(n_rows)``.

    The spans go to different threads (one per core unless ``workers`` says
    otherwise) when the block holds at least ``min_elements`` entries (the
    default suits one numpy pass over them); a smaller block is one span,
    as thread hand-offs would cost more than they save. ``fn`` should spend
    its time in numpy calls or compiled code that release the GIL. This
    thread takes the first span itself; the others go to a pool that lives
    as long as the process, so that many small calls do not pay for
    starting threads. Results come back in span order.

    >>> map_row_spans(lambda lo, hi: (lo, hi), 5, 3)
    [(0, 5)]
    """
    if n_rows == 0:
        return []
    if workers is not None:
        workers = _worker_count(workers)  # a bad count is an error at any size
    if n_rows * n_cols < min_elements or n_rows < 2:
        return [fn(0, n_rows)]  # before asking the OS for the core count
    if workers is None:
        workers = cpu_count()
    if workers == 1:
        return [fn(0, n_rows)]
    bounds = [n_rows * i // workers for i in range(workers + 1)]
    spans = [(lo, hi) for lo, hi in itertools.pairwise(bounds) if hi > lo]
    pool = _span_pool(workers - 1)
    futures = [pool.submit(fn, lo, hi) for lo, hi in spans[1:]]
    try:
        first = fn(*spans[0])
    finally:
        done = [future.result() for future in futures]  # re-raises the first error
    return [first, *done]


def map_dealt(fn, items: Sequence, *, workers: int | None = None) -> list:
    """``[fn(item) for item in items]``, the items dealt one at a time to
    threads (one per core unless ``workers`` says otherwise, this one
    among them) as each finishes its last.

    Where :func:`map_row_spans` gives each thread an equal span, this
    suits many small, equal items on cores that may be shared: a thread
    whose core another process takes simply gets fewer items, where a
    fixed split would wait for it (and where one parallel call per item,
    each with its own barrier, would wait at every barrier). ``fn`` should
    release the GIL for most of its time. Results come back in item order.

    >>> map_dealt(lambda x: x * x, [1, 2, 3])
    [1, 4, 9]
    """
    workers = min(_worker_count(workers), len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    results: list = [None] * len(items)
    dealt = itertools.count()  # next() of a count is atomic under the GIL

    def take() -> None:
        while (index := next(dealt)) < len(items):
            results[index] = fn(items[index])

    futures = [_span_pool(workers - 1).submit(take) for _ in range(workers - 1)]
    try:
        take()
    finally:
        for future in futures:
            future.result()  # re-raises the first error
    return results


@functools.cache
def _span_pool(threads: int) -> ThreadPoolExecutor:
    """The spans' threads, started once per size and kept for the process."""
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="seqscore")


def _worker_count(workers: int | None) -> int:
    if workers is None:
        return cpu_count()
    if int(workers) < 1:
        raise InvalidInputError(f"workers must be >= 1, got {workers}")
    return int(workers)


def ordered_map(
    function: Callable[[T], R],
    items: Iterable[T],
    workers: int,
    window: int = 0,
    *,
    threads: bool = False,
) -> Iterator[R]:
    """``map(function, items)`` on ``workers`` processes, results in order.

    With ``workers <= 1`` it is plain ``map`` in this process. ``items`` is
    consumed in this thread, in order. Processes: ``function`` must be
    picklable (a module-level function or a ``functools.partial`` of one);
    they are started with ``spawn``, so no lock or thread of this process is
    inherited half-held. ``threads=True``: worker threads instead, for
    functions that spend their time in numpy calls.

    >>> list(ordered_map(abs, [-3, 2, -1], workers=1))
    [3, 2, 1]
    """
    if workers <= 1:
        yield from map(function, items)
        return
    window = window or 2 * workers
    pool = _pool(workers, threads)
    pending: deque = deque()
    finished = False
    try:
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
        finished = True
    finally:  # also when the consumer stops early: drop what is still queued
        _close(pool, finished)


def completed_map(
    function: Callable[[T], R], items: Iterable[T], workers: int
) -> Iterator[tuple[int, R]]:
    """``(index, function(item))`` for every item, as each one completes.

    Every item is submitted at once (for a few hundred small ones, such as
    file names), so a slow item holds up nothing behind it. With
    ``workers <= 1``, in this process and in order. When a call raises, the
    items not yet started are dropped and the error is raised here.

    >>> sorted(completed_map(abs, [-3, 2], workers=1))
    [(0, 3), (1, 2)]
    """
    if workers <= 1:
        for index, item in enumerate(items):
            yield index, function(item)
        return
    pool = _pool(workers, threads=False)
    finished = False
    try:
        futures = {pool.submit(function, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            yield futures[future], future.result()
        finished = True
    finally:
        _close(pool, finished)


def _pool(workers: int, threads: bool) -> ThreadPoolExecutor | ProcessPoolExecutor:
    if threads:
        return ThreadPoolExecutor(workers, thread_name_prefix="seqscore-map")
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
    )


def _close(pool: ThreadPoolExecutor | ProcessPoolExecutor, finished: bool) -> None:
    """Shut ``pool`` down. A map that did not finish also kills the processes
    still working: their results are wanted by no one, and what they would
    go on writing (a shard's part) would race a ``--resume``. Threads cannot
    be killed; they are waited for."""
    if finished or isinstance(pool, ThreadPoolExecutor):
        pool.shutdown(wait=True, cancel_futures=True)
        return
    # the executor keeps its processes by pid; Python 3.14's kill_workers()
    # does the same with a public name
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()
    for process in processes:
        process.join()


def _start_worker(parent: int) -> None:
    """A pool process's first step: tie its life to ``parent``'s, then keep
    the cyclic garbage collector off what it imported."""
    if not _ask_to_die_with_parent():
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the request took hold
        os._exit(1)
    gc.freeze()


#: prctl(2) option: the signal this process gets when its parent dies.
_PR_SET_PDEATHSIG = 1


def _ask_to_die_with_parent() -> bool:
    """Have the kernel send SIGKILL when the parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    return prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0


def _watch_parent(parent: int, every: float = 0.5) -> None:
    """Where the kernel cannot be asked: end this process once ``parent`` is
    gone (it is re-parented, so ``getppid`` changes)."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)
