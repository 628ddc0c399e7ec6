"""gridtools: population-balanced management grids and the city operations that run on them.

The public API is re-exported here::

    import gridtools
    result = gridtools.partition(blocks, pop="TOTPOP", min_pop=1000, max_pop=1500)

Capabilities live in their own packages (``gridtools.grids``, ``gridtools.components``,
``gridtools.incidents``, ``gridtools.hotspots``, ``gridtools.routing``, ``gridtools.dispatch``);
see ``docs/architecture.md`` for the layers.
"""

from gridtools.lazy import attach

# imported on first use: a command that only geocodes does not load METIS, scipy and networkx
__getattr__, __dir__ = attach(__name__, {
    "PartitionResult": "gridtools.grids", "RebalanceResult": "gridtools.grids", "partition": "gridtools.grids",
    "partition_features": "gridtools.grids", "rebalance": "gridtools.grids", "geocode": "gridtools.incidents",
})

__version__ = "0.1.0"

__all__ = ["PartitionResult", "RebalanceResult", "partition", "partition_features", "rebalance", "geocode",
           "__version__"]
