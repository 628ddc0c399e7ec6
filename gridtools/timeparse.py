"""Times: the one parser for dates and timestamps that users give gridtools.

A time column is read once, here, with three rules:

1. **Day-first or month-first is never guessed.**  ``03/12/2019`` is 3 December in most of the
   world and March 12 in the United States.  A column whose numbers settle it (a first field
   above 12 means day-first; a second field above 12 means month-first) is read that way; a
   column where they contradict each other is refused with the rows; a column that no value
   settles is refused unless ``dayfirst=`` says which it is.  ISO dates (``2019-12-03``) are
   never ambiguous.
2. **One format per column.**  A column that mixes families (ISO ``2019-12-03`` in some rows,
   ``03/12/2019`` in others, or text months) is refused naming the rows of each, because a
   parser that accepts everything reads some of it wrong.  Within a family, rows with and
   without a time of day may mix.
3. **Time zones are explicit.**  Values with an offset (``+08:00``, ``Z``) are converted to UTC
   (``aware="utc"``) or keep their wall clock (``aware="local"``), as the caller says; naive
   values are taken as written.  ``tz="Europe/Paris"`` converts them to that zone's wall clock
   instead (what sub-day forecasts need: their windows are wall-clock hours, so a DST day has
   the same windows as any other).  The result is always naive ``datetime64[ns]``.

A separate hour column (Toronto's ``occurrencehour``) is added to a date column with
``hour=``; :func:`time_of_day_rows` says which rows carry a time of day at all.

Examples
--------
>>> from gridtools import timeparse
>>> timeparse.parse_column(["13/01/2019", "03/12/2019"], column="date").astype(str).tolist()
['2019-01-13T00:00:00.000000000', '2019-12-03T00:00:00.000000000']
>>> timeparse.parse_moment("2026-11-23 07:30")
Timestamp('2026-11-23 07:30:00')
"""

from __future__ import annotations

import datetime as dt
import re
import warnings

import numpy as np
import pandas as pd

from gridtools.errors import InputError, describe_rows

__all__ = ["parse_column", "parse_moment", "has_time_of_day", "time_of_day_rows", "AWARE"]

#: What to do with values that carry a UTC offset.
AWARE = ("utc", "local")

_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})\b")
_FAMILIES = {
    "ISO (YYYY-MM-DD)": re.compile(r"^\s*\d{4}-\d{1,2}-\d{1,2}"),
    "YYYY/MM/DD": re.compile(r"^\s*\d{4}[/.]\d{1,2}[/.]\d{1,2}"),
    "DD/MM/YYYY or MM/DD/YYYY": _NUMERIC_DATE,
}
# A UTC offset after a time of day ("10:00+08:00", "10:00:00Z"); "-31" ending a date is not one.
_OFFSET = re.compile(r"(?P<clock>\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:[+-]\d\d(?::?\d\d)?|Z)$")
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}")


def parse_column(values, *, column: str = "time", source: str = "data", rows=None, dayfirst: bool | None = None,
                 aware: str = "utc", tz: str | None = None, hour=None, hour_column: str = "hour") -> np.ndarray:
    """Parse a column of dates or timestamps, refusing what cannot be read unambiguously.

    Parameters
    ----------
    values : array-like or pandas.Series
        Text, datetimes or datetime64 values.
    column, source : str
        Column and file names for messages.
    rows : array-like of int, optional
        Row numbers to name in messages (counting from 1); default: position + 1.
    dayfirst : bool, optional
        Whether ``01/02/2019`` is 1 February (True) or January 2 (False).  Needed only when no
        value of the column settles it; a value that contradicts it is refused.
    aware : {"utc", "local"}, default "utc"
        Values with a UTC offset: converted to UTC, or kept at their local wall clock.
    tz : str, optional
        An IANA zone (``"Europe/Paris"``): values with a UTC offset are converted to its wall
        clock (this overrides *aware*); naive values are taken as that wall clock already.
    hour : array-like of int, optional
        Hour of day (0-23) of each row, added to dates that carry no time of day (a column
        such as Toronto's ``occurrencehour``); a value outside 0-23 is refused by row.
    hour_column : str
        Name of the hour column, for messages.

    Returns
    -------
    numpy.ndarray of datetime64[ns]
        Naive times, one per value.

    Raises
    ------
    InputError
        Empty or unreadable values, mixed formats, or ambiguous day/month order, naming the rows.

    Examples
    --------
    >>> parse_column(["2019-01-02 10:00", "2019-01-03"], column="t").astype(str).tolist()
    ['2019-01-02T10:00:00.000000000', '2019-01-03T00:00:00.000000000']
    >>> parse_column(["01/02/2019"], column="t")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    gridtools.errors.InputError: data: column 't' holds dates like '01/02/2019' ...
    >>> parse_column(["2019-03-31T03:30+02:00"], tz="Europe/Paris").astype(str).tolist()
    ['2019-03-31T03:30:00.000000000']
    >>> parse_column(["2019-01-02"], hour=[7]).astype(str).tolist()
    ['2019-01-02T07:00:00.000000000']
    """
    if tz is not None:
        _check_zone(tz)
    if aware not in AWARE:
        raise InputError(f"aware={aware!r}: use one of {', '.join(map(repr, AWARE))}")
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    series = series.reset_index(drop=True)
    rows = np.arange(1, len(series) + 1) if rows is None else np.asarray(rows)
    where = f"{source}: column {column!r}"
    if pd.api.types.is_datetime64_any_dtype(series):
        parsed = series
    else:
        text = series.astype("string").str.strip()
        text = text.mask(text == "")
        parsed = _parse_text(text, where, rows, dayfirst, aware)
    if getattr(parsed.dt, "tz", None) is not None:
        if tz is not None:
            parsed = parsed.dt.tz_convert(tz)
        elif aware == "utc":
            parsed = parsed.dt.tz_convert("UTC")
        parsed = parsed.dt.tz_localize(None)
    bad = parsed.isna().to_numpy()
    if bad.any():
        positions = np.flatnonzero(bad)
        examples = ", ".join(f"row {rows[p]}: {_shown(series.iloc[p])}" for p in positions[:5])
        raise InputError(
            f"{where} has {len(positions)} value(s) that are not dates in {describe_rows(rows[positions])} "
            f"({examples}). Fix or delete those rows (rows count from 1 after the header), or choose "
            "the right column."
        )
    out = parsed.to_numpy(dtype="datetime64[ns]")
    if hour is not None:
        out = _add_hours(out, hour, f"{source}: column {hour_column!r}", rows, where)
    return out


def _check_zone(tz: str) -> None:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(str(tz))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InputError(f"tz={tz!r} is not a time zone; use an IANA name such as 'Europe/Paris'.") from None


def _add_hours(stamps: np.ndarray, hour, where: str, rows: np.ndarray, date_where: str) -> np.ndarray:
    """Dates plus an hour-of-day column; a date that already has a time of day is refused."""
    hours = pd.to_numeric(pd.Series(hour).reset_index(drop=True), errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(hours) | (hours < 0) | (hours > 23) | (hours != np.floor(hours))
    if bad.any():
        raise InputError(f"{where} has {int(bad.sum())} value(s) that are not hours 0-23 in "
                         f"{describe_rows(rows[np.flatnonzero(bad)])}. Fix those rows.")
    clock = stamps - stamps.astype("datetime64[D]")
    timed = clock != np.timedelta64(0, "ns")
    if timed.any():
        raise InputError(f"{date_where} already has a time of day in {describe_rows(rows[np.flatnonzero(timed)])}; "
                         "give either dates plus an hour column, or full timestamps without it.")
    return stamps + (hours.astype(np.int64) * 3600 * 10**9).astype("timedelta64[ns]")


def time_of_day_rows(values) -> np.ndarray:
    """Per row, whether a text time carries a time of day (``10:30``).

    Datetime values count as timed unless every one of them is at midnight (dates read
    as datetimes).

    Examples
    --------
    >>> time_of_day_rows(["2019-01-02 10:30", "2019-01-03", None]).tolist()
    [True, False, False]
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(series):
        return np.full(len(series), has_time_of_day(series))
    return series.astype("string").str.contains(_TIME_OF_DAY, regex=True, na=False).to_numpy(dtype=bool)


def _parse_text(text: pd.Series, where: str, rows: np.ndarray, dayfirst: bool | None,
                aware: str = "utc") -> pd.Series:
    present = text.notna().to_numpy()
    if aware == "local":  # the wall clock as written: the offset says nothing more
        text = text.str.replace(_OFFSET, lambda m: m.group("clock"), regex=True)
    family = _families(text)
    _refuse_mixed_families(text, family, present, where, rows)
    numeric = family == "DD/MM/YYYY or MM/DD/YYYY"
    if numeric.any():
        dayfirst = _settle_dayfirst(text, numeric, where, rows, dayfirst)
    offsets = text.str.match(r".*" + _OFFSET.pattern, na=False)
    with warnings.catch_warnings():  # "could not infer format": the retry below handles it
        warnings.simplefilter("ignore", UserWarning)
        parsed = _to_datetime(text, dayfirst=bool(dayfirst), utc=bool(offsets.any()))
        retry = parsed.isna().to_numpy() & present
        if retry.any():  # within one family rows with and without a time of day may mix
            again = _to_datetime(text[retry], dayfirst=bool(dayfirst), utc=bool(offsets.any()), format="mixed")
            parsed = parsed.astype(object)
            parsed[retry] = again
            parsed = pd.to_datetime(parsed, utc=bool(offsets.any()))
    return parsed


def _to_datetime(text: pd.Series, **kwargs) -> pd.Series:
    try:
        return pd.to_datetime(text, errors="coerce", **kwargs)
    except (ValueError, TypeError):  # mixed offsets and naive values: read all as UTC
        return pd.to_datetime(text, errors="coerce", **{**kwargs, "utc": True})


def _families(text: pd.Series) -> np.ndarray:
    family = np.full(len(text), "", dtype=object)
    filled = text.fillna("")
    for name, pattern in _FAMILIES.items():
        hit = filled.str.match(pattern).to_numpy() & (family == "")
        family[hit] = name
    family[(family == "") & text.notna().to_numpy()] = "other"
    return family


def _refuse_mixed_families(text, family, present, where, rows) -> None:
    # Free forms ("Jan 3, 2019", or garbage) carry no day/month-order risk: the parser reads
    # them or reports them as not dates.  Only numeric families that differ are refused.
    kinds = [k for k in pd.unique(family[present]) if k != "other"]
    if len(kinds) <= 1:
        return
    parts = []
    for kind in kinds:
        hit = np.flatnonzero(family == kind)
        parts.append(f"{kind} in {describe_rows(rows[hit], limit=3)} (e.g. {text.iloc[hit[0]]!r})")
    raise InputError(
        f"{where} mixes date formats: {'; '.join(parts)}. A mixed column is read wrong somewhere; "
        "write every row in one format (YYYY-MM-DD HH:MM is safest)."
    )


def _settle_dayfirst(text, numeric, where, rows, dayfirst):
    parts = text[numeric].str.extract(_NUMERIC_DATE).astype(int)
    first, second = parts[0].to_numpy(), parts[1].to_numpy()
    numeric_rows = rows[np.flatnonzero(numeric)]
    impossible = (first > 12) & (second > 12)  # neither part can be the month: not a date at all
    if impossible.any():
        example = text[numeric].iloc[int(np.flatnonzero(impossible)[0])]
        raise InputError(f"{where} has values that are no date ({describe_rows(numeric_rows[impossible], limit=3)}, "
                         f"e.g. {example!r}: neither of its first two numbers can be a month). Fix those rows; "
                         "write dates as YYYY-MM-DD.")
    day_first_rows = numeric_rows[first > 12]
    month_first_rows = numeric_rows[second > 12]
    if len(day_first_rows) and len(month_first_rows):
        raise InputError(
            f"{where} has dates that only read day-first ({describe_rows(day_first_rows, limit=3)}) and "
            f"dates that only read month-first ({describe_rows(month_first_rows, limit=3)}): the column mixes "
            "both orders. Fix those rows; write dates as YYYY-MM-DD."
        )
    evidence = True if len(day_first_rows) else False if len(month_first_rows) else None
    if evidence is not None and dayfirst is not None and evidence != dayfirst:
        against = day_first_rows if evidence else month_first_rows
        raise InputError(
            f"{where}: dayfirst={dayfirst} was given, but {describe_rows(against, limit=3)} only read "
            f"{'day' if evidence else 'month'}-first (a {'day' if evidence else 'month'} above 12 cannot be "
            f"a {'month' if evidence else 'day'}). Drop dayfirst=... or fix those rows."
        )
    if evidence is None and dayfirst is None:
        ambiguous = np.flatnonzero(first != second)
        if len(ambiguous) == 0:
            return False  # 01/01, 02/02, ...: both readings agree
        example = text[numeric].iloc[ambiguous[0]]
        raise InputError(
            f"{where} holds dates like {example!r} that read as day-first or month-first, and no value "
            "settles it (none has a day above 12). Say which with dayfirst=True (03/12/2019 = 3 Dec) "
            "or dayfirst=False (= March 12)."
        )
    return evidence if evidence is not None else dayfirst


def _shown(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)) or not str(value).strip():
        return "empty"
    return repr(str(value))


def has_time_of_day(values) -> bool:
    """Whether a column of text times carries a time of day (``10:30``) anywhere.

    A sub-day forecast needs one: dates alone put every event at midnight.

    Examples
    --------
    >>> has_time_of_day(["2019-01-02 10:30", "2019-01-03"]), has_time_of_day(["2019-01-02"])
    (True, False)
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(series):
        stamps = pd.to_datetime(series.dropna())
        return bool(((stamps - stamps.dt.normalize()) != pd.Timedelta(0)).any())
    return bool(series.astype("string").str.contains(_TIME_OF_DAY, regex=True, na=False).any())


def parse_moment(value, *, what: str = "time", aware: str = "utc", end_of_day: bool = False,
                 dayfirst: bool | None = None) -> pd.Timestamp:
    """Parse one time a user gives (a cutoff, a period end, a departure) into a naive Timestamp.

    Parameters
    ----------
    value : str, datetime, date or Timestamp
    what : str
        What the value is, for messages (``"cutoff"``).
    aware : {"utc", "local"}, default "utc"
        A value with a UTC offset: converted to UTC, or kept at its wall clock.
    end_of_day : bool, default False
        A bare date (no time of day) means the last instant of that day (a period's end).
    dayfirst : bool, optional
        As for :func:`parse_column`.

    Returns
    -------
    pandas.Timestamp

    Raises
    ------
    InputError
        Unreadable or missing value, with the accepted format.

    Examples
    --------
    >>> parse_moment("2019-06-30", end_of_day=True)
    Timestamp('2019-06-30 23:59:59.999999999')
    >>> parse_moment("2019-06-30T08:00+08:00")
    Timestamp('2019-06-30 00:00:00')
    """
    if aware not in AWARE:
        raise InputError(f"aware={aware!r}: use one of {', '.join(map(repr, AWARE))}")
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        raise InputError(f"missing {what}; write it as 'YYYY-MM-DD HH:MM'.")
    bare_date = isinstance(value, dt.date) and not isinstance(value, dt.datetime)
    if isinstance(value, str):
        bare_date = not _TIME_OF_DAY.search(value)
        stamp = _parse_text(pd.Series([value.strip() or None], dtype="string"), f"the {what}", np.array([1]),
                            dayfirst, aware).iloc[0]
    else:
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, TypeError):
            stamp = pd.NaT
    if pd.isna(stamp):
        raise InputError(f"cannot read the {what} {value!r}; write it as 'YYYY-MM-DD HH:MM'.")
    if stamp.tzinfo is not None:
        stamp = (stamp.tz_convert("UTC") if aware == "utc" else stamp).tz_localize(None)
    if end_of_day and bare_date:
        return stamp + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    return stamp
