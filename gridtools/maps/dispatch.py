"""Dispatch maps: truck routes, the load per road segment and slot, and the park's gates and docks.

Examples
--------
>>> from gridtools.maps import dispatch_map
>>> m = dispatch_map(routes=center.route_frame(user, trip_id))   # doctest: +SKIP
"""

from __future__ import annotations

import html

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from gridtools.maps.base import LOAD_COLORS, Legend, add_layer_control, fit_to, load_color, new_map, to_wgs84
from gridtools.maps.basemap import draw_base

__all__ = ["ROUTE_COLORS", "dispatch_map", "escaped"]

#: Colours of routes, cycled per trip (ColorBrewer Paired).
ROUTE_COLORS = ("#1f78b4", "#33a02c", "#6a3d9a", "#ff7f00", "#b15928", "#e31a1c", "#a6cee3", "#b2df8a")


def escaped(values) -> np.ndarray:
    """Text values HTML-escaped for a tooltip or popup (folium writes them with ``innerHTML``).

    Examples
    --------
    >>> escaped(["<img src=x onerror=alert(7)>", None]).tolist()
    ['&lt;img src=x onerror=alert(7)&gt;', '']
    """
    return np.array(["" if v is None or v != v else html.escape(str(v)) for v in values], dtype=object)


def dispatch_map(routes: gpd.GeoDataFrame | None = None, load: gpd.GeoDataFrame | None = None, park=None,
                 slot: str | None = None, tiles: str | None = None, roads: gpd.GeoDataFrame | None = None,
                 m: folium.Map | None = None) -> folium.Map:
    """Truck routes, the load per road segment (peak over the slots shown) and the park's places.

    Parameters
    ----------
    routes : GeoDataFrame, optional
        Lines with a ``trip`` column (one colour per trip) and optionally ``plate``, ``name``,
        ``enter_at``, ``time_s`` (shown on hover).
    load : GeoDataFrame, optional
        Segment lines with ``load``, ``capacity`` and ``slot_start`` (one row per segment-slot);
        drawn as the peak load ratio per segment, with every slot's load in the tooltip.
    park : gridtools.dispatch.Park, optional
        Gates, docks and waiting areas as markers.
    slot : str, optional
        Show the load of one slot only: the start of ``slot_start`` to match, e.g.
        ``"2026-11-24T08:30"`` (default: the peak over all slots given).
    tiles : str or None
        Basemap tiles (online only), as in :func:`gridtools.maps.grid_map`; None (default) draws
        a light base from ``roads``.  Ignored when ``m`` is given.
    roads : geopandas.GeoDataFrame, optional
        Road lines drawn light grey under the data, with the longest roads' names (the network's
        ``RoadNetwork.edges_frame()``), clipped around what the map shows.

    Examples
    --------
    >>> m = dispatch_map(routes=center.route_frame(user, trip_id))   # doctest: +SKIP
    """
    drawn_base = m is None and tiles is None
    m = m or new_map(tiles)
    bounds = []
    if load is not None and slot is not None:
        load = load[load["slot_start"].astype(str).str.startswith(str(slot))]
    if load is not None and len(load):
        lg = to_wgs84(load, "load")
        ratio = (lg["load"] / lg["capacity"]).to_numpy(float)
        lg = lg.assign(ratio=ratio)
        peak = lg.sort_values("ratio", ascending=False).groupby("segment", sort=False)
        per_seg = peak.first()
        slots = peak.apply(lambda g: "; ".join(f"{s[11:16]}: {int(v)}/{int(c)}" for s, v, c in
                                               zip(g["slot_start"], g["load"], g["capacity"])), include_groups=False)
        seg = gpd.GeoDataFrame({"segment": per_seg.index, "name": escaped(per_seg["name"].fillna("")),
                                "peak": per_seg["ratio"].round(2), "slots": slots.reindex(per_seg.index).to_numpy(),
                                "colour": load_color(per_seg["ratio"].to_numpy())},
                               geometry=per_seg.geometry.values, crs="EPSG:4326")
        folium.GeoJson(seg, name=f"Large trucks per segment, slot {slot}" if slot else
                       "Large trucks per segment and slot (peak)",
                       style_function=lambda f: {"color": f["properties"]["colour"], "weight": 5, "opacity": 0.85},
                       tooltip=folium.GeoJsonTooltip(["name", "peak", "slots"],
                                                     aliases=["Road", "Peak load / capacity", "Slot: load/capacity"]),
                       ).add_to(m)
        bounds.append(seg.total_bounds)
    if routes is not None and len(routes):
        rg = to_wgs84(routes, "routes")
        trips = list(dict.fromkeys(rg["trip"].astype(str)))
        colour = {t: ROUTE_COLORS[i % len(ROUTE_COLORS)] for i, t in enumerate(trips)}
        rg = rg.assign(colour=rg["trip"].astype(str).map(colour))
        fields = [f for f in ("plate", "trip", "name", "enter_at", "time_s") if f in rg.columns]
        # folium's tooltips set innerHTML: every text a user gave (plate, road name) goes in escaped
        rg = rg.assign(**{f: escaped(rg[f]) for f in fields if not pd.api.types.is_numeric_dtype(rg[f])})
        layer = folium.FeatureGroup(name=f"Routes ({len(trips)})")
        folium.GeoJson(rg[fields + ["colour", "geometry"]],
                       style_function=lambda f: {"color": f["properties"]["colour"], "weight": 4, "opacity": 0.8},
                       tooltip=folium.GeoJsonTooltip(fields)).add_to(layer)
        layer.add_to(m)
        bounds.append(rg.total_bounds)
    if park is not None:
        layer = folium.FeatureGroup(name="Park")
        for kind, places, colour in (("gate", park.gates, "blue"), ("dock", park.docks, "red"),
                                     ("waiting area", park.waiting_areas, "orange")):
            for p in places:
                cap = f", capacity {p.capacity}" if p.capacity else ""
                folium.CircleMarker([p.lat, p.lon], radius=7, color=colour, fill=True, fill_opacity=0.9,
                                    tooltip=html.escape(f"{kind} {p.id}{cap}")).add_to(layer)
                bounds.append([p.lon, p.lat, p.lon, p.lat])
        layer.add_to(m)
    _legend(m, bool(load is not None and len(load)), park is not None, bool(routes is not None and len(routes)))
    extent = None
    if bounds:
        b = np.array(bounds, dtype=float)
        extent = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
        fit_to(m, extent)
    if drawn_base:  # in its own pane under the data, so drawing it last is fine
        draw_base(m, roads=roads, bounds=extent)
    add_layer_control(m)
    return m


def _legend(m: folium.Map, with_load: bool, with_park: bool, with_routes: bool) -> None:
    """Explain the load colours and the park's markers (routes are one colour per trip)."""
    rows = []
    if with_load:
        lower = 0.0
        for limit, colour in LOAD_COLORS:
            rows.append((colour, f"load / capacity {lower:g}–{limit:g}" if np.isfinite(limit) else f"over {lower:g}"))
            lower = limit
    if with_park:
        rows += [("blue", "gate"), ("red", "dock"), ("orange", "waiting area")]
    if rows:
        Legend("Trucks and park", rows, note="routes: one colour per trip" if with_routes else None).add_to(m)
