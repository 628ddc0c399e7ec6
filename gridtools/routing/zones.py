"""Truck-ban zones: polygons closed to some vehicles at some times, unless the vehicle holds a permit.

Chinese cities publish truck bans as areas with time windows ("inside the Inner Ring Road, goods
vehicles 07:00-20:00, permit holders exempt"), rarely tagged in OpenStreetMap.  A zone file is any
polygon file :func:`gridtools.io.read_any` reads (GeoJSON, GeoPackage, ..., any CRS; GCJ-02 with
``crs="gcj02"``) with these optional columns:

``name``
    Shown in ``Route.avoided`` and in messages.
``vehicles``
    Classes the ban applies to, ``;``-separated from ``car``, ``van``, ``hgv`` (default ``hgv``).
``weight_over_t`` / ``axle_load_over_t``
    The ban applies only to vehicles heavier than this gross weight / axle load (default 0).
``when``
    OSM opening-hours style window, as in ``hgv:conditional``: ``Mo-Fr 07:00-20:00``,
    ``07:00-09:00,17:00-19:00``, ``22:00-06:00`` (empty: always).
``permits``
    ``;``-separated permit ids that exempt a vehicle (``Vehicle(permits={"SH-2026-0042"})``).
``source``
    Where the rule comes from (the public notice).

A zone closes every road segment whose middle lies strictly inside its polygon (draw the polygon
inside a boundary road that stays open).  Zones are applied per request like OSM restrictions: the
router keeps them as data and masks arcs for the zones in force for a vehicle at a time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from gridtools.errors import InputError
from gridtools.routing.tags import Condition, parse_condition


@dataclass(frozen=True)
class BanZone:
    """One ban zone (geometry in lon/lat WGS-84).

    Examples
    --------
    >>> import datetime as dt, shapely
    >>> from gridtools.routing import truck
    >>> z = BanZone("centre", shapely.box(121.47, 31.22, 121.49, 31.24), when="Mo-Su 07:00-20:00")
    >>> z.applies(truck(), dt.datetime(2026, 11, 23, 8, 0)), z.applies(truck(), dt.datetime(2026, 11, 23, 22, 0))
    (True, False)
    """

    name: str
    geometry: object = field(hash=False, compare=False)
    vehicles: frozenset = frozenset({"hgv"})
    weight_over_t: float = 0.0
    axle_load_over_t: float = 0.0
    when: str = ""
    permits: frozenset = frozenset()
    source: str = ""

    @property
    def condition(self) -> Condition | None:
        if not self.when:
            return None
        cond = parse_condition(self.when)
        if cond.unknown or not cond.rules:
            raise InputError(f"ban zone {self.name!r}: cannot read when={self.when!r} (write e.g. "
                             "'Mo-Fr 07:00-20:00' or '22:00-06:00')")
        return cond

    def applies(self, vehicle, at: dt.datetime | None) -> bool:
        """Whether the zone is closed to ``vehicle`` at ``at`` (no time given: in force, the safe side)."""
        if vehicle.kind not in self.vehicles or vehicle.weight_t <= self.weight_over_t:
            return False
        if self.axle_load_over_t and vehicle.axle_load_t <= self.axle_load_over_t:
            return False
        if self.permits & frozenset(getattr(vehicle, "permits", ())):
            return False
        cond = self.condition
        return cond is None or cond.holds(vehicle, at) is not False

    def describe(self) -> str:
        """The rule in words, for ``avoided`` entries and messages."""
        who = "/".join(sorted(self.vehicles)) + (f" over {self.weight_over_t:g} t" if self.weight_over_t else "")
        when = self.when or "at all times"
        exempt = f"; permits {', '.join(sorted(self.permits))} exempt" if self.permits else ""
        return f"inside ban zone {self.name!r} (closed to {who} {when}{exempt})"


def _split(value, default=()) -> frozenset:
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return frozenset(default)
    return frozenset(p.strip() for p in str(value).replace(",", ";").split(";") if p.strip())


def read_ban_zones(path, crs=None, layer: str | None = None) -> list[BanZone]:
    """Ban zones from a polygon file (columns in the module docstring).

    Parameters
    ----------
    path : str or path
    crs : CRS-like, optional
        CRS of a file that declares none; ``"gcj02"`` for Chinese web-map coordinates.
    layer : str, optional

    Returns
    -------
    list of BanZone

    Raises
    ------
    InputError
        A row that is not a polygon, an unknown vehicle class, a negative limit or an unreadable
        ``when``, naming the file, row and column.

    Examples
    --------
    >>> zones = read_ban_zones("shanghai_inner_ring.geojson")          # doctest: +SKIP
    >>> Router(net, zones=zones).route(o, d, truck(), at="2026-11-23 08:00").avoided  # doctest: +SKIP
    """
    from gridtools import io

    frame = io.read_any(path, crs=crs, layer=layer).to_crs(4326)
    zones = []
    for i, row in enumerate(frame.itertuples(index=False), start=1):
        geom = row.geometry
        where = f"{path}, row {i}"
        if geom is None or geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise InputError(f"{where}: a ban zone must be a polygon, got {getattr(geom, 'geom_type', None)}")
        get = row._asdict().get
        vehicles = _split(get("vehicles"), {"hgv"})
        if not vehicles <= {"car", "van", "hgv"}:
            raise InputError(f"{where}: column 'vehicles' must list car, van or hgv, got {get('vehicles')!r}")
        limits = {}
        for col in ("weight_over_t", "axle_load_over_t"):
            raw = get(col)
            try:
                limits[col] = 0.0 if raw is None or str(raw).strip() in ("", "nan") else float(raw)
            except ValueError:
                raise InputError(f"{where}: column {col!r} must be tonnes, got {raw!r}") from None
            if limits[col] < 0:
                raise InputError(f"{where}: column {col!r} must be >= 0, got {raw!r}")
        when = get("when")
        when = "" if when is None or str(when) in ("", "nan", "None") else str(when)
        zone = BanZone(name=str(get("name") or f"zone {i}"), geometry=geom, vehicles=vehicles, when=when,
                       permits=_split(get("permits")), source=str(get("source") or ""), **limits)
        zone.condition  # noqa: B018 (raises on an unreadable window, naming the zone)
        zones.append(zone)
    return zones


def zone_arcs(network, zone: BanZone) -> np.ndarray:
    """Road arcs of ``network`` whose segment's middle lies strictly inside ``zone`` (cached per zone)."""
    import shapely

    net = network

    def compute():
        mids = net.derived("segment_middles", lambda: shapely.line_interpolate_point(
            net.segment_lines(np.arange(len(net.seg_start))), 0.5, normalized=True))
        inside = shapely.contains_properly(zone.geometry, mids)
        return np.flatnonzero((net.arc_seg >= 0) & inside[np.maximum(net.arc_seg, 0)])

    return net.derived(("ban_zone", zone.name, zone.geometry.wkb), compute)


def active_zones(zones, vehicle, at) -> tuple:
    """Indices of the zones closed to ``vehicle`` at ``at``."""
    return tuple(i for i, z in enumerate(zones or ()) if z.applies(vehicle, at))


def apply_zones(network, blocked: np.ndarray, zones, code: int):
    """Mark the arcs inside ``zones`` as blocked with ``code``; returns (blocked, why per arc)."""
    blocked = blocked.copy()
    why = np.full(len(blocked), "", dtype=object)
    for zone in zones:
        arcs = zone_arcs(network, zone)
        free = arcs[blocked[arcs] == 0]
        blocked[free] = code
        why[free] = zone.describe()
    return blocked, why
