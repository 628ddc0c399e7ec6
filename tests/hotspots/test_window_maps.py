"""Sub-day forecast outputs (issue 14): patrol areas per window, and the window map with its slider,
opened offline in headless Chromium (the slider is moved and the page must show that window's own
cells, patrol areas and legend)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from browser import leaflet_features, open_page, screenshot
from conftest import run_cli, shared_data

from gridtools import hotspots, maps
from gridtools.hotspots.subday import forecast_windows


def _city(n=400, seed=0):
    """Two hot cells 800 m apart: one busy in the morning (07-09), one at night (21-23), over 100 days."""
    rng = np.random.default_rng(seed)
    day = rng.integers(0, 100, n)
    morning = rng.random(n) < 0.5
    hour = np.where(morning, 7, 21) + rng.random(n) * 2
    x = np.where(morning, 50.0, 850.0) + rng.random(n) * 50
    times = [str(pd.Timestamp("2019-01-01") + pd.Timedelta(days=int(d), hours=float(h)))[:16] for d, h in zip(day, hour)]
    return gpd.GeoDataFrame({"t": times}, geometry=shapely.points(np.column_stack([x, np.full(n, 50.0)])), crs=32631)


@pytest.fixture(scope="module")
def city_forecast():
    events, cells = hotspots.prepare(_city(), time="t", cell=100, area=shapely.box(0, 0, 1000, 300))
    return forecast_windows(events, cells, cutoff="2019-04-11 05:00", horizon_hours=2, windows=12, method="naive_hour")


def test_each_window_has_its_own_patrol_areas_and_the_first_is_the_first_windows(city_forecast):
    f = city_forecast
    per_window = hotspots.window_patrol_areas(f, share=0.03)
    assert per_window["window_start"].unique().tolist() == f.windows["window_start"].unique().tolist()
    by = per_window.groupby("window_start")["cell_ids"].agg(";".join)
    x_of = dict(zip(f.cells["cell_id"], f.cells.geometry.centroid.x))
    morning = [x_of[c] for c in by["2019-04-11 07:00"].split(";")]
    night = [x_of[c] for c in by["2019-04-11 21:00"].split(";")]
    assert max(morning) < 200 and min(night) > 800          # the hot cell of each time of day
    first = per_window[per_window["window_start"] == "2019-04-11 05:00"].drop(columns="window_start")
    expected = hotspots.patrol_areas(f.cells, share=0.03)
    pd.testing.assert_frame_equal(pd.DataFrame(first.drop(columns="geometry")).reset_index(drop=True),
                                  pd.DataFrame(expected.drop(columns="geometry")))
    # every window flags the same share of the area
    assert (per_window.groupby("window_start")["n_cells"].sum() == expected["n_cells"].sum()).all()


def test_window_map_refuses_cells_and_windows_of_different_forecasts(city_forecast):
    from gridtools.errors import InputError

    other = city_forecast.windows.assign(cell_id="nowhere")
    with pytest.raises(InputError, match="'nowhere' not in the cells"):
        maps.hotspot_window_map(city_forecast.cells, other)
    with pytest.raises(InputError, match="every window needs every cell"):
        maps.hotspot_window_map(city_forecast.cells, city_forecast.windows.iloc[1:])


def _move(page, k):
    page.locator(".gridtools-window-slider").fill(str(k))
    page.wait_for_timeout(200)


def test_window_map_slider_shows_each_windows_cells_and_patrol_areas_offline(browser, city_forecast, tmp_path):
    f = city_forecast
    per_window = hotspots.window_patrol_areas(f, share=0.03)
    page_file = maps.save_map(maps.hotspot_window_map(f.cells, f.windows, per_window, share=0.03, hours=2),
                              tmp_path / "windows.html")
    labels = f.windows["window_start"].unique().tolist()
    outlined_x = {}
    with open_page(browser, page_file, wait_ms=800) as (page, blocked):
        assert blocked == [] and page.js_errors == []
        assert leaflet_features(page) >= len(f.cells)
        for k in (1, 8):   # 07:00-09:00 and 21:00-23:00
            _move(page, k)
            control = page.locator(".gridtools-window-control").inner_text()
            assert f"Window {k + 1} of 12: {labels[k]}" in control
            n_areas = int((per_window["window_start"] == labels[k]).sum())
            assert f"{n_areas} patrol areas" in control
            assert page.locator("path.gridtools-patrol").count() == n_areas
            # the cells outlined as flagged are this window's: the morning cell in the west, the night one east
            outlined = page.locator('path[stroke="#7f0000"]').count()
            assert outlined == per_window.loc[per_window["window_start"] == labels[k], "n_cells"].sum()
            outlined_x[k] = page.locator('path[stroke="#7f0000"]').first.bounding_box()["x"]
            fill = page.locator('path[stroke="#7f0000"]').first.get_attribute("fill")
            assert fill in maps.WINDOW_RISK_COLORS            # coloured by its risk in this window, not calm
        assert page.evaluate("() => document.querySelector('.gridtools-window-control').dataset.window") == "8"
    # the morning's flagged cell is the western hot spot, the night's the eastern one, 800 m apart
    assert outlined_x[8] - outlined_x[1] > 100


@pytest.mark.slow
def test_paris_week_of_two_hour_windows_from_the_cli_map_and_layers(browser, tmp_path, capsys):
    """Real data: `predict --horizon-hours 2 --windows 84 --map` on Paris accidents 2019-2020; screenshot for docs."""
    path = shared_data("accidents", "paris", "paris_accidents_2016_2020.csv.gz")
    raw = pd.read_csv(path)
    slice_csv = tmp_path / "paris_2019_2020.csv"
    raw[raw["datetime"] >= "2019-01-01"].to_csv(slice_csv, index=False)
    out, page_file = tmp_path / "paris.gpkg", tmp_path / "paris.html"
    code, text = run_cli(["hotspots", "predict", slice_csv, "--time", "datetime", "--lon", "lon", "--lat", "lat",
                          "--cutoff", "2020-06-01 05:00", "--horizon-hours", "2", "--windows", "84", "--cell", "500",
                          "--area", "hull", "-o", out, "--map", page_file], capsys)
    assert code == 0, text
    per_window = gpd.read_file(out, layer="window_patrol_areas")
    assert per_window["window_start"].nunique() == 84 and per_window["window_start"].iloc[0] == "2020-06-01 05:00"
    cells_by_window = per_window.groupby("window_start")["cell_ids"].agg(lambda s: frozenset(";".join(s).split(";")))
    assert cells_by_window.nunique() > 10                 # the flagged cells move with the time of day
    labels = sorted(per_window["window_start"].unique())
    with open_page(browser, page_file, wait_ms=1500) as (page, blocked):
        assert blocked == [] and page.js_errors == []
        for k in (0, 10, 45):
            _move(page, k)
            n_areas = int((per_window["window_start"] == labels[k]).sum())
            assert page.locator("path.gridtools-patrol").count() == n_areas
            assert labels[k] in page.locator(".gridtools-window-label").inner_text()
        _move(page, 9)   # Monday 23:00-01:00
        screenshot(page, "hotspot_window_map")


def test_window_map_escapes_cell_ids(city_forecast):
    hostile = "<img src=x onerror=alert(1)></script>"
    cells = city_forecast.cells.assign(cell_id=city_forecast.cells["cell_id"] + hostile)
    windows = city_forecast.windows.assign(cell_id=city_forecast.windows["cell_id"] + hostile)
    page, _ = maps.map_page(maps.hotspot_window_map(cells, windows))
    assert "<img src=x" not in page and "</script>\"" not in page
    assert "\\u003cimg src=x onerror=alert(1)\\u003e\\u003c/script\\u003e" in page
