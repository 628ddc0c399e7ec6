"""Assessment in the manner of GB/T 30428.4 (digital city management: performance evaluation), as
deployed systems compute it, from the case store over any period.

Subjects and indicators (rates are shares in 0..1 of the cases counted for the subject):

* ``department`` (cases dispatched or reassigned to ``department:<name>``): ``received``,
  ``handled``, ``on_time_rate`` (handled by the deadline / handled), ``rework_rate`` (cases sent
  back at least once / handled), ``closure_rate`` (closed / received), ``postpone_rate``
  (postponed at least once / received), ``mean_handling_hours`` (dispatch to handled).
* ``reporter`` (who filed the report: ``cases.reporter``, else ``source``): ``reports``,
  ``valid_rate`` (registered, i.e. not rejected, / decided), ``verifications`` and
  ``on_time_verify_rate`` (verified within :data:`VERIFY_HOURS` calendar hours of handling, by
  the actor of the verify step).
* ``dispatcher`` (the actor of the dispatch step): ``dispatched``, ``on_time_dispatch_rate``
  (dispatched within ``settings.incident_dispatch_minutes`` (urgent: ``..._urgent``) of the
  report), ``accurate_dispatch_rate`` (never reassigned / dispatched).
* ``grid`` and ``community``: ``cases``, ``closed``, ``closure_rate``, ``on_time_rate``,
  ``solved_in_grid_share`` (closed at grid level without a department, never escalated),
  ``escalated_share`` (closed after an escalation), ``department_share`` (closed by a
  department: the "enforcement" part) - Wujiang's 70 / 20 / 10.

Each subject gets ``score`` = 100 x the weighted mean of its indicators (``better = lower``
counts 1 - rate) with the weights of a table a city can load (:func:`load_weights`, default the
shipped ``data/assessment_weights.csv``), and ``grade`` by :data:`GRADES`.  Cases count in the
period by their report time; :func:`assess` with ``compare=True`` adds the previous period
(the previous calendar month for a month) and the change.

Examples
--------
>>> table = assess(store, "department", period=("2026-11-01", "2026-12-01"), compare=True)  # doctest: +SKIP
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

from gridtools import io, settings, timeparse, validate
from gridtools.errors import InputError

__all__ = ["GRADES", "INDICATORS", "SUBJECTS", "VERIFY_HOURS", "assess", "load_weights", "previous_period"]

SUBJECTS = ("department", "reporter", "dispatcher", "grid", "community")
#: (lowest score, grade), best first.
GRADES = ((90.0, "A"), (80.0, "B"), (60.0, "C"), (0.0, "D"))
#: A verification within this many calendar hours of the handling is on time.
VERIFY_HOURS = 2.0


def load_weights(path=None) -> pd.DataFrame:
    """The weights table: ``subject``, ``indicator``, ``weight`` (> 0), ``better`` (higher / lower).

    Examples
    --------
    >>> float(load_weights().query("subject == 'department'")["weight"].sum())
    1.0
    """
    if path is None:
        with resources.files("gridtools").joinpath("data/assessment_weights.csv").open(encoding="utf-8") as f:
            table = pd.read_csv(f)
        table.attrs["source"] = "the shipped assessment weights"
    else:
        table = io.read_text_table(path)
    source = table.attrs.get("source", str(path))
    validate.require_columns(table, {c: c for c in ("subject", "indicator", "weight", "better")}, source)
    table = table.assign(weight=pd.to_numeric(table["weight"], errors="coerce"),
                         better=table["better"].astype(str).str.strip().str.lower())
    bad = ~table["subject"].isin(SUBJECTS) | ~(table["weight"] > 0) | ~table["better"].isin(["higher", "lower"])
    if bad.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad.to_numpy())[:10])
        raise InputError(f"{source}: rows {rows} need subject in {', '.join(SUBJECTS)}, a weight > 0 and better = "
                         "higher or lower.")
    return table


def previous_period(start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The period before [start, end): the previous calendar month for a whole month, else as long.

    Examples
    --------
    >>> [str(t.date()) for t in previous_period("2026-11-01", "2026-12-01")]
    ['2026-10-01', '2026-11-01']
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if start.day == 1 and start.time() == pd.Timestamp(0).time() and end == start + pd.offsets.MonthBegin(1):
        return start - pd.offsets.MonthBegin(1), start
    return start - (end - start), start


def _rate(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num / den).where(den > 0)


def _frame(store, start, end) -> tuple[pd.DataFrame, pd.DataFrame]:
    cases = store.database.frame(
        "SELECT c.*, t.urgent FROM cases c JOIN event_types t ON t.code = c.type_code "
        "WHERE c.reported_at >= ? AND c.reported_at < ? AND (c.resolution IS NULL OR c.resolution <> 'duplicate')",
        (str(start), str(end)))
    for col in ("reported_at", "dispatched_at", "handled_at", "verified_at", "closed_at", "deadline_at"):
        cases[col] = pd.to_datetime(cases[col])
    log = store.database.frame(
        "SELECT l.case_id, l.action, l.actor, l.at FROM case_log l JOIN cases c ON c.case_id = l.case_id "
        "WHERE c.reported_at >= ? AND c.reported_at < ?", (str(start), str(end)))
    return cases, log


def _departments(cases, log):
    dept = cases["assignee"].where(cases["assignee"].fillna("").str.startswith("department:"))
    dept = dept.fillna(cases["department"].map(lambda d: f"department:{d}" if isinstance(d, str) else None))
    c = cases.assign(key=dept.astype("string").str.removeprefix("department:")).dropna(subset=["key"])
    handled = c["handled_at"].notna() | c["status"].isin(["verified", "closed"])
    frame = pd.DataFrame({
        "key": c["key"], "received": 1, "handled": handled.astype(int),
        "on_time": (handled & (c["handled_at"] <= c["deadline_at"])).astype(int),
        "reworked": (handled & (c["reworks"] > 0)).astype(int), "closed": (c["status"] == "closed").astype(int),
        "postponed": (c["postponements"] > 0).astype(int),
        "hours": (c["handled_at"] - c["dispatched_at"]).dt.total_seconds() / 3600})
    g = frame.groupby("key")
    out = g[["received", "handled", "on_time", "reworked", "closed", "postponed"]].sum()
    out["on_time_rate"] = _rate(out["on_time"], out["handled"])
    out["rework_rate"] = _rate(out["reworked"], out["handled"])
    out["closure_rate"] = _rate(out["closed"], out["received"])
    out["postpone_rate"] = _rate(out["postponed"], out["received"])
    out["mean_handling_hours"] = g["hours"].mean().round(2)
    return out.drop(columns=["on_time", "reworked", "closed", "postponed"])


def _reporters(cases, log):
    who = cases["reporter"].fillna(cases["source"]).fillna("(unknown)")
    decided = cases["status"] != "reported"
    reports = pd.DataFrame({"key": who, "reports": 1, "decided": decided.astype(int),
                            "valid": (decided & (cases["status"] != "rejected")).astype(int)}).groupby("key").sum()
    verify = log[log["action"] == "verify"].merge(cases[["case_id", "handled_at"]], on="case_id")
    late = (pd.to_datetime(verify["at"]) - verify["handled_at"]).dt.total_seconds() / 3600 > VERIFY_HOURS
    checks = pd.DataFrame({"key": verify["actor"].fillna("(unknown)"), "verifications": 1,
                           "on_time_verify": (~late).astype(int)}).groupby("key").sum()
    out = reports.join(checks, how="outer").fillna(0).astype(int)
    out["valid_rate"] = _rate(out["valid"], out["decided"])
    out["on_time_verify_rate"] = _rate(out["on_time_verify"], out["verifications"])
    return out.drop(columns=["valid", "decided", "on_time_verify"])


def _dispatchers(cases, log):
    steps = log[log["action"] == "dispatch"].drop_duplicates("case_id")
    d = steps.merge(cases[["case_id", "reported_at", "urgent", "reassignments"]], on="case_id")
    limit = np.where(d["urgent"].astype(bool), settings.incident_dispatch_minutes_urgent,
                     settings.incident_dispatch_minutes)
    minutes = (pd.to_datetime(d["at"]) - d["reported_at"]).dt.total_seconds() / 60
    frame = pd.DataFrame({"key": d["actor"].fillna("(unknown)"), "dispatched": 1,
                          "on_time": (minutes <= limit).astype(int), "accurate": (d["reassignments"] == 0).astype(int)})
    out = frame.groupby("key").sum()
    out["on_time_dispatch_rate"] = _rate(out["on_time"], out["dispatched"])
    out["accurate_dispatch_rate"] = _rate(out["accurate"], out["dispatched"])
    return out.drop(columns=["on_time", "accurate"])


def _areas(column):
    def compute(cases, log):
        c = cases.assign(key=cases[column].fillna("(outside grids)"))
        closed = c["status"] == "closed"
        by_dept = c["assignee"].fillna("").str.startswith("department:")
        frame = pd.DataFrame({
            "key": c["key"], "cases": 1, "closed": closed.astype(int),
            "on_time": (closed & (c["handled_at"] <= c["deadline_at"])).astype(int),
            "in_grid": (closed & (c["escalations"] == 0) & ~by_dept).astype(int),
            "escalated": (closed & (c["escalations"] > 0)).astype(int),
            "by_department": (closed & (c["escalations"] == 0) & by_dept).astype(int)})
        out = frame.groupby("key").sum()
        out["closure_rate"] = _rate(out["closed"], out["cases"])
        out["on_time_rate"] = _rate(out["on_time"], out["closed"])
        out["solved_in_grid_share"] = _rate(out["in_grid"], out["closed"])
        out["escalated_share"] = _rate(out["escalated"], out["closed"])
        out["department_share"] = _rate(out["by_department"], out["closed"])
        return out.drop(columns=["on_time", "in_grid", "escalated", "by_department"])
    return compute


#: The rates each subject has (what a weights table may name).
INDICATORS = {
    "department": ("on_time_rate", "rework_rate", "closure_rate", "postpone_rate"),
    "reporter": ("valid_rate", "on_time_verify_rate"),
    "dispatcher": ("on_time_dispatch_rate", "accurate_dispatch_rate"),
    "grid": ("closure_rate", "on_time_rate", "solved_in_grid_share", "escalated_share", "department_share"),
    "community": ("closure_rate", "on_time_rate", "solved_in_grid_share", "escalated_share", "department_share"),
}
_COMPUTE = {"department": _departments, "reporter": _reporters, "dispatcher": _dispatchers,
            "grid": _areas("grid_code"), "community": _areas("community_code")}


def _score(table: pd.DataFrame, weights: pd.DataFrame) -> pd.DataFrame:
    score = pd.Series(0.0, index=table.index)
    total = pd.Series(0.0, index=table.index)
    for row in weights.itertuples(index=False):
        value = table[row.indicator]
        value = 1 - value if row.better == "lower" else value
        score += (value * row.weight).fillna(0)
        total += value.notna() * row.weight  # an indicator with nothing to count is left out
    table["score"] = (100 * score / total.where(total > 0)).round(1)
    table["grade"] = table["score"].map(lambda s: next((g for low, g in GRADES if s >= low), None)
                                        if pd.notna(s) else None)
    return table


def assess(store, subject: str, *, period, weights: pd.DataFrame | None = None, compare: bool = False) -> pd.DataFrame:
    """Indicators, composite score and grade per department / reporter / dispatcher / grid / community.

    Parameters
    ----------
    store : IncidentStore
    subject : {"department", "reporter", "dispatcher", "grid", "community"}
    period : (start, end)
        Cases reported in [start, end) count (times or dates, local).
    weights : pandas.DataFrame, optional
        :func:`load_weights` table (default: the shipped one).
    compare : bool
        Add ``score_previous`` and ``score_change`` (the previous period: :func:`previous_period`).

    Returns
    -------
    pandas.DataFrame
        One row per subject (index named *subject*), best score first.

    Examples
    --------
    >>> assess(store, "grid", period=("2026-11-01", "2026-12-01"))["grade"].tolist()  # doctest: +SKIP
    ['A', 'C']
    """
    if subject not in SUBJECTS:
        raise InputError(f"subject={subject!r}: use one of {', '.join(SUBJECTS)}.")
    start, end = (timeparse.parse_moment(p, what=f"period {which}", aware="local")
                  for p, which in zip(period, ("start", "end"), strict=True))
    if not start < end:
        raise InputError(f"period=({period[0]!r}, {period[1]!r}): the start must come before the end.")
    weights = load_weights() if weights is None else weights
    mine = weights[weights["subject"] == subject]
    unknown = set(mine["indicator"]) - set(INDICATORS[subject])
    if unknown:
        raise InputError(f"weights for {subject}: unknown indicators {', '.join(sorted(unknown))}.")
    table = _score(_COMPUTE[subject](*_frame(store, start, end)), mine)
    if compare:
        before = _score(_COMPUTE[subject](*_frame(store, *previous_period(start, end))), mine)
        table["score_previous"] = before["score"].reindex(table.index)
        table["score_change"] = (table["score"] - table["score_previous"]).round(1)
    table.index.name = subject
    return table.sort_values(["score"], ascending=False, na_position="last")
