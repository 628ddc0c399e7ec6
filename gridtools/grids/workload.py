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
                         f"{a['min']:,.0f}-{a['max']:,.0f}"
                         + (f"  (grids with a unit no route reaches from the office: {b['unreachable_grids']} -> "
                            f"{a['unreachable_grids']})" if a.get("unreachable_grids") else "")
                         + (f"  units beyond the limit: {b['units_beyond_limit']} -> {a['units_beyond_limit']}"
                            if "units_beyond_limit" in a else ""))
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
                     network=None, vehicle=None, max_travel_s: float | None = None,
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
    network : gridtools.routing.RoadNetwork or gridtools.routing.Router, optional
        Road network (``gridtools.routing.load_network("city.osm.pbf")``): with ``offices``, the
        travel time from each office to every unit (its representative point) is measured on it,
        the farthest per grid is reported (``max_travel_s`` in ``tallies``, its spread in
        ``before`` / ``after``), and with ``max_travel_s`` no unit may be moved into a grid whose
        office it cannot reach within that many seconds.
    vehicle : gridtools.routing.Vehicle, optional
        Who travels (default ``gridtools.routing.car()``).
    max_travel_s : float, optional
        Longest travel time from a grid's office to any unit moved into that grid (seconds).
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
    rules = _office_rules(editor, offices, max_distance_m, network, vehicle, max_travel_s)
    before = {**_spreads(editor, names), **_office_spreads(editor, rules)}
    distance = _AllRules(rules) if rules else None
    moves = 0
    for _ in range(max_rounds):
        improved = 0
        for u in np.random.default_rng(moves).permutation(len(editor.labels)):
            improved += _try_best_move(editor, objective, int(u), distance)
        moves += improved
        if not improved:
            break
    tallies = editor.tallies()
    for rule in rules:
        tallies[rule.column] = [rule.farthest(editor, editor.grid_id(g)) for g in tallies["grid"]]
    after = {**_spreads(editor, names), **_office_spreads(editor, rules)}
    return WorkloadResult(editor.assignment(), before, after, tallies, moves, {"history": len(editor.history)})


def _spreads(editor: PlanEditor, names: list[str]) -> dict:
    alive = np.bincount(editor.labels, minlength=len(editor.names)) > 0
    return {q: spread(editor.tally[alive, k]) for k, q in enumerate(names)}


def _try_best_move(editor: PlanEditor, objective: _Objective, u: int, distance) -> int:
    """Move unit ``u`` to the neighbouring grid that lowers the objective most, if any (1 if moved).

    A unit farther from its own grid's office than the rule allows moves to the best neighbouring
    grid that the rule and the editor accept, even when that costs balance (the limit comes first).
    """
    here = int(editor.labels[u])
    if here in editor.locked:
        return 0
    neighbours = {int(editor.labels[v]) for v in editor.indices[editor.indptr[u]:editor.indptr[u + 1]]} - {here}
    value = editor.values[u]
    stranded = distance is not None and not distance.allows(u, here)
    gains = []
    for to in neighbours - editor.locked:
        old = objective.of(editor.tally[[here, to]]).sum()
        new = objective.of(np.vstack([editor.tally[here] - value, editor.tally[to] + value])).sum()
        if (stranded or old - new > 1e-12) and (distance is None or distance.allows(u, to)):
            gains.append((old - new, to))
    for _, to in sorted(gains, reverse=True)[: len(gains) if stranded else 1]:
        if editor.move([editor.units.index[u]], editor.names[to]).ok:
            return 1
    return 0


#: Office-unit pairs the travel-time matrix leaves unreachable that are routed one by one (about 10 ms each).
_MAX_ROUTED_PAIRS = 5000


class _OfficeRule:
    """No unit moved into a grid lies farther than ``limit`` (metres or seconds) from its office.

    ``cost[grid]`` holds the distance or travel time from that grid's office to every unit.
    """

    def __init__(self, cost: dict, limit: float | None, column: str):
        self.cost, self.limit, self.column = cost, limit, column

    def allows(self, u: int, grid: int) -> bool:
        if self.limit is None or grid not in self.cost:
            return True
        return bool(self.cost[grid][u] <= self.limit)

    def farthest(self, editor: PlanEditor, grid: int) -> float:
        if grid not in self.cost:
            return float("nan")
        return float(self.cost[grid][editor.members(grid)].max())


class _AllRules:
    """Every office rule at once (straight-line distance and travel time)."""

    def __init__(self, rules: list):
        self.rules = rules

    def allows(self, u: int, grid: int) -> bool:
        return all(rule.allows(u, grid) for rule in self.rules)


def _office_spreads(editor: PlanEditor, rules: list) -> dict:
    """Spread over the grids with an office of the farthest distance / travel time to their units."""
    alive = np.flatnonzero(np.bincount(editor.labels, minlength=len(editor.names)) > 0)
    out = {}
    for rule in rules:
        far = np.array([rule.farthest(editor, g) for g in alive if g in rule.cost])
        out[rule.column] = spread(far[np.isfinite(far)]) if np.isfinite(far).any() else spread([np.nan])
        out[rule.column]["unreachable_grids"] = int((~np.isfinite(far)).sum())  # a unit no route reaches
        if rule.limit is not None:
            out[rule.column]["units_beyond_limit"] = int(sum((rule.cost[g][editor.members(g)] > rule.limit).sum()
                                                             for g in alive if g in rule.cost))
    return out


def _office_rules(editor: PlanEditor, offices: dict | None, max_distance_m: float | None, network, vehicle,
                  max_travel_s: float | None) -> list:
    """The office rules asked for: straight-line distance, travel time on a road network, or both."""
    if not offices:
        if network is not None or max_travel_s is not None or max_distance_m is not None:
            raise InputError("network=..., max_travel_s=... and max_distance_m=... need offices=... "
                             "(grid -> office point)")
        return []
    if max_travel_s is not None and network is None:
        raise InputError("max_travel_s=... needs network=... (e.g. gridtools.routing.load_network('city.osm.pbf'))")
    if network is None and max_distance_m is None:
        raise InputError("offices=... needs max_distance_m=... (the farthest a unit may lie from its office) "
                         "or network=... (travel times on roads)")
    for limit, name in ((max_distance_m, "max_distance_m"), (max_travel_s, "max_travel_s")):
        if limit is not None and not float(limit) > 0:
            raise InputError(f"{name} must be a number > 0, not {limit}")
    unknown = [str(g) for g in offices if str(g) not in editor.names]
    if unknown:
        raise InputError(f"offices=... names {len(unknown)} grid(s) not in the plan: "
                         f"{', '.join(map(repr, unknown[:5]))}; its grids are {', '.join(editor.names[:5])}"
                         f"{', ...' if len(editor.names) > 5 else ''}")
    grids = [editor.grid_id(g) for g in offices]
    points = gpd.GeoSeries(list(offices.values()), crs=editor.units.crs)
    rules = []
    if max_distance_m is not None:
        metric = to_metric(editor.units)
        xy = np.column_stack([metric.geometry.centroid.x, metric.geometry.centroid.y])
        office_xy = points.to_crs(metric.crs)
        rules.append(_OfficeRule({g: np.hypot(*(xy - [p.x, p.y]).T) for g, p in zip(grids, office_xy)},
                                 float(max_distance_m), "max_distance_m"))
    if network is not None:
        seconds = _travel_seconds(network, vehicle, points, editor.units)
        rules.append(_OfficeRule(dict(zip(grids, seconds)), None if max_travel_s is None else float(max_travel_s),
                                 "max_travel_s"))
    return rules


def _travel_seconds(network, vehicle, offices: gpd.GeoSeries, units: gpd.GeoDataFrame) -> np.ndarray:
    """Travel time (s) from each office (rows) to each unit's representative point (columns)."""
    from gridtools.routing import Router

    from gridtools.routing import NoRouteError, Router, car

    router = network if isinstance(network, Router) else Router(network)
    vehicle = vehicle or car()
    lonlat = lambda geoms: np.column_stack([geoms.x, geoms.y])  # noqa: E731
    office_ll = lonlat(offices.to_crs("EPSG:4326"))
    unit_ll = lonlat(units.geometry.representative_point().to_crs("EPSG:4326"))
    seconds = router.matrix(office_ll, unit_ll, vehicle).seconds.copy()
    # The matrix uses each point's nearest road; a point on a cut-off fragment (a courtyard lane, a
    # one-way stub) is unreachable there.  A single route tries the other roads near it, as Valhalla does.
    for i, j in np.argwhere(~np.isfinite(seconds))[:_MAX_ROUTED_PAIRS]:
        try:
            seconds[i, j] = router.route(tuple(office_ll[i]), tuple(unit_ll[j]), vehicle, explain=False).time_s
        except NoRouteError:
            pass
    return seconds
