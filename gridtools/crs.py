"""Coordinate reference systems: parse a CRS argument once, into one small type.

Every CRS a user gives (``crs=...`` in Python, ``--crs`` on the command line) goes through
:func:`parse` and comes out as a :class:`CRS`: a :class:`pyproj.CRS` plus a flag for the two
Chinese web-map datums, which have no EPSG code:

* **GCJ-02** (AMap/Gaode, Tencent, Google Maps China): WGS-84 shifted by a published,
  non-linear offset of 100-700 m inside China;
* **BD-09** (Baidu): GCJ-02 shifted again by about 1 km.

Their numbers are longitude/latitude in degrees, so their :attr:`CRS.pyproj` is WGS-84
(EPSG:4326) and :attr:`CRS.datum` says ``"gcj02"`` or ``"bd09"``; :mod:`gridtools.coords`
converts them.  Nothing else in gridtools tests ``isinstance(crs, str)``.

This module also owns the metric CRS used for distances and areas
(:func:`local_metric_crs`, :func:`to_metric`) and the rough "inside China" box GCJ-02
producers use (:data:`CHINA_BBOX`, :func:`in_china`).

Examples
--------
>>> from gridtools import crs
>>> crs.parse("gcj02")
CRS('gcj02')
>>> crs.parse("EPSG:4326").is_wgs84, crs.parse(2913).label
(True, 'EPSG:2913 (NAD83(HARN) / Oregon North (ft))')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyproj

from gridtools.errors import CRSError

__all__ = [
    "CRS",
    "parse",
    "parse_crs",
    "chinese_datum",
    "label",
    "same_crs",
    "horizontal_unit",
    "is_local_metric",
    "local_metric_crs",
    "to_metric",
    "CHINA_BBOX",
    "in_china",
    "DATUMS",
    "WGS84",
]

#: (min lon, min lat, max lon, max lat) of the rough "inside China" box used by GCJ-02 producers.
CHINA_BBOX: tuple[float, float, float, float] = (72.004, 0.8293, 137.8347, 55.8271)

#: Short names of the three geographic datums gridtools converts between.
DATUMS = ("wgs84", "gcj02", "bd09")

WGS84 = pyproj.CRS.from_epsg(4326)

# Friendly names for common CRSs, keyed by the lower-cased name without spaces, "-" or "_".
_ALIASES = {"wgs84": 4326, "cgcs2000": 4490, "nad83": 4269, "nad27": 4267, "webmercator": 3857}
# Spellings of the Chinese web-map datums -> their short name.
_CHINESE = {
    "gcj02": "gcj02", "gcj": "gcj02", "mars": "gcj02",
    "bd09": "bd09", "bd09ll": "bd09", "bd09mc": "bd09", "baidu": "bd09",
}
_DATUM_LABELS = {"gcj02": "GCJ-02", "bd09": "BD-09"}
FORMS = (
    "an EPSG code (4326, '4326', 'EPSG:4326', 'epsg:2913'), a name ('wgs84', 'cgcs2000', "
    "'nad83'), 'gcj02' or 'bd09' for Chinese web-map longitude/latitude, a PROJ string "
    "('+proj=utm +zone=50 +datum=WGS84'), WKT, or a pyproj.CRS"
)


@dataclass(frozen=True)
class CRS:
    """A parsed coordinate reference system: a pyproj CRS and, for Chinese web maps, a datum.

    Attributes
    ----------
    pyproj : pyproj.CRS
        The CRS of the numbers (EPSG:4326 for GCJ-02 and BD-09, whose numbers are degrees).
    datum : {None, "gcj02", "bd09"}
        The Chinese web-map datum the longitude/latitude are in, or None.

    Examples
    --------
    >>> c = parse("BD-09")
    >>> c.datum, c.pyproj.to_epsg(), c.is_geographic, str(c)
    ('bd09', 4326, True, 'bd09')
    """

    pyproj: pyproj.CRS
    datum: str | None = None

    @property
    def name(self) -> str:
        """``"wgs84"``, ``"gcj02"``, ``"bd09"`` or ``"EPSG:nnnn"`` (else the pyproj name)."""
        if self.datum:
            return self.datum
        if self.is_wgs84:
            return "wgs84"
        authority = self.pyproj.to_authority()
        return ":".join(authority) if authority else self.pyproj.name

    @property
    def label(self) -> str:
        """A label for messages: ``"GCJ-02"`` or ``"EPSG:4269 (NAD83)"``."""
        return _DATUM_LABELS[self.datum] if self.datum else label(self.pyproj)

    @property
    def is_geographic(self) -> bool:
        """True for longitude/latitude in degrees (every Chinese web-map datum is)."""
        return bool(self.pyproj.is_geographic)

    @property
    def is_wgs84(self) -> bool:
        """True for plain WGS-84 longitude/latitude (EPSG:4326), not GCJ-02/BD-09."""
        return self.datum is None and self.pyproj.to_epsg() == 4326

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"CRS({self.name!r})"


def _alias_key(text: str) -> str:
    return re.sub(r"[\s_\-]", "", text.strip().lower())


def chinese_datum(value) -> str | None:
    """The label of the Chinese web-map datum that *value* names (``"GCJ-02"``/``"BD-09"``), if any.

    Parameters
    ----------
    value : object
        A CRS-like value, typically a string from the command line, or a :class:`CRS`.

    Returns
    -------
    str or None

    Examples
    --------
    >>> chinese_datum("GCJ-02"), chinese_datum("bd09"), chinese_datum("EPSG:4326")
    ('GCJ-02', 'BD-09', None)
    """
    if isinstance(value, CRS):
        return _DATUM_LABELS.get(value.datum) if value.datum else None
    if not isinstance(value, str):
        return None
    short = _CHINESE.get(_alias_key(value))
    return _DATUM_LABELS[short] if short else None


def parse(value) -> CRS | None:
    """Parse any CRS argument into a :class:`CRS` (None stays None).

    Parameters
    ----------
    value : None, int, str, pyproj.CRS or CRS
        An EPSG code as int or string (``4326``, ``"4326"``, ``"EPSG:4326"``), a common name
        (``"wgs84"``, ``"WGS-84"``, ``"cgcs2000"``, ``"nad83"``), ``"gcj02"``/``"bd09"`` (any
        spelling: ``"GCJ-02"``, ``"baidu"``), or anything :meth:`pyproj.CRS.from_user_input`
        accepts (PROJ string, WKT, CRS object).

    Returns
    -------
    CRS or None

    Raises
    ------
    CRSError
        Not a CRS; the message lists the accepted forms.

    Examples
    --------
    >>> parse("wgs84").pyproj.to_epsg(), parse("gcj02").datum, parse(None)
    (4326, 'gcj02', None)
    """
    if value is None or isinstance(value, CRS):
        return value
    if isinstance(value, str) and _alias_key(value) in _CHINESE:
        return CRS(WGS84, _CHINESE[_alias_key(value)])
    try:
        return CRS(_pyproj_from(value))
    except (pyproj.exceptions.CRSError, TypeError, ValueError) as exc:
        raise CRSError(f"cannot understand the CRS {value!r} ({exc}). Pass {FORMS}.") from exc


def parse_crs(value) -> pyproj.CRS | None:
    """Parse a CRS argument that must be an EPSG/PROJ CRS into a :class:`pyproj.CRS`.

    Like :func:`parse`, but GCJ-02/BD-09 are refused: they have no pyproj CRS, so code that
    needs one (reprojection, a file's CRS label) must convert them to WGS-84 first.

    Parameters
    ----------
    value : None, int, str, pyproj.CRS or CRS

    Returns
    -------
    pyproj.CRS or None
        None only when *value* is None.

    Raises
    ------
    CRSError
        Not a CRS, or a Chinese web-map datum (the message says how to convert it).

    Examples
    --------
    >>> parse_crs("wgs84").to_epsg()
    4326
    >>> parse_crs(2913).name
    'NAD83(HARN) / Oregon North (ft)'
    """
    parsed = parse(value)
    if parsed is None:
        return None
    if parsed.datum:
        text = value if isinstance(value, str) else parsed.datum
        raise CRSError(
            f"{text!r} ({parsed.label}) is not an EPSG coordinate reference system: it is the "
            "shifted datum of Chinese web maps (GCJ-02: AMap/Gaode, Tencent; BD-09: Baidu). "
            f"Convert {parsed.label} longitude/latitude to WGS-84 first: read_any(path, "
            f"crs={text!r}) does it on read, gridtools.coords.convert(x, y, {text!r}, 'wgs84') "
            "for arrays, 'gridtools coords convert' for CSV files."
        )
    return parsed.pyproj


def _pyproj_from(value) -> pyproj.CRS:
    if isinstance(value, pyproj.CRS):
        return value
    # bool is an int subclass: crs=True is a mistake, not EPSG:1.
    if isinstance(value, bool):
        raise TypeError("a boolean is not a CRS")
    if isinstance(value, (int, np.integer)):
        return pyproj.CRS.from_epsg(int(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("the CRS is an empty string")
        if text.isdigit():
            return pyproj.CRS.from_epsg(int(text))
        if _alias_key(text) in _ALIASES:
            return pyproj.CRS.from_epsg(_ALIASES[_alias_key(text)])
        return pyproj.CRS.from_user_input(text)
    return pyproj.CRS.from_user_input(value)


def label(crs: pyproj.CRS) -> str:
    """``'EPSG:4269 (NAD83)'``: short enough for a message, exact enough to act on.

    Examples
    --------
    >>> label(pyproj.CRS.from_epsg(4269))
    'EPSG:4269 (NAD83)'
    """
    if isinstance(crs, CRS):
        return crs.label
    authority = crs.to_authority(min_confidence=90)
    return f"{':'.join(authority)} ({crs.name})" if authority else repr(crs.name)


def same_crs(a: pyproj.CRS, b: pyproj.CRS) -> bool:
    """True when two pyproj CRSs mean the same thing (axis order and ESRI WKT forgiven).

    Examples
    --------
    >>> same_crs(pyproj.CRS.from_epsg(4326), pyproj.CRS.from_user_input("OGC:CRS84"))
    True
    """
    if a == b or a.equals(b, ignore_axis_order=True):
        return True
    # Shapefile .prj files usually carry ESRI WKT without authority codes; they still mean the
    # EPSG CRS they identify with high confidence.
    code = a.to_epsg(min_confidence=70)
    return code is not None and code == b.to_epsg(min_confidence=70)


def horizontal_unit(crs: pyproj.CRS) -> tuple[str, float]:
    """Name and metre factor of the horizontal axis unit (compound CRSs: their first part).

    Examples
    --------
    >>> horizontal_unit(pyproj.CRS.from_epsg(2913))
    ('foot', 0.3048)
    """
    horizontal = crs.sub_crs_list[0] if crs.is_compound else crs
    axis = horizontal.axis_info[0]
    return axis.unit_name, axis.unit_conversion_factor


def is_local_metric(crs: pyproj.CRS) -> bool:
    """True for a projected CRS in metres that keeps scale (not feet, not Web Mercator).

    Examples
    --------
    >>> is_local_metric(pyproj.CRS.from_epsg(32650)), is_local_metric(pyproj.CRS.from_epsg(3857))
    (True, False)
    """
    if not crs.is_projected:
        return False
    unit, factor = horizontal_unit(crs)
    if factor != 1.0 or unit not in ("metre", "meter"):
        return False
    # (Pseudo-)Mercator metres are stretched by 1/cos(latitude): 1.33x at 41 N, 1.77x in area.
    operation = (
        crs.coordinate_operation if not crs.is_compound else crs.sub_crs_list[0].coordinate_operation
    )
    method = operation.method_name if operation else ""
    return not ("Mercator" in method and "Transverse" not in method)


def local_metric_crs(gdf) -> pyproj.CRS:
    """A CRS in metres suitable for distances and areas over the extent of *gdf*.

    The data's own CRS when it is projected in metres (not Web Mercator); otherwise the WGS-84
    UTM zone of the data's centre (north or south), which keeps scale error below 0.1 % within
    a zone -- ample for city-scale work.  Feet-based CRSs get UTM too.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame or GeoSeries
        With a CRS and at least one non-empty geometry.

    Returns
    -------
    pyproj.CRS

    Raises
    ------
    CRSError
        No CRS, or no extent to choose a zone from.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> pvd = gpd.GeoDataFrame(geometry=[shapely.Point(-71.41, 41.82)], crs=4269)
    >>> local_metric_crs(pvd).to_epsg()
    32619
    """
    name = gdf.attrs.get("source", "data")
    if gdf.crs is None:
        raise CRSError(f"{name} has no coordinate reference system; pass crs='EPSG:nnnn'.")
    if is_local_metric(gdf.crs):
        return gdf.crs
    try:
        return gdf.estimate_utm_crs()
    except (RuntimeError, ValueError) as exc:
        raise CRSError(
            f"{name}: cannot choose a UTM zone ({exc}); the data needs at least one non-empty "
            "geometry inside -80..84 degrees latitude."
        ) from exc


def to_metric(gdf):
    """Reproject *gdf* to :func:`local_metric_crs`, remembering the input CRS.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame

    Returns
    -------
    geopandas.GeoDataFrame
        A copy in metres; ``attrs`` are kept and ``attrs["input_crs"]`` holds the original CRS
        (kept from an earlier call, so calling twice is harmless).  Return results with
        ``result.to_crs(gdf.attrs["input_crs"])``.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> pvd = gpd.GeoDataFrame(geometry=[shapely.Point(-71.41, 41.82)], crs=4269)
    >>> m = to_metric(pvd)
    >>> m.crs.to_epsg(), m.attrs["input_crs"].to_epsg()
    (32619, 4269)
    """
    target = local_metric_crs(gdf)
    out = gdf.copy() if target == gdf.crs else gdf.to_crs(target)
    out.attrs = {**gdf.attrs, "input_crs": gdf.attrs.get("input_crs", gdf.crs)}
    return out


def in_china(lon, lat) -> np.ndarray:
    """True where a point lies in :data:`CHINA_BBOX` (where GCJ-02 differs from WGS-84).

    Examples
    --------
    >>> in_china([121.47, -0.12], [31.23, 51.5]).tolist()
    [True, False]
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    x0, y0, x1, y1 = CHINA_BBOX
    return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
