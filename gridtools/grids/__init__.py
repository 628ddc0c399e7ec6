"""Population-balanced partitioning of units into management grids.

- :func:`partition` cuts units into contiguous grids of ``min_pop``-``max_pop`` residents;
- :func:`rebalance` redraws existing grids after the population changed, touching few grids.
"""

from gridtools.grids.core import PartitionResult, partition
from gridtools.grids.features import partition_features
from gridtools.grids.redraw import RebalanceResult, rebalance

__all__ = ["PartitionResult", "RebalanceResult", "partition", "partition_features", "rebalance"]
