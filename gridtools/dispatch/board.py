"""The dispatcher's board: the trips a dispatcher needs now, one line each, bounded and paged.

A month of operation leaves thousands of active trips in the store (booked days ahead, or never
reported as departed); drawing every route, or the first few hundred ever created, is what made
the dispatcher page run past its request timeout.  The board shows instead the trips on the road
or at the dock in a time window (default: now to ``settings.dispatch_board_hours`` ahead; or one
dock day, or one slot), earliest departure first, ``limit`` per page with the total, so the
work of a page is bounded whatever the size of the database.  Each trip is drawn as one line
(its route's road segments chained), built once per version of the trip and cached.

Examples
--------
>>> b = center.board(user)                                    # doctest: +SKIP
>>> b.total, len(b.trips), b.lines.geometry.iloc[0].geom_type   # doctest: +SKIP
(412, 100, 'LineString')
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from gridtools.errors import InputError

#: Trip fields a line of the board shows (the routes' blobs stay behind).
BOARD_FIELDS = ("id", "plate", "dock", "status", "departure", "dock_time")


@dataclass
class Board:
    """One page of the dispatcher's board.

    Attributes
    ----------
    start, end : datetime
        The window shown (park local time); for a ``day`` the day's bounds.
    day : str or None
        The dock day shown instead of a window.
    total : int
        Active trips in the window (all of them; ``trips`` is one page).
    offset, limit : int
        The page.
    trips : list of dict
        The page's trips, earliest departure first (rows of the store).
    lines : GeoDataFrame
        One line per trip of the page (``trip``, ``plate``, ``dock``, ``status``, ``departure``,
        ``dock_time``).
    overdue : int
        Active trips whose dock time is before the window: never reported as departed.
    """

    start: dt.datetime
    end: dt.datetime
    day: str | None
    total: int
    offset: int
    limit: int
    trips: list = field(repr=False)
    lines: object = field(repr=False)
    overdue: int = 0

    @property
    def more(self) -> int:
        """Trips of the window after this page."""
        return max(0, self.total - self.offset - len(self.trips))


class RouteLines:
    """One LineString per trip (lon/lat), cached by trip id and version.

    Parameters
    ----------
    network : RoadNetwork
        The network the trips were routed on.
    max_cached : int
        Lines kept; the cache is emptied when it grows past this (a line is rebuilt in well
        under a millisecond).

    Examples
    --------
    >>> lines = RouteLines(network)                       # doctest: +SKIP
    >>> lines.line(store.trip(trip_id)).length > 0        # doctest: +SKIP
    True
    """

    def __init__(self, network, max_cached: int = 20000):
        self.network = network
        self.max_cached = int(max_cached)
        self._cache: dict = {}

    def line(self, row: dict):
        """The trip's route as one line (its road segments chained, in driving order)."""
        import shapely

        hit = self._cache.get(row["id"])
        if hit is not None and hit[0] == row["updated"]:
            return hit[1]
        net = self.network
        arcs = np.frombuffer(row["arcs"], np.int64)
        arcs = arcs[(arcs < net.n_arcs)]
        arcs = arcs[net.arc_seg[arcs] >= 0]
        if len(arcs):
            xy = shapely.get_coordinates(net.segment_lines(net.arc_seg[arcs], net.arc_back[arcs]))
            keep = np.r_[True, np.any(xy[1:] != xy[:-1], axis=1)]  # each joint once
            xy = xy[keep]
        else:
            xy = np.zeros((0, 2))
        geom = shapely.LineString(xy) if len(xy) >= 2 else shapely.LineString()
        if len(self._cache) >= self.max_cached:
            self._cache.clear()
        self._cache[row["id"]] = (row["updated"], geom)
        return geom

    def frame(self, rows: list[dict]):
        """A GeoDataFrame of one line per trip of ``rows`` (trips without a drawable route left out)."""
        import geopandas as gpd

        geoms = [self.line(r) for r in rows]
        keep = [i for i, g in enumerate(geoms) if not g.is_empty]
        data = {("trip" if c == "id" else c): [str(rows[i][c])[:16] if c in ("departure", "dock_time")
                                                else rows[i][c] for i in keep] for c in BOARD_FIELDS}
        return gpd.GeoDataFrame(data, geometry=[geoms[i] for i in keep], crs="EPSG:4326")


def board_window(park, now: dt.datetime, hours: float | None = None, slot: str | None = None):
    """(start, end) of the board: one slot from ``slot``, else ``now`` to ``hours`` ahead
    (default ``settings.dispatch_board_hours``); trips at the dock in the slot before ``now``
    count as being in it.

    Examples
    --------
    >>> board_window(park, now)                  # doctest: +SKIP
    """
    from gridtools import settings

    if slot is not None:
        start = park.localize(slot)
        return start, start + dt.timedelta(seconds=park.slot_s)
    hours = settings.dispatch_board_hours if hours is None else float(hours)
    if not 0 < hours <= 48:
        raise InputError(f"hours must be above 0 and at most 48, got {hours:g}")
    return now - dt.timedelta(seconds=park.slot_s), now + dt.timedelta(hours=hours)


def build_board(store, park, lines: RouteLines, now: dt.datetime, *, hours=None, day=None, slot=None,
                limit: int = 100, offset: int = 0) -> Board:
    """One page of the board (see the module docstring); every query is bounded by ``limit``.

    Parameters
    ----------
    store : TripStore
    park : Park
    lines : RouteLines
    now : datetime
        The clock (aware).
    hours : float, optional
        Window length ahead of ``now``.
    day : str, optional
        ``"2026-11-24"``: the active trips docking that day instead of a window.
    slot : str, optional
        ``"2026-11-24T08:30"``: the trips on the road or at the dock in that slot.
    limit, offset : int
        The page.

    Returns
    -------
    Board
    """
    if day is not None:
        start = park.localize(f"{str(day)[:10]}T00:00")
        end = start + dt.timedelta(days=1)
    else:
        start, end = board_window(park, now, hours, slot)
    tz = park.tz  # stored times are park local ISO text: compare in the same offset
    s, e = start.astimezone(tz).isoformat(), end.astimezone(tz).isoformat()
    total = store.trips_between(s, e, day=day, count=True)
    rows = store.trips_between(s, e, limit=limit, offset=offset, day=day) if limit > 0 else []
    overdue = store.count_overdue((now - dt.timedelta(seconds=park.slot_s)).astimezone(tz).isoformat())
    return Board(start=start, end=end, day=day, total=total, offset=int(offset), limit=int(limit), trips=rows,
                 lines=lines.frame(rows), overdue=overdue)
