"""Geocoding at scale: geocode() against locate_points at 10M points, and a 100M-point Parquet
dataset on a Dask LocalCluster(2) against the serial run.

Polygons: 5,000 synthetic grids (Voronoi cells of ~1 ha each, UTM 50N, ``_common.voronoi_units``)
with 17-digit codes.  Points: uniform over the grids' extent plus a 2% margin (so some fall
outside), x/y in metres.

Part 1 (``--in-memory``, 10M points): :func:`gridtools.incidents.locate_points` on the arrays and
:func:`gridtools.incidents.geocode` on a DataFrame with those x/y columns and an id column; time
and extra resident memory (peak during the call minus the RSS before it, sampled by psutil).

Part 2 (``--dataset``, 100M points by default): the benchmark writes a partitioned Parquet dataset
(one file per million points), geocodes it with ``scheduler="local:2"`` into a partitioned
dataset, records the peak RSS of each worker process, then geocodes the first 10 files serially
and checks the codes are identical, row for row.

    python benchmarks/bench_geocode_scale.py --in-memory --points 10000000
    python benchmarks/bench_geocode_scale.py --dataset --points 100000000 --workdir /tmp/geo100m

Results: markdown lines on stdout and ``benchmarks/results/geocode_scale.json`` (merged per part).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PeakRSS, voronoi_units

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "geocode_scale.json"
PER_FILE = 1_000_000


def grids_5000():
    units, _ = voronoi_units(5000, seed=3)
    units["grid_code"] = [f"32050801{k:09d}" for k in range(len(units))][::-1]
    return units[["grid_code", "geometry"]]


def points(grids, n: int, seed: int):
    x0, y0, x1, y1 = grids.total_bounds
    mx, my = 0.02 * (x1 - x0), 0.02 * (y1 - y0)
    rng = np.random.default_rng(seed)
    return rng.uniform(x0 - mx, x1 + mx, n), rng.uniform(y0 - my, y1 + my, n)


def measured(fn):
    """Wall seconds, extra resident MB (peak minus before) and the value of *fn()*; the CPU
    seconds of this process go to ``measured.cpu`` (a shared machine stretches wall time)."""
    probe = PeakRSS()
    before = probe.current()
    tic, cpu = time.perf_counter(), time.process_time()
    with probe:
        value = fn()
    measured.cpu = time.process_time() - cpu
    return time.perf_counter() - tic, (probe.peak - before) / 2**20, value


def in_memory(n: int, repeat: int = 2) -> dict:
    from gridtools.incidents import geocode, locate_points

    grids = grids_5000()
    x, y = points(grids, n, seed=1)
    frame = pd.DataFrame({"id": np.arange(n), "x": x, "y": y})
    codes = grids["grid_code"].to_numpy(dtype=object)
    rank = np.argsort(np.argsort(codes.astype(str), kind="stable"))
    # interleaved repeats, best of each (a shared machine's load comes and goes); memory: the largest
    t_loc = t_geo = c_loc = c_geo = np.inf
    m_loc = m_geo = 0.0
    for _ in range(repeat):
        t, m, loc = measured(lambda: locate_points(x, y, grids.geometry.to_numpy(), rank=rank))
        t_loc, m_loc, c_loc = min(t_loc, t), max(m_loc, m), min(c_loc, measured.cpu)
        t, m, result = measured(lambda: geocode(frame, grids, lon="x", lat="y", crs="EPSG:32650"))
        t_geo, m_geo, c_geo = min(t_geo, t), max(m_geo, m), min(c_geo, measured.cpu)
    same = bool((result.table["grid_code"].to_numpy() == np.where(loc >= 0, codes[np.maximum(loc, 0)], "")).all())
    row = {"points": n, "grids": len(grids), "locate_points_s": t_loc, "locate_points_extra_mb": m_loc,
           "geocode_s": t_geo, "geocode_extra_mb": m_geo, "time_ratio": t_geo / t_loc,
           "memory_ratio": m_geo / max(m_loc, 1.0), "same_codes": same, "repeats": repeat,
           "locate_points_cpu_s": c_loc, "geocode_cpu_s": c_geo, "cpu_ratio": c_geo / c_loc,
           "load_average": list(os.getloadavg())}
    print("| points | grids | locate_points s (+MB) | geocode() s (+MB) | time ratio | CPU ratio | memory ratio "
          "| same |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {n:,} | {len(grids):,} | {t_loc:.2f} (+{m_loc:,.0f}) | {t_geo:.2f} (+{m_geo:,.0f}) | "
          f"{row['time_ratio']:.2f}x | {row['cpu_ratio']:.2f}x | {row['memory_ratio']:.2f}x | {same} |")
    return row


def write_dataset(folder: Path, grids, n: int) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    for i, lo in enumerate(range(0, n, PER_FILE)):
        m = min(PER_FILE, n - lo)
        x, y = points(grids, m, seed=100 + i)
        pd.DataFrame({"id": np.arange(lo, lo + m), "x": x, "y": y}).to_parquet(
            folder / f"events-{i:04d}.parquet", row_group_size=250_000)
    return time.perf_counter() - tic


class WorkerMemory:
    """Peak RSS of each Dask worker process, polled from the client every half second."""

    def __init__(self):
        self.peak: dict[str, float] = {}
        self._stop = threading.Event()

    def watch(self, client):
        import psutil

        def poll():
            while not self._stop.is_set():
                try:
                    for addr, rss in client.run(lambda: psutil.Process().memory_info().rss).items():
                        self.peak[addr] = max(self.peak.get(addr, 0.0), rss / 2**20)
                except Exception:  # cluster closing
                    return
                self._stop.wait(0.5)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(5)


def dataset(n: int, workdir: Path, reuse: bool = False) -> dict:
    from gridtools import parallel
    from gridtools.incidents import prepare_grids
    from gridtools.incidents.stream import geocode_dataset

    grids = grids_5000()
    prepared = prepare_grids(grids)
    source, out, serial_out = workdir / "events", workdir / "located", workdir / "serial"
    have = len(list(source.glob("*.parquet"))) if source.exists() else 0
    for folder in (out, serial_out, workdir / "subset") + (() if reuse and have == n // PER_FILE else (source,)):
        shutil.rmtree(folder, ignore_errors=True)
    t_write = 0.0 if reuse and have == n // PER_FILE else write_dataset(source, grids, n)
    print(f"wrote {n:,} points in {n // PER_FILE} files in {t_write:.0f} s", file=sys.stderr)
    memory = WorkerMemory()
    with parallel.dask_client("local:2") as client:
        memory.watch(client)
        tic = time.perf_counter()
        result = geocode_dataset(source, prepared, out, lon="x", lat="y", crs="EPSG:32650", scheduler=client)
        t_dask = time.perf_counter() - tic
        memory.stop()
    # serial reference on the first 10M points (10 files)
    subset = workdir / "subset"
    subset.mkdir()
    files = sorted(source.glob("*.parquet"))[:10]
    for f in files:
        (subset / f.name).symlink_to(f)
    tic = time.perf_counter()
    serial = geocode_dataset(subset, prepared, serial_out, lon="x", lat="y", crs="EPSG:32650")
    t_serial = time.perf_counter() - tic
    a = pd.read_parquet(serial_out, columns=["id", "grid_code"])
    parts = sorted(out.glob("*.parquet"))[: serial.parts]
    b = pd.concat([pd.read_parquet(p, columns=["id", "grid_code"]) for p in parts], ignore_index=True)
    same = bool(len(a) == len(b) and (a["id"].to_numpy() == b["id"].to_numpy()).all()
                and (a["grid_code"].to_numpy() == b["grid_code"].to_numpy()).all())
    row = {"points": n, "grids": len(grids), "files": n // PER_FILE, "parts": result.parts,
           "write_dataset_s": t_write, "dask_local2_s": t_dask, "points_per_s": n / t_dask,
           "worker_peak_mb": memory.peak, "serial_10m_s": t_serial, "serial_10m_points": serial.summary["rows"],
           "same_as_serial_on_subset": same, "located": result.summary["located"],
           "load_average_at_end": list(os.getloadavg())}
    print("| points | grids | LocalCluster(2) s | points/s | worker peak MB | serial 10M s | same on 10M |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {n:,} | {len(grids):,} | {t_dask:.0f} | {n / t_dask:,.0f} | "
          f"{', '.join(f'{v:,.0f}' for v in memory.peak.values())} | {t_serial:.0f} | {same} |")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--in-memory", action="store_true")
    parser.add_argument("--dataset", action="store_true")
    parser.add_argument("--points", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=2, help="in-memory: interleaved runs, best of each")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gridtools-geocode-scale"))
    parser.add_argument("--reuse", action="store_true", help="keep a dataset of the same size already written")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.in_memory:
        results["in_memory"] = in_memory(args.points or 10_000_000, args.repeat)
    if args.dataset:
        results["dataset"] = dataset(args.points or 100_000_000, args.workdir, reuse=args.reuse)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
