"""Blocking work off the event loop: thread pools with a bounded queue, and a process pool for HTML.

The event loop of a service only parses requests and writes responses; anything that touches a
database, builds a route menu or renders a page runs in a :class:`WorkerPool`.  A pool refuses
work (503 with ``Retry-After``) once ``max_queue`` requests wait for it, so a burst cannot pile
up unbounded memory or latency, and ``/health`` (which touches nothing) answers while every
worker is busy.

Rendering a big page (folium, Jinja, GeoJSON) is pure Python: in a thread it holds the GIL, and
its garbage triggers full collections that stop every thread, the event loop included.  So the
HTML of the heavy pages is made in worker *processes* (:func:`render_pool`, one shared pool per
service process, ``settings.service_render_processes``): the thread prepares plain data, the
process turns it into HTML.

Examples
--------
>>> import asyncio
>>> pool = WorkerPool("demo", threads=1, max_queue=4)
>>> asyncio.run(pool.run(sum, [1, 2, 3]))
6
>>> pool.close()
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from gridtools.service.middleware import ServiceError


def _lower_priority(nice: int) -> None:
    """Runs in each new worker thread: lower its own CPU priority (Linux threads are tasks)."""
    if nice > 0 and hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError:  # not permitted or not supported: keep the default priority
            pass


def import_module(name: str) -> None:
    """Import a module (in a worker); returns nothing, so that a worker process's answer pickles."""
    import importlib

    importlib.import_module(name)


class WorkerPool:
    """A thread pool that refuses new work when ``max_queue`` calls are already waiting or running.

    Parameters
    ----------
    name : str
        Thread name prefix (and the name in the 503 message).
    threads : int
        Worker threads (or processes).  One thread serialises its work (the dispatch state is
        serialised anyway).
    max_queue : int
        Calls admitted at once (running + waiting); the next gets 503.
    nice : int
        Raise the threads' scheduling niceness by this much (Linux; ignored elsewhere), so that
        a long page render yields the CPU to the event loop and ``/health`` stays fast.
    processes : bool
        Worker processes instead of threads (the function and its arguments must pickle).
    """

    def __init__(self, name: str, threads: int, max_queue: int, nice: int = 0, processes: bool = False):
        self.name, self.max_queue, self.size = name, int(max_queue), int(threads)
        if processes:  # spawned, not forked: the service process has threads (and their locks)
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(int(threads), mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_lower_priority, initargs=(int(nice),))
        else:
            self._pool = ThreadPoolExecutor(int(threads), thread_name_prefix=f"gridtools-{name}",
                                            initializer=_lower_priority, initargs=(int(nice),))
        self._admitted = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Calls admitted and not finished."""
        return self._admitted

    async def run(self, fn, *args, **kw):
        """``fn(*args, **kw)`` in a worker thread; 503 :class:`ServiceError` when the queue is full."""
        with self._lock:
            if self._admitted >= self.max_queue:
                raise ServiceError(503, f"the service is busy ({self._admitted} requests waiting for the {self.name} "
                                        f"workers); retry in a few seconds", headers={"Retry-After": "2"})
            self._admitted += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, partial(fn, *args, **kw))
        finally:
            with self._lock:
                self._admitted -= 1

    def preload(self, *modules: str, wait: bool = False) -> None:
        """Start the workers now and import ``modules`` in them (so the first request does not
        pay for starting a process); ``wait``: return only when that is done."""
        futures = [self._pool.submit(import_module, name) for _ in range(self.size) for name in modules]
        if wait:
            for f in futures:
                f.result()

    def close(self) -> None:
        """Stop the threads after the work already admitted."""
        self._pool.shutdown(wait=False, cancel_futures=True)


_RENDER: WorkerPool | None = None
_RENDER_LOCK = threading.Lock()


def render_pool() -> WorkerPool | None:
    """The process pool that turns prepared page data into HTML, shared by every service of this
    process and started on first use (``settings.service_render_processes`` processes at lower
    priority); None when that setting is 0 (render in the calling thread).

    Examples
    --------
    >>> pool = render_pool()                                  # doctest: +SKIP
    >>> html = await pool.run(pages.render_dispatcher, data)  # doctest: +SKIP
    """
    global _RENDER
    from gridtools import settings

    if settings.service_render_processes <= 0:
        return None
    with _RENDER_LOCK:
        if _RENDER is None:
            _RENDER = WorkerPool("render", settings.service_render_processes, settings.service_worker_queue,
                                 nice=10, processes=True)
        return _RENDER
