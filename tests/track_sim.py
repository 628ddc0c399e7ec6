"""Simulated GPS tracks along real routes, with noise, dropped fixes, an outage and a final stop.

Used by tests/routing/test_compliance.py and benchmarks/bench_routing_compliance.py.

Examples
--------
>>> track, truth = simulate(router, assigned, o, via, d, vehicle)            # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt

import numpy as np


def _metric_line(net, route):
    """The route as one metric LineString in driving order (first / last arcs cut at the snapped points)."""
    import shapely
    import shapely.ops

    road = route.arcs[net.arc_seg[route.arcs] >= 0]
    if not len(road):
        return shapely.LineString()
    lines = list(net.segment_lines(net.arc_seg[road], net.arc_back[road], lonlat=False))
    first_road, last_road = net.arc_seg[route.arcs[0]] >= 0, net.arc_seg[route.arcs[-1]] >= 0
    if len(route.arcs) == 1:
        lines[0] = shapely.ops.substring(lines[0], route.start_at, route.end_at, normalized=True)
    else:
        if first_road:
            lines[0] = shapely.ops.substring(lines[0], route.start_at, 1.0, normalized=True)
        if last_road:
            lines[-1] = shapely.ops.substring(lines[-1], 0.0, route.end_at, normalized=True)
    coords = [np.asarray(g.coords) for g in lines if g.geom_type == "LineString" and len(g.coords)]
    return shapely.LineString(np.vstack(coords)) if coords else shapely.LineString()


def simulate(router, assigned, legs, vehicle, *, start=dt.datetime(2026, 11, 23, 9, 0), speed_ms=8.0,
             interval_s=1.0, noise_m=10.0, drop=0.1, outage_s=60.0, stop_s=300.0, seed=0):
    """A track driving ``legs`` (list of (lon, lat) waypoints) while ``assigned`` was the assignment.

    Returns
    -------
    (GeoDataFrame, dict)
        The fixes (lon/lat, ``time``) and the truth: ``true_off_m`` per fix (distance of the true
        position to the assigned route), ``arrival`` (time the truck stopped), ``end`` (lon, lat),
        ``true_x`` / ``true_y`` (true position per fix, metric CRS of the network).
    """
    import geopandas as gpd
    import pyproj
    import shapely

    net = router.network
    rng = np.random.default_rng(seed)
    lines = [_metric_line(net, router.route(a, b, vehicle, explain=False)) for a, b in zip(legs[:-1], legs[1:])]
    coords = np.vstack([np.asarray(line.coords) for line in lines if not line.is_empty])
    path = shapely.LineString(coords)
    duration = path.length / speed_ms
    t = np.arange(0.0, duration, interval_s)
    pos = shapely.line_interpolate_point(path, t * speed_ms)
    px, py = shapely.get_x(pos), shapely.get_y(pos)
    # parked at the end for stop_s seconds
    t_stop = np.arange(duration, duration + stop_s, interval_s)
    end = path.interpolate(path.length)
    px, py = np.r_[px, np.full(len(t_stop), end.x)], np.r_[py, np.full(len(t_stop), end.y)]
    t = np.r_[t, t_stop]
    true_off = shapely.distance(shapely.points(px, py), _metric_line(net, assigned))
    keep = rng.random(len(t)) >= drop
    gap_at = rng.uniform(0.2, 0.6) * duration  # one outage while driving
    keep &= ~((t >= gap_at) & (t < gap_at + outage_s))
    x = px + rng.normal(0, noise_m, len(t))
    y = py + rng.normal(0, noise_m, len(t))
    lon, lat = pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True).transform(x[keep], y[keep])
    times = [start + dt.timedelta(seconds=float(s)) for s in t[keep]]
    track = gpd.GeoDataFrame({"time": times}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    end_lon, end_lat = pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True).transform(end.x, end.y)
    return track, {"true_off_m": true_off[keep], "arrival": start + dt.timedelta(seconds=float(duration)),
                   "end": (end_lon, end_lat), "true_x": px[keep], "true_y": py[keep]}


def add_outliers(track, net, share: float = 0.03, low_m: float = 80.0, high_m: float = 250.0, seed: int = 0):
    """A copy of ``track`` with ``share`` of its fixes (never the first or last) thrown ``low_m``-``high_m`` away.

    Returns (track, index of the displaced fixes).
    """
    import pyproj

    rng = np.random.default_rng(seed)
    n = len(track)
    idx = np.sort(rng.choice(np.arange(1, n - 1), size=max(1, int(share * n)), replace=False))
    to_m = pyproj.Transformer.from_crs(4326, net.crs, always_xy=True)
    back = pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True)
    x, y = to_m.transform(track.geometry.x.to_numpy(), track.geometry.y.to_numpy())
    angle, dist = rng.uniform(0, 2 * np.pi, len(idx)), rng.uniform(low_m, high_m, len(idx))
    x, y = np.array(x), np.array(y)
    x[idx] += dist * np.cos(angle)
    y[idx] += dist * np.sin(angle)
    lon, lat = back.transform(x, y)
    out = track.copy()
    out["geometry"] = __import__("geopandas").points_from_xy(lon, lat, crs=4326)
    return out, idx


def precision_recall(flags: np.ndarray, true_off_m: np.ndarray, off_m: float = 50.0, on_m: float = 20.0):
    """Off-route detection per fix: fixes truly > ``off_m`` away are off, < ``on_m`` on, others not scored."""
    truth_off, truth_on = true_off_m > off_m, true_off_m < on_m
    scored = truth_off | truth_on
    tp = int((flags & truth_off).sum())
    fp = int((flags & truth_on).sum())
    fn = int((~flags & truth_off).sum())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, int(scored.sum())


def detour_via(net, route, seed: int = 3):
    """A point on a road 300-900 m from the route, near its middle (the detour's waypoint)."""
    import pyproj
    import shapely

    from split_graph import points_on_roads

    from gridtools.routing.compliance import route_line

    to_m = pyproj.Transformer.from_crs(4326, net.crs, always_xy=True)
    line = route_line(route)
    mid = line.interpolate(0.5, normalized=True)
    pts = points_on_roads(net, 400, seed=seed)
    xy = np.column_stack(to_m.transform([p[0] for p in pts], [p[1] for p in pts]))
    off = shapely.distance(shapely.points(xy), line)
    ok = np.flatnonzero((off > 300) & (off < 900))
    best = ok[np.argmin(shapely.distance(shapely.points(xy[ok]), mid))]
    return pts[best]
