"""``gridtools demo``: every capability on the data shipped in data/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridtools.cli._common import app, out, progress_bar


@app.command()
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the results.")] = Path("gridtools-demo"),
    lang: Annotated[str, typer.Option("--lang", help="Language of report.html: en or zh.")] = "en",
):
    """Every capability on the data shipped in data/: grids, components, (synthetic) incidents, hotspots.

    Writes the results and one map per capability, and report.html with a section for each (opens offline).
    """
    from gridtools.demo import run_demo
    from gridtools.errors import GridtoolsError

    if output.exists() and not output.is_dir():
        raise GridtoolsError(f"-o {output} is a file; the demo writes a folder of results: name a folder")

    with progress_bar() as progress:
        report = run_demo(output, progress=progress, lang=lang)
    for line in report.lines:
        out.print(line)
