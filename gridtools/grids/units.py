"""The units a partition works on: checks on the way in, measured grids on the way out."""

from __future__ import annotations

import math

import geopandas as gpd
import shapely
import numpy as np

from gridtools.identifiers import check_duplicate_geometries
from gridtools.errors import InputError, rows_where
from gridtools.validate import check_coordinates, check_geometries, numeric_column, require_columns

__all__ = ["check_units", "measure_grids"]


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


def measure_grids(units: gpd.GeoDataFrame, label: np.ndarray, pop: np.ndarray, metric_crs) -> gpd.GeoDataFrame:
    """Step 6 of the pipeline: dissolve units by grid label and measure each grid.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
    label : numpy.ndarray of int
        Grid label of each unit.
    pop : numpy.ndarray
        Population of each unit.
    metric_crs : pyproj.CRS
        CRS in metres for area and perimeter.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per label: population, n_units, area_m2, polsby_popper, n_parts.
    """
    frame = gpd.GeoDataFrame({"label": label, "population": pop, "n_units": 1},
                             geometry=units.geometry.values, crs=units.crs)
    grids = frame.dissolve(by="label", aggfunc={"population": "sum", "n_units": "sum"})
    metric = grids.geometry.to_crs(metric_crs)
    grids["area_m2"] = metric.area.to_numpy()
    perimeter = metric.length.to_numpy()
    grids["polsby_popper"] = np.where(perimeter > 0, 4 * math.pi * grids["area_m2"] / perimeter**2, 0.0)
    grids["n_parts"] = shapely.get_num_geometries(grids.geometry.values)
    return grids
