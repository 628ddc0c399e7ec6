"""Partition pieces on a Dask LocalCluster: the same grids as the single-machine run."""

from __future__ import annotations

import pytest
from conftest import shared_data

from gridtools import io
from gridtools.grids import partition


@pytest.mark.slow
def test_local_cluster_gives_the_serial_grids():
    pytest.importorskip("distributed")
    blocks = io.read_any(shared_data("population", "providence", "Providence_blocks.zip"))
    blocks["WARD"] = blocks["WARD"].astype(int).astype(str)
    blocks = blocks[blocks["WARD"].isin(["1", "2", "3", "4"])].reset_index(drop=True)
    options = dict(pop="TOTPOP", min_pop=1000, max_pop=1500, within="WARD", random_state=0)
    serial = partition(blocks, n_jobs=1, **options)
    on_dask = partition(blocks, scheduler="local:2", **options)
    assert len(serial.grids) > 10
    assert serial.units["grid_code"].tolist() == on_dask.units["grid_code"].tolist()
    assert serial.grids["grid_code"].tolist() == on_dask.grids["grid_code"].tolist()
