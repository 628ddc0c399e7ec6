"""Reading, writing and coordinate reference systems: the one door for data in and out.

Every gridtools capability reads its inputs with :func:`read_any` and writes its outputs with
:func:`write_any`, so the rules below hold everywhere and each error names the file at fault.

CRS rules
---------
1. **A CRS is never guessed.**  Data without a coordinate reference system is refused unless one
   is given (``crs=...``, CLI ``--crs``).  The only defaults are the ones a format itself defines:
   CSV longitude/latitude columns are WGS-84 (EPSG:4326), and so is GeoJSON without a ``crs``
   member (RFC 7946).
2. **A declared CRS is never overridden.**  If a file declares one CRS and ``crs`` names another,
   that is an error: relabelling coordinates moves the data, reprojecting (``to_crs``) does not.
3. **Degrees and metres are checked** (:func:`check_coordinates`): metre-sized numbers labelled as
   degrees, or degree-sized numbers labelled as a projected CRS, are refused.
4. **Metric work happens in a local metric CRS** (:func:`local_metric_crs`, :func:`to_metric`):
   the data's own CRS if it is projected in metres, otherwise the UTM zone of the data.  Feet and
   Web Mercator (whose "metres" are up to 1.5x too long at mid latitudes) are replaced by UTM.
5. **Results are written back in the input CRS.**  :func:`to_metric` records the original CRS in
   ``gdf.attrs["input_crs"]`` so a capability can return ``result.to_crs(gdf.attrs["input_crs"])``.
6. **GCJ-02 and BD-09** (the shifted datums of Chinese web maps) are not EPSG CRSs.
   ``read_any(path, crs="gcj02")`` (or ``"bd09"``; CLI ``--crs gcj02``) reads longitude/latitude
   in that datum and converts them to WGS-84 on read with :mod:`gridtools.coords` (iterative,
   exact inverse), recording it in ``gdf.attrs["datum_converted"]``.  A file labelled EPSG:4326 /
   EPSG:4490 may be declared GCJ-02 / BD-09 this way (web-map exports carry the WGS-84 label);
   a projected file may not.  :func:`parse_crs` itself refuses them (it returns pyproj CRSs).

Nothing here prints: functions return values or raise :class:`~gridtools.errors.InputError` /
:class:`~gridtools.errors.CRSError` with a message that names the file, rows or columns and says
what to do.  Row numbers in messages count from 1 (for CSV files: data rows after the header).

Examples
--------
>>> from gridtools import io
>>> blocks = io.read_any("blocks.gpkg")                      # doctest: +SKIP
>>> pop = io.numeric_column(blocks, "pop")                    # doctest: +SKIP
>>> metric = io.to_metric(blocks)                              # doctest: +SKIP
>>> result = metric.to_crs(metric.attrs["input_crs"])         # doctest: +SKIP
>>> io.write_any(result, "out.gpkg", layer="grids")            # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from gridtools.errors import CRSError, GridtoolsError, InputError, describe_rows, rows_where

__all__ = [
    "parse_crs",
    "chinese_datum",
    "read_any",
    "check_coordinates",
    "check_geometries",
    "require_columns",
    "numeric_column",
    "local_metric_crs",
    "to_metric",
    "write_any",
    "read_text_table",
    "write_text_table",
    "is_table_path",
]

# Arrow makes pyogrio reads several times faster; it is a hard dependency, but stay correct
# without it.
_USE_ARROW = importlib.util.find_spec("pyarrow") is not None

# Read failures from GDAL (pyogrio errors derive from RuntimeError), the OS and pyarrow.
_READ_ERRORS = (RuntimeError, OSError, ValueError, TypeError)

_VECTOR_DRIVERS = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "ESRI Shapefile",
    ".fgb": "FlatGeobuf",
}
_PARQUET = (".parquet", ".geoparquet")
_TABLES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")
_WRITABLE = (*_VECTOR_DRIVERS, *_PARQUET, ".csv", ".csv.gz")
# Vector files worth opening inside a zip archive whose layout GDAL does not open by itself.
_ZIP_MEMBERS = (".shp", ".gpkg", ".geojson", ".json", ".fgb", ".gml", ".kml")
# Shapefile sidecars: a rewrite must not leave stale ones (an old spatial index is wrong).
_SHP_SIDECARS = (".shx", ".dbf", ".prj", ".cpg", ".qpj", ".qix", ".sbn", ".sbx", ".fix", ".shp.xml")

# Column names recognised for coordinates in tables (compared case-insensitively).
_LON_NAMES = frozenset({"lon", "lng", "long", "longitude", "经度"})
_LAT_NAMES = frozenset({"lat", "latitude", "纬度"})
_X_NAMES = frozenset({"x", "point_x"})
_Y_NAMES = frozenset({"y", "point_y"})
_WKT_NAMES = frozenset({"geometry", "wkt", "geom", "the_geom"})

# Friendly names for common CRSs, keyed by the lower-cased name without spaces, "-" or "_".
_CRS_ALIASES = {
    "wgs84": 4326,
    "cgcs2000": 4490,
    "nad83": 4269,
    "nad27": 4267,
    "webmercator": 3857,
}
# Names of the Chinese web-map datums; gridtools.coords converts them to WGS-84.
_CHINESE_DATUMS = {
    "gcj02": "GCJ-02",
    "gcj": "GCJ-02",
    "mars": "GCJ-02",
    "bd09": "BD-09",
    "bd09ll": "BD-09",
    "bd09mc": "BD-09",
    "baidu": "BD-09",
}
_CRS_FORMS = (
    "an EPSG code (4326, '4326', 'EPSG:4326', 'epsg:2913'), a name ('wgs84', 'cgcs2000', "
    "'nad83'), a PROJ string ('+proj=utm +zone=50 +datum=WGS84'), WKT, or a pyproj.CRS"
)


# --------------------------------------------------------------------------------------------
# CRS parsing
# --------------------------------------------------------------------------------------------


def _alias_key(text: str) -> str:
    return re.sub(r"[\s_\-]", "", text.strip().lower())


def chinese_datum(value) -> str | None:
    """Name the Chinese web-map datum that *value* refers to, if any.

    GCJ-02 (AMap/Gaode, Tencent, Google China) and BD-09 (Baidu) are deliberately shifted
    versions of WGS-84 without an EPSG code.  :func:`parse_crs` refuses them; :func:`read_any`
    and :mod:`gridtools.coords` use this function to recognise them and convert to WGS-84.

    Parameters
    ----------
    value : object
        A CRS-like value, typically a string from the command line.

    Returns
    -------
    str or None
        ``"GCJ-02"``, ``"BD-09"`` or ``None``.

    Examples
    --------
    >>> chinese_datum("GCJ-02"), chinese_datum("bd09"), chinese_datum("EPSG:4326")
    ('GCJ-02', 'BD-09', None)
    """
    if not isinstance(value, str):
        return None
    return _CHINESE_DATUMS.get(_alias_key(value))


def parse_crs(value) -> pyproj.CRS | None:
    """Turn a user-supplied CRS into a :class:`pyproj.CRS`.

    Parameters
    ----------
    value : None, int, str or pyproj.CRS
        ``None`` (no CRS given), an EPSG code as int or string (``4326``, ``"4326"``,
        ``"EPSG:4326"``), a common name (``"wgs84"``, ``"WGS-84"``, ``"cgcs2000"``, ``"nad83"``),
        or anything :meth:`pyproj.CRS.from_user_input` accepts (PROJ string, WKT, CRS object).

    Returns
    -------
    pyproj.CRS or None
        ``None`` only when *value* is ``None``.

    Raises
    ------
    CRSError
        If *value* is not a CRS, or names GCJ-02/BD-09 (convert those to WGS-84 first).

    Examples
    --------
    >>> parse_crs("wgs84").to_epsg()
    4326
    >>> parse_crs(2913).name
    'NAD83(HARN) / Oregon North (ft)'
    """
    if value is None or isinstance(value, pyproj.CRS):
        return value
    datum = chinese_datum(value)
    if datum is not None:
        raise CRSError(
            f"{value!r} ({datum}) is not an EPSG coordinate reference system: it is the shifted "
            "datum of Chinese web maps (GCJ-02: AMap/Gaode, Tencent; BD-09: Baidu). Convert "
            f"{datum} longitude/latitude to WGS-84 first: read_any(path, crs={value!r}) (CLI: "
            f"--crs {value}) does it on read, gridtools.coords.convert(x, y, {value!r}, 'wgs84') "
            "for arrays, 'gridtools coords convert' for CSV files."
        )
    try:
        return _crs_from(value)
    except (pyproj.exceptions.CRSError, TypeError, ValueError) as exc:
        raise CRSError(
            f"cannot understand the CRS {value!r} ({exc}). Pass {_CRS_FORMS} "
            "(CLI: --crs EPSG:4326)."
        ) from exc


def _crs_from(value) -> pyproj.CRS:
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
        if _alias_key(text) in _CRS_ALIASES:
            return pyproj.CRS.from_epsg(_CRS_ALIASES[_alias_key(text)])
        return pyproj.CRS.from_user_input(text)
    return pyproj.CRS.from_user_input(value)


def _crs_label(crs: pyproj.CRS) -> str:
    """``'EPSG:4269 (NAD83)'``: short enough for a message, exact enough to act on."""
    authority = crs.to_authority(min_confidence=90)
    return f"{':'.join(authority)} ({crs.name})" if authority else repr(crs.name)


def _same_crs(a: pyproj.CRS, b: pyproj.CRS) -> bool:
    if a == b or a.equals(b, ignore_axis_order=True):
        return True
    # Shapefile .prj files usually carry ESRI WKT without authority codes; they still mean the
    # EPSG CRS they identify with high confidence.
    code = a.to_epsg(min_confidence=70)
    return code is not None and code == b.to_epsg(min_confidence=70)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _suffix(path: Path) -> str:
    """Lower-case extension, keeping ``.csv.gz``-style double extensions together."""
    suffixes = [s.lower() for s in path.suffixes]
    if len(suffixes) >= 2 and suffixes[-1] == ".gz":
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""


def read_any(
    path,
    *,
    layer: str | None = None,
    crs=None,
    lon: str | None = None,
    lat: str | None = None,
    x: str | None = None,
    y: str | None = None,
    allow_empty: bool = False,
    check: bool = True,
    unlocated: str = "raise",
) -> gpd.GeoDataFrame:
    """Read a vector file or a point table into a GeoDataFrame with a checked CRS.

    The format follows the extension: ``.gpkg``, ``.geojson``/``.json``, ``.shp``, ``.fgb``,
    ``.zip`` (a zipped shapefile or other vector file), ``.parquet``/``.geoparquet``, and tables
    ``.csv``, ``.csv.gz``, ``.tsv``, ``.txt``.  Other extensions are handed to GDAL.

    Tables need coordinates: *lon*/*lat* or *x*/*y* column names, or columns detected by name
    (``lon``/``lng``/``long``/``longitude``/``经度`` and ``lat``/``latitude``/``纬度``, or
    ``x``/``y``, case-insensitive), or a WKT ``geometry`` column.  Longitude/latitude default to
    EPSG:4326; x/y and WKT need *crs*.

    Parameters
    ----------
    path : str or os.PathLike
        File to read.
    layer : str, optional
        Layer of a multi-layer file (or file inside a zip).  Required when there are several.
    crs : CRS-like, optional
        CRS of data that declares none (see :func:`parse_crs`).  It must agree with a CRS the
        file declares: use :meth:`GeoDataFrame.to_crs` to reproject.  ``"gcj02"`` / ``"bd09"``
        declare longitude/latitude in a Chinese web-map datum: they are converted to WGS-84
        (EPSG:4326) on read (rule 6 of the module docstring).
    lon, lat, x, y : str, optional
        Coordinate columns of a table.
    allow_empty : bool, default False
        Return an empty GeoDataFrame instead of raising when there are no rows.
    check : bool, default True
        Run :func:`check_coordinates` on the whole file.  Pass False only when the caller checks
        every row itself and reports bad rows by number (``gridtools.components`` does).
    unlocated : {"raise", "drop"}, default "raise"
        What to do with a row that has no location (an empty or non-numeric coordinate, a
        null/empty geometry, or the placeholder point (0, 0)).  ``"raise"`` refuses the file,
        naming the rows; ``"drop"`` leaves such rows out and lists them in
        ``attrs["missing_coordinates"]`` (data row numbers counting from 1), with
        ``attrs["n_rows"]`` the rows in the file: incident logs routinely hold a few.

    Returns
    -------
    geopandas.GeoDataFrame
        With a CRS and ``attrs["source"] = str(path)``; after a GCJ-02/BD-09 conversion also
        ``attrs["datum_converted"] = {"from": "GCJ-02", "to": "EPSG:4326", "points": n,
        "outside_china": m}``.

    Raises
    ------
    InputError
        Missing, unreadable or empty file; bad layer; missing or unparseable coordinates.
    CRSError
        No CRS, conflicting CRS, or coordinates that do not fit their CRS.

    Examples
    --------
    >>> blocks = read_any("Providence_blocks.zip")             # doctest: +SKIP
    >>> calls = read_any("cfs.csv.gz", x="x_coordina", y="y_coordina", crs=2913)  # doctest: +SKIP
    """
    path = Path(path).expanduser()
    if unlocated not in ("raise", "drop"):
        raise InputError(f"unlocated={unlocated!r}: use 'raise' or 'drop'")
    # Fail on a bad --crs before spending time on the file.
    datum = chinese_datum(crs)
    given = parse_crs(4326 if datum else crs)
    if not path.exists():
        raise InputError(f"file not found: {path}")
    suffix = _suffix(path)
    coord_args = {"lon": lon, "lat": lat, "x": x, "y": y}
    if suffix not in _TABLES + _PARQUET and any(v is not None for v in coord_args.values()):
        named = ", ".join(f"{k}={v!r}" for k, v in coord_args.items() if v is not None)
        raise InputError(
            f"{path}: {named} only apply to tables (.csv, .tsv, .txt, plain .parquet); a "
            f"{suffix or 'vector'} file has its own geometry. Drop those options (CLI: --lon/--lat/--x/--y)."
        )
    keep = unlocated == "drop"
    if suffix in _TABLES:
        gdf, implied = _read_table(path, **coord_args, keep_unlocated=keep)
    elif suffix in _PARQUET:
        gdf, implied = _read_parquet(path, **coord_args, keep_unlocated=keep)
    else:
        gdf, implied = _read_vector(path, layer)
    # A stale "input_crs" stored in a parquet file would send results to the wrong CRS.
    gdf.attrs.pop("input_crs", None)
    gdf.attrs["source"] = str(path)
    if len(gdf) == 0 and not allow_empty:
        raise InputError(
            f"{path} has no features (0 rows). Check that it is the right file"
            + (f" and layer ({layer!r})" if layer else "")
            + "; pass allow_empty=True if an empty input is expected."
        )
    if keep:
        gdf = _drop_unlocated(gdf, path)
    if datum is not None:
        _check_datum_label(gdf, path, datum)
        gdf = gdf.set_crs(None, allow_override=True)
    gdf = _settle_crs(gdf, path, given=given, implied=implied)
    if check:
        check_coordinates(gdf, str(path))
    if datum is not None:
        gdf = _from_chinese_datum(gdf, datum)
    return gdf


def _drop_unlocated(gdf: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    """Leave out rows with no location (see ``read_any(unlocated="drop")``), listing them in attrs.

    The index keeps each row's 0-based position in the file, so later messages can name it.
    """
    gdf = gdf.reset_index(drop=True)
    geoms = gdf.geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    xy = shapely.get_coordinates(shapely.centroid(geoms[~missing]))
    at_origin = np.zeros(len(geoms), dtype=bool)
    at_origin[~missing] = (xy[:, 0] == 0) & (xy[:, 1] == 0)  # the (0, 0) placeholder of many logs
    missing |= at_origin
    if len(gdf) and missing.all():
        raise InputError(
            f"{path} has no events with coordinates ({len(gdf)} rows, all without a location). "
            "Check the coordinate columns (CLI: --lon/--lat or --x/--y)."
        )
    kept = gdf.loc[~missing].copy()
    kept.attrs.update(gdf.attrs, n_rows=len(gdf), missing_coordinates=[int(r) + 1 for r in np.flatnonzero(missing)])
    return kept


def _check_datum_label(gdf: gpd.GeoDataFrame, path: Path, datum: str) -> None:
    """A file declared GCJ-02/BD-09 may carry a WGS-84/CGCS2000 label, nothing else."""
    declared = gdf.crs
    if declared is not None and declared.to_epsg(min_confidence=70) not in (4326, 4490):
        raise CRSError(
            f"{path} declares the CRS {_crs_label(declared)}, but crs={datum!r} says it holds "
            f"{datum} longitude/latitude. Only a file labelled EPSG:4326 or EPSG:4490 (as web-map "
            "exports are) can be declared GCJ-02/BD-09; drop crs=... (CLI: --crs) for this file."
        )


def _from_chinese_datum(gdf: gpd.GeoDataFrame, datum: str) -> gpd.GeoDataFrame:
    """Convert every coordinate of *gdf* from GCJ-02/BD-09 to WGS-84 (EPSG:4326)."""
    from gridtools import coords

    source = "gcj02" if datum == "GCJ-02" else "bd09"
    geoms = gdf.geometry.to_numpy()
    xy = shapely.get_coordinates(geoms)
    outside = int((~coords.in_china(xy[:, 0], xy[:, 1])).sum())

    def to_wgs(points: np.ndarray) -> np.ndarray:
        return np.column_stack(coords.convert(points[:, 0], points[:, 1], source, "wgs84"))

    out = gdf.copy()
    out[gdf.geometry.name] = gpd.GeoSeries(
        shapely.transform(geoms, to_wgs), index=gdf.index, crs=4326
    )
    out = out.set_crs(4326, allow_override=True)
    out.attrs = {
        **gdf.attrs,
        "datum_converted": {
            "from": datum,
            "to": "EPSG:4326",
            "points": int(len(xy)),
            "outside_china": outside,
        },
    }
    return out


def _settle_crs(
    gdf: gpd.GeoDataFrame, path: Path, *, given: pyproj.CRS | None, implied: pyproj.CRS | None
) -> gpd.GeoDataFrame:
    """Apply CRS rules 1-2 of the module docstring."""
    declared = gdf.crs
    if declared is None:
        chosen = given or implied
        if chosen is None:
            raise CRSError(
                f"{path} has no coordinate reference system; pass crs=... "
                "(CLI: --crs EPSG:nnnn), e.g. EPSG:4326 for longitude/latitude in degrees."
            )
        return gdf.set_crs(chosen)
    if given is not None and not _same_crs(declared, given):
        raise CRSError(
            f"{path} declares the CRS {_crs_label(declared)} but crs={_crs_label(given)} was "
            "passed. A declared CRS is never overridden, because relabelling coordinates moves "
            "the data: to get the data in another CRS, read it without crs (CLI: drop --crs) and "
            f"reproject with gdf.to_crs({given.to_string()!r}). If the file's CRS is wrong, fix "
            "the file itself (e.g. ogr2ogr -a_srs)."
        )
    return gdf


def _read_vector(path: Path, layer: str | None) -> tuple[gpd.GeoDataFrame, pyproj.CRS | None]:
    target, layer = _zip_target(path, layer) if _suffix(path) == ".zip" else (str(path), layer)
    layer = _pick_layer(_list_layers(target, path), layer, path)
    try:
        gdf = gpd.read_file(target, layer=layer, engine="pyogrio", use_arrow=_USE_ARROW)
    except _READ_ERRORS as exc:
        raise InputError(f"cannot read {path}: {_why(exc)}.") from exc
    implied = None
    if _suffix(path) in (".geojson", ".json") and not _geojson_declares_crs(path):
        # GDAL labels every GeoJSON as WGS-84, but without a "crs" member that is only the
        # RFC 7946 default: let crs=... (e.g. CGCS2000) replace it instead of conflicting.
        implied, gdf = gdf.crs, gdf.set_crs(None, allow_override=True)
    return gdf, implied


def _geojson_declares_crs(path: Path) -> bool:
    # GDAL and most writers put the "crs" member before the features, so the head suffices;
    # cutting at "features" ignores a property that happens to be called "crs".
    with open(path, "rb") as f:
        head = f.read(65536).decode("utf-8", errors="ignore").split('"features"')[0]
    return re.search(r'"crs"\s*:', head) is not None


def _list_layers(target: str, path: Path) -> np.ndarray:
    try:
        return pyogrio.list_layers(target)
    except _READ_ERRORS as exc:
        raise InputError(
            f"cannot read {path}: {_why(exc)}. Check that it is a vector file (.gpkg, .geojson, "
            ".shp, .zip, .fgb, .parquet) or a table (.csv, .tsv, .txt)."
        ) from exc


def _pick_layer(layers: np.ndarray, layer: str | None, path: Path) -> str:
    names = [str(n) for n in layers[:, 0]] if len(layers) else []
    if layer is not None:
        if str(layer) not in names:
            raise InputError(
                f"{path} has no layer {layer!r}; its layers are: {', '.join(names) or 'none'}. "
                "Pass one of them with layer=... (CLI: --layer NAME)."
            )
        return str(layer)
    # Attribute-only tables in a GeoPackage have no geometry type and are never the layer meant.
    spatial = [str(n) for n, kind in layers if kind is not None] if len(layers) else []
    if len(spatial) == 1:
        return spatial[0]
    if not spatial:
        raise InputError(f"{path} holds no vector layer with geometries.")
    raise InputError(
        f"{path} holds {len(spatial)} layers: {', '.join(spatial)}. Choose one with "
        "layer=... (CLI: --layer NAME)."
    )


def _zip_target(path: Path, layer: str | None) -> tuple[str, str | None]:
    """GDAL path of the vector data in a zip archive, and the layer left to choose inside it.

    GDAL opens a zip whose shapefiles sit at the top level by itself.  Archives with the data in
    a sub-folder, or with other formats inside, are opened member by member through /vsizip/.
    """
    try:
        pyogrio.list_layers(str(path))
        return str(path), layer
    except _READ_ERRORS:
        pass
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"cannot read {path}: not a valid zip archive ({exc}).") from exc
    # macOS adds "__MACOSX/._name" resource forks that look like data but are not.
    members = [
        n for n in names if not n.startswith("__MACOSX/") and n.lower().endswith(_ZIP_MEMBERS)
    ]
    if not members:
        raise InputError(
            f"{path} holds no vector file ({', '.join(_ZIP_MEMBERS)}); it contains: "
            f"{', '.join(names[:20]) or 'nothing'}."
        )
    by_stem = {Path(m).stem: m for m in members}
    if layer is not None and (layer in by_stem or layer in members):
        member, layer = by_stem.get(layer, layer), None
    elif len(members) == 1:
        member = members[0]
    else:
        raise InputError(
            f"{path} holds {len(members)} vector files: {', '.join(members)}. Choose one with "
            "layer=... (CLI: --layer NAME), e.g. layer="
            f"{Path(members[0]).stem!r}."
        )
    return f"/vsizip/{path.resolve()}/{member}", layer


def _read_parquet(path: Path, **columns) -> tuple[gpd.GeoDataFrame, pyproj.CRS | None]:
    try:
        gdf = gpd.read_parquet(path)
        if any(columns.get(k) is not None for k in ("lon", "lat", "x", "y")):
            raise InputError(f"{path}: lon/lat/x/y only apply to tables; this GeoParquet file has its own "
                             "geometry. Drop those options (CLI: --lon/--lat/--x/--y).")
        return gdf, None
    except ValueError as exc:
        if "geo metadata" not in str(exc):
            raise InputError(f"cannot read {path}: {_why(exc)}.") from exc
    except _READ_ERRORS as exc:
        raise InputError(f"cannot read {path}: {_why(exc)}.") from exc
    # A plain (non-geo) parquet table: treat it like a CSV of points.
    try:
        table = pd.read_parquet(path)
    except _READ_ERRORS as exc:
        raise InputError(f"cannot read {path}: {_why(exc)}.") from exc
    return _table_to_points(table.reset_index(drop=True), path, **columns)


def _read_table(path: Path, **columns) -> tuple[gpd.GeoDataFrame, pyproj.CRS | None]:
    return _table_to_points(_read_csv(path), path, **columns)


def _read_csv(path: Path) -> pd.DataFrame:
    suffix = _suffix(path)
    # .txt files use any delimiter: let pandas' sniffer (python engine) find it.
    sep = "\t" if suffix.startswith(".tsv") else ("," if suffix.startswith(".csv") else None)
    engine = "python" if sep is None else "c"
    # utf-8-sig drops the byte-order mark Excel writes; GB18030 (a superset of GBK/GB2312) is
    # what Chinese Excel and government portals export.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return pd.read_csv(path, sep=sep, engine=engine, encoding=encoding)
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError as exc:
            raise InputError(f"{path} is empty: it has no header line and no data rows.") from exc
        except (pd.errors.ParserError, *_READ_ERRORS) as exc:
            raise InputError(f"cannot read {path} as a table: {_why(exc)}.") from exc
    raise InputError(f"cannot read {path}: it is neither UTF-8 nor GB18030 text; save it as UTF-8.")


def _find(columns: Iterable, names: frozenset) -> list:
    return [c for c in columns if str(c).strip().lower() in names]


def _detect_coordinates(table: pd.DataFrame, path: Path) -> tuple[str, str | None, bool]:
    """Return ``(x column, y column or None for WKT, is_lonlat)`` found by name."""
    lons, lats = _find(table.columns, _LON_NAMES), _find(table.columns, _LAT_NAMES)
    xs, ys = _find(table.columns, _X_NAMES), _find(table.columns, _Y_NAMES)
    columns = ", ".join(map(str, table.columns))
    hits = lons + lats + xs + ys
    if len(lons) == len(lats) == 1 and not xs + ys:
        return lons[0], lats[0], True
    if len(xs) == len(ys) == 1 and not lons + lats:
        return xs[0], ys[0], False
    if hits:
        raise InputError(
            f"{path}: cannot tell which columns hold the coordinates (candidates: "
            f"{', '.join(map(str, hits))}); its columns are: {columns}. Pass lon=..., lat=... "
            "(CLI: --lon/--lat) for degrees, or x=..., y=... with crs=... (CLI: --x/--y --crs)."
        )
    wkt = _find(table.columns, _WKT_NAMES)
    if len(wkt) == 1:
        return wkt[0], None, False
    raise InputError(
        f"{path} has no coordinate columns (looked for lon/lng/longitude and lat/latitude, x/y, "
        f"or a WKT geometry column); its columns are: {columns}. Pass lon=..., lat=... "
        "(CLI: --lon/--lat), or x=..., y=... with crs=... (CLI: --x/--y --crs)."
    )


def _table_to_points(
    table: pd.DataFrame,
    path: Path,
    *,
    lon: str | None = None,
    lat: str | None = None,
    x: str | None = None,
    y: str | None = None,
    keep_unlocated: bool = False,
) -> tuple[gpd.GeoDataFrame, pyproj.CRS | None]:
    if (lon is None) != (lat is None) or (x is None) != (y is None):
        raise InputError(f"{path}: pass both lon= and lat= (or both x= and y=), not only one.")
    if lon is not None and x is not None:
        raise InputError(f"{path}: pass lon=/lat= or x=/y=, not both.")
    if lon is not None or x is not None:
        xcol, ycol, lonlat = (lon, lat, True) if lon is not None else (x, y, False)
        flags = {xcol: "--lon" if lonlat else "--x", ycol: "--lat" if lonlat else "--y"}
        require_columns(table, flags, str(path))
    else:
        xcol, ycol, lonlat = _detect_coordinates(table, path)
    if ycol is None:
        geometry = _wkt_geometry(table, xcol, path, keep_unlocated)
        table = table.drop(columns=[xcol])
    else:
        geometry = _point_geometry(table, xcol, ycol, path, keep_unlocated)
    gdf = gpd.GeoDataFrame(table, geometry=geometry)
    return gdf, (pyproj.CRS.from_epsg(4326) if lonlat else None)


def _bad_data_rows(table: pd.DataFrame, bad: np.ndarray, columns: list, path: Path, what: str):
    rows = np.flatnonzero(bad)
    examples = "; ".join(
        f"data row {r + 1}: " + ", ".join(f"{c}={_show(table[c].iloc[r])}" for c in columns)
        for r in rows[:5]
    )
    raise InputError(
        f"{path}: data {describe_rows(rows + 1)} have {what} ({examples}). Fix or delete those "
        "rows (data rows count from 1, after the header line)."
    )


def _show(value) -> str:
    """A cell value for a message: ``'abc'``, ``-3.0`` or ``empty``."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "empty"
    return repr(value.item() if isinstance(value, np.generic) else value)


def _why(exc: BaseException) -> str:
    """Driver message without its final full stop, so a sentence can follow."""
    return str(exc).strip().rstrip(".")


def _point_geometry(table: pd.DataFrame, xcol, ycol, path: Path, keep_unlocated: bool = False):
    """Points from two columns; a row without numbers is refused, or (``keep_unlocated``) left empty."""
    xs = pd.to_numeric(table[xcol], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    ys = pd.to_numeric(table[ycol], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~(np.isfinite(xs) & np.isfinite(ys))
    if bad.any() and not keep_unlocated:
        what = f"missing or non-numeric coordinates in columns {xcol!r}/{ycol!r}"
        _bad_data_rows(table, bad, [xcol, ycol], path, what)
    points = shapely.points(xs, ys)
    points[bad] = None
    return points


def _wkt_geometry(table: pd.DataFrame, column, path: Path, keep_unlocated: bool = False) -> np.ndarray:
    text = table[column].to_numpy(dtype=object, na_value=None)
    geometry = shapely.from_wkt(text, on_invalid="ignore")
    bad = shapely.is_missing(geometry)
    if bad.any() and not keep_unlocated:
        _bad_data_rows(table, bad, [column], path, f"missing or invalid WKT in column {column!r}")
    return geometry


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _name(obj, source: str) -> str:
    """The file a frame came from, when the caller did not name it."""
    return obj.attrs.get("source", source) if source == "data" else source


def _horizontal_unit(crs: pyproj.CRS) -> tuple[str, float]:
    """Name and metre factor of the horizontal axis unit (compound CRSs: their first part)."""
    horizontal = crs.sub_crs_list[0] if crs.is_compound else crs
    axis = horizontal.axis_info[0]
    return axis.unit_name, axis.unit_conversion_factor


def check_coordinates(gdf: gpd.GeoDataFrame, source: str = "data") -> None:
    """Refuse coordinates whose size does not fit the units of their CRS.

    Degrees lie within [-180, 180] x [-90, 90]; projected metres or feet almost never fit in that
    box for real data.  Empty and missing geometries are ignored; data without a CRS is not
    checked.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
    source : str
        Name used in messages (defaults to ``gdf.attrs["source"]``).

    Raises
    ------
    CRSError
        Projected-looking numbers under a geographic CRS, or degree-looking numbers under a
        projected CRS, or longitude/latitude that look swapped.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> pts = gpd.GeoDataFrame(geometry=[shapely.Point(300000, 4600000)], crs=4326)
    >>> check_coordinates(pts)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    gridtools.errors.CRSError: data: coordinates look like projected metres or feet ...
    """
    crs = gdf.crs
    if crs is None or len(gdf) == 0:
        return
    minx, miny, maxx, maxy = gdf.total_bounds
    if not np.isfinite([minx, miny, maxx, maxy]).all():
        return  # only empty geometries
    name = _name(gdf, source)
    extent = f"x from {minx:,.6g} to {maxx:,.6g}, y from {miny:,.6g} to {maxy:,.6g}"
    label = _crs_label(crs)
    eps = 1e-6  # rounding in exported files can push 180 to 180.0000001

    def fits(x0, x1, y0, y1):
        return -180 - eps <= x0 and x1 <= 180 + eps and -90 - eps <= y0 and y1 <= 90 + eps

    if crs.is_geographic and not fits(minx, maxx, miny, maxy):
        if fits(miny, maxy, minx, maxx):
            raise CRSError(
                f"{name}: longitude and latitude look swapped ({extent}; latitude must lie in "
                "-90..90). Check which column is which (CLI: --lon/--lat)."
            )
        raise CRSError(
            f"{name}: coordinates look like projected metres or feet ({extent}), but the CRS "
            f"{label} says they are degrees. Pass the CRS the numbers are really in, e.g. "
            "crs='EPSG:2913' (CLI: --crs EPSG:nnnn); if the file itself declares this CRS, its "
            "CRS metadata is wrong: fix the file first (e.g. ogr2ogr -a_srs EPSG:nnnn)."
        )
    # The box also bounds the extent to at most 360 x 180 units: for projected units that is a
    # few hundred metres or feet next to the false origin, where real data practically never is.
    if crs.is_projected and fits(minx, maxx, miny, maxy):
        unit, _ = _horizontal_unit(crs)
        raise CRSError(
            f"{name}: coordinates look like degrees ({extent}) but CRS {label} is in {unit}. "
            "If they are longitude/latitude, the CRS is e.g. crs='EPSG:4326' (CLI: --crs "
            "EPSG:4326); if the file itself declares this CRS, fix the file first."
        )


def check_geometries(
    gdf: gpd.GeoDataFrame, source: str = "data", *, repair: bool = True
) -> tuple[gpd.GeoDataFrame, dict]:
    """Refuse missing geometries and repair (or refuse) invalid ones.

    Nothing is dropped silently: null or empty geometries are an error.  Invalid geometries are
    repaired with :func:`shapely.make_valid`; in a polygon layer only the polygonal part of the
    repair is kept (a self-touching ring can yield stray lines), and a row left with no area is
    an error.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
    source : str
        Name used in messages (defaults to ``gdf.attrs["source"]``).
    repair : bool, default True
        Repair invalid geometries; when False, raise listing them instead.

    Returns
    -------
    (geopandas.GeoDataFrame, dict)
        A copy with repaired geometries, and ``{"repaired": n, "rows": [1-based row numbers],
        "index": [index labels], "reasons": [shapely.is_valid_reason before repair]}``.

    Raises
    ------
    InputError
        Null/empty geometries, invalid ones when ``repair=False``, or polygons with no area.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    >>> fixed, report = check_geometries(gpd.GeoDataFrame(geometry=[bowtie], crs=3857))
    >>> report["repaired"], fixed.geometry.iloc[0].geom_type
    (1, 'MultiPolygon')
    """
    name = _name(gdf, source)
    geoms = gdf.geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        raise InputError(
            f"{name}: {int(missing.sum())} features have no geometry (null or empty): "
            f"{rows_where(np.flatnonzero(missing), gdf.index)}. Remove those rows or fix their "
            "geometry; gridtools does not drop data silently."
        )
    invalid = ~shapely.is_valid(geoms)
    report = {"repaired": 0, "rows": [], "index": [], "reasons": []}
    if not invalid.any():
        return gdf.copy(), report
    positions = np.flatnonzero(invalid)
    reasons = shapely.is_valid_reason(geoms[invalid]).tolist()
    if not repair:
        first = "; ".join(
            f"row {p + 1}: {r}" for p, r in zip(positions[:5], reasons[:5], strict=True)
        )
        raise InputError(
            f"{name}: {len(positions)} invalid geometries, {rows_where(positions, gdf.index)} "
            f"({first}). Repair them (CLI: drop --no-repair, or fix them in a GIS)."
        )
    fixed = shapely.make_valid(geoms[invalid])
    if np.isin(shapely.get_type_id(geoms), [3, 6]).all():  # Polygon, MultiPolygon
        fixed = _polygonal_part(fixed)
        lost = shapely.is_missing(fixed)
        if lost.any():
            raise InputError(
                f"{name}: {int(lost.sum())} polygons have no area even after repair: "
                f"{rows_where(positions[lost], gdf.index)}. Remove those rows or redraw them."
            )
    geoms = geoms.copy()
    geoms[invalid] = fixed
    out = gdf.copy()
    out[gdf.geometry.name] = gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs)
    report.update(
        repaired=len(positions),
        rows=(positions + 1).tolist(),
        index=gdf.index[positions].tolist(),
        reasons=reasons,
    )
    return out, report


def _polygonal_part(geoms: np.ndarray) -> np.ndarray:
    """Polygonal part of each geometry (None where there is none), vectorised."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    # make_valid can return a GeometryCollection holding a MultiPolygon: flatten a second level.
    parts, inner = shapely.get_parts(parts, return_index=True)
    owner = owner[inner]
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    out = np.full(len(geoms), None, dtype=object)
    if keep.any():
        shapely.multipolygons(parts[keep], indices=owner[keep], out=out)
    # Single-part results go back to plain Polygons so repaired rows look like their neighbours.
    single = shapely.get_num_geometries(out) == 1
    out[single] = shapely.get_geometry(out[single], 0)
    return out


def require_columns(df: pd.DataFrame, columns, source: str = "data") -> None:
    """Raise if *df* lacks any of *columns*, listing the columns it has.

    Parameters
    ----------
    df : pandas.DataFrame
    columns : str, list of str, or mapping of column -> CLI flag
        With a mapping, the message tells which flag to pass (``{"pop": "--pop"}``).
    source : str
        Name used in messages (defaults to ``df.attrs["source"]``).

    Raises
    ------
    InputError
        ``"blocks.gpkg has no column 'pop'; its columns are: GEOID, TOTPOP. Did you mean
        'TOTPOP'? Pass the right name with --pop."``

    Examples
    --------
    >>> import pandas as pd
    >>> require_columns(pd.DataFrame({"pop": [1]}), {"pop": "--pop"})
    """
    if isinstance(columns, str):
        columns = [columns]
    flags = dict(columns) if isinstance(columns, Mapping) else dict.fromkeys(columns)
    missing = [c for c in flags if c not in df.columns]
    if not missing:
        return
    geometry = (
        getattr(df, "active_geometry_name", None) if isinstance(df, gpd.GeoDataFrame) else None
    )
    present = [str(c) for c in df.columns if c != geometry]
    what = (
        f"column {missing[0]!r}"
        if len(missing) == 1
        else "columns " + ", ".join(map(repr, missing))
    )
    message = f"{_name(df, source)} has no {what}; its columns are: {', '.join(present) or 'none'}."
    hints = [_closest(str(c), present) for c in missing]
    hints = [h for h in hints if h]
    if hints:
        message += " Did you mean " + " or ".join(map(repr, hints)) + "?"
    used = [
        f if str(f).startswith("-") else f"--{f}" for c, f in flags.items() if c in missing and f
    ]
    if used:
        noun = "name" if len(missing) == 1 else "names"
        message += f" Pass the right {noun} with {', '.join(used)}."
    else:
        message += " Pass the right column name."
    raise InputError(message)


def _closest(column: str, present: list[str]) -> str | None:
    by_case = [p for p in present if p.lower() == column.lower()]
    if by_case:
        return by_case[0]
    close = difflib.get_close_matches(column, present, n=1, cutoff=0.6)
    if close:
        return close[0]
    # abbreviations: 'pop' for 'population', 'TOTPOP' for 'totpop2010'
    low = column.lower()
    prefixed = [
        p
        for p in present
        if len(p) >= 3 and (low.startswith(p.lower()) or p.lower().startswith(low))
    ]
    return prefixed[0] if prefixed else None


def numeric_column(
    df: pd.DataFrame,
    column: str,
    source: str = "data",
    *,
    nonnegative: bool = True,
    allow_missing: bool = False,
) -> pd.Series:
    """Return *column* as float, refusing non-numeric, missing and (by default) negative values.

    Parameters
    ----------
    df : pandas.DataFrame
    column : str
    source : str
        Name used in messages (defaults to ``df.attrs["source"]``).
    nonnegative : bool, default True
        Refuse values below zero (populations, counts, areas).
    allow_missing : bool, default False
        Keep missing (empty) values as NaN instead of refusing them.

    Returns
    -------
    pandas.Series
        float64, same index as *df*, named *column*.

    Raises
    ------
    InputError
        Listing the offending rows (counting from 1) and their values.

    Examples
    --------
    >>> import pandas as pd
    >>> numeric_column(pd.DataFrame({"pop": ["12", 3]}), "pop").tolist()
    [12.0, 3.0]
    """
    require_columns(df, [column], source)
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    blank = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
    problems = []
    nonnumeric = ~np.isfinite(values) & ~blank
    if nonnumeric.any():
        problems.append(("non-numeric values", nonnumeric))
    if blank.any() and not allow_missing:
        problems.append(("missing values", blank))
    if nonnegative and (values < 0).any():
        problems.append(("negative values", values < 0))
    if problems:
        details = "; ".join(f"{what} in {_rows_with_values(raw, mask)}" for what, mask in problems)
        rule = "a number >= 0" if nonnegative else "a number"
        raise InputError(
            f"{_name(df, source)}: column {column!r} must hold {rule} in every row: {details}. "
            "Fix or remove those rows (rows count from 1; write numbers without thousands "
            "separators), or choose another column."
        )
    return pd.Series(values, index=df.index, name=column)


def _rows_with_values(raw: pd.Series, mask: np.ndarray, limit: int = 10) -> str:
    """``'rows 3 ('abc'), 8 ('-2') (and 4 more)'``: row numbers count from 1."""
    positions = np.flatnonzero(mask)
    shown = ", ".join(f"{p + 1} ({_show(raw.iloc[p])})" for p in positions[:limit])
    more = f" (and {len(positions) - limit} more)" if len(positions) > limit else ""
    return f"{'row' if len(positions) == 1 else 'rows'} {shown}{more}"


# --------------------------------------------------------------------------------------------
# Metric CRS
# --------------------------------------------------------------------------------------------


def _is_local_metric(crs: pyproj.CRS) -> bool:
    if not crs.is_projected:
        return False
    unit, factor = _horizontal_unit(crs)
    if factor != 1.0 or unit not in ("metre", "meter"):
        return False
    # (Pseudo-)Mercator metres are stretched by 1/cos(latitude): 1.33x at 41 N, 1.77x in area.
    operation = (
        crs.coordinate_operation
        if not crs.is_compound
        else crs.sub_crs_list[0].coordinate_operation
    )
    method = operation.method_name if operation else ""
    return not ("Mercator" in method and "Transverse" not in method)


def local_metric_crs(gdf: gpd.GeoDataFrame) -> pyproj.CRS:
    """A CRS in metres suitable for distances and areas over the extent of *gdf*.

    The data's own CRS when it is projected in metres (not Web Mercator); otherwise the WGS-84
    UTM zone of the data's centre (north or south), which keeps scale error below 0.1 % within
    a zone -- ample for city-scale work.  Feet-based CRSs get UTM too.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
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
    name = _name(gdf, "data")
    if gdf.crs is None:
        raise CRSError(
            f"{name} has no coordinate reference system; pass crs=... (CLI: --crs EPSG:nnnn)."
        )
    if _is_local_metric(gdf.crs):
        return gdf.crs
    try:
        return gdf.estimate_utm_crs()
    except (RuntimeError, ValueError) as exc:
        raise CRSError(
            f"{name}: cannot choose a UTM zone ({exc}); the data needs at least one non-empty "
            "geometry inside -80..84 degrees latitude."
        ) from exc


def to_metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
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


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _is_geo(df) -> bool:
    return isinstance(df, gpd.GeoDataFrame) and df.active_geometry_name in df.columns


def write_any(
    gdf: pd.DataFrame, path, *, layer: str | None = None, overwrite_layer: bool = True
) -> Path:
    """Write *gdf* by extension, never leaving a half-written or destroyed file behind.

    Formats: ``.gpkg`` (several layers per file), ``.geojson``/``.json``, ``.shp``, ``.fgb``,
    ``.parquet``/``.geoparquet``, ``.csv``/``.csv.gz``.  CSV stores points as ``lon``/``lat``
    (geographic CRS) or ``x``/``y`` columns and other geometries as a WKT ``geometry`` column;
    a plain DataFrame (no geometry) is written as-is to CSV or parquet.  Coordinates are written
    in the CRS of *gdf*; CSV does not record it.

    The data is written to a private folder next to *path* and moved into place only when
    complete, so a failure leaves an existing file untouched.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame or pandas.DataFrame
    path : str or os.PathLike
        Output file; parent folders are created.
    layer : str, optional
        GeoPackage layer (default: the file name without extension).  Other layers in the file are
        kept; an existing layer of that name is replaced.  Ignored by single-layer formats.
    overwrite_layer : bool, default True
        When False, refuse to replace an existing GeoPackage layer.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InputError
        Unsupported extension, existing layer with ``overwrite_layer=False``, or a failed write.

    Examples
    --------
    >>> write_any(grids, "out/result.gpkg", layer="grids")     # doctest: +SKIP
    >>> write_any(units, "out/result.gpkg", layer="units")     # doctest: +SKIP
    """
    path = Path(path).expanduser()
    suffix = _suffix(path)
    if suffix not in _WRITABLE:
        raise InputError(
            f"cannot write {path}: unsupported extension {suffix or '(none)'}; use one of "
            f"{', '.join(_WRITABLE)}."
        )
    if not _is_geo(gdf) and suffix not in (*_PARQUET, ".csv", ".csv.gz", ".gpkg"):
        raise InputError(
            f"cannot write {path}: the table has no geometry; write it as .gpkg, .csv or .parquet."
        )
    if suffix == ".gpkg":
        layer = layer or path.stem
        if not overwrite_layer and path.exists() and layer in _existing_layers(path):
            raise InputError(
                f"{path} already has a layer {layer!r}; pass overwrite_layer=True to replace it "
                "or choose another layer name."
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    existed = path.exists()
    try:
        with _staged(path, copy_existing=suffix == ".gpkg") as staged:
            _write_staged(gdf, staged, suffix, layer)
    except GridtoolsError:
        raise
    except Exception as exc:  # any failure: report it, the old file is intact
        kept = "The existing file was left unchanged." if existed else "Nothing was written."
        raise InputError(f"could not write {path}: {_why(exc)}. {kept}") from exc
    return path


def _existing_layers(path: Path) -> list[str]:
    try:
        return [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except _READ_ERRORS as exc:
        raise InputError(
            f"{path} exists but is not a readable GeoPackage ({exc}); move it away."
        ) from exc


@contextmanager
def _staged(path: Path, *, copy_existing: bool) -> Iterator[Path]:
    """Yield a path with *path*'s name in a temporary folder beside it; move it into place on exit.

    Same folder means same file system, so ``os.replace`` is an atomic rename.  The name is kept
    so extension-based drivers and name-derived layer names (FlatGeobuf, GeoJSON) are unchanged.

    GeoPackage: the existing file is copied in and the layer written into the copy.  GPKG writes
    are SQLite transactions, but replacing a layer drops the old one before the new one is
    complete; copying (outputs are small) keeps the old file whole until the new one is.
    """
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        staged = tmpdir / path.name
        if copy_existing and path.exists():
            shutil.copy2(path, staged)
        yield staged
        _move_into_place(tmpdir, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _move_into_place(tmpdir: Path, path: Path) -> None:
    if _suffix(path) != ".shp":
        os.replace(tmpdir / path.name, path)
        return
    # A shapefile is several files: replace each, the .shp last, and drop stale sidecars (an
    # old .qix index or .prj would describe the old data).
    stem = path.name[: -len(".shp")]
    written = {f.name[len(stem) :].lower(): f for f in tmpdir.iterdir() if f.name.startswith(stem)}
    for ext in _SHP_SIDECARS:
        old = path.with_name(stem + ext)
        if ext not in written and old.exists():
            old.unlink()
    for ext, f in sorted(written.items(), key=lambda item: item[0] == ".shp"):
        os.replace(f, path.with_name(stem + ext))


def _write_staged(gdf: pd.DataFrame, staged: Path, suffix: str, layer: str | None) -> None:
    if suffix in _PARQUET:
        out = gdf.copy(deep=False)
        # Parquet stores attrs as JSON: CRS objects (attrs["input_crs"]) become their text form.
        out.attrs = _json_safe(gdf.attrs)
        out.to_parquet(staged)
    elif suffix in (".csv", ".csv.gz"):
        table = _csv_table(gdf) if _is_geo(gdf) else gdf
        table.to_csv(staged, index=table.index.name is not None or table.index.nlevels > 1)
    elif not _is_geo(gdf):
        # a GeoPackage holds plain attribute tables too (e.g. retired grid codes)
        import pyogrio

        pyogrio.write_dataframe(gdf, staged, layer=layer, driver="GPKG")
    else:
        options = {"layer": layer} if suffix == ".gpkg" else {}
        if suffix == ".fgb":
            # FlatGeobuf's spatial index sorts features along a Hilbert curve; rows must come
            # back in the order written (ids, units-to-grids tables depend on it).
            options["SPATIAL_INDEX"] = "NO"
        gdf.to_file(staged, driver=_VECTOR_DRIVERS[suffix], engine="pyogrio", **options)


def _json_safe(attrs: dict) -> dict:
    def convert(value):
        if isinstance(value, pyproj.CRS):
            return value.to_string()
        try:
            json.dumps(value)
            return value
        except (TypeError, ValueError):
            return str(value)

    return {str(k): convert(v) for k, v in attrs.items()}


def _csv_table(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    geom_name = gdf.active_geometry_name
    geoms = gdf.geometry.to_numpy()
    table = pd.DataFrame(gdf.drop(columns=geom_name))
    # Other geometry columns cannot go to CSV as objects either.
    for col in table.columns[table.dtypes == "geometry"]:
        table[col] = shapely.to_wkt(table[col].to_numpy())
    present = ~shapely.is_missing(geoms)
    if present.any() and (shapely.get_type_id(geoms[present]) == 0).all():  # all Points
        names = ("lon", "lat") if gdf.crs is not None and gdf.crs.is_geographic else ("x", "y")
        for col, values in zip(names, (shapely.get_x(geoms), shapely.get_y(geoms)), strict=True):
            if col in table.columns and not _same_numbers(table[col], values):
                raise InputError(
                    f"cannot write CSV: column {col!r} would hold the point coordinates but "
                    f"already holds other values; rename or drop column {col!r} first."
                )
            table[col] = values
    else:
        table["geometry"] = shapely.to_wkt(geoms)
    return table


def _same_numbers(column: pd.Series, values: np.ndarray) -> bool:
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return bool(np.allclose(numbers, values, equal_nan=True, rtol=0, atol=1e-9))


# --------------------------------------------------------------------------------------------
# Tables kept as text (rewrite a few columns, leave every other byte alone)
# --------------------------------------------------------------------------------------------


def is_table_path(path) -> bool:
    """Whether *path* names a text table that :func:`read_text_table` reads (by its extension).

    Examples
    --------
    >>> is_table_path("events.csv.gz"), is_table_path("events.gpkg")
    (True, False)
    """
    return _suffix(Path(path)) in _TABLES


def read_text_table(path) -> pd.DataFrame:
    """Read a CSV/TSV table with every cell as text, exactly as written in the file.

    Nothing is parsed: ``"007"`` stays ``"007"``, empty cells stay ``""`` (not NaN), so a table
    written back with :func:`write_text_table` differs only where a caller changed cells.  The
    encoding (UTF-8 with or without byte-order mark, or GB18030), delimiter and line ending
    are remembered in ``df.attrs["text_format"]``.

    Parameters
    ----------
    path : str or os.PathLike
        ``.csv``, ``.tsv``, ``.txt`` (optionally ``.gz``).

    Returns
    -------
    pandas.DataFrame
        Object columns of str; ``attrs["source"]`` is the path.

    Raises
    ------
    InputError
        Missing, empty (no header) or unreadable file.

    Examples
    --------
    >>> t = read_text_table("events.csv")        # doctest: +SKIP
    >>> write_text_table(t, "copy.csv")          # doctest: +SKIP
    """
    import gzip

    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"file not found: {path}")
    suffix = _suffix(path)
    opener = gzip.open if suffix.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if not raw.strip():
        raise InputError(f"{path} is empty: it has no header line and no data rows.")
    for encoding in ("utf-8", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError(f"cannot read {path}: it is neither UTF-8 nor GB18030 text; save it as UTF-8.")
    bom = text.startswith("\ufeff")
    newline = "\r\n" if "\r\n" in text[:65536] else "\n"
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    sep = "\t" if suffix.startswith(".tsv") or ("\t" in first and "," not in first) else ","
    if suffix.startswith(".txt") and ";" in first and "," not in first and "\t" not in first:
        sep = ";"
    try:
        table = pd.read_csv(
            path,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig" if encoding == "utf-8" else encoding,
        )
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path} is empty: it has no header line and no data rows.") from exc
    except (pd.errors.ParserError, *_READ_ERRORS) as exc:
        raise InputError(f"cannot read {path} as a table: {_why(exc)}.") from exc
    table.attrs["source"] = str(path)
    table.attrs["text_format"] = {
        "encoding": encoding,
        "bom": bom,
        "sep": sep,
        "newline": newline,
        "trailing_newline": text.endswith(("\n", "\r")),
    }
    return table


def write_text_table(table: pd.DataFrame, path, *, like: dict | None = None) -> Path:
    """Write a table read by :func:`read_text_table` back in the same encoding and layout.

    Parameters
    ----------
    table : pandas.DataFrame
    path : str or os.PathLike
        Output file (``.csv``/``.tsv``/``.txt``, optionally ``.gz``); written atomically.
    like : dict, optional
        Format to copy (default: ``table.attrs["text_format"]``, else UTF-8, comma, ``\\n``).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> write_text_table(t, "out.csv")           # doctest: +SKIP
    """
    import gzip

    path = Path(path).expanduser()
    fmt = {"encoding": "utf-8", "bom": False, "sep": ",", "newline": "\n", "trailing_newline": True}
    fmt.update(like or table.attrs.get("text_format", {}))
    text = table.to_csv(index=False, sep=fmt["sep"], lineterminator=fmt["newline"])
    if not fmt["trailing_newline"] and text.endswith(fmt["newline"]):
        text = text[: -len(fmt["newline"])]
    data = (("\ufeff" if fmt["bom"] else "") + text).encode(fmt["encoding"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with _staged(path, copy_existing=False) as staged:
        if _suffix(path).endswith(".gz"):
            with gzip.open(staged, "wb") as f:
                f.write(data)
        else:
            staged.write_bytes(data)
    return path


# --------------------------------------------------------------------------------------------
# Event records (hotspots): rows without a location are counted and set aside, not refused
# --------------------------------------------------------------------------------------------


def read_events(
    path,
    *,
    layer: str | None = None,
    crs=None,
    lon: str | None = None,
    lat: str | None = None,
    x: str | None = None,
    y: str | None = None,
) -> gpd.GeoDataFrame:
    """Read incident records, setting aside (and counting) rows that have no location.

    :func:`read_any` with ``unlocated="drop"``: a row with an empty or non-numeric coordinate,
    the placeholder point (0, 0), or a null/empty geometry does not stop the read (incident logs
    routinely hold a few such rows); it is left out and listed in ``attrs["missing_coordinates"]``
    (data row numbers counting from 1), so the caller reports it.  Everything else, including
    ``crs="gcj02"`` / ``"bd09"`` conversion, is as for :func:`read_any`.

    Parameters
    ----------
    path : str or os.PathLike
    layer, crs, lon, lat, x, y
        As for :func:`read_any`.

    Returns
    -------
    geopandas.GeoDataFrame
        Points with a checked CRS; ``attrs["source"]``, ``attrs["missing_coordinates"]`` (list of
        int) and ``attrs["n_rows"]`` (rows in the file).

    Examples
    --------
    >>> events = read_events("calls.csv.gz", x="x_coordina", y="y_coordina", crs=2913)  # doctest: +SKIP
    >>> events.attrs["missing_coordinates"]                                            # doctest: +SKIP
    [1734]
    """
    return read_any(path, layer=layer, crs=crs, lon=lon, lat=lat, x=x, y=y, unlocated="drop")


def read_park(path):
    """Read a dispatch park file: YAML (``.yaml``/``.yml``), JSON, or GeoJSON points.

    See :mod:`gridtools.dispatch.park` for the layout.

    Raises
    ------
    InputError
        A missing or unreadable file, or a bad entry (named with its field).

    Examples
    --------
    >>> park = read_park("park.yaml")   # doctest: +SKIP
    """
    import json

    from gridtools.dispatch.park import park_from_dict

    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"park file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # the parsers' own messages name the line
        raise InputError(f"cannot read the park file {path}: {exc}") from None
    return park_from_dict(data, source=str(path))
