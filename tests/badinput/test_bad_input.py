"""The bad-input suite: for every ``gridtools`` command, the everyday mistakes (missing file, wrong
column, empty file, wrong CRS or datum, swapped lon/lat, duplicates, bad dates and numbers,
negative or zero parameters, a database that does not exist).

Each case asserts a refusal (exit code != 0, no traceback, a message naming the file / column /
rows / option and the fix) or, where the input is usable, the right answer.
``python tests/badinput/count_cases.py`` counts the cases per command (docs/bad_input.md).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from badinput.cases import CASES, OK_CASES
from badinput.commands import cli_commands
from badinput.kit import make_kit
from conftest import run_cli


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """The good inputs, plus what the good commands make of them (grids, a case database, a register)."""
    import contextlib
    import io as stdio

    from gridtools.cli import main

    root = tmp_path_factory.mktemp("badinput")
    kit = make_kit(root)
    kit["grids"] = root / "grids.gpkg"
    kit["cases"] = root / "cases.db"
    kit["register"] = root / "register.gpkg"
    steps = [
        ["partition", kit["blocks"], "--pop", "pop", "--min", "800", "--max", "1200", "-o", kit["grids"]],
        ["incidents", "import", kit["cases"], kit["events"], "--type", "type", "--time", "reported",
         "--lon", "lon", "--lat", "lat", "--id", "event_id"],
        ["components", "import", kit["register"], kit["events"], "--grids", kit["grids"], "--class", "0101",
         "--key-col", "event_id", "--admin-code", "320508"],
    ]
    for step in steps:
        with contextlib.redirect_stdout(stdio.StringIO()), contextlib.redirect_stderr(stdio.StringIO()):
            with pytest.raises(SystemExit) as done:
                main([str(a) for a in step])
        assert done.value.code == 0, step
    return kit


def _args(kit, case) -> list[str]:
    return [str(a) for a in case.args(kit)]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.command}: {c.mistake}" for c in CASES])
def test_refused_with_a_message(kit, case, capsys, tmp_path):
    kit = {**kit, "out": tmp_path / "out"}
    code, text = run_cli(_args(kit, case), capsys)
    assert code != 0, f"accepted: {text}"
    assert "Traceback" not in text, text
    for words in case.expect:
        assert words.lower() in text.lower(), f"{words!r} not in: {text}"
    for python_only in ("allow_empty=", "on_error=", "key_col=", "dayfirst=True"):
        assert python_only not in text, text


@pytest.mark.parametrize("case", OK_CASES, ids=[f"{c.command}: {c.mistake}" for c in OK_CASES])
def test_usable_input_gives_the_right_answer(kit, case, capsys, tmp_path):
    kit = {**kit, "out": tmp_path / "out"}
    code, text = run_cli(_args(kit, case), capsys)
    assert code == 0, text
    assert "Traceback" not in text
    case.check(kit, text)


def test_every_command_has_bad_input_cases():
    covered = {c.command for c in CASES}
    missing = [c for c in cli_commands() if c not in covered]
    assert not missing, f"commands without bad-input cases: {missing}"
