"""Backtest folds as tasks: a process pool and a LocalCluster give the serial metrics table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridtools import hotspots, io
from gridtools.errors import InputError

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


def test_gbm_refit_days_one_model_per_period_same_forecast_cold_or_warm(thefts):
    """GBM(refit_days=28): cutoffs in one refit period share one model; forecasts do not depend
    on whether that model was kept from an earlier cutoff (so any batching gives the same table)."""
    from gridtools.hotspots import boosting
    from gridtools.hotspots.estimators import GBM

    ev, cells = thefts
    anchor = np.floor(hotspots.to_day("2019-01-07") / 28) * 28
    cutoffs = [anchor + 1, anchor + 8, anchor + 29]  # two in one refit period, one in the next
    boosting.MODELS.clear()
    warm = [GBM(refit_days=28).fit(ev, cells, c).predict(7) for c in cutoffs]
    assert len(boosting.MODELS) == 2
    boosting.MODELS.clear()
    np.testing.assert_array_equal(GBM(refit_days=28).fit(ev, cells, cutoffs[1]).predict(7), warm[1])
    assert not np.array_equal(warm[0], warm[1])  # the same trees, fed each cutoff's features
    every = GBM().fit(ev, cells, cutoffs[1]).predict(7)  # trained at the cutoff itself
    assert not np.array_equal(every, warm[1]) and np.corrcoef(every, warm[1])[0, 1] > 0.9


def test_fold_batches_cover_every_fold_once():
    from gridtools.hotspots.backtesting import fold_batches

    for folds in (1, 7, 52, 53):
        for parallel_run in (False, True):
            batches = fold_batches(folds, parallel_run)
            assert [k for b in batches for k in b] == list(range(folds))
    assert len(fold_batches(52, True)) == 13 and len(fold_batches(52, False)) == 52


def test_parallel_batches_never_straddle_a_refit_date():
    """With GBM(refit_days=28) a batch stays inside one refit period, so each refit model is
    trained by one worker once (batches that straddled one trained two models each)."""
    from gridtools.hotspots.backtesting import fold_batches

    c0 = hotspots.to_day("2020-01-06")  # 11 days into a 28-day period
    periods = np.floor((c0 + 7.0 * np.arange(52)) / 28)
    batches = fold_batches(52, True, periods=periods)
    assert [k for b in batches for k in b] == list(range(52))
    assert all(len({periods[k] for k in b}) == 1 and len(b) <= 4 for b in batches)
    assert len(batches) == len(np.unique(periods))  # one task per refit model
    unaligned = fold_batches(52, True)
    assert sum(len({periods[k] for k in b}) for b in unaligned) > len(np.unique(periods))


def _two_categories(ev):
    label = np.random.default_rng(0).integers(0, 2, len(ev))
    return {"odd": ev.take(label == 1), "even": ev.take(label == 0)}


def test_backtest_categories_gives_each_category_its_own_backtest(thefts):
    ev, cells = thefts
    options = dict(start="2019-01-07", folds=2, horizon_days=7, methods=["naive_all", "kde"], n_boot=50)
    by_category = _two_categories(ev)
    results = hotspots.backtest_categories(by_category, cells, **options)
    assert list(results) == ["odd", "even"]
    for name, part in by_category.items():
        pd.testing.assert_frame_equal(_metrics(results[name]), _metrics(hotspots.backtest(part, cells, **options)))
    assert results["odd"].params["n_events"] + results["even"].params["n_events"] == len(ev)


def test_backtest_categories_names_the_category_a_bad_backtest_belongs_to(thefts):
    ev, cells = thefts
    late = ev.take(ev.t >= hotspots.to_day("2019-01-10"))
    with pytest.raises(InputError, match="category 'late'.*no history"):
        hotspots.backtest_categories({"late": late}, cells, start="2019-01-07", folds=1, horizon_days=7,
                                     methods=["naive_all"])


@pytest.mark.slow
def test_backtest_categories_in_flight_together_on_a_local_cluster_equal_serial(thefts):
    pytest.importorskip("distributed")
    ev, cells = thefts
    options = dict(start="2019-01-07", folds=3, horizon_days=7, methods=["naive_all", "kde", "gbm"], n_boot=50)
    by_category = _two_categories(ev)
    serial = hotspots.backtest_categories(by_category, cells, **options)
    on_dask = hotspots.backtest_categories(by_category, cells, scheduler="local:2", **options)
    for name in by_category:
        pd.testing.assert_frame_equal(_metrics(serial[name]), _metrics(on_dask[name]))
