"""gridtools grids side by side with Rockland County's 278 human-drawn election districts (EDs).

Rockland's EDs are a real partition drawn by people at the same scale as management grids
(median ~1,076 residents), so they are the natural yardstick.  The ED file has no population:
block populations (2010 census) are aggregated to EDs by each block's representative point
(computed in UTM 18N).  Blocks whose point falls outside every ED are counted and reported.

Compared, with the same code for every partition (all measures in EPSG:32618):
number of districts, share with 1,000-1,500 residents, population min / median / max, median and
mean Polsby-Popper, and contiguity (polygons with more than one part).  EDs are measured twice:
as the county's official polygons, and rebuilt as unions of the census blocks assigned to them
(the blocks are simplified, which smooths outlines and raises Polsby-Popper, so the rebuilt
EDs compare shapes like with like).

gridtools is run twice: on all blocks, and nested in the five towns (``within="TOWN"``; each
block gets the TOWN of the ED containing it, blocks outside every ED the town of the nearest ED).

Run from the repository root (about half a minute)::

    python benchmarks/compare_rockland_eds.py

Skips with a message when ``../shared/data`` is absent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402

LO, HI = 1000, 1500


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="accepted for symmetry; the run is already short")
    parser.parse_args(argv)
    for path in (C.ROCKLAND_BLOCKS, C.ROCKLAND_EDS):
        if not path.exists():
            print(C.skip_message(path))
            return 0
    warnings.filterwarnings("ignore")
    import geopandas as gpd
    import numpy as np
    import pandas as pd

    import gridtools
    from gridtools.io import read_any

    blocks = read_any(C.ROCKLAND_BLOCKS).reset_index(drop=True)
    eds = read_any(C.ROCKLAND_EDS).reset_index(drop=True)
    bm, em = blocks.to_crs(C.UTM18), eds.to_crs(C.UTM18)

    # --- blocks -> EDs by representative point -----------------------------------------------
    points = gpd.GeoDataFrame({"pop": bm["pop"].to_numpy()}, geometry=bm.representative_point().values, crs=C.UTM18)
    hit = gpd.sjoin(points, em[["ED_KEY", "TOWN", "geometry"]], how="left", predicate="within")
    hit = hit[~hit.index.duplicated(keep="first")].sort_index()
    outside = hit["ED_KEY"].isna().to_numpy()
    nearest = gpd.sjoin_nearest(points[outside], em[["ED_KEY", "TOWN", "geometry"]], how="left")
    nearest = nearest[~nearest.index.duplicated(keep="first")]
    blocks["ED_KEY"] = hit["ED_KEY"].to_numpy()
    blocks["TOWN"] = hit["TOWN"].to_numpy()
    blocks.loc[outside, "TOWN"] = nearest.loc[blocks.index[outside], "TOWN"].to_numpy()
    n_out, pop_out = int(outside.sum()), float(blocks.loc[outside, "pop"].sum())

    ed_pop = blocks.groupby("ED_KEY")["pop"].sum().reindex(eds["ED_KEY"], fill_value=0.0)
    empty_eds = ed_pop.index[ed_pop.to_numpy() == 0].tolist()

    rows = {}
    rows["EDs (official polygons)"] = C.region_stats(ed_pop.to_numpy(), em.geometry.values, LO, HI)
    inside = blocks[~outside]
    rows["EDs rebuilt from their blocks"] = C.measure_regions(inside, inside["ED_KEY"].to_numpy(), "pop", LO, HI, C.UTM18)

    runs = {}
    for name, within in (("gridtools", None), ("gridtools within=TOWN", "TOWN")):
        t0 = time.perf_counter()
        result = gridtools.partition(blocks, pop="pop", min_pop=LO, max_pop=HI, within=within)
        seconds = time.perf_counter() - t0
        labels = result.units["grid_code"].to_numpy()
        stats = C.measure_regions(blocks, labels, "pop", LO, HI, C.UTM18)
        towns_per_grid = pd.Series(blocks["TOWN"].to_numpy()).groupby(labels).nunique()
        stats.update(seconds=seconds, share_feasible_in_band=result.summary["share_feasible_in_band"],
                     all_contiguous=result.summary["all_contiguous"], crossing_towns=int((towns_per_grid > 1).sum()),
                     oversize=int(result.summary["oversize_units"]),
                     out_of_band_feasible=int((result.grids["status"] == "out_of_band").sum()))
        rows[name] = stats
        runs[name] = result
    for key in ("EDs (official polygons)", "EDs rebuilt from their blocks"):
        rows[key]["crossing_towns"] = 0

    # --- report --------------------------------------------------------------------------------
    print(f"# Rockland County: gridtools grids vs the 278 election districts "
          f"({dt.date.today().isoformat()}; {C.machine()})\n")
    print(f"Blocks: {len(blocks):,}, residents: {blocks['pop'].sum():,.0f}. Blocks whose representative point "
          f"(UTM 18N) lies outside every ED: **{n_out} blocks, {pop_out:,.0f} residents** (left out of the ED "
          f"populations, included in the gridtools runs; their town for `within` is the nearest ED's). "
          f"EDs containing no block point: {len(empty_eds)} ({', '.join(empty_eds) or '-'}), counted with 0 residents.\n")
    print("| partition | districts | in 1,000-1,500 | >1,500 | <1,000 | pop min / median / max | "
          "median PP | mean PP | multi-part polygons | grids crossing a town line | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, s in rows.items():
        print(f"| {name} | {s['n_regions']} | {100 * s['share_in_band']:.1f}% | {100 * s['share_above_max']:.1f}% | "
              f"{100 * s['share_below_min']:.1f}% | {s['pop_min']:,.0f} / {s['pop_median']:,.0f} / {s['pop_max']:,.0f} | "
              f"{s['pp_median']:.3f} | {s['pp_mean']:.3f} | {s['multi_part']} | {s['crossing_towns']} | "
              f"{s['seconds']:.1f} |" if "seconds" in s else
              f"| {name} | {s['n_regions']} | {100 * s['share_in_band']:.1f}% | {100 * s['share_above_max']:.1f}% | "
              f"{100 * s['share_below_min']:.1f}% | {s['pop_min']:,.0f} / {s['pop_median']:,.0f} / {s['pop_max']:,.0f} | "
              f"{s['pp_median']:.3f} | {s['pp_mean']:.3f} | {s['multi_part']} | {s['crossing_towns']} | - |")
    print()
    for name in runs:
        s = rows[name]
        print(f"- {name}: feasible grids in band {100 * s['share_feasible_in_band']:.1f}%, "
              f"out-of-band feasible grids {s['out_of_band_feasible']}, over-size blocks (own grid) {s['oversize']}, "
              f"all contiguous: {s['all_contiguous']}")
    print()

    # --- nesting: per town ----------------------------------------------------------------------
    town_pop = blocks.groupby("TOWN")["pop"].sum()
    eds_per_town = eds.groupby("TOWN").size()
    nested = runs["gridtools within=TOWN"].grids
    grids_per_town = nested.groupby("piece").size()
    in_band = nested.groupby("piece")["in_band"].mean()
    print("| town | residents | feasible grid counts | EDs | gridtools grids (within=TOWN) | grids in band |")
    print("|---|---|---|---|---|---|")
    for town in town_pop.index:
        p = town_pop[town]
        print(f"| {town} | {p:,.0f} | {int(np.ceil(p / HI))}-{int(np.floor(p / LO))} | {eds_per_town.get(town, 0)} | "
              f"{grids_per_town.get(town, 0)} | {100 * in_band.get(town, float('nan')):.1f}% |")
    print()
    print("PP = Polsby-Popper 4*pi*area/perimeter^2 in EPSG:32618. *Rebuilt from blocks* leaves out the "
          f"{n_out} blocks outside every ED.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
