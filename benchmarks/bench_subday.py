"""Sub-day forecasts (issue 14): pooled PAI of every method in 2-hour / 8-hour windows, and wall time.

Called by ``python benchmarks/bench_hotspots.py subday`` (Paris accidents, 500 m and 250 m cells)
and ``... shifts`` (Toronto thefts, 8-hour shifts).  Real data from ``../shared/data``.

* **Paris** (BAAC road injury accidents 2016-2020, minute resolution, local time): study area
  = convex hull of the accidents within 1.3 x the 99th-percentile distance of their median
  point (the city and its two woods; the file has stray points as far as Toulouse).  Weekly
  cutoffs over 2019-2020 (104, from Tuesday 2019-01-01 00:00), each forecasting 84 two-hour
  windows (the week ahead).
* **Toronto** (MCI 2014-2021, occurrence date + hour): Break and Enter and Auto Theft, 200 m
  cells in the convex hull, weekly cutoffs over 2019-2020, each forecasting 21 eight-hour shifts.

Methods: every registered sub-day method, plus ``gbm_marks`` on Paris (road category and
intersection mix of each cell's past accidents) and ``gbm_precursors`` on Toronto (the other
MCI categories' counts).

Nested tuning (``python benchmarks/bench_subday.py tune_profile 1``, then ``... honest``): the
settings of ``TimeProfile``, the school-term prior and ``SlotGBM`` are chosen on 104 weekly cutoffs
over 2017-2018 (``SlotGBM``: 26 cutoffs four weeks apart, 500 m), by the mean gain over ``naive_all``
at 2% and 5% over both cell sizes; the 2019-2020 folds are then run once with the winners.  The
shipped defaults are those winners.  ``data/paris_school_terms_zone_c.csv`` is the académie de
Paris school calendar built by hand (sources in its ``.md``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from gridtools import hotspots, io
from gridtools.hotspots.forecasting import drop_far_events
from gridtools.hotspots.cells import assign_events
from gridtools.hotspots.subday import backtest_windows
from gridtools.hotspots.subday_gbm import SlotGBM
from gridtools.hotspots.timeofday import RankBlend, TimeProfile, subday_methods

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results"
PARIS = SHARED / "accidents" / "paris" / "paris_accidents_2016_2020.csv.gz"
TORONTO = SHARED / "crime" / "toronto_mci" / "toronto_mci_2014_2021.csv.gz"


def paris_inputs(cell: float, with_marks: bool = False):
    """Paris accidents and cells (study area as in the module docstring); with *with_marks* also
    each accident's road category and intersection type by input row (for ``gbm_marks``)."""
    raw = io.read_events(PARIS, lon="lon", lat="lat")
    core = drop_far_events(hotspots.prepare_events(raw, time="datetime"), factor=1.3)
    area = shapely.convex_hull(shapely.multipoints(list(zip(core.x, core.y))))
    # tz: the times are Paris wall clock already; it tells the darkness covariate the zone
    events, cells = hotspots.prepare(raw, time="datetime", cell=cell, area=area, tz="Europe/Paris")
    if not with_marks:
        return events, cells
    marks = pd.DataFrame({"road_category": raw["road_category"].to_numpy(),
                          "intersection": raw["intersection"].to_numpy()}, index=np.arange(1, len(raw) + 1))
    return events, cells, marks


def paris_methods(hours: float, marks: pd.DataFrame) -> dict:
    """Every registered sub-day method, and ``gbm_marks``: ``gbm`` with the cells' road-class and
    intersection mix (from past accidents' attributes, known before the cutoff)."""
    methods = {name: make() for name, make in subday_methods(hours).items()}
    methods["gbm_marks"] = SlotGBM(bin_hours=hours, base=TimeProfile(), marks=marks)
    return methods


def table(result, label: str) -> pd.DataFrame:
    """One row per method: pooled PAI at 2% and 5%, gain over the best naive with its interval, seconds."""
    rows = []
    for cov in (0.02, 0.05):
        t = result.pai_table(cov)
        for _, r in t.iterrows():
            rows.append({"run": label, "coverage": cov, "method": r["method"], "pai": r["pai"],
                         "gain": r["gain_vs_best_naive"], "gain_low": r["gain_ci_low"], "gain_high": r["gain_ci_high"],
                         "best_naive": r["best_naive"], "seconds": result.seconds.get(r["method"])})
    return pd.DataFrame(rows)


def paris(cells=(500.0, 250.0), folds: int = 104, only=None) -> pd.DataFrame | None:
    """Every method (or those named in *only*, the baselines always) on each cell size."""
    if not PARIS.exists():
        print(f"skipping Paris: {PARIS} not found")
        return None
    out = []
    for cell in cells:
        events, cs, marks = paris_inputs(cell, with_marks=True)
        tic = time.perf_counter()
        result = backtest_windows(events, cs, start="2019-01-01 00:00", folds=folds, step_days=7,
                                  horizon_hours=2, windows=84, n_boot=1000,
                                  methods={n: m for n, m in paris_methods(2.0, marks).items() if only is None or n in only})
        print(f"Paris {cell:g} m: {len(cs):,} cells, {folds} folds x 84 windows, {time.perf_counter() - tic:.0f} s")
        result.save(RESULTS / f"subday_paris_{int(cell)}")
        out.append(table(result, f"Paris {cell:g} m, 2 h"))
    return pd.concat(out, ignore_index=True)


def toronto(categories=("Break and Enter", "Auto Theft"), folds: int = 104, step_days: float = 7,
            only=None) -> pd.DataFrame | None:
    """Every method (or those in *only*, the baselines always) per category, cutoffs *step_days* apart."""
    if not TORONTO.exists():
        print(f"skipping Toronto: {TORONTO} not found")
        return None
    raw = io.read_events(TORONTO, lon="Long", lat="Lat")
    # 2014 on (the years the file is complete for); a few older rows carry historical UTC offsets
    # that are not local midnight, which the hour column would be added to twice
    raw = raw[raw["occurrencedate"].astype(str) >= "2014"]
    out = []
    for cat in categories:
        events, cs = hotspots.prepare(raw, time="occurrencedate", hour_col="occurrencehour", tz="America/Toronto",
                                      category_col="MCI", categories=[cat], cell=200, area="hull")
        methods = {name: make() for name, make in subday_methods(8.0).items()}
        methods["gbm_precursors"] = SlotGBM(bin_hours=8.0, base=TimeProfile(),
                                            others=_other_categories(raw, cat, events, cs))
        methods = {n: m for n, m in methods.items() if only is None or n in only}
        tic = time.perf_counter()
        result = backtest_windows(events, cs, start="2019-01-01 00:00", folds=folds, step_days=step_days,
                                  horizon_hours=8, windows=21, n_boot=1000, methods=methods)
        print(f"Toronto {cat}: {len(cs):,} cells, {time.perf_counter() - tic:.0f} s")
        result.save(RESULTS / f"subday_toronto_{cat.replace(' ', '_').lower()}")
        out.append(table(result, f"Toronto {cat}, 8 h"))
    return pd.concat(out, ignore_index=True)


def _other_categories(raw, category: str, events, cells):
    """The other MCI categories' events in the same cells: precursors of *category*."""
    others = sorted(set(raw["MCI"].dropna().astype(str)) - {category})
    ev = hotspots.prepare_events(raw, time="occurrencedate", hour_col="occurrencehour", tz="America/Toronto",
                                 category_col="MCI", categories=others, crs=events.crs)
    return assign_events(ev, cells)


def paris_bound(cell: float = 500.0, folds: int = 104) -> pd.DataFrame | None:
    """The leaky bound: all-history count and time profile fitted on all five years except the forecast week.

    Not a forecast (it sees the future); it measures how much any forecast built from where and
    when accidents happened could gain over the all-history count on these folds.
    """

    from gridtools.hotspots.estimators import NaiveCounts
    from gridtools.hotspots.timeofday import TimeProfile

    if not PARIS.exists():
        print(f"skipping Paris: {PARIS} not found")
        return None

    class LeakyAll(NaiveCounts):
        def fit(self, events, cells, cutoff):
            c = hotspots.to_day(cutoff)
            self.cutoff_ = c
            keep = (events.t < c) | (events.t >= c + 7)
            self.rate_ = np.bincount(events.unit[keep], minlength=len(cells)) / (events.t[-1] - events.t[0] - 7)
            return self

    class LeakyProfile(TimeProfile):
        def fit(self, events, cells, cutoff):
            self.cutoff_ = c = hotspots.to_day(cutoff)
            self._fit(events.take((events.t < c) | (events.t >= c + 7)), cells, events.t[-1])
            return self

    events, cs = paris_inputs(cell)
    methods = {"leaky_all": LeakyAll(), "leaky_profile": LeakyProfile(half_life_days=None, prior_events=400,
                                                                      spatial_weight=0)}
    result = backtest_windows(events, cs, start="2019-01-01 00:00", folds=folds, step_days=7, horizon_hours=2,
                              windows=84, methods=methods, n_boot=300)
    return table(result, f"Paris {cell:g} m, leaky bound")


# -- honest tuning: settings chosen on 2017-2018 weekly cutoffs, never on the reported 2019-2020 ----
TUNE_START, TUNE_FOLDS = "2017-01-03 00:00", 104  # Tuesdays, the windows end 2018-12-31 24:00


def _score(result) -> dict:
    """Gain over naive_all at 2% and 5% per method, and their mean (the tuning criterion)."""
    s = result.summary
    out = {}
    for m in s["method"].unique():
        g = {}
        for cov in (0.02, 0.05):
            r = s[(s["method"] == m) & np.isclose(s["coverage"], cov)]
            base = s[(s["method"] == "naive_all") & np.isclose(s["coverage"], cov)]["pai"].iloc[0]
            g[cov] = float(r["pai"].iloc[0] / base - 1)
        out[m] = {"gain2": g[0.02], "gain5": g[0.05], "pai2": None, "score": (g[0.02] + g[0.05]) / 2}
    return out


def tune(candidates: dict, cells=(500.0, 250.0), start: str = TUNE_START, folds: int = TUNE_FOLDS,
         out: str = "subday_tuning_profile.csv", step_days: float = 7) -> pd.DataFrame:
    """Backtest each candidate (name -> estimator) on the 2017-2018 cutoffs; append rows to *out*."""
    rows = []
    path = RESULTS / out
    for cell in cells:
        events, cs = paris_inputs(cell)
        tic = time.perf_counter()
        result = backtest_windows(events, cs, start=start, folds=folds, step_days=step_days, horizon_hours=2,
                                  windows=84, n_boot=50, methods=candidates)
        for name, sc in _score(result).items():
            rep = repr(candidates.get(name, name))
            rows.append({"cell": cell, "method": name, "gain2": sc["gain2"], "gain5": sc["gain5"],
                         "score": sc["score"], "params": rep, "seconds": result.seconds.get(name)})
        frame = pd.DataFrame(rows)
        frame.to_csv(path, mode="a", header=not path.exists(), index=False)
        rows = []
        print(f"tuned {len(candidates)} candidates at {cell:g} m in {time.perf_counter() - tic:.0f} s", flush=True)
    return pd.read_csv(path)


def profile_grid(stage: int = 1, best: dict | None = None) -> dict:
    """The small grid of ``TimeProfile`` settings: stage 1 pseudo-events x spatial shrinkage x half-life,
    stage 2 hour smoothing, neighbourhood kernel and spatial kernel around the stage-1 best."""
    if stage == 1:
        return {f"p{p:g}_w{w:g}_hl{hl}": TimeProfile(prior_events=p, spatial_weight=w, half_life_days=hl)
                for p in (100.0, 200.0, 400.0) for w in (0.0, 0.3, 0.6) for hl in (365.0, 730.0, None)}
    best = dict(best or {})
    out = {}
    for hb in (0.5, 2.0):
        out[f"hb{hb:g}"] = TimeProfile(**(best | {"hour_bandwidth": hb}))
    for nb in (500.0, 2000.0):
        out[f"nb{nb:g}"] = TimeProfile(**(best | {"neighbourhood_bandwidth": nb}))
    for sb in (500.0, 1000.0):
        out[f"sb{sb:g}"] = TimeProfile(**(best | {"spatial_bandwidth": sb}))
    out["stage1_best"] = TimeProfile(**best)
    return out


def gbm_grid(profile: dict | None = None) -> dict:
    """``SlotGBM`` candidates (fixed before any 2019-2020 run of them): the shipped settings, a two-year
    target, and stronger regularisation (more rows per leaf, fewer trees, a smaller learning rate)."""
    base = dict(bin_hours=2.0, base=TimeProfile(**(profile or {})))
    grid = {"g_shipped": {},
            "g_730": {"train_days": 730.0},
            "g_730_leaf800": {"train_days": 730.0, "min_samples_leaf": 800},
            "g_730_leaf800_40x0.05": {"train_days": 730.0, "min_samples_leaf": 800, "max_iter": 40, "learning_rate": 0.05},
            "g_730_leaf2000_40x0.05": {"train_days": 730.0, "min_samples_leaf": 2000, "max_iter": 40,
                                       "learning_rate": 0.05},
            "g_365_leaf800_40x0.05": {"min_samples_leaf": 800, "max_iter": 40, "learning_rate": 0.05},
            "g_730_leaf800_80x0.05_l2=10": {"train_days": 730.0, "min_samples_leaf": 800, "learning_rate": 0.05,
                                             "l2_regularization": 10.0}}
    out = {name: SlotGBM(**(base | kw)) for name, kw in grid.items()}
    out["profile"] = TimeProfile(**(profile or {}))
    return out


SCHOOL_TERMS = Path(__file__).resolve().parent / "data" / "paris_school_terms_zone_c.csv"  # sources: its .md


def school_grid(profile: dict | None = None) -> dict:
    """``profile`` with the Paris zone C school calendar at three strengths of the city prior."""
    from gridtools.hotspots.calendar import read_school_terms

    terms = read_school_terms(SCHOOL_TERMS)
    out = {f"school_prior{p:g}": TimeProfile(**((profile or {}) | {"school_terms": terms, "school_prior": p}))
           for p in (20.0, 50.0, 200.0)}
    out["profile"] = TimeProfile(**(profile or {}))
    return out


def report(methods: dict, cells=(500.0, 250.0), label: str = "tuned", folds: int = 104) -> pd.DataFrame:
    """The reported 2019-2020 folds (104 weekly cutoffs) for *methods* (the baselines always)."""
    out = []
    for cell in cells:
        events, cs = paris_inputs(cell)
        tic = time.perf_counter()
        result = backtest_windows(events, cs, start="2019-01-01 00:00", folds=folds, step_days=7, horizon_hours=2,
                                  windows=84, n_boot=1000, methods=methods)
        print(f"Paris {cell:g} m ({label}): {time.perf_counter() - tic:.0f} s", flush=True)
        result.save(RESULTS / f"subday_paris_{label}_{int(cell)}")
        out.append(table(result, f"Paris {cell:g} m, 2 h"))
    frame = pd.concat(out, ignore_index=True)
    frame.to_csv(RESULTS / f"subday_paris_{label}_{'_'.join(str(int(c)) for c in cells)}.csv", index=False)
    return frame


def _winner(path: str, cells=None) -> str:
    """The candidate with the highest mean tuning score over the cell sizes (baselines excluded)."""
    d = pd.read_csv(RESULTS / path)
    d = d[~d["method"].str.startswith("naive")]
    if cells is not None:
        d = d[d["cell"].isin(cells)]
    return str(d.groupby("method")["score"].mean().idxmax())


def _params(est) -> dict:
    """The constructor arguments that differ from the defaults (to rebuild a tuned candidate)."""
    defaults = type(est)().get_params(deep=False)
    return {k: v for k, v in est.get_params(deep=False).items() if v is not defaults[k] and v != defaults[k]}


def honest(stage1_winner: str = "p200_w0_hl730.0") -> None:
    """Stages 2-4 of the nested tuning on 2017-2018, each winner picked by the rule of :func:`_winner`,
    then the 2019-2020 report of the winners (500 m first; boosting at 250 m last, it is slow)."""
    grid1 = profile_grid(1)
    best = _params(grid1[stage1_winner])
    print("stage 1 winner", stage1_winner, best, flush=True)
    grid2 = profile_grid(2, best)
    tune(grid2, out="subday_tuning_profile2.csv")
    w2 = _winner("subday_tuning_profile2.csv")
    best = _params(grid2[w2])
    print("stage 2 winner", w2, best, flush=True)
    school = school_grid(best)
    tune(school, out="subday_tuning_school.csv")
    w_school = _winner("subday_tuning_school.csv")
    print("school winner", w_school, flush=True)
    gbms = gbm_grid(best)
    tune(gbms, cells=(500.0,), folds=26, step_days=28, out="subday_tuning_gbm.csv")
    d = pd.read_csv(RESULTS / "subday_tuning_gbm.csv")
    w_gbm = str(d[d["method"].str.startswith("g_")].set_index("method")["score"].idxmax())
    print("gbm winner", w_gbm, flush=True)
    per_cell = {c: _params(grid1[_winner("subday_tuning_profile1.csv", cells=[c])]) for c in (500.0, 250.0)}
    print("per-cell stage-1 winners", per_cell, flush=True)
    for cell in (500.0, 250.0):
        methods = {"profile_tuned": TimeProfile(**best), "profile_school": school[w_school],
                   "profile_percell": TimeProfile(**per_cell[cell])}
        if cell == 500.0:
            methods |= {"gbm_tuned": gbms[w_gbm], "profile_gbm_rank": RankBlend(
                members=[("profile", TimeProfile(**best)), ("gbm", gbms[w_gbm])])}
        report(methods, cells=(cell,), label="honest")
    report({"gbm_tuned": gbms[w_gbm], "profile_gbm_rank": RankBlend(
        members=[("profile", TimeProfile(**best)), ("gbm", gbms[w_gbm])])}, cells=(250.0,), label="honest_gbm")


if __name__ == "__main__":
    import json
    import sys

    what = sys.argv[1]
    if what == "tune_profile":
        stage = int(sys.argv[2])
        best = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
        print(tune(profile_grid(stage, best), out=f"subday_tuning_profile{stage}.csv").to_string())
    elif what == "honest":
        honest(*sys.argv[2:3])
    elif what == "tune_school":
        best = json.loads(sys.argv[2]) if len(sys.argv) > 2 else None
        print(tune(school_grid(best), out="subday_tuning_school.csv").to_string())
    elif what == "tune_gbm":  # 500 m, 26 cutoffs 4 weeks apart over 2017-2018 (boosting is slow)
        best = json.loads(sys.argv[2]) if len(sys.argv) > 2 else None
        print(tune(gbm_grid(best), cells=(500.0,), folds=26, step_days=28, out="subday_tuning_gbm.csv").to_string())
