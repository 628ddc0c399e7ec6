"""Did a dispatched truck follow its assigned route and park where told?  (``gridtools dispatch check``)

The trip's assigned route is read back from the :class:`~gridtools.dispatch.store.TripStore`; the
driver's GPS track is compared with it by :func:`gridtools.routing.check_route`; the assigned place
is the trip's waiting area, or its dock when it has none.
"""

from __future__ import annotations

import numpy as np

from gridtools.errors import InputError
from gridtools.routing import Route, check_route, truck


def trip_route(store, network, trip_id: str) -> Route:
    """The route a stored trip was assigned, on ``network`` (the network the service routed on).

    Raises
    ------
    InputError
        No such trip, or the trip was routed on another network.
    """
    row = store.trip(trip_id)
    if row is None:
        raise InputError(f"no trip {trip_id!r} in {store.path}")
    arcs = np.frombuffer(row["arcs"], np.int64)
    if len(arcs) and arcs.max() >= network.n_arcs:
        raise InputError(f"trip {trip_id!r} was routed on another road network than {network.source or 'this one'}; "
                         "pass the network the dispatch service runs on (--network)")
    return Route.from_arcs(network, arcs, np.frombuffer(row["arc_time_s"], np.float64), truck(),
                           origin=(row["origin_lon"], row["origin_lat"]))


def check_trip(store, network, park, trip_id: str, track, **options):
    """Compliance of a stored trip's GPS track: on-route share, off-route stretches, stops, parked in place.

    Parameters
    ----------
    store : TripStore
    network : RoadNetwork
    park : Park
    trip_id : str
    track : geopandas.GeoDataFrame
        Fixes with a ``time`` column (:func:`gridtools.routing.read_track`).
    **options
        Passed to :func:`gridtools.routing.check_route` (``zones``, ``tolerance_m``...).

    Returns
    -------
    Compliance

    Examples
    --------
    >>> check_trip(TripStore("d.db"), net, park, "3f2a...", read_track("gps.csv", crs="gcj02"))  # doctest: +SKIP
    """
    route = trip_route(store, network, trip_id)
    return check_route(route, track, parking=parking_place(store, park, trip_id), **options)


def parking_place(store, park, trip_id: str):
    """Where a stored trip was told to park (a shapely point, lon/lat): its waiting area, else its dock."""
    import shapely

    row = store.trip(trip_id)
    place = next((w for w in park.waiting_areas if w.id == row["waiting_area"]), None) or park.dock(row["dock"])
    return shapely.Point(place.lon, place.lat)
