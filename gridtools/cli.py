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


# ---------------------------------------------------------------------------------------------
# routing (gridtools route)


def _lonlat(text: str, option: str) -> tuple[float, float]:
    try:
        lon, lat = (float(v) for v in text.split(","))
    except ValueError:
        raise GridtoolsError(f"{option} must be LON,LAT in degrees, e.g. 8.69,49.41; got {text!r}") from None
    return lon, lat


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
):
    """Fastest legal route for a car, van or truck; writes LineStrings with the OSM osmid of each way.

    Every feature carries osmid, name, highway, length_m, time_s and the totals route_length_m,
    route_time_s.  Roads the vehicle had to avoid are listed with the restriction that blocked them.
    """
    from gridtools.routing import Router, load_network, parse_time, vehicle_from_options

    when = parse_time(at)
    vehicle = vehicle_from_options(weight_t, height_m, width_m, length_m, axle_load_t, kind=vehicle_kind)
    with progress_bar() as progress:
        net = load_network(network_file, cache=not no_cache, crs=crs, progress=progress)
    result = Router(net).route(_lonlat(origin, "--from"), _lonlat(destination, "--to"), vehicle, at=when)
    _print_lines("route", result.summary_lines())
    io.write_any(result.to_geodataframe(), output, layer="route")
    out.print(f"wrote {output}: {len(result.osmids)} ways")

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
    db: Annotated[Path, typer.Option("--db", help="SQLite database of trucks, trips and tokens "
                                                  "(created when absent).")],
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

    parsed = io.read_park(park)
    with progress_bar() as progress:
        net = load_network(network, progress=progress)
    center = DispatchCenter(net, parsed, TripStore(db), router=Router(net).prepare())
    with progress_bar() as progress:
        center.warm(progress=progress)
    console.print(f"dispatch service for {parsed.name}: {center.restored} active trips restored from {db}; "
                  f"http://{host}:{port}/docs", highlight=False)
    uvicorn.run(create_app(center), host=host, port=port, log_level=workers_log)


@dispatch_app.command("token")
def dispatch_token(
    db: Annotated[Path, typer.Option("--db", help="SQLite database of the service.")],
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

    parsed = io.read_park(park)
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
