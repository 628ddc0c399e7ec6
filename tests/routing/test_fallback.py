"""The fallback's shortcuts give what the searches they replace give (gridtools/routing/fallback.py)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import shared_data
from gridtools.routing import Router, load_network, truck
from gridtools.routing.connectivity import pairs_connect, reach_parts
from gridtools.routing.fallback import WIDE_CANDIDATES, NearRoads
from split_graph import points_on_roads


def test_part_labels_never_contradict_a_search():
    """On random sparse directed graphs, a pair called connected is reachable and one called cut off is not."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import breadth_first_order

    rng = np.random.default_rng(3)
    decided = 0
    for _ in range(40):
        n = 60
        tails, heads = rng.integers(0, n, 90), rng.integers(0, n, 90)
        graph = csr_matrix((np.ones(len(tails)), (tails, heads)), shape=(n, n))
        reach = np.zeros((n, n), bool)
        for s in range(n):
            reach[s, breadth_first_order(graph, s, directed=True, return_predecessors=False)] = True
        yes, no = pairs_connect(reach_parts(n, tails, heads), np.arange(n)[:, None], np.ones((n, 1), bool),
                                np.arange(n)[:, None], np.ones((n, 1), bool))
        assert not (yes & no).any()
        assert reach[yes].all() and not reach[no].any()
        decided += int(yes.sum() + no.sum())
    assert decided > 0.75 * 40 * 60 * 60  # most pairs decided without a search (84% on these random graphs)


def test_candidates_filtered_from_the_wide_search_equal_a_direct_search():
    net = load_network(shared_data("roads", "truck_restrictions", "bus.osm.pbf"))
    router = Router(net)
    rules = router.rules(truck(weight_t=40, height_m=4.2))
    trees, index = router._snap_trees(rules), router._segment_index()
    _, xy = router._metric_xy(points_on_roads(net, 40, seed=2, offset_m=40.0), "point")
    fields = ("seg", "fraction", "distance_m", "x", "y")
    derived = 0
    for p in xy:
        near = NearRoads(index, np.array([p, p]))
        for name, k in (("usable", 12), ("main", 12), ("ends", 64)):
            got = near.candidates(0, trees[name], 500.0, k, (trees["ends"], WIDE_CANDIDATES, trees[f"{name}_seg"]))
            want = index.candidates(p, trees[name], 500.0, k=k)
            for f in fields:  # to the last bit
                assert np.array_equal(getattr(got, f), getattr(want, f)), (name, f)
        derived += len(near._found) == 1  # every list came from the one wide search
    assert derived > 30


def test_end_nodes_are_the_nodes_departures_and_arrivals_use():
    """The nodes a point leaves to / is entered from, by their definition, are those of end_nodes (which
    closed_districts reads) and the ones departures / arrivals give a cost; junction points included."""
    from gridtools.routing import fallback
    from gridtools.routing.snapping import EdgeSnap, arrivals, departures, end_nodes, segment_arcs, segment_ends

    net = load_network(shared_data("roads", "truck_restrictions", "bus.osm.pbf"))
    router = Router(net)
    metric = router._metric(truck(weight_t=40, height_m=4.2), None)
    rng = np.random.default_rng(4)
    segs = rng.integers(0, len(net.seg_start), 400)
    fractions = np.r_[rng.uniform(0, 1, 200), np.zeros(100), np.ones(100)]  # a quarter on each kind of junction
    for seg, fraction in zip(segs, fractions):
        snap = EdgeSnap(np.array([seg]), np.array([fraction]), np.zeros(1), np.zeros(1), np.zeros(1))
        for leave, ends in ((True, departures(net, metric.weights, snap)),
                            (False, arrivals(net, metric.weights, metric.arrive_weights, snap))):
            weights = metric.weights if leave else metric.arrive_weights
            # the definition: each usable arc along the segment leads to (comes from) one node; a point on
            # a junction also starts (ends) at the junction itself
            want = {int(net.arc_v[a] if leave else net.arc_u[a]) for a in segment_arcs(net)[seg]
                    if a >= 0 and weights[a] < fallback.INF}
            if fraction <= 0.0 or fraction >= 1.0:
                base = int(segment_ends(net)[seg, 0 if fraction <= 0.0 else 1])
                want.add(int(net.node_depart[base]) if leave else base)
            _, node, cost = ends
            assert set(node[0][cost[0] < fallback.INF].tolist()) == want
            _, node, usable = end_nodes(net, weights, snap, leave)
            assert set(node[usable].tolist()) == want


@pytest.mark.slow
def test_heidelberg_pocket_routes_unchanged_with_and_without_the_labels():
    """The reachable pair chosen by part labels is the one the many-to-many query chooses."""
    from gridtools.routing import fallback

    net = load_network(shared_data("roads", "truck_restrictions", "bus.osm.pbf"))
    vehicle = truck(weight_t=40, height_m=4.2, width_m=2.6, length_m=16.5)
    pts = points_on_roads(net, 120, seed=5)
    pairs = list(zip(pts[::2], pts[1::2]))
    labelled = [Router(net).route(o, d, vehicle, explain=False) for o, d in pairs]
    original = fallback.reachable_snaps
    try:
        fallback.reachable_snaps = lambda *a, **k: original(*a[:5])  # no labels: the engine decides every pair
        searched = [Router(net).route(o, d, vehicle, explain=False) for o, d in pairs]
    finally:
        fallback.reachable_snaps = original
    for a, b in zip(labelled, searched):
        assert a.osmids == b.osmids and a.cost == b.cost and a.snap_m == b.snap_m and a.warnings == b.warnings
    assert sum(bool(r.warnings) for r in labelled) > 10  # many of them went through the fallback
