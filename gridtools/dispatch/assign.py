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

Where things are: the records (:class:`TripRequest`, :class:`RouteOption`, :class:`Assignment`)
in :mod:`gridtools.dispatch.trips`; slot horizon and capacity bookkeeping
(:class:`~gridtools.dispatch.loads.SlotLoads`, which :class:`Dispatcher` extends) in
:mod:`gridtools.dispatch.loads`; route menus in :mod:`gridtools.dispatch.menus`; candidates,
the greedy assignment and the re-optimisation here.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings

import numpy as np

from gridtools.dispatch import hours as dock_hours
from gridtools.dispatch.loads import SlotLoads
from gridtools.dispatch.menus import Menu, RouteMenus
from gridtools.dispatch.park import Park
from gridtools.dispatch.trips import Assignment, RouteOption, TripRequest
from gridtools.errors import GridtoolsError, InputError, InputWarning
from gridtools.routing import Router, Vehicle

__all__ = ["Assignment", "Dispatcher", "RouteOption", "TripRequest"]  # the records live in dispatch.trips

#: Score of one over-capacity segment-slot: any overload outweighs any delay or detour (seconds).
BIG = 10 ** 9


def _menu_setting(name: str) -> property:
    """A Dispatcher attribute kept on its route menus (so that changing it changes new menus)."""
    return property(lambda self: getattr(self.menus, name), lambda self, value: setattr(self.menus, name, value),
                    doc=f"``{name}`` of the route menus (see :class:`~gridtools.dispatch.menus.RouteMenus`).")


class Dispatcher(SlotLoads):
    """Assign trips of a park to routes, arrival slots, dock slots and waiting areas.

    The loads it keeps in numpy arrays (:class:`~gridtools.dispatch.loads.SlotLoads`, which it
    extends) are an index over the assignments it made (or was given with :meth:`book`); the trips
    themselves live in a :class:`gridtools.dispatch.TripStore`.  Route menus come from
    :class:`~gridtools.dispatch.menus.RouteMenus` (``self.menus``).

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

    k_routes = _menu_setting("k_routes")
    max_detour = _menu_setting("max_detour")
    penalty = _menu_setting("penalty")

    def __init__(self, network, park: Park, router: Router | None = None, *, k_routes: int | None = None,
                 window_slots: int | None = None, max_detour: float | None = None, penalty: float | None = None,
                 wait_weight: float | None = None, max_wait_slots: int | None = None, base_time=None,
                 horizon_slots: int | None = None):
        from gridtools import settings

        self.router = router or Router(network)
        super().__init__(network, park, base_time=base_time, horizon_slots=horizon_slots)
        self.menus = RouteMenus(
            network, park, self.router, self.rows_for, k_routes=k_routes or settings.dispatch_k_routes,
            max_detour=settings.dispatch_max_detour if max_detour is None else max_detour,
            penalty=settings.dispatch_penalty if penalty is None else penalty)
        self.window_slots = window_slots or settings.dispatch_window_slots
        self.wait_weight = settings.dispatch_wait_weight if wait_weight is None else wait_weight
        self.max_wait_slots = settings.dispatch_max_wait_slots if max_wait_slots is None else max_wait_slots
        self._gate_xy = {g.id: (g.lon, g.lat) for g in park.gates}
        for message in self.unreachable_gates():
            warnings.warn(InputWarning(message), stacklevel=2)

    def unreachable_gates(self) -> list[str]:
        """One message per gate from which no dock can be reached by any vehicle (checked at load).

        A gate on a road cut off from the docks (a one-way loop, a missing link in the extract)
        would refuse every trip that enters by it; saying so when the park is loaded points at
        the park file or the network instead of at the trips.

        Examples
        --------
        >>> Dispatcher(net, park).unreachable_gates()       # doctest: +SKIP
        ["park.yaml: gate 'G2' (121.4800, 31.2200) reaches no dock: ..."]
        """
        messages = []
        for gate in self.park.gates:
            reason = "the park has no docks"
            for dock in self.park.docks:
                try:
                    # the router, not the menus: a check must not build or cache a car's menus
                    self.menus.router.route((gate.lon, gate.lat), (dock.lon, dock.lat), Vehicle())
                    break
                except GridtoolsError as exc:
                    reason = str(exc)
            else:
                messages.append(f"gate {gate.id!r} ({gate.lon:.5f}, {gate.lat:.5f}) reaches no dock by road "
                                f"({reason}); trips entering by it will be refused: move the gate onto a road "
                                "that leads into the park, or fix the network")
        return messages

    # ------------------------------------------------------------------ routes
    def option(self, arcs: np.ndarray, arc_t: np.ndarray) -> RouteOption:
        """A :class:`RouteOption` from arc ids and the travel time of each arc (seconds)."""
        return self.menus.option(arcs, arc_t)

    def routes(self, origin, dock: str, vehicle: Vehicle, at=None) -> Menu:
        """The route menu from ``origin`` (lon, lat) to ``dock``: fastest legal route first.

        See :meth:`gridtools.dispatch.menus.RouteMenus.routes`.

        Raises
        ------
        NoRouteError
            No legal route; the message names the restrictions that block it.
        InputError
            Unknown dock, or a point far from every road.
        """
        return self.menus.routes(origin, dock, vehicle, at=at)

    # ------------------------------------------------------------------ assignment
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
        d_index = self.dock_position.get(req.dock)
        if d_index is None:
            park.dock(req.dock)  # raises with the list of docks
        e = e0 = self.slot_of(earliest)
        if e - self.base_slot < 0:
            raise InputError(f"earliest arrival {earliest.isoformat(timespec='minutes')} is before the dispatch "
                             f"horizon starting {self.slot_start(self.base_slot).isoformat(timespec='minutes')}")
        requested, service_s = earliest, park.service_s(req.cargo_type)
        earliest, note = self._opening(req, earliest, service_s)
        if earliest != requested:
            e = e0 = self.slot_of(earliest)
        menu = self.routes(self._origin(req), req.dock, req.vehicle, at=earliest)
        W, H = self.window_slots, self.max_wait_slots
        e_rel = e - self.base_slot
        self.grow(e_rel + W + H + 2 + self.horizon_slots)
        phase = earliest.timestamp() - e * L
        room = self.dock_load[d_index, e_rel:e_rel + self.horizon_slots] < self.dock_cap[d_index]
        if not room[:W].any():
            # the dock is booked up around the earliest time: start the window at its next free slot
            if not room.any():
                raise InputError(f"dock {req.dock} is fully booked for {self.horizon_slots} slots from "
                                 f"{earliest.isoformat(timespec='minutes')}; choose a later time or another dock")
            shift = int(np.argmax(room))
            e, e_rel = e + shift, e_rel + shift
            self.grow(e_rel + W + H + 2 + self.horizon_slots)
        slots = e + np.arange(W)
        fastest = menu[0].time_s
        large = req.vehicle.kind == "hgv"
        ok_dock, dock_slot, wait = self._dock_slots(d_index, e, e_rel)
        # a truck shifted by k slots arrives k slot lengths later (same phase within its slot)
        arrive = earliest.timestamp() + (slots - e0) * L
        served = np.maximum(arrive, dock_slot * L)  # when the dock takes the truck
        delay = served - earliest.timestamp()
        wait_s = np.maximum(dock_slot * L - arrive, 0.0)
        over, seg_slots = self._road_overloads(menu, slots, phase, large)
        route_times = menu.stacked()[4]
        cost = (delay + self.wait_weight * wait_s)[None, :] + (route_times - fastest)[:, None]
        hours = park.docks[d_index].hours
        if not dock_hours.always_open(hours):  # the whole service inside one opening window
            ok_dock = ok_dock & np.array([dock_hours.fits(hours, dt.datetime.fromtimestamp(t, park.tz), service_s)
                                          for t in served])  # window_slots candidates (6)
        cost[:, ~ok_dock] = np.inf
        return {"menu": menu, "earliest": earliest, "slots": slots, "over": over, "cost": cost,
                "dock_slot": dock_slot, "wait": wait, "seg_slots": seg_slots, "dock_index": d_index,
                "large": large, "ok_dock": ok_dock, "requested": requested, "service_s": service_s, "note": note}

    def _opening(self, req: TripRequest, earliest: dt.datetime, service_s: float) -> tuple[dt.datetime, str]:
        """The earliest time the trip's dock can serve it (its opening hours), and why it moved.

        Raises
        ------
        InputError
            The dock is closed then and the park's (or dock's) rule is ``outside_hours: refuse``,
            or it opens for this service at no time within 8 days.
        """
        park = self.park
        dock = park.dock(req.dock)
        if dock_hours.fits(dock.hours, earliest, service_s):
            return earliest, ""
        need = f" for a {service_s / 60:.0f}-minute service" if service_s else ""
        closed = (f"dock {dock.id} is closed at {earliest:%Y-%m-%d %H:%M}{need} (open {dock_hours.describe(dock.hours)}, "
                  f"{park.timezone})")
        if park.outside_rule(dock.id) == "refuse":
            raise InputError(f"{closed}; this park refuses trips outside the dock's hours (outside_hours: refuse): "
                             "choose an arrival inside them")
        opening = dock_hours.next_opening(dock.hours, earliest, service_s)
        if opening is None:
            raise InputError(f"{closed} and has no opening within 8 days long enough for it")
        return opening, f"{closed}: booked at its opening, {opening:%Y-%m-%d %H:%M}"

    def _dock_slots(self, d_index: int, e: int, e_rel: int) -> tuple:
        """Per arrival slot of the window: dock reachable in time, dock slot, waiting area (-1: none).

        The dock slot of arrival slot ``a`` is the first slot >= ``a`` with room, within
        ``max_wait_slots``; waiting over ``a .. dock slot - 1`` needs a waiting area (nearest first)
        with room in every one of those slots.
        """
        W, H = self.window_slots, self.max_wait_slots
        free = self.dock_load[d_index, e_rel:e_rel + W + H] < self.dock_cap[d_index]
        idx = np.where(free, np.arange(W + H), W + H + 10 ** 6)
        nxt = np.minimum.accumulate(idx[::-1])[::-1][:W]
        ok_dock = nxt - np.arange(W) <= H
        dock_slot = e + np.minimum(nxt, W + H)
        wait = np.full(W, -1, np.int64)
        need = ok_dock & (nxt > np.arange(W))
        if need.any():
            ok_wait = np.zeros(W, bool)
            for wi in self.wait_order[d_index]:
                full = self.wait_load[wi, e_rel:e_rel + W + H] >= self.wait_cap[wi]
                pre = np.r_[0, np.cumsum(full)]
                a_idx = np.flatnonzero(need & ~ok_wait)
                good = pre[nxt[a_idx]] - pre[a_idx] == 0
                wait[a_idx[good]] = wi
                ok_wait[a_idx[good]] = True
                if ok_wait[need].all():
                    break
            ok_dock &= ~need | ok_wait
        return ok_dock, dock_slot, wait

    def _road_overloads(self, menu: Menu, slots: np.ndarray, phase: float, large: bool) -> tuple:
        """Full segment-slots per (route, arrival slot), and the slot of every route segment per arrival slot."""
        L = self.park.slot_s
        # all routes of the menu at once: one gather over (segments of all routes) x (arrival slots)
        rows, before, starts, sizes, _ = menu.stacked()
        ss = slots[None, :] + np.floor((phase - before) / L).astype(np.int64)[:, None]
        if large and len(rows):
            full = self.load[rows[:, None], np.maximum(ss - self.base_slot, 0)] >= self.cap[rows][:, None]
            over = np.add.reduceat(full, starts, axis=0).astype(np.int64)
            over[sizes == 0] = 0
        else:
            over = np.zeros((len(menu), len(slots)), np.int64)
        return over, (ss, starts, sizes)

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
            if not np.isfinite(score).any() and not c["ok_dock"].any() and \
                    not dock_hours.always_open(self.park.dock(req.dock).hours):
                raise InputError(f"dock {req.dock} has no slot inside its opening hours "
                                 f"({dock_hours.describe(self.park.dock(req.dock).hours)}) within "
                                 f"{self.window_slots + self.max_wait_slots} slots of "
                                 f"{c['earliest'].isoformat(timespec='minutes')}; choose another time")
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
        earliest = c["earliest"]  # the dock's opening when the trip was moved to it
        arrival = earliest + dt.timedelta(seconds=(a - self.slot_of(earliest)) * L)
        dock_time = max(arrival, self.slot_start(s))
        ss_all, starts, sizes = c["seg_slots"]
        ss = ss_all[starts[j]:starts[j] + sizes[j], i].copy()
        result = Assignment(
            trip_id=req.trip_id, plate=req.plate, dock=req.dock, gate=req.gate, origin=self._origin(req), route=opt,
            route_rank=j, road_slot=a, dock_slot=s, waiting_area=self.park.waiting_areas[wi].id if wi >= 0 else None,
            seg_slots=ss, arrival=arrival, departure=arrival - dt.timedelta(seconds=opt.time_s), dock_time=dock_time,
            earliest=c.get("requested", earliest), fastest_time_s=c["menu"][0].time_s,
            over_capacity=int(c["over"][j, i]), large=c["large"], wait_index=wi, dock_index=c["dock_index"],
            service_s=c.get("service_s", 0.0), note=c.get("note", ""))
        self.book(result)
        return result

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
                full = self.load[rows, np.maximum(ss - self.base_slot, 0)] >= self.cap[rows]
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


def _score_of(a: Assignment, c: dict) -> float:
    i = int(np.searchsorted(c["slots"], a.road_slot))
    if i >= len(c["slots"]) or c["slots"][i] != a.road_slot or a.route_rank >= len(c["menu"]):
        return math.inf
    return float(c["over"][a.route_rank, i] * BIG + c["cost"][a.route_rank, i])
