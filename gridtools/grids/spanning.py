"""Cuts along random spanning trees: contiguous pieces of a graph with populations in a window.

The re-split step of the repair (:mod:`.balance`, ReCom-style): a connected node set is cut into
``k`` contiguous parts, each in the population band, by cutting edges of random spanning trees.
Graphs are :class:`gridtools.grids.balance.PieceGraph` objects (local CSR arrays, ``pop``,
``upper_edges()``, ``subgraph()``) and bands :class:`gridtools.grids.balance.Band`; this module
needs nothing else from there, so the repair can import it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree

__all__ = ["tree_cut", "tree_split"]




def tree_cut(graph, nodes: np.ndarray, s_lo: float, s_hi: float,
              rng: np.random.Generator, tries: int, ideal: float | None = None,
              anchor: int | None = None) -> np.ndarray | None:
    """Find a connected subset of ``nodes`` with population in ``[s_lo, s_hi]`` whose
    complement in ``nodes`` is connected too.  Returns a boolean mask over ``nodes``.

    Among the cuts of a random spanning tree, those whose population is nearest ``ideal`` are
    kept (so the rest stays easy to divide), and of these the one with the shortest boundary.
    With ``anchor`` (a position in ``nodes``) the piece must contain that node: used to carve
    out the hardest region first instead of leaving it stranded for the last cut.

    ``nodes`` must be sorted.  The node set's edges are taken once from the graph's cached edge
    list (no sparse sub-matrix per call), and the random trees are grown in batches (2, 6, then
    the rest of ``tries``): one spanning forest of copies of the node set, one breadth-first
    order and subtree sums by one vectorised step per tree level serve a whole batch, so a
    hopeless cut costs three rounds of sparse-graph calls instead of one per try.
    """
    m = len(nodes)
    a, b, length = _induced_edges(graph, nodes)
    sub_pop = graph.pop[nodes].astype(float)
    total = sub_pop.sum()
    done = 0
    for count in (2, 6, max(tries - 8, 0)):
        count = min(count, tries - done)
        if count <= 0:
            break
        done += count
        roots = rng.integers(m, size=count) if anchor is None else np.full(count, int(anchor))
        forest = _random_forest(a, b, m, roots, rng)
        if forest is None:
            return None  # not connected: caller's invariant broken
        order, pred, bounds = forest
        below = np.concatenate([np.tile(sub_pop, count), [0.0]])
        for lo, hi in zip(bounds[-2:1:-1], bounds[:1:-1]):  # deepest level first, down to the roots
            level = order[lo:hi]
            np.add.at(below, pred[level], below[level])
        for c in range(count):
            here = below[c * m:(c + 1) * m]
            take_subtree = (here >= s_lo) & (here <= s_hi)
            take_rest = ((total - here) >= s_lo) & ((total - here) <= s_hi)
            take_subtree[roots[c]] = take_rest[roots[c]] = False
            if anchor is not None:
                take_subtree[:] = False  # the piece is the side holding the root (the anchor)
            candidates = np.flatnonzero(take_subtree | take_rest)
            if len(candidates) == 0:
                continue
            if ideal is not None:
                size = np.where(take_subtree[candidates], here[candidates], total - here[candidates])
                off = np.abs(size - ideal)
                candidates = candidates[off <= max(0.04 * ideal, 1.5 * off.min())]
            best_mask, best_cut = None, np.inf
            for v in rng.permutation(candidates)[:12]:
                mask = _subtree_mask(order, pred, bounds, c * m + int(v))[c * m:(c + 1) * m]
                if not take_subtree[v]:
                    mask = ~mask
                cut = float(length[mask[a] != mask[b]].sum())
                if cut < best_cut:
                    best_mask, best_cut = mask, cut
            return best_mask
    return None


def _random_forest(a: np.ndarray, b: np.ndarray, m: int, roots: np.ndarray, rng: np.random.Generator):
    """Random spanning trees of ``len(roots)`` copies of a graph (edges ``a < b`` over ``m`` nodes).

    Copy ``c`` holds nodes ``c * m .. c * m + m - 1`` and is rooted at ``c * m + roots[c]``; a
    virtual node ``len(roots) * m`` is the parent of every root, so one breadth-first search
    orders the whole forest.  Returns ``(order, pred, level bounds)`` or None when the graph is
    not connected.
    """
    count = len(roots)
    # int32 indices, as scipy's graph routines keep them: int64 ones are scanned to see whether
    # they fit and then copied, on every one of the thousands of small forests of a repair
    offset = np.repeat(np.arange(count, dtype=np.int32) * np.int32(m), len(a))
    rows, cols = np.tile(a.astype(np.int32), count) + offset, np.tile(b.astype(np.int32), count) + offset
    n = count * m
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int32)
    weights = sp.csr_matrix((rng.random(len(rows)) + 1e-3, cols, indptr), shape=(n, n))
    tree = minimum_spanning_tree(weights, overwrite=True)
    if tree.nnz != count * (m - 1):
        return None
    top = n
    starts = (np.arange(count) * m + roots).astype(np.int32)
    # the forest's edges both ways plus the virtual top node's edges to the roots, as one directed
    # CSR: scipy's undirected search would build the transpose on every call.  A tree's levels and
    # parents do not depend on the order neighbours are visited in; only the order within a level
    # may change, and with it the order (not the terms) of the subtree population sums.
    u = np.repeat(np.arange(n, dtype=np.int32), np.diff(tree.indptr))
    v = tree.indices.astype(np.int32)
    src = np.concatenate([u, v, np.full(count, top, dtype=np.int32)])
    dst = np.concatenate([v, u, starts])
    by_src = np.argsort(src, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=n + 1))]).astype(np.int32)
    links = sp.csr_matrix((np.ones(len(src)), dst[by_src], indptr), shape=(n + 1, n + 1))
    order, pred = breadth_first_order(links, top, directed=True, return_predecessors=True)
    if len(order) < n + 1:
        return None
    return order, pred, _level_bounds(order, pred)


def _induced_edges(graph, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges ``a < b`` (positions in the sorted ``nodes``) and their lengths, row-major."""
    eu, ev, elen = graph.upper_edges()
    pos = np.full(graph.n, -1, dtype=np.int64)
    pos[nodes] = np.arange(len(nodes))
    a, b = pos[eu], pos[ev]
    keep = (a >= 0) & (b >= 0)
    return a[keep], b[keep], elen[keep]


def _level_bounds(order: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Start of each depth level in a breadth-first ``order`` (and its end), as positions.

    In breadth-first order the position of each node's parent never decreases, so level
    ``d + 1`` is the run of nodes whose parents lie in level ``d``.
    """
    place = np.empty(len(order), dtype=np.int64)
    place[order] = np.arange(len(order))
    parent_place = place[pred[order[1:]]]  # nondecreasing
    bounds = [0, 1]
    while bounds[-1] < len(order):
        bounds.append(1 + int(np.searchsorted(parent_place, bounds[-1], side="left")))
    return np.asarray(bounds, dtype=np.int64)


def _subtree_mask(order: np.ndarray, pred: np.ndarray, bounds: np.ndarray, v: int) -> np.ndarray:
    """Nodes of the subtree rooted at ``v``: one vectorised step per level below it."""
    place = int(np.flatnonzero(order == v)[0])
    level = int(np.searchsorted(bounds, place, side="right")) - 1
    mask = np.zeros(len(pred), dtype=bool)
    mask[v] = True
    for lo, hi in zip(bounds[level + 1 : -1], bounds[level + 2 :]):
        nodes = order[lo:hi]
        mask[nodes] = mask[pred[nodes]]
    return mask


def tree_split(graph, nodes: np.ndarray, k: int, band,
               rng: np.random.Generator, tries: int = 30, restarts: int = 4,
               hard: np.ndarray | None = None) -> np.ndarray | None:
    """Cut the connected node set ``nodes`` into ``k`` contiguous in-band parts.

    Parameters
    ----------
    hard : numpy.ndarray of bool, optional
        Positions in ``nodes`` of the region that is hard to fit (e.g. the grid being repaired);
        every other restart starts its first piece there.

    Returns
    -------
    numpy.ndarray or None
        Labels ``0..k-1`` aligned with ``nodes``, or None when no cut was found.
    """
    hard_nodes = np.flatnonzero(hard) if hard is not None and hard.any() else None
    # slice once: every cut below works on this small graph, not on the whole piece
    local = graph.subgraph(np.asarray(nodes))
    everything = np.arange(len(nodes))
    first_cut_failed = False
    for attempt in range(restarts):  # sequential cuts can strand the last remainder: start over
        anchor = None
        if hard_nodes is not None and attempt % 2 == 0:
            anchor = int(rng.choice(hard_nodes))
        elif first_cut_failed:
            # an unanchored first cut that found nothing in all its tries is the same search
            # again: the restart is only worth it when a later cut stranded the remainder
            continue
        labels, cuts = _sequential_cuts(local, everything, k, band, rng, tries, anchor)
        if labels is not None:
            return labels
        first_cut_failed |= anchor is None and cuts == 0
    return None


def _sequential_cuts(graph, nodes, k, band, rng, tries, anchor=None) -> tuple[np.ndarray | None, int]:
    """Cut ``k - 1`` in-band pieces off one after another: ``(labels or None, cuts made)``."""
    labels = np.full(len(nodes), -1, dtype=np.int64)
    remaining = np.arange(len(nodes))
    for part in range(k - 1):
        total = graph.pop[nodes[remaining]].sum()
        left = k - part - 1
        s_lo, s_hi = max(band.lo, total - left * band.hi), min(band.hi, total - left * band.lo)
        if s_lo > s_hi:
            return None, part
        mask = tree_cut(graph, nodes[remaining], s_lo, s_hi, rng, tries, ideal=total / (left + 1),
                         anchor=anchor if part == 0 else None)
        if mask is None:
            return None, part
        labels[remaining[mask]] = part
        remaining = remaining[~mask]
    if not band.contains(graph.pop[nodes[remaining]].sum()):
        return None, k - 1
    labels[remaining] = k - 1
    return labels, k - 1
