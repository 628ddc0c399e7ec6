"""Reports: ``gridtools report partition | hotspots | incidents`` (self-contained HTML)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gridtools import io
from gridtools.cli._common import (
    BandMaxOption,
    BandMinOption,
    DayfirstOption,
    LangOption,
    OutOption,
    TitleOption,
    app,
    band_note,
    gpkg_layers,
    group,
    out,
    pick_grids_layer,
    require_database,
)
from gridtools.errors import GridtoolsError

report_app = group("Self-contained HTML reports (maps, tables, plots; open offline).")
app.add_typer(report_app, name="report")


@report_app.command("partition")
def report_partition(
    grids_file: Annotated[Path, typer.Argument(help="GeoPackage written by 'gridtools partition' (layer grids).")],
    output: OutOption,
    lang: LangOption = "en",
    title: TitleOption = None,
    min_pop: BandMinOption = None,
    max_pop: BandMaxOption = None,
):
    """One self-contained HTML report on a partition: summary, plots, map, grid table (opens offline)."""
    import pyogrio

    from gridtools.report import partition_report

    grids = io.read_any(grids_file, layer="grids")
    layers = set(gpkg_layers(grids_file))
    units = io.read_any(grids_file, layer="blocks") if "blocks" in layers else None
    infeasible = (pyogrio.read_dataframe(grids_file, layer="infeasible", read_geometry=False)
                  if "infeasible" in layers else None)
    report = partition_report(grids, infeasible=infeasible, units=units, title=title, lang=lang,
                              min_pop=min_pop, max_pop=max_pop)
    out.print(f"wrote {report.save(output)} ({band_note(grids, min_pop, max_pop)})")


BacktestDirArgument = Annotated[Optional[Path], typer.Argument(
    help="Folder written by 'gridtools hotspots backtest' (days: metrics.csv; with --horizon-hours: summary.csv, "
         "by_hour.csv), or its metrics.csv; optional with --cells or --events.")]
ForecastCellsOption = Annotated[Optional[Path], typer.Option(
    "--cells", help="A forecast to map (the GeoPackage of 'gridtools hotspots predict'; with --horizon-hours: the "
                    "window map); default: the folder's top_cells.gpkg when present.")]
AccidentsOption = Annotated[Optional[Path], typer.Option(
    "--events", help="Accidents (CSV, GeoPackage...): adds counts by hour x day type, road class and light.")]
AccidentTimeOption = Annotated[Optional[str], typer.Option("--time", help="Time column of --events.")]
RoadColOption = Annotated[Optional[str], typer.Option("--road-col", help="Road class column of --events (BAAC: "
                                                                         "road_category).")]
LightColOption = Annotated[Optional[str], typer.Option("--light-col", help="Light condition column (BAAC: light).")]
CodesOption = Annotated[Optional[str], typer.Option("--codes", help="Labels of the coded columns: 'baac' (the French "
                                                                    "road-accident file) or a CSV column,code,label.")]


@report_app.command("hotspots")
def report_hotspots(
    output: OutOption, backtest_dir: BacktestDirArgument = None, cells: ForecastCellsOption = None,
    events: AccidentsOption = None, time: AccidentTimeOption = None, road_col: RoadColOption = None,
    light_col: LightColOption = None, codes: CodesOption = None, dayfirst: DayfirstOption = None,
    lang: LangOption = "en", title: TitleOption = None,
):
    """One HTML report on hotspot forecasts: a backtest's PAI / hit rate / PEI per method (days: with fold
    spread, plot and map; sub-day: pooled over windows, by hour of day), a sub-day forecast's window map
    (--cells) and, with --events, the accidents by hour of day and day type, road class and light condition."""
    from gridtools.report import Report

    if backtest_dir is None and events is None and cells is None:
        raise GridtoolsError("nothing to report: give the folder 'gridtools hotspots backtest -o' wrote, --cells or "
                             "--events")
    if events is not None and time is None:
        raise GridtoolsError("--events needs --time: the column with the date and time of each accident")
    windows = cells is not None and "windows" in gpkg_layers(cells)  # a sub-day forecast
    parts = [] if backtest_dir is None else [_backtest_part(backtest_dir, None if windows else cells, lang)]
    if windows:
        parts.append(_windows_part(cells, lang))
    if events is not None:
        from gridtools.report.accidents import accident_report

        table = io.read_text_table(events) if io.is_table_path(events) else io.read_any(events)
        parts.append(accident_report(table, time=time, road_col=road_col, light_col=light_col, codes=codes,
                                     dayfirst=dayfirst, source=events.name, lang=lang))
    report = Report(title or parts[-1].title, lang=lang)   # the accidents' title when they are reported
    for part in parts:
        report.extend(part)
    out.print(f"wrote {report.save(output)}")


def _windows_part(forecast: Path, lang: str):
    """The window map and patrol table of a sub-day forecast GeoPackage ('gridtools hotspots predict --windows')."""
    from gridtools.report.accidents import window_forecast_report

    import pyogrio

    cells = io.read_any(forecast, layer="cells")
    windows = pyogrio.read_dataframe(forecast, layer="windows", read_geometry=False)  # a table, no geometry
    areas = io.read_any(forecast, layer="window_patrol_areas") if "window_patrol_areas" in gpkg_layers(forecast) else None
    share = 0.02
    if areas is not None and len(areas):  # the share predict flagged: the first window's areas over all cells
        first = areas["window_start"] == areas["window_start"].min()
        share = float(areas.loc[first, "area_km2"].sum() * 1e6 / cells["area_m2"].sum())
    return window_forecast_report(cells, windows, areas, share=share, lang=lang)


def _backtest_part(backtest_dir: Path, cells: Optional[Path], lang: str):
    """The report of a backtest folder: the day backtest's (metrics.csv) or the sub-day one's (summary.csv)."""
    import json

    import pandas as pd

    from gridtools.report import hotspot_report
    from gridtools.report.accidents import subday_backtest_report

    folder = backtest_dir if backtest_dir.is_dir() else backtest_dir.parent
    metrics_file = backtest_dir / "metrics.csv" if backtest_dir.is_dir() else backtest_dir
    summary_file = folder / "summary.json"
    params = json.loads(summary_file.read_text())["params"] if summary_file.exists() else {}
    if not metrics_file.exists() and (folder / "summary.csv").exists() and "horizon_hours" in params:
        by_hour = folder / "by_hour.csv"
        return subday_backtest_report(pd.read_csv(folder / "summary.csv"),
                                      pd.read_csv(by_hour) if by_hour.exists() else None, params, lang=lang)
    if not metrics_file.exists():
        raise GridtoolsError(f"{metrics_file} not found: give the folder 'gridtools hotspots backtest -o' wrote")
    if cells is None and (folder / "top_cells.gpkg").exists():
        cells = folder / "top_cells.gpkg"
    forecast = io.read_any(cells, layer="cells" if cells.suffix.lower() == ".gpkg" else None) if cells else None
    return hotspot_report(pd.read_csv(metrics_file), cells=forecast, params=params, lang=lang)


@report_app.command("incidents")
def report_incidents(
    db: Annotated[str, typer.Argument(help="Case database of 'gridtools incidents' (SQLite file or "
                                            "postgresql:// URL).")],
    output: OutOption,
    grids: Annotated[Path, typer.Option("--grids", help="Grid polygons (GeoPackage from 'gridtools partition').")],
    start: Annotated[Optional[str], typer.Option("--from", help="First day (or time) of reports to include.")] = None,
    end: Annotated[Optional[str], typer.Option("--to", help="Last day (included) or time of reports to include.")] = None,
    now: Annotated[Optional[str], typer.Option("--now", help="Time overdue is judged at (default: now).")] = None,
    lang: LangOption = "en",
    title: TitleOption = None,
):
    """One HTML report on cases: map per grid, share solved in the grid, time to close, overdue, per type."""
    from gridtools.incidents import IncidentStore
    from gridtools.report import incident_report

    require_database(db, f"case database {db} not found")
    polygons = io.read_any(grids, layer=pick_grids_layer(grids, None))
    with IncidentStore(db) as store:
        report = incident_report(store, polygons, period=(start, end), now=now, title=title, lang=lang)
    out.print(f"wrote {report.save(output)}")
