"""Vehicle profiles: the per-request side of the restriction model.

A :class:`Vehicle` is plain data (dimensions, class, speed cap, road preferences).  The network
keeps restrictions as data on its edges; a vehicle turns them into a mask and weights at query
time (:func:`gridtools.routing.restrictions.arc_rules`), so one loaded network serves every
vehicle.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

#: Vehicles heavier than this (tonnes, gross) count as heavy goods vehicles (``hgv=*`` applies),
#: the EU/OSM convention.
HGV_THRESHOLD_T = 3.5


@dataclass(frozen=True)
class Vehicle:
    """A vehicle for one routing request.

    Parameters
    ----------
    weight_t, height_m, width_m, length_m, axle_load_t : float
        Gross weight, dimensions and heaviest axle load; compared with ``maxweight``,
        ``maxheight``, ``maxwidth``, ``maxlength``, ``maxaxleload`` on ways and nodes.
    kind : {"car", "van", "hgv"}, optional
        Which access tags apply (``motorcar`` / ``goods`` / ``hgv``).  Default: ``hgv`` when
        ``weight_t`` > 3.5 t, else ``car``.
    max_speed_kmh : float
        Speed cap (trucks: 80 km/h by default in :func:`truck`).
    road_factors : dict
        Multipliers on travel time by ``highway`` value, used to choose the route (residential and
        service roads cost more for trucks); reported times are never multiplied.
    truck_route_factor : float
        Multiplier for ways tagged ``hgv=designated`` / ``hgv:national_network=yes`` (< 1 prefers them);
        ``hgv=local`` gets half of the preference.
    destination_factor : float
        Multiplier for ways open to this vehicle "for destination/delivery only".
    permits : set of str
        Permit ids the vehicle carries; a ban zone listing one of them does not apply.
    hazmat : bool
        Carries dangerous goods: ``hazmat=no`` (and ``hazmat:water=no`` / ``hazmat:water=permissive``)
        ways are closed to it.
    adr_tunnel_code : {"", "B", "C", "D", "E"}
        ADR tunnel restriction code of the load (implies ``hazmat``): tunnels whose category
        (``hazmat:adr_tunnel`` / ``tunnel:category``) is that letter or a later one are closed
        (code D: tunnels of category D and E).

    Examples
    --------
    >>> truck(weight_t=40, height_m=4.2).kind
    'hgv'
    >>> Vehicle().kind
    'car'
    """

    weight_t: float = 1.5
    height_m: float = 1.6
    width_m: float = 1.9
    length_m: float = 4.5
    axle_load_t: float = 0.0
    kind: str | None = None
    max_speed_kmh: float = math.inf
    road_factors: dict = field(default_factory=dict, hash=False, compare=True)
    truck_route_factor: float = 1.0
    destination_factor: float = 5.0
    name: str = ""
    permits: frozenset = frozenset()
    hazmat: bool = False
    adr_tunnel_code: str = ""

    def __post_init__(self):
        from gridtools.errors import InputError

        for key in ("weight_t", "height_m", "width_m", "length_m", "axle_load_t"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
                raise InputError(f"vehicle {key} must be a number >= 0, got {value!r}")
        object.__setattr__(self, "permits", frozenset(self.permits))
        code = (self.adr_tunnel_code or "").strip().upper()
        if code not in ("", "B", "C", "D", "E"):
            raise InputError(f"vehicle adr_tunnel_code must be B, C, D or E (the ADR tunnel restriction code of the "
                             f"load), got {self.adr_tunnel_code!r}")
        object.__setattr__(self, "adr_tunnel_code", code)
        if code:
            object.__setattr__(self, "hazmat", True)
        if self.kind is None:
            object.__setattr__(self, "kind", "hgv" if self.weight_t > HGV_THRESHOLD_T else "car")
        if self.kind not in ("car", "van", "hgv"):
            raise InputError(f"vehicle kind must be car, van or hgv, got {self.kind!r}")
        if self.axle_load_t == 0.0 and self.kind == "hgv":
            # a 5-axle 40 t articulated truck carries about 10 t on its heaviest axle
            object.__setattr__(self, "axle_load_t", min(self.weight_t, max(self.weight_t / 4.0, 0.0)))

    @property
    def access_keys(self) -> tuple[str, ...]:
        """Access tags from the most general to the most specific (the last one present wins)."""
        last = {"car": "motorcar", "van": "goods", "hgv": "hgv"}[self.kind]
        return ("access", "vehicle", "motor_vehicle", last)

    def attribute(self, name: str) -> float:
        """Value compared by conditions such as ``weight>7.5`` (``axleload``, ``wheels``...)."""
        return {"weight": self.weight_t, "height": self.height_m, "width": self.width_m,
                "length": self.length_m, "axleload": self.axle_load_t,
                "wheels": 4.0 if self.kind != "hgv" else 6.0}[name]

    def key(self) -> tuple:
        """Hashable identity used to cache customised weights."""
        return (self.weight_t, self.height_m, self.width_m, self.length_m, self.axle_load_t, self.kind,
                self.max_speed_kmh, tuple(sorted(self.road_factors.items())), self.truck_route_factor,
                self.destination_factor, tuple(sorted(self.permits)), self.hazmat, self.adr_tunnel_code)

    def without_preferences(self) -> "Vehicle":
        """Same legal mask, plain travel time (for travel-time matrices)."""
        return replace(self, road_factors={}, truck_route_factor=1.0, destination_factor=1.0)

    def as_dict(self) -> dict:
        return asdict(self)


#: Truck road preferences (Valhalla-like): low-class roads cost more, so trucks keep to
#: arterials unless the destination is on a small street.
TRUCK_ROAD_FACTORS = {"residential": 2.0, "living_street": 4.0, "service": 3.0, "unclassified": 1.3,
                      "track": 5.0}


def car(**kw) -> Vehicle:
    """A passenger car (1.5 t, 1.6 m high).

    Examples
    --------
    >>> car().kind
    'car'
    """
    return Vehicle(**{"name": "car", **kw})


def van(**kw) -> Vehicle:
    """A small delivery van (3.5 t, 2.7 m high, 2.2 m wide, 6 m long; ``goods`` access tags).

    Examples
    --------
    >>> van().weight_t
    3.5
    """
    return Vehicle(**{"name": "van", "weight_t": 3.5, "height_m": 2.7, "width_m": 2.2, "length_m": 6.0,
                      "kind": "van", **kw})


def truck(weight_t: float = 40.0, height_m: float = 4.0, width_m: float = 2.55, length_m: float = 16.5,
          **kw) -> Vehicle:
    """A heavy goods vehicle (default 40 t articulated truck), preferring truck routes.

    Examples
    --------
    >>> t = truck(weight_t=40, height_m=4.2)
    >>> t.axle_load_t, t.max_speed_kmh
    (10.0, 80.0)
    """
    base = {"name": "truck", "max_speed_kmh": 80.0, "road_factors": dict(TRUCK_ROAD_FACTORS),
            "truck_route_factor": 0.8, "kind": "hgv"}
    return Vehicle(weight_t=weight_t, height_m=height_m, width_m=width_m, length_m=length_m, **{**base, **kw})


def vehicle_from_options(weight_t=None, height_m=None, width_m=None, length_m=None, axle_load_t=None,
                         kind: str | None = None, **extra) -> Vehicle:
    """Vehicle for the CLI: a car unless a dimension or weight makes it a van or truck.

    ``extra`` (``hazmat``, ``adr_tunnel_code``, ``permits``) is passed on to :class:`Vehicle`.

    Examples
    --------
    >>> vehicle_from_options(weight_t=40, height_m=4.2).kind
    'hgv'
    >>> vehicle_from_options().kind
    'car'
    """
    if kind not in (None, "car", "van", "hgv"):
        from gridtools.errors import ParameterError

        raise ParameterError(f"kind={kind!r} is not a vehicle kind: use 'car', 'van' or 'hgv'", parameter="kind")
    given = {k: v for k, v in dict(weight_t=weight_t, height_m=height_m, width_m=width_m, length_m=length_m,
                                   axle_load_t=axle_load_t).items() if v is not None}
    given.update(extra)
    if kind == "hgv" or (kind is None and given.get("weight_t", 0) > HGV_THRESHOLD_T):
        return truck(**given)
    if kind == "van":
        return van(**given)
    return car(**given)
