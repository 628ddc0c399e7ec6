"""Hand-edit latency and a planner's session on real census blocks.

1. **Latency**: ``PlanEditor.move`` of one boundary unit (validated: locks, nesting, band, contiguity
   of both grids, seeds; then tallied) on Rockland blocks tiled twice (9,528 real block shapes,
   more than the 5,000 units of the goal).  Baseline in the same run: validating the whole plan
   after the move (``PlanEditor.problems()`` plus a fresh tally of every grid), which is what a
   tool without incremental checks does.  Goal: a move validated and tallied in < 50 ms.
2. **Session** on Rockland (4,764 blocks): lock 20 grids, move 50 units, undo 10; every
   intermediate state is checked with ``problems()``; refused moves are counted with their reason.

Run from the repository root (about a minute)::

    python benchmarks/bench_edits.py
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402

import gridtools  # noqa: E402
from gridtools.grids.edits import PlanEditor  # noqa: E402


KINDS = ("locked", "below the minimum", "above the maximum", "not contiguous", "empty", "seed", "nesting")


def reason_kind(reason: str) -> str:
    """The rule a refused edit broke, for counting."""
    return next((k for k in KINDS if k in reason), reason)


def random_moves(editor: PlanEditor, rng, count: int, skip: set, check_every_state: bool = False):
    """Try boundary moves of random unlocked grids until ``count`` are accepted."""
    names = [g for g in editor.tallies()["grid"] if g not in skip]
    latencies, cpu, refused = [], [], Counter()
    accepted = 0
    while accepted < count:
        grid = names[rng.integers(len(names))]
        candidates = editor.boundary_moves(grid)
        if not candidates:
            continue
        unit, to = candidates[rng.integers(len(candidates))]
        started, started_cpu = time.perf_counter(), time.thread_time()
        result = editor.move([unit], to)
        latencies.append(time.perf_counter() - started)
        cpu.append(time.thread_time() - started_cpu)
        if result.ok:
            accepted += 1
            if check_every_state:
                assert editor.problems() == [], editor.problems()
        else:
            refused[reason_kind(result.reason)] += 1
    random_moves.cpu = np.array(cpu)  # CPU time of the same moves: wall time minus waiting for a core
    return np.array(latencies), refused


def latency() -> None:
    blocks = C.tiled_rockland(2)
    if blocks is None:
        print(C.skip_message(C.ROCKLAND_BLOCKS))
        return
    result = gridtools.partition(blocks, pop="pop", min_pop=1000, max_pop=1500)
    started = time.perf_counter()
    editor = PlanEditor(result.units, "grid_code", "pop", min_pop=1000, max_pop=1500)
    setup = time.perf_counter() - started
    lat, refused = random_moves(editor, np.random.default_rng(1), 200, set())
    full = []
    for _ in range(20):
        started = time.perf_counter()
        editor.problems()
        np.bincount(editor.labels, weights=editor.values[:, 0])
        full.append(time.perf_counter() - started)
    med, p95, worst = np.median(lat) * 1e3, np.percentile(lat, 95) * 1e3, lat.max() * 1e3
    base = np.median(full) * 1e3
    print(f"## Edit latency ({C.machine()})\n")
    print(f"Units: {len(blocks):,} (Rockland blocks x2), grids: {len(editor.tallies())}, editor set-up {setup:.1f} s\n")
    print("| measure | ms |\n|---|---|")
    print(f"| move validated + tallied, median of {len(lat)} | {med:.2f} |")
    print(f"| move, 95th percentile | {p95:.2f} |\n| move, worst | {worst:.2f} |")
    print(f"| move, CPU time (thread), 95th percentile / worst | {np.percentile(random_moves.cpu, 95) * 1e3:.2f} / "
          f"{random_moves.cpu.max() * 1e3:.2f} |")
    print(f"| baseline: whole-plan validation + fresh tallies, median | {base:.1f} |\n")
    print(f"Goal < 50 ms: {'met' if p95 < 50 else 'NOT met'} (p95). Incremental move vs whole-plan check: "
          f"{base / med:.0f}x faster. Refused while sampling: {sum(refused.values())} ({dict(refused.most_common(4))})\n")


def session() -> None:
    blocks = C.rockland_blocks()
    if blocks is None:
        print(C.skip_message(C.ROCKLAND_BLOCKS))
        return
    result = gridtools.partition(blocks, pop="pop", min_pop=1000, max_pop=1500)
    editor = PlanEditor(result.units, "grid_code", "pop", min_pop=1000, max_pop=1500)
    names = editor.tallies()["grid"].tolist()
    rng = np.random.default_rng(0)
    locked = [names[i] for i in rng.choice(len(names), 20, replace=False)]
    editor.lock(*locked)
    before = {g: editor.members(editor.grid_id(g)).tolist() for g in locked}
    _, refused = random_moves(editor, rng, 50, set(locked), check_every_state=True)
    for _ in range(10):
        assert editor.undo().ok
        assert editor.problems() == []
    untouched = all(editor.members(editor.grid_id(g)).tolist() == before[g] for g in locked)
    tallies = editor.tallies()
    print("## Planner's session on Rockland (4,764 blocks)\n")
    print(f"- locked 20 grids, moved 50 units (accepted), undid 10: {len(editor.history)} edits left in the history")
    print(f"- every one of the 60 intermediate states valid (contiguous, band not worsened, locks, seeds): yes")
    print(f"- locked grids untouched: {untouched}; grids in band now: {int(tallies['in_band'].sum())} of {len(tallies)}")
    print(f"- moves refused on the way, by reason: {dict(refused)}\n")


if __name__ == "__main__":
    session()
    latency()
