"""Hit rate, PAI and PEI of a forecast at given shares of the study area.

Definitions (cells are area-weighted: a cell clipped by the study boundary counts only its area
inside it)

* Cells are ranked by predicted risk per unit area (for equal square cells: by risk); ties are
  broken by a fixed pseudo-random order of the cells (seeded, so reproducible, and not biased
  towards any corner of the map as cell order would be).
* For a coverage ``p``, the flagged set is the shortest prefix of that ranking whose area
  reaches ``p`` x the study area; ``area_share`` is its actual area share (>= ``p``).
* ``hit_rate`` = events of the horizon in flagged cells / all events of the horizon in the
  study area.
* ``pai`` (Predictive Accuracy Index, Chainey et al. 2008) = ``hit_rate / area_share``.
* ``pei`` (Predictive Efficiency Index, Hunt 2016) = flagged events / the most events any set of
  cells of the same total area could have caught.  That maximum is computed by an oracle that
  knows the horizon's counts, ranks cells by events per unit area and takes the last cell
  fractionally (the linear-programming bound, so ``0 <= pei <= 1`` always).

A horizon without events has undefined hit rate, PAI and PEI (NaN).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridtools import settings

__all__ = ["rank_cells", "hit_metrics", "flagged_count", "window_hits"]


def _tiebreak(n: int, random_state: int | None) -> np.ndarray:
    rng = np.random.default_rng(settings.random_state if random_state is None else random_state)
    return rng.permutation(n)


def rank_cells(risk, area, random_state: int | None = None) -> np.ndarray:
    """Cell positions from most to least risky per unit area (seeded random tie-break).

    Examples
    --------
    >>> rank_cells([1.0, 3.0, 2.0], [1.0, 1.0, 1.0]).tolist()
    [1, 2, 0]
    """
    risk, area = np.asarray(risk, dtype=float), np.asarray(area, dtype=float)
    density = np.where(area > 0, risk / np.where(area > 0, area, 1.0), -np.inf)
    density = np.nan_to_num(density, nan=-np.inf)
    return np.lexsort((_tiebreak(len(risk), random_state), -density))


def flagged_count(area_in_rank_order, share: float) -> int:
    """How many cells, riskiest first, are flagged at *share* of the area: the shortest prefix whose
    area reaches it (the rule of the metrics, the maps, the reports and the patrol areas).

    Examples
    --------
    >>> flagged_count([1.0, 1.0, 1.0, 1.0], 0.5), flagged_count([1.0, 1.0, 1.0, 1.0], 0.6)
    (2, 3)
    """
    cum = np.cumsum(np.asarray(area_in_rank_order, dtype=float))
    k = int(np.searchsorted(cum, share * cum[-1] * (1 - 1e-12), side="left"))
    return min(k, len(cum) - 1) + 1


def hit_metrics(
    risk, area, actual, coverages=None, *, random_state: int | None = None
) -> pd.DataFrame:
    """Hit rate, PAI and PEI of a forecast at each coverage.

    Parameters
    ----------
    risk : array-like
        Predicted risk per cell.
    area : array-like
        Area of each cell in the study area.
    actual : array-like
        Events per cell in the forecast horizon.
    coverages : sequence of float, default ``settings.hotspot_coverages``
        Shares of the study area (0-1].

    Returns
    -------
    pandas.DataFrame
        One row per coverage: ``coverage``, ``area_share``, ``n_cells``, ``hits``, ``n_events``,
        ``hit_rate``, ``pai``, ``pei``.

    Examples
    --------
    >>> m = hit_metrics([5, 1, 0, 0], [1, 1, 1, 1], [3, 0, 1, 0], coverages=[0.25, 0.5])
    >>> m[["coverage", "hits", "hit_rate", "pai", "pei"]].values.tolist()
    [[0.25, 3.0, 0.75, 3.0, 1.0], [0.5, 3.0, 0.75, 1.5, 0.75]]
    """
    coverages = settings.hotspot_coverages if coverages is None else coverages
    risk, area, actual = (np.asarray(v, dtype=float) for v in (risk, area, actual))
    total_area, total_events = area.sum(), actual.sum()
    order = rank_cells(risk, area, random_state)
    cum_area = np.cumsum(area[order])
    cum_hits = np.cumsum(actual[order])
    # oracle: densest cells first, fractional last cell
    dens = actual / np.where(area > 0, area, np.inf)
    best = np.argsort(-dens, kind="stable")
    best_area = np.concatenate([[0.0], np.cumsum(area[best])])
    best_hits = np.concatenate([[0.0], np.cumsum(actual[best])])
    rows = []
    for p in coverages:
        k = flagged_count(area[order], p) - 1
        sel_area, hits = cum_area[k], cum_hits[k]
        oracle = np.interp(sel_area, best_area, best_hits)
        share = sel_area / total_area
        hr = hits / total_events if total_events > 0 else np.nan
        rows.append(
            {
                "coverage": float(p),
                "area_share": share,
                "n_cells": k + 1,
                "hits": hits,
                "n_events": total_events,
                "hit_rate": hr,
                "pai": hr / share if total_events > 0 else np.nan,
                "pei": hits / oracle if oracle > 0 else np.nan,
            }
        )
    return pd.DataFrame(rows)


def window_hits(risk, area, actual, coverages=None, *, random_state: int | None = None) -> dict:
    """:func:`hit_metrics` for many windows at once: hits, events and oracle hits per window.

    Parameters
    ----------
    risk, actual : array-like (n_windows, n_cells)
        Forecast and observed events per window and cell.
    area : array-like (n_cells,)
    coverages : sequence of float, default ``settings.hotspot_coverages``

    Returns
    -------
    dict
        ``n_events`` (n_windows,), and per coverage ``p``: ``hits[p]``, ``oracle[p]`` (the most
        any cells of the same area could catch) and ``area_share[p]`` (n_windows,), so metrics
        can be pooled over windows (sum of hits over sum of events) or taken per window.

    Examples
    --------
    >>> m = window_hits([[5, 1, 0, 0]], [1, 1, 1, 1], [[3, 0, 1, 0]], coverages=[0.25])
    >>> m["hits"][0.25].tolist(), m["oracle"][0.25].tolist(), m["n_events"].tolist()
    ([3.0], [3.0], [4.0])
    """
    coverages = settings.hotspot_coverages if coverages is None else coverages
    risk, actual = np.atleast_2d(np.asarray(risk, dtype=float)), np.atleast_2d(np.asarray(actual, dtype=float))
    area = np.asarray(area, dtype=float)
    density = np.where(area > 0, risk / np.where(area > 0, area, 1.0), -np.inf)
    density = np.nan_to_num(density, nan=-np.inf)
    tie = np.broadcast_to(_tiebreak(area.size, random_state), density.shape)
    order = np.lexsort((tie, -density), axis=-1)
    rows = np.arange(len(risk))[:, None]
    cum_area = np.cumsum(area[order], axis=1)
    cum_hits = np.cumsum(actual[rows, order], axis=1)
    best = np.argsort(-(actual / np.where(area > 0, area, np.inf)), axis=1, kind="stable")
    best_area = np.cumsum(area[best], axis=1)
    best_hits = np.cumsum(actual[rows, best], axis=1)
    out = {"n_events": actual.sum(axis=1), "hits": {}, "oracle": {}, "area_share": {}}
    total = area.sum()
    for p in coverages:
        k = np.minimum((cum_area < p * total * (1 - 1e-12)).sum(axis=1), area.size - 1)
        sel = cum_area[np.arange(len(risk)), k]
        out["hits"][p] = cum_hits[np.arange(len(risk)), k]
        out["area_share"][p] = sel / total
        # oracle: densest cells first, the last one taken fractionally (the LP bound)
        j = np.minimum((best_area < sel[:, None]).sum(axis=1), area.size - 1)
        prev_area = np.where(j > 0, best_area[np.arange(len(risk)), j - 1], 0.0)
        prev_hits = np.where(j > 0, best_hits[np.arange(len(risk)), j - 1], 0.0)
        a_j = area[best[np.arange(len(risk)), j]]
        n_j = actual[np.arange(len(risk)), best[np.arange(len(risk)), j]]
        frac = np.clip((sel - prev_area) / np.where(a_j > 0, a_j, np.inf), 0, 1)
        out["oracle"][p] = prev_hits + frac * n_j
    return out
