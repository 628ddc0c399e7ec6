"""The industrial park: gates, docks, waiting areas, time slots and road capacities.

A park is plain data, built from a dict (what a YAML/JSON park file or the HTTP API gives) or a
GeoJSON FeatureCollection of points.  :func:`gridtools.io.read_park` reads the files.

YAML / JSON layout (times are local to ``timezone``)::

    name: Demo park
    timezone: Asia/Shanghai       # IANA name; default UTC
    slot_minutes: 30              # length of a time slot
    segment_capacity: 4           # large trucks per road segment per slot (default for every segment)
    segment_capacities: {"123456": 1}   # overrides by OSM way id
    gates:         [{id: G1, lon: 121.47, lat: 31.23}]
    docks:         [{id: D1, lon: 121.48, lat: 31.22, capacity: 2,    # trucks per slot
                     hours: "08:00-12:00, 13:00-18:00",               # optional: daily opening hours
                     outside_hours: refuse}]                          # optional: this dock's rule
    waiting_areas: [{id: W1, lon: 121.48, lat: 31.23, capacity: 10}]  # trucks at once
    service_minutes: {general: 30, reefer: 45, bulk: 60, default: 30} # dock time per cargo type
    outside_hours: wait           # a trip arriving while its dock is closed: wait (booked at the
                                  # opening) or refuse (with the reason); default wait

Opening hours and service times: :mod:`gridtools.dispatch.hours`.  A trip's cargo type picks its
service time (``default`` when it gives none); its service must fit inside one opening window.

GeoJSON: Point features whose ``kind`` property is ``gate``, ``dock`` or ``waiting`` (with ``id``
and ``capacity``); park-wide settings in a top-level ``"park"`` member.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gridtools import io
from gridtools.dispatch.hours import parse_hours
from gridtools.errors import InputError
from gridtools.validate import unknown_keys


@dataclass(frozen=True)
class Place:
    """A gate, dock or waiting area: id, WGS-84 position and capacity (docks: trucks per slot;
    waiting areas: trucks at once; gates: unused)."""

    id: str
    lon: float
    lat: float
    capacity: int = 0
    name: str = ""
    hours: tuple = ()         # docks: daily opening windows ("08:00-18:00", ...); () = always open
    outside_hours: str = ""   # docks: "wait" or "refuse" ("": the park's rule)


@dataclass
class Park:
    """An industrial park for :class:`gridtools.dispatch.Dispatcher`.

    Examples
    --------
    >>> p = park_from_dict({"gates": [{"id": "G", "lon": 8.0, "lat": 49.0}],
    ...                     "docks": [{"id": "D", "lon": 8.01, "lat": 49.0, "capacity": 2}]})
    >>> p.slot_minutes, p.dock("D").capacity
    (30, 2)
    """

    gates: list[Place]
    docks: list[Place]
    waiting_areas: list[Place] = field(default_factory=list)
    slot_minutes: int = 30
    segment_capacity: int = 4
    segment_capacities: dict = field(default_factory=dict)  # OSM way id -> capacity
    timezone: str = "UTC"
    name: str = "park"
    service_minutes: dict = field(default_factory=dict)  # cargo type -> minutes at the dock
    outside_hours: str = "wait"

    @property
    def slot_s(self) -> int:
        return int(self.slot_minutes * 60)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def dock(self, dock_id: str) -> Place:
        for d in self.docks:
            if d.id == str(dock_id):
                return d
        raise InputError(f"unknown dock {dock_id!r}; the park has docks {', '.join(d.id for d in self.docks)}")

    def gate(self, gate_id: str) -> Place:
        for g in self.gates:
            if g.id == str(gate_id):
                return g
        raise InputError(f"unknown gate {gate_id!r}; the park has gates {', '.join(g.id for g in self.gates)}")

    def localize(self, when) -> dt.datetime:
        """An aware datetime: naive values and ``"YYYY-MM-DD HH:MM"`` text are park local time.

        Examples
        --------
        >>> park_from_dict({"gates": [], "docks": [], "timezone": "Asia/Shanghai"}).localize("2026-11-23 08:00")
        datetime.datetime(2026, 11, 23, 8, 0, tzinfo=zoneinfo.ZoneInfo(key='Asia/Shanghai'))
        """
        if isinstance(when, str):
            text = when.strip().replace("Z", "+00:00")
            try:
                when = dt.datetime.fromisoformat(text)
            except ValueError:
                raise InputError(f"cannot read the time {text!r}: give ISO 8601, e.g. \"2026-11-23T08:00\" or "
                                 "\"2026-11-23 08:00+08:00\" (without an offset: park local time, "
                                 f"{self.timezone})") from None
        if not isinstance(when, dt.datetime):
            raise InputError(f"expected a date and time, got {when!r}")
        return when.replace(tzinfo=self.tz) if when.tzinfo is None else when

    def as_dict(self) -> dict:
        return {"name": self.name, "timezone": self.timezone, "slot_minutes": self.slot_minutes,
                "segment_capacity": self.segment_capacity,
                "segment_capacities": {str(k): v for k, v in self.segment_capacities.items()},
                "gates": [_place_dict(p) for p in self.gates], "docks": [_place_dict(p) for p in self.docks],
                "waiting_areas": [_place_dict(p) for p in self.waiting_areas],
                "service_minutes": dict(self.service_minutes), "outside_hours": self.outside_hours}

    def service_s(self, cargo_type: str | None) -> float:
        """Seconds a truck with ``cargo_type`` spends at its dock (``service_minutes``; 0 when the
        park gives none).

        Raises
        ------
        InputError
            A cargo type the park has no service time for (and no ``default``).
        """
        times = self.service_minutes
        if not times:
            return 0.0
        key = "default" if cargo_type in (None, "") else str(cargo_type).strip()
        if key in times:
            return float(times[key]) * 60
        listed = ", ".join(sorted(times))
        if key == "default":
            raise InputError(f"give the trip's cargo type: the park has service times for {listed} and no default "
                             "(service_minutes in the park file)")
        raise InputError(f"unknown cargo type {cargo_type!r}; the park has service times for {listed} "
                         "(service_minutes in the park file)")

    def outside_rule(self, dock_id: str) -> str:
        """``wait`` or ``refuse``: what happens to a trip arriving while ``dock_id`` is closed."""
        return self.dock(dock_id).outside_hours or self.outside_hours

    @property
    def summary(self) -> dict:
        return {"name": self.name, "gates": len(self.gates), "docks": len(self.docks),
                "dock_capacity_per_slot": sum(d.capacity for d in self.docks),
                "waiting_areas": len(self.waiting_areas), "waiting_capacity": sum(w.capacity for w in self.waiting_areas),
                "slot_minutes": self.slot_minutes, "segment_capacity": self.segment_capacity}

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in self.summary.items())
        return f"<table><caption>Park</caption>{rows}</table>"


def _place_dict(p: Place) -> dict:
    """A place as the park file writes it (hours as a list; no empty dock-only fields)."""
    out = asdict(p)
    out["hours"] = list(p.hours)
    if not p.hours:
        del out["hours"]
    if not p.outside_hours:
        del out["outside_hours"]
    return out


def _number(value, what: str, source: str, integer: bool = False, minimum: float = 0.0):
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{source}: {what} must be a number, got {value!r}") from None
    if math.isnan(x) or x < minimum or (integer and x != int(x)):
        kind = "a whole number" if integer else "a number"
        raise InputError(f"{source}: {what} must be {kind} >= {minimum:g}, got {value!r}")
    return int(x) if integer else x


def _places(items, kind: str, source: str, need_capacity: bool) -> list[Place]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise InputError(f"{source}: '{kind}' must be a list of {{id, lon, lat{', capacity' if need_capacity else ''}}}")
    out, seen = [], set()
    for i, item in enumerate(items, start=1):
        where = f"{source}: {kind} entry {i}"
        if not isinstance(item, dict):
            raise InputError(f"{where} must be a mapping with id, lon, lat, got {item!r}")
        # a typo ('capcity') must be named, not read as "no capacity"
        unknown_keys(item, ("id", "lon", "lat", "capacity", "name", "kind", "hours", "outside_hours"), where)
        missing = [k for k in ("id", "lon", "lat") + (("capacity",) if need_capacity else ()) if item.get(k) is None]
        if missing:
            raise InputError(f"{where} has no {', '.join(missing)}")
        pid = str(item["id"])
        if pid in seen:
            raise InputError(f"{where}: id {pid!r} is used twice; ids must be unique per kind")
        seen.add(pid)
        lon = _number(item["lon"], "lon", where, minimum=-180)
        lat = _number(item["lat"], "lat", where, minimum=-90)
        if lon > 180 or lat > 90:
            raise InputError(f"{where}: ({lon}, {lat}) is not a longitude, latitude pair in WGS-84 degrees")
        cap = _number(item.get("capacity", 0), "capacity", where, integer=True)
        if need_capacity and cap < 1:
            raise InputError(f"{where}: capacity must be at least 1")
        hours = parse_hours(item.get("hours"), where)
        rule = str(item.get("outside_hours") or "")
        if (hours or rule) and kind != "docks":
            raise InputError(f"{where}: hours and outside_hours apply to docks only")
        if rule not in ("", "wait", "refuse"):
            raise InputError(f"{where}: outside_hours must be wait or refuse, got {rule!r}")
        out.append(Place(pid, lon, lat, cap, str(item.get("name") or ""), hours, rule))
    return out


def _service_minutes(value, source: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{source}: service_minutes must map cargo types to minutes, e.g. "
                         "{general: 30, reefer: 45, default: 30}")
    return {str(k): _number(v, f"service_minutes[{k}]", source) for k, v in value.items()}


def park_from_dict(data: dict, source: str = "park") -> Park:
    """Build a :class:`Park` from a dict (YAML/JSON layout) or a GeoJSON FeatureCollection.

    Raises
    ------
    InputError
        Naming the entry and field at fault.

    Examples
    --------
    >>> fc = {"type": "FeatureCollection", "park": {"slot_minutes": 15},
    ...       "features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [8.0, 49.0]},
    ...                     "properties": {"kind": "dock", "id": "D1", "capacity": 3}}]}
    >>> p = park_from_dict(fc)
    >>> p.slot_minutes, [d.id for d in p.docks]
    (15, ['D1'])
    """
    if not isinstance(data, dict):
        raise InputError(f"{source}: a park must be a mapping (YAML/JSON) or a GeoJSON FeatureCollection")
    if data.get("type") == "FeatureCollection":
        groups: dict[str, list] = {"gate": [], "dock": [], "waiting": []}
        for i, feat in enumerate(data.get("features") or [], start=1):
            props = dict(feat.get("properties") or {})
            kind = str(props.get("kind", "")).lower()
            kind = {"waiting_area": "waiting", "parking": "waiting", "gates": "gate", "docks": "dock"}.get(kind, kind)
            geom = feat.get("geometry") or {}
            if kind not in groups:
                raise InputError(f"{source}: feature {i} has kind {props.get('kind')!r}; use gate, dock or waiting")
            if geom.get("type") != "Point":
                raise InputError(f"{source}: feature {i} ({kind} {props.get('id')!r}) must be a Point, "
                                 f"got {geom.get('type')}")
            props["lon"], props["lat"] = geom["coordinates"][:2]
            groups[kind].append(props)
        data = {**(data.get("park") or {}), "gates": groups["gate"], "docks": groups["dock"],
                "waiting_areas": groups["waiting"]}
    known = {"name", "timezone", "slot_minutes", "segment_capacity", "segment_capacities", "gates", "docks",
             "waiting_areas", "service_minutes", "outside_hours"}
    unknown_keys(data, known, source)
    slot = _number(data.get("slot_minutes", 30), "slot_minutes", source, integer=True, minimum=1)
    if 1440 % slot:
        raise InputError(f"{source}: slot_minutes must divide a day (e.g. 15, 20, 30, 60), got {slot}")
    tz = str(data.get("timezone") or "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"{source}: unknown timezone {tz!r}; give an IANA name such as Asia/Shanghai") from None
    caps = data.get("segment_capacities") or {}
    if not isinstance(caps, dict):
        raise InputError(f"{source}: segment_capacities must map OSM way ids to capacities")
    caps = {int(k): _number(v, f"segment_capacities[{k}]", source, integer=True) for k, v in caps.items()}
    park = Park(gates=_places(data.get("gates"), "gates", source, False),
                docks=_places(data.get("docks"), "docks", source, True),
                waiting_areas=_places(data.get("waiting_areas"), "waiting_areas", source, True),
                slot_minutes=slot,
                segment_capacity=_number(data.get("segment_capacity", 4), "segment_capacity", source, integer=True,
                                         minimum=1),
                segment_capacities=caps, timezone=tz, name=str(data.get("name") or "park"),
                service_minutes=_service_minutes(data.get("service_minutes"), source),
                outside_hours=str(data.get("outside_hours") or "wait"))
    if park.outside_hours not in ("wait", "refuse"):
        raise InputError(f"{source}: outside_hours must be wait or refuse, got {park.outside_hours!r}")
    return park


def read_park(path) -> Park:
    """Read a park file: YAML (``.yaml``/``.yml``), JSON, or GeoJSON points.

    See the module docstring for the layout.

    Raises
    ------
    InputError
        A missing or unreadable file, or a bad entry (named with its field).

    Examples
    --------
    >>> park = read_park("park.yaml")   # doctest: +SKIP
    """
    return park_from_dict(io.read_mapping(path, what="park file"), source=str(path))
