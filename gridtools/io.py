"""Reading and writing: the one door for data in and out.

Every gridtools capability gets its inputs from :func:`read_any` (or :func:`read_events`,
:func:`read_text_table`, :func:`read_mapping`) and writes its outputs with :func:`write_any`,
so the rules below hold everywhere and each error names the file at fault.  The CRS itself is
parsed by :mod:`gridtools.crs`, and the data checks live in :mod:`gridtools.validate`; this
module applies them where data enters.

CRS rules
---------
1. **A CRS is never guessed.**  Data without a coordinate reference system is refused unless one
   is given (``crs=...``).  The only defaults are the ones a format itself defines:
   CSV longitude/latitude columns are WGS-84 (EPSG:4326), and so is GeoJSON without a ``crs``
   member (RFC 7946).
2. **A declared CRS is never overridden.**  If a file declares one CRS and ``crs`` names another,
   that is an error: relabelling coordinates moves the data, reprojecting (``to_crs``) does not.
3. **Degrees and metres are checked** (:func:`gridtools.validate.check_coordinates`):
   metre-sized numbers labelled as degrees, or degree-sized numbers labelled as a projected CRS,
   are refused.
4. **Metric work happens in a local metric CRS** (:func:`gridtools.crs.local_metric_crs`,
   :func:`gridtools.crs.to_metric`): the data's own CRS if it is projected in metres, otherwise
   the UTM zone of the data.  Feet and Web Mercator (whose "metres" are up to 1.5x too long at
   mid latitudes) are replaced by UTM.
5. **Results are written back in the input CRS.**  ``to_metric`` records the original CRS in
   ``gdf.attrs["input_crs"]`` so a capability can return ``result.to_crs(gdf.attrs["input_crs"])``.
6. **GCJ-02 and BD-09** (the shifted datums of Chinese web maps) are not EPSG CRSs.
   ``read_any(path, crs="gcj02")`` (or ``"bd09"``) reads longitude/latitude in that datum and
   converts them to WGS-84 on read with :mod:`gridtools.coords` (iterative, exact inverse),
   recording it in ``gdf.attrs["datum_converted"]``.  A file labelled EPSG:4326 / EPSG:4490 may
   be declared GCJ-02 / BD-09 this way (web-map exports carry the WGS-84 label); a projected
   file may not.

Nothing here prints: functions return values or raise :class:`~gridtools.errors.InputError` /
:class:`~gridtools.errors.CRSError` with a message that names the file, rows or columns and says
what to do.  Row numbers in messages count from 1 (for CSV files: data rows after the header).

Examples
--------
>>> from gridtools import crs, io, validate
>>> blocks = io.read_any("blocks.gpkg")                      # doctest: +SKIP
>>> pop = validate.numeric_column(blocks, "pop")              # doctest: +SKIP
>>> metric = crs.to_metric(blocks)                             # doctest: +SKIP
>>> result = metric.to_crs(metric.attrs["input_crs"])         # doctest: +SKIP
>>> io.write_any(result, "out.gpkg", layer="grids")            # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from gridtools import coords
from gridtools.crs import chinese_datum, label, local_metric_crs, parse_crs, same_crs, to_metric
from gridtools.errors import CRSError, GridtoolsError, InputError, describe_rows
from gridtools.validate import check_coordinates, check_geometries, numeric_column, require_columns, show_value

__all__ = [
    "read_any",
    "read_events",
    "list_layers",
    "write_any",
    "read_text_table",
    "write_text_table",
    "read_mapping",
    "file_suffix",
    "TABLE_SUFFIXES",
]

# Names that lived here in gridtools 0.1 and moved to gridtools.crs / gridtools.validate; kept
# importable from io for one release so existing scripts keep working.
_MOVED = (parse_crs, chinese_datum, local_metric_crs, to_metric, check_coordinates, check_geometries,
          numeric_column, require_columns)

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
TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")
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

# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def file_suffix(path) -> str:
    """Lower-case extension, keeping ``.csv.gz``-style double extensions together.

    Examples
    --------
    >>> file_suffix("Events.CSV.gz"), file_suffix("grids.gpkg")
    ('.csv.gz', '.gpkg')
    """
    path = Path(path)
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
    suffix = file_suffix(path)
    coord_args = {"lon": lon, "lat": lat, "x": x, "y": y}
    if suffix not in TABLE_SUFFIXES + _PARQUET and any(v is not None for v in coord_args.values()):
        named = ", ".join(f"{k}={v!r}" for k, v in coord_args.items() if v is not None)
        raise InputError(
            f"{path}: {named} only apply to tables (.csv, .tsv, .txt, plain .parquet); a "
            f"{suffix or 'vector'} file has its own geometry. Drop lon=, lat=, x= and y= for this file."
        )
    keep = unlocated == "drop"
    if suffix in TABLE_SUFFIXES:
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
            "Check the coordinate columns (lon=..., lat=... or x=..., y=...)."
        )
    kept = gdf.loc[~missing].copy()
    kept.attrs.update(gdf.attrs, n_rows=len(gdf), missing_coordinates=[int(r) + 1 for r in np.flatnonzero(missing)])
    return kept


def _check_datum_label(gdf: gpd.GeoDataFrame, path: Path, datum: str) -> None:
    """A file declared GCJ-02/BD-09 may carry a WGS-84/CGCS2000 label, nothing else."""
    declared = gdf.crs
    if declared is not None and declared.to_epsg(min_confidence=70) not in (4326, 4490):
        raise CRSError(
            f"{path} declares the CRS {label(declared)}, but crs={datum!r} says it holds "
            f"{datum} longitude/latitude. Only a file labelled EPSG:4326 or EPSG:4490 (as web-map "
            "exports are) can be declared GCJ-02/BD-09; drop crs=... for this file."
        )


def _from_chinese_datum(gdf: gpd.GeoDataFrame, datum: str) -> gpd.GeoDataFrame:
    """Convert every coordinate of *gdf* from GCJ-02/BD-09 to WGS-84 (EPSG:4326)."""
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
                f"{path} has no coordinate reference system; pass crs='EPSG:nnnn', "
                "e.g. crs='EPSG:4326' for longitude/latitude in degrees."
            )
        return gdf.set_crs(chosen)
    if given is not None and not same_crs(declared, given):
        raise CRSError(
            f"{path} declares the CRS {label(declared)} but crs={label(given)} was "
            "passed. A declared CRS is never overridden, because relabelling coordinates moves "
            "the data: to get the data in another CRS, read it without crs=... and "
            f"reproject with gdf.to_crs({given.to_string()!r}). If the file's CRS is wrong, fix "
            "the file itself (e.g. ogr2ogr -a_srs)."
        )
    return gdf


def _read_vector(path: Path, layer: str | None) -> tuple[gpd.GeoDataFrame, pyproj.CRS | None]:
    target, layer = _zip_target(path, layer) if file_suffix(path) == ".zip" else (str(path), layer)
    layer = _pick_layer(_list_layers(target, path), layer, path)
    try:
        gdf = gpd.read_file(target, layer=layer, engine="pyogrio", use_arrow=_USE_ARROW)
    except _READ_ERRORS as exc:
        raise InputError(f"cannot read {path}: {_why(exc)}.") from exc
    implied = None
    if file_suffix(path) in (".geojson", ".json") and not _geojson_declares_crs(path):
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
            hint = f" Pass one of them, e.g. layer={names[0]!r}." if names else ""
            raise InputError(f"{path} has no layer {layer!r}; its layers are: {', '.join(names) or 'none'}.{hint}")
        return str(layer)
    # Attribute-only tables in a GeoPackage have no geometry type and are never the layer meant.
    spatial = [str(n) for n, kind in layers if kind is not None] if len(layers) else []
    if len(spatial) == 1:
        return spatial[0]
    if not spatial:
        raise InputError(f"{path} holds no vector layer with geometries.")
    raise InputError(
        f"{path} holds {len(spatial)} layers: {', '.join(spatial)}. Choose one with "
        f"layer=..., e.g. layer={spatial[0]!r}."
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
            "layer=..., e.g. layer="
            f"{Path(members[0]).stem!r}."
        )
    return f"/vsizip/{path.resolve()}/{member}", layer


def _read_parquet(path: Path, **columns) -> tuple[gpd.GeoDataFrame, pyproj.CRS | None]:
    try:
        gdf = gpd.read_parquet(path)
        if any(columns.get(k) is not None for k in ("lon", "lat", "x", "y")):
            raise InputError(f"{path}: lon/lat/x/y only apply to tables; this GeoParquet file has its own "
                             "geometry. Drop lon=, lat=, x= and y= for this file.")
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
    suffix = file_suffix(path)
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
            "for degrees, or x=..., y=... with crs=...."
        )
    wkt = _find(table.columns, _WKT_NAMES)
    if len(wkt) == 1:
        return wkt[0], None, False
    raise InputError(
        f"{path} has no coordinate columns (looked for lon/lng/longitude and lat/latitude, x/y, "
        f"or a WKT geometry column); its columns are: {columns}. Pass lon=..., lat=... "
        "or x=..., y=... with crs=...."
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
        flags = {xcol: "lon" if lonlat else "x", ycol: "lat" if lonlat else "y"}
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
        f"data row {r + 1}: " + ", ".join(f"{c}={show_value(table[c].iloc[r])}" for c in columns)
        for r in rows[:5]
    )
    raise InputError(
        f"{path}: data {describe_rows(rows + 1)} have {what} ({examples}). Fix or delete those "
        "rows (data rows count from 1, after the header line)."
    )


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
    suffix = file_suffix(path)
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
    if file_suffix(path) != ".shp":
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
    suffix = file_suffix(path)
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
        if file_suffix(path).endswith(".gz"):
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


def list_layers(path) -> list[str]:
    """Names of the layers in a vector file (a GeoPackage holds several).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    list of str
        Empty for a missing file.

    Examples
    --------
    >>> list_layers("grids.gpkg")          # doctest: +SKIP
    ['grids', 'units', 'infeasible']
    """
    path = Path(path).expanduser()
    if not path.exists():
        return []
    return [str(n) for n in _list_layers(str(path), path)[:, 0]]


def read_mapping(path, *, what: str = "file") -> dict:
    """Read a YAML (``.yaml``/``.yml``) or JSON file into plain Python data.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        What the file is, for messages (``"park file"``).

    Returns
    -------
    dict or list
        As the file holds it.

    Raises
    ------
    InputError
        A missing or unparseable file; the parser's message names the line.

    Examples
    --------
    >>> read_mapping("park.yaml", what="park file")   # doctest: +SKIP
    {'name': 'Huangwan', 'gates': [...], ...}
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{what} {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml  # only park files need it

            return yaml.safe_load(text)
        return json.loads(text)
    except Exception as exc:  # the parsers' own messages name the line
        raise InputError(f"cannot read the {what} {path}: {exc}") from None
