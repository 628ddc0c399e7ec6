"""The report on road accidents and sub-day forecasts: when and where accidents happen, and how well
the windows were forecast.

:func:`accident_report` counts the accidents of a file by hour of day and day type (working day;
weekend or holiday), by road class and by light condition, codes decoded with the labels of the
source (:data:`CODE_LABELS`, e.g. the French BAAC file's); :func:`subday_backtest_report` turns the
folder of ``gridtools hotspots backtest --horizon-hours`` into the pooled PAI table, with the gain over
the best naive baseline and its interval, and PAI by hour of day.

Examples
--------
>>> import pandas as pd
>>> acc = pd.DataFrame({"datetime": ["2019-06-03 08:10", "2019-06-08 23:40"], "road_category": [4, 1],
...                     "light": [1, 5]})
>>> rep = accident_report(acc, time="datetime", road_col="road_category", light_col="light", codes="baac")
>>> "communal" in rep.to_html() and "night, lit" in rep.to_html()
True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gridtools import timeparse, validate
from gridtools.errors import InputError
from gridtools.report.base import Report, new_figure, plot_words, report_words

__all__ = ["CODE_LABELS", "read_code_labels", "accident_counts", "accident_report", "subday_backtest_report",
           "window_forecast_report"]

#: Labels of coded columns, per source: ``{source: {column: {code: label}}}``.  ``"baac"``: the French
#: national road-accident file (ONISR, BAAC), as its documentation and ``SOURCE.txt`` give them.
CODE_LABELS: dict[str, dict[str, dict[int, str]]] = {
    "baac": {
        "road_category": {1: "motorway", 2: "national road", 3: "departmental road", 4: "communal road",
                          5: "off the public network", 6: "car park", 7: "urban metropolitan road", 9: "other"},
        "light": {1: "daylight", 2: "dusk or dawn", 3: "night, no street lighting", 4: "night, lighting off",
                  5: "night, lit"},
        "intersection": {1: "none", 2: "X", 3: "T", 4: "Y", 5: "more than 4 branches", 6: "roundabout",
                         7: "square", 8: "level crossing", 9: "other"},
    },
}

_DAY_TYPES = {"en": ("working day", "weekend or holiday"), "zh": ("工作日", "周末或节假日")}

_TEXT = {
    "en": {
        "title": "Road accidents and sub-day forecasts",
        "summary": "Accidents",
        "lines": ("{n:,} accidents from {first} to {last} ({source}); {timed:,} with a time of day"
                  "{untimed}. Busiest hour of a working day: {peak_wd}:00; of a weekend or holiday: {peak_we}:00."),
        "untimed": ", {n:,} without (left out of the hour tables)",
        "by_hour": "Accidents by hour of day and day type", "by_hour_plot": "Accidents per day by hour of day",
        "tab": ": counts",
        "per_day": "accidents per day (mean over the days of each type)",
        "by_road": "Accidents by road class ({col})", "by_light": "Accidents by light condition ({col})",
        "count": "accidents", "share": "share", "hour": "hour", "code": "code", "label": "label",
        "xlabel": "hour of day", "ylabel": "accidents per day",
        "bt": "Sub-day backtest: pooled over {windows} windows of {hours:g} h ({folds} cutoffs from {start})",
        "bt_cols": ("method", "area", "PAI", "PAI 95% interval", "hit rate", "PEI", "gain over {best}",
                    "gain 95% interval"),
        "bt_hour": "PAI at {cov:.0%} of the area by hour of day of the window",
        "bt_ylabel": "pooled PAI",
        "wmap": "Forecast by window: risk, flagged cells and patrol areas (move the slider or press play)",
        "wtable": "Patrol areas of each window (the riskiest {share:.0%} of the area)",
        "wcols": ("window", "patrol areas", "cells", "expected events", "largest area (cells)"),
        "bt_note": ("Pooled PAI = all hits over all windows / Σ (events of a window x share of the area flagged). "
                    "Intervals resample whole cutoffs in moving blocks; the gain is paired (the same resampled "
                    "cutoffs for both methods)."),
    },
    "zh": {
        "title": "道路交通事故与时段预测",
        "summary": "事故概况",
        "lines": ("{first} 至 {last} 共 {n:,} 起事故（{source}）；其中 {timed:,} 起有具体时刻{untimed}。"
                  "工作日最多的时段：{peak_wd} 时；周末或节假日：{peak_we} 时。"),
        "untimed": "，{n:,} 起没有（不计入分时统计）",
        "by_hour": "按时段和日期类型的事故数", "by_hour_plot": "各时段日均事故数", "tab": "：明细",
        "per_day": "日均事故数（按日期类型平均）",
        "by_road": "按道路等级的事故数（{col}）", "by_light": "按光照条件的事故数（{col}）",
        "count": "事故数", "share": "占比", "hour": "时", "code": "代码", "label": "含义",
        "xlabel": "时段", "ylabel": "日均事故数",
        "bt": "时段预测回测：{folds} 个截止时点（自 {start}），共 {windows} 个 {hours:g} 小时时段合并计算",
        "bt_cols": ("方法", "面积比例", "PAI", "PAI 95% 区间", "命中率", "PEI", "相对 {best} 的增益", "增益 95% 区间"),
        "bt_hour": "圈定 {cov:.0%} 面积时各时段的 PAI",
        "bt_ylabel": "合并 PAI",
        "wmap": "分时段预测：风险、圈定单元和巡逻区域（拖动滑块或点击播放）",
        "wtable": "各时段的巡逻区域（风险最高的 {share:.0%} 面积）",
        "wcols": ("时段", "巡逻区域数", "单元数", "预计事故数", "最大区域（单元数）"),
        "bt_note": ("合并 PAI = 全部时段命中数 / Σ（各时段事件数 × 圈定面积比例）。区间按截止时点成块重抽样；"
                    "增益为配对比较（两种方法使用同样的重抽样）。"),
    },
}


def read_code_labels(codes) -> dict[str, dict[int, str]]:
    """Labels of coded columns: a source name of :data:`CODE_LABELS`, a dict, or a CSV ``column,code,label``.

    Examples
    --------
    >>> read_code_labels("baac")["light"][5]
    'night, lit'
    >>> read_code_labels({"light": {1: "day"}})
    {'light': {1: 'day'}}
    """
    if codes is None:
        return {}
    if isinstance(codes, dict):
        return codes
    if isinstance(codes, str) and codes in CODE_LABELS:
        return CODE_LABELS[codes]
    path = Path(codes)
    if not path.exists():
        raise InputError(f"codes={str(codes)!r} is neither a known source ({', '.join(map(repr, CODE_LABELS))}) "
                         "nor a CSV file of column,code,label.")
    table = pd.read_csv(path)
    validate.require_columns(table, ["column", "code", "label"], str(path))
    numbers = validate.numeric_column(table, "code", str(path), nonnegative=False)
    out: dict[str, dict[int, str]] = {}
    for column, code, label in zip(table["column"].astype(str), numbers.to_numpy(dtype=float), table["label"]):
        out.setdefault(column, {})[int(code)] = str(label)
    return out


def accident_counts(values: pd.Series, labels: dict[int, str] | None = None) -> pd.DataFrame:
    """Count the values of a coded column, most frequent first, each code with its label.

    Codes without a label keep the code as label; empty values count as ``"not recorded"``.

    Examples
    --------
    >>> accident_counts(pd.Series([4, 4, 1, None]), {1: "motorway", 4: "communal"}).values.tolist()
    [['4', 'communal', 2, 0.5], ['1', 'motorway', 1, 0.25], ['', 'not recorded', 1, 0.25]]
    """
    numbers = pd.to_numeric(values, errors="coerce")
    coded = numbers.notna() & np.isclose(numbers.fillna(0) % 1, 0)
    keys = pd.Series(np.where(coded, numbers.fillna(0).astype(np.int64).astype(str), values.astype("string")),
                     index=values.index).where(values.notna(), "")
    counts = keys.value_counts(sort=True)
    labels = labels or {}
    shown = [("not recorded" if k == "" else labels.get(int(k), k) if k.lstrip("-").isdigit() else k)
             for k in counts.index]
    return pd.DataFrame({"code": counts.index.astype(str), "label": shown, "count": counts.to_numpy(),
                         "share": counts.to_numpy() / max(len(values), 1)})


def _hour_table(stamps: pd.Series, holidays, words: dict, lang: str) -> pd.DataFrame:
    """Accidents by hour of day x day type, with the mean per day of each type."""
    from gridtools.hotspots.windows import day_types

    days = (stamps.dt.normalize() - pd.Timestamp("1970-01-01")).dt.days.to_numpy()
    kind = day_types(days, holidays)
    hour = stamps.dt.hour.to_numpy()
    span = np.arange(days.min(), days.max() + 1)
    n_days = np.bincount(day_types(span, holidays), minlength=2)
    counts = np.zeros((24, 2), dtype=np.int64)
    np.add.at(counts, (hour, kind), 1)
    names = _DAY_TYPES[lang]
    table = pd.DataFrame({words["hour"]: [f"{h:02d}:00" for h in range(24)],
                          names[0]: counts[:, 0], names[1]: counts[:, 1]})
    for i, name in enumerate(names):
        table[f"{name}: {words['per_day']}"] = np.round(counts[:, i] / max(n_days[i], 1), 3)
    table.attrs["per_day"] = counts / np.maximum(n_days, 1)
    return table


def accident_report(events: pd.DataFrame, *, time: str, road_col: str | None = None, light_col: str | None = None,
                    codes=None, holidays=None, dayfirst: bool | None = None, source: str | None = None,
                    title: str | None = None, lang: str = "en") -> Report:
    """When and on which roads accidents happen: by hour x day type, by road class, by light condition.

    Parameters
    ----------
    events : pandas.DataFrame
        One row per accident (a read CSV, or :func:`gridtools.io.read_events`: rows without
        coordinates count here too, since the tables need no place).
    time : str
        Column with the date and time of day (read by :mod:`gridtools.timeparse`; rows without a
        time of day are counted and left out of the hour tables).
    road_col, light_col : str, optional
        Coded columns of the road class and the light condition (BAAC: ``road_category``, ``light``).
    codes : str, dict or path, optional
        Their labels: ``"baac"`` (:data:`CODE_LABELS`), ``{column: {code: label}}``, or a CSV file
        ``column,code,label``.
    holidays : iterable of dates, optional
        Days counted as weekend days.
    dayfirst : bool, optional
        As in :func:`gridtools.timeparse.parse_column`.
    source : str, optional
        Name of the data in the summary (default ``events.attrs["source"]``).
    title : str, optional
    lang : {"en", "zh"}

    Returns
    -------
    Report

    Raises
    ------
    InputError
        Missing columns, unreadable or mixed time formats (rows named), no event with a time of day.

    Examples
    --------
    >>> acc = pd.DataFrame({"t": ["2019-06-03 08:10", "2019-06-04 08:40", "2019-06-08 23:40"]})
    >>> "08:00" in accident_report(acc, time="t").to_html()
    True
    """
    words = report_words(_TEXT, lang)
    labels_plot = plot_words(_TEXT, lang)
    source = source or events.attrs.get("source", "events")
    wanted = {time: "time", **({road_col: "road_col"} if road_col else {}), **({light_col: "light_col"} if light_col else {})}
    validate.require_columns(events, wanted, source)
    table = pd.DataFrame(events)
    if len(table) == 0:
        raise InputError(f"{source} holds no accidents.")
    labels = read_code_labels(codes)
    stamps = pd.Series(timeparse.parse_column(table[time].reset_index(drop=True), column=time, source=source,
                                              dayfirst=dayfirst, aware="local"))
    timed = timeparse.time_of_day_rows(table[time].reset_index(drop=True))
    if not timed.any():
        raise InputError(f"{source}: column {time!r} has dates but no time of day in any row; the hour tables need "
                         "times (e.g. '2019-06-03 08:10').")
    hours = _hour_table(stamps[timed], holidays, words, lang)
    per_day = hours.attrs["per_day"]
    report = Report(title or words["title"], lang=lang)
    report.add_text(words["summary"], words["lines"].format(
        n=len(table), first=stamps.min().strftime("%Y-%m-%d"), last=stamps.max().strftime("%Y-%m-%d"),
        source=source, timed=int(timed.sum()),
        untimed=words["untimed"].format(n=int((~timed).sum())) if (~timed).any() else "",
        peak_wd=f"{int(np.argmax(per_day[:, 0])):02d}", peak_we=f"{int(np.argmax(per_day[:, 1])):02d}"))
    fig, ax = new_figure((7, 3.4))
    plot_lang = "en" if labels_plot is _TEXT["en"] else lang  # no font for the language: English plots
    for i, name in enumerate(_DAY_TYPES[plot_lang]):
        ax.plot(np.arange(24), per_day[:, i], marker="o", markersize=3, label=name)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlabel(labels_plot["xlabel"])
    ax.set_ylabel(labels_plot["ylabel"])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    report.add_figure(words["by_hour_plot"], fig)
    report.add_table(words["by_hour"] + words["tab"], hours, max_rows=24)
    for column, heading in ((road_col, "by_road"), (light_col, "by_light")):
        if column:
            counts = accident_counts(table[column], labels.get(column))
            report.add_figure(words[heading].format(col=column), _bar_figure(counts, labels_plot["count"]))
            counts["share"] = counts["share"].map(lambda v: f"{v:.1%}")
            report.add_table(words[heading].format(col=column) + words["tab"], counts.rename(columns={
                "code": words["code"], "label": words["label"], "count": words["count"], "share": words["share"]}))
    return report


def _bar_figure(counts: pd.DataFrame, xlabel: str):
    fig, ax = new_figure((7, 0.35 * len(counts) + 1.0))
    ax.barh(np.arange(len(counts))[::-1], counts["count"], color="#bd0026")
    ax.set_yticks(np.arange(len(counts))[::-1], counts["label"])
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3, axis="x")
    return fig


def subday_backtest_report(summary: pd.DataFrame, by_hour: pd.DataFrame | None = None, params: dict | None = None,
                           *, coverage: float = 0.02, title: str | None = None, lang: str = "en") -> Report:
    """The pooled results of a sub-day backtest: PAI, hit rate and PEI per method, gain over the best naive.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``WindowBacktest.summary`` or ``summary.csv`` of ``gridtools hotspots backtest --horizon-hours``.
    by_hour : pandas.DataFrame, optional
        ``WindowBacktest.by_hour`` / ``by_hour.csv``: plotted as PAI by hour of day at *coverage*.
    params : dict, optional
        ``WindowBacktest.params`` / ``summary.json["params"]``.
    coverage : float
        Share of the area of the by-hour plot.
    title : str, optional
    lang : {"en", "zh"}

    Returns
    -------
    Report

    Examples
    --------
    >>> s = pd.DataFrame({"method": ["naive_all", "profile"], "coverage": 0.02, "pai": [4.5, 4.6],
    ...                   "pai_ci_low": [4.0, 4.1], "pai_ci_high": [5.0, 5.1], "hit_rate": [0.09, 0.092],
    ...                   "pei": [0.3, 0.31], "best_naive": "naive_all", "gain_vs_best_naive": [0.0, 0.022],
    ...                   "gain_ci_low": [0.0, -0.02], "gain_ci_high": [0.0, 0.069]})
    >>> "+2.2%" in subday_backtest_report(s).to_html()
    True
    """
    validate.require_columns(summary, ["method", "coverage", "pai", "pai_ci_low", "pai_ci_high", "hit_rate", "pei",
                                       "best_naive", "gain_vs_best_naive", "gain_ci_low", "gain_ci_high"],
                             "sub-day backtest summary")
    words = report_words(_TEXT, lang)
    labels_plot = plot_words(_TEXT, lang)
    params = dict(params or {})
    s = pd.DataFrame(summary).sort_values(["coverage", "pai"], ascending=[True, False])
    best = str(s["best_naive"].iloc[0])
    c = words["bt_cols"]
    table = pd.DataFrame({
        c[0]: s["method"], c[1]: s["coverage"].map(lambda v: f"{v:.0%}"), c[2]: s["pai"].map(lambda v: f"{v:.2f}"),
        c[3]: [f"{lo:.2f} – {hi:.2f}" for lo, hi in zip(s["pai_ci_low"], s["pai_ci_high"])],
        c[4]: s["hit_rate"].map(lambda v: f"{v:.3f}"), c[5]: s["pei"].map(lambda v: f"{v:.3f}"),
        c[6].format(best=best): s["gain_vs_best_naive"].map(lambda v: f"{v:+.1%}"),
        c[7]: [f"{lo:+.1%} – {hi:+.1%}" for lo, hi in zip(s["gain_ci_low"], s["gain_ci_high"])],
    })
    report = Report(title or words["title"], lang=lang)
    n_windows = int(params.get("windows", 0)) * int(params.get("folds", 0))
    windows = f"{n_windows:,}" if n_windows else "?"
    report.add_table(words["bt"].format(windows=windows, hours=float(params.get("horizon_hours", float("nan"))),
                                        folds=params.get("folds", "?"), start=params.get("start", "?")),
                     table, caption=words["bt_note"])
    if by_hour is not None and len(by_hour):
        validate.require_columns(by_hour, ["method", "coverage", "hour", "pai"], "sub-day backtest by_hour")
        at = by_hour[np.isclose(by_hour["coverage"].astype(float), coverage)]
        if len(at):
            fig, ax = new_figure((7, 3.4))
            for method, g in at.groupby("method", sort=False):
                style = "--" if str(method).startswith("naive") else "-"
                ax.plot(g["hour"], g["pai"], style, marker="o", markersize=3, label=str(method))
            ax.set_xticks(sorted(at["hour"].unique()))
            ax.set_xlabel(labels_plot["xlabel"])
            ax.set_ylabel(labels_plot["bt_ylabel"])
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, ncol=2)
            report.add_figure(words["bt_hour"].format(cov=coverage), fig)
    return report


def window_forecast_report(cells, windows: pd.DataFrame, patrol_areas=None, *, share: float = 0.02,
                           hours: float | None = None, title: str | None = None, lang: str = "en") -> Report:
    """A sub-day forecast in a report: the window map with its slider and each window's patrol areas.

    Parameters
    ----------
    cells, windows, patrol_areas
        Layers ``cells``, ``windows`` and ``window_patrol_areas`` of ``gridtools hotspots predict
        --horizon-hours`` (or ``WindowForecast.cells``, ``.windows`` and
        :func:`gridtools.hotspots.window_patrol_areas`), as for :func:`gridtools.maps.hotspot_window_map`.
    share : float
        Share of the area the patrol areas cover.
    hours : float, optional
        Window length (default: the gap between the first two windows).
    title : str, optional
    lang : {"en", "zh"}

    Returns
    -------
    Report

    Examples
    --------
    >>> window_forecast_report(f.cells, f.windows, window_patrol_areas(f)).save("week.html")   # doctest: +SKIP
    """
    from gridtools.maps import hotspot_window_map

    words = report_words(_TEXT, lang)
    report = Report(title or words["title"], lang=lang)
    report.add_map(words["wmap"], hotspot_window_map(cells, windows, patrol_areas, share=share, hours=hours),
                   height_px=620)
    if patrol_areas is not None and len(patrol_areas):
        g = pd.DataFrame(patrol_areas).groupby("window_start", sort=True)
        c = words["wcols"]
        report.add_table(words["wtable"].format(share=share), pd.DataFrame({
            c[0]: g.size().index, c[1]: g.size().to_numpy(), c[2]: g["n_cells"].sum().to_numpy(),
            c[3]: g["expected_events"].sum().round(2).to_numpy(), c[4]: g["n_cells"].max().to_numpy()}), max_rows=200)
    return report
