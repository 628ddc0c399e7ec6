"""Patrol areas: the flagged cells of a forecast joined into contiguous areas a team can patrol.

A top-2% list of scattered cells is hard to patrol; officers are sent to *areas*.  The cells a
forecast flags (the riskiest share of the area, ranked as in the metrics) are joined wherever
they share an edge, and each group becomes one area with its expected events, so dispatchers see
"area 1: 6 cells, 0.24 km², 3.1 expected thefts this week" instead of 300 cell ids.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from gridtools.errors import InputError
from gridtools.hotspots.metrics import flagged_count

__all__ = ["flagged_cells", "patrol_areas"]

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
    top = flagged_cells(forecast, share)
    geoms = top.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="touches")
    # an edge, not a corner: the shared boundary has length
    shared = shapely.length(shapely.intersection(geoms[left], geoms[right])) > 0
    n = len(top)
    graph = sp.coo_matrix((np.ones(int(shared.sum())), (left[shared], right[shared])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    cells = gpd.GeoDataFrame({"label": label, "n_cells": 1, "area_m2": top["area_m2"].to_numpy(dtype=float),
                              "expected_events": top["risk"].to_numpy(dtype=float),
                              "cell_ids": top["cell_id"].astype(str).to_numpy()}, geometry=geoms, crs=top.crs)
    areas = cells.dissolve("label", aggfunc={"n_cells": "sum", "area_m2": "sum", "expected_events": "sum",
                                             "cell_ids": ";".join})
    areas["area_km2"] = areas["area_m2"] / 1e6
    areas["events_per_km2"] = areas["expected_events"] / areas["area_km2"].where(areas["area_km2"] > 0)
    areas = areas.sort_values(["expected_events", "n_cells"], ascending=[False, False], kind="stable")
    areas.insert(0, "area_id", np.arange(1, len(areas) + 1))
    areas = areas.reset_index(drop=True)[
        ["area_id", "n_cells", "area_km2", "expected_events", "events_per_km2", "cell_ids", "geometry"]
    ]
    areas.attrs = {**forecast.attrs, "share": float(share)}
    return areas
