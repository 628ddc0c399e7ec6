"""Reading any vector file or point table into a GeoDataFrame with a checked CRS."""

from __future__ import annotations

import importlib.util
import json
import re
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from gridtools import coords
from gridtools.crs import chinese_datum, label, parse_crs, same_crs
from gridtools.errors import CRSError, InputError, InputWarning, describe_rows
from gridtools.io.formats import PARAMS_ATTR, PARQUET_SUFFIXES, READ_ERRORS, TABLE_SUFFIXES, file_suffix, reason
from gridtools.io.points import read_table_points, table_to_points
from gridtools.validate import check_coordinates, require_datum

__all__ = ["read_any", "read_events", "list_layers", "layer_params"]

# Arrow makes pyogrio reads several times faster; it is a hard dependency, but stay correct
# without it.
_USE_ARROW = importlib.util.find_spec("pyarrow") is not None
# Vector files worth opening inside a zip archive whose layout GDAL does not open by itself.
_ZIP_MEMBERS = (".shp", ".gpkg", ".geojson", ".json", ".fgb", ".gml", ".kml")

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
    if suffix not in TABLE_SUFFIXES + PARQUET_SUFFIXES and any(v is not None for v in coord_args.values()):
        named = ", ".join(f"{k}={v!r}" for k, v in coord_args.items() if v is not None)
        raise InputError(
            f"{path}: {named} only apply to tables (.csv, .tsv, .txt, plain .parquet); a "
            f"{suffix or 'vector'} file has its own geometry. Drop lon=, lat=, x= and y= for this file."
        )
    keep = unlocated == "drop"
    if suffix in TABLE_SUFFIXES:
        gdf, implied = read_table_points(path, **coord_args, keep_unlocated=keep)
    elif suffix in PARQUET_SUFFIXES:
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
        if given is None and chosen.is_geographic:
            # WGS-84 only by the format's default: in China the datum must be said (validate.require_datum)
            xy = shapely.get_coordinates(shapely.point_on_surface(gdf.geometry.to_numpy()))
            require_datum(xy[:, 0], xy[:, 1], str(path))
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
    except shapely.errors.GEOSException:
        # A geometry GEOS cannot build (OSM multipolygons hold rings of 2 points): repair or skip it
        gdf = _read_repairing(target, layer, path)
    except READ_ERRORS as exc:
        raise InputError(f"cannot read {path}: {reason(exc)}.") from exc
    implied = None
    if file_suffix(path) == ".gpkg":
        params = layer_params(target, layer)
        if params:
            gdf.attrs[PARAMS_ATTR] = params
    if file_suffix(path) in (".geojson", ".json") and not _geojson_declares_crs(path):
        # GDAL labels every GeoJSON as WGS-84, but without a "crs" member that is only the
        # RFC 7946 default: let crs=... (e.g. CGCS2000) replace it instead of conflicting.
        implied, gdf = gdf.crs, gdf.set_crs(None, allow_override=True)
    return gdf, implied


def layer_params(path, layer: str | None = None) -> dict:
    """The parameters stored with a GeoPackage layer by :func:`gridtools.io.write_any` (empty if none).

    Parameters
    ----------
    path : str or os.PathLike
        A GeoPackage.
    layer : str, optional
        Its layer (default: the first).

    Returns
    -------
    dict
        E.g. ``{"command": "partition", "min_pop": 800, "max_pop": 1200, "pop": "TOTPOP", ...}``.

    Examples
    --------
    >>> layer_params("grids.gpkg", "grids")["min_pop"]   # doctest: +SKIP
    800.0
    """
    try:
        metadata = pyogrio.read_info(str(path), layer=layer).get("layer_metadata") or {}
        return json.loads(metadata[PARAMS_ATTR]) if PARAMS_ATTR in metadata else {}
    except (*READ_ERRORS, ValueError):  # unreadable or hand-edited metadata: no parameters
        return {}


def _read_repairing(target: str, layer: str | None, path: Path) -> gpd.GeoDataFrame:
    """Read a layer whose geometries GEOS refuses: repair those it can, skip the rest, and warn.

    ``attrs["skipped_geometries"]`` lists the rows (counting from 1) left out and
    ``attrs["repaired_geometries"]`` how many were repaired.
    """
    try:
        meta, _, wkb, fields = pyogrio.raw.read(target, layer=layer)
    except READ_ERRORS as exc:
        raise InputError(f"cannot read {path}: {reason(exc)}.") from exc
    strict = shapely.from_wkb(wkb, on_invalid="ignore")
    fixed = shapely.from_wkb(wkb, on_invalid="fix")
    broken = shapely.is_missing(strict) & (np.asarray(wkb, dtype=object) != None)  # noqa: E711
    skipped = broken & shapely.is_missing(fixed)
    table = pd.DataFrame(dict(zip(meta["fields"], fields)))
    gdf = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(fixed), crs=meta["crs"])
    gdf = gdf.loc[~skipped].reset_index(drop=True)
    rows = [int(r) + 1 for r in np.flatnonzero(skipped)]
    gdf.attrs.update(skipped_geometries=rows, repaired_geometries=int((broken & ~skipped).sum()))
    warnings.warn(InputWarning(
        f"{path}{f' layer {layer!r}' if layer else ''}: {int(broken.sum())} of {len(table):,} features have "
        f"an invalid geometry (e.g. a ring of fewer than 3 points); {int((broken & ~skipped).sum())} repaired, "
        f"{len(rows)} left out ({describe_rows(rows)}, counting from 1)"), stacklevel=3)
    return gdf


def _geojson_declares_crs(path: Path) -> bool:
    # GDAL and most writers put the "crs" member before the features, so the head suffices;
    # cutting at "features" ignores a property that happens to be called "crs".
    with open(path, "rb") as f:
        head = f.read(65536).decode("utf-8", errors="ignore").split('"features"')[0]
    return re.search(r'"crs"\s*:', head) is not None


def _list_layers(target: str, path: Path) -> np.ndarray:
    try:
        return pyogrio.list_layers(target)
    except READ_ERRORS as exc:
        raise InputError(
            f"cannot read {path}: {reason(exc)}. Check that it is a vector file (.gpkg, .geojson, "
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
    except READ_ERRORS:
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
            raise InputError(f"cannot read {path}: {reason(exc)}.") from exc
    except READ_ERRORS as exc:
        raise InputError(f"cannot read {path}: {reason(exc)}.") from exc
    # A plain (non-geo) parquet table: treat it like a CSV of points.
    try:
        table = pd.read_parquet(path)
    except READ_ERRORS as exc:
        raise InputError(f"cannot read {path}: {reason(exc)}.") from exc
    return table_to_points(table.reset_index(drop=True), path, **columns)


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


