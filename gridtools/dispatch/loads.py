"""Slot horizon and capacity bookkeeping: who uses which road segment, dock and waiting area when.

Time is cut into slots of ``park.slot_minutes``; slot numbers are absolute (seconds since 1970 //
slot length).  The load arrays start at :attr:`SlotLoads.base_slot`, midnight (park time) of the
day before the dispatcher's base time, and grow as later slots are booked, up to
``settings.dispatch_booking_days`` ahead.  The horizon rolls: :meth:`SlotLoads.roll` moves
``base_slot`` to the day before "now" and drops the columns of days gone by, so a service that
runs for months books as well on day 200 as on day 1.

* ``load`` (rows x slots): large trucks entering a road segment in a slot, against ``cap``.
  Rows exist only for segments on some route of a menu (:meth:`SlotLoads.rows_for`), so a city
  network costs memory only where trucks are routed.
* ``dock_load`` (docks x slots) against ``dock_cap``; ``wait_load`` (waiting areas x slots) against
  ``wait_cap``.

:class:`~gridtools.dispatch.Dispatcher` extends this bookkeeping with route menus and the
assignment loop.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from gridtools.dispatch.park import Park
from gridtools.errors import InputError


class SlotLoads:
    """Loads of road segments, docks and waiting areas per time slot, and their capacities.

    Parameters
    ----------
    network : RoadNetwork
    park : Park
    base_time : datetime or str, optional
        Start of the dispatch horizon (default now); naive / text: park local time.
    horizon_slots : int, optional
        Slots a dock is searched ahead for a free place (default ``settings.dispatch_horizon_slots``).

    Examples
    --------
    >>> loads = SlotLoads(network, park, base_time="2026-11-24 06:00")   # doctest: +SKIP
    >>> loads.slot_start(loads.base_slot)                                 # doctest: +SKIP
    datetime.datetime(2026, 11, 23, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='Asia/Shanghai'))
    """

    def __init__(self, network, park: Park, *, base_time=None, horizon_slots: int | None = None):
        from gridtools import settings

        self.network = network
        self.park = park
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
        self.dock_position = {d: i for i, d in enumerate(self.dock_ids)}
        self.dock_cap = np.array([d.capacity for d in park.docks], np.int32)
        self.dock_load = np.zeros((len(park.docks), 0), np.int32)
        self.wait_cap = np.array([w.capacity for w in park.waiting_areas], np.int32)
        self.wait_load = np.zeros((len(park.waiting_areas), 0), np.int32)
        self.grow(2 * 86400 // L)
        self.wait_order = self._waiting_order()
        self.n_assigned = 0

    # ------------------------------------------------------------------ arrays
    def roll(self, now) -> int:
        """Move the start of the horizon to midnight (park time) of the day before ``now``.

        Columns of the slots before the new start are dropped (their loads no longer matter for
        any booking), so ``settings.dispatch_booking_days`` always counts from yesterday.  Loads
        of trips that end before the new start are forgotten; releasing such a trip later is
        harmless (:meth:`book` ignores slots before the horizon).

        Parameters
        ----------
        now : datetime or str
            The current time (naive / text: park local time).

        Returns
        -------
        int
            Slots the horizon moved forward (0 when it was already current).

        Examples
        --------
        >>> loads.roll("2026-12-24 06:00")   # doctest: +SKIP
        1440
        """
        now = self.park.localize(now)
        day0 = now.astimezone(self.park.tz).replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
        shift = int(day0.timestamp()) // self.park.slot_s - self.base_slot
        if shift <= 0:
            return 0
        for name in ("load", "dock_load", "wait_load"):
            old = getattr(self, name)
            new = np.zeros_like(old)
            if shift < old.shape[1]:
                new[:, :old.shape[1] - shift] = old[:, shift:]
            setattr(self, name, new)
        self.base_slot += shift
        return shift

    def rows_for(self, segs: np.ndarray) -> np.ndarray:
        """Rows of the load table for road segments, adding rows for new ones.

        Parameters
        ----------
        segs : array of int
            Segment ids of the network.

        Returns
        -------
        numpy.ndarray
            The row of ``load`` / ``cap`` of each segment.
        """
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

    def grow(self, n_slots: int) -> None:
        """Make the load arrays cover ``n_slots`` slots from ``base_slot`` (at least doubling).

        Raises
        ------
        InputError
            ``n_slots`` reaches beyond ``settings.dispatch_booking_days``.
        """
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
        """Start of an absolute slot, in park local time."""
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

    # ------------------------------------------------------------------ booking
    def book(self, a, sign: int = 1) -> None:
        """Add (``sign=1``) or remove (``-1``) an assignment's loads (used when reloading a store).

        Parameters
        ----------
        a : Assignment
        sign : {1, -1}
        """
        rel = a.seg_slots - self.base_slot
        top = max(int(rel.max()) if len(rel) else 0, a.dock_slot - self.base_slot) + 2
        self.grow(top)
        if a.large and len(rel):
            keep = rel >= 0  # road use before the horizon no longer matters
            np.add.at(self.load, (a.route.rows[keep], rel[keep]), sign)
        d = a.dock_index if a.dock_index >= 0 else self.dock_ids.index(a.dock)
        if a.dock_slot - self.base_slot >= 0:
            self.dock_load[d, a.dock_slot - self.base_slot] += sign
        if a.waiting_area is not None:
            wi = a.wait_index if a.wait_index >= 0 else [w.id for w in self.park.waiting_areas].index(a.waiting_area)
            lo, hi = max(a.road_slot - self.base_slot, 0), max(a.dock_slot - self.base_slot, 0)
            self.wait_load[wi, lo:hi] += sign
        self.n_assigned += sign

    def release(self, a) -> None:
        """Free the loads of a cancelled or re-planned trip."""
        self.book(a, -1)

    def over_capacity_of(self, a) -> int:
        """Segment-slots of this trip whose load is above capacity now."""
        if not a.large or not len(a.route.segs):
            return 0
        rel = a.seg_slots - self.base_slot
        now = rel >= 0  # slots before the horizon are gone (rolled off)
        return int((self.load[a.route.rows[now], rel[now]] > self.cap[a.route.rows[now]]).sum())

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
