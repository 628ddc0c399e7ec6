"""The report on a hotspot backtest: summary, metrics with their fold spread, PAI curve, patrol areas, top cells.

Examples
--------
>>> from gridtools.report import hotspot_report
>>> hotspot_report(hotspots.backtest(events, cells), cells=forecast).save("report.html")   # doctest: +SKIP
PosixPath('report.html')
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridtools import settings
from gridtools.errors import InputError
from gridtools.report.base import Report, new_figure, plot_words, report_words
from gridtools import validate

__all__ = ["backtest_table", "hotspot_report"]

_HOTSPOT_TEXT = {
    "en": {
        "title": "Theft hotspot forecasts: backtest",
        "summary": "Summary",
        "lines": ("{folds} rolling folds from {start}, {horizon:g}-day horizon, {cells} units ({cell}), "
                  "{events:,} events. At {cov:.0%} of the area the best forecasting method, {best}, catches "
                  "{hit:.1%} of the next period's events (PAI {pai:.2f}, fold sd {sd:.2f}); the best naive "
                  "baseline, {naive}, catches {nhit:.1%} (PAI {npai:.2f})."),
        "table": "Mean over folds at each share of the area (± sd across folds)",
        "plot": "PAI against the share of the area flagged", "map": "Riskiest cells of the latest forecast",
        "top": "Top cells of the latest forecast", "defs": "How to read this",
        "patrol": "Patrol areas: the riskiest {share} of the area, neighbouring cells joined",
        "patrol_cols": ("area", "cells", "km²", "expected events", "events per km²"),
        "defs_text": ("Hit rate: share of the horizon's events inside the flagged cells. PAI (predictive accuracy "
                      "index) = hit rate / share of the area flagged; 1 is no better than chance. PEI (predictive "
                      "efficiency index) = flagged events / the most any cells of the same area could have caught "
                      "(0-1). Means over folds; sd is the standard deviation across folds; min-max the range."),
        "xlabel": "share of the study area flagged (%)", "ylabel": "PAI (mean over folds, ± sd)",
        "cols": {"method": "method", "coverage": "area", "folds": "folds", "pai": "PAI", "pai_sd": "PAI sd",
                 "pai_range": "PAI min-max", "hit": "hit rate", "hit_sd": "hit rate sd", "pei": "PEI",
                 "pei_sd": "PEI sd"},
    },
    "zh": {
        "title": "盗窃热点预测回测报告",
        "summary": "概要",
        "lines": ("滚动回测 {folds} 折，自 {start} 起，每折预测 {horizon:g} 天，{cells} 个单元（{cell}），共 {events:,} "
                  "起事件。圈定 {cov:.0%} 的面积时，最佳预测方法 {best} 命中下一期 {hit:.1%} 的事件（PAI {pai:.2f}，"
                  "折间标准差 {sd:.2f}）；最佳朴素基线 {naive} 命中 {nhit:.1%}（PAI {npai:.2f}）。"),
        "table": "各面积比例下的折均值（± 折间标准差）",
        "plot": "PAI 与圈定面积比例", "map": "最新预测的高风险单元", "top": "最新预测的前列单元",
        "patrol": "巡逻区域：风险最高的 {share} 面积，相邻单元合并",
        "patrol_cols": ("区域", "单元数", "平方千米", "预计案件数", "每平方千米案件数"),
        "defs": "指标说明",
        "defs_text": ("命中率：预测期事件落在圈定单元内的比例。PAI（预测精度指数）= 命中率 / 圈定面积比例，1 表示与随机相当。"
                      "PEI（预测效率指数）= 圈定单元内事件数 / 同等面积单元最多可能命中的事件数（0-1）。"
                      "数值为各折均值；标准差为折间标准差；最小-最大为折间范围。"),
        "xlabel": "圈定面积比例（%）", "ylabel": "PAI（折均值 ± 标准差）",
        "cols": {"method": "方法", "coverage": "面积比例", "folds": "折数", "pai": "PAI", "pai_sd": "PAI 标准差",
                 "pai_range": "PAI 最小-最大", "hit": "命中率", "hit_sd": "命中率标准差", "pei": "PEI",
                 "pei_sd": "PEI 标准差"},
    },
}


def backtest_table(metrics: pd.DataFrame, coverages=None) -> pd.DataFrame:
    """Mean, spread and range over folds of PAI, hit rate and PEI, per method and coverage.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Per-fold rows ``method, fold, coverage, hit_rate, pai, pei`` (``BacktestResult.metrics``
        or the ``metrics.csv`` that ``gridtools hotspots backtest`` writes).
    coverages : sequence of float, optional
        Coverages to keep (default: all in *metrics*).

    Returns
    -------
    pandas.DataFrame
        ``method, coverage, folds, pai_mean, pai_sd, pai_min, pai_max, hit_rate_mean, hit_rate_sd,
        pei_mean, pei_sd``; folds without events (NaN metrics) are left out of every statistic.

    Examples
    --------
    >>> m = pd.DataFrame({"method": ["a", "a"], "fold": [0, 1], "coverage": [0.02, 0.02],
    ...                   "hit_rate": [0.1, 0.3], "pai": [5.0, 15.0], "pei": [0.5, 0.7]})
    >>> backtest_table(m)[["pai_mean", "pai_sd", "pai_min", "hit_rate_mean"]].round(3).values.tolist()
    [[10.0, 7.071, 5.0, 0.2]]
    """

    validate.require_columns(metrics, ["method", "fold", "coverage", "hit_rate", "pai", "pei"], "backtest metrics")
    m = pd.DataFrame(metrics)
    if coverages is not None:
        keep = np.isclose(m["coverage"].to_numpy(float)[:, None], np.asarray(coverages, float)[None, :]).any(axis=1)
        m = m[keep]
    order = {name: i for i, name in enumerate(m["method"].unique())}
    grouped = m.groupby(["method", "coverage"], sort=False)
    table = pd.DataFrame({
        "folds": grouped["pai"].count(),
        "pai_mean": grouped["pai"].mean(), "pai_sd": grouped["pai"].std(),
        "pai_min": grouped["pai"].min(), "pai_max": grouped["pai"].max(),
        "hit_rate_mean": grouped["hit_rate"].mean(), "hit_rate_sd": grouped["hit_rate"].std(),
        "pei_mean": grouped["pei"].mean(), "pei_sd": grouped["pei"].std(),
    }).reset_index()
    table["_order"] = table["method"].map(order)
    return table.sort_values(["coverage", "_order"]).drop(columns="_order").reset_index(drop=True)


def hotspot_report(backtest, *, cells=None, params: dict | None = None, coverages=None, top_share: float = 0.05,
                   title: str | None = None, lang: str = "en") -> Report:
    """Report on a hotspot backtest: summary, metric table with fold spread, PAI curve, top-cell map.

    Parameters
    ----------
    backtest : BacktestResult or pandas.DataFrame
        :func:`gridtools.hotspots.backtesting` output, or its per-fold metrics table
        (``metrics.csv`` of ``gridtools hotspots backtest``).
    cells : geopandas.GeoDataFrame, optional
        A forecast (:func:`gridtools.hotspots.forecast`, ``cell_id, risk, rank, area_m2``): its
        riskiest *top_share* of the area is mapped and listed.
    params : dict, optional
        The run's settings (``BacktestResult.params`` or ``summary.json["params"]``); taken from
        *backtest* when it is a ``BacktestResult``.
    coverages : sequence of float, default ``settings.hotspot_coverages`` (1, 2, 5, 10 %)
    top_share : float
        Share of the area shown on the map.
    title : str, optional
    lang : {"en", "zh"}

    Returns
    -------
    Report
    """
    words = report_words(_HOTSPOT_TEXT, lang)
    labels = plot_words(_HOTSPOT_TEXT, lang)
    if isinstance(backtest, pd.DataFrame):
        metrics, params = backtest, dict(params or {})
    else:
        metrics, params = backtest.metrics, {**(backtest.params or {}), **(params or {})}
    coverages = settings.hotspot_coverages if coverages is None else tuple(coverages)
    table = backtest_table(metrics, coverages)
    if table.empty:
        raise InputError("the backtest metrics hold none of the coverages "
                         f"{', '.join(f'{c:g}' for c in coverages)}; pass coverages= that the backtest used")
    report = Report(title or words["title"], lang=lang)

    focus = 0.02 if np.isclose(table["coverage"], 0.02).any() else float(table["coverage"].iloc[0])
    at = table[np.isclose(table["coverage"], focus)].set_index("method")
    naive = [m for m in at.index if str(m).startswith("naive")]
    # the best *forecasting* method, set against the best baseline (even when a baseline wins)
    methods = [m for m in at.index if m not in naive] or list(at.index)
    best = at.loc[methods, "pai_mean"].idxmax()
    best_naive = at.loc[naive, "pai_mean"].idxmax() if naive else best
    report.add_text(words["summary"], words["lines"].format(
        folds=int(params.get("folds", metrics["fold"].nunique())), start=params.get("start", metrics.get("cutoff", pd.Series(["?"])).min()),
        horizon=float(params.get("horizon_days", float("nan"))), cells=f"{params['n_cells']:,}" if "n_cells" in params else "?",
        cell=params.get("cell", "?"), events=int(params.get("n_events", 0)), cov=focus, best=best,
        hit=at.loc[best, "hit_rate_mean"], pai=at.loc[best, "pai_mean"], sd=at.loc[best, "pai_sd"],
        naive=best_naive, nhit=at.loc[best_naive, "hit_rate_mean"], npai=at.loc[best_naive, "pai_mean"]))

    c = words["cols"]
    shown = pd.DataFrame({
        c["coverage"]: [f"{v:.0%}" for v in table["coverage"]],
        c["method"]: table["method"],
        c["folds"]: table["folds"],
        c["pai"]: table["pai_mean"].map(lambda v: f"{v:.2f}"),
        c["pai_sd"]: table["pai_sd"].map(lambda v: f"{v:.2f}"),
        c["pai_range"]: [f"{lo:.2f}-{hi:.2f}" for lo, hi in zip(table["pai_min"], table["pai_max"])],
        c["hit"]: table["hit_rate_mean"].map(lambda v: f"{v:.3f}"),
        c["hit_sd"]: table["hit_rate_sd"].map(lambda v: f"{v:.3f}"),
        c["pei"]: table["pei_mean"].map(lambda v: f"{v:.3f}"),
        c["pei_sd"]: table["pei_sd"].map(lambda v: f"{v:.3f}"),
    })
    report.add_table(words["table"], shown)

    fig, ax = new_figure((7, 4.2))
    for method, g in table.groupby("method", sort=False):
        x = g["coverage"].to_numpy(float) * 100
        style = "--" if str(method).startswith("naive") else "-"
        ax.plot(x, g["pai_mean"], style, marker="o", label=str(method))
        ax.fill_between(x, g["pai_mean"] - g["pai_sd"].fillna(0), g["pai_mean"] + g["pai_sd"].fillna(0), alpha=0.12)
    ax.axhline(1, color="#888", linewidth=0.8)
    ax.set_xlabel(labels["xlabel"])
    ax.set_ylabel(labels["ylabel"])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    report.add_figure(words["plot"], fig)

    if cells is not None:
        from gridtools.hotspots.patrol import flagged_cells, patrol_areas
        from gridtools.maps import hotspot_map

        areas = patrol_areas(cells, share=focus)
        report.add_map(words["map"], hotspot_map(cells, top_share=top_share, patrol_areas=areas))
        names = words["patrol_cols"]
        report.add_table(words["patrol"].format(share=f"{focus:.0%}"), pd.DataFrame({
            names[0]: areas["area_id"], names[1]: areas["n_cells"], names[2]: areas["area_km2"].round(3),
            names[3]: areas["expected_events"].round(2), names[4]: areas["events_per_km2"].round(1),
        }), max_rows=30)
        top = pd.DataFrame(flagged_cells(cells, top_share)[["rank", "cell_id", "risk", "area_m2"]])
        top["risk"] = top["risk"].round(3)
        report.add_table(words["top"], top, max_rows=50)
    report.add_text(words["defs"], words["defs_text"])
    return report


