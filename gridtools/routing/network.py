"""Road networks for routing: loading from OSM or edge files, a metric CRS, a disk cache.

A :class:`RoadNetwork` is flat numpy arrays (nodes, road segments, directed arcs, segment
geometry) plus three tables: ``ways`` (one row per OSM way with its restriction tags, raw and
parsed), ``node_tags`` (barriers and node-level limits) and ``turns`` (turn restrictions).
Restrictions stay *data* on the network; a :class:`~gridtools.routing.Vehicle` turns them into a
mask per request, so one network serves every vehicle.

Turn restrictions (``type=restriction`` relations with a via *node*) are built into the graph by
splitting the via node: every incoming arc gets its own copy of the node, and each copy keeps
only the turns allowed from that arc (plus a departure copy and an arrival sink), so every
shortest-path engine honours them exactly.  Restrictions that apply only to some vehicles
(``restriction:hgv``, ``except=``) or only at some times keep the turn arc and block it per
request.  Via-*way* restrictions are built in by path duplication (as OSRM and Valhalla do): the
nodes along the via path are split as above, then the from arc is sent into a private copy of the
via path whose last junction lacks the forbidden exits, so only the from -> via -> to sequence is
removed and every other path stays available.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj

from gridtools.errors import InputError, missing_dependency
from gridtools.routing import tags as T

#: Bump when the cached layout changes so stale caches are rebuilt.
CACHE_VERSION = 5

#: ``highway`` values that motor vehicles may use (others, e.g. footway, are not loaded).
DRIVABLE = frozenset({
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
    "secondary_link", "tertiary", "tertiary_link", "unclassified", "residential", "living_street",
    "service", "road", "track", "busway",
})

#: Speeds (km/h) by road class when a way has no readable ``maxspeed``.
DEFAULT_SPEEDS = {
    "motorway": 100.0, "motorway_link": 60.0, "trunk": 80.0, "trunk_link": 50.0, "primary": 60.0,
    "primary_link": 40.0, "secondary": 50.0, "secondary_link": 35.0, "tertiary": 40.0,
    "tertiary_link": 30.0, "unclassified": 30.0, "residential": 25.0, "living_street": 10.0,
    "service": 15.0, "road": 25.0, "track": 10.0, "busway": 30.0,
}

_ACCESS_BASES = ("access", "vehicle", "motor_vehicle", "motorcar", "goods", "hgv")
_LIMIT_KEYS = {"maxweight": "t", "maxheight": "m", "maxwidth": "m", "maxlength": "m", "maxaxleload": "t"}
WAY_KEYS = tuple(
    ["highway", "name", "ref", "oneway", "oneway:motor_vehicle", "oneway:vehicle", "junction", "maxspeed",
     "service", "area", "hgv:national_network", "maxheight:physical"]
    + [f"{b}{s}" for b in _ACCESS_BASES for s in ("", ":forward", ":backward", ":conditional",
                                                  ":forward:conditional", ":backward:conditional")]
    + [f"{k}{s}" for k in _LIMIT_KEYS for s in ("", ":conditional")]
)
NODE_KEYS = ("barrier", *_ACCESS_BASES, "maxheight", "maxweight", "maxwidth", "maxlength", "highway")
TURN_KINDS = ("no_left_turn", "no_right_turn", "no_straight_on", "no_u_turn", "no_entry", "no_exit",
              "only_left_turn", "only_right_turn", "only_straight_on", "only_u_turn")

_ARRAYS = ("node_osmid", "node_x", "node_y", "node_lon", "node_lat", "node_base", "node_depart", "seg_way", "seg_start",
           "seg_end", "seg_length", "coord_x", "coord_y", "coord_lon", "coord_lat", "arc_u", "arc_v",
           "arc_seg", "arc_back", "arc_turn")


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

    @property
    def n_nodes(self) -> int:
        return len(self.node_x)

    @property
    def n_arcs(self) -> int:
        return len(self.arc_u)

    @property
    def arc_way(self) -> np.ndarray:
        """Row of ``ways`` for every arc (-1 for turn connectors)."""
        if "arc_way" not in self._cache:
            self._cache["arc_way"] = np.where(self.arc_seg >= 0, self.seg_way[np.maximum(self.arc_seg, 0)], -1)
        return self._cache["arc_way"]

    @property
    def way_osmid(self) -> np.ndarray:
        """OSM id of every row of ``ways``."""
        if "way_osmid" not in self._cache:
            self._cache["way_osmid"] = self.ways["osmid"].to_numpy(np.int64)
        return self._cache["way_osmid"]

    @property
    def arc_length(self) -> np.ndarray:
        """Length of every arc in metres (0 for turn connectors)."""
        if "arc_length" not in self._cache:
            self._cache["arc_length"] = np.where(self.arc_seg >= 0,
                                                 self.seg_length[np.maximum(self.arc_seg, 0)], 0.0)
        return self._cache["arc_length"]

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


# --------------------------------------------------------------------------------------------
# loading


def load_network(path, *, cache: bool = True, cache_dir=None, crs=None, columns: dict | None = None,
                 progress=None) -> RoadNetwork:
    """Load a road network from an OSM file (``.osm.pbf``, ``.osm``) or an edge file, with a disk cache.

    The first load parses the file (seconds to a minute for a city) and writes arrays to
    ``settings.cache_dir/routing/<name>-<hash>/``; later loads of the same unchanged file read the
    cache (well under a second for a city).

    Parameters
    ----------
    path : str or os.PathLike
        ``.osm.pbf`` / ``.osm`` / ``.osm.xml`` (OpenStreetMap), or any file :func:`gridtools.io.read_any`
        reads holding road lines with OSM-style columns (see :func:`network_from_frames`).
    cache : bool, default True
    cache_dir : path, optional
        Default ``gridtools.settings.cache_dir``.
    crs : str, optional
        CRS of an edge file that has none.
    columns : dict, optional
        Edge files: rename columns to the OSM-style names, e.g. ``{"link_id": "osmid", "dir": "oneway"}``.
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    RoadNetwork

    Examples
    --------
    >>> net = load_network("bus.osm.pbf")          # doctest: +SKIP
    >>> net.summary["turn_restrictions"]           # doctest: +SKIP
    22
    """
    from gridtools import settings

    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"road network file {path} does not exist")
    name = path.name.lower()
    is_osm = name.endswith((".osm.pbf", ".pbf", ".osm", ".osm.xml", ".osm.bz2", ".osm.gz"))
    stat = path.stat()
    key = hashlib.sha1(json.dumps([str(path.resolve()), stat.st_size, stat.st_mtime_ns, CACHE_VERSION,
                                   str(crs), sorted((columns or {}).items())]).encode()).hexdigest()[:16]
    folder = Path(cache_dir or settings.cache_dir) / "routing" / f"{path.name}-{key}"
    if cache and (folder / "network.npz").exists():
        try:
            return _read_cache(folder)
        except Exception:  # a damaged cache is rebuilt, never trusted
            pass
    if progress:
        progress("reading road network", 0, 1)
    if is_osm:
        net = network_from_osm(path)
    else:
        from gridtools import io

        net = network_from_frames(io.read_any(path, crs=crs), source=path.name, columns=columns)
    net.source = path.name
    if progress:
        progress("reading road network", 1, 1)
    if cache:
        _write_cache(net, folder)
    return net


def _write_cache(net: RoadNetwork, folder: Path) -> None:
    import shutil
    import tempfile

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    np.savez(tmp / "network.npz", **{k: getattr(net, k) for k in _ARRAYS})
    for table in ("ways", "node_tags", "turns", "tag_problems"):
        _to_parquet(getattr(net, table), tmp / f"{table}.parquet")
    (tmp / "meta.json").write_text(json.dumps({"crs": net.crs.to_wkt(), "source": net.source}))
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    net.cache_path = folder


def _to_parquet(df: pd.DataFrame, path: Path) -> None:
    df = df.copy()
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    df.to_parquet(path)


def _read_cache(folder: Path) -> RoadNetwork:
    arrays = np.load(folder / "network.npz")
    tables = {t: pd.read_parquet(folder / f"{t}.parquet") for t in ("ways", "node_tags", "turns", "tag_problems")}
    meta = json.loads((folder / "meta.json").read_text())
    net = RoadNetwork(**{k: arrays[k] for k in _ARRAYS}, **tables, crs=pyproj.CRS.from_wkt(meta["crs"]),
                      source=meta["source"], cache_path=folder)
    return net


def _osm_reader():
    try:
        import osmium
    except ImportError as exc:  # pragma: no cover - osmium is a core dependency
        raise missing_dependency("osmium") from exc
    return osmium


def network_from_osm(path) -> RoadNetwork:
    """Parse an OSM file (PBF or XML) into a :class:`RoadNetwork` (no cache; see :func:`load_network`).

    Examples
    --------
    >>> net = network_from_osm("shanghai_huangpu_drive.osm")   # doctest: +SKIP
    """
    osmium = _osm_reader()
    path = Path(path)
    way_rows, way_refs, way_lon, way_lat = [], [], [], []
    node_rows, turn_rows = [], []
    node_keys = set(NODE_KEYS)
    way_keys = set(WAY_KEYS)
    try:
        # tagged nodes: filtered in C++, so the millions of plain nodes never reach Python
        tagged = osmium.FileProcessor(str(path), osmium.osm.NODE).with_filter(
            osmium.filter.KeyFilter(*[k for k in node_keys if k != "highway"]))
        for obj in tagged:
            row = {t.k: t.v for t in obj.tags if t.k in node_keys}
            row["osmid"] = obj.id
            node_rows.append(row)
        # roads and restriction relations; node locations are collected on the way (C++ index)
        processor = (osmium.FileProcessor(str(path)).with_locations()
                     .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY | osmium.osm.RELATION))
                     .with_filter(osmium.filter.KeyFilter("highway", "type")))
        for obj in processor:
            if obj.is_way():
                highway = obj.tags.get("highway")
                if highway not in DRIVABLE or obj.tags.get("area") == "yes" or len(obj.nodes) < 2:
                    continue
                refs, lons, lats = [], [], []
                for n in obj.nodes:
                    if not n.location.valid():
                        continue
                    refs.append(n.ref)
                    lons.append(n.location.lon)
                    lats.append(n.location.lat)
                if len(refs) < 2:
                    continue
                row = {t.k: t.v for t in obj.tags if t.k in way_keys}
                row["osmid"] = obj.id
                way_rows.append(row)
                way_refs.append(refs)
                way_lon.append(lons)
                way_lat.append(lats)
            elif obj.is_relation():
                kind = obj.tags.get("type")
                if kind not in ("restriction",) and not str(kind).startswith("restriction"):
                    continue
                members = [(m.type, m.ref, m.role) for m in obj.members]
                turn_rows.append({
                    "relation": obj.id,
                    "restriction": obj.tags.get("restriction") or next(
                        (t.v for t in obj.tags if t.k.startswith("restriction:") and t.k != "restriction:conditional"),
                        None),
                    "only_for": next((t.k.split(":", 1)[1] for t in obj.tags
                                      if t.k.startswith("restriction:") and t.k != "restriction:conditional"), None),
                    "conditional": obj.tags.get("restriction:conditional"),
                    "except": obj.tags.get("except"),
                    "from_way": [r for t, r, role in members if role == "from" and t == "w"],
                    "via_node": [r for t, r, role in members if role == "via" and t == "n"],
                    "via_way": [r for t, r, role in members if role == "via" and t == "w"],
                    "to_way": [r for t, r, role in members if role == "to" and t == "w"],
                })
    except RuntimeError as exc:
        raise InputError(f"cannot read OpenStreetMap file {path}: {exc}") from exc
    if not way_rows:
        raise InputError(f"{path} has no drivable roads (ways with highway={', '.join(sorted(DRIVABLE)[:5])}, ...)")
    ways = pd.DataFrame(way_rows)
    nodes = pd.DataFrame(node_rows) if node_rows else pd.DataFrame({"osmid": pd.Series([], dtype="int64")})
    return _build(ways, way_refs, way_lon, way_lat, nodes, pd.DataFrame(turn_rows), source=path.name)


def network_from_frames(edges, nodes=None, *, source: str = "edges", columns: dict | None = None) -> RoadNetwork:
    """Build a network from your own road lines (a GeoDataFrame), with OSM-style columns.

    Each row is one road (a way), drawn in its direction of travel when one-way.  Lines must meet
    at shared end points (noded); a line is split where another line ends on one of its vertices.
    Recognised columns (all optional): ``osmid`` (id reported in routes, default the row number),
    ``highway``, ``name``, ``oneway``, ``maxspeed``, the access tags (``access``, ``hgv``,
    ``motor_vehicle``...), ``maxweight``, ``maxheight``, ``maxwidth``, ``maxlength``,
    ``maxaxleload`` and their ``:conditional`` forms, in OSM syntax.

    Parameters
    ----------
    edges : geopandas.GeoDataFrame
        LineStrings (MultiLineStrings are split into their parts).
    nodes : geopandas.GeoDataFrame, optional
        Points with node tags (``barrier``, ``maxheight``...); matched to line vertices within 0.5 m.
    columns : dict, optional
        Renames applied first, e.g. ``{"link_id": "osmid", "road_name": "name", "dir": "oneway"}``
        (``oneway`` values 1 / 0 / -1 read as yes / no / against the drawing direction).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> roads = gpd.GeoDataFrame({"highway": ["primary", "residential"], "maxweight": ["7.5", None]},
    ...     geometry=[shapely.LineString([(8.0, 49.0), (8.01, 49.0)]),
    ...               shapely.LineString([(8.01, 49.0), (8.01, 49.01)])], crs=4326)
    >>> net = network_from_frames(roads)
    >>> net.n_nodes, net.n_arcs
    (3, 4)
    """
    import shapely

    from gridtools import io

    if edges.crs is None:
        raise InputError(f"{source} has no coordinate reference system; pass crs=... (CLI: --crs EPSG:nnnn)")
    if columns:
        from gridtools import io

        io.require_columns(edges, {c: "--columns" for c in columns}, source)
        edges = edges.rename(columns=dict(columns))
    edges = edges[~edges.geometry.is_empty & edges.geometry.notna()].explode(index_parts=False)
    bad = ~edges.geom_type.isin(["LineString"])
    if bad.any():
        from gridtools.errors import rows_where

        raise InputError(f"{source}: road lines must be LineStrings; {rows_where(bad.to_numpy(), edges.index)} "
                         f"are {edges.geom_type[bad].iloc[0]}")
    lonlat = edges.to_crs(4326)
    ways = pd.DataFrame({k: edges[k].to_numpy() for k in WAY_KEYS if k in edges.columns})
    ways["osmid"] = (pd.to_numeric(edges["osmid"], errors="coerce").to_numpy()
                     if "osmid" in edges.columns else np.arange(1, len(edges) + 1))
    if ways["osmid"].isna().any():
        raise InputError(f"{source}: column osmid must hold whole numbers")
    ways["osmid"] = ways["osmid"].astype("int64")
    if "highway" not in ways:
        ways["highway"] = "road"
    coords = shapely.get_coordinates(lonlat.geometry.values)
    counts = shapely.get_num_coordinates(lonlat.geometry.values)
    # vertices are identified by rounded coordinates (about 1 cm) so touching lines share nodes
    keys = np.round(coords * 1e7).astype(np.int64)
    _, vid = np.unique(keys, axis=0, return_inverse=True)
    vid = vid.ravel().astype(np.int64) + 1
    offsets = np.r_[0, np.cumsum(counts)]
    refs = [vid[offsets[i]:offsets[i + 1]].tolist() for i in range(len(counts))]
    lons = [coords[offsets[i]:offsets[i + 1], 0].tolist() for i in range(len(counts))]
    lats = [coords[offsets[i]:offsets[i + 1], 1].tolist() for i in range(len(counts))]
    node_table = pd.DataFrame({"osmid": pd.Series([], dtype="int64")})
    if nodes is not None and len(nodes):
        pts = shapely.get_coordinates(nodes.to_crs(4326).geometry.values)
        from scipy.spatial import cKDTree

        metric = io.local_metric_crs(lonlat)
        tf = pyproj.Transformer.from_crs(4326, metric, always_xy=True)
        vx, vy = tf.transform(coords[:, 0], coords[:, 1])
        px, py = tf.transform(pts[:, 0], pts[:, 1])
        dist, pos = cKDTree(np.column_stack([vx, vy])).query(np.column_stack([px, py]))
        far = dist > 0.5
        if far.any():
            from gridtools.errors import rows_where

            raise InputError(f"node file: {rows_where(far, nodes.index)} are more than 0.5 m from any road vertex "
                             f"(nearest {dist[far].min():.1f} m); snap them onto the lines")
        node_table = pd.DataFrame({k: nodes[k].to_numpy() for k in NODE_KEYS if k in nodes.columns})
        node_table["osmid"] = vid[pos]
    return _build(ways, refs, lons, lats, node_table, pd.DataFrame(), source=source)


# --------------------------------------------------------------------------------------------
# building the graph


def _oneway(ways: pd.DataFrame) -> np.ndarray:
    """1 forward only, -1 backward only, 0 both ways, 2 reversible (direction changes by time)."""
    n = len(ways)
    value = pd.Series([None] * n, dtype=object)
    for key in ("oneway", "oneway:vehicle", "oneway:motor_vehicle"):  # most specific last
        if key in ways:
            value = ways[key].where(ways[key].notna(), value)
    text = value.fillna("").astype(str).str.strip().str.lower().to_numpy()
    out = np.zeros(n, np.int8)
    out[np.isin(text, ["yes", "true", "1"])] = 1
    out[np.isin(text, ["-1", "reverse"])] = -1
    out[np.isin(text, ["reversible", "alternating"])] = 2
    implied = (ways.get("junction", pd.Series([None] * n)).isin(["roundabout", "circular"]).to_numpy()
               | (ways["highway"].to_numpy() == "motorway"))
    out[(text == "") & implied] = 1
    return out


def _parse_columns(ways: pd.DataFrame, node_tags: pd.DataFrame) -> pd.DataFrame:
    """Parse limits and speeds once at load; collect every unreadable value."""
    problems = []

    def parse(table, key, parser, osm_type):
        if key not in table:
            return np.full(len(table), np.inf)
        raw = table[key]
        uniq = raw.dropna().unique()
        parsed = {v: parser(v) for v in uniq}
        for v, (_, problem) in parsed.items():
            if problem:
                for osmid in table.loc[raw == v, "osmid"]:
                    problems.append((osm_type, int(osmid), key, str(v), problem))
        return raw.map(lambda v: parsed[v][0] if v in parsed else np.inf).to_numpy(dtype=float)

    for key, unit in _LIMIT_KEYS.items():
        parser = T.parse_weight if unit == "t" else T.parse_length
        ways[f"{key}_{unit}"] = parse(ways, key, parser, "way")
        if key in ("maxheight", "maxweight", "maxwidth", "maxlength"):
            node_tags[f"{key}_{unit}"] = parse(node_tags, key, parser, "node")
    physical = parse(ways, "maxheight:physical", T.parse_length, "way")
    ways["maxheight_m"] = np.minimum(ways["maxheight_m"].to_numpy(), physical)  # NaN (unreadable) stays NaN
    speeds = parse(ways, "maxspeed", T.parse_speed, "way")
    speeds = np.where(np.isinf(speeds), np.nan, speeds)
    default = ways["highway"].map(DEFAULT_SPEEDS).fillna(25.0).to_numpy(dtype=float)
    ways["speed_kmh"] = np.where(np.isnan(speeds) | (speeds <= 0), default, speeds)
    for table, osm_type in ((ways, "way"), (node_tags, "node")):
        for key in [c for c in table.columns if c.split(":")[0] in _ACCESS_BASES and not c.endswith("conditional")]:
            for v in table[key].dropna().unique():
                if T.access_level(v)[1]:
                    for osmid in table.loc[table[key] == v, "osmid"]:
                        problems.append((osm_type, int(osmid), key, str(v), T.access_level(v)[1]))
        for key in [c for c in table.columns if c.endswith(":conditional")]:
            for v in table[key].dropna().unique():
                parsed = T.parse_conditional(v)
                unknown = [u for _, c in parsed for u in c.unknown]
                if not parsed or unknown:
                    why = (f"condition part(s) {', '.join(map(repr, unknown))} not understood; the more restrictive "
                           "reading is used") if parsed else "no 'VALUE @ (CONDITION)' found; ignored"
                    for osmid in table.loc[table[key] == v, "osmid"]:
                        problems.append((osm_type, int(osmid), key, str(v), why))
    return pd.DataFrame(problems, columns=["osm_type", "osmid", "key", "value", "problem"])


def _build(ways: pd.DataFrame, refs: list, lons: list, lats: list, node_tags: pd.DataFrame,
           turns: pd.DataFrame, source: str) -> RoadNetwork:
    import geopandas as gpd
    import shapely

    from gridtools import io

    for key in ("name", "highway"):
        if key not in ways:
            ways[key] = None
    ways = ways.reset_index(drop=True)
    counts = np.fromiter((len(r) for r in refs), dtype=np.int64, count=len(refs))
    flat_ref = np.fromiter((x for r in refs for x in r), dtype=np.int64, count=int(counts.sum()))
    flat_lon = np.fromiter((x for r in lons for x in r), dtype=float, count=len(flat_ref))
    flat_lat = np.fromiter((x for r in lats for x in r), dtype=float, count=len(flat_ref))
    way_of = np.repeat(np.arange(len(ways)), counts)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    last = np.cumsum(counts) - 1

    centre = gpd.GeoDataFrame(geometry=[shapely.Point(np.median(flat_lon), np.median(flat_lat))], crs=4326)
    crs = io.local_metric_crs(centre)
    fx, fy = pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(flat_lon, flat_lat)
    fx, fy = np.asarray(fx), np.asarray(fy)

    # split ways at junctions, ends, tagged nodes and via nodes of turn restrictions
    uniq, inverse, usage = np.unique(flat_ref, return_inverse=True, return_counts=True)
    is_split = usage[inverse] > 1
    is_split[first] = True
    is_split[last] = True
    node_tags = node_tags.copy() if len(node_tags) else pd.DataFrame({"osmid": pd.Series([], dtype="int64")})
    special = set(node_tags["osmid"].tolist())
    if len(turns):
        special |= {n for v in turns["via_node"] for n in v}
    if special:
        is_split |= np.isin(flat_ref, np.fromiter(special, dtype=np.int64))
    split_pos = np.flatnonzero(is_split)
    starts, ends = split_pos[:-1], split_pos[1:]
    keep = way_of[starts] == way_of[ends]
    seg_start, seg_end = starts[keep], ends[keep]
    step = np.r_[np.hypot(np.diff(fx), np.diff(fy)), 0.0]
    cum = np.r_[0.0, np.cumsum(step)[:-1]]
    seg_length = cum[seg_end] - cum[seg_start]
    seg_way = way_of[seg_start]
    # self-loops of zero length carry no route
    drop = (flat_ref[seg_start] == flat_ref[seg_end]) & (seg_length <= 0)
    seg_start, seg_end, seg_length, seg_way = seg_start[~drop], seg_end[~drop], seg_length[~drop], seg_way[~drop]

    node_ids = np.unique(np.r_[flat_ref[seg_start], flat_ref[seg_end]])
    pos_of = np.full(len(uniq), -1)
    first_pos = np.zeros(len(uniq), np.int64)
    first_pos[inverse[::-1]] = np.arange(len(flat_ref))[::-1]
    node_pos = first_pos[np.searchsorted(uniq, node_ids)]
    pos_of[np.searchsorted(uniq, node_ids)] = np.arange(len(node_ids))
    seg_u = pos_of[inverse[seg_start]]
    seg_v = pos_of[inverse[seg_end]]

    oneway = _oneway(ways)
    ways["oneway"] = ways.get("oneway", pd.Series([None] * len(ways)))
    ways["oneway_code"] = oneway
    ow = oneway[seg_way]
    fwd = ow != -1
    bwd = ow != 1
    segs = np.arange(len(seg_way))
    arc_u = np.r_[seg_u[fwd], seg_v[bwd]]
    arc_v = np.r_[seg_v[fwd], seg_u[bwd]]
    arc_seg = np.r_[segs[fwd], segs[bwd]]
    arc_back = np.r_[np.zeros(fwd.sum(), bool), np.ones(bwd.sum(), bool)]

    node_tags = node_tags[node_tags["osmid"].isin(node_ids)].copy()
    node_tags["node"] = np.searchsorted(node_ids, node_tags["osmid"].to_numpy())
    problems = _parse_columns(ways, node_tags)
    net = RoadNetwork(
        node_osmid=node_ids, node_x=fx[node_pos], node_y=fy[node_pos], node_lon=flat_lon[node_pos],
        node_lat=flat_lat[node_pos], node_base=np.arange(len(node_ids)),
        node_depart=np.arange(len(node_ids)),
        seg_way=seg_way, seg_start=seg_start, seg_end=seg_end, seg_length=seg_length,
        coord_x=fx, coord_y=fy, coord_lon=flat_lon, coord_lat=flat_lat,
        arc_u=arc_u, arc_v=arc_v, arc_seg=arc_seg, arc_back=arc_back, arc_turn=np.full(len(arc_u), -1),
        ways=ways, node_tags=node_tags.reset_index(drop=True), turns=pd.DataFrame(), tag_problems=problems,
        crs=crs, source=source)
    _apply_turns(net, turns)
    return net


def _apply_turns(net: RoadNetwork, turns: pd.DataFrame) -> None:
    """Split via nodes so that turn restrictions hold in any plain shortest-path search."""
    cols = ["relation", "restriction", "only_for", "conditional", "except", "from_way", "via_node", "via_way",
            "to_way", "status"]
    if not len(turns):
        net.turns = pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
        return
    turns = turns.copy()
    status = []
    way_row = pd.Series(np.arange(len(net.ways)), index=net.ways["osmid"].to_numpy())
    way_row = way_row[~way_row.index.duplicated()]
    arc_way = net.arc_way
    arc_osm = np.where(arc_way >= 0, net.ways["osmid"].to_numpy()[np.maximum(arc_way, 0)], -1)
    rules: dict[int, list] = {}
    via_way_rules: list = []
    for i, t in enumerate(turns.itertuples(index=False)):
        cond = t.conditional if isinstance(t.conditional, str) else ""
        kind = t.restriction if isinstance(t.restriction, str) else cond.split("@")[0].strip()
        turns.loc[turns.index[i], "restriction"] = kind
        if kind not in TURN_KINDS:
            status.append(f"not applied: unknown restriction {kind!r}")
            continue
        if t.via_way:
            why = _via_way_path(net, t, arc_osm, way_row)
            if isinstance(why, str):
                status.append(why)
                continue
            froms, path, tos = why
            for n in {int(net.arc_v[x]) for x in path} | {int(net.arc_u[path[0]])}:
                rules.setdefault(n, [])  # split the path's nodes so that each can be copied with its arrivals
            via_way_rules.append((i, kind, froms, path, tos))
            status.append("applied")
            continue
        if len(t.from_way) != 1 or len(t.via_node) != 1 or len(t.to_way) != 1:
            status.append("not applied: needs exactly one from way, one via node and one to way")
            continue
        if t.from_way[0] not in way_row.index or t.to_way[0] not in way_row.index:
            status.append("not applied: from/to way is not a loaded road")
            continue
        via = np.searchsorted(net.node_osmid, t.via_node[0])
        if via >= len(net.node_osmid) or net.node_osmid[via] != t.via_node[0]:
            status.append("not applied: via node is not on the network")
            continue
        ins = np.flatnonzero((net.arc_v == via) & (arc_osm == t.from_way[0]))
        outs = np.flatnonzero((net.arc_u == via) & (arc_osm == t.to_way[0]))
        if not len(ins) or not len(outs):
            status.append("not applied: from/to way does not enter/leave the via node (check directions)")
            continue
        rules.setdefault(int(via), []).append((i, kind, set(ins.tolist()), set(outs.tolist())))
        status.append("applied")
    turns["status"] = status
    for c in ("from_way", "via_node", "via_way", "to_way"):
        turns[c] = turns[c].map(lambda v: ";".join(map(str, v)))
    net.turns = turns[[c for c in cols if c in turns]].reset_index(drop=True)
    if not rules:
        return
    arc_u, arc_v = net.arc_u.copy(), net.arc_v.copy()
    base, depart = list(net.node_base), list(range(net.n_nodes))
    copies: list[int] = []
    new_u, new_v, new_turn = [], [], []

    def copy_of(node: int) -> int:
        base.append(node)
        depart.append(len(base) - 1)
        copies.append(node)
        return len(base) - 1

    for via, node_rules in rules.items():
        ins = np.flatnonzero(net.arc_v == via)
        outs = np.flatnonzero(net.arc_u == via)
        entry = {int(o): copy_of(via) for o in outs}
        for o, e in entry.items():
            arc_u[o] = e
        d = copy_of(via)  # departure copy: starting at the via node is never a turn
        depart[via] = d
        for e in entry.values():
            new_u.append(d), new_v.append(e), new_turn.append(-1)
        angle = {(int(a), int(o)): _turn_angle(net, a, o) for a in ins for o in outs}
        for a in ins:
            c = copy_of(via)
            arc_v[a] = c
            new_u.append(c), new_v.append(via), new_turn.append(-1)  # arrival at the via node itself
            forbidding = {}
            for row, kind, rin, rout in node_rules:
                if a not in rin:
                    continue
                targets = [o for o in outs if o in rout]
                if len(targets) > 1:  # the 'to' way runs both ways out of the node: pick by geometry
                    pick = {"left": max, "right": min}.get(kind.split("_")[1] if "_" in kind else "", None)
                    if kind.endswith("straight_on"):
                        targets = [min(targets, key=lambda o: abs(angle[(int(a), int(o))]))]
                    elif kind.endswith("u_turn"):
                        targets = [max(targets, key=lambda o: abs(angle[(int(a), int(o))]))]
                    elif pick is not None:
                        targets = [pick(targets, key=lambda o: angle[(int(a), int(o))])]
                for o in outs:
                    if (kind.startswith("no_") and o in targets) or (kind.startswith("only_") and o not in targets):
                        forbidding.setdefault(int(o), []).append(row)
            for o in outs:
                rows = forbidding.get(int(o), [])
                if any(_unconditional(net.turns.iloc[r]) for r in rows):
                    continue  # never allowed for anyone: no connector at all
                new_u.append(c), new_v.append(entry[int(o)]), new_turn.append(rows[0] if rows else -1)
    k = len(new_u)
    net.arc_u = np.r_[arc_u, np.asarray(new_u, np.int64)]
    net.arc_v = np.r_[arc_v, np.asarray(new_v, np.int64)]
    net.arc_seg = np.r_[net.arc_seg, np.full(k, -1, np.int64)]
    net.arc_back = np.r_[net.arc_back, np.zeros(k, bool)]
    net.arc_turn = np.r_[net.arc_turn, np.asarray(new_turn, np.int64)]
    idx = np.asarray(copies, np.int64)
    net.node_base = np.asarray(base, np.int64)
    net.node_depart = np.asarray(depart, np.int64)
    net.node_x, net.node_y = np.r_[net.node_x, net.node_x[idx]], np.r_[net.node_y, net.node_y[idx]]
    net.node_lon, net.node_lat = np.r_[net.node_lon, net.node_lon[idx]], np.r_[net.node_lat, net.node_lat[idx]]
    net.node_osmid = np.r_[net.node_osmid, net.node_osmid[idx]]
    net._cache.clear()
    for row, kind, froms, path, tos in via_way_rules:
        _duplicate_via_path(net, row, kind, froms, path, tos)


def _turn_angle(net: RoadNetwork, a: int, o: int) -> float:
    """Signed turn angle in degrees from arc ``a`` into arc ``o`` (positive = left)."""
    def step(arc, at_end):
        s, e = net.seg_start[net.arc_seg[arc]], net.seg_end[net.arc_seg[arc]]
        forward = not net.arc_back[arc]
        if at_end:  # direction arriving at the head
            p, q = (e - 1, e) if forward else (s + 1, s)
        else:  # direction leaving the tail
            p, q = (s, s + 1) if forward else (e, e - 1)
        return net.coord_x[q] - net.coord_x[p], net.coord_y[q] - net.coord_y[p]

    (x1, y1), (x2, y2) = step(a, True), step(o, False)
    return math.degrees(math.atan2(x1 * y2 - y1 * x2, x1 * x2 + y1 * y2))


def _unconditional(turn) -> bool:
    return not (turn.get("only_for") or turn.get("except") or turn.get("conditional"))


def _via_way_path(net: RoadNetwork, t, arc_osm: np.ndarray, way_row) -> tuple | str:
    """Road arcs of a via-way restriction (before any splitting): from arcs, via path, to arcs.

    Returns a ``not applied: ...`` text when the members do not form a drivable from -> via -> to chain.
    """
    if len(t.from_way) != 1 or len(t.to_way) != 1 or t.via_node:
        return "not applied: needs exactly one from way, one or more via ways and one to way"
    if any(w not in way_row.index for w in [t.from_way[0], t.to_way[0], *t.via_way]):
        return "not applied: from/via/to way is not a loaded road"
    on_via = np.flatnonzero(np.isin(arc_osm, np.asarray(t.via_way, np.int64)))
    f_arcs = np.flatnonzero(arc_osm == t.from_way[0])
    t_arcs = np.flatnonzero(arc_osm == t.to_way[0])
    # breadth-first search over the via ways' arcs, from the nodes the from way enters to those the
    # to way leaves: the fewest-arc chain is the via path (via ways meet end to end in valid relations)
    starts = set(net.arc_v[f_arcs].tolist()) & set(net.arc_u[on_via].tolist())
    ends = set(net.arc_u[t_arcs].tolist())
    out: dict[int, list] = {}
    for x in on_via:
        out.setdefault(int(net.arc_u[x]), []).append(int(x))
    prev, frontier, found = {n: None for n in starts}, list(starts), None
    while frontier and found is None:
        nxt = []
        for n in frontier:
            for x in out.get(n, []):
                m = int(net.arc_v[x])
                if m in prev:
                    continue
                prev[m] = x
                if m in ends:
                    found = m
                    break
                nxt.append(m)
            if found is not None:
                break
        frontier = nxt
    if found is None:
        return "not applied: from/via/to ways do not form a drivable chain (check directions)"
    path, n = [], found
    while prev[n] is not None:
        path.append(prev[n])
        n = int(net.arc_u[prev[n]])
    path = path[::-1]
    froms = [int(x) for x in f_arcs if net.arc_v[x] == n and x not in path]
    seen = set(net.ways["osmid"].to_numpy()[net.arc_way[path]].tolist())
    if not seen >= set(t.via_way):
        return "not applied: the via path does not use every via way"
    tos = [int(x) for x in t_arcs if net.arc_u[x] == found]
    return froms, path, tos


def _duplicate_via_path(net: RoadNetwork, row: int, kind: str, froms: list, path: list, tos: list) -> None:
    """Send each from arc into a private copy of the via path that lacks the forbidden exits.

    Works on the current (already split) graph, so restrictions sharing arcs compose: a second one
    duplicates the copies made by the first.  A conditional restriction keeps its exits, governed by
    ``arc_turn`` so that :func:`~gridtools.routing.restrictions.arc_rules` blocks them per request.
    Inside the copy a U-turn back along the via way is left out: it would rejoin the original via
    arcs and reach the forbidden exit anyway.
    """
    def ident(x):  # copies of a road arc share its segment and side
        return int(net.arc_seg[x]), bool(net.arc_back[x])

    last_base = int(net.node_base[net.arc_v[path[-1]]])
    allowed = {ident(x) for x in tos}
    u, v = net.arc_u, net.arc_v

    def out_of(n):
        return np.flatnonzero(u == n)

    def next_road(f):
        """The road arc a connector leads onto (itself for a road arc; None for an arrival)."""
        if net.arc_seg[f] >= 0:
            return ident(f)
        after = [g for g in out_of(v[f]) if net.arc_seg[g] >= 0]
        return ident(after[0]) if len(after) == 1 else None

    unconditional = _unconditional(net.turns.iloc[row])
    new = []  # (u, v, seg, back, turn)
    base, copies = list(net.node_base), []
    arc_v = net.arc_v.copy()
    for a in froms:
        # the walk a, [connector], via arc, [connector], via arc, ... on the current graph
        walk, node = [int(a)], int(v[a])
        for want in [ident(x) for x in path]:
            step = [g for g in out_of(node) if ident(g) == want]
            if not step:
                hop = [(c, g) for c in out_of(node) if net.arc_seg[c] < 0 for g in out_of(v[c]) if ident(g) == want]
                if not hop:
                    walk = None  # the chain is already impossible (e.g. a via-node ban): nothing to do
                    break
                walk.append(int(hop[0][0]))
                step = [hop[0][1]]
            walk.append(int(step[0]))
            node = int(v[step[0]])
        if walk is None:
            continue
        heads = [int(v[g]) for g in walk]
        twin = {}
        for h in heads:
            base.append(int(net.node_base[h]))
            copies.append(h)
            twin[h] = len(base) - 1
        arc_v[a] = twin[heads[0]]
        for i, h in enumerate(heads):
            for f in out_of(h):
                f = int(f)
                if i + 1 < len(heads) and f == walk[i + 1]:
                    new.append((twin[h], twin[heads[i + 1]], net.arc_seg[f], net.arc_back[f], net.arc_turn[f]))
                    continue
                turn = int(net.arc_turn[f])
                if i > 0 and net.arc_seg[walk[i]] >= 0 and next_road(f) == (int(net.arc_seg[walk[i]]),
                                                                            not net.arc_back[walk[i]]):
                    continue  # no U-turn on the via way inside the copy: it would lead back to the ban
                if i + 1 == len(heads):
                    road = next_road(f)
                    bad = road is not None and (road in allowed if kind.startswith("no_") else
                                                road not in allowed)
                    if bad and int(net.node_base[h]) == last_base:
                        if unconditional:
                            continue
                        turn = row
                new.append((twin[h], int(v[f]), net.arc_seg[f], net.arc_back[f], turn))
    if not copies:
        return
    idx = np.asarray(copies, np.int64)
    net.arc_v = arc_v
    if new:
        cols = list(zip(*new))
        net.arc_u = np.r_[net.arc_u, np.asarray(cols[0], np.int64)]
        net.arc_v = np.r_[net.arc_v, np.asarray(cols[1], np.int64)]
        net.arc_seg = np.r_[net.arc_seg, np.asarray(cols[2], np.int64)]
        net.arc_back = np.r_[net.arc_back, np.asarray(cols[3], bool)]
        net.arc_turn = np.r_[net.arc_turn, np.asarray(cols[4], np.int64)]
    n0 = len(net.node_depart)
    net.node_base = np.asarray(base, np.int64)
    net.node_depart = np.r_[net.node_depart, np.arange(n0, n0 + len(idx))]
    net.node_x, net.node_y = np.r_[net.node_x, net.node_x[idx]], np.r_[net.node_y, net.node_y[idx]]
    net.node_lon, net.node_lat = np.r_[net.node_lon, net.node_lon[idx]], np.r_[net.node_lat, net.node_lat[idx]]
    net.node_osmid = np.r_[net.node_osmid, net.node_osmid[idx]]
    net._cache.clear()
