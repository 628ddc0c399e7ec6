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


def dispatcher(center, who: dict, day: str | None = None, max_routes: int = 200, slot: str | None = None) -> str:
    """The dispatcher's page: routes and segment load on a map, the load table per segment and slot.

    Counts are the store's (every active trip, of one dock day when ``day`` is given), not the
    length of one page of trips.
    """
    import pandas as pd

    from gridtools.dispatch.store import ACTIVE
    from gridtools.maps import dispatch_map

    active = center.count(who, ACTIVE, day=day)
    trips = center.trips(who, ACTIVE, limit=max_routes, day=day)
    frames = [center.route_frame(who, t["id"]) for t in trips]
    routes = pd.concat(frames, ignore_index=True) if frames else None
    load = center.load_frame(day)
    m = dispatch_map(routes=routes, load=load, park=center.park, slot=slot)
    table = load.drop(columns=["geometry", "segment"]).sort_values(["ratio", "slot"], ascending=[False, True])
    over = int((load["load"] > load["capacity"]).sum()) if len(load) else 0
    shown = f" (routes of the first {len(trips)} on the map)" if len(trips) < active else ""
    head = Safe(f"<h2>{text(center.park.name)}: {active} active trips{text(shown)}, {len(load)} loaded "
                f"segment-slots, {over} over capacity" + (f", slot {text(slot)}" if slot else "") + "</h2>")
    return map_with(m, head, after=(Safe(table.head(500).to_html(index=False, classes="load", escape=True)),))
