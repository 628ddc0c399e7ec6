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
report_app = typer.Typer(help="Self-contained HTML reports (maps, tables, plots; open offline).", no_args_is_help=True)
app.add_typer(report_app, name="report")

console = Console(stderr=True)
out = Console()

OutOption = Annotated[Path, typer.Option("-o", "--output", help="File to write.")]
CrsOption = Annotated[Optional[str], typer.Option("--crs", help="CRS of input that has none, e.g. EPSG:4326; "
                                                   "gcj02 / bd09: Chinese web-map lon/lat, converted to WGS-84.")]
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
                  "of the grids up to 3 steps around them (status 'out_of_band'): "
                  + ", ".join(f"{c} ({p:,.0f})" for c, p in zip(stuck["grid_code"], stuck["population"])))


def _write_partition(result, output: Path) -> None:
    layers = ["grids", "units"]
    io.write_any(result.grids, output, layer="grids")
    io.write_any(result.units, output, layer="units")
    if result.blocks is not None:
        io.write_any(result.blocks, output, layer="blocks")
        layers.append("blocks")
    if len(result.infeasible) and output.suffix.lower() == ".gpkg":
        io.write_any(result.infeasible, output, layer="infeasible")
        layers.append("infeasible")
    out.print(f"wrote {output} (layers: {', '.join(layers)})")


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


@report_app.command("partition")
def report_partition(
    grids_file: Annotated[Path, typer.Argument(help="GeoPackage written by 'gridtools partition' (layer grids).")],
    output: OutOption,
    lang: Annotated[str, typer.Option("--lang", help="Language of the report: en or zh.")] = "en",
    title: Annotated[Optional[str], typer.Option("--title", help="Title of the report.")] = None,
):
    """One self-contained HTML report on a partition: summary, plots, map, grid table (opens offline)."""
    import pyogrio

    from gridtools.report import partition_report

    grids = io.read_any(grids_file, layer="grids")
    layers = set(pyogrio.list_layers(grids_file)[:, 0]) if grids_file.suffix.lower() == ".gpkg" else set()
    units = io.read_any(grids_file, layer="blocks") if "blocks" in layers else None
    infeasible = (pyogrio.read_dataframe(grids_file, layer="infeasible", read_geometry=False)
                  if "infeasible" in layers else None)
    report = partition_report(grids, infeasible=infeasible, units=units, title=title, lang=lang)
    out.print(f"wrote {report.save(output)}")



@report_app.command("hotspots")
def report_hotspots(
    backtest_dir: Annotated[Path, typer.Argument(help="Folder written by 'gridtools hotspots backtest' "
                                                      "(metrics.csv, summary.json), or its metrics.csv.")],
    output: OutOption,
    cells: Annotated[Optional[Path], typer.Option("--cells", help="A forecast to map (layer 'cells' of 'gridtools "
                                                                  "hotspots predict'); default: the folder's "
                                                                  "top_cells.gpkg when present.")] = None,
    lang: Annotated[str, typer.Option("--lang", help="Language of the report: en or zh.")] = "en",
    title: Annotated[Optional[str], typer.Option("--title", help="Title of the report.")] = None,
):
    """One HTML report on a hotspot backtest: PAI / hit rate / PEI per method with fold spread, plot, map."""
    import json

    import pandas as pd

    from gridtools.report import hotspot_report

    folder = backtest_dir if backtest_dir.is_dir() else backtest_dir.parent
    metrics_file = backtest_dir / "metrics.csv" if backtest_dir.is_dir() else backtest_dir
    if not metrics_file.exists():
        raise GridtoolsError(f"{metrics_file} not found: give the folder 'gridtools hotspots backtest -o' wrote")
    metrics = pd.read_csv(metrics_file)
    summary_file = folder / "summary.json"
    params = json.loads(summary_file.read_text())["params"] if summary_file.exists() else {}
    if cells is None and (folder / "top_cells.gpkg").exists():
        cells = folder / "top_cells.gpkg"
    forecast = io.read_any(cells, layer="cells" if cells.suffix.lower() == ".gpkg" else None) if cells else None
    report = hotspot_report(metrics, cells=forecast, params=params, title=title, lang=lang)
    out.print(f"wrote {report.save(output)}")


@report_app.command("incidents")
def report_incidents(
    db: Annotated[str, typer.Argument(help="Case database of 'gridtools incidents' (SQLite file or "
                                            "postgresql:// URL).")],
    output: OutOption,
    grids: Annotated[Path, typer.Option("--grids", help="Grid polygons (GeoPackage from 'gridtools partition').")],
    start: Annotated[Optional[str], typer.Option("--from", help="First day (or time) of reports to include.")] = None,
    end: Annotated[Optional[str], typer.Option("--to", help="Last day (included) or time of reports to include.")] = None,
    now: Annotated[Optional[str], typer.Option("--now", help="Time overdue is judged at (default: now).")] = None,
    lang: Annotated[str, typer.Option("--lang", help="Language of the report: en or zh.")] = "en",
    title: Annotated[Optional[str], typer.Option("--title", help="Title of the report.")] = None,
):
    """One HTML report on cases: map per grid, share solved in the grid, time to close, overdue, per type."""
    from gridtools.incidents import IncidentStore
    from gridtools.report import incident_report

    from gridtools.db import Database

    path = Database(db).path  # None for PostgreSQL; nothing is opened yet
    if path is not None and not path.exists():
        raise GridtoolsError(f"case database {db} not found")
    polygons = io.read_any(grids, layer=_grids_layer(grids, None))
    with IncidentStore(db) as store:
        report = incident_report(store, polygons, period=(start, end), now=now, title=title, lang=lang)
    out.print(f"wrote {report.save(output)}")

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
    lang: Annotated[str, typer.Option("--lang", help="Language of report.html: en or zh.")] = "en",
):
    """Every capability on the data shipped in data/: grids, components, (synthetic) incidents, hotspots.

    Writes the results and one map per capability, and report.html with a section for each (opens offline).
    """
    from gridtools.demo import run_demo

    with progress_bar() as progress:
        report = run_demo(output, progress=progress, lang=lang)
    for line in report.lines:
        out.print(line)


# --------------------------------------------------------------------------------------------
# coords and incidents: `gridtools coords convert`, `gridtools geocode`
# --------------------------------------------------------------------------------------------

coords_app = typer.Typer(help="Coordinates: WGS-84 / GCJ-02 / BD-09 / EPSG conversions.", no_args_is_help=True)
app.add_typer(coords_app, name="coords")


def _report_rows(lines: list[str], strict: bool, what: str) -> None:
    if not lines:
        return
    if strict:
        raise GridtoolsError(f"{what}: " + "; ".join(lines) + " (rows count from 1, after the header line)")
    for line in lines:
        console.print(f"[yellow]warning:[/yellow] {line}", highlight=False)


@coords_app.command("convert")
def coords_convert(
    input_file: Annotated[Path, typer.Argument(help="CSV/TSV table with longitude/latitude columns.")],
    output: OutOption,
    lon: Annotated[str, typer.Option("--lon", help="Longitude column.")],
    lat: Annotated[str, typer.Option("--lat", help="Latitude column.")],
    source: Annotated[str, typer.Option("--from", help="Datum of the input: wgs84, gcj02, bd09 or a "
                                                       "geographic EPSG code.")],
    target: Annotated[str, typer.Option("--to", help="Datum to write: wgs84, gcj02, bd09 or a geographic "
                                                     "EPSG code.")],
    decimals: Annotated[int, typer.Option("--decimals", help="Decimals written (9 = 0.1 mm).")] = 9,
    strict: Annotated[bool, typer.Option("--strict", help="Fail (exit 2) if any row cannot be converted, "
                                                          "instead of keeping it unchanged with a warning.")] = False,
):
    """Rewrite the --lon/--lat columns of a table from one datum to another; every other byte stays.

    Rows with missing, non-numeric, out-of-range or swapped-looking coordinates (and GCJ-02/BD-09 rows
    outside China) are kept unchanged and listed by row number (from 1, after the header).
    """
    from gridtools.coords import convert_table

    table = io.read_text_table(input_file)
    result = convert_table(table, lon, lat, source, target, decimals=decimals)
    _report_rows(result.check.messages(result.table.index), strict, f"{input_file}: rows left unconverted")
    io.write_text_table(result.table, output, like=table.attrs.get("text_format"))
    _print_lines("coords convert", [line for line in result.summary_lines() if "left unchanged" not in line])
    out.print(f"wrote {output}")


def _grids_layer(path: Path, layer: Optional[str]) -> Optional[str]:
    """The 'grids' layer that 'gridtools partition' writes, when the file has one and none was named."""
    if layer is not None or path.suffix.lower() != ".gpkg" or not path.exists():
        return layer
    import pyogrio

    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception:
        return None
    return "grids" if "grids" in names else None


@app.command()
def geocode(
    events_file: Annotated[Path, typer.Argument(help="Events: CSV/TSV with coordinate columns, or a point file.")],
    output: OutOption,
    grids: Annotated[Path, typer.Option("--grids", help="Grid polygons: the GeoPackage 'gridtools partition' "
                                                        "wrote (layer 'grids'), or any polygons with --code.")],
    lon: Annotated[Optional[str], typer.Option("--lon", help="Longitude (or x) column of a table.")] = None,
    lat: Annotated[Optional[str], typer.Option("--lat", help="Latitude (or y) column of a table.")] = None,
    crs: Annotated[str, typer.Option("--crs", help="CRS of the event coordinates: wgs84, gcj02, bd09 or "
                                                   "EPSG:nnnn.")] = "wgs84",
    grids_layer: Annotated[Optional[str], typer.Option("--grids-layer", help="Layer of --grids (default: "
                                                                             "'grids' if present).")] = None,
    code: Annotated[str, typer.Option("--code", help="Code column of the grids.")] = "grid_code",
    strict: Annotated[bool, typer.Option("--strict", help="Fail (exit 2) if any event has unusable "
                                                          "coordinates instead of flagging it.")] = False,
):
    """Add the grid_code of the grid containing each event (empty when outside every grid).

    Every input row and column is kept; added columns: grid_code, street_code, community_code (prefixes
    of the grid code) and geocode_flag (why a row has no grid: outside_grids, missing, non_numeric,
    swapped, out_of_range, outside_china). A point on a boundary shared by grids goes to the smallest
    grid_code.
    """
    from gridtools.incidents import geocode as run_geocode

    text_input = io.file_suffix(events_file) in io.TABLE_SUFFIXES
    if text_input:
        events = io.read_text_table(events_file)
    else:
        events = io.read_any(events_file, crs=None if crs == "wgs84" else crs)
        crs = events.crs
    polygons = io.read_any(grids, layer=_grids_layer(grids, grids_layer))
    result = run_geocode(events, polygons, lon=lon, lat=lat, crs=crs, code=code)
    problems = [m for m in result.messages() if not m.startswith("outside every grid")]
    _report_rows(problems, strict, f"{events_file}: events with unusable coordinates")
    if text_input and io.file_suffix(output) in io.TABLE_SUFFIXES:
        io.write_text_table(result.table, output, like=events.attrs.get("text_format"))
    else:
        io.write_any(result.table, output)
    _print_lines("geocode", result.summary_lines())
    out.print(f"wrote {output}")


incidents_app = typer.Typer(help="Incidents: event types and the closed-loop case workflow (SQLite).",
                            no_args_is_help=True)
app.add_typer(incidents_app, name="incidents")
CaseDbArgument = Annotated[str, typer.Argument(
    help="Case database: a SQLite file (created if absent) or a postgresql://user@host/dbname URL.")]
AtOption = Annotated[Optional[str], typer.Option("--at", help="Time 'YYYY-MM-DD HH:MM' (default: now).")]


def _write_or_print(table, output: Optional[Path], title: str) -> None:
    if output is not None:
        io.write_any(table, output)
        out.print(f"wrote {output} ({len(table):,} rows)")
        return
    view = Table(*map(str, table.columns), title=title)
    for row in table.head(50).itertuples(index=False):
        view.add_row(*("" if v is None else str(v) for v in row))
    out.print(view)
    if len(table) > 50:
        out.print(f"... {len(table) - 50:,} more rows (use -o FILE)")


@incidents_app.command("types")
def incidents_types(
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the table (CSV).")] = None,
):
    """List the event types (classes, Chinese/English names, deadlines, departments)."""
    from gridtools.incidents import event_types

    table = event_types()[["code", "major_en", "name_zh", "name_en", "deadline_hours", "basis", "urgent",
                           "department_en"]]
    _write_or_print(table, output, "event types")


@incidents_app.command("import")
def incidents_import(
    db: CaseDbArgument,
    events_file: Annotated[Path, typer.Argument(help="Events table, e.g. the output of 'gridtools geocode'.")],
    type_col: Annotated[str, typer.Option("--type", help="Column with the event type code.")],
    time_col: Annotated[str, typer.Option("--time", help="Column with the report time.")],
    lon: Annotated[Optional[str], typer.Option("--lon")] = None,
    lat: Annotated[Optional[str], typer.Option("--lat")] = None,
    id_col: Annotated[Optional[str], typer.Option("--id", help="Column with the caller's own id.")] = None,
    types_file: Annotated[Optional[Path], typer.Option("--types", help="A city's own event-type CSV.")] = None,
):
    """Record every event of a table as a reported case (grid codes taken from the table)."""
    from gridtools.incidents import IncidentStore, event_types

    table = io.read_text_table(events_file)
    with IncidentStore(db, types=event_types(types_file) if types_file else None) as store:
        ids = store.report_many(table, type_col=type_col, time_col=time_col, lon=lon, lat=lat, id_col=id_col)
    out.print(f"recorded {len(ids):,} cases in {store.path} (case ids {ids.min() if len(ids) else '-'}-"
              f"{ids.max() if len(ids) else '-'})")


@incidents_app.command("step")
def incidents_step(
    db: CaseDbArgument,
    case_id: Annotated[int, typer.Argument(help="Case id.")],
    action: Annotated[str, typer.Argument(help="register | reject | dispatch | handle | verify | rework | close")],
    at: AtOption = None,
    to: Annotated[Optional[str], typer.Option("--to", help="dispatch: department or team (default: "
                                                           "the grid team).")] = None,
    actor: Annotated[Optional[str], typer.Option("--actor")] = None,
    note: Annotated[Optional[str], typer.Option("--note")] = None,
):
    """Move one case a step along report -> register -> dispatch -> handle -> verify -> close."""
    from gridtools.incidents import IncidentStore

    with IncidentStore(db) as store:
        steps = {
            "register": lambda: store.register(case_id, at=at, actor=actor, note=note),
            "reject": lambda: store.register(case_id, at=at, accept=False, actor=actor, note=note),
            "dispatch": lambda: store.dispatch(case_id, to=to, at=at, actor=actor, note=note),
            "handle": lambda: store.handle(case_id, at=at, actor=actor, note=note),
            "verify": lambda: store.verify(case_id, at=at, actor=actor, note=note),
            "rework": lambda: store.verify(case_id, ok=False, at=at, actor=actor, note=note),
            "close": lambda: store.close_case(case_id, at=at, actor=actor, note=note),
        }
        if action not in steps:
            raise GridtoolsError(f"unknown action {action!r}; use one of: {', '.join(steps)}")
        steps[action]()
        case = store.cases().set_index("case_id").loc[case_id]
    out.print(f"case {case_id}: {case['status']} (level {case['level']}, assignee {case['assignee']}, "
              f"deadline {case['deadline_at']})")


@incidents_app.command("overdue")
def incidents_overdue(
    db: CaseDbArgument,
    now: Annotated[Optional[str], typer.Option("--now", help="Time to check at (default: now).")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the list (CSV).")] = None,
):
    """List open cases past their dispatch limit or handling deadline."""
    from gridtools.incidents import IncidentStore

    with IncidentStore(db) as store:
        late = store.overdue(now)
    _write_or_print(late[["case_id", "type_code", "grid_code", "status", "level", "assignee", "stage", "due_at",
                          "overdue_hours"]], output, "overdue cases")


@incidents_app.command("escalate")
def incidents_escalate(
    db: CaseDbArgument,
    now: Annotated[Optional[str], typer.Option("--now", help="Time to check at (default: now).")] = None,
):
    """Move cases overdue in handling up a level: grid team -> community -> street."""
    from gridtools.incidents import IncidentStore

    with IncidentStore(db) as store:
        moved = store.escalate(now)
    out.print(f"escalated {len(moved)} case(s)" + (f": {', '.join(map(str, moved))}" if moved else ""))


@incidents_app.command("stats")
def incidents_stats(
    db: CaseDbArgument,
    now: Annotated[Optional[str], typer.Option("--now", help="Time for the overdue count (default: now).")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the table (CSV).")] = None,
):
    """Per grid: cases, closed, share solved inside the grid, hours to close, on-time share, overdue."""
    from gridtools.incidents import IncidentStore

    with IncidentStore(db) as store:
        stats = store.grid_stats(now)
    _write_or_print(stats.reset_index().round(3), output, "cases per grid")


@incidents_app.command("addresses")
def incidents_addresses(
    events_file: Annotated[Path, typer.Argument(help="Events table with an address text column.")],
    output: OutOption,
    address: Annotated[str, typer.Option("--address", help="Column with the address text.")],
    gazetteer_file: Annotated[Path, typer.Option("--gazetteer", help="Named features: an OSM file (.osm/.pbf: "
                                                                      "roads and points are read) or any vector file.")],
    name: Annotated[str, typer.Option("--name", help="Name column of the gazetteer features.")] = "name",
    cutoff: Annotated[float, typer.Option("--cutoff", help="Fuzzy score (0-100) a name must reach.")] = 80.0,
):
    """Find coordinates for address texts offline (roads, crossings, places) with fuzzy matching.

    Adds columns match_lon, match_lat (WGS-84), match_kind (intersection/road/place), match_name,
    match_score, match_note; then run 'gridtools geocode ... --lon match_lon --lat match_lat'.
    """
    import geopandas as gpd
    import pandas as pd

    from gridtools.incidents.gazetteer import build_gazetteer, lookup

    table = io.read_text_table(events_file)
    io.require_columns(table, {address: "--address"}, str(events_file))
    if gazetteer_file.suffix.lower() in (".osm", ".pbf"):
        parts = [io.read_any(gazetteer_file, layer=layer) for layer in ("lines", "points")]
        features = pd.concat([p[[name, "geometry"]] for p in parts if name in p.columns], ignore_index=True)
        features = gpd.GeoDataFrame(features, geometry="geometry", crs=parts[0].crs)
    else:
        features = io.read_any(gazetteer_file)
    found = lookup(table[address].tolist(), build_gazetteer(features, name=name), score_cutoff=cutoff)
    clash = [c for c in ("match_lon", "match_lat", *found.columns[2:]) if c in table.columns]
    if clash:
        raise GridtoolsError(f"{events_file} already has column(s) {', '.join(clash)}; rename them first")
    for column in found.columns:
        target = {"lon": "match_lon", "lat": "match_lat"}.get(column, column)
        values = found[column]
        table[target] = values.map(lambda v: "" if pd.isna(v) else repr(float(v))) if column in ("lon", "lat") \
            else values.astype(str).to_numpy()
    io.write_text_table(table, output, like=table.attrs.get("text_format"))
    kinds = found["match_kind"].replace("", "no match").value_counts()
    _print_lines("addresses", [f"{len(found):,} addresses: " + ", ".join(f"{n:,} {k}" for k, n in kinds.items())])
    out.print(f"wrote {output}")


@incidents_app.command("open311")
def incidents_open311(
    db: CaseDbArgument,
    output: OutOption,
    services: Annotated[bool, typer.Option("--services", help="Write the service list (event types) "
                                                              "instead of the requests.")] = False,
    language: Annotated[str, typer.Option("--language", help="en or zh names.")] = "en",
):
    """Export cases (or event types) as Open311 GeoReport v2 JSON."""
    import json

    from gridtools.incidents.workflow import IncidentStore, open311_requests, open311_services

    with IncidentStore(db) as store:
        items = open311_services(store, language=language) if services else open311_requests(store, language=language)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
    out.print(f"wrote {output} ({len(items):,} {'services' if services else 'requests'})")


@incidents_app.command("map")
def incidents_map(
    db: CaseDbArgument,
    grids: Annotated[Path, typer.Option("--grids", help="Grid polygons (GeoPackage from 'gridtools partition').")],
    output: OutOption,
    column: Annotated[str, typer.Option("--column", help="Statistic that colours the grids.")] = "cases",
    now: Annotated[Optional[str], typer.Option("--now", help="Time for the overdue count (default: now).")] = None,
):
    """Map the grids coloured by their cases (or another per-grid statistic), with the case points."""
    import geopandas as gpd

    from gridtools.incidents import IncidentStore
    from gridtools.maps import incident_map, save_map

    polygons = io.read_any(grids, layer=_grids_layer(grids, None))
    with IncidentStore(db) as store:
        stats = store.grid_stats(now)
        cases = store.cases()
    located = cases.dropna(subset=["lon", "lat"])
    points = gpd.GeoDataFrame(located[["case_id", "grid_code", "status"]],
                              geometry=gpd.points_from_xy(located["lon"], located["lat"]), crs=4326)
    save_map(incident_map(polygons, stats, events=points, column=column), output)
    out.print(f"wrote {output}")

# ============================================================================================
# components: the city management component register (gridtools.components)
# ============================================================================================
components_app = typer.Typer(help="City management components (城市部件): import, code, query, retire, export, map.",
                             no_args_is_help=True)
app.add_typer(components_app, name="components")

DbArgument = Annotated[str, typer.Argument(help="Component register: a GeoPackage file (created if new), "
                                                "sqlite:///path, or a postgresql://user@host/dbname URL.")]


def _open_register(db: str, *, create: bool = False, classes_file: Optional[Path] = None):
    from gridtools.components import load_classes, merge_classes, open_store
    from gridtools.db import Database

    path = Database(db).path  # None for PostgreSQL; nothing is opened yet
    if not create and path is not None and not path.exists():
        raise GridtoolsError(f"component register not found: {db} (create it with 'gridtools components import')")
    classes = merge_classes(load_classes(), load_classes(classes_file)) if classes_file else None
    return open_store(db, classes=classes, create=create)


def _admin_code_from_grids(grids, grid_col: str) -> str:
    prefixes = grids[grid_col].astype(str).str[:6].unique()
    if len(prefixes) == 1 and prefixes[0].isdigit() and len(prefixes[0]) == 6:
        return prefixes[0]
    raise GridtoolsError("give the 6-digit county code with --admin-code (e.g. 320508); it could not be taken "
                         f"from the grid codes (their first 6 digits are {', '.join(map(str, prefixes[:5]))})")


@components_app.command("import")
def components_import(
    db: DbArgument,
    file: Annotated[Path, typer.Argument(help="Components: CSV (lon/lat), GeoJSON, GeoPackage, Shapefile, or "
                                             "OpenStreetMap .osm.pbf (classes from OSM tags).")],
    grids_file: Annotated[Path, typer.Option("--grids", help="Grid polygons (e.g. the output of 'gridtools partition').")],
    class_col: Annotated[Optional[str], typer.Option("--class-col", help="Column with the 4-digit class code.")] = None,
    class_code: Annotated[Optional[str], typer.Option("--class", help="One class code for every row, e.g. 0118.")] = None,
    key_col: Annotated[Optional[str], typer.Option("--key-col", help="Column with a stable external id "
                                                                     "(re-imports skip ids already stored).")] = None,
    crs: CrsOption = None,
    admin_code: Annotated[Optional[str], typer.Option("--admin-code", help="6-digit county code (GB/T 2260) that "
                                                      "starts every code; default: the grid codes' first 6 digits.")] = None,
    layer: LayerOption = None,
    grids_layer: Annotated[str, typer.Option("--grids-layer", help="Layer of --grids holding the grids.")] = "grids",
    grid_col: Annotated[str, typer.Option("--grid-col", help="Grid code column of --grids.")] = "grid_code",
    dept: Annotated[Optional[str], typer.Option("--dept", help="Department in charge, for rows without one.")] = None,
    owner: Annotated[Optional[str], typer.Option("--owner", help="Owner, for rows without one.")] = None,
    maintainer: Annotated[Optional[str], typer.Option("--maintainer", help="Maintenance unit, for rows without one.")] = None,
    classes_file: Annotated[Optional[Path], typer.Option("--classes", help="Extra class table (CSV) with local "
                                                                           "extension codes.")] = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Import the good rows and list the bad ones "
                                                              "(default: any bad row stops the import).")] = False,
    rejects: Annotated[Optional[Path], typer.Option("--rejects", help="CSV to write the refused rows to.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Rows per transaction (a crash loses at most "
                                                                 "the batch being written).")] = settings.components_batch_size,
):
    """Import components, give each a 16-digit code and its grid; re-running resumes / skips rows already stored."""
    from gridtools.components.importer import import_components
    from gridtools.components.osm import read_osm_components

    grids_path_layers = io.read_any(grids_file, layer=grids_layer if grids_file.suffix.lower() == ".gpkg" else None)
    admin = admin_code or _admin_code_from_grids(grids_path_layers, grid_col)
    features = None
    if not file.name.lower().endswith(".pbf"):
        # read before the register is created, so a file that cannot be read leaves none behind;
        # coordinates are checked row by row by the import (check=False), which names the bad rows
        features = io.read_any(file, layer=layer, crs=crs, check=False)
    store = _open_register(db, create=True, classes_file=classes_file)
    try:
        options = dict(class_col=class_col, class_code=class_code, key_col=key_col, grid_col=grid_col,
                       defaults={"dept_in_charge": dept, "owner": owner, "maintainer": maintainer})
        if file.name.lower().endswith(".pbf"):
            features, ignored = read_osm_components(file, store.classes)
            options.update(class_col="class_code", key_col="osm_key", key_prefix="")
            if class_code:
                raise GridtoolsError("--class does not apply to OpenStreetMap input: classes come from OSM tags")
        with progress_bar() as progress:
            result = import_components(store, features, grids_path_layers, admin_code=admin, source=file.name,
                                       on_error="skip" if skip_bad else "raise", batch_size=batch_size,
                                       progress=progress, **options)
    finally:
        store.close()
    _print_lines("components import", result.summary_lines())
    if rejects is not None and len(result.rejected):
        io.write_any(result.rejected, rejects)
        out.print(f"wrote {rejects} ({len(result.rejected):,} refused rows)")


@components_app.command("export")
def components_export(
    db: DbArgument,
    output: OutOption,
    status: Annotated[str, typer.Option("--status", help="active, retired or all.")] = "all",
):
    """Write the register to GeoPackage / GeoJSON / CSV / Parquet (with class names)."""
    if status not in ("active", "retired", "all"):
        raise GridtoolsError("--status is active, retired or all")
    store = _open_register(db)
    try:
        table = store.to_geodataframe(status=None if status == "all" else status)
    finally:
        store.close()
    io.write_any(table.drop(columns=["fid"]), output, layer="components")
    out.print(f"wrote {output}: {len(table):,} components")


@components_app.command("map")
def components_map(
    db: DbArgument,
    output: OutOption,
    grids_file: Annotated[Optional[Path], typer.Option("--grids", help="Grid polygons to draw under the markers.")] = None,
    grids_layer: Annotated[str, typer.Option("--grids-layer")] = "grids",
    status: Annotated[str, typer.Option("--status", help="active, retired or all.")] = "active",
):
    """Interactive map: clustered markers per class; a click shows code, class, location, grid, department, owner, maintainer."""
    from gridtools.maps import component_map, save_map

    store = _open_register(db)
    try:
        table = store.to_geodataframe(status=None if status == "all" else status)
    finally:
        store.close()
    grids = io.read_any(grids_file, layer=grids_layer if grids_file.suffix.lower() == ".gpkg" else None) if grids_file else None
    save_map(component_map(table, grids=grids), output)
    out.print(f"wrote {output}: {len(table):,} components")


@components_app.command("query")
def components_query(
    db: DbArgument,
    code: Annotated[Optional[str], typer.Option("--code", help="One 16-digit code.")] = None,
    grid: Annotated[Optional[str], typer.Option("--grid", help="Grid code ('' for components in no grid).")] = None,
    class_code: Annotated[Optional[str], typer.Option("--class", help="Class (0118) or major class (01).")] = None,
    near: Annotated[Optional[str], typer.Option("--near", help="LON,LAT: the nearest components to this point.")] = None,
    k: Annotated[int, typer.Option("-k", help="How many nearest components (with --near).")] = 5,
    status: Annotated[str, typer.Option("--status", help="active, retired or all.")] = "active",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the result to a file.")] = None,
):
    """Find components by code, grid, class, or nearest to a point."""
    store = _open_register(db)
    try:
        wanted = None if status == "all" else status
        if code:
            table = store.get(code)
        elif near:
            try:
                lon, lat = (float(v) for v in near.split(","))
            except ValueError as exc:
                raise GridtoolsError(f"--near takes LON,LAT in degrees, e.g. 24.94,60.17; got {near!r}") from exc
            table = store.nearest(lon, lat, k=k, status=wanted)
        else:
            table = store.query(grid=grid, class_code=class_code, status=wanted)
        history = store.history(code) if code else None
    finally:
        store.close()
    if output is not None:
        io.write_any(table.drop(columns=["fid"]), output, layer="components")
        out.print(f"wrote {output}: {len(table):,} components")
        return
    # only columns that say something: the terminal is narrow
    columns = [c for c in ("code", "class_zh", "class_en", "name", "grid_code", "dept_in_charge", "owner", "maintainer",
                           "status", "distance_m")
               if c in table.columns and table[c].notna().any() and (table[c].astype(str) != "").any()]
    view = Table(*columns, "lon", "lat", title=f"{len(table):,} component(s)")
    for row in table.head(50).itertuples(index=False):
        values = ["" if getattr(row, c) is None else (f"{getattr(row, c):,.1f}" if c == "distance_m" else str(getattr(row, c)))
                  for c in columns]
        view.add_row(*values, f"{row.geometry.x:.6f}", f"{row.geometry.y:.6f}")
    out.print(view)
    if history is not None and len(history):
        hist = Table("changed_at", "action", "field", "old_value", "new_value", "note", title="history")
        for row in history.itertuples(index=False):
            hist.add_row(*("" if v is None else str(v) for v in (row.changed_at, row.action, row.field, row.old_value,
                                                                    row.new_value, row.note)))
        out.print(hist)


@components_app.command("update")
def components_update(
    db: DbArgument,
    code: Annotated[str, typer.Argument(help="16-digit component code.")],
    set_: Annotated[list[str], typer.Option("--set", help="FIELD=VALUE (name, dept_in_charge, owner, maintainer, "
                                                          "note, grid_code, class_code); repeat for several.")],
    note: Annotated[Optional[str], typer.Option("--note", help="Why (kept in the history).")] = None,
):
    """Change fields of a component; old and new values go to the history."""
    fields = {}
    for item in set_:
        key, sep, value = item.partition("=")
        if not sep:
            raise GridtoolsError(f"--set takes FIELD=VALUE, got {item!r}")
        fields[key.strip()] = value
    store = _open_register(db)
    try:
        changes = store.update(code, note=note, **fields)
    finally:
        store.close()
    out.print(f"{code}: {len(changes)} field(s) changed" + "".join(
        f"\n  {r.field}: {r.old_value!r} -> {r.new_value!r}" for r in changes.itertuples()))


@components_app.command("regrid")
def components_regrid(
    db: DbArgument,
    grids_file: Annotated[Path, typer.Option("--grids", help="The new grid polygons.")],
    grids_layer: Annotated[str, typer.Option("--grids-layer")] = "grids",
    grid_col: Annotated[str, typer.Option("--grid-col")] = "grid_code",
    note: Annotated[Optional[str], typer.Option("--note", help="Why (kept in the history).")] = None,
):
    """After grids were redrawn: give every active component the grid it now lies in (recorded in the history)."""
    from gridtools.components.importer import place_in_grids

    grids = io.read_any(grids_file, layer=grids_layer if grids_file.suffix.lower() == ".gpkg" else None)
    store = _open_register(db)
    try:
        moved = store.regrid(lambda components: place_in_grids(components, grids, grid_col), note=note)
        outside = len(store.query(grid=""))
    finally:
        store.close()
    out.print(f"{moved:,} component(s) changed grid; {outside:,} active component(s) lie in no grid")


@components_app.command("retire")
def components_retire(
    db: DbArgument,
    code: Annotated[str, typer.Argument(help="16-digit component code.")],
    note: Annotated[Optional[str], typer.Option("--note", help="Why (kept in the history).")] = None,
):
    """Retire a component: it stays in the register and its code is never given out again."""
    store = _open_register(db)
    try:
        store.retire(code, note=note)
    finally:
        store.close()
    out.print(f"{code}: retired")


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
_HS_POI = Annotated[Optional[list[Path]], typer.Option(
    "--poi", help="Points of interest (shops, bars, car parks; any vector file or lon/lat CSV): their density per "
                  "cell becomes a covariate of gbm and the ensemble (repeatable: one covariate per file).")]


def _poi_covariates(poi_files, cells):
    """Density of each --poi file per cell (columns in file order), and lines for the summary."""
    if not poi_files:
        return None, []
    import numpy as np

    from gridtools import hotspots

    columns, lines = [], []
    for path in poi_files:
        density = hotspots.point_density(io.read_any(path), cells)
        columns.append(density)
        inside = float((density * cells.area / 1e6).sum())
        lines.append(f"covariate: density of {path.name} ({inside:,.0f} points in the study area)")
    return np.column_stack(columns), lines


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
    method: Annotated[str, typer.Option("--method", help="naive_4w, naive_1y, naive_all, smoothed, kde, prospective, etas, gbm, ensemble.")] = "ensemble",
    lon: _HS_LON = None, lat: _HS_LAT = None, x: _HS_X = None, y: _HS_Y = None,
    crs: CrsOption = None, layer: LayerOption = None,
    category_col: _HS_CATCOL = None, category: _HS_CAT = None,
    boundary: _HS_BOUNDARY = None, area: _HS_AREA = "extent",
    grids: _HS_GRIDS = None, grid_id: _HS_GRID_ID = None, poi: _HS_POI = None,
    patrol_share: Annotated[float, typer.Option(
        "--patrol-share", help="Share of the area to flag; its cells are joined into contiguous patrol areas "
                               "(layer 'patrol_areas').")] = 0.02,
    map_file: Annotated[Optional[Path], typer.Option("--map", help="Also write a folium map of the top cells (HTML).")] = None,
):
    """Risk of every cell for the days after --cutoff; writes layer 'cells' (cell_id, risk, rank, geometry)
    and layer 'patrol_areas' (the riskiest --patrol-share of the area joined into contiguous areas)."""
    from gridtools import hotspots

    events, cells, lines = _hotspot_inputs(events_file, time, lon, lat, x, y, crs, layer, category_col,
                                           category, cell, boundary, area, grids, grid_id)
    covariates, cov_lines = _poi_covariates(poi, cells)
    result = hotspots.forecast(events, cells, cutoff=cutoff, horizon_days=horizon_days, method=method,
                               covariates=covariates)
    areas = hotspots.patrol_areas(result, share=patrol_share)
    gpkg = output.suffix.lower() == ".gpkg"
    areas_file = output if gpkg else output.with_name(f"{output.stem}_patrol_areas{output.suffix}")
    io.write_any(result, output, layer="cells" if gpkg else None)
    io.write_any(areas, areas_file, layer="patrol_areas" if gpkg else None)
    if map_file is not None:
        from gridtools.maps import hotspot_map, save_map

        save_map(hotspot_map(result, top_share=patrol_share, patrol_areas=areas), map_file)
    used = int((events.t < hotspots.to_day(cutoff)).sum())
    flagged = int(areas["n_cells"].sum())
    _print_lines(f"hotspots predict ({method}, cutoff {cutoff}, {horizon_days:g} days)",
                 [*lines, *cov_lines, f"{used:,} events before the cutoff used",
                  f"riskiest {patrol_share:.0%} of the area: {flagged:,} cells in {len(areas):,} patrol areas, "
                  f"{areas['expected_events'].sum():,.1f} expected events",
                  f"wrote {output} (layer cells)" + (", layer patrol_areas" if gpkg else f" and {areas_file}")])


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
    methods: Annotated[str, typer.Option("--methods", help="Comma-separated methods; the naive baselines and kde are always added.")] = "smoothed,prospective,etas,gbm,ensemble",
    lon: _HS_LON = None, lat: _HS_LAT = None, x: _HS_X = None, y: _HS_Y = None,
    crs: CrsOption = None, layer: LayerOption = None,
    category_col: _HS_CATCOL = None, category: _HS_CAT = None,
    boundary: _HS_BOUNDARY = None, area: _HS_AREA = "extent",
    grids: _HS_GRIDS = None, grid_id: _HS_GRID_ID = None, poi: _HS_POI = None,
):
    """Rolling-origin backtest: hit rate, PAI and PEI at 1, 2, 5, 10% of the area for every method."""
    import json

    from gridtools import hotspots
    from gridtools.maps import hotspot_map, save_map

    events, cells, lines = _hotspot_inputs(events_file, time, lon, lat, x, y, crs, layer, category_col,
                                           category, cell, boundary, area, grids, grid_id)
    covariates, cov_lines = _poi_covariates(poi, cells)
    lines += cov_lines
    with progress_bar() as progress:
        result = hotspots.backtest(events, cells, start=start, folds=folds, horizon_days=horizon_days,
                                   step_days=step_days, methods=methods, progress=progress, covariates=covariates)
    output.mkdir(parents=True, exist_ok=True)
    cols = ["method", "fold", "cutoff", "coverage", "hit_rate", "pai", "pei", "area_share", "hits", "n_events"]
    result.metrics[cols].to_csv(output / "metrics.csv", index=False)
    result.summary.to_csv(output / "summary.csv", index=False)
    (output / "summary.json").write_text(json.dumps(
        {"params": result.params, "covariates": [str(p) for p in poi or []], "seconds": result.seconds, "report": {k: v for k, v in events.report.items()
                                                                         if k in ("source", "rows", "kept", "categories")},
         "summary": json.loads(result.summary.to_json(orient="records"))}, indent=2, default=str))
    fig = result.plot()
    fig.savefig(output / "pai_vs_coverage.png", dpi=120)
    best = result.pai_table(0.02)["method"].iloc[0]
    last = hotspots.to_day(start) + (folds - 1) * result.params["step_days"]
    cells_out = hotspots.forecast(events, cells, cutoff=hotspots.from_day(last), horizon_days=horizon_days,
                                  method=best, covariates=covariates)
    save_map(hotspot_map(cells_out, top_share=0.05), output / "top_cells_map.html")
    io.write_any(cells_out, output / "top_cells.gpkg", layer="cells")
    table = Table(title=f"PAI at 2% of the area ({folds} folds, {horizon_days:g}-day horizon)")
    for c in ("method", "PAI mean", "PAI sd", "hit rate", "PEI", "vs best naive", "seconds"):
        table.add_column(c)
    for _, r in result.pai_table(0.02).iterrows():
        table.add_row(str(r["method"]), f"{r['pai_mean']:.2f}", f"{r['pai_std']:.2f}", f"{r['hit_rate_mean']:.3f}",
                      f"{r['pei_mean']:.3f}", f"{r['pai_vs_best_naive']:+.2f}", f"{result.seconds.get(r['method'], 0):.1f}")
    _print_lines("hotspots backtest", lines)
    out.print(table)
    out.print(f"wrote {output}/metrics.csv, summary.csv, summary.json, pai_vs_coverage.png, top_cells_map.html, "
              "top_cells.gpkg")


# ---------------------------------------------------------------------------------------------
# routing (gridtools route)


def _lonlat(text: str, option: str) -> tuple[float, float]:
    try:
        lon, lat = (float(v) for v in text.split(","))
    except ValueError:
        raise GridtoolsError(f"{option} must be LON,LAT in degrees, e.g. 8.69,49.41; got {text!r}") from None
    return lon, lat


def _renames(text: str | None) -> dict | None:
    if not text:
        return None
    pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
    if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
        raise GridtoolsError(f"--columns must be OLD=NEW pairs separated by commas, e.g. link_id=osmid; got {text!r}")
    return {old.strip(): new.strip() for old, new in pairs}


@app.command(name="route")
def route_cmd(
    network_file: Annotated[Path, typer.Argument(help="Road network: .osm.pbf / .osm (OpenStreetMap) or road "
                                                      "lines with OSM-style columns.")],
    origin: Annotated[str, typer.Option("--from", help="Start as LON,LAT (WGS-84).")],
    destination: Annotated[str, typer.Option("--to", help="End as LON,LAT (WGS-84).")],
    output: OutOption,
    weight_t: Annotated[Optional[float], typer.Option("--weight-t", help="Gross weight in tonnes "
                                                                         "(> 3.5 t: a truck).")] = None,
    height_m: Annotated[Optional[float], typer.Option("--height-m", help="Height in metres.")] = None,
    width_m: Annotated[Optional[float], typer.Option("--width-m", help="Width in metres.")] = None,
    length_m: Annotated[Optional[float], typer.Option("--length-m", help="Length in metres.")] = None,
    axle_load_t: Annotated[Optional[float], typer.Option("--axle-load-t", help="Heaviest axle load, t.")] = None,
    vehicle_kind: Annotated[Optional[str], typer.Option("--vehicle", help="car, van or hgv (default: from "
                                                                          "--weight-t).")] = None,
    at: Annotated[Optional[str], typer.Option("--at", help="Departure \"YYYY-MM-DD HH:MM\" for time-limited "
                                                           "restrictions (default: count them as in force).")] = None,
    crs: CrsOption = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the network cache.")] = False,
    map_file: Annotated[Optional[Path], typer.Option("--map", help="Also write an HTML map of the route and "
                                                                   "the roads it avoided.")] = None,
    columns: Annotated[Optional[str], typer.Option("--columns", help="Edge files: rename columns to OSM names, "
                                                                     "e.g. link_id=osmid,road_name=name,dir=oneway.")
                       ] = None,
):
    """Fastest legal route for a car, van or truck; writes LineStrings with the OSM osmid of each way.

    Every feature carries osmid, name, highway, length_m, time_s and the totals route_length_m,
    route_time_s.  Roads the vehicle had to avoid are listed with the restriction that blocked them.
    """
    from gridtools.routing import Router, load_network, parse_time, vehicle_from_options

    when = parse_time(at)
    vehicle = vehicle_from_options(weight_t, height_m, width_m, length_m, axle_load_t, kind=vehicle_kind)
    with progress_bar() as progress:
        net = load_network(network_file, cache=not no_cache, crs=crs, columns=_renames(columns), progress=progress)
    result = Router(net).route(_lonlat(origin, "--from"), _lonlat(destination, "--to"), vehicle, at=when)
    _print_lines("route", result.summary_lines())
    io.write_any(result.to_geodataframe(), output, layer="route")
    out.print(f"wrote {output}: {len(result.osmids)} ways")
    if map_file is not None:
        from gridtools.maps import route_map, save_map

        save_map(route_map(result), map_file)
        out.print(f"wrote {map_file}")

# end of routing
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# dispatch (gridtools dispatch serve | token | assign)

dispatch_app = typer.Typer(help="Truck dispatch for an industrial park: routes, slots, waiting places; "
                                "the HTTP service.", no_args_is_help=True)
app.add_typer(dispatch_app, name="dispatch")


@dispatch_app.command("serve")
def dispatch_serve(
    network: Annotated[Path, typer.Option("--network", help="Road network (.osm.pbf / .osm / road lines).")],
    park: Annotated[Path, typer.Option("--park", help="Park file (YAML / JSON / GeoJSON).")],
    db: Annotated[str, typer.Option("--db", help="SQLite database of trucks, trips and tokens (created when "
                                                 "absent), or a postgresql://user@host/dbname URL.")],
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    workers_log: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "warning",
):
    """Run the dispatch HTTP service (OpenAPI docs at /docs).  Issue the first dispatcher token with
    'gridtools dispatch token'."""
    try:
        import uvicorn
    except ImportError:
        from gridtools.errors import missing_dependency

        raise missing_dependency("uvicorn", "service") from None
    from gridtools.dispatch.center import DispatchCenter
    from gridtools.dispatch.store import TripStore
    from gridtools.routing import Router, load_network
    from gridtools.service.app import create_app

    from gridtools.dispatch import read_park

    parsed = read_park(park)
    with progress_bar() as progress:
        net = load_network(network, progress=progress)
    center = DispatchCenter(net, parsed, TripStore(db), router=Router(net).prepare())
    with progress_bar() as progress:
        center.warm(progress=progress)
    console.print(f"dispatch service for {parsed.name}: {center.restored} active trips restored from "
                  f"{center.store.path}; http://{host}:{port}/docs", highlight=False)
    uvicorn.run(create_app(center), host=host, port=port, log_level=workers_log)


@dispatch_app.command("token")
def dispatch_token(
    db: Annotated[str, typer.Option("--db", help="SQLite database of the service, or its postgresql:// URL.")],
    name: Annotated[str, typer.Option("--name", help="Who holds the token (driver, company, dispatcher).")],
    role: Annotated[str, typer.Option("--role", help="driver or dispatcher.")] = "driver",
):
    """Issue an access token (printed once; only its hash is stored)."""
    from gridtools.dispatch.store import TripStore

    out.print(TripStore(db).issue_token(role, name))


@dispatch_app.command("assign")
def dispatch_assign(
    network: Annotated[Path, typer.Option("--network", help="Road network (.osm.pbf / .osm / road lines).")],
    park: Annotated[Path, typer.Option("--park", help="Park file (YAML / JSON / GeoJSON).")],
    trips: Annotated[Path, typer.Argument(help="CSV of trips: plate, dock, earliest_arrival, gate (or "
                                               "origin_lon, origin_lat), weight_t, height_m, width_m, length_m.")],
    output: OutOption,
    reoptimise: Annotated[bool, typer.Option("--reoptimise/--greedy", help="Batch re-optimisation after the "
                                                                          "greedy pass.")] = True,
    map_file: Annotated[Optional[Path], typer.Option("--map", help="Also write an HTML map of routes and "
                                                                  "segment load.")] = None,
):
    """Assign a batch of trips offline: routes, arrival and dock slots, waiting places, segment load."""
    import pandas as pd

    from gridtools.dispatch.batch import assign_table
    from gridtools.routing import load_network

    from gridtools.dispatch import read_park

    parsed = read_park(park)
    try:
        table = pd.read_csv(trips, dtype={"plate": str, "dock": str, "gate": str})
    except (OSError, ValueError) as exc:
        raise GridtoolsError(f"cannot read the trips file {trips}: {exc}") from None
    with progress_bar() as progress:
        net = load_network(network, progress=progress)
        result = assign_table(net, parsed, table, reoptimise=reoptimise, source=str(trips), progress=progress)
    _print_lines("dispatch", result.summary_lines())
    io.write_any(result.trips, output, layer="trips")
    if map_file is not None:
        from gridtools import maps

        maps.save_map(maps.dispatch_map(routes=result.routes, load=result.load, park=parsed), map_file)
        out.print(f"wrote {map_file}")
    out.print(f"wrote {output}: {len(result.trips)} trips")

# end of dispatch
# ---------------------------------------------------------------------------------------------


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
