"""Coordinates and grids: ``gridtools coords convert`` and ``gridtools geocode``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gridtools import io
from gridtools.cli._common import (
    JobsOption,
    OutOption,
    SchedulerOption,
    app,
    group,
    out,
    pick_grids_layer,
    print_lines,
    progress_bar,
    report_rows,
)

coords_app = group("Coordinates: WGS-84 / GCJ-02 / BD-09 / EPSG conversions.")
app.add_typer(coords_app, name="coords")

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
    decimals: Annotated[int, typer.Option("--decimals", min=0, max=15, help="Decimals written (9 = 0.1 mm).")] = 9,
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
    report_rows(result.check.messages(result.table.index), strict, f"{input_file}: rows left unconverted")
    io.write_text_table(result.table, output, like=table.attrs.get("text_format"))
    print_lines("coords convert", [line for line in result.summary_lines() if "left unchanged" not in line])
    out.print(f"wrote {output}")


GridsCrsOption = Annotated[Optional[str], typer.Option(
    "--grids-crs", help="Datum of grid polygons drawn on a Chinese web map (gcj02, bd09) or CRS of grids without one.")]
EventsCrsOption = Annotated[Optional[str], typer.Option(
    "--crs", help="CRS of the event coordinates: wgs84, gcj02, bd09 or EPSG:nnnn. Required for longitude/latitude "
                  "in China (the numbers do not say their datum); WGS-84 elsewhere by default.")]

GridsLayerOption = Annotated[Optional[str], typer.Option("--grids-layer", help="Layer of --grids (default: 'grids' "
                                                                               "if present).")]
StrictOption = Annotated[bool, typer.Option("--strict", help="Fail (exit 2) if any event has unusable coordinates "
                                                             "instead of flagging it.")]
ChunkRowsOption = Annotated[Optional[int], typer.Option("--chunk-rows", help="Stream the events in chunks of this many "
                                                                             "rows (bounded memory).")]


@app.command()
def geocode(
    events_file: Annotated[Path, typer.Argument(help="Events: CSV/TSV with coordinate columns, or a point file.")],
    output: OutOption,
    grids: Annotated[Path, typer.Option("--grids", help="Grid polygons: the GeoPackage 'gridtools partition' "
                                                        "wrote (layer 'grids'), or any polygons with --code.")],
    lon: Annotated[Optional[str], typer.Option("--lon", help="Longitude (or x) column of a table.")] = None,
    lat: Annotated[Optional[str], typer.Option("--lat", help="Latitude (or y) column of a table.")] = None,
    crs: EventsCrsOption = None, grids_crs: GridsCrsOption = None,
    grids_layer: GridsLayerOption = None,
    code: Annotated[str, typer.Option("--code", help="Code column of the grids.")] = "grid_code",
    strict: StrictOption = False,
    scheduler: SchedulerOption = None, jobs: JobsOption = None, chunk_rows: ChunkRowsOption = None,
):
    """Add the grid_code of the grid containing each event (empty when outside every grid).

    Every input row and column is kept; added columns: grid_code, street_code, community_code (prefixes
    of the grid code) and geocode_flag (why a row has no grid: outside_grids, missing, non_numeric,
    swapped, out_of_range, outside_china); a point on a shared boundary goes to the smallest grid_code.
    A folder of Parquet files, a folder output (a partitioned Parquet dataset), --chunk-rows, --jobs or
    --scheduler stream the events chunk by chunk.
    """
    from gridtools.incidents import geocode as run_geocode

    polygons = io.read_any(grids, layer=pick_grids_layer(grids, grids_layer), crs=grids_crs)
    if scheduler or jobs or chunk_rows or _is_dataset(events_file, output):
        return _geocode_in_chunks(events_file, output, polygons, code, lon=lon, lat=lat, crs=crs,
                                  chunk_rows=chunk_rows, scheduler=scheduler, n_jobs=jobs)
    text_input = io.is_table_path(events_file)
    events = io.read_text_table(events_file) if text_input else io.read_any(events_file, crs=crs)
    result = run_geocode(events, polygons, lon=lon, lat=lat, crs=crs if text_input else None, code=code)
    report_rows([m for m in result.messages() if not m.startswith("outside every grid")], strict,
                f"{events_file}: events with unusable coordinates")
    if text_input and io.is_table_path(output):
        io.write_text_table(result.table, output, like=events.attrs.get("text_format"))
    else:
        io.write_any(result.table, output)
    print_lines("geocode", result.summary_lines())
    out.print(f"wrote {output}")


def _is_dataset(events_file: Path, output: Path) -> bool:
    """A folder in or out: the chunked path (the only one that reads and writes datasets)."""
    return events_file.is_dir() or not output.suffix


def _geocode_in_chunks(events_file, output, polygons, code, *, chunk_rows, **options) -> None:
    from gridtools.incidents import prepare_grids
    from gridtools.incidents.stream import CHUNK_ROWS, geocode_dataset

    with progress_bar() as tick:
        result = geocode_dataset(events_file, prepare_grids(polygons, code=code), output,
                                 chunk_rows=chunk_rows or CHUNK_ROWS, progress=lambda d, n: tick("geocoding chunks", d, n),
                                 **options)
    print_lines("geocode", result.summary_lines())
    out.print(f"wrote {output}")
