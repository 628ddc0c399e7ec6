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
