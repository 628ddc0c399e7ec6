"""Truck-ban zones with time windows and permits, read from a GCJ-02 GeoJSON."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from conftest import shared_data
from gridtools.errors import InputError
from gridtools.routing import NoRouteError, Router, car, load_network, read_ban_zones, truck
from gridtools.routing.zones import zone_arcs

ZONE_FILE = Path(__file__).parent / "data" / "shanghai_huangpu_truck_ban_gcj02.geojson"
O, D = (121.4655, 31.2300), (121.4830, 31.2300)


@pytest.fixture(scope="module")
def huangpu(tmp_path_factory):
    path = shared_data("china", "shanghai_huangpu_osm", "shanghai_huangpu_drive.osm")
    return load_network(path, cache_dir=tmp_path_factory.mktemp("cache"))


def test_zone_file_in_gcj02_is_read_and_converted():
    (zone,) = read_ban_zones(ZONE_FILE, crs="gcj02")
    assert zone.when == "07:00-20:00" and zone.permits == {"沪货通-TEST-0001"} and zone.vehicles == {"hgv"}
    # GCJ-02 is about 500 m east of WGS-84 here: the zone lands back on the WGS-84 block it was drawn on
    assert zone.geometry.bounds == pytest.approx((121.472, 31.228, 121.476, 31.233), abs=2e-5)
    with pytest.raises(InputError):  # lon/lat in China without a datum is refused
        read_ban_zones(ZONE_FILE)


def test_ban_zone_by_time_and_permit(huangpu):
    zones = read_ban_zones(ZONE_FILE, crs="gcj02")
    inside = set(zone_arcs(huangpu, zones[0]).tolist())
    assert len(inside) > 20
    router = Router(huangpu, zones=zones)
    morning = router.route(O, D, truck(), at="2026-11-23 08:00")
    night = router.route(O, D, truck(), at="2026-11-23 22:00")
    permit = router.route(O, D, truck(permits={"沪货通-TEST-0001"}), at="2026-11-23 08:00")
    other_permit = router.route(O, D, truck(permits={"OTHER"}), at="2026-11-23 08:00")
    assert not inside & set(morning.arcs.tolist())           # 08:00: around the zone
    assert inside & set(night.arcs.tolist())                 # 22:00: through it
    assert inside & set(permit.arcs.tolist())                # with the permit: through it
    assert not inside & set(other_permit.arcs.tolist())
    assert morning.length_m > night.length_m + 500
    assert any(a["restriction"] == "ban zone" and "07:00-20:00" in a["why"] for a in morning.avoided)
    assert night.avoided == [] and np.array_equal(night.arcs, permit.arcs)
    assert router.route(O, D, car(), at="2026-11-23 08:00").length_m == pytest.approx(night.length_m, rel=0.2)
    # no time given: the ban counts as in force
    assert not inside & set(router.route(O, D, truck()).arcs.tolist())


def test_destination_inside_a_zone_is_refused_with_the_zone_named(huangpu):
    router = Router(huangpu, zones=read_ban_zones(ZONE_FILE, crs="gcj02"), max_snap_m=60)
    with pytest.raises((InputError, NoRouteError), match="ban zone"):
        router.route(O, (121.4740, 31.2305), truck(), at="2026-11-23 09:00")


def test_bad_zone_rows_are_named(tmp_path):
    bad = gpd.GeoDataFrame({"name": ["a"], "when": ["sometimes"]},
                           geometry=[shapely.box(8, 49, 8.1, 49.1)], crs=4326)
    path = tmp_path / "zones.gpkg"
    bad.to_file(path)
    with pytest.raises(InputError, match=r"ban zone 'a'.*sometimes"):
        read_ban_zones(path)
    bad.assign(when="", vehicles="tank").to_file(path)
    with pytest.raises(InputError, match=r"row 1: column 'vehicles'"):
        read_ban_zones(path)
