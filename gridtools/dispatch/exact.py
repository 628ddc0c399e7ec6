"""Exact reference for the spreading heuristic: a CP-SAT model (OR-Tools, the ``exact`` extra).

Same candidates and costs as :class:`~gridtools.dispatch.Dispatcher` with ``max_wait_slots=0``
(a truck docks in its arrival slot): choose one (route, arrival slot) per truck; each dock serves
at most its capacity per slot (hard); every segment-slot load above capacity counts as excess.
Objective: ``excess_weight * total excess + total (delay + detour) seconds``, the heuristic's own
lexicographic order.  Good for a few hundred trucks; use it to measure the heuristic's gap.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from gridtools.errors import missing_dependency

EXCESS_WEIGHT = 100_000


@dataclass
class ExactResult:
    """Choice per truck (route rank, arrival slot), objective parts and solver status."""

    choice: list
    excess: int
    cost_s: float
    objective: float
    bound: float
    status: str
    seconds: float

    @property
    def summary(self) -> dict:
        return {"status": self.status, "excess": self.excess, "cost_s": round(self.cost_s, 1),
                "objective": self.objective, "bound": self.bound, "seconds": round(self.seconds, 2)}

    def _repr_html_(self) -> str:
        return f"<p>ExactResult {self.summary}</p>"


def objective(dispatcher, assignments) -> dict:
    """The exact model's objective for assignments booked on ``dispatcher`` (heuristic side).

    Examples
    --------
    >>> objective(d, assignments)["excess"]      # doctest: +SKIP
    0
    """
    stats = dispatcher.load_stats()
    cost = float(sum(a.delay_s + a.detour_s for a in assignments))
    return {"excess": stats["excess_trucks"], "cost_s": cost, "objective": stats["excess_trucks"] * EXCESS_WEIGHT + cost}


def solve_exact(dispatcher, requests, time_limit_s: float = 30.0, workers: int = 2, hint=None) -> ExactResult:
    """Solve the spreading problem for ``requests`` exactly with CP-SAT.

    ``dispatcher`` supplies the network, park, route menus and settings; its loads must be empty
    (use a fresh one).  Candidates whose dock is full are left to the model's dock constraint.
    ``hint``: a starting solution, e.g. the heuristic's ``[(a.route_rank, a.road_slot), ...]``.

    Examples
    --------
    >>> res = solve_exact(Dispatcher(net, park, max_wait_slots=0), requests)   # doctest: +SKIP
    >>> res.status, res.excess                                                  # doctest: +SKIP
    ('OPTIMAL', 0)
    """
    try:
        from ortools.sat.python import cp_model
    except ImportError:
        raise missing_dependency("ortools", "exact") from None

    t0 = time.perf_counter()
    model = cp_model.CpModel()
    L = dispatcher.park.slot_s
    seg_use = defaultdict(list)
    dock_use = defaultdict(list)
    cand, obj = [], []
    for n, req in enumerate(requests):
        c = dispatcher.candidates(req)
        ss_all, starts, sizes = c["seg_slots"]
        earliest = c["earliest"].timestamp()
        xs = []
        for j, opt in enumerate(c["menu"]):
            for i, a in enumerate(c["slots"]):
                x = model.new_bool_var(f"x{n}_{j}_{i}")
                arrive = earliest + (int(a) - dispatcher.slot_of(c["earliest"])) * L
                cost = (arrive - earliest) + (opt.time_s - c["menu"][0].time_s)
                obj.append((int(round(cost)), x))
                xs.append((x, j, int(a)))
                dock_use[(c["dock_index"], int(a))].append(x)
                if c["large"]:
                    for row, slot in zip(opt.rows, ss_all[starts[j]:starts[j] + sizes[j], i]):
                        seg_use[(int(row), int(slot))].append(x)
        model.add_exactly_one([x for x, _, _ in xs])
        if hint is not None:
            for x, j, a in xs:
                model.add_hint(x, (j, a) == tuple(hint[n]))
        cand.append(xs)
    for (d, _), xs in dock_use.items():
        if len(xs) > dispatcher.dock_cap[d]:
            model.add(sum(xs) <= int(dispatcher.dock_cap[d]))
    chosen = set()
    if hint is not None:
        chosen = {id(x) for n, xs in enumerate(cand) for x, j, a in xs if (j, a) == tuple(hint[n])}
    excess = []
    for (row, _), xs in seg_use.items():
        cap = int(dispatcher.cap[row])
        if len(xs) > cap:
            e = model.new_int_var(0, len(xs) - cap, "e")
            model.add(sum(xs) - e <= cap)
            if hint is not None:  # a complete hint, so the solver starts from the heuristic's solution
                model.add_hint(e, max(0, sum(id(x) in chosen for x in xs) - cap))
            excess.append(e)
    model.minimize(EXCESS_WEIGHT * sum(excess) + sum(c * x for c, x in obj))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(workers)
    status = solver.solve(model)
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return ExactResult([], -1, float("nan"), float("nan"), solver.best_objective_bound, name,
                           time.perf_counter() - t0)
    choice = [next((j, a) for x, j, a in xs if solver.value(x)) for xs in cand]
    exc = int(sum(solver.value(e) for e in excess))
    cost = float(sum(c * solver.value(x) for c, x in obj))
    return ExactResult(choice, exc, cost, solver.objective_value, solver.best_objective_bound, name,
                       time.perf_counter() - t0)
