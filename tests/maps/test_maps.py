"""Tests of gridtools.maps: folium grid maps render codes, populations, band colours and bounds."""

from __future__ import annotations

import json
import re

import folium
import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from gridtools import maps, settings
from gridtools.errors import CRSError, InputError

# three 500 m squares in UTM 50N (~116.0 E, 30.5 N)
X0, Y0 = 400_000, 3_375_000
CODES = ["42010200100100100", "42010200100100200", "42010200100100300"]
POPS = [900, 1200, 1600]


@pytest.fixture
def grids() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "grid_code": CODES,
            "population": POPS,
            "in_band": [False, True, False],
            "polsby_popper": [0.785, 0.6, 0.41234],
            "n_units": [3, 4, 5],
        },
        geometry=[box(X0 + 500 * i, Y0, X0 + 500 * (i + 1), Y0 + 500) for i in range(3)],
        crs="EPSG:32650",
    )


@pytest.fixture
def units(grids) -> gpd.GeoDataFrame:
    # each grid cut in two halves
    halves = []
    for g in grids.geometry:
        x0, y0, x1, y1 = g.bounds
        halves += [box(x0, y0, (x0 + x1) / 2, y1), box((x0 + x1) / 2, y0, x1, y1)]
    return gpd.GeoDataFrame({"unit_id": range(len(halves))}, geometry=halves, crs="EPSG:32650")


def _geojson_layers(html: str) -> list[dict]:
    """The GeoJSON FeatureCollections of the data embedded in a rendered folium map (not the drawn base)."""
    base = set(re.findall(r'var (geo_json_\w+) = L\.geoJson\(null, \{[^;]*?"pane": "gridtools-base"', html, flags=re.S))
    found = re.findall(r"(geo_json_\w+)_add\((\{.*?\})\);", html, flags=re.S)
    return [json.loads(text) for name, text in found if name not in base]


def _legend(html: str) -> str:
    """The legend's inner HTML (JSON-escaped in the page's script)."""
    return json.loads(re.search(r"div\.innerHTML = (\".*?\");", html).group(1))


def _attributions(html: str) -> list[str]:
    return [json.loads(a) for a in re.findall(r'"attribution": (".*?(?<!\\)")', html)]


def test_codes_and_populations_in_html(grids):
    html = maps.grid_map(grids, min_pop=1000, max_pop=1500, tiles=None).get_root().render()
    for code in CODES:
        assert code in html
    for text in ["900", "1,200", "1,600"]:
        assert f'"population": "{text}"' in html
    # optional fields are shown with labels, formatted
    assert "Compactness (Polsby-Popper)" in html and '"0.41"' in html
    assert '"in_band": "yes"' in html and "Units" in html
    assert "status" not in json.dumps(_geojson_layers(html)[0]["features"][0]["properties"])


def test_band_colours_differ(grids):
    colours = maps.band_colors(grids["population"], 1000, 1500)
    assert len(set(colours)) == 3
    assert colours[1] == maps.IN_BAND_COLOR
    html = maps.grid_map(grids, min_pop=1000, max_pop=1500, tiles=None).get_root().render()
    for c in colours:
        assert c in html
    # under is blue-ish, over red-ish
    r, g, b = (int(colours[0][i : i + 2], 16) for i in (1, 3, 5))
    assert b > r
    r, g, b = (int(colours[2][i : i + 2], 16) for i in (1, 3, 5))
    assert r > b
    # legend explains the band and counts one grid per class
    legend = _legend(html)
    for text in ("1,000–1,500 (in band)", "under 1,000", "over 1,500"):
        assert text in legend
    assert legend.count("(1)") == 3


def test_band_colours_scale_and_missing():
    c = maps.band_colors([950, 600, 1000, 1500, 1510, 3000, np.nan], 1000, 1500)
    assert c[2] == c[3] == maps.IN_BAND_COLOR
    assert c[0] != c[1]  # further under is darker
    assert c[5] == maps.OVER_COLORS[1] and c[4] != c[5]
    assert c[6] == maps.NO_DATA_COLOR


def test_default_band_from_settings(grids, monkeypatch):
    monkeypatch.setattr(settings, "min_pop", 800)
    monkeypatch.setattr(settings, "max_pop", 1250)
    html = maps.grid_map(grids, tiles=None).get_root().render()
    assert "800–1,250 (in band)" in _legend(html)


def test_bounds_in_lonlat(grids):
    m = maps.grid_map(grids, tiles=None)
    (south, west), (north, east) = m.get_bounds()
    assert 115 < west < east < 117
    assert 30 < south < north < 31
    html = m.get_root().render()
    assert "fitBounds" in html
    num = r"\s*([-\d.]+)\s*"
    fit = re.search(rf"fitBounds\(\s*\[\[{num},{num}\],\s*\[{num},{num}\]\]", html)
    lat0, lon0, lat1, lon1 = map(float, fit.groups())
    assert (lat0, lon0, lat1, lon1) == pytest.approx((south, west, north, east), abs=1e-6)


def test_units_outlines(grids, units):
    without = maps.grid_map(grids, tiles=None).get_root().render()
    html = maps.grid_map(grids, units=units, tiles=None).get_root().render()
    assert len(_geojson_layers(without)) == 1
    layers = _geojson_layers(html)
    assert len(layers) == 2
    assert sum(len(layer["features"]) for layer in layers) == len(grids) + len(units)
    assert '"Units"' in html
    assert '"interactive": false' in html


def test_tiles_attribution(grids):
    assert _attributions(maps.grid_map(grids).get_root().render()) == []  # offline by default: no tiles
    (attr,) = _attributions(maps.grid_map(grids, tiles="OpenStreetMap").get_root().render())
    assert "OpenStreetMap" in attr and "contributors" in attr
    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    html = maps.grid_map(grids, tiles=url).get_root().render()
    assert _attributions(html) == [maps.OSM_ATTRIBUTION]
    assert _attributions(maps.grid_map(grids, tiles=None).get_root().render()) == []


def test_layer_control_single_and_last(grids):
    m = folium.Map(tiles=None)
    folium.LayerControl().add_to(m)
    m = maps.grid_map(grids, m=m)
    controls = [c for c in m._children.values() if isinstance(c, folium.LayerControl)]
    assert len(controls) == 1
    assert list(m._children.values())[-1] is controls[0]
    html = m.get_root().render()
    assert html.index("L.control.layers") > html.rindex("_add({")


def test_any_crs_and_other_column(grids):
    g = grids.to_crs("EPSG:3857").rename(columns={"population": "pop_est"})
    g["pop_est"] = g["pop_est"] + 0.4
    html = maps.grid_map(g, column="pop_est", tiles=None).get_root().render()
    assert "Residents (pop_est)" in html and '"pop_est": "1,200"' in html


def test_bad_input(grids):
    with pytest.raises(InputError, match="no column 'pop'"):
        maps.grid_map(grids, column="pop")
    with pytest.raises(CRSError):
        maps.grid_map(grids.set_crs(None, allow_override=True))
    with pytest.raises(InputError, match="empty"):
        maps.grid_map(grids.iloc[:0])
    with pytest.raises(CRSError, match="units"):
        maps.grid_map(grids, units=grids.set_crs(None, allow_override=True))
    with pytest.raises(InputError, match="swap"):
        maps.grid_map(grids, min_pop=2000, max_pop=1000)


def test_popup_fields():
    frame = gpd.GeoDataFrame({"status": ["ok"], "grid_code": ["1"], "crime_rate": [0.5]})
    fields, aliases = maps.popup_fields(frame, ["grid_code", "population", "status", "crime_rate"])
    assert fields == ["grid_code", "status", "crime_rate"]
    assert aliases == ["Grid code", "Status", "Crime rate"]


def test_save_map(grids, tmp_path):
    out = maps.save_map(maps.grid_map(grids, tiles=None), tmp_path / "sub" / "grids.html")
    assert out.exists() and CODES[0] in out.read_text(encoding="utf-8")


def test_pages_are_offline_by_default_and_tiles_are_an_option(grids, units):
    from shapely.geometry import LineString

    roads = gpd.GeoDataFrame({"name": ["Jiefang Rd", "far away"], "highway": ["primary", "residential"]},
                             geometry=[LineString([(X0, Y0 + 250), (X0 + 1500, Y0 + 250)]),
                                       LineString([(X0 + 50_000, Y0), (X0 + 51_000, Y0)])], crs="EPSG:32650")
    page, dropped = maps.map_page(maps.grid_map(grids, roads=roads))
    assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', page) and "tile.openstreetmap" not in page
    assert any("jquery" in d for d in dropped) and "L.Icon.Default.mergeOptions" in page
    # the drawn base: ground colour, the grids' outline, the road inside the view with its name
    assert "gridtools-base" in page and "Jiefang Rd" in page and "far away" not in page
    online, _ = maps.map_page(maps.grid_map(grids, tiles="OpenStreetMap"))
    assert "tile.openstreetmap.org" in online and "gridtools-base" not in online
    # a hand-built page takes the same inlined Leaflet
    head = maps.leaflet_assets(markercluster=True)
    assert "L.MarkerClusterGroup" in head and 'src="http' not in head


def test_saved_page_has_a_zoom_range_for_marker_clusters(grids, tmp_path):
    page = maps.save_map(maps.grid_map(grids), tmp_path / "m.html").read_text()
    assert f'"maxZoom": {maps.MAX_ZOOM}' in page
