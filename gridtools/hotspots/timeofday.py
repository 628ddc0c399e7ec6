"""Estimators that know the hour of day and the day type, for sub-day windows.

Each keeps an expected rate per cell and *slot* (hour of day x day type, see
:mod:`gridtools.hotspots.windows`) and forecasts a window by summing the slots it covers::

    est = TimeProfile().fit(events, cells, cutoff="2019-06-03 05:00")
    risk = est.predict_windows(window_starts("2019-06-03 05:00", 2, 84), 2)   # 84 x n_cells

Methods
-------
``naive_hour``, ``naive_dayhour``
    :class:`HourBinCounts`: each cell's count in the window's bin of the day (bins as long as
    the window), over all days or per day type: the time-of-day baselines.
``profile``
    :class:`TimeProfile`: the spatially smoothed long-term rate of ``smoothed`` times the
    cell's own time-of-day profile, shrunk (empirical Bayes) towards its neighbourhood's
    profile and that towards the city's.  Sparse cells borrow the shape of the day from
    around them and from neighbouring hours; busy cells keep their own.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.base import clone

from gridtools.errors import InputError
from gridtools.hotspots.estimators import ETAS, Ensemble, HotspotEstimator, NaiveCounts, SmoothedRate, KDE
from gridtools.hotspots.kernels import gauss, smoothed_counts
from gridtools.hotspots.subday_gbm import SlotGBM
from gridtools.hotspots.windows import N_DAY_TYPES, N_SLOTS, check_bin_hours, slot_exposure, slot_of, slot_weights
from gridtools.validate import Interval, check_param

__all__ = ["SlotEstimator", "HourBinCounts", "TimeProfile", "SUBDAY_BASELINES", "subday_methods",
           "make_subday_estimator", "with_known_in_advance", "RankBlend"]

#: Parameter constraints (gridtools.validate): one message shape for every estimator setting.
POSITIVE = Interval(float, 0, None, closed="neither")
NON_NEGATIVE = Interval(float, 0, None)


class SlotEstimator(HotspotEstimator):
    """Base of the time-of-day methods: ``rate_`` is events per hour, per cell and slot."""

    def predict_windows(self, starts, hours: float) -> np.ndarray:
        """Expected events per window (rows) and cell (columns)."""
        if not hasattr(self, "rate_"):
            raise InputError(f"{type(self).__name__} is not fitted: call fit(events, cells, cutoff) first.")
        holidays = getattr(self, "holidays", None)
        factor = getattr(self, "school_factor_", None)
        if factor is None:
            return slot_weights(starts, float(hours), holidays) @ self.rate_.T
        terms = self.school_terms
        starts = np.atleast_1d(np.asarray(starts, dtype=float))
        terms.require_covers(starts.min(), starts.max() + float(hours) / 24.0)
        off = slot_weights(starts, float(hours), holidays, include=terms.holiday)
        on = slot_weights(starts, float(hours), holidays) - off
        return (on @ self.rate_.T) * factor[1] + (off @ self.rate_.T) * factor[0]

    def _predict(self, h):
        return self.predict_windows([self.cutoff_], h * 24.0)[0]

    def slot_counts(self, ev, cells) -> np.ndarray:
        """Events per cell and slot (n_cells x N_SLOTS)."""
        flat = ev.unit * N_SLOTS + slot_of(ev.t, getattr(self, "holidays", None))
        return np.bincount(flat, minlength=len(cells) * N_SLOTS).reshape(len(cells), N_SLOTS).astype(float)


class HourBinCounts(SlotEstimator):
    """Naive time-of-day rate: the cell's events in the same bin of the day, per hour of history.

    Parameters
    ----------
    bin_hours : float, default 2
        Length of the bins (aligned to midnight); use the window length.
    by_day_type : bool, default False
        Separate rates for working days and weekends / holidays.
    holidays : list of dates, optional
        Days counted as weekend days.

    Examples
    --------
    >>> from gridtools.hotspots.cells import square_cells, assign_events
    >>> from gridtools.hotspots.events import EventSet
    >>> cs = square_cells((0, 0, 199, 199), 200, crs=32617)
    >>> ev = assign_events(EventSet(t=np.array([0.3, 1.3]), x=np.array([10., 10]), y=np.array([10., 10]),
    ...                    row=np.arange(1, 3), crs=32617), cs)
    >>> est = HourBinCounts(bin_hours=12).fit(ev, cs, cutoff=2.0)
    >>> est.predict_windows([2.0, 2.5], 12).round(3).tolist()   # both events were mornings
    [[1.0], [0.0]]
    """

    def __init__(self, bin_hours: float = 2.0, by_day_type: bool = False, holidays=None):
        self.bin_hours = bin_hours
        self.by_day_type = by_day_type
        self.holidays = holidays

    def _validate(self):
        check_bin_hours(self.bin_hours)

    def _fit(self, ev, cells, c):
        n = self.slot_counts(ev, cells)
        exposure = slot_exposure(np.floor(ev.t[0]), c, self.holidays)
        hour = np.arange(N_SLOTS) % 24
        day = np.arange(N_SLOTS) // 24 if self.by_day_type else np.zeros(N_SLOTS, dtype=np.int64)
        group = day * 24 + (hour // int(round(self.bin_hours)))
        group_n = np.zeros((len(cells), group.max() + 1))
        np.add.at(group_n.T, group, n.T)
        group_e = np.bincount(group, weights=exposure, minlength=group.max() + 1)
        self.rate_ = group_n[:, group] / np.maximum(group_e[group], 1.0)


class TimeProfile(SlotEstimator):
    """Smoothed long-term rate x a time-of-day profile shrunk cell -> neighbourhood -> city.

    ``rate[c, s] = S_c / E x p[c, s] / e_s``, where ``S_c`` is the cell's count shrunk towards
    its neighbourhood (:class:`~gridtools.hotspots.estimators.SmoothedRate`), ``E`` the hours
    of history, ``e_s`` the share of those hours in slot ``s``, and ``p[c, s]`` the cell's
    share of events in slot ``s`` (after smoothing over neighbouring hours), with
    ``prior_events`` pseudo-events spread like its neighbourhood's share, which itself has
    ``neighbourhood_prior`` pseudo-events spread like the whole city's.

    Parameters
    ----------
    prior_events : float, default 200
        Strength of the neighbourhood profile against a cell's own (in events).  Paris accidents
        need a strong prior: at 20 pseudo-events the cells' own profiles were noise and pooled
        PAI@2% fell 9% below the all-history count.  The defaults here were chosen on 2017-2018
        weekly cutoffs of Paris (500 m and 250 m cells, 2-hour windows), a grid of pseudo-events
        x spatial shrinkage x half-life, then hour and kernel widths: see docs/hotspots.md.
    neighbourhood_bandwidth : float, default 1000
        Gaussian kernel of the neighbourhood profile (metres).
    neighbourhood_prior : float, default 20
        Strength of the city's profile against the neighbourhood's (in events).
    hour_bandwidth : float, default 1.0
        Gaussian smoothing over neighbouring hours of the same day type (hours; 0 = none).
    spatial_weight : float, default 0
        ``prior_weight`` of the spatial shrinkage of the long-term count (0 = raw count; 0.6 was
        best at 250 m alone, 0 at 500 m and over both sizes).
    spatial_bandwidth : float or None, default None
        Its kernel (metres; None = two cells).
    half_life_days : float or None, default 730
        Old events count half every this many days (the long-term count goes stale: roadworks,
        new cycle lanes); None = all equal.
    holidays : list of dates, optional
        Days treated as weekend days.
    school_terms : SchoolTerms, optional
        School calendar (:class:`~gridtools.hotspots.calendar.SchoolTerms`): each cell's rate on
        school-holiday working days and in term time is scaled by its own ratio of events to the
        profile's expectation on those days, shrunk towards the city's ratio with *school_prior*
        expected events (a school gate loses its morning peak in the holidays; a ring road does not).
    school_prior : float, default 50
        Strength of the city's school-holiday ratio against a cell's own (in expected events).
    """

    def __init__(self, prior_events: float = 200.0, neighbourhood_bandwidth: float = 1000.0,
                 neighbourhood_prior: float = 20.0, hour_bandwidth: float = 1.0, spatial_weight: float = 0.0,
                 spatial_bandwidth: float | None = None, half_life_days: float | None = 730.0, holidays=None,
                 school_terms=None, school_prior: float = 50.0):
        self.prior_events = prior_events
        self.neighbourhood_bandwidth = neighbourhood_bandwidth
        self.neighbourhood_prior = neighbourhood_prior
        self.hour_bandwidth = hour_bandwidth
        self.spatial_weight = spatial_weight
        self.spatial_bandwidth = spatial_bandwidth
        self.half_life_days = half_life_days
        self.holidays = holidays
        self.school_terms = school_terms
        self.school_prior = school_prior

    def _validate(self):
        caller = "hotspots.TimeProfile"
        check_param("half_life_days", self.half_life_days, [POSITIVE, None], caller)
        check_param("neighbourhood_bandwidth", self.neighbourhood_bandwidth, [POSITIVE], caller)
        for name in ("prior_events", "neighbourhood_prior", "hour_bandwidth", "spatial_weight", "school_prior"):
            check_param(name, getattr(self, name), [NON_NEGATIVE], caller)

    def _fit(self, ev, cells, c):
        exposure = slot_exposure(np.floor(ev.t[0]), c, self.holidays)
        e_share = exposure / max(exposure.sum(), 1.0)
        own = self._hour_smooth(self.slot_counts(ev, cells))
        city = own.sum(axis=0)
        city_share = city / max(city.sum(), 1e-12)
        near = self._neighbourhood(ev, cells)
        near_share = (near + self.neighbourhood_prior * city_share) / (
            near.sum(axis=1, keepdims=True) + self.neighbourhood_prior)
        share = (own + self.prior_events * near_share) / (own.sum(axis=1, keepdims=True) + self.prior_events)
        total = smoothed_counts(ev, cells, c, float(self.spatial_weight), self.spatial_bandwidth, self.half_life_days)
        hours = max(exposure.sum(), 24.0)
        if self.half_life_days is not None:  # the weighted count covers an effective span
            hl_hours = self.half_life_days * 24.0
            hours = hl_hours / np.log(2) * (1 - np.exp2(-hours / hl_hours))
        self.rate_ = (total / hours)[:, None] * share / np.where(e_share > 0, e_share, np.inf)
        self.school_factor_ = None if self.school_terms is None else self._school_factor(ev, cells, c)

    def _school_factor(self, ev, cells, c) -> np.ndarray:
        """Each cell's multiplier on school-holiday working days (row 0) and on all other days (row 1).

        ``r`` = the cell's ratio of events to the profile's expectation off term over that ratio on
        the other days (each shrunk towards the city's); the two multipliers split the cell's rate
        by ``r`` and keep its expected total over the history (so a trend the half-life follows is
        not undone)."""
        terms = self.school_terms
        h0, h1 = np.ceil(np.floor(ev.t[0]) * 24.0 - 1e-9), np.floor(c * 24.0 + 1e-9)
        mid = (np.arange(h0, h1) + 0.5) / 24.0
        off = terms.holiday(mid)
        slots = slot_of(mid, self.holidays)
        ratio, expected = np.ones((2, len(cells))), np.zeros((2, len(cells)))
        event_off = terms.holiday(ev.t)
        for row, hours_in, events_in in ((0, off, event_off), (1, ~off, ~event_off)):
            expected[row] = self.rate_ @ np.bincount(slots[hours_in], minlength=N_SLOTS).astype(float)
            seen = np.bincount(ev.unit[events_in], minlength=len(cells)).astype(float)
            city = seen.sum() / expected[row].sum() if expected[row].sum() > 0 else 1.0
            ratio[row] = (seen + self.school_prior * city) / (expected[row] + self.school_prior)
        r = ratio[0] / ratio[1]
        share_off = expected[0] / np.maximum(expected.sum(axis=0), 1e-12)
        norm = 1.0 - share_off + share_off * r
        return np.stack([r / norm, 1.0 / norm])

    def _hour_smooth(self, n: np.ndarray) -> np.ndarray:
        """Counts smoothed over neighbouring hours (circular within each day type)."""
        if self.hour_bandwidth <= 0:
            return n
        cube = n.reshape(len(n), N_DAY_TYPES, 24)
        return ndimage.gaussian_filter1d(cube, self.hour_bandwidth, axis=2, mode="wrap").reshape(len(n), N_SLOTS)

    def _neighbourhood(self, ev, cells) -> np.ndarray:
        """Events per cell and slot spread by the neighbourhood kernel."""
        slots = slot_of(ev.t, self.holidays)
        flat = np.bincount(slots * (cells.nx * cells.ny) + ev.pixel, minlength=N_SLOTS * cells.nx * cells.ny)
        cube = flat.reshape(N_SLOTS, cells.ny, cells.nx).astype(float)
        sigma = self.neighbourhood_bandwidth / cells.pixel
        spread = np.stack([gauss(cube[s], sigma).ravel() for s in range(N_SLOTS)], axis=1)  # pixels x slots
        return self._hour_smooth(np.asarray(cells.weights @ spread))


class RankBlend(Ensemble):
    """Rank averaging of members' window forecasts: cells ordered by the weighted mean of their
    percentile rank (of risk per km²) under each member, given the first member's risk values in
    that order (so the output keeps the first member's scale: expected events per cell).

    Where members agree on the top cells they stay on top; where one member's scale is
    overdispersed (boosting), its ranking still counts only as much as its weight.

    Parameters
    ----------
    members : list of (name, estimator)
    weights : list of float, optional
        One per member; default equal.

    Examples
    --------
    >>> from gridtools.hotspots.cells import square_cells, assign_events
    >>> from gridtools.hotspots.events import EventSet
    >>> cs = square_cells((0, 0, 399, 199), 200, crs=32617)
    >>> ev = assign_events(EventSet(t=np.array([0.3, 1.3, 1.4]), x=np.array([10., 10, 300]),
    ...                    y=np.array([10., 10, 10]), row=np.arange(1, 4), crs=32617), cs)
    >>> est = RankBlend(members=[("a", NaiveCounts()), ("b", NaiveCounts())]).fit(ev, cs, cutoff=2.0)
    >>> one = NaiveCounts().fit(ev, cs, cutoff=2.0).predict_windows([2.0], 24)
    >>> bool(np.allclose(est.predict_windows([2.0], 24), one))   # members that agree: the member's forecast
    True
    """

    def __init__(self, members=None, weights=None):
        super().__init__(members=members, weights=weights, how="geometric")

    def _fit(self, ev, cells, c):
        super()._fit(ev, cells, c)
        self.area_ = np.asarray(cells.area, dtype=float)

    def combine(self, predictions) -> np.ndarray:
        """Blend the members' rankings row by row (each row a window; a 1-d input is one row)."""
        preds = [np.atleast_2d(np.asarray(p, dtype=float)) for p in predictions]
        w = np.ones(len(preds)) if self.weights is None else np.asarray(self.weights, dtype=float)
        w = w / w.sum()
        density = [p / np.maximum(self.area_, 1e-9) for p in preds]
        n = density[0].shape[1]
        score = sum(wi * (np.argsort(np.argsort(d, axis=1, kind="stable"), axis=1) / max(n - 1, 1))
                    for wi, d in zip(w, density))
        order = np.argsort(score, axis=1, kind="stable")  # lowest blended rank first
        first = np.sort(density[0], axis=1)  # the first member's densities, ascending
        out = np.empty_like(first)
        np.put_along_axis(out, order, first, axis=1)
        out = out * self.area_
        return out[0] if np.ndim(predictions[0]) == 1 else out


#: Baselines of every sub-day backtest.
SUBDAY_BASELINES = ("naive_all", "naive_hour", "naive_dayhour")


def subday_methods(hours: float) -> dict:
    """Named sub-day methods with their defaults for windows of *hours* (a factory per name)."""
    bin_hours = float(min(hours, 24.0))
    return {
        "naive_all": lambda: NaiveCounts(),
        "naive_hour": lambda: HourBinCounts(bin_hours=bin_hours),
        "naive_dayhour": lambda: HourBinCounts(bin_hours=bin_hours, by_day_type=True),
        "smoothed": lambda: SmoothedRate(),
        "kde": lambda: KDE(),
        "etas": lambda: ETAS(),
        "profile": lambda: TimeProfile(),
        "profile_etas": lambda: Ensemble(members=[("profile", TimeProfile()), ("etas", ETAS())],
                                         weights=[0.8, 0.2]),
        "gbm": lambda: SlotGBM(bin_hours=bin_hours if 24 % bin_hours == 0 else 2.0, base=TimeProfile()),
    }


def with_known_in_advance(est: HotspotEstimator, school_terms=None, weather=None) -> HotspotEstimator | None:
    """*est* with the school calendar and the forecast-weather table it can use, or None if it uses neither.

    ``TimeProfile`` uses school terms; ``SlotGBM`` uses both (and passes the terms to its stacked
    base).  Which it takes is decided by its parameters, so new estimators join by declaring them.

    Examples
    --------
    >>> from gridtools.hotspots.calendar import SchoolTerms
    >>> terms = SchoolTerms([("2019-09-02", "2019-12-20")])
    >>> with_known_in_advance(TimeProfile(), school_terms=terms).school_terms is terms
    True
    >>> with_known_in_advance(NaiveCounts(), school_terms=terms) is None
    True
    """
    given = {k: v for k, v in (("school_terms", school_terms), ("weather", weather)) if v is not None}
    usable = {k: v for k, v in given.items() if k in est.get_params(deep=False)}
    if not usable:
        return None if given else est
    est = clone(est).set_params(**usable)
    base = est.get_params(deep=False).get("base")
    if base is not None and "school_terms" in usable and "school_terms" in base.get_params(deep=False):
        est.set_params(base=clone(base).set_params(school_terms=usable["school_terms"]))
    return est


def make_subday_estimator(name: str, hours: float, **params) -> HotspotEstimator:
    """A sub-day method by name (see :func:`subday_methods`), optionally with other parameters.

    Examples
    --------
    >>> make_subday_estimator("naive_hour", 8)
    HourBinCounts(bin_hours=8.0)
    """
    methods = subday_methods(hours)
    if name not in methods:
        raise InputError(f"unknown method {name!r} for sub-day windows; choose one of: {', '.join(methods)}.")
    est = methods[name]()
    return est.set_params(**params) if params else est
