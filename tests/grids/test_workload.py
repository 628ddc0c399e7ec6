"""Several quantities balanced at once by validated boundary moves."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely import Point, box

from conftest import shared_data
from gridtools.grids.workload import balance_workload


def strips_with_households():
    cells = [box(x * 100, y * 100, (x + 1) * 100, (y + 1) * 100) for y in range(4) for x in range(6)]
    units = gpd.GeoDataFrame({"pop": np.full(24, 250.0), "households": np.full(24, 50.0)}, geometry=cells,
                             crs="EPSG:32650")
    col = np.tile(np.arange(6), 4)
    units.loc[col < 2, "households"] = 100.0          # the west strip has twice the households
    units["plan"] = "g" + (col // 2).astype(str)
    return units


def test_second_quantity_spread_falls_and_population_stays_in_band():
    units = strips_with_households()
    result = balance_workload(units, "plan", "pop", {"households": 2.0}, min_pop=1500, max_pop=2500)
    assert result.after["households"]["cv"] < result.before["households"]["cv"]
    assert result.tallies["population"].between(1500, 2500).all() and result.moves > 0


def test_locked_grid_and_office_distance_are_respected():
    units = strips_with_households()
    result = balance_workload(units, "plan", "pop", {"households": 2.0}, min_pop=1500, max_pop=2500, locked=["g1"],
                              offices={"g0": Point(100, 200)}, max_distance_m=250)
    assert (result.assignment[units["plan"] == "g1"] == "g1").all()
    assert ((units["plan"] == "g1") == (result.assignment == "g1")).all()
    assert result.tallies.set_index("grid").loc["g0", "max_distance_m"] <= 250


@pytest.mark.slow
def test_burlington_population_and_housing_units():
    import gridtools

    blocks = gpd.read_file(shared_data("population", "burlington", "btv_block_stats_2020.geojson"))
    plan = gridtools.partition(blocks, pop="total_population", min_pop=1000, max_pop=1500)
    result = balance_workload(plan.units, "grid_code", "total_population", {"housing_units": 1.0},
                              min_pop=1000, max_pop=1500)
    assert result.after["housing_units"]["cv"] < 0.8 * result.before["housing_units"]["cv"]
    feasible = result.tallies[result.tallies["n_units"] > 1]
    assert feasible["in_band"].mean() >= 0.97
