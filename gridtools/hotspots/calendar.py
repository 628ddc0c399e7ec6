"""Covariates known in advance for sub-day forecasts: school terms and a forecast-weather table.

Both are keyed by wall-clock time (float days since 1970-01-01, as the events), so a forecast can
use them for the windows it forecasts: school terms are published years ahead, and a weather
*forecast* for a window exists before the window starts.  The weather *recorded with an
accident* (Paris' ``weather`` column) is never read: it is known only afterwards.

:class:`SchoolTerms`
    Date ranges of school terms; :meth:`SchoolTerms.holiday` says which working days (Monday-Friday,
    not a public holiday) fall outside every term: the school-holiday working days.
:class:`ForecastWeather`
    A table ``window_start -> value(s)`` (e.g. forecast rain in mm per hour or per 2 hours);
    :meth:`ForecastWeather.wet` says, for each time, whether its forecast value is above a
    threshold, and refuses times the table has no row for, naming them.

Examples
--------
>>> terms = SchoolTerms([("2019-09-02", "2019-10-18"), ("2019-11-04", "2019-12-20")])
>>> days = [to_day(d) for d in ("2019-09-02", "2019-10-21", "2019-10-26")]  # Mon in term, Mon and Sat after
>>> terms.holiday(days).tolist()   # only the working day between the terms is a school-holiday day
[False, True, False]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridtools import timeparse
from gridtools.errors import InputError, describe_rows
from gridtools.hotspots.events import to_day

__all__ = ["SchoolTerms", "ForecastWeather", "read_school_terms", "read_forecast_weather"]


class SchoolTerms:
    """School terms as inclusive date ranges; days outside them on weekdays are school holidays.

    Parameters
    ----------
    ranges : iterable of (start, end)
        First and last day of each term (dates or ``"YYYY-MM-DD"``), end included.
    holidays : iterable of dates, optional
        Public holidays: never counted as school-holiday working days (they are holidays anyway).

    Notes
    -----
    The calendar covers the days from its first term's start to its last term's end.  Days
    outside that span are treated as term time (no effect), and :meth:`require_covers` refuses
    forecast windows outside it, so a forecast never silently assumes a term.
    """

    def __init__(self, ranges, holidays=None):
        spans = [(np.floor(to_day(a)), np.floor(to_day(b))) for a, b in ranges]
        if not spans:
            raise InputError("school_terms=... holds no date range: give at least one (start, end) term.")
        bad = [i + 1 for i, (a, b) in enumerate(spans) if b < a]
        if bad:
            raise InputError(f"school_terms=...: {describe_rows(bad)} end before they start; give (start, end) "
                             "with the last day of the term second.")
        self.spans = np.array(sorted(spans), dtype=float)
        self.first, self.last = float(self.spans[:, 0].min()), float(self.spans[:, 1].max())
        self.holidays = holidays

    def __repr__(self) -> str:
        return f"SchoolTerms({len(self.spans)} terms, {_label(self.first)} to {_label(self.last)})"

    def in_term(self, days) -> np.ndarray:
        """Whether each day (float days; the fraction is ignored) lies in a term."""
        d = np.floor(np.asarray(days, dtype=float))
        i = np.searchsorted(self.spans[:, 0], d, side="right") - 1
        ok = i >= 0
        out = np.zeros(d.shape, dtype=bool)
        out[ok] = d[ok] <= np.maximum.accumulate(self.spans[:, 1])[i[ok]]
        return out

    def holiday(self, t) -> np.ndarray:
        """Whether each time falls on a school-holiday working day (a weekday outside every term,
        inside the calendar's span, not a public holiday)."""
        from gridtools.hotspots.windows import day_types

        d = np.floor(np.asarray(t, dtype=float))
        covered = (d >= self.first) & (d <= self.last)
        return covered & ~self.in_term(d) & (day_types(d, self.holidays) == 0)

    def require_covers(self, start: float, end: float) -> None:
        """Refuse forecast windows ``[start, end)`` (float days) outside the calendar's span."""
        if start < self.first or np.ceil(end) - 1 > self.last:
            raise InputError(f"the school terms run from {_label(self.first)} to {_label(self.last)}, but the "
                             f"forecast windows run from {_label(start, True)} to {_label(end, True)}: give the "
                             "terms of the forecast period too (school_terms=...).")


def read_school_terms(path, holidays=None) -> SchoolTerms:
    """School terms from a CSV with columns ``start`` and ``end`` (first and last day of each term).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "terms.csv"
    >>> _ = p.write_text("start,end\\n2019-09-02,2019-10-18\\n2019-11-04,2019-12-20\\n")
    >>> read_school_terms(p)
    SchoolTerms(2 terms, 2019-09-02 to 2019-12-20)
    """
    frame = _read_table(path, ("start", "end"), "school terms")
    start = timeparse.parse_column(frame["start"], column="start", source=str(path))
    end = timeparse.parse_column(frame["end"], column="end", source=str(path))
    try:
        return SchoolTerms(list(zip(start, end)), holidays=holidays)
    except InputError as err:
        raise InputError(f"{path}: {err} (rows count from 1 after the header)") from None


class ForecastWeather:
    """A forecast-weather table: one row per window start, numeric value columns.

    Parameters
    ----------
    starts : array of float days
        Window starts (wall clock), at a regular step (1 hour, 2 hours, ...).
    values : pandas.DataFrame
        One numeric column per forecast variable (e.g. ``rain_mm``), one row per start.
    threshold : float, default 0
        A time is *wet* when its first column's value is above this.
    source : str
        File name for messages.

    Examples
    --------
    >>> w = ForecastWeather(np.array([to_day("2019-06-03 06:00"), to_day("2019-06-03 08:00")]),
    ...                     pd.DataFrame({"rain_mm": [0.0, 1.5]}))
    >>> w.wet([to_day("2019-06-03 07:30"), to_day("2019-06-03 09:59")]).tolist()
    [False, True]
    """

    def __init__(self, starts, values: pd.DataFrame, threshold: float = 0.0, source: str = "weather"):
        starts = np.asarray(starts, dtype=float)
        order = np.argsort(starts)
        self.minutes = np.round(starts[order] * 1440.0).astype(np.int64)
        if len(self.minutes) < 2:
            raise InputError(f"{source}: a forecast-weather table needs at least two window starts.")
        steps, counts = np.unique(np.diff(self.minutes), return_counts=True)
        self.step = int(steps[np.argmax(counts)])  # minutes; gaps are missing windows, refused when needed
        if self.step <= 0:
            dup = np.flatnonzero(np.diff(self.minutes) == 0)[:5]
            raise InputError(f"{source}: window starts repeat ({', '.join(_label(self.minutes[i] / 1440, True) for i in dup)}); "
                             "give one row per window.")
        self.values = values.iloc[order].reset_index(drop=True)
        self.threshold = float(threshold)
        self.source = source

    def __repr__(self) -> str:
        return (f"ForecastWeather({len(self.minutes)} windows of {self.step} min, {list(self.values.columns)}, "
                f"wet above {self.threshold:g})")

    def value(self, t) -> np.ndarray:
        """The first column's forecast for each time: the row whose window holds it; refuses the rest."""
        m = np.floor(np.asarray(t, dtype=float) * 1440.0 + 1e-6).astype(np.int64)
        i = np.searchsorted(self.minutes, m, side="right") - 1
        found = (i >= 0) & (m < self.minutes[np.maximum(i, 0)] + self.step)
        if not found.all():
            missing = np.unique((m[~found] // self.step) * self.step)
            shown = ", ".join(_label(v / 1440.0, True) for v in missing[:5])
            raise InputError(f"{self.source}: no forecast for {len(missing):,} window(s) of {self.step} min that "
                             f"the forecast uses ({shown}{', ...' if len(missing) > 5 else ''}); the table must cover "
                             "the history the model learns from and every forecast window.")
        return self.values.iloc[:, 0].to_numpy(dtype=float)[i]

    def wet(self, t) -> np.ndarray:
        """Whether the forecast value at each time is above the threshold."""
        return self.value(t) > self.threshold


def read_forecast_weather(path, time_col: str = "window_start", threshold: float = 0.0) -> ForecastWeather:
    """A forecast-weather CSV: column *time_col* (window start, ``YYYY-MM-DD HH:MM``) and numeric columns.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "rain.csv"
    >>> _ = p.write_text("window_start,rain_mm\\n2019-06-03 06:00,0\\n2019-06-03 08:00,2.5\\n")
    >>> read_forecast_weather(p)
    ForecastWeather(2 windows of 120 min, ['rain_mm'], wet above 0)
    """
    from gridtools import validate

    frame = _read_table(path, (time_col,), "forecast weather")
    others = [c for c in frame.columns if c != time_col]
    if not others:
        raise InputError(f"{path}: the forecast-weather table has no value column beside {time_col!r}; add one "
                         "(e.g. rain_mm).")
    starts = timeparse.parse_column(frame[time_col], column=time_col, source=str(path))
    values = pd.DataFrame({c: validate.numeric_column(frame, c, source=str(path)) for c in others})
    return ForecastWeather(starts.astype("datetime64[ns]").astype(np.int64) / 86400e9, values, threshold, str(path))


def _read_table(path, columns, what: str) -> pd.DataFrame:
    from gridtools import validate

    try:
        frame = pd.read_csv(path, dtype=str)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the {what} file {path}: {err}") from None
    validate.require_columns(frame, list(columns), source=str(path))
    if frame.empty:
        raise InputError(f"{path}: the {what} table has no rows.")
    return frame


def _label(day: float, minutes: bool = False) -> str:
    from gridtools.hotspots.events import from_day

    return from_day(day).strftime("%Y-%m-%d %H:%M" if minutes else "%Y-%m-%d")
