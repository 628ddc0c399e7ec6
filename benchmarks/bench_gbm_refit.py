"""GBM time per fold: trained at every cutoff vs ``GBM(refit_days=28)``, same folds, same run.

Real data: Toronto Police Major Crime Indicators (``crime/toronto_mci``), one category at a time,
250 m cells, weekly folds from 2020-01-06.  Both variants run in the same backtest (the same
folds, interleaved fold by fold, so machine load hits both alike); the time per fold is the
backtest's own per-method wall time, and accuracy is the mean PAI (and hit rate) over the folds
at 1, 2 and 5 % coverage with the bootstrap interval of the paired difference.

    python benchmarks/bench_gbm_refit.py                       # Assault, 52 weekly folds
    python benchmarks/bench_gbm_refit.py --categories 2 --folds 26

Results: a markdown table on stdout and ``benchmarks/results/gbm_refit.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MCI = REPO.parent / "shared" / "data" / "crime" / "toronto_mci" / "toronto_mci_2014_2021.csv.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--categories", type=int, default=1)
    parser.add_argument("--folds", type=int, default=52)
    parser.add_argument("--start", default="2020-01-06")
    args = parser.parse_args()
    if not MCI.exists():
        print(f"SKIPPED: {MCI} not present (real data lives in ../shared/data)")
        return
    from gridtools import hotspots, io
    from gridtools.hotspots.estimators import GBM

    raw = io.read_events(MCI, lon="Long", lat="Lat")
    raw = raw[raw["occurrencedate"].astype(str) >= "2014"]
    rows = []
    for category in raw["MCI"].value_counts().index[: args.categories]:
        ev, cells = hotspots.prepare(raw, time="occurrencedate", cell=250.0, category_col="MCI",
                                     categories=[category])
        tic = time.perf_counter()
        result = hotspots.backtest(ev, cells, start=args.start, folds=args.folds, horizon_days=7, n_boot=2000,
                                   methods={"gbm": GBM(), "gbm_refit28": GBM(refit_days=28)})
        wall = time.perf_counter() - tic
        m = result.metrics
        row = {"category": category, "events": len(ev), "cells": len(cells), "folds": args.folds,
               "gbm_s_per_fold": result.seconds["gbm"] / args.folds,
               "gbm_refit28_s_per_fold": result.seconds["gbm_refit28"] / args.folds,
               "backtest_wall_s": wall, "load_average": list(os.getloadavg())}
        row["speedup"] = row["gbm_s_per_fold"] / row["gbm_refit28_s_per_fold"]
        for cov in (0.01, 0.02, 0.05):
            a = m[(m["method"] == "gbm") & (m["coverage"] == cov)].sort_values("fold")
            b = m[(m["method"] == "gbm_refit28") & (m["coverage"] == cov)].sort_values("fold")
            s = result.summary[result.summary["coverage"] == cov].set_index("method")
            row[f"pai@{cov:g}"] = {"gbm": float(a["pai"].mean()), "gbm_refit28": float(b["pai"].mean()),
                                   "gbm_ci": [float(s.loc["gbm", "pai_ci_low"]), float(s.loc["gbm", "pai_ci_high"])],
                                   "hit_rate": [float(a["hit_rate"].mean()), float(b["hit_rate"].mean())]}
        rows.append(row)
        print(row, flush=True)
    print("\n| category | events | folds | GBM s/fold | GBM refit 28 d s/fold | speed-up | PAI@1% | PAI@2% | PAI@5% |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        pai = " | ".join(f"{r[f'pai@{c:g}']['gbm']:.2f} vs {r[f'pai@{c:g}']['gbm_refit28']:.2f}" for c in (0.01, 0.02, 0.05))
        print(f"| {r['category']} | {r['events']:,} | {r['folds']} | {r['gbm_s_per_fold']:.2f} | "
              f"{r['gbm_refit28_s_per_fold']:.2f} | {r['speedup']:.2f}x | {pai} |")
    out = REPO / "benchmarks" / "results" / "gbm_refit.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
