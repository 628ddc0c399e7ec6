"""A networkx reference for routes between points snapped onto roads (used by tests and benchmarks).

The road graph of one vehicle (its usable arcs, the router's integer weights) gets two extra
nodes, ``"O"`` and ``"D"``, spliced into the arcs of the snapped segments: the origin reaches the
head of each usable arc of its segment with the rest of that arc's weight, the destination is
reached from the tail of each arc with the part up to the point, a destination ahead of the origin
on the same arc is reached directly, and a point on a segment's end is joined to the junction.
``networkx.dijkstra_path_length`` on that graph is the cost the router must match.

Examples
--------
>>> graph = road_graph(net, weights)                                    # doctest: +SKIP
>>> cost = split_cost(graph, net, weights, arrive, o_snap, d_snap)        # doctest: +SKIP
"""

from __future__ import annotations

import networkx as nx
import numpy as np

INF = 2147483647


def road_graph(net, weights: np.ndarray) -> nx.DiGraph:
    """Directed graph of every arc with a finite weight (the cheapest of parallel arcs)."""
    graph = nx.DiGraph()
    for a in np.flatnonzero(weights < INF):
        u, v, w = int(net.arc_u[a]), int(net.arc_v[a]), int(weights[a])
        if not graph.has_edge(u, v) or graph[u][v]["w"] > w:
            graph.add_edge(u, v, w=w)
    return graph


def _original_arcs(net, seg: int) -> dict:
    """{0: arc along the drawing, 1: arc against it} of a segment (lowest id: not a via-way copy)."""
    out = {}
    for a in np.flatnonzero(net.arc_seg == seg):
        col = int(net.arc_back[a])
        out.setdefault(col, int(a))
    return out


def split_cost(graph: nx.DiGraph, net, weights, arrive, o_seg: int, o_frac: float, d_seg: int,
               d_frac: float) -> float:
    """Cheapest cost from the point at ``o_frac`` along ``o_seg`` to the point at ``d_frac`` along ``d_seg``."""
    g = graph  # O and D are added, then removed again
    g.add_node("O")
    g.add_node("D")
    o_arcs, d_arcs = _original_arcs(net, o_seg), _original_arcs(net, d_seg)

    def pos(w, frac, col):
        return int(np.rint((frac if col == 0 else 1.0 - frac) * w))

    for col, a in o_arcs.items():
        if weights[a] < INF:
            w = int(weights[a])
            _add(g, "O", int(net.arc_v[a]), w - pos(w, o_frac, col))
    for col, a in d_arcs.items():
        if arrive[a] < INF:
            w = int(arrive[a])
            _add(g, int(net.arc_u[a]), "D", pos(w, d_frac, col))
    for seg, frac, name in ((o_seg, o_frac, "O"), (d_seg, d_frac, "D")):
        if frac in (0.0, 1.0):
            arcs = _original_arcs(net, seg)
            a = arcs.get(0, arcs.get(1))
            fwd = 0 in arcs
            first = net.arc_u[a] if fwd else net.arc_v[a]
            last = net.arc_v[a] if fwd else net.arc_u[a]
            base = int(net.node_base[first if frac == 0.0 else last])
            if name == "O":
                _add(g, "O", int(net.node_depart[base]), 0)
            else:
                _add(g, base, "D", 0)
    if o_seg == d_seg:
        for col, a in o_arcs.items():
            ahead = d_frac >= o_frac if col == 0 else d_frac <= o_frac
            if arrive[a] < INF and ahead:
                w = int(arrive[a])
                _add(g, "O", "D", pos(w, d_frac, col) - pos(w, o_frac, col))
    try:
        return float(nx.dijkstra_path_length(g, "O", "D", weight="w"))
    except nx.NetworkXNoPath:
        return float("inf")
    finally:
        g.remove_nodes_from(["O", "D"])


def _add(g, u, v, w):
    if not g.has_edge(u, v) or g[u][v]["w"] > w:
        g.add_edge(u, v, w=w)


def points_on_roads(net, n: int, seed: int = 0, offset_m: float = 0.0) -> list:
    """``n`` (lon, lat) points at random places along random road segments (optionally moved sideways)."""
    import pyproj

    rng = np.random.default_rng(seed)
    segs = rng.integers(0, len(net.seg_start), n)
    lines = net.segment_lines(segs, lonlat=False)
    frac = rng.random(n)
    pts = [line.interpolate(f, normalized=True) for line, f in zip(lines, frac)]
    angle = rng.random(n) * 2 * np.pi
    x = np.array([p.x for p in pts]) + offset_m * np.cos(angle)
    y = np.array([p.y for p in pts]) + offset_m * np.sin(angle)
    lon, lat = pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True).transform(x, y)
    return list(zip(lon, lat))
