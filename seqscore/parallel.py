"""An ordered, memory-bounded map over worker processes or threads.

JSON parsing holds the GIL, so threads cannot share it out; processes can.
Numpy kernels release the GIL, so threads share them out without pickling
their (large) arguments. :func:`ordered_map` sends items to a pool of either
kind and yields the results in input order, keeping at most ``window`` items
in flight, so a file larger than memory streams through in constant space
(unlike ``Pool.imap``, whose feeder thread reads the whole input ahead).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from typing import TypeVar

__all__ = ["completed_map", "cpu_count", "ordered_map"]

T = TypeVar("T")
R = TypeVar("R")


def cpu_count() -> int:
    """The processors this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


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
    try:
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:  # also when the consumer stops early: drop what is still queued
        pool.shutdown(wait=True, cancel_futures=True)


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
    try:
        futures = {pool.submit(function, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _pool(workers: int, threads: bool):
    if threads:
        return ThreadPoolExecutor(workers, thread_name_prefix="seqscore-map")
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=gc.freeze)
