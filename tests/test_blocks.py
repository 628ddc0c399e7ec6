"""Tests of gridtools.blocks: blocks cut from street/river/rail networks."""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import LineString, MultiLineString, Point, box

from gridtools.blocks import blocks_from_network, boundary_from_features, network_lines_from_osm
from conftest import shanghai_bund_network
from gridtools.errors import CRSError, InputError
from gridtools.population import aggregate_to_units, estimate_building_population

# Shanghai UTM zone 51N: synthetic shapes near the Bund, in metres.
UTM = "EPSG:32651"
X0, Y0 = 353_000.0, 3_457_000.0


def frame(geoms, crs=UTM, **cols) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols, geometry=list(geoms), crs=crs)


def line(*xy) -> LineString:
    return LineString([(X0 + x, Y0 + y) for x, y in xy])


def street_grid(lo: float, hi: float) -> gpd.GeoDataFrame:
    """Streets at x = 0, 100, 200, 300 and y = 0, 100, 200, 300, each running from lo to hi."""
    at = (0, 100, 200, 300)
    return frame([line((v, lo), (v, hi)) for v in at] + [line((lo, v), (hi, v)) for v in at])


def assert_tiles(blocks: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame) -> None:
    """Blocks cover the boundary with no gaps or overlaps (areas in metres)."""
    metric = blocks.to_crs(UTM).geometry
    total = boundary.to_crs(UTM).area.sum()
    assert metric.area.sum() == pytest.approx(total, rel=1e-6)  # no gap or overlap in sum...
    assert shapely.union_all(metric.values).area == pytest.approx(total, rel=1e-6)  # ...nor union


# --- synthetic networks ------------------------------------------------------------------------


def test_street_grid_crossing_the_boundary_gives_25_blocks():
    # Four streets each way cut the 400 m square into 5 x 5 faces: the 9 blocks between the
    # streets plus 16 strips between the outer streets and the boundary.
    district = frame([box(X0 - 50, Y0 - 50, X0 + 350, Y0 + 350)])
    blocks = blocks_from_network(district, street_grid(-100, 400))
    assert len(blocks) == 25
    assert sorted(blocks["area_m2"].round(6).value_counts().items()) == [
        (2500.0, 4), (5000.0, 12), (10000.0, 9)
    ]
    assert blocks["block_id"].tolist() == list(range(25)) == list(blocks.index)
    assert_tiles(blocks, district)


def test_street_grid_inside_the_boundary_gives_9_blocks_and_a_ring():
    # Streets that stop at the outer streets: the 9 blocks plus one ring-shaped outer face.
    district = frame([box(X0 - 50, Y0 - 50, X0 + 350, Y0 + 350)])
    blocks = blocks_from_network(district, street_grid(0, 300))
    assert len(blocks) == 10
    ring = blocks.loc[blocks["area_m2"].idxmax()]
    assert ring["area_m2"] == pytest.approx(400**2 - 300**2)
    assert len(ring.geometry.interiors) == 1


@pytest.mark.parametrize("crs", [UTM, "EPSG:4326"])
def test_streets_clipped_to_the_boundary_still_split_it(crs):
    # Streets that end exactly on the outline: after reprojection to metres their ends may
    # miss the outline by a hair; they must still cut the district into the 3 x 3 blocks.
    district = frame([box(X0, Y0, X0 + 300, Y0 + 300)]).to_crs(crs)
    streets = frame([line((v, 0), (v, 300)) for v in (100, 200)]
                    + [line((0, v), (300, v)) for v in (100, 200)]).to_crs(crs)
    blocks = blocks_from_network(district, streets)
    assert len(blocks) == 9
    np.testing.assert_allclose(blocks["area_m2"], 10_000, rtol=1e-3)
    assert blocks.crs == district.crs
    assert_tiles(blocks, district)


def test_block_ids_read_north_to_south_west_to_east():
    district = frame([box(X0, Y0, X0 + 300, Y0 + 300)])
    blocks = blocks_from_network(district, street_grid(-10, 310))
    centre = blocks.geometry.centroid
    col = ((centre.x - X0) // 100).astype(int).tolist()
    row = (2 - (centre.y - Y0) // 100).astype(int).tolist()
    assert [3 * r + c for r, c in zip(row, col)] == list(range(9))


def test_dead_end_streets_form_no_face():
    district = frame([box(X0, Y0, X0 + 200, Y0 + 100)])
    streets = frame([line((100, -10), (100, 110)), line((20, 50), (80, 50))])  # 2nd: cul-de-sac
    blocks = blocks_from_network(district, streets)
    assert len(blocks) == 2
    assert_tiles(blocks, district)


def test_sliver_merges_into_neighbour_with_longest_shared_edge():
    district = frame([box(X0, Y0, X0 + 200, Y0 + 100)])
    # A street cuts off a 12.5 m² corner of the east block: 5 m shared with the west block,
    # 7.07 m with the east block, so it rejoins the east block.
    streets = frame([line((100, -10), (100, 110)), line((100, 95), (105, 100))])
    blocks = blocks_from_network(district, streets)
    assert blocks["area_m2"].round(6).tolist() == [10_000.0, 10_000.0]
    assert blocks.geometry.iloc[1].contains(Point(X0 + 101, Y0 + 99))
    kept = blocks_from_network(district, streets, min_area_m2=0)
    assert sorted(kept["area_m2"].round(6)) == [12.5, 9987.5, 10_000.0]


def test_thin_strip_between_parallel_streets_is_merged_not_dropped():
    district = frame([box(X0, Y0, X0 + 100, Y0 + 100)])
    streets = frame([line((1, -10), (1, 110))])  # leaves a 1 m x 100 m strip
    blocks = blocks_from_network(district, streets)
    assert len(blocks) == 1
    assert blocks["area_m2"].iloc[0] == pytest.approx(10_000)


def test_major_lines_define_pieces():
    district = frame([box(X0, Y0, X0 + 300, Y0 + 100)])
    streets = frame([line((100, 0), (100, 100)), line((200, 0), (200, 100))], major=[True, False])
    blocks = blocks_from_network(district, streets, major="major")
    assert blocks["piece"].tolist() == [0, 1, 1]
    assert "piece" not in blocks_from_network(district, streets).columns


def test_water_polygons_bound_blocks_by_their_dissolved_outline():
    district = frame([box(X0, Y0, X0 + 300, Y0 + 100)])
    # A river 20 m wide delivered as two tiles: the seam between them is not a block edge.
    river = frame([box(X0 + 140, Y0 - 10, X0 + 160, Y0 + 50),
                   box(X0 + 140, Y0 + 50, X0 + 160, Y0 + 110)])
    blocks = blocks_from_network(district, river)
    assert sorted(blocks["area_m2"].round(6)) == [2000.0, 14_000.0, 14_000.0]


def test_bad_inputs():
    district = frame([box(X0, Y0, X0 + 100, Y0 + 100)])
    streets = frame([line((50, -10), (50, 110))])
    with pytest.raises(CRSError, match="lines have no coordinate reference system"):
        blocks_from_network(district, streets.set_crs(None, allow_override=True))
    with pytest.raises(CRSError, match="boundary"):
        blocks_from_network(district.set_crs(None, allow_override=True), streets)
    with pytest.raises(InputError, match="points in row 1"):
        blocks_from_network(district, frame([line((50, -10), (50, 110)), Point(X0, Y0)]))
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10)])
    with pytest.raises(InputError, match="not a valid polygon"):
        blocks_from_network(frame([bowtie]), streets)
    with pytest.raises(InputError, match="no column 'major'"):
        blocks_from_network(district, streets, major="major")


# --- OSM filtering and default boundary --------------------------------------------------------


def test_network_lines_from_osm_keeps_block_bounding_ways():
    ways = frame(
        [
            line((0, 0), (1, 0)),
            line((0, 1), (1, 1)),
            MultiLineString([[(X0, Y0), (X0 + 1, Y0)], [(X0, Y0 + 2), (X0 + 1, Y0 + 2)]]),
            line((0, 3), (1, 3)),
            line((0, 4), (1, 4)),
            box(X0, Y0, X0 + 5, Y0 + 5),
            Point(X0, Y0),
            line((0, 6), (1, 6)),
        ],
        highway=["primary", "footway", "residential", ["service", "tertiary"], "secondary",
                 None, None, ["footway", "path"]],
        railway=[None, None, None, None, None, None, "level_crossing", None],
        waterway=[None, None, None, None, None, "riverbank", None, None],
        tunnel=[None, None, None, None, "yes", None, None, "no"],
    )
    ways.index = list("abcdefgh")
    lines = network_lines_from_osm(ways)
    assert list(lines.index) == ["a", "c", "c", "d", "f"]
    assert (lines.geom_type == "LineString").all()
    assert lines["major"].tolist() == [True, False, False, False, False]
    with pytest.raises(InputError, match="highway, railway, waterway"):
        network_lines_from_osm(ways[["geometry"]])


def test_boundary_from_features_contains_them():
    pts = gpd.GeoSeries([Point(X0, Y0), Point(X0 + 100, Y0), Point(X0, Y0 + 100),
                         Point(X0 + 10, Y0 + 10)], crs=UTM)
    hull = boundary_from_features(pts, buffer_m=0)
    assert hull.area.iloc[0] == pytest.approx(5000)
    padded = boundary_from_features(pts.to_crs(4326), buffer_m=30).to_crs(UTM)
    assert padded.geometry.iloc[0].contains(shapely.MultiPoint(list(pts.values)).buffer(29))
    with pytest.raises(InputError, match="no features"):
        boundary_from_features(pts.iloc[:0])


# --- real data: streets, rails and water of the Bund / Lujiazui, Shanghai ---------------------


@pytest.fixture(scope="module")
def shanghai():
    buildings, network = shanghai_bund_network()
    start = time.perf_counter()
    boundary = boundary_from_features(buildings)
    blocks = blocks_from_network(boundary, network, major="major")
    seconds = time.perf_counter() - start
    return buildings, boundary, blocks, seconds


def test_shanghai_blocks_tile_the_boundary(shanghai):
    buildings, boundary, blocks, seconds = shanghai
    assert 200 < len(blocks) < 500  # 315 with the default min_area_m2
    assert blocks.crs == boundary.crs == buildings.crs
    assert_tiles(blocks, boundary)
    assert (blocks.to_crs(UTM).area >= 200 - 1e-6).all()
    assert blocks["block_id"].tolist() == list(range(len(blocks)))
    assert blocks["piece"].nunique() > 10


def test_shanghai_buildings_land_in_exactly_one_block(shanghai):
    buildings, _, blocks, _ = shanghai
    points = buildings.geometry.representative_point()
    hits = np.bincount(blocks.sindex.query(points.values, predicate="intersects")[0],
                       minlength=len(points))
    assert (hits == 1).all()


def test_shanghai_block_populations_sum_to_total(shanghai):
    buildings, _, blocks, _ = shanghai
    est = estimate_building_population(buildings, total=100_000, tag_col="kind_detail")
    units, unit = aggregate_to_units(blocks, est, "pop_est")
    assert units["pop_est"].sum() == 100_000
    assert units["pop_est"].dtype == np.int64
    assert unit.index.equals(est.index) and unit.isin(blocks.index).all()
    assert (units["pop_est"] > 0).sum() > 50
