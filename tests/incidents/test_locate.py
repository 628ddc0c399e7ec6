"""Geocoding events to grids: known answers, equality with geopandas.sjoin, CRSs, bad input, CLI."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import run_cli, shared_data

from gridtools import coords, io
from gridtools.errors import CRSError, InputError
from gridtools.incidents import code_levels, geocode, locate_points


def lattice(n=4, size=100.0, crs="EPSG:32651", x0=300_000.0, y0=3_460_000.0, prefix="320509001002"):
    """n x n squares; codes numbered so that string order != row order (tie rule is by code)."""
    cells = [shapely.box(x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size)
             for j in range(n) for i in range(n)]
    codes = [f"{prefix}{n * n - k:03d}00" for k in range(n * n)]  # reversed numbering
    return gpd.GeoDataFrame({"grid_code": codes}, geometry=cells, crs=crs)


def sjoin_reference(x, y, grids, crs):
    """geopandas.sjoin(intersects) with the documented tie rule: the smallest grid_code wins."""
    pts = gpd.GeoDataFrame({"i": np.arange(len(x))}, geometry=gpd.points_from_xy(x, y), crs=crs)
    joined = gpd.sjoin(pts, grids[["grid_code", "geometry"]], predicate="intersects", how="left")
    best = joined.groupby("i")["grid_code"].min()  # NaN-only groups -> NaN
    return best.reindex(np.arange(len(x))).fillna("").to_numpy(dtype=object)


# --------------------------------------------------------------------------------------------
# Known answers
# --------------------------------------------------------------------------------------------


def test_centres_edges_corners_outside_and_nan():
    grids = lattice()
    codes = grids["grid_code"].to_numpy()
    x0, y0 = 300_000.0, 3_460_000.0
    x = np.array([x0 + 50, x0 + 100, x0 + 100, x0 - 1, np.nan, x0, x0 + 400])
    y = np.array([y0 + 50, y0 + 50, y0 + 100, y0 + 50, y0, y0, y0 + 400])
    got = locate_points(x, y, grids.geometry.to_numpy(),
                        rank=np.argsort(np.argsort(codes)))
    # centre of square 0; edge between squares 0 and 1; corner of squares 0, 1, 4, 5;
    # outside; NaN; outer corner (inside); far outer corner (inside)
    expect_sets = [{0}, {0, 1}, {0, 1, 4, 5}, set(), set(), {0}, {15}]
    for g, options in zip(got, expect_sets, strict=True):
        if not options:
            assert g == -1
        else:  # the smallest code among the squares touching the point
            assert g == min(options, key=lambda k: codes[k])
    assert got[1] == 1 and got[2] == 5  # reversed numbering: later squares have smaller codes


@pytest.mark.parametrize("engine", ["cells", "strtree"])
def test_engines_agree_with_sjoin_on_a_random_lattice(engine):
    grids = lattice(n=20, size=37.0)
    rng = np.random.default_rng(3)
    x = rng.uniform(299_950, 300_800, 20_000)
    y = rng.uniform(3_459_950, 3_460_800, 20_000)
    # plus points exactly on grid vertices and edges (shared boundaries)
    vx, vy = shapely.get_coordinates(grids.geometry.to_numpy()).T
    x, y = np.r_[x, vx, vx + 18.5], np.r_[y, vy, vy]
    r = geocode(pd.DataFrame({"x": x, "y": y}), grids, lon="x", lat="y", crs="EPSG:32651", engine=engine)
    assert (r.table["grid_code"].to_numpy() == sjoin_reference(x, y, grids, "EPSG:32651")).all()
    assert r.summary["ties"] > 0 and r.summary["outside_grids"] > 0


def test_code_levels_follow_the_layout():
    got = code_levels(["32050901900200300", "3205", ""], layout=(6, 3, 3, 3, 2))
    assert got["street_code"].tolist() == ["320509019", "", ""]
    assert got["community_code"].tolist() == ["320509019002", "", ""]
    assert code_levels(["ABCDEFGH"], layout=(2, 2, 2, 2))["community_code"].tolist() == ["ABCDEF"]


# --------------------------------------------------------------------------------------------
# Real data: same answer as geopandas.sjoin
# --------------------------------------------------------------------------------------------


def toronto_pattern_on(grids: gpd.GeoDataFrame, n: int, seed: int = 0):
    """Real Toronto incident locations, mapped onto the grids' extent and jittered by ~50 m."""
    path = shared_data("crime", "toronto_mci", "toronto_mci_2014_2021.csv.gz")
    mci = pd.read_csv(path, usecols=["Lat", "Long"]).dropna()
    mci = mci[(mci["Lat"] > 43.5) & (mci["Lat"] < 44) & (mci["Long"] > -80) & (mci["Long"] < -79)]
    rng = np.random.default_rng(seed)
    pick = mci.sample(n, replace=True, random_state=seed)
    lx, ly = pick["Long"].to_numpy(), pick["Lat"].to_numpy()
    x0, y0, x1, y1 = grids.total_bounds
    x = x0 + (lx - lx.min()) / np.ptp(lx) * (x1 - x0) + rng.normal(0, 50, n)
    y = y0 + (ly - ly.min()) / np.ptp(ly) * (y1 - y0) + rng.normal(0, 50, n)
    return x, y


@pytest.mark.parametrize("engine", ["cells", "strtree"])
def test_same_answer_as_sjoin_on_rockland_blocks_and_districts(engine):
    blocks = io.read_any(shared_data("population", "rockland", "rockland_blocks.gpkg")).to_crs(32618)
    eds = io.read_any(shared_data("population", "rockland", "rockland_election_districts.gpkg")).to_crs(32618)
    for polygons in (blocks, eds):
        grids = gpd.GeoDataFrame({"grid_code": [f"36087{k:012d}" for k in range(len(polygons))][::-1]},
                                 geometry=polygons.geometry.to_numpy(), crs=polygons.crs)
        x, y = toronto_pattern_on(grids, 60_000)
        # and every vertex of the first 300 polygons: points on shared boundaries
        vx, vy = shapely.get_coordinates(grids.geometry.to_numpy()[:300]).T
        x, y = np.r_[x, vx], np.r_[y, vy]
        r = geocode(pd.DataFrame({"x": x, "y": y}), grids, lon="x", lat="y", crs="EPSG:32618", engine=engine)
        expect = sjoin_reference(x, y, grids, "EPSG:32618")
        got = r.table["grid_code"].to_numpy()
        assert (got == expect).all(), f"{(got != expect).sum()} differ"
        assert r.summary["ties"] > 100
        assert 0.2 < r.summary["share_located"] < 1


def test_geocode_equals_locate_points_row_for_row_on_rockland_blocks(monkeypatch):
    """geocode() is locate_points plus the table: the same grid for every row, over many chunks
    (the last one short), with missing and non-numeric rows flagged and every input column kept."""
    from gridtools.incidents import locate as locate_module

    blocks = io.read_any(shared_data("population", "rockland", "rockland_blocks.gpkg")).to_crs(32618)
    codes = np.array([f"36087{k:012d}" for k in range(len(blocks))][::-1], dtype=object)
    grids = gpd.GeoDataFrame({"grid_code": codes}, geometry=blocks.geometry.to_numpy(), crs=blocks.crs)
    x, y = toronto_pattern_on(grids, 40_000, seed=3)
    vx, vy = shapely.get_coordinates(grids.geometry.to_numpy()[:200]).T  # shared boundaries: ties
    x, y = np.r_[x, vx], np.r_[y, vy]
    x[::997], y[5::1009], x[7::1499] = np.nan, np.nan, np.inf
    monkeypatch.setattr(locate_module, "_CHUNK", 7_000)
    frame = pd.DataFrame({"id": np.arange(len(x)) * 3, "x": x, "y": y}, index=np.arange(len(x))[::-1] + 10)
    before = frame.copy()
    r = geocode(frame, grids, lon="x", lat="y", crs="EPSG:32618")

    rank = np.argsort(np.argsort(codes.astype(str), kind="stable"))
    loc = locate_points(x, y, grids.geometry.to_numpy(), rank=rank)
    expect = np.where(loc >= 0, codes[np.maximum(loc, 0)], "")
    assert (r.table["grid_code"].to_numpy() == expect).all()
    missing, non_numeric = np.isnan(x) | np.isnan(y), np.isinf(x) & ~np.isnan(y)
    flags = np.where(loc >= 0, "", np.where(missing, "missing", np.where(non_numeric, "non_numeric", "outside_grids")))
    assert (r.table["geocode_flag"].to_numpy() == flags).all()
    levels = code_levels(expect)
    assert (r.table["community_code"].to_numpy() == levels["community_code"].to_numpy()).all()
    assert r.summary["located"] == int((loc >= 0).sum()) and r.summary["ties"] > 50
    assert r.summary["bad"] == {"missing": int(missing.sum()), "non_numeric": int(non_numeric.sum())}
    pd.testing.assert_frame_equal(r.table[["id", "x", "y"]], before)  # every input row and column, same order
    pd.testing.assert_frame_equal(frame, before)  # the caller's frame is not changed


# --------------------------------------------------------------------------------------------
# CRSs
# --------------------------------------------------------------------------------------------


def test_events_in_gcj02_bd09_and_utm_land_in_the_same_grids():
    grids = lattice(n=10, size=250.0, crs="EPSG:32651")  # near Wujiang, Suzhou
    rng = np.random.default_rng(5)
    ex = rng.uniform(300_000, 302_500, 3000)
    ey = rng.uniform(3_460_000, 3_462_500, 3000)
    lon, lat = coords.convert(ex, ey, "EPSG:32651", "wgs84")
    base = geocode(pd.DataFrame({"x": ex, "y": ey}), grids, lon="x", lat="y", crs=32651).table["grid_code"]
    assert (base != "").all()
    for datum in ("wgs84", "gcj02", "bd09", "EPSG:4490"):
        clon, clat = coords.convert(lon, lat, "wgs84", datum if datum != "EPSG:4490" else "wgs84")
        r = geocode(pd.DataFrame({"lng": clon, "lat": clat}), grids, lon="lng", lat="lat", crs=datum)
        assert (r.table["grid_code"] == base).all(), datum
    # the same GCJ-02 numbers read as WGS-84 land ~500 m off: mostly in other grids
    glon, glat = coords.wgs84_to_gcj02(lon, lat)
    wrong = geocode(pd.DataFrame({"lng": glon, "lat": glat}), grids, lon="lng", lat="lat", crs="wgs84")
    assert (wrong.table["grid_code"] != base).mean() > 0.8


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.fixture
def wgs_grids():
    return lattice(n=4, size=0.01, crs="EPSG:4326", x0=120.6, y0=31.1)


def test_bad_rows_are_flagged_by_row_and_kept(wgs_grids):
    events = pd.DataFrame({
        "id": list("abcdef"),
        "lng": ["120.605", "", "abc", "31.105", "350000", "120.9"],
        "lat": ["31.105", "31.1", "31.1", "120.605", "3450000", "31.5"],
    })
    r = geocode(events, wgs_grids, lon="lng", lat="lat", crs="gcj02")
    t = r.table
    assert len(t) == 6 and t["id"].tolist() == list("abcdef")
    assert t["geocode_flag"].tolist() == ["", "missing", "non_numeric", "swapped", "out_of_range", "outside_grids"]
    assert (t["grid_code"][1:] == "").all() and t["grid_code"][0] != ""
    assert any("row 4 (counting from 1)" in m for m in r.messages())


def test_all_swapped_is_an_error_with_a_hint(wgs_grids):
    events = pd.DataFrame({"lng": [31.105, 31.115], "lat": [120.605, 120.615]})
    with pytest.raises(CRSError, match="none of the 2 events.*swapped"):
        geocode(events, wgs_grids, lon="lng", lat="lat", crs="wgs84")
    # in range both ways round (a district at 30.6 E, 31.1 N): only the grids can tell
    grids = lattice(n=4, size=0.01, crs="EPSG:4326", x0=30.6, y0=31.1)
    events = pd.DataFrame({"lng": [31.105, 31.115], "lat": [30.605, 30.615]})
    with pytest.raises(CRSError, match=r"swap the lon=\.\.\., lat=\.\.\. columns"):
        geocode(events, grids, lon="lng", lat="lat", crs="wgs84")


def test_projected_numbers_as_lonlat_and_degrees_as_projected(wgs_grids):
    with pytest.raises(CRSError, match="none of the 2 events.*outside -180"):
        geocode(pd.DataFrame({"x": ["350000", "351000"], "y": ["3450000", "3451000"]}),
                wgs_grids, lon="x", lat="y", crs="wgs84")
    with pytest.raises(CRSError, match="look like longitude/latitude"):
        geocode(pd.DataFrame({"x": [120.605], "y": [31.105]}), wgs_grids, lon="x", lat="y", crs="EPSG:32651")


def test_missing_columns_duplicates_and_clashes(wgs_grids):
    events = pd.DataFrame({"lng": [120.605], "lat": [31.105]})
    with pytest.raises(InputError, match="lon="):
        geocode(events, wgs_grids, lon="lon", lat="lat")
    dup = wgs_grids.copy()
    dup.loc[1, "grid_code"] = dup.loc[0, "grid_code"]
    with pytest.raises(InputError, match="not unique"):
        geocode(events, dup, lon="lng", lat="lat")
    with pytest.raises(InputError, match="already has"):
        geocode(events.assign(grid_code="x"), wgs_grids, lon="lng", lat="lat")


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def run(args, capsys):
    return run_cli(args, capsys, collapse=False)


def test_cli_geocode_on_partition_output_keeps_every_byte(tmp_path, capsys):
    # a real 'gridtools partition' run on a lattice of blocks, in UTM 51N
    blocks = lattice(n=6, size=100.0).drop(columns="grid_code").assign(pop=300)
    blocks_path = tmp_path / "blocks.gpkg"
    io.write_any(blocks, blocks_path)
    grids_path = tmp_path / "grids.gpkg"
    code, text = run(["partition", str(blocks_path), "--pop", "pop", "-o", str(grids_path),
                      "--code-prefix", "320509"], capsys)
    assert code == 0, text
    grids = io.read_any(grids_path, layer="grids")
    # events: GCJ-02 coordinates of points inside the district, plus bad rows
    rng = np.random.default_rng(0)
    ex, ey = rng.uniform(300_010, 300_590, 40), rng.uniform(3_460_010, 3_460_590, 40)
    lon, lat = coords.convert(ex, ey, "EPSG:32651", "gcj02")
    lines = ["id,类别,lng,lat,note"] + [f'{i},"市容, 环境",{float(a)!r},{float(b)!r},00{i}' for i, (a, b) in
                                        enumerate(zip(lon, lat, strict=True))]
    lines += ["40,x,,31.2,", "41,y,abc,31.2,z"]
    events_path = tmp_path / "events.csv"
    events_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    code, text = run(["geocode", str(events_path), "--grids", str(grids_path), "--lon", "lng", "--lat", "lat",
                      "--crs", "gcj02", "-o", str(out)], capsys)
    assert code == 0, text
    assert "row 41" in text and "row 42" in text
    result = pd.read_csv(out, dtype=str, keep_default_na=False)
    original = pd.read_csv(events_path, dtype=str, keep_default_na=False)
    assert result.columns.tolist() == [*original.columns, "grid_code", "street_code", "community_code",
                                       "geocode_flag"]
    pd.testing.assert_frame_equal(result[original.columns], original)
    # the independent answer: the partition's own polygons, tested in UTM
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(ex, ey), crs=32651)
    expect = gpd.sjoin(pts, grids, predicate="within")["grid_code"].sort_index()
    assert result["grid_code"][:40].tolist() == expect.tolist()
    assert result["geocode_flag"].tolist()[-2:] == ["missing", "non_numeric"]
    assert (result["street_code"][:40].str.len() == 9).all()
    # unchanged input bytes: every original line is a prefix of its output line
    for before, after in zip(events_path.read_text(encoding="utf-8").splitlines(),
                             out.read_text(encoding="utf-8").splitlines(), strict=True):
        assert after.startswith(before + ",")


def test_cli_geocode_empty_and_missing_column(tmp_path, capsys, wgs_grids):
    grids_path = tmp_path / "g.gpkg"
    io.write_any(wgs_grids, grids_path, layer="grids")
    empty = tmp_path / "e.csv"
    empty.write_text("")
    code, text = run(["geocode", str(empty), "--grids", str(grids_path), "--lon", "a", "--lat", "b",
                      "-o", str(tmp_path / "o.csv")], capsys)
    assert code == 2 and "empty" in text
    header_only = tmp_path / "h.csv"
    header_only.write_text("id,lng,lat\n")
    code, text = run(["geocode", str(header_only), "--grids", str(grids_path), "--lon", "lon", "--lat", "lat",
                      "-o", str(tmp_path / "o.csv")], capsys)
    assert code == 2 and "--lon" in text and "lng" in text


def test_coordinate_columns_are_detected_by_name(wgs_grids):
    events = pd.DataFrame({"id": [1], "经度": ["120.605"], "纬度": ["31.105"]})
    assert geocode(events, wgs_grids, crs="wgs84").table["grid_code"][0] != ""
    with pytest.raises(InputError, match="lon="):
        geocode(pd.DataFrame({"a": [1]}), wgs_grids)
