"""``gridtools grids ...``: the planner's workflow (levels, existing plans, edits, the editor)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gridtools import io
from gridtools.cli._common import OutOption, app, group, out, print_lines

grids_app = group("Planner's tools for existing grids: aggregate into areas, score and compare plans, "
                  "subdivide over-size grids, edit by hand.")
app.add_typer(grids_app, name="grids")

GridsArgument = Annotated[Path, typer.Argument(help="GeoPackage written by 'gridtools partition' (layer grids).")]
GridPopOption = Annotated[str, typer.Option("--pop", help="Population column of the grids.")]


@grids_app.command("aggregate")
def aggregate(
    grids_file: GridsArgument,
    output: OutOption,
    pop: GridPopOption = "population",
    min_pop: Annotated[Optional[int], typer.Option("--min", help="Fewest residents per area.")] = None,
    max_pop: Annotated[Optional[int], typer.Option("--max", help="Most residents per area.")] = None,
    n_areas: Annotated[Optional[int], typer.Option("--areas", help="Number of areas (instead of "
                                                                   "--min/--max).")] = None,
    within: Annotated[Optional[str], typer.Option("--within", help="Column of the upper level: areas "
                                                                   "never cross it.")] = None,
    barriers: Annotated[Optional[Path], typer.Option("--barriers", help="Lines areas should follow.")] = None,
    code_prefix: Annotated[str, typer.Option("--code-prefix", help="Leading digits of area codes.")] = "",
):
    """Merge grids into contiguous areas of --min to --max residents (or --areas N areas).

    Writes layer [bold]areas[/bold] (area_code, population, n_grids, geometry) and layer
    [bold]grids[/bold] (every input grid plus its area_code) to OUTPUT.
    """
    from gridtools.grids.levels import aggregate as run_aggregate

    grids = io.read_any(grids_file, layer="grids")
    result = run_aggregate(grids, pop, min_pop=min_pop, max_pop=max_pop, n_areas=n_areas, within=within,
                           barriers=io.read_any(barriers) if barriers else None, code_prefix=code_prefix)
    print_lines("aggregate", result.summary_lines())
    io.write_any(result.areas, output, layer="areas")
    io.write_any(result.grids, output, layer="grids")
    out.print(f"wrote {output} (layers: areas, grids)")
