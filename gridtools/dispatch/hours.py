"""Dock opening hours: daily windows in park local time, and the service a truck needs inside them.

A dock's ``hours`` in the park file are daily windows ``"HH:MM-HH:MM"`` (one string, several
separated by commas, or a list); a window may run past midnight (``"22:00-06:00"``);
``"00:00-24:00"`` or no ``hours`` is always open.  A truck is served at a dock when its whole
service (``service_minutes`` of its cargo type) fits inside one open window.

Examples
--------
>>> parse_hours("08:00-12:00, 13:00-18:00", "dock D1")
('08:00-12:00', '13:00-18:00')
>>> import datetime as dt, zoneinfo
>>> tz = zoneinfo.ZoneInfo("Asia/Shanghai")
>>> fits(("08:00-18:00",), dt.datetime(2026, 11, 24, 17, 40, tzinfo=tz), 30 * 60)
False
>>> next_opening(("08:00-18:00",), dt.datetime(2026, 11, 24, 17, 40, tzinfo=tz), 30 * 60).isoformat()
'2026-11-25T08:00:00+08:00'
"""

from __future__ import annotations

import datetime as dt
import re

from gridtools.errors import InputError

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _minutes(h: str, m: str) -> int:
    return int(h) * 60 + int(m)


def parse_hours(value, where: str) -> tuple:
    """Normalised daily windows (``("08:00-12:00", ...)``) of a park-file ``hours`` value.

    Raises
    ------
    InputError
        Naming ``where`` (the dock entry) and the window that is not ``HH:MM-HH:MM``.
    """
    if value is None or value == "" or value == []:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise InputError(f"{where}: hours must be 'HH:MM-HH:MM' windows (a string or a list), got {value!r}")
    out = []
    for item in items:
        m = _WINDOW.match(str(item))
        if not m:
            raise InputError(f"{where}: hours window {str(item).strip()!r} is not HH:MM-HH:MM (e.g. '08:00-18:00'; "
                             "several: '08:00-12:00, 13:00-18:00')")
        a, b = _minutes(*m.group(1, 2)), _minutes(*m.group(3, 4))
        if int(m.group(2)) > 59 or int(m.group(4)) > 59 or a > 24 * 60 or b > 24 * 60 or a == b:
            raise InputError(f"{where}: hours window {str(item).strip()!r} is not a time range within a day")
        out.append(f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}")
    return tuple(out)


def _windows(hours: tuple, day: dt.date, tz) -> list[tuple[dt.datetime, dt.datetime]]:
    """The open intervals that start on ``day`` (a window past midnight ends the next day)."""
    out = []
    midnight = dt.datetime.combine(day, dt.time(0), tz)
    for w in hours:
        a, b = (_minutes(*p.split(":")) for p in w.split("-"))
        end = b if b > a else b + 24 * 60
        out.append((midnight + dt.timedelta(minutes=a), midnight + dt.timedelta(minutes=end)))
    return out


def always_open(hours: tuple) -> bool:
    return not hours or "00:00-24:00" in hours


def fits(hours: tuple, start: dt.datetime, service_s: float) -> bool:
    """Whether a service from ``start`` (aware) lasting ``service_s`` lies inside one open window.

    Wall-clock windows on the day of ``start`` in its time zone (and the day before, for a
    window past midnight); a DST change inside a window is ignored.
    """
    if always_open(hours):
        return True
    end = start + dt.timedelta(seconds=float(service_s))
    day = start.date()
    for d in (day - dt.timedelta(days=1), day):
        for a, b in _windows(hours, d, start.tzinfo):
            if a <= start and end <= b:
                return True
    return False


def next_opening(hours: tuple, when: dt.datetime, service_s: float, days: int = 8) -> dt.datetime | None:
    """The first time at or after ``when`` at which a service of ``service_s`` fits (None within ``days``)."""
    if fits(hours, when, service_s):
        return when
    best = None
    for k in range(days + 1):
        for a, b in _windows(hours, when.date() + dt.timedelta(days=k), when.tzinfo):
            start = max(a, when)
            if start + dt.timedelta(seconds=float(service_s)) <= b and (best is None or start < best):
                best = start
        if best is not None:
            return best
    return None


def describe(hours: tuple) -> str:
    """``"08:00-12:00, 13:00-18:00"``, or ``"always"``."""
    return "always" if always_open(hours) else ", ".join(hours)
