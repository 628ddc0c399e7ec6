"""Duplicate reports: a new report near an open case of the same type, reported shortly before,
is *suggested* to the dispatcher as a duplicate; only the dispatcher merges (never silently).

Merging closes the duplicate's loop (status ``closed``, resolution ``duplicate``, ``merged_into``
set) and keeps it: its reporter and photos stay attached to it and are listed with the case it
was merged into (:func:`merged_reporters`).

Examples
--------
>>> suggest_duplicates(store, 17)                       # doctest: +SKIP
   case_id  distance_m  hours_apart
0        9        12.3          0.5
>>> merge_duplicate(store, 17, into=9, actor="dispatcher:wang")   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridtools.coords import distance_m
from gridtools.errors import InputError
from gridtools.incidents.states import StateError

__all__ = ["DUPLICATE_HOURS", "DUPLICATE_METRES", "merge_duplicate", "merged_reporters", "suggest_duplicates"]

#: Default window: within this many metres ...
DUPLICATE_METRES = 50.0
#: ... and this many hours of an open case of the same type.
DUPLICATE_HOURS = 24.0
_OPEN = ("reported", "registered", "dispatched", "handled", "verified", "suspended")


def suggest_duplicates(store, case_id: int, *, metres: float = DUPLICATE_METRES,
                       hours: float = DUPLICATE_HOURS) -> pd.DataFrame:
    """Open cases that *case_id* may duplicate: same type, within *metres* and *hours* before or after.

    Parameters
    ----------
    store : IncidentStore
    case_id : int
        The new report.
    metres, hours : float
        The window (great-circle metres; hours between the report times).

    Returns
    -------
    pandas.DataFrame
        ``case_id``, ``status``, ``assignee``, ``reported_at``, ``distance_m``, ``hours_apart``,
        nearest first (empty when none, or when the case has no point).

    Examples
    --------
    >>> suggest_duplicates(store, 17, metres=30).case_id.tolist()   # doctest: +SKIP
    [9]
    """
    case = store.case(case_id)
    columns = ["case_id", "status", "assignee", "reported_at", "distance_m", "hours_apart"]
    if case["lon"] is None or case["lat"] is None or pd.isna(case["lon"]):
        return pd.DataFrame(columns=columns)
    marks = ", ".join("?" * len(_OPEN))
    others = store.database.frame(
        f"SELECT case_id, status, assignee, reported_at, lon, lat FROM cases WHERE type_code = ? AND case_id <> ? "
        f"AND status IN ({marks}) AND merged_into IS NULL AND lon IS NOT NULL AND lat IS NOT NULL "
        "AND lat BETWEEN ? AND ?", (case["type_code"], int(case_id), *_OPEN,
                                   case["lat"] - metres / 111_000, case["lat"] + metres / 111_000))
    if others.empty:
        return pd.DataFrame(columns=columns)
    others["distance_m"] = np.round(distance_m(case["lon"], case["lat"], others["lon"].to_numpy(float),
                                               others["lat"].to_numpy(float)), 1)
    apart = (pd.to_datetime(others["reported_at"]) - pd.Timestamp(case["reported_at"])).abs()
    others["hours_apart"] = (apart.dt.total_seconds() / 3600).round(2)
    near = others[(others["distance_m"] <= metres) & (others["hours_apart"] <= hours)]
    return near.sort_values(["distance_m", "case_id"])[columns].reset_index(drop=True)


def merge_duplicate(store, case_id: int, *, into: int, at=None, actor=None) -> None:
    """Close *case_id* as a duplicate of the open case *into*; both reports and photos are kept.

    Raises
    ------
    InputError
        The two are the same case, *into* is not open, or *case_id* is already closed or merged.
    """
    if int(case_id) == int(into):
        raise InputError(f"case {case_id} cannot be merged into itself.")
    target = store.case(into)
    if target["status"] not in _OPEN or target["merged_into"] is not None:
        raise StateError(f"case {into} is {target['status']}: merge into an open case.")
    store.close_as_duplicate(case_id, into=int(into), at=at, actor=actor)


def merged_reporters(store, case_id: int) -> pd.DataFrame:
    """The case and the cases merged into it: ``case_id``, ``reporter``, ``source``, ``reported_at``."""
    return store.database.frame(
        "SELECT case_id, reporter, source, reported_at FROM cases WHERE case_id = ? OR merged_into = ? "
        "ORDER BY case_id", (int(case_id), int(case_id)))
