"""The cases of the bad-input suite: one everyday mistake each, per command.

``Case.args(kit)`` builds the command line from the kit of good inputs (see ``kit.py``), making one
mistake; ``expect`` are words the message must contain (case-insensitive): the file, column,
rows or option at fault and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import geopandas as gpd
import pandas as pd

from badinput.kit import derive


@dataclass
class Case:
    command: str
    mistake: str
    args: Callable[[dict], list]
    expect: tuple[str, ...] = ()
    check: Callable[[dict, str], None] | None = field(default=None, repr=False)


def _events(kit, name: str, change) -> str:
    """A variant of the events table."""
    frame = pd.read_csv(kit["events"], dtype=str)
    return derive(kit, name, change(frame))


def _blocks(kit, name: str, change, **to_file):
    frame = gpd.read_file(kit["blocks"])
    return derive(kit, name, change(frame), **to_file)


def _swap(frame):
    frame = frame.copy()
    frame.loc[:9, ["lon", "lat"]] = frame.loc[:9, ["lat", "lon"]].to_numpy()
    return frame


def _set(column, rows, value):
    def change(frame):
        frame = frame.copy()
        frame[column] = frame[column].astype(object)
        frame.loc[rows, column] = value
        return frame
    return change


def _dup_rows(frame):
    return pd.concat([frame, frame.iloc[[3]]], ignore_index=True)


def _renamed(old, new):
    return lambda frame: frame.rename(columns={old: new})


P = ["partition"]
GPKG = lambda kit: kit["out"].with_suffix(".gpkg")  # noqa: E731
PARTITION = lambda kit, *more: [*P, kit["blocks"], "--pop", "pop", "--min", "800", "--max", "1200",  # noqa: E731
                                "-o", kit["out"].with_suffix(".gpkg"), *more]
GEOCODE = lambda kit, events, *more: ["geocode", events, "--grids", kit["grids"], "--lon", "lon", "--lat", "lat",  # noqa: E731
                                      "--crs", "wgs84", "-o", kit["out"].with_suffix(".csv"), *more]
PREDICT = lambda kit, events, *more: ["hotspots", "predict", events, "--time", "reported", "--cutoff", "2025-05-01",  # noqa: E731
                                      "--lon", "lon", "--lat", "lat", "--cell", "100", "--method", "naive_all",
                                      "-o", kit["out"].with_suffix(".gpkg"), *more]
BACKTEST = lambda kit, events, *more: ["hotspots", "backtest", events, "--time", "reported", "--start",  # noqa: E731
                                       "2025-03-01", "--folds", "2", "--lon", "lon", "--lat", "lat", "--cell", "100",
                                       "--methods", "naive_all", "-o", kit["out"], *more]
IMPORT = lambda kit, events, *more: ["incidents", "import", kit["out"].with_suffix(".db"), events, "--type", "type",  # noqa: E731
                                     "--time", "reported", "--lon", "lon", "--lat", "lat", *more]
COMPONENTS = lambda kit, events, *more: ["components", "import", kit["out"].with_suffix(".gpkg"), events,  # noqa: E731
                                         "--grids", kit["grids"], "--class", "0101", "--admin-code", "320508", *more]
ASSIGN = lambda kit, *more: ["dispatch", "assign", "--network", kit["roads"], "--park", kit["park"], *more]  # noqa: E731
ROUTE = lambda kit, *more: ["route", kit["roads"], "-o", kit["out"].with_suffix(".gpkg"), *more]  # noqa: E731
AGGREGATE = lambda kit, *more: ["grids", "aggregate", kit["grids"], "--min", "2000", "--max", "3000",  # noqa: E731
                                "-o", kit["out"].with_suffix(".gpkg"), *more]
SCORE = lambda kit, *more: ["grids", "score", kit["grids"], "--pop", "pop", "--plan", "grid_code", "--min", "800",  # noqa: E731
                            "--max", "1200", *more]
SUBDIVIDE = lambda kit, *more: ["grids", "subdivide", kit["grids"], kit["blocks"], "--min", "400", "--max", "700",  # noqa: E731
                                "-o", kit["out"].with_suffix(".gpkg"), *more]
BALANCE = lambda kit, *more: ["grids", "balance", kit["grids"], "--pop", "pop", "--min", "800", "--max", "1200",  # noqa: E731
                              "-o", kit["out"].with_suffix(".gpkg"), *more]


def _offices(kit, name: str, code=None) -> str:
    """One office point per grid of the kit's partition (the first renamed to ``code`` when given)."""
    grids = gpd.read_file(kit["grids"], layer="grids")
    points = gpd.GeoDataFrame({"grid_code": grids["grid_code"]}, geometry=grids.representative_point(), crs=grids.crs)
    if code is not None:
        points.loc[0, "grid_code"] = code
    return derive(kit, name, points)


def CHECK(kit, trip, *more, db=None, track=None):
    """``dispatch check TRIP`` on the kit's network and park, a trip database and a good track."""
    return ["dispatch", "check", trip, "--db", db or _trip_db(kit), "--network", kit["roads"], "--park", kit["park"],
            "--track", track or _track(kit, "track.csv", lambda f: f), "--crs", "wgs84", *more]

CASES: list[Case] = [
    # ---------------------------------------------------------------- partition
    Case("partition", "missing file", lambda k: [*P, k["not_a_file"], "--pop", "pop", "-o", GPKG(k)],
         ("file not found", "no_such_file.gpkg")),
    Case("partition", "wrong population column", lambda k: PARTITION(k)[:3] + ["popp"] + PARTITION(k)[4:],
         ("no column 'popp'", "did you mean 'pop'", "--pop")),
    Case("partition", "no population column given", lambda k: [*P, k["blocks"], "-o", GPKG(k)], ("--pop",)),
    Case("partition", "text in the population column",
         lambda k: PARTITION(k)[:1] + [_blocks(k, "text_pop.gpkg", _set("pop", [2], "many"))] + PARTITION(k)[2:],
         ("pop", "row 3")),
    Case("partition", "negative population",
         lambda k: PARTITION(k)[:1] + [_blocks(k, "neg_pop.gpkg", _set("pop", [4], -5))] + PARTITION(k)[2:],
         ("pop", "row 5")),
    Case("partition", "min above max", lambda k: [*P, k["blocks"], "--pop", "pop", "--min", "1200", "--max", "800",
                                                 "-o", GPKG(k)], ("--min", "--max")),
    Case("partition", "zero max", lambda k: [*P, k["blocks"], "--pop", "pop", "--min", "0", "--max", "0",
                                            "-o", GPKG(k)], ("--max",)),
    Case("partition", "empty file", lambda k: [*P, k["empty_csv"], "--pop", "pop", "-o", GPKG(k)],
         ("empty.csv",)),
    Case("partition", "WKT table without a CRS", lambda k: [*P, k["blocks_csv"], "--pop", "pop", "-o", GPKG(k)],
         ("blocks_wkt.csv", "--crs")),
    Case("partition", "unknown CRS", lambda k: PARTITION(k, "--crs", "EPSG:999999"), ("EPSG:999999",)),
    Case("partition", "duplicated blocks",
         lambda k: PARTITION(k)[:1] + [_blocks(k, "dup_blocks.gpkg", _dup_rows)] + PARTITION(k)[2:],
         ("row 17", "same feature entered twice", "--dedupe")),
    Case("partition", "unknown --within column", lambda k: PARTITION(k, "--within", "wards"),
         ("no column 'wards'", "did you mean 'ward'", "--within")),
    Case("partition", "bad code prefix", lambda k: PARTITION(k, "--code-prefix", "32x5"), ("32x5",)),
    Case("partition", "single-layer output (.geojson)",
         lambda k: PARTITION(k)[:-1] + [k["out"].with_suffix(".geojson")],
         ("out.geojson", "several layers (grids, units)", "out.gpkg")),
    # ---------------------------------------------------------------- rebalance
    Case("rebalance", "single-layer output (.geojson)",
         lambda k: ["rebalance", k["grids"], "--pop", "pop", "-o", k["out"].with_suffix(".geojson")],
         ("out.geojson", "several layers (grids, units, retired_codes)", "out.gpkg")),
    Case("rebalance", "missing partition file", lambda k: ["rebalance", k["not_a_file"], "--pop", "pop", "-o",
                                                          GPKG(k)], ("no_such_file.gpkg",)),
    Case("rebalance", "not a partition file", lambda k: ["rebalance", k["blocks"], "--pop", "pop", "-o", GPKG(k)],
         ("blocks.gpkg", "units")),
    Case("rebalance", "duplicated key in --new-pop",
         lambda k: ["rebalance", k["grids"], "--new-pop", derive(k, "dup_new_pop.csv", _dup_rows(pd.read_csv(
             k["new_pop"], dtype=str))), "--key", "block_id", "--pop", "pop2030", "-o", GPKG(k)],
         ("dup_new_pop.csv", "'block_id'", "rows 4, 17")),
    Case("rebalance", "--new-pop without --key", lambda k: ["rebalance", k["grids"], "--new-pop", k["new_pop"],
                                                           "--pop", "pop2030", "-o", GPKG(k)], ("--key",)),
    Case("rebalance", "wrong --key", lambda k: ["rebalance", k["grids"], "--new-pop", k["new_pop"], "--key", "blockid",
                                               "--pop", "pop2030", "-o", GPKG(k)], ("blockid", "block_id")),
    Case("rebalance", "missing --new-pop file", lambda k: ["rebalance", k["grids"], "--new-pop", k["missing_db"],
                                                          "--key", "block_id", "--pop", "p", "-o", GPKG(k)],
         ("no_such.db",)),
    Case("rebalance", "a unit missing from --new-pop",
         lambda k: ["rebalance", k["grids"], "--new-pop", derive(k, "short_new_pop.csv", pd.read_csv(
             k["new_pop"], dtype=str).iloc[:-1]), "--key", "block_id", "--pop", "pop2030", "-o", GPKG(k)],
         ("short_new_pop.csv", "block_id")),
    Case("rebalance", "negative --min", lambda k: ["rebalance", k["grids"], "--pop", "pop", "--min", "-5", "-o",
                                                  GPKG(k)], ("--min",)),
    # ---------------------------------------------------------------- map
    Case("map", "missing file", lambda k: ["map", k["not_a_file"], "-o", k["out"].with_suffix(".html")],
         ("file not found",)),
    Case("map", "wrong layer", lambda k: ["map", k["grids"], "--layer", "grid", "-o", k["out"].with_suffix(".html")],
         ("grid", "grids")),
    Case("map", "not grids (no population)", lambda k: ["map", k["roads"], "--layer", "roads", "-o",
                                                       k["out"].with_suffix(".html")],
         ("roads.gpkg", "no column 'population'", "partition")),
    Case("map", "empty layer", lambda k: ["map", derive(k, "empty.gpkg", gpd.read_file(k["blocks"]).iloc[:0],
                                                        layer="grids"), "-o", k["out"].with_suffix(".html")],
         ("0 rows",)),
    # ---------------------------------------------------------------- demo
    Case("demo", "unknown language", lambda k: ["demo", "-o", k["out"], "--lang", "fr"], ("--lang", "fr")),
    Case("demo", "output is a file", lambda k: ["demo", "-o", k["events"]], ("events.csv",)),
    # ---------------------------------------------------------------- geocode
    Case("geocode", "missing events file", lambda k: GEOCODE(k, k["not_a_file"]), ("no_such_file.gpkg",)),
    Case("geocode", "wrong lon column", lambda k: GEOCODE(k, k["events"])[:5] + ["lng"] + GEOCODE(k, k["events"])[6:],
         ("lng", "lon")),
    Case("geocode", "missing grids", lambda k: ["geocode", k["events"], "--grids", k["not_a_file"], "--crs", "wgs84",
                                               "-o", k["out"]], ("no_such_file.gpkg",)),
    Case("geocode", "all lon/lat swapped", lambda k: GEOCODE(k, _events(k, "all_swapped.csv",
                                                                        _renamed("lon", "tmp")) if False else
                                                           derive(k, "all_swapped.csv", pd.read_csv(k["events"]).rename(
                                                               columns={"lon": "lat", "lat": "lon"}))),
         ("swapped",)),
    Case("geocode", "unknown datum", lambda k: GEOCODE(k, k["events"])[:9] + ["wgs-84x"] + GEOCODE(k, k["events"])[10:],
         ("wgs-84x",)),
    Case("geocode", "text in a coordinate (--strict)",
         lambda k: GEOCODE(k, _events(k, "text_lon.csv", _set("lon", [5], "east")), "--strict"), ("row 6",)),
    Case("geocode", "empty events file", lambda k: GEOCODE(k, k["header_only"]), ("header_only.csv",)),
    Case("geocode", "wrong code column", lambda k: GEOCODE(k, k["events"], "--code", "gridcode"),
         ("gridcode", "grid_code")),
    # ---------------------------------------------------------------- route
    Case("route", "missing network", lambda k: ["route", k["not_a_file"], "--from", "8.0,49.0", "--to", "8.04,49.0",
                                               "-o", k["out"]], ("no_such_file.gpkg",)),
    Case("route", "point not LON,LAT", lambda k: ROUTE(k, "--from", "8.0;49.0", "--to", "8.04,49.0"),
         ("--from", "LON,LAT")),
    Case("route", "lat,lon swapped", lambda k: ROUTE(k, "--from", "49.0,8.0", "--to", "49.0,8.04"),
         ("(49.000000, 8.000000)", "LON,LAT order", "roads.gpkg")),
    Case("route", "point far from every road", lambda k: ROUTE(k, "--from", "9.0,49.5", "--to", "8.04,49.0"),
         ("road",)),
    Case("route", "negative weight", lambda k: ROUTE(k, "--from", "8.0,49.0", "--to", "8.04,49.0", "--weight-t", "-3"),
         ("--weight-t",)),
    Case("route", "unknown vehicle", lambda k: ROUTE(k, "--from", "8.0,49.0", "--to", "8.04,49.0", "--vehicle", "tank"),
         ("tank",)),
    Case("route", "bad --at time", lambda k: ROUTE(k, "--from", "8.0,49.0", "--to", "8.04,49.0", "--at", "31/31/2026"),
         ("31/31/2026",)),
    # ---------------------------------------------------------------- population estimate
    Case("population estimate", "missing file", lambda k: ["population", "estimate", k["not_a_file"], "--total", "10",
                                                           "-o", k["out"]], ("file not found",)),
    Case("population estimate", "negative total", lambda k: ["population", "estimate", k["blocks"], "--total", "-10",
                                                             "-o", GPKG(k)], ("--total",)),
    Case("population estimate", "points, not footprints", lambda k: ["population", "estimate", k["events"], "--total",
                                                                     "10", "--crs", "wgs84",
                                                                     "-o", GPKG(k)],
         ("polygons", "rows")),
    Case("population estimate", "wrong layer", lambda k: ["population", "estimate", k["blocks"], "--layer", "houses",
                                                          "--total", "10", "-o", GPKG(k)],
         ("houses", "blocks")),
    # ---------------------------------------------------------------- report partition / hotspots / incidents
    Case("report partition", "missing file", lambda k: ["report", "partition", k["not_a_file"], "-o", k["out"]],
         ("no_such_file.gpkg",)),
    Case("report partition", "not a partition", lambda k: ["report", "partition", k["roads"], "-o", k["out"]],
         ("roads.gpkg",)),
    Case("report partition", "unknown language", lambda k: ["report", "partition", k["grids"], "--lang", "de",
                                                            "-o", k["out"]], ("--lang",)),
    Case("report hotspots", "missing backtest folder", lambda k: ["report", "hotspots", k["not_a_file"], "-o",
                                                                  k["out"]], ("no_such_file.gpkg",)),
    Case("report hotspots", "folder without a backtest", lambda k: ["report", "hotspots", k["blocks"].parent,
                                                                    "-o", k["out"]], ("metrics.csv",)),
    Case("report hotspots", "--events without --time", lambda k: ["report", "hotspots", "--events", k["events"],
                                                                  "-o", k["out"]], ("--events needs --time",)),
    Case("report hotspots", "unknown --codes", lambda k: ["report", "hotspots", "--events", k["events"], "--time",
                                                          "reported", "--road-col", "type", "--codes", "insee",
                                                          "-o", k["out"]], ("--codes insee", "'baac'")),
    Case("report hotspots", "--road-col naming no column", lambda k: ["report", "hotspots", "--events", k["events"],
                                                                      "--time", "reported", "--road-col", "road",
                                                                      "-o", k["out"]], ("road", "--road-col")),
    Case("report hotspots", "accident times in mixed formats",
         lambda k: ["report", "hotspots", "--events", _events(k, "mixed_report.csv",
                                                              _set("reported", [6], "01/02/2024 10:00")),
                    "--time", "reported", "-o", k["out"]], ("mixes date formats", "row 7")),
    Case("report incidents", "database that does not exist", lambda k: ["report", "incidents", k["missing_db"],
                                                                        "--grids", k["grids"], "-o", k["out"]],
         ("no_such.db", "not found")),
    Case("report incidents", "bad --from date", lambda k: ["report", "incidents", k["cases"], "--grids", k["grids"],
                                                           "--from", "2024-13-45", "-o", k["out"]], ("2024-13-45",)),
    Case("report incidents", "missing grids", lambda k: ["report", "incidents", k["cases"], "--grids", k["not_a_file"],
                                                         "-o", k["out"]], ("no_such_file.gpkg",)),
    # ---------------------------------------------------------------- coords convert
    Case("coords convert", "missing file", lambda k: ["coords", "convert", k["not_a_file"], "--lon", "lon", "--lat",
                                                      "lat", "--from", "gcj02", "--to", "wgs84", "-o", k["out"]],
         ("no_such_file.gpkg",)),
    Case("coords convert", "wrong column", lambda k: ["coords", "convert", k["events"], "--lon", "lng", "--lat", "lat",
                                                      "--from", "gcj02", "--to", "wgs84", "-o", k["out"]],
         ("lng", "lon")),
    Case("coords convert", "unknown datum", lambda k: ["coords", "convert", k["events"], "--lon", "lon", "--lat",
                                                       "lat", "--from", "gcj2", "--to", "wgs84", "-o", k["out"]],
         ("gcj2",)),
    Case("coords convert", "projected target", lambda k: ["coords", "convert", k["events"], "--lon", "lon", "--lat",
                                                          "lat", "--from", "wgs84", "--to", "EPSG:3857", "-o",
                                                          k["out"]], ("EPSG:3857", "projected")),
    Case("coords convert", "text in a coordinate (--strict)",
         lambda k: ["coords", "convert", _events(k, "text_lon.csv", _set("lon", [5], "east")), "--lon", "lon",
                    "--lat", "lat", "--from", "wgs84", "--to", "gcj02", "--strict", "-o", k["out"]],
         ("row 6",)),
    Case("coords convert", "negative decimals", lambda k: ["coords", "convert", k["events"], "--lon", "lon", "--lat",
                                                           "lat", "--from", "wgs84", "--to", "gcj02", "--decimals",
                                                           "-1", "-o", k["out"]], ("--decimals",)),
    # ---------------------------------------------------------------- incidents
    Case("incidents types", "unknown output format",
         lambda k: ["incidents", "types", "-o", k["blocks"].parent / "types.xlsx"], ("types.xlsx",)),
    Case("incidents import", "missing file", lambda k: IMPORT(k, k["not_a_file"]), ("no_such_file.gpkg",)),
    Case("incidents import", "wrong time column", lambda k: IMPORT(k, k["events"])[:7] + ["time"] +
         IMPORT(k, k["events"])[8:], ("time", "reported")),
    Case("incidents import", "unknown type code", lambda k: IMPORT(k, _events(k, "bad_type.csv",
                                                                              _set("type", [3], "9999"))),
         ("9999", "row 4", "incidents types")),
    Case("incidents import", "unreadable date", lambda k: IMPORT(k, _events(k, "bad_date.csv",
                                                                            _set("reported", [7], "yesterday"))),
         ("yesterday", "row 8")),
    Case("incidents import", "ambiguous day-first dates",
         lambda k: IMPORT(k, _events(k, "dmy.csv", lambda f: f.assign(reported=["03/04/2024 10:00"] * len(f)))),
         ("--dayfirst",)),
    Case("incidents import", "repeated --id", lambda k: IMPORT(k, _events(k, "dup_ids.csv", _dup_rows), "--id",
                                                              "event_id"), ("'E0003'", "--dedupe")),
    Case("incidents dedupe", "database that does not exist", lambda k: ["incidents", "dedupe", k["missing_db"]],
         ("no_such.db", "not found")),
    Case("incidents assess", "database that does not exist",
         lambda k: ["incidents", "assess", k["missing_db"], "--subject", "grid", "--from", "2025-01-01", "--to",
                    "2025-02-01"], ("no_such.db", "not found")),
    Case("incidents assess", "unknown --subject",
         lambda k: ["incidents", "assess", k["cases"], "--subject", "planet", "--from", "2025-01-01", "--to",
                    "2025-02-01"], ("--subject", "planet", "grid")),
    Case("incidents assess", "impossible --from date",
         lambda k: ["incidents", "assess", k["cases"], "--subject", "grid", "--from", "2025-13-01", "--to",
                    "2025-02-01"], ("2025-13-01", "YYYY-MM-DD")),
    Case("incidents assess", "period that ends before it starts",
         lambda k: ["incidents", "assess", k["cases"], "--subject", "grid", "--from", "2025-03-01", "--to",
                    "2025-02-01"], ("--from", "before")),
    Case("incidents token", "unknown --role", lambda k: ["incidents", "token", k["cases"], "--role", "boss",
                                                         "--name", "x"], ("--role", "boss", "grid_head")),
    Case("incidents token", "grid head without --grid", lambda k: ["incidents", "token", k["cases"], "--role",
                                                                  "grid_head", "--name", "x"], ("--grid",)),
    Case("incidents token", "negative --days", lambda k: ["incidents", "token", k["cases"], "--role", "reporter",
                                                          "--name", "x", "--days", "-1"], ("--days", "3650", "-1")),
    Case("incidents token", "--revoke of an unknown token id", lambda k: ["incidents", "token", k["cases"],
                                                                          "--revoke", "99999"], ("99999", "--list")),
    Case("incidents token", "--rotate of an unknown token id", lambda k: ["incidents", "token", k["cases"],
                                                                          "--rotate", "99999"], ("99999", "--list")),
    Case("incidents token", "--grace-hours without --rotate", lambda k: ["incidents", "token", k["cases"],
                                                                         "--grace-hours", "2"], ("--rotate",)),
    Case("incidents token", "neither --role/--name nor --list", lambda k: ["incidents", "token", k["cases"]],
         ("--role", "--name", "--list")),
    Case("incidents serve", "grids file that does not exist",
         lambda k: ["incidents", "serve", k["cases"], "--grids", k["missing_db"].with_suffix(".gpkg"), "--port", "0"],
         ("no_such.gpkg",)),
    Case("incidents import", "empty file", lambda k: IMPORT(k, k["empty_csv"]), ("empty.csv",)),
    Case("incidents step", "database that does not exist",
         lambda k: ["incidents", "step", k["missing_db"], "1", "accept"], ("no_such.db", "not found")),
    Case("incidents step", "unknown case", lambda k: ["incidents", "step", k["cases"], "999999", "register"],
         ("999999",)),
    Case("incidents step", "unknown action", lambda k: ["incidents", "step", k["cases"], "1", "acept"], ("acept",)),
    Case("incidents step", "bad --at time", lambda k: ["incidents", "step", k["cases"], "1", "register", "--at",
                                                       "noon"], ("noon",)),
    Case("incidents overdue", "database that does not exist", lambda k: ["incidents", "overdue", k["missing_db"]],
         ("no_such.db", "not found")),
    Case("incidents overdue", "bad --now", lambda k: ["incidents", "overdue", k["cases"], "--now", "2024-02-30"],
         ("2024-02-30",)),
    Case("incidents escalate", "database that does not exist", lambda k: ["incidents", "escalate", k["missing_db"]],
         ("no_such.db", "not found")),
    Case("incidents stats", "database that does not exist", lambda k: ["incidents", "stats", k["missing_db"]],
         ("no_such.db", "not found")),
    Case("incidents stats", "bad --now", lambda k: ["incidents", "stats", k["cases"], "--now", "tomorrow"],
         ("tomorrow",)),
    Case("incidents addresses", "missing gazetteer", lambda k: ["incidents", "addresses", k["events"], "--address",
                                                                "address", "--gazetteer", k["not_a_file"],
                                                                "-o", k["out"]], ("no_such_file.gpkg",)),
    Case("incidents addresses", "wrong address column", lambda k: ["incidents", "addresses", k["events"], "--address",
                                                                   "addr", "--gazetteer", k["gazetteer"],
                                                                   "-o", k["out"]], ("addr", "address")),
    Case("incidents addresses", "cutoff above 100", lambda k: ["incidents", "addresses", k["events"], "--address",
                                                               "address", "--gazetteer", k["gazetteer"], "--cutoff",
                                                               "150", "-o", k["out"]], ("--cutoff",)),
    Case("incidents open311", "database that does not exist",
         lambda k: ["incidents", "open311", k["missing_db"], "-o", k["out"]], ("no_such.db", "not found")),
    Case("incidents map", "database that does not exist",
         lambda k: ["incidents", "map", k["missing_db"], "--grids", k["grids"], "-o", k["out"]],
         ("no_such.db", "not found")),
    Case("incidents map", "unknown --column", lambda k: ["incidents", "map", k["cases"], "--grids", k["grids"],
                                                         "--column", "casess", "-o", k["out"]], ("casess",)),
    # ---------------------------------------------------------------- components
    Case("components import", "missing file", lambda k: COMPONENTS(k, k["not_a_file"]), ("no_such_file.gpkg",)),
    Case("components import", "unknown class code", lambda k: COMPONENTS(k, k["events"])[:6] + ["9999"] +
         COMPONENTS(k, k["events"])[7:], ("9999",)),
    Case("components import", "wrong --key-col", lambda k: COMPONENTS(k, k["events"], "--key-col", "eventid"),
         ("eventid", "event_id")),
    Case("components import", "swapped lon/lat rows",
         lambda k: COMPONENTS(k, _events(k, "swapped.csv", _swap), "--key-col", "event_id"),
         ("swapped", "rows 1, 2, 3", "--skip-bad")),
    Case("components import", "repeated key", lambda k: COMPONENTS(k, _events(k, "dup_ids.csv", _dup_rows),
                                                                   "--key-col", "event_id"),
         ("row 401", "same as row 4")),
    Case("components import", "bad admin code", lambda k: COMPONENTS(k, k["events"])[:-1] + ["3205"], ("3205",)),
    Case("components export", "register that does not exist",
         lambda k: ["components", "export", k["missing_db"], "-o", k["out"]], ("no_such.db", "not found")),
    Case("components export", "unknown status", lambda k: ["components", "export", k["register"], "--status", "dead",
                                                           "-o", k["out"].with_suffix(".csv")], ("dead",)),
    Case("components map", "register that does not exist",
         lambda k: ["components", "map", k["missing_db"], "-o", k["out"]], ("no_such.db", "not found")),
    Case("components query", "register that does not exist",
         lambda k: ["components", "query", k["missing_db"], "--code", "x"], ("no_such.db", "not found")),
    Case("components query", "--near not LON,LAT", lambda k: ["components", "query", k["register"], "--near",
                                                              "8.68 49.40"], ("--near",)),
    Case("components query", "zero -k", lambda k: ["components", "query", k["register"], "--near", "8.681,49.401",
                                                   "-k", "0"], ("-k",)),
    Case("components update", "register that does not exist",
         lambda k: ["components", "update", k["missing_db"], "X", "--set", "owner=me"], ("no_such.db", "not found")),
    Case("components update", "unknown code", lambda k: ["components", "update", k["register"], "NOPE", "--set",
                                                         "owner=me"], ("NOPE",)),
    Case("components update", "--set without =", lambda k: ["components", "update", k["register"], "NOPE", "--set",
                                                            "owner"], ("--set",)),
    Case("components regrid", "register that does not exist",
         lambda k: ["components", "regrid", k["missing_db"], "--grids", k["grids"]], ("no_such.db", "not found")),
    Case("components regrid", "missing grids", lambda k: ["components", "regrid", k["register"], "--grids",
                                                          k["not_a_file"]], ("no_such_file.gpkg",)),
    Case("components retire", "register that does not exist",
         lambda k: ["components", "retire", k["missing_db"], "X"], ("no_such.db", "not found")),
    Case("components retire", "unknown code", lambda k: ["components", "retire", k["register"], "NOPE"], ("NOPE",)),
    # ---------------------------------------------------------------- hotspots
    Case("hotspots predict", "missing file", lambda k: PREDICT(k, k["not_a_file"]), ("no_such_file.gpkg",)),
    Case("hotspots predict", "wrong time column", lambda k: PREDICT(k, k["events"])[:3] + ["--time", "date"] +
         PREDICT(k, k["events"])[5:], ("date", "reported")),
    Case("hotspots predict", "unreadable dates", lambda k: PREDICT(k, _events(k, "bad_date.csv",
                                                                              _set("reported", [7], "yesterday"))),
         ("yesterday", "row 8")),
    Case("hotspots predict", "ambiguous day-first dates",
         lambda k: PREDICT(k, _events(k, "dmy_ambiguous.csv", lambda f: f.assign(
             reported=pd.to_datetime(f["reported"]).dt.strftime("%m/%d/%Y").where(
                 pd.to_datetime(f["reported"]).dt.day <= 12, "01/01/2024")))), ("--dayfirst",)),
    Case("hotspots predict", "bad cutoff", lambda k: PREDICT(k, k["events"])[:5] + ["--cutoff", "2025-02-30"] +
         PREDICT(k, k["events"])[7:], ("2025-02-30",)),
    Case("hotspots predict", "zero cell size", lambda k: PREDICT(k, k["events"], "--cell", "0"), ("cell size", "0.0")),
    Case("hotspots predict", "negative horizon", lambda k: PREDICT(k, k["events"], "--horizon-days", "-7"),
         ("--horizon-days",)),
    Case("hotspots predict", "unknown method", lambda k: PREDICT(k, k["events"], "--method", "magic"), ("magic",)),
    Case("hotspots predict", "x/y without --crs", lambda k: ["hotspots", "predict", k["events"], "--time", "reported",
                                                             "--cutoff", "2025-05-01", "--x", "lon", "--y", "lat",
                                                             "-o", k["out"]], ("--crs",)),
    Case("hotspots predict", "patrol share above 1", lambda k: PREDICT(k, k["events"], "--patrol-share", "2"),
         ("--patrol-share",)),
    Case("hotspots predict", "unknown category", lambda k: PREDICT(k, k["events"], "--category-col", "type",
                                                                   "--category", "9999"), ("9999",)),
    Case("hotspots predict", "an event id on two rows", lambda k: PREDICT(k, _events(k, "dup_events.csv", _dup_rows),
                                                                          "--id", "event_id"),
         ("'event_id'", "E0003", "rows 4, 401", "--dedupe")),
    Case("hotspots predict", "--id naming no column", lambda k: PREDICT(k, k["events"], "--id", "case_no"),
         ("case_no", "--id")),
    Case("hotspots predict", "--dedupe without --id", lambda k: PREDICT(k, k["events"], "--dedupe"), ("--id",)),
    Case("hotspots predict", "sub-day run on some dates without time of day",
         lambda k: PREDICT(k, _events(k, "dates_only.csv", lambda f: _set("reported", [4, 8], f["reported"][4][:10])(f)),
                           "--horizon-hours", "2", "--windows", "12")[:5] + ["--cutoff", "2025-05-01 06:00"] +
         PREDICT(k, k["events"], "--horizon-hours", "2", "--windows", "12")[7:],
         ("2 event(s) have a date but no time of day", "rows 5, 9", "--hour-col")),
    Case("hotspots predict", "sub-day run on mixed date formats",
         lambda k: PREDICT(k, _events(k, "mixed_formats.csv", _set("reported", [6], "01/02/2024 10:00")),
                           "--horizon-hours", "2", "--windows", "12"), ("mixes date formats", "row 7")),
    Case("hotspots predict", "sub-day window that does not divide a day",
         lambda k: PREDICT(k, k["events"], "--horizon-hours", "5", "--windows", "3"), ("--horizon-hours", "divide a day")),
    Case("hotspots predict", "--school-terms with a term that ends before it starts",
         lambda k: PREDICT(k, k["events"], "--horizon-hours", "2", "--windows", "12", "--method", "profile",
                           "--school-terms", derive(k, "terms_backwards.csv", pd.DataFrame(
                               {"start": ["2024-01-08", "2025-06-30"], "end": ["2024-07-05", "2025-01-06"]}))),
         ("terms_backwards.csv", "row 2", "end before")),
    Case("hotspots predict", "--school-terms that do not cover the forecast",
         lambda k: PREDICT(k, k["events"], "--horizon-hours", "2", "--windows", "12", "--method", "profile",
                           "--school-terms", derive(k, "terms_2024.csv", pd.DataFrame(
                               {"start": ["2024-01-08"], "end": ["2024-07-05"]}))),
         ("2024-01-08 to 2024-07-05", "2025-05-01", "--school-terms")),
    Case("hotspots predict", "--school-terms for a method that cannot use them",
         lambda k: PREDICT(k, k["events"], "--horizon-hours", "2", "--windows", "12", "--school-terms",
                           derive(k, "terms_ok.csv", pd.DataFrame({"start": ["2024-01-08"], "end": ["2025-07-04"]}))),
         ("naive_all", "cannot use --school-terms", "profile")),
    Case("hotspots predict", "--weather with windows missing",
         lambda k: PREDICT(k, k["events"], "--horizon-hours", "2", "--windows", "12", "--method", "gbm",
                           "--weather", derive(k, "rain_short.csv", pd.DataFrame(
                               {"window_start": pd.date_range("2024-01-01", "2025-05-01 08:00", freq="2h")
                                .strftime("%Y-%m-%d %H:%M"), "rain_mm": 0.0}))),
         ("rain_short.csv", "no forecast for", "2025-05-01 10:00")),
    Case("hotspots predict", "--weather without --horizon-hours",
         lambda k: PREDICT(k, k["events"], "--weather", derive(k, "rain_any.csv", pd.DataFrame(
             {"window_start": ["2025-05-01 00:00", "2025-05-01 02:00"], "rain_mm": [0.0, 1.0]}))),
         ("--weather", "--horizon-hours")),
    Case("hotspots backtest", "--weather with no value column",
         lambda k: BACKTEST(k, k["events"], "--horizon-hours", "2", "--windows", "12", "--methods", "gbm",
                            "--weather", derive(k, "rain_novalue.csv", pd.DataFrame(
                                {"window_start": ["2025-05-01 00:00", "2025-05-01 02:00"]}))),
         ("rain_novalue.csv", "no value column")),
    Case("hotspots backtest", "an event id on two rows",
         lambda k: BACKTEST(k, _events(k, "dup_events.csv", _dup_rows), "--id", "event_id"),
         ("'event_id'", "E0003", "rows 4, 401", "--dedupe")),
    Case("hotspots backtest", "missing file", lambda k: BACKTEST(k, k["not_a_file"]), ("no_such_file.gpkg",)),
    Case("hotspots backtest", "zero folds", lambda k: BACKTEST(k, k["events"], "--folds", "0"), ("--folds",)),
    Case("hotspots backtest", "folds past the last event", lambda k: BACKTEST(k, k["events"], "--folds", "90"),
         ("past the last event", "fewer folds")),
    Case("hotspots backtest", "bad start date", lambda k: BACKTEST(k, k["events"])[:5] + ["--start", "2025-31-01"] +
         BACKTEST(k, k["events"])[7:], ("2025-31-01",)),
    Case("hotspots backtest", "unknown method", lambda k: BACKTEST(k, k["events"])[:-3] + ["--methods", "naive_all,xyz",
                                                                                         "-o", k["out"]], ("xyz",)),
    Case("hotspots backtest", "missing --grids file", lambda k: BACKTEST(k, k["events"], "--grids", k["not_a_file"]),
         ("no_such_file.gpkg",)),
    # ---------------------------------------------------------------- dispatch
    Case("dispatch serve", "missing network", lambda k: ["dispatch", "serve", "--network", k["not_a_file"], "--park",
                                                         k["park"], "--db", k["out"].with_suffix(".db")],
         ("no_such_file.gpkg",)),
    Case("dispatch serve", "missing park", lambda k: ["dispatch", "serve", "--network", k["roads"], "--park",
                                                      k["not_a_file"], "--db", k["out"].with_suffix(".db")],
         ("no_such_file.gpkg",)),
    Case("dispatch token", "unknown role", lambda k: ["dispatch", "token", "--db", k["out"].with_suffix(".db"),
                                                      "--name", "x", "--role", "admin"], ("admin",)),
    Case("dispatch token", "empty name", lambda k: ["dispatch", "token", "--db", k["out"].with_suffix(".db"),
                                                    "--name", "", "--role", "driver"], ("name",)),
    Case("dispatch token", "--rotate of an unknown token id", lambda k: ["dispatch", "token", "--db",
                                                                         k["out"].with_suffix(".db"), "--rotate", "99999"],
         ("99999", "--list")),
    Case("dispatch token", "--grace-hours above 30 days", lambda k: ["dispatch", "token", "--db",
                                                                     k["out"].with_suffix(".db"), "--rotate", "1",
                                                                     "--grace-hours", "1000"], ("--grace-hours", "720")),
    Case("dispatch assign", "missing trips file", lambda k: ASSIGN(k, k["not_a_file"], "-o", k["out"]),
         ("no_such_file.gpkg",)),
    Case("dispatch assign", "park key typo", lambda k: ["dispatch", "assign", "--network", k["roads"], "--park",
                                                        derive(k, "typo_park.csv", pd.DataFrame()) and
                                                        _typo_park(k), k["trips"], "-o", k["out"]],
         ("capcity", "did you mean 'capacity'")),
    Case("dispatch assign", "bad arrival time", lambda k: ASSIGN(k, _trips(k, "bad_time.csv",
                                                                           _set("earliest_arrival", [0], "8am")),
                                                                 "-o", k["out"].with_suffix(".gpkg")), ("8am",)),
    Case("dispatch assign", "negative weight", lambda k: ASSIGN(k, _trips(k, "neg_weight.csv",
                                                                          _set("weight_t", [0], -2)),
                                                                "-o", k["out"].with_suffix(".gpkg")), ("weight_t",)),
    Case("dispatch assign", "no gate and no origin", lambda k: ASSIGN(k, _trips(k, "no_gate.csv",
                                                                                lambda f: f.drop(columns="gate")),
                                                                      "-o", k["out"].with_suffix(".gpkg")),
         ("gate", "origin_lon")),
    # ---------------------------------------------------------------- more of the same kinds
    Case("incidents escalate", "bad --now", lambda k: ["incidents", "escalate", k["cases"], "--now", "2024-02-30 10:00"],
         ("2024-02-30",)),
    Case("incidents open311", "missing --services file", lambda k: ["incidents", "open311", k["cases"], "--services",
                                                                    k["not_a_file"], "-o", k["out"]],
         ("no_such_file.gpkg",)),
    Case("incidents overdue", "unknown output format", lambda k: ["incidents", "overdue", k["cases"], "-o",
                                                                  k["out"].with_suffix(".xlsx")], (".xlsx",)),
    Case("incidents import", "missing --types file", lambda k: IMPORT(k, k["events"], "--types", k["not_a_file"]),
         ("no_such_file.gpkg",)),
    Case("incidents types", "output is a folder", lambda k: ["incidents", "types", "-o", k["blocks"].parent],
         ("badinput",)),
    Case("components map", "missing --grids file", lambda k: ["components", "map", k["register"], "--grids",
                                                              k["not_a_file"], "-o", k["out"]],
         ("no_such_file.gpkg",)),
    Case("components map", "unknown status", lambda k: ["components", "map", k["register"], "--status", "gone",
                                                        "-o", k["out"]], ("gone",)),
    Case("components export", "unknown output format", lambda k: ["components", "export", k["register"], "-o",
                                                                  k["out"].with_suffix(".xlsx")], (".xlsx",)),
    Case("components regrid", "wrong --grid-col", lambda k: ["components", "regrid", k["register"], "--grids",
                                                             k["grids"], "--grid-col", "gridcode"],
         ("gridcode", "grid_code")),
    Case("dispatch serve", "park key typo", lambda k: ["dispatch", "serve", "--network", k["roads"], "--park",
                                                       _typo_park(k), "--db", k["out"].with_suffix(".db")],
         ("capcity", "did you mean 'capacity'")),
    Case("dispatch token", "database that is a folder", lambda k: ["dispatch", "token", "--db", k["blocks"].parent,
                                                                   "--name", "x"], ("badinput",)),
    Case("report partition", "empty file", lambda k: ["report", "partition", k["empty_csv"], "-o", k["out"]],
         ("empty.csv",)),
    Case("map", "table without geometry", lambda k: ["map", k["new_pop"], "-o", k["out"].with_suffix(".html")],
         ("new_pop.csv",)),
    Case("hotspots backtest", "ambiguous day-first dates",
         lambda k: BACKTEST(k, _events(k, "dmy_ambiguous_bt.csv", lambda f: f.assign(
             reported=pd.to_datetime(f["reported"]).dt.strftime("%m/%d/%Y").where(
                 pd.to_datetime(f["reported"]).dt.day <= 12, "01/01/2024")))), ("--dayfirst",)),
    Case("hotspots backtest", "unknown category", lambda k: BACKTEST(k, k["events"], "--category-col", "type",
                                                                     "--category", "9999"), ("9999",)),
    Case("route", "missing --from", lambda k: ["route", k["roads"], "--to", "8.04,49.0", "-o", k["out"]],
         ("--from",)),
    Case("components query", "unknown status", lambda k: ["components", "query", k["register"], "--grid", "x",
                                                          "--status", "actve"], ("actve",)),
    Case("rebalance", "wrong --pop column", lambda k: ["rebalance", k["grids"], "--pop", "pop2031", "-o", GPKG(k)],
         ("pop2031", "--pop")),
    # ---------------------------------------------------------------- grids (the planner's tools)
    Case("grids aggregate", "missing file", lambda k: AGGREGATE(k)[:2] + [k["not_a_file"]] + AGGREGATE(k)[3:],
         ("file not found", "no_such_file.gpkg")),
    Case("grids aggregate", "wrong --pop column", lambda k: AGGREGATE(k, "--pop", "popp"),
         ("no column 'popp'", "--pop")),
    Case("grids aggregate", "min above max", lambda k: AGGREGATE(k, "--min", "3000", "--max", "2000"),
         ("[3000, 2000] is empty", "--min/--max")),
    Case("grids aggregate", "zero areas", lambda k: ["grids", "aggregate", k["grids"], "--areas", "0",
                                                     "-o", GPKG(k)],
         ("--areas must lie between 1 and the number of grids (5), not 0",)),
    Case("grids aggregate", "more within groups than --max-areas", lambda k: AGGREGATE(k, "--within", "grid_code",
                                                                                     "--max-areas", "4"),
         ("5 groups of --within grid_code need at least 5 areas", "--max-areas allows (4)")),
    Case("grids aggregate", "--areas fewer than the within groups",
         lambda k: ["grids", "aggregate", k["grids"], "--areas", "4", "--within", "grid_code", "-o",
                    GPKG(k)], ("need at least 5 areas", "--areas asks for 4")),
    Case("grids aggregate", "band needs more areas than --max-areas",
         lambda k: AGGREGATE(k, "--max-areas", "1"), ("need at least 2 areas", "--max-areas allows (1)", "--max")),
    Case("grids aggregate", "single-layer output (.geojson)",
         lambda k: AGGREGATE(k)[:-2] + ["-o", k["out"].with_suffix(".geojson")],
         ("out.geojson", "several layers (areas, grids)", "out.gpkg")),
    Case("grids score", "missing file", lambda k: ["grids", "score", k["not_a_file"], "--pop", "pop", "--plan",
                                                   "grid_code"], ("file not found", "no_such_file.gpkg")),
    Case("grids score", "wrong --plan column", lambda k: SCORE(k)[:6] + ["gridcode"] + SCORE(k)[7:],
         ("no column 'gridcode' (--plan)", "grid_code")),
    Case("grids score", "min above max", lambda k: SCORE(k)[:8] + ["1200", "--max", "800"],
         ("[1200, 800] is empty", "--min/--max")),
    Case("grids score", "wrong --communities column", lambda k: SCORE(k, "--communities", "wards"),
         ("no column 'wards'", "did you mean 'ward'", "--communities")),
    Case("grids compare", "missing file", lambda k: ["grids", "compare", k["not_a_file"], "--a", "grid_code", "--b",
                                                     "ward", "--pop", "pop"], ("file not found", "no_such_file.gpkg")),
    Case("grids compare", "wrong --a column", lambda k: ["grids", "compare", k["grids"], "--a", "gridcode", "--b",
                                                         "ward", "--pop", "pop"],
         ("no column 'gridcode'", "did you mean 'grid_code'", "--a")),
    Case("grids compare", "text in the --pop column", lambda k: ["grids", "compare", k["grids"], "--a", "grid_code",
                                                                 "--b", "ward", "--pop", "ward"],
         ("column 'ward' must hold a number", "rows 1 ('W1')")),
    Case("grids compare", "wrong layer", lambda k: ["grids", "compare", k["grids"], "--a", "grid_code", "--b", "ward",
                                                    "--pop", "pop", "--layer", "unit"],
         ("no layer 'unit'", "grids, units", "--layer")),
    Case("grids subdivide", "missing buildings file", lambda k: SUBDIVIDE(k)[:3] + [k["not_a_file"]] + SUBDIVIDE(k)[4:],
         ("file not found", "no_such_file.gpkg")),
    Case("grids subdivide", "wrong --code column", lambda k: SUBDIVIDE(k, "--code", "gridcode"),
         ("no column 'gridcode'", "did you mean 'grid_code'", "--code")),
    Case("grids subdivide", "wrong --building-pop column", lambda k: SUBDIVIDE(k, "--building-pop", "popp"),
         ("blocks.gpkg", "no column 'popp'", "--building-pop")),
    Case("grids subdivide", "min above max", lambda k: SUBDIVIDE(k, "--min", "700", "--max", "400"),
         ("[700, 400] is empty", "--min/--max")),
    Case("grids score", "weight on a --quantity", lambda k: SCORE(k, "--quantity", "pop=2"),
         ("'pop=2'", "grids balance", "column alone")),
    Case("grids score", "text --quantity column", lambda k: SCORE(k, "--quantity", "ward"),
         ("column 'ward' must hold a number", "rows 1 ('W1')")),
    Case("grids subdivide", "single-layer output (.shp)", lambda k: SUBDIVIDE(k)[:-2] + ["-o", k["out"].with_suffix(".shp")],
         ("out.shp", "several layers", "out.gpkg")),
    Case("grids balance", "--lock of a grid not in the plan", lambda k: BALANCE(k, "--quantity", "pop", "--lock", "NOPE"),
         ("--lock", "'NOPE'", "not in the plan")),
    Case("grids balance", "no --quantity", lambda k: BALANCE(k), ("--quantity", "housing_units=1")),
    Case("grids balance", "--quantity without a column", lambda k: BALANCE(k, "--quantity", "=1"),
         ("'=1'", "no column name")),
    Case("grids balance", "text --quantity column", lambda k: BALANCE(k, "--quantity", "ward"),
         ("column 'ward' must hold a number", "rows 1 ('W1')")),
    Case("grids balance", "single-layer output (.geojson)",
         lambda k: BALANCE(k, "--quantity", "pop")[:-4] + ["-o", k["out"].with_suffix(".geojson"), "--quantity", "pop"],
         ("several layers (units, tallies)", "out.gpkg")),
    Case("grids balance", "--offices naming a grid not in the plan",
         lambda k: BALANCE(k, "--quantity", "pop", "--offices", _offices(k, "offices_nope.gpkg", "NOPE"),
                           "--max-distance-m", "500"), ("--offices", "'NOPE'", "not in the plan")),
    Case("grids balance", "--network without --offices", lambda k: BALANCE(k, "--quantity", "pop", "--network",
                                                                             k["roads"]), ("--offices", "--network")),
    Case("grids balance", "--offices without --network or --max-distance-m",
         lambda k: BALANCE(k, "--quantity", "pop", "--offices", _offices(k, "offices.gpkg")),
         ("--max-distance-m", "--network")),
    Case("grids balance", "wrong --office-grid column",
         lambda k: BALANCE(k, "--quantity", "pop", "--offices", _offices(k, "offices.gpkg"), "--office-grid", "grid",
                           "--max-distance-m", "500"), ("no column 'grid'", "--office-grid")),
    Case("grids balance", "negative --max-travel-min",
         lambda k: BALANCE(k, "--quantity", "pop", "--offices", _offices(k, "offices.gpkg"), "--network", k["roads"],
                           "--max-travel-min", "-1"), ("--max-travel-min", "> 0", "-1")),
    Case("grids edit", "port out of range", lambda k: ["grids", "edit", k["grids"], "--pop", "pop", "--port", "99999"],
         ("--port", "65535", "99999")),
    Case("grids balance", "unknown --quantity column", lambda k: BALANCE(k, "--quantity", "houses=1"),
         ("no column 'houses'", "--quantity")),
    Case("grids balance", "weight that is not a number", lambda k: BALANCE(k, "--quantity", "pop=x"),
         ("--quantity", "COL=WEIGHT", "'pop=x'")),
    Case("grids balance", "negative weight", lambda k: BALANCE(k, "--quantity", "pop=-1"),
         ("weight of 'pop' must be a number >= 0", "--quantity")),
    Case("grids balance", "min above max", lambda k: BALANCE(k, "--quantity", "pop=1", "--min", "1200", "--max", "800"),
         ("[1200, 800] is empty", "--min/--max")),
    # grids edit serves the editor once its input is good: only refusals made before serving
    Case("grids edit", "missing file", lambda k: ["grids", "edit", k["not_a_file"], "--pop", "pop"],
         ("file not found", "no_such_file.gpkg")),
    Case("grids edit", "not a partition (no units layer)", lambda k: ["grids", "edit", k["blocks"], "--pop", "pop"],
         ("blocks.gpkg", "no 'units' layer", "gridtools partition")),
    Case("grids edit", "wrong --pop column", lambda k: ["grids", "edit", k["grids"], "--pop", "popp"],
         ("no column 'popp'", "did you mean 'pop'", "--pop")),
    Case("grids edit", "min above max", lambda k: ["grids", "edit", k["grids"], "--pop", "pop", "--min", "1500",
                                                   "--max", "1000"], ("[1500, 1000] is empty", "--min/--max")),
    # ---------------------------------------------------------------- dispatch check
    Case("dispatch check", "database that does not exist", lambda k: CHECK(k, "T1", db=k["missing_db"]),
         ("dispatch database not found", "no_such.db")),
    Case("dispatch check", "trip id that does not exist", lambda k: CHECK(k, "NOPE"), ("no trip 'NOPE'", "trips.db")),
    Case("dispatch check", "track with a time that is not a date",
         lambda k: CHECK(k, "T1", track=_track(k, "bad_time_track.csv", _set("time", [1], "soon"))),
         ("bad_time_track.csv", "column 'time'", "row 2", "soon")),
    Case("dispatch check", "wrong --time-column", lambda k: CHECK(k, "T1", "--time-column", "ts"),
         ("no time column 'ts'", "--time-column")),
]


def _trip_db(kit):
    """A dispatch database (no trips yet), as 'gridtools dispatch serve' makes it."""
    from gridtools.dispatch.store import TripStore

    path = kit["blocks"].parent / "trips.db"
    TripStore(str(path))
    return path


def _track(kit, name, change):
    """A GPS track along the kit's road network (lon/lat/time), changed by *change*."""
    frame = pd.DataFrame({"lon": [8.0, 8.01, 8.02], "lat": [49.0, 49.0, 49.0],
                          "time": ["2026-11-24 08:00", "2026-11-24 08:01", "2026-11-24 08:02"]})
    return derive(kit, name, change(frame))


def _trips(kit, name, change):
    return derive(kit, name, change(pd.read_csv(kit["trips"], dtype=str)))


def _typo_park(kit):
    import json

    park = json.loads(kit["park"].read_text())
    park["docks"][0]["capcity"] = park["docks"][0].pop("capacity")
    path = kit["park"].with_name("typo_park.json")
    path.write_text(json.dumps(park))
    return path


def _check_geocoded_swapped(kit, text):
    table = pd.read_csv(kit["out"].with_suffix(".csv"), dtype=str)
    assert (table["geocode_flag"].iloc[:10] == "swapped").all() and table["grid_code"].iloc[10:].notna().all()


def _check_deduped(kit, text):
    grids = gpd.read_file(kit["out"].with_suffix(".gpkg"), layer="grids")
    assert grids["population"].sum() == 16 * 300 and "duplicate units dropped" in text


def _check_events_deduped(kit, text):
    cells = gpd.read_file(kit["out"].with_suffix(".gpkg"), layer="cells")
    assert "1 rows repeated an earlier row's event_id and were dropped" in text
    assert "400 events in the study area (401 rows read)" in text and len(cells) > 0


def _zero_and_far(frame):
    frame = _set("lon", [2], "0")(_set("lat", [2], "0")(frame))
    return _set("lon", [5], str(float(frame["lon"][5]) + 0.5))(frame)          # ~36 km east of the district


def _check_zero_and_far_counted(kit, text):
    windows = gpd.read_file(kit["out"].with_suffix(".gpkg"), layer="windows")
    assert "1 events have no coordinates and were left out (row 3," in text
    assert "1 events lie far from all the others (bad coordinates?) and were left out (row 6," in text
    assert "398 events in the study area (400 rows read)" in text and windows["window_start"].nunique() == 12


def _check_refused_dock(kit, text):
    trips = gpd.read_file(kit["out"].with_suffix(".gpkg"))
    assert trips["status"].tolist() == ["assigned", "refused"]
    assert "1 of 2 trips refused" in text and "D9" in text


def _check_estimate(kit, text):
    assert "10 residents" in text and "all 16 buildings can house residents" in text


def _check_import_rerun(kit, text):
    from gridtools.incidents import IncidentStore

    with IncidentStore(str(kit["cases"])) as store:
        recorded = len(store.cases())
    assert "nothing added" in text and recorded == len(pd.read_csv(kit["events"])), (recorded, text)


OK_CASES: list[Case] = [
    Case("hotspots predict", "a sub-day run with one event at 0,0 and one far outside (counted, named, left out)",
         lambda k: PREDICT(k, _events(k, "zero_far.csv", _zero_and_far), "--horizon-hours", "2", "--windows", "12",
                           "--area", "hull")[:5] + ["--cutoff", "2025-05-01 06:00"] +
         PREDICT(k, k["events"], "--horizon-hours", "2", "--windows", "12", "--area", "hull")[7:],
         check=_check_zero_and_far_counted),
    Case("hotspots predict", "an event id on two rows with --dedupe (counted once, said so)",
         lambda k: PREDICT(k, _events(k, "dup_events.csv", _dup_rows), "--id", "event_id", "--dedupe"),
         check=_check_events_deduped),
    Case("incidents import", "the same file imported twice (adds nothing, says so)",
         lambda k: ["incidents", "import", k["cases"], k["events"], "--type", "type", "--time", "reported",
                    "--lon", "lon", "--lat", "lat", "--id", "event_id"], check=_check_import_rerun),
    Case("dispatch assign", "a trip to an unknown dock (refused, listed on the terminal)",
         lambda k: ASSIGN(k, _trips(k, "bad_dock.csv", _set("dock", [1], "D9")), "-o", k["out"].with_suffix(".gpkg")),
         check=_check_refused_dock),
    Case("population estimate", "footprints without tags", lambda k: ["population", "estimate", k["blocks"],
                                                                      "--total", "10", "-o",
                                                                      GPKG(k)],
         check=_check_estimate),
    Case("geocode", "ten rows with lon/lat swapped", lambda k: GEOCODE(k, _events(k, "swapped.csv", _swap)),
         check=_check_geocoded_swapped),
    Case("partition", "duplicated blocks with --dedupe",
         lambda k: PARTITION(k, "--dedupe")[:1] + [_blocks(k, "dup_blocks.gpkg", _dup_rows)] + PARTITION(k, "--dedupe")[2:],
         check=_check_deduped),
]
