"""Dangerous goods: hazmat=no ways and ADR tunnel categories against the load's tunnel code."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from conftest import run_cli
from gridtools.errors import InputError
from gridtools.routing import Router, network_from_frames, truck

A, B = (8.0, 49.0), (8.02, 49.0)


def _roads(short_tags: dict):
    """A short road (way 1, tagged) and a 2.2x longer detour (ways 2-4) between A and B."""
    m1, m2 = (8.0, 49.01), (8.02, 49.01)
    rows = [{"osmid": 1, "highway": "primary", "geometry": shapely.LineString([A, (8.01, 49.0), B]), **short_tags},
            {"osmid": 2, "highway": "primary", "geometry": shapely.LineString([A, m1])},
            {"osmid": 3, "highway": "primary", "geometry": shapely.LineString([m1, m2])},
            {"osmid": 4, "highway": "primary", "geometry": shapely.LineString([m2, B])}]
    return network_from_frames(gpd.GeoDataFrame(rows, crs=4326))


@pytest.mark.parametrize("tags, code, closed", [
    ({"hazmat": "no"}, "", True),
    ({"hazmat:water": "no"}, "", True),
    ({"tunnel": "yes", "hazmat:adr_tunnel": "D"}, "D", True),   # code D: D and E tunnels closed
    ({"tunnel": "yes", "hazmat:adr_tunnel": "E"}, "D", True),
    ({"tunnel": "yes", "hazmat:adr_tunnel": "C"}, "D", False),  # a C tunnel is open to code D
    ({"tunnel": "yes", "tunnel:category": "B"}, "B", True),
    ({"tunnel": "yes", "tunnel:category": "B"}, "E", False),
    ({"tunnel": "yes", "hazmat:adr_tunnel": "E"}, "", False),   # no code given: tunnels not judged
])
def test_hazmat_ways_and_tunnels(tags, code, closed):
    router = Router(_roads(tags))
    plain = router.route(A, B, truck())
    assert plain.osmids == [1]  # a truck without dangerous goods takes the short road
    loaded = router.route(A, B, truck(hazmat=True, adr_tunnel_code=code))
    assert (loaded.osmids == [2, 3, 4]) == closed
    if closed:
        assert loaded.avoided and loaded.avoided[0]["restriction"] == "dangerous goods"
        assert list(tags)[-1] in loaded.avoided[0]["why"]


def test_bad_tunnel_code_is_refused():
    with pytest.raises(InputError, match="adr_tunnel_code must be B, C, D or E"):
        truck(adr_tunnel_code="X")


def test_cli_hazmat_flags(tmp_path, capsys):
    roads = tmp_path / "roads.gpkg"
    gpd.GeoDataFrame([{"osmid": 1, "highway": "primary", "tunnel": "yes", "hazmat:adr_tunnel": "E",
                       "geometry": shapely.LineString([A, (8.01, 49.0), B])},
                      {"osmid": 2, "highway": "primary", "geometry": shapely.LineString([A, (8.0, 49.01)])},
                      {"osmid": 3, "highway": "primary", "geometry": shapely.LineString([(8.0, 49.01), (8.02, 49.01)])},
                      {"osmid": 4, "highway": "primary", "geometry": shapely.LineString([(8.02, 49.01), B])}],
                     crs=4326).to_file(roads)
    code, text = run_cli(["route", str(roads), "--from", "8.0,49.0", "--to", "8.02,49.0", "--weight-t", "40",
                          "--adr-tunnel-code", "D", "-o", str(tmp_path / "r.geojson"), "--no-cache"], capsys)
    assert code == 0 and "tunnel is closed to tunnel restriction code D" in text
    code, text = run_cli(["route", str(roads), "--from", "8.0,49.0", "--to", "8.02,49.0", "--weight-t", "40",
                          "--adr-tunnel-code", "Q", "-o", str(tmp_path / "r.geojson"), "--no-cache"], capsys)
    assert code == 2 and "B, C, D or E" in text
