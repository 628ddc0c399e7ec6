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
    with pytest.raises(InputError, match="lang="):
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


# --------------------------------------------------------------------------------------------
# hotspot backtest report

from gridtools.report import backtest_table, case_statistics, hotspot_report, incident_report  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[2] / "data"


def _text(html_text: str) -> str:
    """The visible text of a report (maps and images left out)."""
    body = re.sub(r"<iframe.*?</iframe>|<style>.*?</style>|<img[^>]*>", " ", html_text, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def test_backtest_table_known_numbers():
    import pandas as pd

    metrics = pd.DataFrame({
        "method": ["kde"] * 3 + ["naive_4w"] * 3, "fold": [0, 1, 2] * 2, "coverage": [0.02] * 6,
        "hit_rate": [0.10, 0.20, np.nan, 0.04, 0.06, 0.08], "pai": [5.0, 10.0, np.nan, 2.0, 3.0, 4.0],
        "pei": [0.5, 0.7, np.nan, 0.2, 0.3, 0.4]})
    t = backtest_table(metrics).set_index("method")
    assert t.loc["kde", "folds"] == 2  # the fold without events counts out
    assert t.loc["kde", "pai_mean"] == 7.5 and t.loc["kde", "pai_sd"] == pytest.approx(np.std([5, 10], ddof=1))
    assert (t.loc["naive_4w", "pai_min"], t.loc["naive_4w", "pai_max"]) == (2.0, 4.0)
    text = _text(hotspot_report(metrics, params={"folds": 3, "start": "2019-01-07", "horizon_days": 7}).to_html())
    assert "best forecasting method, kde, catches 15.0%" in text and "(PAI 7.50, fold sd 3.54)" in text
    assert "naive_4w, catches 6.0% (PAI 3.00)" in text
    assert "2.00-4.00" in text  # the fold range in the table


@pytest.fixture(scope="module")
def toronto_backtest():
    from gridtools import hotspots, io

    raw = io.read_events(SHIPPED / "toronto_theft_2016_2019.csv.gz")
    events, cells = hotspots.prepare(raw, time="occurrencedate", cell=500, category_col="MCI",
                                     categories=["Auto Theft"])
    result = hotspots.backtest(events, cells, start="2019-06-03", folds=3, horizon_days=7, methods=["kde"], n_boot=50)
    forecast = hotspots.forecast(events, cells, cutoff="2019-06-17", horizon_days=7, method="kde")
    return result, forecast


def test_hotspot_report_numbers_match_the_folds(toronto_backtest):
    result, forecast = toronto_backtest
    report = hotspot_report(result, cells=forecast, lang="en")
    text = _text(report.to_html())
    m = result.metrics
    for method in m["method"].unique():
        for cov in (0.01, 0.02, 0.05, 0.10):
            pai = [r.pai for r in m.itertuples() if r.method == method and np.isclose(r.coverage, cov)]
            hit = [r.hit_rate for r in m.itertuples() if r.method == method and np.isclose(r.coverage, cov)]
            row = f"{cov:.0%} {method} 3 {np.mean(pai):.2f} {np.std(pai, ddof=1):.2f} {min(pai):.2f}-{max(pai):.2f} " \
                  f"{np.mean(hit):.3f}"
            assert row in text, row
            # the hotspots module's own summary agrees
            s = result.summary[(result.summary["method"] == method) & np.isclose(result.summary["coverage"], cov)]
            assert float(s["pai_mean"].iloc[0]) == pytest.approx(np.mean(pai))
    # the map and the top-cell table show the riskiest 5% of the area, riskiest first
    top = forecast.sort_values("rank")
    k = int(np.searchsorted(top["area_m2"].cumsum().to_numpy(), 0.05 * top["area_m2"].sum() * (1 - 1e-12))) + 1
    assert f"Top 5% of area ({k} cells)" in report.to_html()
    assert f"1 {top['cell_id'].iloc[0]}" in text
    # the patrol areas of the riskiest 2%: as many cells as the flagged set, the first area listed
    from gridtools.hotspots import flagged_cells, patrol_areas

    areas = patrol_areas(forecast, share=0.02)
    assert areas["n_cells"].sum() == len(flagged_cells(forecast, 0.02))
    assert "Patrol areas: the riskiest 2% of the area" in text
    assert f"Patrol areas ({len(areas)})" in report.to_html()


def test_hotspot_report_in_chinese(toronto_backtest):
    text = _text(hotspot_report(toronto_backtest[0], lang="zh").to_html())
    assert "滚动回测 3 折" in text and "命中率" in text


def test_hotspot_report_refuses_missing_coverages(toronto_backtest):
    with pytest.raises(InputError, match="coverages"):
        hotspot_report(toronto_backtest[0], coverages=[0.5])


# --------------------------------------------------------------------------------------------
# incident report

G0 = "32050801900100100"


@pytest.fixture()
def case_store(tmp_path):
    """Five cases with known life cycles (2026-01-05 is a Monday; 0104 has 5 working hours)."""
    from gridtools.incidents import IncidentStore

    codes = [f"3205080190010010{i}" for i in range(4)]
    grids = gpd.GeoDataFrame({"grid_code": codes},
                             geometry=[box(120.60 + 0.01 * (i % 2), 31.30 + 0.01 * (i // 2),
                                           120.61 + 0.01 * (i % 2), 31.31 + 0.01 * (i // 2)) for i in range(4)],
                             crs=4326)
    store = IncidentStore(tmp_path / "cases.sqlite")
    a = store.report("0104", at="2026-01-05 09:00", lon=120.605, lat=31.305, grid_code=codes[0])
    store.register(a, at="2026-01-05 09:05"); store.dispatch(a, at="2026-01-05 09:10")
    store.handle(a, at="2026-01-05 11:00"); store.verify(a, at="2026-01-05 11:30"); store.close_case(a, at="2026-01-05 12:00")
    b = store.report("0104", at="2026-01-05 10:00", lon=120.606, lat=31.306, grid_code=codes[0])
    store.register(b, at="2026-01-05 10:05"); store.dispatch(b, at="2026-01-05 10:10")
    assert store.escalate("2026-01-06 12:00") == [b]
    store.handle(b, at="2026-01-06 13:00"); store.verify(b, at="2026-01-06 14:00"); store.close_case(b, at="2026-01-06 15:00")
    c = store.report("0601", at="2026-01-05 09:00", lon=120.615, lat=31.305, grid_code=codes[1])
    store.register(c, at="2026-01-05 09:10"); store.dispatch(c, at="2026-01-05 09:20")
    store.report("0102", at="2026-01-05 16:00", lon=121.5, lat=31.0)  # outside every grid, never registered
    e = store.report("0104", at="2026-02-10 09:00", lon=120.615, lat=31.315, grid_code=codes[3])
    store.register(e, at="2026-02-10 09:05"); store.dispatch(e, at="2026-02-10 09:10")
    yield store, grids
    store.close()


def test_incident_report_known_numbers(case_store):
    store, grids = case_store
    report = incident_report(store, grids, period=("2026-01-01", "2026-01-31"), now="2026-01-07 12:00")
    text = _text(report.to_html())
    # a: 3 h, in grid, on time; b: 29 h, escalated (then on time against the fresh deadline the
    # escalation gave); c: open and late in handling; d: outside, late in dispatch
    assert ("from 2026-01-01 to 2026-01-31: 4 cases reported, 2 closed, 2 open, 0 rejected; 1 lie outside every "
            "grid. Of the closed cases 50.0% were solved inside their grid (never escalated) and 100.0% were "
            "handled by their deadline; closing took a median of 16.0 hours (mean 16.0). 2 open cases are "
            "overdue at 2026-01-07 12:00.") in text
    assert "3205080190010010 3" not in text  # the February case is out of the period
    assert sorted(store.overdue("2026-01-07 12:00")["case_id"]) == [3, 4]
    assert "overdue at 2026-02-11 12:00" in _text(incident_report(store, grids, now="2026-02-11 12:00").to_html())
    assert "3 open cases are overdue" in _text(incident_report(store, grids, now="2026-02-11 12:00").to_html())
    assert "Street lamps out" in text and "Dirty road" in text


def test_incident_statistics_equal_the_store(case_store):
    """The report's per-grid statistics, computed from the table, equal IncidentStore.grid_stats."""
    import pandas as pd

    from gridtools.report.incidents import overdue_cases as _overdue_cases

    store, _ = case_store
    now = pd.Timestamp("2026-02-11 12:00")
    late = _overdue_cases(store.cases(), store.types(), now)
    expected = store.overdue(now)
    cols = ["case_id", "grid_code", "status", "stage", "due_at", "overdue_hours"]
    assert len(expected) == 3
    pd.testing.assert_frame_equal(late[cols], expected[cols], check_dtype=False)
    ours = case_statistics(store.cases(), overdue=late)
    pd.testing.assert_frame_equal(ours, store.grid_stats(now), check_dtype=False)


def test_incident_report_from_a_table_and_in_chinese(case_store):
    store, grids = case_store
    text = _text(incident_report(store.cases(), grids, now="2026-01-07 12:00", lang="zh").to_html())
    assert "全部案件：上报案件 5 件，已结案 2 件" in text and "路灯不亮" in text


def test_incident_report_period_end_time_and_bad_time(case_store):
    store, grids = case_store
    text = _text(incident_report(store, grids, period=(None, "2026-01-05 09:30"), now="2026-01-07").to_html())
    assert "2 cases reported" in text
    empty = _text(incident_report(store, grids, period=("2030-01-01", None), now="2030-02-01").to_html())
    assert "from 2030-01-01: 0 cases reported, 0 closed" in empty and "No case is overdue." in empty
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        incident_report(store, grids, period=("last week", None))


def test_report_cli_incidents_and_hotspots(case_store, tmp_path, capsys):
    from gridtools import io
    from gridtools.cli import main

    store, grids = case_store
    grids_file = io.write_any(grids, tmp_path / "grids.gpkg", layer="grids")
    out = tmp_path / "cases.html"
    with pytest.raises(SystemExit) as done:
        main(["report", "incidents", str(store.path), "--grids", str(grids_file), "--from", "2026-01-01",
              "--to", "2026-01-31", "--now", "2026-01-07 12:00", "--lang", "en", "-o", str(out)])
    assert done.value.code == 0, capsys.readouterr()
    assert "4 cases reported" in _text(out.read_text(encoding="utf-8"))

    folder = tmp_path / "bt"
    with pytest.raises(SystemExit) as done:
        main(["hotspots", "backtest", str(SHIPPED / "toronto_theft_2016_2019.csv.gz"), "--time", "occurrencedate",
              "--lon", "Long", "--lat", "Lat", "--category-col", "MCI", "--category", "Auto Theft", "--start",
              "2019-06-03", "--folds", "2", "--cell", "500", "--methods", "kde", "-o", str(folder)])
    assert done.value.code == 0, capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["report", "hotspots", str(folder), "--lang", "zh", "-o", str(tmp_path / "hs.html")])
    assert done.value.code == 0, capsys.readouterr()
    import pandas as pd

    metrics = pd.read_csv(folder / "metrics.csv")
    pai = metrics[(metrics["method"] == "kde") & np.isclose(metrics["coverage"], 0.02)]["pai"].mean()
    page = (tmp_path / "hs.html").read_text(encoding="utf-8")
    assert f"{pai:.2f}" in _text(page) and "最新预测的高风险单元" in page  # the folder's top_cells.gpkg is mapped
    with pytest.raises(SystemExit) as done:
        main(["report", "hotspots", str(tmp_path / "nothing"), "-o", str(tmp_path / "x.html")])
    assert done.value.code == 2


def test_components_report_counts():
    import shapely

    from gridtools.report import components_report

    classes = ["0118"] * 5 + ["0402"] * 3 + ["0209"]
    grids_of = ["g1", "g1", "g2", "", "g2", "g1", "g1", "", "g2"]
    comps = gpd.GeoDataFrame({"code": [f"320508{c}{i:06d}" for i, c in enumerate(classes)], "class_code": classes,
                              "grid_code": grids_of},
                             geometry=shapely.points(np.c_[120.6 + np.arange(9) * 1e-3, np.full(9, 31.3)]), crs=4326)
    text = _text(components_report(comps).to_html())
    assert "9 active components of 3 classes in 2 grids; 2 lie in no grid" in text
    assert "0118 street lamp 5" in text and "0402 street tree 3" in text
    # per grid: g1 has 2 lamps + 2 trees, g2 has 2 lamps + 1 sign
    assert "grid_code all 0118 0209 0402 g1 4 2 0 2 g2 3 2 1 0" in text
    assert "路灯" in _text(components_report(comps, lang="zh").to_html())
