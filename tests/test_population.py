"""Tests of gridtools.population: dasymetric building estimates and aggregation to units."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely import Point, Polygon, box

from conftest import shared_data
from gridtools.errors import CRSError, InputError
from gridtools.population import (
    aggregate_to_units,
    estimate_building_population,
    round_preserving_total,
)

# Shanghai UTM zone 51N: synthetic shapes near the Bund, in metres.
UTM = "EPSG:32651"
X0, Y0 = 353_000.0, 3_457_000.0


def square(x: float, y: float, side: float = 10.0):
    return box(X0 + x, Y0 + y, X0 + x + side, Y0 + y + side)


# --- estimate_building_population: synthetic ------------------------------------------------


def test_floors_from_levels_height_and_default():
    b = gpd.GeoDataFrame(
        {
            "building:levels": ["5", "5;6", "3.5", None, "abc", None, "0"],
            "height": [None, None, None, "12 m", 30.0, None, "6"],
        },
        geometry=[square(20 * i, 0) for i in range(7)],
        crs=UTM,
    )
    est = estimate_building_population(b, total=1000)
    assert est["floors"].tolist() == [5.0, 5.5, 3.5, 4.0, 10.0, 1.0, 2.0]
    assert est["floors_source"].tolist() == [
        "levels", "levels", "levels", "height", "height", "default", "height"
    ]
    np.testing.assert_allclose(est["floor_area_m2"], 100.0 * est["floors"])
    assert est["pop_est"].sum() == 1000
    assert est["pop_est"].dtype == np.int64
    np.testing.assert_allclose(est["pop_est_raw"].sum(), 1000)
    assert list(est.index) == list(b.index) and est.crs == b.crs


def test_low_building_counts_one_floor_and_storey_height_is_a_parameter():
    b = gpd.GeoDataFrame({"height": [1.5, 8.0]}, geometry=[square(0, 0), square(20, 0)], crs=UTM)
    assert estimate_building_population(b, 10)["floors"].tolist() == [1.0, 8 / 3]
    assert estimate_building_population(b, 10, storey_height=4)["floors"].tolist() == [1.0, 2.0]


def test_residential_share_from_tags_column_and_scalar():
    b = gpd.GeoDataFrame(
        {
            "building": ["apartments", "Office", "yes", "weird_tag", None],
            "share": [1, 0.5, 0, 1, 1],
        },
        geometry=[square(20 * i, 0) for i in range(5)],
        crs=UTM,
    )
    tags = estimate_building_population(b, 300, residential_share=0.5)
    assert tags["res_share"].tolist() == [1.0, 0.0, 1.0, 0.5, 0.5]
    assert tags["pop_est"].tolist() == [100, 0, 100, 50, 50]
    # An explicit per-building share overrides the tags.
    col = estimate_building_population(b, 350, residential_col="share")
    assert col["pop_est"].tolist() == [100, 50, 0, 100, 100]
    flat = estimate_building_population(b, 500, tag_col=None)
    assert flat["pop_est"].tolist() == [100] * 5


def test_total_none_uses_density_and_rounds_consistently():
    b = gpd.GeoDataFrame({"building:levels": [3, 1]}, geometry=[square(0, 0), square(20, 0)],
                         crs=UTM)
    est = estimate_building_population(b, persons_per_m2=0.05)
    np.testing.assert_allclose(est["pop_est_raw"], [15.0, 5.0])
    assert est["pop_est"].tolist() == [15, 5]


def test_geographic_input_measures_area_in_metres():
    b = gpd.GeoDataFrame(geometry=[square(0, 0, 100)], crs=UTM).to_crs(4326)
    est = estimate_building_population(b, 7)
    assert est["floor_area_m2"].iloc[0] == pytest.approx(10_000, rel=1e-6)
    assert est.crs.to_epsg() == 4326


def test_largest_remainder_rounding_preserves_total():
    rng = np.random.default_rng(0)
    raw = rng.random(1000)
    raw *= 12_345 / raw.sum()
    counts = round_preserving_total(raw, 12_345)
    assert counts.sum() == 12_345
    assert np.all(np.abs(counts - raw) < 1)


@pytest.mark.parametrize("total", [-1, 10.5, float("nan")])
def test_bad_total(total):
    b = gpd.GeoDataFrame(geometry=[square(0, 0)], crs=UTM)
    with pytest.raises(InputError, match="total"):
        estimate_building_population(b, total)


def test_all_residential_shares_zero():
    b = gpd.GeoDataFrame({"building": ["office", "school"]},
                         geometry=[square(0, 0), square(20, 0)], crs=UTM)
    with pytest.raises(InputError, match="residential share of 0"):
        estimate_building_population(b, 100)


def test_no_building_with_area():
    flat = Polygon([(X0, Y0), (X0 + 1, Y0), (X0 + 2, Y0)])
    b = gpd.GeoDataFrame(geometry=[flat, flat], crs=UTM)
    with pytest.raises(InputError, match="footprint area"):
        estimate_building_population(b, 100)


def test_point_buildings_are_named_not_dropped():
    b = gpd.GeoDataFrame(geometry=[square(0, 0), Point(X0, Y0)], crs=UTM, index=[7, 8])
    with pytest.raises(InputError, match=r"row 2 \(counting from 1; index label 8\) are Point"):
        estimate_building_population(b, 100)


def test_buildings_without_crs():
    b = gpd.GeoDataFrame(geometry=[square(0, 0)])
    with pytest.raises(CRSError, match="no coordinate reference system"):
        estimate_building_population(b, 100)


def test_residential_col_out_of_range_or_missing():
    b = gpd.GeoDataFrame({"share": [0.5, 1.5]}, geometry=[square(0, 0), square(20, 0)], crs=UTM)
    with pytest.raises(InputError, match=r"row 2 \(counting from 1\)"):
        estimate_building_population(b, 100, residential_col="share")
    with pytest.raises(InputError, match="no column 'nope'"):
        estimate_building_population(b, 100, residential_col="nope")


# --- aggregate_to_units: synthetic ------------------------------------------------------------


@pytest.fixture
def two_units():
    return gpd.GeoDataFrame({"name": ["west", "east"]}, crs=UTM, index=["w", "e"],
                            geometry=[square(0, 0, 100), square(100, 0, 100)])


def test_register_points_sum_into_units(two_units):
    reg = gpd.GeoDataFrame(
        {"n": [3, 4, 5, 6]},
        geometry=[Point(X0 + 10, Y0 + 10), Point(X0 + 150, Y0 + 50), Point(X0 + 190, Y0 + 90),
                  Point(X0 + 100, Y0 + 50)],  # the last one lies on the shared edge
        crs=UTM,
        index=[10, 11, 12, 13],
    )
    units, unit = aggregate_to_units(two_units, reg, "n")
    # The edge point goes to the first unit in the units' order.
    assert unit.tolist() == ["w", "e", "e", "w"] and list(unit.index) == [10, 11, 12, 13]
    assert units["n"].tolist() == [9, 9] and units["n"].dtype == np.int64
    assert units["name"].tolist() == ["west", "east"]


def test_register_point_outside_is_listed(two_units):
    reg = gpd.GeoDataFrame({"n": [3, 4]}, geometry=[Point(X0 + 10, Y0 + 10), Point(X0 + 500, Y0)],
                           crs=UTM, index=["a", "far_away"])
    expected = r"1 of 2 features lie in no unit \(row 2 \(counting from 1; index label far_away\)\).*larger boundary"
    with pytest.raises(InputError, match=expected):
        aggregate_to_units(two_units, reg, "n")


def test_buildings_are_placed_whole_by_representative_point(two_units):
    # An L-shaped building straddling the edge: its representative point decides, it is not split.
    ell = Polygon([(X0 + 60, Y0), (X0 + 110, Y0), (X0 + 110, Y0 + 10), (X0 + 70, Y0 + 10),
                   (X0 + 70, Y0 + 60), (X0 + 60, Y0 + 60)])
    b = gpd.GeoDataFrame({"pop": [12.5]}, geometry=[ell], crs=UTM)
    units, unit = aggregate_to_units(two_units, b, "pop")
    assert unit.iloc[0] == "w"
    assert units["pop"].tolist() == [12.5, 0.0]


def test_features_in_another_crs_are_reprojected_and_none_counts_rows(two_units):
    pts = gpd.GeoSeries([Point(X0 + 10, Y0 + 10), Point(X0 + 150, Y0 + 10)] * 2, crs=UTM)
    people = gpd.GeoDataFrame(geometry=pts.to_crs(4326))
    units, _ = aggregate_to_units(two_units, people)
    assert units["pop"].tolist() == [2, 2]


def test_missing_or_bad_pop_column(two_units):
    reg = gpd.GeoDataFrame({"n": ["3", "x"], "m": [1, -2]},
                           geometry=[Point(X0 + 10, Y0 + 10)] * 2, crs=UTM)
    with pytest.raises(InputError, match="no column 'persons'.*n, m"):
        aggregate_to_units(two_units, reg, "persons")
    with pytest.raises(InputError, match=r"not numeric in row 2 \(counting from 1\)"):
        aggregate_to_units(two_units, reg, "n")
    with pytest.raises(InputError, match=r"negative in row 2 \(counting from 1\)"):
        aggregate_to_units(two_units, reg, "m")


def test_features_without_crs(two_units):
    reg = gpd.GeoDataFrame({"n": [1]}, geometry=[Point(X0 + 10, Y0 + 10)])
    with pytest.raises(CRSError, match="features have no coordinate reference system"):
        aggregate_to_units(two_units, reg, "n")


# --- real data: OSM buildings of the Bund / Lujiazui, Shanghai --------------------------------


@pytest.fixture(scope="module")
def shanghai_buildings():
    path = shared_data("china", "shanghai_tiles", "shanghai_bund_lujiazui_tilezen.geojson")
    with warnings.catch_warnings():  # tile features repeat OSM ids; harmless here
        warnings.simplefilter("ignore", RuntimeWarning)
        tiles = gpd.read_file(path)
    polygons = tiles.geom_type.isin(["Polygon", "MultiPolygon"])
    return tiles[(tiles["layer"] == "buildings") & polygons]


def test_shanghai_estimate_preserves_total(shanghai_buildings):
    b = shanghai_buildings
    assert len(b) == 1572
    # Tilezen keeps the OSM building tag in kind_detail.
    est = estimate_building_population(b, total=100_000, tag_col="kind_detail")
    assert est["pop_est"].sum() == 100_000
    assert (est["pop_est"] >= 0).all() and (est["pop_est_raw"] >= 0).all()
    tall = pd.to_numeric(b["height"]) >= 3
    assert tall.sum() > 700
    np.testing.assert_allclose(est.loc[tall, "floors"], b.loc[tall, "height"] / 3)
    assert (est.loc[tall, "floors_source"] == "height").all()
    assert (est.loc[b["height"].isna(), "floors"] == 1).all()
    # Offices and shops get nobody; homes get people.
    assert est.loc[b["kind_detail"] == "office", "pop_est"].sum() == 0
    assert est.loc[b["kind_detail"] == "apartments", "pop_est"].sum() > 0
