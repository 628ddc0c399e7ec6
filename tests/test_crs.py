"""gridtools.crs: one CRS type, parsed once; the local metric CRS."""

from __future__ import annotations

import geopandas as gpd
import pyproj
import pytest
import shapely

from gridtools import crs
from gridtools.errors import CRSError


@pytest.mark.parametrize("value, name, datum, epsg", [
    ("gcj02", "gcj02", "gcj02", 4326), ("GCJ-02", "gcj02", "gcj02", 4326), ("baidu", "bd09", "bd09", 4326),
    ("BD09", "bd09", "bd09", 4326), (4326, "wgs84", None, 4326), ("WGS-84", "wgs84", None, 4326),
    ("EPSG:2913", "EPSG:2913", None, 2913), ("cgcs2000", "EPSG:4490", None, 4490),
    (pyproj.CRS.from_epsg(32651), "EPSG:32651", None, 32651),
])
def test_parse_gives_one_type_with_the_datum_flag(value, name, datum, epsg):
    parsed = crs.parse(value)
    assert isinstance(parsed, crs.CRS)
    assert (parsed.name, parsed.datum, parsed.pyproj.to_epsg()) == (name, datum, epsg)
    assert crs.parse(parsed) is parsed  # parsing twice is harmless


def test_wgs84_and_chinese_datums_are_told_apart():
    assert crs.parse("wgs84").is_wgs84 and not crs.parse("gcj02").is_wgs84
    assert crs.parse("gcj02").is_geographic and not crs.parse(32651).is_geographic
    assert crs.parse("bd09").label == "BD-09" and crs.parse(4269).label == "EPSG:4269 (NAD83)"
    assert crs.parse(None) is None


@pytest.mark.parametrize("value", ["EPSG:99999999", "not a crs", "", True])
def test_garbage_is_refused_listing_the_accepted_forms(value):
    with pytest.raises(CRSError, match="gcj02"):
        crs.parse(value)


def test_parse_crs_refuses_chinese_datums_it_cannot_express():
    with pytest.raises(CRSError, match="read_any"):
        crs.parse_crs("gcj02")
    assert crs.parse_crs("wgs84").to_epsg() == 4326


def test_local_metric_crs_keeps_metres_and_replaces_feet_and_web_mercator():
    pts = gpd.GeoDataFrame(geometry=[shapely.Point(-122.6, 45.5)], crs=4326)
    assert crs.local_metric_crs(pts).to_epsg() == 32610
    assert crs.local_metric_crs(pts.to_crs(2913)).to_epsg() == 32610  # feet
    assert crs.local_metric_crs(pts.to_crs(3857)).to_epsg() == 32610  # stretched "metres"
    assert crs.local_metric_crs(pts.to_crs(32610)).to_epsg() == 32610
    metric = crs.to_metric(pts.to_crs(2913))
    assert metric.attrs["input_crs"].to_epsg() == 2913


def test_in_china_box():
    assert crs.in_china([121.47, 2.35, 116.4], [31.23, 48.85, 39.9]).tolist() == [True, False, True]
