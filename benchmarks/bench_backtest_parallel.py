"""Backtests as tasks: Toronto MCI categories x methods x weekly folds, serial vs Dask LocalCluster(2).

Real data: Toronto Police Major Crime Indicators 2014-2021 (``crime/toronto_mci``, 240k events,
5 categories).  Per category, :func:`gridtools.hotspots.backtest` runs every method on the same
weekly folds once in this process and once with ``scheduler=client`` (one LocalCluster(2) for the
whole run; the events and cells of a category are scattered once per worker, one task per fold).
The metrics tables must be identical (seconds aside); the speed ratio is serial / Dask wall time.

    python benchmarks/bench_backtest_parallel.py                        # 5 categories, every method, 52 folds
    python benchmarks/bench_backtest_parallel.py --categories 1 --folds 8 --methods naive_all,kde,gbm

Results: a markdown table on stdout and ``benchmarks/results/backtest_parallel.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MCI = REPO.parent / "shared" / "data" / "crime" / "toronto_mci" / "toronto_mci_2014_2021.csv.gz"
EVERY_METHOD = "naive_4w,naive_1y,naive_all,smoothed,kde,prospective,etas,gbm,ensemble"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--categories", type=int, default=5)
    parser.add_argument("--folds", type=int, default=52)
    parser.add_argument("--methods", default=EVERY_METHOD)
    parser.add_argument("--start", default="2020-01-06")
    parser.add_argument("--cell", type=float, default=250.0)
    args = parser.parse_args()
    if not MCI.exists():
        print(f"SKIPPED: {MCI} not present (real data lives in ../shared/data)")
        return
    from gridtools import hotspots, io, parallel

    raw = io.read_events(MCI, lon="Long", lat="Lat")
    raw = raw[raw["occurrencedate"].astype(str) >= "2014"]
    categories = raw["MCI"].value_counts().index[: args.categories].tolist()
    rows = []
    with parallel.dask_client("local:2") as client:
        for category in categories:
            ev, cells = hotspots.prepare(raw, time="occurrencedate", cell=args.cell, category_col="MCI",
                                         categories=[category])
            options = dict(start=args.start, folds=args.folds, horizon_days=7, methods=args.methods.split(","),
                           n_boot=200)
            tic = time.perf_counter()
            serial = hotspots.backtest(ev, cells, **options)
            t_serial = time.perf_counter() - tic
            tic = time.perf_counter()
            on_dask = hotspots.backtest(ev, cells, scheduler=client, **options)
            t_dask = time.perf_counter() - tic
            timing = [c for c in serial.metrics.columns if "second" in c]
            same = serial.metrics.drop(columns=timing).equals(on_dask.metrics.drop(columns=timing))
            gbm = serial.seconds.get("gbm")
            rows.append({"category": category, "events": len(ev), "cells": len(cells), "folds": args.folds,
                         "methods": len(serial.seconds), "serial_s": t_serial, "dask_local2_s": t_dask,
                         "speedup": t_serial / t_dask, "same_metrics": bool(same),
                         "gbm_s_per_fold": gbm / args.folds if gbm else None})
            print(rows[-1], flush=True)
    print("\n| category | events | cells | folds | methods | serial s | LocalCluster(2) s | ratio | same metrics |"
          " GBM s/fold |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        gbm = f"{r['gbm_s_per_fold']:.2f}" if r["gbm_s_per_fold"] else "-"
        print(f"| {r['category']} | {r['events']:,} | {r['cells']:,} | {r['folds']} | {r['methods']} | "
              f"{r['serial_s']:.1f} | {r['dask_local2_s']:.1f} | {r['speedup']:.2f}x | {r['same_metrics']} | {gbm} |")
    out = REPO / "benchmarks" / "results" / "backtest_parallel.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
