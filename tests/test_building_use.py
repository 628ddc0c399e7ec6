"""Tests of gridtools.building_use and of the estimate on real OSM extracts: nobody lives in an
office tower, a TV tower or a park, and an extract with broken rings is read, not a traceback."""

from __future__ import annotations

import warnings

import geopandas as gpd
import pandas as pd
import pytest
from shapely import box

from conftest import run_cli, shared_data
from gridtools import io
from gridtools.building_use import non_residential_reasons, osm_other_tags
from gridtools.errors import InputWarning
from gridtools.population import estimate_building_population, excluded_summary


def test_tags_decide_in_order():
    tags = pd.DataFrame({
        "building": ["apartments", "office", "yes", "yes", "yes", None, "residential", "yes"],
        "shop": [None, None, "mall", None, None, None, "convenience", None],
        "man_made": [None, None, None, "tower", None, None, None, None],
        "landuse": [None, None, None, None, "commercial", "grass", None, None],
        "other_tags": [None] * 7 + ['"building:part"=>"yes"'],
    })
    assert non_residential_reasons(tags).tolist() == [
        "", "building=office", "shop=mall", "man_made=tower", "landuse=commercial", "not a building",
        "",  # a home with a shop on its ground floor stays a home
        "building part"]


def test_other_tags_are_parsed():
    s = pd.Series(['"building:levels"=>"6","height"=>"20 m"', None, '"name"=>"a \\"b\\""'])
    got = osm_other_tags(s, ["building:levels", "height"])
    assert got.values.tolist() == [["6", "20 m"], [None, None], [None, None]]


def test_supertall_without_home_tag_gets_nobody_and_summary_says_why():
    b = gpd.GeoDataFrame({"height": [632.0, 30.0, 30.0], "building": ["yes", "yes", "office"]},
                         geometry=[box(0, 0, 50, 50), box(100, 0, 120, 20), box(200, 0, 220, 20)],
                         crs=32651)
    est = estimate_building_population(b, total=1000)
    assert est["pop_est"].tolist() == [0, 1000, 0]
    assert est["excluded"].tolist() == ["taller than 250 m with no home tag", "", "building=office"]
    assert excluded_summary(est) == ("2 of 3 buildings get no residents: 1 taller than 250 m with no "
                                     "home tag, 1 building=office")


@pytest.mark.slow
def test_shanghai_tower_and_offices_get_no_residents():
    path = shared_data("china", "shanghai_tiles", "shanghai_bund_lujiazui_tilezen.geojson")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pyogrio: duplicate feature ids in tiles
        tiles = io.read_any(path, crs="wgs84")
    buildings = tiles[(tiles["layer"] == "buildings") & tiles.geom_type.isin(["Polygon", "MultiPolygon"])]
    est = estimate_building_population(buildings, total=50_000)
    tower = est[est["name:en"] == "Shanghai Tower"]
    assert len(tower) == 1 and tower["pop_est"].iloc[0] == 0          # was 1,499 residents
    pearl = est[est["kind_detail"] == "communications_tower"]
    assert (pearl["pop_est"] == 0).all() and len(pearl) == 1          # the Oriental Pearl TV tower
    offices = est[est["kind_detail"].isin(["office", "commercial", "retail", "bank", "hotel"])]
    assert len(offices) >= 70 and (offices["pop_est"] == 0).all()
    assert (est.loc[est["kind"] == "building_part", "pop_est"] == 0).all()
    homes = est[est["kind_detail"].isin(["apartments", "residential"])]
    assert (homes["pop_est"] > 0).all() and est["pop_est"].sum() == 50_000
    assert est.attrs["excluded"]["building part"] == 142


@pytest.mark.slow
def test_osm_multipolygons_with_two_point_rings(tmp_path, capsys):
    path = shared_data("roads", "hsinchu", "NCTU_Taiwan.osm.pbf")
    code, text = run_cli(["population", "estimate", path, "--layer", "multipolygons", "--total", "10000",
                          "-o", tmp_path / "pop.gpkg"], capsys)
    assert code == 0 and "Traceback" not in text
    assert "9 of 720 features have an invalid geometry" in text and "9 left out" in text
    assert "288 not a building" in text and "81 building=industrial" in text
    est = io.read_any(tmp_path / "pop.gpkg")
    assert len(est) == 711 and est["pop_est"].sum() == 10_000
    assert (est.loc[est["building"].isna(), "pop_est"] == 0).all()
    homes = est[est["building"].isin(["dormitory", "apartments", "house"])]
    assert homes.loc[homes["excluded"] == "", "pop_est"].gt(0).all()
    assert (homes["excluded"] == "no footprint area (collapsed ring)").sum() == 2


def test_broken_ring_read_warns_with_rows(tmp_path):
    path = shared_data("roads", "hsinchu", "NCTU_Taiwan.osm.pbf")
    with pytest.warns(InputWarning, match=r"rows 137, 143, 211"):
        gdf = io.read_any(path, layer="multipolygons")
    assert gdf.attrs["skipped_geometries"][:3] == [137, 143, 211] and len(gdf) == 711
