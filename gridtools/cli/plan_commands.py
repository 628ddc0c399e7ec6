"""``gridtools grids ...``: the planner's workflow (levels, existing plans, edits, the editor)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gridtools import io
from gridtools.cli._common import (
    LayerOption,
    OutOption,
    app,
    gpkg_layers,
    require_gpkg_output,
    group,
    out,
    pick_grids_layer,
    print_lines,
    print_table,
    write_or_print,
)
from gridtools.errors import GridtoolsError

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
    boundaries: Annotated[Optional[Path], typer.Option("--within-file", help="Polygons of the upper level "
                                                       "holding the --within column.")] = None,
    barriers: Annotated[Optional[Path], typer.Option("--barriers", help="Lines areas should follow.")] = None,
    code_prefix: Annotated[str, typer.Option("--code-prefix", help="Leading digits of area codes.")] = "",
    max_areas: Annotated[Optional[int], typer.Option("--max-areas", help="Most areas accepted: refused when "
                                                     "--within or the band needs more.")] = None,
):
    """Merge grids into contiguous areas of --min to --max residents (or --areas N areas).

    Writes layer [bold]areas[/bold] (area_code, population, n_grids, geometry) and layer
    [bold]grids[/bold] (every input grid plus its area_code) to OUTPUT.
    """
    from gridtools.grids.levels import aggregate as run_aggregate

    require_gpkg_output(output, "areas, grids")
    grids = io.read_any(grids_file, layer=pick_grids_layer(grids_file, None))
    result = run_aggregate(grids, pop, min_pop=min_pop, max_pop=max_pop, n_areas=n_areas, within=within,
                           boundaries=io.read_any(boundaries) if boundaries else None,
                           barriers=io.read_any(barriers) if barriers else None, code_prefix=code_prefix,
                           max_areas=max_areas)
    print_lines("aggregate", result.summary_lines())
    io.write_any(result.areas, output, layer="areas")
    io.write_any(result.grids, output, layer="grids")
    out.print(f"wrote {output} (layers: areas, grids)")


UnitsFileArgument = Annotated[Path, typer.Argument(help="Units with a plan column (layer 'units' of "
                                                        "'gridtools partition' output, or any polygons).")]
UnitPopOption = Annotated[str, typer.Option("--pop", help="Population column of the units.")]
BandMin = Annotated[int, typer.Option("--min", help="Fewest residents per grid.")]
BandMax = Annotated[int, typer.Option("--max", help="Most residents per grid.")]
PlanOption = Annotated[Optional[str], typer.Option("--plan", help="Column naming each unit's grid.")]
PlanFileOption = Annotated[Optional[Path], typer.Option("--plan-file", help="Grid/district polygons instead of "
                                                                            "--plan (units go by their point).")]
KeyOption = Annotated[Optional[str], typer.Option("--key", help="Column of --plan-file naming each grid.")]
QuantityOption = Annotated[Optional[list[str]], typer.Option("--quantity", help="Workload column (repeatable); "
                                                                                "COL or COL=WEIGHT.")]


def _read_units(path: Path, layer: Optional[str]):
    """The units: the named layer, else layer 'units' of a partition GeoPackage, else the file."""
    if layer is None and "units" in gpkg_layers(path):
        layer = "units"
    return io.read_any(path, layer=layer)


def _plan_labels(units, plan: Optional[str], plan_file: Optional[Path], key: Optional[str]):
    """The plan per unit: a column, or the polygons of --plan-file joined by the units' points."""
    from gridtools.grids.plans import plan_from_polygons

    if (plan is None) == (plan_file is None):
        raise GridtoolsError("give the plan as a column (--plan COL) or as polygons (--plan-file FILE --key COL)")
    if plan is not None:
        return plan
    if key is None:
        raise GridtoolsError("--plan-file needs --key: the column naming each grid")
    return plan_from_polygons(units, io.read_any(plan_file), key).to_numpy()


@grids_app.command("score")
def score(
    units_file: UnitsFileArgument,
    pop: UnitPopOption,
    plan: PlanOption = None,
    plan_file: PlanFileOption = None,
    key: KeyOption = None,
    min_pop: BandMin = 1000,
    max_pop: BandMax = 1500,
    communities: Annotated[Optional[str], typer.Option("--communities", help="Column of the community "
                                                                             "of each unit.")] = None,
    barriers: Annotated[Optional[Path], typer.Option("--barriers", help="Lines a grid should not "
                                                                        "straddle.")] = None,
    quantity: QuantityOption = None,
    layer: LayerOption = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Per-grid table to write.")] = None,
):
    """Score an existing plan (a column, or district polygons) with the report of a fresh partition."""
    from gridtools.grids.plans import score_plan

    weighted = [q for q in quantity or [] if "=" in q]
    if weighted:
        raise GridtoolsError(f"grids score reports the spread of each --quantity COL; a weight ({weighted[0]!r}) "
                             "only means something to 'grids balance': pass the column alone")
    units = _read_units(units_file, layer)
    result = score_plan(units, _plan_labels(units, plan, plan_file, key), pop, min_pop=min_pop, max_pop=max_pop,
                        communities=communities, barriers=io.read_any(barriers) if barriers else None,
                        quantities=list(quantity or []))
    print_lines("plan score", result.summary_lines())
    if output is not None:
        write_or_print(result.grids, output, "grids")


@grids_app.command("compare")
def compare(
    units_file: UnitsFileArgument,
    plan_a: Annotated[str, typer.Option("--a", help="Column of the first plan.")],
    plan_b: Annotated[str, typer.Option("--b", help="Column of the second plan.")],
    pop: UnitPopOption,
    layer: LayerOption = None,
):
    """Units and residents that change grid between two plans of the same units."""
    from gridtools.grids.plans import compare_plans
    from gridtools.validate import numeric_column, require_columns

    units = _read_units(units_file, layer)
    require_columns(units, {plan_a: "plan_a", plan_b: "plan_b", pop: "pop"}, str(units_file))
    result = compare_plans(units[plan_a], units[plan_b], numeric_column(units, pop, str(units_file)))
    print_lines("plan comparison", result.summary_lines())


@grids_app.command("subdivide")
def subdivide(
    grids_file: Annotated[Path, typer.Argument(help="Grids or blocks (layer grids of a partition).")],
    buildings_file: Annotated[Path, typer.Argument(help="Building footprints or household points.")],
    output: OutOption,
    pop: GridPopOption = "population",
    code: Annotated[str, typer.Option("--code", help="Code column of the grids.")] = "grid_code",
    building_pop: Annotated[Optional[str], typer.Option("--building-pop", help="Estimated residents per "
                                                        "building (else spread by footprint area).")] = None,
    min_pop: BandMin = 1000,
    max_pop: BandMax = 1500,
):
    """Split over-size grids into contiguous sub-grids of whole buildings (residents kept exactly).

    Writes layers [bold]grids[/bold] (sub-grids in place of the split grids), [bold]cells[/bold] and
    [bold]subdivided[/bold] (the per-grid report).
    """
    from gridtools.grids.subdivide import subdivide as run_subdivide

    require_gpkg_output(output, "grids, cells, subdivided")
    grids = io.read_any(grids_file, layer="grids" if "grids" in gpkg_layers(grids_file) else None)
    result = run_subdivide(grids, io.read_any(buildings_file), pop=pop, code=code, building_pop=building_pop,
                           min_pop=min_pop, max_pop=max_pop)
    print_lines("subdivide", result.summary_lines())
    print_table(result.report, "over-size grids")
    io.write_any(result.grids, output, layer="grids")
    io.write_any(result.cells, output, layer="cells")
    io.write_any(result.report, output, layer="subdivided")
    out.print(f"wrote {output} (layers: grids, cells, subdivided)")


@grids_app.command("balance")
def balance(
    units_file: UnitsFileArgument,
    output: OutOption,
    pop: UnitPopOption,
    quantity: QuantityOption = None,
    assignment: Annotated[str, typer.Option("--plan", help="Column naming each unit's grid.")] = "grid_code",
    min_pop: BandMin = 1000,
    max_pop: BandMax = 1500,
    lock: Annotated[Optional[list[str]], typer.Option("--lock", help="Grid never changed (repeatable).")] = None,
    offices: Annotated[Optional[Path], typer.Option("--offices", help="Office points, one per grid (column "
                                                    "--office-grid).")] = None,
    office_grid: Annotated[str, typer.Option("--office-grid", help="Column of --offices naming the grid.")] = "grid_code",
    network: Annotated[Optional[Path], typer.Option("--network", help="Road network (OSM extract or road "
                                                    "lines): travel times to the offices.")] = None,
    max_travel_min: Annotated[Optional[float], typer.Option("--max-travel-min", help="Longest drive from a grid's "
                                                            "office to a unit moved into it.")] = None,
    max_distance_m: Annotated[Optional[float], typer.Option("--max-distance-m", help="Longest straight line from "
                                                            "a grid's office to a unit moved into it.")] = None,
    layer: LayerOption = None,
):
    """Balance further quantities (--quantity housing_units=1) over the grids by validated boundary moves.

    With --offices and --network, the drive from each grid's office to its farthest unit is reported
    (and capped by --max-travel-min).  Writes layer [bold]units[/bold] with the new grid_code and layer
    [bold]tallies[/bold].
    """
    from gridtools.grids.workload import balance_workload

    require_gpkg_output(output, "units, tallies")
    weights = _weights(quantity)
    units = _read_units(units_file, layer)
    result = balance_workload(units, assignment, pop, weights, min_pop=min_pop, max_pop=max_pop,
                              locked=lock or (), max_distance_m=max_distance_m,
                              **_office_options(offices, office_grid, network, max_travel_min, units.crs))
    print_lines("workload balance", result.summary_lines())
    units = units.assign(grid_code=result.assignment.to_numpy())
    io.write_any(units, output, layer="units")
    io.write_any(result.tallies, output, layer="tallies")
    out.print(f"wrote {output} (layers: units, tallies)")


def _office_options(offices: Optional[Path], office_grid: str, network: Optional[Path],
                    max_travel_min: Optional[float], crs) -> dict:
    """--offices / --network / --max-travel-min -> the office keywords of balance_workload."""
    from gridtools.routing import load_network
    from gridtools.validate import require_columns

    if offices is None:
        if network is not None or max_travel_min is not None:
            raise GridtoolsError("--network and --max-travel-min need --offices: a point file with one office "
                                 "per grid (column --office-grid)")
        return {}
    if max_travel_min is not None and not max_travel_min > 0:
        raise GridtoolsError(f"--max-travel-min must be a number of minutes > 0, not {max_travel_min:g}")
    points = io.read_any(offices)
    require_columns(points, {office_grid: "office_grid"}, str(offices))
    points = points.to_crs(crs)
    return {"offices": dict(zip(points[office_grid].astype(str), points.geometry.representative_point())),
            "network": load_network(network) if network is not None else None,
            "max_travel_s": None if max_travel_min is None else max_travel_min * 60.0}


def _weights(quantity: Optional[list[str]]) -> dict[str, float]:
    """--quantity COL or COL=WEIGHT (repeatable) -> column -> weight; at least one is needed."""
    if not quantity:
        raise GridtoolsError("grids balance needs at least one quantity to balance besides the residents: "
                             "--quantity COL or COL=WEIGHT, repeatable (e.g. --quantity housing_units=1)")
    weights = {}
    for text in quantity or []:
        column, _, weight = text.partition("=")
        if not column:
            raise GridtoolsError(f"--quantity takes COL or COL=WEIGHT, e.g. housing_units=1; got {text!r} "
                                 "(no column name)")
        try:
            weights[column] = float(weight) if weight else 1.0
        except ValueError:
            raise GridtoolsError(f"--quantity takes COL or COL=WEIGHT with a number as the weight, "
                                 f"e.g. housing_units=1; got {text!r}") from None
    return weights


@grids_app.command("edit")
def edit(
    grids_file: Annotated[Path, typer.Argument(help="GeoPackage of 'gridtools partition' (layers units, grids).")],
    pop: UnitPopOption,
    assignment: Annotated[str, typer.Option("--plan", help="Column naming each unit's grid.")] = "grid_code",
    min_pop: BandMin = 1000,
    max_pop: BandMax = 1500,
    within: Annotated[Optional[str], typer.Option("--within", help="Nesting column: units never move "
                                                                   "across it.")] = None,
    port: Annotated[int, typer.Option("--port", help="Local port of the editor.")] = 8765,
):
    """Edit grids by hand in the browser (served on 127.0.0.1, works offline); Save writes back to the file.

    Click or box-select units, move them to a grid, watch the tallies, lock grids, undo / redo.  Saving
    replaces layers [bold]units[/bold] and [bold]grids[/bold] and appends to [bold]edit_history[/bold].
    """
    import uvicorn

    from gridtools.service.editor import EditSession, create_editor_app

    if not 1 <= port <= 65535:
        raise GridtoolsError(f"--port must lie between 1 and 65535, not {port}")
    if not grids_file.exists():
        raise GridtoolsError(f"file not found: {grids_file}")
    layers = gpkg_layers(grids_file)
    if "units" not in layers:
        raise GridtoolsError(f"{grids_file} has no 'units' layer: give the GeoPackage 'gridtools partition' wrote")
    history = io.read_any(grids_file, layer="edit_history") if "edit_history" in layers else None
    saved = io.read_any(grids_file, layer="grids") if "grids" in layers else None
    session = EditSession(io.read_any(grids_file, layer="units"), pop, grids_file, assignment=assignment,
                          min_pop=min_pop, max_pop=max_pop, within=within, history=history,
                          locked=EditSession.locked_in(saved))
    out.print(f"editing {grids_file}: open http://127.0.0.1:{port}/ (Ctrl-C to stop)")
    uvicorn.run(create_editor_app(session), host="127.0.0.1", port=port, log_level="warning")
