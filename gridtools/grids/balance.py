"""Cut one connected piece into contiguous parts whose populations lie in a band.

The route (see ``docs/partition.md``):

1. **METIS k-way** (pymetis) with vertex weights = population, edge weights = shared boundary
   length, and METIS's contiguity option.  It is fast (about 1 s for 40,000 units) and nearly
   balanced, but it does not know a *floor*, and it misses the band on lumpy data.
2. **Contiguity fix**: any stray fragment of a part joins the neighbouring part it shares most
   boundary with.
3. **Repair** of the parts still outside ``[lo, hi]``:
   a. *boundary moves*: hand a single boundary unit to (or take one from) a neighbouring part
      when both parts stay contiguous and in band; this changes very few residents, which is
      what a redraw needs;
   b. *local re-split* (ReCom-style): merge the bad part with one or two neighbours and cut the
      union again along a random spanning tree, choosing among the tree edges whose removal
      leaves both sides in range the one with the shortest cut.  Tree cuts always give
      contiguous parts.

Everything here works on a local CSR graph (``indptr``, ``indices``, per-entry weights) and
plain numpy arrays, so a piece can be shipped to a worker process unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from gridtools.grids.spanning import tree_split


#: Pieces up to this many units may be re-cut whole when local repair is stuck; beyond it the
#: Python loops of a spanning-tree cut cost more than they are likely to win.
_WHOLE_RECUT_MAX_UNITS = 3000


@dataclass(frozen=True)
class Band:
    """Inclusive population band of a grid and the population to aim for."""

    lo: float
    hi: float
    target: float

    def contains(self, pop):
        """True where ``pop`` lies inside the band."""
        return (pop >= self.lo) & (pop <= self.hi)


def feasible_counts(total: float, band: Band) -> tuple[int, int]:
    """Range of grid counts that can hold ``total`` residents with every grid in band.

    Returns ``(kmin, kmax)``; the range is empty when ``kmin > kmax``.

    Examples
    --------
    >>> feasible_counts(2600, Band(1000, 1500, 1250))
    (2, 2)
    >>> feasible_counts(1700, Band(1000, 1500, 1250))   # 1500 < P < 2000: no count fits
    (2, 1)
    >>> feasible_counts(0, Band(1000, 1500, 1250))      # a piece still needs one grid
    (1, 0)
    """
    # At least one grid: an empty piece (a park, a lake) still has to be covered by something.
    return max(1, math.ceil(total / band.hi - 1e-9)), math.floor(total / band.lo + 1e-9)


def choose_count(total: float, band: Band) -> int:
    """Number of grids for a piece: the feasible count nearest ``total / target`` (>= 1)."""
    kmin, kmax = feasible_counts(total, band)
    ideal = max(1, round(total / band.target))
    if kmin > kmax:
        return ideal
    return int(min(max(ideal, kmin), kmax))


@dataclass
class PieceGraph:
    """A connected piece as a local symmetric CSR graph.

    ``length`` holds the shared-boundary length of each CSR entry (used to keep cuts short);
    ``metis_weight`` the integer edge weight METIS minimises (lengths, lowered on soft barriers).
    """

    indptr: np.ndarray
    indices: np.ndarray
    length: np.ndarray
    metis_weight: np.ndarray
    pop: np.ndarray

    @classmethod
    def from_matrices(cls, lengths: sp.csr_matrix, metis_weight: sp.csr_matrix, pop) -> "PieceGraph":
        """Build from two symmetric CSR matrices with the same sparsity pattern."""
        lengths, metis_weight = lengths.tocsr(copy=True), metis_weight.tocsr(copy=True)
        for m in (lengths, metis_weight):
            m.sum_duplicates()
            m.sort_indices()
            m.prune()  # slicing can leave spare capacity beyond indptr[-1]
        if not (np.array_equal(lengths.indptr, metis_weight.indptr)
                and np.array_equal(lengths.indices, metis_weight.indices)):
            raise ValueError("length and METIS weight matrices must share one sparsity pattern")
        return cls(lengths.indptr.astype(np.int64), lengths.indices.astype(np.int64),
                   lengths.data.astype(float), np.rint(metis_weight.data).astype(np.int64),
                   np.asarray(pop, dtype=float))

    @property
    def n(self) -> int:
        return len(self.pop)

    def matrix(self) -> sp.csr_matrix:
        """Shared-length adjacency matrix (cached; treat it as read-only)."""
        if getattr(self, "_matrix", None) is None:
            self._matrix = sp.csr_matrix((self.length, self.indices, self.indptr),
                                         shape=(self.n, self.n))
        return self._matrix

    def subgraph(self, nodes: np.ndarray) -> "PieceGraph":
        """The graph induced by ``nodes`` (distinct positions), renumbered ``0..len(nodes)-1``.

        Costs O(edges of ``nodes``), not O(edges of the graph): the repair takes many small
        subgraphs of a large piece.  Entries keep CSR order (columns ascending in each row).
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        order = np.argsort(nodes, kind="stable")
        ranked = nodes[order]
        entry, rows = self.entries(nodes)
        cols = self.indices[entry]
        at = np.minimum(np.searchsorted(ranked, cols), max(len(ranked) - 1, 0))
        keep = ranked[at] == cols if len(ranked) else np.zeros(0, dtype=bool)
        entry, rows, local_cols = entry[keep], rows[keep], order[at[keep]]
        if len(nodes) > 1 and (np.diff(nodes) <= 0).any():
            resort = np.lexsort((local_cols, rows))
            entry, rows, local_cols = entry[resort], rows[resort], local_cols[resort]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(nodes)))]).astype(np.int64)
        return PieceGraph(indptr, local_cols.astype(np.int64), self.length[entry].astype(float),
                          self.metis_weight[entry].astype(np.int64), self.pop[nodes].astype(float))

    def entries(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CSR entry positions of the rows ``nodes`` and the position in ``nodes`` of each entry's row."""
        starts = self.indptr[nodes]
        degree = self.indptr[np.asarray(nodes) + 1] - starts
        first = np.cumsum(degree) - degree
        entry = np.repeat(starts - first, degree) + np.arange(int(degree.sum()))
        return entry, np.repeat(np.arange(len(degree)), degree)

    def split(self, labels: np.ndarray, count: int) -> list["PieceGraph"]:
        """The graphs induced by each label ``0..count-1`` (units labelled -1 are left out), in one pass.

        Each keeps its units in ascending order; entries stay in CSR order, so this costs one
        pass over the edges for all the pieces together, not one per piece.
        """
        labels = np.asarray(labels, dtype=np.int64)
        rows = np.repeat(np.arange(self.n), np.diff(self.indptr))
        keep = (labels[rows] >= 0) & (labels[rows] == labels[self.indices])
        order = np.argsort(labels[rows[keep]], kind="stable")
        rows, cols = rows[keep][order], self.indices[keep][order]
        length, weight = self.length[keep][order], self.metis_weight[keep][order]
        place = np.zeros(self.n, dtype=np.int64)
        sizes = np.bincount(labels[labels >= 0], minlength=count)
        members = np.argsort(np.where(labels >= 0, labels, count), kind="stable")[: sizes.sum()]
        place[members] = np.arange(len(members)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        bounds = np.concatenate([[0], np.cumsum(np.bincount(labels[rows], minlength=count))])
        starts = np.concatenate([[0], np.cumsum(sizes)])
        out = []
        for g in range(count):
            lo, hi = bounds[g], bounds[g + 1]
            local_rows = place[rows[lo:hi]]
            indptr = np.concatenate([[0], np.cumsum(np.bincount(local_rows, minlength=sizes[g]))])
            out.append(PieceGraph(indptr.astype(np.int64), place[cols[lo:hi]].astype(np.int64),
                                  length[lo:hi].astype(float), weight[lo:hi].astype(np.int64),
                                  self.pop[members[starts[g]:starts[g + 1]]].astype(float)))
        return out

    def upper_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each edge once as ``(u, v, length)`` with ``u < v``, sorted by ``u`` then ``v`` (cached)."""
        if getattr(self, "_upper", None) is None:
            rows = np.repeat(np.arange(self.n), np.diff(self.indptr))
            upper = rows < self.indices
            self._upper = (rows[upper], self.indices[upper], self.length[upper])
        return self._upper

    def neighbours(self, u: int) -> np.ndarray:
        return self.indices[self.indptr[u] : self.indptr[u + 1]]


@dataclass
class SplitOutcome:
    """Labels of a piece plus what the repair had to do."""

    labels: np.ndarray
    moves: int = 0
    resplits: int = 0
    stuck: int = 0
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# METIS and contiguity


def metis_labels(graph: PieceGraph, k: int, band: Band, seed: int = 0) -> np.ndarray:
    """Initial k-way partition from METIS (contiguous when METIS manages it)."""
    import pymetis

    if k <= 1 or graph.n <= 1:
        return np.zeros(graph.n, dtype=np.int64)
    vweights = np.maximum(np.rint(graph.pop), 0).astype(np.int64)
    mean = max(vweights.sum() / k, 1.0)
    # ufactor is the allowed overshoot of the heaviest part over the mean, in 1/1000.  Aim well
    # inside the ceiling: METIS treats it as a soft limit on lumpy graphs.
    ufactor = int(np.clip((band.hi / mean - 1.0) * 1000 * 0.6, 5, 500))
    eweights = np.maximum(graph.metis_weight, 1).astype(np.int64)
    adjacency = pymetis.CSRAdjacency(graph.indptr, graph.indices)
    try:
        _, parts = pymetis.part_graph(k, adjacency, vweights=vweights, eweights=eweights,
                                      options=pymetis.Options(ufactor=ufactor, seed=seed, contig=1))
    except Exception:  # METIS refuses contig on some graphs; plain k-way, then make_contiguous
        _, parts = pymetis.part_graph(k, adjacency, vweights=vweights, eweights=eweights,
                                      options=pymetis.Options(ufactor=ufactor, seed=seed))
    return np.asarray(parts, dtype=np.int64)


def make_contiguous(graph: PieceGraph, labels: np.ndarray) -> np.ndarray:
    """Give every stray fragment of a part to the neighbouring part it shares most boundary with.

    The largest fragment (by population, then size) of each part keeps the label.  A fragment
    with no neighbouring part (possible only when ``graph`` itself is disconnected) becomes a
    part of its own, with a new label.
    """
    labels = labels.copy()
    adj = graph.matrix()
    for _ in range(100):
        same = labels[adj.indices] == np.repeat(labels, np.diff(adj.indptr))
        # copies: eliminate_zeros works in place and must not touch the graph's own arrays
        inner = sp.csr_matrix((same.astype(float), adj.indices.copy(), adj.indptr.copy()),
                              shape=adj.shape)
        inner.eliminate_zeros()
        n_frag, frag = connected_components(inner, directed=False)
        frag_label = np.zeros(n_frag, dtype=np.int64)
        frag_label[frag] = labels
        if n_frag == len(np.unique(labels)):
            return labels
        frag_pop = np.bincount(frag, weights=graph.pop + 1e-6, minlength=n_frag)
        best = {}
        for f in np.argsort(-frag_pop, kind="stable"):
            best.setdefault(frag_label[f], f)
        strays = [f for f in range(n_frag) if best[frag_label[f]] != f]
        for f in strays:
            members = np.flatnonzero(frag == f)
            rows = adj[members]
            other = labels[rows.indices]
            outside = other != frag_label[f]
            if not outside.any():
                labels[members] = labels.max() + 1
                continue
            score = np.bincount(other[outside], weights=rows.data[outside] + 1e-9)
            labels[members] = int(np.argmax(score))
    return labels


# --------------------------------------------------------------------------------------------
# repair


class _Repair:
    """Mutable state of the repair of one piece's labels."""

    def __init__(self, graph: PieceGraph, labels: np.ndarray, band: Band, rng, allow_recount: bool,
                 defer: np.ndarray | None = None):
        self.g, self.band, self.rng = graph, band, rng
        self.labels = labels.copy()
        self.allow_recount = allow_recount
        self.defer = defer
        self.part_pop = np.bincount(self.labels, weights=graph.pop, minlength=self.labels.max() + 1)
        # the units of each part, kept up to date, so that every step costs O(size of the parts
        # it touches) and not O(units of the piece): the repair after a rejoin runs on a region
        # of a whole district
        order = np.argsort(self.labels, kind="stable")
        bounds = np.searchsorted(self.labels[order], np.arange(len(self.part_pop) + 1))
        self._members = {p: order[bounds[p]:bounds[p + 1]] for p in range(len(self.part_pop))}
        self.moves = 0
        self.resplits = 0

    # -- helpers ---------------------------------------------------------------------------
    def members(self, part: int) -> np.ndarray:
        """Units of ``part``, ascending."""
        return self._members.get(part, np.zeros(0, dtype=np.int64))

    def used_parts(self) -> np.ndarray:
        return np.asarray(sorted(p for p, m in self._members.items() if len(m)), dtype=np.int64)

    def bad_parts(self) -> np.ndarray:
        used = self.used_parts()
        return used[~self.band.contains(self.part_pop[used])]

    def units_of(self, parts) -> np.ndarray:
        """Units of several parts, ascending."""
        return np.sort(np.concatenate([self.members(p) for p in parts]))

    def neighbour_parts(self, part: int) -> dict[int, float]:
        """Adjacent parts with the length of boundary shared with ``part``."""
        entry, _ = self.g.entries(self.members(part))
        other = self.labels[self.g.indices[entry]]
        outside = other != part
        found, which = np.unique(other[outside], return_inverse=True)
        shared = np.bincount(which, weights=self.g.length[entry][outside] + 1e-9, minlength=len(found))
        return dict(zip(found.tolist(), shared.tolist()))

    def _cut_vertices(self, part: int) -> set[int]:
        nodes = self.members(part)
        sub = self.g.subgraph(nodes)
        rows = np.repeat(np.arange(sub.n), np.diff(sub.indptr))
        g = nx.Graph()
        g.add_nodes_from(range(len(nodes)))
        g.add_edges_from(zip(rows.tolist(), sub.indices.tolist()))
        return {int(nodes[a]) for a in nx.articulation_points(g)}

    def _assign(self, unit_or_units, new_part: int):
        units = np.atleast_1d(unit_or_units)
        old = self.labels[units]
        np.subtract.at(self.part_pop, old, self.g.pop[units])  # in order, as one unit at a time
        grow = new_part + 1 - len(self.part_pop)
        if grow > 0:
            self.part_pop = np.concatenate([self.part_pop, np.zeros(grow)])
        for p in np.unique(old).tolist():
            if p != new_part:
                self._members[p] = np.setdiff1d(self._members[p], units[old == p], assume_unique=True)
        self._members[new_part] = np.union1d(self.members(new_part), units)
        self.labels[units] = new_part
        self.part_pop[new_part] += self.g.pop[units].sum()

    # -- a. boundary moves -----------------------------------------------------------------
    def move_once(self, part: int) -> bool:
        """Move one unit across the boundary of ``part`` towards the band; True if moved."""
        lo, hi = self.band.lo, self.band.hi
        p_pop = self.part_pop[part]
        over = p_pop > hi
        adj = self.g.matrix()
        best, best_score = None, -np.inf
        if over:
            donors, cut = [part], self._cut_vertices(part)
        else:
            donors = list(self.neighbour_parts(part))
            cut = set().union(*(self._cut_vertices(q) for q in donors)) if donors else set()
        for donor in donors:
            for u in self.members(donor):
                pu = self.g.pop[u]
                if pu <= 0 or u in cut:
                    continue
                row = slice(adj.indptr[u], adj.indptr[u + 1])
                nb_parts, nb_len = self.labels[adj.indices[row]], adj.data[row]
                if over:
                    targets = set(nb_parts[nb_parts != part].tolist())
                else:
                    targets = {part} if (nb_parts == part).any() else set()
                for q in targets:
                    src_after = self.part_pop[donor] - pu
                    dst_after = self.part_pop[q] + pu
                    if over:
                        ok = dst_after <= hi and src_after >= lo - 1e-9 or (
                            dst_after <= hi and src_after > hi)  # step towards the band
                    else:
                        ok = src_after >= lo and dst_after <= hi
                    if not ok:
                        continue
                    # prefer units mostly surrounded by the receiving part (keeps shapes compact)
                    share = nb_len[nb_parts == q].sum() / max(nb_len.sum(), 1e-9)
                    closeness = -abs((self.part_pop[part] - pu if over else self.part_pop[part] + pu)
                                     - self.band.target) / self.band.target
                    score = share + 0.5 * closeness
                    if score > best_score:
                        best, best_score = (u, q), score
        if best is None:
            return False
        self._assign(best[0], best[1])
        self.moves += 1
        return True

    # -- b. local re-split -----------------------------------------------------------------
    def clusters(self, part: int, max_size: int):
        """Connected clusters of parts containing ``part``, smallest first."""
        nbrs = sorted(self.neighbour_parts(part).items(), key=lambda kv: -kv[1])
        seen = set()
        frontier = [(part,)]
        for size in range(2, max_size + 1):
            grown = []
            for cluster in frontier:
                around = {}
                for c in cluster:
                    for q, s in (nbrs if c == part else self.neighbour_parts(c).items()):
                        if q not in cluster:
                            around[q] = around.get(q, 0.0) + s
                for q, _ in sorted(around.items(), key=lambda kv: -kv[1])[:4]:
                    key = tuple(sorted(cluster + (q,)))
                    if key not in seen:
                        seen.add(key)
                        grown.append(cluster + (q,))
            for cluster in grown:
                yield cluster
            frontier = grown[:6]

    def resplit(self, part: int, max_size: int = 4, tries: int = 20, max_clusters: int = 16) -> bool:
        """Re-cut ``part`` with a few neighbours; True when every re-cut part is in band.

        At most ``max_clusters`` clusters are tried: a part locked in by its units (e.g. four
        units whose only outside neighbours are too large to join) fails every cluster, and
        the budget keeps that failure cheap (and deterministic, unlike a time limit).
        """
        for attempt, cluster in enumerate(self.clusters(part, max_size)):
            if attempt >= max_clusters:
                return False
            nodes = self.units_of(cluster)
            total = self.g.pop[nodes].sum()
            kmin, kmax = feasible_counts(total, self.band)
            if kmin > kmax:
                continue
            counts = [len(cluster)] if kmin <= len(cluster) <= kmax else []
            if self.allow_recount or not counts:
                counts += sorted(range(kmin, kmax + 1), key=lambda k: abs(k - len(cluster)))
            for k in dict.fromkeys(counts):
                if k != len(cluster) and not self.allow_recount:
                    continue
                sub = tree_split(self.g, nodes, k, self.band, self.rng, tries,
                                 hard=self.labels[nodes] == part)
                if sub is None:
                    continue
                ids = list(cluster) + [len(self.part_pop) + e for e in range(max(0, k - len(cluster)))]
                ids = self._match(nodes, sub, ids, cluster)
                for local in range(k):
                    self._assign(nodes[sub == local], ids[local])
                self.resplits += 1
                return True
        return False

    def region(self, part: int, radius: int, max_parts: int = 16) -> tuple[int, ...]:
        """Parts within ``radius`` steps of ``part`` (nearest first, at most ``max_parts``)."""
        found, frontier = [part], [part]
        for _ in range(radius):
            nxt = []
            for p in frontier:
                for q in self.neighbour_parts(p):
                    if q not in found and len(found) < max_parts:
                        found.append(q)
                        nxt.append(q)
            frontier = nxt
        return tuple(found)

    def recut_region(self, part: int, radii=(2, 3), seeds: int = 2) -> bool:
        """Last resort before giving up on ``part``: re-partition every part within a few steps.

        Small clusters can be locked by a few large units: three grids of 1,765, 1,645 and
        1,438 residents made of eight units (323 ... 987) have no in-band arrangement among
        themselves, while the ring of grids two steps out has many.  The ring is cut afresh
        (METIS plus repair, as in :func:`split_piece`) and each new part keeps the label of the
        old part it overlaps most, so most residents keep their grid.
        """
        n_parts = len(self.used_parts())
        tried: set[frozenset] = set()
        for radius in radii:
            cluster = self.region(part, radius)
            # a ring that is the whole piece is split_piece's own last resort (a whole re-cut)
            if len(cluster) >= n_parts or frozenset(cluster) in tried:
                continue
            tried.add(frozenset(cluster))
            nodes = self.units_of(cluster)
            kmin, kmax = feasible_counts(self.g.pop[nodes].sum(), self.band)
            counts = sorted(range(kmin, kmax + 1), key=lambda k: abs(k - len(cluster)))
            if not self.allow_recount:
                counts = [k for k in counts if k == len(cluster)]
            ring = self.g.subgraph(nodes)
            for k in counts[:2]:
                for seed in range(seeds):
                    outcome = split_piece(ring, k, self.band, seed=int(self.rng.integers(1 << 30)),
                                          last_resort=False)
                    if outcome.stuck:
                        continue
                    sub = outcome.labels
                    k_out = int(sub.max()) + 1
                    ids = list(cluster) + [len(self.part_pop) + e
                                           for e in range(max(0, k_out - len(cluster)))]
                    ids = self._match(nodes, sub, ids, cluster)
                    for local in range(k_out):
                        self._assign(nodes[sub == local], ids[local])
                    self.resplits += 1
                    return True
        return False

    def _match(self, nodes, sub, ids, cluster):
        """Order new parts so each keeps the old label it overlaps most (by population)."""
        from scipy.optimize import linear_sum_assignment

        k = sub.max() + 1
        overlap = np.zeros((k, len(cluster)))
        for a, old in enumerate(cluster):
            here = self.labels[nodes] == old
            overlap[:, a] = np.bincount(sub[here], weights=self.g.pop[nodes][here] + 1e-6, minlength=k)
        rows, cols = linear_sum_assignment(-overlap)
        out = [None] * k
        for r, c in zip(rows, cols):
            out[r] = cluster[c]
        extra = iter(i for i in ids if i not in cluster)
        return [o if o is not None else next(extra) for o in out]

    def run(self, max_rounds: int = 50, moves_first: bool = True, widen: bool = True) -> None:
        hopeless: set[int] = set()  # no move or re-split helped: leave them, report them
        for _ in range(max_rounds):
            bad = [p for p in self.bad_parts() if p not in hopeless]
            if not bad:
                break
            progress = False
            for part in sorted(bad, key=lambda p: -abs(self.part_pop[p] - self.band.target)):
                if self.band.contains(self.part_pop[part]) or not len(self.members(part)):
                    continue
                if moves_first:
                    moved = 0
                    while moved < 40 and not self.band.contains(self.part_pop[part]) and self.move_once(part):
                        moved += 1
                    progress |= moved > 0
                    if self.band.contains(self.part_pop[part]):
                        continue
                if self.defer is not None and self.defer[self.members(part)].any():
                    hopeless.add(part)  # left to a later repair that sees beyond this graph
                    continue
                if self.resplit(part, max_size=5) or (widen and self.recut_region(part)):
                    progress = True
                else:
                    hopeless.add(part)
            if not progress:
                break
        self.stuck = sorted(p for p in self.bad_parts())


def repair(graph: PieceGraph, labels: np.ndarray, band: Band, rng: np.random.Generator,
           *, allow_recount: bool = True, moves_first: bool = True, widen: bool = True,
           defer: np.ndarray | None = None) -> SplitOutcome:
    """Bring every part of a contiguous labelling into the band where local changes can.

    Parameters
    ----------
    graph : PieceGraph
    labels : numpy.ndarray of int
        Part of each unit; every part contiguous.
    band : Band
    rng : numpy.random.Generator
    allow_recount : bool
        Whether a local re-split may change the number of parts (needed after growth).
    moves_first : bool
        Try single-unit boundary moves before re-splitting (fewest residents change grid).
    widen : bool
        When a bad part and its near neighbours cannot be fixed, re-partition the ring of parts
        within two or three steps (:meth:`_Repair.recut_region`).
    defer : numpy.ndarray of bool, optional
        Units whose parts get boundary moves only: a part holding one is left out of band rather
        than re-split (the edge of a sub-piece, repaired later together with the other side).

    Returns
    -------
    SplitOutcome
    """
    state = _Repair(graph, labels, band, rng, allow_recount, defer)
    state.run(moves_first=moves_first, widen=widen)
    return SplitOutcome(state.labels, moves=state.moves, resplits=state.resplits,
                        stuck=len(state.stuck))


def split_piece(graph: PieceGraph, k: int, band: Band, seed: int = 0, *,
                last_resort: bool = True, defer: np.ndarray | None = None) -> SplitOutcome:
    """Partition a connected piece into ``k`` contiguous parts, in band wherever feasible.

    Parameters
    ----------
    graph : PieceGraph
        Connected local graph with populations.
    k : int
        Number of parts (see :func:`choose_count`).
    band : Band
    seed : int
    last_resort : bool
        Whether a stuck repair may widen to rings of parts and, for small pieces, re-cut the
        whole piece along spanning trees (slow on lumpy pieces; off when this call is itself
        the widened repair of a larger piece).
    defer : numpy.ndarray of bool, optional
        Units whose out-of-band parts are left to a later repair (see :func:`repair`).

    Returns
    -------
    SplitOutcome
        ``labels`` are ``0..m-1`` (``m`` may differ from ``k`` when the repair had to change the
        count to reach the band).

    Examples
    --------
    A 4 x 4 lattice of 250-resident units cut into three grids of 1,000-1,500:

    >>> import networkx as nx
    >>> lattice = sp.csr_matrix(nx.to_scipy_sparse_array(nx.grid_2d_graph(4, 4))).astype(float)
    >>> g = PieceGraph.from_matrices(lattice, lattice, np.full(16, 250.0))
    >>> pops = np.bincount(split_piece(g, 3, Band(1000, 1500, 1250)).labels, weights=g.pop)
    >>> len(pops), bool(((pops >= 1000) & (pops <= 1500)).all())
    (3, True)
    """
    rng = np.random.default_rng(seed)
    if k <= 1:
        return SplitOutcome(np.zeros(graph.n, dtype=np.int64))
    labels = make_contiguous(graph, metis_labels(graph, k, band, seed))
    outcome = repair(graph, labels, band, rng, widen=last_resort, defer=defer)
    if last_resort and outcome.stuck and graph.n <= _WHOLE_RECUT_MAX_UNITS:
        # local repair stuck: try cutting the whole (small) piece along spanning trees instead
        whole = tree_split(graph, np.arange(graph.n), k, band, rng, tries=20, restarts=2)
        if whole is not None:
            outcome = SplitOutcome(whole, outcome.moves, outcome.resplits + 1, 0,
                                   ["local repair failed; whole piece re-cut along a spanning tree"])
    _, outcome.labels = np.unique(outcome.labels, return_inverse=True)
    return outcome
