"""Incident maps: grids coloured by their cases (or another per-grid statistic), with the case points.

Examples
--------
>>> from gridtools.maps import incident_map
>>> m = incident_map(grids, store.grid_stats(), events=points)   # doctest: +SKIP
"""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from gridtools.errors import InputError
from gridtools.maps.base import (
    FIELD_LABELS,
    FILL_PROPERTY,
    Legend,
    add_layer_control,
    display_values,
    fit_to,
    lerp_colors,
    new_map,
    popup_fields,
    to_wgs84,
)
from gridtools.maps.basemap import draw_base

__all__ = ["CASE_COLORS", "incident_map"]

#: Colours of the incident map: few cases (light) to many (dark).
CASE_COLORS = ("#fff5eb", "#a63603")
_CASE_FIELDS = ("grid_code", "cases", "open", "closed", "share_solved_in_grid", "median_hours_to_close",
                "on_time_share", "overdue_now")


def incident_map(
    grids: gpd.GeoDataFrame,
    stats: pd.DataFrame | None = None,
    *,
    events: gpd.GeoDataFrame | None = None,
    column: str = "cases",
    max_events: int = 5000,
    tiles: str | None = None,
    roads: gpd.GeoDataFrame | None = None,
    m: folium.Map | None = None,
) -> folium.Map:
    """Grids coloured by their incident count (or another per-grid statistic), with events.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        Grid polygons with ``grid_code``, any CRS.
    stats : pandas.DataFrame, optional
        Per-grid statistics indexed or keyed by ``grid_code``
        (:meth:`gridtools.incidents.IncidentStore.grid_stats`); grids without cases get 0.
    events : geopandas.GeoDataFrame, optional
        Event points drawn as small circles (at most *max_events*, evenly sampled, so the page
        stays light); ``grid_code`` / ``geocode_flag`` shown on hover when present.
    column : str, default "cases"
        Statistic that sets the fill colour (light = low, dark = high).
    tiles : str or None
        Basemap tiles (online only), as in :func:`gridtools.maps.grid_map`; None (default) draws
        a light base from the grids' outline and ``roads``.  Ignored when ``m`` is given.
    roads : geopandas.GeoDataFrame, optional
        Road lines (an OSM extract, any CRS) drawn light grey under the data, with the longest
        roads' names, when there are no tiles.

    Returns
    -------
    folium.Map
        Layers ``Grids`` and (optionally) ``Events``, a layer control, zoomed to the grids.

    Examples
    --------
    >>> m = incident_map(grids, store.grid_stats())          # doctest: +SKIP
    """
    grids = to_wgs84(grids, "grids")
    if grids.empty:
        raise InputError("grids is empty: there is nothing to map.")
    if "grid_code" not in grids.columns:
        raise InputError("grids has no column 'grid_code'.")
    data = grids[["grid_code", grids.geometry.name]].copy()
    if stats is not None:
        table = stats.reset_index() if "grid_code" not in stats.columns else stats
        data = data.merge(table, on="grid_code", how="left")
    if column not in data.columns and stats is not None and len(stats):
        known = ", ".join(str(c) for c in data.columns if c not in ("grid_code", grids.geometry.name))
        raise InputError(f"column={column!r} is not a statistic of the grids; use one of: {known}.")
    if column not in data.columns:
        data[column] = 0
    value = pd.to_numeric(data[column], errors="coerce").fillna(0).to_numpy(dtype=float)
    for col in ("cases", "open", "closed", "overdue_now"):
        if col in data.columns:
            data[col] = pd.to_numeric(data[col], errors="coerce").fillna(0)
    fields, aliases = popup_fields(data, _CASE_FIELDS)
    shown = gpd.GeoDataFrame(display_values(data, fields), geometry=data.geometry.to_numpy(), crs=4326)
    top = value.max() if len(value) and value.max() > 0 else 1.0
    shown[FILL_PROPERTY] = lerp_colors(*CASE_COLORS, value / top)
    if m is None:
        m = new_map(tiles)
        if tiles is None:
            draw_base(m, areas=grids, roads=roads)
    folium.GeoJson(
        shown, name="Grids",
        style_function=lambda f: {"fillColor": f["properties"][FILL_PROPERTY], "fillOpacity": 0.65,
                                  "color": "#333333", "weight": 1.0},
        highlight_function=lambda _: {"weight": 3, "fillOpacity": 0.85},
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases, sticky=True),
    ).add_to(m)
    if events is not None and len(events):
        pts = to_wgs84(events, "events")
        if len(pts) > max_events:
            pts = pts.iloc[np.linspace(0, len(pts) - 1, max_events).astype(int)]
        layer = folium.FeatureGroup(name=f"Events ({len(pts):,} shown of {len(events):,})")
        labels = [c for c in ("grid_code", "geocode_flag") if c in pts.columns]
        for row in pts.itertuples(index=False):  # folium adds markers one by one
            geom = getattr(row, pts.geometry.name)
            tip = ", ".join(f"{c}: {getattr(row, c) or '-'}" for c in labels) or None
            folium.CircleMarker([geom.y, geom.x], radius=2, weight=0, fill=True, fill_opacity=0.7,
                                fill_color="#08306b", tooltip=tip).add_to(layer)
        layer.add_to(m)
    Legend(FIELD_LABELS.get(column, column.replace("_", " ").capitalize()) + " per grid",
           [(f"linear-gradient(to right, {CASE_COLORS[0]}, {CASE_COLORS[1]})", f"0 – {top:,.4g}")]
           + ([("#08306b", "an event")] if events is not None and len(events) else []),
           note="darker = more").add_to(m)
    fit_to(m, grids.total_bounds)
    add_layer_control(m)
    return m
