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
