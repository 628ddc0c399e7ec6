"""Hotspot maps: the riskiest cells of a forecast, its patrol areas and the events.

Examples
--------
>>> from gridtools.maps import hotspot_map
>>> m = hotspot_map(forecast_cells, top_share=0.02)   # doctest: +SKIP
"""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np

from gridtools.errors import InputError
from gridtools.maps.base import FILL_PROPERTY, Legend, add_layer_control, fit_to, lerp_colors, new_map, to_wgs84
from gridtools.maps.basemap import draw_base

__all__ = ["HOTSPOT_COLORS", "hotspot_map"]

#: Colours of hotspot cells, from the least to the most risky of the cells shown (YlOrRd).
HOTSPOT_COLORS = ("#ffeda0", "#bd0026")


def hotspot_map(
    cells: gpd.GeoDataFrame,
    *,
    column: str = "risk",
    top_share: float = 0.05,
    events: gpd.GeoDataFrame | None = None,
    patrol_areas: gpd.GeoDataFrame | None = None,
    tiles: str | None = None,
    roads: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """The riskiest cells of a hotspot forecast, coloured by risk, optionally with the events.

    Parameters
    ----------
    cells : geopandas.GeoDataFrame
        Forecast cells with ``cell_id``, *column*, ``rank`` (1 = riskiest) and ``area_m2``
        (as written by ``gridtools hotspots predict``).
    column : str
        Risk column used for colours.
    top_share : float
        Share of the total cell area to show, riskiest first (cells by ``rank``).
    events : geopandas.GeoDataFrame, optional
        Points drawn on top (e.g. the events of the forecast horizon).
    patrol_areas : geopandas.GeoDataFrame, optional
        Output of :func:`gridtools.hotspots.patrol_areas`: outlined and labelled with their number,
        cells and expected events.
    tiles : str or None
        Basemap tiles (online only), as in :func:`gridtools.maps.grid_map`; None (default) draws
        a light base: the outline of all the forecast's cells (the study area) and ``roads``.
    roads : geopandas.GeoDataFrame, optional
        Road lines (an OSM extract, any CRS) drawn light grey under the data, with the longest
        roads' names, when there are no tiles.

    Returns
    -------
    folium.Map

    Examples
    --------
    >>> m = hotspot_map(forecast_cells, top_share=0.02)      # doctest: +SKIP
    """
    from gridtools.hotspots.patrol import flagged_cells

    if column not in cells.columns:
        raise InputError(f"cells have no column {column!r}; map the output of 'gridtools hotspots predict'.")
    flagged = flagged_cells(cells, top_share)  # checks top_share and the forecast's columns
    k = len(flagged)
    top = to_wgs84(flagged, "cells")
    values = top[column].to_numpy(dtype=float)
    span = values.max() - values.min()
    t = (values - values.min()) / span if span > 0 else np.ones(len(values))
    data = gpd.GeoDataFrame(
        {"cell_id": top["cell_id"].astype(str), "rank": top["rank"], column: np.round(values, 4)},
        geometry=top.geometry.to_numpy(), crs=top.crs,
    )
    data[FILL_PROPERTY] = lerp_colors(*HOTSPOT_COLORS, t)
    m = new_map(tiles)
    if tiles is None:
        draw_base(m, areas=cells, roads=roads)
    fields = ["cell_id", "rank", column]
    folium.GeoJson(
        data,
        name=f"Top {top_share:.0%} of area ({k} cells)",
        style_function=lambda f: {
            "fillColor": f["properties"][FILL_PROPERTY], "fillOpacity": 0.65, "color": "#7f0000", "weight": 0.8,
        },
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=["Cell", "Rank", "Risk"], sticky=True),
    ).add_to(m)
    if patrol_areas is not None and len(patrol_areas):
        areas = to_wgs84(patrol_areas, "patrol areas")
        shown = gpd.GeoDataFrame(
            {"area_id": areas["area_id"].astype(int), "n_cells": areas["n_cells"].astype(int),
             "expected_events": areas["expected_events"].round(2)},
            geometry=areas.geometry.to_numpy(), crs=areas.crs)
        folium.GeoJson(
            shown, name=f"Patrol areas ({len(shown)})",
            style_function=lambda f: {"fillOpacity": 0, "color": "#000000", "weight": 2.5},
            tooltip=folium.GeoJsonTooltip(fields=["area_id", "n_cells", "expected_events"],
                                          aliases=["Patrol area", "Cells", "Expected events"], sticky=True),
        ).add_to(m)
    if events is not None and len(events):
        pts = to_wgs84(events, "events")
        xy = np.column_stack([pts.geometry.y, pts.geometry.x])
        layer = folium.FeatureGroup(name=f"Events ({len(xy):,})")
        for lat, lon in xy[:5000]:  # a browser copes with a few thousand markers
            folium.CircleMarker([lat, lon], radius=2, color="#08306b", weight=0, fill=True,
                                fill_opacity=0.7).add_to(layer)
        layer.add_to(m)
    Legend(f"Risk, riskiest {top_share:.0%} of the area", [
        (f"linear-gradient(to right, {HOTSPOT_COLORS[0]}, {HOTSPOT_COLORS[1]})",
         f"{values.min():.3g} – {values.max():.3g} ({column})"),
        ("transparent; border:2px solid #000", "patrol area (cells joined)")],
        note=f"{k:,} cells shown; darker = riskier").add_to(m)
    fit_to(m, top.total_bounds)
    add_layer_control(m)
    return m
