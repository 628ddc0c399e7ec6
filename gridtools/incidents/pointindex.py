"""A reusable point-in-polygon index: build it once, locate any number of point batches.

:class:`GridIndex` holds the polygons (prepared), their tie-break ranks and a regular cell hash
of their bounding boxes.  It is a plain picklable object, so a cluster ships it to each worker
once (``Client.scatter(index, broadcast=True)``) and every partition of events reuses it.

How it is fast
--------------
No shapely Point objects are made.  Bounding boxes are hashed into square cells (an eighth of
the median polygon size) with numpy sorts.  A cell that no polygon boundary crosses is
*resolved*: its points get the polygon holding the cell (or none) by plain indexing, with no
geometric test (most points of a city fall in such cells).  Points in the other cells find
their candidate polygons by their cell number, are filtered by bounding box, and the exact test
is :func:`shapely.intersects_xy` on prepared polygons.
"""

from __future__ import annotations

import numpy as np
import shapely

__all__ = ["GridIndex"]

#: Cells per side of the median polygon's bounding box (finer: more resolved cells, more entries).
#: 16 leaves about a quarter of the cells to the exact test (8: nearly half), which halves the
#: time per point for a few tenths of a second more to build (5,000 grids).
CELLS_PER_POLYGON = 16
#: Largest cell count for which a dense per-cell table (start offsets, resolved polygon) is kept.
DENSE_CELLS = 8_000_000
#: Resolved-cell value of a cell no polygon touches (its points are outside every polygon).
EMPTY = -2


class GridIndex:
    """Polygons ready for fast point location, reusable across batches and processes.

    Parameters
    ----------
    polygons : array-like of shapely geometries
        Polygons / MultiPolygons.
    rank : array-like of int, optional
        Tie-break: a point in several polygons (shared edge, overlap) goes to the lowest rank.
        Default: position in *polygons*.
    engine : {"cells", "strtree"}
        Candidate search: the numpy cell hash (default) or shapely's STRtree bulk query.

    Examples
    --------
    >>> import shapely
    >>> index = GridIndex([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
    >>> positions, ties = index.locate([0.5, 1.0, 1.5, 3.0], [0.5, 0.5, 0.5, 0.5])
    >>> positions.tolist(), ties
    ([0, 0, 1, -1], 1)
    """

    def __init__(self, polygons, rank=None, engine: str = "cells"):
        if engine not in ("cells", "strtree"):
            raise ValueError(f"engine must be 'cells' or 'strtree', not {engine!r}")
        self.polygons = np.asarray(polygons, dtype=object)
        self.rank = np.arange(len(self.polygons)) if rank is None else np.asarray(rank)
        self.engine = engine
        self._build()

    def _build(self) -> None:
        shapely.prepare(self.polygons)
        self.bounds = shapely.bounds(self.polygons) if len(self.polygons) else np.zeros((0, 4))
        self.cells = self.tree = None
        if not len(self.polygons):
            return
        if self.engine == "strtree":
            self.tree = shapely.STRtree(self.polygons)
        else:
            self.cells = _cell_index(self.bounds, max_entries=max(40 * len(self.polygons), 4_000_000))
            self.resolved = _resolved_cells(self.polygons, self.cells, self.bounds)

    # pickling: prepared geometries and the tree are rebuilt on arrival (cheap next to shipping them)
    def __getstate__(self):
        return {"polygons": self.polygons, "rank": self.rank, "engine": self.engine}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._build()

    def __len__(self) -> int:
        return len(self.polygons)

    def locate(self, x, y, chunk: int = 1_000_000) -> tuple[np.ndarray, int]:
        """Position of the polygon containing each point (-1 where none), and the tie count.

        Parameters
        ----------
        x, y : array-like of float
            Point coordinates in the polygons' CRS; NaN points get -1.
        chunk : int
            Points per batch (bounds the memory of the candidate pairs).

        Returns
        -------
        (numpy.ndarray of int64, int)
            Positions, and how many points were in more than one polygon.
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        out = np.full(len(x), -1, dtype=np.int64)
        if not len(self.polygons) or not len(x):
            return out, 0
        ties = 0
        for lo in range(0, len(x), chunk):
            ties += self._locate_chunk(x[lo : lo + chunk], y[lo : lo + chunk], out[lo : lo + chunk])
        return out, ties

    def _locate_chunk(self, x, y, out) -> int:
        todo = np.arange(len(x))
        if self.cells is not None and self.resolved is not None:
            key, ok = _cell_of(x, y, self.cells)
            direct = np.where(ok, self.resolved[key], EMPTY)
            done = direct != -1
            out[done] = np.maximum(direct[done], -1)
            todo = np.flatnonzero(~done)
        if not len(todo):
            return 0
        tx, ty = x[todo], y[todo]
        if self.cells is not None:
            pts, grid = _candidates_cells(tx, ty, self.bounds, self.cells)
            hit = shapely.intersects_xy(self.polygons[grid], tx[pts], ty[pts])
            pts, grid = pts[hit], grid[hit]
        else:
            pts, grid = self.tree.query(shapely.points(tx, ty), predicate="intersects")
        if not len(pts):
            return 0
        # one polygon per point: the lowest rank among its hits.  Hits come grouped by point
        # (both engines); only points with several hits (rare: boundaries) need sorting.
        if np.any(pts[1:] < pts[:-1]):
            order = np.argsort(pts, kind="stable")
            pts, grid = pts[order], grid[order]
        repeated = np.r_[pts[1:] == pts[:-1], False] | np.r_[False, pts[1:] == pts[:-1]]
        single = ~repeated
        out[todo[pts[single]]] = grid[single]
        if not repeated.any():
            return 0
        tp, tg = pts[repeated], grid[repeated]
        order = np.lexsort((self.rank[tg], tp))
        tp, tg = tp[order], tg[order]
        first = np.r_[True, tp[1:] != tp[:-1]]
        out[todo[tp[first]]] = tg[first]
        return int(first.sum())


def _cell_index(bounds: np.ndarray, max_entries: int):
    """Hash polygon bounding boxes into square cells: sorted (cell key, polygon) arrays."""
    size = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
    cell = float(np.median(size)) / CELLS_PER_POLYGON
    extent = max(bounds[:, 2].max() - bounds[:, 0].min(), bounds[:, 3].max() - bounds[:, 1].min())
    x0, y0 = bounds[:, 0].min(), bounds[:, 1].min()
    area = (bounds[:, 2].max() - x0) * (bounds[:, 3].max() - y0)
    # at most 4096 x 4096 cells, and few enough for the dense table of resolved cells
    cell = max(cell, extent / 4096.0, float(np.sqrt(area / DENSE_CELLS)) * 1.01, 1e-12)
    while True:
        ix0 = np.floor((bounds[:, 0] - x0) / cell).astype(np.int64)
        ix1 = np.floor((bounds[:, 2] - x0) / cell).astype(np.int64)
        iy0 = np.floor((bounds[:, 1] - y0) / cell).astype(np.int64)
        iy1 = np.floor((bounds[:, 3] - y0) / cell).astype(np.int64)
        nx, ny = ix1 - ix0 + 1, iy1 - iy0 + 1
        per = nx * ny
        # A few huge polygons could register in millions of cells: coarsen the cells instead.
        if per.sum() <= max_entries:
            break
        cell *= 2.0
    ncol = int(ix1.max()) + 1
    nrow = int(iy1.max()) + 1
    poly = np.repeat(np.arange(len(bounds)), per)
    offset = np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)
    rep_nx = np.repeat(nx, per)
    keys = (np.repeat(iy0, per) + offset // rep_nx) * ncol + np.repeat(ix0, per) + offset % rep_nx
    order = np.argsort(keys, kind="stable")
    keys, poly = keys[order], poly[order]
    # Compressed rows (start of each cell's run) turn the per-point lookup into plain indexing;
    # for a huge cell count fall back to binary search.
    starts = np.searchsorted(keys, np.arange(ncol * nrow + 1)) if ncol * nrow <= DENSE_CELLS else None
    return keys, poly, starts, (x0, y0, cell, ncol, nrow)


def _resolved_cells(polygons: np.ndarray, index, bounds: np.ndarray) -> np.ndarray | None:
    """Per cell: the one polygon holding the whole cell, :data:`EMPTY` if the cell is outside
    every polygon, -1 where points need the exact test (a polygon boundary crosses the cell).

    No geometry is made per cell.  Boundaries are densified so that no segment is longer than half
    a cell; a segment then touches only cells within the box of its end points' cells, which are
    marked.  An unmarked cell holds no boundary point, so every point in it lies in the same
    polygons as the cell's centre, which one exact test per cell decides.  None when the cell
    table would be too large to keep dense.
    """
    keys, poly, starts, (x0, y0, cell, ncol, nrow) = index
    if starts is None:
        return None
    lines = shapely.get_parts(shapely.segmentize(shapely.boundary(polygons), cell / 2.0))
    xy, ring = shapely.get_coordinates(lines, return_index=True)
    same = ring[1:] == ring[:-1]
    a, b = xy[:-1][same], xy[1:][same]
    marked = np.zeros(ncol * nrow, dtype=bool)
    slack = cell * 1e-9  # a vertex a rounding error off its segment still marks the right cells
    lo_x = np.floor((np.minimum(a[:, 0], b[:, 0]) - slack - x0) / cell).astype(np.int64)
    hi_x = np.floor((np.maximum(a[:, 0], b[:, 0]) + slack - x0) / cell).astype(np.int64)
    lo_y = np.floor((np.minimum(a[:, 1], b[:, 1]) - slack - y0) / cell).astype(np.int64)
    hi_y = np.floor((np.maximum(a[:, 1], b[:, 1]) + slack - y0) / cell).astype(np.int64)
    for cx in (lo_x, hi_x):
        for cy in (lo_y, hi_y):
            inside = (cx >= 0) & (cx < ncol) & (cy >= 0) & (cy < nrow)
            marked[(cy * ncol + cx)[inside]] = True
    resolved = np.full(ncol * nrow, EMPTY, dtype=np.int64)
    resolved[marked] = -1
    # unmarked cells that some bounding box reaches: decide by the centre
    candidate = np.zeros(ncol * nrow, dtype=bool)
    candidate[keys] = True
    todo = np.flatnonzero(candidate & ~marked)
    if len(todo):
        cx = x0 + (todo % ncol + 0.5) * cell
        cy = y0 + (todo // ncol + 0.5) * cell
        pts, grid = _candidates_cells(cx, cy, bounds, index)
        hit = shapely.intersects_xy(polygons[grid], cx[pts], cy[pts])
        hits = np.bincount(pts[hit], minlength=len(todo))
        first = np.full(len(todo), -1, dtype=np.int64)
        first[pts[hit]] = grid[hit]
        resolved[todo] = np.where(hits == 1, first, np.where(hits == 0, EMPTY, -1))
    return resolved


def _cell_of(x, y, index) -> tuple[np.ndarray, np.ndarray]:
    """Cell number of each point and whether it lies in the cell table's extent."""
    _, _, _, (x0, y0, cell, ncol, nrow) = index
    with np.errstate(invalid="ignore"):
        px = np.floor((x - x0) / cell)
        py = np.floor((y - y0) / cell)
    ok = (px >= 0) & (px < ncol) & (py >= 0) & (py < nrow)
    return np.where(ok, py * ncol + px, 0).astype(np.int64), ok


def _candidates_cells(x, y, bounds, index):
    keys, poly, starts, _ = index
    key, ok = _cell_of(x, y, index)
    if starts is not None:
        start = starts[key]
        count = np.where(ok, starts[key + 1] - start, 0)
    else:
        start = np.searchsorted(keys, key, "left")
        count = np.where(ok, np.searchsorted(keys, key, "right") - start, 0)
    pts = np.repeat(np.arange(len(x)), count)
    offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    grid = poly[np.repeat(start, count) + offset]
    b = bounds[grid]
    px, py = x[pts], y[pts]
    inside = (px >= b[:, 0]) & (px <= b[:, 2]) & (py >= b[:, 1]) & (py <= b[:, 3])
    return pts[inside], grid[inside]
