"""Event types of digital city management and the working-time calendar their deadlines use.

The shipped table (``gridtools/data/event_types.csv``) follows the six event classes of the
digital city-management standards (CJ/T 214, GB/T 30428): 01 city appearance and environment,
02 advertising, 03 construction management, 04 emergencies, 05 street order, 06 other.  Names
are given in Chinese and English.  The 4-digit subclass codes are gridtools' numbering inside
each class (cities number their own, often with local extensions), and the deadlines are
defaults in the range published municipal handling standards use (e.g. dirty road 5 working
hours, missing manhole cover 2 hours, street lamps out 1 working day): load a city's own table
with :func:`event_types` (same columns) to replace them.

Deadlines count in ``working`` hours (the :class:`WorkCalendar`: office periods on working days,
minus holidays, plus make-up working days) or ``calendar`` hours (emergencies).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd

from gridtools import settings
from gridtools.errors import InputError, rows_where
from gridtools import validate

__all__ = ["event_types", "WorkCalendar", "TYPE_COLUMNS"]

TYPE_COLUMNS = (
    "code", "major_code", "major_zh", "major_en", "name_zh", "name_en",
    "deadline_hours", "basis", "urgent", "department_zh", "department_en",
)


def event_types(path=None) -> pd.DataFrame:
    """The event-type table: the shipped default, or a city's own CSV with the same columns.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A CSV with columns :data:`TYPE_COLUMNS`.  Default: the shipped table.

    Returns
    -------
    pandas.DataFrame
        One row per type; ``code`` and ``major_code`` are text, ``deadline_hours`` float,
        ``urgent`` bool.

    Raises
    ------
    InputError
        Missing columns, duplicate codes, bad deadlines or basis.

    Examples
    --------
    >>> types = event_types()
    >>> road = types.set_index("code").loc["0104"]
    >>> road["name_zh"], road["name_en"], float(road["deadline_hours"]), road["basis"]
    ('道路不洁', 'Dirty road', 5.0, 'working')
    >>> sorted(types["major_en"].unique())[:2]
    ['Advertising', 'City appearance and environment']
    """
    if path is None:
        source = "gridtools/data/event_types.csv"
        with resources.files("gridtools").joinpath("data/event_types.csv").open("rb") as f:
            table = pd.read_csv(f, dtype=str, keep_default_na=False)
    else:
        source = str(path)
        if not Path(path).exists():
            raise InputError(f"event type table not found: {path}")
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")

    validate.require_columns(table, list(TYPE_COLUMNS), source)
    table = table[list(TYPE_COLUMNS)].copy()
    dup = table["code"].duplicated(keep=False).to_numpy()
    if dup.any():
        raise InputError(f"{source}: duplicate event type codes in {rows_where(dup, table.index)}.")
    hours = pd.to_numeric(table["deadline_hours"], errors="coerce")
    bad = ~(hours > 0)
    if bad.any():
        raise InputError(
            f"{source}: deadline_hours must be a number > 0; {rows_where(bad.to_numpy(), table.index)}."
        )
    basis = ~table["basis"].isin(["working", "calendar"])
    if basis.any():
        raise InputError(
            f"{source}: basis must be 'working' or 'calendar'; {rows_where(basis.to_numpy(), table.index)}."
        )
    table["deadline_hours"] = hours.astype(float)
    table["urgent"] = table["urgent"].str.strip().str.lower().isin(["true", "1", "yes", "y", "是"])
    return table


def _hm(text: str) -> dt.time:
    hour, minute = (int(v) for v in text.split(":"))
    return dt.time(hour, minute)


@dataclass(frozen=True)
class WorkCalendar:
    """Working time: office periods on working days, minus holidays, plus make-up days.

    Parameters
    ----------
    periods : tuple of (start, end) "HH:MM" strings
        Office periods of a working day (default ``settings.incident_working_periods``).
    weekdays : tuple of int
        Working weekdays, Monday = 0.
    holidays : frozenset of datetime.date
        Days off that would otherwise be working days (public holidays).
    workdays : frozenset of datetime.date
        Make-up working days (调休) that would otherwise be days off.

    Examples
    --------
    >>> cal = WorkCalendar(periods=(("09:00", "12:00"), ("13:00", "17:00")))
    >>> cal.add(dt.datetime(2026, 11, 20, 16, 0), 5)   # Friday 16:00 + 5 working hours
    datetime.datetime(2026, 11, 23, 14, 0)
    >>> cal.hours_between(dt.datetime(2026, 11, 20, 16, 0), dt.datetime(2026, 11, 23, 14, 0))
    5.0
    """

    periods: tuple = field(default_factory=lambda: tuple(settings.incident_working_periods))
    weekdays: tuple = (0, 1, 2, 3, 4)
    holidays: frozenset = frozenset()
    workdays: frozenset = frozenset()

    def is_working_day(self, day: dt.date) -> bool:
        """True for a working day."""
        if day in self.workdays:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    def _spans(self, day: dt.date):
        if self.is_working_day(day):
            for start, end in self.periods:
                yield dt.datetime.combine(day, _hm(start)), dt.datetime.combine(day, _hm(end))

    def add(self, start: dt.datetime, hours: float) -> dt.datetime:
        """The moment *hours* working hours after *start*."""
        left = dt.timedelta(hours=float(hours))
        day = start.date()
        for _ in range(3660):  # ten years of days: a calendar with no working time fails below
            for lo, hi in self._spans(day):
                begin = max(lo, start)
                if begin >= hi:
                    continue
                if begin + left <= hi:
                    return begin + left
                left -= hi - begin
            day += dt.timedelta(days=1)
        raise InputError("the working calendar has no working time in ten years; check its periods and days.")

    def hours_between(self, start: dt.datetime, end: dt.datetime) -> float:
        """Working hours from *start* to *end* (0 when *end* is earlier)."""
        total = dt.timedelta()
        day = start.date()
        while day <= end.date():
            for lo, hi in self._spans(day):
                a, b = max(lo, start), min(hi, end)
                if b > a:
                    total += b - a
            day += dt.timedelta(days=1)
        return total.total_seconds() / 3600.0
