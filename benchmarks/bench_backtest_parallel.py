"""Backtests as tasks: Toronto MCI categories x methods x weekly folds, serial vs Dask LocalCluster(2).

Real data: Toronto Police Major Crime Indicators 2014-2021 (``crime/toronto_mci``, 240k events,
5 categories).  Each category's events and cells are prepared once (``hotspots.prepare``).  Then
:func:`gridtools.hotspots.backtest` runs every category serially in this process (``n_jobs=1``),
and afterwards every category again with ``scheduler=client`` on one LocalCluster(2) opened for
the whole second phase (the events and cells of a category are scattered once per worker; tasks
are batches of consecutive folds).  The metrics tables must be identical (seconds aside); the
speed ratio is serial / Dask wall time.  CPU seconds: this process for the serial run; this
process plus both workers (``psutil`` CPU times read on each worker) for the Dask run.  Starting
the cluster and importing on the workers is timed on its own (``cluster_start_s``) and given with
and without it in the ratio.

By default ``gbm`` (also inside ``ensemble``) is ``GBM(refit_days=28)``: equal accuracy at half
the time per fold (``bench_gbm_refit.py``); ``--gbm-refit-days 0`` trains at every cutoff.

Partial results are written as each (phase, category) finishes, so a run stopped early still
says how far it got: ``benchmarks/results/backtest_parallel.json`` (per category and phase: wall,
CPU, seconds per method, and whether the Dask table equals the serial one) and the metrics tables
``benchmarks/results/backtest_parallel/<phase>-<category>.csv``.

    python benchmarks/bench_backtest_parallel.py                        # 5 categories, every method, 52 folds
    python benchmarks/bench_backtest_parallel.py --folds 2 --phases serial   # per-task times, for the estimate
    python benchmarks/bench_backtest_parallel.py --categories 1 --folds 8 --methods naive_all,kde,gbm
    python benchmarks/bench_backtest_parallel.py --simulate 91 --folds 13 --serial-categories 10 --tag _simulated91
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MCI = REPO.parent / "shared" / "data" / "crime" / "toronto_mci" / "toronto_mci_2014_2021.csv.gz"
EVERY_METHOD = "naive_4w,naive_1y,naive_all,smoothed,kde,prospective,etas,gbm,ensemble"
RESULTS = REPO / "benchmarks" / "results" / "backtest_parallel.json"
TABLES = REPO / "benchmarks" / "results" / "backtest_parallel"


def estimators(names: list[str], refit_days: float | None) -> dict:
    """The methods by name; ``gbm`` (alone and in the ensemble) with *refit_days*, so the ensemble
    still reuses its members' forecasts of each fold."""
    from gridtools.hotspots.estimators import Ensemble, make_estimator

    gbm = {"refit_days": refit_days} if refit_days else {}
    out = {}
    for name in names:
        if name == "gbm":
            out[name] = make_estimator("gbm", **gbm)
        elif name == "ensemble":
            out[name] = Ensemble(members=[(m, make_estimator(m, **(gbm if m == "gbm" else {})))
                                          for m in ("smoothed", "kde", "etas", "gbm")])
        else:
            out[name] = make_estimator(name)
    return out


def worker_cpu(client) -> float:
    """CPU seconds (user + system) used so far by the worker processes of *client*."""
    import psutil

    def cpu():
        t = psutil.Process().cpu_times()
        return t.user + t.system

    return sum(client.run(cpu).values()) if client is not None else 0.0


def warm_up() -> None:
    """Import on a worker what a backtest task uses (numpy, sklearn, gridtools.hotspots)."""
    import sklearn.ensemble  # noqa: F401

    import gridtools.hotspots.backtesting  # noqa: F401


def timed_backtest(ev, cells, options, client) -> tuple:
    from gridtools import hotspots

    tic, cpu, wcpu = time.perf_counter(), time.process_time(), worker_cpu(client)
    result = hotspots.backtest(ev, cells, scheduler=client, n_jobs=1, **options)
    return result, time.perf_counter() - tic, time.process_time() - cpu + worker_cpu(client) - wcpu


def run_together(prepared: dict, categories: list[str], options: dict, client) -> tuple[dict, dict]:
    """Every category's backtest on *client* at once (one cell set for all: ``--simulate``):
    (result per category, the timing of the whole call)."""
    from gridtools import hotspots

    cells = prepared[categories[0]][1]
    if any(prepared[c][1] is not cells for c in categories):
        raise SystemExit("--together needs one cell set for every category (use it with --simulate)")
    tic, cpu, wcpu = time.perf_counter(), time.process_time(), worker_cpu(client)
    results = hotspots.backtest_categories({c: prepared[c][0] for c in categories}, cells, scheduler=client,
                                           **options)
    timing = {"phase": "dask", "categories": len(categories), "wall_s": time.perf_counter() - tic,
              "cpu_s": time.process_time() - cpu + worker_cpu(client) - wcpu, "load_average": list(os.getloadavg()),
              "finished": time.strftime("%H:%M:%S UTC", time.gmtime())}
    return results, timing


def save(record: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2, default=str))


def table(metrics):
    """The metrics table without its timing columns (the part that must be identical)."""
    return metrics.drop(columns=[c for c in metrics.columns if "second" in c]).reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--categories", type=int, default=5)
    parser.add_argument("--folds", type=int, default=52)
    parser.add_argument("--methods", default=EVERY_METHOD)
    parser.add_argument("--start", default="2020-01-06")
    parser.add_argument("--cell", type=float, default=250.0)
    parser.add_argument("--gbm-refit-days", type=float, default=28.0, help="0: train GBM at every cutoff")
    parser.add_argument("--phases", default="serial,dask", help="serial, dask or both (in that order)")
    parser.add_argument("--tag", default="", help="suffix of the result files (backtest_parallel<tag>.json)")
    parser.add_argument("--simulate", type=int, default=0,
                        help="N simulated categories: every Toronto event given one of N categories (Zipf sizes)")
    parser.add_argument("--serial-categories", type=int, default=0,
                        help="serial phase on the first K categories only (0: all), the check of a long run")
    parser.add_argument("--together", action="store_true",
                        help="dask phase: every category's tasks in flight at once (hotspots.backtest_categories), "
                             "timed as a whole")
    args = parser.parse_args()
    global RESULTS, TABLES
    RESULTS, TABLES = (RESULTS.with_name(f"backtest_parallel{args.tag}.json"),
                       TABLES.with_name(f"backtest_parallel{args.tag}"))
    if not MCI.exists():
        print(f"SKIPPED: {MCI} not present (real data lives in ../shared/data)")
        return
    from gridtools import hotspots, io, parallel

    raw = io.read_events(MCI, lon="Long", lat="Lat")
    raw = raw[raw["occurrencedate"].astype(str) >= "2014"]
    tic = time.perf_counter()
    if args.simulate:
        prepared = simulated_categories(*hotspots.prepare(raw, time="occurrencedate", cell=args.cell), args.simulate)
        categories = list(prepared)
    else:
        categories = raw["MCI"].value_counts().index[: args.categories].tolist()
        prepared = {c: hotspots.prepare(raw, time="occurrencedate", cell=args.cell, category_col="MCI",
                                        categories=[c]) for c in categories}
    names = args.methods.split(",")
    options = {"start": args.start, "folds": args.folds, "horizon_days": 7, "n_boot": 200,
                   "methods": estimators(names, args.gbm_refit_days or None)}
    record = {"settings": {**vars(args), "categories": categories, "prepare_s": time.perf_counter() - tic,
                           "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())},
              "runs": {}}
    TABLES.mkdir(parents=True, exist_ok=True)
    save(record)
    phases = [p.strip() for p in args.phases.split(",")]
    kept = {}
    for phase in phases:
        tic = time.perf_counter()
        with parallel.dask_client("local:2" if phase == "dask" else None) as client:
            if client is not None:  # start-up: the workers import what the tasks need (timed on its own)
                client.run(warm_up)
                record["settings"]["cluster_start_s"] = time.perf_counter() - tic
            serial_only = categories[: args.serial_categories or len(categories)]
            together = {}
            if phase == "dask" and args.together:
                together, record["runs"]["dask:together"] = run_together(prepared, categories, options, client)
                print(json.dumps(record["runs"]["dask:together"]), flush=True)
            for category in categories if phase == "dask" else serial_only:
                ev, cells = prepared[category]
                if category in together:
                    result, wall, cpu = together[category], None, None
                else:
                    result, wall, cpu = timed_backtest(ev, cells, options, client)
                result.metrics.to_csv(TABLES / f"{phase}-{category.replace(' ', '_')}.csv", index=False)
                run = {"phase": phase, "category": category, "events": len(ev), "cells": len(cells),
                       "folds": args.folds, "methods": len(result.seconds), "wall_s": wall, "cpu_s": cpu,
                       "method_s_per_fold": {m: s / args.folds for m, s in result.seconds.items()},
                       "load_average": list(os.getloadavg()),
                       "finished": time.strftime("%H:%M:%S UTC", time.gmtime())}
                kept[(phase, category)] = table(result.metrics)
                if phase == "dask" and ("serial", category) in kept:
                    same = kept["serial", category].equals(kept["dask", category])
                    run["same_metrics"] = bool(same)
                    if not same:
                        run["differs"] = differences(kept["serial", category], kept["dask", category])
                record["runs"][f"{phase}:{category}"] = run
                save(record)
                print(json.dumps(run, default=str), flush=True)
    summarise(record, categories)
    save(record)


def simulated_categories(events, cells, n: int, seed: int = 0) -> dict:
    """Every event given one of *n* categories with Zipf sizes (category k about 1/k of the
    largest), like a city platform's many incident types: a few large, most small.  One cell set
    for all (prepared once); the events stay real (times and places), only their labels are drawn."""
    import numpy as np

    weights = 1.0 / np.arange(1, n + 1)
    label = np.random.default_rng(seed).choice(n, size=len(events), p=weights / weights.sum())
    return {f"sim{k + 1:02d}": (events.take(label == k), cells) for k in range(n)}


def differences(a, b) -> dict:
    """Per method, how many metric values differ between two tables, and the largest difference."""
    import numpy as np

    out = {}
    for method in a["method"].unique():
        x, y = a[a["method"] == method], b[b["method"] == method]
        cols = [c for c in x.columns if x[c].dtype.kind == "f"]
        diff = np.abs(x[cols].to_numpy() - y[cols].to_numpy())
        if np.nansum(diff) > 0 or len(x) != len(y):
            out[method] = {"values": int((diff > 0).sum()), "max_abs": float(np.nanmax(diff))}
    return out


def summarise(record: dict, categories: list[str]) -> None:
    runs = record["runs"]
    totals = {}
    for phase in ("serial", "dask"):
        done = [runs[f"{phase}:{c}"] for c in categories if f"{phase}:{c}" in runs]
        if done and f"{phase}:together" in runs:  # one call for all categories: only its total is timed
            totals[phase] = {"categories": len(done), "wall_s": runs[f"{phase}:together"]["wall_s"],
                             "cpu_s": runs[f"{phase}:together"]["cpu_s"], "together": True}
        elif done:
            totals[phase] = {"categories": len(done), "wall_s": sum(r["wall_s"] for r in done),
                             "cpu_s": sum(r["cpu_s"] for r in done)}
    both = [c for c in categories if f"serial:{c}" in runs and f"dask:{c}" in runs]
    if both and "dask:together" in runs:
        totals["both_phases"] = {"categories": len(both),
                                 "same_metrics": all(runs[f"dask:{c}"].get("same_metrics") for c in both)}
    elif both:
        totals["both_phases"] = {
            "categories": len(both),
            **{f"{p}_{k}": sum(runs[f"{p}:{c}"][k] for c in both) for p in ("serial", "dask") for k in ("wall_s", "cpu_s")},
            "same_metrics": all(runs[f"dask:{c}"].get("same_metrics") for c in both)}
        b = totals["both_phases"]
        b["wall_ratio_serial_over_dask"] = b["serial_wall_s"] / b["dask_wall_s"]
    if len(totals) == 3 and totals["serial"]["categories"] == totals["dask"]["categories"]:
        totals["wall_ratio_serial_over_dask"] = totals["serial"]["wall_s"] / totals["dask"]["wall_s"]
        start = record["settings"].get("cluster_start_s", 0.0)
        totals["wall_ratio_with_cluster_start"] = totals["serial"]["wall_s"] / (totals["dask"]["wall_s"] + start)
        totals["same_metrics_every_category"] = all(runs[f"dask:{c}"].get("same_metrics") for c in categories)
    record["totals"] = totals
    print("\n| category | events | cells | folds | methods | serial wall s (CPU) | LocalCluster(2) wall s (CPU) "
          "| ratio | same metrics |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in categories:
        s, d = runs.get(f"serial:{c}"), runs.get(f"dask:{c}")
        ref = s or d
        if ref is None:
            continue
        cell = lambda r: f"{r['wall_s']:.0f} ({r['cpu_s']:.0f})" if r and r["wall_s"] is not None else "-"
        ratio = f"{s['wall_s'] / d['wall_s']:.2f}x" if s and d and d["wall_s"] is not None else "-"
        print(f"| {c} | {ref['events']:,} | {ref['cells']:,} | {ref['folds']} | {ref['methods']} | {cell(s)} | "
              f"{cell(d)} | {ratio} | {d.get('same_metrics', '-') if d else '-'} |")
    print(json.dumps(totals, indent=2))


if __name__ == "__main__":
    main()
