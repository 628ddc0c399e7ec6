"""The command line: one library call plus I/O, clear errors, no tracebacks."""

import subprocess
import sys

import geopandas as gpd
import pytest
from conftest import run_cli
from shapely import box

from gridtools import io


def run(args, capsys):
    return run_cli(args, capsys, collapse=False)


@pytest.fixture
def lattice_file(tmp_path):
    blocks = gpd.GeoDataFrame(
        {"pop": [300] * 16, "ward": ["a"] * 8 + ["b"] * 8},
        geometry=[box(x * 100, y * 100, x * 100 + 100, y * 100 + 100) for x in range(4) for y in range(4)],
        crs="EPSG:32650",
    )
    path = tmp_path / "blocks.gpkg"
    io.write_any(blocks, path)
    return path


def test_partition_writes_grids_and_units(lattice_file, tmp_path, capsys):
    out = tmp_path / "grids.gpkg"
    code, text = run(["partition", str(lattice_file), "--pop", "pop", "--within", "ward", "-o", str(out),
                      "--code-prefix", "320508"], capsys)
    assert code == 0, text
    grids = io.read_any(out, layer="grids")
    units = io.read_any(out, layer="units")
    assert len(units) == 16 and units["grid_code"].notna().all()
    assert grids["population"].sum() == 4800
    assert grids["population"].between(1000, 1500).all()
    # grids never cross wards
    assert units.groupby("grid_code")["ward"].nunique().max() == 1
    assert grids["grid_code"].str.startswith("320508").all()
    assert "feasible grids in band: 100.0%" in text


def test_map_writes_html(lattice_file, tmp_path, capsys):
    out = tmp_path / "grids.gpkg"
    assert run(["partition", str(lattice_file), "--pop", "pop", "-o", str(out)], capsys)[0] == 0
    html = tmp_path / "map.html"
    code, text = run(["map", str(out), "-o", str(html)], capsys)
    assert code == 0, text
    page = html.read_text()
    assert "leaflet" in page.lower() and "1,200" in page


def test_missing_column_is_a_clear_error_without_traceback(lattice_file, tmp_path, capsys):
    code, text = run(["partition", str(lattice_file), "--pop", "people", "-o", str(tmp_path / "x.gpkg")], capsys)
    assert code != 0
    assert "people" in text and "pop" in text and "--pop" in text
    assert "Traceback" not in text


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    code, text = run(["partition", str(tmp_path / "nope.gpkg"), "--pop", "pop", "-o", str(tmp_path / "x.gpkg")],
                     capsys)
    assert code != 0 and "nope.gpkg" in text and "Traceback" not in text


def test_rebalance_after_growth(lattice_file, tmp_path, capsys):
    first = tmp_path / "grids.gpkg"
    assert run(["partition", str(lattice_file), "--pop", "pop", "-o", str(first)], capsys)[0] == 0
    units = io.read_any(first, layer="units")
    units["pop2"] = units["pop"]
    units.loc[units.index[:2], "pop2"] = 500  # one corner grows by 400
    changed = tmp_path / "changed.gpkg"
    io.write_any(units, changed, layer="units")
    out = tmp_path / "rebalanced.gpkg"
    code, text = run(["rebalance", str(changed), "--pop", "pop2", "-o", str(out)], capsys)
    assert code == 0, text
    grids = io.read_any(out, layer="grids")
    assert grids["population"].between(1000, 1500).all()
    assert grids["population"].sum() == units["pop2"].sum()


def test_installed_command_and_root_shim_show_help():
    for cmd in (["gridtools", "--help"], [sys.executable, "cli.py", "--help"]):
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=__file__.rsplit("/tests/", 1)[0])
        assert done.returncode == 0, done.stderr
        assert "partition" in done.stdout and "rebalance" in done.stdout


def test_demo_runs_on_shipped_data(tmp_path, capsys):
    code, text = run(["demo", "-o", str(tmp_path / "demo")], capsys)
    assert code == 0, text
    grids = io.read_any(tmp_path / "demo" / "grids.gpkg", layer="grids")
    assert grids["population"].sum() == 15000
    assert (tmp_path / "demo" / "grids_map.html").stat().st_size > 10_000
    _check_demo_outputs(tmp_path / "demo", grids)


def _check_demo_outputs(folder, grids):
    """Every capability of the demo left real, consistent output."""
    import re
    import sqlite3

    import pandas as pd

    from gridtools.components import open_store

    with open_store(folder / "components.gpkg", create=False) as register:
        components = register.to_geodataframe(status="active")
    assert len(components) > 1000 and components["code"].str.fullmatch(r"0{6}\d{10}").all()
    assert set(components["grid_code"].replace("", None).dropna()) <= set(grids["grid_code"])
    assert {"0118", "0402"} <= set(components["class_code"])  # street lamps and trees of the OSM extract
    with sqlite3.connect(folder / "cases.sqlite") as db:
        cases = pd.read_sql_query("SELECT * FROM cases", db)
    synthetic = pd.read_csv(folder / "incidents_synthetic.csv", dtype=str, keep_default_na=False)
    assert len(cases) == len(synthetic) > 100 and synthetic["description"].str.startswith("SYNTHETIC").all()
    assert set(cases["grid_code"].dropna()) <= set(grids["grid_code"])
    assert (cases["status"] == "closed").sum() > len(cases) / 2
    metrics = pd.read_csv(folder / "hotspots" / "metrics.csv")
    assert {"kde", "naive_4w"} <= set(metrics["method"]) and metrics["pai"].notna().all()
    for name in ("components_map.html", "incidents_map.html", "hotspots_map.html", "dispatch_map.html"):
        assert (folder / name).stat().st_size > 20_000, name
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?://', page)  # one file, offline
    for heading in ("Grids: Summary", "Components: Summary", "Incidents (SYNTHETIC): Summary", "Hotspots: Summary",
                    "Truck dispatch (SYNTHETIC trips): Summary"):
        assert heading in page, heading
    # the day's trucks crowd some segment-slots on their fastest routes; spreading removes most
    crowded = re.search(r"([\d,]+) when every truck takes its fastest legal route at its earliest time, ([\d,]+) after", page)
    before, after = (int(g.replace(",", "")) for g in crowded.groups())
    assert before > 0 and after <= 0.1 * before
    closed = int((cases["status"] == "closed").sum())
    assert f"{len(cases):,} cases reported, {closed:,} closed" in page
