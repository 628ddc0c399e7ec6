"""Road segments as forecast units (the Suzhou model names road sections, not squares).

:func:`segment_units` turns a line layer (a user's road file or an OSM extract) into a
:class:`~gridtools.hotspots.cells.CellSet` of kind ``"segments"``: each unit is one segment,
its *area* is its length in metres, so hit rate, PAI and PEI are by **length share** (PAI = share
of events caught / share of road length flagged).  Events are snapped to the nearest segment
within ``snap_m`` metres (:func:`gridtools.hotspots.cells.assign_events`); those further away are
left out and counted in ``report["outside"]``.

Kernel methods smooth on a raster as for other units: each pixel's expected count is shared
among the segments crossing it in proportion to their length inside it.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely

from gridtools import settings
from gridtools.errors import InputError, describe_rows
from gridtools.hotspots.cells import CellSet

__all__ = ["segment_units"]


def segment_units(lines: gpd.GeoDataFrame, *, crs, id_col: str | None = None, snap_m: float | None = None,
                  pixel: float | None = None) -> CellSet:
    """Road segments (any line layer) as forecast units, measured by length.

    Parameters
    ----------
    lines : geopandas.GeoDataFrame
        LineStrings or MultiLineStrings with a CRS (multi-part lines are split into parts).
    crs : CRS-like
        The metric CRS of the events.
    id_col : str, optional
        Column naming each segment (default: the row position, from 0); a part of a
        multi-part line gets ``id/part``.
    snap_m : float, default ``settings.hotspot_snap_m``
        Events further than this from every segment are left out (and counted).
    pixel : float, default ``settings.hotspot_unit_pixel_m``
        Raster pixel for kernel smoothing (metres).

    Returns
    -------
    CellSet
        ``kind="segments"``; ``cells`` has ``cell_id``, ``area_m2`` (= the length in metres,
        the measure the metrics share out), ``length_m``, geometry.

    Examples
    --------
    >>> g = gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=[shapely.LineString([(0, 0), (300, 0)]),
    ...                      shapely.LineString([(0, 100), (0, 200)])], crs=32617)
    >>> cs = segment_units(g, crs=32617, id_col="name", pixel=50)
    >>> cs.area.tolist(), cs.kind
    ([300.0, 100.0], 'segments')
    """
    pixel = float(settings.hotspot_unit_pixel_m if pixel is None else pixel)
    snap = float(settings.hotspot_snap_m if snap_m is None else snap_m)
    if not np.isfinite(snap) or snap <= 0:
        raise InputError(f"snap_m must be a positive distance in metres, not {snap_m!r}.")
    source = lines.attrs.get("source", "road segments")
    if lines.crs is None:
        raise InputError(f"{source} has no CRS; save it with one or set it (lines.set_crs(...)).")
    if id_col is not None and id_col not in lines.columns:
        raise InputError(f"{source} has no column {id_col!r} to name the segments (id_col=...).")
    ids = lines[id_col].astype(str) if id_col else lines.index.to_series().astype(str)
    parts = gpd.GeoDataFrame({"seg": ids.to_numpy()}, geometry=lines.geometry.to_numpy(), crs=lines.crs)
    parts = parts.to_crs(crs).explode(index_parts=True)
    geoms = parts.geometry.to_numpy()
    kinds = shapely.get_type_id(geoms)
    bad = (kinds != 1) | shapely.is_empty(geoms) | (shapely.length(geoms) <= 0)
    if bad.all():
        raise InputError(f"{source} holds no lines of any length; give a road (line) layer.")
    if bad.any():
        rows = parts.index.get_level_values(0)[bad]
        raise InputError(f"{source}: {describe_rows(np.asarray(rows) + 1)} are not lines of any length; "
                         "fix or remove them (rows count from 1).")
    n_parts = parts.groupby(level=0)["seg"].transform("size").to_numpy()
    part_no = parts.index.get_level_values(1).to_numpy()
    names = np.where(n_parts > 1, parts["seg"].to_numpy() + "/" + part_no.astype(str), parts["seg"].to_numpy())
    length = shapely.length(geoms)
    weights, x0, y0, nx, ny = _length_weights(geoms, length, pixel)
    cells = gpd.GeoDataFrame({"cell_id": names, "area_m2": length, "length_m": length}, geometry=geoms,
                             crs=parts.crs).reset_index(drop=True)
    return CellSet(cells, length, x0, y0, pixel, nx, ny, weights, "segments", snap_m=snap)


def _length_weights(geoms, length, pixel):
    """Segments x pixels: each pixel shared among the segments in it by their length inside it."""
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    x0, y0 = np.floor(minx / pixel) * pixel, np.floor(miny / pixel) * pixel
    nx, ny = int(np.ceil((maxx - x0) / pixel)) + 1, int(np.ceil((maxy - y0) / pixel)) + 1
    if nx * ny > settings.hotspot_max_pixels:
        raise InputError(f"a {pixel:g} m raster over the road segments needs {nx * ny:,} pixels; "
                         "raise settings.hotspot_unit_pixel_m.")
    # sample each segment every quarter pixel: each sample stands for its share of the length
    n = np.maximum(np.ceil(length / (pixel / 4)).astype(np.int64), 1)
    seg = np.repeat(np.arange(len(geoms)), n)
    frac = (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + 0.5) / np.repeat(n, n)
    pts = shapely.line_interpolate_point(geoms[seg], frac, normalized=True)
    xy = shapely.get_coordinates(pts)
    col = np.clip(np.floor((xy[:, 0] - x0) / pixel).astype(np.int64), 0, nx - 1)
    row = np.clip(np.floor((xy[:, 1] - y0) / pixel).astype(np.int64), 0, ny - 1)
    raw = sp.csr_matrix(((length / n)[seg], (seg, row * nx + col)), shape=(len(geoms), nx * ny))
    per_pixel = np.asarray(raw.sum(axis=0)).ravel()
    scale = sp.diags(np.where(per_pixel > 0, 1.0 / np.where(per_pixel > 0, per_pixel, 1), 0.0))
    return (raw @ scale).tocsr(), x0, y0, nx, ny
