"""Pieces of a district: barriers that split it, and the tasks each piece becomes.

Steps 3-5 of the pipeline in :mod:`.core`: which graph edges cross soft or major barriers,
the pieces major barriers cut the nesting groups into (merged back where a piece has no feasible
grid count), and one :class:`Task` per piece with the over-size units taken out.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from gridtools import settings
from gridtools.errors import InputError
from gridtools.grids.balance import (Band, PieceGraph, choose_count, feasible_counts, make_contiguous,
                                     metis_labels, repair)
from gridtools.grids.graph import UnitGraph

__all__ = [
    "SOFT_BARRIER_DISCOUNT", "major_barriers", "barrier_crossings", "split_pieces", "Task",
    "piece_graph", "plan_tasks", "adjacent_oversize", "COARSE_PIECE_UNITS", "split_large_tasks", "rejoin_pieces",
]

#: A piece of at least twice this many units is first cut into sub-pieces of about this size
#: (a coarse METIS cut) that are partitioned independently, in parallel where workers are
#: available, and repaired across their edges afterwards: METIS and the repair then work on
#: graphs of bounded size, so the cost of one large district grows linearly with its units.
COARSE_PIECE_UNITS = 5000

#: How much cheaper it is for the partitioner to cut an edge that crosses a (soft) barrier.
SOFT_BARRIER_DISCOUNT = 0.05


def major_barriers(barriers: gpd.GeoDataFrame) -> np.ndarray:
    """Which barrier lines are major: a truthy ``major`` column, else OSM tags in settings."""
    if "major" in barriers.columns:
        return barriers["major"].fillna(False).astype(bool).to_numpy()
    major = np.zeros(len(barriers), dtype=bool)
    for tag, values in settings.major_barrier_tags.items():
        if tag in barriers.columns:
            major |= barriers[tag].isin(values).to_numpy()
    return major


def barrier_crossings(graph: UnitGraph, metric_units: gpd.GeoDataFrame,
                      barriers: gpd.GeoDataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """For each edge, whether the step between the two units crosses a soft / major barrier.

    The step is the segment between the units' representative points, so an edge crosses a road
    when the road runs between the two units (typically along their shared boundary).
    """
    soft = np.zeros(len(graph.i), dtype=bool)
    major = np.zeros(len(graph.i), dtype=bool)
    if barriers is None or len(barriers) == 0 or len(graph.i) == 0:
        return soft, major
    if barriers.crs is None:
        raise InputError("barriers have no coordinate reference system; save the file with its CRS, or set one "
                         "(barriers.set_crs(...))")
    lines = barriers.to_crs(metric_units.crs)
    is_major = major_barriers(barriers)
    anchor = shapely.get_coordinates(metric_units.geometry.representative_point().values)
    steps = shapely.linestrings(np.stack([anchor[graph.i], anchor[graph.j]], axis=1))
    edge, line = shapely.STRtree(lines.geometry.values).query(steps, predicate="intersects")
    soft[edge[~is_major[line]]] = True
    major[edge[is_major[line]]] = True
    return soft & ~major, major


def split_pieces(graph: UnitGraph, major: np.ndarray, pop: np.ndarray, band: Band) -> tuple[np.ndarray, np.ndarray]:
    """Steps 3-4 of the pipeline: split groups along major barriers; merge back pieces that have no feasible count.

    Returns the piece of each unit and the edges still treated as major (uncrossable).
    """
    major = major.copy()
    for _ in range(1000):
        n, piece = graph.subset_edges(~major).components()
        totals = np.bincount(piece, weights=pop, minlength=n)
        kmin, kmax = np.ceil(totals / band.hi - 1e-9), np.floor(totals / band.lo + 1e-9)
        stuck = (kmin > kmax) | (kmax < 1)  # a piece needs at least one grid
        crossing = major & (piece[graph.i] != piece[graph.j])
        touches = stuck[piece[graph.i]] | stuck[piece[graph.j]]
        candidates = np.flatnonzero(crossing & touches)
        if len(candidates) == 0:
            return piece, major
        # reopen the longest major crossing of the smallest stuck piece, then look again
        smallest = np.argmin(np.where(stuck, totals, np.inf))
        mine = candidates[(piece[graph.i[candidates]] == smallest) | (piece[graph.j[candidates]] == smallest)]
        pick = mine if len(mine) else candidates
        a, b = piece[graph.i[pick]], piece[graph.j[pick]]
        pair = pick[(a == a[np.argmax(graph.length[pick])]) & (b == b[np.argmax(graph.length[pick])])]
        major[pair] = False
    return piece, major  # pragma: no cover


@dataclass
class Task:
    """One piece of a district to cut into *k* grids (the unit of parallel work)."""

    units: np.ndarray          # global unit indices
    graph: PieceGraph | None   # None: a single grid without cutting
    k: int
    piece: int
    status: str                # "ok" or "infeasible_piece"
    seed: int
    whole: int = -1            # sub-piece of this entry of split_large_tasks' wholes (-1: none)
    edge: np.ndarray | None = None  # sub-piece units next to another sub-piece (bool, in graph order)


def piece_graph(graph: UnitGraph, members: np.ndarray, soft: np.ndarray, pop: np.ndarray) -> PieceGraph:
    """The sub-graph of *members* that METIS and the repair work on (soft barriers are cheap to cut)."""
    lengths = np.maximum(graph.length, 0.01)  # island links have no shared boundary
    metis = np.where(soft, lengths * SOFT_BARRIER_DISCOUNT, lengths)
    lmat = graph.csr(lengths)[members][:, members]
    wmat = graph.csr(np.maximum(metis, 1.0))[members][:, members]
    return PieceGraph.from_matrices(lmat, wmat, pop[members])


def plan_tasks(graph: UnitGraph, piece: np.ndarray, soft: np.ndarray, pop: np.ndarray, band: Band,
          seed: int) -> tuple[list[Task], list[tuple[np.ndarray, int]]]:
    """Tasks to partition, plus over-size units (each with the piece it belongs to).

    Over-size units are removed from their piece; what remains may fall apart into components,
    each partitioned on its own.  A leftover component too small for a grid of its own joins the
    adjacent over-size unit's grid (it is enclosed by it).
    """
    oversize = pop > band.hi
    inner = graph.subset_edges(~oversize[graph.i] & ~oversize[graph.j] & (piece[graph.i] == piece[graph.j]))
    n, comp = inner.components()
    comp[oversize] = -1
    tasks: list[Task] = []
    attach: list[tuple[np.ndarray, int]] = []
    for c, members in pd.Series(np.arange(graph.n)).groupby(comp).groups.items():
        if c < 0:
            continue
        members = np.asarray(members)
        total = pop[members].sum()
        kmin, kmax = feasible_counts(total, band)
        host = adjacent_oversize(graph, members, oversize)
        too_small = total == 0 or (kmin > kmax and total < band.lo)
        if too_small and host is not None:
            attach.append((members, host))
            continue
        k = choose_count(total, band)
        task_graph = piece_graph(graph, members, soft, pop) if k > 1 else None
        status = "ok" if kmin <= kmax else "infeasible_piece"
        tasks.append(Task(members, task_graph, k, int(piece[members[0]]), status, seed + len(tasks)))
    return tasks, attach


def adjacent_oversize(graph: UnitGraph, members: np.ndarray, oversize: np.ndarray) -> int | None:
    """The over-size unit sharing the longest boundary with *members* (None if none touches them)."""
    inside = np.zeros(graph.n, dtype=bool)
    inside[members] = True
    a = inside[graph.i] & oversize[graph.j]
    b = inside[graph.j] & oversize[graph.i]
    hosts = np.concatenate([graph.j[a], graph.i[b]])
    lengths = np.concatenate([graph.length[a], graph.length[b]])
    if len(hosts) == 0:
        return None
    return int(hosts[np.argmax(lengths)])


def split_large_tasks(tasks: list[Task], band: Band) -> tuple[list[Task], list[Task]]:
    """Cut each task of ``2 * COARSE_PIECE_UNITS`` units or more into sub-piece tasks.

    The coarse cut is a METIS k-way cut of the piece's graph into sub-pieces of nearly equal
    population (contiguous, along short boundaries); each becomes a task with its own grid count
    and a seed derived from the piece's, so the result does not depend on where tasks run.  A
    piece stays whole when a sub-piece would have no feasible grid count.

    Returns
    -------
    (tasks, wholes)
        The tasks to solve, and the original tasks that were split (``Task.whole`` of a
        sub-piece task indexes this list); :func:`rejoin_pieces` undoes the split.
    """
    out: list[Task] = []
    wholes: list[Task] = []
    for task in tasks:
        m = len(task.units) // COARSE_PIECE_UNITS
        sub = _coarse_cut(task.graph, m, band, task.seed) if task.graph is not None and task.status == "ok" and m >= 2 else None
        if sub is None:
            out.append(task)
            continue
        edge = _sub_piece_edges(task.graph, sub)
        for s, graph in enumerate(task.graph.split(sub, int(sub.max()) + 1)):  # one pass for all
            k = choose_count(graph.pop.sum(), band)
            out.append(Task(task.units[sub == s], graph if k > 1 else None, k, task.piece, "ok",
                            task.seed + 7919 * (s + 1), whole=len(wholes), edge=edge[sub == s]))
        wholes.append(task)
    return out, wholes


def _sub_piece_edges(graph: PieceGraph, sub: np.ndarray) -> np.ndarray:
    """Which units have a neighbour in another sub-piece.

    A grid out of band on a sub-piece's edge is usually stuck only because its helpful
    neighbours lie across the cut; the sub-piece leaves it to the repair after the rejoin
    (:func:`rejoin_pieces`) instead of searching its own side for a fix that is not there.
    """
    rows = np.repeat(np.arange(graph.n), np.diff(graph.indptr))
    edge = np.zeros(graph.n, dtype=bool)
    edge[rows[sub[rows] != sub[graph.indices]]] = True
    return edge


def _coarse_cut(graph: PieceGraph, m: int, band: Band, seed: int) -> np.ndarray | None:
    """``m`` contiguous sub-pieces of nearly equal population, or None when one is infeasible."""
    mean = graph.pop.sum() / m
    labels = make_contiguous(graph, metis_labels(graph, m, Band(0.0, 1.03 * mean, mean), seed))
    totals = np.bincount(labels, weights=graph.pop)
    lo_hi = [feasible_counts(t, band) for t in totals]
    if any(lo > hi for lo, hi in lo_hi):
        return None
    return labels


def rejoin_pieces(tasks: list[Task], solved: list[np.ndarray], wholes: list[Task],
                  band: Band) -> tuple[list[Task], list[np.ndarray]]:
    """Undo :func:`split_large_tasks`: one labelling per original task, repaired across the cuts.

    A grid left outside the band inside its sub-piece is repaired across the sub-piece edges, on
    the grids within a few steps of it (:func:`_repair_around_bad_grids`).
    """
    out_tasks = [t for t in tasks if t.whole < 0]
    out_solved = [labels for t, labels in zip(tasks, solved) if t.whole < 0]
    for w, whole in enumerate(wholes):
        position = np.full(whole.units.max() + 1, -1, dtype=np.int64)
        position[whole.units] = np.arange(len(whole.units))
        labels = np.full(len(whole.units), -1, dtype=np.int64)
        offset = 0
        for task, local in zip(tasks, solved):
            if task.whole == w:
                labels[position[task.units]] = local + offset
                offset += int(local.max()) + 1
        labels = _repair_around_bad_grids(whole.graph, labels, band, whole.seed)
        out_tasks.append(whole)
        out_solved.append(np.unique(labels, return_inverse=True)[1].astype(np.int64))
    return out_tasks, out_solved


#: Grids within this many steps of a grid out of band are handed to the repair after the rejoin
#: (its widest re-cut reaches three steps).
_REJOIN_RADIUS = 4


def _repair_around_bad_grids(graph: PieceGraph, labels: np.ndarray, band: Band, seed: int) -> np.ndarray:
    """Repair the grids out of band on the subgraph of the grids around them, not the whole piece.

    The repair's steps cost O(units of its graph) each; on the few grids near each bad one they
    stay cheap however large the district.  Grids are whole inside the region, so a grid
    contiguous in the region is contiguous in the piece.
    """
    part_pop = np.bincount(labels, weights=graph.pop)
    bad = np.flatnonzero(~band.contains(part_pop))
    if len(bad) == 0:
        return labels
    rows = np.repeat(np.arange(graph.n), np.diff(graph.indptr))
    a, b = labels[rows], labels[graph.indices]
    n_parts = len(part_pop)
    touching = sp.csr_matrix((np.ones(int((a != b).sum())), (a[a != b], b[a != b])), shape=(n_parts, n_parts))
    near = np.zeros(n_parts, dtype=bool)
    near[bad] = True
    for _ in range(_REJOIN_RADIUS):
        near |= touching.T @ near > 0
    region = np.flatnonzero(near[labels])
    _, local = np.unique(labels[region], return_inverse=True)
    outcome = repair(graph.subgraph(region), local.astype(np.int64), band, np.random.default_rng(seed))
    labels = labels.copy()
    labels[region] = outcome.labels + n_parts
    return labels
