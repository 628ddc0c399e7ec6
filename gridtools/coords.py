"""WGS-84 <-> GCJ-02 <-> BD-09 and any EPSG CRS: vectorised, with an exact (iterative) inverse.

Chinese web maps and phone apps publish coordinates in two deliberately shifted datums:

* **GCJ-02** ("Mars coordinates"; AMap/Gaode, Tencent, Google Maps China, Apple Maps in China):
  WGS-84 plus a non-linear offset of roughly 100-700 m, defined by a public formula.
* **BD-09** (Baidu): GCJ-02 plus a further rotation/offset of about 1 km.

The forward formulas (WGS -> GCJ -> BD) are closed-form.  Their inverses are not: the common
"one-step" inverse (subtract the offset computed at the shifted point) is off by 1-3 m.  This
module inverts by fixed-point iteration, ``w <- w - (f(w) - target)``, which converges to the
round-off of float64 (well under a millimetre) in a handful of steps because the offset changes
slowly (its derivative is ~1e-5 per degree).

Rule for "inside China"
-----------------------
GCJ-02 only shifts points inside China.  Like every published implementation (eviltransform,
coordtransform, the R ``geoChina`` package), gridtools uses the rough bounding box
longitude 72.004..137.8347 E, latitude 0.8293..55.8271 N (:data:`CHINA_BBOX`): inside it
GCJ-02 = WGS-84 + offset, outside it GCJ-02 == WGS-84 unchanged.  The box is only a box (it
covers parts of Mongolia, Korea, Japan, South-East Asia); that is the convention the data
producers use, so it is the right rule for *converting* their data.  For the inverse the box is
tested on the WGS-84 solution, so a round trip is exact everywhere except within ~1 km of the box
edge in the open sea / neighbouring countries (where no Chinese map data lies).

BD-09 is GCJ-02 rotated and offset by a formula defined everywhere; like Baidu's own API,
gridtools applies it to every point (BD-09 outside China is then GCJ-02 == WGS-84 plus ~1 km).

Every function takes and returns numpy arrays (or scalars) of longitude and latitude in degrees.

Examples
--------
>>> from gridtools import coords
>>> lon, lat = coords.wgs84_to_gcj02(121.5272106, 31.1774276)
>>> round(float(lon), 7), round(float(lat), 7)
(121.5315419, 31.175304)
>>> back = coords.gcj02_to_wgs84(lon, lat)
>>> round(float(back[0]), 9), round(float(back[1]), 9)
(121.5272106, 31.1774276)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyproj

from gridtools import crs as crs_module
from gridtools.crs import CHINA_BBOX, DATUMS, CRS, in_china
from gridtools.errors import CRSError, rows_where
from gridtools.validate import parse_numbers, require_columns

__all__ = [
    "CHINA_BBOX",
    "DATUMS",
    "in_china",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "normalize_crs",
    "convert",
    "distance_m",
    "check_lonlat",
    "CoordinateCheck",
    "convert_table",
    "ConvertResult",
]


# Krasovsky 1940 ellipsoid: the GCJ-02 formula is written on it (semi-major axis, e^2).
_A = 6378245.0
_EE = 0.00669342162296594323
_BD_PI = np.pi * 3000.0 / 180.0
# Iteration stops when no point moved more than this (degrees; 1e-10 deg ~ 11 micrometres):
# the error left after that step is ~1e-4 of it, far below a millimetre.
_TOL = 1e-10
_MAX_ITER = 50
_EARTH_R = 6371008.8  # mean Earth radius for distances


def _arrays(lon, lat) -> tuple[np.ndarray, np.ndarray, bool]:
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), scalar


def _out(lon: np.ndarray, lat: np.ndarray, scalar: bool):
    if scalar:
        return np.float64(lon), np.float64(lat)
    return lon, lat


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS-84 at a WGS-84 point (degrees), ignoring the China box."""
    x, y = lon - 105.0, lat - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def _wgs_to_gcj(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inside = in_china(lon, lat)
    dlon, dlat = _gcj_offset(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def _bd_forward(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _BD_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _invert(forward, lon: np.ndarray, lat: np.ndarray, start) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``forward(x, y) == (lon, lat)`` by fixed-point iteration from ``start``.

    The forward maps are the identity plus a slowly varying offset, so
    ``x <- x - (forward(x) - target)`` contracts by ~1e-4 per step.
    """
    shape = np.broadcast_shapes(np.shape(lon), np.shape(lat), np.shape(start[0]))
    x, y = (np.array(np.broadcast_to(v, shape), dtype=float).ravel() for v in start)
    lon, lat = np.broadcast_to(lon, shape).ravel(), np.broadcast_to(lat, shape).ravel()
    # Only points still moving are iterated: near the China box edge a few have no fixed point
    # (the offset switches off across the edge) and would otherwise keep everyone iterating.
    active = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    for _ in range(_MAX_ITER):
        if not len(active):
            break
        fx, fy = forward(x[active], y[active])
        ex, ey = fx - lon[active], fy - lat[active]
        x[active] -= ex
        y[active] -= ey
        active = active[np.maximum(np.abs(ex), np.abs(ey)) > _TOL]
    return x.reshape(shape), y.reshape(shape)


def wgs84_to_gcj02(lon, lat):
    """WGS-84 -> GCJ-02 (unchanged outside :data:`CHINA_BBOX`).

    Parameters
    ----------
    lon, lat : float or array-like
        WGS-84 degrees.

    Returns
    -------
    (lon, lat) : floats or numpy arrays
        GCJ-02 degrees.

    Examples
    --------
    >>> [round(float(v), 6) for v in wgs84_to_gcj02(116.377817, 39.911954)]
    [116.384047, 39.913345]
    """
    lon, lat, scalar = _arrays(lon, lat)
    return _out(*_wgs_to_gcj(lon, lat), scalar)


def gcj02_to_wgs84(lon, lat):
    """GCJ-02 -> WGS-84 by iteration: exact to float round-off (the one-step inverse is off ~1-3 m).

    Parameters
    ----------
    lon, lat : float or array-like
        GCJ-02 degrees.

    Returns
    -------
    (lon, lat) : floats or numpy arrays
        WGS-84 degrees; unchanged outside China.

    Examples
    --------
    >>> [round(float(v), 6) for v in gcj02_to_wgs84(116.384047, 39.913345)]
    [116.377817, 39.911954]
    """
    lon, lat, scalar = _arrays(lon, lat)
    # Start from the one-step inverse; points whose solution is outside the box stay unchanged.
    dlon, dlat = _gcj_offset(lon, lat)
    start = (lon - dlon, lat - dlat)
    return _out(*_invert(_wgs_to_gcj, lon, lat, start), scalar)


def gcj02_to_bd09(lon, lat):
    """GCJ-02 -> BD-09 (Baidu).

    Examples
    --------
    >>> [round(float(v), 6) for v in gcj02_to_bd09(116.404, 39.915)]
    [116.410369, 39.921337]
    """
    lon, lat, scalar = _arrays(lon, lat)
    return _out(*_bd_forward(lon, lat), scalar)


def bd09_to_gcj02(lon, lat):
    """BD-09 -> GCJ-02 by iteration (exact; Baidu's published one-step inverse is off ~1 m).

    Examples
    --------
    >>> [round(float(v), 6) for v in bd09_to_gcj02(116.41036949371029, 39.92133699351021)]
    [116.404, 39.915]
    """
    lon, lat, scalar = _arrays(lon, lat)
    x, y = lon - 0.0065, lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_PI)
    start = (z * np.cos(theta), z * np.sin(theta))
    return _out(*_invert(_bd_forward, lon, lat, start), scalar)


def wgs84_to_bd09(lon, lat):
    """WGS-84 -> BD-09 (via GCJ-02).

    Examples
    --------
    >>> [round(float(v), 4) for v in wgs84_to_bd09(120.0088, 29.1961)]
    [120.0199, 29.1997]
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat):
    """BD-09 -> WGS-84 (via GCJ-02, both steps iterative).

    Examples
    --------
    >>> [round(float(v), 6) for v in bd09_to_wgs84(120.019809, 29.199786)]
    [120.00874, 29.19622]
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_STEPS = {
    ("wgs84", "gcj02"): wgs84_to_gcj02,
    ("gcj02", "wgs84"): gcj02_to_wgs84,
    ("gcj02", "bd09"): gcj02_to_bd09,
    ("bd09", "gcj02"): bd09_to_gcj02,
    ("wgs84", "bd09"): wgs84_to_bd09,
    ("bd09", "wgs84"): bd09_to_wgs84,
}


def normalize_crs(value):
    """``"wgs84"``, ``"gcj02"``, ``"bd09"`` or a :class:`pyproj.CRS` for any CRS-like value.

    Kept for code written against gridtools 0.1; new code uses :func:`gridtools.crs.parse`,
    whose :class:`~gridtools.crs.CRS` carries the same facts without a ``str | CRS`` union.

    Parameters
    ----------
    value : str, int, pyproj.CRS or gridtools.crs.CRS

    Returns
    -------
    str or pyproj.CRS

    Raises
    ------
    CRSError
        Not a CRS.

    Examples
    --------
    >>> normalize_crs("GCJ-02"), normalize_crs("EPSG:4326"), normalize_crs("BD09")
    ('gcj02', 'wgs84', 'bd09')
    >>> normalize_crs(2913).to_epsg()
    2913
    """
    parsed = _parse(value)
    return parsed.name if parsed.datum or parsed.is_wgs84 else parsed.pyproj


def _parse(value) -> CRS:
    """:func:`gridtools.crs.parse`, refusing None: every conversion needs both ends."""
    if value is None:
        raise CRSError("no CRS given; pass one of wgs84, gcj02, bd09 or EPSG:nnnn.")
    return crs_module.parse(value)


def _datum_name(crs: CRS) -> str | None:
    """The name of the datum step (wgs84/gcj02/bd09), or None for a CRS that needs pyproj."""
    return crs.datum or ("wgs84" if crs.is_wgs84 else None)


def convert(x, y, source, target):
    """Convert coordinates between any two of WGS-84, GCJ-02, BD-09 and EPSG / pyproj CRSs.

    EPSG CRSs go through WGS-84 with pyproj (``always_xy``: longitude/easting first).

    Parameters
    ----------
    x, y : float or array-like
        Longitude/latitude in degrees (or easting/northing for a projected *source*).
    source, target : str, int, pyproj.CRS or gridtools.crs.CRS
        ``"wgs84"``, ``"gcj02"``, ``"bd09"``, ``"EPSG:nnnn"``, ... (see :func:`gridtools.crs.parse`).

    Returns
    -------
    (x, y) : floats or numpy arrays

    Examples
    --------
    >>> lon, lat = convert(121.531541859215, 31.17530398364597, "gcj02", "EPSG:4326")
    >>> round(float(lon), 7), round(float(lat), 7)
    (121.5272106, 31.1774276)
    >>> e, n = convert(121.531541859215, 31.17530398364597, "gcj02", "EPSG:32651")  # via WGS-84
    >>> round(float(e)), round(float(n))
    (359652, 3450200)
    """
    src_crs, dst_crs = _parse(source), _parse(target)
    x, y, scalar = _arrays(x, y)
    source, target = _datum_name(src_crs), _datum_name(dst_crs)
    if source is None and target is None and src_crs.pyproj == dst_crs.pyproj:
        # no round trip through WGS-84: it would move points off shared vertices by ~1e-9 m
        return _out(x.copy(), y.copy(), scalar)
    if source is None:
        x, y = _pyproj(x, y, src_crs.pyproj, _WGS84)
        source = "wgs84"
    final = None
    if target is None:
        final, target = dst_crs.pyproj, "wgs84"
    if source != target:
        x, y = _STEPS[(source, target)](x, y)
    else:
        x, y = x.copy(), y.copy()
    if final is not None:
        x, y = _pyproj(x, y, _WGS84, final)
    return _out(np.asarray(x, dtype=float), np.asarray(y, dtype=float), scalar)


_WGS84 = crs_module.WGS84


def _pyproj(x, y, source: pyproj.CRS, target: pyproj.CRS):
    transformer = pyproj.Transformer.from_crs(source, target, always_xy=True)
    return transformer.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))


def distance_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance in metres (haversine, mean Earth radius): for errors and offsets.

    Examples
    --------
    >>> round(float(distance_m(0, 0, 0, 1)))
    111195
    """
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2, dtype=float) - np.asarray(lon1, dtype=float))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * _EARTH_R * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


# --------------------------------------------------------------------------------------------
# Checking coordinate columns of a table, row by row
# --------------------------------------------------------------------------------------------

#: Problems :func:`check_lonlat` reports, in the order they are tested.
PROBLEMS = {
    "missing": "a missing coordinate",
    "non_numeric": "a non-numeric coordinate",
    "swapped": "longitude and latitude apparently swapped",
    "out_of_range": "coordinates outside -180..180 / -90..90 (projected x/y given as lon/lat?)",
    "outside_china": "a point outside China (GCJ-02/BD-09 exist only inside China)",
}


@dataclass
class CoordinateCheck:
    """Parsed coordinates of a table and, per row, what is wrong with them.

    Attributes
    ----------
    x, y : numpy.ndarray
        Parsed numbers (NaN where missing or non-numeric).
    problem : numpy.ndarray of str
        One of the keys of :data:`PROBLEMS`, or ``""`` for a usable row.
    """

    x: np.ndarray
    y: np.ndarray
    problem: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """True for rows with usable coordinates."""
        return self.problem == ""

    def counts(self) -> dict[str, int]:
        """``{problem: number of rows}`` for the problems present."""
        kinds, n = np.unique(self.problem[~self.ok], return_counts=True)
        return {str(k): int(c) for k, c in zip(kinds, n, strict=True)}

    def messages(self, index=None) -> list[str]:
        """One line per problem naming its rows (counting from 1)."""
        index = pd.RangeIndex(len(self.problem)) if index is None else index
        return [
            f"{PROBLEMS[kind]} in {rows_where(self.problem == kind, index)}"
            for kind, n in self.counts().items()
        ]


def check_lonlat(lon, lat, crs="wgs84") -> CoordinateCheck:
    """Parse longitude/latitude columns and flag each unusable row (nothing is dropped).

    Parameters
    ----------
    lon, lat : array-like or pandas.Series
        Numbers or text.
    crs : str, default "wgs84"
        ``"wgs84"``, ``"gcj02"``, ``"bd09"`` or a geographic EPSG CRS.  For GCJ-02/BD-09, points
        outside China are flagged ``outside_china`` (those datums do not exist there).

    Returns
    -------
    CoordinateCheck

    Examples
    --------
    >>> check = check_lonlat(["121.4", "", "abc", "31.2", "500000"], ["31.2", "31", "31", "121.4", "3400000"], "gcj02")
    >>> check.problem.tolist()
    ['', 'missing', 'non_numeric', 'swapped', 'out_of_range']
    """
    crs = _parse(crs)
    if not crs.is_geographic:
        raise CRSError(
            f"{crs.name} is a projected CRS: its coordinates are x/y in metres or feet, not "
            "longitude/latitude; use a geographic CRS (wgs84, gcj02, bd09, EPSG:4490)."
        )
    x, xmiss = parse_numbers(lon)
    y, ymiss = parse_numbers(lat)
    problem = np.full(len(x), "", dtype=object)
    missing = xmiss | ymiss
    nonnum = ~missing & ~(np.isfinite(x) & np.isfinite(y))
    valid = (np.abs(x) <= 180) & (np.abs(y) <= 90)
    swapped_valid = (np.abs(y) <= 180) & (np.abs(x) <= 90)
    numeric = ~missing & ~nonnum
    swapped = numeric & ~valid & swapped_valid
    out_of_range = numeric & ~valid & ~swapped
    chinese = crs.datum is not None
    if chinese:
        inside, inside_swapped = in_china(x, y), in_china(y, x)
        # In range both ways round, but only the swapped reading is in China: swapped.
        swapped |= numeric & valid & ~inside & inside_swapped
    problem[missing] = "missing"
    problem[nonnum] = "non_numeric"
    problem[swapped] = "swapped"
    problem[out_of_range] = "out_of_range"
    if chinese:
        outside = numeric & valid & ~swapped & ~in_china(x, y)
        problem[outside] = "outside_china"
    return CoordinateCheck(x, y, problem.astype(str))


@dataclass
class ConvertResult:
    """A table with converted coordinate columns and the rows left unchanged.

    Attributes
    ----------
    table : pandas.DataFrame
        Every input row and column; only the two coordinate columns differ, and only in
        rows whose coordinates were usable.
    check : CoordinateCheck
        Per-row problems of the input coordinates.
    source, target : str
        The CRSs converted between.
    summary : dict
        Counts: rows, converted, unchanged by problem, max/median shift in metres.
    """

    table: pd.DataFrame
    check: CoordinateCheck
    source: str
    target: str
    summary: dict = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        s = self.summary
        lines = [
            f"{s['rows']:,} rows, {s['converted']:,} converted from {self.source} to {self.target}",
        ]
        if s.get("outside_china_unchanged"):
            lines.append(f"{s['outside_china_unchanged']:,} point(s) outside China: WGS-84 == GCJ-02 there")
        if s["converted"]:
            lines.append(f"shift: median {s['median_shift_m']:,.1f} m, max {s['max_shift_m']:,.1f} m")
        if s["rows"] > s["converted"]:
            lines.append(f"{s['rows'] - s['converted']:,} row(s) left unchanged: " + "; ".join(
                self.check.messages(self.table.index)))
        return lines

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{line}</li>" for line in self.summary_lines())
        return f"<b>ConvertResult</b><ul>{items}</ul>"


def _source(table) -> str:
    return table.attrs.get("source", "table")


def _format(values: np.ndarray, decimals: int) -> np.ndarray:
    # Shortest repr after rounding: 121.5315419 rather than 121.53154190000001.
    return np.round(values, decimals).astype(str)


def convert_table(
    table: pd.DataFrame, lon: str, lat: str, source, target, *, decimals: int = 9
) -> ConvertResult:
    """Rewrite the *lon*/*lat* columns of *table* from *source* to *target*, keeping all else.

    Rows whose coordinates are missing, non-numeric, out of range, look swapped, or (for a
    GCJ-02/BD-09 source) lie outside China keep their original values and are listed in the
    result's ``check``; nothing is dropped.  Converted values are written as text with
    *decimals* decimals (9 decimals = 0.1 mm) when the column holds text, as floats otherwise.

    Parameters
    ----------
    table : pandas.DataFrame
    lon, lat : str
        Column names.
    source, target : str, int or pyproj.CRS
        Geographic CRSs: wgs84, gcj02, bd09, or a geographic EPSG code.
    decimals : int, default 9

    Returns
    -------
    ConvertResult

    Raises
    ------
    InputError
        Missing columns.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"id": ["a", "b"], "lng": ["121.531541859215", "x"], "lat": ["31.17530398364597", "31"]})
    >>> r = convert_table(t, "lng", "lat", "gcj02", "wgs84", decimals=7)
    >>> r.table["lng"].tolist(), r.check.problem.tolist()
    (['121.5272106', 'x'], ['', 'non_numeric'])
    """
    require_columns(table, {lon: "lon", lat: "lat"})
    src, dst = _parse(source), _parse(target)
    for crs in (src, dst):
        if not crs.is_geographic:
            raise CRSError(
                f"{crs.name} is projected; convert_table rewrites longitude/latitude columns "
                "only. Read the table with gridtools.io.read_any(..., x=, y=, crs=) and use "
                "GeoDataFrame.to_crs for projected coordinates."
            )
    check = check_lonlat(table[lon], table[lat], src)
    ok = check.ok
    if len(table) and not ok.any():
        raise CRSError(
            f"{_source(table)}: none of the {len(table):,} rows has usable {src.name} "
            f"longitude/latitude in columns {lon!r}/{lat!r}: " + "; ".join(check.messages(table.index))
            + ". Check the column names (lon=..., lat=...) and the CRS (source=...): projected x/y "
            "in metres need an EPSG code and a reader of x/y (gridtools.io.read_any with x=, y=, crs=)."
        )
    nx, ny = convert(check.x[ok], check.y[ok], src, dst)
    out = table.copy()
    shift = distance_m(check.x[ok], check.y[ok], nx, ny)
    # Rows the conversion leaves where they are (same datum, or WGS-84 -> GCJ-02 outside China)
    # keep their text as written: "121.50" is not rewritten as "121.5".
    moved = np.zeros(len(table), dtype=bool)
    moved[ok] = (nx != check.x[ok]) | (ny != check.y[ok])
    for column, values in ((lon, nx), (lat, ny)):
        col = out[column]
        if pd.api.types.is_numeric_dtype(col):
            new = col.to_numpy(dtype=float, copy=True)
            new[moved] = values[moved[ok]]
        else:
            new = col.to_numpy(dtype=object, copy=True)
            new[moved] = _format(values[moved[ok]], decimals)
        out[column] = new
    summary = {
        "rows": len(table),
        "converted": int(ok.sum()),
        # WGS-84 -> GCJ-02 leaves points outside China where they are (module rule).
        "outside_china_unchanged": int((ok & ~in_china(check.x, check.y)).sum())
        if dst.datum == "gcj02" and src.datum is None
        else 0,
        "unchanged": check.counts(),
        "median_shift_m": float(np.median(shift)) if len(shift) else 0.0,
        "max_shift_m": float(np.max(shift)) if len(shift) else 0.0,
    }
    return ConvertResult(out, check, src.name, dst.name, summary)

