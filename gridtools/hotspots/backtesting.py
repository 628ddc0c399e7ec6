"""Rolling-origin backtests: every method, every baseline, the same folds.

Fold ``k`` has cutoff ``start + k * step`` and forecasts ``[cutoff, cutoff + horizon)``; each
method is fitted on the events strictly before the cutoff (the estimator itself drops the rest)
and scored with :func:`gridtools.hotspots.metrics.hit_metrics` against the events of the
horizon.  The summary gives, per method and coverage, the mean over folds, the standard
deviation across folds and a moving-block bootstrap 95% interval of the mean, and the paired
per-fold difference from the best naive baseline.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

from gridtools import parallel, settings
from gridtools.errors import InputError
from gridtools.hotspots.cells import CellSet
from gridtools.hotspots.estimators import (
    BASELINES,
    METHODS,
    Ensemble,
    HotspotEstimator,
    make_estimator,
    with_covariates,
)
from gridtools.hotspots.events import EventSet, from_day, to_day
from gridtools.hotspots.metrics import hit_metrics

__all__ = ["BacktestResult", "backtest", "backtest_categories", "summarize"]


@dataclass
class BacktestResult:
    """Per-fold metrics of every method, their summary and the settings that produced them.

    Attributes
    ----------
    metrics : pandas.DataFrame
        ``method, fold, cutoff, coverage, hit_rate, pai, pei, area_share, hits, n_events``.
    summary : pandas.DataFrame
        Per method and coverage: means, spread across folds, bootstrap interval, and the paired
        PAI difference from the best naive baseline.
    seconds : dict
        Wall time of fitting + predicting, per method, over all folds.
    params : dict
        Settings of the run and each method's parameters.
    last_cutoff : pandas.Timestamp, optional
        Cutoff of the last fold: forecast from it with :meth:`best_method` to map what the
        backtest found (see :meth:`save`).
    events_report : dict
        What the events were: ``source``, ``rows`` read, ``kept``, ``categories``.
    """

    metrics: pd.DataFrame
    summary: pd.DataFrame
    seconds: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    last_cutoff: pd.Timestamp | None = None
    events_report: dict = field(default_factory=dict)

    #: Columns of metrics.csv, in order.
    METRIC_COLUMNS = ("method", "fold", "cutoff", "coverage", "hit_rate", "pai", "pei", "area_share", "hits",
                      "n_events")

    def pai_table(self, coverage: float = 0.02) -> pd.DataFrame:
        """Mean PAI (and spread) per method at one coverage, best first."""
        s = self.summary[np.isclose(self.summary["coverage"], coverage)]
        return s.sort_values("pai_mean", ascending=False).reset_index(drop=True)

    def best_method(self, coverage: float = 0.02) -> str:
        """The method with the highest mean PAI at *coverage* (the first row of :meth:`pai_table`).

        Examples
        --------
        >>> summary = pd.DataFrame({"method": ["kde", "etas"], "coverage": [0.02, 0.02], "pai_mean": [3.1, 4.2]})
        >>> BacktestResult(metrics=pd.DataFrame(), summary=summary).best_method()
        'etas'
        """
        return str(self.pai_table(coverage)["method"].iloc[0])

    def save(self, folder, *, top_cells=None, covariates=()) -> Path:
        """Write the backtest to *folder* (created when missing), as ``gridtools report hotspots`` reads it.

        Parameters
        ----------
        folder : str or os.PathLike
        top_cells : geopandas.GeoDataFrame, optional
            A forecast (:func:`gridtools.hotspots.forecast`), usually from :attr:`last_cutoff`
            with :meth:`best_method`; written as ``top_cells.gpkg`` (layer ``cells``) and mapped
            (its riskiest 5 %) in ``top_cells_map.html``.
        covariates : sequence of str
            Names of the covariates the methods used (e.g. their files), kept in summary.json.

        Returns
        -------
        pathlib.Path
            *folder*, holding ``metrics.csv`` (per method, fold and coverage), ``summary.csv``,
            ``summary.json`` (settings, covariates, seconds, the events read, summary) and
            ``pai_vs_coverage.png``, plus the two top-cell files with *top_cells*.

        Examples
        --------
        >>> result = hotspots.backtest(events, cells, start="2019-01-07", folds=4, horizon_days=7)  # doctest: +SKIP
        >>> top = hotspots.forecast(events, cells, cutoff=result.last_cutoff, horizon_days=7,
        ...                         method=result.best_method())                                     # doctest: +SKIP
        >>> result.save("backtest", top_cells=top)                                                   # doctest: +SKIP
        """
        import matplotlib.pyplot as plt

        from gridtools import io
        from gridtools.maps import hotspot_map, save_map

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.metrics[list(self.METRIC_COLUMNS)].to_csv(folder / "metrics.csv", index=False)
        self.summary.to_csv(folder / "summary.csv", index=False)
        (folder / "summary.json").write_text(json.dumps(
            {"params": self.params, "covariates": [str(c) for c in covariates], "seconds": self.seconds,
             "report": self.events_report, "summary": json.loads(self.summary.to_json(orient="records"))},
            indent=2, default=str))
        fig = self.plot()
        fig.savefig(folder / "pai_vs_coverage.png", dpi=120)
        plt.close(fig)
        if top_cells is not None:
            save_map(hotspot_map(top_cells, top_share=0.05), folder / "top_cells_map.html")
            io.write_any(top_cells, folder / "top_cells.gpkg", layer="cells")
        return folder

    def plot(self):
        """PAI against coverage (mean over folds, with the across-fold spread), one line per method.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from gridtools.report.base import new_figure

        fig, ax = new_figure((7, 4.5))
        for method, g in self.summary.groupby("method", sort=False):
            style = "--" if method in BASELINES else "-"
            ax.plot(g["coverage"] * 100, g["pai_mean"], style, marker="o", label=method)
            ax.fill_between(g["coverage"] * 100, g["pai_ci_low"], g["pai_ci_high"], alpha=0.12)
        p = self.params
        ax.set_xlabel("share of study area flagged (%)")
        ax.set_ylabel("PAI (hit share / area share)")
        ax.set_title(
            f"{p.get('folds')} folds from {p.get('start')}, horizon {p.get('horizon_days'):g} days, "
            f"cells {p.get('cell', '?')}"
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig

    @property
    def summary_dict(self) -> dict:
        """Mean PAI at each coverage per method, and seconds per method."""
        out = {}
        for (m, c), g in self.summary.groupby(["method", "coverage"]):
            out.setdefault(m, {})[f"pai@{c:g}"] = round(float(g["pai_mean"].iloc[0]), 3)
        return {"pai": out, "seconds": self.seconds}

    def _repr_html_(self) -> str:
        t = self.pai_table(0.02)[["method", "pai_mean", "pai_std", "hit_rate_mean", "pei_mean", "pai_vs_best_naive"]]
        return f"<p>Backtest, {html.escape(str(self.params.get('folds')))} folds; PAI at 2%</p>" + t.to_html(index=False, float_format="%.3f")


def backtest(
    events: EventSet,
    cells: CellSet,
    *,
    start,
    folds: int,
    horizon_days: float,
    methods=None,
    step_days: float | None = None,
    coverages=None,
    progress=None,
    n_boot: int = 2000,
    covariates=None,
    n_jobs: int | None = None,
    scheduler=None,
) -> BacktestResult:
    """Rolling-origin backtest of several methods on the same folds.

    Parameters
    ----------
    events : EventSet
        All events, assigned to *cells* (:func:`~gridtools.hotspots.cells.assign_events`).
    cells : CellSet
    start : date or day number
        Cutoff of the first fold.
    folds : int
        Number of folds.
    horizon_days : float
        Length of each forecast window.
    methods : list of str or dict of name -> estimator, optional
        Default: every baseline and ``smoothed``, ``etas``, ``gbm``, ``ensemble``.  Baselines are always
        added, so every method is compared with them on the same folds.
    step_days : float, optional
        Days between cutoffs (default: the horizon, so forecast windows do not overlap).
    coverages : sequence of float, default ``settings.hotspot_coverages``
    covariates : array-like (n_cells, k), optional
        Per-cell features for the learned methods (see :func:`~gridtools.hotspots.with_covariates`).
    progress : callable(stage, done, total), optional
    n_jobs : int, optional
        Folds run in this many local processes (default: this process).
    scheduler : None, str or dask.distributed.Client
        Folds run on a Dask cluster: ``"local:N"``, ``"tcp://host:8786"`` or a Client (see
        :mod:`gridtools.parallel`).  Same metrics table as the serial run.

    Returns
    -------
    BacktestResult

    Raises
    ------
    InputError
        Bad parameters, a first cutoff with no earlier events, or folds running past the data.
    """
    if not isinstance(folds, (int, np.integer)) or folds < 1:
        raise InputError(f"folds must be an integer >= 1, not {folds!r}.")
    h = float(horizon_days)
    if not np.isfinite(h) or h <= 0:
        raise InputError(f"horizon_days must be positive, not {horizon_days!r}.")
    step = h if step_days is None else float(step_days)
    coverages = settings.hotspot_coverages if coverages is None else tuple(coverages)
    estimators = {name: with_covariates(est, covariates) for name, est in _estimators(methods).items()}
    c0 = to_day(start)
    if len(events) == 0 or events.t[0] >= c0:
        first = from_day(events.t[0]).date() if len(events) else "none"
        raise InputError(
            f"the first cutoff {from_day(c0).date()} is not after the first event ({first}): "
            "there is no history to learn from. Choose a later start=..."
        )
    last_end = c0 + (folds - 1) * step + h
    data_end = np.floor(events.t[-1]) + 1
    if last_end > data_end + 1e-9:
        raise InputError(
            f"{folds} folds of {h:g} days from {from_day(c0).date()} run to "
            f"{from_day(last_end).date()}, past the last event ({from_day(events.t[-1]).date()}); "
            "their counts would be incomplete. Use fewer folds or an earlier start=..."
        )
    rows, seconds = [], dict.fromkeys(estimators, 0.0)
    # one task per batch of consecutive folds (seconds of work, not milliseconds, and a model
    # kept for later cutoffs is reused inside a batch); an ensemble reuses its members'
    # forecasts of the same fold; the events and cells go to each worker once, and results come
    # back in fold order
    shared = {"events": events, "cells": cells, "estimators": estimators,
              "window": (c0, step, h, tuple(coverages))}
    refit = _refit_days(estimators.values())
    periods = None if refit is None else np.floor((c0 + np.arange(folds) * step) / refit + 1e-9)
    batches = fold_batches(folds, parallel.is_distributed(scheduler) or (n_jobs or 1) > 1, periods=periods)
    done = parallel.map_tasks(run_folds, batches, scheduler=scheduler, n_jobs=n_jobs, shared=shared,
                              progress=progress and (lambda d, n: progress(
                                  "backtest folds", sum(len(b) for b in batches[:d]), folds)))
    for fold_rows, took in (fold for batch in done for fold in batch):
        rows += fold_rows
        for name, t in took.items():
            seconds[name] += t
    metrics = pd.concat(rows, ignore_index=True)
    params = {
        "start": from_day(c0).date().isoformat(),
        "folds": int(folds),
        "horizon_days": h,
        "step_days": step,
        "coverages": list(coverages),
        "n_cells": len(cells),
        "study_area_km2": cells.total_area / 1e6,
        "n_events": int(len(events)),
        "methods": {n: {k: _plain(v) for k, v in e.get_params(deep=False).items()} for n, e in estimators.items()},
    }
    if cells.kind == "square":
        params["cell"] = f"{cells.pixel:g} m"
    else:
        params["cell"] = "management grids"
    report = {k: v for k, v in getattr(events, "report", {}).items() if k in ("source", "rows", "kept", "categories")}
    return BacktestResult(metrics, summarize(metrics, n_boot=n_boot), {k: round(v, 3) for k, v in seconds.items()},
                          params, last_cutoff=from_day(c0 + (folds - 1) * step), events_report=report)


def backtest_categories(events_by_category: dict, cells: CellSet, *, scheduler=None, n_jobs: int | None = None,
                        **options) -> dict:
    """:func:`backtest` of each category on the same cells and folds.

    On a Dask cluster the tasks (category x batch of folds) of all categories are in flight
    together (:func:`gridtools.parallel.map_calls`), so a city platform's 91 crime types keep
    every worker busy instead of waiting at the end of each category.  The tables are those of
    ``backtest(events, cells, **options)`` per category, serial or not.

    Parameters
    ----------
    events_by_category : dict of str -> EventSet
        Each category's events, assigned to *cells*.
    cells : CellSet
    scheduler : None, str or dask.distributed.Client
        See :func:`backtest`.
    n_jobs : int, optional
        Without a scheduler: local processes per category's backtest.
    **options
        Keyword arguments of :func:`backtest` (``start``, ``folds``, ``horizon_days``, ``methods``...).

    Returns
    -------
    dict of str -> BacktestResult
        In the order of *events_by_category*.

    Raises
    ------
    InputError
        As :func:`backtest`, naming the category.
    """
    names = list(events_by_category)

    def one(name, scheduler):
        try:
            return backtest(events_by_category[name], cells, scheduler=scheduler, n_jobs=n_jobs, **options)
        except InputError as exc:
            raise InputError(f"category {name!r}: {exc}") from None

    return dict(zip(names, parallel.map_calls(one, names, scheduler=scheduler), strict=True))


def fold_batches(folds: int, parallel_run: bool, per_batch: int = 4, periods=None) -> list[tuple[int, ...]]:
    """Fold numbers in batches of consecutive folds, one task each.

    A serial run has one fold per task (its progress is per fold, and a kept model is reused in
    this process anyway); a parallel one has batches of up to *per_batch* folds (four weekly
    folds: one ``GBM(refit_days=28)`` model), fewer where that would leave less than eight tasks
    for the workers.  With *periods* (per fold, the refit period of its cutoff) a batch is the
    folds of one period (up to *per_batch*), so each refit model is trained by one worker once:
    batches that straddled a refit date trained two models each, and one-fold tasks spread over
    the workers trained a period's model on each of them.

    Examples
    --------
    >>> fold_batches(10, True)
    [(0,), (1,), (2,), (3,), (4,), (5,), (6,), (7,), (8,), (9,)]
    >>> [len(b) for b in fold_batches(52, True)][:3], len(fold_batches(52, False))
    ([4, 4, 4], 52)
    >>> fold_batches(9, True, periods=[0, 0, 0, 1, 1, 1, 1, 2, 2])
    [(0, 1, 2), (3, 4, 5, 6), (7, 8)]
    >>> weekly = [(11 + 7 * k) // 28 for k in range(52)]  # cutoffs 11, 18, 25 | 32 ... days into a period
    >>> fold_batches(52, True, periods=weekly)[:3]
    [(0, 1, 2), (3, 4, 5, 6), (7, 8, 9, 10)]
    """
    if not parallel_run:
        return [(k,) for k in range(folds)]
    size = per_batch if periods is not None else max(1, min(per_batch, folds // 8))
    if periods is None:
        return [tuple(range(lo, min(lo + size, folds))) for lo in range(0, folds, size)]
    batches, current = [], []
    for k in range(folds):
        if current and (len(current) == size or periods[k] != periods[current[-1]]):
            batches.append(tuple(current))
            current = []
        current.append(k)
    return batches + [tuple(current)]


def _refit_days(estimators) -> float | None:
    """The shortest ``refit_days`` of the methods (ensemble members included), or None."""
    found = []
    for est in estimators:
        members = [m for _, m in est._members()] if isinstance(est, Ensemble) else [est]
        found += [float(m.refit_days) for m in members if getattr(m, "refit_days", None)]
    return min(found) if found else None


def run_folds(ks: tuple[int, ...], events: EventSet, cells: CellSet, estimators: dict,
              window: tuple) -> list[tuple[list, dict]]:
    """:func:`run_fold` for each fold of a batch, in order (one task of a parallel backtest)."""
    return [run_fold(k, events, cells, estimators, window) for k in ks]


def run_fold(k: int, events: EventSet, cells: CellSet, estimators: dict, window: tuple) -> tuple[list, dict]:
    """Fit every method on the history before fold *k*'s cutoff and score its forecast.

    Parameters
    ----------
    k : int
        Fold number (cutoff ``c0 + k * step``; also the tie-break seed of the metrics).
    events, cells, estimators
        As in :func:`backtest` (estimators already built).
    window : tuple
        ``(c0, step, horizon, coverages)`` in days.

    Returns
    -------
    (list of pandas.DataFrame, dict)
        Metric rows per method, and the seconds each method took.

    Examples
    --------
    >>> rows, took = run_fold(0, events, cells, {"naive": make_estimator("naive")},  # doctest: +SKIP
    ...                       (c0, 7.0, 7.0, (0.02,)))
    """
    c0, step, h, coverages = window
    c = c0 + k * step
    history = events.before(c)
    actual = np.bincount(events.between(c, c + h).unit, minlength=len(cells))
    preds, took, rows = {}, {}, []
    for name in sorted(estimators, key=lambda n: isinstance(estimators[n], Ensemble)):
        proto = estimators[name]
        tic = time.perf_counter()
        reuse = _reusable_members(proto, estimators, preds)
        if reuse is not None:
            # Members already run on this fold: combine their forecasts instead of refitting
            # (the time charged is the members' time plus the combination).
            risk = proto.combine([preds[m] for m in reuse])
            extra = sum(took[m] for m in reuse)
        else:
            risk = clone(proto).fit(history, cells, c).predict(h)
            extra = 0.0
        took[name] = time.perf_counter() - tic + extra
        preds[name] = risk
        m = hit_metrics(risk, cells.area, actual, coverages, random_state=k)
        m.insert(0, "cutoff", from_day(c).date().isoformat())
        m.insert(0, "fold", k)
        m.insert(0, "method", name)
        rows.append(m)
    return rows, took


def _reusable_members(proto, estimators, preds):
    if not isinstance(proto, Ensemble):
        return None
    names = proto.member_names()
    members = dict(proto._members())
    for m in names:
        if m not in preds or m not in METHODS or not _same_estimator(estimators[m], members[m]):
            return None
    return names


def _same_estimator(a, b) -> bool:
    """Same class and parameters (arrays compared by value: their repr is abbreviated)."""
    if type(a) is not type(b):
        return False
    pa, pb = a.get_params(deep=False), b.get_params(deep=False)
    return pa.keys() == pb.keys() and all(_same_value(pa[k], pb[k]) for k in pa)


def _same_value(a, b) -> bool:
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and bool(np.array_equal(a, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, HotspotEstimator):
        return _same_estimator(a, b)
    return bool(a == b)


def _plain(v):
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    if isinstance(v, np.ndarray):
        return f"array of shape {v.shape}"
    return repr(v)


def _estimators(methods) -> dict[str, HotspotEstimator]:
    if methods is None:
        methods = [*BASELINES, "smoothed", "etas", "gbm", "ensemble"]
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    if isinstance(methods, dict):
        out = dict(methods)
    else:
        out = {m: make_estimator(m) for m in methods}
    for b in BASELINES:
        if b not in out:
            out[b] = make_estimator(b)
    return out


def _block_bootstrap_ci(values: np.ndarray, n_boot: int, seed: int = 0) -> tuple[float, float]:
    """95% moving-block bootstrap interval of the mean (blocks keep serial correlation)."""
    v = values[np.isfinite(values)]
    n = len(v)
    if n < 2:
        return (np.nan, np.nan)
    block = max(1, int(round(n ** (1 / 3))))
    rng = np.random.default_rng(seed)
    n_blocks = int(np.ceil(n / block))
    starts = rng.integers(0, n - block + 1, size=(n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)).reshape(n_boot, -1)[:, :n]
    means = v[idx].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def summarize(metrics: pd.DataFrame, n_boot: int = 2000) -> pd.DataFrame:
    """Per method and coverage: mean and spread over folds, and the paired gain over the best naive baseline.

    ``pai_vs_best_naive`` is the mean over folds of (method PAI - PAI of the naive baseline with
    the highest mean PAI at that coverage), with its bootstrap interval in
    ``gain_ci_low``/``gain_ci_high``.
    """
    out = []
    naive = [m for m in metrics["method"].unique() if str(m).startswith("naive")]
    for cov, g in metrics.groupby("coverage"):
        wide = g.pivot(index="fold", columns="method", values="pai")
        best_naive = wide[naive].mean().idxmax() if naive else None
        for method in g["method"].unique():
            gm = g[g["method"] == method].sort_values("fold")
            pai = gm["pai"].to_numpy(float)
            lo, hi = _block_bootstrap_ci(pai, n_boot)
            row = {
                "method": method,
                "coverage": cov,
                "folds": int(np.isfinite(pai).sum()),
                "pai_mean": np.nanmean(pai),
                "pai_std": np.nanstd(pai, ddof=1) if len(pai) > 1 else np.nan,
                "pai_ci_low": lo,
                "pai_ci_high": hi,
                "hit_rate_mean": gm["hit_rate"].mean(),
                "hit_rate_std": gm["hit_rate"].std(),
                "pei_mean": gm["pei"].mean(),
                "pei_std": gm["pei"].std(),
                "best_naive": best_naive,
            }
            if best_naive is not None:
                diff = (wide[method] - wide[best_naive]).to_numpy(float)
                row["pai_vs_best_naive"] = np.nanmean(diff)
                row["gain_ci_low"], row["gain_ci_high"] = _block_bootstrap_ci(diff, n_boot)
            out.append(row)
    order = {m: i for i, m in enumerate(metrics["method"].unique())}
    s = pd.DataFrame(out)
    return s.sort_values(["method", "coverage"], key=lambda c: c.map(order) if c.name == "method" else c).reset_index(drop=True)
