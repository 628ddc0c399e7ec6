"""Grids: ``gridtools partition``, ``rebalance``, ``map`` and ``population estimate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gridtools import io, settings
from gridtools.cli._common import (
    BandMaxOption,
    BandMinOption,
    CrsOption,
    DedupeOption,
    JobsOption,
    LayerOption,
    MapRoadsOption,
    OutOption,
    TilesOption,
    app,
    band_note,
    group,
    out,
    print_lines,
    require_gpkg_output,
    progress_bar,
    table_view,
    SchedulerOption,
)
from gridtools.errors import GridtoolsError, InputError

population_app = group("Population inputs: estimate residents of buildings.")
app.add_typer(population_app, name="population")

UnitsArgument = Annotated[Path, typer.Argument(help="Units: census blocks / compounds (polygons), or "
                                                    "buildings / register points with --roads.")]
PopOption = Annotated[Optional[str], typer.Option("--pop", help="Population column.")]
MinOption = Annotated[int, typer.Option("--min", help="Fewest residents per grid.")]
MaxOption = Annotated[int, typer.Option("--max", help="Most residents per grid.")]
WithinOption = Annotated[Optional[str], typer.Option("--within", help="Column of the nesting area "
                                                                      "(community, ward): grids never cross it.")]
BarriersOption = Annotated[Optional[Path], typer.Option("--barriers", help="Lines grids should follow "
                                                                           "(roads, rivers, rails).")]
RoadsOption = Annotated[Optional[Path], typer.Option("--roads", help="Street/rail/river lines: build blocks from "
                                                                     "them and partition the blocks.")]
BoundaryOption = Annotated[Optional[Path], typer.Option("--boundary", help="District outline (with --roads).")]
EstimateTotalOption = Annotated[Optional[int], typer.Option("--estimate-total", help="Buildings without counts: "
                                                            "spread this many residents over them by floor area.")]
CodePrefixOption = Annotated[str, typer.Option("--code-prefix", help="Leading code digits, e.g. the 6-digit "
                                                                      "county code.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Random seed.")]


@app.command()
def partition(
    units_file: UnitsArgument,
    output: OutOption,
    pop: PopOption = None,
    min_pop: MinOption = settings.min_pop,
    max_pop: MaxOption = settings.max_pop,
    within: WithinOption = None,
    barriers: BarriersOption = None,
    roads: RoadsOption = None,
    boundary: BoundaryOption = None,
    estimate_total: EstimateTotalOption = None,
    code_prefix: CodePrefixOption = "",
    crs: CrsOption = None,
    layer: LayerOption = None,
    jobs: JobsOption = None,
    scheduler: SchedulerOption = None,
    seed: SeedOption = settings.random_state,
    dedupe: DedupeOption = False,
):
    """Cut a district into contiguous grids of --min to --max residents.

    Writes layer [bold]grids[/bold] (grid_code, population, polsby_popper, status, geometry) and layer
    [bold]units[/bold] (every input row with its grid_code) to OUTPUT (a GeoPackage).
    """
    from gridtools.grids import partition as run_partition, partition_features

    units, pop = _read_units(units_file, pop, estimate_total, layer=layer, crs=crs)
    require_gpkg_output(output, "grids, units")
    options = dict(min_pop=min_pop, max_pop=max_pop, code_prefix=code_prefix, n_jobs=jobs,
                   scheduler=scheduler, random_state=seed)
    with progress_bar() as progress:
        if roads is not None:
            result = partition_features(units, pop, io.read_any(roads), boundary=_read_optional(boundary),
                                        progress=progress, **options)
        else:
            result = run_partition(units, pop=pop, within=within, barriers=_read_optional(barriers),
                                   progress=progress, dedupe=dedupe, **options)
    layers = _write_partition(result, output)  # the file first: a closed pipe (| head) cannot lose it
    _print_partition(result)
    out.print(f"wrote {output} (layers: {', '.join(layers)})")


def _read_units(path: Path, pop: Optional[str], estimate_total: Optional[int], *, layer, crs):
    """The units and their population column (``pop_est`` when --estimate-total spreads a total)."""
    units = io.read_any(path, layer=layer, crs=crs)
    if estimate_total is not None:
        from gridtools.population import estimate_building_population

        units = estimate_building_population(units, total=estimate_total)
        pop = pop or "pop_est"
    if pop is None:
        raise GridtoolsError("give the population column with --pop (or --estimate-total N for buildings)")
    return units, pop


def _read_optional(path: Optional[Path]):
    return io.read_any(path) if path else None


def _print_partition(result) -> None:
    print_lines("partition", result.summary_lines())
    if len(result.oversize):
        table = table_view("unit", "population", "grid_code", title="over-size units (each its own grid)")
        for row in result.oversize.itertuples(index=False):
            table.add_row(row.unit_name, f"{row.population:,.0f}", row.grid_code)
        out.print(table)
    if len(result.infeasible):
        table = table_view("piece", "population", "grids possible", "why", "proposed fix", title="infeasible pieces")
        for row in result.infeasible.itertuples(index=False):
            table.add_row(str(row.piece), f"{row.population:,.0f}", f"{row.min_grids}-{row.max_grids}",
                          row.reason, row.proposed_fix)
        out.print(table)
    stuck = result.grids[result.grids["status"] == "out_of_band"]
    if len(stuck):
        out.print(f"[yellow]{len(stuck)} grid(s) could not be brought into the band by any contiguous redraw "
                  "of the grids up to 3 steps around them (status 'out_of_band'): "
                  + ", ".join(f"{c} ({p:,.0f})" for c, p in zip(stuck["grid_code"], stuck["population"])))


def _write_partition(result, output: Path) -> list[str]:
    layers = ["grids", "units"]
    io.write_any(result.grids, output, layer="grids")
    io.write_any(result.units, output, layer="units")
    if result.blocks is not None:
        io.write_any(result.blocks, output, layer="blocks")
        layers.append("blocks")
    if len(result.infeasible) and output.suffix.lower() == ".gpkg":
        io.write_any(result.infeasible, output, layer="infeasible")
        layers.append("infeasible")
    return layers


@app.command()
def rebalance(
    partition_file: Annotated[Path, typer.Argument(help="GeoPackage written by 'gridtools partition'.")],
    output: OutOption,
    pop: Annotated[str, typer.Option("--pop", help="Column of the NEW population in the units layer "
                                                   "(or in --new-pop).")],
    new_pop: Annotated[Optional[Path], typer.Option("--new-pop", help="CSV with the new population, "
                                                                      "joined on --key.")] = None,
    key: Annotated[Optional[str], typer.Option("--key", help="Column shared by units and --new-pop.")] = None,
    min_pop: BandMinOption = None,
    max_pop: BandMaxOption = None,
):
    """Redraw grids after the population changed, touching only grids that left the band."""
    import pandas as pd

    from gridtools.grids import rebalance as run_rebalance
    from gridtools.grids.codes import read_retired_codes

    require_gpkg_output(output, "grids, units, retired_codes")
    units = io.read_any(partition_file, layer="units")
    table = _read_new_population(new_pop, key) if new_pop is not None else None
    result = run_rebalance(units, pop, min_pop=min_pop, max_pop=max_pop, new_pop=table, key=key,
                           retired_codes=read_retired_codes(partition_file))
    io.write_any(result.grids, output, layer="grids")
    io.write_any(result.units, output, layer="units")
    io.write_any(pd.DataFrame({"grid_code": result.retired_codes}, dtype=str), output, layer="retired_codes")
    print_lines("rebalance", [*result.summary_lines(), band_note(units, min_pop, max_pop)])
    out.print(f"wrote {output} (layers: grids, units, retired_codes)")


def _read_new_population(path: Path, key: Optional[str]):
    """The --new-pop CSV, its --key column as text (codes keep their leading zeros)."""
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype={key: str} if key else None)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    table.attrs["source"] = str(path)
    return table


@app.command(name="map")
def map_(
    grids_file: Annotated[Path, typer.Argument(help="GeoPackage with a 'grids' layer (or any grid polygons).")],
    output: OutOption,
    layer: Annotated[str, typer.Option("--layer", help="Layer holding the grids.")] = "grids",
    min_pop: BandMinOption = None,
    max_pop: BandMaxOption = None,
    roads: MapRoadsOption = None,
    tiles: TilesOption = None,
):
    """Draw grids on an interactive map (HTML, works offline), coloured by population against the band."""
    from gridtools.maps import grid_map, save_map

    grids = io.read_any(grids_file, layer=layer)
    save_map(grid_map(grids, min_pop=min_pop, max_pop=max_pop, roads=_read_optional(roads), tiles=tiles), output)
    out.print(f"wrote {output} ({band_note(grids, min_pop, max_pop)})")


@population_app.command("estimate")
def population_estimate(
    buildings_file: Annotated[Path, typer.Argument(help="Building footprints.")],
    output: OutOption,
    total: Annotated[int, typer.Option("--total", help="Residents of the district, spread over buildings.")],
    crs: CrsOption = None,
    layer: LayerOption = None,
):
    """Estimate residents per building (footprint x floors x residential share, scaled to --total).

    The estimate is column pop_est: inspect it, edit it, and pass it to 'gridtools partition --pop pop_est'.
    """
    from gridtools.population import estimate_building_population, excluded_summary

    buildings = io.read_any(buildings_file, layer=layer, crs=crs)
    estimated = estimate_building_population(buildings, total=total)
    io.write_any(estimated, output, layer="buildings" if output.suffix == ".gpkg" else None)
    out.print(f"wrote {output}: {len(estimated):,} buildings, {estimated['pop_est'].sum():,} residents")
    out.print(excluded_summary(estimated) + " (column 'excluded' says why, per building)")
