"""Interactive folium maps of grids, incidents, components, hotspots, routes and dispatch.

:mod:`gridtools.maps.base` holds what every map shares (the basemap, the layer control,
colours, legends, popup fields, reprojection for display, and :func:`map_page`, the one place
that decides where a page's assets come from: inlined, so every page works offline);
:mod:`gridtools.maps.basemap` draws the light base of a map without tiles; each other module
draws one capability.

Examples
--------
>>> import gridtools.maps as maps
>>> m = maps.grid_map(grids, units=blocks)          # doctest: +SKIP
>>> maps.save_map(m, "grids.html")                  # doctest: +SKIP
PosixPath('grids.html')
"""

from gridtools.maps.base import (
    FIELD_LABELS,
    FILL_PROPERTY,
    IN_BAND_COLOR,
    LOAD_COLORS,
    MAX_ZOOM,
    NO_DATA_COLOR,
    OSM_ATTRIBUTION,
    OVER_COLORS,
    OVER_DARKEST,
    UNDER_COLORS,
    UNDER_DARKEST,
    VENDOR,
    BandLegend,
    Legend,
    add_layer_control,
    band_colors,
    display_values,
    fit_to,
    leaflet_assets,
    lerp_colors,
    load_color,
    map_page,
    new_map,
    popup_fields,
    save_map,
    to_wgs84,
)
from gridtools.maps.basemap import draw_base
from gridtools.maps.components import COMPONENT_MAJOR_COLORS, COMPONENT_POPUP, component_map, component_popups
from gridtools.maps.dispatch import ROUTE_COLORS, dispatch_map
from gridtools.maps.grids import GRID_FIELDS, grid_map
from gridtools.maps.hotspots import HOTSPOT_COLORS, hotspot_map
from gridtools.maps.incidents import CASE_COLORS, incident_map
from gridtools.maps.routes import route_map
from gridtools.maps.windows import WINDOW_RISK_COLORS, hotspot_window_map

__all__ = [
    # one builder per capability
    "grid_map", "incident_map", "component_map", "component_popups", "hotspot_map", "hotspot_window_map", "route_map", "dispatch_map",
    # the page
    "save_map", "map_page", "leaflet_assets", "new_map", "draw_base", "add_layer_control", "fit_to", "MAX_ZOOM",
    # colours and legends
    "band_colors", "lerp_colors", "load_color", "BandLegend", "Legend",
    "UNDER_COLORS", "IN_BAND_COLOR", "OVER_COLORS", "NO_DATA_COLOR", "UNDER_DARKEST", "OVER_DARKEST",
    "CASE_COLORS", "COMPONENT_MAJOR_COLORS", "HOTSPOT_COLORS", "WINDOW_RISK_COLORS", "ROUTE_COLORS", "LOAD_COLORS",
    # fields, popups and display
    "FIELD_LABELS", "GRID_FIELDS", "COMPONENT_POPUP", "FILL_PROPERTY", "OSM_ATTRIBUTION", "VENDOR",
    "popup_fields", "display_values", "to_wgs84",
]
