"""Routing: ``gridtools route`` (the fastest legal route for a car, van or truck)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from gridtools import io
from gridtools.cli._common import CrsOption, OutOption, app, lonlat, out, print_lines, progress_bar
from gridtools.errors import GridtoolsError

NetworkArgument = Annotated[Path, typer.Argument(help="Road network: .osm.pbf / .osm (OpenStreetMap) or road "
                                                      "lines with OSM-style columns.")]
FromOption = Annotated[str, typer.Option("--from", help="Start as LON,LAT (WGS-84).")]
ToOption = Annotated[str, typer.Option("--to", help="End as LON,LAT (WGS-84).")]
WeightOption = Annotated[Optional[float], typer.Option("--weight-t", help="Gross weight in tonnes "
                                                                         "(> 3.5 t: a truck).")]
HeightOption = Annotated[Optional[float], typer.Option("--height-m", help="Height in metres.")]
WidthOption = Annotated[Optional[float], typer.Option("--width-m", help="Width in metres.")]
LengthOption = Annotated[Optional[float], typer.Option("--length-m", help="Length in metres.")]
AxleLoadOption = Annotated[Optional[float], typer.Option("--axle-load-t", help="Heaviest axle load, t.")]
VehicleOption = Annotated[Optional[str], typer.Option("--vehicle", help="car, van or hgv (default: from "
                                                                        "--weight-t).")]
DepartureOption = Annotated[Optional[str], typer.Option("--at", help="Departure \"YYYY-MM-DD HH:MM\" for time-limited "
                                                                     "restrictions (default: count them as in force).")]
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help="Do not read or write the network cache.")]
RouteMapOption = Annotated[Optional[Path], typer.Option("--map", help="Also write an HTML map of the route and "
                                                                      "the roads it avoided.")]
HazmatOption = Annotated[bool, typer.Option("--hazmat", help="Carries dangerous goods: hazmat=no / hazmat:water=no "
                                                               "ways are closed to it.")]
AdrOption = Annotated[Optional[str], typer.Option("--adr-tunnel-code", help="ADR tunnel restriction code of the load "
                                                                            "(B, C, D or E; implies --hazmat).")]
ZonesOption = Annotated[Optional[Path], typer.Option("--zones", help="Truck-ban zone polygons (columns: name, vehicles, "
                                                                     "weight_over_t, when, permits; docs/routing.md).")]
ZonesCrsOption = Annotated[Optional[str], typer.Option("--zones-crs", help="CRS of a zone file that declares none, "
                                                                           "e.g. gcj02.")]
PermitOption = Annotated[Optional[list[str]], typer.Option("--permit", help="Permit id the vehicle carries "
                                                                            "(repeatable); exempts it from zones "
                                                                            "listing it.")]
MinReachOption = Annotated[Optional[int], typer.Option("--min-reach-nodes", help="Junctions of roads the vehicle may "
                                                                              "drive but not leave (or enter) that make "
                                                                              "a closed district: a point there is not "
                                                                              "moved onto another road (default 50; 0: "
                                                                              "always move it).")]
ColumnsOption = Annotated[Optional[str], typer.Option("--columns", help="Edge files: rename columns to OSM names, "
                                                                        "e.g. link_id=osmid,road_name=name,dir=oneway.")]


def renames(text: str | None) -> dict | None:
    """Parse --columns ``OLD=NEW,OLD=NEW`` into a mapping (None when not given)."""
    if not text:
        return None
    pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
    if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
        raise GridtoolsError(f"--columns must be OLD=NEW pairs separated by commas, e.g. link_id=osmid; got {text!r}")
    return {old.strip(): new.strip() for old, new in pairs}


@app.command(name="route")
def route_cmd(
    network_file: NetworkArgument, origin: FromOption, destination: ToOption, output: OutOption,
    weight_t: WeightOption = None, height_m: HeightOption = None, width_m: WidthOption = None,
    length_m: LengthOption = None, axle_load_t: AxleLoadOption = None, vehicle_kind: VehicleOption = None,
    at: DepartureOption = None, crs: CrsOption = None, no_cache: NoCacheOption = False,
    map_file: RouteMapOption = None, columns: ColumnsOption = None, hazmat: HazmatOption = False,
    adr_tunnel_code: AdrOption = None, zones: ZonesOption = None, zones_crs: ZonesCrsOption = None,
    permit: PermitOption = None, min_reach_nodes: MinReachOption = None,
):
    """Fastest legal route for a car, van or truck; writes LineStrings with the OSM osmid of each way.

    Every feature carries osmid, name, highway, length_m, time_s and the totals route_length_m,
    route_time_s.  Roads the vehicle had to avoid are listed with the restriction that blocked them.
    """
    from gridtools.routing import Router, load_network, parse_time, read_ban_zones, vehicle_from_options

    when = parse_time(at)
    vehicle = vehicle_from_options(weight_t, height_m, width_m, length_m, axle_load_t, kind=vehicle_kind,
                                   hazmat=hazmat, adr_tunnel_code=adr_tunnel_code or "", permits=permit or ())
    ban_zones = read_ban_zones(zones, crs=zones_crs) if zones is not None else None
    with progress_bar() as progress:
        net = load_network(network_file, cache=not no_cache, crs=crs, columns=renames(columns), progress=progress)
    router = Router(net, zones=ban_zones, min_reach_nodes=min_reach_nodes)
    result = router.route(lonlat(origin, "--from"), lonlat(destination, "--to"), vehicle, at=when)
    print_lines("route", result.summary_lines())
    io.write_any(result.to_geodataframe(), output, layer="route")
    out.print(f"wrote {output}: {len(result.osmids)} ways")
    if map_file is not None:
        from gridtools.maps import route_map, save_map

        save_map(route_map(result, roads=net.edges_frame()), map_file)  # the network is the map's base
        out.print(f"wrote {map_file}")
