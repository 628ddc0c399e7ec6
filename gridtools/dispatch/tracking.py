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
import threading
from contextlib import contextmanager

import numpy as np

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
    return {"fixes": summary["fixes"], "on_route_share": float(report.on_route_share),
            "off_route_now": int(bool(last["off_route"])), "off_route_stretches": len(off),
            "off_route_m": float(sum(o["length_m"] for o in off)),
            "max_off_m": float(max((o["max_off_m"] for o in off), default=0.0)),
            "last_time": str(last["time"]), "last_lon": float(last["lon"]), "last_lat": float(last["lat"]),
            "summary": json.dumps({**summary, "off_route": [{k: str(v) if k in ("start", "end") else v
                                                              for k, v in o.items()} for o in off]},
                                  default=str)}


def fix_ms(times) -> np.ndarray:
    """ISO times (as stored) as milliseconds since 1970, UTC (what :class:`LiveCheck` keeps)."""
    import pandas as pd

    return pd.to_datetime(list(times), utc=True, format="ISO8601").as_unit("ms").asi8.astype(np.int64)


@contextmanager
def _trip_lock(trip_id: str):
    """Hold the trip's lock: two batches of one trip are matched one after the other (the state is
    one chain).  A lock lives only while some batch of its trip holds or waits for it, so a
    service that sees thousands of trips a day keeps none of theirs."""
    with _LOCKS_GUARD:
        entry = _LOCKS.setdefault(trip_id, [threading.Lock(), 0])
        entry[1] += 1
    try:
        with entry[0]:
            yield
    finally:
        with _LOCKS_GUARD:
            entry[1] -= 1
            if entry[1] == 0:
                del _LOCKS[trip_id]


_LOCKS: dict[str, list] = {}  # trip id -> [lock, batches holding or waiting for it]
_LOCKS_GUARD = threading.Lock()


def live_check(store, network, trip_id: str, batch_times=(), full: bool = False):
    """The trip's :class:`~gridtools.routing.compliance_live.LiveCheck` brought up to the stored fixes.

    With a kept state that holds every stored fix older than the first new fix of this batch
    (``batch_times``: the batch's times as stored; the ones the state already holds are re-sent),
    only the fixes from there on are matched (plus the overlap).  Otherwise (``full``, no state, a
    state of another route or version, fixes stored by another process meanwhile) the whole
    track is matched again.  Returns (LiveCheck, rebuilt).
    """
    from gridtools.dispatch.checks import trip_route
    from gridtools.routing.compliance_live import LiveCheck

    route = trip_route(store, network, trip_id)
    kept = None if full else store.track_state(trip_id)
    live = LiveCheck.from_bytes(route, kept["state"]) if kept else None
    if live is not None:
        times = list(batch_times)
        ms = fix_ms(times) if times else np.zeros(0, np.int64)
        new = ~np.isin(ms, live.ms)
        if not new.any():  # nothing of this batch is new to the state: it is up to date if the counts agree
            if len(live) == store.position_count(trip_id):
                live.matched_last = 0
                return live, False
        else:
            first = int(np.flatnonzero(new)[np.argmin(ms[new])])
            rows = store.positions(trip_id, since=times[first])
            older = store.position_count(trip_id) - len(rows)
            before = live.frozen["dropped"] + int(np.searchsorted(live.ms, ms[first], "left"))
            if before == older and live.covers(int(ms[first])):  # the same fixes before the batch, not frozen
                live.update(fix_ms(r["time"] for r in rows), [r["lon"] for r in rows], [r["lat"] for r in rows])
                return live, False
    rows = store.positions(trip_id)
    live = LiveCheck(route)
    live.update(fix_ms(r["time"] for r in rows), [r["lon"] for r in rows], [r["lat"] for r in rows])
    return live, True


def update_check(store, network, park, trip_id: str, batch_times=(), full: bool = False):
    """Match what is new of a trip's track, store its figures and kept state; returns (Compliance, info).

    ``info``: ``matched`` (fixes put through the map matcher now) and ``rebuilt`` (the whole track).
    None as the report when fewer than 2 fixes are stored.
    """
    from gridtools.dispatch.checks import parking_place

    with _trip_lock(trip_id):
        live, rebuilt = live_check(store, network, trip_id, batch_times, full=full)
        if len(live) < 2:
            return None, {"matched": live.matched_last, "rebuilt": rebuilt}
        report = live.report(parking=parking_place(store, park, trip_id))
        values = check_values(report)
        with store.transaction() as con:
            store.save_check(con, trip_id, values)
            store.save_track_state(con, trip_id, len(live), live.to_bytes())
    return report, {"matched": live.matched_last, "rebuilt": rebuilt}


def record_positions(store, network, park, trip: dict, fixes, *, now: dt.datetime, crs: str = "wgs84",
                     full: bool = False) -> dict:
    """Store a batch of fixes of an active trip and update its compliance.

    Only the new fixes are map-matched (with a short overlap of the ones before, see
    :mod:`gridtools.routing.compliance_live`), so a batch costs the same at the trip's first fix
    and at its 20,000th; the per-fix matches are kept in the store beside the figures.

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
    full : bool
        Match the whole track again (what every batch did before the state was kept; for
        comparison and repairs).

    Returns
    -------
    dict
        ``accepted`` (new fixes), ``duplicates`` (already stored), ``fixes`` (stored for the trip),
        ``off_route_now``, ``compliance`` (the summary; None until 2 fixes are stored), ``matched``
        (fixes put through the map matcher for this batch).

    Examples
    --------
    >>> record_positions(store, net, park, trip, [{"time": "2026-11-24T08:01:05", "lon": 121.48,
    ...                  "lat": 31.23}], now=now)["accepted"]                      # doctest: +SKIP
    1
    """
    from gridtools import settings

    departure = dt.datetime.fromisoformat(trip["departure"])
    parsed = parse_fixes(fixes, park, now, crs, not_before=departure - dt.timedelta(days=1))
    trip_id = trip["id"]
    with store.transaction() as con:
        stored = store.position_count(trip_id, con)
        if stored + len(parsed) > settings.dispatch_max_fixes_per_trip:
            raise InputError(f"trip {trip_id} has {stored} fixes stored; at most "
                             f"{settings.dispatch_max_fixes_per_trip} per trip (settings.dispatch_max_fixes_per_trip)")
        accepted = store.add_positions(con, trip_id, parsed, before=stored)
    count = stored + accepted
    out = {"trip": trip_id, "accepted": accepted, "duplicates": len(parsed) - accepted, "fixes": count,
           "off_route_now": False, "compliance": None, "matched": 0}
    known = store.check(trip_id)
    if accepted == 0 and known is not None and known["fixes"] == count and not full:  # re-sent: nothing new
        summary = json.loads(known["summary"])
        summary.pop("off_route", None)
        return {**out, "off_route_now": bool(known["off_route_now"]), "compliance": summary}
    if count < 2:
        return out
    report, info = update_check(store, network, park, trip_id, batch_times=[p[0] for p in parsed], full=full)
    if report is None:
        return {**out, "matched": info["matched"]}
    out.update(off_route_now=bool(report.points["off_route"].iloc[-1]), compliance=report.summary,
               matched=info["matched"], fixes=report.summary["fixes"])
    return out
