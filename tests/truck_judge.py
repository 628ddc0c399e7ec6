"""An independent judge of OSM ways for a truck: read raw tags with osmium, decide without gridtools.

Used by the Valhalla comparison (benchmarks/bench_routing_valhalla.py) to count the ways either
engine drove that the truck may not use.  Only unconditional tags are judged (neither engine is
given a departure time there).

Examples
--------
>>> why_closed({"hgv": "no"})
'hgv=no'
>>> why_closed({"maxheight": "3.8"}, height=4.2)
'maxheight=3.8'
>>> why_closed({"hgv:backward": "no"}) is None, why_closed_one_way({"hgv:backward": "no"})
(True, 'hgv:backward=no')
"""

from __future__ import annotations

import re

#: access values that close a way to a truck that is not on official business, farming, a bus...
CLOSED = frozenset({"no", "private", "official", "agricultural", "forestry", "psv", "bus", "emergency",
                    "military", "use_sidepath"})
KEYS = ("access", "vehicle", "motor_vehicle", "hgv")


def way_tags(path) -> dict:
    """{way id: {key: value}} for every way of an OSM file."""
    import osmium

    return {w.id: {t.k: t.v for t in w.tags} for w in osmium.FileProcessor(str(path), osmium.osm.WAY)}


def _number(value: str) -> float | None:
    m = re.match(r"^\s*(\d+)\s*'\s*(\d+)?", value)
    if m:
        return int(m.group(1)) * 0.3048 + int(m.group(2) or 0) * 0.0254
    m = re.match(r"^\s*([\d.,]+)\s*(t|m)?\s*$", value)
    return float(m.group(1).replace(",", ".")) if m else None


def why_closed(tags: dict, weight=40.0, height=4.2, width=2.6, length=16.5) -> str | None:
    """Why the truck may not use the way in either direction (None: it may, at least in one)."""
    decided = None
    for key in KEYS:  # the most specific key present decides
        if key in tags:
            decided = (key, tags[key])
    if decided and decided[1] in CLOSED:
        return f"{decided[0]}={decided[1]}"
    for key, have in (("maxweight", weight), ("maxheight", height), ("maxheight:physical", height),
                      ("maxwidth", width), ("maxlength", length)):
        limit = _number(tags[key]) if key in tags else None
        if limit is not None and have > limit:
            return f"{key}={tags[key]}"
    return None


def why_closed_one_way(tags: dict) -> str | None:
    """A ``KEY:forward`` / ``KEY:backward`` closure (closed in one direction only)."""
    for key in KEYS:
        for side in ("forward", "backward"):
            value = tags.get(f"{key}:{side}")
            if value in CLOSED:
                return f"{key}:{side}={value}"
    return None


#: highway values either engine may drive (the judge's own list, not gridtools').
DRIVABLE = frozenset({"motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
                      "secondary_link", "tertiary", "tertiary_link", "unclassified", "residential", "living_street",
                      "service", "road", "track"})


def main_ways(path, **dims) -> set:
    """Way ids of the truck's *main network*: every node in the largest strongly connected part of the open ways.

    Open: drivable ``highway`` and :func:`why_closed` None; directions from ``oneway`` (``yes`` /
    ``-1``; motorways and roundabouts one-way unless ``oneway=no``).  A way with a node outside
    that part lies in a *pocket* (or a clipped fragment): public streets the truck cannot leave, or
    reach, without a closed way.

    Examples
    --------
    >>> "main" and main_ways  # doctest: +SKIP
    """
    import numpy as np
    import osmium
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    ways, index, tails, heads = [], {}, [], []
    for w in osmium.FileProcessor(str(path), osmium.osm.WAY):
        tags = {t.k: t.v for t in w.tags}
        if tags.get("highway") not in DRIVABLE or why_closed(tags, **dims):
            continue
        refs = [index.setdefault(n.ref, len(index)) for n in w.nodes]
        ways.append((w.id, refs))
        oneway = tags.get("oneway", "")
        implied = tags.get("highway") == "motorway" or tags.get("junction") in ("roundabout", "circular")
        forward = oneway not in ("-1", "reverse")
        backward = oneway in ("no", "-1", "reverse") or (oneway not in ("yes", "true", "1") and not implied)
        for a, b in zip(refs, refs[1:]):
            if forward:
                tails.append(a), heads.append(b)
            if backward:
                tails.append(b), heads.append(a)
    if not index:
        return set()
    n = len(index)
    graph = csr_matrix((np.ones(len(tails)), (tails, heads)), shape=(n, n))
    _, label = connected_components(graph, directed=True, connection="strong")
    main = label == np.bincount(label).argmax()
    return {wid for wid, refs in ways if main[refs].all()}


def end_stretches(ways, closed, main) -> tuple[set, set]:
    """Positions of closed ways at a route's start / end stretch; the other closed positions are mid-route.

    A closed way belongs to the start stretch when no main-network way comes before it (it connects
    the origin, or the pocket the origin lies in, to the main network), to the end stretch when none
    comes after it.

    Examples
    --------
    >>> end_stretches([1, 2, 3, 4], [False, True, False, True], main={3})
    ({1}, {3})
    >>> end_stretches([1, 2, 3], [False, True, False], main={1, 3})
    (set(), set())
    """
    on_main = [w in main for w in ways]
    first = on_main.index(True) if any(on_main) else len(ways)
    last = len(ways) - 1 - on_main[::-1].index(True) if any(on_main) else -1
    start = {i for i in range(first) if closed[i]}
    end = {i for i in range(last + 1, len(ways)) if closed[i]}
    return start, end
