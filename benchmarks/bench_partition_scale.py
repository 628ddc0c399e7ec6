"""How ``gridtools.partition`` scales on one large district of real shapes (issue 17).

Inputs: translated copies of the real Rockland County census blocks (4,764 blocks, 338k
residents each) laid side by side (``_common.tiled_rockland``), partitioned as **one district**
(no ``within``) into grids of 1,000-1,500 residents: x8 = 38k units, x21 = 100k, x84 = 400k.

For every size, in a fresh subprocess (imports and memory of one case never leak into the next):

* wall and CPU seconds of the ``partition()`` call (CPU of this process: on a Dask cluster the
  workers' CPU is not in it); the input is built and a 16-block call loads the modules a first call
  imports before the clock starts (those seconds are reported on their own, ``first_use_imports_s``);
  the graph build, island links, METIS, repair, dissolve and codes are all inside it; and the
  seconds per stage (from the ``progress`` callback; on Dask the pieces report only when all are
  done, so their time shows under the graph stage);
* the smallest size again with the default ``n_jobs`` (every local core for independent pieces),
  the call as a user makes it;
* peak resident memory of the process tree during the call (psutil, sampled every 20 ms) and
  what the call added to it;
* quality from the result and recomputed here: share of feasible grids in band, contiguity,
  median Polsby-Popper, number of grids, multi-part grids.

Then the fitted exponent ``k`` of ``time ~ n^k`` (least squares on log-log, wall and CPU) and of
peak memory, and the 400k district on ``LocalCluster(2)`` (``scheduler="local:2"``) against the
serial run (``n_jobs=1``) with the grid codes compared unit by unit.  ``--baseline DIR`` runs the
sizes given by ``--baseline-copies`` with another checkout (e.g. ``/work/main``) in the same run, for before/after.

Run from the repository root::

    python benchmarks/bench_partition_scale.py                       # 38k, 100k, 400k + LocalCluster(2)
    python benchmarks/bench_partition_scale.py --copies 8,21 --no-dask   # quick
    python benchmarks/bench_partition_scale.py --baseline /work/main --baseline-copies 8,21

Results: a markdown report on stdout and ``benchmarks/results/partition_scale.json``.  The
machine's load average is printed with the figures (wall times on a shared machine are only
comparable within one run; CPU seconds are steadier).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402

LO, HI = 1000, 1500
WIDE_CODES = (6, 3, 3, 5, 2)  # up to 99,999 grids in one district (400k units: ~22,000)


def run_case(case: dict) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    units = C.tiled_rockland(case["copies"])
    import gridtools

    stages: dict[str, float] = {}
    mark = {"t": None, "stage": None}

    def progress(stage, done, total):
        now = time.perf_counter()
        if mark["stage"] is not None:
            stages[mark["stage"]] = stages.get(mark["stage"], 0.0) + now - mark["t"]
        mark.update(t=now, stage=stage)

    kwargs = dict(pop="pop", min_pop=LO, max_pop=HI, code_layout=WIDE_CODES, random_state=0, progress=progress)
    # the modules a partition call imports on first use (scipy's graph routines, METIS, networkx:
    # 0.5-0.6 s measured) are loaded by a 16-block call first and timed on their own: a session pays
    # them once, and this benchmark is about the cost of partitioning
    import geopandas as gpd
    from shapely import box

    tic = time.perf_counter()
    lattice = gpd.GeoDataFrame({"pop": [1200] * 16}, geometry=[box(x * 100, y * 100, x * 100 + 100, y * 100 + 100)
                               for x in range(4) for y in range(4)], crs=units.crs)
    gridtools.partition(lattice, pop="pop", min_pop=LO, max_pop=HI, n_jobs=1)
    first_use_s = time.perf_counter() - tic
    if case.get("scheduler"):
        kwargs["scheduler"] = case["scheduler"]
    else:
        kwargs["n_jobs"] = case.get("n_jobs", 1)
    probe = C.PeakRSS()
    before = probe.current()
    with probe:
        cpu0, t0 = time.process_time(), time.perf_counter()
        result = gridtools.partition(units, **kwargs)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    progress("dissolve, measures and codes", 1, 1)
    s = result.summary
    grids = result.grids
    codes = result.units["grid_code"].to_numpy().astype(str)
    return {
        "n_units": len(units), "population": float(units["pop"].sum()), "seconds": seconds, "cpu_seconds": cpu,
        "first_use_imports_s": first_use_s,
        "stages": stages, "peak_rss": probe.peak, "added_rss": probe.peak - before,
        "n_grids": int(len(grids)), "share_feasible_in_band": float(s["share_feasible_in_band"]),
        "all_contiguous": bool(s["all_contiguous"]), "median_polsby_popper": float(s["median_polsby_popper"]),
        "multipart_grids": int((grids["n_parts"] > 1).sum()),
        "out_of_band_feasible": int((grids["status"] == "out_of_band").sum()),
        "oversize_units": int(s["oversize_units"]),
        "codes_sha1": hashlib.sha1("\n".join(codes).encode()).hexdigest(),
        "load_before": os.getloadavg(),
    }


def spawn(case: dict, timeout: float) -> dict:
    env = dict(os.environ)
    if case.get("repo"):
        env["PYTHONPATH"] = case["repo"]
    proc = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True, text=True,
                          timeout=timeout, env=env)
    if proc.returncode != 0:
        return {**case, "status": "failed", "reason": proc.stderr.strip().splitlines()[-1:] or ["?"]}
    return {**case, "status": "ok", **json.loads(proc.stdout.strip().splitlines()[-1])}


def fit_exponent(ns, ys) -> float | None:
    import numpy as np

    if len(ns) < 2:
        return None
    return float(np.polyfit(np.log(ns), np.log(ys), 1)[0])


def report(results: list[dict], args) -> str:
    lines = [f"# partition scaling: one district of tiled Rockland blocks ({dt.datetime.now():%Y-%m-%d %H:%M})",
             "", f"machine: {C.machine()}; load average at start {args.load0}, at end {os.getloadavg()}", "",
             "| run | units | wall s | CPU s | first-use imports s | peak RSS | added RSS | grids | feasible in band "
             "| contiguous | median PP | multi-part | stages (s) |", "|" + "---|" * 13]
    for r in results:
        if r["status"] != "ok":
            lines.append(f"| {r['label']} | {r.get('copies')} copies | {r['status']}: {r.get('reason')} |")
            continue
        stages = ", ".join(f"{k.split()[0]} {v:.1f}" for k, v in r["stages"].items())
        lines.append(f"| {r['label']} | {r['n_units']:,} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
                     f"{r.get('first_use_imports_s', float('nan')):.1f} | "
                     f"{C.fmt_mb(r['peak_rss'])} | {C.fmt_mb(r['added_rss'])} | {r['n_grids']:,} | "
                     f"{r['share_feasible_in_band']:.1%} | {r['all_contiguous']} | {r['median_polsby_popper']:.3f} | "
                     f"{r['multipart_grids']} | {stages} |")
    serial = [r for r in results if r["status"] == "ok" and r["label"] == "serial"]
    ns = [r["n_units"] for r in serial]
    fits = {"wall": fit_exponent(ns, [r["seconds"] for r in serial]),
            "cpu": fit_exponent(ns, [r["cpu_seconds"] for r in serial]),
            "peak_rss": fit_exponent(ns, [r["peak_rss"] for r in serial]),
            "added_rss": fit_exponent(ns, [r["added_rss"] for r in serial])}
    lines += ["", f"fitted exponent over {', '.join(f'{n:,}' for n in ns)} units: "
              + ", ".join(f"{k} n^{v:.2f}" for k, v in fits.items() if v is not None)]
    for a, b in zip(serial, serial[1:]):
        lines.append(f"  {a['n_units']:,} -> {b['n_units']:,}: wall n^{fit_exponent([a['n_units'], b['n_units']], [a['seconds'], b['seconds']]):.2f}, "
                     f"CPU n^{fit_exponent([a['n_units'], b['n_units']], [a['cpu_seconds'], b['cpu_seconds']]):.2f}")
    dask = [r for r in results if r["status"] == "ok" and r["label"] == "LocalCluster(2)"]
    for d in dask:
        s = next((r for r in serial if r["copies"] == d["copies"]), None)
        if s:
            lines.append(f"LocalCluster(2) vs serial at {d['n_units']:,} units: {s['seconds']:.1f} s / {d['seconds']:.1f} s "
                         f"= {s['seconds'] / d['seconds']:.2f}x; same grid codes: {s['codes_sha1'] == d['codes_sha1']}")
    for d in (r for r in results if r["status"] == "ok" and r["label"] == "default n_jobs"):
        s = next((r for r in serial if r["copies"] == d["copies"]), None)
        lines.append(f"default n_jobs (all {os.cpu_count()} cores) at {d['n_units']:,} units: {d['seconds']:.1f} s wall"
                     + (f" (n_jobs=1: {s['seconds']:.1f} s); same grid codes: {s['codes_sha1'] == d['codes_sha1']}" if s else ""))
    base = [r for r in results if r["status"] == "ok" and r["label"] == "baseline"]
    for b in base:
        s = next((r for r in serial if r["copies"] == b["copies"]), None)
        if s:
            lines.append(f"before ({b['repo']}) vs after at {b['n_units']:,} units: wall {b['seconds']:.1f} -> {s['seconds']:.1f} s "
                         f"({b['seconds'] / s['seconds']:.2f}x), CPU {b['cpu_seconds']:.1f} -> {s['cpu_seconds']:.1f} s "
                         f"({b['cpu_seconds'] / s['cpu_seconds']:.2f}x); feasible in band {b['share_feasible_in_band']:.1%} -> "
                         f"{s['share_feasible_in_band']:.1%}; median PP {b['median_polsby_popper']:.3f} -> {s['median_polsby_popper']:.3f}; "
                         f"grids {b['n_grids']:,} -> {s['n_grids']:,}")
    args.fits = fits
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--copies", default="8,21,84", help="tile counts (x4,764 units), comma-separated")
    parser.add_argument("--no-dask", action="store_true", help="skip the LocalCluster(2) run of the largest size")
    parser.add_argument("--baseline", help="another checkout (e.g. /work/main) to run --baseline-copies with, for before/after")
    parser.add_argument("--baseline-copies", default="8", help="tile counts for the baseline checkout")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "partition_scale.json")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    if not C.have(C.ROCKLAND_BLOCKS):
        print(C.skip_message(C.ROCKLAND_BLOCKS))
        return
    args.load0 = os.getloadavg()
    copies = [int(c) for c in args.copies.split(",")]
    cases = [{"label": "serial", "copies": c, "n_jobs": 1} for c in copies]
    # the call as a user makes it: n_jobs=None, independent pieces on every local core
    cases.append({"label": "default n_jobs", "copies": min(copies), "n_jobs": None})
    if args.baseline:
        cases += [{"label": "baseline", "copies": int(c), "n_jobs": 1, "repo": args.baseline}
                  for c in args.baseline_copies.split(",")]
    if not args.no_dask:
        cases.append({"label": "LocalCluster(2)", "copies": max(copies), "scheduler": "local:2"})
    results = []
    for case in cases:
        print(f"running {case}", file=sys.stderr, flush=True)
        results.append(spawn(case, args.timeout))
    text = report(results, args)
    print(text)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps({"results": results, "fits": args.fits, "load_start": args.load0,
                                    "load_end": os.getloadavg(), "machine": C.machine()}, indent=1))


if __name__ == "__main__":
    main()
