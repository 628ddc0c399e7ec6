"""Benchmark ``gridtools.partition`` against PySAL spopt's max-p heuristic, in the same run.

What it measures, for every case (one fresh subprocess per case, so memory and imports of one
case never leak into the next):

* wall time of the call (gridtools: ``partition()``; spopt: building the libpysal Rook weights
  + ``MaxPHeuristic.solve()``; preparing the input is not timed);
* peak resident memory of the case's process tree (psutil RSS sampled every 20 ms, with
  ``getrusage`` as a floor; ``tracemalloc`` would miss GEOS / METIS / numpy C allocations), and
  the part of it added by the call (peak minus RSS just before the call);
* grid quality with the same code for both methods: share of all grids in the 1,000-1,500 band,
  shares above / below it, population min / median / max, median Polsby-Popper (in a metric CRS),
  number of multi-part grid polygons; for gridtools also ``share_feasible_in_band`` and
  ``all_contiguous`` from its own summary.

Inputs: real census blocks (Providence 3,014; Rockland 4,764 from ``../shared/data``), larger
inputs made of translated copies of the real Rockland blocks (x2, x8, x21 = 9.5k, 38k, 100k
units), and synthetic Voronoi cells (10k, 40k, 100k; ~25 residents per cell, resampled from
Rockland's block populations including its ~26 % empty blocks).

Then ratios against the baseline measured in this run (spopt time / gridtools time, memory
ratio), and the parallel speed-up of ``n_jobs=1`` against the default on multi-piece inputs.

Run from the repository root::

    python benchmarks/bench_partition.py            # default, about 8-10 min on 2 cores
    python benchmarks/bench_partition.py --quick    # about 3 min
    python benchmarks/bench_partition.py --full     # + spopt defaults, spopt on tiles x2 (up to ~30 min)

Results: a markdown report on stdout and ``benchmarks/results/partition.json``.
Real-data cases are skipped with a message when ``../shared/data`` is absent.  Needs ``spopt``
and ``psutil`` (``pip install spopt psutil``) for the baseline and the memory figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402

LO, HI = 1000, 1500
#: Codes with a 4-digit grid serial: inputs of 2.5M+ residents in one nesting area need more than
#: the 999 grids the default 3-digit serial can number (gridtools raises InputError then).
WIDE_CODES = (6, 3, 3, 4, 2)
#: spopt settings.  "fast": one construction and one annealing pass (the cheapest setting that
#: still runs both phases).  "default": spopt's own defaults (99 constructions, 10 SA passes).
SPOPT_SETTINGS = {"fast": (1, 1), "default": (99, 10)}


# --------------------------------------------------------------------------------------------
# inputs (built inside the case's subprocess)


def describe_input(name: str) -> str:
    kind, _, arg = name.partition(":")
    if kind == "providence":
        return "Providence blocks (real)"
    if kind == "rockland":
        return "Rockland blocks (real)"
    if kind == "tiles":
        return f"Rockland blocks x{arg} (real shapes, tiled)"
    if kind == "voronoi":
        n, _, d = arg.partition(":")
        return f"Voronoi {int(n) // 1000}k (synthetic)" + (f", {d} districts" if d else "")
    raise ValueError(name)


def needs_real_data(name: str) -> Path | None:
    kind = name.split(":")[0]
    return {"providence": C.PROVIDENCE_BLOCKS, "rockland": C.ROCKLAND_BLOCKS,
            "tiles": C.ROCKLAND_BLOCKS}.get(kind)


def build_input(name: str):
    """(units, metric CRS for measures, note)."""
    kind, _, arg = name.partition(":")
    if kind == "providence":
        return C.providence_blocks(), C.UTM18, ""
    if kind == "rockland":
        return C.rockland_blocks(), C.UTM18, ""
    if kind == "tiles":
        units = C.tiled_rockland(int(arg))
        units["copy"] = units["copy"].astype(str)
        return units, C.UTM18, ""
    if kind == "voronoi":
        n, _, d = arg.partition(":")
        units, note = C.voronoi_units(int(n), seed=0, districts=int(d) if d else 0)
        return units, C.UTM50, note
    raise ValueError(name)


# --------------------------------------------------------------------------------------------
# one case, in a subprocess


def run_case(case: dict) -> dict:
    warnings.filterwarnings("ignore")
    import numpy as np

    units, metric_crs, note = build_input(case["input"])
    out = {"n_units": int(len(units)), "population": float(units["pop"].sum()), "input_note": note}
    if case["method"] == "gridtools":
        import gridtools

        kwargs = {"pop": "pop", "min_pop": LO, "max_pop": HI, "within": case.get("within"),
                  "n_jobs": case.get("n_jobs")}
        if case.get("wide_codes"):
            kwargs["code_layout"] = WIDE_CODES
        probe = C.PeakRSS()
        before = probe.current()
        with probe:
            t0 = time.perf_counter()
            result = gridtools.partition(units, **kwargs)
            seconds = time.perf_counter() - t0
        s = result.summary
        out.update(seconds=seconds, peak_rss=probe.peak, added_rss=probe.peak - before,
                   pool_worker_max_rss=getattr(probe, "children_max", None),
                   share_feasible_in_band=s["share_feasible_in_band"], all_contiguous=bool(s["all_contiguous"]),
                   oversize_units=int(s["oversize_units"]), infeasible_pieces=int(s["infeasible_pieces"]),
                   out_of_band_feasible=int((result.grids["status"] == "out_of_band").sum()),
                   gridtools_median_pp=float(s["median_polsby_popper"]))
        labels = result.units["grid_code"].to_numpy()
    elif case["method"] == "spopt":
        import libpysal
        from spopt.region import MaxPHeuristic

        iters = SPOPT_SETTINGS[case["spopt"]]
        np.random.seed(0)
        frame = units.reset_index(drop=True)
        probe = C.PeakRSS()
        before = probe.current()
        with probe:
            t0 = time.perf_counter()
            w = libpysal.weights.Rook.from_dataframe(frame, use_index=False, silence_warnings=True)
            t_w = time.perf_counter() - t0
            model = MaxPHeuristic(frame, w, ["pop"], "pop", LO, max_iterations_construction=iters[0],
                                  max_iterations_sa=iters[1])
            model.solve()
            seconds = time.perf_counter() - t0
        out.update(seconds=seconds, weights_seconds=t_w, peak_rss=probe.peak, added_rss=probe.peak - before,
                   spopt_iterations=list(iters), w_components=int(w.n_components))
        labels = np.asarray(model.labels_)
    else:
        raise ValueError(case["method"])
    out.update(C.measure_regions(units, labels, "pop", LO, HI, metric_crs))
    return out


# --------------------------------------------------------------------------------------------
# the driver


def case_label(case: dict) -> str:
    if case["method"] == "spopt":
        return f"spopt max-p ({case['spopt']})"
    extra = []
    if case.get("within"):
        extra.append(f"within={case['within']}")
    if "n_jobs" in case:
        extra.append(f"n_jobs={case['n_jobs'] if case['n_jobs'] is not None else 'default'}")
    return "gridtools" + (f" ({', '.join(extra)})" if extra else "")


def launch(case: dict, timeout: float) -> dict:
    """Run one case in a fresh interpreter; kill its whole process group at the timeout."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--run-case", json.dumps(case)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {**case, "status": "timeout", "timeout_s": timeout,
                "elapsed_s": time.perf_counter() - started}
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(stderr.strip().splitlines()[-6:])
        return {**case, "status": "error", "error": tail, "elapsed_s": time.perf_counter() - started}
    return {**case, "status": "ok", **json.loads(lines[-1][len("RESULT "):]),
            "elapsed_s": time.perf_counter() - started}


def plan(args) -> tuple[list[dict], list[tuple[str, str, str]]]:
    """Cases to run, and the (input, within, pieces note) of the parallel comparisons."""
    if args.quick:
        gt_inputs = ["providence", "rockland", "tiles:2", "voronoi:10000"]
        sp = [("rockland", "fast")]
        par = [("providence", "WARD", "15 wards"), ("voronoi:100000:8", "district", "8 districts")]
    else:
        gt_inputs = ["providence", "rockland", "tiles:2", "tiles:8", "tiles:21",
                     "voronoi:10000", "voronoi:40000", "voronoi:100000"]
        sp = [("providence", "fast"), ("rockland", "fast"), ("voronoi:10000", "fast")]
        par = [("providence", "WARD", "15 wards"), ("voronoi:100000:8", "district", "8 districts"),
               ("tiles:21", "copy", "21 copies")]
    if args.full:
        sp += [("tiles:2", "fast"), ("providence", "default"),
               ("rockland", "default")]
    cases = []
    for name in gt_inputs:
        wide = name.startswith(("tiles:8", "tiles:21", "voronoi:100000"))
        cases.append({"group": "compare", "input": name, "method": "gridtools", "wide_codes": wide})
    for name, setting in sp:
        cases.append({"group": "compare", "input": name, "method": "spopt", "spopt": setting})
    for name, within, _ in par:
        for n_jobs in (1, None):
            cases.append({"group": "parallel", "input": name, "method": "gridtools", "within": within,
                          "n_jobs": n_jobs, "wide_codes": name.startswith("tiles:21")})
    return cases, par


def pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def num(x, digits=0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def report(results: list[dict], par, args, started: float) -> str:
    out = []
    ok = [r for r in results if r["status"] == "ok"]
    out.append(f"# gridtools.partition benchmark ({dt.date.today().isoformat()}; {C.machine()})\n")
    out.append(f"Band {LO:,}-{HI:,} residents. One subprocess per case. Total run "
               f"{(time.perf_counter() - started) / 60:.1f} min.\n")
    out.append("## Speed, memory and grid quality\n")
    out.append("| input | units | residents | method | seconds | peak RSS MB | added MB | grids | "
               "in band (all) | feasible in band | >1,500 | <1,000 | pop min / median / max | "
               "median PP | multi-part | contiguous |")
    out.append("|" + "---|" * 16)
    for r in results:
        if r["group"] != "compare":
            continue
        head = f"| {describe_input(r['input'])} | "
        if r["status"] == "skipped":
            out.append(head + f"- | - | {case_label(r)} | {r['reason']} |" + " |" * 11)
            continue
        if r["status"] == "timeout":
            out.append(head + f"- | - | {case_label(r)} | **did not finish in {r['timeout_s']:.0f} s** |" + " |" * 11)
            continue
        if r["status"] == "error":
            out.append(head + f"- | - | {case_label(r)} | **error**: {r['error'].splitlines()[-1][:120]} |" + " |" * 11)
            continue
        contiguous = ("yes" if r["all_contiguous"] else "**NO**") if "all_contiguous" in r else "(graph not checked)"
        out.append(
            head + f"{r['n_units']:,} | {r['population']:,.0f} | {case_label(r)} | {r['seconds']:.1f} | "
            f"{C.fmt_mb(r['peak_rss'])} | {C.fmt_mb(r['added_rss'])} | {r['n_regions']:,} | {pct(r['share_in_band'])} | "
            f"{pct(r.get('share_feasible_in_band'))} | {pct(r['share_above_max'])} | {pct(r['share_below_min'])} | "
            f"{r['pop_min']:,.0f} / {r['pop_median']:,.0f} / {r['pop_max']:,.0f} | {r['pp_median']:.3f} | "
            f"{r['multi_part']} | {contiguous} |")
    out.append("")
    out.append("*added MB* = peak RSS of the case's process tree minus RSS just before the call (input "
               "loaded, libraries imported). *feasible in band*: gridtools' own share over grids that are "
               "not an over-size unit or an infeasible piece. spopt max-p has no upper bound, only the 1,000 "
               "threshold. *multi-part*: grid polygons with more than one part (units joined only by an "
               "island link, e.g. across tiled copies). *contiguous*: gridtools' `all_contiguous` (rook graph "
               "+ island links).\n")

    out.append("## Ratios against the spopt baseline of this run\n")
    out.append("| input | spopt setting | spopt s | gridtools s | time ratio (spopt / gridtools) | "
               "peak RSS ratio | added-RSS ratio |")
    out.append("|---|---|---|---|---|---|---|")
    gt = {r["input"]: r for r in ok if r["group"] == "compare" and r["method"] == "gridtools"}
    for r in results:
        if r["group"] != "compare" or r["method"] != "spopt":
            continue
        g = gt.get(r["input"])
        if g is None:
            continue
        if r["status"] == "timeout":
            out.append(f"| {describe_input(r['input'])} | {r['spopt']} | did not finish in {r['timeout_s']:.0f} s | "
                       f"{g['seconds']:.1f} | > {r['timeout_s'] / g['seconds']:,.0f}x | - | - |")
        elif r["status"] == "ok":
            out.append(f"| {describe_input(r['input'])} | {r['spopt']} | {r['seconds']:.1f} | {g['seconds']:.1f} | "
                       f"{r['seconds'] / g['seconds']:,.0f}x | {r['peak_rss'] / g['peak_rss']:.1f}x | "
                       f"{r['added_rss'] / max(g['added_rss'], 1):.1f}x |")
    out.append("")
    out.append("spopt 0.7's max-p builds a dense n x n attribute-distance matrix (8 n^2 bytes: 0.8 GB at 10k, "
               "12.8 GB at 40k, 80 GB at 100k units), so it is not run above 10k units.\n")

    out.append("## Parallel pieces: n_jobs=1 against the default (all cores)\n")
    out.append("| input | units | pieces | n_jobs=1 s | default s | speed-up | same grids |")
    out.append("|---|---|---|---|---|---|---|")
    for name, within, pieces in par:
        rs = [r for r in results if r["group"] == "parallel" and r["input"] == name]
        one = next((r for r in rs if r["n_jobs"] == 1), None)
        many = next((r for r in rs if r["n_jobs"] is None), None)
        if not one or not many or one["status"] != "ok" or many["status"] != "ok":
            why = (one or many or {}).get("reason") or "not run / failed"
            out.append(f"| {describe_input(name)} | - | {pieces} | - | - | {why} | - |")
            continue
        same = "yes" if (one["n_regions"], one["pop_median"]) == (many["n_regions"], many["pop_median"]) else "no"
        out.append(f"| {describe_input(name)} | {one['n_units']:,} | {pieces} (within={within}) | "
                   f"{one['seconds']:.1f} | {many['seconds']:.1f} | {one['seconds'] / many['seconds']:.2f}x | {same} |")
    out.append("")
    out.append("gridtools only starts worker processes when the pieces total at least 20,000 units "
               "(`_MIN_UNITS_FOR_PROCESSES`), so smaller inputs run the same serial code either way. "
               "Only solving the pieces runs in parallel; the adjacency graph, the dissolve and the codes "
               "are serial.\n")
    notes = sorted({r["input_note"] for r in ok if r.get("input_note")})
    if notes:
        out.append("Synthetic populations: " + "; ".join(notes) + ".\n")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small inputs only (about 3 min)")
    parser.add_argument("--full", action="store_true",
                        help="add spopt on the tiled 9.5k input and spopt with its default iterations (up to ~30 min)")
    parser.add_argument("--spopt-timeout", type=float, default=480.0, help="cap per spopt case, seconds (480)")
    parser.add_argument("--timeout", type=float, default=600.0, help="cap per gridtools case, seconds (600)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "partition.json")
    parser.add_argument("--run-case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.run_case:
        result = run_case(json.loads(args.run_case))
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    started = time.perf_counter()
    cases, par = plan(args)
    try:
        import spopt  # noqa: F401
        have_spopt = True
    except ImportError:
        have_spopt = False
        print("spopt not installed: baseline skipped (pip install spopt)", file=sys.stderr)
    results = []
    for i, case in enumerate(cases, 1):
        label = f"[{i}/{len(cases)}] {describe_input(case['input'])} - {case_label(case)}"
        data = needs_real_data(case["input"])
        if data is not None and not data.exists():
            print(f"{label}: {C.skip_message(data)}", file=sys.stderr, flush=True)
            results.append({**case, "status": "skipped", "reason": "skipped: real data absent"})
            continue
        if case["method"] == "spopt" and not have_spopt:
            results.append({**case, "status": "skipped", "reason": "skipped: spopt not installed"})
            continue
        cap = args.spopt_timeout if case["method"] == "spopt" else args.timeout
        print(f"{label} ...", end=" ", file=sys.stderr, flush=True)
        r = launch(case, cap)
        shown = {"ok": lambda: f"{r['seconds']:.1f} s", "timeout": lambda: f"did not finish in {cap:.0f} s",
                 "error": lambda: "ERROR\n" + r["error"]}[r["status"]]()
        print(shown, file=sys.stderr, flush=True)
        results.append(r)

    text = report(results, par, args, started)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": C.machine(),
               "command": " ".join([Path(sys.executable).name, *sys.argv]), "band": [LO, HI],
               "cases": results}
    args.out.write_text(json.dumps(payload, indent=1))
    print(f"\n(results written to {args.out.relative_to(C.REPO) if args.out.is_relative_to(C.REPO) else args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
