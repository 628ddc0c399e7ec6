"""A small hand-made road network ("the ladder") with known answers, shared by the dispatch and service tests."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from gridtools.dispatch import park_from_dict
from gridtools.routing import network_from_frames


def ladder_network():
    """Gate G (8.00, 49.00) -> A -> two parallel roads -> B -> dock D (8.04, 49.00).

    osmid 1: G-A, 2: A-M (direct), 3: M-B (direct), 4/5/6: A-N1-N2-B (north, ~670 m longer),
    7: B-D; 9: a spur G-(8.00, 49.01) with maxweight 7.5 (dock D2 at its end).
    """
    lines = {1: [(8.0, 49.0), (8.01, 49.0)], 2: [(8.01, 49.0), (8.02, 49.0)], 3: [(8.02, 49.0), (8.03, 49.0)],
             4: [(8.01, 49.0), (8.01, 49.003)], 5: [(8.01, 49.003), (8.03, 49.003)], 6: [(8.03, 49.003), (8.03, 49.0)],
             7: [(8.03, 49.0), (8.04, 49.0)], 9: [(8.0, 49.0), (8.0, 49.01)]}
    frame = gpd.GeoDataFrame({"osmid": list(lines), "highway": "primary", "maxspeed": "60",
                              "maxweight": [None] * 7 + ["7.5"], "name": [f"road {k}" for k in lines]},
                             geometry=[shapely.LineString(v) for v in lines.values()], crs=4326)
    return network_from_frames(frame)


def ladder_park(**kw):
    base = {"slot_minutes": 30, "segment_capacity": 1, "segment_capacities": {"1": 100, "7": 100},
            "gates": [{"id": "G", "lon": 8.0, "lat": 49.0}],
            "docks": [{"id": "D", "lon": 8.04, "lat": 49.0, "capacity": 10},
                      {"id": "D2", "lon": 8.0, "lat": 49.01, "capacity": 10}],
            "waiting_areas": [{"id": "W1", "lon": 8.039, "lat": 49.001, "capacity": 1}]}
    base.update(kw)
    return park_from_dict(base)


def ladder_frame():
    """The ladder network as a line file (GeoDataFrame) with the columns a road file has."""
    net = ladder_network()
    ways = net.ways
    return gpd.GeoDataFrame({"osmid": ways["osmid"].to_numpy(), "highway": "primary", "maxspeed": "60",
                             "maxweight": ways["maxweight"].to_numpy() if "maxweight" in ways else None},
                            geometry=[shapely.LineString(net.segment_lines(np.flatnonzero(net.seg_way == i))[0].coords)
                                      for i in range(len(ways))], crs=4326)
