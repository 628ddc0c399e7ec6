"""Existing plans: import a unit -> grid assignment (or grid polygons), score it, compare two plans.

A *plan* is a grid label per unit.  :func:`score_plan` gives any plan (a human-drawn one, a
batch partition, a plan after hand edits) the same report: band share, contiguity, compactness,
barrier crossings, split communities and the spread of each workload quantity.
:func:`compare_plans` counts the units and residents that change grid between two plans.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from gridtools import settings
from gridtools.crs import to_metric
from gridtools.errors import InputError, rows_where
from gridtools.grids.core import make_band
from gridtools.grids.graph import UnitGraph, build_unit_graph, link_islands
from gridtools.grids.pieces import barrier_crossings
from gridtools.grids.units import check_units, measure_grids
from gridtools.validate import numeric_column, require_columns

__all__ = ["PlanComparison", "PlanScore", "compare_plans", "plan_from_polygons", "score_plan",
           "spread", "unit_graph"]


def unit_graph(units: gpd.GeoDataFrame, tolerance: float | None = None) -> UnitGraph:
    """Rook adjacency of the units (metric CRS), islands linked to their nearest unit.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> g = unit_graph(gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:32650"))
    >>> (g.n, len(g.i))
    (2, 1)
    """
    metric = to_metric(units)
    graph = build_unit_graph(metric.geometry.values, settings.adjacency_tolerance_m if tolerance is None else tolerance)
    return link_islands(graph, metric.geometry.values, np.zeros(len(units), dtype=np.int64))


def plan_from_polygons(units: gpd.GeoDataFrame, plan: gpd.GeoDataFrame, key: str) -> pd.Series:
    """Grid of each unit under a plan given as polygons: the plan polygon holding the unit's point.

    Units whose representative point lies in no plan polygon take the nearest one (their count is
    in ``result.attrs["outside"]``).

    Parameters
    ----------
    units : geopandas.GeoDataFrame
    plan : geopandas.GeoDataFrame
        Grid / district polygons with a CRS.
    key : str
        Column of ``plan`` naming each grid.

    Returns
    -------
    pandas.Series
        The plan's ``key`` per unit, indexed like ``units``.

    Examples
    --------
    >>> labels = plan_from_polygons(blocks, districts, key="ED_KEY")    # doctest: +SKIP
    """
    source = plan.attrs.get("source", "plan")
    if key not in plan.columns:
        raise InputError(f"{source} has no column '{key}' (key=...); columns: {', '.join(map(str, plan.columns))}")
    if plan.crs is None:
        raise InputError(f"{source} has no coordinate reference system; set one (crs='EPSG:nnnn')")
    metric_units = to_metric(units)
    polygons = plan[[key, "geometry"]].to_crs(metric_units.crs).reset_index(drop=True)
    points = gpd.GeoDataFrame(geometry=metric_units.representative_point().values, crs=metric_units.crs)
    hit = gpd.sjoin(points, polygons, how="left", predicate="within")
    hit = hit[~hit.index.duplicated(keep="first")].sort_index()
    outside = hit[key].isna().to_numpy()
    labels = hit[key].to_numpy(dtype=object)
    if outside.any():
        near = gpd.sjoin_nearest(points[outside], polygons, how="left")
        labels[outside] = near[~near.index.duplicated(keep="first")][key].to_numpy()
    result = pd.Series(labels, index=units.index, name=key)
    result.attrs["outside"] = int(outside.sum())
    return result


def spread(values) -> dict:
    """Spread of a quantity over grids: min, max, max/min ratio and coefficient of variation.

    Examples
    --------
    >>> spread([90, 100, 110])["cv"]
    0.08164965809277261
    """
    values = np.asarray(values, dtype=float)
    mean = values.mean() if len(values) else 0.0
    return {"min": float(values.min()), "max": float(values.max()), "mean": float(mean),
            "ratio": float(values.max() / values.min()) if values.min() > 0 else float("inf"),
            "cv": float(values.std() / mean) if mean > 0 else 0.0}


@dataclass
class PlanScore:
    """What :func:`score_plan` returns.

    Attributes
    ----------
    grids : geopandas.GeoDataFrame
        One row per grid: ``grid``, ``population``, ``n_units``, ``in_band``, ``n_pieces`` (connected
        pieces; 1 = contiguous), ``polsby_popper``, ``barrier_crossings`` and one column per quantity.
    summary : dict
        ``n_grids``, ``share_in_band``, ``share_contiguous``, ``median_polsby_popper``,
        ``barrier_crossings`` (unit steps inside a grid that cross a barrier), ``grids_crossing_barriers``,
        ``split_communities`` (communities in more than one grid), ``grids_crossing_communities``
        (grids with units of more than one community) and ``spread`` (per quantity, see :func:`spread`).
    """

    grids: gpd.GeoDataFrame
    summary: dict = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """Human-readable report, one fact per line."""
        s = self.summary
        lines = [f"grids: {s['n_grids']:,}  in band {s['min_pop']:,.0f}-{s['max_pop']:,.0f}: {s['share_in_band']:.1%}"
                 f"  population min / median / max: {s['pop_min']:,.0f} / {s['pop_median']:,.0f} / {s['pop_max']:,.0f}",
                 f"contiguous: {s['share_contiguous']:.1%}  median Polsby-Popper: {s['median_polsby_popper']:.3f}",
                 f"barrier crossings: {s['barrier_crossings']:,} in {s['grids_crossing_barriers']:,} grids"
                 f"  split communities: {s['split_communities']}"
                 f"  grids crossing communities: {s['grids_crossing_communities']}"]
        for name, sp in s["spread"].items():
            lines.append(f"{name}: min {sp['min']:,.0f}  max {sp['max']:,.0f}  cv {sp['cv']:.3f}")
        return lines


def score_plan(units: gpd.GeoDataFrame, assignment, pop: str, *, min_pop: float | None = None,
               max_pop: float | None = None, barriers: gpd.GeoDataFrame | None = None,
               communities: str | None = None, quantities: list[str] | None = None,
               graph: UnitGraph | None = None) -> PlanScore:
    """Score a plan (a grid per unit) with the same report as a fresh partition.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Unit polygons with a population column.
    assignment : str or array-like
        The column of ``units`` naming each unit's grid, or one label per unit.
    pop : str
        Population column.
    min_pop, max_pop : float, optional
        Band (defaults from :mod:`gridtools.settings`).
    barriers : geopandas.GeoDataFrame, optional
        Lines (roads, rivers) a grid should not straddle.
    communities : str, optional
        Column of the community each unit belongs to; a community in several grids is *split*.
    quantities : list of str, optional
        Workload columns (households, housing units, case load) whose spread is reported.
    graph : UnitGraph, optional
        Adjacency of the units when already built (:func:`unit_graph`).

    Returns
    -------
    PlanScore

    Examples
    --------
    >>> score = score_plan(blocks, "ED_KEY", "pop", min_pop=1000, max_pop=1500)  # doctest: +SKIP
    >>> score.summary["share_in_band"]                                            # doctest: +SKIP
    """
    if communities:  # named here, before check_units names it within=...
        require_columns(units, {communities: "communities"}, units.attrs.get("source", "units"))
    units = check_units(units, pop, communities)
    band = make_band(min_pop, max_pop)
    lo, hi = band.lo, band.hi
    labels = _assignment(units, assignment)
    codes, names = pd.factorize(pd.Series(labels).astype(str))
    quantities = list(quantities or [])
    for column in quantities:
        if column not in units.columns:
            raise InputError(f"{units.attrs.get('source', 'units')} has no column '{column}' (quantities=...)")
        numeric_column(units, column, units.attrs.get("source", "units"))
    population = units[pop].to_numpy(dtype=float)
    metric = to_metric(units)
    graph = unit_graph(units) if graph is None else graph
    grids = measure_grids(units, codes, population, metric.crs)
    inside = graph.subset_edges(codes[graph.i] == codes[graph.j])
    _, comp = inside.components()
    grids["n_pieces"] = pd.Series(comp).groupby(codes).nunique().loc[grids.index].to_numpy()
    soft, major = barrier_crossings(graph, metric, barriers)
    crossing = (soft | major) & (codes[graph.i] == codes[graph.j])
    grids["barrier_crossings"] = np.bincount(codes[graph.i[crossing]], minlength=len(names))[grids.index]
    for column in quantities:
        grids[column] = np.bincount(codes, weights=units[column].to_numpy(dtype=float), minlength=len(names))[grids.index]
    grids["in_band"] = (grids["population"] >= lo) & (grids["population"] <= hi)
    grids.insert(0, "grid", names[grids.index.to_numpy()])
    split = crossing_communities = 0
    if communities:
        community = units[communities].astype(str).to_numpy()
        split = int((pd.Series(codes).groupby(community).nunique() > 1).sum())
        crossing_communities = int((pd.Series(community).groupby(codes).nunique() > 1).sum())
    summary = {"n_grids": len(grids), "min_pop": lo, "max_pop": hi, "share_in_band": float(grids["in_band"].mean()),
               "pop_min": float(grids["population"].min()), "pop_median": float(grids["population"].median()),
               "pop_max": float(grids["population"].max()),
               "share_contiguous": float((grids["n_pieces"] == 1).mean()),
               "median_polsby_popper": float(grids["polsby_popper"].median()),
               "barrier_crossings": int(crossing.sum()),
               "grids_crossing_barriers": int((grids["barrier_crossings"] > 0).sum()),
               "split_communities": split, "grids_crossing_communities": crossing_communities,
               "spread": {c: spread(grids[c]) for c in ["population", *quantities]}}
    return PlanScore(grids.reset_index(drop=True), summary)


def _assignment(units: gpd.GeoDataFrame, assignment) -> np.ndarray:
    """The plan's label per unit, refusing missing labels."""
    source = units.attrs.get("source", "units")
    if isinstance(assignment, str):
        if assignment not in units.columns:
            raise InputError(f"{source} has no column '{assignment}' (assignment=...); "
                             f"columns: {', '.join(map(str, units.columns))}")
        labels = units[assignment]
    else:
        labels = pd.Series(np.asarray(assignment, dtype=object), index=units.index)
        if len(labels) != len(units):
            raise InputError(f"assignment has {len(labels)} labels for {len(units)} units (assignment=...)")
    missing = labels.isna().to_numpy()
    if missing.any():
        raise InputError(f"{source}: {rows_where(missing, units.index)} have no grid in the plan (assignment=...); "
                         "give every unit a grid")
    return labels.to_numpy()


@dataclass
class PlanComparison:
    """What :func:`compare_plans` returns.

    Attributes
    ----------
    matches : pandas.DataFrame
        Grid of plan A, its matched grid of plan B (most shared residents, one-to-one) and the
        residents they share.
    changed : numpy.ndarray of bool
        Per unit: True when its plan-B grid is not the match of its plan-A grid.
    summary : dict
        ``units_changed``, ``residents_changed`` and their shares.
    """

    matches: pd.DataFrame
    changed: np.ndarray
    summary: dict = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        s = self.summary
        return [f"grids: {s['grids_a']:,} -> {s['grids_b']:,}",
                f"units that change grid: {s['units_changed']:,} ({s['share_units_changed']:.1%})",
                f"residents that change grid: {s['residents_changed']:,.0f} ({s['share_residents_changed']:.1%})"]


def compare_plans(plan_a, plan_b, population) -> PlanComparison:
    """Units and residents that change grid between two plans of the same units.

    Grids of the two plans are matched one-to-one by shared residents (Hungarian assignment);
    a unit *changes grid* when its grid in plan B is not the match of its grid in plan A.

    Parameters
    ----------
    plan_a, plan_b : array-like
        Grid label per unit, same order.
    population : array-like
        Residents per unit.

    Returns
    -------
    PlanComparison

    Examples
    --------
    >>> compare_plans(["a", "a", "b"], ["x", "y", "y"], [10, 5, 10]).summary["residents_changed"]
    5.0
    """
    a, names_a = pd.factorize(pd.Series(np.asarray(plan_a, dtype=object)).astype(str))
    b, names_b = pd.factorize(pd.Series(np.asarray(plan_b, dtype=object)).astype(str))
    pop = np.asarray(population, dtype=float)
    if not (len(a) == len(b) == len(pop)):
        raise InputError(f"plans and population differ in length ({len(a)}, {len(b)}, {len(pop)} units)")
    overlap = np.zeros((len(names_a), len(names_b)))
    np.add.at(overlap, (a, b), pop + 1e-6)  # the tiny term matches grids of empty units too
    rows, cols = linear_sum_assignment(-overlap)
    match = np.full(len(names_a), -1)
    match[rows] = cols
    changed = match[a] != b
    matches = pd.DataFrame({"grid_a": names_a[rows], "grid_b": names_b[cols],
                            "shared_residents": np.floor(overlap[rows, cols])})
    total = max(pop.sum(), 1e-9)
    summary = {"grids_a": len(names_a), "grids_b": len(names_b), "units_changed": int(changed.sum()),
               "share_units_changed": float(changed.mean()) if len(changed) else 0.0,
               "residents_changed": float(pop[changed].sum()),
               "share_residents_changed": float(pop[changed].sum() / total)}
    return PlanComparison(matches, changed, summary)
