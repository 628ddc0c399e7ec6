"""The ``gridtools`` command.

Each command parses its options, reads input with :mod:`gridtools.io`, makes one library call
and writes the result.  User errors (:class:`gridtools.errors.GridtoolsError`) are printed as a
one-line message with a non-zero exit code, never as a traceback.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gridtools import io, settings
from gridtools.errors import GridtoolsError

app = typer.Typer(
    name="gridtools",
    help="Population-balanced management grids (网格化管理) and the city operations that run on them.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
population_app = typer.Typer(help="Population inputs: estimate residents of buildings.", no_args_is_help=True)
app.add_typer(population_app, name="population")

console = Console(stderr=True)
out = Console()

OutOption = Annotated[Path, typer.Option("-o", "--output", help="File to write.")]
CrsOption = Annotated[Optional[str], typer.Option("--crs", help="CRS of input that has none, e.g. EPSG:4326.")]
LayerOption = Annotated[Optional[str], typer.Option("--layer", help="Layer to read from a multi-layer file.")]


@contextmanager
def progress_bar():
    """A rich progress bar whose callback matches the library's ``progress(stage, done, total)``."""
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def _print_lines(title: str, lines: list[str]) -> None:
    out.print(f"[bold]{title}[/bold]")
    for line in lines:
        out.print(f"  {line}")


def _print_partition(result) -> None:
    _print_lines("partition", result.summary_lines())
    if len(result.oversize):
        table = Table("unit", "population", "grid_code", title="over-size units (each its own grid)")
        for row in result.oversize.itertuples(index=False):
            table.add_row(str(row.unit), f"{row.population:,.0f}", row.grid_code)
        out.print(table)
    if len(result.infeasible):
        table = Table("piece", "population", "grids possible", "why", "proposed fix", title="infeasible pieces")
        for row in result.infeasible.itertuples(index=False):
            table.add_row(str(row.piece), f"{row.population:,.0f}", f"{row.min_grids}-{row.max_grids}",
                          row.reason, row.proposed_fix)
        out.print(table)
    stuck = result.grids[result.grids["status"] == "out_of_band"]
    if len(stuck):
        out.print(f"[yellow]{len(stuck)} grid(s) could not be brought into the band by any contiguous redraw "
                  "with up to 5 neighbouring grids (status 'out_of_band'): "
                  + ", ".join(f"{c} ({p:,.0f})" for c, p in zip(stuck["grid_code"], stuck["population"])))


def _write_partition(result, output: Path) -> None:
    io.write_any(result.grids, output, layer="grids")
    io.write_any(result.units, output, layer="units")
    if result.blocks is not None:
        io.write_any(result.blocks, output, layer="blocks")
    out.print(f"wrote {output} (layers: grids, units{', blocks' if result.blocks is not None else ''})")


@app.command()
def partition(
    units_file: Annotated[Path, typer.Argument(help="Units: census blocks / compounds (polygons), or "
                                                    "buildings / register points with --roads.")],
    output: OutOption,
    pop: Annotated[Optional[str], typer.Option("--pop", help="Population column.")] = None,
    min_pop: Annotated[int, typer.Option("--min", help="Fewest residents per grid.")] = settings.min_pop,
    max_pop: Annotated[int, typer.Option("--max", help="Most residents per grid.")] = settings.max_pop,
    within: Annotated[Optional[str], typer.Option("--within", help="Column of the nesting area "
                                                                   "(community, ward): grids never cross it.")] = None,
    barriers: Annotated[Optional[Path], typer.Option("--barriers", help="Lines grids should follow "
                                                                        "(roads, rivers, rails).")] = None,
    roads: Annotated[Optional[Path], typer.Option("--roads", help="Street/rail/river lines: build blocks from "
                                                                  "them and partition the blocks.")] = None,
    boundary: Annotated[Optional[Path], typer.Option("--boundary", help="District outline (with --roads).")] = None,
    estimate_total: Annotated[Optional[int], typer.Option("--estimate-total", help="Buildings without counts: "
                                                          "spread this many residents over them by floor area.")] = None,
    code_prefix: Annotated[str, typer.Option("--code-prefix", help="Leading code digits, e.g. the 6-digit "
                                                                   "county code.")] = "",
    crs: CrsOption = None,
    layer: LayerOption = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", help="Worker processes (default: all cores).")] = None,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="Dask scheduler address.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = settings.random_state,
):
    """Cut a district into contiguous grids of --min to --max residents.

    Writes layer [bold]grids[/bold] (grid_code, population, polsby_popper, status, geometry) and layer
    [bold]units[/bold] (every input row with its grid_code) to OUTPUT (a GeoPackage).
    """
    from gridtools.partition import partition as run_partition, partition_features

    units = io.read_any(units_file, layer=layer, crs=crs)
    if estimate_total is not None:
        from gridtools.population import estimate_building_population

        units = estimate_building_population(units, total=estimate_total)
        pop = pop or "pop_est"
    if pop is None:
        raise GridtoolsError("give the population column with --pop (or --estimate-total N for buildings)")
    kwargs = dict(min_pop=min_pop, max_pop=max_pop, code_prefix=code_prefix, n_jobs=jobs,
                  scheduler=scheduler, random_state=seed)
    with progress_bar() as progress:
        if roads is not None:
            lines = io.read_any(roads)
            outline = io.read_any(boundary) if boundary else None
            result = partition_features(units, pop, lines, boundary=outline, progress=progress, **kwargs)
        else:
            lines = io.read_any(barriers) if barriers else None
            result = run_partition(units, pop=pop, within=within, barriers=lines, progress=progress, **kwargs)
    _print_partition(result)
    _write_partition(result, output)


@app.command()
def rebalance(
    partition_file: Annotated[Path, typer.Argument(help="GeoPackage written by 'gridtools partition'.")],
    output: OutOption,
    pop: Annotated[str, typer.Option("--pop", help="Column of the NEW population in the units layer "
                                                   "(or in --new-pop).")],
    new_pop: Annotated[Optional[Path], typer.Option("--new-pop", help="CSV with the new population, "
                                                                      "joined on --key.")] = None,
    key: Annotated[Optional[str], typer.Option("--key", help="Column shared by units and --new-pop.")] = None,
    min_pop: Annotated[int, typer.Option("--min")] = settings.min_pop,
    max_pop: Annotated[int, typer.Option("--max")] = settings.max_pop,
):
    """Redraw grids after the population changed, touching only grids that left the band."""
    import pandas as pd

    from gridtools.partition import rebalance as run_rebalance

    units = io.read_any(partition_file, layer="units")
    if new_pop is not None:
        if not key:
            raise GridtoolsError("--new-pop needs --key, the column that identifies a unit in both files")
        table = pd.read_csv(new_pop, dtype={key: str})
        io.require_columns(table, {key: "--key", pop: "--pop"}, str(new_pop))
        io.require_columns(units, {key: "--key"}, str(partition_file))
        joined = units[key].astype(str).map(table.set_index(key)[pop])
        missing = joined.isna()
        if missing.any():
            raise GridtoolsError(f"{new_pop} has no {pop} for {int(missing.sum())} unit(s), e.g. {key}="
                                 f"{units.loc[missing, key].iloc[0]}; give every unit a value")
        units[pop] = joined.to_numpy()
    retired = _read_retired(partition_file)
    result = run_rebalance(units, pop, min_pop=min_pop, max_pop=max_pop, retired_codes=retired)
    _print_lines("rebalance", result.summary_lines())
    io.write_any(result.grids, output, layer="grids")
    io.write_any(result.units, output, layer="units")
    io.write_any(pd.DataFrame({"grid_code": result.retired_codes}, dtype=str), output, layer="retired_codes")
    out.print(f"wrote {output} (layers: grids, units, retired_codes)")


def _read_retired(path: Path) -> list[str]:
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)[:, 0]
    except Exception:
        return []
    if "retired_codes" not in layers:
        return []
    table = pyogrio.read_dataframe(path, layer="retired_codes", read_geometry=False)
    return table["grid_code"].astype(str).tolist()


@app.command(name="map")
def map_(
    grids_file: Annotated[Path, typer.Argument(help="GeoPackage with a 'grids' layer (or any grid polygons).")],
    output: OutOption,
    layer: Annotated[str, typer.Option("--layer", help="Layer holding the grids.")] = "grids",
):
    """Draw grids on an interactive map (HTML), coloured by population against the band."""
    from gridtools.maps import grid_map, save_map

    grids = io.read_any(grids_file, layer=layer)
    save_map(grid_map(grids), output)
    out.print(f"wrote {output}")


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
    from gridtools.population import estimate_building_population

    buildings = io.read_any(buildings_file, layer=layer, crs=crs)
    estimated = estimate_building_population(buildings, total=total)
    io.write_any(estimated, output, layer="buildings" if output.suffix == ".gpkg" else None)
    out.print(f"wrote {output}: {len(estimated):,} buildings, {estimated['pop_est'].sum():,} residents")


@app.command()
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the results.")] = Path("gridtools-demo"),
):
    """Run the main job on the sample data shipped in data/: buildings -> blocks -> grids -> map."""
    from gridtools.demo import run_demo

    with progress_bar() as progress:
        report = run_demo(output, progress=progress)
    for line in report.lines:
        out.print(line)


# ============================================================================================
# hotspots: theft hotspot forecasts and backtests (gridtools.hotspots)
# ============================================================================================

hotspots_app = typer.Typer(help="Theft hotspot forecasts per cell or grid, with honest backtests.",
                           no_args_is_help=True)
app.add_typer(hotspots_app, name="hotspots")

_HS_TIME = Annotated[str, typer.Option("--time", help="Column with the date/time of each event.")]
_HS_LON = Annotated[Optional[str], typer.Option("--lon", help="Longitude column (degrees).")]
_HS_LAT = Annotated[Optional[str], typer.Option("--lat", help="Latitude column (degrees).")]
_HS_X = Annotated[Optional[str], typer.Option("--x", help="x column (projected; needs --crs).")]
_HS_Y = Annotated[Optional[str], typer.Option("--y", help="y column (projected; needs --crs).")]
_HS_CATCOL = Annotated[Optional[str], typer.Option("--category-col", help="Column with the incident type.")]
_HS_CAT = Annotated[Optional[list[str]], typer.Option("--category", help="Keep this category (repeatable).")]
_HS_HORIZON = Annotated[float, typer.Option("--horizon-days", help="Length of the forecast window (days).")]
_HS_CELL = Annotated[float, typer.Option("--cell", help="Side of the square cells (metres).")]
_HS_BOUNDARY = Annotated[Optional[Path], typer.Option("--boundary", help="Study-area boundary file (cells are clipped to it).")]
_HS_AREA = Annotated[str, typer.Option("--area", help="Study area without --boundary: 'extent' (bounding box) or 'hull'.")]
_HS_GRIDS = Annotated[Optional[Path], typer.Option("--grids", help="Management grids to forecast for instead of square cells.")]
_HS_GRID_ID = Annotated[Optional[str], typer.Option("--grid-id", help="Column naming the grids.")]


def _hotspot_inputs(events_file, time, lon, lat, x, y, crs, layer, category_col, category, cell, boundary,
                    area, grids, grid_id):
    from gridtools import hotspots
    from gridtools.hotspots.events import missing_rows_text

    raw = io.read_events(events_file, layer=layer, crs=crs, lon=lon, lat=lat, x=x, y=y)
    study = io.read_any(boundary) if boundary is not None else area
    units = io.read_any(grids) if grids is not None else None
    events, cells = hotspots.prepare(raw, time=time, category_col=category_col, categories=category or None,
                                     cell=cell, area=study, grids=units, grid_id=grid_id)
    rep = events.report
    lines = [f"{len(events):,} events in the study area ({rep['rows']:,} rows read"
             + (f", categories {', '.join(rep['categories'])}" if rep.get("categories") else "") + ")",
             f"{len(cells):,} {'cells of ' + format(cell, 'g') + ' m' if grids is None else 'grids'}, "
             f"{cells.total_area / 1e6:,.1f} km²"]
    missing = missing_rows_text(rep)
    if missing:
        console.print(f"[yellow]warning:[/yellow] {missing}", highlight=False)
    if rep.get("outside"):
        from gridtools.errors import describe_rows

        console.print(f"[yellow]warning:[/yellow] {len(rep['outside']):,} events lie outside the study area and "
                      f"were left out ({describe_rows(rep['outside'])}, counting from 1 after the header)",
                      highlight=False)
    return events, cells, lines


@hotspots_app.command("predict")
def hotspots_predict(
    events_file: Annotated[Path, typer.Argument(help="Incidents: CSV, GeoPackage or GeoParquet.")],
    output: OutOption,
    time: _HS_TIME,
    cutoff: Annotated[str, typer.Option("--cutoff", help="Forecast from this date (YYYY-MM-DD); only earlier events are used.")],
    horizon_days: _HS_HORIZON = 7.0,
    cell: _HS_CELL = settings.hotspot_cell_m,
    method: Annotated[str, typer.Option("--method", help="naive_4w, naive_1y, naive_all, kde, prospective, etas, gbm, ensemble.")] = "ensemble",
    lon: _HS_LON = None, lat: _HS_LAT = None, x: _HS_X = None, y: _HS_Y = None,
    crs: CrsOption = None, layer: LayerOption = None,
    category_col: _HS_CATCOL = None, category: _HS_CAT = None,
    boundary: _HS_BOUNDARY = None, area: _HS_AREA = "extent",
    grids: _HS_GRIDS = None, grid_id: _HS_GRID_ID = None,
    map_file: Annotated[Optional[Path], typer.Option("--map", help="Also write a folium map of the top cells (HTML).")] = None,
):
    """Risk of every cell for the days after --cutoff; writes layer 'cells' (cell_id, risk, rank, geometry)."""
    from gridtools import hotspots

    events, cells, lines = _hotspot_inputs(events_file, time, lon, lat, x, y, crs, layer, category_col,
                                           category, cell, boundary, area, grids, grid_id)
    result = hotspots.forecast(events, cells, cutoff=cutoff, horizon_days=horizon_days, method=method)
    io.write_any(result, output, layer="cells" if output.suffix.lower() == ".gpkg" else None)
    if map_file is not None:
        from gridtools.maps import hotspot_map, save_map

        save_map(hotspot_map(result, top_share=0.05), map_file)
    used = int((events.t < hotspots.to_day(cutoff)).sum())
    _print_lines(f"hotspots predict ({method}, cutoff {cutoff}, {horizon_days:g} days)",
                 [*lines, f"{used:,} events before the cutoff used", f"wrote {output}"])


@hotspots_app.command("backtest")
def hotspots_backtest(
    events_file: Annotated[Path, typer.Argument(help="Incidents: CSV, GeoPackage or GeoParquet.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for metrics.csv, summary, plot and map.")],
    time: _HS_TIME,
    start: Annotated[str, typer.Option("--start", help="Cutoff of the first fold (YYYY-MM-DD).")],
    folds: Annotated[int, typer.Option("--folds", help="Number of rolling origins.")] = 26,
    horizon_days: _HS_HORIZON = 7.0,
    step_days: Annotated[Optional[float], typer.Option("--step-days", help="Days between cutoffs (default: the horizon).")] = None,
    cell: _HS_CELL = settings.hotspot_cell_m,
    methods: Annotated[str, typer.Option("--methods", help="Comma-separated methods; the naive baselines and kde are always added.")] = "prospective,etas,gbm,ensemble",
    lon: _HS_LON = None, lat: _HS_LAT = None, x: _HS_X = None, y: _HS_Y = None,
    crs: CrsOption = None, layer: LayerOption = None,
    category_col: _HS_CATCOL = None, category: _HS_CAT = None,
    boundary: _HS_BOUNDARY = None, area: _HS_AREA = "extent",
    grids: _HS_GRIDS = None, grid_id: _HS_GRID_ID = None,
):
    """Rolling-origin backtest: hit rate, PAI and PEI at 1, 2, 5, 10% of the area for every method."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    from gridtools import hotspots
    from gridtools.maps import hotspot_map, save_map

    events, cells, lines = _hotspot_inputs(events_file, time, lon, lat, x, y, crs, layer, category_col,
                                           category, cell, boundary, area, grids, grid_id)
    with progress_bar() as progress:
        result = hotspots.backtest(events, cells, start=start, folds=folds, horizon_days=horizon_days,
                                   step_days=step_days, methods=methods, progress=progress)
    output.mkdir(parents=True, exist_ok=True)
    cols = ["method", "fold", "cutoff", "coverage", "hit_rate", "pai", "pei", "area_share", "hits", "n_events"]
    result.metrics[cols].to_csv(output / "metrics.csv", index=False)
    result.summary.to_csv(output / "summary.csv", index=False)
    (output / "summary.json").write_text(json.dumps(
        {"params": result.params, "seconds": result.seconds, "report": {k: v for k, v in events.report.items()
                                                                         if k in ("source", "rows", "kept", "categories")},
         "summary": json.loads(result.summary.to_json(orient="records"))}, indent=2, default=str))
    fig = result.plot()
    fig.savefig(output / "pai_vs_coverage.png", dpi=120)
    best = result.pai_table(0.02)["method"].iloc[0]
    last = hotspots.to_day(start) + (folds - 1) * result.params["step_days"]
    cells_out = hotspots.forecast(events, cells, cutoff=hotspots.from_day(last), horizon_days=horizon_days,
                                  method=best)
    save_map(hotspot_map(cells_out, top_share=0.05), output / "top_cells_map.html")
    table = Table(title=f"PAI at 2% of the area ({folds} folds, {horizon_days:g}-day horizon)")
    for c in ("method", "PAI mean", "PAI sd", "hit rate", "PEI", "vs best naive", "seconds"):
        table.add_column(c)
    for _, r in result.pai_table(0.02).iterrows():
        table.add_row(str(r["method"]), f"{r['pai_mean']:.2f}", f"{r['pai_std']:.2f}", f"{r['hit_rate_mean']:.3f}",
                      f"{r['pei_mean']:.3f}", f"{r['pai_vs_best_naive']:+.2f}", f"{result.seconds.get(r['method'], 0):.1f}")
    _print_lines("hotspots backtest", lines)
    out.print(table)
    out.print(f"wrote {output}/metrics.csv, summary.csv, summary.json, pai_vs_coverage.png, top_cells_map.html")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gridtools`` command."""
    try:
        # standalone mode: Typer itself reports usage errors and exits with code 2
        app(args=argv, prog_name="gridtools")
    except GridtoolsError as exc:
        console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
