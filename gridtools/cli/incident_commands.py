"""Incidents: ``gridtools incidents types | import | dedupe | step | overdue | escalate | stats | addresses |
open311 | map | assess | token | serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gridtools import io
from gridtools.errors import GridtoolsError
from gridtools.cli._common import (
    DayfirstOption,
    DedupeOption,
    MapRoadsOption,
    OutOption,
    TilesOption,
    app,
    group,
    out,
    pick_grids_layer,
    print_lines,
    require_database,
    token_admin,
    write_or_print,
)

incidents_app = group("Incidents: event types, the closed-loop case workflow, assessment and the grid-operations "
                      "service.")
app.add_typer(incidents_app, name="incidents")

#: A plain string, passed as-is to the store: a path or a sqlite:/// or postgresql:// URL.
CaseDbArgument = Annotated[str, typer.Argument(
    help="Case database: a SQLite file ('incidents import' creates it) or a postgresql://user@host/dbname URL.")]
AtOption = Annotated[Optional[str], typer.Option("--at", help="Time 'YYYY-MM-DD HH:MM' (default: now).")]
CheckTimeOption = Annotated[Optional[str], typer.Option("--now", help="Time to check at (default: now).")]
StatsTimeOption = Annotated[Optional[str], typer.Option("--now", help="Time for the overdue count (default: now).")]
GridsOption = Annotated[Path, typer.Option("--grids", help="Grid polygons (GeoPackage from 'gridtools partition').")]


def _existing_cases(db: str):
    """The case database *db* opened for a command that reads or updates cases: it must exist."""
    from gridtools.incidents import IncidentStore

    require_database(db, f"case database not found: {db} (check the path; 'gridtools incidents import {db} ...' "
                         "creates one)")
    return IncidentStore(db)


@incidents_app.command("types")
def incidents_types(
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the table (CSV).")] = None,
):
    """List the event types (classes, Chinese/English names, deadlines, departments)."""
    from gridtools.incidents import event_types

    table = event_types()[["code", "major_en", "name_zh", "name_en", "deadline_hours", "basis", "urgent",
                           "department_en"]]
    write_or_print(table, output, "event types")


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
    dayfirst: DayfirstOption = None,
    dedupe: DedupeOption = False,
):
    """Record every event of a table as a reported case (grid codes taken from the table)."""
    from gridtools.incidents import IncidentStore, event_types

    table = io.read_text_table(events_file)
    with IncidentStore(db, types=event_types(types_file) if types_file else None) as store:
        result = store.import_table(table, type_col=type_col, time_col=time_col, lon=lon, lat=lat, id_col=id_col,
                                    dayfirst=dayfirst, dedupe=dedupe)
    out.print(import_summary(result, store.path, id_col))


def import_summary(result, where: str, id_col: str | None) -> str:
    """The line `incidents import` ends with: what was added, and what was there already."""
    new = result.case_ids[result.added]
    text = (f"recorded {len(new):,} new cases in {where} (case ids {new.min()}-{new.max()})" if len(new)
            else f"nothing added to {where}")
    repeats = int((~result.added).sum())
    if repeats:
        text += (f"; {repeats:,} rows skipped: their --id {id_col!r} value is already recorded "
                 "(from an earlier run or an earlier row of the file)")
    return text


@incidents_app.command("dedupe")
def incidents_dedupe(db: CaseDbArgument):
    """Delete the second copies an import run twice made (before gridtools refused repeated --id values)."""
    with _existing_cases(db) as store:
        dropped = store.drop_repeated_imports()
        left = store.repeated_external_ids
    out.print(f"deleted {dropped:,} repeated imported cases from {store.path}"
              + (f"; {left:,} repeated ids were worked on and are kept: resolve them by hand" if left else ""))


@incidents_app.command("step")
def incidents_step(
    db: CaseDbArgument,
    case_id: Annotated[int, typer.Argument(help="Case id.")],
    action: Annotated[str, typer.Argument(help="register | reject | dispatch | handle | verify | rework | close | "
                                               "suspend | resume | postpone | reassign | merge")],
    at: AtOption = None,
    to: Annotated[Optional[str], typer.Option("--to", help="dispatch / reassign: department or team (dispatch "
                                                           "default: the grid team).")] = None,
    actor: Annotated[Optional[str], typer.Option("--actor")] = None,
    note: Annotated[Optional[str], typer.Option("--note")] = None,
    reason: Annotated[Optional[str], typer.Option("--reason", help="suspend / postpone / reassign: why.")] = None,
    hours: Annotated[Optional[float], typer.Option("--hours", help="postpone: extra hours.")] = None,
    into: Annotated[Optional[int], typer.Option("--into", help="merge: the case this one duplicates.")] = None,
):
    """Move one case a step along report -> register -> dispatch -> handle -> verify -> close (or suspend,
    resume, postpone, reassign, merge as a duplicate)."""
    from gridtools.incidents.operations import take_step

    with _existing_cases(db) as store:
        take_step(store, case_id, action, to=to, reason=reason, hours=hours, into=into, note=note, at=at, actor=actor)
        case = store.case(case_id)
    out.print(f"case {case_id}: {case['status']} (level {case['level']}, assignee {case['assignee']}, "
              f"deadline {case['deadline_at']})")


@incidents_app.command("overdue")
def incidents_overdue(
    db: CaseDbArgument,
    now: CheckTimeOption = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the list (CSV).")] = None,
):
    """List open cases past their dispatch limit or handling deadline."""

    with _existing_cases(db) as store:
        late = store.overdue(now)
    write_or_print(late[["case_id", "type_code", "grid_code", "status", "level", "assignee", "stage", "due_at",
                         "overdue_hours"]], output, "overdue cases")


@incidents_app.command("escalate")
def incidents_escalate(
    db: CaseDbArgument,
    now: CheckTimeOption = None,
):
    """Move cases overdue in handling up a level: grid team -> community -> street."""

    with _existing_cases(db) as store:
        moved = store.escalate(now)
    out.print(f"escalated {len(moved)} case(s)" + (f": {', '.join(map(str, moved))}" if moved else ""))


@incidents_app.command("stats")
def incidents_stats(
    db: CaseDbArgument,
    now: StatsTimeOption = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the table (CSV).")] = None,
):
    """Per grid: cases, closed, share solved inside the grid, hours to close, on-time share, overdue."""

    with _existing_cases(db) as store:
        stats = store.grid_stats(now)
    write_or_print(stats.reset_index().round(3), output, "cases per grid")


@incidents_app.command("addresses")
def incidents_addresses(
    events_file: Annotated[Path, typer.Argument(help="Events table with an address text column.")],
    output: OutOption,
    address: Annotated[str, typer.Option("--address", help="Column with the address text.")],
    gazetteer_file: Annotated[Path, typer.Option("--gazetteer", help="Named features: an OSM file (.osm/.pbf: "
                                                                      "roads and points are read) or any vector file.")],
    name: Annotated[str, typer.Option("--name", help="Name column of the gazetteer features.")] = "name",
    cutoff: Annotated[float, typer.Option("--cutoff", min=0, max=100,
                                          help="Fuzzy score (0-100) a name must reach.")] = 80.0,
):
    """Find coordinates for address texts offline (roads, crossings, places) with fuzzy matching.

    Adds columns match_lon, match_lat (WGS-84), match_kind (intersection/road/place), match_name,
    match_score, match_note; then run 'gridtools geocode ... --lon match_lon --lat match_lat'.
    """
    from gridtools.incidents.gazetteer import add_matches, read_gazetteer

    table = io.read_text_table(events_file)
    located = add_matches(table, address, read_gazetteer(gazetteer_file, name=name), score_cutoff=cutoff)
    io.write_text_table(located, output, like=table.attrs.get("text_format"))
    kinds = located["match_kind"].replace("", "no match").value_counts()
    print_lines("addresses", [f"{len(located):,} addresses: " + ", ".join(f"{n:,} {k}" for k, n in kinds.items())])
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

    from gridtools.incidents.open311 import open311_requests, open311_services

    with _existing_cases(db) as store:
        items = open311_services(store, language=language) if services else open311_requests(store, language=language)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
    out.print(f"wrote {output} ({len(items):,} {'services' if services else 'requests'})")


@incidents_app.command("map")
def incidents_map(
    db: CaseDbArgument,
    grids: GridsOption,
    output: OutOption,
    column: Annotated[str, typer.Option("--column", help="Statistic that colours the grids.")] = "cases",
    now: StatsTimeOption = None,
    roads: MapRoadsOption = None,
    tiles: TilesOption = None,
):
    """Map the grids coloured by their cases (or another per-grid statistic), with the case points (works offline)."""
    import geopandas as gpd

    from gridtools.maps import incident_map, save_map

    polygons = io.read_any(grids, layer=pick_grids_layer(grids, None))
    with _existing_cases(db) as store:
        stats = store.grid_stats(now)
        cases = store.cases()
    located = cases.dropna(subset=["lon", "lat"])
    points = gpd.GeoDataFrame(located[["case_id", "grid_code", "status"]],
                              geometry=gpd.points_from_xy(located["lon"], located["lat"]), crs=4326)
    save_map(incident_map(polygons, stats, events=points, column=column, roads=io.read_any(roads) if roads else None,
                          tiles=tiles), output)
    out.print(f"wrote {output}")


@incidents_app.command("assess")
def incidents_assess(
    db: CaseDbArgument,
    subject: Annotated[str, typer.Option("--subject", help="department | reporter | dispatcher | grid | community")],
    start: Annotated[str, typer.Option("--from", help="First day (or time) of the period.")],
    end: Annotated[str, typer.Option("--to", help="End of the period (not included).")],
    weights: Annotated[Optional[Path], typer.Option("--weights", help="A city's weights table (CSV: subject, "
                                                                      "indicator, weight, better).")] = None,
    compare: Annotated[bool, typer.Option("--compare", help="Add the previous period's score and the "
                                                            "change (month-on-month for a month).")] = False,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the table (CSV).")] = None,
):
    """Assessment in the manner of GB/T 30428.4: indicators, score and grade per subject over a period."""
    from gridtools.incidents.assess import assess, load_weights

    with _existing_cases(db) as store:
        table = assess(store, subject, period=(start, end), weights=load_weights(weights) if weights else None,
                       compare=compare)
    write_or_print(table.reset_index().round(3), output, f"assessment per {subject}")


@incidents_app.command("token")
def incidents_token(
    db: CaseDbArgument,
    role: Annotated[Optional[str], typer.Option("--role", help="reporter | grid_head | department | dispatcher | "
                                                               "supervisor")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Who holds the new token.")] = None,
    grid: Annotated[Optional[str], typer.Option("--grid", help="grid_head: the grid code.")] = None,
    department: Annotated[Optional[str], typer.Option("--department", help="department: its name.")] = None,
    days: Annotated[Optional[float], typer.Option("--days", help="Days the new token is valid (default 90; 0: "
                                                                 "no expiry).")] = None,
    list_tokens: Annotated[bool, typer.Option("--list", help="List the tokens (ids, holders, expiry, last use; "
                                                             "never the tokens).")] = False,
    revoke: Annotated[Optional[int], typer.Option("--revoke", help="Revoke the token with this id (see --list).")] = None,
    rotate: Annotated[Optional[int], typer.Option("--rotate", help="A new token for the holder of this token id; "
                                                                   "the old one stops working.")] = None,
    grace_hours: Annotated[Optional[float], typer.Option("--grace-hours", help="With --rotate: hours the old token "
                                                                               "keeps working (default 0).")] = None,
):
    """Issue a token for the grid-operations service (the token is the last line printed), or list,
    revoke or rotate tokens."""
    from gridtools.incidents import IncidentStore
    from gridtools.incidents.access import TokenStore

    if grace_hours is not None and rotate is None:
        raise GridtoolsError("--grace-hours goes with --rotate ID")
    with IncidentStore(db) as store:
        tokens = TokenStore(store.database)
        if token_admin(tokens, list_tokens=list_tokens, revoke=revoke, rotate=rotate, days=days,
                       grace_hours=grace_hours):
            return
        if not role or not name:
            raise GridtoolsError("give --role and --name to issue a token, or --list / --revoke ID / --rotate ID")
        token = tokens.issue(role, name, grid=grid, department=department, days=days)
    out.print(f"token for {role} {name} in {store.path} (send it as 'Authorization: Bearer <token>'):",
              highlight=False)
    print(token)


@incidents_app.command("serve")
def incidents_serve(
    db: CaseDbArgument,
    grids: GridsOption,
    components: Annotated[Optional[Path], typer.Option("--components", help="Component register (GeoPackage) "
                                                                            "whose departments take reports.")] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "warning",
):
    """Serve the grid-operations HTTP API, Open311 and the phone pages until killed."""
    try:
        import uvicorn
    except ImportError:
        from gridtools.errors import missing_dependency

        raise missing_dependency("uvicorn", "service") from None
    from gridtools.service.incidents_app import create_incidents_app, open_operations

    ops = open_operations(db, io.read_any(grids, layer=pick_grids_layer(grids, None)), components)
    out.print(f"grid operations on {ops.store.path}: http://{host}:{port}/incidents/pages/report, "
              f"Open311 at /open311/v2/, API docs at /docs", highlight=False)
    uvicorn.run(create_incidents_app(ops), host=host, port=port, log_level=log_level)
