"""Sub-day forecast windows: wall-clock windows of ``H`` hours and the hour-of-day slots they cover.

Event times are wall-clock times (naive local time, or converted to a zone's wall clock with
``tz=``), in float days since 1970-01-01.  A forecast at cutoff ``c`` covers ``N`` consecutive
windows ``[c + k H, c + (k + 1) H)``; windows are counted on the wall clock, so a day with a
daylight-saving change has the same windows as any other (none lost or doubled: an event at
02:30 on the night clocks go back falls in the 02:00-04:00 window, whichever 02:30 it was).

A *slot* is one hour of day on one *day type* (0 = working day, 1 = weekend or holiday).
Time-of-day estimators keep a rate per cell and slot; :func:`slot_weights` says how many hours
of each slot a window covers, so a forecast is a matrix product.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridtools.errors import InputError, describe_rows
from gridtools.hotspots.events import EventSet, from_day, to_day

__all__ = [
    "N_DAY_TYPES",
    "N_SLOTS",
    "check_bin_hours",
    "check_window_hours",
    "window_starts",
    "window_labels",
    "day_types",
    "slot_of",
    "slot_weights",
    "slot_exposure",
    "require_time_of_day",
    "label_frame",
]

#: Day types: working day, weekend / holiday.
N_DAY_TYPES = 2
#: Slots: one per hour of day and day type.
N_SLOTS = 24 * N_DAY_TYPES


def check_window_hours(hours) -> float:
    """The window length in hours, refused unless it tiles a day (or is whole days).

    Windows that divide 24 h start at the same hours every day, so a time-of-day method sees
    the same windows in training and forecasting.

    Examples
    --------
    >>> check_window_hours(2), check_window_hours(48)
    (2.0, 48.0)
    >>> check_window_hours(5)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    gridtools.errors.InputError: horizon_hours=... is 5 hours, which does not divide a day ...
    """
    ok = isinstance(hours, (int, float, np.integer, np.floating)) and np.isfinite(hours) and hours > 0
    if not ok:
        raise InputError(f"horizon_hours must be a positive number of hours, not {hours!r}.")
    minutes = float(hours) * 60
    tiles = abs(minutes - round(minutes)) < 1e-9 and (
        (minutes <= 1440 and 1440 % round(minutes) == 0) or round(minutes) % 1440 == 0)
    if not tiles:
        raise InputError(
            f"horizon_hours=... is {hours:g} hours, which does not divide a day: windows would start at different hours on "
            "different days. Use 1, 2, 3, 4, 6, 8, 12 or 24 hours (or whole days)."
        )
    return float(hours)


def check_bin_hours(bin_hours) -> None:
    """Refuse a time-of-day bin that does not divide 24 hours (bins must tile every day alike).

    Examples
    --------
    >>> check_bin_hours(3)
    >>> check_bin_hours(5)
    Traceback (most recent call last):
    gridtools.errors.InputError: bin_hours must divide 24, not 5.
    """
    ok = isinstance(bin_hours, (int, float, np.integer, np.floating)) and 0 < bin_hours <= 24
    if not ok or abs(24 / bin_hours - round(24 / bin_hours)) > 1e-9:
        raise InputError(f"bin_hours must divide 24, not {bin_hours!r}.")


def window_starts(cutoff, hours: float, windows: int) -> np.ndarray:
    """Starts (float days) of *windows* consecutive windows of *hours* from *cutoff*.

    Examples
    --------
    >>> [str(from_day(s)) for s in window_starts("2019-03-31 00:00", 12, 2)]
    ['2019-03-31 00:00:00', '2019-03-31 12:00:00']
    """
    if not isinstance(windows, (int, np.integer)) or windows < 1:
        raise InputError(f"windows must be an integer >= 1, not {windows!r}.")
    hours = check_window_hours(hours)
    # whole minutes: no float drift in labels over thousands of windows
    minute0 = np.round(to_day(cutoff) * 1440.0)
    return (minute0 + np.arange(int(windows)) * round(hours * 60)) / 1440.0


def window_labels(starts) -> list[str]:
    """Window starts as ``"YYYY-MM-DD HH:MM"`` (wall clock).

    Examples
    --------
    >>> window_labels([17987.25])
    ['2019-04-01 06:00']
    """
    return [from_day(s).strftime("%Y-%m-%d %H:%M") for s in np.atleast_1d(starts)]


def day_types(days, holidays=None) -> np.ndarray:
    """Day type of whole days since 1970-01-01: 0 working day, 1 Saturday, Sunday or a holiday.

    Parameters
    ----------
    days : array-like of int
    holidays : iterable of dates, optional
        Public holidays or other days that behave like a Sunday (e.g. from a calendar file).

    Examples
    --------
    >>> day_types([17987, 17992, 17993]).tolist()   # Mon 1, Sat 6, Sun 7 April 2019
    [0, 1, 1]
    """
    days = np.asarray(days, dtype=np.int64)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    kind = (weekday >= 5).astype(np.int64)
    if holidays is not None and len(holidays):
        special = np.array(sorted({int(np.floor(to_day(h))) for h in holidays}), dtype=np.int64)
        kind[np.isin(days, special)] = 1
    return kind


def slot_of(t, holidays=None) -> np.ndarray:
    """Slot (day type x 24 + hour of day) of each time (float days).

    Examples
    --------
    >>> slot_of([17987.3, 17992.99]).tolist()      # Monday 07:12, Saturday 23:45
    [7, 47]
    """
    t = np.asarray(t, dtype=float)
    day = np.floor(t)
    hour = np.minimum(np.floor((t - day) * 24.0 + 1e-9), 23).astype(np.int64)
    return day_types(day, holidays) * 24 + hour


def slot_weights(starts, hours: float, holidays=None, include=None) -> np.ndarray:
    """Hours of each slot that each window covers: shape ``(len(starts), N_SLOTS)``, rows sum to *hours*.

    *include*, a function of the times of the hours' middles returning booleans, counts only the
    hours it accepts (e.g. school-holiday hours: :meth:`gridtools.hotspots.calendar.SchoolTerms.holiday`).

    Examples
    --------
    >>> w = slot_weights([17987.25], 2)          # Monday 06:00-08:00
    >>> np.flatnonzero(w[0]).tolist(), float(w[0].sum())
    ([6, 7], 2.0)
    """
    starts = np.atleast_1d(np.asarray(starts, dtype=float))
    first = np.floor(starts * 24.0 + 1e-9)  # hour index of the window's first hour
    n_pieces = int(np.ceil(hours)) + 1
    out = np.zeros((len(starts), N_SLOTS))
    s_h, e_h = starts * 24.0, starts * 24.0 + hours
    for k in range(n_pieces):
        b = first + k
        overlap = np.clip(np.minimum(e_h, b + 1) - np.maximum(s_h, b), 0, None)
        slots = slot_of((b + 0.5) / 24.0, holidays)
        if include is not None:
            overlap = overlap * np.asarray(include((b + 0.5) / 24.0), dtype=float)
        np.add.at(out, (np.arange(len(starts)), slots), overlap)
    return out


def slot_exposure(first_day: float, cutoff: float, holidays=None) -> np.ndarray:
    """Hours of history in each slot between *first_day* and *cutoff* (both float days).

    Examples
    --------
    >>> e = slot_exposure(17987.0, 17994.0)          # one week from a Monday
    >>> float(e[:24].sum()), float(e[24:].sum())     # 5 working days, 2 weekend days
    (120.0, 48.0)
    """
    start_h, end_h = np.ceil(first_day * 24.0 - 1e-9), np.floor(cutoff * 24.0 + 1e-9)
    if end_h <= start_h:
        return np.zeros(N_SLOTS)
    hours = np.arange(start_h, end_h)
    return np.bincount(slot_of((hours + 0.5) / 24.0, holidays), minlength=N_SLOTS).astype(float)


def require_time_of_day(events: EventSet, *, what: str = "a sub-day forecast") -> None:
    """Refuse events whose times were dates without a time of day.

    Raises
    ------
    InputError
        Naming the rows without a time of day (``events.report["untimed_rows"]``).

    Examples
    --------
    >>> ev = EventSet(t=np.zeros(1), x=np.zeros(1), y=np.zeros(1), row=np.array([1]), crs=None,
    ...               report={"untimed_rows": [1], "source": "a.csv"})
    >>> require_time_of_day(ev)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    gridtools.errors.InputError: a.csv: 1 event(s) have a date but no time of day ...
    """
    untimed = events.report.get("untimed_rows") or []
    if untimed:
        raise InputError(
            f"{events.report.get('source', 'events')}: {len(untimed):,} event(s) have a date but no time of day "
            f"({describe_rows(untimed)}, counting from 1 after the header); {what} needs a time (HH:MM) "
            "on every row, else it would put them all at midnight. Give a timestamp column, add the hour "
            "with hour_col=..., fix those rows, or forecast whole days (horizon_days=...)."
        )


def label_frame(starts, hours: float) -> pd.DataFrame:
    """One row per window: ``window``, ``window_start``, ``hour`` (of the start), ``day_type``.

    Examples
    --------
    >>> label_frame([17987.25], 2).to_dict("records")
    [{'window': 0, 'window_start': '2019-04-01 06:00', 'hour': 6, 'day_type': 0}]
    """
    starts = np.atleast_1d(starts)
    slots = slot_of(starts)
    return pd.DataFrame({"window": np.arange(len(starts)), "window_start": window_labels(starts),
                         "hour": slots % 24, "day_type": slots // 24})
