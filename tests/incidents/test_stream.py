"""Geocoding large inputs: chunked CSV, Parquet datasets, process pools and a LocalCluster give
the in-memory answer, row for row, on the real Providence census blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, shared_data

from gridtools import io
from gridtools.errors import InputError
from gridtools.incidents import geocode, prepare_grids
from gridtools.incidents.stream import geocode_dataset


@pytest.fixture(scope="module")
def providence(tmp_path_factory):
    """(grids GeoDataFrame, grids path, events CSV path): 3,014 real blocks, 30,000 events."""
    blocks = io.read_any(shared_data("population", "providence", "Providence_blocks.zip"))
    grids = blocks[["GEOID10", "geometry"]].rename(columns={"GEOID10": "grid_code"})
    folder = tmp_path_factory.mktemp("providence")
    path = folder / "grids.gpkg"
    io.write_any(grids, path, layer="grids")
    rng = np.random.default_rng(1)
    x0, y0, x1, y1 = grids.to_crs(4326).total_bounds
    n = 30_000
    lon = np.round(rng.uniform(x0, x1, n), 6).astype(str)
    lat = np.round(rng.uniform(y0, y1, n), 6).astype(str)
    lon[::97] = ""  # some rows without coordinates stay and get flagged
    events = pd.DataFrame({"id": np.arange(n).astype(str), "lon": lon, "lat": lat, "note": "x"})
    events_path = folder / "events.csv"
    io.write_text_table(events, events_path)
    return io.read_any(path, layer="grids"), path, events_path


def reference(providence):
    grids, _, events_path = providence
    return geocode(io.read_text_table(events_path), grids, crs="wgs84").table


def test_chunked_csv_equals_in_memory(providence, tmp_path):
    grids, _, events_path = providence
    expected = reference(providence)
    out = tmp_path / "out.csv"
    result = geocode_dataset(events_path, prepare_grids(grids), out, crs="wgs84", chunk_rows=7_000)
    got = io.read_text_table(out)
    assert result.parts >= 2
    assert list(got.columns) == list(expected.columns)
    assert (got.to_numpy() == expected.astype(str).to_numpy()).all()
    assert result.summary["located"] == int((expected["grid_code"] != "").sum())
    assert result.summary["bad"] == {"missing": int((expected["geocode_flag"] == "missing").sum())}


def test_parquet_dataset_on_processes_equals_serial(providence, tmp_path):
    grids, _, events_path = providence
    expected = reference(providence)
    source = tmp_path / "events"
    source.mkdir()
    table = io.read_text_table(events_path)
    for i, lo in enumerate(range(0, len(table), 10_000)):
        table.iloc[lo:lo + 10_000].to_parquet(source / f"part-{i}.parquet", row_group_size=4_000)
    prepared = prepare_grids(grids)
    serial = geocode_dataset(source, prepared, tmp_path / "serial", crs="wgs84", chunk_rows=5_000)
    pooled = geocode_dataset(source, prepared, tmp_path / "pooled.parquet", crs="wgs84", chunk_rows=5_000, n_jobs=2)
    a, b = pd.read_parquet(tmp_path / "serial"), pd.read_parquet(tmp_path / "pooled.parquet")
    assert serial.parts == pooled.parts == 6  # 3 files x row groups (4,000 + 4,000) and 2,000
    assert (a["grid_code"].to_numpy() == expected["grid_code"].to_numpy()).all()
    assert a.equals(b)


def test_refuses_to_overwrite_and_unknown_output(providence, tmp_path):
    grids, _, events_path = providence
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(InputError, match="already exists"):
        geocode_dataset(events_path, prepare_grids(grids), tmp_path / "full", crs="wgs84")
    with pytest.raises(InputError, match="folder"):
        geocode_dataset(events_path, prepare_grids(grids), tmp_path / "out.gpkg", crs="wgs84")
    assert (tmp_path / "full" / "x").read_text() == "keep me"


@pytest.mark.slow
def test_local_cluster_cli_equals_serial(providence, tmp_path, capsys):
    """The Dask path: grids scattered once, parts written by the workers, same cells as serial."""
    pytest.importorskip("distributed")
    _, grids_path, events_path = providence
    expected = reference(providence)
    out = tmp_path / "located"
    code, text = run_cli(["geocode", str(events_path), "-o", str(out), "--grids", str(grids_path), "--crs", "wgs84",
                          "--chunk-rows", "10000", "--scheduler", "local:2"], capsys)
    assert code == 0, text
    assert "LocalCluster(2)" in text
    got = pd.read_parquet(out)
    assert sorted(p.name for p in out.iterdir()) == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert (got["grid_code"].to_numpy() == expected["grid_code"].to_numpy()).all()
    assert (got["id"].to_numpy() == expected["id"].to_numpy()).all()


def test_geoparquet_points_in_geoparquet_out(providence, tmp_path):
    """Point geometries carry their CRS: no coordinate columns, output parts are GeoParquet."""
    import geopandas as gpd

    grids, _, events_path = providence
    table = io.read_text_table(events_path)
    table = table[table["lon"] != ""].reset_index(drop=True)
    points = gpd.GeoDataFrame(table[["id"]], geometry=gpd.points_from_xy(table["lon"].astype(float),
                                                                           table["lat"].astype(float)), crs=4326)
    points.to_parquet(tmp_path / "events.parquet", row_group_size=6_000)
    expected = geocode(points, grids).table
    result = geocode_dataset(tmp_path / "events.parquet", prepare_grids(grids), tmp_path / "out", chunk_rows=6_000)
    got = gpd.read_parquet(tmp_path / "out")
    assert result.parts == 5
    assert got.crs.to_epsg() == 4326
    assert (got["grid_code"].to_numpy() == expected["grid_code"].to_numpy()).all()
    assert got.geometry.equals(expected.geometry.reset_index(drop=True))
