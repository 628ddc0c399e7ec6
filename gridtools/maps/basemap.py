"""A light basemap drawn from the data at hand, for maps without tiles (the offline default).

A page written without tiles would show its features on Leaflet's bare grey.  :func:`draw_base`
gives it a paper-coloured ground, the outline of the area the data covers (the district as its
grids or forecast cells dissolve to) in white, and, when given, the road lines of an OSM extract or
a routing network, with the names of the longest roads, so a reader can tell where they are
without a tile server.  Everything is drawn in its own pane under the data and does not react to
the mouse, so hovering and clicking still reach the features, and feature counts in tests see only
the data.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import LineString, box
>>> from gridtools.maps.base import new_map
>>> m = new_map(tiles=None)
>>> area = gpd.GeoDataFrame(geometry=[box(120.60, 31.30, 120.62, 31.32)], crs=4326)
>>> road = gpd.GeoDataFrame({"name": ["Renmin Rd"], "highway": ["primary"]},
...                         geometry=[LineString([(120.60, 31.31), (120.62, 31.31)])], crs=4326)
>>> draw_base(m, areas=area, roads=road)
>>> html = m.get_root().render()
>>> "gridtools-base" in html and "Renmin Rd" in html
True
"""

from __future__ import annotations

import html

import folium
import geopandas as gpd
import numpy as np
import shapely

from gridtools.maps.base import to_wgs84

__all__ = ["BASE_PANE", "GROUND_COLOR", "AREA_COLOR", "ROAD_COLOR", "MAJOR_ROADS", "draw_base", "clip_roads"]

#: Leaflet pane of the drawn base: above tiles (200), under the data's overlay pane (400).
BASE_PANE = "gridtools-base"
#: Colour of the ground outside the data's area, and of the area itself (OSM-like land and paper).
GROUND_COLOR = "#efece4"
AREA_COLOR = "#ffffff"
#: Colour of road lines; major roads are drawn wider.
ROAD_COLOR = "#b9b2a3"
#: OSM ``highway`` classes drawn as major roads (wider, and candidates for a name label).
MAJOR_ROADS = frozenset({"motorway", "trunk", "primary", "secondary", "motorway_link", "trunk_link",
                         "primary_link", "secondary_link"})
_MAX_LABELS = 12
_MARGIN = 0.15  # share of the data's extent kept around it when roads are clipped


def draw_base(m: folium.Map, *, areas=None, roads=None, bounds=None) -> None:
    """Draw a light base on ``m`` from the data: ground colour, the areas' outline, roads and their names.

    Parameters
    ----------
    m : folium.Map
        A map without tiles (a map with tiles needs no base).
    areas : geopandas.GeoDataFrame or GeoSeries, optional
        Polygons whose union is the area the map is about (grids, forecast cells, a district
        outline); drawn white with a grey border on the ground colour.
    roads : geopandas.GeoDataFrame or GeoSeries, optional
        Road lines (an OSM extract's ways, a routing network's edges), any CRS; clipped to the data's
        extent.  ``highway`` (OSM class) sets the width and ``name`` labels the longest roads.
    bounds : tuple of float, optional
        ``(minx, miny, maxx, maxy)`` in degrees to clip roads to when no ``areas`` are given
        (default: the roads' own extent).

    Examples
    --------
    >>> from gridtools.maps.base import new_map
    >>> m = new_map(tiles=None); draw_base(m)
    >>> GROUND_COLOR in m.get_root().render()
    True
    """
    folium.map.CustomPane(BASE_PANE, z_index=350, pointer_events=False).add_to(m)
    m.get_root().header.add_child(folium.Element(
        f"<style>div.folium-map.leaflet-container {{ background: {GROUND_COLOR}; }}</style>"))
    if areas is not None and len(areas):
        area = to_wgs84(areas, "areas")
        outline = shapely.union_all(shapely.make_valid(area.geometry.to_numpy()))
        folium.GeoJson(
            gpd.GeoDataFrame(geometry=[outline], crs=4326), name="Base: area", control=False, interactive=False,
            pane=BASE_PANE, style_function=lambda _: {"color": "#8a8478", "weight": 2, "fillColor": AREA_COLOR,
                                                      "fillOpacity": 1.0}).add_to(m)
        bounds = area.total_bounds
    if roads is not None and len(roads):
        lines = clip_roads(roads, bounds)
        if len(lines):
            _draw_roads(m, lines)


def clip_roads(roads, bounds=None) -> gpd.GeoDataFrame:
    """Road lines in EPSG:4326, clipped to ``bounds`` widened by a margin, with ``name`` and ``major``.

    Parameters
    ----------
    roads : geopandas.GeoDataFrame or GeoSeries
        Lines in any CRS; ``highway`` and ``name`` columns are used when present.
    bounds : tuple of float, optional
        ``(minx, miny, maxx, maxy)`` in degrees; None keeps every road.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``name`` (text, empty when unnamed), ``major`` (bool) and the line geometry.

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> roads = gpd.GeoDataFrame({"highway": ["primary", "service"]}, crs=4326,
    ...                          geometry=[LineString([(0, 0), (1, 0)]), LineString([(5, 5), (6, 5)])])
    >>> clip_roads(roads, (0, -0.1, 1, 0.1))["major"].tolist()
    [True]
    """
    lines = to_wgs84(roads, "roads")
    lines = lines[lines.geom_type.isin(["LineString", "MultiLineString"])]
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
        dx, dy = (maxx - minx) * _MARGIN or 0.005, (maxy - miny) * _MARGIN or 0.005
        lines = lines.clip((minx - dx, miny - dy, maxx + dx, maxy + dy))
        lines = lines[~lines.geometry.is_empty & lines.geom_type.isin(["LineString", "MultiLineString"])]
    highway = lines["highway"].astype(str) if "highway" in lines else None
    names = lines["name"].fillna("").astype(str) if "name" in lines else np.full(len(lines), "")
    major = highway.isin(MAJOR_ROADS).to_numpy() if highway is not None else np.zeros(len(lines), bool)
    return gpd.GeoDataFrame({"name": np.asarray(names, dtype=object), "major": major},
                            geometry=lines.geometry.to_numpy(), crs=4326)


def _draw_roads(m: folium.Map, lines: gpd.GeoDataFrame) -> None:
    """Minor roads thin, major roads wider, then the names of the longest named roads as labels."""
    lines = lines.assign(geometry=lines.geometry.simplify(0.00002))  # ~2 m: invisible, and a lighter page
    for major, weight in ((False, 1.0), (True, 2.5)):
        part = lines[lines["major"] == major]
        if len(part):
            folium.GeoJson(part[["geometry"]], name=f"Base: {'major ' if major else ''}roads", control=False,
                           interactive=False, pane=BASE_PANE,
                           style_function=lambda _, w=weight: {"color": ROAD_COLOR, "weight": w, "opacity": 1.0},
                           ).add_to(m)
    named = lines[lines["name"] != ""]
    if not len(named):
        return
    # the longest named roads (major first) carry a label at a point along them
    length = named.geometry.to_crs(named.estimate_utm_crs()).length.groupby(named["name"]).sum()
    major = named.groupby("name")["major"].any()
    order = (major.astype(int) * length.max() + length).sort_values(ascending=False).index[:_MAX_LABELS]
    for name in order:
        line = shapely.line_merge(shapely.union_all(named.geometry[named["name"] == name].to_numpy()))
        at = line.interpolate(0.5, normalized=True) if isinstance(line, shapely.LineString) \
            else max(shapely.get_parts(line), key=lambda g: g.length).interpolate(0.5, normalized=True)
        folium.Marker([at.y, at.x], interactive=False, icon=folium.DivIcon(
            html=f'<div class="gridtools-road-label">{html.escape(name)}</div>', icon_size=(0, 0),
            class_name="gridtools-road-label-icon")).add_to(m)
    m.get_root().header.add_child(folium.Element(
        "<style>.gridtools-road-label { transform: translate(-50%, -50%); white-space: nowrap; "
        "font: 11px sans-serif; color: #6b655a; text-shadow: 0 0 3px #fff, 0 0 3px #fff; "
        "pointer-events: none; }</style>"))
