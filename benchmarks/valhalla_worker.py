"""Run Valhalla truck routes for bench_routing_valhalla.py (started with a Python that has pyvalhalla).

pyvalhalla's wheels need Python >= 3.12 (cp312-abi3) while gridtools' environment may be older, so
the benchmark starts this script with another interpreter and exchanges JSON over stdin / stdout.

Input (stdin): {"config": path to valhalla.json, "truck": {...costing options}, "pairs": [[lon, lat, lon, lat], ...],
"repeat": passes over the pairs (the fastest time of each pair is kept; default 1)}
Output (stdout): one JSON object per pair: status, ms, way ids in order, the first and last shape points
(``snapped``, lon/lat at Valhalla's 1e-6 degree precision), snap distances (m), length (km).
"""

import json
import math
import sys
import time


def decode(encoded: str, precision: int = 6):
    """Points of a Valhalla encoded polyline (lon, lat)."""
    coords, index, lat, lon = [], 0, 0, 0
    factor = 10 ** precision
    while index < len(encoded):
        for which in (0, 1):
            shift = result = 0
            while True:
                b = ord(encoded[index]) - 63
                index += 1
                result |= (b & 0x1F) << shift
                shift += 5
                if b < 0x20:
                    break
            delta = ~(result >> 1) if result & 1 else result >> 1
            if which == 0:
                lat += delta
            else:
                lon += delta
        coords.append((lon / factor, lat / factor))
    return coords


def metres(a, b):
    lat = math.radians((a[1] + b[1]) / 2)
    return math.hypot((a[0] - b[0]) * 111320 * math.cos(lat), (a[1] - b[1]) * 110540)


def main():
    import valhalla

    job = json.load(sys.stdin)
    actor = valhalla.Actor(job["config"])
    costing = {"truck": job["truck"]}
    rows = [route(actor, costing, *pair) for pair in job["pairs"]]
    for _ in range(job.get("repeat", 1) - 1):  # further passes over every pair: the fastest time of each
        for row, pair in zip(rows, job["pairs"]):
            row["ms"] = min(row["ms"], timed(actor, costing, *pair))
    for row in rows:
        print(json.dumps(row))


def request(costing, lon0, lat0, lon1, lat1) -> dict:
    return {"locations": [{"lon": lon0, "lat": lat0}, {"lon": lon1, "lat": lat1}], "costing": "truck",
            "costing_options": costing, "directions_type": "none"}


def timed(actor, costing, *pair) -> float:
    """Milliseconds of one route request (a refusal included)."""
    t0 = time.perf_counter()
    try:
        actor.route(request(costing, *pair))
    except Exception:  # valhalla raises on "no path" and "no suitable edges near location"
        pass
    return (time.perf_counter() - t0) * 1000


def route(actor, costing, lon0, lat0, lon1, lat1) -> dict:
    """One pair's row: status, ms, way ids, snapped end points, snap distances, length."""
    t0 = time.perf_counter()
    try:
        res = actor.route(request(costing, lon0, lat0, lon1, lat1))
        ms = (time.perf_counter() - t0) * 1000
    except Exception as exc:  # valhalla raises on "no path" and "no suitable edges near location"
        return {"status": "refused", "ms": (time.perf_counter() - t0) * 1000, "why": str(exc)[:200]}
    res = json.loads(res) if isinstance(res, str) else res
    shape = res["trip"]["legs"][0]["shape"]
    pts = decode(shape)
    ways = []
    try:
        attrs = actor.trace_attributes({"encoded_polyline": shape, "shape_match": "edge_walk", "costing": "truck",
                                        "costing_options": costing,
                                        "filters": {"attributes": ["edge.way_id"], "action": "include"}})
        attrs = json.loads(attrs) if isinstance(attrs, str) else attrs
        for e in attrs.get("edges", []):
            if not ways or ways[-1] != e["way_id"]:
                ways.append(e["way_id"])
    except Exception:
        ways = None
    return {"status": "routed", "ms": ms, "ways": ways, "snapped": [pts[0], pts[-1]],
            "snap_m": [metres((lon0, lat0), pts[0]), metres((lon1, lat1), pts[-1])],
            "length_km": res["trip"]["summary"]["length"]}


if __name__ == "__main__":
    main()
