"""Workload balance: several quantities at once (residents, households, housing units, case load).

ArcGIS *Build Balanced Zones* balances people, housing units and area together.
:func:`balance_workload` starts from any plan (a fresh partition, an imported plan) and moves
boundary units between neighbouring grids while that lowers the weighted spread of every
quantity, each move validated by :class:`~gridtools.grids.edits.PlanEditor` (population band,
contiguity, nesting, locks).  Quantities may have their own band; a maximum distance from a
grid's office to any of its units can be imposed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from gridtools.crs import to_metric
from gridtools.errors import InputError
from gridtools.grids.edits import PlanEditor
from gridtools.grids.plans import spread
from gridtools.validate import numeric_column

__all__ = ["WorkloadResult", "balance_workload"]


@dataclass
class WorkloadResult:
    """What :func:`balance_workload` returns.

    Attributes
    ----------
    assignment : pandas.Series
        Grid of each unit after balancing (indexed like the units).
    before, after : dict
        :func:`~gridtools.grids.plans.spread` of every quantity per grid, before and after.
    tallies : pandas.DataFrame
        Per grid: each quantity, band, locked; plus ``max_distance_m`` to the office when given.
    moves : int
        Units moved.
    """

    assignment: pd.Series
    before: dict
    after: dict
    tallies: pd.DataFrame
    moves: int = 0
    summary: dict = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        lines = [f"units moved: {self.moves:,}"]
        for q in self.before:
            b, a = self.before[q], self.after[q]
            lines.append(f"{q}: cv {b['cv']:.3f} -> {a['cv']:.3f}  min-max {b['min']:,.0f}-{b['max']:,.0f} -> "
                         f"{a['min']:,.0f}-{a['max']:,.0f}")
        return lines


def _band_gap(values: np.ndarray, band) -> np.ndarray:
    if band is None:
        return np.zeros_like(values)
    return np.maximum(np.maximum(band[0] - values, values - band[1]), 0.0)


class _Objective:
    """Weighted relative squared deviation from the mean, plus heavy penalties outside a band."""

    def __init__(self, means: np.ndarray, weights: np.ndarray, bands: list):
        self.means = np.where(means > 0, means, 1.0)
        self.weights = weights
        self.bands = bands

    def of(self, tally: np.ndarray) -> np.ndarray:
        """Cost of each row of ``tally`` (grids x quantities)."""
        rel = (tally - self.means) / self.means
        cost = (rel ** 2 * self.weights).sum(axis=-1)
        for k, band in enumerate(self.bands):
            cost = cost + 100.0 * (_band_gap(tally[..., k], band) / self.means[k]) ** 2
        return cost


def balance_workload(units: gpd.GeoDataFrame, assignment, pop: str, quantities: dict, *,
                     min_pop: float | None = None, max_pop: float | None = None, within: str | None = None,
                     locked=(), offices: dict | None = None, max_distance_m: float | None = None,
                     max_rounds: int = 20) -> WorkloadResult:
    """Balance several quantities over the grids of a plan by validated boundary moves.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
    assignment : str or array-like
        The plan: column or labels naming each unit's grid.
    pop : str
        Population column; every grid stays in (or moves towards) ``min_pop``-``max_pop``.
    quantities : dict
        Column -> weight (a number) or ``(weight, (lo, hi))`` with a band of its own, e.g.
        ``{"housing_units": 1.0}``.  Population is always balanced with weight 1 unless listed.
        Any numeric column works (households, component counts, case load joined from the
        incident store); ``area_m2`` is measured when the units have no such column.
    min_pop, max_pop : float, optional
        Population band.
    within : str, optional
        Nesting column.
    locked : iterable of str
        Grids never changed.
    offices : dict, optional
        Grid -> office point (shapely Point in the units' CRS); with ``max_distance_m``, no unit
        of that grid may lie farther from its office (centroid distance, metres).
    max_distance_m : float, optional
    max_rounds : int
        Passes over all boundary units.

    Returns
    -------
    WorkloadResult

    Examples
    --------
    >>> r = balance_workload(blocks, plan, "pop", {"housing_units": 1.0})   # doctest: +SKIP
    >>> r.before["housing_units"]["cv"], r.after["housing_units"]["cv"]     # doctest: +SKIP
    """
    if "area_m2" in quantities and "area_m2" not in units.columns:
        units = units.assign(area_m2=to_metric(units).area.to_numpy())
    missing = [c for c in quantities if c not in units.columns]
    if missing:
        raise InputError(f"{units.attrs.get('source', 'units')} has no column '{missing[0]}' (quantities=...)")
    for column in quantities:
        numeric_column(units, column, units.attrs.get("source", "units"))
    weights, bands = {pop: 1.0}, {pop: None}  # the population band is set below, from the editor
    for column, spec in quantities.items():
        weight, band = (spec, None) if np.isscalar(spec) else spec
        if not (np.isfinite(float(weight)) and float(weight) >= 0):
            raise InputError(f"the weight of '{column}' must be a number >= 0, not {weight} (quantities=...)")
        weights[column], bands[column] = float(weight), band
    extra = [q for q in weights if q != pop]
    editor = PlanEditor(units, assignment, pop, min_pop=min_pop, max_pop=max_pop, within=within, quantities=extra)
    unknown = [str(g) for g in locked if str(g) not in editor.names]
    if unknown:
        raise InputError(f"locked=... names {len(unknown)} grid(s) not in the plan: {', '.join(map(repr, unknown[:5]))}"
                         f"; its grids are {', '.join(editor.names[:5])}{', ...' if len(editor.names) > 5 else ''}")
    editor.lock(*locked)
    names = editor.quantities  # "population" first, then extra
    bands[pop] = bands[pop] or (editor.lo, editor.hi)  # out-of-band grids pull hardest
    objective = _Objective(editor.tally[np.bincount(editor.labels) > 0].mean(axis=0),
                           np.array([weights[pop], *[weights[q] for q in extra]]),
                           [bands[pop], *[bands[q] for q in extra]])
    before = _spreads(editor, names)
    distance = _distance_rule(editor, offices, max_distance_m)
    moves = 0
    for _ in range(max_rounds):
        improved = 0
        for u in np.random.default_rng(moves).permutation(len(editor.labels)):
            improved += _try_best_move(editor, objective, int(u), distance)
        moves += improved
        if not improved:
            break
    tallies = editor.tallies()
    if distance is not None:
        tallies["max_distance_m"] = [distance.farthest(editor, editor.grid_id(g)) for g in tallies["grid"]]
    return WorkloadResult(editor.assignment(), before, _spreads(editor, names), tallies, moves,
                          {"history": len(editor.history)})


def _spreads(editor: PlanEditor, names: list[str]) -> dict:
    alive = np.bincount(editor.labels, minlength=len(editor.names)) > 0
    return {q: spread(editor.tally[alive, k]) for k, q in enumerate(names)}


def _try_best_move(editor: PlanEditor, objective: _Objective, u: int, distance) -> int:
    """Move unit ``u`` to the neighbouring grid that lowers the objective most, if any (1 if moved)."""
    here = int(editor.labels[u])
    if here in editor.locked:
        return 0
    neighbours = {int(editor.labels[v]) for v in editor.indices[editor.indptr[u]:editor.indptr[u + 1]]} - {here}
    best, best_gain = None, 1e-12
    value = editor.values[u]
    for to in neighbours - editor.locked:
        old = objective.of(editor.tally[[here, to]]).sum()
        new = objective.of(np.vstack([editor.tally[here] - value, editor.tally[to] + value])).sum()
        if old - new > best_gain and (distance is None or distance.allows(u, to)):
            best, best_gain = to, old - new
    if best is None:
        return 0
    return int(editor.move([editor.units.index[u]], editor.names[best]).ok)


class _DistanceRule:
    """No unit farther than ``limit`` metres from its grid's office."""

    def __init__(self, xy: np.ndarray, office_xy: dict, limit: float):
        self.xy, self.office_xy, self.limit = xy, office_xy, limit

    def allows(self, u: int, grid: int) -> bool:
        if grid not in self.office_xy:
            return True
        return float(np.hypot(*(self.xy[u] - self.office_xy[grid]))) <= self.limit

    def farthest(self, editor: PlanEditor, grid: int) -> float:
        if grid not in self.office_xy:
            return float("nan")
        members = editor.members(grid)
        return float(np.hypot(*(self.xy[members] - self.office_xy[grid]).T).max())


def _distance_rule(editor: PlanEditor, offices: dict | None, limit: float | None):
    if not offices:
        return None
    if limit is None:
        raise InputError("offices=... needs max_distance_m=... (the farthest a unit may lie from its office)")
    metric = to_metric(editor.units)
    centroids = metric.geometry.centroid
    xy = np.column_stack([centroids.x, centroids.y])
    points = gpd.GeoSeries(list(offices.values()), crs=editor.units.crs).to_crs(metric.crs)
    office_xy = {editor.grid_id(g): np.array([p.x, p.y]) for g, p in zip(offices, points)}
    return _DistanceRule(xy, office_xy, float(limit))
