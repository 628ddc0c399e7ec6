"""Split grids into unit cells of buildings or household points, and over-size grids into sub-grids.

A census block with more residents than a grid may hold becomes an out-of-band grid of its own
(:func:`gridtools.partition` never splits a unit).  When the block's buildings are known,
:func:`subdivide` cuts it: each building gets a *unit cell* (its Voronoi cell, clipped to the
block), the cells carry the building's residents, and the cells are partitioned into contiguous
sub-grids in the band.  A building is never split (it belongs to the cell of its representative
point); the block's census count is kept exactly (building estimates are scaled to it with
largest-remainder rounding).  Sub-grids take the grid's code with sub-grid digits 01, 02, ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gridtools import settings
from gridtools.crs import to_metric
from gridtools.errors import InputError
from gridtools.grids.balance import Band, feasible_counts
from gridtools.grids.codes import CodeLayout
from gridtools.grids.core import FEASIBLE_STATUSES, make_band, partition
from gridtools.grids.graph import UnitGraph, build_unit_graph, link_islands
from gridtools.grids.proofs import pockets
from gridtools.population import round_preserving_total
from gridtools.validate import numeric_column, require_columns

__all__ = ["SubdivideResult", "subdivide", "unit_cells"]


def unit_cells(area, points: np.ndarray) -> np.ndarray:
    """Voronoi cells of ``points`` (an (n, 2) array) clipped to the polygon ``area``, in point order.

    Points at the same spot share the first one's cell (the others get an empty polygon).

    Examples
    --------
    >>> from shapely import box
    >>> cells = unit_cells(box(0, 0, 2, 1), np.array([[0.5, 0.5], [1.5, 0.5]]))
    >>> [round(c.area, 2) for c in cells]
    [1.0, 1.0]
    """
    points = np.asarray(points, dtype=float)
    if len(points) == 1:
        return np.array([area], dtype=object)
    unique, first, inverse = np.unique(points, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    cells = shapely.voronoi_polygons(shapely.multipoints(unique), extend_to=area, ordered=True)
    cells = shapely.intersection(np.asarray(shapely.get_parts(cells), dtype=object), area)
    out = np.array([shapely.Polygon()] * len(points), dtype=object)
    out[first] = cells
    return out


@dataclass
class SubdivideResult:
    """What :func:`subdivide` returns.

    Attributes
    ----------
    grids : geopandas.GeoDataFrame
        The input grids with every subdivided grid replaced by its sub-grids (``grid_code``,
        ``parent_code``, ``population``, ``in_band``, ``subdivided``).
    cells : geopandas.GeoDataFrame
        Unit cells of the subdivided grids: ``building`` (index of the building), ``population``,
        ``grid_code`` of the sub-grid.
    report : pandas.DataFrame
        Per over-size grid: residents, buildings, sub-grids, sub-grids in band, the feasible count
        range, buildings above the maximum (each a sub-grid of its own), the share of the other
        sub-grids in band, and the outcome (``subdivided``, ``no buildings``, ``infeasible: ...``).
    """

    grids: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    report: pd.DataFrame
    summary: dict = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        s = self.summary
        return [f"over-size grids: {s['oversize']}  subdivided: {s['subdivided']}  sub-grids: {s['sub_grids']}"
                f"  in band: {s['sub_grids_in_band']}",
                f"residents before / after: {s['residents_before']:,.0f} / {s['residents_after']:,.0f}"]


def _building_population(buildings: gpd.GeoDataFrame, building_pop: str | None, total: float) -> np.ndarray:
    """Residents per building, scaled to the grid's census count (or spread by footprint area)."""
    if building_pop is None:
        weights = to_metric(buildings).area.to_numpy()
    else:
        weights = buildings[building_pop].to_numpy(dtype=float)
    if weights.sum() <= 0:
        weights = np.ones(len(buildings))
    return round_preserving_total(weights / weights.sum() * total, int(round(total))).astype(float)


def subdivide(grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, *, pop: str = "population",
              building_pop: str | None = None, code: str = "grid_code", min_pop: float | None = None,
              max_pop: float | None = None, only_oversize: bool = True,
              random_state: int | None = None) -> SubdivideResult:
    """Split over-size grids (or every grid) into contiguous sub-grids of whole buildings.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        Grid or block polygons with a population column and a code column.
    buildings : geopandas.GeoDataFrame
        Building footprints or household points with a CRS.
    pop : str
        Residents of each grid (kept exactly).
    building_pop : str, optional
        Column of estimated residents per building (e.g. ``pop_est`` of
        :func:`gridtools.population.estimate_building_population`); scaled to each grid's count.
        Without it, residents are spread over buildings by footprint area.
    code : str
        Code column of ``grids``; sub-grids take ``code`` with sub-grid digits 01, 02, ...
    min_pop, max_pop : float, optional
        Band of residents per sub-grid (defaults from :mod:`gridtools.settings`).
    only_oversize : bool
        Subdivide only grids above ``max_pop`` (default) or every grid that has buildings.
    random_state : int, optional
        Seed.

    Returns
    -------
    SubdivideResult

    Examples
    --------
    >>> result = subdivide(blocks, buildings, pop="pop", code="GEOID", building_pop="pop_est")  # doctest: +SKIP
    >>> result.report[["grid_code", "population", "sub_grids", "in_band"]]                     # doctest: +SKIP
    """
    source = grids.attrs.get("source", "grids")
    require_columns(grids, {pop: "pop", code: "code"}, source)
    numeric_column(grids, pop, source)
    if buildings.crs is None or grids.crs is None:
        raise InputError("grids and buildings need a coordinate reference system (crs='EPSG:nnnn')")
    if building_pop is not None:
        require_columns(buildings, {building_pop: "building_pop"}, buildings.attrs.get("source", "buildings"))
    band = make_band(min_pop, max_pop)
    lo, hi = band.lo, band.hi
    layout = CodeLayout(settings.code_layout)
    metric_grids = to_metric(grids)
    metric_buildings = buildings.to_crs(metric_grids.crs)
    points = metric_buildings.geometry.representative_point()
    grid_of_building = np.full(len(buildings), -1)
    b_idx, g_idx = shapely.STRtree(metric_grids.geometry.values).query(points.values, predicate="within")
    grid_of_building[b_idx] = g_idx  # a point on a shared edge goes to the last grid: either is fine

    targets = np.flatnonzero(grids[pop].to_numpy(dtype=float) > hi) if only_oversize else np.arange(len(grids))
    rows, new_grids, all_cells, replaced = [], [], [], []
    for g in targets:
        total = float(grids[pop].iloc[g])
        inside = np.flatnonzero(grid_of_building == g)
        kmin, kmax = max(1, int(np.ceil(total / hi - 1e-9))), int(np.floor(total / lo + 1e-9))
        row = {"grid_code": str(grids[code].iloc[g]), "population": total, "buildings": len(inside),
               "min_sub_grids": kmin, "max_sub_grids": kmax, "sub_grids": 1, "in_band": 0,
               "oversize_buildings": 0, "cannot_be_in_band": 0, "feasible_in_band": 1.0, "outcome": ""}
        if kmin > kmax or len(inside) < 2:
            row["outcome"] = ("no buildings" if len(inside) == 0 else "one building: cannot be split"
                              if len(inside) == 1 else f"infeasible: {total:,.0f} residents fit no number of "
                              f"sub-grids of {lo:,.0f}-{hi:,.0f}; left whole")
            row["feasible_in_band"] = float("nan")
            rows.append(row)
            continue
        cells = _cells_of_grid(metric_grids.geometry.values[g], metric_buildings.iloc[inside], points.values[inside],
                               _building_population(buildings.iloc[inside], building_pop, total), inside)
        result = partition(cells, "population", min_pop=lo, max_pop=hi,
                           random_state=settings.random_state if random_state is None else random_state)
        plan = _polish(cells, result, lo, hi)
        proofs = _why_out_of_band(cells, band) if _gap(cells["population"], plan, band) > 0 else []
        serial, labels = np.unique(plan, return_inverse=True)
        parent = row["grid_code"]
        sub_codes = np.array([_sub_code(parent, s + 1, layout) for s in range(len(serial))], dtype=object)
        cells["grid_code"] = sub_codes[labels]
        sub = cells.dissolve(by="grid_code", aggfunc={"population": "sum"}).reset_index()
        sub["parent_code"] = parent
        new_grids.append(sub)
        all_cells.append(cells)
        replaced.append(g)
        in_band = ((sub["population"] >= lo) & (sub["population"] <= hi)).sum()
        n_feasible = len(sub) - int(result.summary["oversize_units"]) - len(proofs)
        row.update(sub_grids=len(sub), in_band=int(in_band), oversize_buildings=int(result.summary["oversize_units"]),
                   cannot_be_in_band=len(proofs),
                   feasible_in_band=min(1.0, float(in_band / n_feasible)) if n_feasible > 0 else 1.0,
                   outcome="; ".join(["subdivided", *proofs]))
        rows.append(row)
    return _assemble(grids, metric_grids.crs, pop, code, replaced, new_grids, all_cells, rows, lo, hi)


def _polish(cells: gpd.GeoDataFrame, result, lo: float, hi: float) -> np.ndarray:
    """Sub-grid of each cell: the partition's, or after validated boundary moves when a sub-grid missed the band."""
    plan = result.units["grid_code"].to_numpy()
    feasible = result.grids["status"].isin(FEASIBLE_STATUSES)
    if result.grids.loc[feasible, "in_band"].all():
        return plan
    from gridtools.grids.workload import balance_workload

    polished = balance_workload(cells.assign(_plan=plan), "_plan", "population", {}, min_pop=lo, max_pop=hi)

    def gap(pops) -> float:  # residents outside the band, summed over sub-grids
        pops = np.asarray(pops, dtype=float)
        return float(np.maximum(np.maximum(lo - pops, pops - hi), 0).sum())

    better = gap(polished.tallies["population"]) < gap(result.grids["population"])
    return polished.assignment.to_numpy() if better else plan


def _gap(population, plan: np.ndarray, band: Band) -> float:
    """Residents outside the band, summed over the sub-grids that are not one over-size building."""
    frame = pd.DataFrame({"pop": np.asarray(population, dtype=float), "plan": np.asarray(plan)})
    by = frame.groupby("plan")["pop"].agg(["sum", "size", "max"])
    own = by["max"] > band.hi  # the sub-grid of a building above the maximum (and what it encloses)
    sums = by.loc[~own, "sum"].to_numpy()
    return float(np.maximum(np.maximum(band.lo - sums, sums - band.hi), 0).sum())


#: Groups of at most this many cells are searched exhaustively for a cut into the band.
_EXHAUSTIVE_CELLS = 14
#: Candidate parts the exhaustive search may look at before it gives up (a few seconds at most).
_EXHAUSTIVE_BUDGET = 200_000


def _why_out_of_band(cells: gpd.GeoDataFrame, band: Band) -> list[str]:
    """Proofs, one per group of cells, that whole buildings cannot bring every sub-grid of it into the band.

    Buildings above the maximum are sub-grids of their own; each connected group of the other cells
    is checked: its residents fit no number of sub-grids; or a part of fewer than ``band.lo``
    residents reaches the rest only through one building, and the two together exceed
    ``band.hi`` (the sub-grid holding that part must hold that building too); or, for a group of
    at most :data:`_EXHAUSTIVE_CELLS` cells, no contiguous cut into the band exists at all.
    Each proof means at least one sub-grid of its group lies outside the band whatever the cut.
    """
    geoms = cells.geometry.values
    pop = cells["population"].to_numpy(dtype=float)
    graph = link_islands(build_unit_graph(geoms, settings.adjacency_tolerance_m), geoms, np.zeros(len(pop), int))
    everything = nx.Graph(zip(graph.i.tolist(), graph.j.tolist()))
    everything.add_nodes_from(range(len(pop)))
    keep = pop <= band.hi
    whole = everything.subgraph(np.flatnonzero(keep).tolist())
    proofs = []
    for nodes in nx.connected_components(whole):
        total = float(pop[list(nodes)].sum())
        if total < band.lo and any(not keep[v] for u in nodes for v in everything[u]):
            continue  # enclosed by an over-size building: part of its sub-grid
        group = whole.subgraph(nodes)
        kmin, kmax = feasible_counts(total, band)
        reason = (f"{total:,.0f} residents of {len(nodes)} buildings fit no number of sub-grids" if kmin > kmax
                  else _bottleneck(group, pop, band) or _no_cut(group, pop, band))
        if reason:
            proofs.append(reason)
    return proofs


def _bottleneck(group: nx.Graph, pop: np.ndarray, band: Band) -> str | None:
    """A part below the minimum that reaches the rest only through one building, too many together."""
    edges = np.array(list(group.edges()), dtype=np.int64).reshape(-1, 2)
    graph = UnitGraph(len(pop), edges.min(axis=1), edges.max(axis=1), np.ones(len(edges)),
                      np.full(len(edges), "rook"))
    found = pockets(graph, pop, band.lo, band.hi, np.fromiter(group.nodes, dtype=np.int64))
    if not found:
        return None
    part, cut = found[0]
    inside = float(pop[part].sum())
    return (f"{len(part)} buildings ({inside:,.0f} residents) reach the rest only through one building "
            f"of {pop[cut]:,.0f}: together {inside + pop[cut]:,.0f} > {band.hi:,.0f}")


def _no_cut(group: nx.Graph, pop: np.ndarray, band: Band) -> str | None:
    """For a small group: the reason when an exhaustive search finds no contiguous cut into the band."""
    if group.number_of_nodes() > _EXHAUSTIVE_CELLS:
        return None
    budget = [_EXHAUSTIVE_BUDGET]
    try:
        if _can_cut(group, frozenset(group.nodes), pop, band, budget):
            return None
    except _OutOfBudget:  # undecided: say nothing rather than guess
        return None
    return f"no contiguous cut of its {group.number_of_nodes()} buildings fits the band (searched exhaustively)"


class _OutOfBudget(Exception):
    """The exhaustive search looked at more candidate parts than it may."""


def _can_cut(group: nx.Graph, left: frozenset, pop: np.ndarray, band: Band, budget: list) -> bool:
    """True when the cells ``left`` split into connected parts each in the band (the smallest cell's part first)."""
    if not left:
        return True
    root, *others = sorted(left)
    for size in range(len(others) + 1):
        for more in combinations(others, size):
            budget[0] -= 1
            if budget[0] < 0:
                raise _OutOfBudget
            part = (root, *more)
            if (band.lo <= pop[list(part)].sum() <= band.hi and nx.is_connected(group.subgraph(part))
                    and _can_cut(group, left - set(part), pop, band, budget)):
                return True
    return False


def _cells_of_grid(area, buildings: gpd.GeoDataFrame, points: np.ndarray, population: np.ndarray,
                   positions: np.ndarray) -> gpd.GeoDataFrame:
    """Unit cells of one grid: one per building, the Voronoi cell of its point inside the grid."""
    xy = shapely.get_coordinates(points)
    cells = unit_cells(area, xy)
    empty = shapely.is_empty(cells)
    if empty.any():  # buildings on one spot: their residents go to the building that holds the cell
        _, first, inverse = np.unique(xy, axis=0, return_index=True, return_inverse=True)
        population = np.bincount(inverse.ravel(), weights=population)[inverse.ravel()] * ~empty
    frame = gpd.GeoDataFrame({"building": buildings.index.to_numpy(), "population": population},
                             geometry=cells, crs=buildings.crs)
    return frame[~empty].reset_index(drop=True)


def _sub_code(parent: str, serial: int, layout: CodeLayout) -> str:
    """Code of sub-grid ``serial`` of grid ``parent``: its sub-grid digits, else ``parent-serial``."""
    if parent.isdigit() and len(parent) == layout.total and serial < 10**layout.sub_width:
        return parent[: layout.total - layout.sub_width] + str(serial).zfill(layout.sub_width)
    return f"{parent}-{serial:02d}"


def _assemble(grids, metric_crs, pop, code, replaced, new_grids, all_cells, rows, lo, hi) -> SubdivideResult:
    kept = grids.drop(index=grids.index[replaced]).copy()
    kept["grid_code"] = kept[code].astype(str)
    kept["parent_code"] = kept["grid_code"]
    kept["subdivided"] = False
    pieces = [kept[["grid_code", "parent_code", pop, "subdivided", "geometry"]].rename(columns={pop: "population"})]
    for sub in new_grids:
        sub = sub.to_crs(grids.crs)
        sub["subdivided"] = True
        pieces.append(sub[["grid_code", "parent_code", "population", "subdivided", "geometry"]])
    out = gpd.GeoDataFrame(pd.concat(pieces, ignore_index=True), geometry="geometry", crs=grids.crs)
    out["in_band"] = (out["population"] >= lo) & (out["population"] <= hi)
    cells = (gpd.GeoDataFrame(pd.concat(all_cells, ignore_index=True), geometry="geometry", crs=metric_crs)
             .to_crs(grids.crs) if all_cells else
             gpd.GeoDataFrame({"building": [], "population": [], "grid_code": []}, geometry=[], crs=grids.crs))
    report = pd.DataFrame(rows, columns=["grid_code", "population", "buildings", "min_sub_grids", "max_sub_grids",
                                         "sub_grids", "in_band", "oversize_buildings", "cannot_be_in_band",
                                         "feasible_in_band",
                                         "outcome"])
    summary = {"oversize": len(rows), "subdivided": len(replaced), "sub_grids": int(report["sub_grids"].sum()),
               "sub_grids_in_band": int(report["in_band"].sum()),
               "residents_before": float(grids[pop].sum()), "residents_after": float(out["population"].sum())}
    return SubdivideResult(out, cells, report, summary)
