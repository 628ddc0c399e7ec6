"""Routing: tag parsing, the restriction model, the router, the CLI.

Synthetic networks with known answers (two roads between A and B, one of them restricted) plus
real OSM extracts (Valhalla's truck test files, Shanghai Huangpu).  Real-route checks re-read the
tags of every way on a route straight from the OSM file with osmium and judge them with the small
independent rules below, not with gridtools' own parser.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re

import geopandas as gpd
import numpy as np
import pytest
import shapely

from conftest import shared_data
from gridtools.errors import InputError
from gridtools.routing import (NoRouteError, Router, car, load_network, network_from_frames, parse_length,
                               parse_speed, parse_time, parse_weight, travel_time_matrix, truck, van)
from gridtools.routing.tags import parse_conditional

MONDAY_8 = dt.datetime(2026, 11, 23, 8, 0)
MONDAY_20 = dt.datetime(2026, 11, 23, 20, 0)


# ------------------------------------------------------------------------------------------ tags


@pytest.mark.parametrize("text, tonnes", [("7.5", 7.5), ("7.5 t", 7.5), ("7,5t", 7.5), ("12000 lbs", 5.443),
                                          ("5 st", 4.536), ("3500 kg", 3.5), ("none", math.inf)])
def test_parse_weight_units(text, tonnes):
    value, problem = parse_weight(text)
    assert problem is None and value == pytest.approx(tonnes, abs=1e-3)


@pytest.mark.parametrize("text, metres", [("4.2", 4.2), ("4.2 m", 4.2), ("13'6\"", 4.1148), ("13'6''", 4.1148),
                                          ("14'", 4.2672), ("14 ft", 4.2672), ("420 cm", 4.2), ("default", math.inf)])
def test_parse_length_units(text, metres):
    value, problem = parse_length(text)
    assert problem is None and value == pytest.approx(metres, abs=1e-4)


@pytest.mark.parametrize("parser, text", [(parse_weight, "7.5 furlongs"), (parse_weight, "heavy"),
                                          (parse_length, "below_default"), (parse_length, "4.2 cubits")])
def test_unknown_units_are_reported(parser, text):
    value, problem = parser(text)
    assert math.isnan(value) and text in problem


def test_parse_speed():
    assert parse_speed("30 mph")[0] == pytest.approx(48.28, abs=0.01)
    assert parse_speed("DE:urban")[0] == 50.0
    assert math.isnan(parse_speed("fast")[0]) and parse_speed("fast")[1]


def test_conditions_by_time_and_weight():
    (value, cond), = parse_conditional("no @ (Mo-Fr 07:00-19:00)")
    assert value == "no"
    assert cond.holds(truck(), MONDAY_8) is True
    assert cond.holds(truck(), MONDAY_20) is False
    assert cond.holds(truck(), dt.datetime(2026, 11, 22, 8, 0)) is False  # Sunday
    assert cond.holds(truck(), None) is None  # unknown time: undecided
    (_, night), = parse_conditional("7.5 @ (22:00-06:00)")
    assert night.holds(truck(), dt.datetime(2026, 11, 23, 23, 30)) is True
    assert night.holds(truck(), dt.datetime(2026, 11, 24, 5, 0)) is True
    assert night.holds(truck(), MONDAY_8) is False
    (_, heavy), = parse_conditional("no @ (7:30-19:00 AND weight>7.5)")
    assert heavy.holds(truck(weight_t=40), MONDAY_8) is True
    assert heavy.holds(van(), MONDAY_8) is False
    (_, spaced), = parse_conditional("no @ ( Su 08:00 - 18:00)")
    assert spaced.holds(car(), dt.datetime(2026, 11, 22, 9, 0)) is True


def test_malformed_time_is_a_clear_error():
    with pytest.raises(InputError, match="YYYY-MM-DD HH:MM"):
        parse_time("23/11/2026 8am")
    assert parse_time("2026-11-23T08:00") == MONDAY_8


# ------------------------------------------------------------------------------- synthetic graph
#
#  A (8.000, 49.000) --- short road (way 1, 1.46 km) --- B (8.020, 49.000)
#   \                                                  /
#    way 2 (north) --- way 3 (north, 8.010 49.010) --- way 4
#
# The detour is about 2.2x longer.  Restriction tags go on the short road.


def two_roads(short_tags: dict | None = None, node_tags: dict | None = None):
    a, b, m1, m2 = (8.0, 49.0), (8.02, 49.0), (8.0, 49.01), (8.02, 49.01)
    rows = [{**dict(osmid=1, highway="primary", geometry=shapely.LineString([a, (8.01, 49.0), b])), **(short_tags or {})},
            dict(osmid=2, highway="primary", geometry=shapely.LineString([a, m1])),
            dict(osmid=3, highway="primary", geometry=shapely.LineString([m1, m2])),
            dict(osmid=4, highway="primary", geometry=shapely.LineString([m2, b]))]
    edges = gpd.GeoDataFrame(rows, crs=4326)
    nodes = None
    if node_tags:
        nodes = gpd.GeoDataFrame([dict(geometry=shapely.Point(8.01, 49.0), **node_tags)], crs=4326)
    return network_from_frames(edges, nodes)


A, B = (8.0, 49.0), (8.02, 49.0)


def test_free_network_uses_the_short_road():
    r = Router(two_roads()).route(A, B, truck())
    assert r.osmids == [1] and r.avoided == []
    assert r.length_m == pytest.approx(1463, abs=2)
    assert r.time_s == pytest.approx(r.length_m / (60 / 3.6), rel=1e-6)  # primary default 60 km/h


@pytest.mark.parametrize("tags, big_ok, small_ok, word", [
    ({"maxheight": "3.8"}, False, True, "maxheight=3.8"),
    ({"maxheight": "13'6\""}, True, True, None),             # 4.11 m > 4.0 m default truck
    ({"maxweight": "7.5"}, False, True, "maxweight=7.5"),
    ({"maxweight": "12000 lbs"}, False, True, "maxweight=12000 lbs"),
    ({"maxwidth": "2.3"}, False, True, "maxwidth=2.3"),
    ({"maxlength": "12"}, False, True, "maxlength=12"),
    ({"hgv": "no"}, False, True, "hgv=no"),
    ({"access": "private"}, False, False, "access=private"),
    ({"motor_vehicle": "no", "hgv": "yes"}, True, False, "motor_vehicle=no"),
    ({"oneway": "-1"}, False, False, None),
])
def test_way_restrictions(tags, big_ok, small_ok, word):
    router = Router(two_roads(tags))
    big = router.route(A, B, truck(weight_t=40, height_m=4.0))
    small = router.route(A, B, van())
    assert (big.osmids == [1]) is big_ok
    assert (small.osmids == [1]) is small_ok
    if word and not big_ok:
        assert big.avoided and big.avoided[0]["osmid"] == 1 and word in big.avoided[0]["why"]


def test_unreadable_limit_blocks_and_is_reported():
    net = two_roads({"maxheight": "below_default"})
    assert net.tag_problems[["osmid", "key"]].values.tolist() == [[1, "maxheight"]]
    r = Router(net).route(A, B, truck())
    assert r.osmids != [1] and "cannot be read" in r.avoided[0]["why"]


def test_time_conditional_ban():
    router = Router(two_roads({"hgv:conditional": "no @ (Mo-Fr 07:00-19:00)"}))
    assert router.route(A, B, truck(), at=MONDAY_8).osmids == [2, 3, 4]
    assert router.route(A, B, truck(), at=MONDAY_20).osmids == [1]
    assert router.route(A, B, truck(), at=None).osmids == [2, 3, 4]  # unknown time: the ban counts
    assert router.route(A, B, car(), at=MONDAY_8).osmids == [1]
    weight = Router(two_roads({"maxweight:conditional": "3.5 @ (22:00-06:00)"}))
    assert weight.route(A, B, truck(), at=MONDAY_8).osmids == [1]
    assert weight.route(A, B, truck(), at="2026-11-23 23:00").osmids == [2, 3, 4]


def test_time_slots_share_one_customisation():
    router = Router(two_roads({"hgv:conditional": "no @ (Mo-Fr 07:00-19:00)"}))
    router.route(A, B, truck(), at=MONDAY_8, explain=False)
    router.route(A, B, truck(), at="2026-11-23 18:59", explain=False)  # same conditions in force
    assert len(router._metrics) == 1
    router.route(A, B, truck(), at=MONDAY_20, explain=False)  # ban lifted: a second weight set
    assert len(router._metrics) == 2


def test_node_barriers_and_height_restrictors():
    bollard = Router(two_roads(node_tags={"barrier": "bollard"}))
    r = bollard.route(A, B, car())
    assert r.osmids == [2, 3, 4] and "bollard" in r.avoided[0]["why"]
    gate = Router(two_roads(node_tags={"barrier": "gate"}))
    assert gate.route(A, B, car()).osmids == [1]
    low = Router(two_roads(node_tags={"barrier": "height_restrictor", "maxheight": "3.5"}))
    assert low.route(A, B, truck()).osmids == [2, 3, 4]
    assert low.route(A, B, van()).osmids == [1]
    allowed = Router(two_roads(node_tags={"barrier": "bollard", "motor_vehicle": "yes"}))
    assert allowed.route(A, B, car()).osmids == [1]


def test_residential_penalty_and_truck_route_preference():
    # the short road is a living street: cars take it, trucks (x4 cost there) take the 2.2x longer arterials
    net = two_roads({"highway": "living_street", "maxspeed": "50"})
    assert Router(net).route(A, B, car()).osmids == [1]
    assert Router(net).route(A, B, truck()).osmids == [2, 3, 4]  # living_street x4 cost for trucks


def test_no_legal_route_names_the_restriction():
    edges = gpd.GeoDataFrame([dict(osmid=77, highway="primary", name="Old Bridge", maxweight="7.5",
                                   geometry=shapely.LineString([A, B]))], crs=4326)
    router = Router(network_from_frames(edges))
    with pytest.raises(NoRouteError, match=r"maxweight=7.5 \(7.5 t\) is below the vehicle's weight 40 t on way 77 "
                                           r"\(Old Bridge\)") as info:
        router.route(A, B, truck(weight_t=40))
    assert info.value.blocking[0]["osmid"] == 77
    assert router.route(A, B, van()).osmids == [77]


def test_far_point_error_gives_distance():
    with pytest.raises(InputError, match=r"is [\d,]+ m from the nearest road"):
        Router(two_roads()).route((8.0, 49.2), B, car())
    with pytest.raises(InputError, match="LON,LAT"):
        Router(two_roads()).route((200.0, 49.0), B, car())


def test_matrix_matches_routes_and_engines_agree():
    net = two_roads({"maxheight": "3.8"})
    pts = [A, B, (8.0, 49.01), (8.02, 49.01)]
    cch, dij = Router(net, engine="cch"), Router(net, engine="dijkstra")
    m = cch.matrix(pts, pts, truck())
    assert np.allclose(m.seconds, dij.matrix(pts, pts, truck()).seconds)
    plain = truck().without_preferences()
    for i, o in enumerate(pts):
        for j, d in enumerate(pts):
            assert m.seconds[i, j] == pytest.approx(cch.route(o, d, plain).time_s, abs=0.01)
    assert travel_time_matrix(net, [A], [B]).seconds[0, 0] == pytest.approx(1463 / (60 / 3.6), abs=0.1)


# --------------------------------------------------------------------------- turn restrictions


def _cross_osm(tmp_path, relation: str) -> str:
    """A + shaped junction (node 5 in the middle) with a bypass loop around the north-east corner."""
    nodes = {1: (8.000, 49.000), 5: (8.010, 49.000), 2: (8.020, 49.000), 3: (8.010, 49.010), 4: (8.010, 48.990),
             6: (8.020, 49.010)}
    xml = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    xml += [f'<node id="{k}" lat="{lat}" lon="{lon}" version="1"/>' for k, (lon, lat) in nodes.items()]
    ways = {10: [1, 5], 11: [5, 2], 12: [5, 3], 13: [5, 4], 14: [2, 6, 3]}
    for wid, refs in ways.items():
        xml.append(f'<way id="{wid}" version="1">' + "".join(f'<nd ref="{r}"/>' for r in refs)
                   + '<tag k="highway" v="secondary"/></way>')
    xml += [relation, "</osm>"]
    path = tmp_path / "cross.osm"
    path.write_text("\n".join(xml))
    return str(path)


def _rel(tags: str) -> str:
    return ('<relation id="99" version="1"><member type="way" ref="10" role="from"/>'
            '<member type="node" ref="5" role="via"/><member type="way" ref="12" role="to"/>'
            f'<tag k="type" v="restriction"/>{tags}</relation>')


@pytest.mark.parametrize("engine", ["cch", "dijkstra"])
def test_turn_restrictions(tmp_path, engine):
    west, north = (8.0, 49.0), (8.01, 49.01)
    free = Router(load_network(_cross_osm(tmp_path, ""), cache=False), engine=engine)
    assert free.route(west, north, car()).osmids == [10, 12]
    banned = Router(load_network(_cross_osm(tmp_path, _rel('<tag k="restriction" v="no_left_turn"/>')), cache=False),
                    engine=engine)
    assert banned.network.turns["status"].tolist() == ["applied"]
    r = banned.route(west, north, car())
    assert r.osmids == [10, 11, 14]  # around the block
    # the turn's own ends stay reachable: start at the via node, or finish there
    assert banned.route((8.01, 49.0), north, car()).osmids == [12]
    assert banned.route(west, (8.01, 49.0), car()).osmids == [10]
    only = Router(load_network(_cross_osm(tmp_path, _rel('<tag k="restriction" v="only_left_turn"/>')),
                               cache=False), engine=engine)
    assert only.route(west, (8.02, 49.0), car()).osmids[:2] != [10, 11]  # straight on is forbidden
    hgv = Router(load_network(_cross_osm(tmp_path, _rel('<tag k="restriction:hgv" v="no_left_turn"/>')),
                              cache=False), engine=engine)
    assert hgv.route(west, north, car()).osmids == [10, 12]
    t = hgv.route(west, north, truck())
    assert t.osmids == [10, 11, 14] and "turn restriction" in t.avoided[0]["why"]
    trucks_exempt = Router(load_network(_cross_osm(tmp_path, _rel(
        '<tag k="restriction" v="no_left_turn"/><tag k="except" v="hgv"/>')), cache=False), engine=engine)
    assert trucks_exempt.route(west, north, car()).osmids == [10, 11, 14]
    assert trucks_exempt.route(west, north, truck()).osmids == [10, 12]
    timed = Router(load_network(_cross_osm(tmp_path, _rel(
        '<tag k="restriction:conditional" v="no_left_turn @ (Mo-Fr 07:00-19:00)"/>')), cache=False), engine=engine)
    assert timed.route(west, north, car(), at=MONDAY_8).osmids == [10, 11, 14]
    assert timed.route(west, north, car(), at=MONDAY_20).osmids == [10, 12]


# ------------------------------------------------------------------------------------ real data


def _osm_way_tags(path) -> dict:
    """Tags of every way in an OSM file, read directly with osmium (independent of gridtools)."""
    import osmium

    return {w.id: {t.k: t.v for t in w.tags} for w in osmium.FileProcessor(str(path), osmium.osm.WAY)}


def _metres(value: str) -> float:
    """Independent reading of a size: metres, or feet'inches"."""
    m = re.match(r"^\s*(\d+)\s*'\s*(\d+)?", value)
    if m:
        return int(m.group(1)) * 0.3048 + int(m.group(2) or 0) * 0.0254
    return float(value.split()[0].replace(",", "."))


def _in_window(cond: str, at: dt.datetime) -> bool:
    """Independent check of 'HH:MM-HH:MM' windows (and Mo-Sa style days) in a condition."""
    days = "Mo Tu We Th Fr Sa Su".split()
    m = re.search(r"(Mo|Tu|We|Th|Fr|Sa|Su)\s*-\s*(Mo|Tu|We|Th|Fr|Sa|Su)", cond)
    if m and not days.index(m.group(1)) <= at.weekday() <= days.index(m.group(2)):
        return False
    listed = re.findall(r"\b(Mo|Tu|We|Th|Fr|Sa|Su)\b", cond)
    if listed and not m and days[at.weekday()] not in listed:
        return False
    for h1, m1, h2, m2 in re.findall(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", cond):
        if int(h1) * 60 + int(m1) <= at.hour * 60 + at.minute < int(h2) * 60 + int(m2):
            return True
    return False


def truck_may_not_use(tags: dict, at: dt.datetime, weight=40.0, height=4.2) -> str | None:
    """Why a 40 t, 4.2 m truck may not use a way with these tags at ``at`` (None: it may)."""
    decided = None
    for key in ("access", "vehicle", "motor_vehicle", "hgv"):
        if key in tags:
            decided = (key, tags[key])
        cond = tags.get(f"{key}:conditional")
        if cond:
            value, _, when = cond.partition("@")
            heavy = re.search(r"weight\s*>\s*([\d.]+)", when)
            if _in_window(when, at) and (not heavy or weight > float(heavy.group(1))):
                decided = (f"{key}:conditional", value.strip())
    if decided and decided[1] in ("no", "private"):
        return f"{decided[0]}={decided[1]}"
    if "maxweight" in tags and tags["maxweight"] not in ("none", "default") and weight > float(
            tags["maxweight"].split()[0]):
        return f"maxweight={tags['maxweight']}"
    for key in ("maxheight", "maxheight:physical"):
        if key in tags and tags[key] not in ("none", "default") and height > _metres(tags[key]):
            return f"{key}={tags[key]}"
    return None


def _pairs(net, n, seed=0):
    rng = np.random.default_rng(seed)
    base = np.flatnonzero(net.node_base == np.arange(net.n_nodes))
    pick = rng.choice(base, size=(n, 2))
    return [((net.node_lon[a], net.node_lat[a]), (net.node_lon[b], net.node_lat[b])) for a, b in pick]


def _routes(router, pairs, vehicle, at):
    out = []
    for o, d in pairs:
        try:
            out.append(router.route(o, d, vehicle, at=at))
        except NoRouteError:
            pass
    return out


def test_bus_truck_never_uses_forbidden_ways(tmp_path):
    path = shared_data("roads", "truck_restrictions", "bus.osm.pbf")
    net = load_network(path, cache_dir=tmp_path)
    tags = _osm_way_tags(path)
    forbidden = {w for w, t in tags.items() if "highway" in t and truck_may_not_use(t, MONDAY_8)}
    assert len(forbidden) > 20  # the file really has maxweight / maxheight / hgv / conditional bans
    router = Router(net)
    pairs = _pairs(net, 150)
    big = truck(weight_t=40, height_m=4.2)
    truck_routes = _routes(router, pairs, big, MONDAY_8)
    car_routes = _routes(router, pairs, car(), MONDAY_8)
    assert len(truck_routes) > 20
    for r in truck_routes:
        # a private road (or a private gate) only at a route's end, to reach a point behind it, and stated
        stated = {w for part in r.restricted for w in part["osmids"]}
        assert all("private" in part["why"] for part in r.restricted)
        bad = {w: truck_may_not_use(tags[w], MONDAY_8) for w in r.osmids if w in forbidden and w not in stated}
        assert not bad, f"truck route uses {bad}"
    # pairs a car can drive but the truck cannot: the error names the restriction that blocks it (snapping
    # kept within 30 m: on this 290-junction extract almost every road lies within the default 500 m, so the
    # router would re-snap onto a connected road instead of refusing)
    refused = 0
    near = Router(net, max_snap_m=30)
    for o, d in pairs[:60]:
        try:
            near.route(o, d, big, at=MONDAY_8)
        except InputError:
            continue
        except NoRouteError as exc:
            try:
                router.route(o, d, car(), at=MONDAY_8)
            except NoRouteError:
                continue
            if not exc.blocking:  # the truck's own roads near the points do not meet (said so)
                assert "are not connected" in str(exc)
                continue
            refused += 1
            assert "is blocked by" in str(exc)
            assert re.search(r"(maxweight|maxheight|hgv|access|motor_vehicle|vehicle|barrier|turn)", str(exc))
    assert refused > 0
    used_by_car = {w for r in car_routes for w in r.osmids}
    assert used_by_car & forbidden  # cars may use what trucks may not
    avoided = [a for r in truck_routes for a in r.avoided]
    # avoided roads are forbidden too; the independent rule above ignores direction, so a way banned
    # one way only (hgv:backward=no) counts as forbidden here as well
    one_way_bans = {w for w, t in tags.items() if t.get("hgv:backward") == "no" or t.get("hgv:forward") == "no"}
    way_level = [a for a in avoided if a["restriction"] in ("access", "limit")]
    assert way_level and all(a["osmid"] in forbidden | one_way_bans for a in way_level)


def test_designated_truck_routes_are_preferred(tmp_path):
    for name in ("ny-access-restriction.osm.pbf", "harrisburg.osm.pbf"):
        path = shared_data("roads", "truck_restrictions", name)
        net = load_network(path, cache_dir=tmp_path)
        tags = _osm_way_tags(path)
        designated = {w for w, t in tags.items() if t.get("hgv") == "designated"
                      or t.get("hgv:national_network") == "yes"}
        router = Router(net)
        pairs = _pairs(net, 60, seed=3)

        def share(vehicle):
            on = total = 0.0
            for r in _routes(router, pairs, vehicle, MONDAY_8):
                if vehicle.kind == "hgv":  # and never a way the truck may not use, but a stated private end
                    stated = {w for part in r.restricted for w in part["osmids"]}
                    assert not [w for w in r.osmids if truck_may_not_use(tags[w], MONDAY_8, height=4.0)
                                and w not in stated]
                    assert all(w in r.osmids[:len(stated)] or w in r.osmids[-len(stated):] for w in stated)
                frame = r.to_geodataframe()
                total += frame["length_m"].sum()
                on += frame.loc[frame["osmid"].isin(designated), "length_m"].sum()
            return on / total

        assert share(truck()) > share(car()), name


def test_cch_matches_exact_dijkstra_on_real_network(tmp_path):
    net = load_network(shared_data("roads", "truck_restrictions", "harrisburg.osm.pbf"), cache_dir=tmp_path)
    cch, exact = Router(net, engine="cch"), Router(net, engine="dijkstra")
    for vehicle in (car(), truck(weight_t=40, height_m=4.2)):
        for o, d in _pairs(net, 25, seed=5):
            try:
                a = cch.route(o, d, vehicle, explain=False)
            except NoRouteError:
                with pytest.raises(NoRouteError):
                    exact.route(o, d, vehicle, explain=False)
                continue
            assert a.cost == pytest.approx(exact.route(o, d, vehicle, explain=False).cost, abs=1e-6)


def test_shanghai_huangpu_xml_loads_routes_and_matches_networkx(tmp_path):
    path = shared_data("china", "shanghai_huangpu_osm", "shanghai_huangpu_drive.osm")
    net = load_network(path, cache_dir=tmp_path)
    assert net.n_nodes > 500 and net.ways["name"].astype(str).str.contains("路").any()
    again = load_network(path, cache_dir=tmp_path)  # from the cache
    assert again.cache_path is not None and np.array_equal(again.arc_u, net.arc_u)
    router = Router(net)
    edges = net.edges_frame()
    done = 0
    for o, d in _pairs(net, 30, seed=7):  # costs against networkx: tests/routing/test_snapping.py
        try:
            r = router.route(o, d, car())
        except NoRouteError:
            continue
        assert set(r.osmids) <= set(edges["osmid"]) and r.length_m > 0
        done += 1
    assert done >= 10


# ------------------------------------------------------------------------------------------- CLI


def test_cli_route_writes_osmids_and_totals(tmp_path, monkeypatch):
    from gridtools import settings
    from gridtools.cli import main

    monkeypatch.setattr(settings, "cache_dir", tmp_path / "cache")
    path = shared_data("roads", "truck_restrictions", "harrisburg.osm.pbf")
    out = tmp_path / "route.geojson"
    with pytest.raises(SystemExit) as exc:
        main(["route", str(path), "--from=-76.86,40.27", "--to=-76.75,40.22", "--weight-t", "40", "--height-m", "4.2",
              "--at", "2026-11-23 08:00", "-o", str(out)])
    assert exc.value.code == 0
    data = json.loads(out.read_text())
    props = [f["properties"] for f in data["features"]]
    assert all(f["geometry"]["type"] == "LineString" for f in data["features"])
    assert props and all(isinstance(p["osmid"], int) for p in props)
    assert sum(p["length_m"] for p in props) == pytest.approx(props[0]["route_length_m"], rel=1e-3)
    tags = _osm_way_tags(path)
    assert all(truck_may_not_use(tags[p["osmid"]], MONDAY_8) is None for p in props)


def test_cli_errors_exit_2(tmp_path, capsys, monkeypatch):
    from gridtools import settings
    from gridtools.cli import main

    monkeypatch.setattr(settings, "cache_dir", tmp_path / "cache")
    path = shared_data("roads", "truck_restrictions", "harrisburg.osm.pbf")
    for extra, message in ((["--from=-76.0,40.27"], "m from the nearest road"),
                           (["--from=-76.86,40.27", "--at", "tomorrow"], "YYYY-MM-DD HH:MM")):
        with pytest.raises(SystemExit) as exc:
            main(["route", str(path), *extra, "--to=-76.75,40.22", "-o", str(tmp_path / "x.geojson")])
        assert exc.value.code == 2
        assert message in capsys.readouterr().err.replace("\n", " ")


def test_cli_route_on_own_road_file(tmp_path, monkeypatch):
    from gridtools import settings
    from gridtools.cli import main

    monkeypatch.setattr(settings, "cache_dir", tmp_path / "cache")
    edges = gpd.GeoDataFrame([
        dict(osmid=501, highway="primary", maxheight="12'6\"", geometry=shapely.LineString([A, B])),
        dict(osmid=502, highway="primary", geometry=shapely.LineString([A, (8.0, 49.01)])),
        dict(osmid=503, highway="primary", geometry=shapely.LineString([(8.0, 49.01), (8.02, 49.01)])),
        dict(osmid=504, highway="primary", geometry=shapely.LineString([(8.02, 49.01), B]))], crs=4326)
    roads = tmp_path / "roads.gpkg"
    edges.to_file(roads)
    for extra, expected in (([], [501]), (["--height-m", "4.0", "--weight-t", "20"], [502, 503, 504])):
        out = tmp_path / "r.geojson"
        with pytest.raises(SystemExit) as exc:
            main(["route", str(roads), "--from=8.0,49.0", "--to=8.02,49.0", *extra, "-o", str(out)])
        assert exc.value.code == 0
        assert gpd.read_file(out)["osmid"].tolist() == expected


def test_route_map_shows_route_and_avoided_roads():
    from gridtools.maps import route_map

    r = Router(two_roads({"maxheight": "3.8"})).route(A, B, truck())
    assert r.avoided_geodataframe()["osmid"].tolist() == [1]
    html = route_map(r).get_root().render()
    assert "avoided roads" in html and "maxheight=3.8" in html and "\"osmid\": \"3\"" in html


def test_cache_is_rebuilt_when_the_file_changes(tmp_path):
    import os

    path = _cross_osm(tmp_path, "")
    first = load_network(path, cache_dir=tmp_path / "cache")
    assert len(first.turns) == 0
    again = load_network(path, cache_dir=tmp_path / "cache")
    assert again.cache_path == first.cache_path
    path = _cross_osm(tmp_path, _rel('<tag k="restriction" v="no_left_turn"/>'))
    os.utime(path, ns=(1, 1))  # a different modification time, whatever the clock resolution
    changed = load_network(path, cache_dir=tmp_path / "cache")
    assert changed.turns["status"].tolist() == ["applied"]


def test_origin_equals_destination():
    r = Router(two_roads()).route(A, A, truck())
    assert r.length_m == 0 and r.osmids == [] and len(r.to_geodataframe()) == 0 and "0.0 m long" in r.warnings[0]


def test_xian_link_file_with_renamed_columns_respects_direction(tmp_path):
    """Xi'an links (gotrackit): dir 1 = one-way along the drawing, 0 = both ways."""
    from gridtools import io

    path = shared_data("china", "xian_roads", "modifiedConn_link.shp")
    rename = {"link_id": "osmid", "road_name": "name", "dir": "oneway"}
    net = load_network(path, cache_dir=tmp_path, columns=rename)
    links = io.read_any(path).set_index("link_id")
    assert net.summary["ways"] == len(links)
    router = Router(net)
    done = 0
    for o, d in _pairs(net, 12, seed=11):
        try:
            r = router.route(o, d, truck(weight_t=30))
        except NoRouteError:
            continue
        done += 1
        frame = r.to_geodataframe()
        for row in frame.itertuples():
            link = links.loc[row.osmid]
            if link["dir"] != 1:
                continue
            start, end = shapely.get_coordinates(row.geometry)[[0, -1]]
            a = link.geometry.project(shapely.Point(start))
            b = link.geometry.project(shapely.Point(end))
            assert b > a, f"link {row.osmid} driven against its one-way direction"
    assert done >= 5
    with pytest.raises(InputError, match="no column 'link_idx'"):
        load_network(path, cache=False, columns={"link_idx": "osmid"})


def test_points_as_shapely_and_geoseries():
    router = Router(two_roads())
    by_point = router.route(shapely.Point(A), shapely.Point(B), car())
    assert by_point.osmids == [1]
    pts = gpd.GeoSeries([shapely.Point(A), shapely.Point(B)], crs=4326).to_crs(32632)
    m = router.matrix(pts, pts, car())
    assert m.seconds[0, 1] == pytest.approx(by_point.time_s, abs=0.01)


# ------------------------------------------------------------------------ via-way turn restrictions


def _osm(tmp_path, nodes: dict, ways: dict, relation: str, name: str) -> str:
    xml = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    xml += [f'<node id="{k}" lat="{49 + y / 1000}" lon="{8 + x / 1000}" version="1"/>' for k, (x, y) in nodes.items()]
    for wid, (refs, extra) in ways.items():
        xml.append(f'<way id="{wid}" version="1">' + "".join(f'<nd ref="{r}"/>' for r in refs)
                   + f'<tag k="highway" v="secondary"/>{extra}</way>')
    xml += [relation, "</osm>"]
    path = tmp_path / name
    path.write_text("\n".join(xml))
    return str(path)


def _via_way_rel(frm: int, via: list, to: int, tags: str) -> str:
    return ('<relation id="98" version="1">' f'<member type="way" ref="{frm}" role="from"/>'
            + "".join(f'<member type="way" ref="{v}" role="via"/>' for v in via)
            + f'<member type="way" ref="{to}" role="to"/><tag k="type" v="restriction"/>{tags}</relation>')


def _ladder_osm(tmp_path, relation: str, two_via: bool = False) -> str:
    """West road 10 (1-2), via way 20 (2-3), north 12 (3-4), east 11 (3-7), bypass 15 (7-8-4), south 13 (9-2).

    With ``two_via`` the via way is two ways, 20 (2-5) and 21 (5-3), with a side road 16 (5-6) between.
    """
    nodes = {1: (0, 0), 2: (10, 0), 3: (20, 0), 4: (20, 10), 7: (30, 0), 8: (30, 10), 9: (10, -10)}
    ways = {10: ([1, 2], ""), 20: ([2, 3], ""), 12: ([3, 4], ""), 11: ([3, 7], ""), 15: ([7, 8, 4], ""),
            13: ([9, 2], "")}
    if two_via:
        nodes |= {5: (15, 0), 6: (15, -10)}
        ways |= {20: ([2, 5], ""), 21: ([5, 3], ""), 16: ([5, 6], "")}
    return _osm(tmp_path, nodes, ways, relation, "ladder.osm")


def _dual_osm(tmp_path, relation: str) -> str:
    """Dual carriageway: eastbound 40 (1-2) + 43 (2-3), westbound 45 (6-5) + 41 (5-4), two-way median 42 (2-5),
    turnaround 44 (3-6), side road 46 (7-2)."""
    nodes = {1: (0, 0), 2: (10, 0), 3: (20, 0), 4: (0, 2), 5: (10, 2), 6: (20, 2), 7: (10, -10)}
    one = '<tag k="oneway" v="yes"/>'
    ways = {40: ([1, 2], one), 43: ([2, 3], one), 45: ([6, 5], one), 41: ([5, 4], one), 42: ([2, 5], ""),
            44: ([3, 6], one), 46: ([7, 2], "")}
    return _osm(tmp_path, nodes, ways, relation, "dual.osm")


def _pt(x, y):
    return (8 + x / 1000, 49 + y / 1000)


def _contains(seq: list, sub: list) -> bool:
    return any(seq[i:i + len(sub)] == sub for i in range(len(seq) - len(sub) + 1))


@pytest.mark.parametrize("engine", ["cch", "dijkstra"])
def test_via_way_no_left_turn(tmp_path, engine):
    free = Router(load_network(_ladder_osm(tmp_path, ""), cache=False), engine=engine)
    assert free.route(_pt(0, 0), _pt(20, 10), car()).osmids == [10, 20, 12]
    rel = _via_way_rel(10, [20], 12, '<tag k="restriction" v="no_left_turn"/>')
    r = Router(load_network(_ladder_osm(tmp_path, rel), cache=False), engine=engine)
    assert r.network.turns["status"].tolist() == ["applied"]
    assert r.network.turns["via_way"].tolist() == ["20"]
    assert r.route(_pt(0, 0), _pt(20, 10), car()).osmids == [10, 20, 11, 15]  # the detour round the block
    # everything else over the via way stays available
    assert r.route(_pt(10, -10), _pt(20, 10), car()).osmids == [13, 20, 12]  # entering the via way elsewhere
    assert r.route(_pt(10, 0), _pt(20, 10), car()).osmids == [20, 12]  # starting on it
    assert r.route(_pt(0, 0), _pt(20, 0), car()).osmids == [10, 20]  # stopping at its end
    assert r.route(_pt(0, 0), _pt(30, 0), car()).osmids == [10, 20, 11]  # going straight on
    assert r.route(_pt(0, 0), _pt(10, -10), car()).osmids == [10, 13]
    # a restriction for trucks only leaves cars alone
    hgv = Router(load_network(_ladder_osm(tmp_path, _via_way_rel(
        10, [20], 12, '<tag k="restriction:hgv" v="no_left_turn"/>')), cache=False), engine=engine)
    assert hgv.route(_pt(0, 0), _pt(20, 10), car()).osmids == [10, 20, 12]
    t = hgv.route(_pt(0, 0), _pt(20, 10), truck())
    assert t.osmids == [10, 20, 11, 15] and "turn restriction" in t.avoided[0]["why"]
    exempt = Router(load_network(_ladder_osm(tmp_path, _via_way_rel(
        10, [20], 12, '<tag k="restriction" v="no_left_turn"/><tag k="except" v="hgv"/>')), cache=False), engine=engine)
    assert exempt.route(_pt(0, 0), _pt(20, 10), car()).osmids == [10, 20, 11, 15]
    assert exempt.route(_pt(0, 0), _pt(20, 10), truck()).osmids == [10, 20, 12]
    timed = Router(load_network(_ladder_osm(tmp_path, _via_way_rel(
        10, [20], 12, '<tag k="restriction:conditional" v="no_left_turn @ (Mo-Fr 07:00-19:00)"/>')), cache=False),
        engine=engine)
    assert timed.route(_pt(0, 0), _pt(20, 10), car(), at=MONDAY_8).osmids == [10, 20, 11, 15]
    assert timed.route(_pt(0, 0), _pt(20, 10), car(), at=MONDAY_20).osmids == [10, 20, 12]


@pytest.mark.parametrize("engine", ["cch", "dijkstra"])
def test_via_two_ways_no_left_turn(tmp_path, engine):
    rel = _via_way_rel(10, [20, 21], 12, '<tag k="restriction" v="no_left_turn"/>')
    r = Router(load_network(_ladder_osm(tmp_path, rel, two_via=True), cache=False), engine=engine)
    assert r.network.turns["status"].tolist() == ["applied"]
    assert r.route(_pt(0, 0), _pt(20, 10), car()).osmids == [10, 20, 21, 11, 15]
    assert r.route(_pt(0, 0), _pt(15, -10), car()).osmids == [10, 20, 16]  # leaving between the via ways
    assert r.route(_pt(15, -10), _pt(20, 10), car()).osmids == [16, 21, 12]  # joining between them
    assert r.route(_pt(0, 0), _pt(15, 0), car()).osmids == [10, 20]


@pytest.mark.parametrize("engine", ["cch", "dijkstra"])
def test_via_way_only_straight_on(tmp_path, engine):
    r = Router(load_network(_ladder_osm(tmp_path, _via_way_rel(
        10, [20], 11, '<tag k="restriction" v="only_straight_on"/>')), cache=False), engine=engine)
    assert r.network.turns["status"].tolist() == ["applied"]
    # the left turn at the end of the via way is forbidden: straight on, then round the block
    assert r.route(_pt(0, 0), _pt(20, 10), car()).osmids == [10, 20, 11, 15]
    assert r.route(_pt(0, 0), _pt(20, 0), car()).osmids == [10, 20]
    assert r.route(_pt(0, 0), _pt(10, -10), car()).osmids == [10, 13]  # leaving before the via way is not a turn
    assert r.route(_pt(10, -10), _pt(20, 10), car()).osmids == [13, 20, 12]


@pytest.mark.parametrize("engine", ["cch", "dijkstra"])
def test_via_way_no_u_turn_on_dual_carriageway(tmp_path, engine):
    free = Router(load_network(_dual_osm(tmp_path, ""), cache=False), engine=engine)
    assert free.route(_pt(0, 0), _pt(0, 2), car()).osmids == [40, 42, 41]
    r = Router(load_network(_dual_osm(tmp_path, _via_way_rel(40, [42], 41, '<tag k="restriction" v="no_u_turn"/>')),
                            cache=False), engine=engine)
    assert r.network.turns["status"].tolist() == ["applied"]
    assert r.route(_pt(0, 0), _pt(0, 2), car()).osmids == [40, 43, 44, 45, 41]  # the turnaround further east
    assert r.route(_pt(10, -10), _pt(0, 2), car()).osmids == [46, 42, 41]  # crossing from the side road is fine


def _osm_via_way_restrictions(path) -> list:
    """(kind, from, [via ways], to, end coordinates of from and to) of every via-way restriction, read with osmium."""
    import osmium

    rels = []
    for r in osmium.FileProcessor(str(path), osmium.osm.RELATION):
        tags = {t.k: t.v for t in r.tags}
        members = [(m.type, m.ref, m.role) for m in r.members]
        via = [ref for t, ref, role in members if role == "via" and t == "w"]
        if tags.get("type") == "restriction" and via:
            kind = tags.get("restriction") or tags.get("restriction:hgv") or ""
            rels.append((kind, [ref for t, ref, role in members if role == "from"],
                         via, [ref for t, ref, role in members if role == "to"]))
    wanted = {w for _, f, v, t in rels for w in f + t}
    ends = {}
    for w in osmium.FileProcessor(str(path), osmium.osm.WAY | osmium.osm.NODE).with_locations():
        if w.is_way() and w.id in wanted:
            ends[w.id] = [(n.lon, n.lat) for n in (w.nodes[0], w.nodes[-1])]
    return [(k, f[0], v, t[0], ends[f[0]], ends[t[0]]) for k, f, v, t in rels
            if len(f) == 1 and len(t) == 1 and f[0] in ends and t[0] in ends]


def _way_runs(net, arcs) -> list:
    """The ways a route drives, one entry per run of arcs on the same way (a U-turn on a way stays one run,
    so doubling back on the via way to reach a banned exit counts as breaking the restriction)."""
    ways = [int(net.ways["osmid"].iat[net.arc_way[a]]) for a in arcs if net.arc_seg[a] >= 0]
    return [w for i, w in enumerate(ways) if i == 0 or w != ways[i - 1]]


def test_nyc_via_way_restrictions_are_never_broken(tmp_path):
    path = shared_data("roads", "truck_restrictions", "ny-access-restriction.osm.pbf")
    rels = _osm_via_way_restrictions(path)
    net = load_network(path, cache_dir=tmp_path)
    assert len(rels) >= 10
    via_way = net.turns[net.turns["via_way"] != ""]
    assert len(via_way) == 11 and (via_way["status"] == "applied").all(), via_way
    banned = [(f, v, t) for k, f, v, t, _, _ in rels if k.startswith("no_")]
    only = [(f, v, t) for k, f, v, t, _, _ in rels if k.startswith("only_")]
    # pairs aimed at every restriction (both ends of the from way to both ends of the to way) plus random ones
    pairs = [(o, d) for *_, fe, te in rels for o in fe for d in te] + _pairs(net, 150, seed=11)
    exercised = 0
    for engine in ("cch", "dijkstra"):
        router = Router(net, engine=engine)
        for r in _routes(router, pairs, car(), MONDAY_8):
            runs = _way_runs(net, r.arcs)
            for f, v, t in banned:
                assert not _contains(runs, [f, *v, t]), (engine, f, v, t, runs)
                exercised += _contains(runs, [f, *v])
            for f, v, t in only:
                for i in range(len(runs) - len(v) - 1):
                    if runs[i:i + len(v) + 1] == [f, *v]:
                        exercised += 1
                        assert runs[i + len(v) + 1] == t, (engine, f, v, t, runs)
    assert exercised > 0  # some routes really drove a from -> via chain and then turned legally


def test_destination_only_on_roads_the_truck_may_not_use_is_no_legal_route():
    """A dock at the end of a 2 km weight-limited spur is not "far from any road" for a truck:
    the error names the restriction (route() and dispatch share Router.explain_unreachable)."""
    a, b, c = (8.00, 49.00), (8.01, 49.00), (8.01, 49.02)
    edges = gpd.GeoDataFrame([dict(osmid=1, highway="primary", geometry=shapely.LineString([a, b])),
                              dict(osmid=2, highway="residential", name="Quarry Lane", maxweight="7.5",
                                   geometry=shapely.LineString([b, c]))], crs=4326)
    router = Router(network_from_frames(edges))
    with pytest.raises(NoRouteError, match=r"maxweight=7.5 .* on way 2 \(Quarry Lane\)") as info:
        router.route(a, c, truck(weight_t=40))
    assert [b["osmid"] for b in info.value.blocking] == [2]
    assert router.route(a, c, van()).osmids == [1, 2]
    with pytest.raises(InputError, match=r"m from the nearest road"):  # really off the network: unchanged
        router.route(a, (8.01, 49.2), truck(weight_t=40))


@pytest.mark.parametrize("binding", ["routingkit_cch", "pyroutingkit"])
def test_multi_source_query_matches_dijkstra_with_offsets(tmp_path, binding):
    """One search from several seeded sources to several targets (phantom nodes), both CCH bindings."""
    pytest.importorskip(binding)
    from gridtools.routing.engines import CCHEngine, DijkstraEngine

    net = load_network(shared_data("roads", "truck_restrictions", "harrisburg.osm.pbf"), cache_dir=tmp_path)
    w = Router(net)._metric(truck(weight_t=40, height_m=4.2), None).weights
    cch, exact = CCHEngine(net, binding=binding).customise(w), DijkstraEngine(net).customise(w)
    assert cch.__class__.__name__ == ("PhantomCCHMetric" if binding == "routingkit_cch" else "CCHMetric")
    rng = np.random.default_rng(11)
    reached = 0
    for _ in range(40):
        src = [(int(n), int(c)) for n, c in zip(rng.choice(net.n_nodes, 2, replace=False), rng.integers(0, 90_000, 2))]
        dst = [(int(n), int(c)) for n, c in zip(rng.choice(net.n_nodes, 2, replace=False), rng.integers(0, 90_000, 2))]
        cost, arcs, i, j = cch.query_multi(src, dst)
        table = exact.many_to_many(np.array([s for s, _ in src]), np.array([t for t, _ in dst]))
        want = min(src[a][1] + table[a, b] + dst[b][1] for a in range(2) for b in range(2))
        assert cost == pytest.approx(want, abs=0.5)
        if math.isfinite(cost):  # the arcs run from the chosen source to the chosen target and add up
            assert net.arc_u[arcs[0]] == src[i][0] and net.arc_v[arcs[-1]] == dst[j][0]
            assert src[i][1] + w[arcs].sum() + dst[j][1] == pytest.approx(cost, abs=0.5)
            reached += 1
    assert reached >= 10
    # a source that is also a target: nothing to drive, the cheaper meeting wins
    node = int(net.arc_u[0])
    assert cch.query_multi([(node, 5), (int(net.arc_v[0]), 0)], [(node, 7)])[0] == pytest.approx(12)
