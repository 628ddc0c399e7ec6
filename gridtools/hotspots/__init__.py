"""Theft hotspot forecasts per cell or management grid, with honest backtests.

Typical use::

    from gridtools import io, hotspots

    raw = io.read_events("thefts.csv.gz")                       # missing coordinates counted
    events, cells = hotspots.prepare(raw, time="occurrencedate", cell=200,
                                     category_col="MCI", categories=["Auto Theft"])
    top = hotspots.forecast(events, cells, cutoff="2019-06-03", horizon_days=7, method="ensemble")
    result = hotspots.backtest(events, cells, start="2019-01-07", folds=52, horizon_days=7)
    result.pai_table(0.02)
    week = hotspots.forecast_windows(events, cells, cutoff="2019-06-03 05:00", horizon_hours=2, windows=84)

See ``docs/hotspots.md`` for the metrics' definitions and the published figures to compare with.
"""

from __future__ import annotations

from gridtools.hotspots.backtesting import BacktestResult, backtest, backtest_categories, summarize
from gridtools.hotspots.cells import CellSet, assign_events, point_density, square_cells, study_area, unit_cells
from gridtools.hotspots.estimators import (
    BASELINES,
    ETAS,
    GBM,
    KDE,
    METHODS,
    Ensemble,
    HotspotEstimator,
    NaiveCounts,
    Prospective,
    SmoothedRate,
    make_estimator,
    with_covariates,
)
from gridtools.hotspots.events import EventSet, from_day, prepare_events, to_day
from gridtools.hotspots.forecasting import forecast, prepare
from gridtools.hotspots.metrics import hit_metrics, rank_cells
from gridtools.hotspots.patrol import flagged_cells, patrol_areas, window_patrol_areas
from gridtools.hotspots.segments import segment_units
from gridtools.hotspots.subday import WindowBacktest, WindowForecast, backtest_windows, forecast_windows
from gridtools.hotspots.calendar import ForecastWeather, SchoolTerms, read_forecast_weather, read_school_terms
from gridtools.hotspots.subday_gbm import SlotGBM
from gridtools.hotspots.sun import darkness
from gridtools.hotspots.timeofday import HourBinCounts, RankBlend, TimeProfile, make_subday_estimator

__all__ = [
    "prepare",
    "forecast",
    "backtest",
    "backtest_categories",
    "summarize",
    "BacktestResult",
    "EventSet",
    "CellSet",
    "prepare_events",
    "square_cells",
    "unit_cells",
    "assign_events",
    "study_area",
    "hit_metrics",
    "flagged_cells",
    "patrol_areas",
    "window_patrol_areas",
    "rank_cells",
    "HotspotEstimator",
    "NaiveCounts",
    "SmoothedRate",
    "KDE",
    "Prospective",
    "ETAS",
    "GBM",
    "Ensemble",
    "METHODS",
    "BASELINES",
    "make_estimator",
    "with_covariates",
    "point_density",
    "to_day",
    "from_day",
    "forecast_windows",
    "backtest_windows",
    "WindowForecast",
    "WindowBacktest",
    "HourBinCounts",
    "TimeProfile",
    "make_subday_estimator",
    "SlotGBM",
    "RankBlend",
    "SchoolTerms",
    "ForecastWeather",
    "read_school_terms",
    "read_forecast_weather",
    "darkness",
    "segment_units",
]
