"""Truck-aware routing on OpenStreetMap or your own road files.

::

    from gridtools.routing import load_network, Router, truck
    net = load_network("city.osm.pbf")          # parsed once, then read from the disk cache
    router = Router(net)                        # customizable contraction hierarchy
    r = router.route((8.68, 49.41), (8.70, 49.40), truck(weight_t=40, height_m=4.2), at="2026-11-23 08:00")
    r.osmids, r.length_m, r.time_s, r.avoided   # ways used, totals, and what was avoided and why
    m = router.matrix(origins, destinations, truck())

See docs/routing.md for the restriction model and the benchmark.
"""

from gridtools.routing.compliance import Compliance, check_route, read_track
from gridtools.routing.network import RoadNetwork, load_network, network_from_frames, network_from_osm
from gridtools.routing.restrictions import arc_rules, explain_arcs
from gridtools.routing.result import Route, TravelTimeMatrix
from gridtools.routing.router import NoRouteError, Router, route, travel_time_matrix
from gridtools.routing.tags import parse_length, parse_speed, parse_time, parse_weight
from gridtools.routing.vehicle import Vehicle, car, truck, van, vehicle_from_options
from gridtools.routing.zones import BanZone, read_ban_zones

__all__ = ["BanZone", "Compliance", "NoRouteError", "RoadNetwork", "Route", "Router", "TravelTimeMatrix", "Vehicle", "arc_rules", "car", "check_route",
           "explain_arcs", "load_network", "network_from_frames", "network_from_osm", "parse_length", "parse_speed",
           "parse_time", "parse_weight", "read_ban_zones", "read_track", "route", "travel_time_matrix", "truck", "van", "vehicle_from_options"]
