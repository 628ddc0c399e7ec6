"""Map-matching GPS tracks onto the road network: a hidden Markov model (Newson & Krumm 2009), in numpy.

The model is the one Valhalla's Meili, OSRM's ``match`` service, GraphHopper's map matching and
FMM use:

* **States** of a fix are its candidate positions: the projection onto every road segment within
  ``radius_m`` (at most ``max_candidates`` segments), once per direction the segment may be driven
  (a one-way road gives one state, a two-way road two).
* **Emission**: Gaussian on the fix's distance to the candidate, ``log p = -0.5 (d / sigma_m)^2``.
* **Transition** between consecutive fixes: ``log p = -|route distance - straight distance| / beta_m``,
  where the route distance is the shortest drive on the network from one state to the next.  A
  move back along the same arc by less than ``backtrack_m`` is GPS jitter of a parked or slow truck:
  scored by its length, and its negative drive cancels the jitter forward (a parked truck's driven
  distance does not grow), the job Meili's ``interpolation_distance`` does.
* **Viterbi** picks the most likely sequence.  The chain **breaks** (a new one starts, as OSRM's
  ``gaps=split``) where no state of a fix is reachable from either of the two fixes before it within
  ``2 x straight distance + 150 m`` (``route_factor``, ``route_slack_m``), or the fixes are more than
  ``breakage_m`` apart.
* **Outliers**: a fix that implies more than ``max_speed_ms`` both from the fix before and to the
  fix after, while those two agree with each other, is left out first (as OSRM and Newson & Krumm
  drop them).  The Viterbi is second order: any single fix may be left out at the cost of a fix at
  the edge of the radius (``0.5 (radius_m / sigma_m)^2``), so a stray fix near another road does not
  pull the path onto it, and a fix whose road lies beyond the radius does not break the chain.

Why our own matcher and not a library: the candidates in the package index (fastmm 0.3.2, FMM's
fork, one maintainer, beta; leuvenmapmatching 1.1.4, last release 2022, pure Python; mappymatch 0.7.1,
LCSS on an OSMnx graph; gotrackit 0.3.26, its own network format) each want the network in their own
form and precompute tables (FMM's UBODT) or routes of their own; none reads our segments, one-way
arcs and snapping pieces, and their matched edges would have to be mapped back onto our segments.  This module uses the network's arcs and the
router's :class:`~gridtools.routing.snapping.SegmentIndex` as they are, so the roads a track is
matched to are the roads a route is made of (docs/routing.md, "Map matching").

Matching is physical, not legal: every road arc of the network is a candidate, also roads closed to
the vehicle and turns a restriction forbids (a driver who broke a rule should be matched to where
he drove; one-way roads are followed in their legal direction, as every matcher does).

Shortest drives are computed per window of ``window`` fixes: the network's arcs within the window's
bounding box, widened by the longest allowed drive plus the radius (so every allowed drive stays
inside), go into a small sparse graph, and ``scipy.sparse.csgraph.dijkstra`` runs once from the
heads of all candidate arcs of the window, bounded by that longest drive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridtools.errors import InputError
from gridtools.routing.snapping import SegmentIndex, segment_arcs


@dataclass
class TrackMatch:
    """Where each fix of a track was matched (numpy arrays, one entry per fix).

    Attributes
    ----------
    seg : numpy.ndarray
        Road segment (-1: not matched: no road within the radius, or an outlier).
    arc : numpy.ndarray
        Directed arc the vehicle drove (-1 not matched; the nearest-edge matcher gives the
        segment's first arc).
    x, y : numpy.ndarray
        The matched position (metric CRS of the network; the fix itself where not matched).
    distance_m : numpy.ndarray
        Distance from the fix to its matched position (NaN where not matched).
    step_m : numpy.ndarray
        Driving distance along the matched path from the previous matched fix (NaN at the first
        fix of a chain and where not matched; negative for GPS jitter back along the same arc, so
        that sums over a stretch give the distance driven).
    chain : numpy.ndarray
        Number of the matched stretch (a break starts a new one; -1 not matched).
    outlier : numpy.ndarray
        Fixes left out: an implied speed above ``max_speed_ms``, or the path is likelier without them.
    method : str
        ``"hmm"`` or ``"nearest"``.
    """

    seg: np.ndarray
    arc: np.ndarray
    x: np.ndarray
    y: np.ndarray
    distance_m: np.ndarray
    step_m: np.ndarray
    chain: np.ndarray
    outlier: np.ndarray
    method: str

    @property
    def matched(self) -> np.ndarray:
        """Boolean per fix: matched onto a road."""
        return self.seg >= 0

    @property
    def match_rate(self) -> float:
        """Share of fixes matched onto a road."""
        return float(self.matched.mean()) if len(self.seg) else 0.0


def _segment_index(network) -> tuple:
    """(SegmentIndex, k-d tree over every road segment) of a network, kept with it."""
    index = network.derived("matching_segment_index", lambda: SegmentIndex(network))
    tree = network.derived("matching_tree", lambda: index.tree(np.ones(len(network.seg_start), bool)))
    return index, tree


def nearest_edge_match(network, x, y, *, radius_m: float = 50.0) -> TrackMatch:
    """Match every fix to its nearest road segment on its own (the baseline the HMM is measured against).

    Parameters
    ----------
    network : RoadNetwork
    x, y : array-like
        Fixes in the network's metric CRS.
    radius_m : float
        Farthest a road may be from a fix.

    Returns
    -------
    TrackMatch
        ``step_m`` is the straight distance between consecutive matched positions.

    Examples
    --------
    >>> m = nearest_edge_match(net, x, y)        # doctest: +SKIP
    >>> m.seg[:3], m.distance_m[:3]               # doctest: +SKIP
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    index, tree = _segment_index(network)
    snap = index.nearest(np.column_stack([x, y]), tree, max_m=radius_m)
    ok = snap.seg >= 0
    table = segment_arcs(network)
    arc = np.where(ok, np.where(table[np.maximum(snap.seg, 0), 0] >= 0, table[np.maximum(snap.seg, 0), 0],
                                table[np.maximum(snap.seg, 0), 1]), -1)
    mx, my = np.where(ok, snap.x, x), np.where(ok, snap.y, y)
    step = np.r_[np.nan, np.hypot(np.diff(mx), np.diff(my))]
    step[~ok] = np.nan
    step[1:][~ok[:-1]] = np.nan
    return TrackMatch(seg=snap.seg, arc=arc, x=mx, y=my, distance_m=np.where(ok, snap.distance_m, np.nan),
                      step_m=step, chain=np.where(ok, 0, -1), outlier=np.zeros(len(x), bool), method="nearest")


def _project(index, px, py, pieces):
    """Distance, position on the piece (0..1) and projected point of fixes (n, 1) on pieces (n, k)."""
    x0, y0 = index.x0[pieces], index.y0[pieces]
    dx, dy = index.x1[pieces] - x0, index.y1[pieces] - y0
    den = dx * dx + dy * dy
    t = np.clip(((px - x0) * dx + (py - y0) * dy) / np.where(den > 0, den, 1.0), 0.0, 1.0)
    qx, qy = x0 + t * dx, y0 + t * dy
    return np.hypot(px - qx, py - qy), t, qx, qy


def _candidates(network, x, y, radius_m: float, max_candidates: int, pieces_looked_at: int = 48) -> dict:
    """Per fix up to ``max_candidates`` distinct segments within ``radius_m``, nearest first; arrays (n, m).

    The ``pieces_looked_at`` nearest index pieces (at most 40 m each) are projected onto; in a
    tangle of roads more than that many pieces within the radius, the farthest segments are missed.
    """
    index, (tree, pieces) = _segment_index(network)
    n, m = len(x), max_candidates
    empty = {"seg": np.full((n, m), -1), "fraction": np.zeros((n, m)), "d": np.full((n, m), np.inf),
             "qx": np.zeros((n, m)), "qy": np.zeros((n, m))}
    if tree is None or not n:
        return empty
    k = min(pieces_looked_at, len(pieces))
    _, idx = tree.query(np.column_stack([x, y]), k=k, distance_upper_bound=radius_m + index.half)
    idx = idx.reshape(n, k)
    valid = idx < len(pieces)
    piece = pieces[np.where(valid, idx, 0)]
    d, t, qx, qy = _project(index, x[:, None], y[:, None], piece)
    d = np.where(valid & (d <= radius_m), d, np.inf)
    seg = index.seg[piece]
    # the nearest piece of every segment: order each row by (segment, distance), blank the repeats
    order = np.argsort(seg * 1e7 + np.minimum(d, 1e6), axis=1, kind="stable")
    seg_o = np.take_along_axis(seg, order, 1)
    d_o = np.take_along_axis(d, order, 1)
    d_o[:, 1:] = np.where(seg_o[:, 1:] == seg_o[:, :-1], np.inf, d_o[:, 1:])
    best = np.argsort(d_o, axis=1, kind="stable")[:, :m]
    pick = np.take_along_axis(order, best, 1)
    out_d = np.take_along_axis(d_o, best, 1)
    rows = np.arange(n)[:, None]
    out_piece = piece[rows, pick]
    along = index.offset[out_piece] + t[rows, pick] * index.length[out_piece]
    ok = out_d < np.inf
    out_seg = np.where(ok, index.seg[out_piece], -1)
    total = index.seg_total[np.maximum(out_seg, 0)]
    frac = np.clip(along / np.where(total > 0, total, 1.0), 0.0, 1.0)
    got = {"seg": out_seg, "fraction": frac, "d": out_d, "qx": qx[rows, pick], "qy": qy[rows, pick]}
    if out_seg.shape[1] < m:  # fewer pieces in the network than candidates asked for
        for key, fill in (("seg", -1), ("fraction", 0.0), ("d", np.inf), ("qx", 0.0), ("qy", 0.0)):
            got[key] = np.pad(got[key], ((0, 0), (0, m - got[key].shape[1])), constant_values=fill)
    return got


def _states(network, cand: dict) -> dict:
    """Candidate segments -> directed states (n, 2m): arc, base nodes at its ends, position along it."""
    index, _ = _segment_index(network)
    table = segment_arcs(network)
    seg = cand["seg"]
    ok = seg >= 0
    s = np.maximum(seg, 0)
    length = index.seg_total[s]
    arcs = np.concatenate([np.where(ok, table[s, 0], -1), np.where(ok, table[s, 1], -1)], axis=1)
    pos = np.concatenate([cand["fraction"] * length, (1.0 - cand["fraction"]) * length], axis=1)
    live = arcs >= 0
    a = np.maximum(arcs, 0)
    base = network.node_base
    out = {"arc": arcs, "seg": np.where(live, np.tile(seg, 2), -1), "pos": pos, "len": np.tile(length, 2),
           "tail": np.where(live, base[network.arc_u[a]], -1), "head": np.where(live, base[network.arc_v[a]], -1),
           "d": np.where(live, np.tile(cand["d"], 2), np.inf), "qx": np.tile(cand["qx"], 2),
           "qy": np.tile(cand["qy"], 2)}
    # usable states first in every row, then as few columns as the fullest row needs (one-way roads
    # leave half the columns empty: transitions cost the square of the width)
    order = np.argsort(~live, axis=1, kind="stable")
    width = max(int(live.sum(axis=1).max()), 1) if len(live) else 1
    return {k: np.take_along_axis(v, order, 1)[:, :width] for k, v in out.items()}


def _road_graph(network) -> dict:
    """Road arcs between base nodes (turn restrictions ignored: matching follows what was driven)."""
    def compute():
        table = segment_arcs(network)
        arcs = table[table >= 0]
        index, _ = _segment_index(network)
        u, v = network.node_base[network.arc_u[arcs]], network.node_base[network.arc_v[arcs]]
        w = index.seg_total[network.arc_seg[arcs]]
        # a sparse matrix adds up repeated entries: keep the shortest arc of every node pair
        order = np.lexsort((w, v, u))
        u, v, w = u[order], v[order], w[order]
        first = np.r_[True, (u[1:] != u[:-1]) | (v[1:] != v[:-1])] & (u != v)
        return {"u": u[first], "v": v[first], "w": w[first]}

    return network.derived("matching_road_graph", compute)


def _drive_lengths(network, st: dict, fx, fy, steps: np.ndarray, limit: float, margin: float,
                   hops=(1, 2)) -> list:
    """Shortest drives (m) between the heads of the states of fix ``j`` and the tails of fix ``j + hop``.

    One array (len(steps), S, S) per hop (inf where no fix ``j + hop``).  One bounded Dijkstra over
    the arcs inside the bounding box of the fixes concerned (widened by ``margin``), from the heads
    of every state of the steps' first fixes.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    graph = _road_graph(network)
    nx, ny = network.node_x, network.node_y
    span = slice(steps[0], min(steps[-1] + max(hops), len(fx) - 1) + 1)
    lo_x, hi_x = fx[span].min() - margin, fx[span].max() + margin
    lo_y, hi_y = fy[span].min() - margin, fy[span].max() + margin
    u, v = graph["u"], graph["v"]
    inside = (nx[u] >= lo_x) & (nx[u] <= hi_x) & (ny[u] >= lo_y) & (ny[u] <= hi_y)
    inside &= (nx[v] >= lo_x) & (nx[v] <= hi_x) & (ny[v] >= lo_y) & (ny[v] <= hi_y)
    su, sv, sw = u[inside], v[inside], graph["w"][inside]
    nodes = np.unique(np.r_[su, sv])
    heads = st["head"][steps]  # (len, S)
    src = np.unique(heads[heads >= 0])
    src_in = src[np.isin(src, nodes)]
    size = len(nodes)
    dist = np.full((0, 1), np.inf)
    if len(src_in) and size:
        mat = csr_matrix((sw + 1e-9, (np.searchsorted(nodes, su), np.searchsorted(nodes, sv))), shape=(size, size))
        dist = dijkstra(mat, directed=True, indices=np.searchsorted(nodes, src_in), limit=limit)
    row = np.full(heads.shape, -1)
    hit = np.isin(heads, src_in)
    row[hit] = np.searchsorted(src_in, heads[hit])
    out = []
    for hop in hops:
        tails = np.full(heads.shape, -1)
        there = steps + hop < len(fx)
        tails[there] = st["tail"][steps[there] + hop]
        col = np.full(tails.shape, -1)
        hit_t = (tails >= 0) & np.isin(tails, nodes)
        col[hit_t] = np.searchsorted(nodes, tails[hit_t])
        r, c = row[:, :, None], col[:, None, :]
        found = (r >= 0) & (c >= 0)
        out.append(np.where(found, dist[np.maximum(r, 0), np.maximum(c, 0)], np.inf) if dist.shape[0]
                   else np.full(found.shape, np.inf))
    return out


def _transitions(st: dict, steps: np.ndarray, hop: int, d: np.ndarray, straight: np.ndarray, allowed: np.ndarray,
                 usable: np.ndarray, beta_m: float, backtrack_m: float) -> tuple:
    """(log transition probability, driving distance) from the states of fix ``j`` to fix ``j + hop``."""
    n = len(st["arc"])
    there = steps + hop < n
    nxt = np.minimum(steps + hop, n - 1)
    keys = ("arc", "pos", "len")
    a, b = {k: st[k][steps][:, :, None] for k in keys}, {k: st[k][nxt][:, None, :] for k in keys}
    via = (a["len"] - a["pos"]) + d + b["pos"]
    # on the same arc a move back by less than backtrack_m is jitter: scored by its length, and its
    # negative drive cancels the jitter forward before it (the driven distance does not grow while parked)
    same = (a["arc"] == b["arc"]) & (a["arc"] >= 0) & (b["pos"] >= a["pos"] - backtrack_m)
    length = np.where(same, np.abs(b["pos"] - a["pos"]), via)
    ok = (length <= allowed[:, None, None]) & (usable & there)[:, None, None] & (a["arc"] >= 0) & (b["arc"] >= 0)
    return (np.where(ok, -np.abs(length - straight[:, None, None]) / beta_m, -np.inf),
            np.where(same, b["pos"] - a["pos"], via))


def match_track(network, x, y, seconds, *, sigma_m: float = 10.0, beta_m: float = 10.0, radius_m: float = 50.0,
                max_candidates: int = 16, backtrack_m: float = 50.0, route_factor: float = 2.0,
                route_slack_m: float = 150.0, breakage_m: float = 2000.0, max_speed_ms: float = 45.0,
                window: int = 64) -> TrackMatch:
    """Map-match a GPS track onto the road network with a hidden Markov model (see the module text).

    Parameters
    ----------
    network : RoadNetwork
    x, y : array-like
        Fixes in the network's metric CRS, in time order.
    seconds : array-like
        Time of each fix in seconds (any origin), non-decreasing.
    sigma_m : float
        GPS error (standard deviation of the fix's distance to the road) of the emission model.
    beta_m : float
        Scale of the transition model: how much longer than the straight line a drive may plausibly be.
    radius_m : float
        Farthest road looked at for a fix.
    max_candidates : int
        Nearest road segments kept per fix.
    backtrack_m : float
        A move back along the same arc by less than this is GPS jitter (scored by its length; its negative drive cancels the jitter forward).
    route_factor, route_slack_m : float
        A drive longer than ``route_factor`` x straight distance + ``route_slack_m`` is impossible.
    breakage_m : float
        Fixes farther apart than this are not connected (the match breaks into a new chain).
    max_speed_ms : float
        Outlier test: implied speed from the fix before and to the fix after.
    window : int
        Fixes per bounded Dijkstra (memory and speed; the result does not depend on it).

    Returns
    -------
    TrackMatch

    Examples
    --------
    >>> m = match_track(net, x, y, seconds)          # doctest: +SKIP
    >>> net.way_osmid[net.seg_way[m.seg[m.matched]]]  # the ways driven, per matched fix  # doctest: +SKIP
    """
    x, y, t = np.asarray(x, float), np.asarray(y, float), np.asarray(seconds, float)
    n = len(x)
    if not (len(y) == n == len(t)):
        raise InputError(f"x, y and seconds must have the same length (got {len(x)}, {len(y)}, {len(t)})")
    if n > 1 and np.any(np.diff(t) < 0):
        raise InputError("seconds must be in time order (sort the track by time first)")
    outlier = _outliers(x, y, t, max_speed_ms)
    cand = _candidates(network, x, y, radius_m, max_candidates)
    keep = np.flatnonzero(~outlier & (cand["seg"][:, 0] >= 0))
    out = TrackMatch(seg=np.full(n, -1), arc=np.full(n, -1), x=x.copy(), y=y.copy(), distance_m=np.full(n, np.nan),
                     step_m=np.full(n, np.nan), chain=np.full(n, -1), outlier=outlier, method="hmm")
    if not len(keep):
        return out
    st = _states(network, {key: val[keep] for key, val in cand.items()})
    fx, fy = x[keep], y[keep]
    emit = np.where(st["arc"] >= 0, -0.5 * (st["d"] / sigma_m) ** 2, -np.inf)
    m, shape = len(keep), emit.shape[1:] * 2
    size = (max(m - 1, 0),) + shape
    trans, drive = np.full(size, -np.inf), np.zeros(size)
    skip, skip_drive = np.full(size, -np.inf), np.zeros(size)  # fix j -> j + 2, leaving fix j + 1 out
    for start in range(0, m - 1, window):
        steps = np.arange(start, min(start + window, m - 1))
        gaps = [np.hypot(fx[np.minimum(steps + h, m - 1)] - fx[steps], fy[np.minimum(steps + h, m - 1)] - fy[steps])
                for h in (1, 2)]
        allowed = [route_factor * g + route_slack_m for g in gaps]
        usable = [g <= breakage_m for g in gaps]
        if not (usable[0].any() or usable[1].any()):
            continue
        limit = max(float(al[us].max()) if us.any() else 0.0 for al, us in zip(allowed, usable))
        lengths = _drive_lengths(network, st, fx, fy, steps, limit, limit + radius_m)
        for h, (tr, dr) in enumerate(((trans, drive), (skip, skip_drive)), start=1):
            tr[steps], dr[steps] = _transitions(st, steps, h, lengths[h - 1], gaps[h - 1], allowed[h - 1],
                                                usable[h - 1], beta_m, backtrack_m)
    # leaving a fix out costs what a fix at the edge of the radius would: no gain from dropping good fixes
    best, chain_of, step, skipped = _viterbi(emit, trans, drive, skip, skip_drive,
                                             skip_cost=0.5 * (radius_m / sigma_m) ** 2)
    out.outlier[keep[skipped]] = True
    keep, best, chain_of, step = keep[~skipped], best[~skipped], chain_of[~skipped], step[~skipped]
    st = {k: v[~skipped] for k, v in st.items()}
    rows = np.arange(len(keep))
    out.arc[keep], out.seg[keep] = st["arc"][rows, best], st["seg"][rows, best]
    out.x[keep], out.y[keep] = st["qx"][rows, best], st["qy"][rows, best]
    out.distance_m[keep], out.step_m[keep], out.chain[keep] = st["d"][rows, best], step, chain_of
    return out


def _outliers(x, y, t, max_speed_ms: float) -> np.ndarray:
    """Fixes that jump away and back: too fast from the fix before and to the fix after, not between those."""
    out = np.zeros(len(x), bool)
    if len(x) < 3:
        return out
    dt1 = np.maximum(t[1:-1] - t[:-2], 1.0)
    dt2 = np.maximum(t[2:] - t[1:-1], 1.0)
    v1 = np.hypot(x[1:-1] - x[:-2], y[1:-1] - y[:-2]) / dt1
    v2 = np.hypot(x[2:] - x[1:-1], y[2:] - y[1:-1]) / dt2
    v13 = np.hypot(x[2:] - x[:-2], y[2:] - y[:-2]) / (dt1 + dt2)
    out[1:-1] = (v1 > max_speed_ms) & (v2 > max_speed_ms) & (v13 <= max_speed_ms)
    return out


def _viterbi(emit, trans, drive, skip, skip_drive, skip_cost: float):
    """Most likely state per fix, where any single fix may be left out at ``skip_cost``.

    A second-order Viterbi: fix ``j`` is reached from fix ``j - 1`` (``trans``) or, leaving ``j - 1``
    out, from fix ``j - 2`` (``skip``, minus ``skip_cost``).  A stray fix whose roads would lead the
    path astray, or a fix whose road lies beyond the radius, is left out instead of bending the path.
    Where neither reaches a fix, the chain breaks and a new one starts.

    Returns (state per fix, chain number per fix, driving distance from the previous fix kept
    (NaN at a chain's start), boolean per fix: left out).
    """
    n, width = emit.shape
    cols = np.arange(width)
    back = np.zeros((n, width), np.int64)
    from_two = np.zeros((n, width), bool)
    starts, finals = [0], []  # first fix of every chain; (last fix kept, its scores) of every chain
    two, one = None, emit[0].copy()  # scores at fix j - 2 and j - 1 (None: before this chain)
    j = 1
    while j < n:
        c1 = one[:, None] + trans[j - 1]
        a1 = c1.argmax(axis=0)
        v1 = c1[a1, cols]
        a2, v2 = a1, np.full(width, -np.inf)
        if two is not None:
            c2 = two[:, None] + skip[j - 2] - skip_cost
            a2 = c2.argmax(axis=0)
            v2 = c2[a2, cols]
        use2 = v2 > v1
        new = np.where(use2, v2, v1) + emit[j]
        if not np.isfinite(new).any() and not np.isfinite(one).any():
            # fix j - 1 was reached by nothing and fix j - 2 does not reach j: break after j - 2
            finals.append((j - 2, two))
            starts.append(j - 1)
            two, one = None, emit[j - 1].copy()
            continue
        back[j], from_two[j] = np.where(use2, a2, a1), use2
        two, one = one, new  # a fix reached by nothing keeps -inf: the next one may skip it
        j += 1
    last_dead = n > 1 and not np.isfinite(one).any()
    finals.append((n - 2, two) if last_dead else (n - 1, one))
    best = np.zeros(n, np.int64)
    chain = np.full(n, -1)
    step = np.full(n, np.nan)
    skipped = np.zeros(n, bool)
    skipped[n - 1] = last_dead
    for c, (lo, (k, scores)) in enumerate(zip(starts, finals)):
        best[k] = int(np.argmax(scores))
        while True:
            chain[k] = c
            if k == lo:
                break
            p = k - 2 if from_two[k, best[k]] else k - 1
            best[p] = back[k, best[k]]
            step[k] = (skip_drive if p == k - 2 else drive)[p, best[p], best[k]]
            skipped[k - 1] |= p == k - 2
            k = p
    return best, chain, step, skipped
