"""What the router returns: a :class:`Route` and a :class:`TravelTimeMatrix`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from gridtools.routing.network import RoadNetwork
from gridtools.routing.vehicle import Vehicle


@dataclass
class Route:
    """One route.  Lengths in metres, times in seconds (at the vehicle's speeds, no penalties).

    Attributes
    ----------
    arcs : numpy.ndarray
        Arc ids of the network, in order (turn connectors included).
    osmids : list of int
        OSM way ids used, in order (consecutive repeats merged).
    avoided : list of dict
        Roads and turns the unrestricted fastest route would use but this vehicle may not, each with
        ``osmid``, ``name``, ``restriction`` and ``why``.  Empty when nothing was avoided.
    restricted : list of dict
        Stretches at the start or end driven on a road closed to the vehicle only by
        ``access=private`` because the point lies on it (never mid-route), each with ``end``
        (``origin`` / ``destination``), ``osmids``, ``length_m`` and ``why``; also in ``warnings``.
        ``pocket`` is True when the point lies on a public street whose only way to the rest of
        the network is that private road (the stretch lies between the point and the main network).
    snap_lonlat : tuple
        Where the route starts and ends: the snapped origin and destination (lon, lat).
    """

    origin: tuple
    destination: tuple
    arcs: np.ndarray
    osmids: list
    length_m: float
    time_s: float
    cost: float
    snap_m: tuple
    vehicle: Vehicle
    at: dt.datetime | None
    avoided: list = field(default_factory=list)
    arc_time_s: np.ndarray | None = field(default=None, repr=False)
    _network: RoadNetwork | None = field(default=None, repr=False)
    start_at: float = 0.0
    end_at: float = 1.0
    warnings: list = field(default_factory=list)
    snap_osmids: tuple = (None, None)
    restricted: list = field(default_factory=list)
    time_assumed: list = field(default_factory=list)
    snap_xy: tuple = field(default=(), repr=False)

    @property
    def snap_lonlat(self) -> tuple:
        """The snapped origin and destination as (lon, lat) pairs (the input points where not snapped)."""
        if not self.snap_xy or self._network is None:
            return (tuple(self.origin or ()), tuple(self.destination or ()))
        import pyproj

        to_lonlat = pyproj.Transformer.from_crs(self._network.crs, 4326, always_xy=True)
        lon, lat = to_lonlat.transform([p[0] for p in self.snap_xy], [p[1] for p in self.snap_xy])
        return (float(lon[0]), float(lat[0])), (float(lon[1]), float(lat[1]))

    @classmethod
    def from_arcs(cls, network: RoadNetwork, arcs, arc_time_s, vehicle: Vehicle, origin=None, destination=None):
        """A route over whole arcs of ``network`` (a stored assignment), lengths and times from the arcs.

        Examples
        --------
        >>> r = Route.from_arcs(net, arcs, arc_times, truck())            # doctest: +SKIP
        """
        arcs = np.asarray(arcs, np.int64)
        arc_time_s = np.asarray(arc_time_s, float)
        way = network.arc_way[arcs]
        osm = network.way_osmid[way[way >= 0]]
        osmids = osm[np.r_[True, osm[1:] != osm[:-1]]].tolist() if len(osm) else []  # runs merged
        return cls(origin=origin, destination=destination, arcs=arcs, osmids=osmids,
                   length_m=float(network.arc_length[arcs].sum()), time_s=float(arc_time_s.sum()),
                   cost=float(arc_time_s.sum()), snap_m=(0.0, 0.0), vehicle=vehicle, at=None,
                   arc_time_s=arc_time_s, _network=network)

    @property
    def arc_share(self) -> np.ndarray:
        """Share of each arc driven: the first and last arcs are driven only from / up to the snapped points."""
        share = np.ones(len(self.arcs))
        if len(self.arcs) == 1:
            share[0] = max(self.end_at - self.start_at, 0.0)
        elif len(self.arcs):
            share[0], share[-1] = 1.0 - self.start_at, self.end_at
        return share

    @property
    def summary(self) -> dict:
        return {"length_m": round(self.length_m, 1), "time_s": round(self.time_s, 1), "ways": len(self.osmids),
                "vehicle": self.vehicle.name or self.vehicle.kind, "at": str(self.at) if self.at else None,
                "avoided": len(self.avoided), "snap_m": [round(s, 1) for s in self.snap_m],
                "warnings": len(self.warnings),
                "restricted": [{**r, "length_m": round(r["length_m"], 1)} for r in self.restricted],
                "time_assumed": [{"osmid": a["osmid"], "why": a["why"]} for a in self.time_assumed]}

    def summary_lines(self) -> list[str]:
        s = self.summary
        lines = [f"{s['length_m'] / 1000:.2f} km, {s['time_s'] / 60:.1f} min over {s['ways']} ways "
                 f"(vehicle: {s['vehicle']}{', at ' + s['at'] if s['at'] else ''})"]
        lines.append(f"snapped {s['snap_m'][0]:g} m (origin, way {self.snap_osmids[0]}) and {s['snap_m'][1]:g} m "
                     f"(destination, way {self.snap_osmids[1]}) onto the road")
        lines += [f"warning: {w}" for w in self.warnings]
        for item in self.avoided:
            lines.append(f"avoided way {item['osmid']} ({item['name'] or 'unnamed'}): {item['why']}"
                         if item["osmid"] is not None else f"avoided {item['why']}")
        return lines

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in self.summary.items())
        avoided = "".join(f"<li>{a['osmid']}: {a['why']}</li>" for a in self.avoided)
        return f"<table><caption>Route</caption>{rows}</table>" + (f"<ul>{avoided}</ul>" if avoided else "")

    @property
    def geometry(self):
        """The whole route as one LineString in lon/lat."""
        import shapely

        lines = self.to_geodataframe().geometry.values
        return shapely.line_merge(shapely.union_all(lines)) if len(lines) else shapely.LineString()

    def to_geodataframe(self):
        """One LineString feature per run of consecutive arcs on the same way (lon/lat).

        Columns: ``seq``, ``osmid``, ``name``, ``highway``, ``length_m``, ``time_s`` and the route
        totals ``route_length_m``, ``route_time_s``.
        """
        import geopandas as gpd
        import pandas as pd
        import shapely

        net = self._network
        road = self.arcs[net.arc_seg[self.arcs] >= 0]
        cols = ["seq", "osmid", "name", "highway", "length_m", "time_s", "route_length_m", "route_time_s"]
        if not len(road):
            return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs="EPSG:4326")
        way = net.arc_way[road]
        run = np.r_[0, np.cumsum(way[1:] != way[:-1])]
        lines = net.segment_lines(net.arc_seg[road], net.arc_back[road])
        is_road = net.arc_seg[self.arcs] >= 0
        share = self.arc_share[is_road]
        if is_road[0] or is_road[-1]:  # the route starts / ends part-way along its first / last arc
            lines = lines.copy()
            if len(self.arcs) == 1:
                lines[0] = _cut(lines[0], self.start_at, self.end_at)
            else:
                if is_road[0]:
                    lines[0] = _cut(lines[0], self.start_at, 1.0)
                if is_road[-1]:
                    lines[-1] = _cut(lines[-1], 0.0, self.end_at)
        table = pd.DataFrame({"run": run, "way": way, "length_m": net.arc_length[road] * share,
                              "time_s": self.arc_time_s[is_road]})
        agg = table.groupby("run").agg(way=("way", "first"), length_m=("length_m", "sum"), time_s=("time_s", "sum"))
        merged = [shapely.line_merge(shapely.union_all(lines[run == r])) for r in agg.index]
        ways = net.ways.iloc[agg["way"].to_numpy()]
        return gpd.GeoDataFrame({
            "seq": np.arange(len(agg)), "osmid": ways["osmid"].to_numpy(np.int64),
            "name": ways["name"].to_numpy(object), "highway": ways["highway"].to_numpy(object),
            "length_m": agg["length_m"].round(1).to_numpy(), "time_s": agg["time_s"].round(1).to_numpy(),
            "route_length_m": round(self.length_m, 1), "route_time_s": round(self.time_s, 1)},
            geometry=merged, crs="EPSG:4326")


    def avoided_geodataframe(self):
        """The roads in ``avoided`` as lon/lat lines with ``osmid``, ``restriction``, ``why``."""
        import geopandas as gpd

        net = self._network
        rows = [a for a in self.avoided if net.arc_seg[a["arc"]] >= 0]
        arcs = np.asarray([a["arc"] for a in rows], np.int64)
        return gpd.GeoDataFrame({"osmid": [a["osmid"] for a in rows], "name": [a["name"] for a in rows],
                                 "restriction": [a["restriction"] for a in rows], "why": [a["why"] for a in rows]},
                                geometry=net.segment_lines(net.arc_seg[arcs], net.arc_back[arcs]) if len(arcs)
                                else [], crs="EPSG:4326")


def _cut(line, start: float, end: float):
    """The part of ``line`` between two fractions of its length (a zero-length line when they meet)."""
    import shapely
    import shapely.ops

    part = shapely.ops.substring(line, start, max(end, start), normalized=True)
    return part if part.geom_type == "LineString" else shapely.LineString([part.coords[0], part.coords[0]])


@dataclass
class TravelTimeMatrix:
    """Fastest legal travel times (seconds) between origins (rows) and destinations (columns).

    ``inf`` where no legal route exists.  ``snap_m`` holds the snapping distances of the points.
    """

    seconds: np.ndarray
    origins: np.ndarray
    destinations: np.ndarray
    origin_snap_m: np.ndarray
    destination_snap_m: np.ndarray

    @property
    def summary(self) -> dict:
        finite = np.isfinite(self.seconds)
        return {"shape": list(self.seconds.shape), "reachable_share": float(finite.mean()) if finite.size else 0.0,
                "median_s": float(np.median(self.seconds[finite])) if finite.any() else None}

    def _repr_html_(self) -> str:
        return f"<p>TravelTimeMatrix {self.summary}</p>"
