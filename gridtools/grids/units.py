"""The units a partition works on: checks on the way in, measured grids on the way out."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridtools.identifiers import check_duplicate_geometries
from gridtools.errors import InputError, rows_where
from gridtools.validate import check_coordinates, check_geometries, numeric_column, require_columns

__all__ = ["check_units", "dissolve_groups", "measure_grids"]


def check_units(units: gpd.GeoDataFrame, pop: str, within: str | None, dedupe: bool = False) -> gpd.GeoDataFrame:
    """Step 1 of the pipeline: refuse units that cannot be partitioned, repair invalid polygons.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Polygons with a CRS.
    pop : str
        Population column (numbers >= 0 in every row).
    within : str or None
        Nesting column (community, ward); every unit needs a value.
    dedupe : bool
        Keep the first of units with the same geometry instead of refusing them (their
        residents would be counted twice).

    Returns
    -------
    geopandas.GeoDataFrame
        The units, with invalid geometries repaired.

    Raises
    ------
    InputError
        Naming the rows and what to do.
    """
    source = units.attrs.get("source", "units")
    if not isinstance(units, gpd.GeoDataFrame):
        raise InputError(f"{source}: expected a GeoDataFrame of polygons, got {type(units).__name__}")
    if len(units) == 0:
        raise InputError(f"{source} has no rows: nothing to partition")
    if units.crs is None:
        raise InputError(f"{source} has no coordinate reference system; set one, e.g. read it with crs='EPSG:nnnn'")
    require_columns(units, {pop: "pop"} | ({within: "within"} if within else {}), source)
    numeric_column(units, pop, source)
    units, _ = check_geometries(units, source)
    polygonal = units.geom_type.isin(["Polygon", "MultiPolygon"])
    if not polygonal.all():
        kinds = ", ".join(sorted(units.geom_type[~polygonal].unique()))
        raise InputError(
            f"{source}: {rows_where(~polygonal, units.index)} are {kinds}, not polygons. Points or "
            "buildings need units first: aggregate them to blocks (gridtools.population.aggregate_to_units)"
        )
    if within:
        gaps = units[within].isna() | (units[within].astype(str).str.strip() == "")
        if gaps.any():
            raise InputError(
                f"{source}: column '{within}' (within=...) is empty in {rows_where(gaps, units.index)}; "
                "every unit needs the community/ward it belongs to"
            )
    check_coordinates(units, source)
    return check_duplicate_geometries(units, source, dedupe=dedupe)


def dissolve_groups(geoms: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Union of the polygons of each group ``0..n_groups-1`` in a few vectorised GEOS calls.

    Units of a partition form a coverage (they do not overlap), so the fast coverage union
    (which only drops the edges two members share) is tried first, on groups of similar size at
    once.  A group whose result is invalid, or whose area differs from the sum of its members'
    (overlapping or not edge-matched units), is dissolved again with the general
    :func:`shapely.union_all`, so the result is the same as a plain union in every case.

    Examples
    --------
    >>> from shapely import box
    >>> out = dissolve_groups(np.array([box(0, 0, 1, 1), box(1, 0, 2, 1), box(5, 5, 6, 6)]), np.array([0, 0, 1]), 2)
    >>> [float(g.area) for g in out], [g.geom_type for g in out]
    ([2.0, 1.0], ['Polygon', 'Polygon'])
    """
    geoms = np.asarray(geoms, dtype=object)
    group = np.asarray(group, dtype=np.int64)
    order = np.argsort(group, kind="stable")
    sizes = np.bincount(group, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    out = np.empty(n_groups, dtype=object)
    # one padded (groups x width) array per power-of-two width: the padding (None) stays small
    width_class = np.ceil(np.log2(np.maximum(sizes, 1))).astype(np.int64)
    for wc in np.unique(width_class):
        members = np.flatnonzero(width_class == wc)
        width = int(sizes[members].max())
        table = np.full((len(members), width), None, dtype=object)
        column = np.arange(width)
        filled = column[None, :] < sizes[members][:, None]
        table[filled] = geoms[order[(starts[members][:, None] + column[None, :])[filled]]]
        out[members] = shapely.coverage_union_all(table, axis=1)
    expected = np.bincount(group, weights=shapely.area(geoms), minlength=n_groups)
    area = shapely.area(out)
    redo = ~shapely.is_valid(out) | ~np.isclose(area, expected, rtol=1e-9, atol=1e-9 * max(float(expected.max(initial=0)), 1.0))
    for g in np.flatnonzero(redo):
        out[g] = shapely.union_all(geoms[order[starts[g]:starts[g] + sizes[g]]])
    return out


def measure_grids(units: gpd.GeoDataFrame, label: np.ndarray, pop: np.ndarray, metric_crs) -> gpd.GeoDataFrame:
    """Step 6 of the pipeline: dissolve units by grid label and measure each grid.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
    label : numpy.ndarray
        Grid label of each unit (missing labels are left out, as in ``GeoDataFrame.dissolve``).
    pop : numpy.ndarray
        Population of each unit.
    metric_crs : pyproj.CRS
        CRS in metres for area and perimeter.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per label (sorted): population, n_units, area_m2, polsby_popper, n_parts.
    """
    codes, values = pd.factorize(np.asarray(label), sort=True)
    kept = codes >= 0
    codes = codes[kept]
    geoms = dissolve_groups(units.geometry.values[kept], codes, len(values))
    index = pd.Index(values, name="label")
    grids = gpd.GeoDataFrame(
        {"population": np.bincount(codes, weights=np.asarray(pop, dtype=float)[kept], minlength=len(values)),
         "n_units": np.bincount(codes, minlength=len(values))},
        geometry=gpd.GeoSeries(geoms, crs=units.crs).values, index=index, crs=units.crs)
    metric = grids.geometry.to_crs(metric_crs)
    grids["area_m2"] = metric.area.to_numpy()
    perimeter = metric.length.to_numpy()
    grids["polsby_popper"] = np.where(perimeter > 0, 4 * math.pi * grids["area_m2"] / perimeter**2, 0.0)
    grids["n_parts"] = shapely.get_num_geometries(grids.geometry.values)
    return grids
