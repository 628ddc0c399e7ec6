"""Dispatch: ``gridtools dispatch serve | token | assign | check`` (trucks in an industrial park)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gridtools import io
from gridtools.dispatch.park import read_park
from gridtools.cli._common import (OutOption, app, console, group, out, print_lines, progress_bar, token_admin,
                                   require_database, warn)
from gridtools.errors import GridtoolsError

dispatch_app = group("Truck dispatch for an industrial park: routes, slots, waiting places; the HTTP service.")
app.add_typer(dispatch_app, name="dispatch")

NetworkOption = Annotated[Path, typer.Option("--network", help="Road network (.osm.pbf / .osm / road lines).")]
ParkOption = Annotated[Path, typer.Option("--park", help="Park file (YAML / JSON / GeoJSON).")]
# Trip stores take the --db text as-is: a SQLite path, a sqlite:/// or a postgresql:// URL.
ServeDbOption = Annotated[str, typer.Option("--db", help="SQLite database of trucks, trips and tokens (created when "
                                                         "absent), or a postgresql://user@host/dbname URL.")]
TokenDbOption = Annotated[str, typer.Option("--db", help="SQLite database of the service, or its postgresql:// URL.")]


@dispatch_app.command("serve")
def dispatch_serve(
    network: NetworkOption,
    park: ParkOption,
    db: ServeDbOption,
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
    from gridtools.service.factory import tune_interpreter

    parsed = read_park(park)
    with progress_bar() as progress:
        net = load_network(network, progress=progress)
    center = DispatchCenter(net, parsed, TripStore(db), router=Router(net).prepare())
    with progress_bar() as progress:
        center.warm(progress=progress)
    console.print(f"dispatch service for {parsed.name}: {center.restored} active trips restored from "
                  f"{center.store.path}; http://{host}:{port}/docs", highlight=False)
    tune_interpreter()
    uvicorn.run(create_app(center), host=host, port=port, log_level=workers_log)


@dispatch_app.command("token")
def dispatch_token(
    db: TokenDbOption,
    name: Annotated[Optional[str], typer.Option("--name", help="Who holds the new token (driver, company, "
                                                               "dispatcher).")] = None,
    role: Annotated[str, typer.Option("--role", help="driver or dispatcher.")] = "driver",
    days: Annotated[Optional[float], typer.Option("--days", help="Days the new token is valid (default 90; 0: "
                                                                 "no expiry).")] = None,
    revoke: Annotated[Optional[int], typer.Option("--revoke", help="Revoke the token with this id (see "
                                                                   "--list).")] = None,
    list_tokens: Annotated[bool, typer.Option("--list", help="List the tokens (ids, holders, expiry, last use; "
                                                             "never the tokens).")] = False,
    rotate: Annotated[Optional[int], typer.Option("--rotate", help="A new token for the holder of this token id; "
                                                                   "the old one stops working.")] = None,
    grace_hours: Annotated[Optional[float], typer.Option("--grace-hours", help="With --rotate: hours the old token "
                                                                               "keeps working (default 0).")] = None,
):
    """Issue an access token (printed once; only its hash is stored), or list, revoke or rotate tokens."""
    from gridtools.dispatch.store import TripStore

    if grace_hours is not None and rotate is None:
        raise GridtoolsError("--grace-hours goes with --rotate ID")
    store = TripStore(db)
    if token_admin(store, list_tokens=list_tokens, revoke=revoke, rotate=rotate, days=days, grace_hours=grace_hours):
        return
    if name is None:
        raise GridtoolsError("give --name to issue a token, or --list / --revoke ID / --rotate ID")
    out.print(store.issue_token(role, name, days))


@dispatch_app.command("assign")
def dispatch_assign(
    network: NetworkOption,
    park: ParkOption,
    trips: Annotated[Path, typer.Argument(help="CSV of trips: plate, dock, earliest_arrival, gate (or "
                                               "origin_lon, origin_lat), weight_t, height_m, width_m, length_m.")],
    output: OutOption,
    reoptimise: Annotated[bool, typer.Option("--reoptimise/--greedy", help="Batch re-optimisation after the "
                                                                          "greedy pass.")] = True,
    map_file: Annotated[Optional[Path], typer.Option("--map", help="Also write an HTML map of routes and "
                                                                  "segment load.")] = None,
):
    """Assign a batch of trips offline: routes, arrival and dock slots, waiting places, segment load."""
    from gridtools.dispatch.batch import assign_table
    from gridtools.routing import load_network

    parsed = read_park(park)
    table = _read_trips(trips)
    with progress_bar() as progress:
        net = load_network(network, progress=progress)
        result = assign_table(net, parsed, table, reoptimise=reoptimise, source=str(trips), progress=progress)
    io.write_any(result.trips, output, layer="trips")
    if map_file is not None:
        from gridtools import maps

        maps.save_map(maps.dispatch_map(routes=result.routes, load=result.load, park=parsed,
                                        roads=net.edges_frame()), map_file)
    print_lines("dispatch", result.summary_lines())
    _print_refused(result.trips, output)
    if map_file is not None:
        out.print(f"wrote {map_file}")
    out.print(f"wrote {output}: {len(result.trips)} trips")


def _print_refused(trips, output: Path, limit: int = 5) -> None:
    """Refused trips on the terminal: how many, the first few with their reason, where the rest are."""
    refused = trips[trips["status"] == "refused"]
    if refused.empty:
        return
    warn(f"{len(refused):,} of {len(trips):,} trips refused (column 'reason' of {output} has every one):")
    for row in refused.head(limit).itertuples(index=False):
        console.print(f"  trip {row.trip_id} ({row.plate}, dock {row.dock}): {row.reason}",
                      highlight=False, soft_wrap=True, markup=False)
    if len(refused) > limit:
        console.print(f"  ... and {len(refused) - limit:,} more", highlight=False)


@dispatch_app.command("check")
def dispatch_check(
    trip: Annotated[str, typer.Argument(help="Trip id (as the service returned it).")],
    db: TokenDbOption,
    network: NetworkOption,
    park: ParkOption,
    track: Annotated[Optional[Path], typer.Option("--track", help="GPS fixes: CSV (lon/lat + time columns) or GPX. "
                                                  "Without it: the positions the driver's app posted, matched again "
                                                  "in full and the stored figures replaced.")] = None,
    crs: Annotated[Optional[str], typer.Option("--crs", help="Datum of the track when the file does not say, "
                                                             "e.g. wgs84 or gcj02.")] = None,
    time_column: Annotated[str, typer.Option("--time-column", help="Column with the fix times.")] = "time",
):
    """Did the truck follow its assigned route and park where told?  Off-route stretches, stops, parking."""
    from gridtools.dispatch.checks import check_trip
    from gridtools.dispatch.store import TripStore
    from gridtools.dispatch.tracking import update_check
    from gridtools.routing import load_network, read_track

    require_database(db, f"dispatch database not found: {db} (give the --db that 'gridtools dispatch serve' uses)")
    fixes = read_track(track, crs=crs, time_column=time_column) if track is not None else None
    with progress_bar() as progress:
        net = load_network(network, progress=progress)
    store, where = TripStore(db), read_park(park)
    if fixes is not None:
        report = check_trip(store, net, where, trip, fixes)
    else:
        report, _ = update_check(store, net, where, trip, full=True)
        if report is None:
            raise GridtoolsError(f"trip {trip} has fewer than 2 positions stored; give a track file (--track)")
    print_lines(f"trip {trip}", report.summary_lines())


def _read_trips(path: Path):
    import pandas as pd

    try:
        return pd.read_csv(path, dtype={"plate": str, "dock": str, "gate": str})
    except (OSError, ValueError) as exc:
        raise GridtoolsError(f"cannot read the trips file {path}: {exc}") from None
