"""Writing GeoDataFrames and tables atomically: a failed write leaves the old file whole."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from gridtools.errors import GridtoolsError, InputError
from gridtools.io.formats import PARAMS_ATTR, PARQUET_SUFFIXES, READ_ERRORS, VECTOR_DRIVERS, WRITABLE_SUFFIXES, file_suffix, reason

__all__ = ["write_any", "staged_file"]

# Shapefile sidecars: a rewrite must not leave stale ones (an old spatial index is wrong).
_SHP_SIDECARS = (".shx", ".dbf", ".prj", ".cpg", ".qpj", ".qix", ".sbn", ".sbx", ".fix", ".shp.xml")

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
    in the CRS of *gdf*; CSV does not record it.  The parameters a result carries in
    ``gdf.attrs["gridtools"]`` (:data:`PARAMS_ATTR`) are kept: as the layer's metadata in a
    GeoPackage (JSON under the key ``gridtools``), in the file's metadata in Parquet.

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
    if suffix not in WRITABLE_SUFFIXES:
        raise InputError(
            f"cannot write {path}: unsupported extension {suffix or '(none)'}; use one of "
            f"{', '.join(WRITABLE_SUFFIXES)}."
        )
    if not _is_geo(gdf) and suffix not in (*PARQUET_SUFFIXES, ".csv", ".csv.gz", ".gpkg"):
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
        with staged_file(path, copy_existing=suffix == ".gpkg") as staged:
            _writestaged(gdf, staged, suffix, layer)
    except GridtoolsError:
        raise
    except Exception as exc:  # any failure: report it, the old file is intact
        kept = "The existing file was left unchanged." if existed else "Nothing was written."
        raise InputError(f"could not write {path}: {reason(exc)}. {kept}") from exc
    return path


def _existing_layers(path: Path) -> list[str]:
    try:
        return [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except READ_ERRORS as exc:
        raise InputError(
            f"{path} exists but is not a readable GeoPackage ({exc}); move it away."
        ) from exc


@contextmanager
def staged_file(path: Path, *, copy_existing: bool) -> Iterator[Path]:
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


def _writestaged(gdf: pd.DataFrame, staged: Path, suffix: str, layer: str | None) -> None:
    if suffix in PARQUET_SUFFIXES:
        out = gdf.copy(deep=False)
        # Parquet stores attrs as JSON: CRS objects (attrs["input_crs"]) become their text form.
        out.attrs = _json_safe(gdf.attrs)
        out.to_parquet(staged)
    elif suffix in (".csv", ".csv.gz"):
        table = _csv_table(gdf) if _is_geo(gdf) else gdf
        table.to_csv(staged, index=table.index.name is not None or table.index.nlevels > 1)
    elif not _is_geo(gdf):
        # a GeoPackage holds plain attribute tables too (e.g. retired grid codes)

        pyogrio.write_dataframe(gdf, staged, layer=layer, driver="GPKG", **_params_metadata(gdf))
    else:
        options = {"layer": layer, **_params_metadata(gdf)} if suffix == ".gpkg" else {}
        if suffix == ".fgb":
            # FlatGeobuf's spatial index sorts features along a Hilbert curve; rows must come
            # back in the order written (ids, units-to-grids tables depend on it).
            options["SPATIAL_INDEX"] = "NO"
        gdf.to_file(staged, driver=VECTOR_DRIVERS[suffix], engine="pyogrio", **options)


def _params_metadata(gdf: pd.DataFrame) -> dict:
    """The ``layer_metadata`` option carrying a result's parameters (none when it has none)."""
    params = gdf.attrs.get(PARAMS_ATTR)
    if not isinstance(params, dict):
        return {}
    return {"layer_metadata": {PARAMS_ATTR: json.dumps(_json_safe(params), sort_keys=True)}}


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


