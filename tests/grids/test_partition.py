"""Tests of ``gridtools.partition``: contiguous management grids of 1,000-1,500 residents.

Two kinds of tests:

* **synthetic** lattices of boxes in EPSG:32650 whose right answer is known by construction
  (e.g. 16 units of 300 residents admit exactly four grids of 1,200);
* **real** census blocks (Providence, Rockland) from ``../shared/data`` (skipped when absent),
  checked against the contract with checks that do not trust the library's own flags:

  - *contiguity*: our own rook adjacency (two units are neighbours when their boundaries share a
    stretch of line, not just a point), built here with shapely in a UTM CRS we choose.  A grid
    must be connected in it.  The one allowance: a grid may bridge units that no chain of
    neighbours inside the same nesting group connects at all (islands) -- no grid could join
    them over land.  For the real block sets, which are topologically clean and connected, that
    means every grid is connected outright, and we also dissolve each grid's units ourselves and
    require a single polygon;
  - *coverage*: the union of the grid polygons equals the union of the units, and the grids do
    not overlap (the sum of their areas equals the area of their union);
  - *populations, counts, codes* recomputed from the units table.
"""

from __future__ import annotations

import hashlib
import re

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import shared_data
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from shapely import box

import gridtools
from gridtools import io
from gridtools.errors import CRSError, InputError

X0, Y0 = 500_000.0, 3_500_000.0  # inside UTM zone 50N, far from the false origin
CRS = "EPSG:32650"
LO, HI = 1000, 1500
PREFIX = "320508"

# --------------------------------------------------------------------------------------------
# helpers (also used by test_redraw.py)


def _lattice(nx_: int, ny: int, pop, size: float = 100.0, x0: float = X0, y0: float = Y0) -> gpd.GeoDataFrame:
    """``nx_`` x ``ny`` square units, row-major from the south-west corner."""
    cols = [i for j in range(ny) for i in range(nx_)]
    rows = [j for j in range(ny) for i in range(nx_)]
    geoms = [box(x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size)
             for i, j in zip(cols, rows)]
    pops = np.broadcast_to(np.asarray(pop, dtype=float), (len(geoms),)).copy()
    return gpd.GeoDataFrame({"pop": pops, "col": cols, "row": rows}, geometry=geoms, crs=CRS)


def _metric(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """Geometries in metres (our own choice of UTM zone, not gridtools.io.to_metric)."""
    if gdf.crs.is_projected:
        return gdf.geometry.to_numpy()
    return gdf.to_crs(gdf.estimate_utm_crs()).geometry.to_numpy()


_ROOK_CACHE: dict[tuple[str, float], tuple[np.ndarray, np.ndarray]] = {}


def _rook_pairs(geoms: np.ndarray, min_shared: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) whose boundaries share more than ``min_shared`` metres of line.

    Cached by the geometries' WKB: the real block sets are checked by several tests.
    """
    key = (hashlib.sha1(b"".join(shapely.to_wkb(geoms))).hexdigest(), min_shared)
    if key not in _ROOK_CACHE:
        _ROOK_CACHE[key] = _compute_rook_pairs(geoms, min_shared)
    return _ROOK_CACHE[key]


def _compute_rook_pairs(geoms: np.ndarray, min_shared: float) -> tuple[np.ndarray, np.ndarray]:
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    shared = shapely.length(shapely.intersection(shapely.boundary(geoms[i]), shapely.boundary(geoms[j])))
    keep = shared > min_shared
    return i[keep], j[keep]


def _components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    matrix = csr_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    return connected_components(matrix, directed=False)[1]


def _non_contiguous_grids(units: gpd.GeoDataFrame, codes, groups=None) -> list[str]:
    """Grids whose units are not connected by rook adjacency, beyond what islands force.

    A grid made of several rook-connected pieces is a fault unless each piece lies in a
    different connected component of the whole group (so no grid could join them by land).
    """
    geoms = _metric(units)
    n = len(geoms)
    codes = np.asarray(codes)
    groups = np.zeros(n, dtype=int) if groups is None else pd.factorize(np.asarray(groups))[0]
    i, j = _rook_pairs(geoms)
    same_group = groups[i] == groups[j]
    land = _components(n, i[same_group], j[same_group])
    same_grid = codes[i] == codes[j]
    inner = _components(n, i[same_grid], j[same_grid])
    pieces = pd.DataFrame({"code": codes, "inner": inner, "land": land}).drop_duplicates(["code", "inner"])
    bad = pieces.groupby("code")["land"].agg(lambda s: s.duplicated().any())
    return sorted(bad.index[bad])


def _grid_table(units: pd.DataFrame, pop: str, code_col: str = "grid_code") -> pd.DataFrame:
    """Population and unit count of each grid, from the units table."""
    return units.groupby(code_col)[pop].agg(population="sum", n_units="size")


def _assert_codes(codes: pd.Series, prefix: str = "", parents_by_group: pd.Series | None = None):
    """17 digits, unique, the prefix, sub-grid 00 and serials 001..n in each parent."""
    codes = pd.Series(codes).astype(str)
    assert codes.str.fullmatch(r"\d{17}").all(), codes[~codes.str.fullmatch(r"\d{17}")].tolist()
    assert codes.is_unique
    assert codes.str.startswith(prefix).all()
    assert (codes.str[15:] == "00").all()
    serial = codes.str[12:15].astype(int)
    for parent, s in serial.groupby(codes.str[:12]):
        assert sorted(s) == list(range(1, len(s) + 1)), f"serials of {parent}: {sorted(s)}"


def _assert_partition(result, units_in: gpd.GeoDataFrame, pop: str, within: str | None = None,
                      prefix: str = "", lo: float = LO, hi: float = HI) -> pd.DataFrame:
    """The whole contract, checked from the units table; returns the recomputed grid table."""
    units, grids = result.units, result.grids
    # no unit split, none lost, none duplicated, nothing reordered
    assert len(units) == len(units_in)
    assert units.index.equals(units_in.index)
    assert np.array_equal(units[pop].to_numpy(dtype=float), units_in[pop].to_numpy(dtype=float))
    assert units["grid_code"].notna().all()
    assert grids["grid_code"].is_unique
    assert set(units["grid_code"]) == set(grids["grid_code"])
    # populations and unit counts
    table = _grid_table(units, pop)
    mine = table.loc[grids["grid_code"]]
    assert np.allclose(grids["population"].to_numpy(), mine["population"].to_numpy())
    assert (grids["n_units"].to_numpy() == mine["n_units"].to_numpy()).all()
    assert grids["population"].sum() == pytest.approx(units_in[pop].sum())
    # band: every grid that is neither an over-size unit nor an infeasible piece is in band
    in_band = mine["population"].between(lo, hi).to_numpy()
    assert (grids["in_band"].to_numpy() == in_band).all()
    exempt = grids["status"].isin(["oversize_unit", "infeasible_piece"]).to_numpy()
    flagged = grids["status"].isin(["out_of_band", "cannot_be_in_band"]).to_numpy()
    assert in_band[~exempt & ~flagged].all()
    assert not in_band[flagged].any()
    # over-size units: alone, flagged, reported
    big = units_in.index[units_in[pop].to_numpy(dtype=float) > hi]
    assert sorted(result.oversize["unit"].tolist()) == sorted(big.tolist())
    for unit in big:
        code = units.loc[unit, "grid_code"]
        assert result.oversize.set_index("unit").loc[unit, "grid_code"] == code
        row = grids.set_index("grid_code").loc[code]
        assert row["status"] == "oversize_unit"
    # nesting: one group per grid
    if within:
        per_grid = units.groupby("grid_code")[within].nunique()
        assert (per_grid == 1).all(), per_grid[per_grid > 1]
        # one parent code per group, distinct groups get distinct parents
        pairs = pd.DataFrame({"g": units[within].astype(str), "p": units["grid_code"].str[:12]}).drop_duplicates()
        assert pairs["g"].is_unique and pairs["p"].is_unique
    _assert_codes(grids["grid_code"], prefix)
    # contiguity, independent of summary["all_contiguous"]
    assert _non_contiguous_grids(units, units["grid_code"], units[within] if within else None) == []
    # coverage: grids tile the units, no gaps, no overlaps
    unit_geoms = _metric(units_in)
    grid_geoms = _metric(grids)
    union_units = shapely.union_all(unit_geoms)
    union_grids = shapely.union_all(grid_geoms)
    total = union_units.area
    assert shapely.symmetric_difference(union_units, union_grids).area < 1e-6 * total
    assert shapely.area(grid_geoms).sum() == pytest.approx(union_grids.area, rel=1e-6)
    assert result.summary["n_grids"] == len(grids)
    return mine


# --------------------------------------------------------------------------------------------
# synthetic: answers known by construction


def test_sixteen_units_of_300_give_four_grids_of_1200():
    units = _lattice(4, 4, 300)
    result = gridtools.partition(units, "pop", code_prefix="320508019044")
    _assert_partition(result, units, "pop", prefix="320508019044")
    # 4,800 residents: ceil(4800/1500) = floor(4800/1000) = 4 grids, and multiples of 300
    # inside [1000, 1500] can only be 1,200
    assert sorted(result.grids["population"]) == [1200.0] * 4
    assert sorted(result.grids["grid_code"]) == [f"320508019044{s:03d}00" for s in (1, 2, 3, 4)]


@pytest.mark.parametrize(("nx_", "ny", "pop", "count"), [
    (6, 6, 100, 3),    # 3,600: (3000, 4000) admits 3 grids only
    (8, 6, 100, 4),    # 4,800: (4500, 5000) admits 4 grids only
    (12, 12, 25, 3),   # 3,600 in 144 small units
])
def test_lattice_with_a_single_feasible_count(nx_, ny, pop, count):
    units = _lattice(nx_, ny, pop)
    result = gridtools.partition(units, "pop")
    _assert_partition(result, units, "pop")
    assert len(result.grids) == count
    assert (result.grids["status"] == "ok").all()
    assert result.infeasible.empty and result.oversize.empty
    assert result.summary["all_contiguous"] is True


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lumpy_lattice_is_all_in_band(seed):
    # 900 units of 0-120 residents: any count in [ceil(P/1500), floor(P/1000)] is feasible on a
    # lattice of such small units, so every grid must land in band
    rng = np.random.default_rng(seed)
    units = _lattice(30, 30, rng.integers(0, 121, 900), size=60.0)
    result = gridtools.partition(units, "pop", random_state=seed)
    table = _assert_partition(result, units, "pop")
    total = units["pop"].sum()
    assert np.ceil(total / HI) <= len(result.grids) <= np.floor(total / LO)
    assert table["population"].between(LO, HI).all()
    assert (result.grids["status"] == "ok").all()


def test_same_input_and_seed_give_the_same_codes():
    rng = np.random.default_rng(11)
    units = _lattice(20, 20, rng.integers(20, 80, 400), size=80.0)
    first = gridtools.partition(units, "pop", random_state=7, code_prefix=PREFIX)
    second = gridtools.partition(units.copy(), "pop", random_state=7, code_prefix=PREFIX)
    assert first.units["grid_code"].equals(second.units["grid_code"])


def test_input_is_not_modified_and_index_is_kept():
    units = _lattice(4, 4, 300)
    units.index = [f"blk{i:02d}" for i in range(16)]
    before = units.copy()
    result = gridtools.partition(units, "pop")
    pd.testing.assert_frame_equal(units, before)
    assert "grid_code" not in units.columns
    assert result.units.index.tolist() == before.index.tolist()


def test_oversize_unit_is_its_own_grid_and_reported():
    units = _lattice(4, 4, 300)
    units.index = [f"blk{i:02d}" for i in range(16)]
    units.loc["blk05", "pop"] = 2000  # an inner unit: the other 15 stay connected
    result = gridtools.partition(units, "pop")
    _assert_partition(result, units, "pop")
    assert result.oversize["unit"].tolist() == ["blk05"]
    assert result.oversize["population"].tolist() == [2000.0]
    code = result.units.loc["blk05", "grid_code"]
    grid = result.grids.set_index("grid_code").loc[code]
    assert (grid["status"], grid["n_units"], grid["population"]) == ("oversize_unit", 1, 2000.0)
    rest = result.grids[result.grids["grid_code"] != code]
    # the other 15 x 300 = 4,500 residents admit 3 or 4 grids, every one in band
    assert rest["in_band"].all() and (rest["status"] == "ok").all()
    assert result.summary["oversize_units"] == 1


def test_unit_enclosed_by_an_oversize_unit_joins_its_grid():
    # a 2,000-resident ring around a 50-resident courtyard, and a separate strip of 1,200 to the east
    ring = box(X0, Y0, X0 + 300, Y0 + 300).difference(box(X0 + 100, Y0 + 100, X0 + 200, Y0 + 200))
    court = box(X0 + 100, Y0 + 100, X0 + 200, Y0 + 200)
    strip = [box(X0 + 300, Y0 + k * 100, X0 + 400, Y0 + (k + 1) * 100) for k in range(3)]
    units = gpd.GeoDataFrame({"pop": [2000.0, 50.0, 400.0, 400.0, 400.0]},
                             geometry=[ring, court, *strip], crs=CRS)
    result = gridtools.partition(units, "pop")
    _assert_partition(result, units, "pop")
    codes = result.units["grid_code"]
    assert codes[0] == codes[1]  # the courtyard cannot reach anything but the ring
    assert codes[2] == codes[3] == codes[4] != codes[0]
    assert result.oversize["unit"].tolist() == [0]


def test_district_below_the_minimum_is_reported_and_flagged():
    units = _lattice(2, 2, 200)  # 800 residents
    result = gridtools.partition(units, "pop")
    _assert_partition(result, units, "pop")
    assert len(result.grids) == 1
    grid = result.grids.iloc[0]
    assert grid["status"] == "infeasible_piece" and not grid["in_band"]
    assert len(result.infeasible) == 1
    row = result.infeasible.iloc[0]
    assert row["population"] == 800
    assert "below the minimum" in row["reason"]
    assert (row["min_grids"], row["max_grids"]) == (1, 0)
    assert result.summary["infeasible_pieces"] == 1


def test_nesting_group_without_residents_is_reported_as_infeasible():
    # a community of parks and water (0 residents) cannot hold a grid of 1,000-1,500 either:
    # its grid must be reported in result.infeasible like any other piece below the minimum
    units = _lattice(4, 2, 0.0)
    units["community"] = np.where(units["row"] == 0, "park", "homes")
    units.loc[units["community"] == "homes", "pop"] = 300.0
    result = gridtools.partition(units, "pop", within="community")
    grids = result.grids.set_index("piece")
    assert grids.loc["homes", "status"] == "ok"
    assert grids.loc["park", "status"] == "infeasible_piece"
    assert result.infeasible["piece"].tolist() == ["park"]
    assert "below the minimum" in result.infeasible["reason"].iloc[0]


def _strip(n: int, pop: float, y: float, x0: float = X0, size: float = 100.0) -> list:
    return [box(x0 + k * size, y, x0 + (k + 1) * size, y + size) for k in range(n)], [pop] * n


def test_infeasible_group_is_listed_with_a_fix_naming_its_neighbour():
    # A: 1,700 residents (too many for one grid, too few for two), B: 2,600 just north of A,
    # C: 1,200 far to the east.  The only sensible merge for A is B.
    a, pa = _strip(17, 100.0, Y0)
    b, pb = _strip(26, 100.0, Y0 + 100)
    c, pc = _strip(12, 100.0, Y0, x0=X0 + 10_000)
    units = gpd.GeoDataFrame({"pop": pa + pb + pc, "community": ["A"] * 17 + ["B"] * 26 + ["C"] * 12},
                             geometry=a + b + c, crs=CRS)
    result = gridtools.partition(units, "pop", within="community", code_prefix=PREFIX)
    _assert_partition(result, units, "pop", within="community", prefix=PREFIX)
    assert result.infeasible["piece"].tolist() == ["A"]
    row = result.infeasible.iloc[0]
    assert row["population"] == 1700
    assert "too many for one grid, too few for two" in row["reason"]
    assert "'B'" in row["proposed_fix"] and "'C'" not in row["proposed_fix"]
    assert "4,300" in row["proposed_fix"]  # A + B together
    grids = result.grids
    assert (grids.loc[grids["piece"] == "A", "status"] == "infeasible_piece").all()
    assert grids.loc[grids["piece"] != "A", "in_band"].all()
    assert (grids.loc[grids["piece"] != "A", "status"] == "ok").all()
    assert result.summary["infeasible_pieces"] == 1


def test_within_digit_codes_become_the_parent_codes():
    units = _lattice(8, 4, 150)
    units["village"] = np.where(units["col"] < 4, "019044", "019045")  # 2,400 residents each
    result = gridtools.partition(units, "pop", within="village", code_prefix=PREFIX)
    _assert_partition(result, units, "pop", within="village", prefix=PREFIX)
    parents = result.units["grid_code"].str[:12]
    assert (parents == PREFIX + result.units["village"]).all()
    assert sorted(result.grids["grid_code"]) == [
        "32050801904400100", "32050801904400200", "32050801904500100", "32050801904500200"]


def test_island_joins_a_grid():
    units = _lattice(6, 6, 100)  # 3,600
    island = gpd.GeoDataFrame({"pop": [100.0], "col": [-1], "row": [-1]},
                              geometry=[box(X0 + 900, Y0 + 200, X0 + 1000, Y0 + 300)], crs=CRS)
    units = pd.concat([units, island], ignore_index=True)
    result = gridtools.partition(units, "pop")
    _assert_partition(result, units, "pop")
    # 3,700 residents admit exactly 3 grids, so the island cannot be a grid of its own
    assert len(result.grids) == 3
    code = result.units["grid_code"].iloc[-1]
    assert (result.units["grid_code"] == code).sum() > 1
    assert result.grids["in_band"].all()


def _vertical_line(x: float, major=True, **tags) -> gpd.GeoDataFrame:
    data = {"major": [major]} if major is not None else {}
    data.update({k: [v] for k, v in tags.items()})
    return gpd.GeoDataFrame(data, geometry=[shapely.LineString([(x, Y0 - 50), (x, Y0 + 1000)])], crs=CRS)


def test_major_barrier_is_not_crossed_when_both_sides_are_feasible():
    # 20 columns of 6 x 50 = 300 residents; the road runs after column 9 (not a natural cut of
    # 1,200-resident grids): west 2,700 (2 grids), east 3,300 (3 grids), both feasible
    units = _lattice(20, 6, 50)
    road = _vertical_line(X0 + 900)
    result = gridtools.partition(units, "pop", barriers=road)
    _assert_partition(result, units, "pop")
    west = result.units["col"] < 9
    assert set(result.units.loc[west, "grid_code"]).isdisjoint(result.units.loc[~west, "grid_code"])
    assert len(result.grids) == 5


def test_osm_primary_road_counts_as_major_without_a_major_column():
    units = _lattice(20, 6, 50)
    road = _vertical_line(X0 + 900, major=None, highway="primary")
    result = gridtools.partition(units, "pop", barriers=road)
    _assert_partition(result, units, "pop")
    west = result.units["col"] < 9
    assert set(result.units.loc[west, "grid_code"]).isdisjoint(result.units.loc[~west, "grid_code"])


def test_major_barrier_is_crossed_when_the_sides_are_infeasible_alone():
    # 12 columns of 300: each half holds 1,800 residents (no grid count fits), the whole 3,600
    units = _lattice(12, 6, 50)
    road = _vertical_line(X0 + 600)
    result = gridtools.partition(units, "pop", barriers=road)
    _assert_partition(result, units, "pop")
    assert result.grids["in_band"].all() and len(result.grids) == 3
    assert result.infeasible.empty
    west = result.units["col"] < 6
    assert not set(result.units.loc[west, "grid_code"]).isdisjoint(result.units.loc[~west, "grid_code"])


def test_barriers_without_crs_are_refused():
    road = _vertical_line(X0 + 600).set_crs(None, allow_override=True)
    with pytest.raises(InputError, match="barriers have no coordinate reference system"):
        gridtools.partition(_lattice(12, 6, 50), "pop", barriers=road)


@pytest.mark.parametrize("size", [500.0, 333.3])
def test_serials_read_west_to_east_north_to_south(size):
    # nine units of 1,300: two together exceed 1,500, so every unit is a grid of its own
    units = _lattice(3, 3, 1300, size=size)
    result = gridtools.partition(units, "pop", code_prefix="320508019044")
    _assert_partition(result, units, "pop", prefix="320508019044")
    serial = result.units["grid_code"].str[12:15].astype(int)
    expected = (2 - result.units["row"]) * 3 + result.units["col"] + 1
    assert serial.tolist() == expected.tolist()


def test_bow_tie_is_repaired_not_dropped():
    units = _lattice(4, 4, 300)
    x, y = X0 + 100, Y0 + 100  # cell (1, 1)
    units.loc[5, "geometry"] = shapely.Polygon([(x, y), (x + 100, y + 100), (x + 100, y), (x, y + 100)])
    assert not units.geometry.is_valid[5]
    result = gridtools.partition(units, "pop")
    assert len(result.units) == 16 and result.units.geometry.is_valid.all()
    assert result.units.loc[5, "grid_code"] in set(result.grids["grid_code"])
    assert result.grids["population"].sum() == 4800
    assert result.units.geometry[5].area == pytest.approx(5000.0)  # two triangles of the bow-tie


def test_progress_is_reported():
    calls = []
    gridtools.partition(_lattice(6, 6, 100), "pop", progress=lambda *a: calls.append(a))
    stages = {c[0] for c in calls}
    assert "building adjacency graph" in stages and "partitioning pieces" in stages
    assert all(0 <= done <= total for _, done, total in calls)


# --------------------------------------------------------------------------------------------
# bad input: each message names what is wrong and how to fix it


def test_missing_pop_column():
    with pytest.raises(InputError) as err:
        gridtools.partition(_lattice(4, 4, 300), "population")
    msg = str(err.value)
    assert "'population'" in msg and "'pop'" in msg and "pop=" in msg


def test_negative_pop_lists_the_rows():
    units = _lattice(4, 4, 300)
    units.loc[[3, 7], "pop"] = -5
    with pytest.raises(InputError) as err:
        gridtools.partition(units, "pop")
    msg = str(err.value)
    assert "negative" in msg and "rows 4 (-5.0), 8 (-5.0)" in msg and "count from 1" in msg


def test_non_numeric_pop_lists_the_row():
    units = _lattice(4, 4, 300)
    units["pop"] = units["pop"].astype(object)
    units.loc[5, "pop"] = "1,2OO"
    with pytest.raises(InputError) as err:
        gridtools.partition(units, "pop")
    msg = str(err.value)
    assert "non-numeric" in msg and "row 6" in msg and "'1,2OO'" in msg


def test_missing_crs():
    units = _lattice(4, 4, 300).set_crs(None, allow_override=True)
    with pytest.raises(InputError) as err:
        gridtools.partition(units, "pop")
    assert "no coordinate reference system" in str(err.value) and "crs=" in str(err.value)


def test_lon_lat_labelled_as_metres():
    units = _lattice(4, 4, 300, size=0.001, x0=116.3, y0=39.9)  # Beijing in degrees, said to be UTM
    with pytest.raises(CRSError) as err:
        gridtools.partition(units, "pop")
    msg = str(err.value)
    assert "degrees" in msg and "metre" in msg and "EPSG:4326" in msg


@pytest.mark.parametrize("empty", [shapely.Polygon(), None])
def test_empty_geometry_is_refused_with_its_row(empty):
    units = _lattice(4, 4, 300)
    units.loc[6, "geometry"] = empty
    with pytest.raises(InputError) as err:
        gridtools.partition(units, "pop")
    msg = str(err.value)
    assert "no geometry" in msg and "row 7 (counting from 1)" in msg


def test_empty_geodataframe():
    empty = gpd.GeoDataFrame({"pop": []}, geometry=[], crs=CRS)
    with pytest.raises(InputError, match="no rows"):
        gridtools.partition(empty, "pop")


def test_points_instead_of_polygons():
    points = gpd.GeoDataFrame({"pop": [300.0] * 4},
                              geometry=shapely.points([(X0, Y0), (X0 + 100, Y0), (X0, Y0 + 100), (X0 + 100, Y0 + 100)]),
                              crs=CRS)
    with pytest.raises(InputError) as err:
        gridtools.partition(points, "pop")
    msg = str(err.value)
    assert "Point" in msg and "not polygons" in msg and "aggregate_to_units" in msg


def test_not_a_geodataframe():
    with pytest.raises(InputError, match="expected a GeoDataFrame"):
        gridtools.partition(pd.DataFrame({"pop": [1.0]}), "pop")


def test_within_gaps_list_the_rows_by_label():
    units = _lattice(4, 4, 300)
    units.index = [f"blk{i:02d}" for i in range(16)]
    units["community"] = "019044"
    units.loc[["blk02", "blk09"], "community"] = np.nan
    units.loc["blk11", "community"] = "  "
    with pytest.raises(InputError) as err:
        gridtools.partition(units, "pop", within="community")
    msg = str(err.value)
    assert "'community'" in msg and "within=" in msg
    assert "blk02" in msg and "blk09" in msg and "blk11" in msg


@pytest.mark.parametrize("fault", ["within_gap", "point"])
def test_row_numbers_in_messages_count_from_one_like_the_others(fault):
    """With a default index, every message of partition() must number rows the same way.

    The population and geometry checks count rows from 1 (and say so); a message naming
    "rows 2, 9" for the 3rd and 10th row sends the user to the wrong rows.
    """
    units = _lattice(4, 4, 300)
    if fault == "within_gap":
        units["community"] = "a"
        units.loc[[2, 9], "community"] = np.nan
        with pytest.raises(InputError) as err:
            gridtools.partition(units, "pop", within="community")
    else:
        units.loc[[2, 9], "geometry"] = [shapely.Point(X0 + 50, Y0 + 50), shapely.Point(X0 + 150, Y0 + 50)]
        with pytest.raises(InputError) as err:
            gridtools.partition(units, "pop")
    assert re.search(r"\brows 3, 10\b", str(err.value)), str(err.value)


def test_min_above_max():
    with pytest.raises(InputError) as err:
        gridtools.partition(_lattice(4, 4, 300), "pop", min_pop=1600, max_pop=1500)
    assert "[1600, 1500]" in str(err.value) and "min_pop=..., max_pop=..." in str(err.value)


@pytest.mark.parametrize(("prefix", "words"), [("32O5A8", "digits only"), ("3205080190441", "at most 12")])
def test_bad_code_prefix(prefix, words):
    with pytest.raises(InputError) as err:
        gridtools.partition(_lattice(4, 4, 300), "pop", code_prefix=prefix)
    assert prefix in str(err.value) and words in str(err.value)


# --------------------------------------------------------------------------------------------
# real census blocks


def _read(*parts) -> gpd.GeoDataFrame:
    return io.read_any(shared_data(*parts))


@pytest.fixture(scope="module")
def providence():
    return _read("population", "providence", "Providence_blocks.zip")


@pytest.fixture(scope="module")
def rockland():
    return _read("population", "rockland", "rockland_blocks.gpkg")


@pytest.fixture(scope="module")
def providence_result(providence):
    return gridtools.partition(providence, "TOTPOP", code_prefix="440305", random_state=0)


@pytest.fixture(scope="module")
def rockland_result(rockland):
    return gridtools.partition(rockland, "pop", code_prefix="440305", random_state=0)


@pytest.fixture(scope="module")
def providence_wards(providence):
    return gridtools.partition(providence, "TOTPOP", within="WARD", code_prefix="440305", random_state=0)


def test_real_data_is_what_the_readme_says(providence, rockland):
    assert len(providence) == 3014 and providence["TOTPOP"].sum() == 178_040
    assert len(rockland) == 4764 and rockland["pop"].sum() == 311_687
    # over-size blocks: Providence 1, Rockland 2
    assert (providence["TOTPOP"] > HI).sum() == 1 and (rockland["pop"] > HI).sum() == 2


@pytest.mark.parametrize("name", ["providence", "rockland"])
def test_real_blocks_partition_meets_the_contract(name, request):
    units = request.getfixturevalue(name)
    result = request.getfixturevalue(f"{name}_result")
    pop = "TOTPOP" if name == "providence" else "pop"
    table = _assert_partition(result, units, pop, prefix="440305")
    # 100% of the grids that are not over-size units lie in the band
    normal = result.grids["status"] != "oversize_unit"
    assert table["population"].to_numpy()[normal.to_numpy()].min() >= LO
    assert table["population"].to_numpy()[normal.to_numpy()].max() <= HI
    assert (result.grids["status"].isin(["ok", "oversize_unit"])).all()
    # over-size blocks are alone in their grid
    big = units.index[units[pop] > HI]
    assert (table.loc[result.units.loc[big, "grid_code"], "n_units"] == 1).all()
    assert (result.grids["status"] == "oversize_unit").sum() == len(big)
    assert result.infeasible.empty
    # every grid, dissolved by us, is one polygon (the blocks are a clean, connected coverage)
    dissolved = gpd.GeoDataFrame(result.units[["grid_code"]], geometry=_metric(result.units)).dissolve("grid_code")
    parts = shapely.get_num_geometries(dissolved.geometry.to_numpy())
    assert (parts == 1).all(), dissolved.index[parts > 1].tolist()
    # the grid count is one the band allows for the non-over-size residents
    rest = units.loc[units[pop] <= HI, pop].sum()
    assert np.ceil(rest / HI) <= normal.sum() <= np.floor(rest / LO)


def test_providence_wards_are_never_crossed(providence, providence_wards):
    result = providence_wards
    _assert_partition(result, providence, "TOTPOP", within="WARD", prefix="440305")
    grids = result.grids
    assert grids.loc[grids["status"] == "ok", "in_band"].all()
    # the ward-5 pocket (984 residents reachable only through a 519-resident block) cannot be
    # in band: it must be flagged, not hidden, and such grids must stay rare
    flagged = grids[grids["status"].isin(["out_of_band", "cannot_be_in_band"])]
    assert len(flagged) <= 2
    assert not flagged["in_band"].any()
    assert grids["status"].isin(["ok", "out_of_band", "cannot_be_in_band", "oversize_unit"]).all()
    assert result.summary["grids_in_band"] == len(grids) - len(flagged) - (grids["status"] == "oversize_unit").sum()


def test_providence_out_of_band_grids_are_genuinely_infeasible(providence_wards):
    """Each flagged grid under the minimum sits in a pocket of its ward that is cut off by one
    block, with too few residents alone and too many together with that block: no partition
    of the ward can put every grid in band.  Checked on our own rook graph."""
    units = providence_wards.units
    geoms = _metric(units)
    i, j = _rook_pairs(geoms)
    graph = nx.Graph()
    graph.add_nodes_from(range(len(units)))
    graph.add_edges_from(zip(i.tolist(), j.tolist()))
    pop = units["TOTPOP"].to_numpy(dtype=float)
    codes, ward = units["grid_code"].to_numpy(), units["WARD"].to_numpy()
    grids = providence_wards.grids
    flagged = grids.loc[grids["status"].isin(["out_of_band", "cannot_be_in_band"])]
    # the partition proves it too (gridtools.grids.proofs.pockets) and says why
    assert len(flagged) >= 1 and (flagged["status"] == "cannot_be_in_band").all()
    assert set(providence_wards.stuck["grid_code"]) == set(flagged["grid_code"])
    assert all("reach the rest only through GEOID10" in why for why in providence_wards.stuck["why"])
    assert providence_wards.summary["share_feasible_in_band"] == 1.0
    for code, grid_pop in zip(flagged["grid_code"], flagged["population"]):
        assert grid_pop < LO  # an over-full grid would need another kind of proof
        members = set(np.flatnonzero(codes == code).tolist())
        first = next(iter(members))
        ward_graph = graph.subgraph(np.flatnonzero(ward == ward[first]).tolist())
        gates = {b for a in members for b in ward_graph[a]} - members
        witnesses = []
        for gate in gates:
            rest = ward_graph.subgraph([n for n in ward_graph if n != gate])
            pocket = nx.node_connected_component(rest, first)
            pocket_pop = pop[list(pocket)].sum()
            if members <= pocket and pocket_pop < LO and pocket_pop + pop[gate] > HI:
                witnesses.append(gate)
        assert witnesses, f"grid {code} ({grid_pop:.0f}) is out of band without being forced to"


def test_real_partition_is_deterministic(providence, providence_result):
    again = gridtools.partition(providence, "TOTPOP", code_prefix="440305", random_state=0)
    assert again.units["grid_code"].equals(providence_result.units["grid_code"])
