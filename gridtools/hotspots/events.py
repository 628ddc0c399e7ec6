"""Incident records as arrays: times in days, metric coordinates, the cell each one falls in.

:func:`prepare_events` turns a GeoDataFrame of incidents into an :class:`EventSet` (sorted by
time); :func:`gridtools.hotspots.cells.assign_events` then attaches each event to its cell.
Everything the predictors and the backtest need is a numpy array here, so a fold of a backtest
is a slice, never a copy of a GeoDataFrame.

Times are float days since 1970-01-01 (``t``); a forecast cutoff ``c`` uses events with
``t < c`` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from gridtools import timeparse
from gridtools.errors import InputError, describe_rows
from gridtools.crs import local_metric_crs, parse_crs
from gridtools import validate

__all__ = ["EventSet", "prepare_events", "to_day", "from_day"]

_NS_PER_DAY = 86_400 * 10**9


def to_day(value) -> float:
    """A date (string, Timestamp, datetime64) or a day number as float days since 1970-01-01.

    Text is read by :func:`gridtools.timeparse.parse_moment`; a time with a UTC offset is
    converted to UTC.

    Examples
    --------
    >>> to_day("1970-01-03")
    2.0
    >>> to_day(5.5)
    5.5
    """
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return float(timeparse.parse_moment(value, what="date").value) / _NS_PER_DAY


def from_day(day: float) -> pd.Timestamp:
    """Inverse of :func:`to_day`.

    Examples
    --------
    >>> from_day(2.0)
    Timestamp('1970-01-03 00:00:00')
    """
    return pd.Timestamp(int(round(day * _NS_PER_DAY)))


@dataclass
class EventSet:
    """Incidents sorted by time, as arrays.

    Attributes
    ----------
    t : ndarray of float
        Days since 1970-01-01 (sorted ascending).
    x, y : ndarray of float
        Coordinates in ``crs`` (metres).
    unit : ndarray of int
        Index of the cell each event falls in (-1 until :func:`~gridtools.hotspots.cells.assign_events`).
    pixel : ndarray of int
        Index of the raster pixel each event falls in (-1 until assigned).
    row : ndarray of int
        Row of each event in the input (counting from 1), for messages.
    crs : pyproj.CRS
        The metric CRS of ``x``/``y``.
    report : dict
        What was set aside and why (missing coordinates, outside the study area, ...).
    """

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    row: np.ndarray
    crs: object
    unit: np.ndarray = None
    pixel: np.ndarray = None
    report: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.t)
        if self.unit is None:
            self.unit = np.full(n, -1, dtype=np.int64)
        if self.pixel is None:
            self.pixel = np.full(n, -1, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.t)

    def take(self, index) -> "EventSet":
        """The events at *index* (a boolean mask or positions), keeping their order."""
        return EventSet(
            t=self.t[index], x=self.x[index], y=self.y[index], row=self.row[index], crs=self.crs,
            unit=self.unit[index], pixel=self.pixel[index], report=self.report,
        )

    def between(self, start: float = -np.inf, end: float = np.inf) -> "EventSet":
        """Events with ``start <= t < end`` (a slice: times are sorted)."""
        lo, hi = np.searchsorted(self.t, [start, end], side="left")
        return self.take(slice(lo, hi))

    def before(self, cutoff: float) -> "EventSet":
        """Events strictly before *cutoff* (days): all a forecast at that cutoff may use."""
        return self.between(-np.inf, cutoff)

    @property
    def span(self) -> tuple[float, float]:
        """First and last event time (days)."""
        return (float(self.t[0]), float(self.t[-1])) if len(self.t) else (np.nan, np.nan)


def parse_times(values: pd.Series, column: str, source: str, rows: np.ndarray, *,
                dayfirst: bool | None = None, tz: str | None = None, hour=None,
                hour_column: str = "hour") -> np.ndarray:
    """Parse a date/time column to float days, refusing unparseable values by row.

    :func:`gridtools.timeparse.parse_column` reads the column (day-first or month-first
    detected, one format per column); time-zone-aware values are converted to UTC, naive ones
    are taken as they are (with *tz*: aware values become that zone's wall clock).  *hour* adds
    an hour-of-day column to dates.  Empty values are refused like unparseable ones: an incident
    without a date cannot be placed in a fold.

    Examples
    --------
    >>> parse_times(pd.Series(["1970-01-02", "1970-01-03 12:00"]), "date", "x.csv",
    ...             np.array([1, 2])).tolist()
    [1.0, 2.5]
    """
    parsed = timeparse.parse_column(values, column=column, source=source, rows=rows, dayfirst=dayfirst, aware="utc",
                                    tz=tz, hour=hour, hour_column=hour_column)
    return parsed.astype(np.int64) / _NS_PER_DAY


def prepare_events(
    events: gpd.GeoDataFrame,
    *,
    time: str,
    category_col: str | None = None,
    categories=None,
    crs=None,
    dayfirst: bool | None = None,
    hour_col: str | None = None,
    tz: str | None = None,
    id_col: str | None = None,
    dedupe: bool = False,
) -> EventSet:
    """Turn incident records into an :class:`EventSet` in a metric CRS, sorted by time.

    Parameters
    ----------
    events : geopandas.GeoDataFrame
        Point incidents with a CRS (e.g. from :func:`gridtools.io.read_events`).  Rows already set
        aside by the reader for missing coordinates are taken from
        ``events.attrs["missing_coordinates"]`` and reported.
    time : str
        Column with the date or date-time of each incident.
    category_col : str, optional
        Column holding the incident type.
    categories : str or list of str, optional
        Keep only these values of *category_col* (all when None).
    crs : CRS-like, optional
        Metric CRS to work in; default :func:`gridtools.crs.local_metric_crs` of the events.
    dayfirst : bool, optional
        Whether ``03/12/2019`` is 3 December (True) or March 12 (False); needed only when no value
        of the time column settles it (see :func:`gridtools.timeparse.parse_column`).
    hour_col : str, optional
        Column with the hour of day (0-23) of each event, added to a date-only *time* column.
    tz : str, optional
        IANA zone whose wall clock times with a UTC offset are converted to (sub-day windows
        are wall-clock); default: such times are converted to UTC.
    id_col : str, optional
        Column naming each event (a case or accident number): an id on more than one row is
        refused, naming the ids and rows, since the event would count twice.  Rows with no id
        are kept.
    dedupe : bool, default False
        With *id_col*: keep the first row of each id instead (``report["deduplicated"]``
        counts the rows dropped).

    Returns
    -------
    EventSet
        ``report["untimed_rows"]`` lists the input rows whose time has no time of day (a
        sub-day forecast refuses them).

    Raises
    ------
    InputError
        Missing columns, unparseable dates (rows listed), a category with no events, repeated ids.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"day": ["2020-01-02", "2020-01-01"], "kind": ["a", "b"]},
    ...                      geometry=shapely.points([[0, 0], [100, 0]]), crs=32617)
    >>> ev = prepare_events(g, time="day", category_col="kind", categories="a")
    >>> len(ev), ev.report["kept"]
    (1, 1)
    """
    source = events.attrs.get("source", "events")
    if events.crs is None:
        raise InputError(f"{source} has no CRS; read it with crs='EPSG:4326' (or the CRS it is in).")
    validate.require_columns(events, {time: "time"}, source)
    from_file = "missing_coordinates" in events.attrs
    # Row numbers in messages: the file's data rows when read from a file, else table positions.
    rows = (np.asarray(events.index, dtype=np.int64) + 1) if from_file else np.arange(1, len(events) + 1)
    report = {
        "source": source,
        "rows": int(events.attrs.get("n_rows", len(events))),
        "missing_coordinates": list(events.attrs.get("missing_coordinates", [])),
    }
    if id_col is not None:
        events, rows = _unique_ids(events, rows, id_col, source, dedupe, report)
    elif dedupe:
        raise InputError("dedupe=True needs id_col=...: name the column that identifies each event.")
    geoms = events.geometry.to_numpy()
    import shapely

    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        report["missing_coordinates"] += [int(r) for r in rows[bad]]
        events, rows = events.loc[~bad], rows[~bad]
    if category_col is not None:
        validate.require_columns(events, {category_col: "category_col"}, source)
        if categories is not None:
            wanted = [categories] if isinstance(categories, str) else list(categories)
            present = events[category_col].astype("string")
            counts = present.value_counts()
            empty = [c for c in wanted if counts.get(c, 0) == 0]
            if empty:
                listing = ", ".join(f"{k!r} ({v:,})" for k, v in counts.head(20).items())
                raise InputError(
                    f"{source}: no events of category {', '.join(map(repr, empty))} in column "
                    f"{category_col!r}; its values are: {listing or 'none'}. Check the spelling "
                    "(it is case-sensitive) or the column (category_col=...)."
                )
            keep = present.isin(wanted).to_numpy(dtype=bool, na_value=False)
            events, rows = events.loc[keep], rows[keep]
            report["categories"] = wanted
    elif categories is not None:
        raise InputError("categories=... were given without category_col=...; name the column that holds them.")
    if hour_col is not None:
        validate.require_columns(events, {hour_col: "hour_col"}, source)
        report["untimed_rows"] = []
    else:
        timed = timeparse.time_of_day_rows(events[time].reset_index(drop=True))
        report["untimed_rows"] = [int(r) for r in rows[~timed]]
    hours = None if hour_col is None else events[hour_col].reset_index(drop=True)
    t = parse_times(events[time].reset_index(drop=True), time, source, rows, dayfirst=dayfirst, tz=tz,
                    hour=hours, hour_column=hour_col or "hour")
    target = parse_crs(crs) if crs is not None else local_metric_crs(events)
    metric = events.geometry.to_crs(target)
    xy = shapely.get_coordinates(shapely.centroid(metric.to_numpy()))
    order = np.argsort(t, kind="stable")
    report["kept"] = int(len(t))
    report["input_crs"] = events.crs
    report["tz"] = tz  # the zone of the wall clock, for the sun's position (None: not given)
    return EventSet(
        t=t[order], x=xy[order, 0], y=xy[order, 1], row=rows[order], crs=target, report=report
    )


def _unique_ids(events, rows, id_col: str, source: str, dedupe: bool, report: dict):
    """The events with each id once (or refused): rows without an id are not repeats of each other."""
    from gridtools.identifiers import check_unique_keys

    validate.require_columns(events, {id_col: "id_col"}, source)
    ids = events[id_col].astype("string").str.strip()
    named = (ids.notna() & (ids != "")).to_numpy(dtype=bool)
    keyed = pd.DataFrame({id_col: ids[named].to_numpy()}, index=np.flatnonzero(named))
    kept = check_unique_keys(keyed, id_col, source, dedupe=dedupe, rows=rows[named])
    keep = ~named
    keep[kept.index.to_numpy()] = True
    report["deduplicated"] = int(len(keep) - keep.sum())
    return events.loc[keep], rows[keep]


def missing_rows_text(report: dict) -> str | None:
    """A sentence naming rows set aside for missing coordinates, or None if there were none.

    Examples
    --------
    >>> missing_rows_text({"missing_coordinates": [4, 9], "source": "a.csv"})
    'a.csv: 2 events have no coordinates and were left out (rows 4, 9, counting from 1 after the header)'
    """
    rows = report.get("missing_coordinates") or []
    if not rows:
        return None
    return (
        f"{report.get('source', 'events')}: {len(rows):,} events have no coordinates and were left "
        f"out ({describe_rows(rows)}, counting from 1 after the header)"
    )

