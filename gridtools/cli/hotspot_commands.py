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
AreaOption = Annotated[str, typer.Option("--area", help="Study area: 'extent' (bounding box), 'hull', or a "
                                                        "boundary file (as --boundary).")]
HoursOption = Annotated[Optional[float], typer.Option(
    "--horizon-hours", help="Sub-day forecast: length of each window in hours (must divide a day: 1, 2, 3, 4, 6, 8, "
                            "12); needs times of day.")]
WindowsOption = Annotated[int, typer.Option("--windows", help="Number of consecutive windows after --cutoff "
                                                              "(with --horizon-hours; 84 x 2 h = a week).")]
HourColOption = Annotated[Optional[str], typer.Option("--hour-col", help="Column with the hour of day (0-23), added "
                                                                         "to a date-only --time column.")]
UnitsOption = Annotated[Optional[Path], typer.Option(
    "--units", help="Road segments (any line file or OSM-derived layer) as units: events snap to the nearest "
                    "within --snap-m; PAI and hit rate are by length share.")]
UnitIdOption = Annotated[Optional[str], typer.Option("--unit-id", help="Column naming the road segments.")]
SnapOption = Annotated[Optional[float], typer.Option("--snap-m", help="Events further than this (metres) from every "
                                                                      "segment are left out and counted (default 30).")]
TzOption = Annotated[Optional[str], typer.Option("--tz", help="Time zone whose wall clock times with a UTC offset "
                                                              "are converted to (e.g. Europe/Paris).")]
GridsOption = Annotated[Optional[Path], typer.Option("--grids", help="Management grids to forecast for instead of "
                                                                     "square cells.")]
GridIdOption = Annotated[Optional[str], typer.Option("--grid-id", help="Column naming the grids.")]
PoiOption = Annotated[Optional[list[Path]], typer.Option(
    "--poi", help="Points of interest (shops, bars, car parks; any vector file or lon/lat CSV): their density per "
                  "cell becomes a covariate of gbm and the ensemble (repeatable: one covariate per file).")]
MethodOption = Annotated[Optional[str], typer.Option(
    "--method", help="Days: naive_4w, naive_1y, naive_all, smoothed, kde, prospective, etas, gbm, ensemble (default). "
                     "Sub-day: naive_all, naive_hour, naive_dayhour, smoothed, kde, etas, profile (default), "
                     "profile_etas, gbm (profile with cell x hour-bin boosting; uses --school-terms and forecast weather).")]
MethodsOption = Annotated[str, typer.Option("--methods", help="Comma-separated methods; the naive baselines and kde "
                                                              "are always added.")]
PatrolShareOption = Annotated[float, typer.Option(
    "--patrol-share", help="Share of the area to flag; its cells are joined into contiguous patrol areas "
                           "(layer 'patrol_areas').")]
IdOption = Annotated[Optional[str], typer.Option("--id", help="Column naming each event (case or accident number): "
                                                              "a repeated id is refused, naming its rows.")]
DedupeOption = Annotated[bool, typer.Option("--dedupe", help="With --id: count each id once (keep its first row).")]
SchoolTermsOption = Annotated[Optional[Path], typer.Option(
    "--school-terms", help="Sub-day: school terms (CSV with columns start, end: first and last day of each term); "
                           "profile and gbm learn each cell's school-holiday effect. Must cover the forecast.")]
WeatherOption = Annotated[Optional[Path], typer.Option(
    "--weather", help="Sub-day: forecast weather (CSV: window_start 'YYYY-MM-DD HH:MM' and a value column, e.g. "
                      "rain_mm; wet when above 0), a feature of gbm. Must cover the history and the forecast; "
                      "the weather recorded with the events is never used.")]
MapOption = Annotated[Optional[Path], typer.Option("--map", help="Also write a map of the top cells and patrol areas "
                                                           "(HTML, opens offline; with --horizon-hours a slider "
                                                           "over the windows).")]


def _read_inputs(events_file, *, time, lon, lat, x, y, crs, layer, category_col, category, cell, boundary, area,
                 grids, grid_id, poi, dayfirst=None, hour_col=None, tz=None, units=None, unit_id=None, snap_m=None,
                 id_col=None, dedupe=False):
    """Events and cells (:func:`gridtools.hotspots.prepare`), the --poi covariates, and lines for the summary."""
    from gridtools import hotspots
    from gridtools.hotspots.cells import density_covariates

    raw = io.read_events(events_file, layer=layer, crs=crs, lon=lon, lat=lat, x=x, y=y)
    if boundary is None and area not in ("extent", "hull"):
        boundary = Path(area)  # --area FILE
    study = io.read_any(boundary) if boundary is not None else area
    polygons = io.read_any(grids) if grids is not None else None
    roads = io.read_any(units) if units is not None else None
    events, cells = hotspots.prepare(raw, time=time, category_col=category_col, categories=category or None,
                                     cell=cell, area=study, grids=polygons, grid_id=grid_id, dayfirst=dayfirst,
                                     hour_col=hour_col, tz=tz, segments=roads, segment_id=unit_id, snap_m=snap_m,
                                     id_col=id_col, dedupe=dedupe)
    rep = events.report
    lines = [f"{len(events):,} events in the study area ({rep['rows']:,} rows read"
             + (f", categories {', '.join(rep['categories'])}" if rep.get("categories") else "") + ")",
             _units_line(cells, cell)]
    if rep.get("deduplicated"):
        lines.append(f"{rep['deduplicated']:,} rows repeated an earlier row's {id_col} and were dropped (--dedupe)")
    _warn_left_out(rep)
    covariates = density_covariates([io.read_any(path) for path in poi or []], cells)
    for path, density in zip(poi or [], covariates.T if covariates is not None else []):
        inside = float((density * cells.area / 1e6).sum())
        lines.append(f"covariate: density of {path.name} ({inside:,.0f} points in the study area)")
    return events, cells, covariates, lines


def _units_line(cells, cell: float) -> str:
    if cells.kind == "segments":
        return f"{len(cells):,} road segments, {cells.total_area / 1e3:,.1f} km of road (snapped within {cells.snap_m:g} m)"
    what = "cells of " + format(cell, "g") + " m" if cells.kind == "square" else "grids"
    return f"{len(cells):,} {what}, {cells.total_area / 1e6:,.1f} km²"


def _warn_left_out(report: dict) -> None:
    """Warnings for the events set aside: no coordinates, or outside the study area."""
    from gridtools.errors import describe_rows
    from gridtools.hotspots.events import missing_rows_text

    missing = missing_rows_text(report)
    if missing:
        warn(missing)
    if report.get("far"):
        warn(f"{len(report['far']):,} events lie far from all the others (bad coordinates?) and were left out "
             f"({describe_rows(report['far'])}, counting from 1 after the header); give --area FILE to set the "
             "study area yourself")
    if report.get("outside"):
        warn(f"{len(report['outside']):,} events lie outside the study area and were left out "
             f"({describe_rows(report['outside'])}, counting from 1 after the header)")


@hotspots_app.command("predict")
def hotspots_predict(
    events_file: EventsArgument,
    output: OutOption,
    time: TimeOption,
    cutoff: Annotated[str, typer.Option("--cutoff", help="Forecast from this time ('YYYY-MM-DD' or 'YYYY-MM-DD HH:MM'); "
                                                         "only earlier events are used.")],
    horizon_days: HorizonOption = 7.0, horizon_hours: HoursOption = None, windows: WindowsOption = 1,
    cell: CellOption = settings.hotspot_cell_m, method: MethodOption = None,
    lon: LonOption = None, lat: LatOption = None, x: XOption = None, y: YOption = None,
    crs: CrsOption = None, layer: LayerOption = None, dayfirst: DayfirstOption = None,
    hour_col: HourColOption = None, tz: TzOption = None,
    category_col: CategoryColOption = None, category: CategoryOption = None,
    boundary: BoundaryOption = None, area: AreaOption = "extent",
    grids: GridsOption = None, grid_id: GridIdOption = None, poi: PoiOption = None,
    units: UnitsOption = None, unit_id: UnitIdOption = None, snap_m: SnapOption = None,
    id_col: IdOption = None, dedupe: DedupeOption = False,
    patrol_share: PatrolShareOption = 0.02, map_file: MapOption = None,
    school_terms: SchoolTermsOption = None, weather: WeatherOption = None,
):
    """Risk of every cell after --cutoff: layer 'cells' (cell_id, risk, rank, geometry) and layer 'patrol_areas'
    (the riskiest --patrol-share joined into contiguous areas); with --horizon-hours also table 'windows'
    (cell_id, window_start, risk) for --windows windows."""
    events, cells, covariates, lines = _read_inputs(
        events_file, time=time, lon=lon, lat=lat, x=x, y=y, crs=crs, layer=layer, category_col=category_col,
        category=category, cell=cell, boundary=boundary, area=area, grids=grids, grid_id=grid_id, poi=poi,
        dayfirst=dayfirst, hour_col=hour_col, tz=tz, units=units, unit_id=unit_id, snap_m=snap_m, id_col=id_col,
        dedupe=dedupe)
    known = _known_in_advance(school_terms, weather, horizon_hours)
    if horizon_hours is not None:
        return _predict_windows(events, cells, lines, cutoff=cutoff, hours=horizon_hours, windows=windows,
                                method=method or "profile", output=output, map_file=map_file, share=patrol_share,
                                known=known)
    _predict_days(events, cells, covariates, lines, cutoff=cutoff, horizon_days=horizon_days,
                  method=method or "ensemble", output=output, map_file=map_file, share=patrol_share)


def _predict_days(events, cells, covariates, lines, *, cutoff, horizon_days, method, output: Path, map_file,
                  share: float) -> None:
    """The day-based branch of predict: one forecast, its patrol areas, the files."""
    from gridtools import hotspots

    result = hotspots.forecast(events, cells, cutoff=cutoff, horizon_days=horizon_days, method=method, covariates=covariates)
    areas = hotspots.patrol_areas(result, share=share)
    areas_file = _write_forecast(result, areas, output, map_file, share)
    used = int((events.t < hotspots.to_day(cutoff)).sum())
    print_lines(f"hotspots predict ({method}, cutoff {cutoff}, {horizon_days:g} days)",
                [*lines, f"{used:,} events before the cutoff used", _areas_line(areas, share),
                 f"wrote {output} (layer cells)" + (", layer patrol_areas" if areas_file == output
                                                    else f" and {areas_file}")])


def _known_in_advance(school_terms: Optional[Path], weather: Optional[Path], hours) -> dict:
    """The --school-terms and --weather tables, read (sub-day runs only)."""
    from gridtools.errors import InputError
    from gridtools.hotspots.calendar import read_forecast_weather, read_school_terms

    if hours is None and (school_terms is not None or weather is not None):
        raise InputError("--school-terms and --weather are covariates of sub-day forecasts: add --horizon-hours.")
    return {"school_terms": read_school_terms(school_terms) if school_terms is not None else None,
            "weather": read_forecast_weather(weather) if weather is not None else None}


def _known_lines(known: dict) -> list[str]:
    return [f"known in advance: {v!r}" for v in known.values() if v is not None]


def _areas_line(areas, share: float) -> str:
    return (f"riskiest {share:.0%} of the area: {int(areas['n_cells'].sum()):,} cells in {len(areas):,} "
            f"patrol areas, {areas['expected_events'].sum():,.1f} expected events")


def _predict_windows(events, cells, lines, *, cutoff, hours, windows, method, output: Path, map_file, share, known):
    """The sub-day branch of predict: forecast the windows, write cells, patrol areas (first window and
    every window) and the windows table; --map draws every window with a slider."""
    from gridtools import hotspots
    from gridtools.errors import InputError
    from gridtools.hotspots.subday import forecast_windows

    if output.suffix.lower() != ".gpkg":
        raise InputError(f"a sub-day forecast writes a layer and a table: give -o a .gpkg file, not {output.name}.")
    result = forecast_windows(events, cells, cutoff=cutoff, horizon_hours=hours, windows=windows, method=method,
                              **known)
    areas = hotspots.patrol_areas(result.cells, share=share)
    per_window = hotspots.window_patrol_areas(result, share=share)
    _write_forecast(result.cells, areas, output, None, share)
    io.write_any(per_window, output, layer="window_patrol_areas")
    io.write_any(result.windows, output, layer="windows")
    if map_file is not None:
        from gridtools.maps import hotspot_window_map, save_map

        save_map(hotspot_window_map(result.cells, result.windows, per_window, share=share, hours=hours), map_file)
    p = result.params
    print_lines(f"hotspots predict ({method}, cutoff {p['cutoff']}, {windows} x {hours:g} h)",
                [*lines, *_known_lines(known), f"{p['used_events']:,} events before the cutoff used",
                 _areas_line(areas, share) + " (first window)",
                 f"patrol areas per window: {len(per_window) / max(windows, 1):,.1f} on average "
                 f"(layer window_patrol_areas, {len(per_window):,} rows)",
                 f"wrote {output} (layer cells: risk in the first window; layers patrol_areas, window_patrol_areas; "
                 f"table windows: {len(result.windows):,} rows)" + (f" and {map_file}" if map_file else "")])


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
    horizon_days: HorizonOption = 7.0, horizon_hours: HoursOption = None, windows: WindowsOption = 84,
    step_days: Annotated[Optional[float], typer.Option("--step-days", help="Days between cutoffs (default: the horizon).")] = None,
    cell: CellOption = settings.hotspot_cell_m, methods: MethodsOption = "smoothed,prospective,etas,gbm,ensemble",
    lon: LonOption = None, lat: LatOption = None, x: XOption = None, y: YOption = None,
    crs: CrsOption = None, layer: LayerOption = None, dayfirst: DayfirstOption = None,
    hour_col: HourColOption = None, tz: TzOption = None,
    category_col: CategoryColOption = None, category: CategoryOption = None,
    boundary: BoundaryOption = None, area: AreaOption = "extent",
    grids: GridsOption = None, grid_id: GridIdOption = None, poi: PoiOption = None,
    units: UnitsOption = None, unit_id: UnitIdOption = None, snap_m: SnapOption = None,
    id_col: IdOption = None, dedupe: DedupeOption = False,
    jobs: JobsOption = None, scheduler: SchedulerOption = None,
    school_terms: SchoolTermsOption = None, weather: WeatherOption = None,
):
    """Rolling-origin backtest: hit rate, PAI and PEI at 1, 2, 5, 10% of the area for every method (with
    --horizon-hours: pooled over --windows windows per cutoff, every sub-day method unless --methods names some)."""
    with progress_bar() as progress:
        progress("reading and preparing the events", 0, 1)
        events, cells, covariates, lines = _read_inputs(
            events_file, time=time, lon=lon, lat=lat, x=x, y=y, crs=crs, layer=layer, category_col=category_col,
            category=category, cell=cell, boundary=boundary, area=area, grids=grids, grid_id=grid_id, poi=poi,
            dayfirst=dayfirst, hour_col=hour_col, tz=tz, units=units, unit_id=unit_id, snap_m=snap_m, id_col=id_col,
            dedupe=dedupe)
        progress("reading and preparing the events", 1, 1)
    known = _known_in_advance(school_terms, weather, horizon_hours)
    if horizon_hours is not None:
        return _backtest_windows(events, cells, lines, start=start, folds=folds, hours=horizon_hours, windows=windows,
                                 step_days=step_days, methods=methods, output=output, known=known)
    _backtest_days(events, cells, covariates, lines, start=start, folds=folds, horizon_days=horizon_days,
                   step_days=step_days, methods=methods, output=output, poi=poi, jobs=jobs, scheduler=scheduler)


def _backtest_days(events, cells, covariates, lines, *, start, folds, horizon_days, step_days, methods,
                   output: Path, poi, jobs, scheduler) -> None:
    """The day-based backtest, the best method's forecast and the artefacts of ``hotspots backtest``."""
    from gridtools import hotspots

    with progress_bar() as progress:
        result = hotspots.backtest(events, cells, start=start, folds=folds, horizon_days=horizon_days,
                                   step_days=step_days, methods=methods, progress=progress, covariates=covariates,
                                   n_jobs=jobs, scheduler=scheduler)
        progress(f"forecast with the best method ({result.best_method()}) and saving", 0, 1)
        top = hotspots.forecast(events, cells, cutoff=result.last_cutoff, horizon_days=horizon_days,
                                method=result.best_method(), covariates=covariates)
        result.save(output, top_cells=top, covariates=[str(p) for p in poi or []])
    print_lines("hotspots backtest", lines)
    out.print(_pai_table(result, folds, horizon_days))
    out.print(f"wrote {output}/metrics.csv, summary.csv, summary.json, pai_vs_coverage.png, top_cells_map.html, "
              "top_cells.gpkg")


def _backtest_windows(events, cells, lines, *, start, folds, hours, windows, step_days, methods, output: Path,
                      known: dict):
    """The sub-day branch of backtest: pooled metrics over every window, saved to *output*."""
    from gridtools.hotspots.subday import backtest_windows

    chosen = None if methods == "smoothed,prospective,etas,gbm,ensemble" else [m.strip() for m in methods.split(",")]
    with progress_bar() as progress:
        result = backtest_windows(events, cells, start=start, folds=folds, horizon_hours=hours, windows=windows,
                                  step_days=step_days, methods=chosen, progress=progress, **known)
    result.save(output)
    print_lines("hotspots backtest (sub-day)", [*lines, *_known_lines(known)])
    table = Table(title=f"pooled PAI at 2% ({folds} cutoffs x {windows} windows of {hours:g} h)")
    for c in ("method", "PAI", "hit rate", "PEI", "vs best naive [95% CI]", "seconds"):
        table.add_column(c)
    for _, r in result.pai_table(0.02).iterrows():
        table.add_row(str(r["method"]), f"{r['pai']:.2f}", f"{r['hit_rate']:.3f}", f"{r['pei']:.3f}",
                      f"{r['gain_vs_best_naive']:+.1%} [{r['gain_ci_low']:+.1%}, {r['gain_ci_high']:+.1%}]",
                      f"{result.seconds.get(r['method'], 0):.1f}")
    out.print(table)
    out.print(f"wrote {output}/windows.csv, summary.csv, by_hour.csv, summary.json")


def _pai_table(result, folds: int, horizon_days: float) -> Table:
    table = Table(title=f"PAI at 2% of the area ({folds} folds, {horizon_days:g}-day horizon)")
    for c in ("method", "PAI mean", "PAI sd", "hit rate", "PEI", "vs best naive", "seconds"):
        table.add_column(c)
    for _, r in result.pai_table(0.02).iterrows():
        table.add_row(str(r["method"]), f"{r['pai_mean']:.2f}", f"{r['pai_std']:.2f}", f"{r['hit_rate_mean']:.3f}",
                      f"{r['pei_mean']:.3f}", f"{r['pai_vs_best_naive']:+.2f}", f"{result.seconds.get(r['method'], 0):.1f}")
    return table
