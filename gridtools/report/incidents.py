"""The report on city management cases: cases per grid, the closed loop per grid and per type, overdue cases.

Examples
--------
>>> from gridtools.report import incident_report
>>> incident_report(store, grids, period=("2026-10-01", "2026-10-31")).save("report.html")   # doctest: +SKIP
PosixPath('report.html')
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from gridtools import settings, timeparse, validate
from gridtools.report.base import Report, histogram, localize_headers, plot_words, report_words

__all__ = ["case_statistics", "overdue_cases", "incident_report"]

_INCIDENT_TEXT = {
    "en": {
        "title": "City management cases",
        "summary": "Summary",
        "lines": ("{period}: {cases:,} cases reported, {closed:,} closed, {open:,} open, {rejected:,} rejected; "
                  "{outside:,} lie outside every grid. Of the closed cases {solved} were solved inside their "
                  "grid (never escalated) and {on_time} were handled by their deadline; closing took a "
                  "median of {median} hours (mean {mean}). {overdue:,} open cases are overdue at {now}."),
        "all": "All cases", "from": "from {0}", "to": "to {0}",
        "map": "Cases per grid", "grids": "Closed loop per grid", "types": "Closed loop per event type",
        "overdue": "Overdue cases", "none": "No case is overdue.", "hours": "Hours from report to close",
        "xlabel": "hours from report to close", "ylabel": "closed cases",
        "type_name": "name_en",
        "assess": "Assessment per {0} (GB/T 30428.4 style: score, grade, change on the previous period)",
    },
    "zh": {
        "title": "城市管理案件报告",
        "summary": "概要",
        "lines": ("{period}：上报案件 {cases:,} 件，已结案 {closed:,} 件，在办 {open:,} 件，不予立案 {rejected:,} 件；"
                  "{outside:,} 件不在任何网格内。已结案件中 {solved} 在网格内解决（未升级），{on_time} 按时处置；"
                  "结案用时中位数 {median} 小时（平均 {mean} 小时）。截至 {now}，在办案件中 {overdue:,} 件超期。"),
        "all": "全部案件", "from": "自 {0}", "to": "至 {0}",
        "map": "各网格案件数", "grids": "各网格闭环情况", "types": "各事件类型闭环情况",
        "overdue": "超期案件", "none": "没有超期案件。", "hours": "上报至结案用时",
        "xlabel": "上报至结案小时数", "ylabel": "已结案件数",
        "type_name": "name_zh",
        "assess": "考评：{0}（参照 GB/T 30428.4：得分、等级、环比）",
    },
}
_OUTSIDE = "(outside grids)"
#: Statuses of a case still in the loop (the ``open`` column; the store's rule).
_OPEN = ("reported", "registered", "dispatched", "handled", "verified")
def overdue_cases(cases: pd.DataFrame, types: pd.DataFrame, now) -> pd.DataFrame:
    """Open cases past their limit at *now*: the rule of ``IncidentStore.overdue``, on a table.

    Reported and registered cases are due ``settings.incident_dispatch_minutes`` after the report
    (``incident_dispatch_minutes_urgent`` for urgent types), dispatched cases at their deadline.

    Parameters
    ----------
    cases : pandas.DataFrame
        The ``cases`` table of an :class:`~gridtools.incidents.IncidentStore` (``store.cases()``).
    types : pandas.DataFrame
        Event types with ``code`` and ``urgent`` (``store.types()``).
    now : pandas.Timestamp
        When overdue is judged.

    Returns
    -------
    pandas.DataFrame
        The overdue cases with ``stage`` (``dispatch`` or ``handling``), ``due_at`` and
        ``overdue_hours``, most overdue first.

    Examples
    --------
    >>> cases = pd.DataFrame({"case_id": [1], "type_code": ["0104"], "status": ["reported"],
    ...                       "reported_at": ["2026-01-05 09:00"], "deadline_at": [None]})
    >>> types = pd.DataFrame({"code": ["0104"], "urgent": [0]})
    >>> overdue_cases(cases, types, pd.Timestamp("2026-01-05 12:00"))[["stage", "overdue_hours"]].values.tolist()
    [['dispatch', 2.5]]
    """
    open_ = cases[cases["status"].isin(("reported", "registered", "dispatched"))]
    urgent = open_["type_code"].map(types.set_index("code")["urgent"].astype(bool)).fillna(False).to_numpy(bool)
    limit = np.where(urgent, settings.incident_dispatch_minutes_urgent, settings.incident_dispatch_minutes)
    waiting = (open_["status"] != "dispatched").to_numpy()
    due = (pd.to_datetime(open_["reported_at"]) + pd.to_timedelta(limit, unit="min")).where(
        waiting, pd.to_datetime(open_["deadline_at"]))
    over = (due < now).to_numpy()
    out = open_[over].copy()
    out["stage"] = np.where(waiting[over], "dispatch", "handling")
    out["due_at"] = due[over].dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy()
    out["overdue_hours"] = ((now - due[over]).dt.total_seconds() / 3600).round(3).to_numpy()
    return out.sort_values("overdue_hours", ascending=False).reset_index(drop=True)


def case_statistics(cases: pd.DataFrame, by: str = "grid_code", *, overdue: pd.DataFrame | None = None) -> pd.DataFrame:
    """Closed-loop statistics of a case table per grid (or per type, or any column).

    Parameters
    ----------
    cases : pandas.DataFrame
        The ``cases`` table of an :class:`~gridtools.incidents.IncidentStore` (``store.cases()``).
    by : str
        Column to group by; cases without a grid are grouped as ``"(outside grids)"``.
    overdue : pandas.DataFrame, optional
        Overdue cases (``store.overdue(now)``) counted in ``overdue_now``.

    Returns
    -------
    pandas.DataFrame
        Indexed by *by*: ``cases, open, closed, rejected, solved_in_grid, share_solved_in_grid``
        (closed without escalation / closed), ``median_hours_to_close, mean_hours_to_close``
        (report to close), ``on_time_share`` (closed cases handled by their deadline),
        ``overdue_now`` -- the columns of ``IncidentStore.grid_stats``.

    Examples
    --------
    >>> cases = pd.DataFrame({"grid_code": ["g1", "g1", None], "status": ["closed", "dispatched", "closed"],
    ...     "escalations": [0, 0, 1], "reported_at": ["2026-01-05 09:00"] * 3,
    ...     "closed_at": ["2026-01-05 13:00", None, "2026-01-06 09:00"],
    ...     "handled_at": ["2026-01-05 12:00", None, "2026-01-06 08:00"],
    ...     "deadline_at": ["2026-01-05 14:00", "2026-01-05 14:00", "2026-01-05 14:00"]})
    >>> s = case_statistics(cases)
    >>> s[["cases", "closed", "share_solved_in_grid", "median_hours_to_close", "on_time_share"]].values.tolist()
    [[1.0, 1.0, 0.0, 24.0, 0.0], [2.0, 1.0, 1.0, 4.0, 1.0]]
    """
    if cases.empty:
        return pd.DataFrame(columns=["cases", "open", "closed", "rejected", "solved_in_grid", "share_solved_in_grid",
                                     "median_hours_to_close", "mean_hours_to_close", "on_time_share", "overdue_now"],
                            index=pd.Index([], name=by))
    key = cases[by].fillna(_OUTSIDE) if by == "grid_code" else cases[by]
    closed, hours, on_time = _closing(cases)
    frame = pd.DataFrame({
        by: key, "cases": 1,
        "open": cases["status"].isin(_OPEN).astype(int),
        "closed": closed.astype(int), "rejected": (cases["status"] == "rejected").astype(int),
        "solved_in_grid": (closed & (cases["escalations"] == 0)).astype(int),
        "hours": hours.where(closed), "on_time": on_time.where(closed).astype(float),
    })
    grouped = frame.groupby(by)
    stats = grouped[["cases", "open", "closed", "rejected", "solved_in_grid"]].sum()
    stats["share_solved_in_grid"] = (stats["solved_in_grid"] / stats["closed"]).where(stats["closed"] > 0)
    stats["median_hours_to_close"] = grouped["hours"].median()
    stats["mean_hours_to_close"] = grouped["hours"].mean()
    stats["on_time_share"] = grouped["on_time"].mean()
    counts = pd.Series(dtype=int)
    if overdue is not None and len(overdue):
        okey = overdue[by].fillna(_OUTSIDE) if by == "grid_code" else overdue[by]
        counts = okey.value_counts()
    stats["overdue_now"] = counts.reindex(stats.index).fillna(0).astype(int)
    return stats


def _closing(cases: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Per case: closed or not, hours from report to close, handled by its deadline or not."""
    closed = cases["status"] == "closed"
    hours = (pd.to_datetime(cases["closed_at"]) - pd.to_datetime(cases["reported_at"])).dt.total_seconds() / 3600
    on_time = pd.to_datetime(cases["handled_at"]) <= pd.to_datetime(cases["deadline_at"])
    return closed, hours, on_time


def _share(value) -> str:
    return f"{value:.1%}" if pd.notna(value) else "-"


def _hours(value) -> str:
    return f"{value:.1f}" if pd.notna(value) else "-"


def _moment(value, end: bool = False):
    """A time from text/date; a bare date as the end of a period means the end of that day."""
    if value is None:
        return None
    return timeparse.parse_moment(value, what="time", aware="local", end_of_day=end)


def incident_report(cases, grids, *, period=None, now=None, types: pd.DataFrame | None = None,
                    title: str | None = None, lang: str = "en", max_points: int = 5000) -> Report:
    """Report on city management cases: cases per grid on a map, closed-loop statistics, overdue list.

    Parameters
    ----------
    cases : IncidentStore or pandas.DataFrame
        A case store, or its ``cases`` table (``store.cases()``).
    grids : geopandas.GeoDataFrame
        Grid polygons with ``grid_code`` (layer ``grids`` of ``gridtools partition``).
    period : (start, end), optional
        Cases *reported* in ``[start, end]``; either end may be None.  A bare date as end
        includes that whole day.
    now : time, optional
        When overdue is judged (default: now).  Statuses are those stored now.
    types : pandas.DataFrame, optional
        Event types (default: the store's, else the shipped table).
    title : str, optional
    lang : {"en", "zh"}
    max_points : int
        Case points drawn on the map at most (evenly sampled beyond that).

    Returns
    -------
    Report
    """
    import geopandas as gpd

    from gridtools.incidents import event_types
    from gridtools.maps import incident_map

    words = report_words(_INCIDENT_TEXT, lang)
    labels = plot_words(_INCIDENT_TEXT, lang)
    validate.require_columns(grids, {"grid_code": None}, "grids")
    if isinstance(cases, pd.DataFrame):
        table = cases.copy()
        types = event_types() if types is None else types
    else:
        table = cases.cases()
        types = cases.types() if types is None else types
    validate.require_columns(table, ["case_id", "type_code", "grid_code", "status", "reported_at", "closed_at",
                               "handled_at", "deadline_at", "escalations"], "cases")
    start, end = (period if period is not None else (None, None))
    start, end = _moment(start), _moment(end, end=True)
    reported = pd.to_datetime(table["reported_at"])
    keep = np.ones(len(table), dtype=bool)
    if start is not None:
        keep &= (reported >= start).to_numpy()
    if end is not None:
        keep &= (reported <= end).to_numpy()
    table = table[keep].reset_index(drop=True)
    moment = pd.Timestamp(dt.datetime.now().replace(microsecond=0)) if now is None else _moment(now)
    late = overdue_cases(table, types, moment)
    per_grid = case_statistics(table, "grid_code", overdue=late)
    per_type = case_statistics(table, "type_code", overdue=late)

    closed, hours, on_time = _closing(table)
    hours, on_time = hours[closed], on_time[closed]
    parts = [words["from"].format(period[0]) if start is not None else "",
             words["to"].format(period[1]) if end is not None else ""]
    label = " ".join(p for p in parts if p) or words["all"]
    report = Report(title or words["title"], lang=lang)
    report.add_text(words["summary"], words["lines"].format(
        period=label, cases=len(table), closed=int(closed.sum()),
        open=int(table["status"].isin(_OPEN).sum()),
        rejected=int((table["status"] == "rejected").sum()), outside=int(table["grid_code"].isna().sum()
                                                                          + (table["grid_code"] == "").sum()),
        solved=_share((table.loc[closed, "escalations"] == 0).mean()), on_time=_share(on_time.mean()),
        median=_hours(hours.median()), mean=_hours(hours.mean()),
        overdue=len(late), now=moment.strftime("%Y-%m-%d %H:%M")))

    located = table.dropna(subset=["lon", "lat"]) if {"lon", "lat"} <= set(table.columns) else table.iloc[:0]
    points = gpd.GeoDataFrame(located[["case_id", "grid_code", "status"]],
                              geometry=gpd.points_from_xy(located["lon"], located["lat"]) if len(located) else [],
                              crs=4326) if len(located) else None
    report.add_map(words["map"], incident_map(grids, per_grid, events=points, max_events=max_points))
    if closed.any():
        report.add_figure(words["hours"], histogram(hours, xlabel=labels["xlabel"], ylabel=labels["ylabel"],
                                                    color="#a63603", bins=40))
    report.add_table(words["grids"], localize_headers(per_grid.reset_index().round(3), lang))
    names = types.set_index("code")[words["type_name"]]
    by_type = per_type.reset_index()
    by_type.insert(1, "name", by_type["type_code"].map(names))
    report.add_table(words["types"], localize_headers(by_type.round(3), lang))
    if len(late):
        columns = ["case_id", "type_code", "grid_code", "status", "level", "assignee", "stage", "due_at",
                   "overdue_hours"]
        report.add_table(words["overdue"], localize_headers(late[columns], lang))
    else:
        report.add_text(words["overdue"], words["none"])
    if not isinstance(cases, pd.DataFrame) and start is not None and end is not None:
        from gridtools.incidents.assess import SUBJECTS, assess

        for subject in SUBJECTS:  # a store and a closed period: the assessment tables
            table = assess(cases, subject, period=(start, end + pd.Timedelta(seconds=1)), compare=True)
            if len(table):
                report.add_table(words["assess"].format(subject), localize_headers(table.reset_index().round(3), lang))
    return report


