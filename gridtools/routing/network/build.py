"""Building the routing graph from roads: segments, directed arcs and parsed restriction columns.

Input is what the loaders produce: one row per road (way) with its tags, and each road's node
ids and lon/lat vertices.  Roads are split into *segments* at junctions, ends, tagged nodes and
the via nodes of turn restrictions; each segment gives one directed arc per allowed direction.
Limits and speeds are parsed once here (``maxweight`` -> ``maxweight_t`` ...), and every value
that cannot be read is listed in ``RoadNetwork.tag_problems``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pyproj

from gridtools.routing import tags as T
from gridtools.routing.network.roadnetwork import ACCESS_KEYS, LIMIT_UNITS, RoadNetwork
from gridtools.routing.network.turns import apply_turn_restrictions
from gridtools.crs import local_metric_crs

#: Speeds (km/h) by road class when a way has no readable ``maxspeed``.
DEFAULT_SPEEDS = {
    "motorway": 100.0, "motorway_link": 60.0, "trunk": 80.0, "trunk_link": 50.0, "primary": 60.0,
    "primary_link": 40.0, "secondary": 50.0, "secondary_link": 35.0, "tertiary": 40.0,
    "tertiary_link": 30.0, "unclassified": 30.0, "residential": 25.0, "living_street": 10.0,
    "service": 15.0, "road": 25.0, "track": 10.0, "busway": 30.0,
}


def build_network(ways: pd.DataFrame, refs: list, lons: list, lats: list, node_tags: pd.DataFrame,
                  turns: pd.DataFrame, source: str) -> RoadNetwork:
    """A :class:`RoadNetwork` from roads, their vertices, node tags and turn restrictions.

    Parameters
    ----------
    ways : pandas.DataFrame
        One row per road: ``osmid`` and OSM tags (:data:`~gridtools.routing.network.WAY_KEYS`).
    refs, lons, lats : list of lists
        Per road, its node ids and their longitudes and latitudes, in drawing order (roads that
        share a node id meet there).
    node_tags : pandas.DataFrame
        ``osmid`` and tags of tagged nodes (barriers, node limits); may be empty.
    turns : pandas.DataFrame
        Turn restriction relations as read by :func:`~gridtools.routing.network_from_osm`; may be empty.
    source : str
        Name of the input, for messages.

    Returns
    -------
    RoadNetwork
        In a local metric CRS, with turn restrictions built in.

    Examples
    --------
    >>> import pandas as pd
    >>> net = build_network(pd.DataFrame({"osmid": [7], "highway": ["primary"]}), [[1, 2]],
    ...                     [[8.0, 8.01]], [[49.0, 49.0]], pd.DataFrame(), pd.DataFrame(), source="demo")
    >>> net.n_nodes, net.n_arcs
    (2, 2)
    """
    for key in ("name", "highway"):
        if key not in ways:
            ways[key] = None
    ways = ways.reset_index(drop=True)
    counts = np.fromiter((len(r) for r in refs), dtype=np.int64, count=len(refs))
    flat_ref = np.fromiter((x for r in refs for x in r), dtype=np.int64, count=int(counts.sum()))
    flat_lon = np.fromiter((x for r in lons for x in r), dtype=float, count=len(flat_ref))
    flat_lat = np.fromiter((x for r in lats for x in r), dtype=float, count=len(flat_ref))
    way_of = np.repeat(np.arange(len(ways)), counts)
    crs, fx, fy = _project(flat_lon, flat_lat)
    vertex = _Vertices(flat_ref, *np.unique(flat_ref, return_inverse=True, return_counts=True))

    node_tags = node_tags.copy() if len(node_tags) else pd.DataFrame({"osmid": pd.Series([], dtype="int64")})
    is_split = _split_points(vertex, counts, node_tags, turns)
    seg_start, seg_end, seg_length, seg_way = _segments(is_split, way_of, flat_ref, fx, fy)
    node_ids, node_pos, seg_u, seg_v = _junctions(vertex, seg_start, seg_end)

    oneway = _oneway_codes(ways)
    ways["oneway"] = ways.get("oneway", pd.Series([None] * len(ways)))
    ways["oneway_code"] = oneway
    arc_u, arc_v, arc_seg, arc_back = _arcs(oneway[seg_way], seg_u, seg_v)

    node_tags = node_tags[node_tags["osmid"].isin(node_ids)].copy()
    node_tags["node"] = np.searchsorted(node_ids, node_tags["osmid"].to_numpy())
    problems = parse_tag_columns(ways, node_tags)
    net = RoadNetwork(
        node_osmid=node_ids, node_x=fx[node_pos], node_y=fy[node_pos], node_lon=flat_lon[node_pos],
        node_lat=flat_lat[node_pos], node_base=np.arange(len(node_ids)),
        node_depart=np.arange(len(node_ids)),
        seg_way=seg_way, seg_start=seg_start, seg_end=seg_end, seg_length=seg_length,
        coord_x=fx, coord_y=fy, coord_lon=flat_lon, coord_lat=flat_lat,
        arc_u=arc_u, arc_v=arc_v, arc_seg=arc_seg, arc_back=arc_back, arc_turn=np.full(len(arc_u), -1),
        ways=ways, node_tags=node_tags.reset_index(drop=True), turns=pd.DataFrame(), tag_problems=problems,
        crs=crs, source=source)
    apply_turn_restrictions(net, turns)
    return net


def _project(lon: np.ndarray, lat: np.ndarray) -> tuple:
    """The local metric CRS around the vertices' median, and the vertices in it."""
    import geopandas as gpd
    import shapely


    centre = gpd.GeoDataFrame(geometry=[shapely.Point(np.median(lon), np.median(lat))], crs=4326)
    crs = local_metric_crs(centre)
    fx, fy = pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    return crs, np.asarray(fx), np.asarray(fy)


class _Vertices(NamedTuple):
    """The node ids of all road vertices (flat, road after road) and their ``np.unique``."""

    ref: np.ndarray      # node id of every vertex
    uniq: np.ndarray     # sorted distinct node ids
    inverse: np.ndarray  # position in ``uniq`` of every vertex
    usage: np.ndarray    # vertices per distinct node id


def _split_points(vertex: _Vertices, counts: np.ndarray, node_tags: pd.DataFrame,
                  turns: pd.DataFrame) -> np.ndarray:
    """Vertices where roads are split: junctions, road ends, tagged nodes, via nodes of turn restrictions."""
    flat_ref = vertex.ref
    first = np.r_[0, np.cumsum(counts)[:-1]]
    last = np.cumsum(counts) - 1
    is_split = vertex.usage[vertex.inverse] > 1
    is_split[first] = True
    is_split[last] = True
    special = set(node_tags["osmid"].tolist())
    if len(turns):
        special |= {n for v in turns["via_node"] for n in v}
    if special:
        is_split |= np.isin(flat_ref, np.fromiter(special, dtype=np.int64))
    return is_split


def _segments(is_split: np.ndarray, way_of: np.ndarray, flat_ref: np.ndarray, fx: np.ndarray,
              fy: np.ndarray) -> tuple:
    """Segments between consecutive split points of one road: start, end, length (m), road row."""
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
    return seg_start[~drop], seg_end[~drop], seg_length[~drop], seg_way[~drop]


def _junctions(vertex: _Vertices, seg_start: np.ndarray, seg_end: np.ndarray) -> tuple:
    """Graph nodes (sorted OSM ids at segment ends), a vertex of each, and every segment's end nodes."""
    flat_ref, uniq, inverse = vertex.ref, vertex.uniq, vertex.inverse
    node_ids = np.unique(np.r_[flat_ref[seg_start], flat_ref[seg_end]])
    pos_of = np.full(len(uniq), -1)
    first_pos = np.zeros(len(uniq), np.int64)
    first_pos[inverse[::-1]] = np.arange(len(flat_ref))[::-1]  # the first vertex of each node id
    node_pos = first_pos[np.searchsorted(uniq, node_ids)]
    pos_of[np.searchsorted(uniq, node_ids)] = np.arange(len(node_ids))
    return node_ids, node_pos, pos_of[inverse[seg_start]], pos_of[inverse[seg_end]]


def _arcs(oneway: np.ndarray, seg_u: np.ndarray, seg_v: np.ndarray) -> tuple:
    """Directed arcs of segments with one-way codes ``oneway``: forward arcs first, then backward ones."""
    fwd = oneway != -1
    bwd = oneway != 1
    segs = np.arange(len(oneway))
    arc_u = np.r_[seg_u[fwd], seg_v[bwd]]
    arc_v = np.r_[seg_v[fwd], seg_u[bwd]]
    arc_seg = np.r_[segs[fwd], segs[bwd]]
    arc_back = np.r_[np.zeros(fwd.sum(), bool), np.ones(bwd.sum(), bool)]
    return arc_u, arc_v, arc_seg, arc_back


def _oneway_codes(ways: pd.DataFrame) -> np.ndarray:
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


def parse_tag_columns(ways: pd.DataFrame, node_tags: pd.DataFrame) -> pd.DataFrame:
    """Add parsed limit and speed columns to ``ways`` and ``node_tags`` (in place); list unreadable values.

    Limits become ``maxweight_t``, ``maxheight_m``... (``inf`` none, NaN unreadable), speeds
    ``speed_kmh`` (the road class default of :data:`DEFAULT_SPEEDS` where ``maxspeed`` is missing
    or unreadable).  Unknown access values and ``:conditional`` values with parts that cannot be
    read are listed too.

    Parameters
    ----------
    ways, node_tags : pandas.DataFrame
        With ``osmid`` and raw OSM tag columns; changed in place.

    Returns
    -------
    pandas.DataFrame
        ``osm_type``, ``osmid``, ``key``, ``value``, ``problem``: one row per unreadable value.

    Examples
    --------
    >>> import pandas as pd
    >>> ways = pd.DataFrame({"osmid": [1], "highway": ["primary"], "maxweight": ["heavy"]})
    >>> parse_tag_columns(ways, pd.DataFrame({"osmid": []}))[["osmid", "key", "value"]].values.tolist()
    [[1, 'maxweight', 'heavy']]
    >>> ways["speed_kmh"].tolist()
    [60.0]
    """
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

    for key, unit in LIMIT_UNITS.items():
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
        problems += _access_problems(table, osm_type) + _condition_problems(table, osm_type)
    return pd.DataFrame(problems, columns=["osm_type", "osmid", "key", "value", "problem"])


def _access_problems(table: pd.DataFrame, osm_type: str) -> list:
    out = []
    for key in [c for c in table.columns if c.split(":")[0] in ACCESS_KEYS and not c.endswith("conditional")]:
        for v in table[key].dropna().unique():
            if T.access_level(v)[1]:
                for osmid in table.loc[table[key] == v, "osmid"]:
                    out.append((osm_type, int(osmid), key, str(v), T.access_level(v)[1]))
    return out


def _condition_problems(table: pd.DataFrame, osm_type: str) -> list:
    out = []
    for key in [c for c in table.columns if c.endswith(":conditional")]:
        for v in table[key].dropna().unique():
            parsed = T.parse_conditional(v)
            unknown = [u for _, c in parsed for u in c.unknown]
            if not parsed or unknown:
                why = (f"condition part(s) {', '.join(map(repr, unknown))} not understood; the more restrictive "
                       "reading is used") if parsed else "no 'VALUE @ (CONDITION)' found; ignored"
                for osmid in table.loc[table[key] == v, "osmid"]:
                    out.append((osm_type, int(osmid), key, str(v), why))
    return out
