"""Grid choropleths: residents per grid against the population band (``gridtools partition`` output).

Examples
--------
>>> from gridtools.maps import grid_map, save_map
>>> save_map(grid_map(grids, units=blocks), "grids.html")   # doctest: +SKIP
PosixPath('grids.html')
"""

from __future__ import annotations

import folium
import geopandas as gpd
import pandas as pd

from gridtools.errors import InputError
from gridtools.grids.params import band_of
from gridtools.maps.base import (
    FILL_PROPERTY,
    BandLegend,
    add_layer_control,
    band_colors,
    display_values,
    fit_to,
    new_map,
    popup_fields,
    to_wgs84,
)
from gridtools.maps.basemap import draw_base

__all__ = ["GRID_FIELDS", "grid_map"]

#: Columns a grid's tooltip and popup show when present, in this order.
GRID_FIELDS = ("grid_code", "population", "in_band", "polsby_popper", "n_units", "status")


def grid_map(
    grids: gpd.GeoDataFrame,
    *,
    column: str = "population",
    min_pop: float | None = None,
    max_pop: float | None = None,
    units: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    tiles: str | None = None,
    roads: gpd.GeoDataFrame | None = None,
    m: folium.Map | None = None,
) -> folium.Map:
    """Choropleth of grids coloured by population against the target band.

    Grids under the band are blue (darker the emptier), grids in the band green, grids over
    the band red (darker the fuller); the legend states the band and how many grids fall in
    each class.  Hovering shows, and clicking pops up, ``grid_code``, the population and,
    when present, ``in_band``, ``polsby_popper``, ``n_units`` and ``status``.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        Grid polygons in any CRS (reprojected to EPSG:4326 for display).
    column : str
        Column holding each grid's residents.
    min_pop, max_pop : float, optional
        The band; default: the band the grids were made with (``grids.attrs["gridtools"]``, set
        by :func:`gridtools.grids.partition` and kept in the GeoPackage it writes), else
        :data:`gridtools.settings.min_pop` / ``max_pop`` at call time.
    units : geopandas.GeoDataFrame or GeoSeries, optional
        Building blocks (or other units) drawn as thin grey outlines in their own layer.
    tiles : str or None
        Basemap tiles (online only): a folium/xyzservices name such as ``"OpenStreetMap"``, a tile
        URL template (attributed to OpenStreetMap contributors), or None (default, works offline)
        for a light base drawn from the grids' outline and ``roads``.  Ignored when ``m`` is given.
    roads : geopandas.GeoDataFrame, optional
        Road lines (an OSM extract, any CRS) drawn light grey under the data, with the longest
        roads' names, when there are no tiles.
    m : folium.Map, optional
        Existing map to draw on; a new one is created if omitted.

    Returns
    -------
    folium.Map
        With a ``Grids`` layer, optionally a ``Units`` layer, a legend and a layer control,
        zoomed to the grids.

    Raises
    ------
    InputError
        If ``grids`` is empty, lacks ``column``, or the band is inverted.
    CRSError
        If ``grids`` or ``units`` has no CRS.

    Examples
    --------
    >>> m = grid_map(grids, min_pop=1000, max_pop=1500)   # doctest: +SKIP
    >>> html = m.get_root().render()                       # doctest: +SKIP
    """
    lo, hi = band_of(grids, min_pop, max_pop)
    grids = to_wgs84(grids, "grids")
    units = None if units is None else to_wgs84(units, "units")
    if grids.empty:
        raise InputError("grids is empty: there is nothing to map.")
    if column not in grids.columns:
        others = ", ".join(str(c) for c in grids.columns if c != grids.geometry.name)
        raise InputError(f"{grids.attrs.get('source', 'grids')} has no column {column!r} (the population of each "
                         f"grid); its columns are: {others}. Map the 'grids' layer written by 'gridtools partition'"
                         ", or pass column=... naming the population column.")

    pop = pd.to_numeric(grids[column], errors="coerce").to_numpy(dtype=float)
    fields = [f if f != "population" else column for f in GRID_FIELDS]
    fields, aliases = popup_fields(grids, fields)
    if column != "population" and column in fields:
        aliases[fields.index(column)] = f"Residents ({column})"
    data = gpd.GeoDataFrame(
        display_values(grids, fields),
        geometry=grids.geometry.to_numpy(),
        crs=grids.crs,
    )
    data[FILL_PROPERTY] = band_colors(pop, lo, hi)

    if m is None:
        m = new_map(tiles)
        if tiles is None:
            draw_base(m, areas=grids, roads=roads)

    folium.GeoJson(
        data,
        name="Grids",
        style_function=lambda f: {
            "fillColor": f["properties"][FILL_PROPERTY],
            "fillOpacity": 0.6,
            "color": "#333333",
            "weight": 1.2,
        },
        highlight_function=lambda _: {"weight": 3, "fillOpacity": 0.8},
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases, sticky=True),
        popup=folium.GeoJsonPopup(fields=fields, aliases=aliases),
    ).add_to(m)

    if units is not None:  # on top of the fills, but clicks and hovers pass through to grids
        folium.GeoJson(
            gpd.GeoDataFrame(geometry=units.geometry.to_numpy(), crs=units.crs),
            name="Units",
            style_function=lambda _: {
                "color": "#555555", "weight": 0.6, "opacity": 0.8, "fill": False
            },
            interactive=False,
        ).add_to(m)

    BandLegend(pop, lo, hi).add_to(m)
    fit_to(m, grids.total_bounds)
    add_layer_control(m)
    return m
