"""Benchmark the component register's import rate against naive writers, in the same run.

What it measures (rows per second, wall time, one process, the same prepared rows for every
writer so only the writing differs):

* **gridtools**: :func:`gridtools.components.importer.import_components`: row checks, grid
  placement, source keys, then batches of ``settings.components_batch_size`` rows, each one
  ``BEGIN IMMEDIATE`` transaction (serial allocation + insert + R-tree), skipping keys already
  stored.  Timed end to end, including the row checks and grid placement.
* **gridtools writes only**: the same batches through ``ComponentStore.insert_batch`` on rows
  already checked and placed (the like-for-like comparison with the GDAL append below).
* **row-by-row**: the straightforward safe way: one transaction per component (read counter,
  update counter, insert the row; the GeoPackage R-tree triggers fire per row).  Run on the
  first ``--naive-rows`` rows only (it is slow) and reported as a rate.
* **geopandas append**: ``GeoDataFrame.to_file(..., mode="a")`` of the same batches to a
  GeoPackage through GDAL.  It is given codes and grids already computed (the work of the
  import is not timed for it) and gives none of the guarantees: no serial allocation under a
  lock, no de-duplication of re-imports, no history.  It is the speed of GDAL's C writer.

Inputs: synthetic components (``--rows``, default 200,000, 5 classes, random points over a
4 x 4 block of 0.01-degree grids in Suzhou) and the real OpenStreetMap components of central
Helsinki (``../shared/data/roads/helsinki/Helsinki.osm.pbf``, 4,137 components) placed in the
grids of ``gridtools demo``.

Run from the repository root::

    python benchmarks/bench_components.py              # ~2-3 min on 2 cores
    python benchmarks/bench_components.py --rows 50000 # quicker
"""

from __future__ import annotations

import argparse
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gridtools import io, settings  # noqa: E402
from gridtools.components import open_store  # noqa: E402
from gridtools.components.codes import make_codes  # noqa: E402
from gridtools.components.importer import import_components, prepare_components  # noqa: E402
from gridtools.components.backend import COLUMNS, TABLE  # noqa: E402
from gridtools.components.gpkg import gpkg_blobs  # noqa: E402

HELSINKI = REPO.parent / "shared" / "data" / "roads" / "helsinki" / "Helsinki.osm.pbf"
ADMIN = "320508"
X0, Y0, STEP, N = 120.60, 31.28, 0.01, 4


def synthetic(n: int, seed: int = 0) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    rng = np.random.default_rng(seed)
    cells = [(r, c) for r in range(N) for c in range(N)]
    grids = gpd.GeoDataFrame(
        {"grid_code": [f"{ADMIN}001001{r * N + c + 1:03d}00" for r, c in cells]},
        geometry=[shapely.box(X0 + c * STEP, Y0 + r * STEP, X0 + (c + 1) * STEP, Y0 + (r + 1) * STEP) for r, c in cells],
        crs=4326)
    lon = rng.uniform(X0, X0 + N * STEP, n)
    lat = rng.uniform(Y0, Y0 + N * STEP, n)
    rows = gpd.GeoDataFrame({"ext_id": np.arange(n).astype(str),
                             "class_code": rng.choice(["0101", "0102", "0118", "0209", "0402"], n),
                             "owner": "城管局", "maintainer": "市政养护所"},
                            geometry=gpd.points_from_xy(lon, lat), crs=4326)
    return rows, grids


def helsinki() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame] | None:
    if not HELSINKI.exists():
        print(f"SKIPPED real data: {HELSINKI} not present")
        return None
    from gridtools.components.osm import read_osm_components
    from gridtools.demo import run_demo

    out = Path(tempfile.mkdtemp(prefix="bench_components_demo_"))
    run_demo(out)
    grids = io.read_any(out / "grids.gpkg", layer="grids")
    rows, _ = read_osm_components(HELSINKI)
    return rows, grids


def run_gridtools(rows, grids, folder: Path, **options) -> tuple[float, int]:
    store = open_store(folder / "gridtools.gpkg")
    start = time.perf_counter()
    result = import_components(store, rows, grids, admin_code=ADMIN, source="bench", **options)
    seconds = time.perf_counter() - start
    n = len(result.inserted)
    assert store.integrity_check() == "ok" and store.count() == n
    store.close()
    return seconds, n


def run_write_only(prepared: gpd.GeoDataFrame, folder: Path) -> tuple[float, int]:
    """The register's transactional writes alone, on rows already checked and placed."""
    store = open_store(folder / "write_only.gpkg")
    size = settings.components_batch_size
    start = time.perf_counter()
    for first in range(0, len(prepared), size):
        store.insert_batch(prepared.iloc[first:first + size], admin_code=ADMIN, source="bench")
    seconds = time.perf_counter() - start
    n = store.count()
    store.close()
    return seconds, n


def run_row_by_row(prepared: gpd.GeoDataFrame, folder: Path, limit: int) -> tuple[float, int]:
    """One transaction per component through the standard GeoPackage triggers."""
    store = open_store(folder / "naive.gpkg")
    con = store.con
    rows = prepared.iloc[:limit]
    blobs = gpkg_blobs(rows.geometry.to_numpy())
    start = time.perf_counter()
    for blob, cls, key, grid in zip(blobs, rows["class_code"], rows["source_key"], rows["grid_code"]):
        con.execute("BEGIN IMMEDIATE")
        last = con.execute("SELECT last_serial FROM component_counters WHERE admin_code=? AND class_code=?",
                           (ADMIN, cls)).fetchone()
        serial = (last[0] if last else 0) + 1
        con.execute("INSERT INTO component_counters (admin_code, class_code, last_serial) VALUES (?, ?, ?) "
                    "ON CONFLICT(admin_code, class_code) DO UPDATE SET last_serial = excluded.last_serial",
                    (ADMIN, cls, serial))
        values = dict.fromkeys(COLUMNS)
        values.update(geom=blob, code=make_codes(ADMIN, [cls], [serial])[0], admin_code=ADMIN, class_code=cls,
                      grid_code=grid, status="active", source="bench", source_key=key, created_at="t", updated_at="t")
        con.execute(f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                    [values[c] for c in COLUMNS])
        con.execute("COMMIT")
    seconds = time.perf_counter() - start
    store.close()
    return seconds, len(rows)


def run_geopandas_append(prepared: gpd.GeoDataFrame, folder: Path) -> tuple[float, int]:
    """GDAL writes of ready-made rows (codes computed beforehand, not timed)."""
    ready = prepared.copy()
    ready["serial"] = ready.groupby("class_code").cumcount() + 1
    ready["code"] = make_codes(ADMIN, ready["class_code"], ready["serial"])
    ready = ready[["code", "class_code", "grid_code", "source_key", "geometry"]]
    path = folder / "geopandas.gpkg"
    size = settings.components_batch_size
    start = time.perf_counter()
    for first in range(0, len(ready), size):
        ready.iloc[first:first + size].to_file(path, layer="components", driver="GPKG", engine="pyogrio",
                                               mode="a" if first else "w")
    seconds = time.perf_counter() - start
    assert sqlite3.connect(path).execute("SELECT count(*) FROM components").fetchone()[0] == len(ready)
    return seconds, len(ready)


def case(name: str, rows, grids, naive_rows: int, **options) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory(prefix="bench_components_") as tmp:
        folder = Path(tmp)
        seconds, n = run_gridtools(rows, grids, folder, **options)
        out.append({"input": name, "writer": "gridtools import_components", "rows": n, "seconds": seconds})
        store = open_store(folder / "classes.gpkg")
        prepared, _, _ = prepare_components(rows, grids, store.classes, source="bench", **options)
        store.close()
        seconds, n = run_write_only(prepared, folder)
        out.append({"input": name, "writer": "gridtools writes only (insert_batch of prepared rows)", "rows": n,
                    "seconds": seconds})
        seconds, n = run_row_by_row(prepared, folder, naive_rows)
        out.append({"input": name, "writer": "row-by-row transactions (naive)", "rows": n, "seconds": seconds})
        seconds, n = run_geopandas_append(prepared, folder)
        out.append({"input": name, "writer": "geopandas to_file append (GDAL, no guarantees)", "rows": n,
                    "seconds": seconds})
        # resuming after everything is stored: the cost of a re-import that adds nothing
        store = open_store(folder / "gridtools.gpkg")
        start = time.perf_counter()
        again = import_components(store, rows, grids, admin_code=ADMIN, source="bench", **options)
        out.append({"input": name, "writer": "gridtools re-import (all rows already stored)",
                    "rows": again.skipped_existing, "seconds": time.perf_counter() - start})
        store.close()
    for r in out:
        r["rows_per_s"] = r["rows"] / r["seconds"]
    base = out[0]["rows_per_s"]
    for r in out:
        r["vs_gridtools"] = r["rows_per_s"] / base
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="synthetic rows (default 200,000)")
    parser.add_argument("--naive-rows", type=int, default=1_000, help="rows for the row-by-row baseline")
    args = parser.parse_args()
    print(f"# component import benchmark ({platform.platform()}, {platform.processor() or 'cpu'}, "
          f"SQLite {sqlite3.sqlite_version}, batch {settings.components_batch_size:,})\n")
    results = []
    rows, grids = synthetic(args.rows)
    results += case(f"synthetic {args.rows:,}", rows, grids, args.naive_rows)
    real = helsinki()
    if real is not None:
        rows, grids = real
        results += case(f"Helsinki OSM {len(rows):,}", rows, grids, min(args.naive_rows, len(rows)),
                        class_col="class_code", key_col="osm_key", key_prefix="")
    table = pd.DataFrame(results)
    print("| input | writer | rows | seconds | rows/s | rate vs gridtools |")
    print("|---|---|---:|---:|---:|---:|")
    for r in table.itertuples(index=False):
        print(f"| {r.input} | {r.writer} | {r.rows:,} | {r.seconds:.2f} | {r.rows_per_s:,.0f} | {r.vs_gridtools:.2f}x |")
    for name, group in table.groupby("input", sort=False):
        g = group.set_index("writer")["rows_per_s"]
        print(f"\n{name}: gridtools imports {g.iloc[0] / g.iloc[2]:.1f}x faster than row-by-row transactions; "
              f"GDAL append of ready-made rows is {g.iloc[3] / g.iloc[0]:.1f}x the full gridtools import rate and "
              f"{g.iloc[3] / g.iloc[1]:.1f}x the rate of its transactional writes alone.")


if __name__ == "__main__":
    main()
