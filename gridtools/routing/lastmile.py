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

A *pocket* is the same thing one step further: public streets (a campus, an estate) whose only way
to the rest of the network is a private road.  A point on such a street snaps onto its own road
(0 m), and :func:`pocket_ends` walks the pocket's streets and its private exits until it reaches the
vehicle's *main network* (the largest strongly connected part of the roads it may use); those
junctions seed the route search.  The walk stops at the first main-network junction, so a private
road is driven only between a pocket and the main network, never between two points of the main
network (mid-route).
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from gridtools.routing import restrictions as R
from gridtools.routing.engines import INF
from gridtools.routing.snapping import EdgeSnap, best_path, leave_ends, point_ends, reach_ends

#: Most junctions a restricted stretch may reach (a private estate, not a city).
MAX_NODES = 256
#: Most junctions a pocket walk may visit (its streets and private exits: a campus, not a city).
MAX_POCKET_NODES = 3000
#: Roads (usable or private) looked at around a point cut off from the main network.
POCKET_CANDIDATES = 64


def private_arcs(network, blocked: np.ndarray, vehicle, at) -> np.ndarray:
    """Per arc: closed to the vehicle only by private access, by its way or by a gate at its head.

    A ``barrier=lift_gate`` + ``access=private`` at a campus entrance closes the road like
    ``access=private`` on the way: the owner opens it for the truck that delivers inside.

    Examples
    --------
    >>> private = private_arcs(net, rules.blocked, truck(), None)      # doctest: +SKIP
    """
    from gridtools.routing import tags as T

    net = network
    mask = blocked == R.PRIVATE
    gate = blocked == R.NODE_ACCESS
    tags = net.node_tags
    if gate.any() and len(tags):
        strict, _ = R.way_access(tags, vehicle, at, "forward")
        lenient, _ = R.way_access(tags, vehicle, at, "forward", private_ok=True)
        per_node = np.zeros(int(net.node_base.max()) + 1, bool)
        per_node[tags["node"].to_numpy()] = (strict == T.FORBIDDEN) & (lenient < T.FORBIDDEN)
        mask |= gate & per_node[net.node_base[net.arc_v]]
    return mask


def end_weights(weights: np.ndarray, blocked: np.ndarray, private: np.ndarray) -> np.ndarray:
    """Weights of the arcs a restricted stretch may drive: usable and private roads, open connectors."""
    w = weights.copy()
    w[(blocked != R.OK) & ~private] = INF
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


def restricted_ends(network, weights: np.ndarray, private: np.ndarray, snap: EdgeSnap, leave: bool,
                    max_m: float, main: np.ndarray | None = None) -> list:
    """Entries (origin, ``leave``) or exits (destination) of a point on a private road.

    Parameters
    ----------
    network : RoadNetwork
    weights : numpy.ndarray
        From :func:`end_weights` (``INF`` where a restricted stretch may not go).
    private : numpy.ndarray of bool
        From :func:`private_arcs`.
    snap : EdgeSnap
        The point (first entry) snapped onto its private road.
    leave : bool
        True for an origin (walk forwards from the point), False for a destination (backwards).
    max_m : float
        Longest restricted stretch.
    main : numpy.ndarray of bool, optional
        Per graph node: in the vehicle's main network.  The walk stops at such a junction, so a
        private road between two junctions of the main network is never driven.

    Returns
    -------
    list of (node, cost, arcs, fraction)
        As :func:`gridtools.routing.snapping.leave_ends` / ``reach_ends``: every junction reached
        over private roads, the cost and arcs between it and the point, and where on the
        point's own arc the route starts (origin) or ends (destination).

    Examples
    --------
    >>> ends = restricted_ends(net, end_weights(w, rules.blocked, private), private, snap, True, 1000)  # doctest: +SKIP
    """
    net = network
    frac = float(snap.fraction[0])
    heap, best = [], {}
    for col, a, node, cost in point_ends(net, weights, weights, snap, 0, leave):
        if col == 2 or not private[a]:
            continue  # a point on a junction, or on a usable road: the search's part
        share = 1.0 - frac if col == 1 else frac  # where the point lies along arc a
        metres = float(net.arc_length[a]) * ((1.0 - share) if leave else share)
        if metres <= max_m:
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
        if main is not None and main[node]:
            continue
        for b in order[start[node]:start[node + 1]]:
            b = int(b)
            if weights[b] >= INF or (not private[b] and net.arc_seg[b] >= 0):
                continue  # usable roads are the search's part; private roads and connectors are walked
            more = metres + float(net.arc_length[b])
            nxt = int(net.arc_v[b]) if leave else int(net.arc_u[b])
            if more <= max_m and nxt not in best:
                heapq.heappush(heap, (cost + int(weights[b]), more, nxt, chain + (b,), share))
    return out


def private_metres_to_main(network, weights: np.ndarray, private: np.ndarray, main: np.ndarray,
                           leave: bool) -> np.ndarray:
    """Per node: fewest metres of private road on a walk to (``leave``) or from the main network.

    The walk is :func:`pocket_ends`' (arcs with finite ``weights``); ``inf`` where no walk exists.
    A lower bound that lets :func:`pocket_ends` skip a point whose road cannot lead out within
    its limit, without walking the pocket.

    Examples
    --------
    >>> to_main = private_metres_to_main(net, w_end, private, main, leave=True)      # doctest: +SKIP
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    net = network
    ok = np.flatnonzero(weights < INF)
    # searched from the main network: backwards for a walk towards it; 1 nm per arc so no weight is 0
    tails, heads = (net.arc_v[ok], net.arc_u[ok]) if leave else (net.arc_u[ok], net.arc_v[ok])
    metres = np.where(private[ok], net.arc_length[ok], 0.0) + 1e-9
    order = np.lexsort((metres, heads, tails))  # parallel arcs: keep the shortest (csr_matrix would add them)
    first = np.r_[True, (tails[order][1:] != tails[order][:-1]) | (heads[order][1:] != heads[order][:-1])]
    keep = order[first]
    graph = csr_matrix((metres[keep], (tails[keep], heads[keep])), shape=(net.n_nodes, net.n_nodes))
    sources = np.flatnonzero(main)
    if not len(sources):
        return np.full(net.n_nodes, np.inf)
    return dijkstra(graph, directed=True, indices=sources, min_only=True)


def pocket_ends(network, weights: np.ndarray, private: np.ndarray, main: np.ndarray, snap: EdgeSnap,
                leave: bool, max_m: float, dead: set | None = None, exits: np.ndarray | None = None) -> list:
    """Entries into (origin) or exits from (destination) the main network of a point in a pocket.

    Parameters
    ----------
    network : RoadNetwork
    weights : numpy.ndarray
        From :func:`end_weights` (usable and private roads finite).
    private : numpy.ndarray of bool
        From :func:`private_arcs`.
    main : numpy.ndarray of bool
        Per graph node: in the vehicle's main network.
    snap : EdgeSnap
        The point (first entry) snapped onto its road (usable or private).
    leave : bool
        True for an origin (walk forwards from the point), False for a destination (backwards).
    max_m : float
        Most metres of private road between the point and the main network.
    dead : set, optional
        Nodes of earlier walks that found nothing (same direction and limit): a point whose road
        leads only there is not walked again, and a fruitless walk adds its nodes.
    exits : numpy.ndarray, optional
        :func:`private_metres_to_main` for this direction: a point none of whose first junctions can
        reach the main network within ``max_m`` of private road is not walked.

    Returns
    -------
    list of (node, cost, arcs, fraction)
        As :func:`gridtools.routing.snapping.leave_ends`: every main-network junction reached
        from the point over the pocket's streets and at most ``max_m`` of private road (the walk
        stops there), with the cost and arcs between it and the point.  Empty when the walk
        finds no way to the main network (a clipped fragment, a private stretch too long).

    Examples
    --------
    >>> w_end = end_weights(w, rules.blocked, private)                                # doctest: +SKIP
    >>> ends = pocket_ends(net, w_end, private, main, snap, True, 1000)               # doctest: +SKIP
    """
    net = network
    seeds = leave_ends(net, weights, snap) if leave else reach_ends(net, weights, weights, snap)
    if dead is not None and seeds and all(seed[0] in dead for seed in seeds):
        return []
    heap = []
    for node, cost, arcs, share in seeds:
        closed = sum(float(net.arc_length[a]) for a in arcs if private[a])
        metres = closed * ((1.0 - share) if leave else share)
        if metres <= max_m and (exits is None or metres + exits[node] <= max_m + 1e-6):
            heapq.heappush(heap, (cost, metres, node, tuple(arcs), share))
    if not heap:
        return []
    order, start = _adjacency(net, forward=leave)
    best, out = {}, []
    while heap and len(best) < MAX_POCKET_NODES:
        cost, metres, node, chain, share = heapq.heappop(heap)
        if node in best:
            continue
        best[node] = cost
        if main[node]:  # the main network: the search takes over; no private road beyond this point
            out.append((node, cost, list(chain) if leave else list(reversed(chain)), share))
            continue
        for b in order[start[node]:start[node + 1]]:
            b = int(b)
            if weights[b] >= INF:
                continue
            more = metres + (float(net.arc_length[b]) if private[b] else 0.0)
            nxt = int(net.arc_v[b]) if leave else int(net.arc_u[b])
            if more <= max_m and nxt not in best:
                heapq.heappush(heap, (cost + int(weights[b]), more, nxt, chain + (b,), share))
    if not out and dead is not None and not heap:  # explored to the end: nothing from here leads out
        dead.update(best)
    return out


def may_lead_out(network, weights: np.ndarray, private: np.ndarray, cands: EdgeSnap, leave: bool, max_m: float,
                 exits: np.ndarray | None = None) -> np.ndarray:
    """Per candidate snap: whether :func:`pocket_ends` would walk from it at all (vectorised).

    False where no way onto the graph from the point (the seeds of :func:`pocket_ends`, with the
    same arithmetic) keeps within ``max_m`` of private road, counting ``exits`` (the private metres
    still needed to reach the main network): :func:`pocket_ends` returns ``[]`` there before
    walking, so such candidates can be skipped without changing any answer.

    Examples
    --------
    >>> may_lead_out(net, w_end, private, cands, True, 1000.0, to_main)     # doctest: +SKIP
    """
    from gridtools.routing.snapping import segment_arcs, segment_ends

    net = network
    frac = cands.fraction
    # both columns at once: along (0) and against (1) the segment's drawing, as point_ends
    a = segment_arcs(net)[np.maximum(cands.seg, 0)]
    arc = np.maximum(a, 0)
    share = np.column_stack([frac, 1.0 - frac])
    closed = np.where(private[arc], net.arc_length[arc], 0.0)
    metres = closed * ((1.0 - share) if leave else share)
    node = net.arc_v[arc] if leave else net.arc_u[arc]
    fits = (metres <= max_m) & ((metres + exits[node] <= max_m + 1e-6) if exits is not None else True)
    ok = ((cands.seg >= 0)[:, None] & (a >= 0) & (weights[arc] < INF) & fits).any(axis=1)
    end = np.where(frac <= 0.0, 0, 1)
    on_end = (cands.seg >= 0) & ((frac <= 0.0) | (frac >= 1.0))  # a point on a junction starts there (0 m)
    base = segment_ends(net)[np.maximum(cands.seg, 0), end]
    node = net.node_depart[base] if leave else base
    ok |= on_end & ((0.0 <= max_m) & ((exits[node] <= max_m + 1e-6) if exits is not None else True))
    return ok


def pocket_snaps(network, cands, metric, private: np.ndarray, main: np.ndarray, max_m: float, exits=(None, None),
                 beat: float | None = None):
    """(o, d, path) from the nearest roads, usable or private, that lead to the main network; or None.

    Each point's candidate roads (usable or closed only by ``private``, and the nearest ones of the
    main network: :func:`gridtools.routing.fallback.pocket_snaps` finds them) are walked nearest
    first (:func:`pocket_ends`); the first that reaches the main network wins.  The main network
    is strongly connected, so the two winners always connect.

    Parameters
    ----------
    network : RoadNetwork
    cands : pair of EdgeSnap
        The origin's and the destination's candidate snaps.
    metric : Metric
        With ``end_weights`` (:func:`end_weights`) and ``arrive_weights``.
    private, main : numpy.ndarray of bool
        :func:`private_arcs`; main-network nodes.
    max_m : float
        Most metres of private road at either end.
    exits : pair of numpy.ndarray or None
        :func:`private_metres_to_main` towards (origin) and from (destination) the main network.
    beat : float, optional
        A total snap distance found otherwise: None as soon as the picks cannot add up to less
        (the candidates are walked nearest first, so the sum only grows).

    Examples
    --------
    >>> o, d, path = pocket_snaps(net, (co, cd), metric, private, main, 1000)  # doctest: +SKIP
    """
    worth = [may_lead_out(network, metric.end_weights, private, snaps, leave, max_m, to_main)
             for snaps, leave, to_main in zip(cands, (True, False), exits)]
    if not worth[1].any():  # no destination candidate can lead out
        return None
    # the least the other point adds: the origin's pick is not known yet, the destination's is
    rest = [float(cands[1].distance_m[worth[1]].min()), None]
    picks = []
    for snaps, leave, to_main, ok, other in zip(cands, (True, False), exits, worth, rest):
        dead: set = set()
        for i in np.argsort(snaps.distance_m, kind="stable"):
            if not ok[i]:  # pocket_ends would return [] before walking
                continue
            least = snaps.distance_m[i] + (other if leave else picks[0][0].distance_m[0])
            if beat is not None and not least < beat:
                return None
            snap = snaps.take(int(i))
            ends = pocket_ends(network, metric.end_weights, private, main, snap, leave, max_m, dead, to_main)
            if ends:
                picks.append((snap, ends))
                break
        else:
            return None
    (o, starts), (d, stops) = picks
    path = best_path(network, metric, o, d, metric.arrive_weights, starts, stops)
    return (o, d, path) if math.isfinite(path[0]) else None


def stretches(network, arcs: np.ndarray, start_at: float, end_at: float, private: np.ndarray, main: np.ndarray,
              why) -> list:
    """The private stretches a route drives at its start and its end (``Route.restricted``).

    The start stretch runs up to the route's first junction of the main network (the end stretch
    from its last one); private roads can only be there (the route search uses none).  ``why``
    turns arcs into the reason text.  ``pocket`` says the point lies on a public street behind the
    private road (not on the private road itself).

    Examples
    --------
    >>> stretches(net, route.arcs, route.start_at, route.end_at, private, main, str)  # doctest: +SKIP
    """
    net = network
    out = []
    for role in ("origin", "destination"):
        hits = main[net.arc_v[arcs]] if role == "origin" else main[net.arc_u[arcs]][::-1]  # from that end
        n = int(np.argmax(hits)) + 1 if hits.any() else len(arcs)
        part = arcs[:n] if role == "origin" else arcs[len(arcs) - n:]
        part = part[private[part]] if len(part) else part
        if not len(part) or (role == "destination" and out and n == len(arcs)):
            continue
        on_point = part[0] == arcs[0] if role == "origin" else part[-1] == arcs[-1]
        out.append({**describe(net, part, start_at if part[0] == arcs[0] else 0.0,
                               end_at if part[-1] == arcs[-1] else 1.0, role, why(part)), "pocket": not on_point})
    return out


def describe(network, arcs: np.ndarray, start_at: float, end_at: float, role: str, why: str) -> dict:
    """The restricted stretch ``arcs`` of one end: ``{"end", "osmids", "length_m", "why"}``.

    ``start_at`` / ``end_at``: where on its first / last arc the stretch starts / ends (0.0 / 1.0 where
    that arc is not the route's first / last).
    """
    net = network
    share = np.ones(len(arcs))
    if len(arcs) == 1:
        share[0] = max(end_at - start_at, 0.0)
    elif len(arcs):  # a stretch that is the whole route starts part-way along its first arc and ends on its last
        share[0], share[-1] = 1.0 - start_at, end_at
    way = net.arc_way[arcs]
    osm = net.way_osmid[way[way >= 0]]
    osmids = list(dict.fromkeys(int(x) for x in osm))
    return {"end": role, "osmids": osmids, "length_m": float((net.arc_length[arcs] * share).sum()), "why": why}


def warning(part: dict) -> str:
    """The sentence for one restricted stretch (from ``Route.restricted``)."""
    ways = ", ".join(f"way {w}" for w in part["osmids"])
    if part.get("pocket"):
        side = "leaves the origin's" if part["end"] == "origin" else "enters the destination's"
        return (f"the route {side} streets over {part['length_m']:,.0f} m of road closed to this vehicle ({ways}: "
                f"{part['why']}), the only way between them and the roads it may use")
    edge = "first" if part["end"] == "origin" else "last"
    return (f"the {edge} {part['length_m']:,.0f} m are on a road closed to this vehicle ({ways}: "
            f"{part['why']}), driven only because the {part['end']} lies on it")
