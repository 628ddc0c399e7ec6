"""Planner's workflow: aggregate grids into areas, score / compare plans, hand edits with locks and undo."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely import box

from conftest import run_cli, shared_data
from gridtools.errors import InputError
from gridtools.grids.edits import PlanEditor
from gridtools.grids.levels import GridHierarchy, aggregate
from gridtools.grids.plans import compare_plans, plan_from_polygons, score_plan


def lattice(nx: int, ny: int, size: float = 100.0, pop: float = 250.0, **columns) -> gpd.GeoDataFrame:
    cells = [box(x * size, y * size, (x + 1) * size, (y + 1) * size) for y in range(ny) for x in range(nx)]
    frame = gpd.GeoDataFrame({"pop": np.full(len(cells), pop)} | columns, geometry=cells, crs="EPSG:32650")
    frame["col"] = np.tile(np.arange(nx), ny)
    frame["row"] = np.repeat(np.arange(ny), nx)
    return frame


def column_plan(units: gpd.GeoDataFrame, width: int) -> pd.Series:
    """Vertical strips ``width`` cells wide, named g0, g1, ..."""
    return "g" + (units["col"] // width).astype(str)


# -- aggregate ---------------------------------------------------------------------------------

def test_aggregate_by_count_gives_contiguous_equal_areas():
    grids = lattice(6, 6, size=500, pop=1200).rename(columns={"pop": "population"})
    result = aggregate(grids, n_areas=4)
    assert result.summary["n_areas"] == 4 and result.summary["all_contiguous"]
    assert sorted(result.areas["population"]) == [10800] * 4
    assert len(result.grids) == 36 and result.grids["area_code"].isin(result.areas["area_code"]).all()


def test_aggregate_by_band_nests_in_within():
    grids = lattice(8, 4, size=500, pop=1000).rename(columns={"pop": "population"})
    grids["ward"] = np.where(grids["col"] < 4, "A", "B")
    result = aggregate(grids, min_pop=3000, max_pop=5000, within="ward")
    assert result.areas["in_band"].all() and result.summary["all_contiguous"]
    wards_per_area = result.grids.groupby("area_code")["ward"].nunique()
    assert (wards_per_area == 1).all()
    assert result.areas["population"].sum() == grids["population"].sum()


def test_aggregate_needs_band_or_count():
    grids = lattice(2, 2).rename(columns={"pop": "population"})
    with pytest.raises(InputError, match="either a band"):
        aggregate(grids, min_pop=10)


def test_hierarchy_exports_a_layer_per_level(tmp_path):
    grids = lattice(4, 4, size=500, pop=1200).rename(columns={"pop": "population"})
    grids["grid_code"] = [f"g{i}" for i in range(16)]
    result = aggregate(grids, n_areas=2)
    hierarchy = GridHierarchy.from_aggregate(result)
    assert hierarchy.check() == []
    first = result.areas["area_code"].iloc[0]
    assert len(hierarchy.children("areas", first)) == 8
    hierarchy.save(tmp_path / "levels.gpkg")
    import pyogrio

    assert sorted(pyogrio.list_layers(tmp_path / "levels.gpkg")[:, 0]) == ["areas", "grids"]


@pytest.mark.slow
def test_cli_aggregate_providence_into_ten_to_fourteen_areas(tmp_path, capsys):
    import gridtools

    blocks = gpd.read_file(shared_data("population", "providence", "Providence_blocks.zip"))
    result = gridtools.partition(blocks, pop="TOTPOP", min_pop=1000, max_pop=1500)
    path = tmp_path / "grids.gpkg"
    result.grids.to_file(path, layer="grids")
    code, text = run_cli(["grids", "aggregate", path, "--min", 12000, "--max", 18000, "-o", tmp_path / "a.gpkg"], capsys)
    assert code == 0, text
    areas = gpd.read_file(tmp_path / "a.gpkg", layer="areas")
    out_grids = gpd.read_file(tmp_path / "a.gpkg", layer="grids")
    assert 10 <= len(areas) <= 14 and len(out_grids) == len(result.grids)
    assert areas["population"].between(12000, 18000).all()
    assert areas["population"].sum() == blocks["TOTPOP"].sum()
    assert set(areas.columns) >= {"area_code", "population", "n_grids", "geometry"}


def test_cli_aggregate_refuses_fewer_areas_than_providence_wards(tmp_path, capsys):
    """Providence's 15 wards need 15 nested areas at least: 10-14 nested areas are refused, not given as 15."""
    blocks = gpd.read_file(shared_data("population", "providence", "Providence_blocks.zip"))
    path = tmp_path / "blocks.gpkg"
    blocks[["TOTPOP", "WARD", "geometry"]].to_file(path, layer="grids")
    for more in (["--min", 10000, "--max", 18000, "--max-areas", 14], ["--areas", 12]):
        code, text = run_cli(["grids", "aggregate", path, "--pop", "TOTPOP", "--within", "WARD", *more,
                              "-o", tmp_path / "a.gpkg"], capsys)
        assert code == 2 and "15 groups of --within WARD need at least 15 areas" in " ".join(text.split()), text
        assert not (tmp_path / "a.gpkg").exists()


def test_aggregate_max_areas_refuses_a_band_that_needs_more():
    grids = lattice(4, 4, pop=1000).rename(columns={"pop": "population"})
    with pytest.raises(InputError, match="need at least 4 areas, more than max_areas=... allows \\(3\\)"):
        aggregate(grids, min_pop=3000, max_pop=4000, max_areas=3)
    assert aggregate(grids, min_pop=3000, max_pop=4000, max_areas=6).summary["n_areas"] <= 6


def test_cli_aggregate_refuses_without_band(tmp_path, capsys):
    grids = lattice(2, 2).rename(columns={"pop": "population"})
    grids.to_file(tmp_path / "g.gpkg", layer="grids")
    code, text = run_cli(["grids", "aggregate", tmp_path / "g.gpkg", "--min", 5, "-o", tmp_path / "o.gpkg"], capsys)
    assert code != 0 and "--areas" in text and "Traceback" not in text


# -- plans -------------------------------------------------------------------------------------

def test_score_plan_reports_band_contiguity_and_spread():
    units = lattice(6, 2, households=100.0)
    labels = column_plan(units, 2)
    labels[(units["col"] == 0) & (units["row"] == 1)] = "g2"   # a detached unit: g2 in two pieces
    score = score_plan(units, labels, "pop", min_pop=900, max_pop=1000, quantities=["households"])
    grids = score.grids.set_index("grid")
    assert grids.loc["g2", "n_pieces"] == 2 and grids.loc["g0", "population"] == 750
    assert score.summary["share_contiguous"] == pytest.approx(2 / 3)
    assert score.summary["share_in_band"] == pytest.approx(1 / 3)
    assert score.summary["spread"]["households"]["max"] == 500


def test_plan_from_polygons_and_compare():
    units = lattice(4, 2)
    plan = gpd.GeoDataFrame({"name": ["west", "east"]}, geometry=[box(0, 0, 200, 200), box(200, 0, 400, 200)],
                            crs="EPSG:32650")
    labels = plan_from_polygons(units, plan, "name")
    assert (labels == np.where(units["col"] < 2, "west", "east")).all()
    moved = labels.copy()
    moved.iloc[1] = "east"
    comparison = compare_plans(labels, moved, units["pop"])
    assert comparison.summary["units_changed"] == 1 and comparison.summary["residents_changed"] == 250


@pytest.mark.slow
def test_rockland_election_districts_scored_beside_gridtools():
    import gridtools

    blocks = gpd.read_file(shared_data("population", "rockland", "rockland_blocks.gpkg"))
    eds = gpd.read_file(shared_data("population", "rockland", "rockland_election_districts.gpkg"))
    blocks["ED"] = plan_from_polygons(blocks, eds, "ED_KEY").to_numpy()
    ours = gridtools.partition(blocks, pop="pop", min_pop=1000, max_pop=1500)
    theirs = score_plan(blocks, "ED", "pop", min_pop=1000, max_pop=1500)
    mine = score_plan(blocks, ours.units["grid_code"], "pop", min_pop=1000, max_pop=1500)
    assert theirs.summary["n_grids"] == 277          # one of the 278 EDs holds no block point
    assert theirs.summary["share_in_band"] < 0.5 < 0.95 < mine.summary["share_in_band"]
    assert mine.summary["share_contiguous"] == 1.0


# -- edits -------------------------------------------------------------------------------------

def strips() -> PlanEditor:
    units = lattice(6, 4)          # 24 units x 250: three strips of 2 columns = 2,000 each
    return PlanEditor(units, column_plan(units, 2), "pop", min_pop=1750, max_pop=2250)


def test_move_is_validated_tallied_and_undone():
    editor = strips()
    unit = editor.units.index[(editor.units["col"] == 1) & (editor.units["row"] == 0)][0]
    result = editor.move([unit], "g1")
    assert result.ok and result.tallies["g1"]["population"] == 2250 and result.tallies["g0"]["population"] == 1750
    second = editor.units.index[(editor.units["col"] == 1) & (editor.units["row"] == 1)][0]
    refused = editor.move([second], "g1")
    assert not refused and "below the minimum 1,750" in refused.reason
    assert editor.undo().ok and editor.tallies().set_index("grid").loc["g1", "population"] == 2000
    assert editor.redo().ok and editor.tallies().set_index("grid").loc["g1", "population"] == 2250
    assert editor.problems() == []


def test_move_refuses_disconnecting_locked_and_seeded():
    editor = strips()
    u = lambda c, r: editor.units.index[(editor.units["col"] == c) & (editor.units["row"] == r)][0]  # noqa: E731
    assert "not contiguous" in editor.move([u(0, 2)], "g1").reason or "touch" in editor.move([u(0, 2)], "g1").reason
    editor.lock("g1")
    assert "locked" in editor.move([u(1, 0)], "g1").reason
    editor.unlock("g1")
    editor.set_seed("g0", u(1, 0))
    assert "seed" in editor.move([u(1, 0)], "g1").reason
    assert editor.problems() == []


def test_split_and_merge_keep_codes_stable():
    units = lattice(4, 2)
    codes = np.where(units["col"] < 2, "32050801904400100", "32050801904400200")
    editor = PlanEditor(units, codes, "pop", min_pop=400, max_pop=1100)
    result = editor.split("32050801904400100")
    assert result.ok and set(result.tallies) == {"32050801904400100", "32050801904400300"}
    assert all(t["population"] == 500 for t in result.tallies.values())
    assert editor.problems() == []
    editor.set_seed("32050801904400300", editor.members(editor.grid_id("32050801904400300"))[0])
    merged = editor.merge("32050801904400100", "32050801904400300")
    assert merged.ok and merged.tallies["32050801904400100"]["population"] == 1000
    assert editor.problems() == [] and editor.undo().ok and editor.problems() == []


def test_target_population_narrows_one_grid():
    editor = strips()
    editor.set_target("g1", 2000, tolerance=0.05)
    unit = editor.units.index[(editor.units["col"] == 1) & (editor.units["row"] == 0)][0]
    assert "above the maximum 2,100" in editor.move([unit], "g1").reason


def test_cli_score_compare_balance(tmp_path, capsys):
    units = lattice(6, 4, households=np.where(np.arange(24) % 6 < 2, 100.0, 50.0))
    units["plan"] = column_plan(units, 2)
    units["rows"] = "r" + (units["row"] // 2).astype(str)
    path = tmp_path / "units.gpkg"
    units.to_file(path, layer="units")
    code, text = run_cli(["grids", "score", path, "--pop", "pop", "--plan", "plan", "--min", 1750, "--max", 2250,
                          "--quantity", "households", "-o", tmp_path / "score.csv"], capsys)
    assert code == 0 and "in band 1,750-2,250: 100.0%" in text and "households: min 400 max 800" in text
    code, text = run_cli(["grids", "compare", path, "--a", "plan", "--b", "rows", "--pop", "pop"], capsys)
    assert code == 0 and "grids: 3 -> 2" in text
    code, text = run_cli(["grids", "balance", path, "-o", tmp_path / "b.gpkg", "--pop", "pop", "--quantity",
                          "households=2", "--min", 1500, "--max", 2500, "--plan", "plan"], capsys)
    assert code == 0 and "households: cv" in text
    code, text = run_cli(["grids", "balance", path, "-o", tmp_path / "c.gpkg", "--pop", "pop",
                          "--quantity", "households"], capsys)
    assert code != 0 and "no column 'grid_code'" in text and "--plan" in text
    code, text = run_cli(["grids", "score", path, "--pop", "pop"], capsys)
    assert code != 0 and "--plan COL" in text and "Traceback" not in text


def test_rebalance_fixes_unlocked_grids_and_leaves_locked_ones():
    units = lattice(6, 4)
    labels = column_plan(units, 2).to_numpy().copy()
    labels[(units["col"] == 2).to_numpy() & (units["row"] < 2).to_numpy()] = "g0"   # g0 2,500, g1 1,500
    editor = PlanEditor(units, labels, "pop", min_pop=1750, max_pop=2250)
    editor.lock("g2")
    locked_before = editor.members(editor.grid_id("g2")).tolist()
    result = editor.rebalance()
    assert result.ok and editor.tallies()["in_band"].all()
    assert editor.members(editor.grid_id("g2")).tolist() == locked_before
    assert editor.undo().ok and editor.tallies().set_index("grid").loc["g0", "population"] == 2500


@pytest.mark.slow
def test_rockland_planner_session_every_state_valid():
    import gridtools

    blocks = gpd.read_file(shared_data("population", "rockland", "rockland_blocks.gpkg"))
    plan = gridtools.partition(blocks, pop="pop", min_pop=1000, max_pop=1500)
    editor = PlanEditor(plan.units, "grid_code", "pop", min_pop=1000, max_pop=1500)
    names = editor.tallies()["grid"].tolist()
    rng = np.random.default_rng(3)
    locked = [names[i] for i in rng.choice(len(names), 20, replace=False)]
    editor.lock(*locked)
    before = {g: editor.members(editor.grid_id(g)).tolist() for g in locked}
    free = [g for g in names if g not in locked]
    moved = refused = 0
    while moved < 50:
        unit, to = editor.boundary_moves(free[rng.integers(len(free))])[0]
        result = editor.move([unit], to)
        if result.ok:
            moved += 1
            assert editor.problems() == []
        else:
            refused += 1
            assert result.reason
    for _ in range(10):
        assert editor.undo().ok and editor.problems() == []
    assert all(editor.members(editor.grid_id(g)).tolist() == before[g] for g in locked)
    assert len(editor.history) == 40 and refused > 0


def test_aggregate_by_number_of_grids():
    grids = lattice(6, 6, size=500, pop=1000).rename(columns={"pop": "population"})
    grids.loc[grids["col"] < 2, "population"] = 3000        # a dense west: equal-population areas differ in size
    by_grids = aggregate(grids, n_areas=4, balance_by="grids")
    assert sorted(by_grids.areas["n_grids"]) == [9, 9, 9, 9] and by_grids.areas["in_band"].all()
    by_pop = aggregate(grids, n_areas=4)
    assert by_pop.areas["n_grids"].std() > 0


def test_seed_by_point_and_area_quantity():
    from shapely import Point

    from gridtools.grids.workload import balance_workload

    editor = strips()
    assert editor.set_seed("g0", Point(150, 50)).ok
    assert "seed" in editor.move([editor.units.index[1]], "g1").reason
    result = balance_workload(lattice(6, 4).assign(plan=lambda f: column_plan(f, 2)), "plan", "pop",
                              {"area_m2": 1.0}, min_pop=1750, max_pop=2250)
    assert result.before["area_m2"]["max"] == 80000


def test_aggregate_nested_in_boundary_polygons(tmp_path, capsys):
    grids = lattice(8, 4, size=500, pop=1000).rename(columns={"pop": "population"})
    streets = gpd.GeoDataFrame({"street": ["320508019044", "320508019045"]},
                               geometry=[box(0, 0, 2000, 2000), box(2000, 0, 4000, 2000)], crs="EPSG:32650")
    result = aggregate(grids, min_pop=3000, max_pop=5000, within="street", boundaries=streets)
    assert (result.grids.groupby("area_code")["street"].nunique() == 1).all()
    assert set(result.areas["area_code"].str[:12]) == {"320508019044", "320508019045"}
    grids.to_file(tmp_path / "g.gpkg", layer="grids")
    streets.to_file(tmp_path / "streets.gpkg")
    code, text = run_cli(["grids", "aggregate", tmp_path / "g.gpkg", "--min", 3000, "--max", 5000, "--within", "street",
                          "--within-file", tmp_path / "streets.gpkg", "-o", tmp_path / "a.gpkg"], capsys)
    assert code == 0 and gpd.read_file(tmp_path / "a.gpkg", layer="areas")["area_code"].str[:12].nunique() == 2


def test_score_counts_barrier_crossings():
    from shapely import LineString

    units = lattice(4, 2)
    river = gpd.GeoDataFrame({"major": [True]}, geometry=[LineString([(200, -10), (200, 210)])], crs="EPSG:32650")
    one = score_plan(units, ["all"] * 8, "pop", min_pop=100, max_pop=5000, barriers=river)
    two = score_plan(units, column_plan(units, 2), "pop", min_pop=100, max_pop=5000, barriers=river)
    assert one.summary["barrier_crossings"] == 2 and one.summary["grids_crossing_barriers"] == 1
    assert two.summary["barrier_crossings"] == 0
