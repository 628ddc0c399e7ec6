"""Backtest folds as tasks: a process pool and a LocalCluster give the serial metrics table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gridtools import hotspots, io

TORONTO = Path(__file__).resolve().parents[2] / "data" / "toronto_theft_2016_2019.csv.gz"
METHODS = ["naive_4w", "naive_all", "kde", "etas", "gbm", "ensemble"]


@pytest.fixture(scope="module")
def thefts():
    raw = io.read_events(TORONTO)
    raw = raw[(raw["occurrencedate"] >= "2018-06-01") & (raw["occurrencedate"] < "2019-03-01")]
    return hotspots.prepare(raw, time="occurrencedate", cell=250)


def _metrics(result):
    # the metrics, not the wall-clock seconds, must agree
    return result.metrics.drop(columns=[c for c in result.metrics.columns if "second" in c])


def test_pool_equals_serial(thefts):
    ev, cells = thefts
    options = dict(start="2019-01-07", folds=4, horizon_days=7, methods=METHODS, n_boot=50)
    serial = hotspots.backtest(ev, cells, **options)
    pooled = hotspots.backtest(ev, cells, n_jobs=2, **options)
    pd.testing.assert_frame_equal(_metrics(serial), _metrics(pooled))
    pd.testing.assert_frame_equal(serial.summary, pooled.summary)
    assert sorted(serial.metrics["fold"].unique()) == [0, 1, 2, 3]


@pytest.mark.slow
def test_local_cluster_equals_serial(thefts):
    pytest.importorskip("distributed")
    ev, cells = thefts
    options = dict(start="2019-01-07", folds=3, horizon_days=7, methods=["naive_all", "kde", "gbm"], n_boot=50)
    serial = hotspots.backtest(ev, cells, **options)
    on_dask = hotspots.backtest(ev, cells, scheduler="local:2", **options)
    pd.testing.assert_frame_equal(_metrics(serial), _metrics(on_dask))
