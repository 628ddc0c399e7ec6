"""The :class:`RoadNetwork` type, and the OpenStreetMap keys its tables keep.

A :class:`RoadNetwork` is flat numpy arrays (nodes, road segments, directed arcs, segment
geometry) plus three tables: ``ways`` (one row per OSM way with its restriction tags, raw and
parsed), ``node_tags`` (barriers and node-level limits) and ``turns`` (turn restrictions).
Restrictions stay *data* on the network; a :class:`~gridtools.routing.Vehicle` turns them into a
mask per request, so one network serves every vehicle.

How a network is made: :mod:`~gridtools.routing.network.load` reads files,
:mod:`~gridtools.routing.network.build` turns roads into the arrays,
:mod:`~gridtools.routing.network.turns` builds turn restrictions into the graph and
:mod:`~gridtools.routing.network.cache` keeps the result on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj

#: ``highway`` values that motor vehicles may use (others, e.g. footway, are not loaded).
DRIVABLE = frozenset({
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
    "secondary_link", "tertiary", "tertiary_link", "unclassified", "residential", "living_street",
    "service", "road", "track", "busway",
})

#: Access keys, from the most general to the most specific vehicle class.
ACCESS_KEYS = ("access", "vehicle", "motor_vehicle", "motorcar", "goods", "hgv")

#: Limit keys and the unit of their parsed column (``maxweight`` -> ``maxweight_t``).
LIMIT_UNITS = {"maxweight": "t", "maxheight": "m", "maxwidth": "m", "maxlength": "m", "maxaxleload": "t"}

#: Way tags kept in ``RoadNetwork.ways`` (with their direction and ``:conditional`` forms).
WAY_KEYS = tuple(
    ["highway", "name", "ref", "oneway", "oneway:motor_vehicle", "oneway:vehicle", "junction", "maxspeed",
     "service", "area", "hgv:national_network", "maxheight:physical", "hazmat", "hazmat:water", "tunnel",
     "hazmat:adr_tunnel", "tunnel:category"]
    + [f"{b}{s}" for b in ACCESS_KEYS for s in ("", ":forward", ":backward", ":conditional",
                                               ":forward:conditional", ":backward:conditional")]
    + [f"{k}{s}" for k in LIMIT_UNITS for s in ("", ":conditional")]
)

#: Node tags kept in ``RoadNetwork.node_tags``.
NODE_KEYS = ("barrier", *ACCESS_KEYS, "maxheight", "maxweight", "maxwidth", "maxlength", "highway")

#: ``restriction=*`` values that are built into the graph.
TURN_KINDS = ("no_left_turn", "no_right_turn", "no_straight_on", "no_u_turn", "no_entry", "no_exit",
              "only_left_turn", "only_right_turn", "only_straight_on", "only_u_turn")

#: The numpy arrays of a :class:`RoadNetwork` (what the disk cache stores).
ARRAY_FIELDS = ("node_osmid", "node_x", "node_y", "node_lon", "node_lat", "node_base", "node_depart", "seg_way",
                "seg_start", "seg_end", "seg_length", "coord_x", "coord_y", "coord_lon", "coord_lat", "arc_u",
                "arc_v", "arc_seg", "arc_back", "arc_turn")

#: The tables of a :class:`RoadNetwork`.
TABLE_FIELDS = ("ways", "node_tags", "turns", "tag_problems")


@dataclass
class RoadNetwork:
    """A road network in a local metric CRS, ready for :class:`gridtools.routing.Router`.

    Attributes
    ----------
    node_* : numpy arrays per graph node (OSM id, metric x/y, lon/lat).  ``node_base`` is the
        node a copy was split from (turn restrictions; itself for ordinary nodes);
        ``node_depart`` the node a route starting there leaves from.
    seg_* : per road segment (a way between two junctions): way row, first and last position in
        the flat ``coord_*`` arrays, length in metres.
    arc_* : per directed arc: tail, head, segment (-1 for a turn connector), ``arc_back`` True when
        the arc runs against the way's drawing direction, ``arc_turn`` the row of ``turns`` that
        governs this connector (-1 none).
    ways, node_tags, turns, tag_problems : pandas.DataFrame
    crs : pyproj.CRS
        Metric CRS of ``node_x``/``node_y``/``coord_x``/``coord_y``.
    source : str
        Where the network came from (file name).
    """

    node_osmid: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray
    node_lon: np.ndarray
    node_lat: np.ndarray
    node_base: np.ndarray
    node_depart: np.ndarray
    seg_way: np.ndarray
    seg_start: np.ndarray
    seg_end: np.ndarray
    seg_length: np.ndarray
    coord_x: np.ndarray
    coord_y: np.ndarray
    coord_lon: np.ndarray
    coord_lat: np.ndarray
    arc_u: np.ndarray
    arc_v: np.ndarray
    arc_seg: np.ndarray
    arc_back: np.ndarray
    arc_turn: np.ndarray
    ways: pd.DataFrame
    node_tags: pd.DataFrame
    turns: pd.DataFrame
    tag_problems: pd.DataFrame
    crs: pyproj.CRS
    source: str = ""
    cache_path: Path | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def derived(self, name: str, compute):
        """A value computed once from the network and kept with it (``compute()`` on first use).

        Users of a network (router, restrictions, dispatch) keep their per-network arrays here,
        so they live exactly as long as the network and are dropped when its graph changes.

        Parameters
        ----------
        name : str
            Key of the value (one namespace per network: prefix it with its owner if in doubt).
        compute : callable
            Called without arguments the first time ``name`` is asked for.

        Returns
        -------
        object
            The kept value.

        Examples
        --------
        >>> km = net.derived("seg_length_km", lambda: net.seg_length / 1000)  # doctest: +SKIP
        """
        if name not in self._cache:
            self._cache[name] = compute()
        return self._cache[name]

    def forget_derived(self) -> None:
        """Drop every derived value (call after changing the graph arrays)."""
        self._cache.clear()

    @property
    def n_nodes(self) -> int:
        return len(self.node_x)

    @property
    def n_arcs(self) -> int:
        return len(self.arc_u)

    @property
    def arc_way(self) -> np.ndarray:
        """Row of ``ways`` for every arc (-1 for turn connectors)."""
        return self.derived("arc_way", lambda: np.where(self.arc_seg >= 0,
                                                        self.seg_way[np.maximum(self.arc_seg, 0)], -1))

    @property
    def way_osmid(self) -> np.ndarray:
        """OSM id of every row of ``ways``."""
        return self.derived("way_osmid", lambda: self.ways["osmid"].to_numpy(np.int64))

    @property
    def way_name(self) -> np.ndarray:
        """``name`` of every row of ``ways`` (object array; missing names as the column holds them)."""
        return self.derived("way_name", lambda: self.ways["name"].to_numpy(dtype=object))

    @property
    def arc_length(self) -> np.ndarray:
        """Length of every arc in metres (0 for turn connectors)."""
        return self.derived("arc_length", lambda: np.where(self.arc_seg >= 0,
                                                           self.seg_length[np.maximum(self.arc_seg, 0)], 0.0))

    @property
    def summary(self) -> dict:
        applied = int((self.turns["status"] == "applied").sum()) if len(self.turns) else 0
        return {"source": self.source, "crs": self.crs.to_string(), "nodes": self.n_nodes, "arcs": self.n_arcs,
                "ways": len(self.ways), "turn_restrictions": len(self.turns), "turn_restrictions_applied": applied,
                "tag_problems": len(self.tag_problems)}

    def __repr__(self) -> str:
        s = self.summary
        return (f"RoadNetwork({s['source']!r}: {s['nodes']:,} nodes, {s['arcs']:,} arcs, {s['ways']:,} ways, "
                f"{s['turn_restrictions']} turn restrictions, {s['tag_problems']} tag problems, {s['crs']})")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in self.summary.items())
        return f"<table><caption>RoadNetwork</caption>{rows}</table>"

    def segment_lines(self, segs: np.ndarray, back: np.ndarray | None = None, lonlat: bool = True) -> np.ndarray:
        """Shapely LineStrings of segments (reversed where ``back``), in lon/lat or metres."""
        import shapely

        segs = np.asarray(segs, dtype=np.int64)
        back = np.zeros(len(segs), bool) if back is None else np.asarray(back, bool)
        starts, ends = self.seg_start[segs], self.seg_end[segs]
        counts = ends - starts + 1
        idx = np.repeat(starts - np.cumsum(np.r_[0, counts[:-1]]), counts) + np.arange(counts.sum())
        # reverse the point order inside reversed segments
        rev_idx = np.repeat(ends + np.cumsum(np.r_[0, counts[:-1]]), counts) - np.arange(counts.sum())
        idx = np.where(np.repeat(back, counts), rev_idx, idx)
        xs, ys = (self.coord_lon, self.coord_lat) if lonlat else (self.coord_x, self.coord_y)
        coords = np.column_stack([xs[idx], ys[idx]])
        return shapely.linestrings(coords, indices=np.repeat(np.arange(len(segs)), counts))

    def edges_frame(self, lonlat: bool = True):
        """All directed road arcs as a GeoDataFrame (osmid, highway, name, u, v, length_m)."""
        import geopandas as gpd

        road = np.flatnonzero(self.arc_seg >= 0)
        ways = self.ways.iloc[self.arc_way[road]]
        return gpd.GeoDataFrame(
            {"arc": road, "osmid": ways["osmid"].to_numpy(), "highway": ways["highway"].to_numpy(),
             "name": ways["name"].to_numpy(), "u": self.node_osmid[self.arc_u[road]],
             "v": self.node_osmid[self.arc_v[road]], "length_m": self.arc_length[road]},
            geometry=self.segment_lines(self.arc_seg[road], self.arc_back[road], lonlat=lonlat),
            crs="EPSG:4326" if lonlat else self.crs)
