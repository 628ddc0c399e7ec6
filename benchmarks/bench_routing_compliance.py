"""Route compliance on simulated GPS tracks along real routes: detection quality and throughput.

For each real extract: random assigned truck routes between points on roads; for each, a simulated
drive that leaves the route through a random waypoint off it (and, for a quarter, follows it), at 1 Hz
with Gaussian GPS noise (sigma per axis: 5, 10 and 15 m), 10 % of fixes dropped, one 60 s outage, and
a 5-minute stop at the end (tests/track_sim.py).  Scored per fix: off-route precision / recall (fixes
truly > 50 m off the route are off, < 20 m on; between is not scored), the stop's start against the
true arrival, and whether the stop lies in a 40 m bay around the destination.  Throughput: fixes per
second of ``check_route`` (distance to the route, off-route stretches, stops, parking), and for a
120,000-fix day of one truck.

Run from the repository root::

    python benchmarks/bench_routing_compliance.py [--trips 40]

Results: stdout and ``benchmarks/results/routing_compliance.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from split_graph import points_on_roads  # noqa: E402
from track_sim import simulate  # noqa: E402
from gridtools.errors import GridtoolsError  # noqa: E402
from gridtools.routing import Router, check_route, load_network, truck  # noqa: E402

EXTRACTS = [("Harrisburg", SHARED / "roads" / "truck_restrictions" / "harrisburg.osm.pbf"),
            ("Shanghai Huangpu", SHARED / "china" / "shanghai_huangpu_osm" / "shanghai_huangpu_drive.osm")]


def bay(net, lonlat, radius_m=40.0):
    import pyproj
    import shapely

    to_m = pyproj.Transformer.from_crs(4326, net.crs, always_xy=True)
    back = pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True)
    x, y = to_m.transform(*lonlat)
    return shapely.transform(shapely.Point(x, y).buffer(radius_m),
                             lambda c: np.column_stack(back.transform(c[:, 0], c[:, 1])))


def run(name, path, args) -> list[dict]:
    net = load_network(path, cache_dir=args.cache)
    router = Router(net)
    v = truck()
    pts = points_on_roads(net, 6 * args.trips, seed=11)
    rows = []
    for noise in (5.0, 10.0, 15.0):
        tp = fp = fn = 0
        start_err, parked, fixes, secs, trips = [], [], 0, 0.0, 0
        for k in range(args.trips):
            o, d, via = pts[3 * k], pts[3 * k + 1], pts[3 * k + 2]
            try:
                assigned = router.route(o, d, v, explain=False)
                if assigned.length_m < 1500:
                    continue
                faithful = k % 4 == 0
                legs = [o, d] if faithful else [o, via, d]
                track, truth = simulate(router, assigned, legs, v, noise_m=noise, seed=k)
            except GridtoolsError:
                continue
            t0 = time.perf_counter()
            report = check_route(assigned, track, parking=bay(net, truth["end"]))
            secs += time.perf_counter() - t0
            fixes += len(track)
            flags = report.points["off_route"].to_numpy()
            off, on = truth["true_off_m"] > 50, truth["true_off_m"] < 20
            tp += int((flags & off).sum())
            fp += int((flags & on).sum())
            fn += int((~flags & off).sum())
            if report.stops:
                start_err.append(abs((report.stops[-1]["start"] - truth["arrival"]).total_seconds()))
            parked.append(bool(report.parked_in_place))
            trips += 1
        rows.append({"extract": name, "noise_m": noise, "trips": trips, "precision": tp / max(tp + fp, 1),
                     "recall": tp / max(tp + fn, 1), "stop_found_share": len(start_err) / max(trips, 1),
                     "stop_start_error_p95_s": float(np.percentile(start_err, 95)) if start_err else None,
                     "stop_start_error_max_s": max(start_err) if start_err else None,
                     "parked_detected_share": float(np.mean(parked)) if parked else None,
                     "fixes_per_s": fixes / secs if secs else None})
        print(f"done: {name} noise {noise}", file=sys.stderr)
    # one long day: 120,000 fixes on one assigned route (repeated laps of a long drive)
    o, d = pts[0], pts[1]
    assigned = router.route(o, d, v, explain=False)
    track, _ = simulate(router, assigned, [o, d] * 6, v, interval_s=0.5, noise_m=10.0, seed=1, stop_s=60)
    track = track.iloc[:120_000]
    t0 = time.perf_counter()
    check_route(assigned, track)
    rows.append({"extract": name, "long_track_fixes": len(track),
                 "long_track_fixes_per_s": len(track) / (time.perf_counter() - t0)})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trips", type=int, default=40)
    args = parser.parse_args()
    args.cache = Path(tempfile.mkdtemp(prefix="gridtools-bench-compliance-"))
    results = []
    for name, path in EXTRACTS:
        if not path.exists():
            print(f"SKIPPED {name}: {path} not present")
            continue
        results += run(name, path, args)
    print("| extract | GPS noise m | trips | precision | recall | stop found | stop start error p95 / max s | "
          "parked detected | fixes/s |\n|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "noise_m" in r:
            print(f"| {r['extract']} | {r['noise_m']:g} | {r['trips']} | {r['precision']:.3f} | {r['recall']:.3f} | "
                  f"{r['stop_found_share']:.2f} | {r['stop_start_error_p95_s']} / {r['stop_start_error_max_s']} | "
                  f"{r['parked_detected_share']:.2f} | {r['fixes_per_s']:,.0f} |")
        else:
            print(f"| {r['extract']} | 10 | 1 long track of {r['long_track_fixes']:,} fixes | | | | | | "
                  f"{r['long_track_fixes_per_s']:,.0f} |")
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "routing_compliance.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwrote {out / 'routing_compliance.json'}")


if __name__ == "__main__":
    main()
