"""Tables of points: CSV/TSV/TXT (and plain Parquet) rows with coordinate columns or WKT."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridtools.errors import InputError, describe_rows
from gridtools.io.formats import READ_ERRORS, file_suffix, reason
from gridtools.validate import require_columns, show_value

__all__ = ["read_table_points", "read_csv_table", "table_to_points", "detect_coordinates"]

# Column names recognised for coordinates in tables (compared case-insensitively).
_LON_NAMES = frozenset({"lon", "lng", "long", "longitude", "经度"})
_LAT_NAMES = frozenset({"lat", "latitude", "纬度"})
_X_NAMES = frozenset({"x", "point_x"})
_Y_NAMES = frozenset({"y", "point_y"})
_WKT_NAMES = frozenset({"geometry", "wkt", "geom", "the_geom"})


def read_table_points(path: Path, **columns) -> tuple[gpd.GeoDataFrame, pyproj.CRS | None]:
    return table_to_points(read_csv_table(path), path, **columns)


def read_csv_table(path: Path) -> pd.DataFrame:
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
        except (pd.errors.ParserError, *READ_ERRORS) as exc:
            raise InputError(f"cannot read {path} as a table: {reason(exc)}.") from exc
    raise InputError(f"cannot read {path}: it is neither UTF-8 nor GB18030 text; save it as UTF-8.")


def _find(columns: Iterable, names: frozenset) -> list:
    return [c for c in columns if str(c).strip().lower() in names]


def detect_coordinates(table: pd.DataFrame, path: Path) -> tuple[str, str | None, bool]:
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
            "for degrees, or x=..., y=... and crs=... for projected coordinates."
        )
    wkt = _find(table.columns, _WKT_NAMES)
    if len(wkt) == 1:
        return wkt[0], None, False
    raise InputError(
        f"{path} has no coordinate columns (looked for lon/lng/longitude and lat/latitude, x/y, "
        f"or a WKT geometry column); its columns are: {columns}. Pass lon=..., lat=... "
        "for degrees, or x=..., y=... and crs=... for projected coordinates."
    )


def table_to_points(
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
        xcol, ycol, lonlat = detect_coordinates(table, path)
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


