"""A route's first or last stretch on a private road, when the point lies on it: driven and stated."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from gridtools.errors import InputError
from gridtools.routing import NoRouteError, Router, network_from_frames, truck

YARD = (8.0202, 49.0054)  # 12 m from way 3 (private), 600 m from the public road


def _estate(private_tags=None, long_private=False):
    """A public primary road (way 1), a private service road off its end (ways 2 and 3)."""
    tags = {"access": "private", **(private_tags or {})}
    end = (8.02, 49.012) if long_private else (8.02, 49.005)
    rows = [dict(osmid=1, highway="primary", geometry=shapely.LineString([(8.0, 49.0), (8.02, 49.0)])),
            dict(osmid=2, highway="service", geometry=shapely.LineString([(8.02, 49.0), end]), **tags),
            dict(osmid=3, highway="service", geometry=shapely.LineString([end, (end[0] + 0.001, end[1] + 0.001)]),
                 **tags)]
    return network_from_frames(gpd.GeoDataFrame(rows, crs=4326))


def test_destination_on_a_private_road_is_reached_and_the_last_metres_are_stated():
    r = Router(_estate()).route((8.005, 49.0), YARD, truck())
    assert r.osmids == [1, 2, 3] and r.snap_m[1] == pytest.approx(12.2, abs=0.5)
    (part,) = r.restricted
    assert part["end"] == "destination" and part["osmids"] == [2, 3]
    assert part["length_m"] == pytest.approx(601, abs=3) and "access=private" in part["why"]
    assert part["length_m"] < r.length_m
    assert any("last 601 m" in w and "way 2, way 3" in w for w in r.warnings)
    assert any("last 601 m" in line for line in r.summary_lines())
    assert r.summary["restricted"][0]["osmids"] == [2, 3]


def test_origin_on_a_private_road_likewise():
    r = Router(_estate()).route(YARD, (8.005, 49.0), truck())
    assert r.osmids == [3, 2, 1] and [p["end"] for p in r.restricted] == ["origin"]
    assert r.restricted[0]["length_m"] == pytest.approx(601, abs=3)
    assert any(w.startswith("the first 601 m") for w in r.warnings)


def test_a_private_road_is_never_used_mid_route():
    # a private shortcut between two public roads: the public detour is taken, nothing is restricted
    rows = [dict(osmid=1, highway="primary", geometry=shapely.LineString([(8.0, 49.0), (8.01, 49.0)])),
            dict(osmid=2, highway="primary", access="private",
                 geometry=shapely.LineString([(8.01, 49.0), (8.02, 49.0)])),
            dict(osmid=3, highway="primary", geometry=shapely.LineString([(8.02, 49.0), (8.03, 49.0)])),
            dict(osmid=4, highway="primary", geometry=shapely.LineString([(8.01, 49.0), (8.015, 49.004),
                                                                          (8.02, 49.0)]))]
    router = Router(network_from_frames(gpd.GeoDataFrame(rows, crs=4326)))
    r = router.route((8.005, 49.0), (8.025, 49.0), truck())
    assert 2 not in r.osmids and r.restricted == [] and r.avoided[0]["osmid"] == 2


def test_a_private_road_the_truck_could_not_fit_is_not_a_way_in():
    with pytest.raises((NoRouteError, InputError)):  # private *and* 3 m high: no restricted end
        Router(_estate({"maxheight": "3"})).route((8.005, 49.0), YARD, truck(height_m=4.0), explain=False)


def test_a_private_stretch_longer_than_the_limit_is_not_driven(monkeypatch):
    from gridtools import settings

    monkeypatch.setattr(settings, "route_max_restricted_end_m", 300.0)
    with pytest.raises((NoRouteError, InputError)):
        Router(_estate()).route((8.005, 49.0), YARD, truck(), explain=False)


def test_a_usable_road_nearer_than_the_private_one_wins():
    r = Router(_estate()).route((8.005, 49.0), (8.0195, 49.0001), truck())  # beside the public road
    assert r.restricted == [] and r.osmids == [1]


def _banned_daytime():
    """The only road to the destination is closed to trucks on weekdays 07:00-19:00."""
    rows = [dict(osmid=1, highway="primary", geometry=shapely.LineString([(8.0, 49.0), (8.01, 49.0)])),
            dict(osmid=2, highway="primary", geometry=shapely.LineString([(8.01, 49.0), (8.02, 49.0)]),
                 **{"hgv:conditional": "no @ (Mo-Fr 07:00-19:00)"})]
    return network_from_frames(gpd.GeoDataFrame(rows, crs=4326))


def test_no_time_and_only_a_time_window_in_the_way_routes_and_says_what_was_assumed():
    router = Router(_banned_daytime())
    r = router.route((8.005, 49.0), (8.015, 49.0), truck())
    assert r.osmids == [1, 2] and r.at is None
    (assumed,) = r.time_assumed
    assert assumed["osmid"] == 2 and "hgv:conditional=no @ (Mo-Fr 07:00-19:00)" in assumed["why"]
    assert any("not to be in force" in w and "on way 2" in w and "--at" in w for w in r.warnings)
    assert r.summary["time_assumed"][0]["osmid"] == 2 and r.snap_m[1] < 1
    # with the time given, the rule is applied: the truck stops where way 2 begins, 360 m short
    day = router.route((8.005, 49.0), (8.015, 49.0), truck(), at="2026-11-23 08:00")
    assert day.osmids == [1] and day.snap_m[1] == pytest.approx(365, abs=10) and day.time_assumed == []
    with pytest.raises(InputError, match="hgv:conditional=no"):  # within 100 m only: refused, and why
        Router(_banned_daytime(), max_snap_m=100).route((8.005, 49.0), (8.015, 49.0), truck(), at="2026-11-23 08:00")
    night = router.route((8.005, 49.0), (8.015, 49.0), truck(), at="2026-11-23 22:00")
    assert night.osmids == [1, 2] and night.time_assumed == [] and night.warnings == []


def test_no_time_keeps_the_safe_reading_when_a_route_exists_without_the_window():
    rows = [dict(osmid=1, highway="primary", geometry=shapely.LineString([(8.0, 49.0), (8.02, 49.0)]),
                 **{"hgv:conditional": "no @ (Mo-Fr 07:00-19:00)"}),
            dict(osmid=2, highway="primary", geometry=shapely.LineString([(8.0, 49.0), (8.01, 49.005), (8.02, 49.0)]))]
    r = Router(network_from_frames(gpd.GeoDataFrame(rows, crs=4326))).route((8.0, 49.0), (8.02, 49.0), truck())
    assert r.osmids == [2] and r.time_assumed == [] and "counted as in force" in r.avoided[0]["why"]


def _campus(gate=False, exit_tags=None):
    """A public primary road (way 1); a private service road off it (way 2, or a public road with a
    private gate); public campus streets behind it (ways 3 and 4) with no other way out."""
    exit_tags = {"access": "private"} if exit_tags is None and not gate else (exit_tags or {})
    town = [dict(osmid=10 + i, highway="primary", geometry=shapely.LineString([(7.99 - 0.002 * i, 49.0),
                                                                               (7.988 - 0.002 * i, 49.0)]))
            for i in range(5)]  # the main network: more junctions than the campus
    rows = [dict(osmid=9, highway="primary", geometry=shapely.LineString([(7.99, 49.0), (8.0, 49.0)])), *town,
            dict(osmid=1, highway="primary", geometry=shapely.LineString([(8.0, 49.0), (8.02, 49.0)])),
            dict(osmid=2, highway="service", geometry=shapely.LineString([(8.02, 49.0), (8.02, 49.003)]),
                 **exit_tags),
            dict(osmid=3, highway="residential", geometry=shapely.LineString([(8.02, 49.003), (8.025, 49.003)])),
            dict(osmid=4, highway="residential", geometry=shapely.LineString([(8.025, 49.003), (8.025, 49.006)]))]
    roads = gpd.GeoDataFrame(rows, crs=4326)
    if not gate:
        return network_from_frames(roads)
    import pandas as pd

    gates = pd.DataFrame([dict(lon=8.02, lat=49.003, barrier="lift_gate", access="private")])
    return network_from_frames(roads, gpd.GeoDataFrame(gates, geometry=gpd.points_from_xy(gates.lon, gates.lat),
                                                       crs=4326))


CAMPUS = (8.025, 49.0045)  # on public way 4, 0 m from its road


def test_a_point_in_a_pocket_is_reached_over_its_private_way_out_and_snapped_onto_its_own_street():
    r = Router(_campus()).route((8.005, 49.0), CAMPUS, truck())
    assert r.osmids == [1, 2, 3, 4] and r.snap_m[1] == pytest.approx(0, abs=0.01)
    (part,) = r.restricted
    assert part["end"] == "destination" and part["pocket"] and part["osmids"] == [2]
    assert part["length_m"] == pytest.approx(334, abs=2)
    assert any("enters the destination's streets over 334 m" in w and "way 2" in w for w in r.warnings)
    back = Router(_campus()).route(CAMPUS, (8.005, 49.0), truck())
    assert back.osmids == [4, 3, 2, 1] and back.restricted[0]["end"] == "origin" and back.restricted[0]["pocket"]
    assert any("leaves the origin's streets" in w for w in back.warnings)


def test_a_pocket_behind_a_road_closed_by_more_than_private_is_not_entered():
    # hgv=no is no destination access: the truck is snapped onto the public road instead, and says so
    r = Router(_campus(exit_tags={"hgv": "no"})).route((8.005, 49.0), (8.0205, 49.0031), truck())
    assert r.restricted == [] and 2 not in r.osmids
    assert any("does not connect" in w for w in r.warnings)


def test_a_pocket_whose_way_out_is_longer_than_the_limit_is_not_entered(monkeypatch):
    from gridtools import settings

    monkeypatch.setattr(settings, "route_max_restricted_end_m", 300.0)
    r = Router(_campus()).route((8.005, 49.0), (8.0205, 49.0031), truck())
    assert r.restricted == [] and 2 not in r.osmids


def test_a_private_gate_closes_like_a_private_road():
    r = Router(_campus(gate=True)).route((8.005, 49.0), CAMPUS, truck())
    assert r.osmids[-2:] == [3, 4] and r.restricted and r.restricted[0]["pocket"]
    assert "on node" in r.restricted[0]["why"]


@pytest.mark.slow
def test_hsinchu_private_roads_only_between_a_pocket_and_the_main_network(tmp_path):
    """The real campus extract: judged from the raw tags (tests/truck_judge.py), no closed way mid-route."""
    from conftest import shared_data
    from split_graph import points_on_roads
    from truck_judge import end_stretches, main_ways, way_tags, why_closed

    from gridtools.routing import load_network

    path = shared_data("roads", "hsinchu", "NCTU_Taiwan.osm.pbf")
    net = load_network(path, cache_dir=tmp_path)
    router, big = Router(net), truck(weight_t=40, height_m=4.2, width_m=2.6, length_m=16.5)
    tags, main = way_tags(path), main_ways(path, weight=40, height=4.2, width=2.6, length=16.5)
    pts = points_on_roads(net, 240, seed=5)
    pockets = restricted = both_main = 0
    for o, d in zip(pts[::2], pts[1::2]):
        r = router.route(o, d, big, explain=False)
        closed = [bool(why_closed(tags.get(w, {}), 40, 4.2, 2.6, 16.5)) for w in r.osmids]
        start, end = end_stretches(r.osmids, closed, main)
        assert {i for i, c in enumerate(closed) if c} <= start | end, (o, d, r.osmids)  # none mid-route
        stated = {w for part in r.restricted for w in part["osmids"]}
        assert {r.osmids[i] for i in start | end} <= stated, (o, d, r.osmids, r.restricted)
        pockets += any(part["pocket"] for part in r.restricted)
        restricted += bool(r.restricted)
        if r.snap_osmids[0] in main and r.snap_osmids[1] in main:  # both points on the main network
            both_main += 1
            assert r.restricted == [] and not any(closed), (o, d, r.osmids)
    assert pockets >= 1 and restricted >= 10 and both_main >= 40  # the slice really holds each kind


def test_two_points_on_one_private_estate_are_routed_over_it_and_stated_once():
    r = Router(_estate()).route((8.0201, 49.002), YARD, truck())
    (part,) = r.restricted
    assert r.osmids == [2, 3] and part["end"] == "origin" and part["osmids"] == [2, 3]
    assert part["length_m"] == pytest.approx(r.length_m, abs=0.5)


def test_a_private_road_behind_a_private_gate_is_reached_over_the_gate():
    import pandas as pd

    gates = pd.DataFrame([dict(lon=8.02, lat=49.005, barrier="lift_gate", access="private")])
    rows = [dict(osmid=1, highway="primary", geometry=shapely.LineString([(8.0, 49.0), (8.02, 49.0)])),
            dict(osmid=2, highway="service", geometry=shapely.LineString([(8.02, 49.0), (8.02, 49.005)]),
                 access="private"),
            dict(osmid=3, highway="service", geometry=shapely.LineString([(8.02, 49.005), (8.021, 49.006)]),
                 access="private")]
    net = network_from_frames(gpd.GeoDataFrame(rows, crs=4326),
                              gpd.GeoDataFrame(gates, geometry=gpd.points_from_xy(gates.lon, gates.lat), crs=4326))
    r = Router(net).route((8.005, 49.0), YARD, truck())
    (part,) = r.restricted
    assert r.osmids == [1, 2, 3] and part["osmids"] == [2, 3] and not part["pocket"]
    assert "on node" in part["why"] and "access=private closes it" in part["why"]


@pytest.mark.parametrize("exit_tags, expected", [(None, 334), ({"hgv": "no"}, float("inf"))])
def test_private_metres_to_main_bounds_the_pocket_walk(exit_tags, expected):
    """The far campus corner is 334 m of private road from the main network (none with an hgv=no way out)."""
    net = _campus(exit_tags=exit_tags)
    router = Router(net)
    rules, metric = router.rules(truck()), router._metric(truck(), None)
    to_main, from_main = router._pocket_exits(rules, metric)
    far_corner = int(((net.node_lon - 8.025) ** 2 + (net.node_lat - 49.006) ** 2).argmin())  # end of way 4
    assert to_main[far_corner] == pytest.approx(expected, abs=2) and from_main[far_corner] == pytest.approx(expected, abs=2)
    main = router._main_nodes(rules)
    assert (to_main[main] < 1e-3).all() and (from_main[main] < 1e-3).all()
