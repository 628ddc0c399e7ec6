"""Snapping points onto roads (phantom nodes), as OSRM, Valhalla and GraphHopper do.

A point is projected onto the nearest *road segment* the vehicle may use, not onto the nearest
junction: a destination in the middle of a 600 m tunnel is 0 m from its road.  The result is an
:class:`EdgeSnap`: the segment, how far along it the projection lies (``fraction`` of the segment in
its drawing direction) and how far the point moved.  A route then starts and ends part-way along
the segment's arcs: :func:`departures` and :func:`arrivals` give, per usable direction, the graph
node where the partial arc meets the rest of the network and the integer cost of the part driven.

Index: every segment's polyline is cut into pieces of at most :data:`PIECE_M` metres; a k-d tree
holds the piece midpoints of the segments a vehicle may use (one tree per vehicle and time slot,
kept with its :class:`~gridtools.routing.restrictions.ArcRules`).  A query looks at the ``k``
nearest midpoints and is exact: a piece not looked at has its midpoint at least as far as the
``k``-th one, so it lies at least that distance minus half a piece away; when that bound does not
beat the best distance found, the query falls back to every piece within the bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gridtools.errors import InputError
from gridtools.routing.engines import INF

#: Longest piece of a segment in the snapping index (metres).
PIECE_M = 40.0


@dataclass
class EdgeSnap:
    """Where points were snapped onto roads (one entry per point; numpy arrays).

    Attributes
    ----------
    seg : numpy.ndarray
        Road segment of each point (-1: nothing usable within reach).
    fraction : numpy.ndarray
        Position of the projection along the segment, 0 at its first point, 1 at its last.
    distance_m : numpy.ndarray
        How far each point moved onto the road (metres; ``inf`` where ``seg`` is -1).
    x, y : numpy.ndarray
        The projected points in the network's metric CRS.
    """

    seg: np.ndarray
    fraction: np.ndarray
    distance_m: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def take(self, i: int) -> "EdgeSnap":
        """The snap of point ``i`` alone."""
        j = i + 1
        return EdgeSnap(self.seg[i:j], self.fraction[i:j], self.distance_m[i:j], self.x[i:j], self.y[i:j])

    def pick(self, rows) -> "EdgeSnap":
        """The snaps of the points ``rows`` (indices), in that order."""
        return EdgeSnap(*(getattr(self, f)[rows] for f in ("seg", "fraction", "distance_m", "x", "y")))

    @staticmethod
    def concat(snaps) -> "EdgeSnap":
        """The points of several snaps, one after the other."""
        return EdgeSnap(*(np.concatenate([getattr(s, f) for s in snaps]) for f in ("seg", "fraction", "distance_m",
                                                                                   "x", "y")))


def lonlat_array(points) -> np.ndarray:
    """(n, 2) lon/lat from (lon, lat) pairs, shapely Points, or a GeoSeries / GeoDataFrame of points.

    Examples
    --------
    >>> lonlat_array([(8.69, 49.41)]).shape
    (1, 2)
    """
    import geopandas as gpd

    if isinstance(points, (gpd.GeoSeries, gpd.GeoDataFrame)):
        geo = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
        if geo.crs is None:
            raise InputError("points have no CRS; set one, e.g. points.set_crs('EPSG:4326')")
        geo = geo.to_crs(4326)
        return np.column_stack([geo.x.to_numpy(), geo.y.to_numpy()])
    import shapely

    if isinstance(points, shapely.Point):
        return np.array([[points.x, points.y]], dtype=float)
    try:
        rows = [(p.x, p.y) if hasattr(p, "x") and hasattr(p, "y") else p for p in points]
        return np.asarray(rows, dtype=float).reshape(-1, 2)
    except (TypeError, ValueError):
        raise InputError(f"cannot read {points!r} as (lon, lat) points") from None


class SegmentIndex:
    """Pieces of every road segment of a network, for nearest-segment queries.

    Parameters
    ----------
    network : RoadNetwork

    Examples
    --------
    >>> index = SegmentIndex(net)                                          # doctest: +SKIP
    >>> snap = index.nearest(xy, usable_segments)                           # doctest: +SKIP
    """

    def __init__(self, network):
        net = network
        n_seg = len(net.seg_start)
        # one piece per pair of consecutive coordinates of a segment
        count = net.seg_end - net.seg_start  # pieces per segment
        seg = np.repeat(np.arange(n_seg), count)
        head = np.repeat(net.seg_start - (np.cumsum(count) - count), count) + np.arange(count.sum())
        x0, y0 = net.coord_x[head], net.coord_y[head]
        x1, y1 = net.coord_x[head + 1], net.coord_y[head + 1]
        length = np.hypot(x1 - x0, y1 - y0)
        # offset of every piece's start along its segment; segment length as the sum of its pieces
        start_pos = np.cumsum(length) - length
        first = np.minimum(np.cumsum(count) - count, max(len(seg) - 1, 0))
        offset = start_pos - np.repeat(start_pos[first] if len(seg) else np.zeros(n_seg), count)
        self.seg_total = np.bincount(seg, weights=length, minlength=n_seg)
        # cut long pieces so that every indexed piece is at most PIECE_M long
        cuts = np.maximum(1, np.ceil(length / PIECE_M)).astype(np.int64)
        rep = np.repeat(np.arange(len(seg)), cuts)
        k = np.arange(len(rep)) - np.repeat(np.cumsum(cuts) - cuts, cuts)
        t0, t1 = k / cuts[rep], (k + 1) / cuts[rep]
        dx, dy = x1 - x0, y1 - y0
        self.x0, self.y0 = x0[rep] + t0 * dx[rep], y0[rep] + t0 * dy[rep]
        self.x1, self.y1 = x0[rep] + t1 * dx[rep], y0[rep] + t1 * dy[rep]
        self.seg = seg[rep]
        self.offset = offset[rep] + t0 * length[rep]
        self.length = length[rep] / cuts[rep]
        self.half = float(self.length.max() / 2) if len(self.length) else 0.0
        # per piece, what every projection needs (the same arithmetic as computing it per query)
        self.dx, self.dy = self.x1 - self.x0, self.y1 - self.y0
        den = self.dx * self.dx + self.dy * self.dy
        self.has_length, self.den = den > 0, np.where(den > 0, den, 1)
        self.piece_total = self.seg_total[self.seg]

    def tree(self, usable_seg: np.ndarray):
        """(k-d tree, piece ids) over the pieces of the segments marked in ``usable_seg``."""
        from scipy.spatial import cKDTree

        pieces = np.flatnonzero(usable_seg[self.seg])
        mid = np.column_stack([(self.x0[pieces] + self.x1[pieces]) / 2, (self.y0[pieces] + self.y1[pieces]) / 2])
        return (cKDTree(mid) if len(pieces) else None), pieces

    def _project(self, px, py, pieces):
        """Distance and position (t in 0..1) of points on pieces (arrays of equal shape)."""
        x0, y0, dx, dy = self.x0[pieces], self.y0[pieces], self.dx[pieces], self.dy[pieces]
        t = np.where(self.has_length[pieces], ((px - x0) * dx + (py - y0) * dy) / self.den[pieces], 0.0)
        t = np.clip(t, 0.0, 1.0)
        qx, qy = x0 + t * dx, y0 + t * dy
        return np.hypot(px - qx, py - qy), t, qx, qy

    def nearest(self, xy: np.ndarray, tree_pieces, max_m: float = np.inf, k: int = 8) -> EdgeSnap:
        """The nearest indexed segment of each point (exact; -1 where none lies within ``max_m``).

        Parameters
        ----------
        xy : (n, 2) numpy.ndarray
            Points in the network's metric CRS.
        tree_pieces : tuple
            From :meth:`tree`.
        max_m : float
            Farthest distance to look (points without a segment that close get ``seg`` -1).
        k : int
            Midpoints looked at first.
        """
        tree, pieces = tree_pieces
        n = len(xy)
        out_piece = np.full(n, -1, np.int64)
        out_d, out_t = np.full(n, np.inf), np.zeros(n)
        qx, qy = np.zeros(n), np.zeros(n)
        if tree is None or not n:
            return self._snap(out_piece, out_d, out_t, qx, qy)
        k = min(k, len(pieces))
        mid_d, idx = tree.query(xy, k=k)
        mid_d, idx = mid_d.reshape(n, k), idx.reshape(n, k)
        cand = pieces[idx]
        d, t, cx, cy = self._project(xy[:, :1], xy[:, 1:], cand)
        best = d.argmin(axis=1)
        rows = np.arange(n)
        out_piece, out_d, out_t = cand[rows, best], d[rows, best], t[rows, best]
        qx, qy = cx[rows, best], cy[rows, best]
        # exact: an unseen piece is at least (k-th midpoint distance - half a piece) away
        unsure = np.flatnonzero((mid_d[:, -1] - self.half < out_d) & (k < len(pieces)))
        for i in unsure:
            reach = min(out_d[i], max_m) + self.half
            near = np.asarray(tree.query_ball_point(xy[i], reach), np.int64)
            if not len(near):
                continue
            dd, tt, xx, yy = self._project(xy[i, 0], xy[i, 1], pieces[near])
            j = int(dd.argmin())
            if dd[j] < out_d[i]:
                out_piece[i], out_d[i], out_t[i], qx[i], qy[i] = pieces[near[j]], dd[j], tt[j], xx[j], yy[j]
        far = out_d > max_m
        out_piece[far], out_d[far] = -1, np.inf
        return self._snap(out_piece, out_d, out_t, qx, qy)

    def candidates(self, xy: np.ndarray, tree_pieces, max_m: float, k: int = 12) -> EdgeSnap:
        """Up to ``k`` distinct segments within ``max_m`` of one point, nearest first (one entry each).

        The ``16 k`` nearest piece midpoints are looked at first; the ball of every piece within
        ``max_m`` (thousands in a city centre) is searched only when they cannot prove the answer,
        or directly when the index holds fewer than ``32 k`` pieces.
        """
        tree, pieces = tree_pieces
        if tree is None:
            return self._snap(np.full(0, -1, np.int64), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
        reach, first = max_m + self.half, 16 * k
        proven = False
        if first < len(pieces) // 2:  # else the ball holds about as many pieces: search it directly
            mid_d, near = tree.query(xy, k=first, distance_upper_bound=reach)
            seen = np.isfinite(mid_d)
            keep, d, t, qx, qy, near = self._nearest_segments(xy, pieces, near[seen], max_m, k)
            # unseen pieces lie at least (farthest midpoint seen - half a piece) away
            bound = mid_d[-1] - self.half
            proven = not seen.all() or (d[keep[-1]] < bound if len(keep) == k else max_m < bound)
        if not proven:
            near = np.asarray(tree.query_ball_point(xy, reach), np.int64)
            keep, d, t, qx, qy, near = self._nearest_segments(xy, pieces, near, max_m, k)
        return self._snap(pieces[near][keep], d[keep], t[keep], qx[keep], qy[keep])

    def _nearest_segments(self, xy, pieces, near, max_m: float, k: int):
        """(kept, d, t, qx, qy, near): the nearest piece of up to ``k`` segments among ``pieces[near]``.

        Ties in distance go to the lower piece id, so the answer does not depend on the search order.
        """
        d, t, qx, qy = self._project(xy[0], xy[1], pieces[near])
        order = np.lexsort((pieces[near], d))
        segs = self.seg[pieces[near][order]]
        _, first = np.unique(segs, return_index=True)  # the nearest piece of every segment
        keep = order[np.sort(first)][:k]
        return keep[d[keep] <= max_m], d, t, qx, qy, near

    def _snap(self, piece, d, t, qx, qy) -> EdgeSnap:
        ok = piece >= 0
        p = np.maximum(piece, 0)
        seg = np.where(ok, self.seg[p], -1)
        along = self.offset[p] + t * self.length[p]
        total = self.piece_total[p]  # seg_total of the piece's segment (segment 0's for -1: piece 0 is its)
        frac = np.where(ok & (total > 0), along / np.where(total > 0, total, 1), 0.0)
        # a point on a junction is exactly at the segment's end (no rounding left over)
        frac = np.where(along <= 1e-6, 0.0, np.where(total - along <= 1e-6, 1.0, frac))
        return EdgeSnap(seg=seg, fraction=np.clip(frac, 0.0, 1.0), distance_m=d, x=qx, y=qy)


def segment_arcs(network) -> np.ndarray:
    """(n_segments, 2) original arc of every segment along (column 0) and against (1) its drawing; -1 none.

    Path duplication for via-way turn restrictions adds copies of arcs with the same segment; the
    original (lowest id) is the one a route starting or ending on the road uses.
    """
    net = network

    def compute():
        table = np.full((len(net.seg_start), 2), -1, np.int64)
        road = np.flatnonzero(net.arc_seg >= 0)[::-1]  # reversed: the lowest id is written last
        table[net.arc_seg[road], net.arc_back[road].astype(np.int64)] = road
        return table

    return net.derived("segment_arcs", compute)


def segment_ends(network) -> np.ndarray:
    """(n_segments, 2) base node at the first and at the last point of every segment."""
    net = network

    def compute():
        table = segment_arcs(net)
        fwd, bwd = table[:, 0], table[:, 1]
        first = np.where(fwd >= 0, net.arc_u[np.maximum(fwd, 0)], net.arc_v[np.maximum(bwd, 0)])
        last = np.where(fwd >= 0, net.arc_v[np.maximum(fwd, 0)], net.arc_u[np.maximum(bwd, 0)])
        return np.column_stack([net.node_base[first], net.node_base[last]])

    return net.derived("segment_ends", compute)


def positions(weights: np.ndarray, arcs: np.ndarray, fraction: np.ndarray, back) -> np.ndarray:
    """Integer cost from the start of each arc to the snapped point on it (same rounding everywhere)."""
    w = weights[np.maximum(arcs, 0)].astype(np.int64)
    share = np.where(back, 1.0 - fraction, fraction)
    return np.rint(share * w).astype(np.int64)


def at_junction(snap: EdgeSnap) -> np.ndarray:
    """Per point: 0 / 1 when it snapped onto the first / last point of its segment (a junction), else -1."""
    return np.where(snap.fraction <= 0.0, 0, np.where(snap.fraction >= 1.0, 1, -1))


def departures(network, weights: np.ndarray, snap: EdgeSnap):
    """Ways to leave each snapped point: (arc, node reached, cost of the rest of the arc), shape (n, 3).

    Column 0 drives along the segment's drawing direction, column 1 against it, column 2 starts
    at the junction itself when the point snapped onto a segment's end (arc -1, cost 0).  An
    unusable way has cost ``INF``.
    """
    return _ends(network, weights, weights, snap, leave=True)


def arrivals(network, weights: np.ndarray, arrive_weights: np.ndarray, snap: EdgeSnap):
    """Ways to reach each snapped point: (arc, node it is entered from, cost of the part driven), (n, 3).

    ``arrive_weights`` may open arcs blocked only at their head node (a bollard, a height
    restrictor): a destination before the barrier is reached without passing it.
    """
    return _ends(network, weights, arrive_weights, snap, leave=False)


def end_nodes(network, weights: np.ndarray, snap: EdgeSnap, leave: bool):
    """The arcs and nodes of :func:`departures` (``leave``) or :func:`arrivals`, without their costs.

    Returns ``(arcs, node, usable)``, each (n, 3) in the columns of :func:`departures`: an unusable
    column has arc -1 and ``usable`` False.  ``weights`` is what decides usability (the arrival
    weights for :func:`arrivals`).  Enough to ask where a point can go (reachability), and cheaper
    than the costs.
    """
    table = segment_arcs(network)
    n = len(snap.seg)
    ok = snap.seg >= 0
    seg = np.maximum(snap.seg, 0)
    arcs = np.full((n, 3), -1, np.int64)
    arcs[:, :2] = np.where(ok[:, None], table[seg], -1)
    along = np.maximum(arcs[:, :2], 0)
    usable = np.zeros((n, 3), bool)
    usable[:, :2] = (arcs[:, :2] >= 0) & (weights[along] < INF)
    node = np.zeros((n, 3), np.int64)
    node[:, :2] = network.arc_v[along] if leave else network.arc_u[along]
    arcs[:, :2] = np.where(usable[:, :2], arcs[:, :2], -1)
    end = at_junction(snap)
    usable[:, 2] = ok & (end >= 0)  # a point on a junction also starts (ends) there
    base = segment_ends(network)[seg, np.maximum(end, 0)]
    node[:, 2] = network.node_depart[base] if leave else base
    return arcs, node, usable


def _ends(network, weights, part_weights, snap: EdgeSnap, leave: bool):
    w_use = part_weights if not leave else weights
    arcs, node, usable = end_nodes(network, w_use, snap, leave)
    cost = np.full((len(snap.seg), 3), INF, np.int64)
    for col in (0, 1):
        a = np.maximum(arcs[:, col], 0)
        pos = positions(w_use, a, snap.fraction, col == 1)
        w = w_use[a].astype(np.int64)
        cost[:, col] = np.where(usable[:, col], (w - pos) if leave else pos, INF)
    cost[usable[:, 2], 2] = 0
    return arcs, node, cost


def same_arc_cost(weights, o: EdgeSnap, d: EdgeSnap, i: int, j: int, table: np.ndarray):
    """(cost, arc, column) of driving straight from origin ``i`` to destination ``j`` along one arc, or None.

    ``weights`` should be the arrival weights: the drive stops before the arc's head node.
    """
    if o.seg[i] < 0 or o.seg[i] != d.seg[j]:
        return None
    best = None
    for col in (0, 1):
        a = int(table[o.seg[i], col])
        if a < 0 or weights[a] >= INF:
            continue
        po = positions(weights, np.array([a]), o.fraction[i:i + 1], col == 1)[0]
        pd_ = positions(weights, np.array([a]), d.fraction[j:j + 1], col == 1)[0]
        ahead = d.fraction[j] >= o.fraction[i] if col == 0 else d.fraction[j] <= o.fraction[i]
        if ahead and pd_ >= po and (best is None or pd_ - po < best[0]):
            best = (int(pd_ - po), a, col)
    return best


def point_ends(network, weights: np.ndarray, part_weights: np.ndarray, snap: EdgeSnap, i: int, leave: bool):
    """The usable ways to leave (``leave``) or reach point ``i``: list of (column, arc, node, cost).

    The scalar twin of :func:`departures` / :func:`arrivals` for one route (same columns, same
    rounding): numpy's per-call overhead on arrays of one row costs more than the search itself.
    """
    seg = int(snap.seg[i])
    if seg < 0:
        return []
    net = network
    frac = float(snap.fraction[i])
    w_use = weights if leave else part_weights
    table = segment_arcs(net)
    out = []
    for col in (0, 1):
        a = int(table[seg, col])
        if a < 0 or w_use[a] >= INF:
            continue
        w = int(w_use[a])
        pos = int(round((1.0 - frac if col == 1 else frac) * w))  # round half to even, as np.rint
        out.append((col, a, int(net.arc_v[a]) if leave else int(net.arc_u[a]), w - pos if leave else pos))
    end = 0 if frac <= 0.0 else 1 if frac >= 1.0 else -1
    if end >= 0:
        base = int(segment_ends(net)[seg, end])
        out.append((2, -1, int(net.node_depart[base]) if leave else base, 0))
    return out


def leave_ends(network, weights: np.ndarray, snap: EdgeSnap, i: int = 0) -> list:
    """Where a route from point ``i`` may enter the graph: list of (node, cost, arcs, fraction).

    ``arcs`` are driven from the point to ``node`` (the partial arc of the point's road, or none
    when the point is on a junction) and ``fraction`` is where on ``arcs[0]`` the route starts.
    """
    return [(node, cost, [a] if col < 2 else [], (1.0 - float(snap.fraction[i]) if col == 1 else
                                                  float(snap.fraction[i])) if col < 2 else 0.0)
            for col, a, node, cost in point_ends(network, weights, weights, snap, i, leave=True)]


def reach_ends(network, weights: np.ndarray, arrive_weights: np.ndarray, snap: EdgeSnap, i: int = 0) -> list:
    """Where a route to point ``i`` may leave the graph: list of (node, cost, arcs, fraction).

    ``arcs`` are driven from ``node`` to the point and ``fraction`` is where on ``arcs[-1]`` it ends.
    """
    return [(node, cost, [a] if col < 2 else [], (1.0 - float(snap.fraction[i]) if col == 1 else
                                                  float(snap.fraction[i])) if col < 2 else 1.0)
            for col, a, node, cost in point_ends(network, weights, arrive_weights, snap, i, leave=False)]


def _distinct_nodes(ends):
    """``ends`` with one entry per node, the cheapest (a multi-source search takes each node once)."""
    best = {}
    for end in ends:
        if end[0] not in best or end[1] < best[end[0]][1]:
            best[end[0]] = end
    return list(best.values())


def best_path(network, metric, o: EdgeSnap, d: EdgeSnap, arrive_weights: np.ndarray | None = None,
              starts: list | None = None, stops: list | None = None):
    """Cheapest path between two snapped points (first point of ``o`` and ``d``).

    One engine search, seeded with every usable direction of the origin's road (each with the
    cost of the part of the road driven to its end) and ending on every usable direction of the
    destination's road (OSRM's phantom nodes); a destination ahead on the origin's own arc is
    reached directly.

    Parameters
    ----------
    network : RoadNetwork
    metric : Metric
        Weights of the vehicle (``INF`` blocked).
    o, d : EdgeSnap
    arrive_weights : numpy.ndarray, optional
        Weights for the part of an arc driven up to the destination (default: the metric's).
    starts, stops : list, optional
        Entries and exits other than the points' own roads, as from :func:`leave_ends` /
        :func:`reach_ends` (a restricted first or last stretch: :mod:`gridtools.routing.lastmile`).

    Returns
    -------
    tuple
        ``(cost, arcs, start_at, end_at)``: cost in metric units (``inf`` when there is no path),
        arcs in order, and the fractions of the first and last arc (in their direction) where the
        route starts and ends.

    Examples
    --------
    >>> cost, arcs, start_at, end_at = best_path(net, metric, o, d)   # doctest: +SKIP
    """
    net, w = network, metric.weights
    aw = w if arrive_weights is None else arrive_weights
    best = (math.inf, np.zeros(0, np.int64), 0.0, 1.0)
    direct = same_arc_cost(aw, o, d, 0, 0, segment_arcs(net)) if starts is None and stops is None else None
    if direct is not None:
        along = (lambda f: f) if direct[2] == 0 else (lambda f: 1.0 - f)
        same_place = o.fraction[0] == d.fraction[0]  # nothing to drive: no arc at all
        best = (float(direct[0]), np.zeros(0, np.int64) if same_place else np.array([direct[1]]),
                along(o.fraction[0]), along(d.fraction[0]))
    dep = _distinct_nodes(leave_ends(net, w, o) if starts is None else starts)
    arr = _distinct_nodes(reach_ends(net, w, aw, d) if stops is None else stops)
    if not dep or not arr:
        return best
    cost, mid, i, j = metric.query_multi([e[:2] for e in dep], [e[:2] for e in arr])
    if not cost < best[0]:
        return best
    arcs = np.concatenate([dep[i][2], mid, arr[j][2]]).astype(np.int64)
    start, end = dep[i][3], arr[j][3]
    if len(arcs) > 1 and start >= 1.0:  # started at the very end of the first arc: nothing driven on it
        arcs, start = arcs[1:], 0.0
    if len(arcs) > 1 and end <= 0.0:
        arcs, end = arcs[:-1], 1.0
    return float(cost), arcs, float(start), float(end)


def matrix_costs(network, metric, o: EdgeSnap, d: EdgeSnap, arrive_weights: np.ndarray | None = None) -> np.ndarray:
    """Costs (metric units) from every snapped origin (rows) to every snapped destination; ``inf`` if none.

    Every origin leaves along each usable direction of its road, every destination is reached along
    each usable direction of its road; one many-to-many query covers all of them, and a destination
    ahead of its origin on the same arc is reached directly.
    """
    w = metric.weights
    aw = w if arrive_weights is None else arrive_weights
    dep_arc, dep_node, dep_cost = departures(network, w, o)
    arr_arc, arr_node, arr_cost = arrivals(network, w, aw, d)
    src, src_inv = np.unique(dep_node.ravel(), return_inverse=True)
    dst, dst_inv = np.unique(arr_node.ravel(), return_inverse=True)
    between = metric.many_to_many(src, dst)
    n, m = len(o.seg), len(d.seg)
    si, di = src_inv.reshape(n, 3), dst_inv.reshape(m, 3)
    dep = np.where(dep_cost < INF, dep_cost, np.inf)
    arr = np.where(arr_cost < INF, arr_cost, np.inf)
    out = np.full((n, m), np.inf)
    for c in range(3):
        for e in range(3):
            out = np.minimum(out, dep[:, c][:, None] + between[si[:, c]][:, di[:, e]] + arr[:, e][None, :])
    table = segment_arcs(network)
    for i, j in zip(*np.nonzero((o.seg[:, None] == d.seg[None, :]) & (o.seg[:, None] >= 0))):
        direct = same_arc_cost(aw, o, d, int(i), int(j), table)
        if direct is not None:
            out[i, j] = min(out[i, j], direct[0])
    return out
