"""Reports: ``gridtools report partition | hotspots | incidents`` (self-contained HTML)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gridtools import io
from gridtools.cli._common import (
    BandMaxOption,
    BandMinOption,
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


@report_app.command("hotspots")
def report_hotspots(
    backtest_dir: Annotated[Path, typer.Argument(help="Folder written by 'gridtools hotspots backtest' "
                                                      "(metrics.csv, summary.json), or its metrics.csv.")],
    output: OutOption,
    cells: Annotated[Optional[Path], typer.Option("--cells", help="A forecast to map (layer 'cells' of 'gridtools "
                                                                  "hotspots predict'); default: the folder's "
                                                                  "top_cells.gpkg when present.")] = None,
    lang: LangOption = "en",
    title: TitleOption = None,
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
