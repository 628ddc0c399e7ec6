"""Covariates known in advance (issue 14): school terms and a forecast-weather table.

Each is checked for effect (a cell that is busy only in school holidays / wet hours ranks first in
such a window and not in others), for leakage at minute resolution, and for refusals that name
what is missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from gridtools import hotspots
from gridtools.errors import InputError
from gridtools.hotspots.calendar import ForecastWeather, SchoolTerms, read_forecast_weather, read_school_terms
from gridtools.hotspots.cells import assign_events, square_cells
from gridtools.hotspots.events import EventSet
from gridtools.hotspots.subday import backtest_windows, forecast_windows
from gridtools.hotspots.subday_gbm import SlotGBM
from gridtools.hotspots.timeofday import TimeProfile

CELLS = square_cells((0, 0, 999, 999), 500, crs=32631)
DAY0 = 17897  # 2019-01-01
# terms of two school years with a summer (Jul-Aug) and an autumn break (the 3rd and 4th week of October)
TERMS = SchoolTerms([("2019-01-07", "2019-06-28"), ("2019-09-02", "2019-10-11"), ("2019-10-28", "2020-06-26"),
                     ("2020-09-01", "2020-10-16"), ("2020-11-02", "2020-12-18"), ("2021-01-04", "2021-06-30")])


def _events(t, x, y) -> EventSet:
    order = np.argsort(t, kind="stable")
    t, x, y = (np.asarray(v, float)[order] for v in (t, x, y))
    return assign_events(EventSet(t=t, x=x, y=y, row=order + 1, crs=32631), CELLS)


def _school_gate_and_ring_road(n=3000, seed=2):
    """Cell (0, 0) busy at 08:00 on school days only (a school gate); cell (1, 0) at 08:00 on every
    working day (a ring road, fewer accidents); two years from 2019."""
    rng = np.random.default_rng(seed)
    day = DAY0 + rng.integers(0, 700, n)
    working = (day + 3) % 7 < 5
    day = day[working]
    term = ~TERMS.holiday(day.astype(float))
    gate = (rng.random(len(day)) < 0.6) & term
    x = np.where(gate, 100.0, 600.0) + rng.random(len(day)) * 300
    keep = gate | (rng.random(len(day)) < 0.5)
    t = day[keep] + (8 + rng.random(keep.sum())) / 24
    return _events(t, x[keep], rng.random(keep.sum()) * 400)


def test_school_terms_read_and_refused_by_row(tmp_path):
    good = tmp_path / "terms.csv"
    good.write_text("start,end\n2019-09-02,2019-10-18\n2019-11-04,2019-12-20\n")
    terms = read_school_terms(good)
    # the Monday of the autumn break is a school-holiday working day; a term Monday and a Saturday are not
    assert terms.holiday([hotspots.to_day(d) for d in ("2019-10-21", "2019-10-14", "2019-10-26")]).tolist() == [
        True, False, False]
    backwards = tmp_path / "backwards.csv"
    backwards.write_text("start,end\n2019-09-02,2019-10-18\n2019-12-20,2019-11-04\n")
    with pytest.raises(InputError, match=r"backwards.csv.*row 2.*end before they start"):
        read_school_terms(backwards)
    garbled = tmp_path / "garbled.csv"
    garbled.write_text("start,end\n2019-09-02,2019-10-18\n2019-11-04,soon\n")
    with pytest.raises(InputError, match=r"garbled.csv.*end.*row 2"):
        read_school_terms(garbled)
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("from,to\n2019-09-02,2019-10-18\n")
    with pytest.raises(InputError, match=r"nocol.csv.*start"):
        read_school_terms(nocol)


def test_profile_learns_each_cells_school_holiday_effect():
    ev = _school_gate_and_ring_road()
    cutoff = hotspots.to_day("2020-10-16 22:00")  # the Friday before the 2020 autumn break
    holiday_monday = hotspots.to_day("2020-10-19 08:00")
    term_monday = hotspots.to_day("2020-11-02 08:00")
    est = TimeProfile(school_terms=TERMS, half_life_days=None).fit(ev, CELLS, cutoff)
    holiday, term = est.predict_windows([holiday_monday, term_monday], 2)
    i_gate = int(np.argmin(np.hypot(CELLS.cells.centroid.x - 250, CELLS.cells.centroid.y - 250)))
    i_ring = int(np.argmin(np.hypot(CELLS.cells.centroid.x - 750, CELLS.cells.centroid.y - 250)))
    assert term[i_gate] > term[i_ring]  # in term the school gate is the riskier cell
    assert holiday[i_ring] > holiday[i_gate]  # in the holidays it is the ring road
    assert holiday[i_gate] < 0.25 * term[i_gate]
    plain = TimeProfile(half_life_days=None).fit(ev, CELLS, cutoff).predict_windows([holiday_monday], 2)[0]
    assert plain[i_gate] > plain[i_ring]  # without the calendar the holiday Monday looks like a term day
    # the calendar must cover the forecast windows
    with pytest.raises(InputError, match="school terms run from 2019-01-07 to 2021-06-30.*school_terms="):
        est.predict_windows([hotspots.to_day("2021-07-05 08:00")], 2)


def test_school_terms_and_weather_leak_nothing_at_minute_resolution():
    ev = _school_gate_and_ring_road()
    cutoff = hotspots.to_day("2020-10-16 05:00")
    starts = cutoff + np.arange(6) / 12  # 05:00 to 17:00
    hours = np.arange(DAY0 * 24, (DAY0 + 760) * 24) / 24
    rain = np.where(np.random.default_rng(0).random(len(hours)) < 0.2, 1.0, 0.0)
    weather = ForecastWeather(hours, pd.DataFrame({"rain_mm": rain}))
    base = ev.before(cutoff)
    at_0459 = _events(np.r_[base.t, cutoff - 1 / 1440], np.r_[base.x, 900.0], np.r_[base.y, 900.0])
    at_0500 = _events(np.r_[base.t, cutoff, cutoff + 0.2], np.r_[base.x, 900.0, 900.0], np.r_[base.y, 900.0, 900.0])

    def forecast(events, w=weather, terms=TERMS):
        gbm = SlotGBM(max_iter=20, use_darkness=False, school_terms=terms, weather=w, base=TimeProfile(school_terms=terms))
        prof = TimeProfile(school_terms=terms)
        return [m.fit(events, CELLS, cutoff).predict_windows(starts, 2) for m in (gbm, prof)]

    ref = forecast(base)
    for got, want in zip(forecast(at_0500), ref):
        np.testing.assert_array_equal(got, want)  # events at and after the 05:00 cutoff: no effect
    assert any(not np.array_equal(g, w) for g, w in zip(forecast(at_0459), ref))  # the 04:59 one is used
    # forecast weather after the last window, and terms after it, change nothing
    later = rain.copy()
    later[hours >= starts[-1] + 2 / 24] = 1.0 - later[hours >= starts[-1] + 2 / 24]
    later_terms = SchoolTerms(list(map(tuple, TERMS.spans[:-1])) + [(TERMS.spans[-1][0], TERMS.spans[-1][1] - 1)])
    for got, want in zip(forecast(base, ForecastWeather(hours, pd.DataFrame({"rain_mm": later})), later_terms), ref):
        np.testing.assert_array_equal(got, want)


def test_slot_gbm_ranks_a_wet_weather_cell_first_in_forecast_rain():
    rng = np.random.default_rng(3)
    hours = np.arange(DAY0 * 12, (DAY0 + 740) * 12) / 12  # a forecast per 2-hour window
    rain = (rng.random(len(hours)) < 0.15).astype(float)
    wet_hours = np.r_[hours[rain > 0], hours[rain > 0] + 1 / 24]
    n = 2500
    wet = rng.random(n) < 0.5  # half the accidents: cell (0, 0) in wet hours; the rest: cell (1, 0) any hour
    t = np.where(wet, rng.choice(wet_hours, n) + rng.random(n) / 24, DAY0 + rng.random(n) * 720)
    x = np.where(wet, 100.0, 600.0) + rng.random(n) * 300
    ev = _events(t, x, rng.random(n) * 400)
    weather = ForecastWeather(hours, pd.DataFrame({"rain_mm": rain}))
    cutoff = float(np.floor(DAY0 + 720))
    grid = np.arange(cutoff, cutoff + 2, 1 / 12)
    wet_start, dry_start = grid[weather.wet(grid)][0], grid[~weather.wet(grid)][0]
    risk = SlotGBM(max_iter=40, min_samples_leaf=5, use_darkness=False, weather=weather).fit(ev, CELLS, cutoff).predict_windows(
        [wet_start, dry_start], 2)
    i_wet = int(np.argmin(np.hypot(CELLS.cells.centroid.x - 250, CELLS.cells.centroid.y - 250)))
    i_dry = int(np.argmin(np.hypot(CELLS.cells.centroid.x - 750, CELLS.cells.centroid.y - 250)))
    assert risk[0, i_wet] > risk[0, i_dry] and risk[1, i_dry] > risk[1, i_wet]
    # a window the table has no forecast for is refused, its time named
    short = ForecastWeather(hours[hours < cutoff + 0.5], pd.DataFrame({"rain_mm": rain[hours < cutoff + 0.5]}),
                            source="rain.csv")
    with pytest.raises(InputError, match=r"rain.csv: no forecast for .*2020-12-21 12:00"):
        SlotGBM(max_iter=5, use_darkness=False, weather=short).fit(ev, CELLS, cutoff).predict_windows(
            [cutoff + 0.5], 2)


def test_forecast_weather_file_refusals(tmp_path):
    p = tmp_path / "rain.csv"
    p.write_text("window_start,rain_mm\n2019-06-03 06:00,0\n2019-06-03 08:00,2.5\n2019-06-03 10:00,x\n")
    with pytest.raises(InputError, match=r"rain.csv.*rain_mm.*row"):
        read_forecast_weather(p)
    p.write_text("window_start\n2019-06-03 06:00\n2019-06-03 08:00\n")
    with pytest.raises(InputError, match="no value column"):
        read_forecast_weather(p)
    p.write_text("window_start,rain_mm\n2019-06-03 06:00,0\n2019-06-03 06:00,1\n2019-06-03 08:00,1\n")
    with pytest.raises(InputError, match="repeat.*2019-06-03 06:00"):
        read_forecast_weather(p)


def test_methods_that_cannot_use_a_covariate_are_refused_and_baselines_never_get_one():
    ev = _school_gate_and_ring_road()
    cutoff = "2020-10-16 06:00"
    with pytest.raises(InputError, match="'naive_all' cannot use school_terms=..."):
        forecast_windows(ev, CELLS, cutoff=cutoff, horizon_hours=2, windows=2, method="naive_all", school_terms=TERMS)
    f = forecast_windows(ev, CELLS, cutoff=cutoff, horizon_hours=2, windows=2, method="profile", school_terms=TERMS)
    assert f.risk.shape == (2, len(CELLS))
    bt = backtest_windows(ev, CELLS, start="2020-09-01 00:00", folds=2, horizon_hours=8, windows=21,
                          methods=["profile"], school_terms=TERMS, n_boot=20)
    assert "school_terms=SchoolTerms" in bt.params["methods"]["profile"]
    assert "school_terms" not in bt.params["methods"]["naive_all"]


def test_cli_school_terms_and_weather(tmp_path, capsys):
    ev = _school_gate_and_ring_road(n=1500)
    import pyproj

    lon, lat = pyproj.Transformer.from_crs(32631, 4326, always_xy=True).transform(ev.x + 448000, ev.y + 5411000)
    stamps = [hotspots.from_day(t).strftime("%Y-%m-%d %H:%M") for t in ev.t]
    events = tmp_path / "acc.csv"
    pd.DataFrame({"when": stamps, "lon": lon, "lat": lat, "weather": "rain"}).to_csv(events, index=False)
    terms = tmp_path / "terms.csv"
    pd.DataFrame({"start": [a for a, _ in TERMS.spans], "end": [b for _, b in TERMS.spans]}).map(
        lambda d: hotspots.from_day(d).strftime("%Y-%m-%d")).to_csv(terms, index=False)
    out = tmp_path / "f.gpkg"
    base = ["hotspots", "predict", str(events), "--time", "when", "--lon", "lon", "--lat", "lat", "--cell", "500",
            "--cutoff", "2020-10-16 06:00", "--horizon-hours", "2", "--windows", "6", "-o", str(out)]
    code, text = run_cli([*base, "--school-terms", str(terms)], capsys)
    assert code == 0, text
    assert "known in advance: SchoolTerms(6 terms" in text
    code, text = run_cli([*base, "--method", "naive_all", "--school-terms", str(terms)], capsys)
    assert code == 2 and "cannot use --school-terms" in text, text
    rain = tmp_path / "rain.csv"
    pd.DataFrame({"window_start": pd.date_range("2019-01-01", "2020-10-16 10:00", freq="h").strftime("%Y-%m-%d %H:%M"),
                  "rain_mm": 0.0}).to_csv(rain, index=False)
    code, text = run_cli([*base, "--method", "gbm", "--weather", str(rain)], capsys)
    assert code == 2 and "no forecast for" in text and "2020-10-16 11:00" in text, text
    days_only = [a for a in base if a not in ("--horizon-hours", "2", "--windows", "6")]
    code, text = run_cli([*days_only, "--school-terms", str(terms)], capsys)
    assert code == 2 and "--horizon-hours" in text, text
