"""Routes and travel-time matrices on a :class:`RoadNetwork` for any vehicle.

Engine: a *customizable* contraction hierarchy (RoutingKit CCH via ``routingkit-cch``, else
``pyroutingkit``).  The hierarchy's shape is built once per network (cached next to the network
cache); each vehicle /
time slot gets its own *customisation*: blocked arcs get infinite weight and the shortcuts are
recomputed from the masked weights, so a restriction inside a shortcut can never leak into a
route (a bug reported against engines that contract once and filter afterwards).  Customised
metrics are kept per (vehicle, set of conditions in force), so the cost of a new vehicle class or
time slot is paid once.  Without either binding (or with ``engine="dijkstra"``), the exact
fallback is SciPy's C Dijkstra on the masked graph.  The engines themselves live in
:mod:`gridtools.routing.engines`, one class each.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from gridtools.errors import GridtoolsError, InputError
from gridtools.routing import restrictions as R
from gridtools.routing import fallback, lastmile, messages
from gridtools.routing.connectivity import largest_strong_part
from gridtools.routing.engines import INF, Metric, engine_for
from gridtools.routing.network import RoadNetwork
from gridtools.routing.result import Route, TravelTimeMatrix
from gridtools.routing.snapping import EdgeSnap, SegmentIndex, best_path, lonlat_array, matrix_costs, segment_arcs
from gridtools.routing.tags import TIME_WINDOWS_LIFTED, parse_time
from gridtools.routing.vehicle import Vehicle, car
from gridtools.routing.zones import active_zones, apply_zones


class NoRouteError(GridtoolsError):
    """No legal route exists for this vehicle; the message names the blocking restrictions."""

    def __init__(self, message: str, blocking: list | None = None):
        super().__init__(message)
        self.blocking = blocking or []


class Router:
    """Route vehicles over one loaded network; caches customised weights per vehicle and time slot.

    Parameters
    ----------
    network : RoadNetwork
    engine : {"auto", "cch", "dijkstra"}
        ``auto``: CCH when ``routingkit-cch`` or ``pyroutingkit`` is installed, else SciPy Dijkstra
        (exact, slower).
    max_snap_m : float, optional
        Farthest a point may be from the nearest usable road (default ``settings.route_max_snap_m``).
    max_resnap_m : float, optional
        When no road within ``max_snap_m`` connects to the other end, how far to look for the nearest
        one that does (default ``settings.route_max_resnap_m``; the route says so in a warning).
    min_reach_nodes : int, optional
        A point whose nearest usable road reaches (or is reached from) this many junctions, none on
        the vehicle's main network, lies in a closed district and is never moved onto another road: a
        route that must leave it is refused, naming what closes it and the nearest road that connects
        (default ``settings.route_min_reach_nodes``, 50; 0: snap past every pocket).
    zones : list of BanZone, optional
        Truck-ban zones (:func:`gridtools.routing.read_ban_zones`), applied per request to the
        vehicles and times they cover (``Router.zones`` may be changed between requests).

    Examples
    --------
    >>> router = Router(load_network("bus.osm.pbf"))                       # doctest: +SKIP
    >>> r = router.route((8.68, 49.41), (8.69, 49.40), truck(height_m=4.2))  # doctest: +SKIP
    >>> r.osmids, r.length_m, r.avoided                                     # doctest: +SKIP
    """

    def __init__(self, network: RoadNetwork, engine: str = "auto", max_snap_m: float | None = None,
                 metric_cache_size: int | None = None, zones=None, max_resnap_m: float | None = None,
                 min_reach_nodes: int | None = None):
        from gridtools import settings

        self._engine = engine_for(network, engine)  # the only place that knows which engine runs
        self.network = network
        self.engine = self._engine.name
        self.max_snap_m = settings.route_max_snap_m if max_snap_m is None else max_snap_m
        self.max_resnap_m = settings.route_max_resnap_m if max_resnap_m is None else max_resnap_m
        self.min_reach_nodes = settings.route_min_reach_nodes if min_reach_nodes is None else int(min_reach_nodes)
        self._metrics: OrderedDict = OrderedDict()
        self._rules: OrderedDict = OrderedDict()
        self._keys: dict = {}
        self._cache_size = metric_cache_size or settings.route_metric_cache
        self._tree = None
        self._to_metric = None
        self.zones = list(zones or [])

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
        key = self._rules_key(vehicle, at)
        if key not in self._rules:
            rules = R.arc_rules(self.network, vehicle, at)
            if key[-1]:  # ban zones in force for this vehicle at this time
                rules.blocked, rules.zone_why = apply_zones(self.network, rules.blocked,
                                                            [self.zones[i] for i, _ in key[-1]], R.ZONE)
            rules.cache["private_arcs"] = lastmile.private_arcs(self.network, rules.blocked, vehicle, at)
            self._rules[key] = rules
            while len(self._rules) > self._cache_size * 2:
                self._rules.popitem(last=False)
        return self._rules[key]

    def _rules_key(self, vehicle: Vehicle, at) -> tuple:
        vkey = vehicle.key()
        if not self.zones:  # a route asks for it a few times: the conditions are evaluated once per (vehicle, time)
            known = self._keys.get((vkey, at))
            if known is None:
                if len(self._keys) > 4 * self._cache_size:
                    self._keys.clear()
                known = self._keys[(vkey, at)] = (vkey, R.condition_key(self.network, vehicle, at), ())
            return known
        zones = tuple((i, id(self.zones[i])) for i in active_zones(self.zones, vehicle, at))
        return vkey, R.condition_key(self.network, vehicle, at), zones

    def _metric(self, vehicle: Vehicle, at, relaxed: bool = False) -> Metric:
        key = (self._rules_key(vehicle, at), relaxed)
        if key in self._metrics:
            self._metrics.move_to_end(key)
            return self._metrics[key]
        rules = self.rules(vehicle, at)
        w = np.clip(np.rint(rules.time_s * rules.factor * 1000.0), 1, INF - 1).astype(np.int64)
        # a route may end part-way along an arc blocked only at its head node (before the bollard)
        at_head = np.isin(rules.blocked, (R.BARRIER, R.NODE_ACCESS, R.NODE_LIMIT))
        arrive = w.copy()
        ends = lastmile.end_weights(w, rules.blocked, rules.cache["private_arcs"])
        if not relaxed:
            w[rules.blocked > 0] = INF
            arrive[(rules.blocked > 0) & ~at_head] = INF
        metric = self._engine.customise(w)
        metric.arrive_weights = arrive
        metric.end_weights = ends
        self._metrics[key] = metric
        while len(self._metrics) > self._cache_size:
            self._metrics.popitem(last=False)
        return metric

    # ---------------------------------------------------------------- snapping
    def _main_component(self) -> np.ndarray:
        """Base nodes in the largest strongly connected component of the whole (unmasked) graph."""
        net = self.network

        def compute():
            main = np.zeros(net.n_nodes, bool)
            # a split node belongs where its copies are: mark the base of every node in the main part
            main[net.node_base[largest_strong_part(net.n_nodes, net.arc_u, net.arc_v)]] = True
            return main

        return net.derived("main_component", compute)

    def _metric_xy(self, points, role: str) -> tuple[np.ndarray, np.ndarray]:
        """(lon/lat, metric x/y) of points, after checking they are lon/lat pairs."""
        import pyproj

        pts = lonlat_array(points)
        bad = ~np.isfinite(pts).all(axis=1) | (np.abs(pts[:, 0]) > 180) | (np.abs(pts[:, 1]) > 90)
        if bad.any():
            lon, lat = (float(v) for v in pts[bad][0])  # plain floats: no np.float64(...) in the message
            raise InputError(f"{role} ({lon:g}, {lat:g}) is not a longitude, latitude pair in degrees "
                             "(give LON,LAT, e.g. 8.69,49.41)")
        if self._to_metric is None:  # building a transformer costs ~0.5 ms: once per router
            self._to_metric = pyproj.Transformer.from_crs(4326, self.network.crs, always_xy=True)
        x, y = self._to_metric.transform(pts[:, 0], pts[:, 1])
        return pts, np.column_stack([x, y])

    def snap(self, points, vehicle: Vehicle | None = None, at=None, role: str = "origin"):
        """Nearest usable network *junction* of each (lon, lat) point: (nodes, distances in metres).

        Routes and matrices snap onto roads instead (:meth:`snap_edges`); this junction snap is kept
        for callers that need a graph node (dispatch alternatives).

        Raises
        ------
        InputError
            A point is farther than ``max_snap_m`` from every usable road (the message gives the
            distance), or is not a valid lon/lat pair.
        """
        from scipy.spatial import cKDTree

        net = self.network
        pts, xy = self._metric_xy(points, role)
        if self._tree is None:
            base = np.flatnonzero(net.node_base == np.arange(net.n_nodes))
            self._tree = (cKDTree(np.column_stack([net.node_x[base], net.node_y[base]])), base)
        tree, base = self._tree
        rules = self.rules(vehicle or car(), at)
        usable = rules.cache.get(role)
        if usable is None:  # nodes with a usable arc leaving (origin) / entering (destination)
            usable = np.zeros(net.n_nodes, bool)
            ok = rules.blocked == 0
            usable[net.node_base[net.arc_u[ok] if role == "origin" else net.arc_v[ok]]] = True
            rules.cache[role] = usable
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
            raise InputError(self._far_message(pts[i], xy[i], snap[i], vehicle or car(), at, role))
        return nodes, snap

    def _edge_tree(self, rules: R.ArcRules):
        """Snapping index over the segments ``rules`` lets the vehicle drive in some direction."""
        key = "edge_tree"
        if key not in rules.cache:
            rules.cache[key] = self._segment_index().tree(self._usable_segments(rules))
        return rules.cache[key]

    def _usable_segments(self, rules: R.ArcRules) -> np.ndarray:
        """Per segment: ``rules`` lets the vehicle drive it in some direction (cached)."""
        key = "usable_seg"
        if key not in rules.cache:
            rules.cache[key] = self._segments_of_arcs(rules.blocked == 0)
        return rules.cache[key]

    def _tree_of_arcs(self, arc_ok: np.ndarray):
        """Snapping index over the segments with an arc (either direction) where ``arc_ok`` holds."""
        return self._segment_index().tree(self._segments_of_arcs(arc_ok))

    def _segments_of_arcs(self, arc_ok: np.ndarray) -> np.ndarray:
        """Per segment: it has an arc (either direction) where ``arc_ok`` holds."""
        table = segment_arcs(self.network)
        return ((table >= 0) & arc_ok[np.maximum(table, 0)]).any(axis=1)

    def _snap_trees(self, rules: R.ArcRules) -> dict:
        """The snapping indexes of the fallback (:mod:`gridtools.routing.fallback`), with their segments."""
        key = "snap_trees"
        if key not in rules.cache:
            net, main = self.network, self._main_nodes(rules)
            ok = rules.blocked == 0
            rules.cache[key] = {"usable": self._edge_tree(rules), "main": self._main_tree(rules),
                                "ends": self._end_tree(rules), "usable_seg": self._usable_segments(rules),
                                "main_seg": self._segments_of_arcs(ok & main[net.arc_u] & main[net.arc_v]),
                                "ends_seg": self._segments_of_arcs(ok | rules.cache["private_arcs"])}
        return rules.cache[key]

    def _main_tree(self, rules: R.ArcRules):
        """Snapping index over the usable segments in the largest strongly connected part of ``rules``' graph."""
        key = "main_tree"
        if key not in rules.cache:
            net, main = self.network, self._main_nodes(rules)
            rules.cache[key] = self._tree_of_arcs((rules.blocked == 0) & main[net.arc_u] & main[net.arc_v])
        return rules.cache[key]

    def _main_nodes(self, rules: R.ArcRules) -> np.ndarray:
        """Per graph node: in the largest strongly connected part of the roads ``rules`` lets the vehicle use."""
        key = "main_nodes"
        if key not in rules.cache:
            net, ok = self.network, rules.blocked == 0
            rules.cache[key] = largest_strong_part(net.n_nodes, net.arc_u[ok], net.arc_v[ok])
        return rules.cache[key]

    def _end_tree(self, rules: R.ArcRules):
        """Snapping index over the segments usable or closed only by ``private`` (a route's own ends)."""
        key = "end_tree"
        if key not in rules.cache:
            rules.cache[key] = self._tree_of_arcs((rules.blocked == 0) | rules.cache["private_arcs"])
        return rules.cache[key]

    def _private_fallback(self, xy, vehicle: Vehicle, at) -> EdgeSnap | None:
        """Both points (metric ``xy``) snapped onto roads usable or closed only by ``private`` (None: one is too far)."""
        both = self._segment_index().nearest(xy, self._end_tree(self.rules(vehicle, at)), self.max_snap_m)
        return None if (both.seg < 0).any() else both

    def _private_snap(self, xy, snap: EdgeSnap, rules: R.ArcRules) -> EdgeSnap | None:
        """The point's (metric ``xy``, shape (1, 2)) snap onto a road closed only by ``private``, when nearer than ``snap``."""
        arcs = segment_arcs(self.network)[snap.seg[0]]
        if not (rules.blocked[arcs[arcs >= 0]] == 0).any():  # already on a private road (no usable one near)
            return snap
        if not snap.distance_m[0] > 1.0:  # on a usable road already: nothing can be nearer
            return None
        near = self._segment_index().nearest(xy, self._end_tree(rules), float(snap.distance_m[0]))
        seg = int(near.seg[0])
        if seg < 0 or not near.distance_m[0] < snap.distance_m[0] - 1.0:
            return None
        arcs = segment_arcs(self.network)[seg]
        return near if rules.cache["private_arcs"][arcs[arcs >= 0]].any() else None

    def _restricted_path(self, xy, o, d, rules, metric):
        """(o, d, path) through a private first / last stretch when a point lies on such a road, or None."""
        from gridtools import settings

        po, pd_ = self._private_snap(xy[0:1], o, rules), self._private_snap(xy[1:2], d, rules)
        if po is None and pd_ is None:
            return None
        net, limit, ew = self.network, settings.route_max_restricted_end_m, metric.end_weights
        main = self._main_nodes(rules)
        # the private roads walked from the point, and on through a pocket to the main network
        private = rules.cache["private_arcs"]
        starts, stops = ((lastmile.restricted_ends(net, ew, private, snap, leave, limit, main)
                          + lastmile.pocket_ends(net, ew, private, main, snap, leave, limit))
                         if snap is not None else None for snap, leave in ((po, True), (pd_, False)))
        o2, d2 = po if po is not None else o, pd_ if pd_ is not None else d
        path = best_path(net, metric, o2, d2, metric.arrive_weights, starts, stops)
        return (o2, d2, path) if math.isfinite(path[0]) else None

    def _connected_snaps(self, near: fallback.NearRoads, o: EdgeSnap, d: EdgeSnap, nearest, rules: R.ArcRules,
                         metric: Metric, districts: bool = True):
        """((o, d, path) on the nearest ends that connect when ``o`` and ``d`` do not, or None; pinned).

        A pocket's way out (public streets or a private road leading to the main network) wins when its
        total snap distance is smaller than the nearest connected pair's (:mod:`gridtools.routing.fallback`).
        ``nearest``: both points' nearest usable roads (None: searched here).  ``pinned``: per point, in
        a closed district (:func:`fallback.closed_districts`, looked for when ``districts``), so kept on
        its nearest road.
        """
        from gridtools import settings

        trees = self._snap_trees(rules)
        if nearest is None:
            nearest = self._segment_index().nearest(near.xy, trees["usable"], self.max_snap_m)
        pinned = (fallback.closed_districts(self.network, rules, metric, nearest, self.min_reach_nodes)
                  if districts else (False, False))
        limits = (self.max_snap_m, self.max_resnap_m, settings.route_max_restricted_end_m)
        found = fallback.connected_snaps(self.network, near, trees, rules, metric, self._main_nodes(rules), nearest,
                                         limits, self._pocket_exits(rules, metric), self._nearest_road, pinned)
        return found, pinned

    def _district_note(self, near, o, d, nearest, rules, metric, pinned) -> str:
        """Why a refused route's pinned points were not moved, naming the road that would connect."""
        alt = self._connected_snaps(near, o, d, nearest, rules, metric, districts=False)[0]
        return messages.district_note(self.network, (o, d), pinned, alt, self.min_reach_nodes)

    def _pocket_exits(self, rules: R.ArcRules, metric: Metric) -> tuple:
        """:func:`lastmile.private_metres_to_main` towards and from the main network (cached per rules)."""
        key = "pocket_exits"
        if key not in rules.cache:  # the end weights are the same for the strict and the relaxed metric
            rules.cache[key] = tuple(lastmile.private_metres_to_main(self.network, metric.end_weights,
                                                                     rules.cache["private_arcs"],
                                                                     self._main_nodes(rules), leave)
                                     for leave in (True, False))
        return rules.cache[key]

    def _restricted_stretches(self, arcs, start_at, end_at, vehicle, at, rules) -> list:
        """The private stretches a route drives at its start and its end (:func:`lastmile.stretches`)."""
        def why(part):
            return "; ".join(dict.fromkeys(w["why"] for w in R.explain_arcs(self.network, part, vehicle, at,
                                                                             rules=rules)))

        return lastmile.stretches(self.network, arcs, start_at, end_at, rules.cache["private_arcs"],
                                  self._main_nodes(rules), why)

    def _segment_index(self) -> SegmentIndex:
        return self.network.derived("segment_index", lambda: SegmentIndex(self.network))

    def snap_edges(self, points, vehicle: Vehicle | None = None, at=None, role: str = "origin") -> EdgeSnap:
        """Project each (lon, lat) point onto the nearest road segment ``vehicle`` may drive.

        Parameters
        ----------
        points : (lon, lat) pairs, shapely Points or a GeoSeries
        vehicle : Vehicle, optional
        at : datetime, optional
        role : str or sequence of str
            ``origin`` or ``destination`` (used in messages), or one role per point.

        Returns
        -------
        EdgeSnap
            Segment, position along it and snap distance of every point.

        Raises
        ------
        InputError
            A point is farther than ``max_snap_m`` from every road the vehicle may use; the message
            names the nearest road, its distance and why the vehicle may not use it.

        Examples
        --------
        >>> snap = router.snap_edges([(8.69, 49.41)], truck())             # doctest: +SKIP
        >>> snap.seg, snap.fraction, snap.distance_m                       # doctest: +SKIP
        """
        pts, xy = self._metric_xy(points, role if isinstance(role, str) else "point")
        return self._snap_xy(pts, xy, vehicle or car(), at, role)

    def _snap_xy(self, pts, xy, vehicle: Vehicle, at, role) -> EdgeSnap:
        """:meth:`snap_edges` of points already checked and transformed (``pts`` lon/lat, ``xy`` metric)."""
        rules = self.rules(vehicle, at)
        snap = self._segment_index().nearest(xy, self._edge_tree(rules), self.max_snap_m)
        far = snap.seg < 0
        if far.any():
            i = int(np.flatnonzero(far)[0])
            index = self._segment_index()
            usable = index.nearest(xy[i:i + 1], self._edge_tree(rules))
            who = role[i] if isinstance(role, (tuple, list)) else role
            raise InputError(self._far_message(pts[i], xy[i], float(usable.distance_m[0]), vehicle, at, who))
        return snap

    def _nearest_road(self, xy) -> EdgeSnap:
        """Snap of a metric (x, y) point onto the nearest road segment of the network, usable or not."""
        net, index = self.network, self._segment_index()
        every = net.derived("edge_tree_all", lambda: index.tree(np.ones(len(net.seg_start), bool)))
        return index.nearest(np.asarray([xy]), every)

    def _closed_road_nearby(self, xy, usable_m: float, vehicle: Vehicle, at) -> str | None:
        """"D m from way X (name), which this vehicle may not use (why)" when a closed road is nearer."""
        net = self.network
        near = self._nearest_road(xy)
        seg = int(near.seg[0])
        if seg < 0 or not near.distance_m[0] < usable_m - 1.0:
            return None
        arcs = segment_arcs(net)[seg]
        why = R.explain_arcs(net, arcs[arcs >= 0], vehicle, at, rules=self.rules(vehicle, at))
        reason = "; ".join(dict.fromkeys(w["why"] for w in why)) or "closed to this vehicle"
        return (f"{near.distance_m[0]:,.0f} m from {messages.road_label(net, seg)}, which this vehicle may not use "
                f"({reason})")

    def _far_message(self, lonlat, xy, usable_m: float, vehicle: Vehicle, at, role: str) -> str:
        """Why a point cannot be snapped: the nearest road, how far, and why this vehicle may not use it."""
        closed = self._closed_road_nearby(xy, usable_m, vehicle, at)
        return messages.too_far(self.network, lonlat, usable_m, self.max_snap_m, role, closed)

    def _closed_ends(self, xy, snaps, vehicle: Vehicle, at) -> str:
        """Sentences for route ends (metric ``xy``) that snapped past a nearer road the vehicle may not use."""
        parts = []
        for role, point, snap in zip(("origin", "destination"), xy, snaps):
            closed = self._closed_road_nearby(point, float(snap.distance_m[0]), vehicle, at)
            if closed:
                parts.append(f"; the {role} is {closed} and was snapped {snap.distance_m[0]:,.0f} m to a road it may use")
        return "".join(parts)

    # ---------------------------------------------------------------- queries
    def route(self, origin, destination, vehicle: Vehicle | None = None, at=None, explain: bool = True) -> Route:
        """Fastest legal route for ``vehicle`` from ``origin`` to ``destination`` (lon, lat), departing ``at``.

        Both points are snapped onto the nearest road the vehicle may use (not onto a junction); the
        route starts and ends part-way along those roads, in whichever direction is legal and cheaper.

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
        origin, destination = (tuple(map(float, lonlat_array(p)[0])) for p in (origin, destination))
        pts, xy = self._metric_xy([origin, destination], "point")  # once per route: every step below uses it
        nearest = None
        try:  # both points in one query of the index
            both = nearest = self._snap_xy(pts, xy, vehicle, at, ("origin", "destination"))
        except InputError:
            both = self._private_fallback(xy, vehicle, at)
            if both is None:
                self.explain_unreachable(origin, destination, vehicle, at)
                raise
        o, d = both.take(0), both.take(1)
        net, near = self.network, fallback.NearRoads(self._segment_index(), xy)
        metric = self._metric(vehicle, at)
        found = self._restricted_path(xy, o, d, self.rules(vehicle, at), metric)
        if found is not None:  # a point on a private road: reached over it, and said so (Route.restricted)
            o, d, (cost, arcs, start_at, end_at) = found
        else:
            cost, arcs, start_at, end_at = best_path(self.network, metric, o, d, metric.arrive_weights)
        warnings: list = []
        pinned = (False, False)
        if not math.isfinite(cost):  # a clipped fragment, a one-way stub, a pocket: the nearest ends that connect
            found, pinned = self._connected_snaps(near, o, d, nearest, self.rules(vehicle, at), metric)
            if found is not None:
                o2, d2, path = found
                for role, old, new in (("origin", o, o2), ("destination", d, d2)):
                    if old.seg[0] != new.seg[0]:
                        warnings.append(messages.resnap_warning(net, role, old, new, self.max_snap_m,
                                                                         self.max_resnap_m))
                o, d = o2, d2
                cost, arcs, start_at, end_at = path
        assumed: list = []
        if at is None:  # refused, or a point on a road closed only in some hours: say which windows were assumed open
            lifted = self._without_time_windows(xy, o, d, vehicle, math.isfinite(cost), nearest)
            if lifted is not None:
                o, d, (cost, arcs, start_at, end_at), assumed = lifted
        avoided: list = []
        if not math.isfinite(cost) and not explain:
            raise NoRouteError(f"no legal route for {vehicle.name or vehicle.kind} from {tuple(map(float, origin))} "
                               f"to {tuple(map(float, destination))} (route again with explain=True to name the "
                               "blocking restrictions)")
        if explain and not assumed:
            relaxed = self._metric(vehicle, at, relaxed=True)
            rcost, rarcs, _, _ = best_path(self.network, relaxed, o, d)
            if not math.isfinite(rcost) and not math.isfinite(cost):  # nearest ends cut off: other roads near
                found = fallback.reachable_snaps(net, near, self._snap_trees(self.rules(vehicle, at)), relaxed,
                                                 self.max_snap_m)
                rcost, rarcs = (found[2][0], found[2][1]) if found is not None else (rcost, rarcs)
            if math.isfinite(rcost) and (not math.isfinite(cost) or rcost < cost):
                avoided = R.explain_arcs(net, rarcs, vehicle, at, rules=self.rules(vehicle, at))
        if not math.isfinite(cost):
            closed = self._closed_ends(xy, (o, d), vehicle, at)
            if explain and any(pinned):
                closed += self._district_note(near, o, d, nearest, self.rules(vehicle, at), metric, pinned)
            if explain and not avoided:  # cut off from the vehicle's roads: what a car's route would cross
                self.explain_unreachable(origin, destination, vehicle, at, suffix=closed)
            raise NoRouteError(messages.no_route(origin, destination, vehicle, at, avoided, self.max_snap_m) + closed,
                               avoided)
        rules = self.rules(vehicle, at)
        way = net.arc_way[arcs]
        way = way[way >= 0]
        osm = net.way_osmid[way]
        osmids = osm[np.r_[True, osm[1:] != osm[:-1]]].tolist() if len(osm) else []  # runs merged
        snap_osm = tuple(int(net.way_osmid[net.seg_way[s.seg[0]]]) for s in (o, d))
        r = Route(origin=origin, destination=destination, arcs=arcs, osmids=osmids, length_m=0.0, time_s=0.0,
                  cost=cost / 1000.0, snap_m=(float(o.distance_m[0]), float(d.distance_m[0])), vehicle=vehicle,
                  at=at, avoided=avoided, _network=net, start_at=start_at, end_at=end_at, warnings=warnings,
                  snap_osmids=snap_osm, snap_xy=tuple((float(s.x[0]), float(s.y[0])) for s in (o, d)))
        r.restricted = self._restricted_stretches(arcs, start_at, end_at, vehicle, at, rules) if len(arcs) else []
        r.time_assumed = assumed
        if assumed:
            which = "; ".join(f"{a['why']} on way {a['osmid']}" if a["osmid"] else a["why"] for a in assumed[:5])
            r.warnings.append("no departure time was given, and the route (or a point on a road closed only at "
                              f"some hours) needs these time-limited restrictions not to be in force: {which}"
                              + (f" (and {len(assumed) - 5} more)" if len(assumed) > 5 else "")
                              + "; give a departure time (at=..., --at) to check")
        for part in r.restricted:
            r.warnings.append(lastmile.warning(part))
        share = r.arc_share
        r.arc_time_s = rules.time_s[arcs] * share
        r.length_m, r.time_s = float((net.arc_length[arcs] * share).sum()), float(r.arc_time_s.sum())
        if r.length_m < 0.5:
            r.warnings.append(f"origin and destination snap to the same place on way {snap_osm[0]}: the route is "
                              f"{r.length_m:.1f} m long (nothing to drive)")
        return r

    def _without_time_windows(self, xy, o: EdgeSnap, d: EdgeSnap, vehicle: Vehicle, routed: bool, nearest=None):
        """(o, d, path, assumed) with every time window read as not in force, or None (``xy``: the points, metric).

        Used with no departure time when the route was refused (``routed`` False) or a point lies on
        a road closed only in some hours (nearer than the road it was snapped to).  ``assumed``
        lists the time-limited restrictions on the path that the no-time reading counts as in
        force, so the route can say which were assumed open.  ``nearest``: both points' nearest
        usable roads within ``max_snap_m`` with the windows in force, if known.
        """
        if self._rules_key(vehicle, TIME_WINDOWS_LIFTED) == self._rules_key(vehicle, None):
            return None  # nothing on this network (for this vehicle) depends on the time
        lifted = self.rules(vehicle, TIME_WINDOWS_LIFTED)
        opens = ("opens_roads", self._rules_key(vehicle, None))  # compared once per pair of rules, not per route
        if opens not in lifted.cache:
            lifted.cache[opens] = not np.array_equal(self._usable_segments(lifted),
                                                     self._usable_segments(self.rules(vehicle, None)))
        if nearest is not None and lifted.cache[opens]:
            nearest = None  # a road opened by lifting the windows: its index differs
        ends = []
        for k, snap in enumerate((o, d)):
            near = None
            if snap.distance_m[0] > 1.0 and nearest is not None:  # the same roads: the same nearest one
                near = nearest.take(k) if nearest.distance_m[k] <= snap.distance_m[0] else None
            elif snap.distance_m[0] > 1.0:  # a nearer road open outside its time window?
                near = self._segment_index().nearest(xy[k:k + 1], self._edge_tree(lifted), float(snap.distance_m[0]))
            moved = near is not None and near.seg[0] >= 0 and near.distance_m[0] < snap.distance_m[0] - 1.0
            ends.append(near if moved else snap)
        if routed and ends[0] is o and ends[1] is d:
            return None
        metric = self._metric(vehicle, TIME_WINDOWS_LIFTED)
        path = best_path(self.network, metric, ends[0], ends[1], metric.arrive_weights)
        if not math.isfinite(path[0]):
            return None
        strict, arcs = self.rules(vehicle, None), path[1]
        relies = arcs[(strict.blocked[arcs] > 0) & (lifted.blocked[arcs] == 0)]
        return ends[0], ends[1], path, R.explain_arcs(self.network, relies, vehicle, None, rules=strict)

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
            raise NoRouteError(messages.no_route(origin, destination, vehicle, at, avoided, self.max_snap_m) + suffix,
                               avoided)

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
        origins, destinations = lonlat_array(origins), lonlat_array(destinations)
        o = self.snap_edges(origins, vehicle, at, "origin")
        d = self.snap_edges(destinations, vehicle, at, "destination")
        metric = self._metric(vehicle, at)
        seconds = matrix_costs(self.network, metric, o, d, metric.arrive_weights) / 1000.0
        snap_s, snap_t = o.distance_m, d.distance_m
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
