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
