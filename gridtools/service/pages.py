"""HTML pages of the services, escaped by construction and complete offline.

Every page goes through :func:`page`: its parts are either :class:`Safe` (HTML that gridtools
built: a map, a table from ``DataFrame.to_html``, which escapes its cells) or anything else, which
is HTML-escaped on the way in.  So a user field (a plate, a cargo text, a road name) can only
reach a page as text.  Maps are plain Leaflet pages with the vendored assets inlined
(:func:`gridtools.maps.map_page` with ``offline=True``): no CDN, no notebook iframe.

Examples
--------
>>> page("trip", "<b>x</b>", Safe("<p>ok</p>"))[-43:]
'&lt;b&gt;x&lt;/b&gt;<p>ok</p></body></html>'
"""

from __future__ import annotations

import html


class Safe(str):
    """HTML that gridtools built itself and that :func:`page` inserts as it is."""


def text(value) -> Safe:
    """``value`` as escaped HTML text (``None`` -> empty).

    Examples
    --------
    >>> text("<img src=x onerror=alert(7)>")
    '&lt;img src=x onerror=alert(7)&gt;'
    """
    return value if isinstance(value, Safe) else Safe(html.escape("" if value is None else str(value)))


def page(title: str, *parts, head: str = "") -> str:
    """A whole HTML page: ``title`` and ``parts`` escaped unless :class:`Safe`.

    Parameters
    ----------
    title : str
    *parts : str or Safe
    head : str
        Extra trusted markup for ``<head>`` (styles).

    Examples
    --------
    >>> "<title>a&amp;b</title>" in page("a&b")
    True
    """
    body = "".join(text(p) for p in parts)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{text(title)}</title>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>{head}</head>"
            f"<body style='font-family:sans-serif;margin:0'>{body}</body></html>")


def map_with(m, *before, after=()) -> str:
    """An offline Leaflet page of the folium map ``m`` with escaped ``before`` parts above it and
    ``after`` parts below (the map keeps 60 % of the window's height).

    Examples
    --------
    >>> from gridtools.maps import new_map
    >>> out = map_with(new_map(tiles=None), "<x>")
    >>> "&lt;x&gt;" in out and '<script src="http' not in out
    True
    """
    from gridtools.maps import map_page

    full, _ = map_page(m, offline=True)
    top = "".join(text(p) for p in before)
    bottom = "".join(text(p) for p in after)
    if not top and not bottom:
        return full
    style = "<style>.folium-map{height:60vh !important;position:relative !important}</style>"
    start = full.index("<body>") + len("<body>") if "<body>" in full else 0
    end = full.rindex("</body>") if "</body>" in full else len(full)
    return full[:start] + style + top + full[start:end] + bottom + full[end:]


def trip_map(center, who: dict, trip_id: str) -> str:
    """The driver's map of one trip (route with expected times, the park's places)."""
    from gridtools.maps import dispatch_map

    return map_with(dispatch_map(routes=center.route_frame(who, trip_id), park=center.park))


def dispatcher(center, who: dict, day: str | None = None, max_routes: int = 100, slot: str | None = None,
               hours: float | None = None, offset: int = 0) -> str:
    """The dispatcher's page: the trips on the road or at the dock now (one line each, paged), the
    load per segment in the same window on a map, and the load table.

    The window is now to ``hours`` ahead (default ``settings.dispatch_board_hours``), or one dock
    ``day``, or one ``slot``; ``max_routes`` trips per page from ``offset``, with how many more
    there are and a link to the next page.  The work is bounded by the page, not by the size of
    the database (:meth:`gridtools.dispatch.DispatchCenter.board`).  In two steps, so that a
    service can run the second in a worker process: :func:`dispatcher_data` (queries, lines,
    loads) and :func:`render_dispatcher` (the HTML).
    """
    return render_dispatcher(dispatcher_data(center, who, day, max_routes, slot, hours, offset))


def dispatcher_data(center, who: dict, day: str | None = None, max_routes: int = 100, slot: str | None = None,
                    hours: float | None = None, offset: int = 0) -> dict:
    """What :func:`render_dispatcher` draws, as plain data that pickles (see :func:`dispatcher`)."""
    from gridtools.dispatch.board import BOARD_FIELDS
    from gridtools.dispatch.store import ACTIVE

    b = center.board(who, hours=hours, day=day, slot=slot, limit=max_routes, offset=offset)
    b.trips = [{k: r[k] for k in BOARD_FIELDS} for r in b.trips]
    load = center.load_frame(day)
    if day is None and len(load):  # the load in the board's window (the map's peak is over these slots)
        lo, hi = (t.astimezone(center.park.tz).isoformat(timespec="minutes") for t in (b.start, b.end))
        load = load[(load["slot_start"] >= lo) & (load["slot_start"] < hi)]
    return {"board": b, "active": center.count(who, ACTIVE), "load": load, "park": center.park, "day": day,
            "slot": slot, "hours": hours, "off_route": center.off_route(who, limit=max(max_routes, 50))}


def render_dispatcher(data: dict) -> str:
    """The HTML of the dispatcher's page from :func:`dispatcher_data` (pure: runs in any process)."""
    from gridtools.maps import dispatch_map, new_map

    b, load, park, slot = data["board"], data["load"], data["park"], data["slot"]
    off = data.get("off_route") or []
    m = new_map(None)
    if off:  # before dispatch_map: it closes the map with the layer control
        _off_route_layer(m, off)
    m = dispatch_map(routes=b.lines if len(b.lines) else None, load=load, park=park, slot=slot, m=m)
    table = load.drop(columns=["geometry", "segment"]).sort_values(["ratio", "slot"], ascending=[False, True])
    over = int((load["load"] > load["capacity"]).sum()) if len(load) else 0
    head = _board_head(park, b, data["active"], f"{len(load)} loaded segment-slots, {over} over capacity", slot)
    return map_with(m, head, _off_route_list(off), _board_pager(b, data["day"], slot, data["hours"]),
                    after=(Safe("<h3>Trips on this page</h3>"), _board_table(b),
                           Safe("<h3>Load per segment and slot</h3>"),
                           Safe(table.head(500).to_html(index=False, classes="load", escape=True))))


def _board_head(park, b, active: int, load: str, slot) -> Safe:
    end = f"{b.end:%H:%M}" if b.end.date() == b.start.date() else f"{b.end:%Y-%m-%d %H:%M}"
    what = f"docking on {b.day}" if b.day else f"on the road or at the dock {b.start:%Y-%m-%d %H:%M} to {end}"
    shown = (f", trips {b.offset + 1}-{b.offset + len(b.trips)} on the map" if b.trips else "") + \
        (f", {b.more} more" if b.more else "")
    stale = f"; {b.overdue} past their dock time and never reported departed" if b.overdue else ""
    return Safe(f"<h2>{text(park.name)}: {active} active trips; {b.total} {text(what)}{text(shown)}; "
                f"{text(load)}" + (f", slot {text(slot)}" if slot else "") +
                f"{text(stale)}</h2>")


def _board_pager(b, day, slot, hours) -> Safe:
    """Links to the previous and next page of the board (query values escaped)."""
    from urllib.parse import urlencode

    keep = {k: v for k, v in (("day", day), ("slot", slot), ("hours", hours), ("max_routes", b.limit))
            if v is not None}
    links = []
    if b.offset > 0:
        links.append(f"<a id='prev' href='?{text(urlencode({**keep, 'offset': max(0, b.offset - b.limit)}))}'>"
                     f"previous {b.limit}</a>")
    if b.more:
        links.append(f"<a id='next' href='?{text(urlencode({**keep, 'offset': b.offset + len(b.trips)}))}'>"
                     f"next {min(b.limit, b.more)} of {b.more} more</a>")
    return Safe("<p>" + " · ".join(links) + "</p>") if links else Safe("")


def _board_table(b) -> Safe:
    import pandas as pd

    from gridtools.dispatch.board import BOARD_FIELDS

    cols = list(BOARD_FIELDS)
    frame = pd.DataFrame([{c: (str(r[c])[:16] if c in ("departure", "dock_time") else r[c]) for c in cols}
                          for r in b.trips], columns=cols)
    return Safe(frame.to_html(index=False, classes="trips", escape=True))


def _off_route_list(off: list[dict]) -> Safe:
    """The trucks off their assigned route now (from their GPS positions), escaped."""
    import pandas as pd

    if not off:
        return Safe("<p id='off-route'>No truck is off its assigned route.</p>")
    cols = {"plate": "plate", "trip_id": "trip", "dock": "dock", "last_time": "last fix", "off_route_m": "off route m",
            "max_off_m": "farthest m", "on_route_share": "share on route"}
    frame = pd.DataFrame(off)[list(cols)].rename(columns=cols)
    frame["last fix"] = frame["last fix"].astype(str).str[:19]
    frame[["off route m", "farthest m"]] = frame[["off route m", "farthest m"]].round(0)
    frame["share on route"] = frame["share on route"].round(3)
    return Safe(f"<div id='off-route'><h3 style='color:#b00'>{len(off)} truck(s) off their assigned route</h3>"
                + frame.to_html(index=False, classes="off-route", escape=True) + "</div>")


def _off_route_layer(m, off: list[dict]) -> None:
    """Each off-route truck's last position on the map (a red ring; tooltip escaped: folium sets innerHTML)."""
    import folium

    layer = folium.FeatureGroup(name=f"Off route ({len(off)})")
    for r in off:
        tip = html.escape(f"OFF ROUTE {r['plate']} (trip {r['trip_id']}): {r['off_route_m']:.0f} m off route, "
                          f"last fix {str(r['last_time'])[:19]}")
        folium.CircleMarker([r["last_lat"], r["last_lon"]], radius=11, color="#d00000", weight=4, fill=True,
                            fill_color="#ffdd00", fill_opacity=0.9, tooltip=tip, class_name="off-route",
                            pane="markerPane").add_to(layer)  # above the route lines
    layer.add_to(m)
