"""gridtools.validate: data checks and the declarative parameter checks (one message shape)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridtools.errors import InputError, ParameterError
from gridtools.validate import (Instance, Interval, Options, check_param, numeric_column, parse_numbers,
                                validate_params)


def test_parameter_message_shape():
    with pytest.raises(ParameterError) as err:
        check_param("cell", -5, [Interval(float, 0, None, closed="neither")], "hotspots.prepare")
    assert str(err.value) == "the 'cell' parameter of hotspots.prepare must be a positive number; got -5"
    assert err.value.parameter == "cell"


@pytest.mark.parametrize("constraints, good, bad", [
    ([Interval(int, 1, None)], [1, 7], [0, 1.5, True, "3", float("nan")]),
    ([Interval(float, 0, 1, closed="right")], [0.5, 1, 1.0], [0, -0.1, 1.01]),
    ([Options(("raise", "drop"))], ["raise", "drop"], ["skip", None, 1]),
    ([Instance((str,), "a column name"), None], ["pop", None], [3, ["pop"]]),
])
def test_constraints_accept_and_refuse(constraints, good, bad):
    for value in good:
        check_param("x", value, constraints, "f")
    for value in bad:
        with pytest.raises(ParameterError, match=r"the 'x' parameter of f must be .*; got"):
            check_param("x", value, constraints, "f")


def test_decorator_checks_positional_and_keyword_arguments_and_catches_typos():
    @validate_params({"k": [Interval(int, 1, None)]}, caller="demo.split")
    def split(units, k=2):
        return k

    assert split([], 3) == 3 and split([], k=4) == 4
    with pytest.raises(ParameterError, match="the 'k' parameter of demo.split must be an integer >= 1; got 0"):
        split([], 0)
    with pytest.raises(TypeError, match="no parameter"):
        validate_params({"kk": [None]})(split)


def test_numeric_column_names_rows_and_values():
    df = pd.DataFrame({"pop": ["12", "abc", "-3", ""]})
    with pytest.raises(InputError) as err:
        numeric_column(df, "pop")
    message = str(err.value)
    assert "non-numeric values in row 2 ('abc')" in message and "negative values in row 3" in message
    assert "missing values in row 4" in message


@pytest.mark.parametrize("values", [
    pd.Series([1.5, np.nan, -3.0, np.inf]),
    pd.Series([1.5, np.nan], dtype="float32"),
    pd.Series([4, -2, 0], dtype="int64"),
    pd.Series([7, 8], dtype="uint8"),
    pd.Series([1, None], dtype="Int64"),
    pd.Series([1.5, None], dtype="Float64"),
    pd.Series(["1.5", " ", "abc", None, "2e3"]),
    pd.Series([1.5, "x", None], dtype=object),
])
def test_parse_numbers_gives_what_pandas_parses(values):
    # the general path (pandas' to_numeric) is what every column type must give
    textual = values.dtype == object or pd.api.types.is_string_dtype(values)
    text = values.astype("string").str.strip() if textual else None  # blank text is missing
    missing = (text.isna() | (text == "")) if text is not None else values.isna()
    expected = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    for copy in (True, False):
        numbers, got_missing = parse_numbers(values, copy=copy)
        assert numbers.dtype == np.float64
        np.testing.assert_array_equal(numbers, expected)
        assert got_missing.tolist() == missing.to_numpy(dtype=bool).tolist()


def test_parse_numbers_copies_a_float_column_unless_told_not_to():
    column = pd.Series([1.5, np.nan, 2.0])
    assert not np.shares_memory(parse_numbers(column)[0], column.to_numpy())
    assert parse_numbers(column)[0].flags.writeable
    assert np.shares_memory(parse_numbers(column, copy=False)[0], column.to_numpy())
