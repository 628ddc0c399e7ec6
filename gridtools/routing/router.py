"""Routes and travel-time matrices on a :class:`RoadNetwork` for any vehicle.

Engine: a *customizable* contraction hierarchy (RoutingKit CCH via ``pyroutingkit``).  The
hierarchy's shape is built once per network (cached next to the network cache); each vehicle /
time slot gets its own *customisation*: blocked arcs get infinite weight and the shortcuts are
recomputed from the masked weights, so a restriction inside a shortcut can never leak into a
route (a bug reported against engines that contract once and filter afterwards).  Customised
metrics are kept per (vehicle, set of conditions in force), so the cost of a new vehicle class or
time slot is paid once.  Without ``pyroutingkit`` (or with ``engine="dijkstra"``), the exact
fallback is SciPy's C Dijkstra on the masked graph.  The engines themselves live in
:mod:`gridtools.routing.engines`, one class each.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from gridtools.errors import GridtoolsError, InputError
from gridtools.routing import restrictions as R
from gridtools.routing.engines import INF, Metric, engine_for
from gridtools.routing.network import RoadNetwork
from gridtools.routing.tags import parse_time
from gridtools.routing.vehicle import Vehicle, car


class NoRouteError(GridtoolsError):
    """No legal route exists for this vehicle; the message names the blocking restrictions."""

    def __init__(self, message: str, blocking: list | None = None):
        super().__init__(message)
        self.blocking = blocking or []


@dataclass
class Route:
    """One route.  Lengths in metres, times in seconds (at the vehicle's speeds, no penalties).

    Attributes
    ----------
    arcs : numpy.ndarray
        Arc ids of the network, in order (turn connectors included).
    osmids : list of int
        OSM way ids used, in order (consecutive repeats merged).
    avoided : list of dict
        Roads and turns the unrestricted fastest route would use but this vehicle may not, each with
        ``osmid``, ``name``, ``restriction`` and ``why``.  Empty when nothing was avoided.
    """

    origin: tuple
    destination: tuple
    arcs: np.ndarray
    osmids: list
    length_m: float
    time_s: float
    cost: float
    snap_m: tuple
    vehicle: Vehicle
    at: dt.datetime | None
    avoided: list = field(default_factory=list)
    arc_time_s: np.ndarray | None = field(default=None, repr=False)
    _network: RoadNetwork | None = field(default=None, repr=False)

    @property
    def summary(self) -> dict:
        return {"length_m": round(self.length_m, 1), "time_s": round(self.time_s, 1), "ways": len(self.osmids),
                "vehicle": self.vehicle.name or self.vehicle.kind, "at": str(self.at) if self.at else None,
                "avoided": len(self.avoided), "snap_m": [round(s, 1) for s in self.snap_m]}

    def summary_lines(self) -> list[str]:
        s = self.summary
        lines = [f"{s['length_m'] / 1000:.2f} km, {s['time_s'] / 60:.1f} min over {s['ways']} ways "
                 f"(vehicle: {s['vehicle']}{', at ' + s['at'] if s['at'] else ''})"]
        for item in self.avoided:
            lines.append(f"avoided way {item['osmid']} ({item['name'] or 'unnamed'}): {item['why']}"
                         if item["osmid"] is not None else f"avoided {item['why']}")
        return lines

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in self.summary.items())
        avoided = "".join(f"<li>{a['osmid']}: {a['why']}</li>" for a in self.avoided)
        return f"<table><caption>Route</caption>{rows}</table>" + (f"<ul>{avoided}</ul>" if avoided else "")

    @property
    def geometry(self):
        """The whole route as one LineString in lon/lat."""
        import shapely

        lines = self.to_geodataframe().geometry.values
        return shapely.line_merge(shapely.union_all(lines)) if len(lines) else shapely.LineString()

    def to_geodataframe(self):
        """One LineString feature per run of consecutive arcs on the same way (lon/lat).

        Columns: ``seq``, ``osmid``, ``name``, ``highway``, ``length_m``, ``time_s`` and the route
        totals ``route_length_m``, ``route_time_s``.
        """
        import geopandas as gpd
        import pandas as pd
        import shapely

        net = self._network
        road = self.arcs[net.arc_seg[self.arcs] >= 0]
        cols = ["seq", "osmid", "name", "highway", "length_m", "time_s", "route_length_m", "route_time_s"]
        if not len(road):
            return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs="EPSG:4326")
        way = net.arc_way[road]
        run = np.r_[0, np.cumsum(way[1:] != way[:-1])]
        lines = net.segment_lines(net.arc_seg[road], net.arc_back[road])
        table = pd.DataFrame({"run": run, "way": way, "length_m": net.arc_length[road],
                              "time_s": self.arc_time_s[net.arc_seg[self.arcs] >= 0]})
        agg = table.groupby("run").agg(way=("way", "first"), length_m=("length_m", "sum"), time_s=("time_s", "sum"))
        merged = [shapely.line_merge(shapely.union_all(lines[run == r])) for r in agg.index]
        ways = net.ways.iloc[agg["way"].to_numpy()]
        return gpd.GeoDataFrame({
            "seq": np.arange(len(agg)), "osmid": ways["osmid"].to_numpy(np.int64),
            "name": ways["name"].to_numpy(object), "highway": ways["highway"].to_numpy(object),
            "length_m": agg["length_m"].round(1).to_numpy(), "time_s": agg["time_s"].round(1).to_numpy(),
            "route_length_m": round(self.length_m, 1), "route_time_s": round(self.time_s, 1)},
            geometry=merged, crs="EPSG:4326")


    def avoided_geodataframe(self):
        """The roads in ``avoided`` as lon/lat lines with ``osmid``, ``restriction``, ``why``."""
        import geopandas as gpd

        net = self._network
        rows = [a for a in self.avoided if net.arc_seg[a["arc"]] >= 0]
        arcs = np.asarray([a["arc"] for a in rows], np.int64)
        return gpd.GeoDataFrame({"osmid": [a["osmid"] for a in rows], "name": [a["name"] for a in rows],
                                 "restriction": [a["restriction"] for a in rows], "why": [a["why"] for a in rows]},
                                geometry=net.segment_lines(net.arc_seg[arcs], net.arc_back[arcs]) if len(arcs)
                                else [], crs="EPSG:4326")


@dataclass
class TravelTimeMatrix:
    """Fastest legal travel times (seconds) between origins (rows) and destinations (columns).

    ``inf`` where no legal route exists.  ``snap_m`` holds the snapping distances of the points.
    """

    seconds: np.ndarray
    origins: np.ndarray
    destinations: np.ndarray
    origin_snap_m: np.ndarray
    destination_snap_m: np.ndarray

    @property
    def summary(self) -> dict:
        finite = np.isfinite(self.seconds)
        return {"shape": list(self.seconds.shape), "reachable_share": float(finite.mean()) if finite.size else 0.0,
                "median_s": float(np.median(self.seconds[finite])) if finite.any() else None}

    def _repr_html_(self) -> str:
        return f"<p>TravelTimeMatrix {self.summary}</p>"


def _lonlat_array(points) -> np.ndarray:
    """(n, 2) lon/lat from (lon, lat) pairs, shapely Points, or a GeoSeries / GeoDataFrame of points."""
    import geopandas as gpd

    if isinstance(points, (gpd.GeoSeries, gpd.GeoDataFrame)):
        geo = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
        if geo.crs is None:
            raise InputError("points have no CRS; set one, e.g. points.set_crs('EPSG:4326')")
        geo = geo.to_crs(4326)
        return np.column_stack([geo.x.to_numpy(), geo.y.to_numpy()])
    import shapely

    if isinstance(points, shapely.Point):
        return np.array([[points.x, points.y]], dtype=float)
    try:
        rows = [(p.x, p.y) if hasattr(p, "x") and hasattr(p, "y") else p for p in points]
        return np.asarray(rows, dtype=float).reshape(-1, 2)
    except (TypeError, ValueError):
        raise InputError(f"cannot read {points!r} as (lon, lat) points") from None


class Router:
    """Route vehicles over one loaded network; caches customised weights per vehicle and time slot.

    Parameters
    ----------
    network : RoadNetwork
    engine : {"auto", "cch", "dijkstra"}
        ``auto``: CCH when ``pyroutingkit`` is installed, else SciPy Dijkstra (exact, slower).
    max_snap_m : float, optional
        Farthest a point may be from the nearest usable road (default ``settings.route_max_snap_m``).

    Examples
    --------
    >>> router = Router(load_network("bus.osm.pbf"))                       # doctest: +SKIP
    >>> r = router.route((8.68, 49.41), (8.69, 49.40), truck(height_m=4.2))  # doctest: +SKIP
    >>> r.osmids, r.length_m, r.avoided                                     # doctest: +SKIP
    """

    def __init__(self, network: RoadNetwork, engine: str = "auto", max_snap_m: float | None = None,
                 metric_cache_size: int | None = None):
        from gridtools import settings

        self._engine = engine_for(network, engine)  # the only place that knows which engine runs
        self.network = network
        self.engine = self._engine.name
        self.max_snap_m = settings.route_max_snap_m if max_snap_m is None else max_snap_m
        self._metrics: OrderedDict = OrderedDict()
        self._rules: OrderedDict = OrderedDict()
        self._cache_size = metric_cache_size or settings.route_metric_cache
        self._tree = None
        self._to_metric = None

    # ---------------------------------------------------------------- structure
    def prepare(self) -> "Router":
        """Build (or load) the contraction order now instead of at the first query."""
        self._engine.prepare()
        return self

    def rules(self, vehicle: Vehicle, at=None) -> R.ArcRules:
        """The mask, preference factors and travel times of every arc for ``vehicle`` at ``at`` (cached).

        Parameters
        ----------
        vehicle : Vehicle
        at : datetime, optional
            Departure time; None counts time-limited restrictions as in force.

        Returns
        -------
        ArcRules
            See :func:`gridtools.routing.arc_rules`; shared by every time with the same conditions in force.

        Examples
        --------
        >>> router.rules(truck(), None).blocked.any()               # doctest: +SKIP
        """
        key = (vehicle.key(), R.condition_key(self.network, vehicle, at))
        if key not in self._rules:
            self._rules[key] = R.arc_rules(self.network, vehicle, at)
            while len(self._rules) > self._cache_size * 2:
                self._rules.popitem(last=False)
        return self._rules[key]

    def _metric(self, vehicle: Vehicle, at, relaxed: bool = False) -> Metric:
        key = (vehicle.key(), R.condition_key(self.network, vehicle, at), relaxed)
        if key in self._metrics:
            self._metrics.move_to_end(key)
            return self._metrics[key]
        rules = self.rules(vehicle, at)
        w = np.clip(np.rint(rules.time_s * rules.factor * 1000.0), 1, INF - 1).astype(np.int64)
        if not relaxed:
            w[rules.blocked > 0] = INF
        metric = self._engine.customise(w)
        self._metrics[key] = metric
        while len(self._metrics) > self._cache_size:
            self._metrics.popitem(last=False)
        return metric

    # ---------------------------------------------------------------- snapping
    def _main_component(self) -> np.ndarray:
        """Base nodes in the largest strongly connected component of the whole (unmasked) graph."""
        net = self.network

        def compute():
            from scipy.sparse import csr_matrix
            from scipy.sparse.csgraph import connected_components

            graph = csr_matrix((np.ones(net.n_arcs), (net.arc_u, net.arc_v)), shape=(net.n_nodes, net.n_nodes))
            _, label = connected_components(graph, directed=True, connection="strong")
            main = np.zeros(net.n_nodes, bool)
            # a split node belongs where its copies are: mark the base of every node in the main part
            main[net.node_base[label == np.bincount(label).argmax()]] = True
            return main

        return net.derived("main_component", compute)

    def snap(self, points, vehicle: Vehicle | None = None, at=None, role: str = "origin"):
        """Nearest usable network node of each (lon, lat) point: (nodes, distances in metres).

        Raises
        ------
        InputError
            A point is farther than ``max_snap_m`` from every usable road (the message gives the
            distance), or is not a valid lon/lat pair.
        """
        import pyproj
        from scipy.spatial import cKDTree

        net = self.network
        pts = _lonlat_array(points)
        bad = ~np.isfinite(pts).all(axis=1) | (np.abs(pts[:, 0]) > 180) | (np.abs(pts[:, 1]) > 90)
        if bad.any():
            lon, lat = (float(v) for v in pts[bad][0])  # plain floats: no np.float64(...) in the message
            raise InputError(f"{role} ({lon:g}, {lat:g}) is not a longitude, latitude pair in degrees "
                             "(give LON,LAT, e.g. 8.69,49.41)")
        if self._tree is None:
            base = np.flatnonzero(net.node_base == np.arange(net.n_nodes))
            self._tree = (cKDTree(np.column_stack([net.node_x[base], net.node_y[base]])), base)
        tree, base = self._tree
        if self._to_metric is None:  # building a transformer costs ~0.5 ms: once per router
            self._to_metric = pyproj.Transformer.from_crs(4326, net.crs, always_xy=True)
        x, y = self._to_metric.transform(pts[:, 0], pts[:, 1])
        rules = self.rules(vehicle or car(), at)
        usable = rules.cache.get(role)
        if usable is None:  # nodes with a usable arc leaving (origin) / entering (destination)
            usable = np.zeros(net.n_nodes, bool)
            ok = rules.blocked == 0
            usable[net.node_base[net.arc_u[ok] if role == "origin" else net.arc_v[ok]]] = True
            rules.cache[role] = usable
        xy = np.column_stack([x, y])
        k = min(32, len(base))
        dist, idx = tree.query(xy, k=k)
        dist, idx = dist.reshape(len(pts), k), idx.reshape(len(pts), k)
        cand = base[idx]
        ok = usable[cand]
        # prefer the network's main strongly connected part (within the snapping limit): the nearest
        # node may end a one-way stub or a clipped fragment from which nothing else can be reached
        main = ok & self._main_component()[cand] & (dist <= self.max_snap_m)
        pick = np.where(main.any(axis=1), main.argmax(axis=1), np.where(ok.any(axis=1), ok.argmax(axis=1), 0))
        rows = np.arange(len(pts))
        nodes, snap = cand[rows, pick], dist[rows, pick]
        far = snap > self.max_snap_m
        if far.any():
            i = int(np.flatnonzero(far)[0])
            lon0, lat0, lon1, lat1 = net.node_lon.min(), net.node_lat.min(), net.node_lon.max(), net.node_lat.max()
            raise InputError(
                f"{role} ({pts[i, 0]:.6f}, {pts[i, 1]:.6f}) is {snap[i]:,.0f} m from the nearest road usable by this "
                f"vehicle in {net.source or 'the network'} (limit {self.max_snap_m:,.0f} m); the network covers "
                f"lon {lon0:.4f}..{lon1:.4f}, lat {lat0:.4f}..{lat1:.4f}. Check the point (LON,LAT order) or "
                "load a larger network.")
        return nodes, snap

    # ---------------------------------------------------------------- queries
    def route(self, origin, destination, vehicle: Vehicle | None = None, at=None, explain: bool = True) -> Route:
        """Fastest legal route for ``vehicle`` from ``origin`` to ``destination`` (lon, lat), departing ``at``.

        Parameters
        ----------
        origin, destination : (lon, lat) or shapely Point
            WGS-84 degrees.
        vehicle : Vehicle, optional
            Default: a car.
        at : datetime or "YYYY-MM-DD HH:MM", optional
            Departure time for time-conditional restrictions; None counts them as in force.
        explain : bool, default True
            Also find which restricted roads the unrestricted route would have used (``Route.avoided``,
            and the text of :class:`NoRouteError`).  False is faster (one query) and raises a
            NoRouteError without the list of blocking restrictions.

        Raises
        ------
        NoRouteError
            No legal route; the message names the restrictions that block the unrestricted route.
        InputError
            A point far from every road, or a malformed time.
        """
        vehicle = vehicle or car()
        at = parse_time(at)
        origin, destination = (tuple(map(float, _lonlat_array(p)[0])) for p in (origin, destination))
        try:
            (s,), (snap_s,) = self.snap([origin], vehicle, at, "origin")
            (t,), (snap_t,) = self.snap([destination], vehicle, at, "destination")
        except InputError:
            self.explain_unreachable(origin, destination, vehicle, at)
            raise
        net = self.network
        metric = self._metric(vehicle, at)
        cost, arcs = metric.query(int(net.node_depart[s]), int(t))
        avoided: list = []
        if not math.isfinite(cost) and not explain:
            raise NoRouteError(f"no legal route for {vehicle.name or vehicle.kind} from {tuple(map(float, origin))} "
                               f"to {tuple(map(float, destination))} (route again with explain=True to name the "
                               "blocking restrictions)")
        if explain and s != t:
            rcost, rarcs = self._metric(vehicle, at, relaxed=True).query(int(net.node_depart[s]), int(t))
            if math.isfinite(rcost) and (not math.isfinite(cost) or rcost < cost):
                avoided = R.explain_arcs(net, rarcs, vehicle, at, rules=self.rules(vehicle, at))
        if not math.isfinite(cost):
            raise NoRouteError(self._no_route_message(origin, destination, vehicle, at, avoided), avoided)
        rules = self.rules(vehicle, at)
        way = net.arc_way[arcs]
        way = way[way >= 0]
        osm = net.way_osmid[way]
        osmids = [int(o) for i, o in enumerate(osm) if i == 0 or o != osm[i - 1]]
        return Route(origin=tuple(map(float, origin)), destination=tuple(map(float, destination)), arcs=arcs, osmids=osmids,
                     length_m=float(net.arc_length[arcs].sum()), time_s=float(rules.time_s[arcs].sum()),
                     cost=cost / 1000.0, snap_m=(float(snap_s), float(snap_t)), vehicle=vehicle, at=at,
                     avoided=avoided, arc_time_s=rules.time_s[arcs], _network=net)

    def explain_unreachable(self, origin, destination, vehicle: Vehicle, at=None, suffix: str = "") -> None:
        """Raise :class:`NoRouteError` when a point is near roads, but none ``vehicle`` may use.

        Snapping for a vehicle only considers roads it may use, so a dock on a weight-restricted
        street would otherwise read as "far from any road".  Both points are snapped for an
        unrestricted car; when that works and the unrestricted route crosses restrictions for
        ``vehicle``, those are named.  Returns quietly when the points really are off the network
        (the caller's snapping error then stands).
        """
        try:
            (s,), _ = self.snap([origin], car(), at, "origin")
            (t,), _ = self.snap([destination], car(), at, "destination")
        except InputError:
            return
        net = self.network
        cost, arcs = self._metric(vehicle, at, relaxed=True).query(int(net.node_depart[s]), int(t))
        if not math.isfinite(cost):
            return
        avoided = R.explain_arcs(net, arcs, vehicle, at, rules=self.rules(vehicle, at))
        if avoided:
            raise NoRouteError(self._no_route_message(origin, destination, vehicle, at, avoided) + suffix, avoided)

    def _no_route_message(self, origin, destination, vehicle, at, avoided) -> str:
        who = (f"{vehicle.name or vehicle.kind} ({vehicle.weight_t:g} t, {vehicle.height_m:g} m high, "
               f"{vehicle.width_m:g} m wide, {vehicle.length_m:g} m long)")
        head = (f"no legal route for {who} from ({float(origin[0]):.6f}, {float(origin[1]):.6f}) "
                f"to ({float(destination[0]):.6f}, {float(destination[1]):.6f})")
        if not avoided:
            return head + ": the two points are not connected by the road network even ignoring restrictions"
        parts = []
        for item in avoided[:5]:
            where = f"way {item['osmid']}" + (f" ({item['name']})" if item["name"] else "") if item["osmid"] else ""
            parts.append(f"{item['why']}{' on ' + where if where else ''}")
        more = f" (and {len(avoided) - 5} more)" if len(avoided) > 5 else ""
        when = "" if at else "; no departure time was given, so time-limited bans count as in force (pass at=...)"
        return head + ": the fastest route ignoring restrictions is blocked by " + "; ".join(parts) + more + when

    def matrix(self, origins, destinations, vehicle: Vehicle | None = None, at=None) -> TravelTimeMatrix:
        """Fastest legal travel times (s) from every origin to every destination.

        Uses the vehicle's legal mask with plain travel times (road-class preferences are for choosing
        a single route, not for reporting times).

        Examples
        --------
        >>> m = router.matrix([(8.68, 49.41)], [(8.69, 49.40), (8.70, 49.41)], truck())  # doctest: +SKIP
        >>> m.seconds.shape                                                           # doctest: +SKIP
        (1, 2)
        """
        vehicle = (vehicle or car()).without_preferences()
        at = parse_time(at)
        origins, destinations = _lonlat_array(origins), _lonlat_array(destinations)
        s, snap_s = self.snap(origins, vehicle, at, "origin")
        t, snap_t = self.snap(destinations, vehicle, at, "destination")
        metric = self._metric(vehicle, at)
        ms = metric.many_to_many(self.network.node_depart[s], t)
        seconds = ms / 1000.0
        seconds[s[:, None] == t[None, :]] = 0.0
        return TravelTimeMatrix(seconds=seconds, origins=np.asarray(origins, float),
                                destinations=np.asarray(destinations, float), origin_snap_m=snap_s,
                                destination_snap_m=snap_t)


def route(network: RoadNetwork, origin, destination, vehicle: Vehicle | None = None, at=None,
          explain: bool = True) -> Route:
    """One route on ``network`` (see :meth:`Router.route`; keep a :class:`Router` for many queries).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from gridtools.routing import network_from_frames
    >>> roads = gpd.GeoDataFrame({"highway": ["primary"] * 2, "osmid": [11, 12]},
    ...     geometry=[shapely.LineString([(8.0, 49.0), (8.01, 49.0)]),
    ...               shapely.LineString([(8.01, 49.0), (8.02, 49.0)])], crs=4326)
    >>> r = route(network_from_frames(roads), (8.0, 49.0), (8.02, 49.0))
    >>> r.osmids, round(r.length_m)
    ([11, 12], 1463)
    """
    return Router(network).route(origin, destination, vehicle, at=at, explain=explain)


def travel_time_matrix(network: RoadNetwork, origins, destinations, vehicle: Vehicle | None = None,
                       at=None) -> TravelTimeMatrix:
    """Travel-time matrix on ``network`` (see :meth:`Router.matrix`).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from gridtools.routing import network_from_frames
    >>> roads = gpd.GeoDataFrame({"highway": ["primary"], "maxspeed": ["36"]},
    ...     geometry=[shapely.LineString([(8.0, 49.0), (8.01, 49.0)])], crs=4326)
    >>> m = travel_time_matrix(network_from_frames(roads), [(8.0, 49.0)], [(8.0, 49.0), (8.01, 49.0)])
    >>> m.seconds.round()
    array([[ 0., 73.]])
    """
    return Router(network).matrix(origins, destinations, vehicle, at=at)
