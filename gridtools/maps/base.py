"""What every gridtools map shares: the map and its basemap, colours, legends, popups and the saved page.

Each map builder (:mod:`gridtools.maps.grids`, ``.incidents``, ``.components``, ``.hotspots``,
``.routes``, ``.dispatch``) draws its layers with the helpers here, so a grid under the population
band is the same blue, and a field has the same label, wherever it is shown.  :func:`map_page` is the
one place that decides where a page's JavaScript and CSS come from.

Examples
--------
>>> band_colors([500, 1200, 2250], 1000, 1500).tolist()
['#08519c', '#74c476', '#a50f15']
>>> m = new_map(tiles=None)
>>> page, dropped = map_page(m, offline=True)
>>> "L.map(" in page and 'src="http' not in page
True
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import MacroElement, Template

from gridtools.errors import CRSError, InputError

__all__ = [
    "OSM_ATTRIBUTION", "UNDER_COLORS", "IN_BAND_COLOR", "OVER_COLORS", "NO_DATA_COLOR", "UNDER_DARKEST",
    "OVER_DARKEST", "LOAD_COLORS", "FIELD_LABELS", "FILL_PROPERTY", "VENDOR",
    "new_map", "add_layer_control", "fit_to", "save_map", "map_page",
    "band_colors", "lerp_colors", "load_color", "BandLegend", "Legend", "MAX_ZOOM", "leaflet_assets",
    "popup_fields", "display_values", "to_wgs84",
]

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

#: Colours of segment load against capacity, by upper limit of load / capacity (ColorBrewer RdYlGn).
LOAD_COLORS = ((0.5, "#1a9850"), (0.8, "#fee08b"), (1.0, "#fc8d59"), (np.inf, "#d73027"))

#: Display labels of the columns that popups and tooltips show when present.
FIELD_LABELS: dict[str, str] = {
    # grids
    "grid_code": "Grid code",
    "population": "Residents",
    "in_band": "In band",
    "polsby_popper": "Compactness (Polsby-Popper)",
    "n_units": "Units",
    "status": "Status",
    # incident statistics per grid
    "cases": "Cases",
    "open": "Open",
    "closed": "Closed",
    "share_solved_in_grid": "Solved in grid (share)",
    "median_hours_to_close": "Median hours to close",
    "on_time_share": "On time (share)",
    "overdue_now": "Overdue now",
}

#: Hidden GeoJSON property carrying each feature's fill colour (set by a builder, read by its style).
FILL_PROPERTY = "__gridtools_fill"

#: Deepest zoom of every map (street level; tiles from OpenStreetMap go to 19).
MAX_ZOOM = 19

#: Leaflet and MarkerCluster, vendored so a page can open offline (see ``templates/vendor/README.md``).
VENDOR = Path(__file__).resolve().parents[1] / "templates" / "vendor"


# -- the map, its basemap and its controls -----------------------------------------------------


def new_map(tiles: str | None = None) -> folium.Map:
    """An empty map with a scale bar and the basemap ``tiles``.

    Parameters
    ----------
    tiles : str or None
        A folium/xyzservices name such as ``"OpenStreetMap"``, a tile URL template (attributed to
        OpenStreetMap contributors, since a URL carries no attribution of its own), or None (the
        default, so a page works offline) for no tiles: the builders then draw a light base from
        their data (:func:`gridtools.maps.basemap.draw_base`).

    Returns
    -------
    folium.Map

    Examples
    --------
    >>> m = new_map("https://tile.example.org/{z}/{x}/{y}.png")
    >>> "OpenStreetMap contributors" in m.get_root().render()
    True
    """
    # a map without tiles has no zoom range of its own, and marker clusters need one
    m = folium.Map(tiles=None, control_scale=True, maxZoom=MAX_ZOOM)  # folium gives max_zoom to tiles only
    if tiles is not None:
        if "{" in tiles:  # a URL template carries no attribution of its own
            folium.TileLayer(tiles, attr=OSM_ATTRIBUTION, name="Basemap").add_to(m)
        else:
            folium.TileLayer(tiles).add_to(m)
    return m


def add_layer_control(m: folium.Map, collapsed: bool = False) -> None:
    """Add one layer control, after every layer (moving a control a caller already added).

    Parameters
    ----------
    m : folium.Map
    collapsed : bool
        Open the control on hover only (for long layer lists that would cover the map).

    Examples
    --------
    >>> m = new_map(tiles=None)
    >>> add_layer_control(m); add_layer_control(m)
    >>> sum(isinstance(c, folium.LayerControl) for c in m._children.values())
    1
    """
    for key, child in list(m._children.items()):
        if isinstance(child, folium.LayerControl):
            del m._children[key]
    folium.LayerControl(collapsed=collapsed).add_to(m)


def fit_to(m: folium.Map, bounds) -> None:
    """Zoom ``m`` to ``bounds``, ``(minx, miny, maxx, maxy)`` in degrees (a GeoDataFrame's ``total_bounds``).

    Examples
    --------
    >>> m = new_map(tiles=None)
    >>> fit_to(m, (120.6, 31.3, 120.7, 31.4))
    """
    minx, miny, maxx, maxy = bounds
    m.fit_bounds([[miny, minx], [maxy, maxx]])


# -- the page: where its assets come from ------------------------------------------------------

#: Assets folium references by URL, and the vendored file that replaces each (by URL pattern).
_VENDORED = [
    (re.compile(r"leaflet(@[\d.]+)?/dist/leaflet\.js$|/leaflet\.js$"), "leaflet.js"),
    (re.compile(r"leaflet(@[\d.]+)?/dist/leaflet\.css$|/leaflet\.css$"), "leaflet.css"),
    (re.compile(r"leaflet\.markercluster(-src)?\.js$"), "leaflet.markercluster.js"),
    (re.compile(r"MarkerCluster\.Default\.css$"), "MarkerCluster.Default.css"),
    (re.compile(r"MarkerCluster\.css$"), "MarkerCluster.css"),
]
_SCRIPT = re.compile(r'<script[^>]*\bsrc="(https?://[^"]+)"[^>]*>\s*</script>')
_LINK = re.compile(r'<link[^>]*\bhref="(https?://[^"]+)"[^>]*/?>')


def map_page(m: folium.Map, *, offline: bool = True) -> tuple[str, list[str]]:
    """The whole HTML page of a map; the one place that decides where its assets come from.

    The map pages gridtools writes or serves go through here (:func:`save_map`, the reports'
    embedded maps, the dispatch service's trip map).  Not through here: a map shown in a
    notebook, which embeds folium's own ``_repr_html_`` iframe.  A page that is not a folium map
    takes the same assets from :func:`leaflet_assets`.

    Parameters
    ----------
    m : folium.Map
    offline : bool
        True (the default): Leaflet and MarkerCluster are inlined from the copies vendored in
        :data:`VENDOR`, with Leaflet's marker images as data URIs; the other assets folium links
        by default (jQuery, Bootstrap, Font Awesome, awesome-markers) are dropped, since the maps
        gridtools builds do not use them (and would cost ~400 kB a page).  Only tiles, when a
        map was given some, still need the network.  False: the page links every asset from its
        CDN, as folium writes it.

    Returns
    -------
    html : str
    dropped : list of str
        URLs of assets left out (always empty when ``offline`` is False), so a caller can warn.

    Examples
    --------
    >>> page, dropped = map_page(new_map(tiles=None), offline=True)
    >>> "L.map(" in page and 'src="http' not in page and any("jquery" in d for d in dropped)
    True
    """
    page = m.get_root().render()
    if not offline:
        return page, []
    dropped: list[str] = []

    def inline(match: re.Match) -> str:
        local = _vendored_file(match.group(1))
        if local is None:
            dropped.append(match.group(1))
            return ""
        return _inline_asset(local)

    page = _SCRIPT.sub(inline, page)
    page = _LINK.sub(inline, page)
    return page, dropped


def leaflet_assets(*, markercluster: bool = False) -> str:
    """Inline ``<style>`` and ``<script>`` tags of the vendored Leaflet, for a page built by hand.

    A page that is not a folium map (a service's own page drawing with Leaflet) puts this in its
    ``<head>`` to work offline, with the same assets :func:`map_page` inlines into map pages.

    Parameters
    ----------
    markercluster : bool
        Also inline Leaflet.markercluster and its two stylesheets.

    Returns
    -------
    str
        HTML, about 150 kB (200 kB with ``markercluster``).

    Examples
    --------
    >>> head = leaflet_assets()
    >>> head.startswith("<style>") and "L.Icon.Default.mergeOptions" in head and "http" not in head[:200]
    True
    """
    names = ["leaflet.css", "leaflet.js"]
    if markercluster:
        names += ["MarkerCluster.css", "MarkerCluster.Default.css", "leaflet.markercluster.js"]
    return "".join(_inline_asset(VENDOR / name) for name in names)


def _inline_asset(local: Path) -> str:
    """A vendored file as an inline tag (Leaflet's CSS and default icon with their images inlined)."""
    if local.suffix == ".css":
        text = _leaflet_css() if local.name == "leaflet.css" else local.read_text(encoding="utf-8")
        return f"<style>{text}</style>"
    text = local.read_text(encoding="utf-8")
    return f"<script>{text}</script>" + (_default_icon_script() if local.name == "leaflet.js" else "")


def _vendored_file(url: str) -> Path | None:
    for pattern, name in _VENDORED:
        if pattern.search(url):
            return VENDOR / name
    return None


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _leaflet_css() -> str:
    """Leaflet's CSS with its images inlined (the CSS refers to them by relative path)."""
    css = (VENDOR / "leaflet.css").read_text(encoding="utf-8")
    return re.sub(r"url\(images/([\w.-]+\.png)\)",
                  lambda m: f"url({_data_uri(VENDOR / 'images' / m.group(1), 'image/png')})", css)


def _default_icon_script() -> str:
    """Leaflet finds its marker images next to leaflet.css; inlined CSS has no location."""
    icon = {k: _data_uri(VENDOR / "images" / f, "image/png") for k, f in
            [("iconUrl", "marker-icon.png"), ("iconRetinaUrl", "marker-icon-2x.png"),
             ("shadowUrl", "marker-shadow.png")]}
    options = ", ".join(f'{k}: "{v}"' for k, v in icon.items())
    return f"<script>L.Icon.Default.mergeOptions({{{options}}});</script>"


def save_map(m: folium.Map, path: str | Path) -> Path:
    """Write a map to a standalone HTML file (the page of :func:`map_page`) and return its path.

    Parameters
    ----------
    m : folium.Map
    path : str or pathlib.Path
        Output file; missing parent folders are created.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> save_map(grid_map(grids), "out/grids.html")   # doctest: +SKIP
    PosixPath('out/grids.html')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page, _ = map_page(m)
    path.write_bytes(page.encode("utf8"))
    return path


# -- colours -----------------------------------------------------------------------------------


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
    out[under] = lerp_colors(*UNDER_COLORS, t_under[under])
    out[over] = lerp_colors(*OVER_COLORS, t_over[over])
    return out


def lerp_colors(start: str, end: str, t) -> np.ndarray:
    """Colours a fraction ``t`` (clipped to 0-1) of the way from ``start`` to ``end``.

    Parameters
    ----------
    start, end : str
        Hex colours ``"#rrggbb"``.
    t : array-like of float

    Returns
    -------
    numpy.ndarray of str

    Examples
    --------
    >>> lerp_colors("#000000", "#ffffff", [0, 0.5, 2]).tolist()
    ['#000000', '#808080', '#ffffff']
    """
    a = np.array([int(start[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    b = np.array([int(end[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)[:, None]
    rgb = np.rint(a + (b - a) * t).astype(int)
    return np.array([f"#{r:02x}{g:02x}{b_:02x}" for r, g, b_ in rgb], dtype=object)


def load_color(ratio) -> np.ndarray:
    """Colour of a segment-slot by load / capacity: green < 0.5, yellow < 0.8, orange <= 1, red over.

    Parameters
    ----------
    ratio : array-like of float

    Returns
    -------
    numpy.ndarray of str

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


class Legend(MacroElement):
    """A Leaflet control explaining a map's colours: a title, one swatch and label per row, a note.

    Parameters
    ----------
    title : str
    rows : sequence of (str, str)
        ``(css_background, label)``: a colour (``"#74c476"``) or a CSS gradient, and its text.
    note : str, optional
        A grey line under the rows.
    round_swatch : bool
        Draw swatches as dots (for point markers) instead of bars.

    Examples
    --------
    >>> m = new_map(tiles=None)
    >>> _ = Legend("Load / capacity", [("#1a9850", "under 0.5")]).add_to(m)
    >>> "under 0.5" in m.get_root().render()
    True
    """

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

    def __init__(self, title: str, rows: Sequence[tuple[str, str]], note: str | None = None,
                 round_swatch: bool = False):
        super().__init__()
        self._name = "Legend"
        shape = "width:12px;border-radius:50%" if round_swatch else "width:28px"
        items = "".join(
            f'<div><span style="display:inline-block;{shape};height:12px;margin-right:6px;'
            f'vertical-align:middle;border:1px solid #777;background:{bg}"></span>{html.escape(label)}</div>'
            for bg, label in rows
        )
        foot = f'<div style="color:#666;margin-top:2px">{html.escape(note)}</div>' if note else ""
        self.html = (
            '<div style="background:rgba(255,255,255,0.9);padding:6px 8px;border-radius:4px;'
            'box-shadow:0 0 4px rgba(0,0,0,0.3);font:12px/1.5 sans-serif">'
            f"<b>{html.escape(title)}</b>{items}{foot}</div>"
        )


class BandLegend(Legend):
    """Leaflet control explaining the population band and counting grids per class.

    Parameters
    ----------
    pop : numpy.ndarray
        Residents per grid (NaN counts as "no data").
    min_pop, max_pop : float
        The band.

    Examples
    --------
    >>> m = new_map(tiles=None)
    >>> _ = BandLegend(np.array([500.0, 1200.0]), 1000, 1500).add_to(m)
    >>> "(in band)" in m.get_root().render()
    True
    """

    def __init__(self, pop: np.ndarray, min_pop: float, max_pop: float):
        n_under = int(np.sum(pop < min_pop))
        n_in = int(np.sum((pop >= min_pop) & (pop <= max_pop)))
        n_over = int(np.sum(pop > max_pop))
        n_na = int(np.sum(np.isnan(pop)))
        lo, hi = f"{min_pop:,.0f}", f"{max_pop:,.0f}"
        rows = [
            (f"linear-gradient(to right, {UNDER_COLORS[1]}, {UNDER_COLORS[0]})", f"under {lo} ({n_under})"),
            (IN_BAND_COLOR, f"{lo}–{hi} (in band) ({n_in})"),
            (f"linear-gradient(to right, {OVER_COLORS[0]}, {OVER_COLORS[1]})", f"over {hi} ({n_over})"),
        ]
        if n_na:
            rows.append((NO_DATA_COLOR, f"no data ({n_na})"))
        super().__init__("Residents per grid", rows, note=f"band {lo}–{hi}; darker = further off")
        self._name = "BandLegend"


# -- popups and the data shown -----------------------------------------------------------------


def popup_fields(gdf: pd.DataFrame, fields: Sequence[str]) -> tuple[list[str], list[str]]:
    """The ``fields`` present in ``gdf`` (in the given order) and their display labels.

    Parameters
    ----------
    gdf : pandas.DataFrame or geopandas.GeoDataFrame
    fields : sequence of str
        Wanted columns; missing ones and the geometry are left out, repeats kept once.

    Returns
    -------
    fields : list of str
    aliases : list of str
        The label of each field (:data:`FIELD_LABELS`, else the column name capitalised).

    Examples
    --------
    >>> df = pd.DataFrame({"grid_code": [], "status": []})
    >>> popup_fields(df, ["grid_code", "in_band", "status"])
    (['grid_code', 'status'], ['Grid code', 'Status'])
    """
    present = [f for f in dict.fromkeys(fields) if f in gdf.columns and f != "geometry"]
    return present, [FIELD_LABELS.get(f, f.replace("_", " ").capitalize()) for f in present]


def display_values(df: pd.DataFrame, fields: Sequence[str]) -> pd.DataFrame:
    """Popup-ready text of ``fields``.

    Integers (and numbers of 100 or more) get thousands separators, other numbers 2 decimals,
    booleans read yes/no, codes (``grid_code`` and text) stay verbatim; missing values are empty.

    Parameters
    ----------
    df : pandas.DataFrame
    fields : sequence of str
        Columns of ``df`` to show.

    Returns
    -------
    pandas.DataFrame
        One text column per field, on ``df``'s index.

    Examples
    --------
    >>> df = pd.DataFrame({"population": [1250.0, None], "polsby_popper": [0.456, 0.5], "in_band": [True, False]})
    >>> display_values(df, ["population", "polsby_popper", "in_band"]).values.tolist()
    [['1,250', '0.46', 'yes'], ['', '0.50', 'no']]
    """
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


def to_wgs84(gdf: gpd.GeoDataFrame | gpd.GeoSeries, what: str) -> gpd.GeoDataFrame:
    """``gdf`` as a GeoDataFrame in EPSG:4326 for display, without empty geometries.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame or GeoSeries
    what : str
        The parameter's name, used in error messages (``"grids"``, ``"units"``).

    Returns
    -------
    geopandas.GeoDataFrame

    Raises
    ------
    InputError
        If ``gdf`` is not a GeoDataFrame or GeoSeries.
    CRSError
        If it has no CRS.

    Examples
    --------
    >>> from shapely import Point
    >>> to_wgs84(gpd.GeoSeries([Point(500000, 0)], crs=32650), "points").crs.to_epsg()
    4326
    """
    if isinstance(gdf, gpd.GeoSeries):
        gdf = gdf.to_frame("geometry")
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"{what} must be a GeoDataFrame, got {type(gdf).__name__}.")
    if gdf.crs is None:
        raise CRSError(f"{what} has no CRS; set one first, e.g. {what}.set_crs('EPSG:4326').")
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    return gdf.to_crs("EPSG:4326")
