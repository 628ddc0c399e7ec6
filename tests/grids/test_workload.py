"""Several quantities balanced at once by validated boundary moves."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely import Point, box

from conftest import shared_data
from gridtools.errors import InputError
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


def _u_street():
    """Two rows of 5 blocks either side of a canal; the only road runs round its end (a U, 30 km/h)."""
    import shapely

    from gridtools.routing import network_from_frames

    lines = [[(8.0, 49.0), (8.011, 49.0)], [(8.011, 49.0), (8.011, 49.0022)], [(8.011, 49.0022), (8.0, 49.0022)]]
    roads = gpd.GeoDataFrame({"osmid": [1, 2, 3], "highway": "residential", "maxspeed": "30", "name": ["a", "b", "c"]},
                             geometry=[shapely.LineString(c) for c in lines], crs=4326)
    cells = [box(8.0 + 0.002 * c, 49.0 + 0.0011 * r, 8.002 + 0.002 * c, 49.0011 + 0.0011 * r)
             for r in range(2) for c in range(5)]
    units = gpd.GeoDataFrame({"pop": 100.0, "row": [r for r in range(2) for _ in range(5)],
                              "col": [c for _ in range(2) for c in range(5)]}, geometry=cells, crs=4326)
    units["plan"] = np.where((units["row"] == 0) & (units["col"] < 2), "g0", "g1")
    return units, network_from_frames(roads)


def test_travel_time_to_the_office_on_roads_limits_moves_and_is_reported():
    units, network = _u_street()
    office = {"g0": Point(8.0005, 49.0003)}               # bottom-left: the top row is 120 m away, 1.6 km by road
    free = balance_workload(units, "plan", "pop", {}, min_pop=100, max_pop=900, offices=office, network=network)
    assert free.assignment[units["row"] == 1].eq("g0").any()          # balancing alone takes a top block
    assert free.after["max_travel_s"]["max"] > 150                        # reported: round the canal, > 2.5 min
    limited = balance_workload(units, "plan", "pop", {}, min_pop=100, max_pop=900, offices=office, network=network,
                               max_travel_s=60)
    assert not limited.assignment[units["row"] == 1].eq("g0").any()       # never across the canal
    assert limited.assignment.eq("g0").sum() > 2                          # but it still grew along the road
    assert limited.tallies.set_index("grid").loc["g0", "max_travel_s"] <= 60
    assert "max_travel_s" in limited.summary_lines()[-1]


def test_travel_options_need_offices_and_a_network():
    units, network = _u_street()
    with pytest.raises(InputError, match="need offices"):
        balance_workload(units, "plan", "pop", {}, min_pop=100, max_pop=900, network=network)
    with pytest.raises(InputError, match="max_travel_s=... needs network"):
        balance_workload(units, "plan", "pop", {}, min_pop=100, max_pop=900, offices={"g0": Point(8.0, 49.0)},
                         max_travel_s=60)


def test_cli_balance_with_travel_time_on_a_road_file(tmp_path, capsys):
    import shapely

    from conftest import run_cli

    units, _ = _u_street()
    units.rename(columns={"plan": "grid_code"}).to_file(tmp_path / "u.gpkg", layer="units")
    gpd.GeoDataFrame({"grid_code": ["g0"]}, geometry=[Point(8.0005, 49.0003)], crs=4326).to_file(tmp_path / "o.gpkg")
    lines = [[(8.0, 49.0), (8.011, 49.0)], [(8.011, 49.0), (8.011, 49.0022)], [(8.011, 49.0022), (8.0, 49.0022)]]
    gpd.GeoDataFrame({"osmid": [1, 2, 3], "highway": "residential", "maxspeed": "30"},
                     geometry=[shapely.LineString(c) for c in lines], crs=4326).to_file(tmp_path / "roads.gpkg")
    code, text = run_cli(["grids", "balance", tmp_path / "u.gpkg", "--pop", "pop", "--quantity", "pop", "--min", 100,
                          "--max", 900, "--offices", tmp_path / "o.gpkg", "--network", tmp_path / "roads.gpkg",
                          "--max-travel-min", 1, "-o", tmp_path / "b.gpkg"], capsys)
    assert code == 0 and "max_travel_s" in text, text
    out = gpd.read_file(tmp_path / "b.gpkg", layer="units")
    assert not out.loc[out["row"] == 1, "grid_code"].eq("g0").any() and out["grid_code"].eq("g0").sum() > 2
    tallies = gpd.read_file(tmp_path / "b.gpkg", layer="tallies").set_index("grid")
    assert tallies.loc["g0", "max_travel_s"] <= 60
