"""Tests of the hierarchical grid codes (gridtools.grids.codes).

Expected codes are built by hand from the layout (6-3-3-3-2 digits: county, town, community,
grid serial, sub-grid) and from point positions whose reading order is obvious.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridtools.errors import InputError
from gridtools.grids.codes import (
    CodeLayout,
    check_prefix,
    parent_codes,
    reading_order,
    serials_in_reading_order,
)

# --------------------------------------------------------------------------------------------
# CodeLayout


def test_default_layout_is_17_digits_with_12_digit_parent():
    layout = CodeLayout()
    assert layout.widths == (6, 3, 3, 3, 2)
    assert (layout.parent_width, layout.serial_width, layout.sub_width, layout.total) == (12, 3, 2, 17)


def test_custom_layout_widths():
    layout = CodeLayout((6, 3, 3, 4, 2))
    assert (layout.parent_width, layout.serial_width, layout.sub_width, layout.total) == (12, 4, 2, 18)


@pytest.mark.parametrize("widths", [(3,), (6, 0, 2), (6, 3, -1)])
def test_layout_rejects_missing_or_empty_levels(widths):
    with pytest.raises(InputError, match="serial and a sub-grid"):
        CodeLayout(widths)


def test_make_pads_serials_and_appends_sub_grid_00():
    layout = CodeLayout()
    codes = layout.make(pd.Series(["320508019044", "320508019044", "320508019045"]), [1, 12, 123])
    assert codes.tolist() == ["32050801904400100", "32050801904401200", "32050801904512300"]
    assert all(len(c) == 17 for c in codes)


def test_make_refuses_serials_beyond_the_width():
    with pytest.raises(InputError) as err:
        CodeLayout().make(pd.Series(["320508019044", "320508019045"]), [5, 1000])
    msg = str(err.value)
    assert "320508019045" in msg  # the community that overflows
    assert "999" in msg and "within=" in msg  # the limit and the fix


def test_parent_and_serial_of_split_a_code():
    layout = CodeLayout()
    codes = pd.Series(["32050801904400700", "11010100100112300"])
    assert layout.parent_of(codes).tolist() == ["320508019044", "110101001001"]
    assert layout.serial_of(codes).tolist() == [7, 123]


# --------------------------------------------------------------------------------------------
# prefix


def test_check_prefix_accepts_digits_up_to_the_parent_width():
    layout = CodeLayout()
    assert check_prefix(None, layout) == ""
    assert check_prefix(" 320508 ", layout) == "320508"
    assert check_prefix("320508019044", layout) == "320508019044"


@pytest.mark.parametrize("prefix", ["32O508", "3205-08", "abc"])
def test_check_prefix_rejects_letters(prefix):
    with pytest.raises(InputError) as err:
        check_prefix(prefix, CodeLayout())
    assert prefix in str(err.value) and "digits only" in str(err.value)


def test_check_prefix_rejects_too_long():
    with pytest.raises(InputError) as err:
        check_prefix("3205080190441", CodeLayout())
    msg = str(err.value)
    assert "13 digits" in msg and "at most 12" in msg


# --------------------------------------------------------------------------------------------
# reading order: rows north to south, each row west to east


def test_reading_order_of_a_square():
    #  NW(0,10)  NE(10,10)
    #  SW(0, 0)  SE(10, 0)
    x = np.array([10.0, 0.0, 10.0, 0.0])  # SE, SW, NE, NW
    y = np.array([0.0, 0.0, 10.0, 10.0])
    order = reading_order(x, y, row_height=10.0)
    assert order.tolist() == [3, 2, 1, 0]  # NW, NE, SW, SE


@pytest.mark.parametrize("spacing", [500.0, 100.1, 123.456, 333.3])
def test_reading_order_of_a_lattice_of_centres(spacing):
    """Centres of a regular lattice, row height = the lattice spacing (what partition passes)."""
    n = 4
    x0, y0 = 500_000.0, 3_500_000.0
    col, row = np.meshgrid(np.arange(n), np.arange(n))  # row 0 is the southernmost
    x = x0 + (col.ravel() + 0.5) * spacing
    y = y0 + (row.ravel() + 0.5) * spacing
    rank = np.empty(n * n, dtype=int)
    rank[reading_order(x, y, spacing)] = np.arange(n * n)
    expected = (n - 1 - row.ravel()) * n + col.ravel()
    assert rank.tolist() == expected.tolist()


def test_reading_order_with_slightly_uneven_rows():
    """Rows of grid centres are never perfectly level; a row a little above one row height
    below the top row is still the second row."""
    h = 100.0
    x = np.array([0.0, 100.0, 200.0, 0.0, 100.0, 200.0])
    y = np.array([300.0, 290.0, 305.0, 205.0, 195.0, 210.0])  # top row ~300, second row ~200
    rank = np.empty(6, dtype=int)
    rank[reading_order(x, y, h)] = np.arange(6)
    assert rank.tolist() == [0, 1, 2, 3, 4, 5]


def test_serials_restart_at_one_in_each_parent():
    parents = pd.Series(["A", "B", "A", "B", "A"])
    x = np.array([0.0, 0.0, 10.0, 10.0, 20.0])
    y = np.zeros(5)
    assert serials_in_reading_order(parents, x, y, 10.0).tolist() == [1, 1, 2, 2, 3]
    assert serials_in_reading_order(parents, x, y, 10.0, start=8).tolist() == [8, 8, 9, 9, 10]


# --------------------------------------------------------------------------------------------
# parent codes


def _xy(n):
    return pd.Series(np.arange(n) * 1000.0), pd.Series(np.zeros(n))


def test_parent_codes_from_digit_values_completing_the_prefix():
    x, y = _xy(2)
    parents = parent_codes(pd.Series(["019044", "019045"]), x, y, "320508", CodeLayout())
    assert parents.tolist() == ["320508019044", "320508019045"]


def test_parent_codes_accept_full_codes_starting_with_the_prefix():
    x, y = _xy(2)
    parents = parent_codes(pd.Series(["320508019044", "019045"]), x, y, "320508", CodeLayout())
    assert parents.tolist() == ["320508019044", "320508019045"]


def test_parent_codes_with_an_empty_prefix_keep_12_digit_values():
    x, y = _xy(2)
    parents = parent_codes(pd.Series(["110101001001", "110101001002"]), x, y, "", CodeLayout())
    assert parents.tolist() == ["110101001001", "110101001002"]


def test_parent_codes_number_names_in_reading_order():
    # three communities: north-west, north-east and south
    values = pd.Series(["south", "north-east", "north-west"])
    x = pd.Series([500.0, 1000.0, 0.0])
    y = pd.Series([0.0, 1000.0, 1000.0])
    parents = parent_codes(values, x, y, "320508", CodeLayout())
    assert parents.tolist() == ["320508000003", "320508000002", "320508000001"]


def test_parent_codes_mixed_values_are_all_numbered():
    # one value is a code, the other a name: numbering both avoids collisions with real codes
    x, y = _xy(2)
    parents = parent_codes(pd.Series(["019044", "park"]), x, y, "320508", CodeLayout())
    assert parents.tolist() == ["320508000001", "320508000002"]


def test_parent_codes_wrong_length_digits_are_numbered():
    # "19044" lost its leading zero: it does not complete the prefix, so it cannot be trusted
    x, y = _xy(2)
    parents = parent_codes(pd.Series(["19044", "19045"]), x, y, "320508", CodeLayout())
    assert parents.tolist() == ["320508000001", "320508000002"]


def test_full_prefix_leaves_no_room_for_several_groups():
    x, y = _xy(2)
    with pytest.raises(InputError, match="shorter prefix"):
        parent_codes(pd.Series(["a", "b"]), x, y, "320508019044", CodeLayout())
    one = parent_codes(pd.Series(["a"]), *_xy(1), "320508019044", CodeLayout())
    assert one.tolist() == ["320508019044"]


def test_too_many_groups_for_the_remaining_digits():
    x, y = _xy(12)
    with pytest.raises(InputError, match="do not fit"):
        parent_codes(pd.Series([f"g{i}" for i in range(12)]), x, y, "32050801904", CodeLayout())


def test_read_retired_codes_from_the_layer_rebalance_writes(tmp_path):
    import geopandas as gpd
    from shapely import box

    from gridtools import io
    from gridtools.grids.codes import read_retired_codes

    path = tmp_path / "grids.gpkg"
    io.write_any(gpd.GeoDataFrame({"grid_code": ["32050801904400100"]}, geometry=[box(0, 0, 1, 1)],
                                  crs="EPSG:32650"), path, layer="grids")
    assert read_retired_codes(path) == []  # a partition: nothing retired yet
    io.write_any(pd.DataFrame({"grid_code": ["32050801904400300", "00100"]}, dtype=str), path,
                 layer="retired_codes")
    assert read_retired_codes(path) == ["32050801904400300", "00100"]  # text, leading zeros kept
    assert read_retired_codes(tmp_path / "missing.gpkg") == []
