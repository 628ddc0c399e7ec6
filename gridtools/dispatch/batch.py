"""Offline batch dispatch: a table of trips in, assignments, routes and segment load out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridtools.dispatch.assign import Assignment, Dispatcher, TripRequest
from gridtools.dispatch.park import Park
from gridtools.errors import GridtoolsError, InputError, rows_where
from gridtools.routing import vehicle_from_options
from gridtools import validate

TRIP_COLUMNS = ("plate", "dock", "earliest_arrival")


@dataclass
class BatchResult:
    """Assigned trips (one row each, with status ``assigned`` or ``refused`` and the reason),
    their routes (lines) and the load per segment and slot."""

    trips: object
    routes: object
    load: object
    stats: dict

    @property
    def summary(self) -> dict:
        return self.stats

    def summary_lines(self) -> list[str]:
        s = self.stats
        return [f"{s['assigned']} trips assigned, {s['refused']} refused",
                f"over-capacity segment-slots: {s['segment_slots_over']} of {s['segment_slots_used']} used",
                f"mean delay {s['mean_delay_min']:.1f} min, extra travel time {100 * s['detour_share']:.1f} %, "
                f"{s['waiting']} trips wait in a waiting area"]

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in self.stats.items())
        return f"<table><caption>Dispatch batch</caption>{rows}</table>"


def requests_from_table(table: pd.DataFrame, park: Park, source: str = "trips") -> list[TripRequest]:
    """Trip requests from a table with ``plate``, ``dock``, ``earliest_arrival`` and ``gate`` (or
    ``origin_lon``/``origin_lat``), and optional ``weight_t``, ``height_m``, ``width_m``,
    ``length_m``, ``axle_load_t``, ``cargo``, ``cargo_type`` (picks the service time at the dock).

    Examples
    --------
    >>> park = Park(gates=[], docks=[])
    >>> t = pd.DataFrame({"plate": ["A1"], "dock": ["D1"], "earliest_arrival": ["2030-01-07 08:00"],
    ...                   "origin_lon": [8.0], "origin_lat": [49.0], "weight_t": [40]})
    >>> requests_from_table(t, park)[0].vehicle.kind
    'hgv'
    """

    validate.require_columns(table, list(TRIP_COLUMNS), source)
    has_gate = "gate" in table.columns
    has_xy = {"origin_lon", "origin_lat"} <= set(table.columns)
    if not (has_gate or has_xy):
        raise InputError(f"{source}: give a 'gate' column or 'origin_lon' and 'origin_lat' columns")
    gate = table["gate"] if has_gate else pd.Series([None] * len(table), index=table.index)
    no_origin = gate.isna().to_numpy().copy()
    if has_xy:
        no_origin &= table[["origin_lon", "origin_lat"]].isna().any(axis=1).to_numpy()
    if no_origin.any():
        raise InputError(f"{source}: {rows_where(no_origin, table.index)} have neither a gate nor an origin")
    empty = table[list(TRIP_COLUMNS)].isna().any(axis=1).to_numpy()
    if empty.any():
        raise InputError(f"{source}: {rows_where(empty, table.index)} miss plate, dock or earliest_arrival")
    dims = {}
    for col in ("weight_t", "height_m", "width_m", "length_m", "axle_load_t"):
        if col in table.columns:
            dims[col] = validate.numeric_column(table, col, source, allow_missing=True)
    out = []
    for n, (i, row) in enumerate(table.iterrows()):
        kw = {k: (None if pd.isna(v.iloc[n]) else float(v.iloc[n])) for k, v in dims.items()}
        if kw.get("weight_t") is None:
            kw["weight_t"] = 40.0
        try:
            when = park.localize(str(row["earliest_arrival"]))
            vehicle = vehicle_from_options(**kw)
        except InputError as exc:
            raise InputError(f"{source}: {rows_where([n], table.index)}: {exc}") from None
        g = row["gate"] if has_gate and not pd.isna(row["gate"]) else None
        origin = None if g is not None else (float(row["origin_lon"]), float(row["origin_lat"]))
        out.append(TripRequest(plate=str(row["plate"]), dock=str(row["dock"]), earliest=when, vehicle=vehicle,
                               gate=str(g) if g is not None else None, origin=origin,
                               cargo=str(row.get("cargo", "") or ""), trip_id=str(row.get("trip_id", n + 1)),
                               cargo_type=_text(row.get("cargo_type"))))
    return out


def _text(value) -> str | None:
    """A table cell as text, None when empty."""
    return None if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "" \
        else str(value).strip()


def assign_batch(dispatcher: Dispatcher, requests: list[TripRequest], reoptimise: bool = True, progress=None):
    """Greedy assignment in request order, then (optionally) batch re-optimisation.

    Trips that cannot be assigned (no legal route, unknown dock, dock booked up) are returned with
    their error instead of stopping the batch.

    Returns
    -------
    (assignments, errors) : list of Assignment or None, list of str or None
    """
    out: list[Assignment | None] = []
    errors: list[str | None] = []
    for n, req in enumerate(requests):
        try:
            out.append(dispatcher.assign(req))
            errors.append(None)
        except GridtoolsError as exc:
            out.append(None)
            errors.append(str(exc))
        if progress and (n % 200 == 0 or n == len(requests) - 1):
            progress("assigning trips", n + 1, len(requests))
    if reoptimise:
        ok = [i for i, a in enumerate(out) if a is not None]
        better = dispatcher.reoptimise([out[i] for i in ok], [requests[i] for i in ok])
        for i, a in zip(ok, better):
            out[i] = a
    return out, errors


def assign_table(network, park: Park, table: pd.DataFrame, reoptimise: bool = True, source: str = "trips",
                 progress=None, **options) -> BatchResult:
    """Assign every trip of a table (see :func:`requests_from_table`) and report the load.

    Examples
    --------
    >>> result = assign_table(net, park, pd.read_csv("trips.csv"))   # doctest: +SKIP
    >>> result.stats["segment_slots_over"]                          # doctest: +SKIP
    0
    """
    import geopandas as gpd

    requests = requests_from_table(table, park, source)
    first = min(park.localize(r.earliest) for r in requests) if requests else None
    d = Dispatcher(network, park, base_time=first, **options)
    assigned, errors = assign_batch(d, requests, reoptimise=reoptimise, progress=progress)
    rows, geoms, routes = [], [], []
    for req, a, err in zip(requests, assigned, errors):
        if a is None:
            rows.append({"trip_id": req.trip_id, "plate": req.plate, "dock": req.dock, "gate": req.gate,
                         "status": "refused", "reason": err})
            geoms.append(None)
            continue
        rows.append({**a.summary, "status": "assigned", "reason": "", "osmids": ",".join(map(str, a.route.osmids)),
                     "route_notes": "; ".join(a.route.notes)})
        lines = network.segment_lines(network.arc_seg[a.route.arcs[network.arc_seg[a.route.arcs] >= 0]],
                                      network.arc_back[a.route.arcs[network.arc_seg[a.route.arcs] >= 0]])
        import shapely

        geoms.append(shapely.line_merge(shapely.union_all(lines)) if len(lines) else None)
    trips = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs="EPSG:4326")
    routes = trips[trips["status"] == "assigned"][["trip_id", "plate", "geometry"]].rename(columns={"trip_id": "trip"})
    table_load = d.load_table()
    load = gpd.GeoDataFrame(table_load, geometry=list(network.segment_lines(table_load["segment"].to_numpy()))
                            if len(table_load) else [], crs="EPSG:4326")
    ok = [a for a in assigned if a is not None]
    stats = {"assigned": len(ok), "refused": len(requests) - len(ok), **d.load_stats(),
             "mean_delay_min": float(np.mean([a.delay_s for a in ok]) / 60) if ok else 0.0,
             "detour_share": float(sum(a.detour_s for a in ok) / max(sum(a.fastest_time_s for a in ok), 1e-9)),
             "waiting": sum(a.waiting_area is not None for a in ok)}
    return BatchResult(trips=trips, routes=routes, load=load, stats=stats)
