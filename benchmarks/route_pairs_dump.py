"""Dump every benchmark pair's route (status, ways, snap distances, warnings) to compare two versions.

A change that should not alter answers (a faster fallback, a refactor of snapping) is checked by
dumping the same pairs before and after and diffing the two files; the run also prints the query
p50 and the CPU seconds (warm: the first 40 pairs are routed once beforehand).

    python benchmarks/route_pairs_dump.py before.jsonl                       # Heidelberg, 300 pairs, seed 5
    python benchmarks/route_pairs_dump.py after.jsonl --profile && diff before.jsonl after.jsonl

The pairs are those of bench_routing_valhalla.py (``points_on_roads``, same seed) and the truck is
its 40 t / 4.2 m / 2.6 m / 16.5 m one.
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

from split_graph import points_on_roads  # noqa: E402
from gridtools.errors import GridtoolsError  # noqa: E402
from gridtools.routing import Router, load_network, truck  # noqa: E402

DEFAULT = REPO.parent / "shared" / "data" / "roads" / "truck_restrictions" / "bus.osm.pbf"


def route_row(router, o, d, vehicle) -> dict:
    """What a route answers for one pair, rounded where float noise is not a difference."""
    try:
        r = router.route(o, d, vehicle, explain=False)
    except GridtoolsError as exc:
        return {"status": "refused", "why": str(exc)}
    return {"status": "routed", "ways": r.osmids, "snap_m": [round(x, 6) for x in r.snap_m],
            "snap_osmids": list(r.snap_osmids), "warnings": r.warnings,
            "restricted": [p["osmids"] for p in r.restricted], "length_m": round(r.length_m, 4)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="JSON lines file, one pair a line")
    parser.add_argument("--network", type=Path, default=DEFAULT)
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the 40 costliest functions (cumulative)")
    args = parser.parse_args()
    if not args.network.exists():
        sys.exit(f"{args.network} not present")
    net = load_network(args.network, cache_dir=Path(tempfile.gettempdir()) / "gridtools-route-pairs-dump")
    router = Router(net)
    vehicle = truck(weight_t=40.0, height_m=4.2, width_m=2.6, length_m=16.5)
    pts = points_on_roads(net, 2 * args.pairs, seed=args.seed)
    pairs = list(zip(pts[::2], pts[1::2]))
    for o, d in pairs[:40]:  # warm: imports, snapping indexes, per-vehicle caches
        route_row(router, o, d, vehicle)
    profile = cProfile.Profile() if args.profile else None
    rows, ms, cpu = [], [], time.process_time()
    for o, d in pairs:
        t0 = time.perf_counter()
        if profile:
            profile.enable()
        rows.append(route_row(router, o, d, vehicle))
        if profile:
            profile.disable()
        ms.append((time.perf_counter() - t0) * 1000)
    cpu = time.process_time() - cpu
    args.out.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows))
    print(f"{len(rows)} pairs ({sum(r['status'] == 'routed' for r in rows)} routed): query p50 {np.percentile(ms, 50):.2f} ms, "
          f"mean {np.mean(ms):.2f} ms, {cpu:.2f} CPU s; wrote {args.out}")
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
