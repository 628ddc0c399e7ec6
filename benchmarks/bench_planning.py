"""The planner's workflow on real data: the figures of docs/planning.md.

1. **Rockland**: the 278 human-drawn election districts imported as a plan (blocks go to the ED
   holding their representative point) and scored with ``score_plan`` beside gridtools' own
   partition, plus how many units / residents change grid between the two.
2. **Providence**: the 139 grids of a 1,000-1,500 partition aggregated into areas of
   12,000-18,000 residents (10-14 areas are feasible); once freely, once with the ward
   boundaries as lines to follow, once strictly nested in the 15 wards (each grid in the ward of
   most of its residents).  Ward agreement = share of residents whose area is the one holding
   most of their ward.
3. **Burlington**: population and housing units balanced at once; both spreads before / after.
4. **Shanghai / Wuhan**: street blocks from the tiles' major roads, 30,000 / 8,000 residents
   spread over the real OSM footprints by floor area, over-size blocks subdivided by buildings.

Run from the repository root (about two minutes)::

    python benchmarks/bench_planning.py
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402

import gridtools  # noqa: E402
from gridtools.io import read_any  # noqa: E402

BURLINGTON = C.POPULATION / "burlington" / "btv_block_stats_2020.geojson"
TILES = C.SHARED / "china" / "shanghai_tiles"


def row(name, s) -> str:
    sp = s["spread"]["population"]
    return (f"| {name} | {s['n_grids']} | {100 * s['share_in_band']:.1f}% | {s['pop_min']:,.0f} / {s['pop_median']:,.0f} / "
            f"{s['pop_max']:,.0f} | {sp['cv']:.3f} | {100 * s['share_contiguous']:.1f}% | {s['median_polsby_popper']:.3f} | "
            f"{s['grids_crossing_communities']} |")


def rockland() -> None:
    from gridtools.grids.plans import compare_plans, plan_from_polygons, score_plan, unit_graph

    if not C.have(C.ROCKLAND_EDS):
        print(C.skip_message(C.ROCKLAND_EDS))
        return
    blocks = C.rockland_blocks().reset_index(drop=True)
    eds = read_any(C.ROCKLAND_EDS)
    started = time.perf_counter()
    blocks["ED"] = plan_from_polygons(blocks, eds, "ED_KEY").to_numpy()
    blocks["TOWN"] = plan_from_polygons(blocks, eds, "TOWN").to_numpy()
    graph = unit_graph(blocks)
    theirs = score_plan(blocks, "ED", "pop", min_pop=1000, max_pop=1500, communities="TOWN", graph=graph)
    seconds = time.perf_counter() - started
    runs = {"election districts (imported)": theirs}
    for name, within in (("gridtools", None), ("gridtools within=TOWN", "TOWN")):
        result = gridtools.partition(blocks, pop="pop", min_pop=1000, max_pop=1500, within=within)
        blocks[name] = result.units["grid_code"].to_numpy()
        runs[name] = score_plan(blocks, name, "pop", min_pop=1000, max_pop=1500, communities="TOWN", graph=graph)
    print("## Rockland: 278 election districts imported and scored beside gridtools\n")
    print(f"Import + score of the EDs: {seconds:.1f} s ({len(blocks):,} blocks; one ED holds no block point, so "
          f"{theirs.summary['n_grids']} districts carry residents).\n")
    print("| plan | grids | in 1,000-1,500 | pop min / median / max | pop cv | contiguous | median PP | grids crossing a town |")
    print("|---|---|---|---|---|---|---|---|")
    for name, score in runs.items():
        print(row(name, score.summary))
    change = compare_plans(blocks["ED"], blocks["gridtools within=TOWN"], blocks["pop"]).summary
    print(f"\nEDs -> gridtools within=TOWN: {change['units_changed']:,} units ({100 * change['share_units_changed']:.1f}%), "
          f"{change['residents_changed']:,.0f} residents ({100 * change['share_residents_changed']:.1f}%) change grid.\n")


def ward_agreement(units, areas_of_units, wards) -> float:
    frame = pd.DataFrame({"area": areas_of_units, "ward": wards, "pop": units["pop"].to_numpy()})
    best = frame.groupby(["ward", "area"])["pop"].sum().groupby("ward").max().sum()
    return float(best / frame["pop"].sum())


def providence() -> None:
    import geopandas as gpd

    from gridtools.grids.levels import aggregate

    blocks = C.providence_blocks()
    if blocks is None:
        print(C.skip_message(C.PROVIDENCE_BLOCKS))
        return
    result = gridtools.partition(blocks, pop="pop", min_pop=1000, max_pop=1500)
    grids = result.grids
    unit_grid = result.units["grid_code"].to_numpy()
    majority = (pd.DataFrame({"grid": unit_grid, "ward": blocks["WARD"].to_numpy(), "pop": blocks["pop"].to_numpy()})
                .groupby(["grid", "ward"])["pop"].sum().reset_index().sort_values("pop")
                .drop_duplicates("grid", keep="last").set_index("grid")["ward"])
    grids["ward"] = majority.loc[grids["grid_code"]].to_numpy()
    ward_lines = gpd.GeoDataFrame(geometry=blocks.dissolve("WARD").boundary.values, crs=blocks.crs)
    print(f"## Providence: {len(grids)} grids aggregated into areas\n")
    print("| run | areas | areas in 12,000-18,000 | contiguous | area pop min / median / max | ward agreement | seconds |")
    print("|---|---|---|---|---|---|---|")
    for name, options in (("free", {}), ("following ward lines", {"barriers": ward_lines}),
                          ("nested in wards (within=ward)", {"within": "ward", "min_pop": 10000, "max_pop": 18000})):
        options = {"min_pop": 12000, "max_pop": 18000} | options
        started = time.perf_counter()
        out = aggregate(grids, **options)
        seconds = time.perf_counter() - started
        area_of_unit = out.grids.set_index("grid_code")["area_code"].loc[unit_grid].to_numpy()
        s = out.summary
        print(f"| {name} | {s['n_areas']} | {s['areas_in_band']} | {s['all_contiguous']} | {s['pop_min']:,.0f} / "
              f"{s['pop_median']:,.0f} / {s['pop_max']:,.0f} | {100 * ward_agreement(blocks, area_of_unit, blocks['WARD']):.1f}% | "
              f"{seconds:.1f} |")
    print("\nStrict nesting in 15 wards needs at least 15 areas (band 10,000-18,000 there): 10-14 areas and "
          "nesting in all 15 wards cannot both hold.\n")


def burlington() -> None:
    from gridtools.grids.workload import balance_workload

    if not C.have(BURLINGTON):
        print(C.skip_message(BURLINGTON))
        return
    blocks = read_any(BURLINGTON)
    plan = gridtools.partition(blocks, pop="total_population", min_pop=1000, max_pop=1500)
    started = time.perf_counter()
    result = balance_workload(plan.units, "grid_code", "total_population", {"housing_units": 1.0},
                              min_pop=1000, max_pop=1500)
    seconds = time.perf_counter() - started
    print("## Burlington: population and housing units balanced at once\n")
    print(f"{len(blocks)} blocks, {len(result.tallies)} grids, {result.moves} boundary moves, {seconds:.1f} s\n")
    print("| quantity | cv before | cv after | min-max before | min-max after |\n|---|---|---|---|---|")
    for q in result.before:
        b, a = result.before[q], result.after[q]
        print(f"| {q} | {b['cv']:.3f} | {a['cv']:.3f} | {b['min']:,.0f}-{b['max']:,.0f} | {a['min']:,.0f}-{a['max']:,.0f} |")
    inside = result.tallies[result.tallies["n_units"] > 1]
    print(f"\nGrids in 1,000-1,500 after: {int(inside['in_band'].sum())} of {len(inside)} (plus the one over-size "
          "block, a grid of its own).\n")


def helsinki_travel() -> None:
    """Travel time to each grid's office on the real Helsinki OSM roads, as a limit of the workload balance."""
    from gridtools import io
    from gridtools.demo import DEMO_FILE, DEMO_RESIDENTS, data_dir, helsinki_pbf
    from gridtools.grids import partition_features
    from gridtools.grids.workload import balance_workload
    from gridtools.population import estimate_building_population
    from gridtools.routing import Router, load_network

    source = data_dir() / DEMO_FILE
    buildings = estimate_building_population(io.read_any(source, layer="buildings"), total=DEMO_RESIDENTS)
    plan = partition_features(buildings, "pop_est", io.read_any(source, layer="roads"),
                              boundary=io.read_any(source, layer="district"), code_prefix="000000")
    blocks, grids = plan.blocks, plan.grids.to_crs(plan.blocks.crs)
    offices = dict(zip(grids["grid_code"], grids.geometry.representative_point()))  # one office inside each grid
    router = Router(load_network(helsinki_pbf()))
    print("## Helsinki: drive to each grid's office on the OSM roads (car), area balanced too\n")
    print(f"{len(blocks)} street blocks, {len(grids)} grids, office at each grid's representative point\n")
    print("| run | units moved | population cv | area cv | farthest drive per grid: min-max (cv) | "
          "units beyond the limit | seconds |\n|---|---|---|---|---|---|---|")
    for name, limit in (("before", 120.0), ("balanced, no limit", None), ("balanced, at most 2 min", 120.0)):
        started = time.perf_counter()
        r = balance_workload(blocks, "grid_code", "pop_est", {"area_m2": 1.0}, min_pop=1000, max_pop=1500,
                             offices=offices, network=router, max_travel_s=limit, max_rounds=0 if name == "before" else 20)
        seconds = time.perf_counter() - started
        t = r.after["max_travel_s"]
        beyond = t.get("units_beyond_limit", "-")  # units farther than 2 min from their grid's office
        print(f"| {name} | {r.moves} | {r.after['population']['cv']:.3f} | {r.after['area_m2']['cv']:.3f} | "
              f"{t['min']:.0f}-{t['max']:.0f} s ({t['cv']:.3f}); unreachable {t['unreachable_grids']} | {beyond} | "
              f"{seconds:.1f} |")
    print()


def tiles() -> None:
    import geopandas as gpd
    import shapely

    from gridtools.blocks import blocks_from_network
    from gridtools.grids.subdivide import subdivide
    from gridtools.population import aggregate_to_units, estimate_building_population

    if not TILES.exists():
        print(C.skip_message(TILES))
        return
    print("## Over-size blocks split by real building footprints (Shanghai / Wuhan tiles)\n")
    print("| tile | blocks | residents | over-size blocks | subdivided | sub-grids | in band | buildings > max | "
          "feasible sub-grids in band | residents kept | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, total in (("shanghai_bund_lujiazui_tilezen", 30000), ("wuhan_optics_valley_tilezen", 8000)):
        features = read_any(TILES / f"{name}.geojson", crs="wgs84")  # OSM: WGS-84
        buildings = features[(features["layer"] == "buildings") & features.geom_type.isin(["Polygon", "MultiPolygon"])]
        buildings = estimate_building_population(buildings.reset_index(drop=True), total=total)
        roads = features[(features["layer"] == "roads") & features["kind"].isin(["major_road", "highway"])]
        outline = gpd.GeoDataFrame(geometry=[shapely.box(*buildings.total_bounds)], crs=buildings.crs)
        blocks, _ = aggregate_to_units(blocks_from_network(outline, roads, min_area_m2=20000), buildings, pop="pop_est")
        blocks["grid_code"] = [f"420111001001{i + 1:03d}00" for i in range(len(blocks))]
        started = time.perf_counter()
        result = subdivide(blocks, buildings, pop="pop_est", building_pop="pop_est", min_pop=1000, max_pop=1500)
        seconds = time.perf_counter() - started
        s, report = result.summary, result.report
        done = report[report["outcome"] == "subdivided"]
        feasible = (done["feasible_in_band"] * (done["sub_grids"] - done["oversize_buildings"])).sum()
        n_feasible = (done["sub_grids"] - done["oversize_buildings"]).sum()
        print(f"| {name.split('_')[0]} | {len(blocks)} | {total:,} | {s['oversize']} | {s['subdivided']} | {s['sub_grids']} | "
              f"{s['sub_grids_in_band']} | {int(done['oversize_buildings'].sum())} | {feasible:.0f} of {n_feasible} | "
              f"{s['residents_after'] == s['residents_before']} | {seconds:.1f} |")
        for r in report.itertuples(index=False):
            print(f"|  | {r.grid_code} | {r.population:,.0f} | {r.buildings} buildings | {r.outcome} | {r.sub_grids} | "
                  f"{r.in_band} | {r.oversize_buildings} | | | |")
    print()


if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    print(f"# Planner's workflow on real data ({C.machine()})\n")
    rockland()
    providence()
    burlington()
    helsinki_travel()
    tiles()
