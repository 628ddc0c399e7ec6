"""Forecast units: a regular square grid over the study area, or the management grids themselves.

A :class:`CellSet` holds the units (``cells``, a GeoDataFrame in a metric CRS with ``cell_id``
and ``area_m2``) and a raster behind them.  Kernel methods smooth event counts on the raster;
the sparse matrix ``weights`` (units x pixels, the share of each pixel's area that lies in each
unit) turns a raster of expected counts into expected counts per unit.  For a square grid the
raster *is* the grid (one pixel per cell) and a weight is the share of the cell inside the study
area; for management grids the raster has ``settings.hotspot_unit_pixel_m`` pixels, each given
to the unit holding its centre.

Square cells are aligned to multiples of the cell size in the metric CRS and named by their
absolute column and row (``cell_id = "E{col}N{row}"``), so the same place has the same id
whatever the extent of the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely

from gridtools import settings
from gridtools.errors import InputError, describe_rows
from gridtools.hotspots.events import EventSet

__all__ = ["CellSet", "square_cells", "unit_cells", "assign_events", "study_area", "point_density",
           "density_covariates"]


@dataclass
class CellSet:
    """Forecast units and the raster kernel methods smooth on.

    Attributes
    ----------
    cells : geopandas.GeoDataFrame
        ``cell_id``, ``area_m2``, geometry (metric CRS).
    area : ndarray
        Area of each unit inside the study area (m²).
    x0, y0, pixel : float
        Lower-left corner and side of the raster pixels (metres).
    nx, ny : int
        Raster columns and rows; pixel ``k`` is column ``k % nx``, row ``k // nx``.
    weights : scipy.sparse.csr_matrix
        Units x pixels: share of each pixel's area in each unit.
    kind : str
        ``"square"``, ``"units"`` or ``"segments"`` (road segments: ``area`` is their length).
    snap_m : float, optional
        Segments only: events further than this from every segment are outside.
    """

    cells: gpd.GeoDataFrame
    area: np.ndarray
    x0: float
    y0: float
    pixel: float
    nx: int
    ny: int
    weights: sp.csr_matrix
    kind: str = "square"
    snap_m: float | None = None

    def __len__(self) -> int:
        return len(self.area)

    @property
    def total_area(self) -> float:
        """Study area (m²): the sum of the units' areas."""
        return float(self.area.sum())

    def pixel_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Raster pixel index of each point, -1 outside the raster."""
        col = np.floor((np.asarray(x) - self.x0) / self.pixel).astype(np.int64)
        row = np.floor((np.asarray(y) - self.y0) / self.pixel).astype(np.int64)
        inside = (col >= 0) & (col < self.nx) & (row >= 0) & (row < self.ny)
        return np.where(inside, row * self.nx + col, -1)

    def to_units(self, raster: np.ndarray) -> np.ndarray:
        """Expected counts per unit from a raster (ny x nx) of expected counts per pixel."""
        return self.weights @ np.asarray(raster, dtype=float).ravel()


def study_area(events: EventSet, how="extent") -> shapely.Geometry:
    """The study area of a set of events: their bounding box (``"extent"``) or convex hull (``"hull"``).

    Examples
    --------
    >>> ev = EventSet(t=np.zeros(3), x=np.array([0., 400, 0]), y=np.array([0., 0, 300]),
    ...               row=np.arange(3), crs=None)
    >>> study_area(ev, "hull").area
    60000.0
    """
    points = shapely.multipoints(np.column_stack([events.x, events.y]))
    if how == "extent":
        return shapely.box(*points.bounds)
    if how == "hull":
        return shapely.convex_hull(points)
    raise InputError(f"study area must be 'extent', 'hull' or a polygon layer, not {how!r}.")


def square_cells(
    bounds, cell: float | None = None, *, crs=None, area: shapely.Geometry | None = None
) -> CellSet:
    """A regular grid of square cells covering *bounds*, clipped to *area* if given.

    Parameters
    ----------
    bounds : (minx, miny, maxx, maxy)
        Extent to cover, in the metric CRS.  Cells are aligned to multiples of *cell*; a point on
        the upper edge still falls in a cell.
    cell : float, default ``settings.hotspot_cell_m``
        Side of a cell (metres).
    crs : CRS-like
        The metric CRS.
    area : shapely geometry, optional
        Study area: cells are clipped to it and weighted by the area inside; cells wholly
        outside are dropped.

    Returns
    -------
    CellSet

    Examples
    --------
    >>> cs = square_cells((0, 0, 399, 199), 200, crs=32617)
    >>> list(cs.cells["cell_id"]), cs.nx, cs.ny
    (['E0N0', 'E1N0'], 2, 1)
    """
    cell = float(settings.hotspot_cell_m if cell is None else cell)
    if not np.isfinite(cell) or cell <= 0:
        raise InputError(f"the cell size must be a positive number of metres, not {cell!r}.")
    minx, miny, maxx, maxy = map(float, bounds)
    c0, r0 = np.floor(minx / cell), np.floor(miny / cell)
    nx = int(np.floor(maxx / cell) - c0) + 1
    ny = int(np.floor(maxy / cell) - r0) + 1
    if nx * ny > settings.hotspot_max_pixels:
        raise InputError(
            f"{cell:g} m cells over {(maxx - minx) / 1000:,.1f} x {(maxy - miny) / 1000:,.1f} km make "
            f"{nx * ny:,} cells, more than settings.hotspot_max_pixels ({settings.hotspot_max_pixels:,}). "
            "Use larger cells (--cell) or a smaller study area."
        )
    col, row = np.meshgrid(np.arange(nx), np.arange(ny))
    col, row = col.ravel(), row.ravel()
    x0, y0 = c0 * cell, r0 * cell
    boxes = shapely.box(x0 + col * cell, y0 + row * cell, x0 + (col + 1) * cell, y0 + (row + 1) * cell)
    share = np.ones(len(boxes))
    if area is not None:
        shapely.prepare(area)
        inside = shapely.contains(area, boxes)
        edge = ~inside & shapely.intersects(area, boxes)
        clipped = boxes.copy()
        clipped[edge] = shapely.intersection(boxes[edge], area)
        share = np.where(inside, 1.0, 0.0)
        share[edge] = shapely.area(clipped[edge]) / cell**2
        keep = share > 1e-9
        boxes, col, row, share = clipped[keep], col[keep], row[keep], share[keep]
    ids = np.char.add(
        np.char.add("E", (col + int(c0)).astype(str)), np.char.add("N", (row + int(r0)).astype(str))
    )
    cells = gpd.GeoDataFrame({"cell_id": ids, "area_m2": share * cell**2}, geometry=boxes, crs=crs)
    pix = row * nx + col
    weights = sp.csr_matrix((share, (np.arange(len(pix)), pix)), shape=(len(pix), nx * ny))
    return CellSet(cells, share * cell**2, x0, y0, cell, nx, ny, weights, "square")


def unit_cells(
    units: gpd.GeoDataFrame, *, id_col: str | None = None, crs=None, pixel: float | None = None
) -> CellSet:
    """Management grids (any polygons) as forecast units.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Polygons with a CRS; reprojected to *crs*.
    id_col : str, optional
        Column naming each unit (default: the row position).
    crs : CRS-like
        The metric CRS of the events.
    pixel : float, default ``settings.hotspot_unit_pixel_m``
        Raster pixel for kernel smoothing (metres).

    Returns
    -------
    CellSet

    Examples
    --------
    >>> g = gpd.GeoDataFrame({"code": ["a", "b"]}, geometry=[shapely.box(0, 0, 100, 100),
    ...                      shapely.box(100, 0, 300, 100)], crs=32617)
    >>> cs = unit_cells(g, id_col="code", crs=32617, pixel=50)
    >>> cs.area.tolist(), np.asarray(cs.weights.sum(axis=1)).ravel().tolist()
    ([10000.0, 20000.0], [4.0, 8.0])
    """
    pixel = float(settings.hotspot_unit_pixel_m if pixel is None else pixel)
    source = units.attrs.get("source", "grids")
    metric = units.to_crs(crs) if crs is not None else units
    geoms = metric.geometry.to_numpy()
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms) | (shapely.area(geoms) <= 0)
    if empty.any():
        raise InputError(
            f"{source}: {describe_rows(np.flatnonzero(empty) + 1)} have no polygon area; fix or "
            "remove them (rows count from 1)."
        )
    if id_col is not None and id_col not in units.columns:
        raise InputError(f"{source} has no column {id_col!r} to name the grids (--grid-id).")
    ids = units[id_col].astype(str).to_numpy() if id_col else np.arange(len(units)).astype(str)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    x0, y0 = np.floor(minx / pixel) * pixel, np.floor(miny / pixel) * pixel
    nx = int(np.ceil((maxx - x0) / pixel)) + 1
    ny = int(np.ceil((maxy - y0) / pixel)) + 1
    if nx * ny > settings.hotspot_max_pixels:
        raise InputError(
            f"{source}: a {pixel:g} m raster over the grids needs {nx * ny:,} pixels; raise "
            "settings.hotspot_unit_pixel_m."
        )
    col, row = np.meshgrid(np.arange(nx), np.arange(ny))
    cx, cy = x0 + (col.ravel() + 0.5) * pixel, y0 + (row.ravel() + 0.5) * pixel
    tree = shapely.STRtree(geoms)
    pix, unit = tree.query(shapely.points(cx, cy), predicate="within")
    # A centre on a shared edge lies in two units: keep the first, so pixels are not counted twice.
    first = np.unique(pix, return_index=True)[1]
    pix, unit = pix[first], unit[first]
    weights = sp.csr_matrix((np.ones(len(pix)), (unit, pix)), shape=(len(geoms), nx * ny))
    cells = gpd.GeoDataFrame(
        {"cell_id": ids, "area_m2": shapely.area(geoms)}, geometry=geoms, crs=metric.crs
    )
    return CellSet(cells, shapely.area(geoms), x0, y0, pixel, nx, ny, weights, "units")


def assign_events(events: EventSet, cells: CellSet) -> EventSet:
    """Attach each event to its unit and raster pixel; events in no unit are set aside and counted.

    Returns a new :class:`EventSet` holding only events inside the study area; its
    ``report["outside"]`` lists the input rows left out (counting from 1).

    Examples
    --------
    >>> cs = square_cells((0, 0, 399, 199), 200, crs=32617)
    >>> ev = EventSet(t=np.arange(3.), x=np.array([10., 250, 900]), y=np.array([10., 10, 10]),
    ...               row=np.arange(1, 4), crs=32617)
    >>> out = assign_events(ev, cs)
    >>> out.unit.tolist(), out.report["outside"]
    ([0, 1], [3])
    """
    pixel = cells.pixel_of(events.x, events.y)
    if cells.kind == "square":
        lookup = np.full(cells.nx * cells.ny, -1, dtype=np.int64)
        lookup[cells.weights.indices] = np.repeat(
            np.arange(len(cells)), np.diff(cells.weights.indptr)
        )
        unit = np.where(pixel >= 0, lookup[np.maximum(pixel, 0)], -1)
        clipped = cells.weights.data < 1 - 1e-9
        if clipped.any():
            # In a clipped edge cell the point itself must lie in the study area.
            partial = np.isin(unit, np.flatnonzero(clipped))
            geoms = cells.cells.geometry.to_numpy()
            idx = np.flatnonzero(partial)
            ok = shapely.intersects_xy(geoms[unit[idx]], events.x[idx], events.y[idx])
            unit[idx[~ok]] = -1
    elif cells.kind == "segments":  # the nearest segment within the snapping distance
        tree = shapely.STRtree(cells.cells.geometry.to_numpy())
        ev_idx, unit_idx = tree.query_nearest(shapely.points(events.x, events.y), max_distance=cells.snap_m,
                                              all_matches=False)
        unit = np.full(len(events), -1, dtype=np.int64)
        unit[ev_idx] = unit_idx
    else:
        tree = shapely.STRtree(cells.cells.geometry.to_numpy())
        ev_idx, unit_idx = tree.query(shapely.points(events.x, events.y), predicate="intersects")
        unit = np.full(len(events), -1, dtype=np.int64)
        # on a shared edge: the first unit, deterministically
        first = np.unique(ev_idx, return_index=True)[1]
        unit[ev_idx[first]] = unit_idx[first]
    outside = unit < 0
    out = events.take(~outside)
    out.unit = unit[~outside]
    out.pixel = pixel[~outside]
    out.report = {**events.report, "outside": [int(r) for r in events.row[outside]]}
    return out


def point_density(points: gpd.GeoDataFrame, cells: CellSet) -> np.ndarray:
    """Points (e.g. shops, bars, car parks, transit stops) per km² of each cell: a covariate.

    Lines and polygons count once, at a point inside them.  Points outside the study area are
    context and simply fall in no cell.

    Parameters
    ----------
    points : geopandas.GeoDataFrame
        Any geometries, with a CRS (reprojected to the cells' CRS).
    cells : CellSet

    Returns
    -------
    numpy.ndarray
        One density per cell, in the order of the cells.

    Raises
    ------
    InputError
        No CRS, or rows without a geometry (named by row number, counting from 1).

    Examples
    --------
    >>> cs = square_cells((0, 0, 399, 199), 200, crs=32617)
    >>> poi = gpd.GeoDataFrame(geometry=shapely.points([[10, 10], [20, 20], [250, 10], [900, 9]]), crs=32617)
    >>> point_density(poi, cs).tolist()
    [50.0, 25.0]
    """
    source = points.attrs.get("source", "the point file")
    if points.crs is None:
        raise InputError(f"{source} has no CRS: give one (--crs) or save the file with its CRS.")
    geoms = points.geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        raise InputError(f"{source}: {describe_rows(np.flatnonzero(missing) + 1)} have no geometry; fix or "
                         "remove them (rows count from 1).")
    metric = gpd.GeoSeries(shapely.point_on_surface(geoms), crs=points.crs).to_crs(cells.cells.crs)
    xy = shapely.get_coordinates(metric.to_numpy())
    located = assign_events(EventSet(t=np.zeros(len(xy)), x=xy[:, 0], y=xy[:, 1], row=np.arange(1, len(xy) + 1),
                                     crs=cells.cells.crs), cells)
    counts = np.bincount(located.unit, minlength=len(cells))
    return counts / np.maximum(cells.area / 1e6, 1e-9)


def density_covariates(layers, cells: CellSet) -> np.ndarray | None:
    """Per-cell covariates for ``gbm`` and the ensemble: the :func:`point_density` of each layer.

    Parameters
    ----------
    layers : sequence of geopandas.GeoDataFrame
        Points of interest, one layer per covariate (shops, bars, car parks, ...).
    cells : CellSet

    Returns
    -------
    numpy.ndarray or None
        Shape ``(n_cells, len(layers))``, columns in the order of *layers*; None without layers
        (no covariates).

    Examples
    --------
    >>> cs = square_cells((0, 0, 399, 199), 200, crs=32617)
    >>> shops = gpd.GeoDataFrame(geometry=shapely.points([[10, 10], [250, 10]]), crs=32617)
    >>> bars = gpd.GeoDataFrame(geometry=shapely.points([[20, 20]]), crs=32617)
    >>> density_covariates([shops, bars], cs).tolist()
    [[25.0, 25.0], [25.0, 0.0]]
    """
    if not len(layers):
        return None
    return np.column_stack([point_density(points, cells) for points in layers])
