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
