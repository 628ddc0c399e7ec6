"""Helpers shared by the benchmark scripts: data paths, generated inputs, grid measures, memory.

Nothing here is part of the gridtools package; the benchmarks only import it.  Real data is read
from ``<repo>/../shared/data`` (never copied into the repository); every function that needs it
returns ``None`` when that folder is absent so a script can skip that part with a message.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import resource
import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
POPULATION = SHARED / "population"

ROCKLAND_BLOCKS = POPULATION / "rockland" / "rockland_blocks.gpkg"
ROCKLAND_EDS = POPULATION / "rockland" / "rockland_election_districts.gpkg"
PROVIDENCE_BLOCKS = POPULATION / "providence" / "Providence_blocks.zip"

#: Metric CRS used for every measure of Rockland / Providence (UTM 18N covers both).
UTM18 = "EPSG:32618"
#: Metric CRS of the synthetic Voronoi inputs (UTM 50N, the brief's Chinese use case).
UTM50 = "EPSG:32650"


def have(path: Path) -> bool:
    return path.exists()


def skip_message(path: Path) -> str:
    try:
        shown = path.relative_to(REPO.parent)
    except ValueError:  # pragma: no cover
        shown = path
    return f"SKIPPED: ../{shown} not present (real data lives outside the repo, see ../shared/data/README.md)"


# --------------------------------------------------------------------------------------------
# inputs


def rockland_blocks() -> gpd.GeoDataFrame | None:
    if not have(ROCKLAND_BLOCKS):
        return None
    from gridtools.io import read_any

    return read_any(ROCKLAND_BLOCKS)


def providence_blocks() -> gpd.GeoDataFrame | None:
    if not have(PROVIDENCE_BLOCKS):
        return None
    from gridtools.io import read_any

    blocks = read_any(PROVIDENCE_BLOCKS)
    blocks = blocks.rename(columns={"TOTPOP": "pop"})
    blocks["WARD"] = blocks["WARD"].astype(int).astype(str)
    return blocks


def tiled_rockland(copies: int) -> gpd.GeoDataFrame | None:
    """``copies`` translated copies of the real Rockland blocks, laid out on a square-ish grid.

    Each copy is shifted by exactly the county's bounding-box width / height (in UTM 18N), so the
    copies sit side by side; their outlines do not match edge for edge, so most copies do not touch
    and gridtools joins them with island links (spopt with ``policy="single"``).
    """
    blocks = rockland_blocks()
    if blocks is None:
        return None
    blocks = blocks[["pop", "geometry"]].to_crs(UTM18).reset_index(drop=True)
    x0, y0, x1, y1 = blocks.total_bounds
    cols = math.ceil(math.sqrt(copies))
    parts = []
    for c in range(copies):
        dx, dy = (c % cols) * (x1 - x0), (c // cols) * (y1 - y0)
        part = blocks.copy()
        part["geometry"] = shapely.transform(blocks.geometry.values, lambda xy, dx=dx, dy=dy: xy + [dx, dy])
        part["copy"] = c
        parts.append(part)
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=UTM18)


def population_sample(n: int, rng: np.random.Generator, per_unit: float = 25.0) -> tuple[np.ndarray, str]:
    """``n`` unit populations: Rockland's block populations resampled and scaled to ``per_unit``.

    Keeps Rockland's share of empty blocks (~26 %) and its long tail; values are rounded
    stochastically so the mean stays at ``per_unit``.  Without the real data a stand-in
    (26 % zeros, log-normal rest) is used and the returned note says so.
    """
    blocks = rockland_blocks()
    if blocks is not None:
        source = blocks["pop"].to_numpy(dtype=float)
        note = "resampled Rockland block populations"
    else:
        source = np.where(rng.random(5000) < 0.26, 0.0, rng.lognormal(3.9, 1.0, 5000))
        note = "stand-in distribution (Rockland data absent): 26% zeros + log-normal"
    raw = rng.choice(source, size=n, replace=True) * (per_unit / source.mean())
    return np.floor(raw + rng.random(n)), note


def voronoi_units(n: int, seed: int = 0, districts: int = 0) -> tuple[gpd.GeoDataFrame, str]:
    """``n`` Voronoi cells in a square of side sqrt(n)*100 m (about 1 ha each), EPSG:32650.

    ``districts`` > 0 adds a ``district`` column: a 4 x (districts/4) grid of rectangles by the
    cell's generating point, used as the ``within`` nesting column.
    """
    rng = np.random.default_rng(seed)
    side = math.sqrt(n) * 100.0
    x0, y0 = 500_000.0, 3_500_000.0  # inside UTM 50N
    pts = rng.random((n, 2)) * side + [x0, y0]
    frame = shapely.box(x0, y0, x0 + side, y0 + side)
    cells = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame, ordered=True)
    cells = shapely.intersection(np.asarray(shapely.get_parts(cells)), frame)
    pop, note = population_sample(n, rng)
    units = gpd.GeoDataFrame({"pop": pop}, geometry=cells, crs=UTM50)
    if districts:
        cols = 4 if districts % 4 == 0 else districts
        rows = districts // cols
        cx = np.minimum(((pts[:, 0] - x0) / side * cols).astype(int), cols - 1)
        cy = np.minimum(((pts[:, 1] - y0) / side * rows).astype(int), rows - 1)
        units["district"] = [f"D{r}{c}" for r, c in zip(cy, cx)]
    return units, note


# --------------------------------------------------------------------------------------------
# measures


def polsby_popper(geoms: np.ndarray) -> np.ndarray:
    area, perim = shapely.area(geoms), shapely.length(geoms)
    return np.where(perim > 0, 4 * math.pi * area / np.maximum(perim, 1e-12) ** 2, 0.0)


def measure_regions(units: gpd.GeoDataFrame, labels: np.ndarray, pop: str, lo: float, hi: float,
                    metric_crs: str) -> dict:
    """Same measures for any partition: counts, band shares, population spread, shape, parts."""
    frame = gpd.GeoDataFrame({"label": np.asarray(labels), "pop": units[pop].to_numpy(dtype=float)},
                             geometry=units.geometry.values, crs=units.crs).to_crs(metric_crs)
    grids = frame.dissolve(by="label", aggfunc={"pop": "sum"})
    return region_stats(grids["pop"].to_numpy(), grids.geometry.values, lo, hi)


def region_stats(pops: np.ndarray, geoms: np.ndarray, lo: float, hi: float) -> dict:
    pops = np.asarray(pops, dtype=float)
    pp = polsby_popper(geoms)
    parts = shapely.get_num_geometries(geoms)
    return {
        "n_regions": int(len(pops)),
        "share_in_band": float(np.mean((pops >= lo) & (pops <= hi))),
        "share_above_max": float(np.mean(pops > hi)),
        "share_below_min": float(np.mean(pops < lo)),
        "pop_min": float(pops.min()), "pop_median": float(np.median(pops)), "pop_max": float(pops.max()),
        "pp_median": float(np.median(pp)), "pp_mean": float(np.mean(pp)),
        "multi_part": int((parts > 1).sum()),
    }


# --------------------------------------------------------------------------------------------
# memory


class PeakRSS:
    """Peak resident memory of this process plus all its children, sampled every ``interval`` s.

    ``tracemalloc`` misses C allocations (GEOS, METIS, numpy buffers made in C), so the operating
    system's view is used: psutil RSS of the process tree when psutil is installed, and
    ``getrusage`` (``ru_maxrss``, self and waited-for children) as a floor in any case.
    """

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        try:
            import psutil

            self._proc = psutil.Process()
        except ImportError:  # pragma: no cover
            self._proc = None

    def _tree_rss(self) -> int:
        total = self._proc.memory_info().rss
        for child in self._proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except Exception:  # child ended between listing and reading
                pass
        return total

    def current(self) -> int:
        if self._proc is None:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return self._proc.memory_info().rss

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss())
            time.sleep(self.interval)

    def __enter__(self):
        if self._proc is not None:
            self.peak = self._tree_rss()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._proc is not None:
            self._stop.set()
            self._thread.join()
        # ru_maxrss is in KiB on Linux; children = largest waited-for child (e.g. a pool worker)
        selfmax = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.peak = max(self.peak, selfmax)
        self.children_max = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        return False


def machine() -> str:
    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.0f} GB RAM"
    except ImportError:  # pragma: no cover
        mem = "RAM unknown"
    return f"{platform.machine()}, {os.cpu_count()} cores, {mem}, Python {platform.python_version()}"


def fmt_mb(n_bytes: float | None) -> str:
    return "-" if n_bytes is None else f"{n_bytes / 2**20:,.0f}"


# -- a service in its own process ----------------------------------------------------------------


class Clock:
    """A clock the benchmark sets (``clock.now = ...``): the ``clock=`` of a ``DispatchCenter``."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def free_port() -> int:
    """A free TCP port on loopback."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def dispatch_server(network: Path, park_file: Path, db: str, folder: Path, start_s: float = 300.0):
    """``gridtools dispatch serve`` in its own process on a free loopback port; yields its URL once
    ``/health`` answers, and stops it (SIGTERM) on leaving.

    Its log goes to ``folder / "serve.log"`` (a pipe nobody reads fills up and blocks the server),
    its network cache to ``folder / "cache"``.
    """
    import signal
    import subprocess
    import sys

    import httpx

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "GRIDTOOLS_CACHE": str(folder / "cache")}
    log = open(folder / "serve.log", "wb")  # noqa: SIM115 - closed with the server below
    proc = subprocess.Popen([sys.executable, "-m", "gridtools.cli", "dispatch", "serve", "--network", str(network),
                             "--park", str(park_file), "--db", str(db), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + start_s
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if proc.poll() is not None or time.time() > deadline:
                    raise SystemExit(f"server did not start: {(folder / 'serve.log').read_text()[-2000:]}") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()


def sample_health(url: str, until: float | None = None, stop: threading.Event | None = None) -> list[float]:
    """``/health`` latencies every 20 ms until ``time.time() >= until`` (or ``stop`` is set); a
    request without an answer in 10 s counts as 10 s."""
    import httpx

    out = []
    with httpx.Client(base_url=url, timeout=10) as c:
        while not (stop.is_set() if stop is not None else time.time() >= until):
            t0 = time.perf_counter()
            try:
                assert c.get("/health").status_code == 200
            except httpx.TimeoutException:
                pass
            out.append(time.perf_counter() - t0)
            time.sleep(0.02)
    return out
