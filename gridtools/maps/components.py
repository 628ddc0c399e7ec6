"""Component maps: a register of city management components (城市部件) as clustered markers with ID cards.

Examples
--------
>>> from gridtools.maps import component_map
>>> m = component_map(store.to_geodataframe(status="active"), grids=grids)   # doctest: +SKIP
"""

from __future__ import annotations

import html

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from gridtools import settings
from gridtools.errors import InputError
from gridtools.maps.base import add_layer_control, display_values, fit_to, new_map, to_wgs84
from gridtools.maps.basemap import draw_base

__all__ = ["COMPONENT_MAJOR_COLORS", "COMPONENT_POPUP", "component_popups", "component_map"]


#: Marker colour per major component class (ColorBrewer Set1-like).
COMPONENT_MAJOR_COLORS: dict[str, str] = {
    "01": "#377eb8", "02": "#e41a1c", "03": "#984ea3", "04": "#4daf4a", "05": "#ff7f00", "06": "#a65628",
}
#: Popup rows of a component: (label, column).
COMPONENT_POPUP = (
    ("Code 编码", "code"), ("Class 类别", "class_label"), ("Name 名称", "name"), ("Location 位置", "location"),
    ("Grid 网格", "grid_code"), ("In charge 主管部门", "dept_in_charge"), ("Owner 权属单位", "owner"),
    ("Maintainer 养护单位", "maintainer"), ("Status 状态", "status"),
)

_COMPONENT_CALLBACK = """
function (row) {
    var marker = L.circleMarker(new L.LatLng(row[0], row[1]),
        {radius: 6, color: row[3], fillColor: row[3], fillOpacity: 0.8, weight: 1});
    marker.bindPopup(row[2], {maxWidth: 360});
    return marker;
}
"""


def component_popups(components: pd.DataFrame) -> np.ndarray:
    """HTML popup of each component: code, class, name, location, grid, department, owner, maintainer.

    Parameters
    ----------
    components : pandas.DataFrame
        With ``code``, ``class_code``, ``lon``, ``lat``; the other columns of :data:`COMPONENT_POPUP`
        are shown when present and not empty (a component in no grid shows "(none)").

    Returns
    -------
    numpy.ndarray of str
        One escaped HTML table per component.

    Examples
    --------
    >>> df = pd.DataFrame({"code": ["3205080118000001"], "class_code": ["0118"], "class_zh": ["路灯"],
    ...                    "class_en": ["street lamp"], "grid_code": [""], "lon": [120.6], "lat": [31.3]})
    >>> "Grid" in component_popups(df)[0] and "(none)" in component_popups(df)[0]
    True
    """
    table = pd.DataFrame(index=components.index)
    for column in ("code", "class_code", "class_zh", "class_en", "name", "grid_code", "dept_in_charge", "owner",
                   "maintainer", "status"):
        values = components[column] if column in components.columns else pd.Series("", index=components.index)
        table[column] = values.astype(object).where(values.notna(), "").astype(str)
    table["class_label"] = table["class_code"] + " " + table["class_zh"] + " / " + table["class_en"]
    table["grid_code"] = table["grid_code"].where(table["grid_code"] != "", "(none)")
    table["location"] = [f"{lat:.6f}, {lon:.6f}" for lon, lat in zip(components["lon"], components["lat"])]
    rows = []
    for record in table.itertuples(index=False):
        cells = "".join(f"<tr><th style='text-align:left;padding-right:6px'>{html.escape(label)}</th>"
                        f"<td>{html.escape(str(getattr(record, column)))}</td></tr>"
                        for label, column in COMPONENT_POPUP if getattr(record, column) != "")
        rows.append(f"<table>{cells}</table>")
    return np.array(rows, dtype=object)


def component_map(
    components: gpd.GeoDataFrame,
    *,
    grids: gpd.GeoDataFrame | None = None,
    grid_col: str = "grid_code",
    tiles: str | None = None,
    roads: gpd.GeoDataFrame | None = None,
    max_markers: int | None = None,
    random_state: int | None = None,
) -> folium.Map:
    """Components as clustered markers, one layer (a marker cluster) per class; a click shows the ID card.

    Parameters
    ----------
    components : GeoDataFrame
        From :meth:`gridtools.components.ComponentStore.to_geodataframe` (needs ``code`` and
        ``class_code``; ``class_zh``/``class_en``, ``grid_code``, ``dept_in_charge``, ``owner``,
        ``maintainer``, ``name``, ``status`` are shown when present).
    grids : GeoDataFrame, optional
        Grid outlines drawn under the markers.
    tiles : str or None
        Basemap tiles (online only), as in :func:`grid_map`; None (default) draws a light base:
        the grids' outline (when given) and ``roads``.
    roads : geopandas.GeoDataFrame, optional
        Road lines (an OSM extract, any CRS) drawn light grey under the data, with the longest
        roads' names, when there are no tiles.
    max_markers : int, optional
        Draw at most this many markers (default ``settings.components_map_max_markers``); a
        larger register is sampled evenly across classes and the layer names say so.

    Returns
    -------
    folium.Map

    Examples
    --------
    >>> m = component_map(store.to_geodataframe(status="active"))   # doctest: +SKIP
    """
    from folium.plugins import FastMarkerCluster

    components = to_wgs84(components, "components")
    if components.empty:
        raise InputError("there are no components to map.")
    for column in ("code", "class_code"):
        if column not in components.columns:
            raise InputError(f"components has no column {column!r}; map a component register's table.")
    limit = settings.components_map_max_markers if max_markers is None else int(max_markers)
    total = len(components)
    if total > limit:
        components = components.sample(n=limit, random_state=settings.random_state if random_state is None
                                       else random_state).sort_index()
    points = components.geometry.representative_point()
    components = components.assign(lon=points.x.to_numpy(), lat=points.y.to_numpy())
    popups = component_popups(components)
    m = new_map(tiles)
    if tiles is None:
        draw_base(m, areas=grids, roads=roads, bounds=components.total_bounds)
    if grids is not None:
        grids = to_wgs84(grids, "grids")
        fields = [grid_col] if grid_col in grids.columns else []
        folium.GeoJson(
            gpd.GeoDataFrame(display_values(grids, fields), geometry=grids.geometry.to_numpy(), crs=grids.crs),
            name="Grids",
            style_function=lambda _: {"color": "#333333", "weight": 1.2, "fill": True, "fillOpacity": 0.05},
            tooltip=folium.GeoJsonTooltip(fields=fields, aliases=["Grid code"]) if fields else None,
        ).add_to(m)
    names = components.get("class_zh", pd.Series("", index=components.index)).astype(str)
    names_en = components.get("class_en", pd.Series("", index=components.index)).astype(str)
    classes = components["class_code"].astype(str).to_numpy()
    for code in np.unique(classes):
        mine = np.flatnonzero(classes == code)
        colour = COMPONENT_MAJOR_COLORS.get(code[:2], "#666666")
        data = [[lat, lon, popup, colour] for lat, lon, popup in
                zip(components["lat"].to_numpy()[mine], components["lon"].to_numpy()[mine], popups[mine])]
        label = f"{code} {names.iloc[mine[0]]} / {names_en.iloc[mine[0]]} ({len(mine):,})"
        group = folium.FeatureGroup(name=label)
        FastMarkerCluster(data, callback=_COMPONENT_CALLBACK).add_to(group)
        group.add_to(m)
    if total > limit:
        m.get_root().html.add_child(folium.Element(
            f"<div style='position:fixed;bottom:10px;left:10px;z-index:999;background:white;padding:4px'>"
            f"showing {limit:,} of {total:,} components (sampled)</div>"))
    fit_to(m, components.total_bounds)
    # one layer per class: a long list, so the control opens on hover instead of covering the map
    add_layer_control(m, collapsed=len(np.unique(classes)) > 8)
    return m
