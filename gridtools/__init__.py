"""gridtools: population-balanced management grids and the city operations that run on them.

The public API is re-exported here::

    import gridtools
    result = gridtools.partition(blocks, pop="TOTPOP", min_pop=1000, max_pop=1500)
"""

from gridtools.partition import PartitionResult, RebalanceResult, partition, rebalance

__version__ = "0.1.0"

__all__ = ["PartitionResult", "RebalanceResult", "partition", "rebalance", "__version__"]

# coordinates and incidents
from gridtools.incidents import geocode  # noqa: E402

__all__ += ["geocode"]
