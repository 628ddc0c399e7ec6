"""Where work runs: in this process, a local process pool, or a Dask cluster.

One argument says it everywhere (partition, geocode, backtest): ``scheduler=``

* ``None`` - this machine (``n_jobs`` processes where the caller allows it);
* a :class:`dask.distributed.Client` - that cluster (left open for the caller);
* ``"tcp://host:8786"`` (any Dask address) - connect, run, disconnect;
* ``"local:N"`` - start a :class:`dask.distributed.LocalCluster` of N single-threaded worker
  processes for this call and close it afterwards.

Large objects every task needs (the grid index of a geocode, the events of a backtest) are
passed as ``shared=`` and shipped **once per worker** (``Client.scatter(..., broadcast=True)``,
or a process-pool initializer), never once per task.  Results come back in task order, so a
parallel run returns what the serial run returns.

Dask is optional (``pip install 'gridtools[dask]'``); without it ``scheduler=None`` and
``n_jobs`` work as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager

from gridtools.errors import ParameterError, missing_dependency

__all__ = ["dask_client", "describe", "is_distributed", "map_calls", "map_tasks"]

_SHARED: dict = {}
_MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"
_SPAWN_ENV = "distributed.nanny.pre-spawn-environ."


def is_distributed(scheduler) -> bool:
    """True when *scheduler* names a Dask cluster (anything but ``None`` / ``""``).

    Examples
    --------
    >>> is_distributed(None), is_distributed("local:2")
    (False, True)
    """
    return scheduler is not None and scheduler != ""


def describe(scheduler) -> str:
    """A short label of where work runs, for summaries.

    Examples
    --------
    >>> describe(None), describe("local:2"), describe("tcp://10.0.0.5:8786")
    ('this process', 'LocalCluster(2)', 'tcp://10.0.0.5:8786')
    """
    if not is_distributed(scheduler):
        return "this process"
    if isinstance(scheduler, str):
        workers = _local_workers(scheduler)
        return f"LocalCluster({workers})" if workers else scheduler
    return f"Dask client {getattr(scheduler, 'scheduler', None) and scheduler.scheduler.address}"


def _local_workers(scheduler: str) -> int | None:
    if not scheduler.startswith("local"):
        return None
    count = scheduler.partition(":")[2] or str(os.cpu_count() or 1)
    if not count.isdigit() or int(count) < 1:
        raise ParameterError(
            f"scheduler={scheduler!r}: give 'local:N' with N >= 1 workers, a Dask address such as "
            "'tcp://host:8786', or a dask.distributed.Client.")
    return int(count)


@contextmanager
def dask_client(scheduler) -> Iterator:
    """A :class:`dask.distributed.Client` for *scheduler* (see the module docstring).

    A Client passed in is yielded as is; one made here (an address, ``local:N``) is closed, with
    its LocalCluster, on exit.  ``None`` yields ``None`` (work stays on this machine), so a caller
    running several rounds of :func:`map_tasks` can open the cluster once around them.

    Examples
    --------
    >>> with dask_client("local:2") as client:          # doctest: +SKIP
    ...     client.submit(sum, [1, 2]).result()
    3
    """
    if not is_distributed(scheduler):
        yield None
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise missing_dependency("dask[distributed]", "dask") from exc
    if isinstance(scheduler, Client):
        yield scheduler
        return
    if not isinstance(scheduler, str):
        raise ParameterError(f"scheduler={scheduler!r}: give None, 'local:N', a Dask address or a Client.")
    workers = _local_workers(scheduler)
    if workers:
        import dask

        # processes, one thread each: GEOS, numpy and METIS hold the GIL in places.  Dask starts
        # workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's adaptive mmap
        # threshold: every numpy temporary over 128 kB becomes a fresh mmap whose pages the kernel
        # zeroes again.  Measured on a backtest batch (Toronto Assault, 6 folds): 2.67 s of system
        # CPU instead of 0.13 s, ETAS 3.4x slower.  Unset here unless the user set it.  The
        # statistical profiler (a thread sampling every 10 ms, for the dashboard) is off too.
        config = {"distributed.worker.profile.enabled": False}
        if _MALLOC_TRIM not in os.environ:
            config[_SPAWN_ENV + _MALLOC_TRIM] = None
        with dask.config.set(config), \
                LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise ParameterError(f"scheduler={scheduler!r}: cannot reach a Dask scheduler there ({exc}).") from None
    with client:
        yield client


def map_tasks(fn: Callable, items: Iterable, *, scheduler=None, n_jobs: int | None = None,
              shared: dict | None = None, progress: Callable[[int, int], None] | None = None) -> list:
    """``[fn(item, **shared) for item in items]``, run where *scheduler* / *n_jobs* say.

    Parameters
    ----------
    fn : callable
        A module-level function (picklable) taking one item and the *shared* keywords.
    items : iterable
        One task each.
    scheduler : None, str or dask.distributed.Client
        See the module docstring.
    n_jobs : int, optional
        Without a scheduler: processes of a local pool (None or 1: this process).
    shared : dict, optional
        Keyword arguments every task gets; shipped once per worker.
    progress : callable, optional
        ``progress(done, total)`` after each finished task.

    Returns
    -------
    list
        Results in the order of *items*.

    Examples
    --------
    >>> map_tasks(pow, [1, 2, 3], shared={"exp": 2})
    [1, 4, 9]
    """
    items = list(items)
    shared = shared or {}
    if is_distributed(scheduler):
        return _on_dask(fn, items, scheduler, shared, progress)
    if n_jobs is not None and n_jobs < 0:
        n_jobs = os.cpu_count() or 1
    if n_jobs and n_jobs > 1 and len(items) > 1:
        return _on_pool(fn, items, min(n_jobs, len(items)), shared, progress)
    results = []
    for done, item in enumerate(items, 1):
        results.append(fn(item, **shared))
        if progress:
            progress(done, len(items))
    return results


def map_calls(fn: Callable, items: Iterable, *, scheduler=None, in_flight: int = 8) -> list:
    """``[fn(item, scheduler=...) for item in items]``: many calls that each run tasks themselves.

    On a Dask cluster the calls share one client and up to *in_flight* of them run at once (from
    threads of this process, which only submit and wait), so the tasks of all calls keep the
    workers busy together: 91 small backtests are not 91 rounds of a few tasks each, with idle
    workers at the end of every round.  Without a scheduler the calls run one after the other,
    each given ``scheduler=None``.

    Parameters
    ----------
    fn : callable
        Called as ``fn(item, scheduler=client_or_none)``; it runs its own tasks through
        :func:`map_tasks` with that scheduler.
    items : iterable
    scheduler : None, str or dask.distributed.Client
    in_flight : int, default 8
        Calls at once on a cluster.

    Returns
    -------
    list
        Results in the order of *items*.

    Examples
    --------
    >>> map_calls(lambda x, scheduler: (x, scheduler), [1, 2])
    [(1, None), (2, None)]
    """
    items = list(items)
    if not is_distributed(scheduler) or len(items) <= 1:
        return [fn(item, scheduler=scheduler) for item in items]
    with dask_client(scheduler) as client, ThreadPoolExecutor(max(1, min(in_flight, len(items)))) as pool:
        return list(pool.map(lambda item: fn(item, scheduler=client), items))


def _on_dask(fn, items, scheduler, shared, progress) -> list:
    from dask.distributed import as_completed

    with dask_client(scheduler) as client:
        scattered = {name: client.scatter(value, broadcast=True) for name, value in shared.items()}
        futures = client.map(fn, items, pure=False, **scattered)
        for done, _ in enumerate(as_completed(futures), 1):
            if progress:
                progress(done, len(items))
        return client.gather(futures)


def _install_shared(shared: dict) -> None:
    _SHARED.clear()
    _SHARED.update(shared)


def _call_with_shared(fn, item):
    return fn(item, **_SHARED)


def _on_pool(fn, items, workers, shared, progress) -> list:
    with ProcessPoolExecutor(max_workers=workers, initializer=_install_shared, initargs=(shared,)) as pool:
        futures = [pool.submit(_call_with_shared, fn, item) for item in items]
        results = []
        for done, future in enumerate(futures, 1):
            results.append(future.result())
            if progress:
                progress(done, len(items))
        return results
