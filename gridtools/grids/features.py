"""Grids from points (household registers) or building footprints, cut along the street network.

When population comes as points or buildings rather than as polygons, the atomic units are the
blocks that streets, rails and rivers enclose inside the district (:mod:`gridtools.blocks`).
Every building or point goes whole to the block holding it, and the blocks are partitioned.
"""

from __future__ import annotations

import geopandas as gpd

from gridtools.blocks import blocks_from_network, boundary_from_features, network_lines_from_osm
from gridtools.errors import InputError
from gridtools.grids.core import PartitionResult, partition
from gridtools.grids.params import PARAMS_ATTR
from gridtools.population import aggregate_to_units

_OSM_TAGS = ("highway", "railway", "waterway")


def partition_features(features: gpd.GeoDataFrame, pop: str, lines: gpd.GeoDataFrame, *,
                       boundary: gpd.GeoDataFrame | None = None, min_block_m2: float | None = None,
                       **partition_kwargs) -> PartitionResult:
    """Partition buildings or register points into grids made of street blocks.

    Parameters
    ----------
    features : geopandas.GeoDataFrame
        Buildings (polygons) or points with a population column ``pop`` (for buildings without
        counts, run :func:`gridtools.population.estimate_building_population` first).
    pop : str
        Population column of ``features``.
    lines : geopandas.GeoDataFrame
        Streets, rails and rivers.  Raw OSM ways (tag columns ``highway``/``railway``/
        ``waterway`` and no ``major`` column) go through
        :func:`gridtools.blocks.network_lines_from_osm`: footpaths and service ways are left out
        and major roads, rails and rivers become major barriers.  Lines with a boolean ``major``
        column are used as given; other lines all cut blocks and are soft barriers.
    boundary : geopandas.GeoDataFrame, optional
        District outline; default: a hull around the features (see
        :func:`gridtools.blocks.boundary_from_features`).
    min_block_m2 : float, optional
        Blocks smaller than this merge into a neighbour.
    **partition_kwargs
        Passed to :func:`gridtools.partition` (``min_pop``, ``max_pop``, ``code_prefix``...).

    Returns
    -------
    PartitionResult
        ``units`` are the input features with their ``grid_code`` (and ``block_id``);
        ``blocks`` holds the blocks with their population and grid.
    """
    if "within" in partition_kwargs and partition_kwargs["within"]:
        raise InputError("nesting (--within) needs polygon units; with points or buildings give the "
                         "community outlines as the boundary and partition each separately")
    if boundary is None:
        boundary = boundary_from_features(features)
    if "major" not in lines.columns and any(tag in lines.columns for tag in _OSM_TAGS):
        lines = network_lines_from_osm(lines)  # raw OSM ways: keep block-bounding ones, flag major
    extra = {} if min_block_m2 is None else {"min_area_m2": min_block_m2}
    blocks = blocks_from_network(boundary, lines, **extra)
    blocks, block_of_feature = aggregate_to_units(blocks, features, pop)
    result = partition(blocks, pop=pop, barriers=lines, **partition_kwargs)
    out = features.copy()
    out["block_id"] = result.units["block_id"].to_numpy()[block_of_feature.to_numpy()]
    out["grid_code"] = result.units["grid_code"].to_numpy()[block_of_feature.to_numpy()]
    result.blocks = result.units
    result.units = out
    out.attrs[PARAMS_ATTR] = dict(result.params)
    return result
