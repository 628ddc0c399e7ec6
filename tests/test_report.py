"""Tests of ``gridtools.report``: one self-contained HTML file that opens offline.

The rendering check uses headless Chromium (Debian package ``chromium``) with every host name
unresolvable, so nothing can come from the network; it skips where Chromium is not installed.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from matplotlib import colors
from matplotlib import image as mpimg
from shapely import box

import gridtools
from gridtools.errors import InputError
from gridtools.maps import IN_BAND_COLOR, grid_map
from gridtools.report import Report, offline_map_html, partition_report

X0, Y0 = 500_000.0, 3_500_000.0  # UTM 50N, near Shanghai


@pytest.fixture(scope="module")
def lattice_result():
    cells = [box(X0 + x * 100, Y0 + y * 100, X0 + x * 100 + 100, Y0 + y * 100 + 100)
             for x in range(6) for y in range(6)]
    units = gpd.GeoDataFrame({"pop": np.full(36, 250.0)}, geometry=cells, crs="EPSG:32650")
    units.loc[0, "pop"] = 1700.0  # one over-size unit, reported as such
    return gridtools.partition(units, "pop")


def test_report_is_one_file_without_network_references(lattice_result):
    html_text = partition_report(lattice_result.grids, lang="en").to_html()
    # no script, stylesheet or image is fetched from elsewhere, in the page or in the embedded
    # map (tile URLs live inside the map's JavaScript as templates, not as page resources)
    resource = r'<(script|link|img)[^>]+(src|href)="https?://'
    assert not re.search(resource, html_text)
    frames = re.findall(r'srcdoc="([^"]*)"', html_text)
    assert len(frames) == 1
    assert not re.search(resource, html.unescape(frames[0]))
    assert html_text.count("data:image/png;base64,") >= 2  # the two plots
    assert "L.map(" in html_text  # the map's own code, inlined
    # the summary counts what the grids table says
    grids = lattice_result.grids
    in_band = int(grids["population"].between(1000, 1500).sum())
    assert f"{len(grids):,} grids" in html_text and f"{in_band:,} grids" in html_text


def test_chinese_report(lattice_result):
    html_text = partition_report(lattice_result.grids, lang="zh").to_html()
    assert 'lang="zh"' in html_text and "网格" in html_text and "目录" in html_text


def test_unknown_language_is_refused(lattice_result):
    with pytest.raises(InputError, match="--lang"):
        partition_report(lattice_result.grids, lang="fr")


def test_missing_columns_are_named():
    grids = gpd.GeoDataFrame({"code": ["a"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:32650")
    with pytest.raises(InputError, match="grid_code"):
        partition_report(grids)


def test_table_cut_and_formatted():
    import pandas as pd

    report = Report("t").add_table("big", pd.DataFrame({"population": np.arange(300) * 1000.0}), max_rows=50)
    text = report.to_html()
    assert "50 of 300 rows shown" in text and "49,000" in text and "51,000" not in text


def test_offline_map_drops_only_unused_assets():
    import folium

    page, dropped = offline_map_html(folium.Map(tiles=None))
    assert not [d for d in dropped if re.search(r"/leaflet\.(js|css)$", d)]
    assert any("jquery" in d for d in dropped)
    assert 'src="http' not in page and "<style>" in page


# --------------------------------------------------------------------------------------------
# rendered in a real browser, offline

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _screenshot(page: Path, shot: Path, height: int) -> np.ndarray:
    cmd = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--host-resolver-rules=MAP * ~NOTFOUND",  # no network: every host name fails
           f"--window-size=1200,{height}", "--virtual-time-budget=5000", f"--screenshot={shot}",
           page.resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=True)
    return mpimg.imread(shot)[..., :3]


def _share_near(pixels: np.ndarray, hex_colour: str, tol: float = 0.03) -> float:
    target = np.array(colors.to_rgb(hex_colour))
    return float((np.abs(pixels - target).max(axis=-1) < tol).mean())


@pytest.mark.skipif(CHROMIUM is None, reason="headless check needs Debian's chromium (apt-get install chromium)")
def test_report_renders_offline_with_visible_map_and_plots(lattice_result, tmp_path):
    report_file = partition_report(lattice_result.grids).save(tmp_path / "report.html")
    pixels = _screenshot(report_file, tmp_path / "report.png", 2600)
    # the population histogram draws in-band bars in the map's in-band green
    assert _share_near(pixels, IN_BAND_COLOR) > 0.002

    # the map alone, as embedded: its grid polygons (semi-transparent green over the empty grey
    # map background, since no tiles can load) must cover a real part of the view
    page, _ = offline_map_html(grid_map(lattice_result.grids))
    map_file = tmp_path / "map.html"
    map_file.write_text(page, encoding="utf-8")
    map_pixels = _screenshot(map_file, tmp_path / "map.png", 800)
    r, g, b = map_pixels[..., 0], map_pixels[..., 1], map_pixels[..., 2]
    greenish = (g > r + 0.08) & (g > b + 0.08)
    assert greenish.mean() > 0.05, f"map looks blank: {greenish.mean():.1%} green pixels"
