"""Route menus: the legal routes a truck may take from its gate (or origin) to its dock.

A menu is the fastest legal route from :class:`gridtools.routing.Router` for the truck's own
:class:`~gridtools.routing.Vehicle`, plus alternatives found by penalised re-routing: the arcs of
the routes already found cost ``1 + penalty`` times more (per use, both directions of a
segment), and an alternative is kept when it is at most ``max_detour`` slower than the fastest
and not a near copy (at most 90 % of its segments shared with a route of the menu).

Menus are cached per (origin node, dock, vehicle profile, set of time-conditional restrictions in
force), and the (lon, lat) of a known origin skips snapping, so a repeat gate-dock-vehicle request
costs only the load check.  A *profile* is a bucket of vehicles the network cannot tell apart
(:class:`ProfileBuckets`): 200 trucks of 30.000 to 30.199 t meet the same weight limits, so they
share one menu instead of building 200.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from gridtools.dispatch.trips import RouteOption
from gridtools.errors import InputError
from gridtools.routing import NoRouteError, Vehicle
from gridtools.routing import restrictions as R
from gridtools.routing.engines import DijkstraMetric


class Menu(list):
    """The routes of one gate-dock-vehicle pair (a list of :class:`RouteOption`, fastest first),
    with their arrays stacked once for the load check."""

    _stack = None

    def stacked(self) -> tuple:
        """Rows, seconds-before-arrival, start offsets, sizes and route times of all routes (cached).

        Returns
        -------
        (rows, before_s, starts, sizes, times) : tuple of numpy arrays
            ``rows`` and ``before_s`` are the routes' ``rows`` and ``before_s`` one after the other;
            route ``j`` is ``[starts[j], starts[j] + sizes[j])`` of them.
        """
        if self._stack is None:
            rows = np.concatenate([o.rows for o in self]) if self else np.zeros(0, np.int64)
            before = np.concatenate([o.before_s for o in self]) if self else np.zeros(0)
            sizes = np.array([len(o.rows) for o in self], np.int64)
            starts = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
            self._stack = (rows, before, starts, sizes, np.array([o.time_s for o in self]))
        return self._stack


#: Vehicle dimensions and the names restrictions give them (tags ``max<name>``, conditions ``<name> > x``).
_DIMENSIONS = (("weight_t", "weight", "t"), ("height_m", "height", "m"), ("width_m", "width", "m"),
               ("length_m", "length", "m"), ("axle_load_t", "axleload", "t"))


class ProfileBuckets:
    """Vehicles grouped by the restrictions that actually bind on one network.

    Every limit of the network (``maxweight`` and the other ``max*`` tags on ways and nodes, their
    ``:conditional`` values, and vehicle comparisons such as ``weight>7.5`` in conditions) is a
    threshold.  Two vehicles on the same side of every threshold, of the same kind and with the
    same preferences get the same legal mask and the same travel times, so they share route
    menus: :meth:`canonical` returns the first vehicle seen of each bucket.

    Parameters
    ----------
    network : RoadNetwork

    Examples
    --------
    >>> buckets = ProfileBuckets(network)                                   # doctest: +SKIP
    >>> buckets.canonical(truck(weight_t=30.1)) is buckets.canonical(truck(weight_t=30.2))  # doctest: +SKIP
    True
    """

    def __init__(self, network):
        self.thresholds = self._thresholds(network)
        self._first: dict = {}

    @staticmethod
    def _thresholds(network) -> dict[str, np.ndarray]:
        from gridtools.routing import tags as T

        found: dict[str, set] = {attr: set() for attr, _, _ in _DIMENSIONS}
        tables = [t for t in (network.ways, network.node_tags, network.turns) if t is not None and len(t)]
        for attr, word, unit in _DIMENSIONS:
            for table in tables:
                column = f"max{word}_{unit}"
                if column in table:
                    found[attr].update(table[column].to_numpy(float).tolist())
        parse = {"t": T.parse_weight, "m": T.parse_length}
        for table in tables:
            for column in [c for c in table.columns if str(c).endswith("conditional")]:
                limit_of = next(((a, u) for a, w, u in _DIMENSIONS if str(column).startswith(f"max{w}:")), None)
                for text in table[column].dropna().unique().tolist():
                    for value, cond in T.parse_conditional(text):
                        if limit_of is not None:
                            found[limit_of[0]].add(parse[limit_of[1]](value)[0])
                        for name, _op, limit in cond.vehicle:
                            attr = next((a for a, w, _ in _DIMENSIONS if w == name), None)
                            if attr is not None:
                                found[attr].add(float(limit))
        out = {}
        for attr, values in found.items():
            finite = np.array(sorted(v for v in values if np.isfinite(v)))
            # limits compare as have > limit + 1e-9, conditions as >, >=, <, <=, =: both edges count
            out[attr] = np.unique(np.r_[finite, finite + 1e-9])
        return out

    def key(self, vehicle: Vehicle) -> tuple:
        """What the network can tell about ``vehicle``: its side of every threshold, its kind and
        its preferences."""
        sides = tuple((int(np.searchsorted(th, getattr(vehicle, attr), "left")),
                       int(np.searchsorted(th, getattr(vehicle, attr), "right")))
                      for attr, th in self.thresholds.items())
        return (vehicle.kind, vehicle.max_speed_kmh, tuple(sorted(vehicle.road_factors.items())),
                vehicle.truck_route_factor, vehicle.destination_factor, sides)

    def canonical(self, vehicle: Vehicle) -> Vehicle:
        """The first vehicle seen of ``vehicle``'s bucket (``vehicle`` itself when it is new)."""
        return self._first.setdefault(self.key(vehicle), vehicle)

    def __len__(self) -> int:
        return len(self._first)


class RouteMenus:
    """Builds and caches route menus for one network and park.

    Parameters
    ----------
    network : RoadNetwork
    park : Park
    router : Router
    rows_for : callable
        ``rows_for(segs)``: rows of the load table for road segments
        (:meth:`gridtools.dispatch.loads.SlotLoads.rows_for`), stored on each :class:`RouteOption`.
    k_routes : int
        Routes per menu (fastest + alternatives).
    max_detour : float
        Alternatives at most this share slower than the fastest route are kept.
    penalty : float
        Extra cost factor on arcs of routes already found, for the next alternative.

    Attributes
    ----------
    cache : dict
        Menus by (origin node, dock key) and by (origin lon/lat, dock key); one menu object may
        appear under both.

    Examples
    --------
    >>> menus = RouteMenus(net, park, Router(net), loads.rows_for, k_routes=3, max_detour=0.3, penalty=2.0)  # doctest: +SKIP
    >>> [o.osmids for o in menus.routes((8.0, 49.0), "D1", truck())]                                        # doctest: +SKIP
    """

    def __init__(self, network, park, router, rows_for, *, k_routes: int, max_detour: float, penalty: float):
        self.network = network
        self.park = park
        self.router = router
        self.rows_for = rows_for
        self.k_routes = k_routes
        self.max_detour = max_detour
        self.penalty = penalty
        self.cache: dict = {}
        self.profiles = ProfileBuckets(network)
        self._dock_nodes: dict = {}
        self._weights: dict = {}

    def legal_weights(self, vehicle: Vehicle, at) -> tuple[np.ndarray, np.ndarray]:
        """Arc costs for alternatives (``inf`` where blocked) and plain travel times (s), cached per conditions."""
        key = (vehicle.key(), R.condition_key(self.network, vehicle, at))
        if key not in self._weights:
            rules = self.router.rules(vehicle, at)
            w = rules.time_s * rules.factor
            w = np.where(rules.blocked > 0, np.inf, np.maximum(w, 1e-3))
            self._weights[key] = (w, rules.time_s)
        return self._weights[key]

    def option(self, arcs: np.ndarray, arc_t: np.ndarray) -> RouteOption:
        """A :class:`RouteOption` from arc ids and the travel time of each arc (seconds).

        Parameters
        ----------
        arcs : array of int
            Arcs of the network, in order.
        arc_t : array of float
            Travel time of each arc.

        Returns
        -------
        RouteOption
        """
        net = self.network
        arcs = np.asarray(arcs, np.int64)
        arc_t = np.asarray(arc_t, float)
        total = float(arc_t.sum())
        enter = np.r_[0.0, np.cumsum(arc_t)[:-1]]
        seg = net.arc_seg[arcs]
        road = seg >= 0
        seg, enter = seg[road], enter[road]
        segs, first = np.unique(seg, return_index=True)
        order = np.argsort(first)
        segs, first = segs[order], first[order]
        way = net.arc_way[arcs]
        way = way[way >= 0]
        osm = net.way_osmid[way]
        osmids = [int(o) for i, o in enumerate(osm) if i == 0 or o != osm[i - 1]]
        segs = segs.astype(np.int64)
        return RouteOption(arcs=arcs, segs=segs, before_s=total - enter[first], time_s=total,
                           length_m=float(net.arc_length[arcs].sum()), osmids=osmids, arc_time_s=arc_t,
                           rows=self.rows_for(segs))

    def routes(self, origin, dock: str, vehicle: Vehicle, at=None) -> Menu:
        """The route menu from ``origin`` (lon, lat) to ``dock``: fastest legal route first.

        Parameters
        ----------
        origin : (lon, lat)
        dock : str
            Dock id of the park.
        vehicle : Vehicle
        at : datetime, optional
            Departure for time-conditional restrictions (aware: converted to park local time).

        Returns
        -------
        Menu

        Raises
        ------
        NoRouteError
            No legal route; the message names the restrictions that block it.
        InputError
            Unknown dock, or a point far from every road.
        """
        net = self.network
        d = self.park.dock(dock)
        asked, vehicle = vehicle, self.profiles.canonical(vehicle)  # same restrictions, same menu
        naive_at = at.astimezone(self.park.tz).replace(tzinfo=None) if isinstance(at, dt.datetime) else at
        dkey = (d.id, vehicle.key(), R.condition_key(net, vehicle, naive_at))
        fast = (tuple(origin), dkey)  # gates repeat: skip snapping for a known origin
        if fast in self.cache:
            return self.cache[fast]
        s, t = self._snap(origin, d, dkey, vehicle, naive_at)
        key = (int(s), dkey)
        if key in self.cache:
            return self.cache[key]
        try:
            first = self.router.route(origin, (d.lon, d.lat), vehicle, at=naive_at, explain=False)
        except NoRouteError as exc:
            if exc.blocking and asked is vehicle:
                raise
            # explained for the truck that asked (its own weight in the message, not its bucket's)
            first = self.router.route(origin, (d.lon, d.lat), asked, at=naive_at, explain=True)
        w, time_s = self.legal_weights(vehicle, naive_at)
        # the first route starts and ends part-way along its end arcs (snapped onto the roads)
        menu = Menu([self.option(first.arcs, first.arc_time_s)])
        menu[0].notes = list(first.warnings)  # a restricted last stretch, assumed time windows, ...
        if len(first.arcs) and self.k_routes > 1:
            self._add_alternatives(menu, w, time_s, int(net.node_depart[s]), t)
        self.cache[key] = menu
        self.cache[fast] = menu
        return menu

    def _snap(self, origin, d, dkey, vehicle: Vehicle, naive_at) -> tuple[int, int]:
        """Network nodes of the origin and of the dock (the dock's cached per vehicle and conditions)."""
        try:
            (s,), _ = self.router.snap([origin], vehicle, naive_at, "origin")
            if dkey not in self._dock_nodes:
                (t,), _ = self.router.snap([(d.lon, d.lat)], vehicle, naive_at, "destination")
                self._dock_nodes[dkey] = int(t)
        except NoRouteError:
            raise
        except InputError:
            self.router.explain_unreachable(origin, (d.lon, d.lat), vehicle, naive_at, suffix=f" (to dock {d.id})")
            raise
        return s, self._dock_nodes[dkey]

    def _add_alternatives(self, menu: Menu, w: np.ndarray, time_s: np.ndarray, src: int, t: int) -> None:
        """Penalised re-routing from ``src`` to ``t`` until the menu has ``k_routes`` routes."""
        net = self.network
        used = np.zeros(net.n_arcs)
        seg_of = net.arc_seg
        for _ in range(3 * self.k_routes):
            if len(menu) >= self.k_routes:
                break
            last = menu[-1]
            on = np.isin(seg_of, last.segs)  # penalise the whole segment, both directions
            used[on] += 1.0
            cost, arcs = DijkstraMetric(net, w * (1.0 + self.penalty * used)).query(src, t)
            if not np.isfinite(cost):
                break
            opt = self.option(arcs, time_s[arcs])
            if opt.time_s > (1.0 + self.max_detour) * menu[0].time_s:
                break
            if any(_overlap(opt, m) > 0.9 for m in menu):
                continue
            menu.append(opt)


def _overlap(a: RouteOption, b: RouteOption) -> float:
    """Share of ``a``'s segments that ``b`` also uses."""
    inter = np.intersect1d(a.segs, b.segs)
    if not len(inter):
        return 0.0
    la = np.isin(a.segs, inter)
    return float(la.sum() / max(len(a.segs), 1))
