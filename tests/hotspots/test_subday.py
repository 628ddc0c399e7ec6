"""Sub-day forecasts (issue 14): minute-resolution leakage, wall-clock windows across DST, bad input,
pooled metrics with known answers, the predict interface, and a short real-data backtest (Paris)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import run_cli, shared_data

from gridtools import hotspots, io, timeparse
from gridtools.errors import InputError
from gridtools.hotspots.subday import Fold, backtest_windows, forecast_windows, run_fold
from gridtools.hotspots.timeofday import HourBinCounts, TimeProfile, make_subday_estimator
from gridtools.hotspots.windows import check_window_hours, slot_weights, window_labels, window_starts


def _points(times, xy, crs=32631):
    return gpd.GeoDataFrame({"t": list(times)}, geometry=shapely.points(np.asarray(xy, float)), crs=crs)


def _city(n=400, seed=0):
    """Two hot cells: one busy in the morning (07-09), one at night (21-23), over 100 days."""
    rng = np.random.default_rng(seed)
    day = rng.integers(0, 100, n)
    morning = rng.random(n) < 0.5
    hour = np.where(morning, 7, 21) + rng.random(n) * 2
    x = np.where(morning, 50.0, 850.0) + rng.random(n) * 50
    times = [str(pd.Timestamp("2019-01-01") + pd.Timedelta(days=int(d), hours=float(h)))[:16] for d, h in zip(day, hour)]
    return _points(times, np.column_stack([x, np.full(n, 50.0)]))


def test_a_forecast_at_0500_uses_the_event_at_0459_and_not_the_one_at_0500():
    base = ["2019-01-01 07:30", "2019-01-02 07:40", "2019-01-03 04:59"]
    g = _points([*base, "2019-01-03 05:00", "2019-01-03 07:10"], [[10, 10]] * 3 + [[450, 10]] * 2)
    ev, cs = hotspots.prepare(g, time="t", cell=200, area=shapely.box(0, 0, 600, 200))
    f = forecast_windows(ev, cs, cutoff="2019-01-03 05:00", horizon_hours=2, windows=3, method="etas")
    assert f.params["used_events"] == 3
    # the events at and after the cutoff change nothing: the same forecast without them
    ev2, cs2 = hotspots.prepare(g.iloc[:3], time="t", cell=200, area=shapely.box(0, 0, 600, 200))
    f2 = forecast_windows(ev2, cs2, cutoff="2019-01-03 05:00", horizon_hours=2, windows=3, method="etas")
    np.testing.assert_allclose(f.risk, f2.risk)
    # and the 04:59 event is used: without it the forecast differs
    ev3, cs3 = hotspots.prepare(g.iloc[:2], time="t", cell=200, area=shapely.box(0, 0, 600, 200))
    f3 = forecast_windows(ev3, cs3, cutoff="2019-01-03 05:00", horizon_hours=2, windows=3, method="naive_hour")
    f1 = forecast_windows(ev, cs, cutoff="2019-01-03 05:00", horizon_hours=2, windows=3, method="naive_hour")
    assert not np.allclose(f1.risk, f3.risk)


def test_windows_start_at_the_cutoff_and_follow_the_wall_clock_across_both_dst_changes():
    spring = window_labels(window_starts("2019-03-30 20:00", 2, 12))
    assert spring[:4] == ["2019-03-30 20:00", "2019-03-30 22:00", "2019-03-31 00:00", "2019-03-31 02:00"]
    autumn = window_labels(window_starts("2019-10-26 00:00", 2, 84))
    assert len(set(autumn)) == 84 and autumn[13] == "2019-10-27 02:00"   # none lost or doubled
    assert sum(lab.startswith("2019-10-27") for lab in autumn) == 12


def test_events_with_offsets_become_paris_wall_clock_and_each_lands_in_one_window():
    # 2019-10-27 02:30 happens twice in Paris (CEST, then CET); both belong to the 02:00-04:00 window.
    text = ["2019-10-27T02:30+02:00", "2019-10-27T02:30+01:00", "2019-03-31T01:30+01:00", "2019-03-31T03:30+02:00"]
    wall = [str(v)[:16] for v in timeparse.parse_column(text, tz="Europe/Paris")]
    assert wall == ["2019-10-27T02:30", "2019-10-27T02:30", "2019-03-31T01:30", "2019-03-31T03:30"]
    history = [f"2019-0{m}-0{d}T08:00+01:00" for m in (1, 2) for d in range(1, 8)]
    g = _points(history + text, [[10, 10]] * (len(history) + 4))
    ev, cs = hotspots.prepare(g, time="t", cell=200, tz="Europe/Paris")
    fold = Fold(0, hotspots.to_day("2019-10-27 00:00"), 2.0, 3, (0.5,))
    scores = run_fold(ev, cs, make_subday_estimator("naive_all", 2), fold)
    assert scores["n_events"].tolist() == [0.0, 2.0, 0.0]           # both 02:30s, in window 02:00-04:00
    spring = run_fold(ev, cs, make_subday_estimator("naive_all", 2), Fold(0, hotspots.to_day("2019-03-31 00:00"),
                                                                          2.0, 2, (0.5,)))
    assert spring["n_events"].tolist() == [1.0, 1.0]


def test_a_window_length_that_does_not_divide_a_day_is_refused():
    assert check_window_hours(8) == 8.0 and check_window_hours(48) == 48.0
    for bad in (5, 7, 0, -2, 25):
        with pytest.raises(InputError, match="horizon_hours"):
            check_window_hours(bad)


def test_slot_weights_cover_every_hour_of_a_window_once():
    w = slot_weights(window_starts("2019-04-05 23:00", 3, 2), 3)   # Fri 23:00-Sat 02:00, Sat 02:00-05:00
    assert w.sum(axis=1).tolist() == [3.0, 3.0]
    assert np.flatnonzero(w[0]).tolist() == [23, 24, 25]                # Friday 23h, Saturday 0h and 1h


def test_dates_without_time_of_day_are_refused_in_a_sub_day_run_with_the_rows():
    g = _points(["2019-01-01 08:00", "2019-01-02", "2019-01-03 09:15"], [[10, 10]] * 3)
    ev, cs = hotspots.prepare(g, time="t", cell=200)
    with pytest.raises(InputError, match=r"1 event\(s\) have a date but no time of day \(row 2"):
        forecast_windows(ev, cs, cutoff="2019-01-04 00:00", horizon_hours=2, windows=1)
    # a day forecast on the same data still works
    assert len(hotspots.forecast(ev, cs, cutoff="2019-01-04", horizon_days=7, method="naive_all")) == len(cs)


def test_an_hour_column_is_added_to_dates_and_bad_hours_are_refused_by_row():
    g = _points(["2019-01-01", "2019-01-02"], [[10, 10]] * 2).assign(h=[7, 23])
    ev, _ = hotspots.prepare(g, time="t", hour_col="h", cell=200)
    assert [str(hotspots.from_day(t))[:16] for t in ev.t] == ["2019-01-01 07:00", "2019-01-02 23:00"]
    with pytest.raises(InputError, match=r"column 'h' .* not hours 0-23 in row 2"):
        hotspots.prepare(g.assign(h=[7, 24]), time="t", hour_col="h", cell=200)


def test_far_events_are_counted_and_left_out_of_the_study_area():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 2000, (200, 2))
    xy[17] = [500_000, 500_000]
    g = _points([f"2019-01-{1 + i % 28:02d} 10:00" for i in range(200)], xy)
    ev, cs = hotspots.prepare(g, time="t", cell=200, area="hull")
    assert ev.report["far"] == [18] and len(ev) == 199
    assert cs.total_area < 2100**2


def test_naive_hour_bins_learn_when_each_cell_is_busy_and_profile_beats_uniform_on_a_clear_pattern():
    ev, cs = hotspots.prepare(_city(), time="t", cell=200, area=shapely.box(0, 0, 1000, 200))
    starts = window_starts("2019-04-11 00:00", 2, 12)
    risk = HourBinCounts(bin_hours=2).fit(ev, cs, starts[0]).predict_windows(starts, 2)
    morning, night = cs.pixel_of(np.array([60.0, 860.0]), np.array([60.0, 60.0]))
    assert risk[3, morning] > 0 and risk[3, night] == 0                  # 06:00-08:00 window
    assert risk[10, night] > 0 and risk[10, morning] == 0                # 20:00-22:00 window
    # the profile estimator puts the morning cell first in the morning, the night cell at night
    prof = TimeProfile(prior_events=5).fit(ev, cs, starts[0]).predict_windows(starts, 2)
    assert prof[4, morning] > prof[4, night] and prof[11, night] > prof[11, morning]
    np.testing.assert_allclose(prof.sum(), risk.sum(), rtol=0.35)        # same scale: expected counts


def test_pooled_pai_is_hits_over_events_times_area_share_and_folds_map_in_any_order():
    ev, cs = hotspots.prepare(_city(800, seed=3), time="t", cell=200, area=shapely.box(0, 0, 1000, 200))
    r = backtest_windows(ev, cs, start="2019-03-01 00:00", folds=3, horizon_hours=2, windows=84, step_days=7,
                         methods=["profile"], coverages=(0.2,), n_boot=50)
    s = r.windows[r.windows["method"] == "naive_hour"]
    expected = s["hits"].sum() / (s["n_events"] * s["area_share"]).sum()
    row = r.summary[(r.summary["method"] == "naive_hour")].iloc[0]
    assert row["pai"] == pytest.approx(expected) and row["pai"] > 1.5   # time of day matters in this city
    assert r.summary.set_index("method").loc["naive_hour", "pai"] > r.summary.set_index("method").loc["naive_all", "pai"]
    reversed_map = lambda f, folds: reversed([f(x) for x in reversed(list(folds))])  # noqa: E731
    r2 = backtest_windows(ev, cs, start="2019-03-01 00:00", folds=3, horizon_hours=2, windows=84, step_days=7,
                          methods=["profile"], coverages=(0.2,), n_boot=50, mapper=reversed_map)
    pd.testing.assert_frame_equal(r.summary, r2.summary)
    assert set(r.by_hour["hour"]) == set(range(0, 24, 2))


def test_predict_cli_writes_cells_windows_and_patrol_areas(tmp_path, capsys):
    csv = tmp_path / "acc.csv"
    g = _city(300).to_crs(4326)
    pd.DataFrame({"when": g["t"], "lon": g.geometry.x, "lat": g.geometry.y}).to_csv(csv, index=False)
    out = tmp_path / "f.gpkg"
    code, text = run_cli(["hotspots", "predict", csv, "--time", "when", "--lon", "lon", "--lat", "lat",
                          "--cutoff", "2019-04-11 05:00", "--horizon-hours", "2", "--windows", "84", "--cell", "200",
                          "-o", out], capsys)
    assert code == 0, text
    cells = gpd.read_file(out, layer="cells")
    windows = gpd.read_file(out, layer="windows")
    assert len(windows) == 84 * len(cells) and windows["window_start"].iloc[0] == "2019-04-11 05:00"
    assert {"cell_id", "risk", "geometry"} <= set(cells.columns)
    assert len(gpd.read_file(out, layer="patrol_areas")) >= 1
    code, text = run_cli(["hotspots", "predict", csv, "--time", "when", "--lon", "lon", "--lat", "lat",
                          "--cutoff", "2019-04-11 05:00", "--horizon-hours", "5", "--windows", "3", "-o", out], capsys)
    assert code != 0 and "--horizon-hours is 5 hours, which does not divide a day" in text and "Traceback" not in text


def test_mixed_formats_and_zero_coordinates_are_reported_by_row_in_the_cli(tmp_path, capsys):
    csv = tmp_path / "mixed.csv"
    pd.DataFrame({"when": ["2019-01-01 08:00", "02/01/2019 09:00", "2019-01-03 10:00"],
                  "lon": [2.35, 2.36, 2.34], "lat": [48.85, 48.86, 48.87]}).to_csv(csv, index=False)
    code, text = run_cli(["hotspots", "predict", csv, "--time", "when", "--lon", "lon", "--lat", "lat",
                          "--cutoff", "2019-01-04 00:00", "--horizon-hours", "2", "--windows", "3",
                          "-o", tmp_path / "o.gpkg"], capsys)
    assert code != 0 and "mixes date formats" in text and "row 2" in text
    pd.DataFrame({"when": ["2019-01-01 08:00", "2019-01-02 09:00", "2019-01-03 10:00"],
                  "lon": [2.35, 0, 2.34], "lat": [48.85, 0, 48.87]}).to_csv(csv, index=False)
    code, text = run_cli(["hotspots", "predict", csv, "--time", "when", "--lon", "lon", "--lat", "lat",
                          "--cutoff", "2019-01-04 00:00", "--horizon-hours", "2", "--windows", "3",
                          "-o", tmp_path / "o.gpkg"], capsys)
    assert code == 0, text
    assert "1 events have no coordinates and were left out (row 2" in text


@pytest.mark.slow
def test_paris_two_hour_backtest_on_a_slice_scores_the_naive_baselines():
    path = shared_data("accidents", "paris", "paris_accidents_2016_2020.csv.gz")
    raw = io.read_events(path, lon="lon", lat="lat")
    events, cells = hotspots.prepare(raw, time="datetime", cell=500, area="hull")
    assert len(events.report["far"]) > 20            # stray geocoding (Toulouse, Normandy) counted
    r = backtest_windows(events, cells, start="2019-01-01 00:00", folds=2, step_days=7, horizon_hours=2, windows=84,
                         methods=["profile"], n_boot=50)
    t = r.pai_table(0.02).set_index("method")
    assert set(t.index) == {"profile", "naive_all", "naive_hour", "naive_dayhour"}
    assert (t["pai"] > 1).all() and (t["windows"] == 168).all()


def test_segments_snap_events_within_the_distance_and_share_out_length():
    roads = gpd.GeoDataFrame({"name": ["long", "short"]}, crs=32631, geometry=[
        shapely.LineString([(0, 0), (1000, 0)]), shapely.LineString([(0, 500), (100, 500)])])
    g = _points(["2019-01-01 08:00", "2019-01-01 09:00", "2019-01-02 10:00", "2019-01-02 11:00"],
                [[500, 10], [50, 490], [60, 510], [500, 300]])            # the last is 200 m from any road
    ev, cs = hotspots.prepare(g, time="t", segments=roads, segment_id="name", snap_m=30)
    assert ev.unit.tolist() == [0, 1, 1] and ev.report["outside"] == [4]
    assert cs.area.tolist() == [1000.0, 100.0] and cs.kind == "segments"
    f = forecast_windows(ev, cs, cutoff="2019-01-03 00:00", horizon_hours=24, windows=1, method="naive_all")
    assert f.cells.sort_values("rank")["cell_id"].tolist() == ["short", "long"]   # 2 events on 100 m first
    # PAI by length share: flagging the short road (100 of 1100 m) catching 2 of 3 events
    from gridtools.hotspots.metrics import window_hits
    m = window_hits([[1.0, 2.0]], cs.area, [[1.0, 2.0]], coverages=[0.05])
    assert m["area_share"][0.05][0] == pytest.approx(100 / 1100) and m["hits"][0.05][0] == 2


@pytest.mark.slow
def test_segments_on_a_real_network_xian_links_and_gps_fixes(tmp_path, capsys):
    roads = shared_data("china", "xian_roads", "modifiedConn_link.shp")
    fixes = shared_data("china", "xian_roads", "example_gps.csv")
    out = tmp_path / "x.gpkg"
    code, text = run_cli(["hotspots", "predict", fixes, "--time", "time", "--lon", "lng", "--lat", "lat",
                          "--crs", "wgs84", "--cutoff", "2022-05-12 16:30", "--horizon-hours", "1", "--windows", "4",
                          "--units", roads, "--unit-id", "link_id", "--method", "smoothed", "-o", out], capsys)
    assert code == 0, text
    assert "9,842 road segments" in text and "1,891 events in the study area" in text
    assert "350 events lie outside the study area" in text           # GPS fixes > 30 m from any link, counted
    cells = gpd.read_file(out, layer="cells")
    assert len(cells) == 9842 and cells.geom_type.eq("LineString").all()
    assert len(gpd.read_file(out, layer="windows")) == 4 * 9842


def test_backtest_cli_with_horizon_hours_pools_over_windows(tmp_path, capsys):
    csv = tmp_path / "acc.csv"
    g = _city(600, seed=5).to_crs(4326)
    pd.DataFrame({"when": g["t"], "lon": g.geometry.x, "lat": g.geometry.y}).to_csv(csv, index=False)
    code, text = run_cli(["hotspots", "backtest", csv, "--time", "when", "--lon", "lon", "--lat", "lat",
                          "--start", "2019-03-01 00:00", "--folds", "2", "--step-days", "7", "--horizon-hours", "2",
                          "--windows", "84", "--methods", "profile", "--cell", "200", "-o", tmp_path / "bt"], capsys)
    assert code == 0, text
    summary = pd.read_csv(tmp_path / "bt" / "summary.csv")
    assert set(summary["method"]) == {"profile", "naive_all", "naive_hour", "naive_dayhour"}
    assert "pooled PAI at 2%" in text
