"""A boosted sub-day model: Poisson gradient boosting per cell, time-of-day bin, day type and darkness.

:class:`SlotGBM` learns how to weigh everything known before a cutoff into a rate per cell and
*group* (a bin of the day x day type) and darkness (the sun below the horizon, from its
position, known in advance):

* the cell's long-term rate (time-decayed), its neighbourhood's at two kernel widths, its
  last 90 / 365 days, and optionally a stacked *base* forecast (the registry's ``gbm`` stacks
  :class:`~gridtools.hotspots.timeofday.TimeProfile`);
* the cell's own and its neighbourhood's rate in the group, and in the group after dark;
* optional *marks*: the mix of the cell's past events by a category of the event (Paris'
  ``road_category``, ``intersection``), shrunk towards the city's mix;
* optional *others*: events of other categories in the same cells (Toronto: the other major
  crime types as precursors of thefts), their long-term and recent rates.

Training is forward: features are computed from the events before ``cutoff - train_days``,
the target is each row's count in the last ``train_days`` before the cutoff, with the hours
of that period in the row's group and darkness as exposure.  The forecast applies the model
to the features of all events before the cutoff.  Nothing at or after the cutoff is seen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from gridtools.errors import InputError
from gridtools.hotspots.cells import CellSet
from gridtools.hotspots.estimators import HotspotEstimator
from gridtools.hotspots.events import EventSet
from gridtools.hotspots.kernels import gauss, raster
from gridtools.hotspots.sun import darkness
from gridtools.hotspots.windows import N_SLOTS, check_bin_hours, slot_of
from gridtools.validate import Interval, check_param

POSITIVE = Interval(float, 0, None, closed="neither")

__all__ = ["SlotGBM", "cell_lonlat"]


def cell_lonlat(cells: CellSet) -> tuple[float, float]:
    """Longitude and latitude (WGS84) of the centre of the cells' extent.

    Examples
    --------
    >>> from gridtools.hotspots.cells import square_cells
    >>> [round(v, 2) for v in cell_lonlat(square_cells((448000, 5411000, 452000, 5415000), 500, crs=32631))]
    [2.32, 48.87]
    """
    import pyproj

    x0, y0, x1, y1 = cells.cells.total_bounds
    to_wgs = pyproj.Transformer.from_crs(cells.cells.crs, 4326, always_xy=True)
    lon, lat = to_wgs.transform((x0 + x1) / 2, (y0 + y1) / 2)
    return float(lon), float(lat)


class SlotGBM(HotspotEstimator):
    """Poisson gradient boosting of each cell's rate per bin of the day, day type and darkness.

    Parameters
    ----------
    bin_hours : float, default 2
        Bins of the day (must divide 24).
    train_days : float, default 730
        The target period before the cutoff; features come from the events before it (a two-year
        target halves the noise of one year's: chosen on Paris 2017-2018 cutoffs).
    half_life_days : float, default 365
        Decay of the long-term count features.
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization
        Of :class:`sklearn.ensemble.HistGradientBoostingRegressor` (``loss="poisson"``);
        ``min_samples_leaf=800`` (was 200) was chosen with the two-year target on Paris
        2017-2018 cutoffs, among fewer trees, smaller learning rates and more L2 (docs/hotspots.md).
    use_darkness : bool, default True
        Split each group by darkness (needs a place: *lonlat* or the cells' CRS).
    tz : str, optional
        Time zone of the wall-clock times (e.g. ``"Europe/Paris"``), for the sun's position;
        default: the ``tz`` the events were prepared with, else the mean solar offset of the
        longitude (summer time then puts dusk an hour or two early).
    lonlat : (float, float), optional
        Place of the sun computation (default: the centre of the cells).
    marks : pandas.DataFrame, optional
        Categorical attributes of the events indexed by input row (``EventSet.row``), e.g.
        ``road_category``; each column adds the cell's past mix of its categories.
    others : EventSet, optional
        Events of other categories assigned to the same cells (precursors).
    base : HotspotEstimator, optional
        A forecast stacked as a feature (its rate in the row's group); the registry passes
        :class:`~gridtools.hotspots.timeofday.TimeProfile`.
    holidays : list of dates, optional
        Days treated as weekend days.
    school_terms : SchoolTerms, optional
        Splits each group by school-holiday working day or not (a weekday outside every term:
        :class:`~gridtools.hotspots.calendar.SchoolTerms`), like darkness; known years ahead.
    weather : ForecastWeather, optional
        Splits each group by the *forecast* weather of its hour (wet: the table's first value
        above its threshold, :class:`~gridtools.hotspots.calendar.ForecastWeather`).  The table
        must cover the history the model learns from and the forecast windows; a forecast row for
        a window is legal input even though the window lies after the cutoff.
    random_state : int, default 0

    Examples
    --------
    >>> from gridtools.hotspots.cells import square_cells, assign_events
    >>> rng = np.random.default_rng(0)
    >>> cs = square_cells((0, 0, 999, 999), 500, crs=32631)
    >>> n = 600
    >>> ev = assign_events(EventSet(t=np.sort(rng.uniform(0, 800, n)), x=rng.uniform(0, 999, n),
    ...                    y=rng.uniform(0, 999, n), row=np.arange(1, n + 1), crs=32631), cs)
    >>> est = SlotGBM(train_days=200, max_iter=20).fit(ev, cs, cutoff=800.0)
    >>> est.predict_windows([800.0, 800.5], 2).shape
    (2, 4)
    """

    def __init__(self, bin_hours: float = 2.0, train_days: float = 730.0, half_life_days: float = 365.0,
                 max_iter: int = 80, learning_rate: float = 0.1, max_leaf_nodes: int = 15,
                 min_samples_leaf: int = 800, l2_regularization: float = 1.0, use_darkness: bool = True,
                 tz: str | None = None, lonlat=None, marks=None, others=None, base=None, holidays=None,
                 school_terms=None, weather=None, random_state: int = 0):
        self.bin_hours = bin_hours
        self.train_days = train_days
        self.half_life_days = half_life_days
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.use_darkness = use_darkness
        self.tz = tz
        self.lonlat = lonlat
        self.marks = marks
        self.others = others
        self.base = base
        self.holidays = holidays
        self.school_terms = school_terms
        self.weather = weather
        self.random_state = random_state

    # -- checks and the time axes -------------------------------------------------------------
    def _validate(self):
        check_bin_hours(self.bin_hours)
        for name in ("train_days", "half_life_days", "learning_rate"):
            check_param(name, getattr(self, name), [POSITIVE], "hotspots.SlotGBM")
        if self.marks is not None and not isinstance(self.marks, pd.DataFrame):
            raise InputError("marks must be a pandas DataFrame indexed by the events' input row, "
                             f"not {type(self.marks).__name__}.")

    @property
    def n_groups(self) -> int:
        """Bins of the day x day types."""
        return 2 * int(round(24 / self.bin_hours))

    @property
    def n_dark(self) -> int:
        """States each group is split into: 2 ** (darkness, school holiday, wet weather: those in use)."""
        return 2 ** len(self._flags())

    def _flags(self) -> list:
        return [f for f, on in (("dark", self.use_darkness), ("school_holiday", self.school_terms is not None),
                                ("wet", self.weather is not None)) if on]

    def _group(self, slots: np.ndarray) -> np.ndarray:
        per_day = int(round(24 / self.bin_hours))
        return (slots // 24) * per_day + (slots % 24) // int(round(self.bin_hours))

    def _dark(self, t: np.ndarray) -> np.ndarray:
        """The state of each time: bit j set when flag j (of :meth:`_flags`) holds."""
        t = np.asarray(t, dtype=float)
        state = np.zeros(len(t), dtype=np.int64)
        for j, flag in enumerate(self._flags()):
            if flag == "dark":
                lon, lat = self.lonlat_
                on = darkness(t, lat, lon, self.tz_)
            elif flag == "school_holiday":
                on = self.school_terms.holiday(t)
            else:
                on = self.weather.wet(t)
            state |= np.asarray(on, dtype=np.int64) << j
        return state

    def _exposure(self, start: float, end: float) -> np.ndarray:
        """Hours of [start, end) in each (group, dark): shape (n_groups * n_dark,)."""
        h0, h1 = np.ceil(start * 24.0 - 1e-9), np.floor(end * 24.0 + 1e-9)
        if h1 <= h0:
            return np.zeros(self.n_groups * self.n_dark)
        mid = (np.arange(h0, h1) + 0.5) / 24.0
        key = self._group(slot_of(mid, self.holidays)) * self.n_dark + self._dark(mid)
        return np.bincount(key, minlength=self.n_groups * self.n_dark).astype(float)

    def _keys(self, ev: EventSet) -> np.ndarray:
        return self._group(slot_of(ev.t, self.holidays)) * self.n_dark + self._dark(ev.t)

    # -- features -----------------------------------------------------------------------------
    def features(self, ev: EventSet, cells: CellSet, c: float, start: float) -> np.ndarray:
        """Feature rows from the events of ``[start, c)``: one per cell, group and darkness
        (cell-major), one column per feature; *ev* must hold only events before *c*."""
        n, k = len(cells), self.n_groups * self.n_dark
        hours = max((c - start) * 24.0, 24.0)
        exposure = np.maximum(self._exposure(start, c), 1.0)
        w = np.exp2(-(c - ev.t) / self.half_life_days)
        hl_hours = self.half_life_days * 24.0
        eff_hours = hl_hours / np.log(2) * (1 - np.exp2(-hours / hl_hours))
        cols = {}
        own = np.bincount(ev.unit, weights=w, minlength=n) / eff_hours
        cols["own"] = own
        for bw in (300.0, 1000.0):
            cols[f"near{bw:g}"] = cells.to_units(gauss(raster(ev, cells, w), bw / cells.pixel)) / eff_hours
        for days in (90.0, 365.0):
            recent = ev.between(c - days, c)
            cols[f"last{days:g}"] = np.bincount(recent.unit, minlength=n) / (min(days, c - start) * 24.0)
        cols["area"] = cells.area / cells.area.max()
        cell_block = [np.log(np.asarray(v, dtype=float) * 1e3 + 1e-3) if name != "area" else v
                      for name, v in cols.items()]
        cell_block += self._mark_features(ev, n) + self._other_features(cells, c, start)
        cell_x = np.column_stack(cell_block)  # n x f
        keys = self._keys(ev)
        flat = np.bincount(ev.unit * k + keys, minlength=n * k).reshape(n, k)
        own_rate = flat / exposure
        near_flat = np.stack([cells.to_units(gauss(raster(ev.take(keys == j), cells), 1000.0 / cells.pixel))
                              for j in range(k)], axis=1) / exposure
        group_of = np.arange(k) // self.n_dark
        own_g = np.zeros((n, self.n_groups))
        np.add.at(own_g.T, group_of, flat.T)
        exp_g = np.bincount(group_of, weights=exposure, minlength=self.n_groups)
        prof = self._profile(ev, cells, c)
        row_x = np.stack([np.log(own_rate * 1e3 + 1e-3), np.log(near_flat * 1e3 + 1e-3),
                          np.log((own_g / exp_g)[:, group_of] * 1e3 + 1e-3), np.log(prof[:, group_of] * 1e3 + 1e-3),
                          np.broadcast_to(group_of % (self.n_groups // 2), (n, k)).astype(float),
                          np.broadcast_to(group_of // (self.n_groups // 2), (n, k)).astype(float),
                          *[np.broadcast_to((np.arange(k) % self.n_dark) >> j & 1, (n, k)).astype(float)
                            for j in range(max(len(self._flags()), 1))]], axis=2)
        return np.concatenate([np.repeat(cell_x[:, None, :], k, axis=1), row_x], axis=2).reshape(n * k, -1)

    def _profile(self, ev, cells, c) -> np.ndarray:
        """The stacked *base* forecast: rate per cell and group (events per hour)."""
        if self.base is None:
            return np.zeros((len(cells), self.n_groups))
        fitted = clone(self.base).fit(ev, cells, c)
        rate = getattr(fitted, "rate_", None)
        if rate is None or np.shape(rate) != (len(cells), N_SLOTS):  # no time of day: its mean rate
            return np.repeat((fitted.predict(7.0) / 168.0)[:, None], self.n_groups, axis=1)
        groups = self._group(np.arange(N_SLOTS))
        out = np.zeros((len(cells), self.n_groups))
        np.add.at(out.T, groups, np.asarray(rate).T)
        return out / np.bincount(groups, minlength=self.n_groups)

    def _mark_categories(self, ev: EventSet) -> dict:
        """The six commonest categories of each mark column among the events before the cutoff
        (fixed at fit, so the training and forecast rows have the same columns)."""
        if self.marks is None:
            return {}
        out = {}
        for col in self.marks.columns:
            counts = self.marks[col].reindex(ev.row).value_counts()
            out[col] = counts.index[:6].tolist()
        return out

    def _mark_features(self, ev: EventSet, n: int) -> list[np.ndarray]:
        out = []
        for col, cats in getattr(self, "mark_categories_", {}).items():
            values = self.marks[col].reindex(ev.row).to_numpy()
            table = np.zeros((n, len(cats) + 1))  # the last column: any other category
            known = pd.notna(values)
            code = np.full(len(values), len(cats))
            for j, cat in enumerate(cats):
                code[values == cat] = j
            np.add.at(table, (ev.unit[known], code[known]), 1.0)
            city = table.sum(axis=0) / max(table.sum(), 1.0)
            share = (table + 5.0 * city) / (table.sum(axis=1, keepdims=True) + 5.0)
            out += [share[:, j] for j in range(len(cats))]
        return out

    def _other_features(self, cells: CellSet, c: float, start: float) -> list[np.ndarray]:
        if self.others is None:
            return []
        n = len(cells)
        hist = self.others.between(start, c)
        w = np.exp2(-(c - hist.t) / self.half_life_days)
        out = [np.bincount(hist.unit[hist.unit >= 0], weights=w[hist.unit >= 0], minlength=n)]
        for days in (28.0, 365.0):
            recent = hist.between(c - days, c)
            out.append(np.bincount(recent.unit[recent.unit >= 0], minlength=n) / days)
        near = cells.to_units(gauss(raster(hist.take(hist.pixel >= 0), cells, w[hist.pixel >= 0]),
                                    500.0 / cells.pixel))
        return [np.log(v + 1e-3) for v in out + [near]]

    # -- fit and predict ----------------------------------------------------------------------
    def _fit(self, ev, cells, c):
        self.lonlat_ = tuple(self.lonlat) if self.lonlat is not None else (
            cell_lonlat(cells) if self.use_darkness else (0.0, 0.0))
        self.tz_ = self.tz if self.tz is not None else ev.report.get("tz")
        self.mark_categories_ = self._mark_categories(ev)
        t0 = float(np.floor(ev.t[0]))
        origin = max(c - float(self.train_days), t0 + min(float(self.train_days), (c - t0) / 2))
        past = ev.before(origin)
        target = ev.between(origin, c)
        k = self.n_groups * self.n_dark
        y = np.bincount(target.unit * k + self._keys(target), minlength=len(cells) * k).astype(float)
        exposure = np.tile(self._exposure(origin, c), len(cells))
        keep = exposure > 0
        self.model_ = HistGradientBoostingRegressor(
            loss="poisson", max_iter=self.max_iter, learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization, early_stopping=False, random_state=self.random_state)
        if len(past) == 0:  # too little history for a forward split: fall back to the profile
            self.rate_ = np.repeat(self._profile(ev, cells, c), self.n_dark, axis=1)
            return
        X = self.features(past, cells, origin, t0)
        # one thread: a few thousand rows gain nothing from OpenMP, and on a shared machine its
        # spinning threads made a 30-tree fit take seconds; folds run in parallel instead
        # The exposure of a row is a function of its group and darkness, both features, so the
        # model learns counts over the training period directly; rates are counts / exposure.
        # (No sample weights: with them scikit-learn bins on weighted percentiles, 10x slower.)
        with threadpool_limits(limits=1, user_api="openmp"):
            self.model_.fit(X[keep], y[keep])
            counts = self.model_.predict(self.features(ev, cells, c, t0)).reshape(len(cells), k)
        per_row = self._exposure(origin, c)
        self.rate_ = np.where(per_row > 0, counts / np.where(per_row > 0, per_row, 1.0), 0.0)

    def predict_windows(self, starts, hours: float) -> np.ndarray:
        """Expected events per window (rows) and cell (columns): the rate of each hour's group
        and darkness, summed over the hours the window covers."""
        if not hasattr(self, "rate_"):
            raise InputError(f"{type(self).__name__} is not fitted: call fit(events, cells, cutoff) first.")
        starts = np.atleast_1d(np.asarray(starts, dtype=float))
        if self.school_terms is not None:
            self.school_terms.require_covers(starts.min(), starts.max() + float(hours) / 24.0)
        s_h, e_h = starts * 24.0, starts * 24.0 + float(hours)
        first = np.floor(s_h + 1e-9)
        out = np.zeros((len(starts), self.rate_.shape[0]))
        pieces = []  # (windows, hours' middles, overlap): only hours the windows cover
        for j in range(int(np.ceil(hours)) + 1):
            b = first + j
            overlap = np.clip(np.minimum(e_h, b + 1) - np.maximum(s_h, b), 0, None)
            use = np.flatnonzero(overlap > 0)
            pieces.append((use, (b[use] + 0.5) / 24.0, overlap[use]))
        mids = np.concatenate([m for _, m, _ in pieces])
        keys = self._group(slot_of(mids, self.holidays)) * self.n_dark + self._dark(mids)  # refuses all gaps at once
        at = 0
        for use, mid, overlap in pieces:
            out[use] += overlap[:, None] * self.rate_[:, keys[at:at + len(use)]].T
            at += len(use)
        return out

    def _predict(self, h):
        return self.predict_windows([self.cutoff_], h * 24.0)[0]

