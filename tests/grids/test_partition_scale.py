"""The near-linear partition internals (issue 17): vectorised dissolve, one district cut into
sub-pieces, spanning-tree cuts on index arrays, island links over rim units.

Speed is measured in ``benchmarks/bench_partition_scale.py``; these tests check that the faster
paths give the answers the plain ones give.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import shapely
from conftest import shared_data
from shapely import box

import gridtools
from gridtools import io
from gridtools.grids import pieces
from gridtools.grids.balance import PieceGraph
from gridtools.grids.spanning import tree_cut
from gridtools.grids.units import dissolve_groups

CRS = "EPSG:32650"


def _lattice(n: int, pop: np.ndarray) -> gpd.GeoDataFrame:
    geoms = [box(500_000 + x * 100, 3_500_000 + y * 100, 500_100 + x * 100, 3_500_100 + y * 100)
             for y in range(n) for x in range(n)]
    return gpd.GeoDataFrame({"pop": pop}, geometry=geoms, crs=CRS)


def test_dissolve_equals_a_plain_union_on_real_blocks():
    blocks = io.read_any(shared_data("population", "providence", "Providence_blocks.zip")).to_crs("EPSG:32619")
    label = np.random.default_rng(0).integers(0, 150, len(blocks))  # scattered groups: many parts each
    fast = dissolve_groups(blocks.geometry.values, label, 150)
    plain = np.array([shapely.union_all(blocks.geometry.values[label == g]) for g in range(150)])
    assert np.allclose(shapely.area(fast), shapely.area(plain), rtol=1e-12)
    assert (shapely.get_num_geometries(fast) == shapely.get_num_geometries(plain)).all()
    assert shapely.equals(fast, plain).all()


def test_dissolve_of_overlapping_units_falls_back_to_a_true_union():
    # not a coverage: a coverage union would count the overlap twice or return an invalid shape
    geoms = np.array([box(0, 0, 2, 2), box(1, 1, 3, 3), box(10, 0, 11, 1), box(11, 0, 12, 1)])
    out = dissolve_groups(geoms, np.array([0, 0, 1, 1]), 2)
    assert shapely.area(out).tolist() == [7.0, 2.0]
    assert shapely.is_valid(out).all()


def test_tree_cut_gives_two_connected_sides_in_the_window():
    lattice = sp.csr_matrix(nx.to_scipy_sparse_array(nx.grid_2d_graph(12, 12))).astype(float)
    pop = np.random.default_rng(1).integers(0, 60, 144).astype(float)
    graph = PieceGraph.from_matrices(lattice, lattice, pop)
    nodes = np.arange(144)
    total = pop.sum()
    rng = np.random.default_rng(2)
    for _ in range(20):
        mask = tree_cut(graph, nodes, 0.4 * total, 0.6 * total, rng, tries=20, ideal=total / 2)
        assert mask is not None
        assert 0.4 * total <= pop[mask].sum() <= 0.6 * total
        for side in (mask, ~mask):
            sub = lattice[np.flatnonzero(side)][:, np.flatnonzero(side)]
            assert sp.csgraph.connected_components(sub, directed=False)[0] == 1


def test_one_large_district_is_cut_into_sub_pieces_and_stays_in_band(monkeypatch):
    monkeypatch.setattr(pieces, "COARSE_PIECE_UNITS", 300)
    split = []
    original = pieces.split_large_tasks

    def spy(tasks, band):
        out, wholes = original(tasks, band)
        split.append(len(out))
        return out, wholes

    monkeypatch.setattr(gridtools.grids.core, "split_large_tasks", spy)
    pop = np.random.default_rng(3).choice([0, 20, 40, 60, 150, 300], size=40 * 40)
    units = _lattice(40, pop)
    first = gridtools.partition(units, pop="pop", min_pop=1000, max_pop=1500, random_state=4, n_jobs=1)
    again = gridtools.partition(units, pop="pop", min_pop=1000, max_pop=1500, random_state=4, n_jobs=1)
    assert split[0] >= 4  # 1,600 units -> about 5 sub-pieces
    s = first.summary
    assert s["share_feasible_in_band"] == 1.0 and s["all_contiguous"]
    assert first.grids["population"].sum() == pop.sum()
    assert first.units["grid_code"].tolist() == again.units["grid_code"].tolist()


def test_island_links_from_rim_units_reach_the_nearest_unit():
    # a 10 x 10 block of units and three islands: each links to the closest unit of the block
    geoms = [box(x * 10, y * 10, x * 10 + 10, y * 10 + 10) for y in range(10) for x in range(10)]
    geoms += [box(130, 42, 135, 47), box(42, -30, 47, -25), box(-500, 52, -490, 58)]
    geoms = np.array(geoms, dtype=object)
    from gridtools.grids.graph import build_unit_graph, link_islands

    g = link_islands(build_unit_graph(geoms), geoms, np.zeros(len(geoms), dtype=np.int64))
    links = {(int(a), int(b)) for a, b, k in zip(g.i, g.j, g.kind) if k == "link"}
    assert links == {(49, 100), (4, 101), (50, 102)}
    assert g.components()[0] == 1


@pytest.mark.slow
def test_sub_pieces_on_a_local_cluster_give_the_serial_grids(monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(pieces, "COARSE_PIECE_UNITS", 1000)  # the split is made on the client
    blocks = io.read_any(shared_data("population", "providence", "Providence_blocks.zip"))
    options = dict(pop="TOTPOP", min_pop=1000, max_pop=1500, random_state=0)
    serial = gridtools.partition(blocks, n_jobs=1, **options)
    on_dask = gridtools.partition(blocks, scheduler="local:2", **options)
    assert serial.summary["share_feasible_in_band"] == 1.0
    assert serial.units["grid_code"].tolist() == on_dask.units["grid_code"].tolist()
