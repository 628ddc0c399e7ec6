"""Route compliance: did the driver follow the assigned route, keep out of ban zones, park where told?

Given a trip's assigned :class:`~gridtools.routing.Route` and the driver's GPS track (timestamped
points), :func:`check_route` reports the share of the track driven on the route, every off-route
stretch (times, length, how far off), entries into ban zones in force at the time, the stops (where
and how long) and whether the last stop lies in the assigned parking area.

How the track is matched: the fixes are map-matched onto the whole road network with a hidden
Markov model (:func:`gridtools.routing.matching.match_track`; Newson & Krumm 2009, as Valhalla's
Meili and OSRM's ``match`` do), so every fix gets the road the truck most likely drove.  A fix is on
the route when its road is one of the route's roads (or its matched position lies within
``ON_ROUTE_M`` of the route line: overlapping ways, the corner of a junction); a fix that matched no
road (nothing within the radius) is off when it lies farther than ``tolerance_m`` from the route; an
outlier fix takes the state of the fix before it.  A stretch counts only when it lasts ``min_off_s``.
Lengths are driving distances along the matched path, not the zigzag between noisy fixes, and an
off-route stretch names the ways it was matched to.  ``match="nearest"`` (each fix onto its nearest
road alone) and ``match="none"`` (distance to the route line only, the method before map matching)
are there to compare with.

Stops: positions smoothed by a 30 s centred rolling median; a fix is stationary when the smoothed
position 30 s later is less than ``stop_radius_m`` / 2 away (moving gaps up to 10 s bridged); a stop is a run of stationary fixes
lasting at least ``min_stop_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gridtools.errors import InputError

#: A matched position this close to the route line is on the route whatever road it matched.
ON_ROUTE_M = 5.0
MATCH_METHODS = ("hmm", "nearest", "none")


@dataclass
class Compliance:
    """Result of :func:`check_route`.

    Attributes
    ----------
    on_route_share : float
        Share of the distance driven (along the matched path) on the assigned route's roads.
    off_route : list of dict
        ``start``, ``end``, ``duration_s``, ``length_m`` (driven along the matched path), ``max_off_m``
        (farthest fix from the route, strays left out), ``osmids`` (the ways matched while off the route, in order)
        per off-route stretch.
    zone_entries : list of dict
        ``zone``, ``start``, ``end``, ``duration_s`` per entry into a ban zone in force at the time.
    stops : list of dict
        ``start``, ``end``, ``duration_s``, ``lon``, ``lat``, ``in_parking`` per stop.
    parked_in_place : bool or None
        Whether the last stop lies in the parking area (None when no area was given or no stop).
    points : pandas.DataFrame
        Per fix (a live check: the fixes after the last freeze point only, see ``total_fixes``): ``time``, ``lon``, ``lat``, ``off_m`` (distance of the fix to the route), ``off_route``,
        ``matched`` (onto a road), ``osmid`` (way matched; -1 none), ``match_lon``, ``match_lat``
        (matched position), ``match_m`` (fix to matched position), ``outlier``.
    """

    on_route_share: float
    off_route: list
    zone_entries: list
    stops: list
    parked_in_place: bool | None
    points: pd.DataFrame = field(repr=False)
    #: Fixes of the whole track when ``points`` holds only its latest part (a live check); else None.
    total_fixes: int | None = None

    @property
    def summary(self) -> dict:
        return {"on_route_share": round(self.on_route_share, 3), "off_route_stretches": len(self.off_route),
                "off_route_m": round(sum(o["length_m"] for o in self.off_route), 1),
                "zone_entries": len(self.zone_entries), "stops": len(self.stops),
                "parked_in_place": self.parked_in_place,
                "fixes": len(self.points) if self.total_fixes is None else self.total_fixes}

    def summary_lines(self) -> list[str]:
        s = self.summary
        lines = [f"{s['fixes']:,} fixes, {100 * s['on_route_share']:.1f} % of the distance on the assigned route"]
        for o in self.off_route:
            ways = o.get("osmids") or []
            via = f", on way{'s' if len(ways) > 1 else ''} {', '.join(map(str, ways[:5]))}{' ...' if len(ways) > 5 else ''}" \
                if ways else ""
            lines.append(f"off route {o['start']} - {o['end']} ({o['duration_s']:.0f} s, {o['length_m']:.0f} m, "
                         f"up to {o['max_off_m']:.0f} m away{via})")
        for z in self.zone_entries:
            lines.append(f"in ban zone {z['zone']!r} {z['start']} - {z['end']} ({z['duration_s']:.0f} s)")
        for st in self.stops:
            where = "" if st["in_parking"] is None else (" in the parking area" if st["in_parking"] else
                                                         " outside the parking area")
            lines.append(f"stopped {st['start']} - {st['end']} ({st['duration_s']:.0f} s) at "
                         f"{st['lon']:.6f}, {st['lat']:.6f}{where}")
        if self.parked_in_place is not None:
            lines.append("parked in its assigned place" if self.parked_in_place else "did NOT park in its assigned place")
        return lines


def _runs(flag: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of every run of True."""
    if not len(flag):
        return []
    edges = np.diff(np.r_[0, flag.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def _track_arrays(track, time_column: str):
    """lon, lat, time (datetime64) of a point GeoDataFrame, sorted by time."""
    import geopandas as gpd

    if not isinstance(track, gpd.GeoDataFrame):
        raise InputError("track must be a GeoDataFrame of points (read a file with gridtools.routing.read_track)")
    if time_column not in track.columns:
        raise InputError(f"track has no {time_column!r} column (pass time_column=...)")
    if track.crs is None:
        raise InputError("track has no CRS; set one, e.g. track.set_crs('EPSG:4326')")
    geo = track.to_crs(4326)
    times = pd.to_datetime(geo[time_column]).to_numpy("datetime64[ns]")
    order = np.argsort(times, kind="stable")
    return geo.geometry.x.to_numpy()[order], geo.geometry.y.to_numpy()[order], times[order]


def check_route(route, track, *, parking=None, zones=None, time_column: str = "time", tolerance_m: float = 35.0,
                min_off_s: float = 15.0, stop_radius_m: float = 30.0, min_stop_s: float = 120.0,
                match: str = "hmm", gps_sigma_m: float = 10.0) -> Compliance:
    """Compare a GPS track with the route the driver was assigned.

    Parameters
    ----------
    route : Route
        The assigned route (from :meth:`Router.route`).
    track : geopandas.GeoDataFrame
        GPS fixes (points, any CRS) with a time column; :func:`read_track` reads CSV / GPX files.
    parking : shapely geometry (lon/lat), optional
        The assigned parking area (a polygon, or a point: within ``stop_radius_m``).
    zones : list of BanZone, optional
        Ban zones; an entry counts when the zone applies to the route's vehicle at the fix's time.
    time_column : str
    tolerance_m : float
        A fix that matched no road is off the route when farther than this from the route line
        (with ``match="none"``: every fix).
    min_off_s : float
        Shortest off-route stretch reported.
    stop_radius_m, min_stop_s : float
        A stop: the smoothed track moves less than half this radius in 30 s, for at least this
        long; a parking point (not a polygon) counts within this radius.
    match : {"hmm", "nearest", "none"}
        How fixes are put on roads: hidden Markov map matching (default), each fix onto its nearest
        road, or not at all (distance to the route line).
    gps_sigma_m : float
        GPS error of the map matcher's emission model (metres).

    Returns
    -------
    Compliance

    Examples
    --------
    >>> report = check_route(route, read_track("trip.csv", crs="gcj02"), parking=bay)   # doctest: +SKIP
    >>> report.on_route_share, report.off_route, report.parked_in_place                  # doctest: +SKIP
    """
    if match not in MATCH_METHODS:
        raise InputError(f"match={match!r} is not one of {', '.join(map(repr, MATCH_METHODS))}")
    lon, lat, times = _track_arrays(track, time_column)
    if len(lon) < 2:
        raise InputError(f"track has {len(lon)} fix(es); at least 2 are needed")
    secs = (times - times[0]) / np.timedelta64(1, "s")
    fixes = match_fixes(route, lon, lat, secs, match=match, gps_sigma_m=gps_sigma_m)
    return compliance_of(route, {**fixes, "time": times}, parking=parking, zones=zones, tolerance_m=tolerance_m,
                         min_off_s=min_off_s, stop_radius_m=stop_radius_m, min_stop_s=min_stop_s)


#: The per-fix arrays :func:`match_fixes` returns (what :func:`compliance_of` sums up).
FIX_FIELDS = ("lon", "lat", "x", "y", "off_m", "seg", "osmid", "match_lon", "match_lat", "match_m", "step",
              "outlier", "on")


def route_line(route):
    """The route's line in the network's metric CRS (what every fix's distance to the route is measured to)."""
    import pyproj
    import shapely

    to_m = pyproj.Transformer.from_crs(4326, route._network.crs, always_xy=True)
    return shapely.transform(route.geometry, lambda c: np.column_stack(to_m.transform(c[:, 0], c[:, 1])))


def match_fixes(route, lon, lat, secs, *, match: str = "hmm", gps_sigma_m: float = 10.0, line=None) -> dict:
    """Per fix of a track (time order): matched road, driven step, distance to the route, on the route's roads.

    The part of :func:`check_route` whose cost grows with the fixes (the map matching); its
    result for a stretch of a long track is the same as for the whole track away from the
    stretch's first fixes, which is what :class:`gridtools.routing.compliance_live.LiveCheck`
    relies on to match only the new fixes of a live track.

    Parameters
    ----------
    route : Route
    lon, lat : array-like
        Fixes in WGS-84.
    secs : array-like
        Time of each fix in seconds (any origin), non-decreasing.
    match, gps_sigma_m
        As in :func:`check_route`.
    line : shapely LineString, optional
        :func:`route_line` of the route (computed when not given).

    Returns
    -------
    dict
        numpy arrays, one entry per fix, keyed by :data:`FIX_FIELDS`; ``step`` is the driven
        distance from the fix before (0 for the first fix and for strays).

    Examples
    --------
    >>> fixes = match_fixes(route, lon, lat, secs)          # doctest: +SKIP
    >>> fixes["osmid"][:3], fixes["step"].sum()              # doctest: +SKIP
    """
    import pyproj
    import shapely

    if match not in MATCH_METHODS:
        raise InputError(f"match={match!r} is not one of {', '.join(map(repr, MATCH_METHODS))}")
    lon, lat, secs = np.asarray(lon, float), np.asarray(lat, float), np.asarray(secs, float)
    net = route._network
    x, y = pyproj.Transformer.from_crs(4326, net.crs, always_xy=True).transform(lon, lat)
    x, y = np.asarray(x, float), np.asarray(y, float)
    line = route_line(route) if line is None else line
    off_m = shapely.distance(shapely.points(x, y), line) if not line.is_empty else np.full(len(x), np.inf)
    matched = _match(net, route, line, x, y, secs, match, gps_sigma_m)
    # driven distance per fix: along the matched path; a fix left out adds nothing (the next kept fix's
    # step covers the gap); straight from the fix before only where nothing was matched
    step = np.where(np.isfinite(matched["step"]), matched["step"], np.r_[0.0, np.hypot(np.diff(x), np.diff(y))])
    if len(step):
        step[0] = 0.0
    step[matched["outlier"]] = 0.0
    seg = np.asarray(matched["seg"])
    # match="none" has no roads: every fix is judged by its distance (seg -2 says so to compliance_of)
    return {"lon": lon, "lat": lat, "x": x, "y": y, "off_m": np.asarray(off_m, float),
            "seg": np.full(len(x), -2) if matched["none"] else seg, "osmid": np.asarray(matched["osmid"]),
            "match_lon": np.asarray(matched["lon"], float), "match_lat": np.asarray(matched["lat"], float),
            "match_m": np.asarray(matched["distance"], float), "step": step,
            "outlier": np.asarray(matched["outlier"], bool), "on": np.asarray(matched["on"], bool)}


def compliance_of(route, fixes: dict, *, parking=None, zones=None, tolerance_m: float = 35.0, min_off_s: float = 15.0,
                  stop_radius_m: float = 30.0, min_stop_s: float = 120.0) -> Compliance:
    """The :class:`Compliance` report of matched fixes (:func:`match_fixes` plus a ``time`` array).

    Sums and runs only (no map matching): share on the route, off-route stretches, stops,
    parking and zone entries, as :func:`check_route` describes them.

    Examples
    --------
    >>> report = compliance_of(route, {**match_fixes(route, lon, lat, secs), "time": times})  # doctest: +SKIP
    """
    import pyproj

    times = np.asarray(fixes["time"]).astype("datetime64[ns]")
    x, y, lon, lat, off_m, step = (fixes[k] for k in ("x", "y", "lon", "lat", "off_m", "step"))
    outlier = fixes["outlier"]
    secs = (times - times[0]) / np.timedelta64(1, "s")
    matched = {"seg": fixes["seg"], "on": fixes["on"], "outlier": outlier, "none": bool((fixes["seg"] == -2).all())}
    raw = _off_flags(matched, off_m, tolerance_m)
    trusted_off = np.where(outlier, 0.0, off_m)
    off_flag = np.zeros(len(x), bool)
    off_route = []
    for a, b in _runs(raw):
        if secs[b] - secs[a] < min_off_s:
            continue
        off_flag[a:b + 1] = True
        ways = fixes["osmid"][a:b + 1]
        ways = ways[ways >= 0]
        off_route.append({"start": pd.Timestamp(times[a]), "end": pd.Timestamp(times[b]),
                          "duration_s": float(secs[b] - secs[a]), "length_m": float(max(step[a + 1:b + 1].sum(), 0)),
                          "max_off_m": float(trusted_off[a:b + 1].max()),
                          "osmids": [int(w) for k, w in enumerate(ways) if k == 0 or w != ways[k - 1]]})
    on_steps = ~off_flag[1:] & ~off_flag[:-1]
    total = step[1:].sum()
    share = float(np.clip(step[1:][on_steps].sum() / total, 0, 1)) if total > 0 else float(not off_flag.any())
    # stops from the raw fixes (a parking lot may lie off the roads), without the ones matching left out as strays
    clean = np.flatnonzero(~outlier) if (~outlier).sum() >= 2 else np.arange(len(x))
    stops = _stops(x[clean], y[clean], secs[clean], times[clean], lon[clean], lat[clean], stop_radius_m, min_stop_s)
    to_m = pyproj.Transformer.from_crs(4326, route._network.crs, always_xy=True)
    parked = _parking(stops, parking, to_m, stop_radius_m)
    # zones are judged where the truck was matched (a noisy fix outside a road does not enter a zone)
    entries = _zone_entries(zones or [], route.vehicle, fixes["match_lon"], fixes["match_lat"], times, secs)
    points = pd.DataFrame({"time": times, "lon": lon, "lat": lat, "off_m": off_m, "off_route": off_flag,
                           "matched": fixes["seg"] >= 0, "osmid": fixes["osmid"], "match_lon": fixes["match_lon"],
                           "match_lat": fixes["match_lat"], "match_m": fixes["match_m"], "outlier": outlier})
    return Compliance(share, off_route, entries, stops, parked, points)


def _match(net, route, line, x, y, secs, method: str, sigma_m: float) -> dict:
    """Per fix: matched segment, way id, position (lon/lat), distance, step, whether on the route's roads."""
    import pyproj
    import shapely

    from gridtools.routing.matching import match_track, nearest_edge_match

    n = len(x)
    if method == "none":
        return {"seg": np.full(n, -1), "osmid": np.full(n, -1), "distance": np.full(n, np.nan),
                "step": np.full(n, np.nan), "outlier": np.zeros(n, bool), "on": np.zeros(n, bool), "none": True,
                **dict(zip(("lon", "lat"), pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True).transform(x, y)))}
    m = match_track(net, x, y, secs, sigma_m=sigma_m) if method == "hmm" else nearest_edge_match(net, x, y)
    ok = m.seg >= 0
    osmid = np.where(ok, net.way_osmid[net.seg_way[np.maximum(m.seg, 0)]], -1)
    route_segs = np.unique(net.arc_seg[route.arcs][net.arc_seg[route.arcs] >= 0])
    near = shapely.distance(shapely.points(m.x, m.y), line) <= ON_ROUTE_M if not line.is_empty else np.zeros(n, bool)
    mlon, mlat = pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True).transform(m.x, m.y)
    return {"seg": m.seg, "osmid": osmid, "lon": np.asarray(mlon), "lat": np.asarray(mlat), "distance": m.distance_m,
            "step": m.step_m, "outlier": m.outlier, "on": ok & (np.isin(m.seg, route_segs) | near), "none": False}


def _off_flags(matched: dict, off_m: np.ndarray, tolerance_m: float) -> np.ndarray:
    """Off the route per fix: matched to a road not on it; unmatched and far from it; outliers as the fix before."""
    far = off_m > tolerance_m
    if matched["none"]:
        return far
    ok = matched["seg"] >= 0
    flag = np.where(ok, ~matched["on"], far)
    out = matched["outlier"]
    if out.any():  # an outlier says nothing: it keeps the state of the last fix that was not one
        keep = np.flatnonzero(~out)
        prev = keep[np.maximum(np.searchsorted(keep, np.flatnonzero(out)) - 1, 0)] if len(keep) else None
        flag[out] = flag[prev] if prev is not None else False
    return flag


def _parking(stops: list, parking, to_m, radius_m: float):
    """Mark every stop in / out of the parking area; whether the last one is in it (None: no area given)."""
    import shapely

    if parking is None:
        for st in stops:
            st["in_parking"] = None
        return None
    area = shapely.transform(parking, lambda c: np.column_stack(to_m.transform(c[:, 0], c[:, 1])))
    for st in stops:
        sx, sy = to_m.transform(st["lon"], st["lat"])
        st["in_parking"] = bool(area.distance(shapely.Point(sx, sy)) <= (radius_m if area.area == 0 else 0))
    return stops[-1]["in_parking"] if stops else False


def _stops(x, y, secs, times, lon, lat, radius: float, min_s: float, window_s: float = 30.0) -> list[dict]:
    """Stretches where the track does not move for at least ``min_s`` seconds (vectorised).

    Positions are smoothed by a centred rolling median over ``window_s`` seconds (robust to GPS
    noise and stray fixes); a fix is stationary when the smoothed position ``window_s`` later is
    less than ``radius`` / 2 away (under 0.5 m/s for the defaults; gaps of up to 10 s are bridged); runs of stationary
    fixes less than ``window_s`` apart whose medians lie within ``radius`` are joined; a stop is such a
    run lasting ``min_s``, and is located at the median of its fixes.
    """
    index = pd.to_datetime(times)
    mx = pd.Series(x, index=index).rolling(f"{window_s}s", center=True).median().to_numpy()
    my = pd.Series(y, index=index).rolling(f"{window_s}s", center=True).median().to_numpy()
    ahead = np.minimum(np.searchsorted(secs, secs + window_s), len(secs) - 1)
    moved = np.hypot(mx[ahead] - mx, my[ahead] - my)
    still = (moved < radius / 2.0) & (secs[ahead] - secs >= window_s / 2)
    # the last window_s of the track has no fix that far ahead: it keeps the state of the fix before
    tail = secs > secs[-1] - window_s
    if tail.any() and (~tail).any():
        still[tail] = still[~tail][-1] & (np.hypot(mx[tail] - mx[~tail][-1], my[tail] - my[~tail][-1]) < radius)
    for a, b in _runs(~still):  # a few noisy seconds inside a stop do not end it
        if 0 < a and b < len(still) - 1 and secs[b + 1] - secs[a - 1] <= 10.0 + 2:
            still[a:b + 1] = True
    runs = []
    for a, b in _runs(still):  # two still runs a moment apart at one place are one stop (noise broke it)
        if runs and secs[a] - secs[runs[-1][1]] <= window_s and np.hypot(
                np.median(x[a:b + 1]) - np.median(x[runs[-1][0]:runs[-1][1] + 1]),
                np.median(y[a:b + 1]) - np.median(y[runs[-1][0]:runs[-1][1] + 1])) < radius:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((a, b))
    stops = []
    for a, b in runs:
        if secs[b] - secs[a] >= min_s:
            stops.append({"start": pd.Timestamp(times[a]), "end": pd.Timestamp(times[b]),
                          "duration_s": float(secs[b] - secs[a]), "lon": float(np.median(lon[a:b + 1])),
                          "lat": float(np.median(lat[a:b + 1]))})
    return stops


def _zone_entries(zones, vehicle, lon, lat, times, secs) -> list[dict]:
    import shapely

    out = []
    pts = shapely.points(lon, lat)
    for zone in zones:
        inside = shapely.contains(zone.geometry, pts)
        for k in np.flatnonzero(inside):  # only fixes inside: is the ban in force at that time?
            inside[k] = zone.applies(vehicle, pd.Timestamp(times[k]).to_pydatetime())
        for a, b in _runs(inside):
            out.append({"zone": zone.name, "start": pd.Timestamp(times[a]), "end": pd.Timestamp(times[b]),
                        "duration_s": float(secs[b] - secs[a])})
    return out


def read_track(path, *, crs=None, time_column: str = "time", vehicle_column: str | None = None,
               vehicle_id=None, layer: str | None = None):
    """GPS fixes from a CSV (lon/lat columns) or GPX file, in any CRS incl. GCJ-02 (``crs="gcj02"``).

    Parameters
    ----------
    path : str or path
    crs : CRS-like, optional
        Datum of the coordinates when the file does not say (a CSV in China must: ``wgs84``, ``gcj02``).
    time_column : str
        Column with the fix times (GPX: ``time``).
    vehicle_column, vehicle_id : optional
        Keep only the fixes of one vehicle (e.g. ``vehicle_column="agent_id", vehicle_id="xa_car_1"``).
    layer : str, optional
        GPX layer (default ``track_points``).

    Returns
    -------
    geopandas.GeoDataFrame
        Points in WGS-84 with a ``time`` column (datetime64), sorted by time.

    Examples
    --------
    >>> track = read_track("example_gps.csv", crs="wgs84", vehicle_column="agent_id", vehicle_id="xa_car_1")  # doctest: +SKIP
    """
    from pathlib import Path

    from gridtools import io
    from gridtools.timeparse import parse_column

    gpx = Path(path).suffix.lower() == ".gpx"
    frame = io.read_any(path, crs=crs, layer=layer or ("track_points" if gpx else None)).to_crs(4326)
    if vehicle_column is not None:
        if vehicle_column not in frame.columns:
            raise InputError(f"{path}: no column {vehicle_column!r} (vehicle_column=)")
        frame = frame[frame[vehicle_column].astype(str) == str(vehicle_id)]
        if not len(frame):
            raise InputError(f"{path}: no fixes of vehicle {vehicle_id!r} in column {vehicle_column!r}")
    if time_column not in frame.columns:
        raise InputError(f"{path}: no time column {time_column!r} (time_column=...); columns: {list(frame.columns)}")
    frame = frame.assign(time=parse_column(frame[time_column], column=time_column, source=str(path)))
    return frame.sort_values("time", kind="stable").reset_index(drop=True)
