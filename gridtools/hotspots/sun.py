"""Darkness from the sun's position: known in advance for any place and wall-clock time.

A covariate of sub-day forecasts (road accidents rise after dark).  The sun's elevation uses
the low-precision formulas of the Astronomical Almanac (about 0.01 degrees from 1950 to 2050:
far finer than needed to call an hour dark or light).  Times are wall-clock days since
1970-01-01 as everywhere in :mod:`gridtools.hotspots`; with ``tz`` they are converted to UTC
through the zone's rules (summer time included), without it by the mean solar offset
``longitude / 15`` hours.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridtools.errors import InputError

__all__ = ["solar_elevation", "to_utc_days", "darkness"]

#: The sun this many degrees below the horizon or lower counts as dark (between civil
#: twilight, -6, and sunset, -0.833: street lights are on, the sky is not yet black).
DARK_BELOW_DEGREES = -3.0


def solar_elevation(utc_days, lat: float, lon: float) -> np.ndarray:
    """Elevation of the sun's centre above the horizon, in degrees.

    Parameters
    ----------
    utc_days : array-like of float
        UTC times in days since 1970-01-01.
    lat, lon : float
        Place in degrees (WGS84).

    Examples
    --------
    >>> noon = 18436.0 + 12 / 24 - 2.35 / 1440 * 60 / 60   # 2020-06-21 ~12:00 UTC
    >>> float(solar_elevation([noon], 0.0, 0.0)[0]).__round__(0)   # summer solstice at the equator
    67.0
    """
    n = np.asarray(utc_days, dtype=float) - 10957.5  # days since J2000.0 (2000-01-01 12:00 UTC)
    mean_long = np.radians((280.460 + 0.9856474 * n) % 360)
    anomaly = np.radians((357.528 + 0.9856003 * n) % 360)
    ecl_long = mean_long + np.radians(1.915) * np.sin(anomaly) + np.radians(0.020) * np.sin(2 * anomaly)
    obliquity = np.radians(23.439 - 4e-7 * n)
    ra = np.arctan2(np.cos(obliquity) * np.sin(ecl_long), np.cos(ecl_long))
    dec = np.arcsin(np.sin(obliquity) * np.sin(ecl_long))
    gmst_deg = (280.46061837 + 360.98564736629 * n) % 360
    hour_angle = np.radians(gmst_deg + lon) - ra
    phi = np.radians(lat)
    sin_el = np.sin(phi) * np.sin(dec) + np.cos(phi) * np.cos(dec) * np.cos(hour_angle)
    return np.degrees(np.arcsin(np.clip(sin_el, -1, 1)))


def to_utc_days(local_days, lon: float, tz: str | None = None) -> np.ndarray:
    """Wall-clock days to UTC days: through *tz*'s rules, else by the mean solar offset.

    Wall-clock times that do not exist (the skipped spring hour) move forward; times that
    occur twice (the repeated autumn hour) are read as standard time.

    Examples
    --------
    >>> float(to_utc_days([18436.5], 2.35, "Europe/Paris")[0] * 24 % 24)   # 12:00 CEST = 10:00 UTC
    10.0
    """
    local = np.asarray(local_days, dtype=float)
    if tz is None:
        return local - lon / 15.0 / 24.0
    try:
        stamps = pd.to_datetime(np.round(local * 86400.0).astype(np.int64), unit="s")
        aware = pd.DatetimeIndex(stamps).tz_localize(tz, ambiguous=np.zeros(len(local), dtype=bool),
                                                     nonexistent="shift_forward")
    except Exception as exc:  # unknown zone names: pytz / zoneinfo raise different classes
        raise InputError(f"tz={tz!r} is not a time zone name (e.g. 'Europe/Paris'): {exc}") from exc
    utc = aware.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[s]")
    return utc.astype(np.int64) / 86400.0


def darkness(local_days, lat: float, lon: float, tz: str | None = None) -> np.ndarray:
    """1 where the sun is :data:`DARK_BELOW_DEGREES` or more below the horizon, else 0.

    Examples
    --------
    >>> # Paris, 2019-12-21: 08:00 is dark, 12:00 light, 18:00 dark (wall clock, CET)
    >>> darkness([18251 + 8 / 24, 18251.5, 18251 + 18 / 24], 48.86, 2.35, "Europe/Paris").tolist()
    [1, 0, 1]
    """
    el = solar_elevation(to_utc_days(local_days, lon, tz), lat, lon)
    return (el < DARK_BELOW_DEGREES).astype(np.int64)
