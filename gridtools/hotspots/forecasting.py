"""The two calls most analyses start with: :func:`prepare` events and units, :func:`forecast` a horizon."""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from gridtools.errors import InputError
from gridtools.hotspots.cells import CellSet, assign_events, square_cells, study_area, unit_cells
from gridtools.hotspots.estimators import make_estimator, with_covariates
from gridtools.hotspots.events import EventSet, from_day, prepare_events, to_day
from gridtools.hotspots.metrics import rank_cells
from gridtools.hotspots.segments import segment_units

__all__ = ["prepare", "forecast", "drop_far_events"]


def prepare(
    events: gpd.GeoDataFrame,
    *,
    time: str,
    category_col: str | None = None,
    categories=None,
    cell: float | None = None,
    area="extent",
    grids: gpd.GeoDataFrame | None = None,
    grid_id: str | None = None,
    dayfirst: bool | None = None,
    hour_col: str | None = None,
    tz: str | None = None,
    segments: gpd.GeoDataFrame | None = None,
    segment_id: str | None = None,
    snap_m: float | None = None,
    id_col: str | None = None,
    dedupe: bool = False,
) -> tuple[EventSet, CellSet]:
    """Events as arrays in a metric CRS, and the forecast units they fall in.

    Parameters
    ----------
    events : geopandas.GeoDataFrame
        Incident points (e.g. :func:`gridtools.io.read_events`).
    time, category_col, categories, dayfirst, hour_col, tz, id_col, dedupe
        See :func:`~gridtools.hotspots.events.prepare_events` (*id_col*: an event id on more
        than one row is refused, or with *dedupe* counted once).
    cell : float, default ``settings.hotspot_cell_m``
        Side of square cells (metres); ignored when *grids* are given.
    area : "extent", "hull" or GeoDataFrame/GeoSeries/shapely geometry
        Study area: the events' bounding box, their convex hull, or a boundary (any CRS with a
        GeoDataFrame; the metric CRS with a bare geometry).  Square cells are clipped to it.
        With "extent" or "hull", events far from all the others (bad geocoding: more than
        ``settings.hotspot_far_factor`` times the 99th-percentile distance from the events'
        median point) are left out and listed in ``report["far"]``, so that one stray point
        cannot stretch the grid over a whole region.
    grids : geopandas.GeoDataFrame, optional
        Management grids to use as units instead of square cells.
    grid_id : str, optional
        Column naming the grids.
    segments : geopandas.GeoDataFrame, optional
        Road segments (lines) as units: events snap to the nearest within *snap_m* metres and
        metrics share out length instead of area (:func:`~gridtools.hotspots.segments.segment_units`).
    segment_id : str, optional
        Column naming the segments.
    snap_m : float, default ``settings.hotspot_snap_m``

    Returns
    -------
    (EventSet, CellSet)
        ``events.report`` lists the rows set aside (missing coordinates, outside the study area).

    Examples
    --------
    >>> import shapely
    >>> g = gpd.GeoDataFrame({"day": ["2020-01-01", "2020-01-02"]},
    ...                      geometry=shapely.points([[0, 0], [450, 10]]), crs=32617)
    >>> ev, cs = prepare(g, time="day", cell=200)
    >>> len(cs), ev.unit.tolist()
    (3, [0, 2])
    """
    ev = prepare_events(events, time=time, category_col=category_col, categories=categories, dayfirst=dayfirst,
                        hour_col=hour_col, tz=tz, id_col=id_col, dedupe=dedupe)
    if grids is None and segments is None and isinstance(area, str):
        ev = drop_far_events(ev)
    if segments is not None:
        cells = segment_units(segments, crs=ev.crs, id_col=segment_id, snap_m=snap_m)
    elif grids is not None:
        cells = unit_cells(grids, id_col=grid_id, crs=ev.crs)
    else:
        if isinstance(area, str):
            poly = study_area(ev, area)
            clip = None if area == "extent" else poly
        else:
            if isinstance(area, (gpd.GeoDataFrame, gpd.GeoSeries)):
                if area.crs is None:
                    raise InputError("the study-area boundary has no CRS; set one (area.set_crs(...)) or save its file with one.")
                poly = area.to_crs(ev.crs).union_all()
            else:
                poly = area
            if poly is None or poly.is_empty or poly.area <= 0:
                raise InputError("the study-area boundary has no area.")
            clip = poly
        cells = square_cells(poly.bounds, cell, crs=ev.crs, area=clip)
    ev = assign_events(ev, cells)
    if len(ev) == 0:
        raise InputError(
            f"none of the {ev.report.get('kept', 0):,} events lies in the study area; check that the "
            "boundary or grids cover the events (and their CRS)."
        )
    return ev, cells


def drop_far_events(events: EventSet, factor: float | None = None) -> EventSet:
    """The events without those far from all others; their input rows go to ``report["far"]``.

    An event is far when its distance from the events' median point exceeds *factor* (default
    ``settings.hotspot_far_factor``) times the 99th-percentile distance.

    Examples
    --------
    >>> ev = EventSet(t=np.zeros(101), x=np.r_[np.linspace(0, 1000, 100), 1e6], y=np.zeros(101),
    ...               row=np.arange(1, 102), crs=32617)
    >>> kept = drop_far_events(ev)
    >>> len(kept), kept.report["far"]
    (100, [101])
    """
    from gridtools import settings

    factor = settings.hotspot_far_factor if factor is None else float(factor)
    if len(events) < 20:  # too few to say what is far
        return events
    dist = np.hypot(events.x - np.median(events.x), events.y - np.median(events.y))
    far = dist > factor * max(np.quantile(dist, 0.99), 1.0)
    out = events.take(~far)
    out.report = {**events.report, "far": sorted(int(r) for r in events.row[far])}
    return out


def forecast(
    events: EventSet,
    cells: CellSet,
    *,
    cutoff,
    horizon_days: float,
    method="ensemble",
    crs=None,
    covariates=None,
) -> gpd.GeoDataFrame:
    """Risk of every cell for ``[cutoff, cutoff + horizon_days)`` from events strictly before the cutoff.

    Parameters
    ----------
    events, cells
        From :func:`prepare`.
    cutoff : date
    horizon_days : float
    method : str or HotspotEstimator, default "ensemble"
    crs : CRS-like, optional
        CRS of the output (default: the events' input CRS).
    covariates : array-like (n_cells, k), optional
        Per-cell features for the learned model (``gbm``, also inside ``ensemble``), e.g.
        :func:`point_density` of shops or car parks; other methods ignore them.

    Returns
    -------
    geopandas.GeoDataFrame
        ``cell_id``, ``risk`` (expected events in the horizon), ``risk_per_km2``, ``rank``
        (1 = most risky per unit area, ties broken by the seeded order of
        :func:`~gridtools.hotspots.metrics.rank_cells`), ``area_m2``, geometry.  ``attrs`` holds
        the method, its parameters, cutoff and horizon.

    Examples
    --------
    >>> import shapely
    >>> g = gpd.GeoDataFrame({"day": ["2020-01-01", "2020-01-02"]},
    ...                      geometry=shapely.points([[0, 0], [450, 10]]), crs=32617)
    >>> ev, cs = prepare(g, time="day", cell=200)
    >>> forecast(ev, cs, cutoff="2020-01-02", horizon_days=7, method="naive_all")["risk"].tolist()
    [7.0, 0.0, 0.0]
    """
    est = with_covariates(make_estimator(method) if isinstance(method, str) else method, covariates)
    risk = est.fit(events, cells, cutoff).predict(horizon_days)
    out = cells.cells.copy()
    out["risk"] = risk
    out["risk_per_km2"] = risk / np.maximum(cells.area / 1e6, 1e-12)
    rank = np.empty(len(risk), dtype=np.int64)
    rank[rank_cells(risk, cells.area)] = np.arange(1, len(risk) + 1)
    out["rank"] = rank
    out = out[["cell_id", "risk", "risk_per_km2", "rank", "area_m2", "geometry"]]
    target = crs if crs is not None else events.report.get("input_crs")
    if target is not None:
        out = out.to_crs(target)
    out.attrs = {
        "method": method if isinstance(method, str) else type(method).__name__,
        "params": {k: repr(v) for k, v in est.get_params(deep=False).items()},
        "cutoff": from_day(to_day(cutoff)).isoformat(),
        "horizon_days": float(horizon_days),
    }
    return out
