"""Sub-day forecasts and backtests: ``N`` wall-clock windows of ``H`` hours after each cutoff.

:func:`forecast_windows` gives every cell's risk in every window; :func:`backtest_windows`
scores methods over rolling cutoffs, pooling hits over all windows (a 2-hour window holds one
or two accidents, so per-window PAIs are mostly noise; pooled PAI = hits over all windows /
events x area share).  The work of one fold is :func:`run_fold`, a plain function of the
events, a method and a :class:`Fold`, so folds can be mapped in parallel (e.g. as Dask tasks).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from sklearn.base import clone

from gridtools import settings
from gridtools.errors import InputError
from gridtools.hotspots.cells import CellSet
from gridtools.hotspots.estimators import HotspotEstimator
from gridtools.hotspots.events import EventSet, from_day, to_day
from gridtools.hotspots.metrics import rank_cells, window_hits
from gridtools.hotspots.timeofday import SUBDAY_BASELINES, make_subday_estimator, with_known_in_advance
from gridtools.hotspots.windows import check_window_hours, label_frame, require_time_of_day, window_labels, window_starts

__all__ = ["Fold", "WindowForecast", "WindowBacktest", "forecast_windows", "make_folds", "run_fold",
           "backtest_windows", "pooled_summary"]


@dataclass
class WindowForecast:
    """A sub-day forecast.

    Attributes
    ----------
    cells : geopandas.GeoDataFrame
        Every cell: ``cell_id``, ``risk`` (first window), ``risk_per_km2``, ``rank``, ``area_m2``,
        ``risk_total`` (all windows), geometry.
    windows : pandas.DataFrame
        One row per cell and window: ``cell_id``, ``window_start`` ("YYYY-MM-DD HH:MM"), ``risk``.
    risk : ndarray (n_windows, n_cells)
    starts : ndarray of float days
    """

    cells: gpd.GeoDataFrame
    windows: pd.DataFrame
    risk: np.ndarray
    starts: np.ndarray
    params: dict = field(default_factory=dict)


def _estimator(method, hours: float) -> HotspotEstimator:
    return clone(make_subday_estimator(method, hours) if isinstance(method, str) else method)


def forecast_windows(events: EventSet, cells: CellSet, *, cutoff, horizon_hours: float, windows: int,
                     method="profile", crs=None, school_terms=None, weather=None) -> WindowForecast:
    """Risk of every cell in each of *windows* windows of *horizon_hours* after *cutoff*.

    Only events strictly before the cutoff are used (the estimator drops the rest), at minute
    resolution: a forecast made at 05:00 for 07:00-09:00 uses the events up to 04:59.

    Parameters
    ----------
    events, cells
        From :func:`gridtools.hotspots.prepare`; every event must have a time of day.
    cutoff : str or Timestamp
        ``"YYYY-MM-DD HH:MM"`` (wall clock).
    horizon_hours : float
        Window length; must divide a day (1, 2, 3, 4, 6, 8, 12, 24) or be whole days.
    windows : int
        Number of consecutive windows (84 two-hour windows = one week).
    method : str or HotspotEstimator, default "profile"
        A name of :func:`gridtools.hotspots.timeofday.subday_methods` or an estimator.
    crs : CRS-like, optional
        Output CRS (default: the events' input CRS).
    school_terms : SchoolTerms, optional
        School calendar (:func:`gridtools.hotspots.calendar.read_school_terms`), used by
        ``profile`` and ``gbm``; must cover the forecast windows.
    weather : ForecastWeather, optional
        Forecast-weather table (:func:`gridtools.hotspots.calendar.read_forecast_weather`), used by
        ``gbm``; must cover the history and every forecast window.

    Returns
    -------
    WindowForecast

    Examples
    --------
    >>> import shapely
    >>> g = gpd.GeoDataFrame({"t": ["2020-01-01 07:10", "2020-01-02 08:20"]},
    ...                      geometry=shapely.points([[0, 0], [450, 10]]), crs=32617)
    >>> from gridtools.hotspots import prepare
    >>> ev, cs = prepare(g, time="t", cell=200)
    >>> f = forecast_windows(ev, cs, cutoff="2020-01-03 06:00", horizon_hours=2, windows=3, method="naive_hour")
    >>> f.windows["window_start"].unique().tolist()
    ['2020-01-03 06:00', '2020-01-03 08:00', '2020-01-03 10:00']
    """
    require_time_of_day(events)
    hours = check_window_hours(horizon_hours)
    starts = window_starts(cutoff, hours, windows)
    est = _with_calendar(_estimator(method, hours), method, school_terms, weather)
    est = est.fit(events, cells, from_day(starts[0]))
    risk = np.asarray(est.predict_windows(starts, hours), dtype=float)
    out = cells.cells.copy()
    out["risk"] = risk[0]
    out["risk_per_km2"] = risk[0] / np.maximum(cells.area / 1e6, 1e-12)
    rank = np.empty(len(cells), dtype=np.int64)
    rank[rank_cells(risk[0], cells.area)] = np.arange(1, len(cells) + 1)
    out["rank"] = rank
    out["risk_total"] = risk.sum(axis=0)
    out = out[["cell_id", "risk", "risk_per_km2", "rank", "area_m2", "risk_total", "geometry"]]
    target = crs if crs is not None else events.report.get("input_crs")
    if target is not None:
        out = out.to_crs(target)
    table = pd.DataFrame({
        "cell_id": np.tile(cells.cells["cell_id"].to_numpy(), len(starts)),
        "window_start": np.repeat(window_labels(starts), len(cells)),
        "risk": risk.ravel(),
    })
    params = {"method": method if isinstance(method, str) else type(method).__name__,
              "cutoff": window_labels(starts[:1])[0], "horizon_hours": hours, "windows": int(windows),
              "used_events": int((events.t < starts[0]).sum())}
    out.attrs = dict(params)
    return WindowForecast(out, table, risk, starts, params)


def _with_calendar(est: HotspotEstimator, name, school_terms, weather) -> HotspotEstimator:
    """*est* given the known-in-advance covariates, refused if it can use none of those given."""
    out = with_known_in_advance(est, school_terms, weather)
    if out is None:
        given = " and ".join(k for k, v in (("school_terms=...", school_terms), ("weather=...", weather)) if v is not None)
        label = name if isinstance(name, str) else type(est).__name__
        raise InputError(f"method {label!r} cannot use {given}: school terms are used by 'profile' and 'gbm', "
                         "forecast weather by 'gbm'. Choose one of those, or leave the covariate out.")
    return out


@dataclass(frozen=True)
class Fold:
    """One cutoff of a sub-day backtest: ``windows`` windows of ``hours`` from ``cutoff`` (days)."""

    index: int
    cutoff: float
    hours: float
    windows: int
    coverages: tuple


def make_folds(start, folds: int, step_days: float, hours: float, windows: int, coverages=None) -> list[Fold]:
    """Rolling cutoffs ``start + k * step_days``, each with its windows.

    Examples
    --------
    >>> [f.index for f in make_folds("2019-01-07", 3, 7, 2, 84)]
    [0, 1, 2]
    """
    if not isinstance(folds, (int, np.integer)) or folds < 1:
        raise InputError(f"folds must be an integer >= 1, not {folds!r}.")
    hours = check_window_hours(hours)
    if not (isinstance(step_days, (int, float, np.integer, np.floating)) and step_days > 0):
        raise InputError(f"step_days must be a positive number of days, not {step_days!r}.")
    coverages = tuple(settings.hotspot_coverages if coverages is None else coverages)
    c0 = to_day(start)
    return [Fold(k, c0 + k * float(step_days), hours, int(windows), coverages) for k in range(int(folds))]


def run_fold(events: EventSet, cells: CellSet, method: HotspotEstimator, fold: Fold) -> pd.DataFrame:
    """Fit *method* at the fold's cutoff and score it on each window: one row per window and coverage.

    Columns: ``fold, window, window_start, hour, day_type, coverage, hits, n_events, oracle,
    area_share, seconds`` (the fold's fit + predict time, on every row of the fold).
    """
    tic = time.perf_counter()
    starts = window_starts(from_day(fold.cutoff), fold.hours, fold.windows)
    risk = clone(method).fit(events, cells, fold.cutoff).predict_windows(starts, fold.hours)
    seconds = time.perf_counter() - tic
    ahead = events.between(starts[0], starts[-1] + fold.hours / 24.0)
    which = np.floor((ahead.t - starts[0]) * 24.0 / fold.hours + 1e-9).astype(np.int64)
    actual = np.bincount(which * len(cells) + ahead.unit, minlength=len(starts) * len(cells))
    m = window_hits(risk, cells.area, actual.reshape(len(starts), len(cells)), fold.coverages,
                    random_state=fold.index)
    labels = label_frame(starts, fold.hours)
    parts = []
    for p in fold.coverages:
        part = labels.copy()
        part["coverage"] = p
        part["hits"], part["n_events"] = m["hits"][p], m["n_events"]
        part["oracle"], part["area_share"] = m["oracle"][p], m["area_share"][p]
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "fold", fold.index)
    out["seconds"] = seconds
    return out


@dataclass
class WindowBacktest:
    """Per-window scores of every method, their pooled summary and breakdown by hour of day."""

    windows: pd.DataFrame
    summary: pd.DataFrame
    by_hour: pd.DataFrame
    seconds: dict
    params: dict

    def pai_table(self, coverage: float = 0.02) -> pd.DataFrame:
        """Pooled PAI per method at one coverage, best first."""
        s = self.summary[np.isclose(self.summary["coverage"], coverage)]
        return s.sort_values("pai", ascending=False).reset_index(drop=True)

    def best_method(self, coverage: float = 0.02) -> str:
        """The method with the highest pooled PAI at *coverage*."""
        return str(self.pai_table(coverage)["method"].iloc[0])

    def save(self, folder) -> Path:
        """Write ``windows.csv``, ``summary.csv``, ``by_hour.csv`` and ``summary.json`` to *folder*."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.windows.to_csv(folder / "windows.csv", index=False)
        self.summary.to_csv(folder / "summary.csv", index=False)
        self.by_hour.to_csv(folder / "by_hour.csv", index=False)
        (folder / "summary.json").write_text(json.dumps(
            {"params": self.params, "seconds": self.seconds,
             "summary": json.loads(self.summary.to_json(orient="records"))}, indent=2, default=str))
        return folder


def backtest_windows(events: EventSet, cells: CellSet, *, start, folds: int, horizon_hours: float, windows: int,
                     step_days: float | None = None, methods=None, coverages=None, progress=None,
                     n_boot: int = 2000, mapper=map, school_terms=None, weather=None) -> WindowBacktest:
    """Rolling-cutoff backtest of sub-day forecasts, the naive time-of-day baselines always included.

    Parameters
    ----------
    events, cells
        From :func:`gridtools.hotspots.prepare`.
    start : str
        First cutoff (``"YYYY-MM-DD HH:MM"``).
    folds : int
        Number of cutoffs.
    horizon_hours, windows : float, int
        Each cutoff forecasts *windows* windows of *horizon_hours*.
    step_days : float, optional
        Days between cutoffs (default: the windows' total length, so they do not overlap).
    methods : list of str or dict name -> estimator, optional
        Default: every method of :func:`~gridtools.hotspots.timeofday.subday_methods`.
    coverages : sequence of float, default ``settings.hotspot_coverages``
    progress : callable(stage, done, total), optional
    n_boot : int
        Bootstrap resamples of the intervals.
    mapper : callable, default :func:`map`
        ``mapper(function, folds)``: swap in a parallel map (e.g. a Dask client's) to run folds
        concurrently; each call is :func:`run_fold` on one fold.
    school_terms, weather : optional
        Known-in-advance covariates (see :func:`forecast_windows`), given to every method that
        can use them (the naive baselines never do); refused if no method can.

    Returns
    -------
    WindowBacktest
    """
    from gridtools.hotspots.timeofday import subday_methods

    require_time_of_day(events, what="a sub-day backtest")
    hours = check_window_hours(horizon_hours)
    step = float(step_days) if step_days is not None else hours * int(windows) / 24.0
    plan = make_folds(start, folds, step, hours, windows, coverages)
    _check_span(events, plan)
    names = list(subday_methods(hours)) if methods is None else methods
    estimators = dict(names) if isinstance(names, dict) else {m: make_subday_estimator(m, hours) for m in names}
    if school_terms is not None or weather is not None:
        used = {n: with_known_in_advance(e, school_terms, weather) for n, e in estimators.items()}
        if all(e is None for e in used.values()):
            _with_calendar(next(iter(estimators.values())), ", ".join(estimators), school_terms, weather)
        estimators = {n: used[n] if used[n] is not None else e for n, e in estimators.items()}
    for b in SUBDAY_BASELINES:
        estimators.setdefault(b, make_subday_estimator(b, hours))
    frames, seconds = [], {}
    for i, (name, est) in enumerate(estimators.items()):
        parts = list(mapper(lambda f, est=est: run_fold(events, cells, est, f), plan))
        frame = pd.concat(parts, ignore_index=True)
        frame.insert(0, "method", name)
        seconds[name] = round(float(frame.groupby("fold")["seconds"].first().sum()), 3)
        frames.append(frame.drop(columns="seconds"))
        if progress is not None:
            progress("methods", i + 1, len(estimators))
    scores = pd.concat(frames, ignore_index=True)
    params = {"start": window_labels([plan[0].cutoff])[0], "folds": int(folds), "step_days": step,
              "horizon_hours": hours, "windows": int(windows), "n_cells": len(cells), "n_events": int(len(events)),
              "methods": {n: repr(e) for n, e in estimators.items()}, "coverages": list(plan[0].coverages),
              "fold": asdict(plan[0]) | {"cutoff": window_labels([plan[0].cutoff])[0]}}
    if cells.kind == "square":
        params["cell"] = f"{cells.pixel:g} m"
    return WindowBacktest(scores, pooled_summary(scores, n_boot=n_boot), by_hour(scores), seconds, params)


def _check_span(events: EventSet, plan: list[Fold]) -> None:
    first, last = plan[0], plan[-1]
    if len(events) == 0 or events.t[0] >= first.cutoff:
        raise InputError(f"the first cutoff {window_labels([first.cutoff])[0]} is not after the first event: "
                         "there is no history to learn from. Choose a later start=...")
    end = last.cutoff + last.hours * last.windows / 24.0
    if end > np.floor(events.t[-1]) + 1 + 1e-9:
        raise InputError(f"the last fold's windows run to {window_labels([end])[0]}, past the last event "
                         f"({window_labels([events.t[-1]])[0]}); use fewer folds or an earlier start=...")


def _pai(hits: np.ndarray, exposure: np.ndarray) -> np.ndarray:
    return np.divide(hits, exposure, out=np.full(np.shape(hits), np.nan), where=np.asarray(exposure) > 0)


def pooled_summary(scores: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Pooled hit rate, PAI and PEI per method and coverage, and the gain over the best naive baseline.

    Pooled over windows: ``pai = sum(hits) / sum(n_events x area_share)``.  The interval of the
    gain resamples whole folds in moving blocks (about n^(1/3) consecutive folds), so it keeps
    the serial correlation of neighbouring weeks.
    """
    s = scores.assign(expected=scores["n_events"] * scores["area_share"])
    per_fold = s.groupby(["coverage", "method", "fold"])[["hits", "n_events", "oracle", "expected"]].sum()
    rng = np.random.default_rng(seed)
    rows = []
    for cov, g in per_fold.groupby(level="coverage"):
        g = g.droplevel("coverage")
        hits = g["hits"].unstack("fold")
        expected = g["expected"].unstack("fold")
        pai = pd.Series(_pai(hits.sum(axis=1).to_numpy(), expected.sum(axis=1).to_numpy()), index=hits.index)
        naive = [m for m in hits.index if str(m).startswith("naive")]
        best = pai[naive].idxmax()
        n = hits.shape[1]
        block = max(1, int(round(n ** (1 / 3))))
        starts = rng.integers(0, n - block + 1, size=(n_boot, int(np.ceil(n / block))))
        idx = (starts[:, :, None] + np.arange(block)).reshape(n_boot, -1)[:, :n]
        boot = {m: _pai(hits.loc[m].to_numpy()[idx].sum(axis=1), expected.loc[m].to_numpy()[idx].sum(axis=1))
                for m in hits.index}
        for m in hits.index:
            gm = g.xs(m, level="method")
            rel = boot[m] / boot[best] - 1
            rows.append({
                "method": m, "coverage": cov, "folds": n, "windows": int(len(s[(s["method"] == m) & (s["coverage"] == cov)])),
                "events": float(gm["n_events"].sum()), "hit_rate": float(gm["hits"].sum() / gm["n_events"].sum()),
                "pai": float(pai[m]),
                "pai_ci_low": float(np.nanquantile(boot[m], 0.025)), "pai_ci_high": float(np.nanquantile(boot[m], 0.975)),
                "pei": float(gm["hits"].sum() / max(gm["oracle"].sum(), 1e-12)), "best_naive": best,
                "gain_vs_best_naive": float(pai[m] / pai[best] - 1),
                "gain_ci_low": float(np.nanquantile(rel, 0.025)), "gain_ci_high": float(np.nanquantile(rel, 0.975)),
            })
    return pd.DataFrame(rows)


def by_hour(scores: pd.DataFrame) -> pd.DataFrame:
    """Pooled PAI per method, coverage and hour of day of the window start (where each method gains)."""
    s = scores.assign(expected=scores["n_events"] * scores["area_share"])
    g = s.groupby(["method", "coverage", "hour"])[["hits", "n_events", "expected"]].sum().reset_index()
    g["pai"] = _pai(g["hits"].to_numpy(), g["expected"].to_numpy())
    return g
