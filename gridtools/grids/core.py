"""``partition``: cut a district's units into contiguous, population-balanced management grids.

Pipeline
--------
1. validate the units (CRS, population column, nesting column, geometries);
2. build the rook adjacency graph in a local metric CRS (:mod:`.graph`), drop edges across the
   nesting boundaries (``within``) and join islands to their nearest unit;
3. mark edges that cross barrier lines: *soft* ones are cheap to cut, *major* ones split the
   nesting groups into pieces that are merged back only where a piece has no feasible count;
4. check each piece's feasible grid-count range ``[ceil(P/max), floor(P/min)]``;
5. give every over-size unit a grid of its own and partition the rest of each piece
   (:mod:`.balance`), in parallel over pieces;
6. dissolve grids, measure them (population, Polsby-Popper) and code them (:mod:`.codes`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from gridtools import parallel, settings
from gridtools.identifiers import row_names
from gridtools.errors import InputError
from gridtools.grids.balance import Band, split_piece
from gridtools.grids.codes import CodeLayout, check_prefix, parent_codes, serials_in_reading_order
from gridtools.grids.graph import UnitGraph, build_unit_graph, link_islands
from gridtools.grids.proofs import proven_out_of_band
from gridtools.grids.pieces import (Task, barrier_crossings, plan_tasks, rejoin_pieces, split_large_tasks,
                                    split_pieces)
from gridtools.grids.units import check_units, measure_grids
from gridtools.grids.params import attach_params, params_of
from gridtools.crs import to_metric

#: Below this many units, worker processes cost more than they save.
_MIN_UNITS_FOR_PROCESSES = 20_000

ProgressCallback = Callable[[str, int, int], None]

#: Grid statuses that could be in the band: the share of feasible grids in band is over these
#: (over-size units, infeasible pieces and grids proven unable to be in band are left out).
FEASIBLE_STATUSES = ("ok", "out_of_band")


@dataclass
class PartitionResult:
    """What :func:`partition` returns.

    Attributes
    ----------
    grids : geopandas.GeoDataFrame
        One row per grid: ``grid_code``, ``population``, ``n_units``, ``area_m2``,
        ``polsby_popper``, ``in_band``, ``status`` (``ok``, ``oversize_unit``,
        ``infeasible_piece``, ``cannot_be_in_band`` (see ``stuck``) or ``out_of_band``) and
        ``piece``; in the units' CRS.
    units : geopandas.GeoDataFrame
        The input units, every row kept, with the ``grid_code`` of their grid.
    infeasible : pandas.DataFrame
        Nesting pieces whose population admits no grid count in the band, with a proposed fix.
    oversize : pandas.DataFrame
        Units whose own population is above the maximum (each is a grid of its own): ``unit``
        (index label), ``unit_name`` (its id column and value, e.g. ``GEOID20 3608701...``, or
        ``row N``), ``population``, ``grid_code``.
    summary : dict
        Counts, shares and timings (see :meth:`summary_lines`).
    blocks : geopandas.GeoDataFrame or None
        When units were built from a street network (:func:`partition_features`), the blocks.
    stuck : pandas.DataFrame
        Grids no cut can bring into the band (status ``cannot_be_in_band``): ``grid_code``,
        ``population``, ``why`` (a unit whose every way to more residents leads through a unit too
        big to join it; :mod:`gridtools.grids.proofs`). They count as infeasible in
        ``share_feasible_in_band``, as over-size units do.
    params : dict
        The parameters the grids were made with (``min_pop``, ``max_pop``, ``pop``, ``within``,
        ``code_prefix``, ``random_state``); also in ``grids.attrs["gridtools"]``, written with
        the grids layer and used by :func:`gridtools.maps.grid_map` and the partition report.
    """

    grids: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    infeasible: pd.DataFrame
    oversize: pd.DataFrame
    summary: dict = field(default_factory=dict)
    blocks: gpd.GeoDataFrame | None = None
    params: dict = field(default_factory=dict)
    stuck: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["grid_code", "population", "why"]))

    def summary_lines(self) -> list[str]:
        """Human-readable summary, one fact per line."""
        s = self.summary
        return [
            f"units: {s['n_units']:,}  residents: {s['population']:,.0f}  band: {s['min_pop']:,}-{s['max_pop']:,}",
            f"grids: {s['n_grids']:,}  in band: {s['grids_in_band']:,}"
            f"  feasible grids in band: {s['share_feasible_in_band']:.1%}",
            f"over-size units (own grid): {s['oversize_units']}  infeasible pieces: {s['infeasible_pieces']}"
            f"  grids that cannot be in band: {s.get('cannot_be_in_band', 0)}",
            *(f"cannot be in band: grid {row.grid_code} ({row.population:,.0f}): {row.why}"
              for row in self.stuck.head(5).itertuples()),
            f"contiguous: {s['all_contiguous']}  median Polsby-Popper: {s['median_polsby_popper']:.3f}",
            f"seconds: {s['seconds']:.2f}",
        ] + ([f"duplicate units dropped (same geometry as an earlier unit): {s['duplicate_units_dropped']:,}"]
             if s.get("duplicate_units_dropped") else [])

    def _repr_html_(self) -> str:
        rows = "".join(f"<li>{line}</li>" for line in self.summary_lines())
        table = self.grids.drop(columns="geometry").head(10).to_html(index=False)
        return f"<div><b>gridtools partition</b><ul>{rows}</ul>{table}</div>"

    def explore(self, **kwargs):
        """Folium map of the grids coloured by population (see :func:`gridtools.maps.grid_map`)."""
        from gridtools.maps import grid_map

        return grid_map(self.grids, min_pop=self.summary["min_pop"], max_pop=self.summary["max_pop"], **kwargs)


def make_band(min_pop: float | None, max_pop: float | None) -> Band:
    """Validate a population band (defaults from :mod:`gridtools.settings`)."""
    lo = settings.min_pop if min_pop is None else min_pop
    hi = settings.max_pop if max_pop is None else max_pop
    if not (0 < lo <= hi):
        raise InputError(f"population band [{lo}, {hi}] is empty: need 0 < min <= max (min_pop=..., max_pop=...)")
    return Band(float(lo), float(hi), settings.band_target(lo, hi))


def _solve(task: Task, band: Band) -> np.ndarray:
    if task.graph is None:
        return np.zeros(len(task.units), dtype=np.int64)
    # a sub-piece of a large piece leaves what its own side cannot fix to the repair after the
    # rejoin, which sees across its edges: no ring re-cuts here, no re-splits of edge grids
    sub_piece = task.whole >= 0
    return split_piece(task.graph, task.k, band, seed=task.seed, last_resort=not sub_piece,
                       defer=task.edge if sub_piece else None).labels


def _run_tasks(tasks: list[Task], band: Band, n_jobs: int | None, scheduler,
               progress: ProgressCallback | None) -> list[np.ndarray]:
    """Solve independent pieces, in parallel when it pays."""
    total_units = sum(len(t.units) for t in tasks)
    workers = n_jobs or settings.n_jobs or os.cpu_count() or 1
    done = 0

    def tick(count=1):
        nonlocal done
        done += count
        if progress:
            progress("partitioning pieces", done, len(tasks))

    if parallel.is_distributed(scheduler):
        results = parallel.map_tasks(_solve, tasks, scheduler=scheduler, shared={"band": band})
        tick(len(tasks))
        return results
    if workers > 1 and len(tasks) > 1 and total_units >= _MIN_UNITS_FOR_PROCESSES:
        # biggest pieces first so no worker is left with a large piece at the end
        order = sorted(range(len(tasks)), key=lambda t: -len(tasks[t].units))
        results: list[np.ndarray | None] = [None] * len(tasks)
        with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
            futures = {t: pool.submit(_solve, tasks[t], band) for t in order}
            for t in order:
                results[t] = futures[t].result()
                tick()
        return results
    results = []
    for task in tasks:
        results.append(_solve(task, band))
        tick()
    return results


# --------------------------------------------------------------------------------------------
# grids


def _proposed_fixes(graph_all: UnitGraph, groups: np.ndarray, group_values: pd.Series,
                    pop: np.ndarray, band: Band) -> pd.DataFrame:
    """Infeasible nesting groups, each with the neighbour to merge with."""
    totals = pd.Series(np.bincount(groups, weights=pop, minlength=len(group_values)))
    kmin = np.maximum(np.ceil(totals / band.hi - 1e-9), 1)  # even an empty group needs a grid
    kmax = np.floor(totals / band.lo + 1e-9)
    stuck = np.flatnonzero(kmin > kmax)
    cross = groups[graph_all.i] != groups[graph_all.j]
    border = pd.DataFrame({"a": groups[graph_all.i[cross]], "b": groups[graph_all.j[cross]],
                           "length": graph_all.length[cross]})
    border = pd.concat([border, border.rename(columns={"a": "b", "b": "a"})])
    shared = border.groupby(["a", "b"])["length"].sum()
    rows = []
    for g in stuck:
        fix, neighbours = "no neighbouring group to merge with", []
        if g in shared.index.get_level_values(0):
            neighbours = shared.loc[g].sort_values(ascending=False)
            ok = [n for n in neighbours.index
                  if math.ceil((totals[g] + totals[n]) / band.hi) <= math.floor((totals[g] + totals[n]) / band.lo)]
            best = ok[0] if ok else neighbours.index[0]
            combined = totals[g] + totals[best]
            fix = (f"merge with '{group_values.iloc[best]}' (shares {neighbours[best]:.0f} m of boundary; "
                   f"together {combined:,.0f} residents = {math.ceil(combined / band.hi)}-"
                   f"{math.floor(combined / band.lo)} grids)")
        reason = ("below the minimum" if totals[g] < band.lo
                  else f"between {band.hi:,.0f} and {2 * band.lo:,.0f}: too many for one grid, too few for two"
                  if totals[g] < 2 * band.lo else "no whole number of grids fits the band")
        rows.append({"piece": group_values.iloc[g], "population": totals[g], "min_grids": int(kmin[g]),
                     "max_grids": int(kmax[g]), "reason": reason, "proposed_fix": fix})
    return pd.DataFrame(rows, columns=["piece", "population", "min_grids", "max_grids", "reason", "proposed_fix"])


def _codes(grids: gpd.GeoDataFrame, grid_group: np.ndarray, group_values: pd.Series, prefix: str,
           layout: CodeLayout, metric_crs) -> pd.Series:
    anchors = grids.geometry.to_crs(metric_crs).representative_point()
    gx, gy = anchors.x.to_numpy(), anchors.y.to_numpy()
    frame = pd.DataFrame({"group": grid_group, "x": gx, "y": gy})
    centre = frame.groupby("group")[["x", "y"]].mean()
    parents = parent_codes(group_values.iloc[centre.index], centre["x"], centre["y"], prefix, layout)
    grid_parent = pd.Series(parents.loc[grid_group].to_numpy(), index=grids.index)
    row_height = float(np.median(np.sqrt(grids["area_m2"]))) if len(grids) else 1.0
    serial = serials_in_reading_order(grid_parent, gx, gy, row_height)
    return layout.make(grid_parent, serial)


# --------------------------------------------------------------------------------------------
# public API


def partition(units: gpd.GeoDataFrame, pop: str, *, min_pop: float | None = None,
              max_pop: float | None = None, within: str | None = None,
              barriers: gpd.GeoDataFrame | None = None, code_prefix: str | None = None,
              code_layout: tuple[int, ...] | None = None, tolerance: float | None = None,
              n_jobs: int | None = None, scheduler=None,
              random_state: int | None = None, progress: ProgressCallback | None = None,
              dedupe: bool = False) -> PartitionResult:
    """Cut units into contiguous management grids of ``min_pop``-``max_pop`` residents.

    Units (census blocks, residential compounds, street blocks) are never split.  Every grid is
    contiguous and the grids tile the units exactly.  Every grid whose piece admits a feasible
    count lies inside the band; over-size units and infeasible pieces are reported, not hidden.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Polygons with a CRS and a population column.
    pop : str
        Name of the population column (non-negative numbers).
    min_pop, max_pop : float, optional
        Band of residents per grid; defaults ``settings.min_pop`` / ``settings.max_pop``.
    within : str, optional
        Column of the nesting area (community, ward); grids never cross its boundaries.  When its
        values are digit codes completing ``code_prefix`` to 12 digits they become the parent codes.
    barriers : geopandas.GeoDataFrame, optional
        Lines (roads, rivers, rails) that grids should follow.  Lines flagged major (a truthy
        ``major`` column, or OSM tags listed in ``settings.major_barrier_tags``) are not crossed
        unless a piece would otherwise be infeasible.
    code_prefix : str, optional
        Leading digits of every code, e.g. the 6-digit county code (GB/T 2260).
    code_layout : tuple of int, optional
        Digit widths of the code levels, default ``settings.code_layout`` (6, 3, 3, 3, 2).
    tolerance : float, optional
        Metres within which polygons count as touching (default ``settings.adjacency_tolerance_m``).
    n_jobs : int, optional
        Worker processes for independent pieces (default: all local cores).
    scheduler : str or dask.distributed.Client, optional
        Spread pieces over a Dask cluster: ``"local:N"``, ``"tcp://host:8786"`` or a Client (see
        :mod:`gridtools.parallel`).
    random_state : int, optional
        Seed; the same input and seed give the same grids.
    progress : callable, optional
        Called as ``progress(stage, done, total)``.
    dedupe : bool
        Units with the same geometry are refused (their residents would count twice); True keeps
        the first of each and ``summary["duplicate_units_dropped"]`` says how many went.

    Returns
    -------
    PartitionResult

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> blocks = gpd.GeoDataFrame({"pop": [300] * 16},
    ...     geometry=[box(x * 100, y * 100, x * 100 + 100, y * 100 + 100) for x in range(4) for y in range(4)],
    ...     crs="EPSG:32650")
    >>> result = partition(blocks, pop="pop", code_prefix="320508019044")
    >>> result.grids[["grid_code", "population"]].sort_values("grid_code").to_dict("list")["population"]
    [1200.0, 1200.0, 1200.0, 1200.0]
    """
    started = time.perf_counter()
    band = make_band(min_pop, max_pop)
    layout = CodeLayout(tuple(code_layout) if code_layout else settings.code_layout)
    prefix = check_prefix(code_prefix, layout)
    seed = settings.random_state if random_state is None else int(random_state)
    n_given = len(units)
    units = check_units(units, pop, within, dedupe=dedupe)
    population = units[pop].to_numpy(dtype=float)
    metric = to_metric(units)
    metric_crs = metric.crs

    if progress:
        progress("building adjacency graph", 0, 1)
    groups, group_values = pd.factorize(units[within].astype(str)) if within else (
        np.zeros(len(units), dtype=np.int64), pd.Index(["all"]))
    group_values = pd.Series(group_values)
    graph_all = build_unit_graph(metric.geometry.values, settings.adjacency_tolerance_m if tolerance is None else tolerance)
    graph = graph_all.subset_edges(groups[graph_all.i] == groups[graph_all.j])
    graph = link_islands(graph, metric.geometry.values, groups)
    soft, major = barrier_crossings(graph, metric, barriers)
    # a major barrier is still a preferred cut where it may be crossed (inside one piece, or
    # reopened because a piece had no feasible count without it)
    soft |= major
    piece, major = split_pieces(graph, major, population, band)
    if progress:
        progress("building adjacency graph", 1, 1)

    crossable = ~(major & (piece[graph.i] != piece[graph.j]))
    tasks, attach = plan_tasks(graph.subset_edges(crossable), piece, soft[crossable], population, band, seed)
    tasks, wholes = split_large_tasks(tasks, band)
    solved = _run_tasks(tasks, band, n_jobs, scheduler, progress)
    if progress and wholes:
        progress("repairing across sub-piece edges", 0, 1)
    tasks, solved = rejoin_pieces(tasks, solved, wholes, band)
    if progress:
        progress("dissolving and coding grids", 0, 1)

    label = np.full(len(units), -1, dtype=np.int64)
    status_of_label, next_label = [], 0
    for task, local in zip(tasks, solved):
        label[task.units] = local + next_label
        status_of_label += [task.status] * (int(local.max()) + 1)
        next_label += int(local.max()) + 1
    oversize_units = np.flatnonzero(population > band.hi)
    label[oversize_units] = next_label + np.arange(len(oversize_units))
    status_of_label += ["oversize_unit"] * len(oversize_units)
    for members, host in attach:
        label[members] = label[host]

    grids = measure_grids(units, label, population, metric_crs)
    grids["status"] = np.asarray(status_of_label, dtype=object)[grids.index.to_numpy()]
    grids["in_band"] = band.contains(grids["population"].to_numpy())
    grids.loc[(grids["status"] == "ok") & ~grids["in_band"], "status"] = "out_of_band"
    stuck = proven_out_of_band(graph.subset_edges(crossable), population, band.lo, band.hi, label, grids, units)
    grids.loc[stuck.index, "status"] = "cannot_be_in_band"
    grid_group = pd.Series(groups).groupby(label).first().loc[grids.index].to_numpy()
    grids["piece"] = group_values.iloc[grid_group].to_numpy()
    grids["grid_code"] = _codes(grids, grid_group, group_values, prefix, layout, metric_crs).to_numpy()

    code_of_label = pd.Series(grids["grid_code"].to_numpy(), index=grids.index)
    stuck.insert(0, "grid_code", code_of_label.loc[stuck.index].to_numpy())
    out_units = units.copy()
    out_units["grid_code"] = code_of_label.loc[label].to_numpy()
    grids = grids.reset_index(drop=True)
    columns = ["grid_code", "population", "n_units", "area_m2", "polsby_popper", "in_band", "status",
               "piece", "n_parts", "geometry"]
    grids = grids[columns].sort_values("grid_code").reset_index(drop=True)

    infeasible = _proposed_fixes(graph_all, groups, group_values, population, band)
    oversize = pd.DataFrame({"unit": units.index[oversize_units], "unit_name": row_names(units, oversize_units),
                             "population": population[oversize_units],
                             "grid_code": out_units["grid_code"].to_numpy()[oversize_units]})
    feasible = grids["status"].isin(FEASIBLE_STATUSES)
    summary = {
        "n_units": len(units), "population": float(population.sum()), "min_pop": band.lo, "max_pop": band.hi,
        "n_grids": len(grids), "grids_in_band": int(grids["in_band"].sum()),
        "share_feasible_in_band": float(grids.loc[feasible, "in_band"].mean()) if feasible.any() else 1.0,
        "oversize_units": len(oversize_units), "infeasible_pieces": len(infeasible),
        "cannot_be_in_band": len(stuck),
        "all_contiguous": _all_contiguous(graph, label),
        "median_polsby_popper": float(grids["polsby_popper"].median()),
        "seconds": time.perf_counter() - started, "duplicate_units_dropped": n_given - len(units),
    }
    params = dict(command="partition", min_pop=band.lo, max_pop=band.hi, pop=pop, within=within,
                  code_prefix=prefix, barriers=barriers is not None, random_state=seed)
    attach_params(grids, **params)
    attach_params(out_units, **params)
    return PartitionResult(grids, out_units, infeasible, oversize, summary, params=params_of(grids),
                           stuck=stuck.reset_index(drop=True))


def _all_contiguous(graph: UnitGraph, label: np.ndarray) -> bool:
    """True when every grid is one connected set of units in the (rook + island link) graph."""
    inner = graph.subset_edges(label[graph.i] == label[graph.j])
    n, _ = inner.components()
    return n == len(np.unique(label))
