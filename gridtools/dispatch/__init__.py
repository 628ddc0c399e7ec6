"""Truck dispatch for an industrial park: legal routes, arrival and dock slots, waiting places,
spread so that large trucks do not pile up on the same road segment in the same time slot.

::

    from gridtools.dispatch import Dispatcher, TripRequest, park_from_dict
    from gridtools.routing import load_network, truck
    d = Dispatcher(load_network("city.osm.pbf"), park_from_dict(park))
    a = d.assign(TripRequest("沪A12345", dock="D1", gate="G1", earliest="2026-11-24 08:10",
                             vehicle=truck(weight_t=40)))
    a.dock_time, a.waiting_area, a.route.osmids

See docs/dispatch.md for the park file format, the assignment model, the store and the service.
"""

from gridtools.dispatch.assign import Dispatcher
from gridtools.dispatch.park import Park, Place, park_from_dict, read_park
from gridtools.dispatch.trips import Assignment, RouteOption, TripRequest

__all__ = ["Assignment", "Dispatcher", "Park", "Place", "RouteOption", "TripRequest", "park_from_dict", "read_park"]
