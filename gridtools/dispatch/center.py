"""The dispatch centre: a :class:`Dispatcher` over a :class:`TripStore`, with access rules.

Everything the HTTP service does goes through here, so the Python API and the service behave the
same.  Each change (a new trip, a cancellation, an update) runs under the store's write lock:
assign in memory, write the row, commit, and only then return; if the write fails the in-memory
loads are rolled back.  On start the loads are rebuilt from the active trips in the store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import numpy as np

from gridtools import identifiers
from gridtools.dispatch.assign import Assignment, Dispatcher, TripRequest
from gridtools.dispatch.board import Board, RouteLines, build_board
from gridtools.dispatch.park import Park
from gridtools.dispatch.store import ACTIVE, TripStore
from gridtools.dispatch.tracking import record_positions
from gridtools.errors import GridtoolsError, InputError
from gridtools.routing import Vehicle, truck, vehicle_from_options


class NotFoundError(GridtoolsError, LookupError):
    """No such trip or truck (or not one the caller may see)."""


class ForbiddenError(GridtoolsError, PermissionError):
    """The caller's token does not allow this."""


class ConflictError(GridtoolsError):
    """The request conflicts with the trip's state (e.g. cancelling a departed trip)."""


def request_fingerprint(plate, dock, earliest, gate, origin, cargo, cargo_type=None) -> str:
    """A hash of what a trip request asked for: a retried key must come with the same request.

    Examples
    --------
    >>> request_fingerprint("A1", "D", "2026-11-24T08:00", "G", None, "") == request_fingerprint(
    ...     "A1", "D", "2026-11-24T08:00", "G", None, "")
    True
    """
    parts = [str(plate), str(dock), str(earliest), gate, list(origin) if origin is not None else None, cargo or ""]
    if cargo_type:  # absent: the same hash as before cargo types existed (stored keys stay valid)
        parts.append(str(cargo_type))
    text = json.dumps(parts, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def vehicle_of(truck_row: dict) -> Vehicle:
    """The routing profile of a registered truck."""
    return vehicle_from_options(weight_t=truck_row["weight_t"], height_m=truck_row["height_m"],
                                width_m=truck_row["width_m"], length_m=truck_row["length_m"],
                                axle_load_t=truck_row.get("axle_load_t") or None)


class DispatchCenter:
    """Trips of one park, assigned by a :class:`Dispatcher` and kept in a :class:`TripStore`.

    Parameters
    ----------
    network : RoadNetwork
    park : Park
    store : TripStore
    clock : callable, optional
        Returns the current aware datetime (tests pass a fixed one).
    **options
        Passed to :class:`Dispatcher` (``k_routes``, ``window_slots``...).

    Examples
    --------
    >>> center = DispatchCenter(network, park, TripStore("dispatch.db"))      # doctest: +SKIP
    >>> user = center.store.authenticate(token)                                # doctest: +SKIP
    >>> center.register_truck(user, {"plate": "沪A1", "weight_t": 40, ...})     # doctest: +SKIP
    >>> center.request_trip(user, plate="沪A1", dock="D1", gate="G1", earliest="2026-11-24 08:00")  # doctest: +SKIP
    """

    def __init__(self, network, park: Park, store: TripStore, router=None, clock=None, **options):
        self.park = park
        self.store = store
        self.clock = clock or (lambda: dt.datetime.now(park.tz))
        self.dispatcher = Dispatcher(network, park, router=router, base_time=self.clock(), **options)
        self.lock = store.write_lock
        self._frames: dict = {}  # route frames by (trip id, updated)
        #: One line per trip for the dispatcher's board (cached by trip version).
        self.lines = RouteLines(network)
        self.restored = 0
        # trips that left the dock before the horizon (a day of margin) no longer load anything
        since = self.dispatcher.slot_start(self.dispatcher.base_slot) - dt.timedelta(days=1)
        #: Stored trips that could not be put back on the horizon (the clock went back), with why.
        self.not_restored: list[tuple[str, str]] = []
        for row in store.active_trips(since=since.isoformat()):
            try:
                self.dispatcher.book(self._assignment(row))
            except InputError as exc:  # a start must not fail on one trip; the dispatcher sees the list
                self.not_restored.append((row["id"], str(exc)))
                continue
            self.restored += 1

    def warm(self, vehicles=None, at=None, progress=None) -> int:
        """Build the route menus of every gate-dock pair for ``vehicles`` (default: a 40 t truck and
        every registered truck profile) now, so the first requests do not pay for them.  Returns the
        number of menus built."""
        if vehicles is None:  # the default truck and every distinct registered profile
            profiles = {(t["weight_t"], t["height_m"], t["width_m"], t["length_m"], t["axle_load_t"] or 0.0)
                        for t in self.store.trucks()}
            vehicles = [truck()] + [vehicle_of(dict(zip(("weight_t", "height_m", "width_m", "length_m",
                                                         "axle_load_t"), p))) for p in sorted(profiles)]
            # one menu per bucket of profiles the network cannot tell apart, not one per truck
            buckets = self.dispatcher.menus.profiles
            vehicles = list({buckets.key(v): v for v in vehicles}.values())
        pairs = [(g, d, v) for g in self.park.gates for d in self.park.docks for v in vehicles]
        when = at or self.clock()
        done = 0
        for n, (g, d, v) in enumerate(pairs):
            try:
                self.dispatcher.routes((g.lon, g.lat), d.id, v, at=when)
                done += 1
            except GridtoolsError:  # a pair with no legal route is reported when a trip asks for it
                pass
            if progress:
                progress("route menus", n + 1, len(pairs))
        return done

    @property
    def network(self):
        return self.dispatcher.network

    # ------------------------------------------------------------------ helpers
    def _assignment(self, row: dict) -> Assignment:
        d = self.dispatcher
        arcs = np.frombuffer(row["arcs"], np.int64)
        opt = d.option(arcs, np.frombuffer(row["arc_time_s"], np.float64))
        tz = self.park.tz
        return Assignment(
            trip_id=row["id"], plate=row["plate"], dock=row["dock"], gate=row["gate"],
            origin=(row["origin_lon"], row["origin_lat"]), route=opt, route_rank=row["route_rank"],
            road_slot=row["road_slot"], dock_slot=row["dock_slot"], waiting_area=row["waiting_area"],
            seg_slots=np.frombuffer(row["seg_slots"], np.int64).copy(),
            arrival=dt.datetime.fromisoformat(row["arrival"]).astimezone(tz),
            departure=dt.datetime.fromisoformat(row["departure"]).astimezone(tz),
            dock_time=dt.datetime.fromisoformat(row["dock_time"]).astimezone(tz),
            earliest=dt.datetime.fromisoformat(row["earliest"]).astimezone(tz),
            fastest_time_s=row["fastest_time_s"], over_capacity=row["over_capacity"], large=bool(row["large"]),
            service_s=float(row.get("service_s") or 0.0), note=row.get("note") or "")

    def _visible(self, user: dict, trip_id: str, con=None) -> dict:
        row = self.store.trip(trip_id, con)
        if row is None or (user["role"] != "dispatcher" and row["owner"] != user["id"]):
            raise NotFoundError(f"no trip {trip_id!r}" + ("" if user["role"] == "dispatcher" else " among your trips"))
        return row

    def public(self, row: dict, times: bool = False) -> dict:
        """The JSON view of a trip row."""
        out = {k: row[k] for k in ("id", "plate", "status", "cargo", "gate", "dock", "earliest", "arrival",
                                   "dock_time", "departure", "waiting_area", "arrived_at", "departed_at")}
        out["origin"] = [row["origin_lon"], row["origin_lat"]]
        out["road_slot_start"] = self.dispatcher.slot_start(row["road_slot"]).isoformat()
        out["dock_slot_start"] = self.dispatcher.slot_start(row["dock_slot"]).isoformat()
        out["route"] = {"rank": row["route_rank"], "length_m": round(row["length_m"], 1),
                        "time_s": round(row["time_s"], 1), "detour_s": round(row["time_s"] - row["fastest_time_s"], 1),
                        "osmids": [int(v) for v in row["osmids"].split(",") if v]}
        delay = (dt.datetime.fromisoformat(row["dock_time"]) - dt.datetime.fromisoformat(row["earliest"]))
        out["delay_s"] = max(0.0, round(delay.total_seconds(), 1))
        out["over_capacity"] = row["over_capacity"]
        service = float(row.get("service_s") or 0.0)
        out.update(cargo_type=row.get("cargo_type"), service_s=service, note=row.get("note") or "",
                   dock_done=(dt.datetime.fromisoformat(row["dock_time"]) + dt.timedelta(seconds=service)).isoformat())
        if times and "arcs" in row:
            out["times"] = self._assignment(row).times_along(self.network)
        return out

    # ------------------------------------------------------------------ trucks
    def register_truck(self, user: dict, truck_info: dict) -> dict:
        """Register (or update) a truck for the calling account.

        Raises
        ------
        InputError
            Not a plate (:func:`gridtools.identifiers.plate`), a dimension of 0 or less (it would pass
            every limit), or more than ``settings.dispatch_max_trucks_per_account`` trucks.
        """
        from gridtools import settings

        plate = identifiers.plate(truck_info.get("plate"))
        dims = {k: truck_info.get(k) for k in ("weight_t", "height_m", "width_m", "length_m", "axle_load_t")}
        default = truck()
        for k in ("weight_t", "height_m", "width_m", "length_m"):
            dims[k] = getattr(default, k) if dims[k] is None else float(dims[k])
            if not dims[k] > 0:
                raise InputError(f"truck {k} must be above 0 (a 0 would pass every limit), got {dims[k]:g}")
        vehicle_of(dims)  # validates the numbers
        known = self.store.truck(plate)
        cap = settings.dispatch_max_trucks_per_account
        if known is None and user["role"] != "dispatcher" and self.store.truck_count(user["id"]) >= cap:
            raise InputError(f"this account has {cap} trucks registered, the most allowed "
                             f"(settings.dispatch_max_trucks_per_account); ask a dispatcher")
        try:
            return self.store.upsert_truck(user["id"], plate, dims)
        except PermissionError as exc:
            raise ForbiddenError(str(exc)) from None

    def trucks(self, user: dict) -> list[dict]:
        return self.store.trucks(None if user["role"] == "dispatcher" else user["id"])

    # ------------------------------------------------------------------ trips
    def _request(self, user: dict, plate: str, dock: str, earliest, gate=None, origin=None, cargo: str = "",
                 trip_id=None, cargo_type: str | None = None) -> TripRequest:
        from gridtools import settings

        plate = identifiers.plate(plate)
        row = self.store.truck(plate)
        if row is None or (user["role"] != "dispatcher" and row["owner"] != user["id"]):
            raise NotFoundError(f"truck {plate!r} is not registered" +
                                ("" if user["role"] == "dispatcher" else " under your account") +
                                "; register it first (POST /trucks)")
        if gate is None and origin is None:
            raise InputError("give a gate id or an origin [lon, lat] for the trip")
        if gate is not None and origin is not None:
            raise InputError("give a gate id or an origin [lon, lat] for the trip, not both")
        if len(cargo or "") > settings.dispatch_max_cargo_chars:
            raise InputError(f"cargo is {len(cargo)} characters; at most {settings.dispatch_max_cargo_chars}")
        self.park.dock(dock)
        if gate is not None:
            self.park.gate(gate)
        # in park local time: stored times are ISO text compared as text (the board, the overlap check)
        when = self.park.localize(earliest).astimezone(self.park.tz)
        return TripRequest(plate=plate, dock=str(dock), earliest=when, vehicle=vehicle_of(row),
                           gate=gate, origin=tuple(origin) if origin is not None else None, cargo=cargo or "",
                           trip_id=trip_id, cargo_type=cargo_type or None)

    def request_trip(self, user: dict, plate: str, dock: str, earliest, gate=None, origin=None, cargo: str = "",
                     request_key: str | None = None, cargo_type: str | None = None) -> tuple[dict, bool]:
        """Assign and store a trip.  Returns (trip, created); a repeated ``request_key`` returns the
        trip stored the first time with ``created=False`` (safe client retries).

        Raises
        ------
        InputError, NoRouteError, NotFoundError
        """
        fingerprint = request_fingerprint(plate, dock, earliest, gate, origin, cargo, cargo_type)
        # keys are per account: another account cannot squat (or read) a predictable key
        key = f"{user['id']}:{request_key}" if request_key else None
        with self.store.transaction() as con:
            if key:
                old = self.store.trip_by_key(key, con)
                if old is not None:
                    if old.get("request_hash") not in (None, fingerprint):
                        raise ConflictError(f"Idempotency-Key {request_key!r} was used for a different request "
                                            f"(trip {old['id']}); use a new key for a new trip")
                    return self.public(old), False
            trip_id = TripStore.new_trip_id()
            req = self._request(user, plate, dock, earliest, gate, origin, cargo, trip_id, cargo_type)
            # a trip booked on a driver's truck belongs to the truck's owner (a dispatcher booking
            # for a driver): the driver sees it and reports its arrival
            owner = self.store.truck(req.plate)["owner"]
            now = self.clock()
            self.dispatcher.roll(now)  # the horizon follows the clock: months of uptime book as day 1
            a = self.dispatcher.assign(req, now=now)
            try:
                self._check_truck_free(con, req.plate, a)
                self.store.insert_trip(con, TripStore.trip_values(trip_id, owner, key, req, a, fingerprint))
            except BaseException:
                self.dispatcher.release(a)
                raise
        # the transaction has committed here; a failed commit raised before this line
        row = self.store.trip(trip_id)
        out = self.public(row)
        out["times"] = a.times_along(self.network)
        return out, True

    def _check_truck_free(self, con, plate: str, a: Assignment, skip: str | None = None) -> None:
        """Refuse a trip that overlaps another active trip of the same truck (from leaving its
        origin to one slot after its dock time), or one over the truck's quota."""
        from gridtools import settings

        since = self.dispatcher.slot_start(self.dispatcher.base_slot).isoformat()  # the horizon's start
        others = [t for t in self.store.trips_of_truck(plate, since, con) if t["id"] != skip]
        if len(others) >= settings.dispatch_max_active_trips_per_truck:
            raise ConflictError(f"truck {plate} has {len(others)} active trips, the most allowed "
                                f"(settings.dispatch_max_active_trips_per_truck); cancel or finish one first")
        pad = dt.timedelta(seconds=self.park.slot_s)
        for t in others:
            start, end = dt.datetime.fromisoformat(t["departure"]), dt.datetime.fromisoformat(t["dock_time"]) + pad
            if a.departure < end and start < a.dock_time + pad:
                raise ConflictError(f"truck {plate} is already on trip {t['id']} from "
                                    f"{start.isoformat(timespec='minutes')} to {end.isoformat(timespec='minutes')}; "
                                    f"a truck cannot make two trips at once: choose another time or truck")

    def _rollback_guard(self, released: Assignment | None, booked: Assignment | None):
        class _Guard:
            def __enter__(s):
                return s

            def __exit__(s, kind, exc, tb):
                if kind is not None:
                    if booked is not None:
                        self.dispatcher.release(booked)
                    if released is not None:
                        self.dispatcher.book(released)
                return False

        return _Guard()

    def cancel_trip(self, user: dict, trip_id: str) -> dict:
        with self.store.transaction() as con:
            row = self._visible(user, trip_id, con)
            if row["status"] not in ("assigned",):
                raise ConflictError(f"trip {trip_id} is {row['status']}; only an assigned trip can be cancelled")
            a = self._assignment(row)
            self.dispatcher.release(a)
            with self._rollback_guard(a, None):
                self.store.set_status(con, trip_id, "cancelled")
        return self.public(self.store.trip(trip_id))

    def update_trip(self, user: dict, trip_id: str, earliest=None, dock=None, gate=None, origin=None,
                    cargo=None, cargo_type=None) -> dict:
        """Re-plan a trip with a new earliest time, dock, gate or origin (its load is re-booked)."""
        with self.store.transaction() as con:
            row = self._visible(user, trip_id, con)
            if row["status"] != "assigned":
                raise ConflictError(f"trip {trip_id} is {row['status']}; only an assigned trip can be changed")
            old = self._assignment(row)
            use_origin = origin if origin is not None else (None if (gate or row["gate"]) else
                                                            (row["origin_lon"], row["origin_lat"]))
            owner = {"id": row["owner"], "role": "driver"} if user["role"] != "dispatcher" else user
            req = self._request(owner, row["plate"], dock or row["dock"], earliest or row["earliest"],
                                gate=None if origin is not None else (gate or row["gate"]), origin=use_origin,
                                cargo=row["cargo"] if cargo is None else cargo, trip_id=trip_id,
                                cargo_type=row.get("cargo_type") if cargo_type is None else cargo_type)
            now = self.clock()
            self.dispatcher.roll(now)
            self.dispatcher.release(old)
            new = None
            with self._rollback_guard(old, None):
                new = self.dispatcher.assign(req, now=now)
            with self._rollback_guard(old, new):
                self._check_truck_free(con, row["plate"], new, skip=trip_id)
                self.store.replace_assignment(con, trip_id,
                                              TripStore.trip_values(trip_id, row["owner"], None, req, new))
        out = self.public(self.store.trip(trip_id))
        out["times"] = new.times_along(self.network)
        return out

    def report(self, user: dict, trip_id: str, event: str) -> dict:
        """Record an ``arrival`` or ``departure`` at the dock."""
        if event not in ("arrival", "departure"):
            raise InputError("event must be arrival or departure")
        with self.store.transaction() as con:
            row = self._visible(user, trip_id, con)
            want = "assigned" if event == "arrival" else "arrived"
            if row["status"] != want:
                raise ConflictError(f"trip {trip_id} is {row['status']}; a {event} can be reported only for "
                                    f"a trip that is {want}")
            if event == "arrival":
                self.store.set_status(con, trip_id, "arrived", "arrived_at")
            else:
                # a departed truck books nothing any more: its loads leave the index, as they
                # would on a restart (which rebuilds only assigned and arrived trips)
                a = self._assignment(row)
                self.dispatcher.release(a)
                with self._rollback_guard(a, None):
                    self.store.set_status(con, trip_id, "departed", "departed_at")
        return self.public(self.store.trip(trip_id))

    def trip(self, user: dict, trip_id: str) -> dict:
        return self.public(self._visible(user, trip_id), times=True)

    def trips(self, user: dict, status=None, limit: int = 1000, offset: int = 0, day: str | None = None) -> list[dict]:
        """The trips the caller may see (a driver: their own), oldest first; ``status`` one or a tuple."""
        owner = None if user["role"] == "dispatcher" else user["id"]
        return [self.public(r) for r in self.store.trips(owner, status, limit, offset, day=day)]

    def count(self, user: dict, status=None, day: str | None = None) -> int:
        """How many trips the caller may see (all of them, not one page of them)."""
        owner = None if user["role"] == "dispatcher" else user["id"]
        return self.store.count(status, day=day, owner=owner)

    # ------------------------------------------------------------------ GPS positions
    def report_positions(self, user: dict, trip_id: str, fixes: list, crs: str = "wgs84") -> dict:
        """Store a batch of GPS fixes the trip's driver sends and update the trip's route compliance
        (:func:`gridtools.dispatch.tracking.record_positions`); a re-sent batch adds nothing.

        Raises
        ------
        NotFoundError
            Not a trip of the caller's.
        ForbiddenError
            A dispatcher posting for a driver's trip (positions come from the driver's app).
        ConflictError
            The trip is not active (cancelled or departed).
        InputError
            A bad fix (named by its index) or too many.
        """
        row = self._visible(user, trip_id)
        if row["owner"] != user["id"]:
            raise ForbiddenError(f"trip {trip_id} is a driver's: its positions come from the driver's app (token)")
        if row["status"] not in ACTIVE:
            raise ConflictError(f"trip {trip_id} is {row['status']}; positions are taken for an assigned or "
                                "arrived trip only")
        return record_positions(self.store, self.network, self.park, row, fixes, now=self.clock(), crs=crs)

    def compliance(self, user: dict, trip_id: str, full: bool = False) -> dict | None:
        """The latest compliance figures of a trip the caller may see (None before 2 fixes).

        ``full``: match the whole stored track again and store the result (also done when the
        kept state is missing or holds other fixes than the store, e.g. after an old release).
        """
        import json

        from gridtools.dispatch.tracking import update_check

        self._visible(user, trip_id)
        kept = self.store.track_state(trip_id)
        count = self.store.position_count(trip_id)
        rebuilt = False
        if count >= 2 and (full or kept is None or kept["fixes"] != count):
            update_check(self.store, self.network, self.park, trip_id, full=True)
            rebuilt = True
        found = self.store.check(trip_id)
        if found is None:
            return None
        return {**{k: found[k] for k in ("checked", "fixes", "on_route_share", "off_route_stretches",
                                         "off_route_m", "max_off_m", "last_time", "last_lon", "last_lat")},
                "off_route_now": bool(found["off_route_now"]), "rebuilt": rebuilt,
                "details": json.loads(found["summary"])}

    def off_route(self, user: dict, limit: int = 500) -> list[dict]:
        """Active trips whose last GPS fix is off their assigned route (dispatchers only)."""
        if user["role"] != "dispatcher":
            raise ForbiddenError("the list of off-route trucks is for dispatchers")
        keep = ("trip_id", "plate", "dock", "status", "fixes", "on_route_share", "off_route_stretches",
                "off_route_m", "max_off_m", "last_time", "last_lon", "last_lat")
        return [{k: r[k] for k in keep} for r in self.store.off_route(limit)]

    def board(self, user: dict, hours: float | None = None, day: str | None = None, slot: str | None = None,
              limit: int = 100, offset: int = 0) -> Board:
        """The dispatcher's board: active trips on the road or at the dock from now to ``hours``
        ahead (or of one dock ``day``, or one ``slot``), one line each, ``limit`` per page
        (:func:`gridtools.dispatch.board.build_board`).

        Raises
        ------
        ForbiddenError
            The caller is not a dispatcher.
        """
        if user["role"] != "dispatcher":
            raise ForbiddenError("the board is for dispatchers")
        return build_board(self.store, self.park, self.lines, self.clock(), hours=hours, day=day, slot=slot,
                           limit=limit, offset=offset)

    def route_frame(self, user: dict, trip_id: str):
        """The trip's route as a GeoDataFrame (one LineString per way run, with expected times)."""
        import geopandas as gpd
        import pandas as pd
        import shapely

        row = self._visible(user, trip_id)
        key = (trip_id, row["updated"])
        hit = self._frames.get(key)
        if hit is not None:  # routes change only when the trip is re-planned (a new 'updated')
            return hit.copy()
        a = self._assignment(row)
        net = self.network
        arcs = a.route.arcs
        road = net.arc_seg[arcs] >= 0
        enter = np.r_[0.0, np.cumsum(a.route.arc_time_s)[:-1]][road]
        arcs = arcs[road]
        t = a.route.arc_time_s[road]
        way = net.arc_way[arcs]
        run = np.r_[0, np.cumsum(way[1:] != way[:-1])] if len(way) else np.zeros(0, int)
        lines = net.segment_lines(net.arc_seg[arcs], net.arc_back[arcs])
        tab = pd.DataFrame({"run": run, "way": way, "length_m": net.arc_length[arcs], "time_s": t, "enter": enter})
        agg = tab.groupby("run").agg(way=("way", "first"), length_m=("length_m", "sum"), time_s=("time_s", "sum"),
                                     enter=("enter", "first"))
        # the segments of a run follow each other along the route: chain their points (the
        # first point of each segment after the first repeats the last of the one before)
        xy, owner = shapely.get_coordinates(lines, return_index=True)
        first = np.r_[True, owner[1:] != owner[:-1]]
        keep = ~first | (np.r_[-1, run][owner] != run[owner])  # drop repeated joints inside a run
        geoms = [shapely.LineString(xy[keep & (run[owner] == r)]) for r in agg.index]
        ways = net.ways.iloc[agg["way"].to_numpy()]
        at = [(a.departure + dt.timedelta(seconds=float(e))).isoformat(timespec="seconds") for e in agg["enter"]]
        frame = gpd.GeoDataFrame({"trip": trip_id, "plate": row["plate"], "seq": np.arange(len(agg)),
                                  "osmid": ways["osmid"].to_numpy(np.int64), "name": ways["name"].to_numpy(object),
                                  "length_m": agg["length_m"].round(1).to_numpy(),
                                  "time_s": agg["time_s"].round(1).to_numpy(), "enter_at": at},
                                geometry=geoms, crs="EPSG:4326")
        if len(self._frames) > 5000:
            self._frames.clear()
        self._frames[key] = frame
        return frame.copy()

    def load_frame(self, day=None):
        """Load per road segment and slot (GeoDataFrame, one row per loaded segment-slot)."""
        import geopandas as gpd

        with self.lock:  # a consistent copy: a booking in the worker may grow the arrays meanwhile
            table = self.dispatcher.load_table()
        if day is not None and len(table):  # (an empty table's columns are not text)
            table = table[table["slot_start"].astype(str).str.startswith(str(day))]
        geom = self.network.segment_lines(table["segment"].to_numpy()) if len(table) else []
        table = table.assign(ratio=(table["load"] / table["capacity"]).round(2))
        return gpd.GeoDataFrame(table.reset_index(drop=True), geometry=list(geom), crs="EPSG:4326")
