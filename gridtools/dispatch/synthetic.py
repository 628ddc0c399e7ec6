"""Synthetic parks and days of truck requests on a real road network (benchmarks, tests, demos)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from gridtools.dispatch.park import Park, park_from_dict
from gridtools.routing import truck


def synthetic_park(network, n_gates: int = 4, n_docks: int = 12, dock_capacity: int = 3, n_waiting: int = 3,
                   waiting_capacity: int = 15, slot_minutes: int = 30, segment_capacity: int = 4,
                   timezone: str = "UTC", seed: int = 0) -> Park:
    """A park on ``network``: gates on the network's edge (one per compass sector), docks and
    waiting areas at nodes in its central third, all on its largest strongly connected part.

    Examples
    --------
    >>> park = synthetic_park(network, n_gates=4, n_docks=10)   # doctest: +SKIP
    """
    rng = np.random.default_rng(seed)
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    n = network.n_nodes
    graph = csr_matrix((np.ones(network.n_arcs), (network.arc_u, network.arc_v)), shape=(n, n))
    _, label = connected_components(graph, directed=True, connection="strong")
    biggest = np.bincount(label).argmax()
    # places only on the largest strongly connected part, so every gate reaches every dock
    base = np.flatnonzero((network.node_base == np.arange(n)) & (label == biggest))
    lon, lat = network.node_lon[base], network.node_lat[base]
    cx, cy = np.median(lon), np.median(lat)
    ang = np.arctan2(lat - cy, (lon - cx) * np.cos(np.radians(cy)))
    r = np.hypot(lat - cy, (lon - cx) * np.cos(np.radians(cy)))
    gates = []
    for g in range(n_gates):
        lo, hi = -np.pi + 2 * np.pi * g / n_gates, -np.pi + 2 * np.pi * (g + 1) / n_gates
        sector = np.flatnonzero((ang >= lo) & (ang < hi))
        i = sector[np.argsort(r[sector])[int(0.9 * (len(sector) - 1))]]
        gates.append({"id": f"G{g + 1}", "lon": float(lon[i]), "lat": float(lat[i])})
    central = np.flatnonzero(r <= np.quantile(r, 0.33))
    pick = rng.choice(central, size=min(len(central), n_docks + n_waiting), replace=False)
    docks = [{"id": f"D{k + 1}", "lon": float(lon[i]), "lat": float(lat[i]), "capacity": dock_capacity}
             for k, i in enumerate(pick[:n_docks])]
    waiting = [{"id": f"W{k + 1}", "lon": float(lon[i]), "lat": float(lat[i]), "capacity": waiting_capacity}
               for k, i in enumerate(pick[n_docks:])]
    return park_from_dict({"name": "synthetic park", "timezone": timezone, "slot_minutes": slot_minutes,
                           "segment_capacity": segment_capacity, "gates": gates, "docks": docks,
                           "waiting_areas": waiting})


def synthetic_day(park: Park, n_trucks: int, day: str = "2030-01-07", seed: int = 0, peaks=((8.5, 1.2), (14.0, 1.5)),
                  start_hour: float = 6.0, end_hour: float = 20.0):
    """``n_trucks`` trip requests over one day, bunched around morning and afternoon peaks.

    Trucks are 40 t articulated trucks (60 %), 26 t rigid trucks 3.8 m high (30 %) and 12 t
    box trucks (10 %); each comes through a random gate to a random dock.  Returns
    :class:`TripRequest` objects sorted by request order (= earliest arrival).

    Examples
    --------
    >>> reqs = synthetic_day(park, 2000)   # doctest: +SKIP
    """
    from gridtools.dispatch.assign import TripRequest

    rng = np.random.default_rng(seed)
    comp = rng.integers(0, len(peaks) + 1, n_trucks)
    hours = np.where(comp < len(peaks),
                     np.array([p[0] for p in peaks] + [0])[comp] + rng.normal(0, 1, n_trucks)
                     * np.array([p[1] for p in peaks] + [1])[comp],
                     rng.uniform(start_hour, end_hour, n_trucks))
    hours = np.clip(hours, start_hour, end_hour)
    day0 = park.localize(dt.datetime.fromisoformat(day))
    classes = [truck(weight_t=40.0), truck(weight_t=26.0, height_m=3.8, length_m=10.0),
               truck(weight_t=12.0, height_m=3.5, length_m=8.0, width_m=2.5)]
    cls = rng.choice(3, n_trucks, p=[0.6, 0.3, 0.1])
    gate = rng.integers(0, len(park.gates), n_trucks)
    dock = rng.integers(0, len(park.docks), n_trucks)
    out = []
    for k in np.argsort(hours, kind="stable"):
        out.append(TripRequest(plate=f"T{k:05d}", dock=park.docks[dock[k]].id, gate=park.gates[gate[k]].id,
                               earliest=day0 + dt.timedelta(seconds=round(float(hours[k]) * 3600)),
                               vehicle=classes[cls[k]], cargo="synthetic", trip_id=f"trip-{k:05d}"))
    return out
