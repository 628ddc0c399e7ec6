"""Hand edits of a plan: move units, merge, split, lock, seed points, targets, undo / redo.

:class:`PlanEditor` keeps the plan (a grid per unit) with live tallies per grid and validates
each edit at once against the rules a planner negotiates with:

- **band**: a grid in its band stays in it; a grid outside its band may only move towards it;
- **contiguity**: every grid stays one connected set of units;
- **nesting**: units never leave their ``within`` group (community, ward);
- **locks**: a locked grid is never changed (nor by :meth:`PlanEditor.rebalance`);
- **seeds**: a grid keeps the unit holding its office (a seed point);
- **targets**: a grid may have its own band around a target population.

A refused edit changes nothing and says why.  Codes stay stable: a merged grid keeps the code
of the bigger grid, a split grid keeps its code on the part with its seed (or the bigger part)
and the new part takes the next unused serial of the same parent.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from gridtools import settings
from gridtools.crs import to_metric
from gridtools.errors import InputError
from gridtools.grids.balance import Band, PieceGraph, repair
from gridtools.grids.codes import CodeLayout
from gridtools.grids.core import make_band
from gridtools.grids.graph import UnitGraph
from gridtools.grids.levels import halve
from gridtools.grids.plans import unit_graph
from gridtools.grids.units import check_units, measure_grids

__all__ = ["EditResult", "PlanEditor"]


@dataclass
class EditResult:
    """Outcome of one edit: ``ok``, the ``reason`` when refused, and the tallies of the grids it touched."""

    ok: bool
    reason: str = ""
    tallies: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.ok


@dataclass
class _Edit:
    kind: str
    units: np.ndarray          # positions of the units that moved
    before: np.ndarray         # their grid ids before
    after: np.ndarray          # their grid ids after
    new_names: dict            # grid id -> name created by this edit


class PlanEditor:
    """A plan under hand editing.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Unit polygons with a population column.
    assignment : str or array-like
        Column of ``units`` (or labels) naming each unit's grid, e.g. ``grid_code``.
    pop : str
        Population column.
    min_pop, max_pop : float, optional
        Band of every grid (defaults from :mod:`gridtools.settings`).
    within : str, optional
        Nesting column: units never move across it.
    quantities : list of str, optional
        Further columns tallied per grid (households, housing units).
    graph : UnitGraph, optional
        Unit adjacency when already built (:func:`gridtools.grids.plans.unit_graph`).

    Examples
    --------
    >>> editor = PlanEditor(result.units, "grid_code", "pop")         # doctest: +SKIP
    >>> editor.lock("32050801904400300")                              # doctest: +SKIP
    >>> editor.move([17, 18], "32050801904400400")                    # doctest: +SKIP
    EditResult(ok=True, ...)
    >>> editor.undo()                                                 # doctest: +SKIP
    """

    def __init__(self, units: gpd.GeoDataFrame, assignment, pop: str, *, min_pop: float | None = None,
                 max_pop: float | None = None, within: str | None = None, quantities: list[str] | None = None,
                 graph: UnitGraph | None = None):
        units = check_units(units, pop, within)
        if isinstance(assignment, str) and assignment not in units.columns:
            raise InputError(f"{units.attrs.get('source', 'units')} has no column '{assignment}' (assignment=...): "
                             "name the column holding each unit's grid")
        labels = units[assignment] if isinstance(assignment, str) else pd.Series(np.asarray(assignment), index=units.index)
        if labels.isna().any():
            raise InputError(f"{int(labels.isna().sum())} units have no grid (assignment=...); give every unit a grid")
        self.units = units
        self.pop_column = pop
        band = make_band(min_pop, max_pop)
        self.lo, self.hi = band.lo, band.hi
        ids, names = pd.factorize(labels.astype(str))
        self.labels = ids.astype(np.int64)
        self.names: list[str] = list(names)
        self.quantities = ["population", *(quantities or [])]
        self.values = np.column_stack([units[pop].to_numpy(dtype=float)]
                                      + [units[q].to_numpy(dtype=float) for q in quantities or []])
        self.tally = np.zeros((len(self.names), self.values.shape[1]))
        np.add.at(self.tally, self.labels, self.values)
        graph = unit_graph(units) if graph is None else graph
        csr = graph.csr(np.maximum(graph.length, 0.01))
        self.indptr, self.indices, self.lengths = csr.indptr, csr.indices, csr.data
        self.group = pd.factorize(units[within].astype(str))[0] if within else np.zeros(len(units), dtype=np.int64)
        self.position = pd.Series(np.arange(len(units)), index=units.index)
        self.locked: set[int] = set()
        self.seeds: dict[int, int] = {}
        self.bands: dict[int, tuple[float, float]] = {}
        self.start_gap = {g: self._gap(g, self.tally[g, 0]) for g in range(len(self.names))}
        self.history: list[_Edit] = []
        self.redo_stack: list[_Edit] = []
        self.log: list[dict] = []

    # ---------------------------------------------------------------------------------------
    # looking up

    def grid_id(self, name) -> int:
        """Internal id of the grid called ``name``."""
        try:
            return self.names.index(str(name))
        except ValueError:
            raise InputError(f"no grid '{name}' in the plan") from None

    def band_of(self, grid: int) -> tuple[float, float]:
        """The band of one grid: its target band when set, else the plan's band."""
        return self.bands.get(grid, (self.lo, self.hi))

    def _gap(self, grid: int, population: float) -> float:
        lo, hi = self.band_of(grid)
        return max(lo - population, population - hi, 0.0)

    def members(self, grid: int) -> np.ndarray:
        """Positions of the units of a grid."""
        return np.flatnonzero(self.labels == grid)

    def tallies(self) -> pd.DataFrame:
        """Live tallies: one row per grid (name, each quantity, n_units, band, in_band, locked)."""
        alive = np.flatnonzero(np.bincount(self.labels, minlength=len(self.names)) > 0)
        frame = pd.DataFrame(self.tally[alive], columns=self.quantities)
        frame.insert(0, "grid", [self.names[g] for g in alive])
        frame["n_units"] = np.bincount(self.labels, minlength=len(self.names))[alive]
        bands = np.array([self.band_of(g) for g in alive]).reshape(-1, 2)
        frame["min_pop"], frame["max_pop"] = bands[:, 0], bands[:, 1]
        frame["in_band"] = (frame["population"] >= frame["min_pop"]) & (frame["population"] <= frame["max_pop"])
        frame["locked"] = [g in self.locked for g in alive]
        return frame

    def assignment(self) -> pd.Series:
        """The grid name of each unit, indexed like the units."""
        return pd.Series(np.asarray(self.names, dtype=object)[self.labels], index=self.units.index, name="grid_code")

    def _tally_of(self, grids) -> dict:
        return {self.names[g]: {q: float(self.tally[g, k]) for k, q in enumerate(self.quantities)} for g in grids}

    # ---------------------------------------------------------------------------------------
    # checks

    def _connected(self, nodes: np.ndarray, inside: np.ndarray) -> bool:
        """Whether ``nodes`` (positions, all with ``inside`` true) form one connected set."""
        if len(nodes) <= 1:
            return True
        seen = {int(nodes[0])}
        queue = deque(seen)
        indptr, indices = self.indptr, self.indices
        while queue:
            u = queue.popleft()
            for v in indices[indptr[u]:indptr[u + 1]]:
                if inside[v] and v not in seen:
                    seen.add(int(v))
                    queue.append(int(v))
        return len(seen) == len(nodes)

    def _check_grid(self, grid: int, new_members: np.ndarray, new_pop: float) -> str:
        """Why the grid may not take these members (empty string: it may)."""
        name = self.names[grid]
        if len(new_members) == 0:
            return f"grid {name} would be left empty (merge it instead)"
        lo, hi = self.band_of(grid)
        gap = self._gap(grid, new_pop)
        if gap > 0 and gap > self._gap(grid, self.tally[grid, 0]) + 1e-9:
            side = f"below the minimum {lo:,.0f}" if new_pop < lo else f"above the maximum {hi:,.0f}"
            return f"grid {name} would have {new_pop:,.0f} residents, {side}"
        inside = np.zeros(len(self.labels), dtype=bool)
        inside[new_members] = True
        if not self._connected(new_members, inside):
            return f"grid {name} would fall apart into pieces (not contiguous)"
        if grid in self.seeds and not inside[self.seeds[grid]]:
            return f"grid {name} would lose its seed unit {self.units.index[self.seeds[grid]]}"
        return ""

    def check_move(self, positions: np.ndarray, to: int, *, emptying: bool = False) -> str:
        """Why moving the units at ``positions`` to grid ``to`` is refused ('' when it is allowed).

        With ``emptying`` a source grid may be left empty (a merge).
        """
        sources = np.unique(self.labels[positions])
        for grid in {to, *sources.tolist()} & self.locked:
            return f"grid {self.names[grid]} is locked"
        target_group = self.group[self.members(to)[0]] if (self.labels == to).any() else self.group[positions[0]]
        if (self.group[positions] != target_group).any():
            return "the units belong to another nesting area (within) than the target grid"
        moving = np.zeros(len(self.labels), dtype=bool)
        moving[positions] = True
        for grid in sources[sources != to]:
            members = np.flatnonzero((self.labels == grid) & ~moving)
            if emptying and len(members) == 0:
                continue
            why = self._check_grid(int(grid), members, self.tally[grid, 0] - self.values[positions[self.labels[positions] == grid], 0].sum())
            if why:
                return why
        members = np.flatnonzero((self.labels == to) | moving)
        gain = self.values[positions[self.labels[positions] != to], 0].sum()
        return self._check_grid(to, members, self.tally[to, 0] + gain)

    # ---------------------------------------------------------------------------------------
    # edits

    def _positions(self, units) -> np.ndarray:
        units = np.atleast_1d(np.asarray(units, dtype=object))
        missing = [u for u in units if u not in self.position.index]
        if missing:
            raise InputError(f"no unit {missing[0]!r} in the plan (units are named by the units' index)")
        return np.unique(self.position.loc[list(units)].to_numpy())

    def _apply(self, edit: _Edit, forward: bool = True) -> None:
        src, dst = (edit.before, edit.after) if forward else (edit.after, edit.before)
        for grid, name in edit.new_names.items():
            if forward and grid >= len(self.names):
                self.names.append(name)
                self.tally = np.vstack([self.tally, np.zeros((1, self.tally.shape[1]))])
                self.start_gap[grid] = 0.0
        np.add.at(self.tally, src, -self.values[edit.units])
        np.add.at(self.tally, dst, self.values[edit.units])
        self.labels[edit.units] = dst

    def _commit(self, edit: _Edit, touched) -> EditResult:
        self._apply(edit)
        self.history.append(edit)
        self.redo_stack.clear()
        self.log.append({"edit": edit.kind, "units": len(edit.units),
                         "grids": ",".join(self.names[g] for g in touched)})
        return EditResult(True, "", self._tally_of(touched))

    def move(self, units, to) -> EditResult:
        """Move units (named by the units' index) to grid ``to``; validated first, refused with a reason.

        Examples
        --------
        >>> editor.move([17], "32050801904400400").ok        # doctest: +SKIP
        True
        """
        positions = self._positions(units)
        target = self.grid_id(to)
        positions = positions[self.labels[positions] != target]
        if len(positions) == 0:
            return EditResult(False, f"the units are already in grid {to}")
        why = self.check_move(positions, target)
        if why:
            return EditResult(False, why)
        touched = sorted({target, *self.labels[positions].tolist()})
        return self._commit(_Edit("move", positions, self.labels[positions].copy(),
                                  np.full(len(positions), target), {}), touched)

    def merge(self, a, b) -> EditResult:
        """Merge two adjacent grids; the merged grid keeps the code of the more populous one."""
        ga, gb = self.grid_id(a), self.grid_id(b)
        keep, drop = (ga, gb) if self.tally[ga, 0] >= self.tally[gb, 0] else (gb, ga)
        if {ga, gb} & self.locked:
            return EditResult(False, f"grid {self.names[next(iter({ga, gb} & self.locked))]} is locked")
        if drop in self.seeds and keep in self.seeds:
            return EditResult(False, "both grids hold a seed (office); a merged grid can hold only one")
        positions = self.members(drop)
        if not np.isin(self.indices[np.concatenate([np.arange(self.indptr[u], self.indptr[u + 1])
                                                    for u in positions])], self.members(keep)).any():
            return EditResult(False, f"grids {a} and {b} do not touch")
        why = self.check_move(positions, keep, emptying=True)
        if why:
            return EditResult(False, why)
        # the seed stays registered on the emptied grid, so undo brings grid and seed back together
        return self._commit(_Edit("merge", positions, self.labels[positions].copy(),
                                  np.full(len(positions), keep), {}), [keep, drop])

    def split(self, grid, seed: int | None = None) -> EditResult:
        """Split a grid in two contiguous parts, both in band where arithmetic allows."""
        g = self.grid_id(grid)
        if g in self.locked:
            return EditResult(False, f"grid {grid} is locked")
        members = self.members(g)
        total = self.tally[g, 0]
        lo, hi = self.band_of(g)
        s_lo, s_hi = max(lo, total - hi), min(hi, total - lo)
        if s_lo > s_hi:
            return EditResult(False, f"grid {grid} has {total:,.0f} residents: two grids of {lo:,.0f}-{hi:,.0f} "
                                     "cannot hold them")
        local = self._piece(members)
        share = (s_lo / total, s_hi / total) if total > 0 else (0.3, 0.7)
        mask = halve(local, np.arange(len(members)), np.random.default_rng(seed or settings.random_state), share)
        if mask is None:
            return EditResult(False, f"no contiguous cut of grid {grid} leaves both parts in band")
        keep_side = mask[np.searchsorted(members, self.seeds[g])] if g in self.seeds else (
            self.values[members[mask], 0].sum() >= self.values[members[~mask], 0].sum())
        moving = members[mask != keep_side]
        new = len(self.names)
        return self._commit(_Edit("split", moving, np.full(len(moving), g), np.full(len(moving), new),
                                  {new: self.next_code(self.names[g])}), [g, new])

    def _piece(self, members: np.ndarray) -> PieceGraph:
        """The adjacency of ``members`` without edges across nesting boundaries."""
        import scipy.sparse as sp

        n = len(self.labels)
        rows = np.repeat(np.arange(n), np.diff(self.indptr))
        same = self.group[rows] == self.group[self.indices]
        matrix = sp.csr_matrix((self.lengths * same, self.indices, self.indptr), shape=(n, n))
        matrix.eliminate_zeros()
        matrix = matrix[members][:, members]
        return PieceGraph.from_matrices(matrix, matrix, self.values[members, 0])

    def rebalance(self, seed: int | None = None) -> EditResult:
        """Bring out-of-band grids into the band by local redraws that never touch a locked grid.

        The unlocked grids are repaired as :func:`gridtools.partition` repairs its own grids
        (boundary moves, then local re-splits); the result is one edit (undo reverts it) and is
        kept only if it breaks no rule the plan did not already break.
        """
        free = np.flatnonzero(~np.isin(self.labels, list(self.locked)))
        if len(free) == 0:
            return EditResult(False, "every grid is locked")
        grids, local = np.unique(self.labels[free], return_inverse=True)
        outcome = repair(self._piece(free), local, Band(self.lo, self.hi, (self.lo + self.hi) / 2),
                         np.random.default_rng(settings.random_state if seed is None else seed), allow_recount=False)
        new_names = {}
        target = np.empty(len(free), dtype=np.int64)
        for part in np.unique(outcome.labels):
            if part < len(grids):
                target[outcome.labels == part] = grids[part]
            else:  # a re-split may add a grid: it gets a new code next to the first grid of its units
                grid = len(self.names) + len(new_names)
                new_names[grid] = self.next_code(self.names[self.labels[free[outcome.labels == part][0]]],
                                                 taken=list(new_names.values()))
                target[outcome.labels == part] = grid
        moved = target != self.labels[free]
        if not moved.any():
            return EditResult(False, "no redraw of the unlocked grids brings a grid closer to the band")
        before = set(self.problems())
        touched = sorted(set(target[moved].tolist()) | set(self.labels[free[moved]].tolist()))
        result = self._commit(_Edit("rebalance", free[moved], self.labels[free[moved]].copy(), target[moved],
                                    new_names), touched)
        new_problems = sorted(set(self.problems()) - before)
        if new_problems:
            self.undo()
            self.redo_stack.pop()
            del self.log[-2:]  # neither the redraw nor its revert happened for the planner
            return EditResult(False, "the redraw would break: " + "; ".join(new_problems[:3]))
        return result

    def next_code(self, name: str, taken: list[str] | None = None) -> str:
        """The name of a new grid split off ``name``: the next unused serial of the same parent code."""
        layout = CodeLayout(settings.code_layout)
        names = self.names + list(taken or [])
        if name.isdigit() and len(name) == layout.total:
            same = [n for n in names if n.isdigit() and len(n) == layout.total and n[:layout.parent_width]
                    == name[:layout.parent_width]]
            serial = max(int(layout.serial_of(pd.Series(same)).max()), 0) + 1
            return layout.make(pd.Series([name[:layout.parent_width]]), [serial]).iloc[0]
        k = 2
        while f"{name}-{k}" in names:
            k += 1
        return f"{name}-{k}"

    def lock(self, *grids) -> None:
        """Lock grids: no edit (and no :meth:`rebalance`) changes them."""
        self.locked |= {self.grid_id(g) for g in grids}

    def unlock(self, *grids) -> None:
        """Unlock grids."""
        self.locked -= {self.grid_id(g) for g in grids}

    def set_seed(self, grid, unit) -> EditResult:
        """Pin a unit (a community office) to a grid: the grid must always contain it.

        ``unit`` is a unit's index label, or a shapely point (in the units' CRS) inside a unit.
        """
        g = self.grid_id(grid)
        if hasattr(unit, "geom_type"):
            hits = np.flatnonzero(self.units.geometry.contains(unit).to_numpy())
            if len(hits) == 0:
                return EditResult(False, f"the point {unit.wkt} lies in no unit")
            unit = self.units.index[hits[0]]
        position = int(self._positions([unit])[0])
        if self.labels[position] != g:
            return EditResult(False, f"unit {unit} is not in grid {grid}; move it there first")
        self.seeds[g] = position
        return EditResult(True)

    def set_target(self, grid, population: float, tolerance: float = 0.1) -> EditResult:
        """Give one grid its own band: ``population`` plus or minus ``tolerance`` (a share)."""
        g = self.grid_id(grid)
        self.bands[g] = (population * (1 - tolerance), population * (1 + tolerance))
        self.start_gap[g] = max(self.start_gap.get(g, 0.0), self._gap(g, self.tally[g, 0]))
        return EditResult(True, "", self._tally_of([g]))

    def undo(self) -> EditResult:
        """Undo the last edit."""
        if not self.history:
            return EditResult(False, "nothing to undo")
        edit = self.history.pop()
        self._apply(edit, forward=False)
        self.redo_stack.append(edit)
        self.log.append({"edit": "undo " + edit.kind, "units": len(edit.units), "grids": ""})
        return EditResult(True, "", self._tally_of(np.unique(np.concatenate([edit.before, edit.after]))))

    def redo(self) -> EditResult:
        """Redo the last undone edit."""
        if not self.redo_stack:
            return EditResult(False, "nothing to redo")
        edit = self.redo_stack.pop()
        self._apply(edit)
        self.history.append(edit)
        self.log.append({"edit": "redo " + edit.kind, "units": len(edit.units), "grids": ""})
        return EditResult(True, "", self._tally_of(np.unique(np.concatenate([edit.before, edit.after]))))

    # ---------------------------------------------------------------------------------------
    # whole-plan views

    def problems(self) -> list[str]:
        """Every rule the current plan breaks (empty: the plan is valid).

        Grids that started outside their band count as a problem only if they moved further out.
        """
        found = []
        for grid in np.unique(self.labels):
            members = self.members(grid)
            inside = np.zeros(len(self.labels), dtype=bool)
            inside[members] = True
            name = self.names[grid]
            if not self._connected(members, inside):
                found.append(f"grid {name} is not contiguous")
            if self._gap(grid, self.tally[grid, 0]) > self.start_gap.get(grid, 0.0) + 1e-9:
                found.append(f"grid {name} has {self.tally[grid, 0]:,.0f} residents, outside its band")
            if len(np.unique(self.group[members])) > 1:
                found.append(f"grid {name} crosses a nesting boundary")
            if grid in self.seeds and not inside[self.seeds[grid]]:
                found.append(f"grid {name} lost its seed")
        return found

    def boundary_moves(self, grid) -> list[tuple]:
        """Units on the edge of ``grid`` with the neighbouring grid each could move to: ``(unit, to)``."""
        g = self.grid_id(grid)
        moves = []
        for u in self.members(g):
            for v in self.indices[self.indptr[u]:self.indptr[u + 1]]:
                if self.labels[v] != g:
                    moves.append((self.units.index[u], self.names[self.labels[v]]))
                    break
        return moves

    def grids_frame(self) -> gpd.GeoDataFrame:
        """The current grids as polygons with their tallies (dissolved units)."""
        metric_crs = to_metric(self.units.iloc[:1]).crs
        dissolved = measure_grids(self.units, self.labels, self.values[:, 0], metric_crs)
        tallies = self.tallies().set_index("grid")
        dissolved.index = [self.names[g] for g in dissolved.index]
        frame = tallies.join(dissolved[["area_m2", "polsby_popper", "geometry"]])
        frame = gpd.GeoDataFrame(frame.rename_axis("grid_code").reset_index(), geometry="geometry", crs=self.units.crs)
        return frame
