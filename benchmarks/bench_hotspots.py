"""Hotspot forecasts: accuracy and wall time of every method against the naive baselines.

Runs, on real data read from ``../shared/data`` (or the Toronto sample shipped in ``data/``):

1. **Toronto accuracy** (Break and Enter; Auto Theft; 2016-2019, 200 m cells clipped to the
   convex hull of the events): weekly horizon, 51 folds from 2019-01-07; 4-weekly horizon,
   24 folds every 14 days from 2019-01-07.  Every method and baseline on the same folds.
   *toronto2021*: the same categories in 2021 (51 weekly folds, 2014-2020 history, full MCI file):
   years no default was tuned on.
2. **Portland NIJ** (calls for service, EPSG:2913 feet, Aug-Sep 2016): weekly, 4 folds from
   2016-09-02, per category.
3. **Speed**: all 241k Toronto MCI events 2014-2021 (8 years, 5 categories pooled), weekly
   horizon, 50 folds: wall time per method and its ratio to the naive all-history count.

Prints tables and writes ``benchmarks/results/hotspots_*.csv`` and ``hotspots_summary.md``.

    python benchmarks/bench_hotspots.py            # everything (about 30 min on 2 cores)
    python benchmarks/bench_hotspots.py toronto    # one part: toronto | toronto2021 | portland | speed
    python benchmarks/bench_hotspots.py subday     # Paris accidents in 2-hour windows (bench_subday.py)
    python benchmarks/bench_hotspots.py shifts     # Toronto thefts in 8-hour shifts (bench_subday.py)
    python benchmarks/bench_hotspots.py subday_bound  # the leaky bound of the Paris gains
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gridtools import hotspots, io

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results"
TORONTO_SAMPLE = REPO / "data" / "toronto_theft_2016_2019.csv.gz"
TORONTO_FULL = SHARED / "crime" / "toronto_mci" / "toronto_mci_2014_2021.csv.gz"
PORTLAND = SHARED / "crime" / "portland_nij" / "NIJ2016_AUG_SEP_portland_cfs.csv.gz"

METHODS = ["naive_4w", "naive_1y", "naive_all", "smoothed", "kde", "prospective", "etas", "gbm", "ensemble"]
TORONTO_RUNS = [  # (label, horizon, start, folds, step)
    ("weekly", 7, "2019-01-07", 51, 7),
    ("4-weekly", 28, "2019-01-07", 24, 14),
]


def _row(cat, label, result, coverage=0.02):
    t = result.pai_table(coverage).set_index("method")
    row = {"category": cat, "horizon": label, "folds": result.params["folds"]}
    for m in t.index:
        row[m] = t.loc[m, "pai_mean"]
    best = max((m for m in t.index if m not in hotspots.BASELINES), key=lambda m: t.loc[m, "pai_mean"])
    row["best"] = best
    row["best_sd"] = t.loc[best, "pai_std"]
    row["gain_vs_best_naive"] = t.loc[best, "pai_vs_best_naive"]
    row["gain_ci"] = f"[{t.loc[best, 'gain_ci_low']:+.2f}, {t.loc[best, 'gain_ci_high']:+.2f}]"
    return row


def headroom(events, cells, start, folds, h, step, coverage=0.02) -> tuple[float, float]:
    """Mean PAI of a forecast no method can make, beside naive_all on the same folds.

    The "oracle" ranks cells by their counts over the two years centred on the horizon (365 days
    either side, the horizon itself left out): the local rate *known* from future data.  It bounds
    what any forecast from past counts can gain over the all-history count, the part of next
    week's events that is Poisson noise aside.  Deliberately leaky: a reference, never a method.
    Run on 2018 folds so that both sides of the window lie inside the 2016-2019 data.
    """
    from gridtools.hotspots.events import to_day
    from gridtools.hotspots.metrics import hit_metrics

    oracle, naive = [], []
    for k in range(folds):
        c = to_day(start) + k * step
        actual = np.bincount(events.between(c, c + h).unit, minlength=len(cells))
        if actual.sum() == 0:
            continue
        around = np.bincount(events.between(c - 365, c + h + 365).unit, minlength=len(cells)) - actual
        past = np.bincount(events.before(c).unit, minlength=len(cells))
        for scores, out in ((around, oracle), (past, naive)):
            out.append(float(hit_metrics(scores, cells.area, actual, coverages=[coverage])["pai"].iloc[0]))
    return float(np.mean(oracle)), float(np.mean(naive))


def _backtests(name, raw, categories, runs, *, time_col, category_col, extra=None):
    """Every method on each category and run ``(label, horizon, start, folds, step)``; the PAI@2%
    rows and the full summaries are written to ``results/hotspots_<name>_*.csv``."""
    rows, full = [], []
    for cat in categories:
        events, cells = hotspots.prepare(raw, time=time_col, category_col=category_col, categories=[cat],
                                         cell=200, area="hull")
        for label, h, start, folds, step in runs:
            tic = time.perf_counter()
            r = hotspots.backtest(events, cells, start=start, folds=folds, horizon_days=h, step_days=step,
                                  methods=METHODS)
            print(f"{name} {cat}, {label}: {len(events):,} events, {len(cells):,} cells, "
                  f"{time.perf_counter() - tic:.0f} s", flush=True)
            row = _row(cat, label, r)
            if extra is not None:
                row.update(extra(events, cells, h, folds, step))
            rows.append(row)
            full.append(r.summary.assign(category=cat, horizon=label))
    table = pd.DataFrame(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    pd.concat(full).to_csv(RESULTS / f"hotspots_{name}_summary.csv", index=False)
    table.to_csv(RESULTS / f"hotspots_{name}_pai2.csv", index=False)
    return table


def _headroom_2018(events, cells, h, folds, step) -> dict:
    oracle, naive = headroom(events, cells, "2018-01-01", folds, h, step)
    return {"2018: naive_all": naive, "2018: oracle (leaky)": oracle}


@functools.cache
def _toronto_full() -> pd.DataFrame:
    """All MCI events from 2014 (read once for the toronto2021 and speed parts)."""
    raw = io.read_events(TORONTO_FULL)
    return raw[raw["occurrencedate"] >= "2014"]


def toronto() -> pd.DataFrame:
    return _backtests("toronto", io.read_events(TORONTO_SAMPLE), ("Break and Enter", "Auto Theft"), TORONTO_RUNS,
                      time_col="occurrencedate", category_col="MCI", extra=_headroom_2018)


def toronto_2021() -> pd.DataFrame | None:
    """Later years nobody tuned on: 2021 weekly folds with 2014-2020 history (full MCI file)."""
    if not TORONTO_FULL.exists():
        print(f"SKIPPED toronto2021: {TORONTO_FULL} not present")
        return None
    return _backtests("toronto2021", _toronto_full(), ("Break and Enter", "Auto Theft"),
                      [("weekly 2021", 7, "2021-01-04", 51, 7)], time_col="occurrencedate", category_col="MCI")


def portland() -> pd.DataFrame | None:
    if not PORTLAND.exists():
        print(f"SKIPPED Portland: {PORTLAND} not present")
        return None
    raw = io.read_events(PORTLAND, x="x_coordina", y="y_coordina", crs=2913)
    return _backtests("portland", raw, ("STREET CRIMES", "MOTOR VEHICLE THEFT", "BURGLARY"),
                      [("weekly", 7, "2016-09-02", 4, 7)], time_col="occ_date", category_col="CATEGORY")


def speed() -> pd.DataFrame | None:
    if not TORONTO_FULL.exists():
        print(f"SKIPPED speed: {TORONTO_FULL} not present")
        return None
    tic = time.perf_counter()
    events, cells = hotspots.prepare(_toronto_full(), time="occurrencedate", cell=200, area="hull")
    prep = time.perf_counter() - tic
    r = hotspots.backtest(events, cells, start="2021-01-04", folds=50, horizon_days=7, methods=METHODS, n_boot=200)
    secs = pd.Series(r.seconds)
    table = pd.DataFrame({"seconds": secs, "x_naive_all": secs / max(secs["naive_all"], 1e-9)})
    table.loc["(read + prepare)", "seconds"] = prep
    print(f"speed: {len(events):,} events, {len(cells):,} cells, 50 weekly folds")
    RESULTS.mkdir(parents=True, exist_ok=True)
    table.to_csv(RESULTS / "hotspots_speed.csv")
    return table


def _markdown(df: pd.DataFrame, index: bool = False) -> str:
    df = df.reset_index() if index else df
    cells = [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in row] for row in df.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells])


def main(parts: list[str]) -> None:
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    parts = parts or ["toronto", "toronto2021", "portland", "speed"]
    md = ["# Hotspot benchmark (benchmarks/bench_hotspots.py)", ""]
    if "toronto" in parts:
        t = toronto()
        print(t.round(2).to_string(index=False))
        md += ["## Toronto, mean PAI at 2% of the area", "", _markdown(t), ""]
    if "toronto2021" in parts:
        t21 = toronto_2021()
        if t21 is not None:
            print(t21.round(2).to_string(index=False))
            md += ["## Toronto 2021 (2014-2020 history), mean PAI at 2%", "", _markdown(t21), ""]
    if "portland" in parts:
        p = portland()
        if p is not None:
            print(p.round(2).to_string(index=False))
            md += ["## Portland NIJ, mean PAI at 2%", "", _markdown(p), ""]
    if "speed" in parts:
        s = speed()
        if s is not None:
            print(s.round(2).to_string())
            md += ["## Speed: 241k events, 50 weekly folds", "", _markdown(s, index=True), ""]
    for part, run in (("subday", "paris"), ("shifts", "toronto"), ("subday_bound", "paris_bound")):
        if part in parts:
            import bench_subday

            t = getattr(bench_subday, run)()
            if t is not None:
                t.to_csv(RESULTS / f"subday_{run}.csv", index=False)
                print(t.round(3).to_string(index=False))
                md += [f"## Sub-day ({run}), pooled PAI", "", _markdown(t), ""]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"hotspots_summary_{'_'.join(parts)}.md").write_text("\n".join(md))


if __name__ == "__main__":
    main(sys.argv[1:])
