"""A route's first or last stretch on a private road: the only way to reach a point on that road.

A yard, a depot's access road or a farm track is often tagged ``access=private``: closed to
through traffic, but the truck that delivers there must drive it.  Valhalla and OSRM allow such
roads at the start and end of a route only; so does gridtools, and it says so.  When the point
lies on a road closed to the vehicle *only* by ``private`` (blocked code
:data:`~gridtools.routing.restrictions.PRIVATE`, no limit, barrier or ban) and that road is nearer
than every road the vehicle may use, :func:`restricted_ends` walks the private roads from the
point (at most ``settings.route_max_restricted_end_m``) and hands every junction it reaches to the
route search as a seeded source (origin) or target (destination).  The route then uses private
roads only between the point and the legal network, never in between, and ``Route.restricted``
names the ways and metres.
"""

from __future__ import annotations

import heapq

import numpy as np

from gridtools.routing import restrictions as R
from gridtools.routing.engines import INF
from gridtools.routing.snapping import EdgeSnap, positions, segment_arcs

#: Most junctions a restricted stretch may reach (a private estate, not a city).
MAX_NODES = 256


def end_weights(weights: np.ndarray, blocked: np.ndarray) -> np.ndarray:
    """Weights of the arcs a restricted stretch may drive: private roads and open connectors."""
    w = weights.copy()
    w[(blocked != R.OK) & (blocked != R.PRIVATE)] = INF
    return w


def _adjacency(network, forward: bool):
    """(arcs sorted by tail or head, first index per node) for walking the graph arc by arc."""
    net = network

    def compute():
        key = net.arc_u if forward else net.arc_v
        order = np.argsort(key, kind="stable")
        start = np.searchsorted(key[order], np.arange(net.n_nodes + 1))
        return order, start

    return net.derived("arcs_by_tail" if forward else "arcs_by_head", compute)


def restricted_ends(network, weights: np.ndarray, blocked: np.ndarray, snap: EdgeSnap, leave: bool,
                    max_m: float) -> list:
    """Entries (origin, ``leave``) or exits (destination) of a point on a private road.

    Parameters
    ----------
    network : RoadNetwork
    weights : numpy.ndarray
        From :func:`end_weights` (``INF`` where a restricted stretch may not go).
    blocked : numpy.ndarray
        The vehicle's block codes (``ArcRules.blocked``).
    snap : EdgeSnap
        The point (first entry) snapped onto its private road.
    leave : bool
        True for an origin (walk forwards from the point), False for a destination (backwards).
    max_m : float
        Longest restricted stretch.

    Returns
    -------
    list of (node, cost, arcs, fraction)
        As :func:`gridtools.routing.snapping.leave_ends` / ``reach_ends``: every junction reached
        over private roads, the cost and arcs between it and the point, and where on the
        point's own arc the route starts (origin) or ends (destination).

    Examples
    --------
    >>> ends = restricted_ends(net, end_weights(w, rules.blocked), rules.blocked, snap, True, 1000)  # doctest: +SKIP
    """
    net = network
    seg, frac = int(snap.seg[0]), float(snap.fraction[0])
    heap, best = [], {}
    for col in (0, 1):
        a = int(segment_arcs(net)[seg, col])
        if a < 0 or weights[a] >= INF or blocked[a] != R.PRIVATE:
            continue
        share = 1.0 - frac if col == 1 else frac  # where the point lies along arc a
        pos = int(positions(weights, np.array([a]), np.array([frac]), col == 1)[0])
        cost = int(weights[a]) - pos if leave else pos
        metres = float(net.arc_length[a]) * ((1.0 - share) if leave else share)
        node = int(net.arc_v[a]) if leave else int(net.arc_u[a])
        heapq.heappush(heap, (cost, metres, node, (a,), share))
    order, start = _adjacency(net, forward=leave)
    out = []
    while heap and len(out) < MAX_NODES:
        cost, metres, node, chain, share = heapq.heappop(heap)
        if node in best:
            continue
        best[node] = cost
        arcs = list(chain) if leave else list(reversed(chain))
        out.append((node, cost, arcs, share))
        for b in order[start[node]:start[node + 1]]:
            b = int(b)
            if weights[b] >= INF or (blocked[b] == R.OK and net.arc_seg[b] >= 0):
                continue  # usable roads are the search's part; private roads and connectors are walked
            more = metres + float(net.arc_length[b])
            nxt = int(net.arc_v[b]) if leave else int(net.arc_u[b])
            if more <= max_m and nxt not in best:
                heapq.heappush(heap, (cost + int(weights[b]), more, nxt, chain + (b,), share))
    return out


def describe(network, arcs: np.ndarray, start_at: float, end_at: float, role: str, why: str) -> dict:
    """The restricted stretch ``arcs`` of one end: ``{"end", "osmids", "length_m", "why"}``."""
    net = network
    share = np.ones(len(arcs))
    if len(arcs) == 1:
        share[0] = max(end_at - start_at, 0.0)
    elif len(arcs):
        if role == "origin":
            share[0] = 1.0 - start_at
        else:
            share[-1] = end_at
    way = net.arc_way[arcs]
    osm = net.way_osmid[way[way >= 0]]
    osmids = list(dict.fromkeys(int(x) for x in osm))
    return {"end": role, "osmids": osmids, "length_m": float((net.arc_length[arcs] * share).sum()), "why": why}
