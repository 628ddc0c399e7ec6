"""Building footprints without counts -> dasymetric estimate -> street blocks -> grids (Shanghai, OSM)."""

import pytest

from conftest import shanghai_bund_network
from gridtools.blocks import boundary_from_features
from gridtools.grids import partition_features
from gridtools.population import estimate_building_population


@pytest.fixture(scope="module")
def bund():
    buildings, network = shanghai_bund_network()
    estimated = estimate_building_population(buildings, total=100_000, tag_col="kind_detail")
    result = partition_features(estimated, "pop_est", network, boundary=boundary_from_features(buildings))
    return estimated, result


def test_every_building_whole_in_one_grid(bund):
    estimated, result = bund
    units = result.units
    assert len(units) == len(estimated) and units.index.equals(estimated.index)
    assert units["grid_code"].notna().all()
    # a block (and so every building in it) belongs to exactly one grid
    assert units.groupby("block_id")["grid_code"].nunique().max() == 1
    assert result.grids["population"].sum() == 100_000


def test_grids_follow_blocks_and_cover_the_district(bund):
    _, result = bund
    blocks, grids = result.blocks, result.grids
    assert blocks["grid_code"].isin(grids["grid_code"]).all()
    area_blocks = blocks.to_crs(32651).area.sum()
    area_grids = grids.to_crs(32651).area.sum()
    assert area_grids == pytest.approx(area_blocks, rel=1e-6)


def test_feasible_grids_are_in_band_and_the_rest_is_reported(bund):
    _, result = bund
    grids = result.grids
    ok = grids["status"] == "ok"
    assert grids.loc[ok, "population"].between(1000, 1500).all()
    # blocks estimated above 1,500 residents (towers) are over-size grids: each holds exactly one
    # such block, plus any pocket it encloses that is too small to be a grid of its own
    over = grids["status"] == "oversize_unit"
    blocks = result.blocks
    big_blocks = blocks[blocks["pop_est"] > 1500]
    assert len(result.oversize) == over.sum() == len(big_blocks)
    assert big_blocks["grid_code"].is_unique
    assert set(big_blocks["grid_code"]) == set(grids.loc[over, "grid_code"])
    pockets = blocks[blocks["grid_code"].isin(big_blocks["grid_code"]) & (blocks["pop_est"] <= 1500)]
    assert (pockets.groupby("grid_code")["pop_est"].sum() < 1000).all()
    assert ok.sum() > 0.5 * len(grids)
    assert result.summary["all_contiguous"]
