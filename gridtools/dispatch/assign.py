"""Route and slot assignment that spreads large trucks over road segments and time slots.

Model
-----
Time is cut into slots of ``park.slot_minutes``.  A truck that reaches the park road network in
slot ``a`` occupies every road *segment* (a stretch of road between two junctions, both
directions) in the slot in which it enters that segment, counted backwards from its arrival
along its route's travel times.  Each segment has a capacity of large trucks per slot
(``park.segment_capacity``, overridden per OSM way).  Each dock serves ``capacity`` trucks per
slot; a truck that arrives in slot ``a`` while its dock is full until slot ``s > a`` waits in a
waiting area (capacity in trucks at once) over slots ``a .. s-1``.

Candidates of a trip: ``k`` legal routes (the fastest plus alternatives found by penalised
re-routing: the arcs of routes already found cost ``1 + penalty`` times more, an alternative is
kept when it is at most ``max_detour`` slower and not a near copy), times arrival slots
``earliest .. earliest + window - 1``.  Greedy in request order: pick the candidate with no
over-capacity segment-slot and the least ``delay + detour`` (plus a small weight on waiting); when
none is within capacity, the one that overloads the fewest segment-slots.  :meth:`Dispatcher.reoptimise`
then takes trips out and puts them back (a local search) until it stops improving.

Legal routes come from :class:`gridtools.routing.Router` with the truck's own
:class:`~gridtools.routing.Vehicle`; route menus are cached per (origin node, dock, vehicle, set
of time-conditional restrictions in force), so a repeat gate-dock-vehicle request costs only the
load check (numpy over ``routes x slots``).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np

from gridtools.dispatch.park import Park
from gridtools.errors import InputError
from gridtools.routing import NoRouteError, Router, Vehicle, truck
from gridtools.routing import restrictions as R

#: Large trucks (counted against segment capacity): heavy goods vehicles (> 3.5 t).
BIG = 10 ** 9


@dataclass(frozen=True)
class TripRequest:
    """One trip to assign.

    Parameters
    ----------
    plate : str
        Truck plate.
    dock : str
        Destination dock id.
    earliest : datetime or str
        Earliest arrival at the park (naive / text: park local time).
    vehicle : Vehicle, optional
        The truck's profile (default: a 40 t articulated truck).
    gate : str, optional
        Entry gate id; or ``origin`` (lon, lat) for a truck starting elsewhere on the network.
    """

    plate: str
    dock: str
    earliest: object
    vehicle: Vehicle = field(default_factory=truck)
    gate: str | None = None
    origin: tuple | None = None
    cargo: str = ""
    trip_id: str | None = None


@dataclass
class RouteOption:
    """One legal route of a menu: arcs, the segments it enters (unique, in order) and the
    seconds from entering each segment to arrival."""

    arcs: np.ndarray
    segs: np.ndarray
    before_s: np.ndarray
    time_s: float
    length_m: float
    osmids: list
    arc_time_s: np.ndarray
    rows: np.ndarray | None = None  # rows of the dispatcher's load table for ``segs``


@dataclass
class Assignment:
    """The dispatch decision for one trip (times are aware datetimes in park local time)."""

    trip_id: str | None
    plate: str
    dock: str
    gate: str | None
    origin: tuple
    route: RouteOption
    route_rank: int
    road_slot: int            # absolute slot number of arrival at the dock area
    dock_slot: int            # absolute slot number at the dock
    waiting_area: str | None
    seg_slots: np.ndarray     # absolute slot of each of route.segs
    arrival: dt.datetime
    departure: dt.datetime
    dock_time: dt.datetime
    earliest: dt.datetime
    fastest_time_s: float
    over_capacity: int        # segment-slots of this trip above capacity when assigned
    large: bool = True
    _wait_index: int = -1
    _dock_index: int = -1

    @property
    def delay_s(self) -> float:
        return max(0.0, (self.dock_time - self.earliest).total_seconds())

    @property
    def detour_s(self) -> float:
        return self.route.time_s - self.fastest_time_s

    @property
    def summary(self) -> dict:
        return {"trip_id": self.trip_id, "plate": self.plate, "dock": self.dock, "gate": self.gate,
                "arrival": self.arrival.isoformat(), "dock_time": self.dock_time.isoformat(),
                "departure": self.departure.isoformat(), "waiting_area": self.waiting_area,
                "route_rank": self.route_rank, "time_s": round(self.route.time_s, 1),
                "length_m": round(self.route.length_m, 1), "delay_s": round(self.delay_s, 1),
                "detour_s": round(self.detour_s, 1), "over_capacity": self.over_capacity}

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in self.summary.items())
        return f"<table><caption>Assignment</caption>{rows}</table>"

    def times_along(self, network) -> list[dict]:
        """Expected time at the start of every way run of the route (list of dicts)."""
        r = self.route
        way = network.arc_way[r.arcs]
        elapsed = np.r_[0.0, np.cumsum(r.arc_time_s)[:-1]]
        road = way >= 0
        way, elapsed = way[road], elapsed[road]
        start = np.r_[True, way[1:] != way[:-1]] if len(way) else np.zeros(0, bool)
        names = network._cache.get("way_names")
        if names is None:
            names = network.ways["name"].to_numpy(object)
            names = np.array([n if isinstance(n, str) and n else None for n in names], dtype=object)
            network._cache["way_names"] = names
        t0 = self.departure.timestamp()
        tz = self.departure.tzinfo
        return [{"osmid": int(o), "name": n, "at": dt.datetime.fromtimestamp(t0 + e, tz).isoformat(timespec="seconds")}
                for o, n, e in zip(network.way_osmid[way[start]], names[way[start]], elapsed[start])]


class Dispatcher:
    """Assign trips of a park to routes, arrival slots, dock slots and waiting areas.

    The loads it keeps in numpy arrays are an index over the assignments it made (or was given
    with :meth:`load`); the trips themselves live in a :class:`gridtools.dispatch.TripStore`.

    Parameters
    ----------
    network : RoadNetwork
    park : Park
    router : Router, optional
    k_routes : int
        Routes per menu (fastest + alternatives).
    window_slots : int
        Arrival slots tried: ``earliest`` .. ``earliest + window_slots - 1``.
    max_detour : float
        Alternatives at most this share slower than the fastest route are kept.
    penalty : float
        Extra cost factor on arcs of routes already found, for the next alternative.
    wait_weight : float
        Cost of a second in a waiting area relative to a second of delay.
    max_wait_slots : int
        Longest wait for a dock (slots) a candidate may have.

    Examples
    --------
    >>> d = Dispatcher(network, park)                                            # doctest: +SKIP
    >>> a = d.assign(TripRequest("沪A12345", dock="D1", gate="G1", earliest="2026-11-24 08:10"))  # doctest: +SKIP
    >>> a.dock_time, a.waiting_area, a.route.osmids                             # doctest: +SKIP
    """

    def __init__(self, network, park: Park, router: Router | None = None, *, k_routes: int | None = None,
                 window_slots: int | None = None, max_detour: float | None = None, penalty: float | None = None,
                 wait_weight: float | None = None, max_wait_slots: int | None = None, base_time=None,
                 horizon_slots: int | None = None):
        from gridtools import settings

        self.network = network
        self.park = park
        self.router = router or Router(network)
        self.k_routes = k_routes or settings.dispatch_k_routes
        self.window_slots = window_slots or settings.dispatch_window_slots
        self.max_detour = settings.dispatch_max_detour if max_detour is None else max_detour
        self.penalty = settings.dispatch_penalty if penalty is None else penalty
        self.wait_weight = settings.dispatch_wait_weight if wait_weight is None else wait_weight
        self.max_wait_slots = settings.dispatch_max_wait_slots if max_wait_slots is None else max_wait_slots
        self.horizon_slots = horizon_slots or settings.dispatch_horizon_slots
        self.booking_days = settings.dispatch_booking_days
        self.max_slots = (self.booking_days + 3) * 86400 // park.slot_s + self.horizon_slots
        L = park.slot_s
        base = park.localize(base_time) if base_time is not None else dt.datetime.now(park.tz)
        # slot 0 of the arrays: midnight (park time) of the day before base_time
        day0 = base.astimezone(park.tz).replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
        self.base_slot = int(day0.timestamp()) // L
        n_seg = len(network.seg_way)
        self.seg_cap = np.full(n_seg, park.segment_capacity, np.int32)
        if park.segment_capacities:
            osm = network.way_osmid[network.seg_way]
            for way, c in park.segment_capacities.items():
                self.seg_cap[osm == int(way)] = c
        # loads are kept only for segments on some route of a menu: row of each segment (-1: none)
        self._row = np.full(n_seg, -1, np.int64)
        self.row_seg = np.zeros(0, np.int64)
        self.cap = np.zeros(0, np.int32)
        self.load = np.zeros((0, 0), np.int32)
        self.dock_ids = [d.id for d in park.docks]
        self._dock_index = {d: i for i, d in enumerate(self.dock_ids)}
        self.dock_cap = np.array([d.capacity for d in park.docks], np.int32)
        self.dock_load = np.zeros((len(park.docks), 0), np.int32)
        self.wait_cap = np.array([w.capacity for w in park.waiting_areas], np.int32)
        self.wait_load = np.zeros((len(park.waiting_areas), 0), np.int32)
        self._grow(2 * 86400 // L)
        self._menus: dict = {}
        self._dock_nodes: dict = {}
        self._gate_xy = {g.id: (g.lon, g.lat) for g in park.gates}
        self._wait_order = self._waiting_order()
        self._weights: dict = {}
        self.n_assigned = 0

    # ------------------------------------------------------------------ arrays
    def rows_for(self, segs: np.ndarray) -> np.ndarray:
        """Rows of the load table for road segments, adding rows for new ones."""
        segs = np.asarray(segs, np.int64)
        new = np.unique(segs[self._row[segs] < 0])
        if len(new):
            start = len(self.row_seg)
            self._row[new] = start + np.arange(len(new))
            self.row_seg = np.r_[self.row_seg, new]
            self.cap = np.r_[self.cap, self.seg_cap[new]].astype(np.int32)
            if len(self.row_seg) > self.load.shape[0]:
                grown = np.zeros((max(len(self.row_seg), 2 * self.load.shape[0], 256), self.load.shape[1]), np.int32)
                grown[:self.load.shape[0]] = self.load
                self.load = grown
        return self._row[segs]

    def _grow(self, n_slots: int) -> None:
        have = self.load.shape[1]
        if n_slots <= have:
            return
        if n_slots > self.max_slots:
            raise InputError(f"that is more than {self.booking_days} days after the start of the dispatch horizon "
                             f"({self.slot_start(self.base_slot).date()}); book closer to the day")
        n = max(n_slots, 2 * have)
        for name in ("load", "dock_load", "wait_load"):
            old = getattr(self, name)
            new = np.zeros((old.shape[0], n), np.int32)
            new[:, :have] = old
            setattr(self, name, new)

    def slot_of(self, when: dt.datetime) -> int:
        """Absolute slot number of a time (seconds since 1970 // slot length)."""
        return int(when.timestamp()) // self.park.slot_s

    def slot_start(self, slot: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(slot * self.park.slot_s, self.park.tz)

    def _waiting_order(self) -> list[np.ndarray]:
        """Waiting areas of each dock, nearest first."""
        if not self.park.waiting_areas:
            return [np.zeros(0, np.int64) for _ in self.park.docks]
        wl = np.array([[w.lon, w.lat] for w in self.park.waiting_areas])
        out = []
        for d in self.park.docks:
            dx = (wl[:, 0] - d.lon) * math.cos(math.radians(d.lat))
            out.append(np.argsort(np.hypot(dx, wl[:, 1] - d.lat), kind="stable"))
        return out

    # ------------------------------------------------------------------ routes
    def _legal_graph(self, vehicle: Vehicle, at):
        key = (vehicle.key(), R.condition_key(self.network, vehicle, at))
        if key not in self._weights:
            rules = self.router.rules(vehicle, at)
            w = rules.time_s * rules.factor
            w = np.where(rules.blocked > 0, np.inf, np.maximum(w, 1e-3))
            self._weights[key] = (w, rules.time_s)
        return self._weights[key]

    def _shortest(self, w: np.ndarray, s: int, t: int) -> np.ndarray | None:
        """Arcs of the cheapest path s -> t under arc weights ``w`` (SciPy Dijkstra)."""
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import dijkstra

        net = self.network
        ok = np.isfinite(w)
        u, v, ww, a = net.arc_u[ok], net.arc_v[ok], w[ok], np.flatnonzero(ok)
        order = np.lexsort((ww, v, u))
        u, v, ww, a = u[order], v[order], ww[order], a[order]
        first = np.r_[True, (u[1:] != u[:-1]) | (v[1:] != v[:-1])]
        u, v, ww, a = u[first], v[first], ww[first], a[first]
        n = net.n_nodes
        mat = csr_matrix((ww, (u, v)), shape=(n, n))
        dist, pred = dijkstra(mat, indices=int(s), return_predecessors=True)
        if not np.isfinite(dist[t]):
            return None
        nodes = [int(t)]
        while nodes[-1] != s:
            nodes.append(int(pred[nodes[-1]]))
        nodes = np.asarray(nodes[::-1], np.int64)
        keys = u.astype(np.int64) * n + v
        return a[np.searchsorted(keys, nodes[:-1] * n + nodes[1:])]

    def option(self, arcs: np.ndarray, arc_t: np.ndarray) -> RouteOption:
        """A :class:`RouteOption` from arc ids and the travel time of each arc (seconds)."""
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

    def routes(self, origin, dock: str, vehicle: Vehicle, at=None) -> list[RouteOption]:
        """The route menu from ``origin`` (lon, lat) to ``dock``: fastest legal route first.

        Raises
        ------
        NoRouteError
            No legal route; the message names the restrictions that block it.
        InputError
            Unknown dock, or a point far from every road.
        """
        net = self.network
        d = self.park.dock(dock)
        naive_at = at.astimezone(self.park.tz).replace(tzinfo=None) if isinstance(at, dt.datetime) else at
        vkey = vehicle.key()
        dkey = (d.id, vkey, R.condition_key(net, vehicle, naive_at))
        fast = (tuple(origin), dkey)  # gates repeat: skip snapping for a known origin
        if fast in self._menus:
            return self._menus[fast]
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
        t = self._dock_nodes[dkey]
        key = (int(s), dkey)
        if key in self._menus:
            return self._menus[key]
        try:
            first = self.router.route(origin, (d.lon, d.lat), vehicle, at=naive_at, explain=False)
        except NoRouteError as exc:
            if exc.blocking:
                raise
            first = self.router.route(origin, (d.lon, d.lat), vehicle, at=naive_at, explain=True)
        w, time_s = self._legal_graph(vehicle, naive_at)
        menu = _Menu([self.option(first.arcs, time_s[first.arcs])])
        src = int(net.node_depart[s])
        if len(first.arcs) and self.k_routes > 1:
            used = np.zeros(net.n_arcs)
            seg_of = net.arc_seg
            for _ in range(3 * self.k_routes):
                if len(menu) >= self.k_routes:
                    break
                last = menu[-1]
                on = np.isin(seg_of, last.segs)  # penalise the whole segment, both directions
                used[on] += 1.0
                arcs = self._shortest(w * (1.0 + self.penalty * used), src, t)
                if arcs is None:
                    break
                opt = self.option(arcs, time_s[arcs])
                if opt.time_s > (1.0 + self.max_detour) * menu[0].time_s:
                    break
                if any(_overlap(opt, m) > 0.9 for m in menu):
                    continue
                menu.append(opt)
        self._menus[key] = menu
        self._menus[fast] = menu
        return menu

    def _origin(self, req: TripRequest) -> tuple:
        if req.gate is not None:
            if req.gate not in self._gate_xy:
                raise InputError(f"unknown gate {req.gate!r}; the park has gates {', '.join(self._gate_xy)}")
            return self._gate_xy[req.gate]
        if req.origin is None:
            raise InputError("give a gate id or an origin (lon, lat) for the trip")
        try:
            lon, lat = (float(v) for v in req.origin)
        except (TypeError, ValueError):
            raise InputError(f"origin must be (lon, lat) in degrees, got {req.origin!r}") from None
        return lon, lat

    def candidates(self, req: TripRequest, now: dt.datetime | None = None):
        """All candidates of a trip: (menu, earliest datetime, arrays over routes x arrival slots).

        Returns a dict with ``over`` (segment-slots that would exceed capacity), ``cost`` (seconds),
        ``dock_slot``, ``wait`` (waiting area index or -1), ``slots`` (arrival slots) and ``seg_slots``
        (a list per route of an array segments x arrival slots).
        """
        park = self.park
        L = park.slot_s
        earliest = park.localize(req.earliest)
        if now is not None and earliest < now - dt.timedelta(minutes=1):
            raise InputError(f"earliest arrival {earliest.isoformat(timespec='minutes')} is in the past "
                             f"(now {now.astimezone(park.tz).isoformat(timespec='minutes')}); give a future time")
        d_index = self._dock_index.get(req.dock)
        if d_index is None:
            park.dock(req.dock)  # raises with the list of docks
        e = e0 = self.slot_of(earliest)
        if e - self.base_slot < 0:
            raise InputError(f"earliest arrival {earliest.isoformat(timespec='minutes')} is before the dispatch "
                             f"horizon starting {self.slot_start(self.base_slot).isoformat(timespec='minutes')}")
        menu = self.routes(self._origin(req), req.dock, req.vehicle, at=earliest)
        W, H = self.window_slots, self.max_wait_slots
        e_rel = e - self.base_slot
        self._grow(e_rel + W + H + 2 + self.horizon_slots)
        phase = earliest.timestamp() - e * L
        room = self.dock_load[d_index, e_rel:e_rel + self.horizon_slots] < self.dock_cap[d_index]
        if not room[:W].any():
            # the dock is booked up around the earliest time: start the window at its next free slot
            if not room.any():
                raise InputError(f"dock {req.dock} is fully booked for {self.horizon_slots} slots from "
                                 f"{earliest.isoformat(timespec='minutes')}; choose a later time or another dock")
            shift = int(np.argmax(room))
            e, e_rel = e + shift, e_rel + shift
            self._grow(e_rel + W + H + 2 + self.horizon_slots)
        slots = e + np.arange(W)
        fastest = menu[0].time_s
        large = req.vehicle.kind == "hgv"
        # dock slot for each arrival slot: the first slot >= a with room, within max_wait
        free = self.dock_load[d_index, e_rel:e_rel + W + H] < self.dock_cap[d_index]
        idx = np.where(free, np.arange(W + H), W + H + 10 ** 6)
        nxt = np.minimum.accumulate(idx[::-1])[::-1][:W]
        ok_dock = nxt - np.arange(W) <= H
        dock_slot = e + np.minimum(nxt, W + H)
        wait = np.full(W, -1, np.int64)
        need = ok_dock & (nxt > np.arange(W))
        if need.any():
            ok_wait = np.zeros(W, bool)
            for wi in self._wait_order[d_index]:
                full = self.wait_load[wi, e_rel:e_rel + W + H] >= self.wait_cap[wi]
                pre = np.r_[0, np.cumsum(full)]
                a_idx = np.flatnonzero(need & ~ok_wait)
                good = pre[nxt[a_idx]] - pre[a_idx] == 0
                wait[a_idx[good]] = wi
                ok_wait[a_idx[good]] = True
                if ok_wait[need].all():
                    break
            ok_dock &= ~need | ok_wait
        # a truck shifted by k slots arrives k slot lengths later (same phase within its slot)
        arrive = earliest.timestamp() + (slots - e0) * L
        delay = np.maximum(arrive, dock_slot * L) - earliest.timestamp()
        wait_s = np.maximum(dock_slot * L - arrive, 0.0)
        # all routes of the menu at once: one gather over (segments of all routes) x (arrival slots)
        rows, before, starts, sizes, times = _stacked(menu)
        ss = slots[None, :] + np.floor((phase - before) / L).astype(np.int64)[:, None]
        if large and len(rows):
            full = self.load[rows[:, None], np.maximum(ss - self.base_slot, 0)] >= self.cap[rows][:, None]
            over = np.add.reduceat(full, starts, axis=0).astype(np.int64)
            over[sizes == 0] = 0
        else:
            over = np.zeros((len(menu), W), np.int64)
        seg_slots = (ss, starts, sizes)
        cost = (delay + self.wait_weight * wait_s)[None, :] + (times - fastest)[:, None]
        cost[:, ~ok_dock] = np.inf
        return {"menu": menu, "earliest": earliest, "slots": slots, "over": over, "cost": cost,
                "dock_slot": dock_slot, "wait": wait, "seg_slots": seg_slots, "dock_index": d_index,
                "large": large, "ok_dock": ok_dock}

    def assign(self, req: TripRequest, now: dt.datetime | None = None, mode: str = "spread") -> Assignment:
        """Assign one trip and book its loads.

        Parameters
        ----------
        req : TripRequest
        now : datetime, optional
            Requests for earlier times are refused ("in the past").
        mode : {"spread", "fastest"}
            ``fastest``: the baseline, fastest route at the earliest slot whatever the load.

        Raises
        ------
        InputError
            Unknown dock or gate, malformed or past time, a point far from every road, or no dock
            slot within ``max_wait_slots`` of the window.
        NoRouteError
            No legal route for this truck (names the blocking restriction).
        """
        c = self.candidates(req, now)
        if mode == "fastest":
            j, i = 0, 0
            if not np.isfinite(c["cost"][0, 0]):
                c["cost"][0, 0] = 0.0
        else:
            score = c["over"] * BIG + c["cost"]
            if not np.isfinite(score).any():
                raise InputError(f"dock {req.dock} has no free slot (and no free waiting place) within "
                                 f"{self.window_slots + self.max_wait_slots} slots of "
                                 f"{c['earliest'].isoformat(timespec='minutes')}; choose a later time")
            j, i = np.unravel_index(int(np.argmin(score)), score.shape)
        return self._book(req, c, int(j), int(i))

    def _book(self, req, c, j: int, i: int) -> Assignment:
        opt = c["menu"][j]
        L = self.park.slot_s
        a = int(c["slots"][i])
        s = int(c["dock_slot"][i])
        if not c["ok_dock"][i]:
            s = a  # baseline only: dock overbooked
        wi = int(c["wait"][i]) if s > a else -1
        earliest = c["earliest"]
        arrival = earliest + dt.timedelta(seconds=(a - self.slot_of(earliest)) * L)
        dock_time = max(arrival, self.slot_start(s))
        ss_all, starts, sizes = c["seg_slots"]
        ss = ss_all[starts[j]:starts[j] + sizes[j], i].copy()
        result = Assignment(
            trip_id=req.trip_id, plate=req.plate, dock=req.dock, gate=req.gate, origin=self._origin(req), route=opt,
            route_rank=j, road_slot=a, dock_slot=s, waiting_area=self.park.waiting_areas[wi].id if wi >= 0 else None,
            seg_slots=ss, arrival=arrival, departure=arrival - dt.timedelta(seconds=opt.time_s), dock_time=dock_time,
            earliest=earliest, fastest_time_s=c["menu"][0].time_s, over_capacity=int(c["over"][j, i]),
            large=c["large"], _wait_index=wi, _dock_index=c["dock_index"])
        self.book(result)
        return result

    def book(self, a: Assignment, sign: int = 1) -> None:
        """Add (``sign=1``) or remove (``-1``) an assignment's loads (used when reloading a store)."""
        rel = a.seg_slots - self.base_slot
        top = max(int(rel.max()) if len(rel) else 0, a.dock_slot - self.base_slot) + 2
        self._grow(top)
        if a.large and len(rel):
            keep = rel >= 0  # road use before the horizon no longer matters
            np.add.at(self.load, (a.route.rows[keep], rel[keep]), sign)
        d = a._dock_index if a._dock_index >= 0 else self.dock_ids.index(a.dock)
        if a.dock_slot - self.base_slot >= 0:
            self.dock_load[d, a.dock_slot - self.base_slot] += sign
        if a.waiting_area is not None:
            wi = a._wait_index if a._wait_index >= 0 else [w.id for w in self.park.waiting_areas].index(a.waiting_area)
            lo, hi = max(a.road_slot - self.base_slot, 0), max(a.dock_slot - self.base_slot, 0)
            self.wait_load[wi, lo:hi] += sign
        self.n_assigned += sign

    def release(self, a: Assignment) -> None:
        """Free the loads of a cancelled or re-planned trip."""
        self.book(a, -1)

    def reoptimise(self, assignments: list, requests: list, passes: int = 3, only_over: bool = False,
                   eject: bool = True, rounds: int = 3) -> list:
        """Batch re-optimisation: take each trip out and re-assign it given all the others; then
        *ejection* moves (see :meth:`eject`), and again, until nothing changes.

        A trip's previous choice is always still available and an ejection is applied only when it
        lowers the total, so the objective (over-capacity first, then delay + detour) never gets worse.
        """
        out = list(assignments)
        for _ in range(rounds):
            out = self._one_opt(out, requests, passes, only_over)
            if not eject:
                break
            out, moved = self.eject(out, requests)
            if not moved:
                break
        return out

    def _one_opt(self, out: list, requests: list, passes: int, only_over: bool) -> list:
        for _ in range(passes):
            changed = 0
            for n, (a, req) in enumerate(zip(out, requests)):
                if only_over and not self.over_capacity_of(a):
                    continue
                self.release(a)
                c = self.candidates(req)
                score = c["over"] * BIG + c["cost"]
                j, i = np.unravel_index(int(np.argmin(score)), score.shape)
                if (int(j), int(c["slots"][i])) != (a.route_rank, a.road_slot) and score[j, i] < _score_of(a, c):
                    out[n] = self._book(req, c, int(j), int(i))
                    changed += 1
                else:
                    self.book(a)
            if not changed:
                break
        return out

    def eject(self, assignments: list, requests: list, max_blocked: int = 8, max_blockers: int = 6,
              tries: int = 3) -> tuple[list, int]:
        """Ejection moves: a delayed or detoured trip T takes a cheaper candidate that is blocked only by
        segment-slots all used by one other trip U, when U can move to a within-capacity choice for
        less than T saves.  Most costly trips first.  Returns (assignments, moves made).
        """
        out = list(assignments)
        index: dict = {}

        def track(n, a, add):
            if not a.large:
                return
            for key in zip(a.route.rows.tolist(), a.seg_slots.tolist()):
                if add:
                    index.setdefault(key, set()).add(n)
                else:
                    index[key].discard(n)

        for n, a in enumerate(out):
            track(n, a, True)
        moved = 0
        for n in sorted(range(len(out)), key=lambda k: -(out[k].delay_s + out[k].detour_s)):
            a = out[n]
            if a.delay_s + a.detour_s <= 0 or not a.large:
                continue
            self.release(a)
            track(n, a, False)
            c = self.candidates(requests[n])
            current = _score_of(a, c)
            ok = (c["over"] >= 1) & (c["over"] <= max_blocked) & (c["cost"] < current - 1.0)
            options = sorted(zip(c["cost"][ok], *np.nonzero(ok)))[:tries]
            done = False
            ss_all, starts, sizes = c["seg_slots"]
            for cost, j, i in options:
                rows = c["menu"][j].rows
                ss = ss_all[starts[j]:starts[j] + sizes[j], i]
                full = self.load[rows, ss - self.base_slot] >= self.cap[rows]
                blocked = list(zip(rows[full].tolist(), ss[full].tolist()))
                common = set.intersection(*[index.get(b, set()) for b in blocked]) if blocked else set()
                for u in sorted(common)[:max_blockers]:
                    ua = out[u]
                    new_t = self._book(requests[n], c, int(j), int(i))
                    self.release(ua)
                    cu = self.candidates(requests[u])
                    score = cu["over"] * BIG + cu["cost"]
                    ju, iu = np.unravel_index(int(np.argmin(score)), score.shape)
                    gain = (current - cost) - (cu["cost"][ju, iu] - (ua.delay_s + ua.detour_s))
                    if cu["over"][ju, iu] == 0 and gain > 1.0:
                        track(u, ua, False)
                        out[u] = self._book(requests[u], cu, int(ju), int(iu))
                        track(u, out[u], True)
                        out[n] = new_t
                        track(n, new_t, True)
                        moved += 1
                        done = True
                        break
                    self.book(ua)
                    self.release(new_t)
                if done:
                    break
            if not done:
                self.book(a)
                track(n, a, True)
        return out, moved

    def over_capacity_of(self, a: Assignment) -> int:
        """Segment-slots of this trip whose load is above capacity now."""
        if not a.large or not len(a.route.segs):
            return 0
        rel = a.seg_slots - self.base_slot
        return int((self.load[a.route.rows, rel] > self.cap[a.route.rows]).sum())

    # ------------------------------------------------------------------ reporting
    def load_table(self):
        """Every loaded segment-slot: segment, OSM way, slot start, load, capacity (DataFrame)."""
        import pandas as pd

        row, rel = np.nonzero(self.load)
        seg = self.row_seg[row]
        net = self.network
        return pd.DataFrame({"segment": seg, "osmid": net.way_osmid[net.seg_way[seg]],
                             "name": net.ways["name"].to_numpy(object)[net.seg_way[seg]],
                             "slot": rel + self.base_slot,
                             "slot_start": [self.slot_start(int(s)).isoformat(timespec="minutes")
                                            for s in rel + self.base_slot],
                             "load": self.load[row, rel], "capacity": self.cap[row]})

    def load_stats(self) -> dict:
        """Occupied and over-capacity segment-slots."""
        load = self.load[:len(self.cap)]
        used = load > 0
        over = load > self.cap[:, None]
        excess = np.maximum(load - self.cap[:, None], 0)
        return {"segment_slots_used": int(used.sum()), "segment_slots_over": int(over.sum()),
                "over_share": float(over.sum() / max(used.sum(), 1)), "excess_trucks": int(excess.sum()),
                "max_load_ratio": float((load / self.cap[:, None]).max()) if load.size else 0.0}


class _Menu(list):
    """The routes of one gate-dock-vehicle pair, with their arrays stacked once for the load check."""

    _stack = None


def _stacked(menu: list) -> tuple:
    """Rows, seconds-before-arrival, start offsets and route times of all routes of a menu (cached)."""
    cached = getattr(menu, "_stack", None)
    if cached is not None:
        return cached
    rows = np.concatenate([o.rows for o in menu]) if menu else np.zeros(0, np.int64)
    before = np.concatenate([o.before_s for o in menu]) if menu else np.zeros(0)
    sizes = np.array([len(o.rows) for o in menu], np.int64)
    starts = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
    out = (rows, before, starts, sizes, np.array([o.time_s for o in menu]))
    if isinstance(menu, _Menu):
        menu._stack = out
    return out


def _score_of(a: Assignment, c: dict) -> float:
    i = int(np.searchsorted(c["slots"], a.road_slot))
    if i >= len(c["slots"]) or c["slots"][i] != a.road_slot or a.route_rank >= len(c["menu"]):
        return math.inf
    return float(c["over"][a.route_rank, i] * BIG + c["cost"][a.route_rank, i])


def _overlap(a: RouteOption, b: RouteOption) -> float:
    inter = np.intersect1d(a.segs, b.segs)
    if not len(inter):
        return 0.0
    la = np.isin(a.segs, inter)
    return float(la.sum() / max(len(a.segs), 1))
