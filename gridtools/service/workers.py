"""Blocking work off the event loop: thread pools with a bounded queue.

The event loop of a service only parses requests and writes responses; anything that touches a
database, builds a route menu or renders a page runs in a :class:`WorkerPool`.  A pool refuses
work (503 with ``Retry-After``) once ``max_queue`` requests wait for it, so a burst cannot pile
up unbounded memory or latency, and ``/health`` (which touches nothing) answers while every
worker is busy.

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


class WorkerPool:
    """A thread pool that refuses new work when ``max_queue`` calls are already waiting or running.

    Parameters
    ----------
    name : str
        Thread name prefix (and the name in the 503 message).
    threads : int
        Worker threads.  One thread serialises its work (the dispatch state is serialised anyway).
    max_queue : int
        Calls admitted at once (running + waiting); the next gets 503.
    nice : int
        Raise the threads' scheduling niceness by this much (Linux; ignored elsewhere), so that
        a long page render yields the CPU to the event loop and ``/health`` stays fast.
    """

    def __init__(self, name: str, threads: int, max_queue: int, nice: int = 0):
        self.name, self.max_queue = name, int(max_queue)
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

    def close(self) -> None:
        """Stop the threads after the work already admitted."""
        self._pool.shutdown(wait=False, cancel_futures=True)
