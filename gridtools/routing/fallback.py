"""When the nearest snaps give no route: the other roads within reach, pockets, the far re-snap.

:meth:`Router.route <gridtools.routing.Router.route>` snaps both points onto their nearest usable
roads; when those do not connect (a clipped fragment, a one-way stub, a pocket closed by a height
limit or a private gate), this module finds the ends that do:

* :func:`pocket_snaps`: the nearest roads, usable or closed only by ``private``, whose walk leads to
  the vehicle's main network (:func:`gridtools.routing.lastmile.pocket_ends`);
* :func:`reachable_snaps`: the pair of usable roads within reach (the nearest ones and the nearest of
  the main network) with the smallest total snap distance that has a route (one many-to-many query);
* the router keeps the one with the smaller total snap distance (the reachable pair on a tie);
* :func:`closed_districts`: a point whose nearest road lies in a large pocket of the vehicle's own
  roads (a closed district) is not moved off that road by either search.

Both look at the same few nearest-road searches around the same two points, so one
:class:`NearRoads` per route makes each search once: its candidates of the usable-or-private index
also answer the usable and main-network indexes (whose segments are subsets of it) whenever they
prove the answer, and the pocket's total snap distance bounds the reachable pair from below before
its many-to-many query is run.  The answers are those of a separate search of every index.
"""

from __future__ import annotations

import math

import numpy as np

from gridtools.routing import lastmile
from gridtools.routing.connectivity import cut_off, pairs_connect, reach_parts, reaches_at_least
from gridtools.routing.engines import INF
from gridtools.routing.snapping import (EdgeSnap, arrivals, best_path, departures, end_nodes, matrix_costs,
                                        same_arc_cost, segment_arcs)

#: Roads looked at per point and index by :func:`reachable_snaps` (the nearest, and those of the main network).
REACHABLE_CANDIDATES = 12
#: Usable-or-private roads searched once per point; the lists of every index are filtered from them.
WIDE_CANDIDATES = 256


class NearRoads:
    """The nearest-road searches of one route's two points, each made once.

    Parameters
    ----------
    index : SegmentIndex
    xy : (2, 2) numpy.ndarray
        Origin and destination in the network's metric CRS.

    Examples
    --------
    >>> near = NearRoads(router_index, xy)                                   # doctest: +SKIP
    >>> near.candidates(0, edge_tree, 500.0, 12).seg                          # doctest: +SKIP
    """

    def __init__(self, index, xy: np.ndarray):
        self.index, self.xy = index, np.asarray(xy, float)
        self._found: dict = {}

    def candidates(self, i: int, tree, max_m: float, k: int, within=None) -> EdgeSnap:
        """:meth:`SegmentIndex.candidates` of point ``i`` (0 origin, 1 destination), searched once.

        ``within`` is ``(wider_tree, wider_k, segments)``: ``tree`` indexes a subset (``segments``,
        per segment) of ``wider_tree``'s segments.  The ``wider_k`` nearest of ``wider_tree`` within
        ``max_m``, kept where ``segments`` holds, are ``tree``'s nearest when at least ``k`` remain
        or the wider search was not cut at ``wider_k`` (both order by distance, then piece id, and a
        segment's nearest piece is the same in both); otherwise ``tree`` is searched itself.
        """
        if within is not None:
            wider_tree, wider_k, segments = within
            wide = self.candidates(i, wider_tree, max_m, wider_k)
            rows = np.flatnonzero(segments[wide.seg]) if len(wide.seg) else np.zeros(0, np.int64)
            if len(rows) >= k or len(wide.seg) < wider_k:
                return wide.pick(rows[:k])
        key = (i, id(tree), float(max_m), k)
        if key not in self._found:
            self._found[key] = self.index.candidates(self.xy[i], tree, max_m, k=k)
        return self._found[key]


def connected_snaps(network, near: NearRoads, trees: dict, rules, metric, main: np.ndarray, nearest: EdgeSnap,
                    limits: tuple, exits: tuple, nearest_road, pinned=(False, False)):
    """(o, d, path) on the nearest ends that connect when the nearest snaps do not, or None.

    The reachable pair (:func:`reachable_snaps`) unless a pocket's way out (:func:`pocket_snaps`)
    has a smaller total snap distance; the reachable pair's total bounds the pocket walk.
    ``rules``: the vehicle's :class:`~gridtools.routing.restrictions.ArcRules` (its cache keeps
    the part labels); ``pinned``: per point, kept on its nearest road (:func:`closed_districts`);
    the other parameters as for :func:`pocket_snaps`.

    Examples
    --------
    >>> o, d, path = connected_snaps(net, near, trees, rules, metric, main, snap, limits, exits, f)  # doctest: +SKIP
    """
    # a pinned point's candidates are its nearest road and any other exactly as near (a junction's roads)
    reach = tuple(float(nearest.distance_m[i]) + 1.0 if pinned[i] else limits[0] for i in (0, 1))
    found = reachable_snaps(network, near, trees, metric, reach, _reach_parts(network, rules))
    beat = None if found is None else found[0].distance_m[0] + found[1].distance_m[0]
    pocket = pocket_snaps(network, near, trees, metric, rules.cache["private_arcs"], main, nearest, limits, exits,
                          nearest_road, beat, reach)
    if pocket is not None and (found is None or pocket[0].distance_m[0] + pocket[1].distance_m[0] < beat):
        return pocket
    return found


def _reach_parts(network, rules) -> tuple:
    """:func:`reach_parts` of the roads ``rules`` lets the vehicle use (cached on the rules)."""
    if "reach_parts" not in rules.cache:
        ok = rules.blocked == 0
        rules.cache["reach_parts"] = reach_parts(network.n_nodes, network.arc_u[ok], network.arc_v[ok])
    return rules.cache["reach_parts"]


def closed_districts(network, rules, metric, nearest: EdgeSnap, min_nodes: int) -> tuple:
    """Per point (origin, destination): whether its nearest usable road lies in a *closed district*.

    A closed district is a part of the vehicle's roads that reaches (origin) or is reached from
    (destination) at least ``min_nodes`` junctions, none of them on the vehicle's main network: an
    old town behind weight limits, a campus behind a low underpass.  A point there is a real place the
    vehicle cannot get out of (or into), not a stray snap, so the router keeps it on its road and
    refuses a route that must leave the district rather than moving the point onto another road.
    Smaller pockets are snapped past, as Valhalla skips candidate edges that reach fewer than
    ``minimum_reachability`` (50) nodes.  A road cut off by the map itself (a clipped fragment,
    :func:`gridtools.routing.connectivity.cut_off`) is never a district.

    Parameters
    ----------
    network : RoadNetwork
    rules : ArcRules
    metric : Metric
        The vehicle's weights (``weights``, ``arrive_weights``).
    nearest : EdgeSnap
        Both points' nearest usable roads (``seg`` -1 where none).
    min_nodes : int
        ``settings.route_min_reach_nodes``; 0 or less: no point is in a district.

    Examples
    --------
    >>> closed_districts(net, rules, metric, snap, 50)                           # doctest: +SKIP
    (True, False)
    """
    if min_nodes <= 0:
        return (False, False)
    _, _, to_main, from_main, _, _ = _reach_parts(network, rules)
    if "reach_csr" not in rules.cache:  # forward and backward adjacency of the usable arcs
        ok = np.flatnonzero(rules.blocked == 0)
        rules.cache["reach_csr"] = tuple(_csr(network.n_nodes, a[ok], b[ok])
                                         for a, b in ((network.arc_u, network.arc_v), (network.arc_v, network.arc_u)))
    out = []
    for i, role in enumerate(("origin", "destination")):
        seg, leave = int(nearest.seg[i]), role == "origin"
        _, node, usable = end_nodes(network, metric.weights if leave else metric.arrive_weights, nearest.take(i), leave)
        starts = node[usable]
        if (not len(starts) or (to_main if leave else from_main)[starts].any()
                or cut_off(network, seg, role)):
            out.append(False)
            continue
        indptr, indices = rules.cache["reach_csr"][0 if leave else 1]
        out.append(reaches_at_least(indptr, indices, starts, min_nodes, network.node_base))
    return tuple(out)


def _csr(n_nodes: int, tails: np.ndarray, heads: np.ndarray) -> tuple:
    """(indptr, indices) of the graph of arcs ``tails`` -> ``heads``."""
    order = np.argsort(tails, kind="stable")
    return np.r_[0, np.cumsum(np.bincount(tails, minlength=n_nodes))], heads[order]


def reachable_snaps(network, near: NearRoads, trees: dict, metric, max_snap_m, parts=None):
    """(origin snap, destination snap, path) on the nearest roads within reach that connect, or None.

    The nearest road can be a clipped fragment or a one-way stub; like Valhalla's reachability
    filter, the other usable roads within ``max_snap_m`` are tried: the 12 nearest and the 12
    nearest of the vehicle's main network (a pocket closed by a height limit or a turn ban can hold
    a dozen nearer roads).  The pair with the smallest total snap distance that has a route wins
    (the first in row order on a tie).

    Parameters
    ----------
    network : RoadNetwork
    near : NearRoads
    trees : dict
        Snapping indexes by name: ``usable``, ``main`` and ``ends`` (:meth:`SegmentIndex.tree`), and
        the segments of the first two (``usable_seg``, ``main_seg``, bool per segment).
    metric : Metric
        With ``arrive_weights``.
    max_snap_m : float or (float, float)
        How far to look, for both points or per point (origin, destination).
    parts : tuple, optional
        :func:`gridtools.routing.connectivity.reach_parts` of ``metric``'s graph (arcs with a finite
        weight).  The pairs are then decided by strong-part labels, nearest first, and the
        many-to-many query runs only when a pair nearer than the first connected one is undecided.

    Examples
    --------
    >>> o, d, path = reachable_snaps(net, near, trees, metric, 500.0)      # doctest: +SKIP
    """
    k, wide = REACHABLE_CANDIDATES, WIDE_CANDIDATES
    reach = tuple(max_snap_m) if np.ndim(max_snap_m) else (max_snap_m, max_snap_m)
    co, cd = (EdgeSnap.concat([near.candidates(i, trees["usable"], reach[i], k, (trees["ends"], wide,
                                                                                trees["usable_seg"])),
                               near.candidates(i, trees["main"], reach[i], k, (trees["ends"], wide,
                                                                               trees["main_seg"]))])
              for i in (0, 1))
    if not len(co.seg) or not len(cd.seg):
        return None
    # a road in both lists (the same nearest piece): its second entry never wins, the first has the same
    # total and comes first
    co, cd = (s.pick(np.sort(np.unique(s.seg, return_index=True)[1])) for s in (co, cd))
    total = co.distance_m[:, None] + cd.distance_m[None, :]
    pick = _first_connected(network, metric, co, cd, total, parts) if parts is not None else None
    if pick is None:  # undecided by the labels: the engine decides
        costs = matrix_costs(network, metric, co, cd, metric.arrive_weights)
        masked = np.where(np.isfinite(costs), total, np.inf)
        pick = np.unravel_index(int(np.argmin(masked)), total.shape)
        if not np.isfinite(masked[pick]):
            return None
    elif pick == ():
        return None
    o, d = co.take(int(pick[0])), cd.take(int(pick[1]))
    return o, d, best_path(network, metric, o, d, metric.arrive_weights)


def _first_connected(network, metric, co: EdgeSnap, cd: EdgeSnap, total: np.ndarray, parts):
    """(i, j) of the smallest ``total`` (first in row order on a tie) whose pair connects, () when none
    does, None when a nearer pair is undecided (:func:`gridtools.routing.connectivity.pairs_connect`)."""
    w = metric.weights
    _, dep_node, dep_cost = departures(network, w, co)
    _, arr_node, arr_cost = arrivals(network, w, metric.arrive_weights, cd)
    yes, no = pairs_connect(parts, dep_node, dep_cost < INF, arr_node, arr_cost < INF)
    table = segment_arcs(network)
    for i, j in zip(*np.nonzero((co.seg[:, None] == cd.seg[None, :]) & (co.seg[:, None] >= 0))):
        if same_arc_cost(metric.arrive_weights, co, cd, int(i), int(j), table) is not None:
            yes[i, j] = True  # driven straight along the one arc
    order = np.argsort(total, axis=None, kind="stable")  # ties in row order, as argmin
    hits = np.flatnonzero(yes.ravel()[order])
    first = int(hits[0]) if len(hits) else len(order)
    if not no.ravel()[order[:first]].all():
        return None
    return np.unravel_index(int(order[first]), total.shape) if len(hits) else ()


def may_resnap_far(network, xy, nearest: EdgeSnap, role: str, nearest_road) -> bool:
    """Whether a point may be snapped farther than ``max_snap_m`` (up to ``max_resnap_m``).

    Only when its nearest usable road (``nearest``) is cut off from the network's main part even
    with no restriction (:func:`connectivity.cut_off`: a clipped fragment of the extract), and no
    road closed to the vehicle lies nearer (a point on a forbidden road or inside a ban zone stays
    refused, naming why).  ``nearest_road(xy)`` snaps onto the nearest road of any kind.

    Examples
    --------
    >>> may_resnap_far(net, xy, snap, "destination", router_nearest_road)   # doctest: +SKIP
    """
    seg = int(nearest.seg[0])
    if seg < 0 or not cut_off(network, seg, role):
        return False
    if not nearest.distance_m[0] > 1.0:  # on its usable road: no road is 1 m nearer (saves the search)
        return True
    # every road nearer than the nearest usable one is closed to the vehicle
    return not nearest_road(xy).distance_m[0] < nearest.distance_m[0] - 1.0


def pocket_snaps(network, near: NearRoads, trees: dict, metric, private: np.ndarray, main: np.ndarray,
                 nearest: EdgeSnap, limits: tuple, exits: tuple, nearest_road, beat: float | None = None,
                 reach: tuple | None = None):
    """(o, d, path) from the nearest roads, usable or private, that lead to the main network; or None.

    Per point, the 64 nearest roads usable or closed only by ``private`` within ``max_snap_m`` and
    the 12 nearest of the main network (up to ``max_resnap_m`` where :func:`may_resnap_far`
    allows) are walked nearest first (:func:`gridtools.routing.lastmile.pocket_snaps`).

    Parameters
    ----------
    network : RoadNetwork
    near : NearRoads
    trees : dict
        As for :func:`reachable_snaps`.
    metric : Metric
        With ``end_weights`` and ``arrive_weights``.
    private, main : numpy.ndarray of bool
        Private arcs; main-network nodes.
    nearest : EdgeSnap
        Both points' nearest usable roads within ``max_snap_m`` (``seg`` -1 where none).
    limits : tuple
        ``(max_snap_m, max_resnap_m, max_restricted_end_m)``.
    exits : pair of numpy.ndarray
        :func:`gridtools.routing.lastmile.private_metres_to_main` towards and from the main network.
    nearest_road : callable
        Snap of a metric (x, y) onto the nearest road of any kind.
    beat : float, optional
        The total snap distance to beat (:func:`reachable_snaps`' pair): None is returned as soon
        as the two points' picks cannot add up to less.
    reach : (float, float), optional
        Per point, how far to look instead of ``max_snap_m`` (a pinned point: its nearest road's
        distance, :func:`closed_districts`); a point looked at less far is never re-snapped far.

    Examples
    --------
    >>> o, d, path = pocket_snaps(net, near, trees, metric, private, main, snap, (500, 2000, 1000), exits, f)  # doctest: +SKIP
    """
    max_snap_m, max_resnap_m, max_m = limits
    reach = reach or (max_snap_m, max_snap_m)
    cands = []
    for i, role in enumerate(("origin", "destination")):
        look = reach[i]
        far = (max_resnap_m if look >= max_snap_m
               and may_resnap_far(network, near.xy[i], nearest.take(i), role, nearest_road) else 0.0)
        wide = (trees["ends"], WIDE_CANDIDATES, trees["ends_seg"])
        main_near = near.candidates(i, trees["main"], look, REACHABLE_CANDIDATES, wide[:2] + (trees["main_seg"],))
        if far > look and len(main_near.seg) < REACHABLE_CANDIDATES:  # else the nearest all lie within max_snap_m
            main_near = near.candidates(i, trees["main"], far, REACHABLE_CANDIDATES)
        cands.append(EdgeSnap.concat([near.candidates(i, trees["ends"], look, lastmile.POCKET_CANDIDATES, wide),
                                      main_near]))
    return lastmile.pocket_snaps(network, cands, metric, private, main, max_m, exits, beat)
