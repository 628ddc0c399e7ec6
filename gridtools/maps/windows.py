"""The map of a sub-day hotspot forecast: one frame per window, a time slider and a play button.

A week of 2-hour windows is 84 maps.  :func:`hotspot_window_map` draws the cells once and, as the
slider moves, recolours them with that window's risk, outlines the cells flagged in it (the riskiest
share of the area, the cells its metrics score) and draws that window's patrol areas
(:func:`gridtools.hotspots.window_patrol_areas`); the legend names the window and counts what it
shows.  All windows share one colour scale, so a reader sees the risk move across the day.  The
page is a folium map like every other (:func:`gridtools.maps.save_map` inlines Leaflet: it opens
offline).

Examples
--------
>>> import geopandas as gpd, pandas as pd, shapely
>>> cells = gpd.GeoDataFrame({"cell_id": ["a", "b"], "area_m2": [1e4, 1e4]}, crs=32631,
...                          geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)])
>>> windows = pd.DataFrame({"cell_id": ["a", "b", "a", "b"], "risk": [0.9, 0.1, 0.2, 0.7],
...                         "window_start": ["2020-06-01 06:00"] * 2 + ["2020-06-01 08:00"] * 2})
>>> m = hotspot_window_map(cells, windows, share=0.5)
>>> "2020-06-01 08:00" in m.get_root().render()
True
"""

from __future__ import annotations

import json

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement, Template

from gridtools import validate
from gridtools.errors import InputError
from gridtools.maps.base import Legend, fit_to, lerp_colors, new_map, to_wgs84
from gridtools.maps.basemap import draw_base

__all__ = ["WINDOW_RISK_COLORS", "WINDOW_CALM_COLOR", "FLAGGED_OUTLINE", "PATROL_OUTLINE", "WINDOW_RISK_QUANTILES",
           "hotspot_window_map"]

#: Risk classes of a window map (risk per km², the same breaks in every window): the quantiles of
#: all cell-window values that start each class above the calm one.
WINDOW_RISK_QUANTILES = (0.5, 0.75, 0.9, 0.95, 0.98)
#: Fill of the classes, least to most risky (YlOrRd, as :data:`gridtools.maps.HOTSPOT_COLORS`).
WINDOW_RISK_COLORS = tuple(lerp_colors("#ffeda0", "#bd0026", np.linspace(0, 1, len(WINDOW_RISK_QUANTILES))))
#: Fill of the cells below the median risk (drawn faint so the risky ones stand out).
WINDOW_CALM_COLOR = "#f7f7f7"
#: Outline of a cell flagged in the window shown (in its riskiest share of the area).
FLAGGED_OUTLINE = "#7f0000"
#: Outline of a patrol area.
PATROL_OUTLINE = "#000000"


def hotspot_window_map(
    cells: gpd.GeoDataFrame,
    windows: pd.DataFrame,
    patrol_areas: gpd.GeoDataFrame | None = None,
    *,
    share: float = 0.02,
    hours: float | None = None,
    tiles: str | None = None,
    roads: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """A map of every window of a sub-day forecast, with a slider and a play button over the windows.

    Parameters
    ----------
    cells : geopandas.GeoDataFrame
        The forecast's units: ``cell_id``, ``area_m2``, geometry (layer ``cells`` of
        ``gridtools hotspots predict --horizon-hours``, or ``WindowForecast.cells``).
    windows : pandas.DataFrame
        ``cell_id``, ``window_start`` ("YYYY-MM-DD HH:MM"), ``risk``: one row per cell and window
        (the table ``windows``, or ``WindowForecast.windows``).
    patrol_areas : geopandas.GeoDataFrame, optional
        Patrol areas with a ``window_start`` column (:func:`gridtools.hotspots.window_patrol_areas`,
        layer ``window_patrol_areas``): each window shows its own.
    share : float, default 0.02
        Share of the area outlined as flagged in each window (the patrol areas' share).
    hours : float, optional
        Window length, for the legend's "06:00-08:00" (default: the gap between the first two starts).
    tiles, roads
        As in :func:`gridtools.maps.hotspot_map` (default: no tiles, a light base from the cells).

    Returns
    -------
    folium.Map

    Raises
    ------
    InputError
        Missing columns, cells of *windows* that are not in *cells*, a window without every cell.

    Examples
    --------
    >>> m = hotspot_window_map(f.cells, f.windows, window_patrol_areas(f))   # doctest: +SKIP
    """
    validate.require_columns(cells, ["cell_id", "area_m2"], "cells")
    validate.require_columns(windows, ["cell_id", "window_start", "risk"], "windows")
    if not isinstance(share, (int, float, np.integer, np.floating)) or not 0 < share <= 1:
        raise InputError(f"share must lie in (0, 1], not {share!r} (0.02 = the riskiest 2% of the area).")
    shown = to_wgs84(cells, "cells").reset_index(drop=True)
    labels, density = _density_matrix(shown, windows)
    data = _frames(shown, labels, density, patrol_areas, share, hours)
    m = new_map(tiles)
    if tiles is None:
        draw_base(m, areas=shown, roads=roads)
    legend = Legend("Risk per km², every window on one scale", _class_rows(data["breaks"]), note=(
        f"outlined dark red: the riskiest {share:.0%} of the area in the window; black: its patrol areas"))
    legend.add_to(m)
    WindowSlider(data).add_to(m)
    # zoom to where risk is: a hull drawn round stray points is mostly empty cells
    risky = (density > (data["breaks"][0] if data["breaks"] else 0)).any(axis=0)
    fit_to(m, (shown[risky] if risky.any() else shown).total_bounds)
    return m


def _density_matrix(cells: gpd.GeoDataFrame, windows: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """Window labels in time order and risk per km² as an array (n_windows, n_cells) in *cells*' order."""
    position = pd.Series(np.arange(len(cells)), index=cells["cell_id"].astype(str).to_numpy())
    if not position.index.is_unique:
        raise InputError("cells: column 'cell_id' names a cell more than once; map the layer 'cells' of one forecast.")
    ids = windows["cell_id"].astype(str)
    where = position.reindex(ids.to_numpy()).to_numpy()
    if np.isnan(where).any():
        unknown = ids[np.isnan(where)].unique()[:5]
        raise InputError(f"windows: cell_id {', '.join(map(repr, unknown))} not in the cells; give the cells and "
                         "windows of the same forecast (one GeoPackage of 'gridtools hotspots predict').")
    labels = sorted(windows["window_start"].astype(str).unique())
    row = pd.Series(np.arange(len(labels)), index=labels).loc[windows["window_start"].astype(str)].to_numpy()
    risk = np.full((len(labels), len(cells)), np.nan)
    risk[row, where.astype(np.int64)] = windows["risk"].to_numpy(dtype=float)
    if np.isnan(risk).any():
        bad = [labels[i] for i in np.flatnonzero(np.isnan(risk).any(axis=1))[:3]]
        raise InputError(f"windows: window {', '.join(bad)} has no risk for some cells; every window needs every cell.")
    area_km2 = np.maximum(cells["area_m2"].to_numpy(dtype=float) / 1e6, 1e-12)
    return labels, risk / area_km2


def _frames(cells, labels, density, patrol_areas, share, hours) -> dict:
    """What the page's script needs: cells, class breaks, and per window its classes, flagged cells and areas."""
    from gridtools.hotspots.metrics import flagged_count, rank_cells

    positive = density[density > 0]
    breaks = np.quantile(positive, WINDOW_RISK_QUANTILES) if positive.size else np.zeros(len(WINDOW_RISK_QUANTILES))
    area = cells["area_m2"].to_numpy(dtype=float)
    risk = density * area / 1e6
    step = hours if hours is not None else _gap_hours(labels)
    by_window = _areas_by_window(patrol_areas)
    frames = []
    for label, d, r in zip(labels, density, risk):
        cls = np.searchsorted(breaks, d, side="right")  # 0 = calm, 1.. = the coloured classes
        cls[d <= 0] = 0
        order = rank_cells(r, area)
        flagged = order[:flagged_count(area[order], share)]
        areas = by_window.get(label)
        frames.append({
            "label": label, "end": _end_label(label, step), "cls": "".join(map(str, cls.tolist())),
            "risk": np.round(r, 4).tolist(), "flagged": flagged.tolist(), "expected": round(float(r[flagged].sum()), 2),
            "areas": areas,
            "n_areas": 0 if areas is None else len(areas["features"]),
        })
    features = [{"type": "Feature", "properties": {"i": i, "id": str(cid)}, "geometry": g}
                for i, (cid, g) in enumerate(zip(cells["cell_id"], _geojson(cells.geometry)))]
    return {"cells": {"type": "FeatureCollection", "features": features}, "frames": frames,
            "breaks": [float(b) for b in breaks], "colors": [WINDOW_CALM_COLOR, *WINDOW_RISK_COLORS],
            "flagged_outline": FLAGGED_OUTLINE, "patrol_outline": PATROL_OUTLINE, "share": float(share),
            "has_areas": patrol_areas is not None}


def _areas_by_window(patrol_areas) -> dict:
    """Each window's patrol areas as a GeoJSON FeatureCollection (dicts), by window label."""
    if patrol_areas is None:
        return {}
    validate.require_columns(patrol_areas, ["window_start", "area_id", "n_cells", "expected_events"], "patrol_areas")
    areas = to_wgs84(patrol_areas, "patrol_areas")
    shapes = _geojson(areas.geometry)
    out: dict[str, dict] = {}
    for label, area_id, n_cells, expected, shape in zip(areas["window_start"].astype(str), areas["area_id"],
                                                        areas["n_cells"], areas["expected_events"], shapes):
        feature = {"type": "Feature", "geometry": shape, "properties": {
            "area_id": int(area_id), "n_cells": int(n_cells), "expected_events": round(float(expected), 2)}}
        out.setdefault(label, {"type": "FeatureCollection", "features": []})["features"].append(feature)
    return out


def _geojson(geometries) -> list[dict]:
    """GeoJSON geometries (dicts) with coordinates to 6 decimals (~0.1 m: enough to draw, a third the size)."""
    rounded = shapely.transform(np.asarray(geometries), lambda xy: np.round(xy, 6))
    return [json.loads(text) for text in shapely.to_geojson(rounded)]


def _gap_hours(labels: list[str]) -> float | None:
    if len(labels) < 2:
        return None
    gap = pd.Timestamp(labels[1]) - pd.Timestamp(labels[0])
    return gap.total_seconds() / 3600


def _end_label(label: str, hours: float | None) -> str:
    if hours is None:
        return ""
    return (pd.Timestamp(label) + pd.Timedelta(hours=hours)).strftime("%H:%M")


def _class_rows(breaks) -> list[tuple[str, str]]:
    edges = [*breaks, None]
    rows = [(WINDOW_CALM_COLOR, f"under {breaks[0]:.3g} (below the median)")]
    for colour, lo, hi in zip(WINDOW_RISK_COLORS, edges[:-1], edges[1:]):
        rows.append((colour, f"{lo:.3g} – {hi:.3g}" if hi is not None else f"{lo:.3g} and over"))
    return rows


def _script_json(data) -> str:
    """JSON safe inside a ``<script>``: no ``</script>`` or HTML comment can be closed by a user's value."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class WindowSlider(MacroElement):
    """The slider, play button and per-window layers of :func:`hotspot_window_map` (one Leaflet control)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var data = {{ this.data }};
            var esc = function (s) { return String(s).replace(/[&<>"']/g, function (c) {
                return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]; }); };
            var current = 0, flagged = {}, timer = null;
            var cells = L.geoJSON(data.cells, {
                style: function () { return {weight: 0.3, color: "#999", fillOpacity: 0.7, fillColor: data.colors[0]}; }
            }).addTo(map);
            cells.eachLayer(function (layer) {
                layer.bindTooltip(function () {
                    var p = layer.feature.properties, f = data.frames[current];
                    return "Cell " + esc(p.id) + "<br>" + esc(f.label) + ": risk " + f.risk[p.i].toFixed(4)
                        + (flagged[p.i] ? "<br>flagged" : "");
                }, {sticky: true});
            });
            var areas = L.layerGroup().addTo(map);
            var control = L.control({position: "topright"});
            control.onAdd = function () {
                var div = L.DomUtil.create("div", "gridtools-window-control");
                div.style.cssText = "background:rgba(255,255,255,0.92);padding:6px 8px;border-radius:4px;"
                    + "box-shadow:0 0 4px rgba(0,0,0,0.3);font:12px/1.5 sans-serif;min-width:260px";
                div.innerHTML = '<div><button type="button" class="gridtools-window-play">▶ play</button> '
                    + '<b class="gridtools-window-label"></b></div>'
                    + '<input type="range" class="gridtools-window-slider" min="0" step="1" style="width:100%">'
                    + '<div class="gridtools-window-counts"></div>';
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            control.addTo(map);
            var box = control.getContainer();
            var slider = box.querySelector(".gridtools-window-slider");
            var play = box.querySelector(".gridtools-window-play");
            slider.max = data.frames.length - 1;
            slider.value = 0;
            function show(k) {
                current = k;
                var f = data.frames[k];
                flagged = {};
                f.flagged.forEach(function (i) { flagged[i] = true; });
                cells.eachLayer(function (layer) {
                    var i = layer.feature.properties.i, on = flagged[i] === true;
                    layer.setStyle({fillColor: data.colors[+f.cls[i]], color: on ? data.flagged_outline : "#999",
                                    weight: on ? 1.6 : 0.3});
                    if (on) { layer.bringToFront(); }
                });
                areas.clearLayers();
                if (f.areas) {
                    L.geoJSON(f.areas, {
                        style: {fillOpacity: 0, color: data.patrol_outline, weight: 2.5, className: "gridtools-patrol"},
                        onEachFeature: function (feat, layer) {
                            var p = feat.properties;
                            layer.bindTooltip("Patrol area " + esc(p.area_id) + ": " + esc(p.n_cells)
                                + " cells, " + esc(p.expected_events) + " expected events", {sticky: true});
                        }
                    }).addTo(areas);
                }
                box.querySelector(".gridtools-window-label").textContent =
                    "Window " + (k + 1) + " of " + data.frames.length + ": " + f.label + (f.end ? "–" + f.end : "");
                box.querySelector(".gridtools-window-counts").textContent =
                    f.flagged.length + " cells flagged (" + Math.round(data.share * 100) + "% of the area), "
                    + f.expected.toFixed(2) + " expected events"
                    + (data.has_areas ? "; " + f.n_areas + " patrol areas" : "");
                box.dataset.window = String(k);
            }
            slider.addEventListener("input", function () { show(+slider.value); });
            play.addEventListener("click", function () {
                if (timer) { clearInterval(timer); timer = null; play.textContent = "▶ play"; return; }
                play.textContent = "❚❚ pause";
                timer = setInterval(function () {
                    slider.value = (+slider.value + 1) % data.frames.length;
                    show(+slider.value);
                }, 700);
            });
            show(0);
        })();
        {% endmacro %}
        """
    )

    def __init__(self, data: dict):
        super().__init__()
        self._name = "WindowSlider"
        self.data = _script_json(data)
