"""gridtools: population-balanced management grids and the city operations that run on them.

The public API is re-exported here::

    import gridtools
    result = gridtools.partition(blocks, pop="TOTPOP", min_pop=1000, max_pop=1500)

Capabilities live in their own packages (``gridtools.grids``, ``gridtools.components``,
``gridtools.incidents``, ``gridtools.hotspots``, ``gridtools.routing``, ``gridtools.dispatch``);
see ``docs/architecture.md`` for the layers.
"""

from gridtools.grids import PartitionResult, RebalanceResult, partition, partition_features, rebalance
from gridtools.incidents import geocode

__version__ = "0.1.0"

__all__ = ["PartitionResult", "RebalanceResult", "partition", "partition_features", "rebalance", "geocode",
           "__version__"]
