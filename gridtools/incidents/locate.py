"""Which grid is each incident in: vectorised point-in-polygon for millions of points.

Rules
-----
* **Every row is kept.**  A row gets the ``grid_code`` of the grid containing its point, or an
  empty code and a ``geocode_flag`` saying why: ``outside_grids`` (a good point outside every
  grid), or a coordinate problem from :func:`gridtools.coords.check_lonlat` (``missing``,
  ``non_numeric``, ``swapped``, ``out_of_range``, ``outside_china``).
* **Boundaries: exactly one grid.**  A point on the edge or corner shared by several grids (or in
  an overlap of grids) belongs to the grid with the smallest ``grid_code`` (string order).  The
  rule depends only on the codes, never on file order, so re-running on a reordered file gives
  the same answer.  Points on the outer edge of the grids count as inside.
* **Coordinates in any CRS.**  Event coordinates in WGS-84, GCJ-02, BD-09 or any EPSG CRS are
  converted (:func:`gridtools.coords.convert`) into the grids' CRS before the test.

How it is fast
--------------
:class:`gridtools.incidents.pointindex.GridIndex` does the point-in-polygon work: no shapely
Point objects, a numpy cell hash of the grid boxes, cells inside one grid answered without a
geometric test, prepared ``shapely.intersects_xy`` for the rest.  ``engine="strtree"`` uses
shapely's STRtree bulk query instead (same answer; slower because it must build a Point per event).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridtools import coords, settings, validate
from gridtools import crs as crs_module
from gridtools.errors import CRSError, InputError, rows_where
from gridtools.incidents.pointindex import GridIndex

__all__ = ["locate_points", "geocode", "geocode_prepared", "prepare_grids", "PreparedGrids", "GeocodeResult",
           "code_levels", "FLAGS", "ADDED_COLUMNS"]

#: ``geocode_flag`` values besides ``""`` (located) and their meaning.
FLAGS = {"outside_grids": "outside every grid", **coords.PROBLEMS}
#: The categories of the ``geocode_flag`` column, in code order.
FLAG_VALUES = ("", *FLAGS)

_CHUNK = 1_000_000


def locate_points(x, y, polygons, *, rank=None, engine: str = "cells", chunk: int = _CHUNK):
    """Position of the polygon containing each point (-1 where none), one polygon per point.

    Parameters
    ----------
    x, y : array-like
        Point coordinates in the polygons' CRS; NaN points get -1.
    polygons : array-like of shapely geometries
        Polygons / MultiPolygons (e.g. ``grids.geometry.to_numpy()``).
    rank : array-like of int, optional
        Tie-break: a point in several polygons (on a shared edge, or in an overlap) goes to the
        one with the lowest rank.  Default: position in *polygons*.
    engine : {"cells", "strtree"}
        Candidate search: numpy cell hash (default, fastest) or shapely STRtree bulk query.
    chunk : int
        Points per batch (bounds memory).

    Returns
    -------
    numpy.ndarray of int64

    Examples
    --------
    >>> import shapely
    >>> squares = [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]
    >>> locate_points([0.5, 1.0, 1.5, 3.0], [0.5, 0.5, 0.5, 0.5], squares).tolist()
    [0, 0, 1, -1]
    >>> locate_points([1.0], [0.5], squares, rank=[1, 0]).tolist()   # shared edge: lower rank
    [1]
    """
    located, _ = GridIndex(polygons, rank=rank, engine=engine).locate(x, y, chunk=chunk)
    return located


def code_levels(codes, layout=None) -> pd.DataFrame:
    """Street and community codes: prefixes of the grid codes by the code layout.

    With the default layout (6 county, 3 street/town, 3 community/village, 3 grid, 2 sub-grid,
    :data:`gridtools.settings.code_layout`) the street code is the first 9 digits and the
    community code the first 12.  Codes too short for a level give ``""``.

    Parameters
    ----------
    codes : array-like of str
    layout : tuple of int, optional

    Returns
    -------
    pandas.DataFrame
        Columns ``street_code``, ``community_code``.

    Examples
    --------
    >>> code_levels(["32050801904400100", ""]).values.tolist()
    [['320508019', '320508019044'], ['', '']]
    """
    layout = tuple(settings.code_layout if layout is None else layout)
    codes = pd.Series(np.asarray(codes, dtype=object)).fillna("").astype(str)
    out = {}
    for name, depth in (("street_code", 2), ("community_code", 3)):
        width = sum(layout[:depth])
        long_enough = codes.str.len() >= width if len(layout) >= depth else codes.str.len() < 0
        out[name] = codes.str.slice(0, width).where(long_enough, "")
    return pd.DataFrame(out)


@dataclass
class GeocodeResult:
    """Events with the code of the grid containing each one.

    Attributes
    ----------
    table : pandas.DataFrame
        Every input row and column, plus ``grid_code`` (``""`` when not located),
        ``street_code``, ``community_code`` and ``geocode_flag`` (``""`` when located).
    summary : dict
        rows, located, outside_grids, bad rows by problem, ties (points on shared boundaries).
    """

    table: pd.DataFrame
    summary: dict = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        s = self.summary
        lines = [
            f"{s['rows']:,} events, {s['located']:,} in a grid ({s['share_located']:.1%}), "
            f"{s['outside_grids']:,} outside every grid",
        ]
        if s["ties"]:
            lines.append(f"{s['ties']:,} on a boundary shared by grids: given to the smallest grid_code")
        for kind, n in s["bad"].items():
            lines.append(f"{n:,} with {FLAGS[kind]}")
        return lines

    def messages(self) -> list[str]:
        """One line per flag naming its rows (counting from 1)."""
        flag = self.table["geocode_flag"]
        masks = {kind: (flag == kind).to_numpy(dtype=bool) for kind in FLAGS}
        return [f"{FLAGS[kind]}: {rows_where(mask, self.table.index)}" for kind, mask in masks.items() if mask.any()]

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{line}</li>" for line in self.summary_lines())
        return f"<b>GeocodeResult</b><ul>{items}</ul>"


def _event_coordinates(events, lon, lat, crs, source):
    """(x, y, flag codes, crs) of the events, before conversion: the codes are positions in
    :data:`FLAG_VALUES` per row, or None when every row has usable coordinates (the common case,
    with no per-row array to build or test)."""
    if lon is None and lat is None and isinstance(events, gpd.GeoDataFrame):
        geoms = events.geometry.to_numpy()
        missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        types = shapely.get_type_id(geoms[~missing])
        if (types != 0).any():
            raise InputError(f"{source}: events must be points; found other geometry types.")
        if events.crs is None:
            raise CRSError(f"{source} has no CRS; pass crs=... (e.g. crs='EPSG:4326').")
        x = np.where(missing, np.nan, shapely.get_x(geoms))
        y = np.where(missing, np.nan, shapely.get_y(geoms))
        codes = np.where(missing, FLAG_VALUES.index("missing"), 0).astype(np.int8) if missing.any() else None
        return x, y, codes, crs_module.parse(events.crs)
    from gridtools import io

    if lon is None and lat is None:
        # same detection as io.read_any: lon/lng/longitude/经度 and lat/latitude/纬度, or x/y
        lon, lat, _ = io.detect_coordinates(events, source)
        if lat is None:
            raise InputError(f"{source}: no coordinate columns found; pass lon=..., lat=... to name them.")
    if lon is None or lat is None:
        raise InputError(f"{source}: give both coordinate columns (lon=..., lat=...).")

    validate.require_columns(events, {lon: "lon", lat: "lat"}, source)
    crs = crs_module.parse(crs)
    if crs is None:  # WGS-84 by default, but not where the numbers could be GCJ-02 or BD-09
        check = coords.check_lonlat(events[lon], events[lat], "wgs84")
        validate.require_datum(check.x[check.ok], check.y[check.ok], source)
        return check.x, check.y, _flag_codes(check.problem), crs_module.parse("wgs84")
    if crs.is_geographic:
        check = coords.check_lonlat(events[lon], events[lat], crs)
        return check.x, check.y, _flag_codes(check.problem), crs
    # projected x/y: numbers are all we can check row by row
    x, xmiss = validate.parse_numbers(events[lon], copy=False)
    y, ymiss = validate.parse_numbers(events[lat], copy=False)
    finite = np.isfinite(x) & np.isfinite(y)
    codes = good = None
    if not finite.all():
        codes = np.zeros(len(x), dtype=np.int8)
        codes[~finite] = FLAG_VALUES.index("non_numeric")
        codes[xmiss | ymiss] = FLAG_VALUES.index("missing")
        good = codes == 0
    gx, gy = (x, y) if good is None else (x[good], y[good])
    if len(gx) and -180 <= gx.min() and gx.max() <= 180 and -90 <= gy.min() and gy.max() <= 90:
        raise CRSError(
            f"{source}: columns {lon!r}/{lat!r} look like longitude/latitude in degrees, but the "
            f"CRS {crs.name} is projected. Pass crs='wgs84' (or gcj02 / bd09 / EPSG:4490)."
        )
    return x, y, codes, crs


def _flag_codes(problem: np.ndarray) -> np.ndarray | None:
    """Positions in :data:`FLAG_VALUES` of the coordinate problems named per row (None: none)."""
    bad = problem != ""
    if not bad.any():
        return None
    codes = np.zeros(len(problem), dtype=np.int8)
    for code, kind in enumerate(FLAG_VALUES):
        if kind in coords.PROBLEMS:
            codes[problem == kind] = code
    return codes


def geocode(
    events: pd.DataFrame,
    grids,
    *,
    lon: str | None = None,
    lat: str | None = None,
    crs=None,
    code: str = "grid_code",
    layout=None,
    engine: str = "cells",
) -> GeocodeResult:
    """Give every event the code of the grid containing it; keep and flag the rest.

    Parameters
    ----------
    events : pandas.DataFrame or geopandas.GeoDataFrame
        A table with coordinate columns *lon*/*lat* (text or numbers), or point geometries.
    grids : geopandas.GeoDataFrame or PreparedGrids
        Grid polygons with a CRS and a *code* column (``gridtools partition`` layer ``grids``),
        or grids already prepared by :func:`prepare_grids` (then *code*, *layout*, *engine*
        are those given there).
    lon, lat : str, optional
        Coordinate columns (x/y for a projected *crs*).
    crs : str, int or pyproj.CRS, optional
        CRS of the event coordinates of a table: ``wgs84``, ``gcj02``, ``bd09`` or ``EPSG:nnnn``.
        Without it, longitude/latitude are WGS-84 outside China and refused inside China, where the
        numbers do not say their datum (phones and web maps give GCJ-02 or BD-09).  Ignored for
        point geometries, which carry their CRS.
    code : str, default "grid_code"
        Column of *grids* with the codes.
    layout : tuple of int, optional
        Code layout for the street/community prefixes (default ``settings.code_layout``).
    engine : {"cells", "strtree"}
        See :func:`locate_points`.

    Returns
    -------
    GeocodeResult

    Raises
    ------
    InputError
        Missing columns, duplicate or missing grid codes, events already holding the output
        columns.
    CRSError
        No event lands in any grid (wrong CRS or swapped columns), or degrees given as x/y.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd, shapely
    >>> grids = gpd.GeoDataFrame({"grid_code": ["32050801904400100", "32050801904400200"]},
    ...     geometry=[shapely.box(120.60, 31.30, 120.61, 31.31), shapely.box(120.61, 31.30, 120.62, 31.31)],
    ...     crs=4326)
    >>> events = pd.DataFrame({"id": [1, 2, 3], "lng": [120.605, 120.615, 121.0], "lat": [31.305, 31.305, 31.0]})
    >>> r = geocode(events, grids, lon="lng", lat="lat", crs="wgs84")
    >>> r.table[["id", "grid_code", "community_code", "geocode_flag"]].values.tolist()
    [[1, '32050801904400100', '320508019044', ''], [2, '32050801904400200', '320508019044', ''], [3, '', '', 'outside_grids']]
    """

    prepared = grids if isinstance(grids, PreparedGrids) else prepare_grids(grids, code=code, layout=layout,
                                                                             engine=engine)
    return geocode_prepared(events, prepared, lon=lon, lat=lat, crs=crs)


@dataclass
class PreparedGrids:
    """Grids ready for geocoding: the point index, codes and their prefixes, the CRS.

    Made once by :func:`prepare_grids` and reused for every batch of events (a chunk of a large
    file, a partition on a Dask worker: it pickles small and rebuilds its index on arrival).
    """

    index: GridIndex
    codes: np.ndarray
    street: np.ndarray
    community: np.ndarray
    crs: crs_module.CRS
    source: str = "grids"

    def __len__(self) -> int:
        return len(self.index)


def prepare_grids(grids: gpd.GeoDataFrame, *, code: str = "grid_code", layout=None,
                  engine: str = "cells") -> PreparedGrids:
    """Check the grids once and build their point index (see :func:`geocode` for the rules).

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        Grid polygons with a CRS and a unique *code* column.
    code, layout, engine
        As in :func:`geocode`.

    Returns
    -------
    PreparedGrids

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> grids = gpd.GeoDataFrame({"grid_code": ["32050801904400100"]},
    ...     geometry=[shapely.box(120.60, 31.30, 120.61, 31.31)], crs=4326)
    >>> len(prepare_grids(grids))
    1
    """
    gsource = grids.attrs.get("source", "grids")
    validate.require_columns(grids, {code: "code"}, gsource)
    if grids.crs is None:
        raise CRSError(f"{gsource} has no CRS; grids must carry one (gridtools partition writes it).")
    grids, _ = validate.check_geometries(grids, gsource)
    codes = grids[code].astype("string").fillna("").str.strip().to_numpy(dtype=object)
    if (codes == "").any():
        raise InputError(f"{gsource}: grids without a {code}: {rows_where(codes == '', grids.index)}.")
    dup = pd.Series(codes).duplicated(keep=False).to_numpy()
    if dup.any():
        raise InputError(
            f"{gsource}: {code} is not unique ({rows_where(dup, grids.index)}); a point could "
            "not be given one grid. Dissolve grids by code first."
        )
    rank = np.argsort(np.argsort(codes.astype(str), kind="stable"))
    levels = code_levels(codes, layout)
    # an extra "" slot at the end for events outside every grid
    return PreparedGrids(
        index=GridIndex(grids.geometry.to_numpy(), rank=rank, engine=engine),
        codes=np.append(codes.astype(object), ""),
        street=np.append(levels["street_code"].to_numpy(dtype=object), ""),
        community=np.append(levels["community_code"].to_numpy(dtype=object), ""),
        crs=crs_module.parse(grids.crs), source=gsource,
    )


ADDED_COLUMNS = ("grid_code", "street_code", "community_code", "geocode_flag")


def geocode_prepared(events: pd.DataFrame, grids: PreparedGrids, *, lon: str | None = None,
                     lat: str | None = None, crs=None, require_located: bool = True) -> GeocodeResult:
    """:func:`geocode` with grids already prepared by :func:`prepare_grids`.

    Parameters
    ----------
    events, lon, lat, crs
        As in :func:`geocode`.
    grids : PreparedGrids
    require_located : bool, default True
        Refuse a table of which no event lands in a grid (a wrong CRS or swapped columns).  A
        chunk of a large dataset passes False: the whole dataset is checked at the end.

    Returns
    -------
    GeocodeResult

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd, shapely
    >>> grids = prepare_grids(gpd.GeoDataFrame({"grid_code": ["32050801904400100"]},
    ...     geometry=[shapely.box(120.60, 31.30, 120.61, 31.31)], crs=4326))
    >>> events = pd.DataFrame({"lng": [120.605], "lat": [31.305]})
    >>> geocode_prepared(events, grids, lon="lng", lat="lat", crs="wgs84").table["grid_code"].tolist()
    ['32050801904400100']
    """
    source = events.attrs.get("source", "events")
    clash = [c for c in ADDED_COLUMNS if c in events.columns]
    if clash:
        raise InputError(
            f"{source} already has column(s) {', '.join(clash)}; rename or drop them so the "
            "geocoded codes do not overwrite them."
        )
    if require_located and len(events) == 0 and {lon, lat} <= set(events.columns):  # else: name the column
        raise InputError(f"{source} has no events (0 rows): check that it is the right file and that it has "
                         "data rows below its header")
    pick, flag, located, ties, ecrs, sample = _locate_rows(events, grids, lon, lat, crs, source)
    count = dict(zip(FLAG_VALUES, np.bincount(flag, minlength=len(FLAG_VALUES)).tolist(), strict=True))
    swapped = count["swapped"]  # usable numbers, outside every grid unless read lat, lon
    usable = len(events) - sum(n for kind, n in count.items() if kind not in ("", "outside_grids", "swapped"))
    if require_located and len(events) and (not usable or sample is None):  # sample: rows with usable numbers
        kinds = "; ".join(f"{FLAGS[k]}: {rows_where(flag == FLAG_VALUES.index(k), events.index)}"
                          for k in sorted(k for k, n in count.items() if n and k not in ("", "outside_grids")))
        raise CRSError(
            f"{source}: none of the {len(events):,} events has usable coordinates ({kinds}). Check "
            "the coordinate columns (lon=..., lat=...) and their CRS (crs=..., one of wgs84, gcj02, bd09, EPSG:nnnn)."
        )
    if require_located and usable and not located:
        raise CRSError(_nothing_inside(*sample, ecrs, grids, source))
    # Categorical columns: small integer codes per event and each code text once (thousands of
    # grids), not a Python string per event and column (8 bytes x 4 columns x millions of rows).
    table = events.copy(deep=False)  # copy-on-write: the caller's frame is not changed
    for column, values in (("grid_code", grids.codes), ("street_code", grids.street),
                           ("community_code", grids.community)):
        table[column] = _categorical(values, pick)  # an array: set by position, no index alignment
    # flags are positions in FLAG_VALUES by construction: re-checking 10M codes would cost more
    # than the rest of this function
    table["geocode_flag"] = pd.Categorical.from_codes(flag, categories=list(FLAG_VALUES), validate=False)
    bad = {k: n for k, n in sorted(count.items()) if n and k not in ("", "outside_grids")}
    summary = {
        "rows": len(events),
        "located": located,
        "share_located": located / len(events) if len(events) else 0.0,
        "outside_grids": usable - located - swapped,
        "bad": bad,
        "ties": ties,
        "grids": len(grids),
        "crs": ecrs.name,
    }
    return GeocodeResult(table, summary)


def _locate_rows(events, grids: PreparedGrids, lon, lat, crs, source):
    """Per row the grid slot (``len(grids)``: none) and the flag (a position in
    :data:`FLAG_VALUES`), a million rows at a time so that parsed coordinates and checks never
    exist for the whole table at once; also the number located, the tie count, the events' CRS
    and (x, y, usable) of the first chunk with usable rows, for error messages."""
    n = len(events)
    pick = np.full(n, len(grids), dtype=_code_dtype(len(grids) + 1))
    flag = np.zeros(n, dtype=np.int8)
    outside, swapped = FLAG_VALUES.index("outside_grids"), FLAG_VALUES.index("swapped")
    located_rows, ties, ecrs, sample = 0, 0, None, None
    for lo in range(0, max(n, 1), _CHUNK):
        part = events.iloc[lo : lo + _CHUNK]
        x, y, codes, ecrs = _event_coordinates(part, lon, lat, crs, source)
        chunk_flag, chunk_pick = flag[lo : lo + len(part)], pick[lo : lo + len(part)]  # views: filled in place
        good = None  # None: every row usable
        if codes is not None:
            chunk_flag[:] = codes
            good = codes == 0
            del codes
        if good is None or good.any():
            if good is not None and not good.all():
                x, y = np.where(good, x, np.nan), np.where(good, y, np.nan)
            # the same projected CRS: the numbers are already the grids' (no copy, no conversion)
            same = not ecrs.is_geographic and ecrs.pyproj == grids.crs.pyproj
            gx, gy = (x, y) if same else coords.convert(x, y, ecrs, grids.crs)
            sample = sample or (x, y, np.ones(len(x), dtype=bool) if good is None else good)
        else:
            gx = gy = np.full(len(x), np.nan)
        located, chunk_ties = grids.index.locate(gx, gy)
        del gx, gy
        ties += chunk_ties
        inside = located >= 0
        located_rows += int(np.count_nonzero(inside))
        np.copyto(chunk_pick, located, where=inside, casting="unsafe")
        missed = ~inside if good is None else good & ~inside
        np.copyto(chunk_flag, outside, where=missed, casting="unsafe")
        if ecrs.is_geographic:
            chunk_flag[_swapped_into_grids(x, y, missed, ecrs, grids)] = swapped
    return pick, flag, located_rows, ties, ecrs, sample


def _code_dtype(categories: int):
    """The smallest signed integer type of categorical codes for *categories* values."""
    for dtype in (np.int8, np.int16, np.int32):
        if categories < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _categorical(per_slot: np.ndarray, pick: np.ndarray) -> pd.Categorical:
    """Per event the value of its grid slot, as codes into the distinct values (sorted)."""
    categories, code_of_slot = np.unique(per_slot.astype(str), return_inverse=True)
    code_of_slot = code_of_slot.astype(_code_dtype(len(categories)))
    # the codes come from np.unique over the categories themselves: in range, no check needed
    return pd.Categorical.from_codes(code_of_slot[pick], categories=categories, validate=False)


def _nothing_inside(x, y, good, ecrs, grids: PreparedGrids, source) -> str:
    """Explain why no event is in any grid: swapped columns, wrong CRS, or another place."""
    bounds = grids.index.bounds
    x0, y0 = bounds[:, 0].min(), bounds[:, 1].min()
    x1, y1 = bounds[:, 2].max(), bounds[:, 3].max()
    message = (
        f"none of the {int(good.sum()):,} events with usable coordinates in {source} falls in "
        f"any of the {len(grids):,} grids of {grids.source}. Events span x {np.nanmin(x[good]):.6g}.."
        f"{np.nanmax(x[good]):.6g}, y {np.nanmin(y[good]):.6g}..{np.nanmax(y[good]):.6g} "
        f"(CRS {ecrs.name}); the grids span "
        f"{x0:.6g}..{x1:.6g}, {y0:.6g}..{y1:.6g} ({grids.crs.pyproj.to_string()})."
    )
    try:
        sx, sy = coords.convert(y[good], x[good], ecrs, grids.crs)
        if (grids.index.locate(sx, sy)[0] >= 0).any():
            return message + " With the two columns swapped they do fall in the grids: swap the lon=..., lat=... columns."
    except Exception:  # noqa: BLE001 - a hint only; the main message stands
        pass
    return message + (
        " Check the coordinate columns (lon=..., lat=...) and their CRS (crs=..., one of wgs84, gcj02, bd09, "
        "EPSG:nnnn), "
        "and that the events and grids cover the same district."
    )


def _swapped_into_grids(x, y, outside, ecrs, grids: PreparedGrids) -> np.ndarray:
    """Events outside every grid that land in one when longitude and latitude are read the other way round.

    A row typed lat,lon in a lon,lat file is in range both ways in much of the world, so only
    the grids can tell: such rows are flagged ``swapped`` (with the fix in the message) instead
    of ``outside_grids``.
    """
    swapped = np.zeros(len(x), dtype=bool)
    if not ecrs.is_geographic or not outside.any():
        return swapped
    idx = np.flatnonzero(outside & (np.abs(x) <= 90) & (np.abs(y) <= 180))
    if idx.size:
        sx, sy = coords.convert(y[idx], x[idx], ecrs, grids.crs)
        swapped[idx[grids.index.locate(sx, sy)[0] >= 0]] = True
    return swapped
