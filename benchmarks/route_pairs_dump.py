"""Dump every benchmark pair's route (status, ways, arcs, cost, snaps, warnings) to compare two versions.

A change that should not alter answers (a faster fallback, a refactor of snapping) is checked by
dumping the same pairs before and after and diffing the two files; the run also prints the query
p50 and the CPU seconds (warm: the first 40 pairs are routed once beforehand).

    python benchmarks/route_pairs_dump.py before.jsonl                       # Heidelberg, 300 pairs, seed 5
    python benchmarks/route_pairs_dump.py after.jsonl --profile && diff before.jsonl after.jsonl
    python benchmarks/route_pairs_dump.py all.jsonl --all --explain both --offset 0 30   # every extract
    python benchmarks/route_pairs_dump.py t.jsonl --passes 7   # p50 of each pair's fastest of 7 timings

The pairs are those of bench_routing_valhalla.py (``points_on_roads``, same seed; ``--offset`` also
moves them sideways off their road) and the truck is its 40 t / 4.2 m / 2.6 m / 16.5 m one.  ``--all``
covers every extract of that benchmark; ``--explain`` routes with ``explain=False`` (the benchmark's),
``True`` or both.  Floats are written in full (``repr``): a change meant to keep answers keeps them
to the last bit.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from split_graph import points_on_roads  # noqa: E402
from gridtools.errors import GridtoolsError  # noqa: E402
from gridtools.routing import Router, load_network, truck  # noqa: E402

DEFAULT = REPO.parent / "shared" / "data" / "roads" / "truck_restrictions" / "bus.osm.pbf"


def route_row(router, o, d, vehicle, explain: bool = False) -> dict:
    """What a route answers for one pair: status, reason or ways, arcs, cost, snaps and warnings."""
    try:
        r = router.route(o, d, vehicle, explain=explain)
    except GridtoolsError as exc:
        return {"status": "refused", "error": type(exc).__name__, "why": str(exc),
                "blocking": [b.get("osmid") for b in getattr(exc, "blocking", [])]}
    return {"status": "routed", "ways": r.osmids, "arcs": [int(a) for a in r.arcs], "cost": repr(r.cost),
            "start_at": repr(r.start_at), "end_at": repr(r.end_at), "snap_m": [repr(x) for x in r.snap_m],
            "snap_osmids": list(r.snap_osmids), "snap_xy": [[repr(v) for v in p] for p in r.snap_xy],
            "warnings": r.warnings, "restricted": [p["osmids"] for p in r.restricted],
            "avoided": [a.get("osmid") for a in r.avoided], "time_assumed": len(r.time_assumed),
            "length_m": repr(r.length_m)}


def dump(path, args, profile) -> tuple[list, list]:
    """Rows and per-route milliseconds of every pair of one extract."""
    net = load_network(path, cache_dir=Path(tempfile.gettempdir()) / "gridtools-route-pairs-dump")
    router = Router(net)
    vehicle = truck(weight_t=40.0, height_m=4.2, width_m=2.6, length_m=16.5)
    modes = {"false": (False,), "true": (True,), "both": (False, True)}[args.explain]
    rows, ms = [], []
    for offset in args.offset:
        pts = points_on_roads(net, 2 * args.pairs, seed=args.seed, offset_m=offset)
        pairs = list(zip(pts[::2], pts[1::2]))
        for explain in modes:
            for o, d in pairs[:40]:  # warm: imports, snapping indexes, per-vehicle caches
                route_row(router, o, d, vehicle, explain)
            best = np.full(len(pairs), np.inf)
            for rep in range(args.passes):  # each pair's fastest time over the passes; rows from the first
                for k, (o, d) in enumerate(pairs):
                    t0 = time.perf_counter()
                    if profile:
                        profile.enable()
                    row = route_row(router, o, d, vehicle, explain)
                    if profile:
                        profile.disable()
                    best[k] = min(best[k], (time.perf_counter() - t0) * 1000)
                    if rep == 0:
                        rows.append({"extract": path.stem, "offset": offset, "explain": explain, "pair": k, **row})
            ms += best.tolist()
    return rows, ms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="JSON lines file, one pair a line")
    parser.add_argument("--network", type=Path, default=DEFAULT)
    parser.add_argument("--all", action="store_true", help="every extract of bench_routing_valhalla.py")
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--offset", type=float, nargs="+", default=[0.0], help="metres off the road (one run each)")
    parser.add_argument("--explain", choices=("false", "true", "both"), default="false")
    parser.add_argument("--profile", action="store_true", help="print the 40 costliest functions (cumulative)")
    parser.add_argument("--passes", type=int, default=1,
                        help="route every pair this many times and keep its fastest time (this VM's speed moves "
                             "between runs; 7 passes tell two versions apart)")
    args = parser.parse_args()
    if args.all:
        from bench_routing_valhalla import EXTRACTS

        paths = [p for _, p in EXTRACTS if p.exists()]
    else:
        if not args.network.exists():
            sys.exit(f"{args.network} not present")
        paths = [args.network]
    profile = cProfile.Profile() if args.profile else None
    rows, cpu = [], time.process_time()
    with args.out.open("w") as out:
        for path in paths:
            part, ms = dump(path, args, profile)
            out.write("".join(json.dumps(r, default=str) + "\n" for r in part))
            rows += part
            print(f"{path.stem}: {len(part)} routes ({sum(r['status'] == 'routed' for r in part)} routed): query p50 "
                  f"{np.percentile(ms, 50):.2f} ms, mean {np.mean(ms):.2f} ms")
    print(f"{len(rows)} routes, {time.process_time() - cpu:.2f} CPU s; wrote {args.out}")
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
