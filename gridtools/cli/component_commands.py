"""Components: ``gridtools components import | export | map | query | update | regrid | retire``."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from gridtools import io, settings
from gridtools.cli._common import (
    CrsOption,
    LayerOption,
    MapRoadsOption,
    OutOption,
    TilesOption,
    app,
    group,
    lonlat,
    out,
    print_lines,
    progress_bar,
    read_layer,
    require_database,
    table_view,
)
from gridtools.errors import GridtoolsError

components_app = group("City management components (城市部件): import, code, query, retire, export, map.")
app.add_typer(components_app, name="components")

#: A plain string, passed as-is to the store: a path or a sqlite:/// or postgresql:// URL.
DbArgument = Annotated[str, typer.Argument(help="Component register (a GeoPackage file, created if new).")]
FileArgument = Annotated[Path, typer.Argument(help="Components: CSV (lon/lat), GeoJSON, GeoPackage, Shapefile, or "
                                                   "OpenStreetMap .osm.pbf (classes from OSM tags).")]
ImportGridsOption = Annotated[Path, typer.Option("--grids", help="Grid polygons (e.g. the output of "
                                                                 "'gridtools partition').")]
ClassColOption = Annotated[Optional[str], typer.Option("--class-col", help="Column with the 4-digit class code.")]
ClassOption = Annotated[Optional[str], typer.Option("--class", help="One class code for every row, e.g. 0118.")]
KeyColOption = Annotated[Optional[str], typer.Option("--key-col", help="Column with a stable external id "
                                                                       "(re-imports skip ids already stored).")]
AdminCodeOption = Annotated[Optional[str], typer.Option("--admin-code", help="6-digit county code (GB/T 2260) that "
                                                        "starts every code; default: the grid codes' first 6 digits.")]
ImportGridsLayerOption = Annotated[str, typer.Option("--grids-layer", help="Layer of --grids holding the grids.")]
ImportGridColOption = Annotated[str, typer.Option("--grid-col", help="Grid code column of --grids.")]
DeptOption = Annotated[Optional[str], typer.Option("--dept", help="Department in charge, for rows without one.")]
OwnerOption = Annotated[Optional[str], typer.Option("--owner", help="Owner, for rows without one.")]
MaintainerOption = Annotated[Optional[str], typer.Option("--maintainer", help="Maintenance unit, for rows without "
                                                                              "one.")]
ClassesOption = Annotated[Optional[Path], typer.Option("--classes", help="Extra class table (CSV) with local "
                                                                         "extension codes.")]
SkipBadOption = Annotated[bool, typer.Option("--skip-bad", help="Import the good rows and list the bad ones "
                                                                "(default: any bad row stops the import).")]
RejectsOption = Annotated[Optional[Path], typer.Option("--rejects", help="CSV to write the refused rows to.")]
BatchSizeOption = Annotated[int, typer.Option("--batch-size", help="Rows per transaction (a crash loses at most "
                                                                   "the batch being written).")]
GridsLayerOption = Annotated[str, typer.Option("--grids-layer")]
GridColOption = Annotated[str, typer.Option("--grid-col")]
StatusOption = Annotated[str, typer.Option("--status", help="active, retired or all.")]
NoteOption = Annotated[Optional[str], typer.Option("--note", help="Why (kept in the history).")]
CodeArgument = Annotated[str, typer.Argument(help="16-digit component code.")]


@contextmanager
def open_register(db: str, *, create: bool = False, classes_file: Optional[Path] = None):
    """The component register *db* (a path or URL, as given), closed on exit."""
    from gridtools.components import load_classes, merge_classes, open_store

    if not create:
        require_database(db, f"component register not found: {db} (create it with 'gridtools components import')")
    classes = merge_classes(load_classes(), load_classes(classes_file)) if classes_file else None
    store = open_store(db, classes=classes, create=create)
    try:
        yield store
    finally:
        store.close()


def check_status(status: str) -> None:
    """Refuse a --status that is not active, retired or all (a typo would select nothing)."""
    if status not in ("active", "retired", "all"):
        raise GridtoolsError(f"--status {status!r} is not a status: use active, retired or all")


@components_app.command("import")
def components_import(
    db: DbArgument, file: FileArgument, grids_file: ImportGridsOption,
    class_col: ClassColOption = None, class_code: ClassOption = None, key_col: KeyColOption = None,
    crs: CrsOption = None, admin_code: AdminCodeOption = None, layer: LayerOption = None,
    grids_layer: ImportGridsLayerOption = "grids", grid_col: ImportGridColOption = "grid_code",
    dept: DeptOption = None, owner: OwnerOption = None, maintainer: MaintainerOption = None,
    classes_file: ClassesOption = None, skip_bad: SkipBadOption = False, rejects: RejectsOption = None,
    batch_size: BatchSizeOption = settings.components_batch_size,
):
    """Import components, give each a 16-digit code and its grid; re-running resumes / skips rows already stored."""
    from gridtools.components.codes import admin_code_from_grids
    from gridtools.components.importer import import_components

    grids = read_layer(grids_file, grids_layer)
    admin = admin_code or admin_code_from_grids(grids, grid_col)
    osm = file.name.lower().endswith(".pbf")
    # read before the register is created, so a file that cannot be read leaves none behind;
    # coordinates are checked row by row by the import (check=False), which names the bad rows
    features = None if osm else io.read_any(file, layer=layer, crs=crs, check=False)
    with open_register(db, create=True, classes_file=classes_file) as store:
        options = dict(class_col=class_col, class_code=class_code, key_col=key_col, grid_col=grid_col,
                       defaults={"dept_in_charge": dept, "owner": owner, "maintainer": maintainer})
        if osm:
            features = _read_osm(file, store, options)
        with progress_bar() as progress:
            result = import_components(store, features, grids, admin_code=admin, source=file.name,
                                       on_error="skip" if skip_bad else "raise", batch_size=batch_size,
                                       progress=progress, **options)
    print_lines("components import", result.summary_lines())
    if rejects is not None and len(result.rejected):
        io.write_any(result.rejected, rejects)
        out.print(f"wrote {rejects} ({len(result.rejected):,} refused rows)")


def _read_osm(path: Path, store, options: dict):
    """Components of an OpenStreetMap extract, classed by the register's OSM rules; *options* follow."""
    from gridtools.components.osm import read_osm_components

    features, _ = read_osm_components(path, store.classes)
    options.update(class_col="class_code", key_col="osm_key", key_prefix="")
    if options["class_code"]:
        raise GridtoolsError("--class does not apply to OpenStreetMap input: classes come from OSM tags")
    return features


@components_app.command("export")
def components_export(
    db: DbArgument,
    output: OutOption,
    status: StatusOption = "all",
):
    """Write the register to GeoPackage / GeoJSON / CSV / Parquet (with class names)."""
    check_status(status)
    with open_register(db) as store:
        table = store.to_geodataframe(status=None if status == "all" else status)
    io.write_any(table.drop(columns=["fid"]), output, layer="components")
    out.print(f"wrote {output}: {len(table):,} components")


@components_app.command("map")
def components_map(
    db: DbArgument,
    output: OutOption,
    grids_file: Annotated[Optional[Path], typer.Option("--grids", help="Grid polygons to draw under the markers.")] = None,
    grids_layer: GridsLayerOption = "grids",
    status: StatusOption = "active",
    roads: MapRoadsOption = None,
    tiles: TilesOption = None,
):
    """Interactive map (works offline): clustered markers per class; a click shows code, class, location, grid,
    department, owner, maintainer."""
    from gridtools.maps import component_map, save_map

    check_status(status)
    with open_register(db) as store:
        table = store.to_geodataframe(status=None if status == "all" else status)
    grids = read_layer(grids_file, grids_layer) if grids_file else None
    save_map(component_map(table, grids=grids, roads=io.read_any(roads) if roads else None, tiles=tiles), output)
    out.print(f"wrote {output}: {len(table):,} components")


@components_app.command("query")
def components_query(
    db: DbArgument,
    code: Annotated[Optional[str], typer.Option("--code", help="One 16-digit code.")] = None,
    grid: Annotated[Optional[str], typer.Option("--grid", help="Grid code ('' for components in no grid).")] = None,
    class_code: Annotated[Optional[str], typer.Option("--class", help="Class (0118) or major class (01).")] = None,
    near: Annotated[Optional[str], typer.Option("--near", help="LON,LAT: the nearest components to this point.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, help="How many nearest components (with --near).")] = 5,
    status: StatusOption = "active",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the result to a file.")] = None,
):
    """Find components by code, grid, class, or nearest to a point."""
    check_status(status)
    wanted = None if status == "all" else status
    with open_register(db) as store:
        if code:
            table = store.get(code)
        elif near:
            table = store.nearest(*lonlat(near, "--near", verb="takes", example="24.94,60.17"), k=k, status=wanted)
        else:
            table = store.query(grid=grid, class_code=class_code, status=wanted)
        history = store.history(code) if code else None
    if output is not None:
        io.write_any(table.drop(columns=["fid"]), output, layer="components")
        out.print(f"wrote {output}: {len(table):,} components")
        return
    _print_components(table, history)


def _print_components(table, history) -> None:
    # only columns that say something: the terminal is narrow
    columns = [c for c in ("code", "class_zh", "class_en", "name", "grid_code", "dept_in_charge", "owner", "maintainer",
                           "status", "distance_m")
               if c in table.columns and table[c].notna().any() and (table[c].astype(str) != "").any()]
    view = table_view(*columns, "lon", "lat", title=f"{len(table):,} component(s)")
    for row in table.head(50).itertuples(index=False):
        values = ["" if getattr(row, c) is None else (f"{getattr(row, c):,.1f}" if c == "distance_m" else str(getattr(row, c)))
                  for c in columns]
        view.add_row(*values, f"{row.geometry.x:.6f}", f"{row.geometry.y:.6f}")
    out.print(view)
    if history is not None and len(history):
        hist = table_view("changed_at", "action", "field", "old_value", "new_value", "note", title="history")
        for row in history.itertuples(index=False):
            hist.add_row(*("" if v is None else str(v) for v in (row.changed_at, row.action, row.field, row.old_value,
                                                                    row.new_value, row.note)))
        out.print(hist)


@components_app.command("update")
def components_update(
    db: DbArgument,
    code: CodeArgument,
    set_: Annotated[list[str], typer.Option("--set", help="FIELD=VALUE (name, dept_in_charge, owner, maintainer, "
                                                          "note, grid_code, class_code); repeat for several.")],
    note: NoteOption = None,
):
    """Change fields of a component; old and new values go to the history."""
    fields = {}
    for item in set_:
        key, sep, value = item.partition("=")
        if not sep:
            raise GridtoolsError(f"--set takes FIELD=VALUE, got {item!r}")
        fields[key.strip()] = value
    with open_register(db) as store:
        changes = store.update(code, note=note, **fields)
    out.print(f"{code}: {len(changes)} field(s) changed" + "".join(
        f"\n  {r.field}: {r.old_value!r} -> {r.new_value!r}" for r in changes.itertuples()))


@components_app.command("regrid")
def components_regrid(
    db: DbArgument,
    grids_file: Annotated[Path, typer.Option("--grids", help="The new grid polygons.")],
    grids_layer: GridsLayerOption = "grids",
    grid_col: GridColOption = "grid_code",
    note: NoteOption = None,
):
    """After grids were redrawn: give every active component the grid it now lies in (recorded in the history)."""
    from gridtools.components.importer import place_in_grids

    grids = read_layer(grids_file, grids_layer)
    with open_register(db) as store:
        moved = store.regrid(lambda components: place_in_grids(components, grids, grid_col), note=note)
        outside = len(store.query(grid=""))
    out.print(f"{moved:,} component(s) changed grid; {outside:,} active component(s) lie in no grid")


@components_app.command("retire")
def components_retire(
    db: DbArgument,
    code: CodeArgument,
    note: NoteOption = None,
):
    """Retire a component: it stays in the register and its code is never given out again."""
    with open_register(db) as store:
        store.retire(code, note=note)
    out.print(f"{code}: retired")
