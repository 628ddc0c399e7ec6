"""Which parts of a road network connect to which: strongly connected parts and reachability.

Used by the router to tell a point on a clipped fragment of the extract (cut off even with no
restriction, so it may be re-snapped farther) from one closed in by the vehicle's restrictions.
"""

from __future__ import annotations

import numpy as np

from gridtools.routing.snapping import segment_arcs


def largest_strong_part(n_nodes: int, tails: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """Per node: in the largest strongly connected part of the graph of arcs ``tails`` -> ``heads``.

    Examples
    --------
    >>> largest_strong_part(3, np.array([0, 1, 1]), np.array([1, 0, 2])).tolist()
    [True, True, False]
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    graph = csr_matrix((np.ones(len(tails)), (tails, heads)), shape=(n_nodes, n_nodes))
    _, label = connected_components(graph, directed=True, connection="strong")
    return label == np.bincount(label).argmax()


def reached_from(n_nodes: int, tails: np.ndarray, heads: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Per node: reachable over the arcs ``tails`` -> ``heads`` from some node where ``sources`` holds.

    Examples
    --------
    >>> reached_from(3, np.array([0, 1]), np.array([1, 2]), np.array([False, True, False])).tolist()
    [False, True, True]
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import breadth_first_order

    # one extra node with an arc to every source: a single breadth-first search covers them all
    hub = np.full(int(sources.sum()), n_nodes)
    graph = csr_matrix((np.ones(len(tails) + len(hub)), (np.r_[tails, hub], np.r_[heads, np.flatnonzero(sources)])),
                       shape=(n_nodes + 1, n_nodes + 1))
    reached = np.zeros(n_nodes + 1, bool)
    reached[breadth_first_order(graph, n_nodes, directed=True, return_predecessors=False)] = True
    return reached[:n_nodes]


def main_reach(network) -> tuple[np.ndarray, np.ndarray]:
    """Per graph node, over every arc as drawn (one-ways kept, no restriction applied): (reachable from
    the whole graph's largest strongly connected part, reaches it); cached on the network."""
    net = network

    def compute():
        main = largest_strong_part(net.n_nodes, net.arc_u, net.arc_v)
        return (reached_from(net.n_nodes, net.arc_u, net.arc_v, main),
                reached_from(net.n_nodes, net.arc_v, net.arc_u, main))

    return net.derived("main_reach", compute)


def cut_off(network, seg: int, role: str) -> bool:
    """Whether a point on segment ``seg`` is cut off from the network's main part even with no restriction.

    Direction-aware: a ``destination`` is cut off when no arc along the segment can be entered from
    the main part (a clipped one-way fragment entered only from outside the extract), an ``origin``
    when no arc along it leads back there.  Only the roads' own shape and one-ways count, never a
    vehicle's restrictions, so a point closed in by a limit, a ban or a ban zone is not cut off.

    Examples
    --------
    >>> cut_off(net, int(snap.seg[0]), "destination")                  # doctest: +SKIP
    True
    """
    net, (from_main, to_main) = network, main_reach(network)
    arcs = segment_arcs(net)[seg]
    arcs = arcs[arcs >= 0]
    return not (from_main[net.arc_u[arcs]] if role == "destination" else to_main[net.arc_v[arcs]]).any()


def reaches_at_least(indptr: np.ndarray, indices: np.ndarray, starts, n: int, node_base=None) -> bool:
    """Whether a breadth-first walk from ``starts`` over a CSR graph reaches at least ``n`` nodes.

    Stops as soon as ``n`` are found, so a large district costs ``n`` steps, not its size.  With
    ``node_base``, the copies of a split junction count once.

    Examples
    --------
    >>> indptr, indices = np.array([0, 1, 2, 2]), np.array([1, 2])   # 0 -> 1 -> 2
    >>> reaches_at_least(indptr, indices, [0], 3), reaches_at_least(indptr, indices, [1], 3)
    (True, False)
    """
    seen = {int(s) for s in starts}
    junctions = {int(node_base[s]) for s in seen} if node_base is not None else seen
    todo = list(seen)
    while todo and len(junctions) < n:
        u = todo.pop()
        for v in indices[indptr[u]:indptr[u + 1]].tolist():
            if v not in seen:
                seen.add(v)
                todo.append(v)
                if node_base is not None:
                    junctions.add(int(node_base[v]))
    return len(junctions if node_base is not None else seen) >= n


def reach_parts(n_nodes: int, tails: np.ndarray, heads: np.ndarray) -> tuple:
    """Per node of a graph, what :func:`pairs_connect` needs to tell without a search whether one
    node can reach another: (strong part, weak part, reaches the largest strong part, reached from
    it, basin, source basin).

    A node that cannot reach the largest strong part reaches only such nodes, all in its *basin*
    (its weak part among them; -1 for the other nodes); a node not reached from the largest part is
    reached only from its *source basin* (the same among the nodes not reached from it).

    Examples
    --------
    >>> strong, weak, to_main, from_main, basin, source = reach_parts(4, np.array([0, 1, 1]), np.array([1, 0, 2]))
    >>> weak.tolist(), to_main.tolist(), from_main.tolist(), basin.tolist()
    ([0, 0, 0, 1], [True, True, False, False], [True, True, True, False], [-1, -1, 2, 3])
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    def parts(keep, connection):
        graph = csr_matrix((np.ones(int(keep.sum())), (tails[keep], heads[keep])), shape=(n_nodes, n_nodes))
        return connected_components(graph, directed=True, connection=connection)[1]

    every = np.ones(len(tails), bool)
    strong, weak = parts(every, "strong"), parts(every, "weak")
    main = strong == np.bincount(strong).argmax()
    to_main, from_main = reached_from(n_nodes, heads, tails, main), reached_from(n_nodes, tails, heads, main)
    basin, source = (np.where(out, -1, parts(~out[tails] & ~out[heads], "weak")) for out in (to_main, from_main))
    return strong, weak, to_main, from_main, basin, source


def pairs_connect(parts, tails: np.ndarray, tails_ok: np.ndarray, heads: np.ndarray, heads_ok: np.ndarray):
    """(yes, no): per pair of rows, whether some usable start of row ``i`` surely reaches / surely cannot
    reach some usable end of row ``j`` (neither: only a search can tell).

    Parameters
    ----------
    parts : tuple
        :func:`reach_parts` of the graph searched.
    tails, tails_ok : (n, c) numpy.ndarray
        Start nodes of every row and whether each may be used.
    heads, heads_ok : (m, e) numpy.ndarray
        End nodes and whether each may be used.

    Returns
    -------
    tuple of (n, m) numpy.ndarray of bool
        ``yes``: a start and an end in one strong part, or a start that reaches the largest strong
        part and an end reached from it.  ``no``: for every usable start and end, they lie in
        different weak parts, or the start cannot reach the largest part and the end is not in its
        basin, or the end cannot be reached from it and the start is not in its source basin.

    Examples
    --------
    >>> parts = reach_parts(3, np.array([0, 1, 1]), np.array([1, 0, 2]))  # 0 <-> 1 -> 2
    >>> yes, no = pairs_connect(parts, np.array([[2], [0]]), np.ones((2, 1), bool), np.array([[1]]), np.ones((1, 1), bool))
    >>> yes.ravel().tolist(), no.ravel().tolist()
    ([False, True], [True, False])
    """
    strong, weak, to_main, from_main, basin, source = parts
    a, b = tails[:, :, None, None], heads[None, None, :, :]  # (n, c, 1, 1) against (1, 1, m, e)
    ok = tails_ok[:, :, None, None] & heads_ok[None, None, :, :]
    yes = ok & ((strong[a] == strong[b]) | (to_main[a] & from_main[b]))
    no = (~ok | (weak[a] != weak[b]) | (~to_main[a] & (basin[a] != basin[b]))
          | (~from_main[b] & (source[a] != source[b])))
    return yes.any(axis=(1, 3)), no.all(axis=(1, 3))
