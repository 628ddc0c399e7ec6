"""Adjacency graph of atomic units.

Two units are neighbours when they share a stretch of boundary (rook contiguity).  The weight of
an edge is the length of that shared boundary in metres, so a partitioner that cuts few/short
edges draws compact grids.  Units that only touch at a corner are not neighbours: a grid joined
through a single point is not contiguous on the ground.

Shared boundaries are found by hashing polygon edges (exact for census blocks and other
topological coverages, where neighbours share vertices) and, for pairs that lie within
``tolerance`` of each other without sharing vertices (simplified or digitised by hand), by
intersecting one boundary with a thin buffer of the other.  Only those few pairs pay for the
slow geometric intersection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

#: A pair of units needs at least this much shared boundary (in units of the tolerance) to be
#: rook neighbours; less is a corner touch.
_MIN_SHARED_IN_TOLERANCES = 3.0

#: Pairs that share no edge (a gap, or a T-junction) are measured with a buffer, which also
#: catches boundaries that only run close near a corner; they need more shared length to count.
_MIN_NEAR_SHARED_IN_TOLERANCES = 10.0

#: Boxes clipped at once by the length-in-box bound (memory: ~100 bytes per segment of their lines).
_BOXES_PER_BLOCK = 20_000


@dataclass
class UnitGraph:
    """Undirected graph of units as an edge list (each edge once, ``i < j``).

    Attributes
    ----------
    n : int
        Number of units (vertices).
    i, j : numpy.ndarray of int
        End points of each edge, ``i < j``.
    length : numpy.ndarray of float
        Shared boundary length of each edge, metres (0 for links added to reach islands).
    kind : numpy.ndarray of str
        ``"rook"`` for shared boundaries, ``"link"`` for edges added to connect islands.
    """

    n: int
    i: np.ndarray
    j: np.ndarray
    length: np.ndarray
    kind: np.ndarray

    def subset_edges(self, keep: np.ndarray) -> "UnitGraph":
        """Return the graph with only the edges where ``keep`` is true."""
        return UnitGraph(self.n, self.i[keep], self.j[keep], self.length[keep], self.kind[keep])

    def add_edges(self, i, j, length, kind: str) -> "UnitGraph":
        """Return the graph with extra edges appended (normalised so that ``i < j``)."""
        i, j = np.minimum(i, j), np.maximum(i, j)
        return UnitGraph(
            self.n,
            np.concatenate([self.i, i]),
            np.concatenate([self.j, j]),
            np.concatenate([self.length, np.asarray(length, dtype=float)]),
            np.concatenate([self.kind, np.full(len(i), kind, dtype=self.kind.dtype)]),
        )

    def csr(self, weights: np.ndarray | None = None) -> sp.csr_matrix:
        """Symmetric sparse adjacency matrix (weights default to 1)."""
        w = np.ones(len(self.i)) if weights is None else np.asarray(weights, dtype=float)
        rows = np.concatenate([self.i, self.j])
        cols = np.concatenate([self.j, self.i])
        return sp.csr_matrix((np.concatenate([w, w]), (rows, cols)), shape=(self.n, self.n))

    def components(self) -> tuple[int, np.ndarray]:
        """Connected components: ``(count, label per unit)``."""
        return connected_components(self.csr(), directed=False)


def _edge_segments(geoms: np.ndarray, precision: float) -> pd.DataFrame:
    """Every boundary segment of every polygon, direction-normalised and snapped to a grid."""
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    xy, coord_ring = shapely.get_coordinates(rings, return_index=True)
    consecutive = coord_ring[:-1] == coord_ring[1:]
    start, end = xy[:-1][consecutive], xy[1:][consecutive]
    owner = part_owner[ring_part[coord_ring[:-1][consecutive]]]
    q = np.round(np.hstack([start, end]) / precision).astype(np.int64)
    backwards = (q[:, 0] > q[:, 2]) | ((q[:, 0] == q[:, 2]) & (q[:, 1] > q[:, 3]))
    q[backwards] = q[backwards][:, [2, 3, 0, 1]]
    return pd.DataFrame(
        {"x0": q[:, 0], "y0": q[:, 1], "x1": q[:, 2], "y1": q[:, 3], "owner": owner,
         "length": np.hypot(*(start - end).T)}
    )


def _shared_segment_lengths(geoms: np.ndarray, precision: float) -> pd.Series:
    """Length of boundary shared exactly (same vertices) by each pair of polygons.

    Returns a Series indexed by ``(i, j)`` with ``i < j``.
    """
    seg = _edge_segments(geoms, precision)
    key = seg.groupby(["x0", "y0", "x1", "y1"], sort=False).ngroup().to_numpy()
    order = np.argsort(key, kind="stable")
    key, owner, length = key[order], seg["owner"].to_numpy()[order], seg["length"].to_numpy()[order]
    twin = key[:-1] == key[1:]
    a, b, length = owner[:-1][twin], owner[1:][twin], length[:-1][twin]
    between = a != b
    pairs = pd.DataFrame(
        {"i": np.minimum(a, b)[between], "j": np.maximum(a, b)[between], "length": length[between]}
    )
    return pairs.groupby(["i", "j"])["length"].sum()


def build_unit_graph(geoms, tolerance: float = 1.0, precision: float = 1e-3) -> UnitGraph:
    """Rook-contiguity graph of polygons in a metric CRS.

    Parameters
    ----------
    geoms : array-like of shapely Polygon / MultiPolygon
        Units, already in a projected CRS with metre units.
    tolerance : float
        Polygons closer than this (metres) may be neighbours even without touching.
    precision : float
        Vertices closer than this (metres) are the same vertex when matching shared edges.

    Returns
    -------
    UnitGraph

    Examples
    --------
    >>> from shapely import box
    >>> g = build_unit_graph([box(0, 0, 10, 10), box(10, 0, 20, 10), box(20, 10, 30, 20)])
    >>> [(int(a), int(b)) for a, b in zip(g.i, g.j)], g.length.tolist()
    ([(0, 1)], [10.0])
    """
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    # candidate pairs by bounding boxes grown by the tolerance: the tree's envelope test alone is
    # several times cheaper than its exact dwithin test, which only the few pairs that share no
    # boundary segment below still need
    tree = shapely.STRtree(geoms)
    b = shapely.bounds(geoms)
    i, j = tree.query(shapely.box(b[:, 0] - tolerance, b[:, 1] - tolerance, b[:, 2] + tolerance, b[:, 3] + tolerance))
    upper = i < j
    near = pd.Series(0.0, index=pd.MultiIndex.from_arrays([i[upper], j[upper]], names=["i", "j"]))

    exact = _shared_segment_lengths(geoms, precision)
    near.loc[near.index.intersection(exact.index)] = exact

    # Pairs that are close but share no vertex (digitised separately, or a T-junction): the
    # shared length is how much of one boundary runs within the tolerance of the other.
    unmatched = near.index[near.to_numpy() == 0]
    if len(unmatched):
        ui, uj = unmatched.get_level_values(0).to_numpy(), unmatched.get_level_values(1).to_numpy()
        rims = shapely.boundary(geoms)
        # The measured length is part of rim i lying within the tolerance of rim j, so it is at most
        # the length of rim i inside j's box grown by the tolerance: pairs where even that is below
        # the threshold (most are corner touches) need no exact test.  Same answer; on Rockland's
        # blocks 9,464 of 24,800 near pairs still need the polygon overlay.
        grow = 1.01 * tolerance
        boxes = np.column_stack([b[uj, :2] - grow, b[uj, 2:] + grow])
        can_count = _length_inside_boxes(rims, ui, boxes) > _MIN_NEAR_SHARED_IN_TOLERANCES * tolerance
        ui, uj = ui[can_count], uj[can_count]
        close = shapely.dwithin(geoms[ui], geoms[uj], tolerance)
        ui, uj = ui[close], uj[close]
        # a unit is in many such pairs: buffer each rim once, not once per pair
        once, which = np.unique(uj, return_inverse=True)
        overlap = shapely.intersection(rims[ui], shapely.buffer(rims[once], tolerance, quad_segs=2)[which])
        measured = shapely.length(overlap)
        near.loc[pd.MultiIndex.from_arrays([ui, uj])] = np.where(
            measured > _MIN_NEAR_SHARED_IN_TOLERANCES * tolerance, measured, 0.0)

    rook = near[near > _MIN_SHARED_IN_TOLERANCES * tolerance]
    gi = rook.index.get_level_values(0).to_numpy(dtype=np.int64)
    gj = rook.index.get_level_values(1).to_numpy(dtype=np.int64)
    return UnitGraph(n, gi, gj, rook.to_numpy(dtype=float), np.full(len(gi), "rook", dtype=object))


def _length_inside_boxes(lines: np.ndarray, line_of_box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Length of ``lines[line_of_box[k]]`` inside ``boxes[k]`` (xmin, ymin, xmax, ymax), per box.

    Exact for single lines and rings; an upper bound for multi-part lines.

    Every segment of the line is clipped to the box (Liang-Barsky) in numpy, ``_BOXES_PER_BLOCK``
    boxes at a time.

    Examples
    --------
    >>> from shapely import LineString
    >>> _length_inside_boxes(np.array([LineString([(0, 0), (10, 0)])]), np.array([0, 0]),
    ...                      np.array([[2.0, -1, 5, 1], [20, 0, 30, 1]])).tolist()
    [3.0, 0.0]
    """
    xy, line = shapely.get_coordinates(lines, return_index=True)
    # consecutive vertices of one geometry form a segment; between two rings of a multi-part line
    # this adds a segment that is not there, which only makes the length an over-estimate
    same = line[:-1] == line[1:]
    segments = xy[:-1][same], xy[1:][same]
    per_line = np.bincount(line[:-1][same], minlength=len(lines))
    first = np.concatenate([[0], np.cumsum(per_line)[:-1]])
    # in blocks of boxes: a box expands to one row per segment of its line (~10 arrays of them)
    return np.concatenate([np.zeros(0)] + [
        _clipped_lengths(segments, first, per_line, line_of_box[lo:lo + _BOXES_PER_BLOCK],
                         boxes[lo:lo + _BOXES_PER_BLOCK])
        for lo in range(0, len(line_of_box), _BOXES_PER_BLOCK)])


def _clipped_lengths(segments, first, per_line, line_of_box, boxes) -> np.ndarray:
    """Liang-Barsky clip of every segment of each box's line to the box, summed per box."""
    n = per_line[line_of_box]
    box = np.repeat(np.arange(len(line_of_box)), n)
    seg = np.repeat(first[line_of_box] - np.concatenate([[0], np.cumsum(n)[:-1]]), n) + np.arange(n.sum())
    (ax, ay), (bx, by) = segments[0][seg].T, segments[1][seg].T
    dx, dy = bx - ax, by - ay
    xmin, ymin, xmax, ymax = boxes[box].T
    t0, t1 = np.zeros(len(seg)), np.ones(len(seg))
    inside = np.ones(len(seg), dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for p, q in ((-dx, ax - xmin), (dx, xmax - ax), (-dy, ay - ymin), (dy, ymax - ay)):
            inside &= ~((p == 0) & (q < 0))  # parallel to this side and outside it
            t0 = np.where(p < 0, np.maximum(t0, q / p), t0)
            t1 = np.where(p > 0, np.minimum(t1, q / p), t1)
    clipped = np.where(inside, np.clip(t1 - t0, 0.0, None), 0.0) * np.hypot(dx, dy)
    return np.bincount(box, weights=clipped, minlength=len(line_of_box))


def _nearest_pair(geoms: np.ndarray, inside: np.ndarray, outside: np.ndarray) -> tuple[int, int, float]:
    """The closest pair of units between two sets (``inside`` x ``outside``).

    The tree is built on the larger set and queried with the smaller one, within a growing
    radius: an unbounded nearest-neighbour query from every unit of a big component costs
    seconds on 40,000 units, while islands are almost always within a few hundred metres.
    """
    small, large = (inside, outside) if len(inside) <= len(outside) else (outside, inside)
    tree = shapely.STRtree(geoms[large])
    for radius in (100.0, 1_000.0, 10_000.0, None):
        (src, dst), d = tree.query_nearest(geoms[small], max_distance=radius, return_distance=True,
                                           all_matches=False)
        if len(d):
            best = int(np.argmin(d))
            return int(small[src[best]]), int(large[dst[best]]), float(d[best])
    raise RuntimeError("no nearest unit found")  # pragma: no cover


def _rim_units(graph: UnitGraph, geoms: np.ndarray) -> np.ndarray:
    """Units with boundary not shared with a neighbour: the only ones a nearest pair can use.

    The closest points of two disjoint sets of polygons lie on the outlines of the sets, and a
    set's outline is made of the boundary stretches no neighbour in the graph shares.
    """
    shared = (np.bincount(graph.i, weights=graph.length, minlength=graph.n)
              + np.bincount(graph.j, weights=graph.length, minlength=graph.n))
    perimeter = shapely.length(geoms)
    return perimeter - shared > 1e-6 * perimeter + 1e-6


def _component_links(geoms: np.ndarray, rim: np.ndarray, comp: np.ndarray, groups: np.ndarray,
                     pending: np.ndarray) -> dict[int, tuple[int, int]]:
    """For each ``pending`` component, its closest unit pair to another component of its group.

    One tree over the rim units of the groups concerned, queried within growing radii: linear in
    the rim units, where a tree of "everything outside" per component costs O(n) per island.
    """
    cand = np.flatnonzero(rim & pending[comp])
    if len(cand) == 0:
        return {}
    tree = shapely.STRtree(geoms[cand])
    found: dict[int, tuple[int, int]] = {}
    for radius in (100.0, 1_000.0, 10_000.0):
        query = cand[pending[comp[cand]]]
        if len(query) == 0:
            break
        src, dst = tree.query(geoms[query], predicate="dwithin", distance=radius)
        a, b = query[src], cand[dst]
        ok = (comp[a] != comp[b]) & (groups[a] == groups[b])
        a, b = a[ok], b[ok]
        if len(a) == 0:
            continue
        d = shapely.distance(geoms[a], geoms[b])
        order = np.lexsort((b, a, d, comp[a]))  # per component: smallest distance, then lowest ids
        first = order[np.r_[True, comp[a][order][1:] != comp[a][order][:-1]]]
        for x, y in zip(a[first].tolist(), b[first].tolist()):
            found[int(comp[x])] = (x, y)
        pending = pending.copy()
        pending[comp[a[first]]] = False
    return found


def link_islands(graph: UnitGraph, geoms, groups: np.ndarray) -> UnitGraph:
    """Connect each group's separate components to each other through their nearest units.

    Islands, exclaves and blocks cut off by water are part of a district; joining each to the
    nearest unit of the same group (like libpysal's fuzzy contiguity) lets it belong to a grid
    instead of becoming a grid of its own.  Added edges have kind ``"link"``.

    Parameters
    ----------
    graph : UnitGraph
        Graph with edges only inside groups.
    geoms : array-like of shapely geometries (metric CRS)
    groups : numpy.ndarray of int
        Group (nesting piece) of each unit; links never cross groups.

    Returns
    -------
    UnitGraph
    """
    geoms = np.asarray(geoms, dtype=object)
    groups = np.asarray(groups)
    rim = _rim_units(graph, geoms)
    for _ in range(64):  # each round at least halves the number of components in each group
        n_comp, comp = graph.components()
        comp_group = pd.Series(groups).groupby(comp).first().to_numpy()
        if n_comp == len(np.unique(groups)):
            return graph
        comps_per_group = pd.Series(comp_group).value_counts()
        pending = pd.Series(comp_group).map(comps_per_group).to_numpy() > 1
        found = _component_links(geoms, rim, comp, groups, pending)
        new_i, new_j = [a for a, _ in found.values()], [b for _, b in found.values()]
        for c in np.flatnonzero(pending):
            if int(c) in found:
                continue
            # nothing within 10 km on the rims: the exhaustive search, for this component only
            members = np.flatnonzero(groups == comp_group[c])
            a, b, _ = _nearest_pair(geoms, members[comp[members] == c], members[comp[members] != c])
            new_i.append(a)
            new_j.append(b)
        # two components that are each other's nearest would add the same link twice
        links = pd.DataFrame({"i": np.minimum(new_i, new_j), "j": np.maximum(new_i, new_j)}).drop_duplicates()
        graph = graph.add_edges(links["i"].to_numpy(), links["j"].to_numpy(), np.zeros(len(links)), "link")
    raise RuntimeError("could not connect the islands of every group")  # pragma: no cover
