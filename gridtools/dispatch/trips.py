"""The records of dispatch: a trip request, one legal route of a menu, and the assignment of a trip.

:class:`TripRequest` is what a caller asks for, :class:`RouteOption` what the route menus of
:mod:`gridtools.dispatch.menus` offer, and :class:`Assignment` what
:class:`~gridtools.dispatch.Dispatcher` decides (and the trip store keeps).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from gridtools.routing import Vehicle, truck


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
    cargo_type: str | None = None  # picks the service time at the dock (park.service_minutes)


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
    #: what the router said about a restricted first / last stretch or assumed time windows
    notes: list = field(default_factory=list)


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
    wait_index: int = -1      # position of waiting_area in park.waiting_areas (-1: look it up)
    dock_index: int = -1      # position of dock in park.docks (-1: look it up)
    service_s: float = 0.0    # time at the dock for the cargo type (park.service_minutes)
    note: str = ""            # why the trip was moved (e.g. booked at the dock's opening)

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
                "detour_s": round(self.detour_s, 1), "over_capacity": self.over_capacity,
                "service_s": round(self.service_s, 1), "dock_done": self.dock_done.isoformat(), "note": self.note}

    @property
    def dock_done(self) -> dt.datetime:
        """When the truck's service at the dock ends."""
        return self.dock_time + dt.timedelta(seconds=self.service_s)

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
        names = network.derived("way_names", lambda: np.array(
            [n if isinstance(n, str) and n else None for n in network.ways["name"].to_numpy(object)], dtype=object))
        t0 = self.departure.timestamp()
        tz = self.departure.tzinfo
        return [{"osmid": int(o), "name": n, "at": dt.datetime.fromtimestamp(t0 + e, tz).isoformat(timespec="seconds")}
                for o, n, e in zip(network.way_osmid[way[start]], names[way[start]], elapsed[start])]
