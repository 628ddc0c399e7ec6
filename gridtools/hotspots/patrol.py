"""Patrol areas: the flagged cells of a forecast joined into contiguous areas a team can patrol.

A top-2% list of scattered cells is hard to patrol; officers are sent to *areas*.  The cells a
forecast flags (the riskiest share of the area, ranked as in the metrics) are joined wherever
they share an edge, and each group becomes one area with its expected events, so dispatchers see
"area 1: 6 cells, 0.24 km², 3.1 expected thefts this week" instead of 300 cell ids.  A sub-day
forecast has its own patrol areas in every window (:func:`window_patrol_areas`): the night
shift patrols other streets than the morning rush.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from gridtools.errors import InputError
from gridtools.hotspots.metrics import flagged_count, rank_cells
from gridtools.hotspots.windows import window_labels

__all__ = ["flagged_cells", "patrol_areas", "window_patrol_areas"]

_AREA_COLUMNS = ["area_id", "n_cells", "area_km2", "expected_events", "events_per_km2", "cell_ids", "geometry"]

_FORECAST_COLUMNS = ("cell_id", "risk", "rank", "area_m2")


def flagged_cells(forecast: gpd.GeoDataFrame, share: float = 0.02) -> gpd.GeoDataFrame:
    """The riskiest cells covering *share* of the area: the shortest prefix by ``rank`` that reaches it.

    This is the set the metrics score (``hit_metrics``) and the maps show.

    Parameters
    ----------
    forecast : geopandas.GeoDataFrame
        Output of :func:`gridtools.hotspots.forecast` (``cell_id``, ``risk``, ``rank``, ``area_m2``).
    share : float, default 0.02
        Share of the total cell area, in (0, 1].

    Returns
    -------
    geopandas.GeoDataFrame
        The flagged rows, riskiest first.
    """
    if not isinstance(share, (int, float, np.integer, np.floating)) or not 0 < share <= 1:
        raise InputError(f"share must lie in (0, 1], not {share!r} (0.02 = the riskiest 2% of the area).")
    missing = [c for c in _FORECAST_COLUMNS if c not in forecast.columns]
    if missing:
        raise InputError(f"the forecast has no column {', '.join(map(repr, missing))}; pass the output of "
                         "hotspots.forecast or the layer 'cells' written by 'gridtools hotspots predict'.")
    ordered = forecast.sort_values("rank")
    return ordered.iloc[:flagged_count(ordered["area_m2"], share)]


def patrol_areas(forecast: gpd.GeoDataFrame, share: float = 0.02) -> gpd.GeoDataFrame:
    """Join the flagged cells that share an edge into contiguous patrol areas.

    Cells touching only at a corner stay apart (an area is one polygon a patrol can walk round).

    Parameters
    ----------
    forecast : geopandas.GeoDataFrame
        Output of :func:`gridtools.hotspots.forecast` (any CRS).
    share : float, default 0.02
        Share of the study area to flag, as in the metrics.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per area, most expected events first: ``area_id`` (1, 2, ...), ``n_cells``,
        ``area_km2``, ``expected_events`` (sum of the cells' risk over the forecast horizon),
        ``events_per_km2``, ``cell_ids`` (separated by ``;``), geometry (in the forecast's CRS).

    Examples
    --------
    >>> import shapely
    >>> boxes = [shapely.box(x, 0, x + 1, 1) for x in range(5)]
    >>> f = gpd.GeoDataFrame({"cell_id": list("abcde"), "risk": [5., 4, 0, 3, 0], "rank": [1, 2, 4, 3, 5],
    ...                       "area_m2": 1.0}, geometry=boxes, crs=32617)
    >>> patrol_areas(f, share=0.6)[["area_id", "n_cells", "expected_events", "cell_ids"]].values.tolist()
    [[1, 2, 9.0, 'a;b'], [2, 1, 3.0, 'd']]
    """
    areas = _join_cells(flagged_cells(forecast, share))
    areas.attrs = {**forecast.attrs, "share": float(share)}
    return areas


def window_patrol_areas(forecast, share: float = 0.02) -> gpd.GeoDataFrame:
    """Patrol areas of every window of a sub-day forecast: each window's riskiest *share* joined.

    Each window is ranked on its own risk, as the backtest scores it, so the areas of the 02:00
    window are where the night's risk is, not the first window's areas repeated.

    Parameters
    ----------
    forecast : gridtools.hotspots.WindowForecast
        Output of :func:`gridtools.hotspots.forecast_windows` (its ``cells``, ``risk`` and ``starts``).
    share : float, default 0.02
        Share of the study area flagged in each window.

    Returns
    -------
    geopandas.GeoDataFrame
        The columns of :func:`patrol_areas` after ``window_start`` (``"YYYY-MM-DD HH:MM"``),
        windows in time order and, within a window, most expected events first; ``area_id``
        counts from 1 in each window.  The first window's rows are ``patrol_areas(forecast.cells)``.

    Examples
    --------
    >>> import shapely
    >>> from gridtools.hotspots import prepare, forecast_windows
    >>> g = gpd.GeoDataFrame({"t": ["2020-01-01 07:10", "2020-01-02 21:20"]},
    ...                      geometry=shapely.points([[0, 0], [450, 10]]), crs=32617)
    >>> ev, cs = prepare(g, time="t", cell=200)
    >>> f = forecast_windows(ev, cs, cutoff="2020-01-03 06:00", horizon_hours=2, windows=12, method="naive_hour")
    >>> a = window_patrol_areas(f, share=0.3)
    >>> a.loc[a["window_start"].isin(["2020-01-03 06:00", "2020-01-03 20:00"]), ["window_start", "cell_ids"]].values.tolist()
    [['2020-01-03 06:00', 'E0N0'], ['2020-01-03 20:00', 'E2N0']]
    """
    flagged_cells(forecast.cells, share)  # checks share and the forecast's columns
    cells = forecast.cells
    geoms, ids = cells.geometry.to_numpy(), cells["cell_id"].astype(str).to_numpy()
    area = cells["area_m2"].to_numpy(dtype=float)
    risk = np.asarray(forecast.risk, dtype=float)
    parts = []
    for label, window_risk in zip(window_labels(forecast.starts), risk):
        order = rank_cells(window_risk, area)  # the ranking forecast_windows gives the first window
        top = order[:flagged_count(area[order], share)]
        part = _join(geoms[top], area[top], window_risk[top], ids[top])
        part["window_start"] = np.full(len(part["area_id"]), label, dtype=object)
        parts.append(part)
    out = _areas_frame(parts, cells.crs)
    out.attrs = {**cells.attrs, "share": float(share)}
    return out


def _join_cells(top: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The flagged cells *top* (riskiest first) joined where they share an edge: one row per area."""
    columns = _join(top.geometry.to_numpy(), top["area_m2"].to_numpy(dtype=float), top["risk"].to_numpy(dtype=float),
                    top["cell_id"].astype(str).to_numpy())
    return _areas_frame([columns], top.crs)


def _join(geoms: np.ndarray, area_m2: np.ndarray, risk: np.ndarray, ids: np.ndarray) -> dict:
    """Columns of the patrol areas of the flagged cells (arrays, riskiest first), most expected events first."""
    left, right = shapely.STRtree(geoms).query(geoms, predicate="touches")
    # an edge, not a corner: the shared boundary has length
    shared = shapely.length(shapely.intersection(geoms[left], geoms[right])) > 0
    n = len(geoms)
    graph = sp.coo_matrix((np.ones(int(shared.sum())), (left[shared], right[shared])), shape=(n, n))
    n_areas, label = connected_components(graph, directed=False)
    area = np.bincount(label, weights=area_m2, minlength=n_areas)
    expected = np.bincount(label, weights=risk, minlength=n_areas)
    n_cells = np.bincount(label, minlength=n_areas)
    members = np.split(np.argsort(label, kind="stable"), np.cumsum(n_cells)[:-1])  # riskiest first in each
    # most areas are one cell and need no union (the costly part when every window of a week is joined)
    shapes = np.array([geoms[m[0]] if len(m) == 1 else shapely.union_all(geoms[m]) for m in members], dtype=object)
    order = np.lexsort((-n_cells, -expected))
    km2 = area / 1e6
    return {"area_id": np.arange(1, n_areas + 1), "n_cells": n_cells[order], "area_km2": km2[order],
            "expected_events": expected[order],
            "events_per_km2": np.divide(expected, km2, out=np.full(n_areas, np.nan), where=km2 > 0)[order],
            "cell_ids": np.array([";".join(ids[m]) for m in members], dtype=object)[order], "geometry": shapes[order]}


def _areas_frame(parts: list[dict], crs) -> gpd.GeoDataFrame:
    """One GeoDataFrame of the areas of one or more :func:`_join` results (columns in the documented order)."""
    data = {c: np.concatenate([p[c] for p in parts]) for c in (["window_start"] if "window_start" in parts[0] else [])
            + _AREA_COLUMNS}
    return gpd.GeoDataFrame(data, geometry="geometry", crs=crs)
