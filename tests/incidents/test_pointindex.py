"""GridIndex: resolved cells never change an answer (overlaps, holes, shared edges), and the index
survives pickling (how it reaches Dask workers)."""

from __future__ import annotations

import pickle

import numpy as np
import shapely

from gridtools.incidents.pointindex import GridIndex


def brute_force(x, y, polygons, rank):
    """Lowest-rank polygon intersecting each point, by testing every pair."""
    out = np.full(len(x), -1)
    for i, p in enumerate(polygons):
        hit = shapely.intersects_xy(p, x, y)
        better = hit & ((out < 0) | (rank[i] < rank[np.maximum(out, 0)]))
        out[better] = i
    return out


def test_overlaps_holes_and_edges_match_brute_force():
    rng = np.random.default_rng(7)
    centres = rng.uniform(0, 1000, (60, 2))
    polygons = list(shapely.buffer(shapely.points(centres), rng.uniform(20, 120, 60)))  # overlapping discs
    polygons += [shapely.box(i * 100.0, 1100, (i + 1) * 100.0, 1200) for i in range(10)]  # shared edges
    polygons.append(shapely.box(0, 1300, 600, 1900).difference(shapely.box(200, 1500, 400, 1700)))  # a hole
    polygons = np.array(polygons, dtype=object)
    rank = rng.permutation(len(polygons))
    x = np.r_[rng.uniform(-50, 1050, 30_000), np.arange(0, 1001, 12.5), rng.uniform(0, 600, 2000)]
    y = np.r_[rng.uniform(-50, 1950, 30_000), np.full(81, 1150.0), rng.uniform(1300, 1900, 2000)]
    index = GridIndex(polygons, rank=rank)
    assert (index.resolved >= 0).any() and (index.resolved == -1).any()  # both paths are exercised
    expected = brute_force(x, y, polygons, rank)
    got, ties = index.locate(x, y)
    assert (got == expected).all()
    assert ties > 0
    again, _ = pickle.loads(pickle.dumps(index)).locate(x, y)
    assert (again == expected).all()


def test_strtree_engine_agrees():
    polygons = np.array([shapely.box(i, j, i + 1, j + 1) for i in range(5) for j in range(5)], dtype=object)
    x = np.linspace(-0.5, 5.5, 301)
    y = np.full_like(x, 2.0)  # along a shared edge: ties everywhere
    cells, _ = GridIndex(polygons).locate(x, y)
    tree, _ = GridIndex(polygons, engine="strtree").locate(x, y)
    assert (cells == tree).all()
    assert (cells == brute_force(x, y, polygons, np.arange(len(polygons)))).all()
