"""Hotspot events named by an id (issue 11 leftover): a repeated id is refused with its rows, or with
``dedupe=True`` counted once; rows without an id are kept."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gridtools import hotspots
from gridtools.errors import InputError


def _events(ids):
    n = len(ids)
    return gpd.GeoDataFrame({"case": ids, "t": [f"2020-01-{d:02d} 10:00" for d in range(1, n + 1)]},
                            geometry=shapely.points(np.column_stack([np.arange(n) * 50.0, np.zeros(n)])), crs=32631)


def test_a_repeated_id_is_refused_naming_the_id_and_its_rows():
    with pytest.raises(InputError) as err:
        hotspots.prepare(_events(["A1", "B2", "A1", "C3"]), time="t", cell=100, id_col="case")
    message = str(err.value)
    assert "'A1'" in message and "rows 1, 3" in message and "dedupe=True" in message


def test_dedupe_keeps_the_first_row_of_each_id_and_rows_without_an_id():
    events, _ = hotspots.prepare(_events(["A1", "B2", "A1", None, None]), time="t", cell=100, id_col="case",
                                 dedupe=True)
    assert sorted(events.row.tolist()) == [1, 2, 4, 5] and events.report["deduplicated"] == 1


def test_id_column_must_exist_and_dedupe_needs_it():
    with pytest.raises(InputError, match="id_col"):
        hotspots.prepare(_events(["A1"]), time="t", cell=100, id_col="case_no")
    with pytest.raises(InputError, match="needs id_col"):
        hotspots.prepare(_events(["A1"]), time="t", cell=100, dedupe=True)
