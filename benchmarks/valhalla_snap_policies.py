"""Could a snapping rule refuse the pairs Valhalla refuses, and route the ones it routes legally?

Reads the per-pair rows of a ``bench_routing_valhalla.py --pairs-out`` run
(``benchmarks/results/routing_valhalla.json``), routes every pair again with gridtools allowed to
move any point (``Router(min_reach_nodes=0)``), and classifies each point whose route needed it
moved: on the vehicle's main network, or in a pocket (the roads the truck may use from there reach,
or are reached from, N junctions, none on its main network; ``c`` when the map itself cuts the road
off, a clipped fragment).  Then each candidate rule ("refuse a pair when a moved point's pocket has
>= R junctions", "refuse when a point is moved more than L m out of a pocket") is applied to the
recorded routes, and per extract it prints the snap p95 over gridtools' routed pairs beside
Valhalla's, and how many pairs Valhalla routed legally the rule would refuse (the must-show wants
p95 <= Valhalla's and 0 such pairs at once).  The rules are applied to the recorded routes (a
refused pair is not re-routed another way), which is what the rule would do when no other end
connects.

    python benchmarks/bench_routing_valhalla.py --valhalla-python /path/to/py312/bin/python --pairs-out
    python benchmarks/valhalla_snap_policies.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_routing_valhalla import DIMS, EXTRACTS  # noqa: E402
from gridtools.errors import GridtoolsError  # noqa: E402
from gridtools.routing import Router, fallback, load_network, truck  # noqa: E402
from gridtools.routing.connectivity import cut_off, reached_from  # noqa: E402
from gridtools.routing.snapping import end_nodes  # noqa: E402


def reach(rules, network, metric, snap, leave: bool):
    """Junctions the truck reaches from (``leave``) or is reached from at ``snap``; None on the main network."""
    _, _, to_main, from_main, _, _ = fallback._reach_parts(network, rules)
    _, node, usable = end_nodes(network, metric.weights if leave else metric.arrive_weights, snap, leave)
    starts = node[usable]
    if not len(starts) or (to_main if leave else from_main)[starts].any():
        return None
    ok = rules.blocked == 0
    tails, heads = (network.arc_u[ok], network.arc_v[ok]) if leave else (network.arc_v[ok], network.arc_u[ok])
    sources = np.zeros(network.n_nodes, bool)
    sources[starts] = True
    return len(np.unique(network.node_base[reached_from(network.n_nodes, tails, heads, sources)]))


def classify(name, path, rows, cache):
    """Per pair: gridtools' routed snaps with every pocket allowed, and each moved point's pocket."""
    net = load_network(path, cache_dir=cache)
    router, vehicle = Router(net, min_reach_nodes=0), truck(weight_t=DIMS["weight"], height_m=DIMS["height"],
                                                            width_m=DIMS["width"], length_m=DIMS["length"])
    rules, metric = router.rules(vehicle, None), router._metric(vehicle, None)
    out = []
    for row in rows:
        o, d = row["pair"]
        try:
            snaps = list(router.route(o, d, vehicle, explain=False).snap_m)
        except GridtoolsError:
            snaps = None
        pts, xy = router._metric_xy([o, d], "point")
        moved = []
        try:
            nearest = router._snap_xy(pts, xy, vehicle, None, ("origin", "destination"))
        except GridtoolsError:
            nearest = None
        for i, role in enumerate(("origin", "destination")):
            if snaps is None or nearest is None or not snaps[i] > nearest.distance_m[i] + 1.0:
                continue
            snap = nearest.take(i)
            moved.append({"m": snaps[i], "cut": cut_off(net, int(snap.seg[0]), role),
                          "junctions": reach(rules, net, metric, snap, i == 0)})
        v = row["valhalla"]
        out.append({"snaps": snaps, "moved": moved, "valhalla_routed": v["status"] == "routed",
                    "valhalla_legal": bool(v.get("legal")), "valhalla_snaps": v.get("snap_geo_m")})
    print(f"classified: {name}", file=sys.stderr)
    return out


RULES = {
    "none (as benchmarked)": lambda m: True,
    **{f"refuse pockets >= {r} junctions (clipped fragments too)":
       (lambda m, r=r: m["junctions"] is None or m["junctions"] < r) for r in (10, 15, 20, 25, 30, 50)},
    **{f"refuse pockets >= {r} junctions (not clipped fragments)":
       (lambda m, r=r: m["cut"] or m["junctions"] is None or m["junctions"] < r) for r in (10, 20, 50)},
    **{f"refuse moves > {lim} m out of a pocket": (lambda m, lim=lim: m["cut"] or m["m"] <= lim) for lim in (50, 100)},
}


def main():
    results = json.loads((REPO / "benchmarks" / "results" / "routing_valhalla.json").read_text())
    paths = dict(EXTRACTS)
    cache = Path(tempfile.mkdtemp(prefix="gridtools-snap-policies-"))
    classified = {r["extract"]: classify(r["extract"], paths[r["extract"]], r["per_pair"], cache)
                  for r in results if "per_pair" in r}
    if not classified:
        print("no per-pair rows: run bench_routing_valhalla.py with --pairs-out first")
        return
    names = list(classified)
    print("| rule | " + " | ".join(f"{n}: routed, p95 m (Valhalla's), Valhalla-legal refused" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for label, keep in RULES.items():
        cells = []
        for name in names:
            rows = classified[name]
            kept = [r for r in rows if r["snaps"] is not None and all(keep(m) for m in r["moved"])]
            lost = sum(r["valhalla_routed"] and r["valhalla_legal"] and r not in kept for r in rows)
            ours = [s for r in kept for s in r["snaps"]]
            theirs = [s for r in rows if r["valhalla_routed"] for s in r["valhalla_snaps"]]
            cells.append(f"{len(kept)}, {np.percentile(ours, 95):.1f} ({np.percentile(theirs, 95):.1f}), {lost}")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
