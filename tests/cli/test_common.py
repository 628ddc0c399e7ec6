"""The CLI's shared layer: library messages (which name Python parameters) read with the flags of
the command that is running."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import geopandas as gpd
import pytest
from conftest import run_cli
import typer
from shapely import box
from typer.main import get_command

from gridtools import io
from gridtools.cli import app
from gridtools.cli._common import cli_message


def _command(*path: str):
    """The click command ``gridtools <path>``."""
    from typer import _click as click

    command = get_command(app)
    for name in path:
        command = command.get_command(click.Context(command), name)
    return command


@pytest.fixture(scope="module")
def toy():
    demo = typer.Typer()

    @demo.command()
    def convert(
        source: Annotated[Path, typer.Argument()],
        lon: Annotated[Optional[str], typer.Option("--lon")] = None,
        lat: Annotated[Optional[str], typer.Option("--lat")] = None,
        crs: Annotated[Optional[str], typer.Option("--crs")] = None,
        min_pop: Annotated[int, typer.Option("--min")] = 1,
        cell: Annotated[float, typer.Option("-c", "--cell")] = 1.0,
        strict: Annotated[bool, typer.Option("--strict")] = False,
        reoptimise: Annotated[bool, typer.Option("--reoptimise/--greedy")] = True,
        skip_bad: Annotated[bool, typer.Option("--skip-bad")] = False,
        category: Annotated[Optional[list[str]], typer.Option("--category")] = None,
    ):
        pass

    return get_command(demo)


@pytest.mark.parametrize(("python", "cli"), [
    ("pass crs=...", "pass --crs"),
    ("pass crs='EPSG:4326' when reading", "pass --crs EPSG:4326 when reading"),
    ('pass crs="gcj02"', "pass --crs gcj02"),
    ("pass crs='a b'", "pass --crs 'a b'"),
    ("pass lon=..., lat=... to name them", "pass --lon/--lat to name them"),
    ("need min <= max (min_pop=...)", "need min <= max (--min)"),
    ("the 'cell' parameter of hotspots.prepare must be positive", "the --cell option must be positive"),
    ("the 'source' parameter is a file", "the SOURCE argument is a file"),
    ("give source=...", "give SOURCE"),
    ("strict=True", "--strict"),
    ("reoptimise=False", "--greedy"),
    ("reoptimise=True", "--reoptimise"),
    ("strict=False", "strict=False"),              # a flag that cannot be switched off stays Python
    ("list them with on_error='skip'.", "list them with --skip-bad."),
    ("categories=... need a column", "--category need a column"),
    ("pass layer=... or x=..., y=...", "pass layer=... or x=..., y=..."),  # not options of this command
    ("lon=..., layer=...", "--lon, layer=..."),
    ("cache=False", "cache=False"),
    ("e.g. lon=120.5, row 3", "e.g. lon=120.5, row 3"),  # data, not a keyword setting
    ("read it with io.read_any(path, crs=...)", "read it with io.read_any(path, crs=...)"),  # code stays code
    ("pass crs=... (CLI: --crs EPSG:4326)", "pass crs=... (CLI: --crs EPSG:4326)"),  # still written for the CLI
    ("xcrs=... and a.crs=...", "xcrs=... and a.crs=..."),  # only whole names
])
def test_parameters_become_flags_of_the_running_command(toy, python, cli):
    assert cli_message(python, toy) == cli
    assert cli_message(python, None) == python


def test_library_messages_read_right_with_each_command():
    partition, geocode = _command("partition"), _command("geocode")
    assert cli_message("population band [1600, 1500] is empty: need 0 < min <= max (min_pop=..., max_pop=...)",
                       partition).endswith("need 0 < min <= max (--min/--max)")
    assert cli_message("nest the partition in smaller areas (within='COLUMN')", partition) == \
        "nest the partition in smaller areas (--within COLUMN)"
    assert cli_message("x has no coordinate reference system; set one, e.g. read it with crs='EPSG:nnnn'",
                       partition).endswith("read it with --crs EPSG:nnnn")
    assert cli_message("swap the lon=..., lat=... columns.", geocode) == "swap the --lon/--lat columns."
    assert cli_message("Pass crs='wgs84' (or gcj02 / bd09 / EPSG:4490).", geocode) == \
        "Pass --crs wgs84 (or gcj02 / bd09 / EPSG:4490)."
    components = _command("components", "import")
    assert cli_message("give the 6-digit county code with admin_code=... (e.g. 320508)", components) == \
        "give the 6-digit county code with --admin-code (e.g. 320508)"
    assert cli_message("Name it with class_col='COLUMN', or give one class for every row with class_code='CODE' "
                       "(e.g. class_code='0118' for street lamps).", components) == \
        ("Name it with --class-col COLUMN, or give one class for every row with --class CODE "
         "(e.g. --class 0118 for street lamps).")
    assert cli_message("dispatch it to a department (to=...).", _command("incidents", "step")) == \
        "dispatch it to a department (--to)."
    backtest = _command("hotspots", "backtest")
    assert cli_message("categories=... were given without category_col=...; name the column", backtest) == \
        "--category were given without --category-col; name the column"
    assert cli_message("Choose a later start=...", backtest) == "Choose a later --start"
    assert cli_message("new_pop=... needs key=..., the column", _command("rebalance")) == "--new-pop needs --key, the column"
    assert cli_message("the 'score_cutoff' parameter", _command("incidents", "addresses")) == "the --cutoff option"


@pytest.fixture
def blocks_file(tmp_path):
    blocks = gpd.GeoDataFrame({"pop": [300] * 16, "ward": ["a"] * 7 + [""] + ["b"] * 8},
                              geometry=[box(x * 100, y * 100, x * 100 + 100, y * 100 + 100)
                                        for x in range(4) for y in range(4)], crs="EPSG:32650")
    path = tmp_path / "blocks.gpkg"
    io.write_any(blocks, path)
    return path


def _run(args, capsys):
    return run_cli(args, capsys, collapse=True)


def test_errors_name_the_flags_on_the_command_line(blocks_file, tmp_path, capsys):
    out = tmp_path / "grids.gpkg"
    code, text = _run(["partition", blocks_file, "--pop", "pop", "--min", 1600, "--max", 1500, "-o", out], capsys)
    assert code == 2 and "need 0 < min <= max (--min/--max)" in text and "min_pop=" not in text
    code, text = _run(["partition", blocks_file, "--pop", "pop", "--within", "ward", "-o", out], capsys)
    assert code == 2 and "column 'ward' (--within) is empty" in text and "Traceback" not in text
    assert _run(["partition", blocks_file, "--pop", "pop", "-o", out], capsys)[0] == 0
    new = tmp_path / "new.csv"
    new.write_text("id,pop2\n1,300\n")
    code, text = _run(["rebalance", out, "--pop", "pop2", "--new-pop", new, "-o", tmp_path / "r.gpkg"], capsys)
    assert (code, text) == (2, "error: --new-pop needs --key, the column that identifies a unit in both files")
