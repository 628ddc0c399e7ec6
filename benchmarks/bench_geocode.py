"""Benchmark ``gridtools.incidents`` geocoding against ``geopandas.sjoin``, in the same run.

Polygons (real): the grids ``gridtools.partition`` draws on the 4,764 Rockland County census
blocks (1,000-1,500 residents each), and the 4,764 blocks themselves (thousands of polygons).
Points (real pattern): Toronto Police Major Crime Indicator locations (``crime/toronto_mci``),
mapped onto the polygons' extent and jittered by N(0, 50 m), 1M points (``--big``: 10M too).
Everything is in UTM 18N metres so no reprojection is timed.

Timed (best of 3 runs at 1M points, one run at 10M), each on the same points:

* ``gridtools cells``: :func:`gridtools.incidents.locate_points` (numpy cell hash + prepared
  ``shapely.intersects_xy``; no Point objects), tie rule included;
* ``gridtools strtree``: the same with ``engine="strtree"`` (Point creation + STRtree bulk
  ``query(points, predicate="intersects")``), tie rule included;
* ``geocode() end to end``: :func:`gridtools.incidents.locate` on a DataFrame with x/y
  columns (parsing and row checks, flags, code columns);
* ``geopandas.sjoin``: ``sjoin(points, grids, predicate="intersects")`` on a prebuilt point
  GeoDataFrame (building it is timed separately, ``points_from_xy``), then the same tie rule
  (smallest code per point) with a groupby.

Answers are compared point by point (gridtools vs sjoin + tie rule): the script fails loudly if
they differ.  Ratios are sjoin time / gridtools time measured in this run.

Run from the repository root::

    python benchmarks/bench_geocode.py            # 1M points, about 1-2 min on 2 cores
    python benchmarks/bench_geocode.py --big      # + 10M points (several GB RAM, ~5-10 min)

Results: a markdown table on stdout and ``benchmarks/results/geocode.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
ROCKLAND = SHARED / "population" / "rockland" / "rockland_blocks.gpkg"
TORONTO = SHARED / "crime" / "toronto_mci" / "toronto_mci_2014_2021.csv.gz"
UTM18 = "EPSG:32618"


def timed(fn, repeat=1):
    best, value = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t)
    return best, value


def polygons():
    from gridtools import io
    from gridtools.grids import partition

    blocks = io.read_any(ROCKLAND).to_crs(UTM18)
    t, result = timed(lambda: partition(blocks, pop="pop", code_prefix="360870"))
    grids = result.grids[["grid_code", "geometry"]].to_crs(UTM18)
    print(f"partitioned {len(blocks):,} Rockland blocks into {len(grids):,} grids in {t:.1f} s", file=sys.stderr)
    codes = [f"36087{k:012d}" for k in range(len(blocks))][::-1]  # string order != row order
    block_grids = gpd.GeoDataFrame({"grid_code": codes}, geometry=blocks.geometry.to_numpy(), crs=UTM18)
    return {"partition grids": grids, "census blocks": block_grids}


def points_on(extent, n: int, seed: int = 0):
    mci = pd.read_csv(TORONTO, usecols=["Lat", "Long"]).dropna()
    mci = mci[(mci["Lat"] > 43.5) & (mci["Lat"] < 44) & (mci["Long"] > -80) & (mci["Long"] < -79)]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(mci), n)
    lx, ly = mci["Long"].to_numpy()[idx], mci["Lat"].to_numpy()[idx]
    x0, y0, x1, y1 = extent
    x = x0 + (lx - lx.min()) / np.ptp(lx) * (x1 - x0) + rng.normal(0, 50, n)
    y = y0 + (ly - ly.min()) / np.ptp(ly) * (y1 - y0) + rng.normal(0, 50, n)
    return x, y


def sjoin_with_rule(x, y, grids, repeat):
    t_pts, pts = timed(lambda: gpd.GeoDataFrame({"i": np.arange(len(x))},
                                                geometry=gpd.points_from_xy(x, y), crs=UTM18), repeat)
    t_join, joined = timed(lambda: gpd.sjoin(pts, grids, predicate="intersects", how="left"), repeat)

    def rule():
        hit = joined.dropna(subset=["grid_code"])
        best = hit.groupby("i")["grid_code"].min()
        out = np.full(len(x), "", dtype=object)
        out[best.index.to_numpy()] = best.to_numpy()
        return out

    t_rule, answer = timed(rule)
    return {"points_from_xy": t_pts, "sjoin": t_join, "tie rule": t_rule}, answer


def run_case(name, grids, n):
    from gridtools.incidents import geocode, locate_points

    x, y = points_on(grids.total_bounds, n)
    codes = grids["grid_code"].to_numpy(dtype=object)
    rank = np.argsort(np.argsort(codes.astype(str), kind="stable"))
    geoms = grids.geometry.to_numpy()
    # best of 3 at 1M (the machine is shared), single runs at 10M
    repeat = 3 if n <= 2_000_000 else 1
    t_cells, loc = timed(lambda: locate_points(x, y, geoms, rank=rank), repeat)
    ours = np.where(loc >= 0, codes[np.maximum(loc, 0)], "")
    t_tree, loc_tree = timed(lambda: locate_points(x, y, geoms, rank=rank, engine="strtree"), repeat)
    frame = pd.DataFrame({"x": x, "y": y})
    t_full, result = timed(lambda: geocode(frame, grids, lon="x", lat="y", crs=UTM18), repeat)
    sj_times, theirs = sjoin_with_rule(x, y, grids, repeat)
    same = bool((ours == theirs).all() and (loc == loc_tree).all()
                and (result.table["grid_code"].to_numpy() == ours).all())
    if not same:
        raise SystemExit(f"{name}, {n:,} points: gridtools and sjoin DISAGREE on "
                         f"{int((ours != theirs).sum())} points")
    sjoin_total = sj_times["sjoin"] + sj_times["tie rule"]
    return {
        "case": name, "polygons": len(grids), "points": n,
        "located_share": float((loc >= 0).mean()), "ties": int(result.summary["ties"]),
        "gridtools_cells_s": t_cells, "gridtools_strtree_s": t_tree, "geocode_end_to_end_s": t_full,
        "sjoin_s": sj_times["sjoin"], "sjoin_tie_rule_s": sj_times["tie rule"],
        "points_from_xy_s": sj_times["points_from_xy"],
        "speedup_vs_sjoin": sjoin_total / t_cells,
        "speedup_vs_sjoin_incl_points": (sjoin_total + sj_times["points_from_xy"]) / t_cells,
        "same_answer": same,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big", action="store_true", help="also 10M points")
    parser.add_argument("--points", type=int, default=1_000_000)
    args = parser.parse_args()
    for path in (ROCKLAND, TORONTO):
        if not path.exists():
            print(f"SKIPPED: {path} not present (real data lives in ../shared/data)")
            return
    cases = polygons()
    sizes = [args.points] + ([10_000_000] if args.big else [])
    rows = [run_case(name, grids, n) for n in sizes for name, grids in cases.items()]
    print(f"\n## geocode benchmark ({platform.machine()}, Python {platform.python_version()}, "
          f"shapely {shapely.__version__}, GEOS {shapely.geos_version_string}, geopandas {gpd.__version__})\n")
    print("| polygons | points | located | gridtools (cells) s | gridtools (strtree) s | geocode() s | "
          "sjoin s (+tie rule) | points_from_xy s | sjoin / gridtools | same answer |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} ({r['polygons']:,}) | {r['points']:,} | {r['located_share']:.1%} | "
              f"{r['gridtools_cells_s']:.2f} | {r['gridtools_strtree_s']:.2f} | {r['geocode_end_to_end_s']:.2f} | "
              f"{r['sjoin_s']:.2f} (+{r['sjoin_tie_rule_s']:.2f}) | {r['points_from_xy_s']:.2f} | "
              f"{r['speedup_vs_sjoin']:.1f}x ({r['speedup_vs_sjoin_incl_points']:.1f}x incl. points) | "
              f"{r['same_answer']} |")
    out = REPO / "benchmarks" / "results" / "geocode.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
