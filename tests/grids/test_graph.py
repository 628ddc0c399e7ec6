"""Tests of the unit adjacency graph (gridtools.grids.graph).

Every expected value below follows from the geometry drawn in the test (boxes whose shared
edges are known), not from running the code.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely import box

from gridtools.grids.graph import UnitGraph, build_unit_graph, link_islands


def _edges(graph: UnitGraph) -> dict[tuple[int, int], float]:
    return {(int(a), int(b)): float(w) for a, b, w in zip(graph.i, graph.j, graph.length)}


# --------------------------------------------------------------------------------------------
# rook contiguity


def test_shared_edge_is_a_rook_edge_with_its_length():
    g = build_unit_graph([box(0, 0, 10, 10), box(10, 0, 20, 10)])
    assert g.n == 2
    assert _edges(g) == {(0, 1): pytest.approx(10.0)}
    assert list(g.kind) == ["rook"]


def test_corner_touch_is_not_an_edge():
    # the two boxes meet in the single point (10, 10): a grid joined there is not contiguous
    g = build_unit_graph([box(0, 0, 10, 10), box(10, 10, 20, 20)])
    assert _edges(g) == {}


def test_corner_touch_is_not_an_edge_even_with_a_generous_tolerance():
    # 5 m tolerance: the rims near the corner are within tolerance for ~10 m, still below 3 x tolerance
    g = build_unit_graph([box(0, 0, 100, 100), box(100, 100, 200, 200)], tolerance=5.0)
    assert _edges(g) == {}


def test_lattice_has_exactly_the_rook_edges():
    n = 5
    cells = [box(x * 100, y * 100, x * 100 + 100, y * 100 + 100) for y in range(n) for x in range(n)]
    g = build_unit_graph(cells)
    # 2 * n * (n - 1) horizontal + vertical neighbours, no diagonals
    assert len(g.i) == 2 * n * (n - 1)
    assert (g.i < g.j).all()
    assert np.allclose(g.length, 100.0)
    for a, b in zip(g.i, g.j):
        ax, ay, bx, by = a % n, a // n, b % n, b // n
        assert abs(ax - bx) + abs(ay - by) == 1


def test_shared_lengths_of_a_topological_coverage():
    # A (10 wide) and B (20 wide) side by side under C, whose bottom edge has a vertex at x=10
    a = box(0, 0, 10, 10)
    b = box(10, 0, 30, 10)
    c = shapely.Polygon([(0, 10), (10, 10), (30, 10), (30, 20), (0, 20)])
    assert _edges(build_unit_graph([a, b, c])) == {
        (0, 1): pytest.approx(10.0),
        (0, 2): pytest.approx(10.0),
        (1, 2): pytest.approx(20.0),
    }


def test_shared_lengths_without_shared_vertices_are_close():
    # T-junctions: C's bottom edge runs (0,10)-(30,10) with no vertex at x=10, so the exact
    # vertex match cannot see the shared edges; the tolerance path must.  Its estimate may be off
    # by the tolerance at each end of the shared stretch, no more.
    tol = 1.0
    g = _edges(build_unit_graph([box(0, 0, 10, 10), box(10, 0, 30, 10), box(0, 10, 30, 20)], tolerance=tol))
    assert set(g) == {(0, 1), (0, 2), (1, 2)}
    assert g[(0, 2)] == pytest.approx(10.0, abs=2 * tol)
    assert g[(1, 2)] == pytest.approx(20.0, abs=2 * tol)


def test_multipolygon_unit_touches_through_each_part():
    two_parts = shapely.MultiPolygon([box(0, 0, 10, 10), box(100, 0, 110, 10)])
    left, right = box(-10, 0, 0, 10), box(110, 0, 120, 10)
    assert _edges(build_unit_graph([two_parts, left, right])) == {
        (0, 1): pytest.approx(10.0),
        (0, 2): pytest.approx(10.0),
    }


# --------------------------------------------------------------------------------------------
# tolerance for hairline gaps


def test_hairline_gap_within_tolerance_is_an_edge():
    # 0.5 m sliver between blocks that really touch (simplified census geometry)
    g = _edges(build_unit_graph([box(0, 0, 100, 100), box(100.5, 0, 200, 100)], tolerance=1.0))
    assert set(g) == {(0, 1)}
    assert g[(0, 1)] == pytest.approx(100.0, abs=2.0)


def test_gap_wider_than_tolerance_is_not_an_edge():
    assert _edges(build_unit_graph([box(0, 0, 100, 100), box(102, 0, 200, 100)], tolerance=1.0)) == {}


def test_hairline_gap_is_not_an_edge_with_a_smaller_tolerance():
    assert _edges(build_unit_graph([box(0, 0, 100, 100), box(100.5, 0, 200, 100)], tolerance=0.1)) == {}


def test_short_overlap_of_offset_boxes_is_a_corner_not_an_edge():
    # boxes offset vertically so they share only 1 m of boundary: below 3 x 1 m, a corner touch
    g = build_unit_graph([box(0, 0, 100, 100), box(100, 99, 200, 199)], tolerance=1.0)
    assert _edges(g) == {}
    # sharing 50 m is a proper neighbour
    g = build_unit_graph([box(0, 0, 100, 100), box(100, 50, 200, 150)], tolerance=1.0)
    assert _edges(g) == {(0, 1): pytest.approx(50.0, abs=2.0)}


# --------------------------------------------------------------------------------------------
# UnitGraph helpers


def test_csr_is_symmetric_and_components_count():
    g = build_unit_graph([box(0, 0, 10, 10), box(10, 0, 20, 10), box(50, 0, 60, 10)])
    m = g.csr(g.length).toarray()
    assert np.array_equal(m, m.T)
    assert m[0, 1] == pytest.approx(10.0) and m[0, 2] == 0
    n, labels = g.components()
    assert n == 2
    assert labels[0] == labels[1] != labels[2]


def test_subset_and_add_edges_normalise_order():
    g = build_unit_graph([box(0, 0, 10, 10), box(10, 0, 20, 10), box(20, 0, 30, 10)])
    assert len(g.subset_edges(np.array([True, False])).i) == 1
    h = g.add_edges(np.array([2]), np.array([0]), np.array([0.0]), "link")
    assert (h.i < h.j).all()
    assert list(h.kind) == ["rook", "rook", "link"]


# --------------------------------------------------------------------------------------------
# islands


def test_link_islands_joins_an_island_to_its_nearest_unit():
    geoms = np.array([box(0, 0, 10, 10), box(10, 0, 20, 10), box(20, 0, 30, 10),
                      box(26, 50, 36, 60)], dtype=object)  # island 40 m above unit 2
    groups = np.zeros(4, dtype=np.int64)
    g = link_islands(build_unit_graph(geoms), geoms, groups)
    links = {(int(a), int(b)) for a, b, k in zip(g.i, g.j, g.kind) if k == "link"}
    assert links == {(2, 3)}
    assert g.components()[0] == 1
    assert set(g.length[g.kind == "link"].tolist()) == {0.0}  # no shared boundary


def test_link_islands_keeps_each_edge_once():
    # UnitGraph's contract: "each edge once, i < j".  With two components each finds the other
    # as nearest, which must not add the same link twice (csr() would sum the duplicates).
    geoms = np.array([box(0, 0, 10, 10), box(10, 0, 20, 10), box(20, 0, 30, 10),
                      box(26, 50, 36, 60)], dtype=object)
    g = link_islands(build_unit_graph(geoms), geoms, np.zeros(4, dtype=np.int64))
    pairs = list(zip(g.i.tolist(), g.j.tolist()))
    assert len(pairs) == len(set(pairs)), f"duplicate edges: {pairs}"


def test_link_islands_never_links_across_groups():
    # the island (group 0) is nearest to unit 2 of group 1, but must link to group 0's unit 0
    geoms = np.array([box(0, 0, 10, 10), box(100, 0, 110, 10), box(110, 0, 120, 10),
                      box(105, 20, 115, 30)], dtype=object)
    groups = np.array([0, 1, 1, 0])
    g = link_islands(build_unit_graph(geoms), geoms, groups)
    links = {(int(a), int(b)) for a, b, k in zip(g.i, g.j, g.kind) if k == "link"}
    assert links == {(0, 3)}
    n, labels = g.components()
    assert n == 2
    assert labels[0] == labels[3] and labels[1] == labels[2] and labels[0] != labels[1]


def test_link_islands_connects_many_islands_of_each_group():
    rng = np.random.default_rng(5)
    xs = rng.permutation(40) * 30.0  # 40 separate 10 m boxes, 20 m apart at least
    geoms = np.array([box(x, 0, x + 10, 10) for x in xs], dtype=object)
    groups = np.arange(40) % 3
    g = link_islands(build_unit_graph(geoms), geoms, groups)
    assert (groups[g.i] == groups[g.j]).all()
    assert g.components()[0] == 3


def test_link_islands_leaves_connected_groups_alone():
    geoms = np.array([box(0, 0, 10, 10), box(10, 0, 20, 10)], dtype=object)
    base = build_unit_graph(geoms)
    g = link_islands(base, geoms, np.zeros(2, dtype=np.int64))
    assert len(g.i) == len(base.i) == 1


# --------------------------------------------------------------------------------------------
# the length-in-box bound that spares the exact overlay of most near pairs


def test_length_inside_boxes_equals_shapely_clipping():
    from gridtools.grids.graph import _length_inside_boxes

    rng = np.random.default_rng(7)
    lines = np.array([shapely.LineString(rng.uniform(0, 100, (int(rng.integers(2, 9)), 2))) for _ in range(60)])
    owner = rng.integers(0, len(lines), 400)
    lo = rng.uniform(-10, 90, (400, 2))
    boxes = np.column_stack([lo, lo + rng.uniform(0, 40, (400, 2))])
    expected = np.array([shapely.length(shapely.clip_by_rect(lines[o], *bx)) for o, bx in zip(owner, boxes)])
    np.testing.assert_allclose(_length_inside_boxes(lines, owner, boxes), expected, atol=1e-9)


def test_bounded_near_pairs_give_the_graph_of_the_exact_overlay_on_real_blocks(monkeypatch):
    from conftest import shared_data
    from gridtools import io
    from gridtools.grids import graph as graph_module

    blocks = io.read_any(shared_data("population", "rockland", "rockland_blocks.gpkg")).to_crs(32618)
    geoms = blocks.geometry.values
    bounded = build_unit_graph(geoms)
    # without the bound every near pair goes through the exact overlay, as before it existed
    monkeypatch.setattr(graph_module, "_length_inside_boxes", lambda lines, owner, boxes: np.full(len(owner), np.inf))
    exact = build_unit_graph(geoms)
    assert len(bounded.i) > 10_000
    assert _edges(bounded) == _edges(exact)
