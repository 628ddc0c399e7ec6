"""Issue 11 "no silent wrong answers": each example found by a new user, fixed, with the real outcome.

(Day-first dates and the datum of lon/lat in China have their tests in tests/hotspots and tests/incidents.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import box

from conftest import REPO, run_cli
from ladder import ladder_frame, ladder_network, ladder_park
from gridtools import io
from gridtools.errors import InputError, InputWarning


def _squares(n: int, pops, ids=None, crs=32651):
    geoms = [box(100 * (i % n), 100 * (i // n), 100 * (i % n) + 100, 100 * (i // n) + 100) for i in range(len(pops))]
    data = {"pop": pops}
    if ids is not None:
        data["block_id"] = ids
    return gpd.GeoDataFrame(data, geometry=geoms, crs=crs)


def test_oversize_unit_is_named_by_its_id_column(tmp_path, capsys):
    pops = [300] * 15 + [5_000]
    ids = [f"3205080010{i:07d}" for i in range(16)]          # 17-digit codes
    _squares(4, pops, ids).to_file(tmp_path / "blocks.gpkg")
    code, text = run_cli(["partition", tmp_path / "blocks.gpkg", "--pop", "pop", "--min", "800", "--max", "1200",
                          "-o", tmp_path / "grids.gpkg"], capsys, collapse=False)
    assert code == 0, text
    assert "block_id 32050800100000015" in " ".join(text.split())   # not "unit 15" nor "320508..."
    assert "..." not in text.split("over-size")[1].split("\n\n")[0]


def test_partition_piped_to_head_still_writes_its_file(tmp_path):
    _squares(4, [300] * 16).to_file(tmp_path / "blocks.gpkg")
    cmd = (f"{sys.executable} -m gridtools.cli partition {tmp_path / 'blocks.gpkg'} --pop pop --min 800 --max 1200 "
           f"-o {tmp_path / 'grids.gpkg'} | head -1")
    done = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, cwd=REPO,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "COLUMNS": "80"})
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
    grids = gpd.read_file(tmp_path / "grids.gpkg", layer="grids")
    assert len(grids) >= 4 and grids["population"].sum() == 4_800


def test_plain_tables_never_cut_codes(tmp_path, capsys):
    from gridtools.cli._common import print_table

    print_table(pd.DataFrame({"grid_code": ["32050800100200345"], "name": ["x" * 120]}), "t")
    text = capsys.readouterr().out
    assert "32050800100200345" in text and "x" * 120 in text


def test_rich_tables_fold_long_codes():
    from rich.console import Console

    from gridtools.cli._common import table_view

    view = table_view("grid_code", title="t")
    view.add_row("32050800100200345")
    console = Console(width=12, record=True, file=open("/dev/null", "w"))
    console.print(view)
    text = "".join(ch for ch in console.export_text() if ch.isdigit())
    assert "32050800100200345" in text and "…" not in console.export_text()


def test_rebalance_duplicated_key_names_rows(tmp_path, capsys):
    units = _squares(4, [300] * 16, [f"b{i}" for i in range(16)])
    units.to_file(tmp_path / "blocks.gpkg")
    code, text = run_cli(["partition", tmp_path / "blocks.gpkg", "--pop", "pop", "--min", "800", "--max", "1200",
                          "-o", tmp_path / "grids.gpkg"], capsys)
    assert code == 0, text
    new = pd.DataFrame({"block_id": [f"b{i}" for i in range(16)] + ["b3"], "pop2030": [320] * 17})
    new.to_csv(tmp_path / "new.csv", index=False)
    code, text = run_cli(["rebalance", tmp_path / "grids.gpkg", "--new-pop", tmp_path / "new.csv", "--key", "block_id",
                          "--pop", "pop2030", "-o", tmp_path / "out.gpkg"], capsys)
    assert code != 0 and "Traceback" not in text and "Reindexing" not in text
    assert "'b3'" in text and "rows 4, 17" in text and "new.csv" in text


def test_park_key_typo_is_named_with_closest(tmp_path, capsys):
    from gridtools.dispatch import park_from_dict

    with pytest.raises(InputError, match=r"unknown key 'capcity' \(did you mean 'capacity'\?\)"):
        park_from_dict({"docks": [{"id": "D", "lon": 8.04, "lat": 49.0, "capcity": 2}]}, "park.yaml")


def test_gate_that_reaches_no_dock_warns_at_load():
    from gridtools.dispatch import Dispatcher

    park = ladder_park(gates=[{"id": "G", "lon": 8.0, "lat": 49.0}, {"id": "FAR", "lon": 8.3, "lat": 49.3}])
    with pytest.warns(InputWarning, match=r"gate 'FAR' .* reaches no dock") as caught:
        Dispatcher(ladder_network(), park)
    assert not any("'G'" in str(w.message) for w in caught)


def test_refused_trips_are_printed(tmp_path, capsys):
    ladder_frame().to_file(tmp_path / "roads.gpkg")
    (tmp_path / "park.json").write_text(json.dumps(ladder_park().as_dict()))
    trips = pd.DataFrame({"plate": ["A1", "A2", "A3"], "dock": ["D", "D2", "D2"], "gate": ["G", "G", "G"],
                          "earliest_arrival": ["2026-11-24 08:00"] * 3, "weight_t": [20, 40, 40]})
    trips.to_csv(tmp_path / "trips.csv", index=False)
    code, text = run_cli(["dispatch", "assign", "--network", tmp_path / "roads.gpkg", "--park", tmp_path / "park.json",
                          tmp_path / "trips.csv", "-o", tmp_path / "out.gpkg"], capsys)
    assert code == 0, text
    assert "2 of 3 trips refused" in text and "A2" in text and "maxweight" in text.lower()


def test_empty_geopackage_names_no_python_parameter(tmp_path, capsys):
    empty = _squares(2, [1]).iloc[:0]
    empty.to_file(tmp_path / "empty.gpkg")
    code, text = run_cli(["map", tmp_path / "empty.gpkg", "--layer", "empty", "-o", tmp_path / "m.html"], capsys)
    assert code != 0 and "0 rows" in text and "allow_empty" not in text


def test_third_party_warnings_become_one_line(tmp_path, capsys):
    from gridtools.cli._common import show_warning

    show_warning(RuntimeWarning("Non closed ring detected. To avoid accepting it, set ..."), RuntimeWarning, "x", 1)
    show_warning(UserWarning("Could not infer format, so each element will be parsed individually"), UserWarning,
                 "x", 1)
    show_warning(InputWarning("3 rows left out\nsecond line"), InputWarning, "x", 1)
    err = capsys.readouterr().err
    assert err.strip() == "warning: 3 rows left out"
