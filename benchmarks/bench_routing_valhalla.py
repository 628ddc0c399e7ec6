"""gridtools truck routes beside Valhalla's on the same random points along real OSM ways.

For every extract: random points anywhere along drivable ways (not at junctions), paired; a 40 t,
4.2 m high, 2.6 m wide, 16.5 m long truck.  gridtools routes in this process; Valhalla (pyvalhalla,
truck costing with the same dimensions) in a worker started with a Python that has pyvalhalla
(its wheels are cp312-abi3: Python >= 3.12; ``--valhalla-python``), on tiles built from the same
file with ``valhalla_build_tiles``.  Every way either engine drives is judged from the raw OSM tags
by tests/truck_judge.py (osmium, no gridtools code): closed mid-route, or closed at an end (the
first / last way, which a point on a private road legitimately needs).  Reported per engine:
routed / refused pairs, closed ways used, snap distance p50 / p95 / max, query p50 of each pair's fastest
time over ``--repeat`` passes (default 5; over the engine's own
routed pairs, over the pairs both routed, and over every pair, refusals included; snap distances
also over every pair with a refused pair's points counted as never snapped, inf); and the pairs
Valhalla routes legally that gridtools refuses (must be none), with gridtools' reason.

Run from the repository root (tiles are built once under --tiles, about 1 s per extract)::

    python benchmarks/bench_routing_valhalla.py --valhalla-python /path/to/py312/bin/python

Snap distances are geodesic from the input point to the snapped point moved onto the nearest road line
(:class:`RoadPoint`; Valhalla's shape points are up to 0.08 m off the road).  ``--pairs-out`` keeps every pair's rows in the JSON (``per_pair``).

Results: stdout (markdown) and ``benchmarks/results/routing_valhalla.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
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
from truck_judge import end_stretches, main_ways, way_tags, why_closed, why_closed_one_way  # noqa: E402
from gridtools.errors import GridtoolsError  # noqa: E402
from gridtools.routing import Router, load_network, truck  # noqa: E402

EXTRACTS = [
    ("Heidelberg", SHARED / "roads" / "truck_restrictions" / "bus.osm.pbf"),
    ("Harrisburg", SHARED / "roads" / "truck_restrictions" / "harrisburg.osm.pbf"),
    ("NYC", SHARED / "roads" / "truck_restrictions" / "nyc.osm.pbf"),
    ("NY access", SHARED / "roads" / "truck_restrictions" / "ny-access-restriction.osm.pbf"),
    ("Helsinki", SHARED / "roads" / "helsinki" / "Helsinki.osm.pbf"),
    ("Hsinchu (unseen)", SHARED / "roads" / "hsinchu" / "NCTU_Taiwan.osm.pbf"),
]
DIMS = dict(weight=40.0, height=4.2, width=2.6, length=16.5)


def build_tiles(py: str, pbf: Path, folder: Path) -> Path:
    """Valhalla config + tiles for one extract (kept between runs)."""
    config = folder / "valhalla.json"
    if config.exists() and any((folder / "tiles").glob("*")):
        return config
    bin_dir = str(Path(py).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    (folder / "tiles").mkdir(parents=True, exist_ok=True)
    text = subprocess.run([str(Path(bin_dir) / "valhalla_build_config"), "--mjolnir-tile-dir", str(folder / "tiles"),
                           "--mjolnir-tile-extract", str(folder / "tiles.tar"), "--mjolnir-concurrency", "1"],
                          env=env, capture_output=True, text=True, check=True).stdout
    config.write_text(text)
    subprocess.run([str(Path(bin_dir) / "valhalla_build_tiles"), "-c", str(config), str(pbf)], env=env,
                   capture_output=True, check=True)
    return config


def valhalla_routes(py: str, config: Path, pairs, repeat: int = 1) -> list[dict]:
    job = {"config": str(config), "truck": DIMS, "pairs": [[*o, *d] for o, d in pairs], "repeat": repeat}
    out = subprocess.run([py, str(REPO / "benchmarks" / "valhalla_worker.py")], input=json.dumps(job),
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


#: How the judge tells a route's end stretches from mid-route (printed with the results).
JUDGE_RULE = ("a closed way is mid-route unless it lies in the start or end stretch that connects the point (or "
              "the pocket of public streets it lies in) to the main network: no way of the truck's main network "
              "(all nodes in the largest strongly connected part of the ways open to it, from the raw tags) comes "
              "before it (start) or after it (end); the same rule for both engines")


def judge(ways, tags, main, stated=None) -> dict:
    """Closed ways of a route: mid-route, at an end, and one-direction closures (direction not checked).

    A closed way before the route's first way of the main network, or after its last, is "at an
    end" (:data:`JUDGE_RULE`; the same rule for both engines).  ``stated``: way ids the engine said
    it drove closed (gridtools' ``Route.restricted``); end closures outside it are counted.
    """
    why = [why_closed(tags.get(w, {}), **DIMS) for w in ways]
    start, end = end_stretches(ways, [bool(y) for y in why], main)
    ends = start | end
    closed = [(i, w, y) for i, (w, y) in enumerate(zip(ways, why)) if y]
    out = {"mid": [(w, y) for i, w, y in closed if i not in ends],
           "end": [(w, y) for i, w, y in closed if i in ends],
           "one_way": [(w, why_closed_one_way(tags.get(w, {}))) for w in ways if why_closed_one_way(tags.get(w, {}))]}
    out["end_unstated"] = [(w, y) for w, y in out["end"] if stated is not None and w not in stated]
    return out


def geodesic_m(a, b) -> float:
    """Metres between two (lon, lat) points on the WGS-84 ellipsoid."""
    import pyproj

    return float(pyproj.Geod(ellps="WGS84").inv(a[0], a[1], b[0], b[1])[2])


class RoadPoint:
    """Moves a reported snapped point onto the nearest road line of the extract (metric CRS, shapely).

    Valhalla reports its snapped point only through its 1e-6 degree route shape, up to 0.08 m off the
    road (measured on Hsinchu), sometimes towards the input point: nearer than any point of the road.
    Measured from the road point instead, both engines' snap distances are distances to a road
    (gridtools' points are on their road already and move by under 1 um).
    """

    def __init__(self, net):
        import pyproj
        import shapely

        self.lines = net.segment_lines(np.arange(len(net.seg_start)), lonlat=False)
        self.tree = shapely.STRtree(self.lines)
        self.to_xy = pyproj.Transformer.from_crs(4326, net.crs, always_xy=True)
        self.to_lonlat = pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True)

    def __call__(self, lonlat):
        import shapely

        point = shapely.Point(self.to_xy.transform(*lonlat))
        line = self.lines[int(self.tree.nearest(point))]
        on = line.interpolate(line.project(point))
        return self.to_lonlat.transform(on.x, on.y)


def pct(values, q):
    return float(np.percentile(values, q)) if len(values) else math.nan


def bench(name, path, args) -> dict:
    net = load_network(path, cache_dir=args.cache)
    router = Router(net)
    vehicle = truck(weight_t=DIMS["weight"], height_m=DIMS["height"], width_m=DIMS["width"], length_m=DIMS["length"])
    router._metric(vehicle, None)
    pts = points_on_roads(net, 2 * args.pairs, seed=args.seed)
    pairs = list(zip(pts[::2], pts[1::2]))
    tags = way_tags(path)
    main = main_ways(path, **DIMS)
    ours = []
    for o, d in pairs:
        t0 = time.perf_counter()
        try:
            r = router.route(o, d, vehicle, explain=False)
            ms = (time.perf_counter() - t0) * 1000
            ours.append({"status": "routed", "ms": ms, "ways": r.osmids, "snap_m": list(r.snap_m),
                         "snapped": list(r.snap_lonlat), "points": [o, d],
                         "length_km": r.length_m / 1000, "warnings": r.warnings,
                         "stated": [w for part in r.restricted for w in part["osmids"]],
                         "time_assumed": len(r.time_assumed)})
        except GridtoolsError as exc:
            ours.append({"status": "refused", "ms": (time.perf_counter() - t0) * 1000, "why": str(exc)[:300]})
    for _ in range(args.repeat - 1):  # further passes: each pair's fastest time, as for Valhalla
        for row, (o, d) in zip(ours, pairs):
            t0 = time.perf_counter()
            try:
                router.route(o, d, vehicle, explain=False)
            except GridtoolsError:
                pass
            row["ms"] = min(row["ms"], (time.perf_counter() - t0) * 1000)
    config = build_tiles(args.valhalla_python, path, args.tiles / path.stem)
    theirs = valhalla_routes(args.valhalla_python, config, pairs, args.repeat)
    for row, (o, d) in zip(theirs, pairs):
        row["points"] = [o, d]
    on_road = RoadPoint(net)
    for row in ours + theirs:  # one formula for both: geodesic from the input point to the snapped point,
        if row["status"] == "routed":  # moved onto the road line first (RoadPoint)
            row["snap_geo_m"] = [geodesic_m(p, on_road(q)) for p, q in zip(row["points"], row["snapped"])]
    report = {"extract": name, "pairs": len(pairs)}
    for label, rows in (("gridtools", ours), ("valhalla", theirs)):
        routed = [r for r in rows if r["status"] == "routed"]
        judged = [judge(r["ways"] or [], tags, main, set(r.get("stated", ()))) for r in routed]
        snaps = [s for r in routed for s in r["snap_geo_m"]]
        report[label] = {
            "routed": len(routed), "refused": len(rows) - len(routed),
            "routes_with_closed_way_mid_route": sum(bool(j["mid"]) for j in judged),
            "routes_ending_on_closed_way": sum(bool(j["end"]) and not j["mid"] for j in judged),
            "routes_over_one_direction_closure": sum(bool(j["one_way"]) for j in judged),
            "routes_ending_on_closed_way_unstated": sum(bool(j["end_unstated"]) for j in judged),
            "routes_assuming_time_windows_open": sum(r.get("time_assumed", 0) > 0 for r in routed),
            "closed_examples": sorted({f"{w} {why}" for j in judged for w, why in j["mid"]})[:6],
            "snap_p50_m": pct(snaps, 50), "snap_p95_m": pct(snaps, 95), "snap_max_m": max(snaps) if snaps else None,
            "query_p50_ms": pct([r["ms"] for r in routed], 50),
            "answer_p50_ms": pct([r["ms"] for r in rows], 50),  # every pair, a refusal included
            "no_way_ids": sum(r["ways"] is None for r in routed)}
        for r, j in zip(routed, judged):
            r["legal"] = not j["mid"] and not j["end"]
    missed = [(i, ours[i].get("why", "")) for i, v in enumerate(theirs)
              if v["status"] == "routed" and v.get("legal") and v["ways"] and ours[i]["status"] != "routed"]
    report["valhalla_legal_but_gridtools_refused"] = len(missed)
    report["missed_examples"] = [{"pair": pairs[i], "gridtools": why, "valhalla_ways": theirs[i]["ways"],
                                  "valhalla_snap_m": theirs[i]["snap_m"]}
                                 for i, why in missed[:10]]
    # snap distances on the same pairs: those both engines routed (the per-engine figures above are over
    # each engine's own routed pairs, so an engine that refuses hard pairs looks better there)
    same = [(a, b) for a, b in zip(ours, theirs) if a["status"] == b["status"] == "routed"]
    for label, k in (("gridtools", 0), ("valhalla", 1)):
        snaps = [s for pair in same for s in pair[k]["snap_geo_m"]]
        own = [s for pair in same for s in pair[k]["snap_m"]]  # as each engine reports it
        report[label].update(both_routed=len(same), both_snap_p50_m=pct(snaps, 50), both_snap_p95_m=pct(snaps, 95),
                             both_snap_p95_own_formula_m=pct(own, 95),
                             both_query_p50_ms=pct([pair[k]["ms"] for pair in same], 50))
    # and over every pair, a refused pair's two points counted as never snapped (inf): the same pairs for both
    # engines, without leaving out the ones an engine could not serve (a percentile of the values, no interpolation)
    for label, rows in (("gridtools", ours), ("valhalla", theirs)):
        every = [s for r in rows for s in (r["snap_geo_m"] if r["status"] == "routed" else (math.inf, math.inf))]
        report[label].update({f"every_snap_p{q}_m": float(np.percentile(every, q, method="inverted_cdf"))
                              for q in (50, 95)})
    both = [(a["length_km"], b["length_km"]) for a, b in zip(ours, theirs)
            if a["status"] == b["status"] == "routed" and b["length_km"] > 0.05]
    report["median_length_ratio_gridtools_over_valhalla"] = float(np.median([a / b for a, b in both])) if both else None
    if args.pairs_out:  # every pair's row of both engines, to find which pairs make a percentile
        report["per_pair"] = [{"pair": p, "gridtools": a, "valhalla": b} for p, a, b in zip(pairs, ours, theirs)]
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--valhalla-python", default=os.environ.get("GRIDTOOLS_VALHALLA_PYTHON", "python3.12"))
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--only", default=None, help="run only the extracts whose name contains this text")
    parser.add_argument("--tiles", type=Path, default=Path(tempfile.gettempdir()) / "gridtools-valhalla-tiles")
    parser.add_argument("--repeat", type=int, default=5,
                        help="passes over the pairs per engine; each pair's fastest time is kept (this shared VM's "
                             "speed moves by a quarter between runs)")
    parser.add_argument("--pairs-out", action="store_true",
                        help="keep every pair's rows of both engines in the results JSON (per_pair)")
    args = parser.parse_args()
    args.cache = Path(tempfile.mkdtemp(prefix="gridtools-bench-valhalla-"))
    try:
        subprocess.run([args.valhalla_python, "-c", "import valhalla"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        print(f"SKIPPED: {args.valhalla_python} cannot import valhalla (pip install pyvalhalla into a Python >= 3.12 "
              "and pass --valhalla-python)")
        return
    results = []
    for name, path in EXTRACTS:
        if args.only and args.only.lower() not in name.lower():
            continue
        if not path.exists():
            print(f"SKIPPED {name}: {path} not present")
            continue
        results.append(bench(name, path, args))
        print(f"done: {name}", file=sys.stderr)
    cols = ["routed", "refused", "routes_with_closed_way_mid_route", "routes_ending_on_closed_way",
            "routes_ending_on_closed_way_unstated", "routes_assuming_time_windows_open",
            "routes_over_one_direction_closure", "snap_p50_m", "snap_p95_m", "snap_max_m", "both_routed",
            "both_snap_p50_m", "both_snap_p95_m", "both_snap_p95_own_formula_m", "every_snap_p50_m", "every_snap_p95_m",
            "query_p50_ms", "both_query_p50_ms", "answer_p50_ms"]
    print("| extract | engine | " + " | ".join(cols) + " |\n|" + "---|" * (len(cols) + 2))
    for r in results:
        for eng in ("gridtools", "valhalla"):
            row = r[eng]
            print(f"| {r['extract']} | {eng} | " + " | ".join(
                f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c]) for c in cols) + " |")
    print("\n(Valhalla states neither its closed ends nor time-window assumptions: its end closures all count as "
          "unstated.)\nJudge: " + JUDGE_RULE + ".\nSnap distances: geodesic (WGS-84) from the input point to the "
          "snapped point moved onto the nearest road line, for both engines (Valhalla's 1e-6 degree shape points "
          "lie up to 0.08 m off the road).")
    for r in results:
        print(f"\n{r['extract']}: Valhalla routed legally but gridtools refused: {r['valhalla_legal_but_gridtools_refused']}"
              f"; median length ratio (gridtools / Valhalla, both routed) "
              f"{r['median_length_ratio_gridtools_over_valhalla']}; Valhalla closed ways mid-route e.g. "
              f"{r['valhalla']['closed_examples'][:3]}; gridtools {r['gridtools']['closed_examples'][:3]}")
        for m in r["missed_examples"]:
            print(f"  missed {m['pair']} (Valhalla snapped {m['valhalla_snap_m']} m): {m['gridtools'][:200]}")
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "routing_valhalla.json").write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    print(f"\nwrote {out / 'routing_valhalla.json'}")


if __name__ == "__main__":
    main()
