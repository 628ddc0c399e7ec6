"""Interactive folium maps of grids: one place for colours, legends, tooltips and popups.

Every map builder in gridtools goes through the helpers here, so a grid under the population
band is the same blue, and a field has the same label, wherever it is shown.

Examples
--------
>>> import gridtools.maps as maps
>>> m = maps.grid_map(grids, units=blocks)          # doctest: +SKIP
>>> maps.save_map(m, "grids.html")                  # doctest: +SKIP
PosixPath('grids.html')
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import MacroElement, Template

from gridtools import settings
from gridtools.errors import CRSError, InputError

__all__ = ["grid_map", "save_map", "incident_map", "component_map", "hotspot_map", "route_map", "dispatch_map"]

#: Attribution shown for tile URLs that folium/xyzservices cannot attribute by themselves.
OSM_ATTRIBUTION = "© OpenStreetMap contributors"

# Diverging scheme centred on the band (ColorBrewer Blues / Greens / Reds).
#: Colour just below ``min_pop`` and at ``UNDER_DARKEST`` x ``min_pop`` and below.
UNDER_COLORS = ("#9ecae1", "#08519c")
#: Colour of every grid inside the band.
IN_BAND_COLOR = "#74c476"
#: Colour just above ``max_pop`` and at ``OVER_DARKEST`` x ``max_pop`` and above.
OVER_COLORS = ("#fc9272", "#a50f15")
#: Colour of grids whose population is missing.
NO_DATA_COLOR = "#bdbdbd"
UNDER_DARKEST = 0.5
OVER_DARKEST = 1.5

#: Display labels of the columns that grid popups show when present.
FIELD_LABELS: dict[str, str] = {
    "grid_code": "Grid code",
    "population": "Residents",
    "in_band": "In band",
    "polsby_popper": "Compactness (Polsby-Popper)",
    "n_units": "Units",
    "status": "Status",
}
GRID_FIELDS = ("grid_code", "population", "in_band", "polsby_popper", "n_units", "status")

_FILL = "__gridtools_fill"  # hidden GeoJSON property carrying each feature's fill colour


def grid_map(
    grids: gpd.GeoDataFrame,
    *,
    column: str = "population",
    min_pop: float | None = None,
    max_pop: float | None = None,
    units: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    tiles: str | None = "OpenStreetMap",
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
        The band; default :data:`gridtools.settings.min_pop` / ``max_pop`` at call time.
    units : geopandas.GeoDataFrame or GeoSeries, optional
        Building blocks (or other units) drawn as thin grey outlines in their own layer.
    tiles : str or None
        Basemap: a folium/xyzservices name, a tile URL template (attributed to
        OpenStreetMap contributors), or None for no basemap.  Ignored when ``m`` is given.
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
    lo = settings.min_pop if min_pop is None else min_pop
    hi = settings.max_pop if max_pop is None else max_pop
    if lo > hi:
        raise InputError(f"min_pop ({lo}) is larger than max_pop ({hi}); swap them.")
    grids = _to_wgs84(grids, "grids")
    units = None if units is None else _to_wgs84(units, "units")
    if grids.empty:
        raise InputError("grids is empty: there is nothing to map.")
    if column not in grids.columns:
        others = [c for c in grids.columns if c != grids.geometry.name]
        raise InputError(f"grids has no column {column!r}; pass column= one of {others}.")

    pop = pd.to_numeric(grids[column], errors="coerce").to_numpy(dtype=float)
    fields = [f if f != "population" else column for f in GRID_FIELDS]
    fields, aliases = _popup_fields(grids, fields)
    if column != "population" and column in fields:
        aliases[fields.index(column)] = f"Residents ({column})"
    data = gpd.GeoDataFrame(
        _display_values(grids, fields),
        geometry=grids.geometry.to_numpy(),
        crs=grids.crs,
    )
    data[_FILL] = band_colors(pop, lo, hi)

    if m is None:
        m = _new_map(tiles)

    folium.GeoJson(
        data,
        name="Grids",
        style_function=lambda f: {
            "fillColor": f["properties"][_FILL],
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

    _BandLegend(pop, lo, hi).add_to(m)
    minx, miny, maxx, maxy = grids.total_bounds
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    _add_layer_control(m)
    return m


def save_map(m: folium.Map, path: str | Path) -> Path:
    """Write a map to a standalone HTML file and return its path.

    Examples
    --------
    >>> save_map(grid_map(grids), "out/grids.html")   # doctest: +SKIP
    PosixPath('out/grids.html')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    m.save(str(path))
    return path


def band_colors(values: Sequence[float] | np.ndarray, min_pop: float, max_pop: float) -> np.ndarray:
    """Hex fill colour of each population value on the band-centred diverging scheme.

    Parameters
    ----------
    values : array-like of float
        Populations; NaN gets :data:`NO_DATA_COLOR`.
    min_pop, max_pop : float
        The band.

    Returns
    -------
    numpy.ndarray of str

    Examples
    --------
    >>> band_colors([500, 1200, 2250], 1000, 1500).tolist()
    ['#08519c', '#74c476', '#a50f15']
    """
    v = np.asarray(values, dtype=float)
    out = np.full(v.shape, NO_DATA_COLOR, dtype=object)
    under, over = v < min_pop, v > max_pop
    out[(v >= min_pop) & (v <= max_pop)] = IN_BAND_COLOR
    # fraction of the way from the band edge to the darkest shade
    t_under = (min_pop - v) / max(min_pop * (1 - UNDER_DARKEST), 1e-9)
    t_over = (v - max_pop) / max(max_pop * (OVER_DARKEST - 1), 1e-9)
    out[under] = _lerp_hex(*UNDER_COLORS, t_under[under])
    out[over] = _lerp_hex(*OVER_COLORS, t_over[over])
    return out


# -- helpers shared by map builders -------------------------------------------------------------


def _popup_fields(gdf: pd.DataFrame, fields: Sequence[str]) -> tuple[list[str], list[str]]:
    """The ``fields`` present in ``gdf`` (in the given order) and their display labels.

    Examples
    --------
    >>> df = pd.DataFrame({"grid_code": [], "status": []})
    >>> _popup_fields(df, ["grid_code", "in_band", "status"])
    (['grid_code', 'status'], ['Grid code', 'Status'])
    """
    present = [f for f in dict.fromkeys(fields) if f in gdf.columns and f != "geometry"]
    return present, [FIELD_LABELS.get(f, f.replace("_", " ").capitalize()) for f in present]


def _display_values(df: pd.DataFrame, fields: Sequence[str]) -> pd.DataFrame:
    """Popup-ready text of ``fields``: integers with thousands separators, ratios to 2
    decimals, booleans as yes/no, codes verbatim; missing values as an empty string."""
    out = {}
    for f in fields:
        s = df[f]
        if pd.api.types.is_bool_dtype(s):
            text = s.map({True: "yes", False: "no"})
        elif pd.api.types.is_numeric_dtype(s) and f != "grid_code":
            x = s.astype(float)
            whole = np.isclose(x, np.round(x)) | (x.abs() >= 100)
            text = pd.Series(
                np.where(whole, x.map(lambda a: f"{a:,.0f}"), x.map(lambda a: f"{a:,.2f}")),
                index=s.index,
            )
        else:
            text = s.astype(object).map(str)
        out[f] = text.where(s.notna(), "").astype(object).to_numpy()
    return pd.DataFrame(out, index=df.index)


def _to_wgs84(gdf: gpd.GeoDataFrame | gpd.GeoSeries, what: str) -> gpd.GeoDataFrame:
    """Return ``gdf`` as a GeoDataFrame in EPSG:4326, without empty geometries."""
    if isinstance(gdf, gpd.GeoSeries):
        gdf = gdf.to_frame("geometry")
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"{what} must be a GeoDataFrame, got {type(gdf).__name__}.")
    if gdf.crs is None:
        raise CRSError(f"{what} has no CRS; set one first, e.g. {what}.set_crs('EPSG:4326').")
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    return gdf.to_crs("EPSG:4326")


def _new_map(tiles: str | None) -> folium.Map:
    m = folium.Map(tiles=None, control_scale=True)
    if tiles is not None:
        if "{" in tiles:  # a URL template carries no attribution of its own
            folium.TileLayer(tiles, attr=OSM_ATTRIBUTION, name="Basemap").add_to(m)
        else:
            folium.TileLayer(tiles).add_to(m)
    return m


def _add_layer_control(m: folium.Map, collapsed: bool = False) -> None:
    """Add one layer control, after every layer (moving a control a caller already added)."""
    for key, child in list(m._children.items()):
        if isinstance(child, folium.LayerControl):
            del m._children[key]
    folium.LayerControl(collapsed=collapsed).add_to(m)


def _lerp_hex(start: str, end: str, t: np.ndarray) -> np.ndarray:
    """Colours a fraction ``t`` (clipped to 0-1) of the way from ``start`` to ``end``."""
    a = np.array([int(start[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    b = np.array([int(end[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)[:, None]
    rgb = np.rint(a + (b - a) * t).astype(int)
    return np.array([f"#{r:02x}{g:02x}{b_:02x}" for r, g, b_ in rgb], dtype=object)


class _BandLegend(MacroElement):
    """Leaflet control explaining the population band and counting grids per class."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: "bottomright"});
        {{ this.get_name() }}.onAdd = function (map) {
            var div = L.DomUtil.create("div", "gridtools-legend");
            div.innerHTML = {{ this.html|tojson }};
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, pop: np.ndarray, min_pop: float, max_pop: float):
        super().__init__()
        self._name = "BandLegend"
        n_under = int(np.sum(pop < min_pop))
        n_in = int(np.sum((pop >= min_pop) & (pop <= max_pop)))
        n_over = int(np.sum(pop > max_pop))
        n_na = int(np.sum(np.isnan(pop)))
        lo, hi = f"{min_pop:,.0f}", f"{max_pop:,.0f}"
        rows = [
            (f"linear-gradient(to right, {UNDER_COLORS[1]}, {UNDER_COLORS[0]})",
             f"under {lo}", n_under),
            (IN_BAND_COLOR, f"{lo}–{hi} (in band)", n_in),
            (f"linear-gradient(to right, {OVER_COLORS[0]}, {OVER_COLORS[1]})",
             f"over {hi}", n_over),
        ]  # fmt: skip
        if n_na:
            rows.append((NO_DATA_COLOR, "no data", n_na))
        items = "".join(
            f'<div><span style="display:inline-block;width:28px;height:12px;margin-right:6px;'
            f'vertical-align:middle;border:1px solid #777;background:{bg}"></span>'
            f"{html.escape(label)} <span style=\"color:#666\">({n})</span></div>"
            for bg, label, n in rows
        )
        self.html = (
            '<div style="background:rgba(255,255,255,0.9);padding:6px 8px;border-radius:4px;'
            'box-shadow:0 0 4px rgba(0,0,0,0.3);font:12px/1.5 sans-serif">'
            f"<b>Residents per grid</b>{items}"
            f'<div style="color:#666;margin-top:2px">band {lo}–{hi}; darker = further off</div>'
            "</div>"
        )


# --------------------------------------------------------------------------------------------
# incidents: cases per grid (gridtools.incidents)
# --------------------------------------------------------------------------------------------

#: Colours of the incident map: few cases (light) to many (dark).
CASE_COLORS = ("#fff5eb", "#a63603")
_CASE_FIELDS = ("grid_code", "cases", "open", "closed", "share_solved_in_grid", "median_hours_to_close",
                "on_time_share", "overdue_now")
FIELD_LABELS.update({
    "cases": "Cases", "open": "Open", "closed": "Closed", "share_solved_in_grid": "Solved in grid (share)",
    "median_hours_to_close": "Median hours to close", "on_time_share": "On time (share)",
    "overdue_now": "Overdue now",
})


def incident_map(
    grids: gpd.GeoDataFrame,
    stats: pd.DataFrame | None = None,
    *,
    events: gpd.GeoDataFrame | None = None,
    column: str = "cases",
    max_events: int = 5000,
    tiles: str | None = "OpenStreetMap",
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

    Returns
    -------
    folium.Map
        Layers ``Grids`` and (optionally) ``Events``, a layer control, zoomed to the grids.

    Examples
    --------
    >>> m = incident_map(grids, store.grid_stats())          # doctest: +SKIP
    """
    grids = _to_wgs84(grids, "grids")
    if grids.empty:
        raise InputError("grids is empty: there is nothing to map.")
    if "grid_code" not in grids.columns:
        raise InputError("grids has no column 'grid_code'.")
    data = grids[["grid_code", grids.geometry.name]].copy()
    if stats is not None:
        table = stats.reset_index() if "grid_code" not in stats.columns else stats
        data = data.merge(table, on="grid_code", how="left")
    if column not in data.columns:
        data[column] = 0
    value = pd.to_numeric(data[column], errors="coerce").fillna(0).to_numpy(dtype=float)
    for col in ("cases", "open", "closed", "overdue_now"):
        if col in data.columns:
            data[col] = pd.to_numeric(data[col], errors="coerce").fillna(0)
    fields, aliases = _popup_fields(data, _CASE_FIELDS)
    shown = gpd.GeoDataFrame(_display_values(data, fields), geometry=data.geometry.to_numpy(), crs=4326)
    top = value.max() if len(value) and value.max() > 0 else 1.0
    shown[_FILL] = _lerp_hex(*CASE_COLORS, value / top)
    if m is None:
        m = _new_map(tiles)
    folium.GeoJson(
        shown, name="Grids",
        style_function=lambda f: {"fillColor": f["properties"][_FILL], "fillOpacity": 0.65,
                                  "color": "#333333", "weight": 1.0},
        highlight_function=lambda _: {"weight": 3, "fillOpacity": 0.85},
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases, sticky=True),
    ).add_to(m)
    if events is not None and len(events):
        pts = _to_wgs84(events, "events")
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
    minx, miny, maxx, maxy = grids.total_bounds
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    _add_layer_control(m)
    return m


# --------------------------------------------------------------------------------------------
# city management components (gridtools.components)

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
    tiles: str | None = "OpenStreetMap",
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
        Basemap, as in :func:`grid_map`.
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

    components = _to_wgs84(components, "components")
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
    m = _new_map(tiles)
    if grids is not None:
        grids = _to_wgs84(grids, "grids")
        fields = [grid_col] if grid_col in grids.columns else []
        folium.GeoJson(
            gpd.GeoDataFrame(_display_values(grids, fields), geometry=grids.geometry.to_numpy(), crs=grids.crs),
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
    minx, miny, maxx, maxy = components.total_bounds
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    # one layer per class: a long list, so the control opens on hover instead of covering the map
    _add_layer_control(m, collapsed=len(np.unique(classes)) > 8)
    return m


# --------------------------------------------------------------------------------------------
# Hotspot forecasts
# --------------------------------------------------------------------------------------------

#: Colours of hotspot cells, from the least to the most risky of the cells shown (YlOrRd).
HOTSPOT_COLORS = ("#ffeda0", "#bd0026")


def hotspot_map(
    cells: gpd.GeoDataFrame,
    *,
    column: str = "risk",
    top_share: float = 0.05,
    events: gpd.GeoDataFrame | None = None,
    patrol_areas: gpd.GeoDataFrame | None = None,
    tiles: str | None = "OpenStreetMap",
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
    top = _to_wgs84(flagged, "cells")
    values = top[column].to_numpy(dtype=float)
    span = values.max() - values.min()
    t = (values - values.min()) / span if span > 0 else np.ones(len(values))
    data = gpd.GeoDataFrame(
        {"cell_id": top["cell_id"].astype(str), "rank": top["rank"], column: np.round(values, 4)},
        geometry=top.geometry.to_numpy(), crs=top.crs,
    )
    data[_FILL] = _lerp_hex(*HOTSPOT_COLORS, t)
    m = _new_map(tiles)
    fields = ["cell_id", "rank", column]
    folium.GeoJson(
        data,
        name=f"Top {top_share:.0%} of area ({k} cells)",
        style_function=lambda f: {
            "fillColor": f["properties"][_FILL], "fillOpacity": 0.65, "color": "#7f0000", "weight": 0.8,
        },
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=["Cell", "Rank", "Risk"], sticky=True),
    ).add_to(m)
    if patrol_areas is not None and len(patrol_areas):
        areas = _to_wgs84(patrol_areas, "patrol areas")
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
        pts = _to_wgs84(events, "events")
        xy = np.column_stack([pts.geometry.y, pts.geometry.x])
        layer = folium.FeatureGroup(name=f"Events ({len(xy):,})")
        for lat, lon in xy[:5000]:  # a browser copes with a few thousand markers
            folium.CircleMarker([lat, lon], radius=2, color="#08306b", weight=0, fill=True,
                                fill_opacity=0.7).add_to(layer)
        layer.add_to(m)
    minx, miny, maxx, maxy = top.total_bounds
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    _add_layer_control(m)
    return m


# ---------------------------------------------------------------------------------------------
# routing


def route_map(route, *, tiles: str | None = "OpenStreetMap", m: folium.Map | None = None) -> folium.Map:
    """A route (blue, one line per way with osmid / name / length / time on hover) and the roads it
    avoided (red, dashed, with the restriction that closed them).

    Parameters
    ----------
    route : gridtools.routing.Route

    Examples
    --------
    >>> save_map(route_map(router.route(a, b, truck())), "route.html")   # doctest: +SKIP
    """
    lines = _to_wgs84(route.to_geodataframe(), "route")
    avoided = _to_wgs84(route.avoided_geodataframe(), "avoided roads")
    m = m or _new_map(tiles)
    if len(avoided):
        folium.GeoJson(avoided, name="avoided roads", style_function=lambda _: {
            "color": "#d7301f", "weight": 5, "dashArray": "6 6", "opacity": 0.9},
            tooltip=folium.GeoJsonTooltip(["osmid", "restriction", "why"])).add_to(m)
    if len(lines):
        shown = _display_values(lines.assign(osmid=lines["osmid"].astype(str)),
                                ["osmid", "name", "highway", "length_m", "time_s"])
        folium.GeoJson(gpd.GeoDataFrame(shown, geometry=lines.geometry.values, crs=lines.crs), name="route",
                       style_function=lambda _: {"color": "#2166ac", "weight": 6, "opacity": 0.85},
                       tooltip=folium.GeoJsonTooltip(["osmid", "name", "highway", "length_m", "time_s"])).add_to(m)
        folium.Marker(list(route.origin)[::-1], tooltip="start").add_to(m)
        folium.Marker(list(route.destination)[::-1], tooltip="end").add_to(m)
        x0, y0, x1, y1 = lines.total_bounds
        m.fit_bounds([[y0, x0], [y1, x1]])
    _add_layer_control(m)
    return m


# -- dispatch: truck routes and load per road segment and slot ---------------------------------

#: Colours of routes (cycled per trip) and of segment load against capacity (ColorBrewer).
ROUTE_COLORS = ("#1f78b4", "#33a02c", "#6a3d9a", "#ff7f00", "#b15928", "#e31a1c", "#a6cee3", "#b2df8a")
LOAD_COLORS = ((0.5, "#1a9850"), (0.8, "#fee08b"), (1.0, "#fc8d59"), (np.inf, "#d73027"))


def load_color(ratio) -> np.ndarray:
    """Colour of a segment-slot by load / capacity: green < 0.5, yellow < 0.8, orange <= 1, red over.

    Examples
    --------
    >>> load_color([0.2, 1.0, 1.5]).tolist()
    ['#1a9850', '#fc8d59', '#d73027']
    """
    r = np.asarray(ratio, dtype=float)
    out = np.full(r.shape, LOAD_COLORS[-1][1], dtype=object)
    for limit, colour in reversed(LOAD_COLORS[:-1]):
        out[r <= limit] = colour
    return out


def dispatch_map(routes: gpd.GeoDataFrame | None = None, load: gpd.GeoDataFrame | None = None, park=None,
                 slot: str | None = None, tiles: str | None = "OpenStreetMap", m: folium.Map | None = None) -> folium.Map:
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

    Examples
    --------
    >>> m = dispatch_map(routes=center.route_frame(user, trip_id))   # doctest: +SKIP
    """
    m = m or _new_map(tiles)
    bounds = []
    if load is not None and slot is not None:
        load = load[load["slot_start"].astype(str).str.startswith(str(slot))]
    if load is not None and len(load):
        lg = _to_wgs84(load, "load")
        ratio = (lg["load"] / lg["capacity"]).to_numpy(float)
        lg = lg.assign(ratio=ratio)
        peak = lg.sort_values("ratio", ascending=False).groupby("segment", sort=False)
        per_seg = peak.first()
        slots = peak.apply(lambda g: "; ".join(f"{s[11:16]}: {int(v)}/{int(c)}" for s, v, c in
                                               zip(g["slot_start"], g["load"], g["capacity"])), include_groups=False)
        seg = gpd.GeoDataFrame({"segment": per_seg.index, "name": per_seg["name"].fillna("").astype(str),
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
        rg = _to_wgs84(routes, "routes")
        trips = list(dict.fromkeys(rg["trip"].astype(str)))
        colour = {t: ROUTE_COLORS[i % len(ROUTE_COLORS)] for i, t in enumerate(trips)}
        rg = rg.assign(colour=rg["trip"].astype(str).map(colour))
        fields = [f for f in ("plate", "trip", "name", "enter_at", "time_s") if f in rg.columns]
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
    if bounds:
        b = np.array(bounds, dtype=float)
        m.fit_bounds([[b[:, 1].min(), b[:, 0].min()], [b[:, 3].max(), b[:, 2].max()]])
    _add_layer_control(m)
    return m
