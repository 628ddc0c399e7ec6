"""The boosted sub-day model and its covariates (issue 14): leakage at minute resolution, darkness
from the sun's position, marks (road class mix) and cross-category precursors only from the past."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridtools import hotspots
from gridtools.errors import InputError
from gridtools.hotspots.cells import assign_events, square_cells
from gridtools.hotspots.events import EventSet
from gridtools.hotspots.subday_gbm import SlotGBM
from gridtools.hotspots.sun import darkness, solar_elevation, to_utc_days
from gridtools.hotspots.timeofday import TimeProfile, make_subday_estimator

CELLS = square_cells((0, 0, 999, 999), 500, crs=32631)


def _events(t, x, y) -> EventSet:
    order = np.argsort(t, kind="stable")
    t, x, y = (np.asarray(v, float)[order] for v in (t, x, y))
    return assign_events(EventSet(t=t, x=x, y=y, row=order + 1, crs=32631), CELLS)


def _night_and_day(n=1500, seed=1):
    """Cell (0, 0) busy after dark (22:00-24:00), cell (1, 0) busy at midday, 2 years from 2019."""
    rng = np.random.default_rng(seed)
    day = 17897 + rng.integers(0, 730, n)  # 2019-01-01 on
    night = rng.random(n) < 0.5
    hour = np.where(night, 22.0, 12.0) + rng.random(n) * 2
    x = np.where(night, 100.0, 600.0) + rng.random(n) * 300
    return _events(day + hour / 24, x, rng.random(n) * 400)


def test_the_sun_sets_in_paris_at_the_almanac_times_summer_time_included():
    midsummer = 18068 + np.arange(0, 24, 0.25) / 24  # 2019-06-21, wall clock
    el = solar_elevation(to_utc_days(midsummer, 2.35, "Europe/Paris"), 48.86, 2.35)
    crossings = np.flatnonzero(np.diff(np.sign(el)))
    # sunrise 05:47 and sunset 21:58 (CEST): the elevation changes sign in 05:45-06:00 and 21:45-22:00
    assert midsummer[crossings].round(6).tolist() == [round(18068 + 5.75 / 24, 6), round(18068 + 21.75 / 24, 6)]
    # without a zone, the mean solar offset puts dusk two hours early in summer
    assert darkness([18068 + 21 / 24], 48.86, 2.35).tolist() == [1]
    assert darkness([18068 + 21 / 24], 48.86, 2.35, "Europe/Paris").tolist() == [0]
    with pytest.raises(InputError, match="not a time zone"):
        to_utc_days([18068.0], 2.35, "Europe/Pariss")


def test_slot_gbm_uses_events_strictly_before_a_0500_cutoff():
    ev = _night_and_day()
    cutoff = hotspots.to_day("2020-11-03 05:00")
    base = ev.before(cutoff)
    at_0459 = _events(np.r_[base.t, cutoff - 1 / 1440], np.r_[base.x, 900.0], np.r_[base.y, 900.0])
    at_0500 = _events(np.r_[base.t, cutoff, cutoff + 0.1], np.r_[base.x, 900.0, 900.0], np.r_[base.y, 900.0, 900.0])
    starts = cutoff + np.arange(3) / 12

    def forecast(events):
        return SlotGBM(tz="Europe/Paris", max_iter=30).fit(events, CELLS, cutoff).predict_windows(starts, 2)

    np.testing.assert_allclose(forecast(at_0500), forecast(base))   # at and after 05:00: unseen
    assert not np.allclose(forecast(at_0459), forecast(base))      # 04:59: used


def test_slot_gbm_learns_which_cell_is_busy_after_dark():
    ev = _night_and_day()
    cutoff = hotspots.to_day("2020-12-01 00:00")
    est = SlotGBM(tz="Europe/Paris", base=TimeProfile(), max_iter=60, min_samples_leaf=5).fit(ev, CELLS, cutoff)
    night, noon = est.predict_windows([cutoff + 22 / 24, cutoff + 12 / 24], 2)
    night_cell, day_cell = 0, 1  # cells are numbered row by row from the lower left
    assert night[night_cell] > 5 * night[day_cell]
    assert noon[day_cell] > 5 * noon[night_cell]
    assert est.rate_.shape == (4, est.n_groups * 2)


def test_marks_and_precursors_after_the_cutoff_change_nothing_and_before_it_do():
    ev = _night_and_day()
    cutoff = hotspots.to_day("2020-11-03 05:00")
    marks = pd.DataFrame({"road": np.where(np.arange(len(ev)) % 3 == 0, 1, 4)}, index=np.arange(1, len(ev) + 1))
    later = marks.copy()
    after = ev.row[ev.t >= cutoff]
    later.loc[after, "road"] = 7
    earlier = marks.copy()
    earlier.loc[ev.row[(ev.t < cutoff) & (ev.x < 500)], "road"] = 1  # same categories, another mix

    def forecast(**kw):  # the feature rows at the cutoff, and the forecast
        est = SlotGBM(use_darkness=False, max_iter=30, min_samples_leaf=5, **kw).fit(ev, CELLS, cutoff)
        rows = est.features(ev.before(cutoff), CELLS, cutoff, float(np.floor(ev.t[0])))
        return np.c_[rows.ravel()[None, :], est.predict_windows([cutoff + 7 / 24, cutoff + 17 / 24], 2).ravel()[None, :]]

    np.testing.assert_allclose(forecast(marks=later), forecast(marks=marks))
    assert not np.allclose(forecast(marks=earlier), forecast(marks=marks))
    rng = np.random.default_rng(3)
    others = _events(17897 + rng.uniform(0, 730, 800), rng.uniform(0, 999, 800), rng.uniform(0, 999, 800))
    seen = others.before(cutoff)
    np.testing.assert_allclose(forecast(others=others), forecast(others=seen))
    assert not np.allclose(forecast(others=seen.take(seen.x < 500)), forecast(others=seen))


def test_slot_gbm_parameters_are_checked():
    ev = _night_and_day(200)
    with pytest.raises(InputError, match="bin_hours must divide 24"):
        SlotGBM(bin_hours=5).fit(ev, CELLS, 18500.0)
    with pytest.raises(InputError, match="marks must be a pandas DataFrame"):
        SlotGBM(marks=[1, 2]).fit(ev, CELLS, 18500.0)
    assert isinstance(make_subday_estimator("gbm", 2), SlotGBM)
