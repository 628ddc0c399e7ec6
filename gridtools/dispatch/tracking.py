"""GPS positions a driver's app posts for its trip, and the trip's route compliance kept up to date.

A batch of fixes (time, lon, lat, optional accuracy; WGS-84 or GCJ-02 as Chinese phone maps
give) is checked, stored keyed by (trip, time) so a re-sent batch adds nothing, and the whole
track so far is compared with the trip's assigned route by :func:`gridtools.dispatch.checks.check_trip`
(:func:`gridtools.routing.check_route`).  The latest figures (share on the route, off-route
stretches, whether the truck is off its route *now*, its last position) are stored per trip, so
the dispatcher's view lists off-route trucks without recomputing anything.

Examples
--------
>>> record_positions(store, network, park, trip, [{"time": "2026-11-24T08:01:05", "lon": 121.48,
...                  "lat": 31.23}], now=now)                                  # doctest: +SKIP
{'accepted': 1, 'duplicates': 0, 'fixes': 1, 'off_route_now': False, ...}
"""

from __future__ import annotations

import datetime as dt
import json
import math

from gridtools.errors import InputError

#: Accepted spellings of the fixes' coordinate system.
CRS_NAMES = {"wgs84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84", "gcj02": "gcj02", "gcj-02": "gcj02"}
#: A fix may be stamped at most this far ahead of the server's clock (phone clocks drift).
FUTURE_SLACK = dt.timedelta(minutes=5)


def parse_fixes(fixes, park, now: dt.datetime, crs: str = "wgs84", not_before: dt.datetime | None = None):
    """Checked fixes as ``(time ISO in park local time, lon, lat, accuracy_m)`` in WGS-84.

    Parameters
    ----------
    fixes : list of dict
        ``time`` (ISO 8601; without an offset: park local time), ``lon``, ``lat``, optional
        ``accuracy_m``.
    park : Park
    now : datetime
        The server's clock: fixes more than :data:`FUTURE_SLACK` ahead are refused.
    crs : {"wgs84", "gcj02"}
    not_before : datetime, optional
        Refuse fixes earlier than this (a day before the trip's departure).

    Raises
    ------
    InputError
        Naming the first bad fix (its index), what is wrong and what to send instead.

    Examples
    --------
    >>> parse_fixes([{"time": "2026-11-24T08:00:05+08:00", "lon": 121.5, "lat": 31.2}], park, now)  # doctest: +SKIP
    [('2026-11-24T08:00:05+08:00', 121.5, 31.2, None)]
    """
    from gridtools import settings
    from gridtools.coords import convert

    datum = CRS_NAMES.get(str(crs).strip().lower())
    if datum is None:
        raise InputError(f"crs must be one of wgs84 (EPSG:4326) or gcj02, got {crs!r}")
    if not fixes:
        raise InputError("send at least one fix: {\"fixes\": [{\"time\": ..., \"lon\": ..., \"lat\": ...}]}")
    if len(fixes) > settings.dispatch_max_fixes_per_batch:
        raise InputError(f"{len(fixes)} fixes in one batch; at most {settings.dispatch_max_fixes_per_batch} "
                         f"(settings.dispatch_max_fixes_per_batch): send them in several batches")
    out = []
    for k, f in enumerate(fixes):
        lon, lat, acc = f.get("lon"), f.get("lat"), f.get("accuracy_m")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (lon, lat)) or \
                not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InputError(f"fix {k}: lon/lat must be numbers in degrees (-180..180, -90..90), got {lon!r}, {lat!r}")
        if acc is not None and not (isinstance(acc, (int, float)) and math.isfinite(acc) and acc >= 0):
            raise InputError(f"fix {k}: accuracy_m must be a number of metres >= 0, got {acc!r}")
        try:
            when = park.localize(str(f.get("time"))).astimezone(park.tz)
        except InputError as exc:
            raise InputError(f"fix {k}: {exc}") from None
        if when > now + FUTURE_SLACK:
            raise InputError(f"fix {k} is stamped {when.isoformat(timespec='seconds')}, after the server's clock "
                             f"({now.isoformat(timespec='seconds')}); check the phone's clock")
        if not_before is not None and when < not_before:
            raise InputError(f"fix {k} is stamped {when.isoformat(timespec='seconds')}, more than a day before "
                             "the trip's departure; is it from another trip?")
        out.append([when.isoformat(timespec="milliseconds"), float(lon), float(lat),
                    None if acc is None else float(acc)])
    if datum == "gcj02":
        xs, ys = convert([o[1] for o in out], [o[2] for o in out], "gcj02", "EPSG:4326")
        for o, x, y in zip(out, xs, ys):
            o[1], o[2] = float(x), float(y)
    return [tuple(o) for o in out]


def track_frame(rows: list[dict]):
    """Stored fixes as the point GeoDataFrame :func:`gridtools.routing.check_route` reads."""
    import geopandas as gpd
    import pandas as pd

    return gpd.GeoDataFrame({"time": pd.to_datetime([r["time"] for r in rows], utc=True)},
                            geometry=gpd.points_from_xy([r["lon"] for r in rows], [r["lat"] for r in rows]),
                            crs="EPSG:4326")


def check_values(report) -> dict:
    """The ``trip_checks`` columns of a :class:`gridtools.routing.Compliance` report."""
    pts = report.points
    last = pts.iloc[-1]
    summary = report.summary
    off = report.off_route
    return {"fixes": len(pts), "on_route_share": float(report.on_route_share),
            "off_route_now": int(bool(last["off_route"])), "off_route_stretches": len(off),
            "off_route_m": float(sum(o["length_m"] for o in off)),
            "max_off_m": float(max((o["max_off_m"] for o in off), default=0.0)),
            "last_time": str(last["time"]), "last_lon": float(last["lon"]), "last_lat": float(last["lat"]),
            "summary": json.dumps({**summary, "off_route": [{k: str(v) if k in ("start", "end") else v
                                                              for k, v in o.items()} for o in off]},
                                  default=str)}


def record_positions(store, network, park, trip: dict, fixes, *, now: dt.datetime, crs: str = "wgs84") -> dict:
    """Store a batch of fixes of an active trip and update its compliance.

    Parameters
    ----------
    store : TripStore
    network : RoadNetwork
    park : Park
    trip : dict
        The trip's row (the caller has checked the driver may post for it).
    fixes : list of dict
        See :func:`parse_fixes`.
    now : datetime
    crs : {"wgs84", "gcj02"}

    Returns
    -------
    dict
        ``accepted`` (new fixes), ``duplicates`` (already stored), ``fixes`` (stored for the trip),
        ``off_route_now``, ``compliance`` (the summary; None until 2 fixes are stored).
    """
    from gridtools import settings
    from gridtools.dispatch.checks import check_trip

    departure = dt.datetime.fromisoformat(trip["departure"])
    parsed = parse_fixes(fixes, park, now, crs, not_before=departure - dt.timedelta(days=1))
    trip_id = trip["id"]
    with store.transaction() as con:
        stored = store.position_count(trip_id, con)
        if stored + len(parsed) > settings.dispatch_max_fixes_per_trip:
            raise InputError(f"trip {trip_id} has {stored} fixes stored; at most "
                             f"{settings.dispatch_max_fixes_per_trip} per trip (settings.dispatch_max_fixes_per_trip)")
        accepted = store.add_positions(con, trip_id, parsed)
    rows = store.positions(trip_id)
    out = {"trip": trip_id, "accepted": accepted, "duplicates": len(parsed) - accepted, "fixes": len(rows),
           "off_route_now": False, "compliance": None}
    known = store.check(trip_id)
    if accepted == 0 and known is not None and known["fixes"] == len(rows):  # a re-sent batch: nothing new
        summary = json.loads(known["summary"])
        summary.pop("off_route", None)
        return {**out, "off_route_now": bool(known["off_route_now"]), "compliance": summary}
    if len(rows) < 2:
        return out
    report = check_trip(store, network, park, trip_id, track_frame(rows))
    values = check_values(report)
    with store.transaction() as con:
        store.save_check(con, trip_id, values)
    out.update(off_route_now=bool(values["off_route_now"]), compliance=report.summary)
    return out
