"""Defaults used across gridtools, in one place.

Change a value here (or on the module at run time, as with ``osmnx.settings``) rather than
scattering constants through the code::

    import gridtools.settings as settings
    settings.min_pop = 800
"""

from __future__ import annotations

import os
from pathlib import Path

#: Band of residents per management grid (inclusive).  The national practice is 1,000-1,500
#: residents (about 300 households) per unit grid.
min_pop: int = 1000
max_pop: int = 1500

#: Population the partitioner aims for when choosing how many grids a piece gets; the
#: count is then clipped to the arithmetically feasible range [ceil(P/max), floor(P/min)].
target_pop: int | None = None  # None: midpoint of the band

#: Widths of the levels of the default 17-digit grid code: county (GB/T 2260), town/street,
#: village/community, grid serial, sub-grid (00 = the whole grid).  The first 15 digits are
#: the unit-grid code used by digital city-management systems.
code_layout: tuple[int, ...] = (6, 3, 3, 3, 2)

#: Two polygons closer than this many metres are treated as neighbours.  Census blocks are
#: often simplified, leaving hairline gaps between blocks that really do touch.
adjacency_tolerance_m: float = 1.0

#: OSM highway / railway / waterway values treated as *major* barriers: grids do not cross
#: them unless a piece would otherwise have no feasible grid count.
major_barrier_tags: dict[str, tuple[str, ...]] = {
    "highway": ("motorway", "trunk", "primary", "motorway_link", "trunk_link"),
    "railway": ("rail", "light_rail", "subway"),
    "waterway": ("river", "canal"),
}

#: Default residential share and storey height used by the dasymetric building estimate.
residential_share: float = 1.0
storey_height_m: float = 3.0
#: A building taller than this (m) with no home tag is an office / hotel / observation tower, not
#: housing (gridtools.building_use rule 6); None switches the rule off.
supertall_m: float | None = 250.0

#: Worker processes for partitioning independent pieces; None means every local core.
n_jobs: int | None = None

#: Where caches (road networks, etc.) live.
cache_dir: Path = Path(os.environ.get("GRIDTOOLS_CACHE", Path.home() / ".cache" / "gridtools"))

#: Fixed seed so a partition is reproducible; pass ``random_state`` to change it.
random_state: int = 0


def band_target(min_pop_: int | None = None, max_pop_: int | None = None) -> float:
    """Population a grid aims for: ``target_pop`` if set, else the middle of the band."""
    lo = min_pop if min_pop_ is None else min_pop_
    hi = max_pop if max_pop_ is None else max_pop_
    return float(target_pop) if target_pop is not None else (lo + hi) / 2.0

#: Incidents (gridtools.incidents): office periods of a working day, which working-hour
#: deadlines count in; time allowed from report to dispatch (register + dispatch), in minutes,
#: for ordinary and urgent events (published practice: 30 and 10 minutes).
incident_working_periods: tuple[tuple[str, str], ...] = (("08:30", "12:00"), ("13:30", "17:30"))
incident_dispatch_minutes: int = 30
incident_dispatch_minutes_urgent: int = 10
#: UTC offset of the times kept in an incident store (local city time), used for Open311 export.
incident_utc_offset: str = "+08:00"

# --- components (city management component register) ---------------------------------------

#: Rows per import transaction: a crash loses at most the batch being written, and a re-run
#: resumes after the last committed batch.
components_batch_size: int = 5000

#: A component farther than this from the grids' bounding box is refused as "outside the
#: district" (a wrong CRS or swapped coordinates); nearer but in no grid, it is stored with an
#: empty grid_code and reported.
components_district_margin_m: float = 2000.0

#: Seconds a writer waits for another process's transaction before giving up.
components_lock_timeout_s: float = 120.0

#: Most markers `gridtools components map` draws (clustered); more are sampled per class.
components_map_max_markers: int = 50_000

# --- hotspots -------------------------------------------------------------------------------

#: Side of the square cells of hotspot forecasts, in metres.  200 m is about a city block or
#: two: the size most published predictive-policing evaluations use (150-250 m).
hotspot_cell_m: float = 200.0

#: Events further from the events' median point than this many times the 99th-percentile
#: distance are bad geocoding (Paris accidents placed in Toulouse), left out and reported.
hotspot_far_factor: float = 2.0

#: Events further than this (metres) from every road segment are off the network when the
#: units are road segments (accidents are geocoded to the carriageway, give or take a junction).
hotspot_snap_m: float = 30.0

#: Shares of the study area at which hit rate, PAI and PEI are reported.
hotspot_coverages: tuple[float, ...] = (0.01, 0.02, 0.05, 0.10)

#: Pixel size (metres) of the raster on which kernels are smoothed when the forecast units are
#: irregular polygons (management grids) rather than square cells.
hotspot_unit_pixel_m: float = 50.0

#: Most raster pixels a study area may need; a smaller cell over a larger area is refused
#: rather than allowed to exhaust memory.
hotspot_max_pixels: int = 4_000_000

#: Routing: farthest (metres) a route origin/destination may lie from the nearest usable road.
route_max_snap_m: float = 500.0

#: Routing: when no road within ``route_max_snap_m`` of a point connects to the other end (a clipped
#: fragment of the extract, a pocket with no usable way out), how far (metres) to look for the nearest
#: road that does; a route snapped that far says so in a warning naming the road.
route_max_resnap_m: float = 2000.0

#: Routing: a point whose nearest usable road reaches (origin) or is reached from (destination) at
#: least this many junctions by the vehicle, none of them on its main network, lies in a *closed
#: district* (an old town behind weight limits, a campus behind a 2.1 m underpass): it is not moved onto
#: another road, and a route that must leave the district is refused, naming what closes it and the
#: nearest road that does connect.  Smaller pockets (a stub behind a height limit) are snapped past, like
#: Valhalla's ``minimum_reachability`` (also 50).  0: every pocket may be snapped past.
route_min_reach_nodes: int = 50

#: Routing: longest stretch (metres) of a private road a route may drive at its start or end to
#: reach a point on that road (stated in ``Route.restricted``); never used mid-route.
route_max_restricted_end_m: float = 1000.0

#: Routing: how many customised weight sets (vehicle x time slot) a Router keeps in memory.
route_metric_cache: int = 8

#: Dispatch: routes per gate-dock-vehicle menu (the fastest plus penalised alternatives).
dispatch_k_routes: int = 4
#: Dispatch: arrival slots tried from the earliest one (earliest .. earliest + window - 1).
dispatch_window_slots: int = 6
#: Dispatch: alternatives at most this share slower than the fastest route are offered.
dispatch_max_detour: float = 0.35
#: Dispatch: cost factor added to arcs of routes already in a menu when finding the next one.
dispatch_penalty: float = 1.0
#: Dispatch: cost of a second spent in a waiting area relative to a second of delay (0: a truck whose
#: dock is full waits in a waiting area with room rather than being told to come later; equal delay).
dispatch_wait_weight: float = 0.0
#: Dispatch: longest wait (slots) for a full dock before a later arrival slot is chosen instead.
dispatch_max_wait_slots: int = 2
#: Dispatch: slots kept ahead of the latest request in the load arrays (they grow as needed).
dispatch_horizon_slots: int = 96
#: Dispatch service: SQLite ``synchronous`` level.  NORMAL (with WAL) keeps every committed trip
#: through a crash or kill of the service process; FULL also through a power cut (slower commits).
dispatch_sqlite_synchronous: str = "NORMAL"
#: Dispatch: how many days ahead (from yesterday: the horizon rolls with the clock) trips may be booked.
dispatch_booking_days: int = 14
#: Dispatch: the dispatcher's board shows the trips on the road or at the dock from now to this many hours ahead.
dispatch_board_hours: float = 3.0
#: Dispatch: trips drawn per page of the dispatcher's board (the page says how many more there are).
dispatch_board_routes: int = 100
#: Dispatch: GPS fixes a driver's app may post in one batch, and per trip in all.
dispatch_max_fixes_per_batch: int = 500
dispatch_max_fixes_per_trip: int = 20000
#: Dispatch: trucks one account may register (a driver's token cannot flood the route menus).
dispatch_max_trucks_per_account: int = 50
#: Dispatch: active (assigned or arrived) trips one truck may have at once.
dispatch_max_active_trips_per_truck: int = 20
#: Dispatch: longest free text (``cargo``) of a trip, in characters.
dispatch_max_cargo_chars: int = 500

#: Services: days an issued token stays valid (0: no expiry).
service_token_days: float = 90.0
#: Services: largest request body accepted, in bytes (413 beyond).
service_max_body_bytes: int = 64 * 1024
#: Services: requests per second one token (or one address without a valid token) may make, and
#: the burst allowed above that rate (429 with Retry-After beyond).
service_rate_per_s: float = 50.0
service_rate_burst: int = 200
#: Services: failed authentications one address may make per minute before it gets 429.
service_auth_failures_per_min: int = 20
#: Services: seconds a request may take before it gets 503 (the work it started is not undone).
service_request_timeout_s: float = 30.0
#: Services: worker threads for blocking work and how many requests may wait for one (503 beyond).
service_worker_threads: int = 2
service_worker_queue: int = 64
#: Services: processes that render the heavy HTML pages (0: render in the worker thread).
service_render_processes: int = 1
#: Dispatch service: seconds a write waits for a database lock another process holds (then 503).
dispatch_lock_timeout_s: float = 10.0
