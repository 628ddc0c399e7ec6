"""Proofs that a grid cannot be in the band (gridtools.grids.proofs) and how partition reports them."""

from __future__ import annotations

from itertools import combinations

import networkx as nx
import numpy as np
import pytest

from gridtools.grids.graph import UnitGraph
from gridtools.grids.proofs import pockets, trapped_units


def _graph(edges, n):
    i, j = np.array([min(e) for e in edges]), np.array([max(e) for e in edges])
    return UnitGraph(n, i, j, np.ones(len(i)), np.array(["rook"] * len(i)))


def _grids_in_band(edges, n, pop, u, lo, hi):
    """Brute force: every connected set of units holding u with a population in the band."""
    g = nx.Graph(edges)
    g.add_nodes_from(range(n))
    others = [v for v in range(n) if v != u]
    for size in range(len(others) + 1):
        for more in combinations(others, size):
            part = (u, *more)
            if lo <= pop[list(part)].sum() <= hi and nx.is_connected(g.subgraph(part)):
                yield part


def _random_cases(seed: int, count: int, n: int, extra_edges: int, sizes):
    """Small random connected graphs (a random tree plus extra edges) with random populations."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        tree = nx.random_labeled_tree(n, seed=int(rng.integers(1 << 30)))
        edges = list(tree.edges()) + [tuple(rng.choice(n, 2, replace=False)) for _ in range(extra_edges)]
        yield sorted({(min(a, b), max(a, b)) for a, b in edges if a != b}), rng.choice(sizes, size=n)


def test_a_unit_behind_empty_units_and_big_neighbours_is_trapped_and_one_with_a_partner_is_not():
    # 0 (488) - 1 (empty) - 2 (1,163); 1 - 3 (1,256); 3 - 4 (400)
    g = _graph([(0, 1), (1, 2), (1, 3), (3, 4)], 5)
    pop = np.array([488.0, 0.0, 1163.0, 1256.0, 400.0])
    # 4 (400) touches only 3 (1,256): trapped too
    assert trapped_units(g, pop, 1000, 1500) == {0: (2, 3), 4: (3,)}
    # with a 1,000-resident neighbour instead of 1,163, 0 can make 1,488: no proof
    assert trapped_units(g, np.array([488.0, 0.0, 1000.0, 1256.0, 400.0]), 1000, 1500) == {4: (3,)}
    # 'among' limits the units tried
    assert trapped_units(g, pop, 1000, 1500, among=np.array([0])) == {0: (2, 3)}


def test_every_proof_holds_against_a_brute_force_search_on_random_graphs():
    proofs, n = 0, 8
    for edges, pop in _random_cases(7, 150, n, 2, [0.0, 0.0, 300.0, 488.0, 900.0, 1163.0, 1256.0]):
        for u in trapped_units(_graph(edges, n), pop, 1000, 1500):
            proofs += 1
            assert next(_grids_in_band(edges, n, pop, u, 1000, 1500), None) is None, (edges, pop.tolist(), u)
    assert proofs > 10  # the search found proofs to check


def test_partition_names_the_demo_grid_no_cut_can_fix():
    """The demo's Helsinki blocks: block 1 (488 residents) reaches others only through blocks of 1,163 and 1,256."""
    from gridtools import io
    from gridtools.demo import DEMO_FILE, DEMO_RESIDENTS, data_dir
    from gridtools.grids import partition_features
    from gridtools.population import estimate_building_population

    source = data_dir() / DEMO_FILE
    if not source.exists():
        pytest.skip(f"{source} not shipped")
    buildings = estimate_building_population(io.read_any(source, layer="buildings"), total=DEMO_RESIDENTS)
    result = partition_features(buildings, "pop_est", io.read_any(source, layer="roads"),
                                boundary=io.read_any(source, layer="district"), code_prefix="000000")
    stuck = result.grids[result.grids["status"] == "cannot_be_in_band"]
    assert len(stuck) == len(result.stuck) == result.summary["cannot_be_in_band"] >= 1
    assert not stuck["in_band"].any() and set(stuck["grid_code"]) == set(result.stuck["grid_code"])
    assert all("reaches other residents only through units of" in why for why in result.stuck["why"])
    feasible = result.grids["status"].isin(["ok", "out_of_band"])
    assert result.summary["share_feasible_in_band"] == result.grids.loc[feasible, "in_band"].mean() == 1.0
    assert any(line.startswith("cannot be in band: grid ") for line in result.summary_lines())


def test_every_pocket_forces_a_grid_out_of_band_in_a_brute_force_search():
    """Over all contiguous cuts of small random graphs, a pocket leaves some grid around it out of the band."""
    checked, n = 0, 7
    for edges, pop in _random_cases(11, 60, n, 0, [200.0, 484.0, 500.0, 519.0, 900.0, 1200.0]):
        for part, cut in pockets(_graph(edges, n), pop, 1000, 1500, np.arange(n)):
            checked += 1
            region = set(part.tolist()) | {cut}
            # any set of units holding part of the region and in band must hold the cut and leave part units out
            assert pop[part].sum() + pop[cut] > 1500 and pop[part].sum() < 1000
            for u in part:  # a grid in band holding u must hold the cut too
                for grid in _grids_in_band(edges, n, pop, u, 1000, 1500):
                    assert cut in grid and not region <= set(grid)
    assert checked > 5

