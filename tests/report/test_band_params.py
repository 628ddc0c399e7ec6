"""Results carry their parameters: a partition's band travels with its grids into the file, the map and the report.

A 600-900 partition judged against the default 1,000-1,500 band would read "0 grids in band";
every reader must use the band the partition used unless told otherwise.
"""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pytest
from conftest import run_cli
from shapely import box

import gridtools
from gridtools import io, settings
from gridtools.grids.params import band_of, params_of
from gridtools.maps import grid_map
from gridtools.report import partition_report

X0, Y0 = 500_000.0, 3_500_000.0  # UTM 50N


@pytest.fixture(scope="module")
def units() -> gpd.GeoDataFrame:
    cells = [box(X0 + x * 100, Y0 + y * 100, X0 + x * 100 + 100, Y0 + y * 100 + 100) for x in range(6) for y in range(6)]
    return gpd.GeoDataFrame({"pop": np.full(36, 250.0)}, geometry=cells, crs="EPSG:32650")


@pytest.fixture(scope="module")
def small_band(units):
    result = gridtools.partition(units, "pop", min_pop=600, max_pop=900)
    assert (settings.min_pop, settings.max_pop) == (1000, 1500)  # the default band would judge them all wrong
    assert result.grids["population"].between(600, 900).all()
    assert not result.grids["population"].between(1000, 1500).any()
    return result


def _summary_share(html_text: str) -> str:
    return re.search(r"grids \(([\d.]+%)\) hold ([\d,]+)-([\d,]+) residents", html_text).groups()


def _legend_band(html_text: str) -> str:
    legend = json.loads(re.search(r"div\.innerHTML = (\".*?\");", html_text).group(1))
    return re.search(r"([\d,]+)–([\d,]+) \(in band\)", legend).groups()


def test_the_result_and_its_grids_carry_the_band(small_band):
    assert small_band.params["min_pop"] == 600 and small_band.params["max_pop"] == 900
    assert small_band.params["pop"] == "pop"
    assert params_of(small_band.grids)["max_pop"] == 900 and params_of(small_band.units)["min_pop"] == 600
    assert band_of(small_band.grids) == (600, 900)
    assert band_of(small_band.grids, max_pop=1000) == (600, 1000)  # an explicit edge overrides


def test_the_band_survives_the_geopackage(small_band, tmp_path):
    path = io.write_any(small_band.grids, tmp_path / "p.gpkg", layer="grids")
    assert io.layer_params(path, "grids")["max_pop"] == 900
    back = io.read_any(path, layer="grids")
    assert band_of(back) == (600, 900)
    # map and report of the file read back use the partition's band, not the default
    assert _legend_band(grid_map(back).get_root().render()) == ("600", "900")
    assert _summary_share(partition_report(back).to_html()) == ("100.0%", "600", "900")
    # explicit values still win
    assert _summary_share(partition_report(back, min_pop=1000, max_pop=1500).to_html()) == ("0.0%", "1,000", "1,500")


def test_grids_without_parameters_fall_back_to_the_settings(small_band, tmp_path):
    bare = small_band.grids.copy()
    bare.attrs = {}
    path = io.write_any(bare, tmp_path / "bare.gpkg", layer="grids")
    assert io.layer_params(path, "grids") == {}
    assert band_of(io.read_any(path, layer="grids")) == (1000, 1500)


def test_cli_map_and_report_use_the_stored_band(units, tmp_path, capsys):
    source = io.write_any(units, tmp_path / "units.gpkg", layer="units")
    out = tmp_path / "p.gpkg"
    code, _ = run_cli(["partition", source, "--pop", "pop", "--min", 600, "--max", 900, "-o", out], capsys)
    assert code == 0
    code, text = run_cli(["map", out, "-o", tmp_path / "m.html"], capsys)
    assert code == 0 and "band 600-900, as the partition used" in text
    assert _legend_band((tmp_path / "m.html").read_text()) == ("600", "900")
    code, text = run_cli(["report", "partition", out, "-o", tmp_path / "r.html"], capsys)
    assert code == 0 and "band 600-900" in text
    assert _summary_share((tmp_path / "r.html").read_text()) == ("100.0%", "600", "900")
    code, text = run_cli(["report", "partition", out, "--min", 700, "--max", 800, "-o", tmp_path / "r2.html"], capsys)
    assert code == 0 and "band 700-800, from --min/--max" in text
    assert _summary_share((tmp_path / "r2.html").read_text())[1:] == ("700", "800")


def test_cli_rebalance_keeps_the_stored_band(units, tmp_path, capsys):
    source = io.write_any(units, tmp_path / "units.gpkg", layer="units")
    out = tmp_path / "p.gpkg"
    assert run_cli(["partition", source, "--pop", "pop", "--min", 600, "--max", 900, "-o", out], capsys)[0] == 0
    code, text = run_cli(["rebalance", out, "--pop", "pop", "-o", tmp_path / "r.gpkg"], capsys)
    assert code == 0 and "band 600-900, as the partition used" in text
    assert band_of(io.read_any(tmp_path / "r.gpkg", layer="grids")) == (600, 900)
