"""HMM map matching: parallel roads, junctions, outliers and gaps, where matching each fix alone goes wrong."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

from conftest import shared_data
from gridtools.errors import InputError
from gridtools.routing import Router, load_network, network_from_frames, truck
from gridtools.routing.compliance import check_route, read_track
from gridtools.routing.matching import match_track, nearest_edge_match
from split_graph import points_on_roads
from track_sim import add_outliers, precision_recall, simulate

UTM = "EPSG:32651"  # metres, so the synthetic roads are drawn to scale


@pytest.fixture(scope="module")
def frontage():
    """A main road and a frontage road 20 m north of it, joined only at their ends, and a side street.

    ::

        (0,20)----F (frontage, 1.2 km)----(600,20)-------(1200,20)
          |                                   | S (side street north)
        (0,0)-----M (main road, 1.2 km)-----------------(1200,0)
    """
    lines = [[(0, 0), (1200, 0)], [(0, 0), (0, 20)], [(0, 20), (600, 20)], [(600, 20), (1200, 20)],
             [(1200, 20), (1200, 0)], [(600, 20), (600, 400)]]
    roads = gpd.GeoDataFrame({"osmid": [1, 2, 3, 4, 5, 6], "highway": ["primary", "service", "tertiary", "tertiary",
                                                                        "service", "residential"]},
                             geometry=[shapely.LineString(c) for c in lines], crs=UTM)
    return network_from_frames(roads.to_crs(4326))


def _drive(net, coords, *, speed=10.0, noise=10.0, seed=0):
    """Fixes at 1 Hz along a metric polyline with Gaussian noise: (x, y, seconds, true x, true y)."""
    to_m = pyproj.Transformer.from_crs(UTM, net.crs, always_xy=True)
    path = shapely.LineString(np.column_stack(to_m.transform(*np.asarray(coords, float).T)))
    t = np.arange(0.0, path.length / speed)
    true = shapely.line_interpolate_point(path, t * speed)
    tx, ty = shapely.get_x(true), shapely.get_y(true)
    rng = np.random.default_rng(seed)
    return tx + rng.normal(0, noise, len(t)), ty + rng.normal(0, noise, len(t)), t, tx, ty


def _on_true_road(net, m, tx, ty, within_m=3.0):
    """Per fix: the matched road passes within ``within_m`` of the true position."""
    lines = net.segment_lines(np.maximum(m.seg, 0), lonlat=False)
    return (m.seg >= 0) & (shapely.distance(lines, shapely.points(tx, ty)) <= within_m)


def _track(net, x, y, t, start=dt.datetime(2026, 11, 23, 9, 0)):
    lon, lat = pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True).transform(x, y)
    return gpd.GeoDataFrame({"time": [start + dt.timedelta(seconds=float(s)) for s in t]},
                            geometry=gpd.points_from_xy(lon, lat), crs=4326)


def test_parallel_road_20_m_away_hmm_stays_on_the_road_driven(frontage):
    x, y, t, tx, ty = _drive(frontage, [(0, 0), (1200, 0)], seed=1)
    hmm, nearest = match_track(frontage, x, y, t), nearest_edge_match(frontage, x, y)
    main = frontage.way_osmid[frontage.seg_way[np.maximum(hmm.seg, 0)]] == 1
    assert _on_true_road(frontage, hmm, tx, ty).mean() >= 0.98 and main.mean() >= 0.98
    # each fix alone jumps to the frontage road whenever the noise puts it past the middle (10 m)
    assert _on_true_road(frontage, nearest, tx, ty).mean() <= 0.92
    assert hmm.chain.max() == 0 and hmm.match_rate == 1.0


def test_driving_the_parallel_road_is_off_route_only_when_map_matched(frontage):
    router = Router(frontage)
    to_ll = pyproj.Transformer.from_crs(UTM, 4326, always_xy=True)
    assigned = router.route(to_ll.transform(5, 0), to_ll.transform(1195, 0), truck(), explain=False)
    assert list(assigned.osmids) == [1]  # the main road
    x, y, t, _, _ = _drive(frontage, [(0, 0), (0, 20), (1200, 20), (1200, 0)], seed=2)  # the truck took F
    track = _track(frontage, x, y, t)
    matched = check_route(assigned, track)
    assert matched.on_route_share < 0.15 and len(matched.off_route) == 1
    assert set(matched.off_route[0]["osmids"]) >= {3, 4}
    assert "on ways" in matched.summary_lines()[1] and "3, 4" in matched.summary_lines()[1]
    assert 1050 <= matched.off_route[0]["length_m"] <= 1300  # driven distance, not the noisy zigzag
    # by distance to the route line alone the frontage road 20 m away is "on the route"
    assert check_route(assigned, track, match="none").off_route == []


def test_turn_at_a_junction(frontage):
    x, y, t, tx, ty = _drive(frontage, [(0, 20), (600, 20), (600, 400)], seed=3)
    jx, jy = pyproj.Transformer.from_crs(UTM, frontage.crs, always_xy=True).transform(600, 20)
    near = np.hypot(tx - jx, ty - jy) <= 80  # the fixes around the turn
    hmm, nearest = match_track(frontage, x, y, t), nearest_edge_match(frontage, x, y)
    hmm_ok, nearest_ok = _on_true_road(frontage, hmm, tx, ty)[near], _on_true_road(frontage, nearest, tx, ty)[near]
    assert hmm_ok.mean() >= 0.95 and hmm_ok.mean() > nearest_ok.mean()
    # the HMM never puts the truck on the main road 20 m south, nor continues east along F after the turn
    ways = frontage.way_osmid[frontage.seg_way[hmm.seg]]
    assert 1 not in set(ways) and 4 not in set(ways)


@pytest.fixture(scope="module")
def huangpu(tmp_path_factory):
    path = shared_data("china", "shanghai_huangpu_osm", "shanghai_huangpu_drive.osm")
    return Router(load_network(path, cache_dir=tmp_path_factory.mktemp("cache")))


def _metric(net, track):
    x, y = pyproj.Transformer.from_crs(4326, net.crs, always_xy=True).transform(track.geometry.x.to_numpy(),
                                                                                track.geometry.y.to_numpy())
    return np.asarray(x), np.asarray(y), (track.time - track.time.iloc[0]).dt.total_seconds().to_numpy()


def test_huangpu_elevated_roads_and_ramps_hmm_beats_nearest_edge(huangpu):
    """Central Shanghai: elevated roads over ground roads, ramps and dual carriageways a few metres apart."""
    net, v = huangpu.network, truck()
    pts = points_on_roads(net, 16, seed=3)
    hmm_ok, nearest_ok = [], []
    for k in range(8):
        try:
            assigned = huangpu.route(pts[2 * k], pts[2 * k + 1], v, explain=False)
            track, truth = simulate(huangpu, assigned, [pts[2 * k], pts[2 * k + 1]], v, noise_m=10.0, seed=k, stop_s=60)
        except Exception:  # a pair the truck may not drive: not a matching case
            continue
        x, y, t = _metric(net, track)
        hmm_ok.append(_on_true_road(net, match_track(net, x, y, t), truth["true_x"], truth["true_y"], 5.0))
        nearest_ok.append(_on_true_road(net, nearest_edge_match(net, x, y), truth["true_x"], truth["true_y"], 5.0))
    hmm_share, nearest_share = np.concatenate(hmm_ok).mean(), np.concatenate(nearest_ok).mean()
    assert len(hmm_ok) >= 4
    assert hmm_share >= 0.85 and nearest_share <= hmm_share - 0.2, (hmm_share, nearest_share)  # 0.89 vs 0.59


def test_outliers_and_gaps_do_not_raise_false_alarms(huangpu):
    O, VIA, D = (121.4655, 31.2300), (121.4745, 31.2240), (121.4830, 31.2300)
    v = truck()
    assigned = huangpu.route(O, D, v, explain=False)
    # a faithful drive, 30 s outage, 3 % of fixes thrown 80-250 m away
    track, truth = simulate(huangpu, assigned, [O, D], v, noise_m=10.0, outage_s=30.0, seed=8)
    noisy, thrown = add_outliers(track, huangpu.network, share=0.03, seed=8)
    report = check_route(assigned, noisy)
    assert report.off_route == [] and report.on_route_share >= 0.97
    assert report.points["outlier"].to_numpy()[thrown].mean() >= 0.8
    # and a detour is still found through them
    track, truth = simulate(huangpu, assigned, [O, VIA, D], v, noise_m=10.0, outage_s=30.0, seed=9)
    noisy, _ = add_outliers(track, huangpu.network, share=0.03, seed=9)
    report = check_route(assigned, noisy)
    precision, recall, _ = precision_recall(report.points["off_route"].to_numpy(), truth["true_off_m"])
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)


@pytest.mark.slow
def test_xian_gps_samples_match_onto_the_link_file(tmp_path):
    """The Xi'an samples lie in the datum of their link file: read as such, almost every fix matches."""
    links = shared_data("china", "xian_roads", "modifiedConn_link.shp")
    gps = shared_data("china", "xian_roads", "example_gps.csv")
    net = load_network(links, cache_dir=tmp_path, columns={"link_id": "osmid", "road_name": "name", "dir": "oneway"})
    rates = {}
    for crs in ("wgs84", "gcj02"):
        track = read_track(gps, crs=crs, vehicle_column="agent_id", vehicle_id="xa_car_2")
        rates[crs] = match_track(net, *_metric(net, track)).match_rate
    assert rates["wgs84"] >= 0.9 and rates["gcj02"] < 0.5, rates


def test_bad_input_to_the_matcher(frontage):
    with pytest.raises(InputError, match="same length"):
        match_track(frontage, [0.0, 1.0], [0.0], [0.0, 1.0])
    with pytest.raises(InputError, match="time order"):
        match_track(frontage, [0.0, 1.0], [0.0, 1.0], [1.0, 0.0])
    with pytest.raises(InputError, match="match='best'"):
        router = Router(frontage)
        to_ll = pyproj.Transformer.from_crs(UTM, 4326, always_xy=True)
        route = router.route(to_ll.transform(5, 0), to_ll.transform(1195, 0), truck(), explain=False)
        check_route(route, _track(frontage, *_drive(frontage, [(0, 0), (100, 0)])[:3]), match="best")
