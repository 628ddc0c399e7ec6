"""Proofs that a grid cannot be in the band, whatever the cut.

A partition that leaves a grid out of the band may have missed a better cut, or there may be
none. This module finds the second case where a short argument proves it, so that a planner
is told which grid no redraw can fix and why, and the share of feasible grids in the band is
not charged for it (as over-size units and infeasible pieces already are not).

The argument used here (a *trapped unit*): a unit ``u`` with ``0 < p(u) < min`` whose
neighbourhood, walking through units without residents, reaches only units ``v`` with
``p(u) + p(v) > max``. The grid holding ``u`` either stays inside ``u`` and those empty units
(fewer than ``min`` residents) or reaches past them through one such ``v`` (more than ``max``):
out of the band either way. Populations are non-negative, so adding units cannot help.

A second argument (a *pocket*, :func:`pockets`): removing one unit ``c`` cuts off a part ``P``
with ``0 < p(P) < min`` and ``p(P) + p(c) > max``. A grid touching ``P`` without ``c`` stays
inside ``P`` (below ``min``); if every grid touching ``P`` held ``c`` there would be one, holding
all of ``P`` and ``c`` (above ``max``). So one of the grids touching ``P`` and ``c`` is out of the
band whatever the cut; where a partition leaves exactly one out there, no redraw can do better.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from gridtools.grids.graph import UnitGraph
from gridtools.identifiers import row_names


def trapped_units(graph: UnitGraph, population: np.ndarray, lo: float, hi: float,
                  among: np.ndarray | None = None) -> dict[int, tuple[int, ...]]:
    """Units whose grid cannot be in the band, each with the populated units it could grow through.

    Parameters
    ----------
    graph : UnitGraph
        The graph the partition cuts (edges it may not cross left out).
    population : numpy.ndarray
        Residents per unit (non-negative).
    lo, hi : float
        The band.
    among : numpy.ndarray of int, optional
        Only these units are tried (e.g. those of the grids a partition left out of the band);
        default all.

    Returns
    -------
    dict
        Unit position -> positions of the populated units around it (each too big to join it).
        A unit with no populated unit around it at all is left out: its whole piece holds fewer
        than ``lo`` residents, which the piece check reports already.

    Examples
    --------
    >>> g = UnitGraph(4, np.array([0, 1, 1]), np.array([1, 2, 3]), np.ones(3), np.array(["rook"] * 3))
    >>> trapped_units(g, np.array([488.0, 0.0, 1163.0, 1256.0]), 1000, 1500)
    {0: (2, 3)}
    """
    return _trapped(graph.csr().tocsr(), np.asarray(population, dtype=float), lo, hi, among)


def _trapped(adjacency: sp.csr_matrix, pop: np.ndarray, lo: float, hi: float, among) -> dict[int, tuple[int, ...]]:
    small = (pop > 0) & (pop < lo)
    if among is not None:
        small &= np.isin(np.arange(len(pop)), among)
    # cheap screen, all units at once: a populated neighbour small enough to join rules a unit out
    rows = np.repeat(np.arange(len(pop)), np.diff(adjacency.indptr))
    cols = adjacency.indices
    joins = small[rows] & (pop[cols] > 0) & (pop[rows] + pop[cols] <= hi)
    candidates = np.setdiff1d(np.flatnonzero(small), rows[joins])
    if not len(candidates):
        return {}
    empty_part = _empty_parts(adjacency, pop)
    found = {}
    for u in candidates:  # few: those the screen kept
        reach = _populated_around(adjacency, pop, empty_part, int(u))
        if len(reach) and (pop[u] + pop[reach] > hi).all():
            found[int(u)] = tuple(int(v) for v in reach)
    return found


def _empty_parts(adjacency: sp.csr_matrix, pop: np.ndarray) -> np.ndarray:
    """Connected part of every unit without residents among such units (-1 for populated units)."""
    empty = pop <= 0
    part = np.full(len(pop), -1, dtype=np.int64)
    if empty.any():
        index = np.flatnonzero(empty)
        _, labels = connected_components(adjacency[index][:, index], directed=False)
        part[index] = labels
    return part


def _populated_around(adjacency: sp.csr_matrix, pop: np.ndarray, empty_part: np.ndarray, u: int) -> np.ndarray:
    """Populated units next to ``u`` or to an empty part ``u`` touches (``u`` itself left out)."""
    row = adjacency[u].indices
    parts = np.unique(empty_part[row][empty_part[row] >= 0])
    members = np.concatenate([[u], np.flatnonzero(np.isin(empty_part, parts))])
    around = np.unique(adjacency[members].indices)
    return around[(pop[around] > 0) & (around != u)]


def pockets(graph: UnitGraph, population: np.ndarray, lo: float, hi: float,
            near: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Parts cut off by one unit that must leave a grid out of the band, as ``(part units, cut unit)``.

    Parameters
    ----------
    graph : UnitGraph
    population : numpy.ndarray
    lo, hi : float
        The band.
    near : numpy.ndarray of int
        Only cut units among these are tried (the units of the grids left out of the band and
        their neighbours): each try is one connected-components pass over the graph.

    Examples
    --------
    >>> g = UnitGraph(4, np.array([0, 1, 2]), np.array([1, 2, 3]), np.ones(3), np.array(["rook"] * 3))
    >>> [(part.tolist(), cut) for part, cut in pockets(g, np.array([500., 484., 519., 1200.]), 1000, 1500,
    ...                                                 np.arange(4))]
    [([0, 1], 2)]
    """
    return _pockets(graph.csr().tocsr(), np.asarray(population, dtype=float), lo, hi, near)


def _pockets(adjacency: sp.csr_matrix, pop: np.ndarray, lo: float, hi: float, near) -> list[tuple[np.ndarray, int]]:
    if not len(near) or not adjacency.nnz:
        return []
    upper = sp.triu(adjacency, k=1).tocoo()
    cuts = sorted(set(nx.articulation_points(nx.Graph(zip(upper.row.tolist(), upper.col.tolist()))))
                  & set(np.asarray(near).tolist()))
    found = []
    for c in cuts:  # one connected-components pass over the graph without c each
        index = np.flatnonzero(np.arange(len(pop)) != c)
        _, labels = connected_components(adjacency[index][:, index], directed=False)
        sums = np.bincount(labels, weights=pop[index])
        touching = np.unique(labels[np.isin(index, adjacency[c].indices)])
        for part in touching:
            if 0 < sums[part] < lo and sums[part] + pop[c] > hi:
                found.append((index[labels == part], int(c)))
    return found


def proven_out_of_band(graph: UnitGraph, population: np.ndarray, lo: float, hi: float, label: np.ndarray,
                       grids: pd.DataFrame, units) -> pd.DataFrame:
    """The grids with status ``out_of_band`` that no cut can bring into the band, with the reason.

    Parameters
    ----------
    graph : UnitGraph
        The graph the grids were cut from.
    population : numpy.ndarray
    lo, hi : float
        The band.
    label : numpy.ndarray
        Grid label of every unit (the index of ``grids``).
    grids : pandas.DataFrame
        Indexed by label, with a ``status`` column.
    units : pandas.DataFrame
        The units, for naming them in the reason (:func:`gridtools.identifiers.row_names`).

    Returns
    -------
    pandas.DataFrame
        Indexed by label: ``population``, ``why``.
    """
    rows = {}
    outside = set(grids.index[grids["status"] == "out_of_band"])
    if not outside:
        return pd.DataFrame({"population": [], "why": []}, index=pd.Index([], dtype=np.int64))
    pop = np.asarray(population, dtype=float)
    adjacency = graph.csr().tocsr()  # once, for both proofs
    among = np.flatnonzero(np.isin(label, list(outside)))
    for unit, around in _trapped(adjacency, pop, lo, hi, among).items():
        grid = label[unit]
        if grid in outside and grid not in rows:
            sizes = " or ".join(f"{population[v]:,.0f}" for v in sorted(around, key=lambda v: population[v])[:3])
            rows[grid] = (f"{row_names(units, [unit])[0]} ({population[unit]:,.0f} residents) reaches other "
                          f"residents only through units of {sizes}{' ...' if len(around) > 3 else ''}: with "
                          f"any of them it is above {hi:,.0f}, alone below {lo:,.0f}")
    near = np.unique(np.concatenate([among, adjacency[among].indices]))
    for part, cut in _pockets(adjacency, pop, lo, hi, near):
        out = (set(label[part].tolist()) | {label[cut]}) & outside
        if len(out) == 1 and (grid := out.pop()) not in rows:  # the one grid this pocket must leave out
            rows[grid] = (f"{len(part)} units ({population[part].sum():,.0f} residents) reach the rest only "
                          f"through {row_names(units, [cut])[0]} ({population[cut]:,.0f}): together above "
                          f"{hi:,.0f}, so a grid around them is out of the band whatever the cut")
    return pd.DataFrame({"population": grids.loc[list(rows), "population"].to_numpy(),
                         "why": list(rows.values())}, index=pd.Index(list(rows), dtype=np.int64))
