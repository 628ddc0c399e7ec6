"""Hotspots: ``gridtools hotspots predict | backtest`` (theft hotspot forecasts and backtests)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from gridtools import io, settings
from gridtools.cli._common import CrsOption, DayfirstOption, JobsOption, LayerOption, OutOption, SchedulerOption, app, group, out, print_lines, progress_bar, warn

hotspots_app = group("Theft hotspot forecasts per cell or grid, with honest backtests.")
app.add_typer(hotspots_app, name="hotspots")

EventsArgument = Annotated[Path, typer.Argument(help="Incidents: CSV, GeoPackage or GeoParquet.")]
TimeOption = Annotated[str, typer.Option("--time", help="Column with the date/time of each event.")]
LonOption = Annotated[Optional[str], typer.Option("--lon", help="Longitude column (degrees).")]
LatOption = Annotated[Optional[str], typer.Option("--lat", help="Latitude column (degrees).")]
XOption = Annotated[Optional[str], typer.Option("--x", help="x column (projected; needs --crs).")]
YOption = Annotated[Optional[str], typer.Option("--y", help="y column (projected; needs --crs).")]
CategoryColOption = Annotated[Optional[str], typer.Option("--category-col", help="Column with the incident type.")]
CategoryOption = Annotated[Optional[list[str]], typer.Option("--category", help="Keep this category (repeatable).")]
HorizonOption = Annotated[float, typer.Option("--horizon-days", help="Length of the forecast window (days).")]
CellOption = Annotated[float, typer.Option("--cell", help="Side of the square cells (metres).")]
BoundaryOption = Annotated[Optional[Path], typer.Option("--boundary", help="Study-area boundary file (cells are "
                                                                           "clipped to it).")]
AreaOption = Annotated[str, typer.Option("--area", help="Study area without --boundary: 'extent' (bounding box) "
                                                        "or 'hull'.")]
GridsOption = Annotated[Optional[Path], typer.Option("--grids", help="Management grids to forecast for instead of "
                                                                     "square cells.")]
GridIdOption = Annotated[Optional[str], typer.Option("--grid-id", help="Column naming the grids.")]
PoiOption = Annotated[Optional[list[Path]], typer.Option(
    "--poi", help="Points of interest (shops, bars, car parks; any vector file or lon/lat CSV): their density per "
                  "cell becomes a covariate of gbm and the ensemble (repeatable: one covariate per file).")]
MethodOption = Annotated[str, typer.Option("--method", help="naive_4w, naive_1y, naive_all, smoothed, kde, "
                                                            "prospective, etas, gbm, ensemble.")]
MethodsOption = Annotated[str, typer.Option("--methods", help="Comma-separated methods; the naive baselines and kde "
                                                              "are always added.")]
PatrolShareOption = Annotated[float, typer.Option(
    "--patrol-share", help="Share of the area to flag; its cells are joined into contiguous patrol areas "
                           "(layer 'patrol_areas').")]
MapOption = Annotated[Optional[Path], typer.Option("--map", help="Also write a folium map of the top cells (HTML).")]


def _read_inputs(events_file, *, time, lon, lat, x, y, crs, layer, category_col, category, cell, boundary, area,
                 grids, grid_id, poi, dayfirst=None):
    """Events and cells (:func:`gridtools.hotspots.prepare`), the --poi covariates, and lines for the summary."""
    from gridtools import hotspots
    from gridtools.hotspots.cells import density_covariates

    raw = io.read_events(events_file, layer=layer, crs=crs, lon=lon, lat=lat, x=x, y=y)
    study = io.read_any(boundary) if boundary is not None else area
    units = io.read_any(grids) if grids is not None else None
    events, cells = hotspots.prepare(raw, time=time, category_col=category_col, categories=category or None,
                                     cell=cell, area=study, grids=units, grid_id=grid_id, dayfirst=dayfirst)
    rep = events.report
    lines = [f"{len(events):,} events in the study area ({rep['rows']:,} rows read"
             + (f", categories {', '.join(rep['categories'])}" if rep.get("categories") else "") + ")",
             f"{len(cells):,} {'cells of ' + format(cell, 'g') + ' m' if grids is None else 'grids'}, "
             f"{cells.total_area / 1e6:,.1f} km²"]
    _warn_left_out(rep)
    covariates = density_covariates([io.read_any(path) for path in poi or []], cells)
    for path, density in zip(poi or [], covariates.T if covariates is not None else []):
        inside = float((density * cells.area / 1e6).sum())
        lines.append(f"covariate: density of {path.name} ({inside:,.0f} points in the study area)")
    return events, cells, covariates, lines


def _warn_left_out(report: dict) -> None:
    """Warnings for the events set aside: no coordinates, or outside the study area."""
    from gridtools.errors import describe_rows
    from gridtools.hotspots.events import missing_rows_text

    missing = missing_rows_text(report)
    if missing:
        warn(missing)
    if report.get("outside"):
        warn(f"{len(report['outside']):,} events lie outside the study area and were left out "
             f"({describe_rows(report['outside'])}, counting from 1 after the header)")


@hotspots_app.command("predict")
def hotspots_predict(
    events_file: EventsArgument,
    output: OutOption,
    time: TimeOption,
    cutoff: Annotated[str, typer.Option("--cutoff", help="Forecast from this date (YYYY-MM-DD); only earlier events are used.")],
    horizon_days: HorizonOption = 7.0, cell: CellOption = settings.hotspot_cell_m, method: MethodOption = "ensemble",
    lon: LonOption = None, lat: LatOption = None, x: XOption = None, y: YOption = None,
    crs: CrsOption = None, layer: LayerOption = None, dayfirst: DayfirstOption = None,
    category_col: CategoryColOption = None, category: CategoryOption = None,
    boundary: BoundaryOption = None, area: AreaOption = "extent",
    grids: GridsOption = None, grid_id: GridIdOption = None, poi: PoiOption = None,
    patrol_share: PatrolShareOption = 0.02, map_file: MapOption = None,
):
    """Risk of every cell for the days after --cutoff; writes layer 'cells' (cell_id, risk, rank, geometry)
    and layer 'patrol_areas' (the riskiest --patrol-share of the area joined into contiguous areas)."""
    from gridtools import hotspots

    events, cells, covariates, lines = _read_inputs(
        events_file, time=time, lon=lon, lat=lat, x=x, y=y, crs=crs, layer=layer, category_col=category_col,
        category=category, cell=cell, boundary=boundary, area=area, grids=grids, grid_id=grid_id, poi=poi,
        dayfirst=dayfirst)
    result = hotspots.forecast(events, cells, cutoff=cutoff, horizon_days=horizon_days, method=method,
                               covariates=covariates)
    areas = hotspots.patrol_areas(result, share=patrol_share)
    areas_file = _write_forecast(result, areas, output, map_file, patrol_share)
    used = int((events.t < hotspots.to_day(cutoff)).sum())
    print_lines(f"hotspots predict ({method}, cutoff {cutoff}, {horizon_days:g} days)",
                [*lines, f"{used:,} events before the cutoff used",
                 f"riskiest {patrol_share:.0%} of the area: {int(areas['n_cells'].sum()):,} cells in {len(areas):,} "
                 f"patrol areas, {areas['expected_events'].sum():,.1f} expected events",
                 f"wrote {output} (layer cells)" + (", layer patrol_areas" if areas_file == output
                                                    else f" and {areas_file}")])


def _write_forecast(result, areas, output: Path, map_file: Optional[Path], share: float) -> Path:
    """Write the cells and patrol areas (two layers of a GeoPackage, else two files); returns the areas' file."""
    gpkg = output.suffix.lower() == ".gpkg"
    areas_file = output if gpkg else output.with_name(f"{output.stem}_patrol_areas{output.suffix}")
    io.write_any(result, output, layer="cells" if gpkg else None)
    io.write_any(areas, areas_file, layer="patrol_areas" if gpkg else None)
    if map_file is not None:
        from gridtools.maps import hotspot_map, save_map

        save_map(hotspot_map(result, top_share=share, patrol_areas=areas), map_file)
    return areas_file


@hotspots_app.command("backtest")
def hotspots_backtest(
    events_file: EventsArgument,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for metrics.csv, summary, plot and map.")],
    time: TimeOption,
    start: Annotated[str, typer.Option("--start", help="Cutoff of the first fold (YYYY-MM-DD).")],
    folds: Annotated[int, typer.Option("--folds", help="Number of rolling origins.")] = 26,
    horizon_days: HorizonOption = 7.0,
    step_days: Annotated[Optional[float], typer.Option("--step-days", help="Days between cutoffs (default: the horizon).")] = None,
    cell: CellOption = settings.hotspot_cell_m, methods: MethodsOption = "smoothed,prospective,etas,gbm,ensemble",
    lon: LonOption = None, lat: LatOption = None, x: XOption = None, y: YOption = None,
    crs: CrsOption = None, layer: LayerOption = None, dayfirst: DayfirstOption = None,
    category_col: CategoryColOption = None, category: CategoryOption = None,
    boundary: BoundaryOption = None, area: AreaOption = "extent",
    grids: GridsOption = None, grid_id: GridIdOption = None, poi: PoiOption = None,
    jobs: JobsOption = None, scheduler: SchedulerOption = None,
):
    """Rolling-origin backtest: hit rate, PAI and PEI at 1, 2, 5, 10% of the area for every method."""
    from gridtools import hotspots

    events, cells, covariates, lines = _read_inputs(
        events_file, time=time, lon=lon, lat=lat, x=x, y=y, crs=crs, layer=layer, category_col=category_col,
        category=category, cell=cell, boundary=boundary, area=area, grids=grids, grid_id=grid_id, poi=poi,
        dayfirst=dayfirst)
    with progress_bar() as progress:
        result = hotspots.backtest(events, cells, start=start, folds=folds, horizon_days=horizon_days,
                                   step_days=step_days, methods=methods, progress=progress, covariates=covariates,
                                   n_jobs=jobs, scheduler=scheduler)
    top = hotspots.forecast(events, cells, cutoff=result.last_cutoff, horizon_days=horizon_days,
                            method=result.best_method(), covariates=covariates)
    result.save(output, top_cells=top, covariates=[str(p) for p in poi or []])
    print_lines("hotspots backtest", lines)
    out.print(_pai_table(result, folds, horizon_days))
    out.print(f"wrote {output}/metrics.csv, summary.csv, summary.json, pai_vs_coverage.png, top_cells_map.html, "
              "top_cells.gpkg")


def _pai_table(result, folds: int, horizon_days: float) -> Table:
    table = Table(title=f"PAI at 2% of the area ({folds} folds, {horizon_days:g}-day horizon)")
    for c in ("method", "PAI mean", "PAI sd", "hit rate", "PEI", "vs best naive", "seconds"):
        table.add_column(c)
    for _, r in result.pai_table(0.02).iterrows():
        table.add_row(str(r["method"]), f"{r['pai_mean']:.2f}", f"{r['pai_std']:.2f}", f"{r['hit_rate_mean']:.3f}",
                      f"{r['pei_mean']:.3f}", f"{r['pai_vs_best_naive']:+.2f}", f"{result.seconds.get(r['method'], 0):.1f}")
    return table
