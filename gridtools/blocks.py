"""Atomic units from the street, river and rail network.

Management grids are unions of *blocks*: the faces that streets, railways and rivers cut out
of a district.  Drawing grids on blocks keeps every grid edge on a street or a river, which is
where residents and field staff expect it.

Typical use with OpenStreetMap data::

    lines = network_lines_from_osm(osm_ways)              # drop footpaths, tunnels, ...
    boundary = boundary_from_features(buildings)           # if no district outline is at hand
    blocks = blocks_from_network(boundary, lines, major="major")

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box, LineString
>>> district = gpd.GeoDataFrame(geometry=[box(0, 0, 200, 100)], crs=32651)
>>> street = gpd.GeoDataFrame(geometry=[LineString([(100, -10), (100, 110)])], crs=32651)
>>> blocks_from_network(district, street)[["block_id", "area_m2"]].values.tolist()
[[0.0, 10000.0], [1.0, 10000.0]]
"""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from gridtools import settings
from gridtools.io import local_metric_crs
from gridtools.errors import CRSError, InputError, describe_rows, rows_where

#: Faces smaller than this (m²) are merged into a neighbour.  Traffic islands, the strip between
#: two carriageways drawn a few metres apart and noding artefacts are this small; a real
#: urban block, even a tiny one, is larger.
DEFAULT_MIN_AREA_M2: float = 200.0

#: Default ``snap_m`` of :func:`blocks_from_network`: far above reprojection noise (nanometres
#: to centimetres for lines clipped in degrees), far below the width of a street.
DEFAULT_SNAP_M: float = 0.5

#: Default ``buffer_m`` of :func:`boundary_from_features`: enough to keep the outermost
#: buildings wholly inside the boundary and give edge blocks some room.
DEFAULT_BUFFER_M: float = 30.0

#: OSM ``highway`` values that do not bound blocks: paths through a block would shatter it into
#: slivers, and planned or indoor ways are not on the ground.
EXCLUDE_HIGHWAY: tuple[str, ...] = (
    "footway", "path", "steps", "cycleway", "service", "track", "pedestrian", "corridor",
    "elevator", "bridleway", "proposed", "construction", "platform", "abandoned",
)
#: OSM ``railway`` values that are not tracks in use.
EXCLUDE_RAILWAY: tuple[str, ...] = (
    "abandoned", "disused", "dismantled", "razed", "proposed", "construction", "platform",
    "miniature",
)

# shapely.get_type_id codes
_POINTS = (0, 4)  # Point, MultiPoint
_LINES = (1, 2, 5)  # LineString, LinearRing, MultiLineString
_POLYGONS = (3, 6)  # Polygon, MultiPolygon


def blocks_from_network(
    boundary: gpd.GeoDataFrame | gpd.GeoSeries,
    lines: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    min_area_m2: float = DEFAULT_MIN_AREA_M2,
    major: str | Iterable[bool] | None = None,
    snap_m: float = DEFAULT_SNAP_M,
) -> gpd.GeoDataFrame:
    """Cut a district into blocks along a network of lines.

    The lines (roads, railways, rivers) are noded together with the district outline
    (:func:`shapely.union_all`) and polygonized (:func:`shapely.polygonize`); the faces inside
    the district are the blocks.  Lines outside the district are ignored, so no clipping is
    needed beforehand; dead-end streets form no face and simply lie inside a block.  Polygons
    among the lines (water areas, riverbanks) are dissolved and contribute their outline, so a
    river becomes a block of its own.

    Faces smaller than ``min_area_m2`` are merged into the neighbour with which they share the
    longest edge (preferring neighbours that are not small themselves), so nothing is dropped
    and the blocks tile the district exactly: no gaps, no overlaps, the same total area
    (checked to 1e-6 relative in metres).

    Parameters
    ----------
    boundary : geopandas.GeoDataFrame or GeoSeries
        District outline with a CRS; several rows are unioned.  Must be valid polygons.
    lines : geopandas.GeoDataFrame or GeoSeries
        Network lines with a CRS (reprojected as needed), e.g. from
        :func:`network_lines_from_osm`.  Polygons are used by their outline; points are an error.
    min_area_m2 : float
        Faces below this area are merged into a neighbour; 0 keeps every face.
    major : str or array-like of bool, optional
        Which lines are major barriers (arterials, rails, rivers): a boolean column of
        ``lines`` or a mask aligned with it.  If given, blocks get a ``piece`` column: blocks
        in the same piece are not separated by any major line, so the partitioner can treat
        pieces independently.  Small faces are then only merged within their piece.
    snap_m : float
        Line ends closer than this (metres) to the district outline are extended across it,
        so streets already clipped to the district still split the edge blocks although
        reprojection leaves their ends a hair short of the outline.  0 disables this.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per block, in the boundary's CRS, with ``block_id`` (0..n-1 in reading order:
        north to south in rows about one typical block high, west to east within a row; also
        the index), ``area_m2`` and, with ``major``, ``piece``.

    Raises
    ------
    InputError
        If the boundary is empty or invalid, or ``lines`` holds points or a bad ``major``.
    CRSError
        If either input has no CRS.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box, LineString
    >>> district = gpd.GeoDataFrame(geometry=[box(0, 0, 300, 100)], crs=32651)
    >>> streets = gpd.GeoDataFrame({"major": [True, False]}, crs=32651, geometry=[
    ...     LineString([(100, 0), (100, 100)]), LineString([(200, 0), (200, 100)])])
    >>> blocks_from_network(district, streets, major="major")["piece"].tolist()
    [0, 1, 1]
    """
    _require_crs(boundary, "boundary")
    _require_crs(lines, "lines")
    if min_area_m2 < 0 or snap_m < 0:
        raise InputError(f"min_area_m2 and snap_m must be >= 0, got {min_area_m2}, {snap_m}")
    mask = _major_mask(lines, major)
    metric = local_metric_crs(boundary)
    area = _district_polygon(boundary, metric)
    network = _to_crs(lines.geometry if hasattr(lines, "geometry") else lines, metric)
    edges = _linework(network, "lines")

    faces = _faces(area, edges, snap_m)
    piece = None
    if mask is not None:
        # Pieces get the same small-face merging as blocks, so that a sliver between two
        # major lines (say, a river bank seam) does not strand the blocks inside it.
        pieces = _faces(area, _linework(network[mask], "lines"), snap_m)
        piece = _merge_small(pieces, min_area_m2)[_locate(shapely.point_on_surface(faces), pieces)]
    label = _merge_small(faces, min_area_m2, piece)
    blocks = (
        gpd.GeoDataFrame({"label": label, "piece": piece}, geometry=faces, crs=metric)
        .dissolve("label", aggfunc="first")
        .reset_index(drop=True)
    )
    _check_tiling(blocks.area.to_numpy(), area)

    blocks = blocks.iloc[_reading_order(blocks.geometry)].reset_index(drop=True)
    blocks.insert(0, "block_id", np.arange(len(blocks)))
    blocks.insert(1, "area_m2", blocks.area)
    if piece is None:
        blocks = blocks.drop(columns="piece")
    else:
        # Number pieces in the order their first block is read, so ids are stable and readable.
        blocks["piece"] = pd.factorize(blocks["piece"])[0]
    blocks.index = pd.RangeIndex(len(blocks))  # unnamed: a named index would clash on to_file
    return blocks.to_crs(boundary.crs)


def network_lines_from_osm(
    gdf: gpd.GeoDataFrame,
    kinds: Iterable[str] = ("highway", "railway", "waterway"),
    exclude_highway: Iterable[str] = EXCLUDE_HIGHWAY,
    *,
    exclude_railway: Iterable[str] = EXCLUDE_RAILWAY,
    exclude_waterway: Iterable[str] = (),
    exclude_tunnels: bool = True,
) -> gpd.GeoDataFrame:
    """Keep the OSM ways that bound blocks, as single LineStrings.

    A way is kept if, for at least one tag column in ``kinds``, it has a value not in that
    kind's exclude list.  Footpaths, service roads and the like are left out by default
    because they cross blocks and would shatter them into slivers; tunnels (``tunnel`` tag
    other than "no") are left out because people cross over them.  Multi-part lines are
    exploded; areas (e.g. ``waterway=riverbank``) become their outline; nodes are left out.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        OSM ways with tag columns, e.g. from ``pyrosm`` or ``osmnx.features_from_*`` or the
        edges of an ``osmnx`` graph (list-valued tags are handled).
    kinds : iterable of str
        Tag columns that make a way a barrier; absent columns are skipped.
    exclude_highway, exclude_railway, exclude_waterway : iterable of str
        Tag values that do not make a way a barrier.
    exclude_tunnels : bool
        Drop ways whose ``tunnel`` tag is set to anything but "no".

    Returns
    -------
    geopandas.GeoDataFrame
        The kept ways, one LineString per row (the original index label repeats for the parts
        of a multi-part way), with the original columns plus ``major`` (bool): True if a tag
        value is listed in ``settings.major_barrier_tags`` (pass ``major="major"`` to
        :func:`blocks_from_network`).

    Raises
    ------
    InputError
        If none of the ``kinds`` columns exists.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import LineString
    >>> ways = gpd.GeoDataFrame(
    ...     {"highway": ["primary", "footway", "residential"], "tunnel": [None, None, "yes"]},
    ...     geometry=[LineString([(0, 0), (1, 0)])] * 3, crs=4326)
    >>> network_lines_from_osm(ways)[["highway", "major"]].values.tolist()
    [['primary', True]]
    """
    kinds = [k for k in kinds if k in gdf.columns]
    if not kinds:
        raise InputError(
            "the features have none of the OSM tag columns highway, railway, waterway: "
            "pass OSM ways with their tags, or the column names via kinds="
        )
    excluded = {
        "highway": exclude_highway, "railway": exclude_railway, "waterway": exclude_waterway
    }
    keep = np.zeros(len(gdf), dtype=bool)
    major = np.zeros(len(gdf), dtype=bool)
    for kind in kinds:  # a loop over at most three tag columns, not over rows
        keep |= _tag_in(gdf[kind], excluded.get(kind, ()), negate=True)
        major |= _tag_in(gdf[kind], settings.major_barrier_tags.get(kind, ()))
    if exclude_tunnels and "tunnel" in gdf.columns:
        keep &= ~_tag_in(gdf["tunnel"], ("no",), negate=True)

    out = gdf[keep].copy()
    out["major"] = major[keep]
    kind = shapely.get_type_id(out.geometry.values)
    areas = np.isin(kind, _POLYGONS)
    out.loc[areas, out.geometry.name] = out.geometry[areas].boundary
    return out[np.isin(kind, _LINES + _POLYGONS)].explode(index_parts=False)


def boundary_from_features(
    gdf: gpd.GeoDataFrame | gpd.GeoSeries,
    buffer_m: float = DEFAULT_BUFFER_M,
    *,
    ratio: float = 1.0,
) -> gpd.GeoDataFrame:
    """A district outline around some features, for when no official boundary is at hand.

    The hull of every vertex of the features (convex for ``ratio=1``, a tighter concave hull
    by :func:`shapely.concave_hull` for smaller ratios), widened by ``buffer_m`` metres so
    the outermost features lie wholly inside.  An official boundary is better: this one
    follows the data, so blocks at its edge are cut by the hull, not by streets.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame or GeoSeries
        Features with a CRS, e.g. buildings or register points.
    buffer_m : float
        Margin in metres (>= 0).
    ratio : float
        Concave-hull ratio in (0, 1]; 1 gives the convex hull.

    Returns
    -------
    geopandas.GeoDataFrame
        One row with the outline polygon, in the CRS of ``gdf``.

    Raises
    ------
    InputError
        If there are no features or they span no area and ``buffer_m`` is 0.
    CRSError
        If ``gdf`` has no CRS.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> pts = gpd.GeoSeries([Point(0, 0), Point(100, 0), Point(0, 100)], crs=32651)
    >>> round(boundary_from_features(pts, buffer_m=0).area.iloc[0])
    5000
    """
    _require_crs(gdf, "features")
    if not 0 < ratio <= 1:
        raise InputError(f"ratio must be in (0, 1], got {ratio}")
    if buffer_m < 0:
        raise InputError(f"buffer_m must be >= 0, got {buffer_m}")
    geoms = gdf.geometry if hasattr(gdf, "geometry") else gdf
    geoms = geoms[geoms.notna() & ~geoms.is_empty]
    if geoms.empty:
        raise InputError("there are no features with a geometry to draw a boundary around")
    metric = local_metric_crs(geoms)
    vertices = shapely.multipoints(shapely.get_coordinates(geoms.to_crs(metric).values))
    hull = shapely.concave_hull(vertices, ratio=ratio) if ratio < 1 else vertices.convex_hull
    hull = hull.buffer(buffer_m, quad_segs=4) if buffer_m > 0 else hull
    if hull.area <= 0:
        raise InputError("the features span no area: give a positive buffer_m")
    return gpd.GeoDataFrame(geometry=[hull], crs=metric).to_crs(gdf.crs)


def _district_polygon(boundary, metric: CRS):
    """The boundary as one valid (Multi)Polygon in the metric CRS."""
    geoms = _to_crs(boundary.geometry if hasattr(boundary, "geometry") else boundary, metric)
    geoms = geoms[geoms.notna() & ~geoms.is_empty]
    kind = shapely.get_type_id(geoms.values)
    if geoms.empty or not np.isin(kind, _POLYGONS).all():
        raise InputError("the boundary must be one or more non-empty polygons")
    invalid = ~geoms.is_valid
    if invalid.any():
        reason = shapely.is_valid_reason(geoms[invalid].values[0])
        raise InputError(
            f"the boundary is not a valid polygon in {rows_where(invalid, geoms.index)} "
            f"({reason}): repair it, e.g. with geopandas' make_valid()"
        )
    return shapely.union_all(geoms.values)


def _linework(geoms: gpd.GeoSeries, what: str) -> np.ndarray:
    """Lines of ``geoms`` as an array: lines as they are, polygons as their dissolved outline."""
    geoms = geoms[geoms.notna() & ~geoms.is_empty]
    parts = pd.Series(shapely.get_parts(geoms.values), index=geoms.index.repeat(
        shapely.get_num_geometries(geoms.values)))  # unpacks multi-geometries and collections
    kind = shapely.get_type_id(parts.to_numpy())
    points = np.isin(kind, _POINTS)
    if points.any():
        raise InputError(
            f"{what} contain points in {describe_rows(pd.unique(parts.index[points]))}: "
            "only lines and polygons bound blocks; remove the points"
        )
    lines = parts.to_numpy()[np.isin(kind, _LINES)]
    polygons = parts.to_numpy()[np.isin(kind, _POLYGONS)]
    if polygons.size:
        # Dissolve first: areas cut into pieces (tiles, multipolygon members) must not leave
        # their internal seams as block edges.
        outline = shapely.union_all(polygons).boundary
        lines = np.append(lines, outline)
    return lines


def _faces(area, lines: np.ndarray, snap: float) -> np.ndarray:
    """Faces of the lines noded with the district outline, inside the district."""
    # Only lines near the district matter; the rest would just slow the noding.
    lines = lines[shapely.dwithin(lines, area, snap)]
    lines = _extend_to_outline(lines, area.boundary, snap)
    # Node the full lines with the outline (instead of clipping first) so a street crossing
    # the outline shares one exact node with it and really splits the edge block.
    noded = shapely.union_all(np.append(lines, area.boundary))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    inside = shapely.within(shapely.point_on_surface(faces), area)
    return faces[inside]


def _extend_to_outline(lines: np.ndarray, outline, snap: float) -> np.ndarray:
    """Push line ends lying within ``snap`` of the outline ``snap`` beyond it.

    An end that stops a hair short of the outline would leave the street dangling, and the
    block it should split would stay whole.  Each such end is moved along its last segment,
    by its distance to the outline plus ``snap``, so it surely crosses.
    """
    if snap <= 0 or lines.size == 0:
        return lines
    coords, owner = shapely.get_coordinates(lines, return_index=True)
    counts = np.bincount(owner, minlength=len(lines))
    last = np.cumsum(counts) - 1
    first = last - counts + 1
    has_ends = (shapely.get_type_id(lines) == 1) & (counts > 1)  # rings have no ends
    first, last = first[has_ends], last[has_ends]
    end, inner = np.r_[first, last], np.r_[first + 1, last - 1]
    gap = shapely.distance(shapely.points(coords[end]), outline)
    step = coords[end] - coords[inner]
    norm = np.hypot(step[:, 0], step[:, 1])
    near = (gap <= snap) & (norm > 0)
    coords[end[near]] += step[near] / norm[near, None] * (gap[near] + snap)[:, None]
    return shapely.linestrings(coords, indices=owner)


def _locate(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Position of the polygon containing each point (nearest one if none does)."""
    tree = shapely.STRtree(polygons)
    pt, poly = tree.query(points, predicate="intersects")
    found = np.full(len(points), -1)
    found[pt[::-1]] = poly[::-1]  # reversed so the first hit wins
    lost = np.flatnonzero(found < 0)
    if lost.size:  # a point within float error of an edge
        found[lost] = tree.query_nearest(points[lost], return_distance=False, all_matches=False)[1]
    return found


def _merge_small(faces: np.ndarray, min_area: float, piece: np.ndarray | None = None) -> np.ndarray:
    """Group label per face: small faces join the neighbour sharing the longest edge."""
    n = len(faces)
    area = shapely.area(faces)
    small = np.flatnonzero(area < min_area)
    if small.size == 0 or n == 1:
        return np.arange(n)
    src, dst = shapely.STRtree(faces).query(faces[small], predicate="intersects")
    src = small[src]
    keep = src != dst
    if piece is not None:
        keep &= piece[src] == piece[dst]
    src, dst = src[keep], dst[keep]
    shared = shapely.length(
        shapely.intersection(shapely.boundary(faces[src]), shapely.boundary(faces[dst]))
    )
    src, dst, shared = src[shared > 0], dst[shared > 0], shared[shared > 0]
    # Best target per small face: a face that is not small, then the longest shared edge.
    order = np.lexsort((-shared, area[dst] < min_area, src))
    first = np.unique(src[order], return_index=True)[1]
    src, dst = src[order][first], dst[order][first]
    # Every small face points at one target, so each component has at most one face that is
    # not small: merging never joins two real blocks.
    graph = coo_array((np.ones(len(src)), (src, dst)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _check_tiling(areas: np.ndarray, district) -> None:
    """The blocks cover the district exactly (areas in m²)."""
    expected = district.area
    if abs(areas.sum() - expected) > 1e-6 * expected:
        raise RuntimeError(  # a bug, not bad input: polygonize lost or duplicated area
            f"blocks cover {areas.sum():.3f} m² of a {expected:.3f} m² district"
        )


def _reading_order(geoms: gpd.GeoSeries) -> np.ndarray:
    """Positions sorted north to south in rows, west to east within each row."""
    points = geoms.representative_point()
    x, y = points.x.to_numpy(), points.y.to_numpy()
    # Rows one typical block high make the order read like text rather than by raw y.
    row_height = max(np.sqrt(np.median(geoms.area)), 1e-9)
    row = np.floor((y.max() - y) / row_height)
    return np.lexsort((x, row))


def _major_mask(lines, major) -> np.ndarray | None:
    """Boolean mask of major lines, or None."""
    if major is None:
        return None
    if isinstance(major, str):
        if major not in getattr(lines, "columns", ()):
            raise InputError(f"lines have no column '{major}' marking major barriers")
        major = lines[major]
    mask = pd.Series(major)
    if len(mask) != len(lines) or not pd.api.types.is_bool_dtype(mask.dropna().infer_objects()):
        raise InputError(
            f"major must be a boolean column or mask with one value per line ({len(lines)}); "
            "missing values count as not major"
        )
    return mask.fillna(False).to_numpy(dtype=bool)


def _tag_in(values: pd.Series, tags: Iterable[str], *, negate: bool = False) -> np.ndarray:
    """Per row: does any tag value lie in ``tags`` (or, with ``negate``, outside it)?

    Missing values never match.  List values (osmnx merges the tags of simplified edges) match
    if any element does.
    """
    flat = pd.Series(values.to_numpy(), dtype=object).explode()
    present = flat.notna().to_numpy()
    member = flat.isin(tuple(tags)).to_numpy()
    hit = present & (~member if negate else member)
    return pd.Series(hit, index=flat.index).groupby(level=0).any().to_numpy()


def _to_crs(geoms: gpd.GeoSeries, crs: CRS) -> gpd.GeoSeries:
    return geoms if CRS(geoms.crs).equals(crs) else geoms.to_crs(crs)


def _require_crs(gdf, what: str) -> None:
    if gdf.crs is None:
        raise CRSError(
            f"{what} have no coordinate reference system: set one with "
            "gdf.set_crs('EPSG:4326') (or the CRS the coordinates are really in)"
        )


