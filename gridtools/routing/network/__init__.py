"""Road networks for routing: the :class:`RoadNetwork` type and how one is made.

=================  ===========================================================================
``roadnetwork``    the :class:`RoadNetwork` type and the OSM keys its tables keep
``load``           :func:`load_network` (with the disk cache), :func:`network_from_osm`,
                   :func:`network_from_frames`
``build``          roads and vertices -> segments, directed arcs, parsed restriction columns
``turns``          turn restrictions built into the graph (via-node splitting, via-way path
                   duplication)
``cache``          the on-disk cache
=================  ===========================================================================
"""

from gridtools.routing.network.build import DEFAULT_SPEEDS
from gridtools.routing.network.cache import CACHE_VERSION
from gridtools.routing.network.load import load_network, network_from_frames, network_from_osm
from gridtools.routing.network.roadnetwork import DRIVABLE, NODE_KEYS, TURN_KINDS, WAY_KEYS, RoadNetwork

__all__ = ["CACHE_VERSION", "DEFAULT_SPEEDS", "DRIVABLE", "NODE_KEYS", "TURN_KINDS", "WAY_KEYS", "RoadNetwork",
           "load_network", "network_from_frames", "network_from_osm"]
