"""Benchmark ``gridtools.rebalance`` against drawing the grids again from scratch, in the same run.

Scenarios on real census blocks (Rockland County, 4,764 blocks, from ``../shared/data``):

* every block drifts by an independent random -5 %..+5 %;
* census tracts drift together: +5 % in every other tract, -5 % in the rest;
* +40 % growth of every block within 2, 2.5 or 3 km of the densest grid;

and on Providence (3,014 blocks, ``within="WARD"``): ward 1 grows by 40 %.

For each: grids out of band before and after, grids changed and new, the share of residents who
keep their grid code, and the time.  The baseline is a fresh ``partition()`` of the new
populations: its grids get new codes, so its "kept" share is measured generously, matching
each new grid to the old grid it overlaps most (by residents, one-to-one).

Run from the repository root (about a minute)::

    python benchmarks/bench_rebalance.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from scipy.optimize import linear_sum_assignment

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import machine, providence_blocks, rockland_blocks  # noqa: E402

import gridtools  # noqa: E402
from gridtools import io  # noqa: E402


def matched_kept_share(old: np.ndarray, new: np.ndarray, pop: np.ndarray) -> float:
    """Share of residents whose new grid is the one matched to their old grid (best 1:1 match)."""
    old_ids, old_inv = np.unique(old, return_inverse=True)
    new_ids, new_inv = np.unique(new, return_inverse=True)
    overlap = np.zeros((len(old_ids), len(new_ids)))
    np.add.at(overlap, (old_inv, new_inv), pop)
    rows, cols = linear_sum_assignment(-overlap)
    return float(overlap[rows, cols].sum() / pop.sum())


def markdown_table(rows: list[dict]) -> str:
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r[h]) for h in head) + " |" for r in rows]
    return "\n".join(lines)


def scenario(name: str, units, pop_col: str, new_pop: np.ndarray, within: str | None = None) -> dict:
    units = units.copy()
    units["pop_new"] = new_pop
    old = units["grid_code"].to_numpy()
    started = time.perf_counter()
    result = gridtools.rebalance(units, "pop_new", random_state=0)
    seconds = time.perf_counter() - started
    fresh_units = units.drop(columns=["grid_code"])
    started = time.perf_counter()
    fresh = gridtools.partition(fresh_units, "pop_new", within=within, random_state=1)
    fresh_seconds = time.perf_counter() - started
    fresh_out = int((fresh.grids["status"] == "out_of_band").sum())
    s = result.summary
    return {
        "scenario": name, "out of band before": s["out_of_band_before"],
        "after (rebalance)": s["out_of_band_after"], "grids changed": s["grids_changed"],
        "new": s["grids_new"], "kept (rebalance)": f"{s['share_residents_kept']:.1%}",
        "kept (fresh partition, best match)": f"{matched_kept_share(old, fresh.units['grid_code'].to_numpy(), new_pop):.1%}",
        "after (fresh)": fresh_out, "rebalance s": f"{seconds:.1f}", "fresh s": f"{fresh_seconds:.1f}",
    }


def main() -> None:
    blocks, wards_blocks = rockland_blocks(), providence_blocks()
    if blocks is None or wards_blocks is None:
        print("SKIPPED: ../shared/data/population is absent (see ../shared/data/README.md)")
        return
    rows = []
    grids = gridtools.partition(blocks, "pop", code_prefix="440305", random_state=0).units
    pop = grids["pop"].to_numpy(dtype=float)
    rng = np.random.default_rng(4)
    rows.append(scenario("Rockland: every block +/-5 % (random)", grids, "pop",
                         np.rint(pop * rng.uniform(0.95, 1.05, len(pop)))))
    tract, _ = pd.factorize(grids["tract"])
    rows.append(scenario("Rockland: tracts alternately +5 % / -5 %", grids, "pop",
                         np.rint(pop * np.where(tract % 2 == 0, 1.05, 0.95))))
    metric = io.to_metric(grids).geometry.values
    codes = grids["grid_code"].to_numpy()
    areas = pd.Series(shapely.area(metric)).groupby(codes).sum()
    centre = shapely.centroid(shapely.union_all(metric[codes == areas.idxmin()]))
    distance = shapely.distance(shapely.centroid(metric), centre)
    for radius in (2000, 2500, 3000):
        rows.append(scenario(f"Rockland: +40 % within {radius / 1000:g} km", grids, "pop",
                             np.where(distance < radius, np.rint(pop * 1.4), pop)))

    wards = gridtools.partition(wards_blocks, "pop", within="WARD", code_prefix="440305", random_state=0).units
    tot = wards["pop"].to_numpy(dtype=float)
    rows.append(scenario("Providence (within WARD): ward 1 +40 %", wards, "pop",
                         np.where(wards["WARD"] == "1", np.rint(tot * 1.4), tot), within="WARD"))

    print(f"# gridtools.rebalance vs a fresh partition ({machine()})\n")
    print(markdown_table(rows))
    print("\n*kept*: residents whose grid code is unchanged (rebalance), or whose new grid is the "
          "one best matched to their old grid (fresh partition).  *after*: grids out of band that "
          "are not an over-size block's own grid.")


if __name__ == "__main__":
    main()
