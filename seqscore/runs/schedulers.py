"""Where a sharded run's tasks run: this machine's process pool, or Dask.

A scheduler runs one function over many items (one item per shard) and gives
the results back either in order (:meth:`ordered`, for one output stream) or
as each completes (:meth:`completed`, for parts written by the tasks
themselves). Three kinds, named as on the command line (``--scheduler``):

* ``local`` -- a pool of ``workers`` processes on this machine
  (:mod:`seqscore.numerics.parallel`; no dependency beyond seqscore's own);
* ``dask`` -- a ``dask.distributed.LocalCluster`` of ``workers`` processes
  of one thread each, started for the run and stopped after it;
* ``tcp://HOST:PORT`` (any Dask address) -- an existing Dask cluster, whose
  workers must have seqscore installed and see the input files at the same
  paths.

Dask is the optional extra ``seqscore[dask]``, imported only here and only
when asked for. A worker that dies mid-task (killed, out of memory) is
Dask's to handle: its task runs again on another worker, up to Dask's
``distributed.scheduler.allowed-failures`` times, so every task function
here must be safe to run twice (a part file is written to a temporary name
and renamed into place).
"""

from __future__ import annotations

import abc
import contextlib
import gc
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from seqscore.errors import InvalidInputError, MissingExtraError, SchedulerError
from seqscore.numerics.parallel import completed_map, cpu_count, ordered_map

__all__ = [
    "DASK_INSTALL",
    "QUIET_CLUSTER",
    "check_scheduler",
    "import_distributed",
    "open_scheduler",
]

T = TypeVar("T")
R = TypeVar("R")

DASK_INSTALL = "pip install 'seqscore[dask]'"
#: Seconds to wait for a Dask scheduler's address to answer.
CONNECT_TIMEOUT = 10.0
#: Dask settings of the LocalCluster a run starts: no statistical profiler
#: (it samples every thread's stack every 10 ms) and slower health ticks and
#: monitors. On a 2-core machine they take the workers' time from JSON
#: parsing: 40 shards scored in about 1.25x the local pool's time with
#: Dask's defaults, 1.0x-1.1x with these (bench/bench_shards.py). Set the
#: same in a cluster's own Dask configuration for the same effect.
QUIET_CLUSTER = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def check_scheduler(spec: str) -> str:
    """``spec`` if it names a scheduler: ``local``, ``dask`` or an address.

    >>> check_scheduler("tcp://10.0.0.5:8786")
    'tcp://10.0.0.5:8786'
    >>> check_scheduler("cluster")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    seqscore.errors.InvalidInputError: unknown scheduler 'cluster': use local, ...
    """
    scheme, separator, rest = spec.partition("://")
    if spec in ("local", "dask") or (separator and scheme and rest):
        return spec
    raise InvalidInputError(
        f"unknown scheduler {spec!r}: use local, dask or a Dask scheduler's "
        "address (tcp://HOST:PORT)"
    )


def import_distributed():
    """``dask.distributed``, or a :class:`MissingExtraError` saying what to
    install."""
    try:
        import distributed
    except ImportError:
        raise MissingExtraError(
            f"--scheduler dask and tcp:// need Dask: {DASK_INSTALL}"
        ) from None
    return distributed


@contextlib.contextmanager
def open_scheduler(spec: str, workers: int | None = None) -> Iterator[Scheduler]:
    """The scheduler ``spec`` names, for the length of a run.

    ``workers``: processes of the local pool or of the LocalCluster (default:
    one per processor for ``dask``, one for ``local``); an existing cluster
    has the workers it has, so ``workers`` must be None for an address.
    """
    check_scheduler(spec)
    if spec == "local":
        yield LocalScheduler(workers or 1)
        return
    distributed = import_distributed()
    if spec == "dask":
        import dask

        n_workers = workers or cpu_count()
        with dask.config.set(QUIET_CLUSTER):  # passed on to the workers too
            try:
                cluster = distributed.LocalCluster(
                    n_workers=n_workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # no dashboard; HTTP on any port
                    scheduler_kwargs={"dashboard": False},
                    silence_logs=logging.ERROR,
                )
            except (OSError, RuntimeError, TimeoutError) as exc:
                raise SchedulerError(
                    f"could not start a Dask LocalCluster of {n_workers} workers "
                    f"({exc})"
                ) from None
            with cluster, distributed.Client(cluster, set_as_default=False) as client:
                # what the local pool's processes do: the cyclic collector
                # leaves the modules alone during bursts of parsed JSON
                client.run(gc.freeze)
                yield DaskScheduler(client)
        return
    if workers is not None:
        raise InvalidInputError(
            f"{spec}: an existing Dask cluster has the workers it has (start "
            "more with `dask worker`); --workers sizes a local pool or "
            "LocalCluster"
        )
    try:
        client = distributed.Client(spec, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SchedulerError(
            f"cannot reach the Dask scheduler at {spec} ({exc})"
        ) from None
    with client:
        yield DaskScheduler(client)


class Scheduler(abc.ABC):
    """What a sharded run asks of a scheduler."""

    @property
    @abc.abstractmethod
    def workers(self) -> int:
        """How many tasks run at once."""

    @abc.abstractmethod
    def ordered(self, function: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``map(function, items)``, results in order, a few tasks ahead."""

    @abc.abstractmethod
    def completed(
        self, function: Callable[[T], R], items: Iterable[T]
    ) -> Iterator[tuple[int, R]]:
        """``(index, function(item))`` for every item as it completes."""


class LocalScheduler(Scheduler):
    """A pool of processes on this machine (in this process for one)."""

    def __init__(self, workers: int):
        self._workers = workers

    @property
    def workers(self) -> int:
        return self._workers

    def ordered(self, function, items):
        return ordered_map(function, items, self.workers)

    def completed(self, function, items):
        return completed_map(function, items, self.workers)


class DaskScheduler(Scheduler):
    """The workers of a ``dask.distributed`` client's cluster.

    Each item is one task (its key: ``seqscore-<function>-<index>-<run>``),
    run on a worker thread with the item and the function pickled.
    """

    def __init__(self, client):
        self.client = client
        self.run = uuid.uuid4().hex[:8]

    @property
    def workers(self) -> int:
        workers = self.client.scheduler_info()["workers"].values()
        return max(1, sum(w.get("nthreads", 1) for w in workers))

    def _submit(self, function, item, index: int):
        name = getattr(getattr(function, "func", function), "__name__", "task")
        key = f"seqscore-{name}-{index:05d}-{self.run}"
        return self.client.submit(function, item, key=key)

    def ordered(self, function, items):
        window = 2 * self.workers
        pending: deque = deque()
        try:
            for index, item in enumerate(items):
                pending.append((self._submit(function, item, index), item))
                if len(pending) >= window:
                    yield _result(*pending.popleft())
            while pending:
                yield _result(*pending.popleft())
        finally:  # also when the consumer stops early or a task failed
            self.client.cancel([future for future, _ in pending])

    def completed(self, function, items):
        from distributed import as_completed

        items = list(items)
        futures = {self._submit(function, item, i): i for i, item in enumerate(items)}
        try:
            for future in as_completed(futures, loop=self.client.loop):
                index = futures[future]
                yield index, _result(future, items[index])
        finally:
            self.client.cancel(list(futures))


def _result(future, item):
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker as exc:
        name = getattr(item, "name", item)
        raise SchedulerError(
            f"{name}: Dask gave up on this task after the workers running it "
            f"died ({exc})"
        ) from None
