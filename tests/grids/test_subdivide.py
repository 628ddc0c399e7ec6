"""Over-size grids split into sub-grids of whole buildings; residents kept exactly."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import box

from conftest import shared_data
from gridtools.grids.subdivide import subdivide, unit_cells


def synthetic_buildings(area, n: int, seed: int = 0) -> gpd.GeoSeries:
    """``n`` small square footprints with their centres inside ``area`` (metric CRS)."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = area.bounds
    out = []
    while len(out) < n:
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if area.contains(shapely.Point(x, y)):
            out.append(box(x - 4, y - 4, x + 4, y + 4))
    return gpd.GeoSeries(out)


def test_unit_cells_tile_the_area():
    area = box(0, 0, 100, 50)
    cells = unit_cells(area, np.array([[10, 10], [60, 20], [90, 40], [90, 40]]))
    assert shapely.is_empty(cells[3]) and abs(sum(c.area for c in cells) - area.area) < 1e-6


def test_oversize_block_split_into_sub_grids_in_band():
    block = box(0, 0, 400, 400)
    grids = gpd.GeoDataFrame({"population": [4000.0, 1200.0], "grid_code": ["32050801904400100", "32050801904400200"]},
                             geometry=[block, box(400, 0, 800, 400)], crs="EPSG:32650")
    buildings = gpd.GeoDataFrame(geometry=synthetic_buildings(block, 80).values, crs="EPSG:32650")
    result = subdivide(grids, buildings, min_pop=1000, max_pop=1500)
    subs = result.grids[result.grids["subdivided"]]
    assert result.summary["residents_after"] == result.summary["residents_before"] == 5200
    assert len(subs) == 3 and subs["in_band"].all()
    assert sorted(subs["grid_code"]) == ["32050801904400101", "32050801904400102", "32050801904400103"]
    assert result.cells["building"].nunique() == 80        # every building whole in one cell
    assert (result.grids.loc[~result.grids["subdivided"], "grid_code"] == "32050801904400200").all()


@pytest.mark.slow
def test_real_rockland_block_with_synthetic_buildings():
    blocks = gpd.read_file(shared_data("population", "rockland", "rockland_blocks.gpkg"))
    big = blocks.nlargest(1, "pop").to_crs("EPSG:32618")
    buildings = gpd.GeoDataFrame(geometry=synthetic_buildings(big.geometry.iloc[0], 120).values, crs="EPSG:32618")
    buildings["pop_est"] = np.random.default_rng(1).integers(5, 40, len(buildings))
    strict = subdivide(big, buildings, pop="pop", code="GEOID", building_pop="pop_est", min_pop=1000, max_pop=1500)
    assert strict.report["outcome"].iloc[0].startswith("infeasible")   # 1,809: too many for one, too few for two
    loose = subdivide(big, buildings, pop="pop", code="GEOID", building_pop="pop_est", min_pop=800, max_pop=1200)
    assert loose.summary["residents_after"] == big["pop"].sum() == 1809
    assert len(loose.grids) == 2 and loose.grids["in_band"].all()


def _tile_blocks(name: str, total: int):
    """Street blocks of a shared OSM tile (its major roads) and its buildings with residents by floor area."""
    from gridtools.blocks import blocks_from_network
    from gridtools.io import read_any
    from gridtools.population import aggregate_to_units, estimate_building_population

    features = read_any(shared_data("china", "shanghai_tiles", f"{name}.geojson"), crs="wgs84")
    buildings = features[(features["layer"] == "buildings") & features.geom_type.isin(["Polygon", "MultiPolygon"])]
    buildings = estimate_building_population(buildings.reset_index(drop=True), total=total)
    roads = features[(features["layer"] == "roads") & features["kind"].isin(["major_road", "highway"])]
    outline = gpd.GeoDataFrame(geometry=[shapely.box(*buildings.total_bounds)], crs=buildings.crs)
    blocks, _ = aggregate_to_units(blocks_from_network(outline, roads, min_area_m2=20000), buildings, pop="pop_est")
    blocks["grid_code"] = [f"310101001001{i + 1:03d}00" for i in range(len(blocks))]
    return blocks, buildings


@pytest.mark.slow
@pytest.mark.parametrize("band", [(1000, 1500), (600, 900), (400, 600)])
def test_shanghai_tile_every_sub_grid_in_band_unless_buildings_forbid(band):
    """Real Bund / Lujiazui footprints: each sub-grid is in band, or the report proves whole buildings cannot be."""
    blocks, buildings = _tile_blocks("shanghai_bund_lujiazui_tilezen", 30000)
    result = subdivide(blocks, buildings, pop="pop_est", building_pop="pop_est", min_pop=band[0], max_pop=band[1])
    report = result.report[result.report["outcome"].str.startswith("subdivided")]
    assert len(report) >= 3
    out = report["sub_grids"] - report["in_band"] - report["oversize_buildings"]
    proven = report["cannot_be_in_band"] > 0                                # the outcome says why
    assert ((out == 0) & (report["feasible_in_band"] == 1.0) | proven).all(), report.to_string()
    assert report.loc[proven, "outcome"].str.contains("exhaustively|only through one building|fit no number").all()
    assert result.summary["residents_after"] == result.summary["residents_before"] == blocks["pop_est"].sum()
    cells = result.cells
    assert cells["building"].is_unique                                      # a building lies in one cell
    assert cells.groupby("grid_code")["population"].sum().sum() == report["population"].sum()


def test_peninsula_through_one_heavy_building_is_reported_not_hidden():
    """A 2-cell peninsula (900 residents) joined through one 700-resident cell: its sub-grid holds 1,600."""
    block = box(0, 0, 700, 100).union(box(600, 100, 700, 400))
    grids = gpd.GeoDataFrame({"population": [5000.0], "grid_code": ["32050801904400100"]}, geometry=[block],
                             crs="EPSG:32650")
    # a row of 7 cells along the bottom, the neck at (650, 150), 2 cells up the arm beyond it
    xy = [(50 + 100 * i, 50) for i in range(7)] + [(650, 150), (650, 250), (650, 350)]
    pops = [500, 500, 500, 500, 500, 500, 400, 700, 450, 450]
    buildings = gpd.GeoDataFrame({"pop_est": pops}, geometry=[box(x - 3, y - 3, x + 3, y + 3) for x, y in xy],
                                 crs="EPSG:32650")
    result = subdivide(grids, buildings, building_pop="pop_est", min_pop=1000, max_pop=1500)
    row = result.report.iloc[0]
    assert row["cannot_be_in_band"] == 1 and "only through one building of 700" in row["outcome"], row["outcome"]
    assert row["sub_grids"] - row["in_band"] == 1 and result.summary["residents_after"] == 5000
    assert row["feasible_in_band"] == 1.0      # every sub-grid that can be in band is
