"""Loading road networks: OpenStreetMap files (PBF, XML) and road line files, with the disk cache.

:func:`load_network` is the entry point: it reads the disk cache when the file is unchanged, and
otherwise parses the file with :func:`network_from_osm` (``.osm.pbf``, ``.osm``...) or reads it
with :func:`gridtools.io.read_any` and builds it with :func:`network_from_frames`, then writes the
cache.  Both loaders hand roads, vertices, node tags and turn restrictions to
:func:`~gridtools.routing.network.build.build_network`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyproj

from gridtools.errors import InputError, missing_dependency, rows_where
from gridtools.routing.network.build import build_network
from gridtools.routing.network.cache import cache_folder, read_cache, write_cache
from gridtools.routing.network.roadnetwork import DRIVABLE, NODE_KEYS, WAY_KEYS, RoadNetwork
from gridtools.crs import local_metric_crs
from gridtools import validate

#: File name endings read as OpenStreetMap data (anything else goes through gridtools.io).
OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.xml", ".osm.bz2", ".osm.gz")


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
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"road network file {path} does not exist")
    folder = cache_folder(path, crs=crs, columns=columns, cache_dir=cache_dir)
    if cache and (folder / "network.npz").exists():
        try:
            return read_cache(folder)
        except Exception:  # a damaged cache is rebuilt, never trusted
            pass
    if progress:
        progress("reading road network", 0, 1)
    if path.name.lower().endswith(OSM_SUFFIXES):
        net = network_from_osm(path)
    else:
        from gridtools import io

        net = network_from_frames(io.read_any(path, crs=crs), source=path.name, columns=columns)
    net.source = path.name
    if progress:
        progress("reading road network", 1, 1)
    if cache:
        write_cache(net, folder)
    return net


# --------------------------------------------------------------------------------------------
# OpenStreetMap


def network_from_osm(path) -> RoadNetwork:
    """Parse an OSM file (PBF or XML) into a :class:`RoadNetwork` (no cache; see :func:`load_network`).

    Drivable roads (``highway`` in :data:`~gridtools.routing.network.DRIVABLE`, not areas), their
    restriction tags, tagged nodes (barriers, node limits) and ``type=restriction`` relations are
    read; everything else is skipped inside osmium, so the millions of plain nodes of a city
    never reach Python.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    RoadNetwork

    Raises
    ------
    InputError
        The file cannot be read, or has no drivable roads.

    Examples
    --------
    >>> net = network_from_osm("shanghai_huangpu_drive.osm")   # doctest: +SKIP
    """
    osmium = _osm_reader()
    path = Path(path)
    try:
        node_rows = _read_tagged_nodes(osmium, path)
        way_rows, way_refs, way_lon, way_lat, turn_rows = _read_roads_and_restrictions(osmium, path)
    except RuntimeError as exc:
        raise InputError(f"cannot read OpenStreetMap file {path}: {exc}") from exc
    if not way_rows:
        raise InputError(f"{path} has no drivable roads (ways with highway={', '.join(sorted(DRIVABLE)[:5])}, ...)")
    ways = pd.DataFrame(way_rows)
    nodes = pd.DataFrame(node_rows) if node_rows else pd.DataFrame({"osmid": pd.Series([], dtype="int64")})
    return build_network(ways, way_refs, way_lon, way_lat, nodes, pd.DataFrame(turn_rows), source=path.name)


def _osm_reader():
    try:
        import osmium
    except ImportError as exc:  # pragma: no cover - osmium is a core dependency
        raise missing_dependency("osmium") from exc
    return osmium


def _read_tagged_nodes(osmium, path: Path) -> list[dict]:
    """Nodes with a barrier, access or limit tag (filtered in C++)."""
    node_keys = set(NODE_KEYS)
    tagged = osmium.FileProcessor(str(path), osmium.osm.NODE).with_filter(
        osmium.filter.KeyFilter(*[k for k in node_keys if k != "highway"]))
    rows = []
    for obj in tagged:
        row = {t.k: t.v for t in obj.tags if t.k in node_keys}
        row["osmid"] = obj.id
        rows.append(row)
    return rows


def _read_roads_and_restrictions(osmium, path: Path) -> tuple:
    """Drivable ways (tags, node ids, lon, lat) and turn restriction relations, in one pass."""
    way_keys = set(WAY_KEYS)
    way_rows, way_refs, way_lon, way_lat, turn_rows = [], [], [], [], []
    # node locations are collected on the way (osmium's C++ index)
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
            turn_rows.append(_restriction_row(obj))
    return way_rows, way_refs, way_lon, way_lat, turn_rows


def _restriction_row(obj) -> dict:
    """One ``type=restriction`` relation: its kind, who it applies to, and its member ways and nodes."""
    members = [(m.type, m.ref, m.role) for m in obj.members]
    return {
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
    }


# --------------------------------------------------------------------------------------------
# road line files


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
    source : str, default "edges"
        Name of the input, for messages and ``RoadNetwork.source``.
    columns : dict, optional
        Renames applied first, e.g. ``{"link_id": "osmid", "road_name": "name", "dir": "oneway"}``
        (``oneway`` values 1 / 0 / -1 read as yes / no / against the drawing direction).

    Returns
    -------
    RoadNetwork

    Raises
    ------
    InputError
        No CRS, a renamed column that is missing, non-line geometries, a non-integer ``osmid``, or
        a node point more than 0.5 m from every road vertex.

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


    if edges.crs is None:
        raise InputError(f"{source} has no coordinate reference system; set one on the frame "
                         "(edges.set_crs('EPSG:4326')) or pass crs=... to load_network, e.g. crs='EPSG:4326'")
    if columns:
        validate.require_columns(edges, {c: "columns" for c in columns}, source)
        edges = edges.rename(columns=dict(columns))
    edges = edges[~edges.geometry.is_empty & edges.geometry.notna()].explode(index_parts=False)
    bad = ~edges.geom_type.isin(["LineString"])
    if bad.any():
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
        node_table = _node_table(nodes, lonlat, coords, vid)
    return build_network(ways, refs, lons, lats, node_table, pd.DataFrame(), source=source)


def _node_table(nodes, lonlat, coords: np.ndarray, vid: np.ndarray) -> pd.DataFrame:
    """Node tags of a point file, each point matched to the road vertex it sits on (within 0.5 m)."""
    import shapely
    from scipy.spatial import cKDTree


    pts = shapely.get_coordinates(nodes.to_crs(4326).geometry.values)
    metric = local_metric_crs(lonlat)
    tf = pyproj.Transformer.from_crs(4326, metric, always_xy=True)
    vx, vy = tf.transform(coords[:, 0], coords[:, 1])
    px, py = tf.transform(pts[:, 0], pts[:, 1])
    dist, pos = cKDTree(np.column_stack([vx, vy])).query(np.column_stack([px, py]))
    far = dist > 0.5
    if far.any():
        raise InputError(f"node file: {rows_where(far, nodes.index)} are more than 0.5 m from any road vertex "
                         f"(nearest {dist[far].min():.1f} m); snap them onto the lines")
    node_table = pd.DataFrame({k: nodes[k].to_numpy() for k in NODE_KEYS if k in nodes.columns})
    node_table["osmid"] = vid[pos]
    return node_table
