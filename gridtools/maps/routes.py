"""Route maps: one truck route and the roads its restrictions made it avoid.

Examples
--------
>>> from gridtools.maps import route_map, save_map
>>> save_map(route_map(router.route(a, b, truck())), "route.html")   # doctest: +SKIP
PosixPath('route.html')
"""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np

from gridtools.maps.base import add_layer_control, display_values, fit_to, new_map, to_wgs84
from gridtools.maps.basemap import draw_base

__all__ = ["route_map"]


def route_map(route, *, tiles: str | None = None, roads: gpd.GeoDataFrame | None = None,
              m: folium.Map | None = None) -> folium.Map:
    """A route (blue, one line per way with osmid / name / length / time on hover) and the roads it
    avoided (red, dashed, with the restriction that closed them).

    Parameters
    ----------
    route : gridtools.routing.Route
    tiles : str or None
        Basemap tiles (online only), as in :func:`gridtools.maps.grid_map`; None (default) draws
        a light base from ``roads``.  Ignored when ``m`` is given.
    roads : geopandas.GeoDataFrame, optional
        Road lines drawn light grey under the route, with the longest roads' names (the network's
        ``RoadNetwork.edges_frame()``), clipped around the route.
    m : folium.Map, optional
        Existing map to draw on; a new one is created if omitted.

    Returns
    -------
    folium.Map
        Layers ``route`` and ``avoided roads`` (when any), start and end markers, a layer control.

    Examples
    --------
    >>> save_map(route_map(router.route(a, b, truck())), "route.html")   # doctest: +SKIP
    """
    lines = to_wgs84(route.to_geodataframe(), "route")
    avoided = to_wgs84(route.avoided_geodataframe(), "avoided roads")
    if m is None:
        m = new_map(tiles)
        if tiles is None:
            draw_base(m, roads=roads, bounds=lines.total_bounds if len(lines) else None)
    if len(avoided):
        folium.GeoJson(avoided, name="avoided roads", style_function=lambda _: {
            "color": "#d7301f", "weight": 5, "dashArray": "6 6", "opacity": 0.9},
            tooltip=folium.GeoJsonTooltip(["osmid", "restriction", "why"])).add_to(m)
    if len(lines):
        shown = display_values(lines.assign(osmid=lines["osmid"].astype(str)),
                               ["osmid", "name", "highway", "length_m", "time_s"])
        folium.GeoJson(gpd.GeoDataFrame(shown, geometry=lines.geometry.values, crs=lines.crs), name="route",
                       style_function=lambda _: {"color": "#2166ac", "weight": 6, "opacity": 0.85},
                       tooltip=folium.GeoJsonTooltip(["osmid", "name", "highway", "length_m", "time_s"])).add_to(m)
        folium.Marker(list(route.origin)[::-1], tooltip="start").add_to(m)
        folium.Marker(list(route.destination)[::-1], tooltip="end").add_to(m)
        ends = np.array([route.origin, route.destination], dtype=float)  # (lon, lat): the markers in view too
        b = lines.total_bounds
        fit_to(m, (min(b[0], *ends[:, 0]), min(b[1], *ends[:, 1]), max(b[2], *ends[:, 0]), max(b[3], *ends[:, 1])))
    add_layer_control(m)
    return m

