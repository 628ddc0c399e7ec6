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
# components: the city management component register (gridtools.components)
# ============================================================================================
components_app = typer.Typer(help="City management components (城市部件): import, code, query, retire, export, map.",
                             no_args_is_help=True)
app.add_typer(components_app, name="components")

DbArgument = Annotated[Path, typer.Argument(help="Component register (a GeoPackage file, created if new).")]


def _open_register(db: Path, *, create: bool = False, classes_file: Optional[Path] = None):
    from gridtools.components import load_classes, merge_classes, open_store

    if not create and not str(db).startswith(("postgresql:", "postgres:")) and not Path(db).exists():
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
        if io.chinese_datum(crs):
            # TODO(coords): GCJ-02 / BD-09 input goes through gridtools.coords (built in parallel, issue 3).
            raise GridtoolsError(f"{crs} coordinates must be converted to WGS-84 first (gridtools.coords); "
                                 "then import with --crs EPSG:4326")
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
