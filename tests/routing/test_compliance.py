"""Route compliance on simulated tracks along real routes and on the Xi'an GPS samples."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyproj
import pytest
import shapely

from conftest import shared_data
from gridtools.errors import InputError
from gridtools.routing import Router, load_network, truck
from gridtools.routing.compliance import check_route, read_track
from gridtools.routing.zones import BanZone
from track_sim import precision_recall, simulate

O, VIA, D = (121.4655, 31.2300), (121.4745, 31.2240), (121.4830, 31.2300)


@pytest.fixture(scope="module")
def huangpu(tmp_path_factory):
    path = shared_data("china", "shanghai_huangpu_osm", "shanghai_huangpu_drive.osm")
    return Router(load_network(path, cache_dir=tmp_path_factory.mktemp("cache")))


def _bay(net, lonlat, radius_m=40.0):
    """A round parking bay of ``radius_m`` around a point, in lon/lat."""
    to_m = pyproj.Transformer.from_crs(4326, net.crs, always_xy=True)
    back = pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True)
    x, y = to_m.transform(*lonlat)
    return shapely.transform(shapely.Point(x, y).buffer(radius_m),
                             lambda c: np.column_stack(back.transform(c[:, 0], c[:, 1])))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_off_route_detour_is_found_at_10_m_noise(huangpu, seed):
    v = truck()
    assigned = huangpu.route(O, D, v, explain=False)
    track, truth = simulate(huangpu, assigned, [O, VIA, D], v, noise_m=10.0, seed=seed)
    assert (truth["true_off_m"] > 50).sum() > 60  # the detour really leaves the assigned route
    report = check_route(assigned, track, parking=_bay(huangpu.network, truth["end"]))
    precision, recall, scored = precision_recall(report.points["off_route"].to_numpy(), truth["true_off_m"])
    assert precision >= 0.95 and recall >= 0.95, (precision, recall, scored)
    assert len(report.off_route) >= 1 and report.on_route_share < 0.9
    assert report.parked_in_place is True
    assert abs((report.stops[-1]["start"] - truth["arrival"]).total_seconds()) <= 30


def test_a_faithful_driver_is_on_route_and_a_wrong_bay_is_reported(huangpu):
    v = truck()
    assigned = huangpu.route(O, D, v, explain=False)
    track, truth = simulate(huangpu, assigned, [O, D], v, noise_m=10.0, seed=4)
    report = check_route(assigned, track, parking=_bay(huangpu.network, VIA))
    assert report.off_route == [] and report.on_route_share == pytest.approx(1.0)
    assert report.parked_in_place is False and "did NOT park" in report.summary_lines()[-1]


def test_zone_entry_is_reported_only_while_the_ban_is_in_force(huangpu):
    zone = BanZone("block", shapely.box(121.472, 31.228, 121.476, 31.233), when="07:00-20:00")
    v = truck()
    assigned = huangpu.route(O, D, v, explain=False)  # no zones given to the router: it drives through
    morning, _ = simulate(huangpu, assigned, [O, D], v, start=dt.datetime(2026, 11, 23, 8, 0), seed=5)
    night, _ = simulate(huangpu, assigned, [O, D], v, start=dt.datetime(2026, 11, 23, 22, 0), seed=5)
    entries = check_route(assigned, morning, zones=[zone]).zone_entries
    assert len(entries) >= 1 and entries[0]["zone"] == "block" and entries[0]["duration_s"] > 10
    assert check_route(assigned, night, zones=[zone]).zone_entries == []


def test_xian_gps_samples(tmp_path):
    gps = shared_data("china", "xian_roads", "example_gps.csv")
    with pytest.raises(InputError):  # lon/lat in China: the datum must be declared
        read_track(gps, vehicle_column="agent_id", vehicle_id="xa_car_1")
    links = shared_data("china", "xian_roads", "modifiedConn_link.shp")
    router = Router(load_network(links, cache_dir=tmp_path, columns={"link_id": "osmid", "road_name": "name",
                                                                       "dir": "oneway"}))
    checked = 0
    for agent in ("xa_car_1", "xa_car_2", "xa_car_3"):
        track = read_track(gps, crs="wgs84", vehicle_column="agent_id", vehicle_id=agent)
        first, last = track.geometry.iloc[0], track.geometry.iloc[-1]
        route = router.route((first.x, first.y), (last.x, last.y), explain=False)
        report = check_route(route, track)
        # the sample vehicles drive between their end points; the report accounts for every fix
        assert len(report.points) == len(track) and 0.0 <= report.on_route_share <= 1.0
        assert report.points["off_m"].notna().all()
        checked += 1
    assert checked == 3


def test_bad_tracks_are_refused(huangpu):
    assigned = huangpu.route(O, D, truck(), explain=False)
    track, _ = simulate(huangpu, assigned, [O, D], truck(), seed=6)
    with pytest.raises(InputError, match="no 'when' column"):
        check_route(assigned, track, time_column="when")
    with pytest.raises(InputError, match="at least 2"):
        check_route(assigned, track.iloc[:1])
