"""gridtools.parallel: the one place that says where work runs."""

from __future__ import annotations

import pytest

from gridtools import parallel
from gridtools.errors import ParameterError


def scale(item, factor):
    return item * factor


def test_serial_and_pool_give_the_same_ordered_results():
    items = list(range(12))
    serial = parallel.map_tasks(scale, items, shared={"factor": 3})
    pooled = parallel.map_tasks(scale, items, n_jobs=2, shared={"factor": 3})
    assert serial == pooled == [3 * i for i in items]


def test_progress_counts_every_task():
    seen = []
    parallel.map_tasks(abs, [-1, -2, -3], progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("bad", ["local:0", "local:x"])
def test_bad_local_worker_counts_are_refused(bad):
    with pytest.raises(ParameterError, match="local:N"):
        parallel.describe(bad)


def test_describe():
    assert parallel.describe(None) == "this process"
    assert parallel.describe("local:3") == "LocalCluster(3)"
    assert parallel.describe("tcp://10.1.2.3:8786") == "tcp://10.1.2.3:8786"


def _malloc_trim_and_profiler():
    import os

    import dask

    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), dask.config.get("distributed.worker.profile.enabled")


@pytest.mark.slow
def test_local_cluster_workers_keep_glibc_adaptive_malloc(monkeypatch):
    """Dask's default MALLOC_TRIM_THRESHOLD_ made every numpy temporary a fresh mmap (ETAS 3.4x
    slower on a worker): a cluster gridtools starts leaves it unset, unless the user set it."""
    pytest.importorskip("distributed")
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with parallel.dask_client("local:1") as client:
        assert list(client.run(_malloc_trim_and_profiler).values()) == [(None, False)]
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    with parallel.dask_client("local:1") as client:
        assert list(client.run(_malloc_trim_and_profiler).values()) == [("131072", False)]
