"""Benchmark ``gridtools.routing`` against osmnx / networkx shortest paths, in the same run.

For each network (real OSM extracts from ``../shared/data`` and a generated 200k-node city):

* loading: first parse of the file, then the cached load (what every later run pays);
* preparation: building the customizable contraction hierarchy (CCH) order, once per network and
  cached on disk; customising it for a vehicle (once per vehicle class x time slot, then cached);
* query latency (p50 / p95 in ms) of ``Router.route`` end to end (snap both points, query, build the
  Route with its way ids, length and time; ``explain=False``), and of the bare engine query between
  two nodes; also ``Router.route(explain=True)``, which adds the unrestricted route and the
  "why avoided" list;
* the baseline: ``osmnx.routing.shortest_path`` (networkx Dijkstra) on a networkx MultiDiGraph of
  the *same* legal arcs and weights, on a sample of the same origin/destination pairs; the costs
  are compared pair by pair (must be equal) and the ratio of median latencies is printed;
* the exact fallback (SciPy Dijkstra on the masked graph) and a 100 x 100 travel-time matrix.

Run from the repository root::

    python benchmarks/bench_routing.py            # about 3-5 min on 2 cores
    python benchmarks/bench_routing.py --quick    # smaller samples, no 200k city

Results: a markdown report on stdout and ``benchmarks/results/routing.json``.  Real-data cases
are skipped with a message when ``../shared/data`` is absent.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # tests/split_graph.py: the networkx reference on the split graph

from split_graph import points_on_roads, road_graph, split_cost  # noqa: E402
from gridtools.routing import NoRouteError, Router, car, load_network, network_from_frames, truck  # noqa: E402

REAL = [
    ("Harrisburg PA (OSM pbf)", SHARED / "roads" / "truck_restrictions" / "harrisburg.osm.pbf"),
    ("Heidelberg bus (OSM pbf)", SHARED / "roads" / "truck_restrictions" / "bus.osm.pbf"),
    ("Helsinki centre (OSM pbf)", SHARED / "roads" / "helsinki" / "Helsinki.osm.pbf"),
    ("Shanghai Huangpu (OSM XML)", SHARED / "china" / "shanghai_huangpu_osm" / "shanghai_huangpu_drive.osm"),
]


def pct(values, q):
    return float(np.percentile(np.asarray(values) * 1e3, q)) if len(values) else math.nan


def generated_city(side: int = 450, seed: int = 0):
    """A city-like grid of ``side`` x ``side`` junctions (~100 m blocks, jittered), as road lines.

    Every 15th street is a primary arterial (60 km/h, some one-way pairs), the rest residential;
    25 % of residential block edges are missing (dead ends, superblocks) so it is not a perfect
    lattice; 2 % of edges carry a truck restriction (maxheight 3.5 / maxweight 7.5 / hgv=no).
    """
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    ids = np.arange(side * side).reshape(side, side)
    yy, xx = np.divmod(np.arange(side * side), side)
    lon = 121.0 + xx * 0.00104 + rng.normal(0, 0.0001, side * side)  # ~100 m at 31 N
    lat = 31.0 + yy * 0.0009 + rng.normal(0, 0.0001, side * side)
    tails, heads, arterial, oneway = [], [], [], []
    for a, b, horizontal in ((ids[:, :-1], ids[:, 1:], True), (ids[:-1, :], ids[1:, :], False)):
        line_idx = np.broadcast_to((np.arange(a.shape[0])[:, None] if horizontal else np.arange(a.shape[1])[None, :]),
                                   a.shape)
        art = line_idx % 15 == 0
        keep = art | (rng.random(a.shape) > 0.25)
        tails.append(a[keep]), heads.append(b[keep]), arterial.append(art[keep])
        oneway.append((line_idx % 30 == 15)[keep])
    u, v = np.concatenate(tails), np.concatenate(heads)
    art, ow = np.concatenate(arterial), np.concatenate(oneway)
    n = len(u)
    lines = shapely.linestrings(np.stack([np.column_stack([lon[u], lat[u]]), np.column_stack([lon[v], lat[v]])], 1))
    tag = rng.random(n)
    frame = gpd.GeoDataFrame({
        "osmid": np.arange(1, n + 1),
        "highway": np.where(art, "primary", "residential"),
        "maxspeed": np.where(art, "60", None),
        "oneway": np.where(ow & ~art, "yes", None),
        "maxheight": np.where(tag < 0.007, "3.5", None),
        "maxweight": np.where((tag >= 0.007) & (tag < 0.014), "7.5", None),
        "hgv": np.where((tag >= 0.014) & (tag < 0.02), "no", None),
    }, geometry=lines, crs=4326)
    return frame


def networkx_graph(net, router, vehicle):
    """The same legal arcs and integer weights as the CCH metric, as an osmnx-style MultiDiGraph."""
    import networkx as nx

    metric = router._metric(vehicle, None)
    ok = np.flatnonzero(metric.weights < 2147483647)
    g = nx.MultiDiGraph()
    g.graph["crs"] = "EPSG:4326"
    g.add_nodes_from((int(i), {"x": float(net.node_lon[i]), "y": float(net.node_lat[i])}) for i in range(net.n_nodes))
    g.add_edges_from((int(net.arc_u[a]), int(net.arc_v[a]), {"w": float(metric.weights[a])}) for a in ok)
    return g


def pandana_bench(net, metric, pick) -> dict:
    """Pandana's contraction hierarchy (fixed weights: one network per vehicle class) on the same arcs."""
    try:
        import pandana
        import pandas as pd
    except ImportError:
        return {"pandana": "not installed (pip install pandana)"}
    ok = metric.weights < 2147483647
    nodes = pd.DataFrame({"x": net.node_x, "y": net.node_y})
    t0 = time.perf_counter()
    pn = pandana.Network(nodes["x"], nodes["y"], pd.Series(net.arc_u[ok]), pd.Series(net.arc_v[ok]),
                         pd.DataFrame({"w": metric.weights[ok].astype(float)}), twoway=False)
    prep = time.perf_counter() - t0
    times, mismatches = [], 0
    for a, b in pick:
        s = int(net.node_depart[a])
        with warnings.catch_warnings():  # pandana warns on every unconnected pair
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            path = pn.shortest_path(s, int(b), imp_name="w")
            length = pn.shortest_path_length(s, int(b), imp_name="w")
            times.append(time.perf_counter() - t0)
        ours, _ = metric.query(s, int(b))
        if math.isfinite(ours) and len(path):
            mismatches += not math.isclose(length, ours, abs_tol=0.5)
    return {"pandana_prep_s": prep, "pandana_p50_ms": pct(times, 50), "pandana_p95_ms": pct(times, 95),
            "pandana_mismatches": mismatches}


def split_graph_check(net, router, vehicle, pts) -> dict:
    """Route costs between points on roads against networkx Dijkstra on the split graph (same weights)."""
    metric = router._metric(vehicle, None)
    graph = road_graph(net, metric.weights)
    mismatches = compared = routed = 0
    snaps = []
    for o, d in pts:
        try:
            os_ = router.snap_edges([o], vehicle, role="origin")
            ds = router.snap_edges([d], vehicle, role="destination")
        except Exception:
            continue
        try:
            r = router.route(o, d, vehicle, explain=False)
        except NoRouteError:
            r = None
        if r is not None and r.warnings and "does not connect" in r.warnings[0]:
            continue  # re-snapped onto the main network: a different pair from the reference's
        ref = split_cost(graph, net, metric.weights, metric.arrive_weights, int(os_.seg[0]), float(os_.fraction[0]),
                         int(ds.seg[0]), float(ds.fraction[0]))
        ours = r.cost * 1000 if r is not None else math.inf
        mismatches += not (math.isinf(ref) and math.isinf(ours) or math.isclose(ref, ours, abs_tol=0.5))
        compared += 1
        routed += r is not None
        snaps += [os_.distance_m[0], ds.distance_m[0]]
    return {"split_graph_compared": compared, "split_graph_routed": routed, "split_graph_mismatches": mismatches,
            "snap_p50_m": float(np.percentile(snaps, 50)) if snaps else math.nan,
            "snap_p95_m": float(np.percentile(snaps, 95)) if snaps else math.nan}


def bench_network(name, net, args, load_times):
    import osmnx as ox

    report = {"network": name, "nodes": net.n_nodes, "arcs": net.n_arcs, **load_times}
    rng = np.random.default_rng(1)
    base = np.flatnonzero(net.node_base == np.arange(net.n_nodes))
    router = Router(net)
    t0 = time.perf_counter()
    router.prepare()
    report["cch_order_s"] = time.perf_counter() - t0
    vehicles = {"car": car(), "truck 40 t 4.2 m": truck(weight_t=40, height_m=4.2)}
    for label, vehicle in vehicles.items():
        t0 = time.perf_counter()
        router._metric(vehicle, None)
        report[f"customise_{label}_s"] = time.perf_counter() - t0
    truck_v = vehicles["truck 40 t 4.2 m"]
    n_pairs = args.pairs
    pick = rng.choice(base, size=(n_pairs, 2))
    # origins and destinations anywhere along the roads (not at junctions): routes snap onto edges
    on_roads = points_on_roads(net, 2 * n_pairs, seed=1)
    pts = list(zip(on_roads[::2], on_roads[1::2]))

    route_t, route_explain_t, engine_t = [], [], []
    metric = router._metric(truck_v, None)
    for (o, d), (a, b) in zip(pts, pick):
        t0 = time.perf_counter()
        try:
            router.route(o, d, truck_v, explain=False)
        except NoRouteError:
            pass
        route_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        metric.query(int(net.node_depart[a]), int(b))
        engine_t.append(time.perf_counter() - t0)
    for o, d in pts[: max(50, n_pairs // 5)]:
        t0 = time.perf_counter()
        try:
            router.route(o, d, truck_v, explain=True)
        except NoRouteError:
            pass
        route_explain_t.append(time.perf_counter() - t0)
    report.update(route_p50_ms=pct(route_t, 50), route_p95_ms=pct(route_t, 95), engine_p50_ms=pct(engine_t, 50),
                  engine_p95_ms=pct(engine_t, 95), route_explain_p50_ms=pct(route_explain_t, 50),
                  route_explain_p95_ms=pct(route_explain_t, 95))

    # baseline: osmnx / networkx on the same legal graph and weights
    import networkx as nx

    g = networkx_graph(net, router, truck_v)
    nx_t, ox_t, mismatches, compared = [], [], 0, 0
    for i, (a, b) in enumerate(pick[: args.baseline_pairs]):
        s = int(net.node_depart[a])
        if i < args.baseline_pairs // 5:
            # osmnx checks every edge's weight attribute on each call before running networkx
            t0 = time.perf_counter()
            ox.routing.shortest_path(g, s, int(b), weight="w")
            ox_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        try:
            path = nx.shortest_path(g, s, int(b), weight="w")  # what osmnx runs after its checks
        except nx.NetworkXNoPath:
            path = None
        nx_t.append(time.perf_counter() - t0)
        ours, _ = metric.query(s, int(b))
        if path is None:
            mismatches += math.isfinite(ours)
        else:
            cost = sum(min(d["w"] for d in g[p][q].values()) for p, q in zip(path[:-1], path[1:]))
            mismatches += not math.isclose(cost, ours, abs_tol=0.5)
        compared += 1
    report.update(networkx_p50_ms=pct(nx_t, 50), networkx_p95_ms=pct(nx_t, 95), osmnx_p50_ms=pct(ox_t, 50),
                  cost_mismatches=mismatches,
                  compared=compared)
    report.update(split_graph_check(net, router, truck_v, pts[: args.baseline_pairs]))
    report["speedup_route_vs_networkx"] = report["networkx_p50_ms"] / report["route_p50_ms"]
    report["speedup_engine_vs_networkx"] = report["networkx_p50_ms"] / report["engine_p50_ms"]

    if net.n_nodes < 100_000 or args.pandana_city:
        report.update(pandana_bench(net, metric, pick[: args.pairs]))
    else:
        report["pandana"] = "skipped on the 200k city (its CH build ran > 8 min on 2 cores); --pandana-city runs it"

    exact = Router(net, engine="dijkstra")
    exact._metric(truck_v, None)
    ex_t = []
    for o, d in pts[: args.baseline_pairs]:
        t0 = time.perf_counter()
        try:
            exact.route(o, d, truck_v, explain=False)
        except NoRouteError:
            pass
        ex_t.append(time.perf_counter() - t0)
    report.update(dijkstra_fallback_p50_ms=pct(ex_t, 50))

    k = min(100, len(base))
    o = [(net.node_lon[i], net.node_lat[i]) for i in rng.choice(base, k)]
    d = [(net.node_lon[i], net.node_lat[i]) for i in rng.choice(base, k)]
    router.matrix(o[:2], d[:2], truck_v)  # customise the no-preference metric first
    t0 = time.perf_counter()
    m = router.matrix(o, d, truck_v)
    report.update(matrix_shape=f"{k}x{k}", matrix_s=time.perf_counter() - t0,
                  matrix_reachable=float(np.isfinite(m.seconds).mean()))
    return report


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pairs", type=int, default=None)
    parser.add_argument("--pandana-city", action="store_true", help="also build pandana's CH for the 200k city")
    parser.add_argument("--city-only", action="store_true", help="only the generated 200k city")
    args = parser.parse_args()
    args.pairs = args.pairs or (200 if args.quick else 1000)
    args.baseline_pairs = 20 if args.quick else 50
    cache = Path(tempfile.mkdtemp(prefix="gridtools-bench-routing-"))
    print(f"# gridtools routing benchmark\n\n{platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; cache in {cache}\n")
    results = []
    for name, path in [] if args.city_only else REAL:
        if not path.exists():
            print(f"SKIPPED {name}: {path} not present (see ../shared/data/README.md)")
            continue
        t0 = time.perf_counter()
        load_network(path, cache_dir=cache)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        net = load_network(path, cache_dir=cache)
        cached = time.perf_counter() - t0
        results.append(bench_network(name, net, args, {"load_first_s": first, "load_cached_s": cached}))
        print(f"done: {name}", file=sys.stderr)
    if not args.quick:
        frame = generated_city()
        t0 = time.perf_counter()
        net = network_from_frames(frame, source="generated city")
        build = time.perf_counter() - t0
        from gridtools.routing.network.cache import read_cache, write_cache

        write_cache(net, cache / "generated")
        t0 = time.perf_counter()
        net = read_cache(cache / "generated")
        cached = time.perf_counter() - t0
        results.append(bench_network("Generated city 450x450 (202k junctions)", net, args,
                                     {"load_first_s": build, "load_cached_s": cached}))

    cols = [("network", "network", "{}"), ("nodes", "nodes", "{:,}"), ("arcs", "arcs", "{:,}"),
            ("load_first_s", "parse s", "{:.2f}"), ("load_cached_s", "cached load s", "{:.2f}"),
            ("cch_order_s", "CCH order s", "{:.2f}"), ("customise_truck 40 t 4.2 m_s", "customise truck s", "{:.3f}"),
            ("route_p50_ms", "route p50 ms", "{:.3f}"), ("route_p95_ms", "route p95 ms", "{:.3f}"),
            ("engine_p50_ms", "engine p50 ms", "{:.3f}"), ("route_explain_p50_ms", "route+explain p50 ms", "{:.2f}"),
            ("networkx_p50_ms", "networkx p50 ms", "{:.2f}"), ("networkx_p95_ms", "networkx p95 ms", "{:.2f}"),
            ("osmnx_p50_ms", "osmnx shortest_path p50 ms", "{:.2f}"),
            ("speedup_route_vs_networkx", "x faster than networkx (route)", "{:.0f}"),
            ("speedup_engine_vs_networkx", "x faster than networkx (engine)", "{:.0f}"),
            ("cost_mismatches", "cost mismatches", "{}"),
            ("split_graph_compared", "pairs on roads vs networkx split graph", "{}"),
            ("split_graph_mismatches", "split-graph mismatches", "{}"),
            ("snap_p50_m", "snap p50 m", "{:.1f}"), ("snap_p95_m", "snap p95 m", "{:.1f}"),
            ("pandana_prep_s", "pandana CH build s (per vehicle class)", "{:.2f}"),
            ("pandana_p50_ms", "pandana path+length p50 ms", "{:.3f}"), ("pandana_mismatches", "pandana mismatches", "{}"), ("dijkstra_fallback_p50_ms", "exact fallback p50 ms", "{:.2f}"),
            ("matrix_s", "100x100 matrix s", "{:.3f}")]
    print("\n| " + " | ".join(c[1] for c in cols) + " |")
    print("|" + "---|" * len(cols))
    for r in results:
        print("| " + " | ".join(fmt.format(r[k]) if k in r else "-" for k, _, fmt in cols) + " |")
    print("\nroute = Router.route end to end (snap both points onto the nearest usable road, CCH query, way ids, length, time) for a 40 t, "
          "4.2 m truck; engine = bare CCH node-to-node query; baseline = networkx shortest_path (the Dijkstra "
          "osmnx.routing.shortest_path runs; osmnx itself, which first checks every edge weight, timed on a "
          "fifth of the pairs) on a MultiDiGraph of the same legal arcs and weights, same pairs; cost mismatches "
          "must be 0. Route pairs lie anywhere along random road segments; split graph = networkx Dijkstra "
          "with origin and destination spliced into their roads (tests/split_graph.py), mismatches must be 0. "
          "pandana: its CH built for this one vehicle's weights, path + length per pair.")
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "routing.json").write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out / 'routing.json'}")


if __name__ == "__main__":
    main()
