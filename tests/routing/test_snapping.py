"""Snapping onto roads (phantom nodes): routes start and end part-way along a road.

Checked against networkx on the *split graph* (tests/split_graph.py): the same arcs and weights,
with the origin and destination spliced into their roads.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely

from conftest import run_cli, shared_data
from gridtools.errors import InputError
from gridtools.routing import NoRouteError, Router, car, load_network, network_from_frames, truck
from split_graph import points_on_roads, road_graph, split_cost


def _line_roads(tags: dict | None = None):
    """One 1.46 km primary road (way 1) from (8.0, 49.0) to (8.02, 49.0), plus a side road (way 2)."""
    rows = [dict(osmid=1, highway="primary", geometry=shapely.LineString([(8.0, 49.0), (8.02, 49.0)]),
                 **(tags or {})),
            dict(osmid=2, highway="residential", geometry=shapely.LineString([(8.02, 49.0), (8.02, 49.01)]))]
    return network_from_frames(gpd.GeoDataFrame(rows, crs=4326))


def test_point_in_the_middle_of_a_long_road_snaps_onto_it():
    router = Router(_line_roads(), max_snap_m=100)
    r = router.route((8.005, 49.0003), (8.015, 49.0003), truck())  # 33 m off the road, 360 m from a junction
    assert r.snap_m[0] == pytest.approx(33.4, abs=0.5) and r.snap_m[1] == pytest.approx(33.4, abs=0.5)
    assert r.osmids == [1] and r.length_m == pytest.approx(731, abs=2)  # a quarter ... three quarters
    assert r.geometry.length == pytest.approx(0.01, rel=1e-3)  # the drawn line is cut at the points
    assert r.to_geodataframe()["length_m"].sum() == pytest.approx(r.length_m, abs=0.2)


def test_one_way_road_routes_around_or_refuses():
    router = Router(_line_roads({"oneway": "yes"}))
    ahead = router.route((8.005, 49.0), (8.015, 49.0), car())
    assert ahead.length_m == pytest.approx(731, abs=2)
    # backwards: way 1 starts at a dead end, so a point on it cannot be reached from the rest (way 2); it is
    # re-snapped to way 2 (1.1 km, stated) and way 1 is driven only ahead, never against its direction
    back = router.route((8.015, 49.0), (8.005, 49.0), car(), explain=False)
    assert back.snap_m[1] == pytest.approx(1097, abs=5) and back.snap_osmids[1] == 2
    assert back.length_m == pytest.approx(365, abs=2) and "onto way 2" in back.warnings[0]
    with pytest.raises(NoRouteError):  # not that far: no legal route
        Router(_line_roads({"oneway": "yes"}), max_resnap_m=500).route((8.015, 49.0), (8.005, 49.0), car(),
                                                                       explain=False)


def test_same_point_is_never_silent():
    r = Router(_line_roads()).route((8.01, 49.0), (8.01, 49.0), car())
    assert r.length_m == 0 and r.warnings and "same place on way 1" in r.warnings[0]
    assert any("warning" in line for line in r.summary_lines())


def test_far_point_names_the_nearest_road_and_why():
    router = Router(_line_roads({"maxheight": "3.5"}), max_snap_m=200)
    with pytest.raises(InputError) as exc:
        router.route((8.005, 49.0), (8.0199, 49.009), truck(height_m=4.2))
    text = str(exc.value)
    assert "0 m from way 1" in text and "maxheight=3.5" in text and "from the nearest road usable" in text


def test_matrix_matches_routes_on_edges():
    router = Router(_line_roads())
    pts = [(8.003, 49.0), (8.011, 49.0001), (8.0201, 49.006)]
    m = router.matrix(pts, pts, car())
    for i, o in enumerate(pts):
        for j, d in enumerate(pts):
            r = router.route(o, d, car().without_preferences(), explain=False)
            assert m.seconds[i, j] == pytest.approx(r.cost, abs=0.002)


NETWORKS = [("roads", "truck_restrictions", "bus.osm.pbf"),
            ("china", "shanghai_huangpu_osm", "shanghai_huangpu_drive.osm")]


@pytest.mark.parametrize("parts", NETWORKS, ids=["heidelberg", "huangpu"])
@pytest.mark.parametrize("engine", ["cch", "dijkstra"])
def test_points_anywhere_on_roads_match_networkx_on_the_split_graph(tmp_path, parts, engine):
    net = load_network(shared_data(*parts), cache_dir=tmp_path)
    router = Router(net, engine=engine)
    big = truck(weight_t=40, height_m=4.2)
    rules = router.rules(big)
    w = np.clip(np.rint(rules.time_s * rules.factor * 1000.0), 1, 2147483646).astype(np.int64)
    arrive = w.copy()
    w[rules.blocked > 0] = 2147483647
    arrive[(rules.blocked > 0) & ~np.isin(rules.blocked, (6, 7, 8))] = 2147483647
    graph = road_graph(net, w)
    pts = points_on_roads(net, 120, seed=3)
    # independent check of the snap distance: shapely's nearest usable segment line
    usable = np.unique(net.arc_seg[(rules.blocked == 0) & (net.arc_seg >= 0)])
    tree = shapely.STRtree(net.segment_lines(usable, lonlat=False))
    to_xy = __import__("pyproj").Transformer.from_crs(4326, net.crs, always_xy=True)
    routed = refused = 0
    for o, d in zip(pts[::2], pts[1::2]):
        try:
            os_ = router.snap_edges([o], big, role="origin")
            ds = router.snap_edges([d], big, role="destination")
        except InputError:
            refused += 1
            continue
        ref = split_cost(graph, net, w, arrive, int(os_.seg[0]), float(os_.fraction[0]), int(ds.seg[0]),
                         float(ds.fraction[0]))
        try:
            r = router.route(o, d, big, explain=False)
        except NoRouteError:
            r = None
        if r is None or r.warnings and "does not connect" in r.warnings[0]:
            assert r is not None or math.isinf(ref), f"router refused a pair networkx routes ({ref})"
            refused += 1
            continue
        if r.restricted:  # on / behind a private road (a different snap than the usable one): stated
            assert len(r.warnings) >= len(r.restricted) and any("closed to this vehicle" in w for w in r.warnings)
            refused += 1
            continue
        assert r.cost * 1000 == pytest.approx(ref, abs=0.5), (o, d)
        for p, snap in ((o, r.snap_m[0]), (d, r.snap_m[1])):
            point = shapely.Point(*to_xy.transform(*p))
            nearest = tree.geometries[tree.nearest(point)]
            assert snap == pytest.approx(point.distance(nearest), abs=0.01)
        routed += 1
    assert routed >= 20 and routed + refused == 60


def _island_and_town():
    """A town (ways 1-5, the main network) and a lone street (way 9) 0.008 deg (~890 m) north of it."""
    import geopandas as gpd

    rows = [dict(osmid=1 + i, highway="primary", geometry=shapely.LineString([(8.0 + 0.002 * i, 49.0),
                                                                            (8.002 + 0.002 * i, 49.0)]))
            for i in range(5)]
    rows.append(dict(osmid=9, highway="residential", name="Island Lane",
                     geometry=shapely.LineString([(8.004, 49.008), (8.006, 49.008)])))
    from gridtools.routing import network_from_frames

    return network_from_frames(gpd.GeoDataFrame(rows, crs=4326))


def test_a_point_whose_near_roads_do_not_connect_is_snapped_farther_and_says_so():
    net = _island_and_town()
    r = Router(net).route((8.005, 49.008), (8.009, 49.0), truck())
    assert r.snap_m[0] == pytest.approx(890, abs=5) and r.snap_osmids[0] == 3
    (w,) = [w for w in r.warnings if "does not connect" in w]
    assert "way 9 (Island Lane)" in w and "onto way 3" in w and "beyond the 500 m snapping limit" in w


def test_beyond_the_resnap_limit_the_refusal_stands():
    with pytest.raises(NoRouteError, match="not connected"):
        Router(_island_and_town(), max_resnap_m=500).route((8.005, 49.008), (8.009, 49.0), truck())


def _town_and_one_way_fragment(forbidden_beside: bool = False):
    """The town of :func:`_island_and_town` and a 1.33 km one-way street (way 9) running south into it.

    Way 9 starts at a dead end (where an extract would clip it) and ends at the town's junction
    (8.004, 49.0): it can be left into the town, never entered from it, like NYC's 7th Avenue where
    the shared extract cuts it.  ``forbidden_beside`` adds a lone ``hgv=no`` street (way 10) 22 m east of it.
    """
    rows = [dict(osmid=1 + i, highway="primary", geometry=shapely.LineString([(8.0 + 0.002 * i, 49.0),
                                                                            (8.002 + 0.002 * i, 49.0)]))
            for i in range(5)]
    rows.append(dict(osmid=9, highway="primary", name="Seventh Avenue", oneway="yes",
                     geometry=shapely.LineString([(8.004, 49.012), (8.004, 49.0)])))
    if forbidden_beside:
        rows.append(dict(osmid=10, highway="residential", name="Hgv Lane", hgv="no",
                         geometry=shapely.LineString([(8.0043, 49.012), (8.0043, 49.006)])))
    return network_from_frames(gpd.GeoDataFrame(rows, crs=4326))


def test_a_destination_on_a_one_way_fragment_entered_only_from_outside_is_snapped_farther():
    router = Router(_town_and_one_way_fragment())
    on_fragment, town = (8.004, 49.011), (8.009, 49.0)
    r = router.route(town, on_fragment, truck())
    # the truck cannot drive up the one-way street: the nearest town road, 1.22 km south, is used instead
    assert r.snap_m[1] == pytest.approx(1223, abs=5) and r.snap_osmids[1] in (2, 3) and 9 not in r.osmids
    (w,) = [w for w in r.warnings if "does not connect" in w]
    assert w.startswith("the destination's nearest road (0 m, way 9 (Seventh Avenue))")
    assert "beyond the 500 m snapping limit" in w
    # as an origin the point leaves the fragment down the one-way street: no re-snap
    back = router.route(on_fragment, town, truck())
    assert back.snap_m[0] < 0.01 and back.osmids[0] == 9 and not back.warnings
    assert back.length_m == pytest.approx(1223 + 365, abs=5)


def test_a_point_on_a_forbidden_road_beside_a_fragment_is_not_snapped_farther():
    router = Router(_town_and_one_way_fragment(forbidden_beside=True))
    # on the hgv=no street: its nearest usable road is the cut-off fragment 22 m away, but the point lies on
    # a road the truck may not use, so the refusal (naming hgv=no) stands instead of a 1.2 km re-snap
    with pytest.raises(NoRouteError, match="way 10 \\(Hgv Lane\\), which this vehicle may not use \\(hgv=no"):
        router.route((8.009, 49.0), (8.0043, 49.011), truck())
    r = router.route((8.009, 49.0), (8.0043, 49.011), car())  # a car may use way 10, itself cut off: re-snapped
    assert "way 10 (Hgv Lane)" in r.warnings[0]


@pytest.mark.slow
def test_nyc_destinations_on_clipped_seventh_avenue_are_routed(tmp_path):
    """Benchmark pairs 172 and 187 (bench_routing_valhalla.py, seed 5): Valhalla routes them legally."""
    net = load_network(shared_data("roads", "truck_restrictions", "nyc.osm.pbf"), cache_dir=tmp_path)
    router = Router(net)
    big = truck(weight_t=40, height_m=4.2, width_m=2.6, length_m=16.5)
    for origin, destination in [((-74.001758, 40.737655), (-73.994874, 40.745157)),
                                ((-74.004061, 40.737545), (-73.993735, 40.746724))]:
        r = router.route(origin, destination, big)
        (w,) = [w for w in r.warnings if "does not connect" in w]
        assert "way 5670836 (7th Avenue)" in w and "West 14th Street" in w
        assert 800 < r.snap_m[1] < 1100 and 5670836 not in r.osmids


def _grid_roads(n: int = 12, step: float = 0.004):
    """An n x n grid of residential streets about 290 m (x) by 445 m (y) apart: thousands of index pieces."""
    rows = [dict(osmid=i + 1, highway="residential",
                 geometry=shapely.LineString([(8.0, 49.0 + i * step), (8.0 + (n - 1) * step, 49.0 + i * step)]))
            for i in range(n)]
    rows += [dict(osmid=n + i + 1, highway="residential",
                  geometry=shapely.LineString([(8.0 + i * step, 49.0), (8.0 + i * step, 49.0 + (n - 1) * step)]))
             for i in range(n)]
    return network_from_frames(gpd.GeoDataFrame(rows, crs=4326))


@pytest.mark.parametrize("k", [1, 4, 12, 64])
def test_candidates_are_the_nearest_segments_by_brute_force(k):
    net = _grid_roads()
    router = Router(net)
    index = router._segment_index()
    every = index.tree(np.ones(len(net.seg_start), bool))
    lines = net.segment_lines(np.arange(len(net.seg_start)), lonlat=False)
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = shapely.total_bounds(lines)
    for x, y in rng.uniform((x0 - 100, y0 - 100), (x1 + 100, y1 + 100), size=(40, 2)):
        got = index.candidates(np.array([x, y]), every, 500.0, k=k)
        d = shapely.distance(lines, shapely.Point(x, y))
        want = np.argsort(d, kind="stable")[:k]
        want = want[d[want] <= 500.0]
        assert len(got.seg) == len(want)
        np.testing.assert_allclose(got.distance_m, d[want], atol=1e-6)
        nearer = d[want][-1] - 1e-6 if len(want) else -1.0  # below the k-th distance: no ties to break
        assert set(got.seg[got.distance_m < nearer].tolist()) == set(want[d[want] < nearer].tolist())


def _grid_rows(n: int, x0: float, y0: float, step: float, first_id: int) -> list:
    """Rows of an n x n grid of residential streets from (x0, y0), ``step`` degrees apart: one way per block
    (ways join only at shared points), ids from ``first_id``; n * n junctions."""
    ends = [((x0 + i * step, y0 + j * step), (x0 + (i + 1) * step, y0 + j * step))
            for i in range(n - 1) for j in range(n)]
    ends += [((x0 + j * step, y0 + i * step), (x0 + j * step, y0 + (i + 1) * step))
             for i in range(n - 1) for j in range(n)]
    return [dict(osmid=first_id + k, highway="residential", geometry=shapely.LineString(e)) for k, e in enumerate(ends)]


def _town_and_district(n: int):
    """A 9 x 9 town (ways 1-144, the main network) and, 160 m east of it, an n x n district (ways from 1000)
    joined to the town only by way 999 (Weight Lane, maxweight=7.5): a 40 t truck may drive the district
    but not reach it."""
    return network_from_frames(_town_and_district_frame(n))


def _town_and_district_frame(n: int) -> gpd.GeoDataFrame:
    rows = _grid_rows(9, 8.0, 49.0, 0.002, 1) + _grid_rows(n, 8.0182, 49.0, 0.001, 1000)
    rows.append(dict(osmid=999, highway="residential", name="Weight Lane", maxweight="7.5",
                     geometry=shapely.LineString([(8.016, 49.0), (8.0182, 49.0)])))
    return gpd.GeoDataFrame(rows, crs=4326)


def test_a_point_in_a_closed_district_is_refused_naming_the_road_that_would_connect():
    big, town = truck(weight_t=40), (8.003, 49.004)
    in_district = (8.0187, 49.003)  # on one of the district's streets, ~200 m from the town's nearest road
    router = Router(_town_and_district(8))  # 64 junctions: a district, not a stray pocket
    with pytest.raises(NoRouteError) as err:
        router.route(town, in_district, big)
    text = str(err.value)
    assert "maxweight" in text and "way 999 (Weight Lane)" in text  # what closes it
    assert "lies in streets this vehicle may drive but not enter (50 or more junctions" in text
    assert "the nearest road that connects is way" in text and "pass min_reach_nodes=0 to snap onto it" in text
    with pytest.raises(NoRouteError, match="may drive but not leave"):
        router.route(in_district, town, big)
    # inside the district the truck is routed as usual, and a car is not affected
    inside = router.route(in_district, (8.0222, 49.006), big)
    assert max(inside.snap_m) < 1.0 and not inside.warnings
    assert max(router.route(town, in_district, car()).snap_m) < 1.0
    # opting out: the point is moved onto the nearest town road that connects, and the route says so
    moved = Router(_town_and_district(8), min_reach_nodes=0).route(town, in_district, big)
    assert 150 < moved.snap_m[1] < 260 and 999 not in moved.osmids
    assert any("does not connect" in w for w in moved.warnings)


def test_a_small_pocket_is_snapped_past_as_before():
    big, town, in_pocket = truck(weight_t=40), (8.003, 49.004), (8.0187, 49.001)
    r = Router(_town_and_district(3)).route(town, in_pocket, big)  # 9 junctions: below the 50 of a district
    assert 150 < r.snap_m[1] < 260 and 999 not in r.osmids
    (w,) = [w for w in r.warnings if "does not connect" in w]
    assert w.startswith("the destination's nearest road (0 m, way 1") and "onto way" in w


def test_cli_names_the_closed_district_and_its_flag(tmp_path, capsys):
    roads = tmp_path / "roads.gpkg"
    _town_and_district_frame(8).to_file(roads)
    args = ["route", str(roads), "--from", "8.003,49.004", "--to", "8.0187,49.003", "--weight-t", "40",
            "-o", str(tmp_path / "r.geojson"), "--no-cache"]
    code, text = run_cli(args, capsys)
    assert code == 2 and "may drive but not enter" in text and "pass --min-reach-nodes 0 to snap onto it" in text
    code, text = run_cli(args + ["--min-reach-nodes", "0"], capsys)
    assert code == 0 and "does not connect" in text
