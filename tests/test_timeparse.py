"""gridtools.timeparse: day-first detection, one format per column, explicit time zones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridtools import timeparse
from gridtools.errors import InputError


def days(values, **kw):
    return [str(v)[:16] for v in timeparse.parse_column(values, column="date", **kw)]


def test_a_day_above_12_settles_the_column_as_day_first():
    assert days(["03/12/2019", "25/12/2019 10:30"]) == ["2019-12-03T00:00", "2019-12-25T10:30"]


def test_a_second_field_above_12_settles_it_as_month_first():
    assert days(["03/12/2019", "12/25/2019"]) == ["2019-03-12T00:00", "2019-12-25T00:00"]


def test_a_column_no_value_settles_is_refused_unless_told():
    with pytest.raises(InputError, match=r"dayfirst=True .* dayfirst=False"):
        days(["03/12/2019", "04/11/2019"])
    assert days(["03/12/2019"], dayfirst=True) == ["2019-12-03T00:00"]
    assert days(["03/12/2019"], dayfirst=False) == ["2019-03-12T00:00"]
    assert days(["01/01/2019", "02/02/2019"]) == ["2019-01-01T00:00", "2019-02-02T00:00"]  # both readings agree


def test_contradictions_are_refused_with_the_rows():
    with pytest.raises(InputError, match=r"only read day-first \(row 1\).*month-first \(row 2\)"):
        days(["13/01/2019", "01/13/2019"])
    with pytest.raises(InputError, match=r"dayfirst=False was given, but row 2 only read day-first"):
        days(["03/12/2019", "25/12/2019"], dayfirst=False)


def test_a_value_with_no_possible_month_is_named_not_called_a_mix():
    # 31/31: neither number can be the month; it used to be reported as "mixes both orders (row 1)"
    with pytest.raises(InputError, match=r"no date \(row 2, e.g. '31/31/2020'"):
        days(["01/02/2020", "31/31/2020", "15/01/2020"])
    with pytest.raises(InputError, match=r"--now has values that are no date \(row 1, e.g. '31/31/2024'"):
        timeparse.parse_moment("31/31/2024", what="--now")


def test_mixed_families_are_refused_naming_rows():
    with pytest.raises(InputError, match=r"mixes date formats: ISO \(YYYY-MM-DD\) in rows 1, 3.*row 2"):
        days(["2019-01-02", "02/01/2019", "2019-01-03"])


def test_unreadable_and_empty_values_name_their_rows():
    with pytest.raises(InputError, match=r"2 value\(s\) that are not dates in rows 2, 3 \(row 2: 'soon', row 3: empty\)"):
        days(["2019-01-02", "soon", ""])
    with pytest.raises(InputError, match=r"rows 12, 30"):
        timeparse.parse_column(["2019-01-02", "x", None], column="date", rows=np.array([5, 12, 30]))


def test_offsets_converted_to_utc_or_kept_at_the_wall_clock():
    stamps = ["2019-06-30 08:00+08:00", "2019-06-30T08:00:00Z", "2019-06-30 08:00"]
    assert days(stamps) == ["2019-06-30T00:00", "2019-06-30T08:00", "2019-06-30T08:00"]
    assert days(stamps, aware="local") == ["2019-06-30T08:00"] * 3
    # a date ending in "-31" is not an offset
    assert days(["2026-01-31"], aware="local") == ["2026-01-31T00:00"]


def test_parse_moment_end_of_day_and_messages():
    assert timeparse.parse_moment("2019-06-30", end_of_day=True) == pd.Timestamp("2019-06-30 23:59:59.999999999")
    assert timeparse.parse_moment("2019-06-30 10:00", end_of_day=True) == pd.Timestamp("2019-06-30 10:00")
    with pytest.raises(InputError, match="cannot read the cutoff 'next week'"):
        timeparse.parse_moment("next week", what="cutoff")


def test_has_time_of_day():
    assert timeparse.has_time_of_day(["2019-01-02", "2019-01-02 00:15"])
    assert not timeparse.has_time_of_day(["2019-01-02", "2019-01-03"])
    assert not timeparse.has_time_of_day(pd.Series(pd.to_datetime(["2019-01-02", "2019-01-03"])))
