"""The per-trip lock of the live compliance check (gridtools.dispatch.tracking)."""

from __future__ import annotations

import threading
import time

from gridtools.dispatch import tracking


def test_batches_of_one_trip_run_one_after_the_other_and_leave_no_lock_behind():
    inside, overlaps, order = [0], [], []
    start = threading.Barrier(3)  # the two batches and this thread

    def batch(trip, k):
        start.wait()
        with tracking._trip_lock(trip):
            inside[0] += 1
            overlaps.append(inside[0])
            time.sleep(0.02)
            order.append((trip, k))
            inside[0] -= 1

    threads = [threading.Thread(target=batch, args=("T1", k)) for k in range(2)]
    for t in threads:
        t.start()
    start.wait()
    for t in threads:
        t.join()
    assert max(overlaps) == 1
    assert sorted(order) == [("T1", 0), ("T1", 1)]
    assert tracking._LOCKS == {}


def test_other_trips_are_not_held_up():
    held = threading.Event()
    release = threading.Event()

    def long_batch():
        with tracking._trip_lock("slow"):
            held.set()
            release.wait(5)

    t = threading.Thread(target=long_batch)
    t.start()
    held.wait(5)
    tic = time.perf_counter()
    with tracking._trip_lock("other"):
        waited = time.perf_counter() - tic
    assert "slow" in tracking._LOCKS and "other" not in tracking._LOCKS
    release.set()
    t.join()
    assert waited < 1.0
    assert tracking._LOCKS == {}
