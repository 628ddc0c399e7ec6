"""File formats gridtools reads and writes: suffixes, drivers, the errors a read can raise."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "VECTOR_DRIVERS", "PARQUET_SUFFIXES", "TABLE_SUFFIXES", "WRITABLE_SUFFIXES", "READ_ERRORS",
    "file_suffix", "reason", "is_table_path", "PARAMS_ATTR",
]

#: ``attrs`` key of the parameters a result was made with (a dict of JSON values, e.g. a partition's
#: band and population column): :func:`gridtools.io.write_any` stores it as GeoPackage layer
#: metadata and :func:`gridtools.io.read_any` reads it back, so readers of a file use them.
PARAMS_ATTR = "gridtools"


# Read failures from GDAL (pyogrio errors derive from RuntimeError), the OS and pyarrow.
READ_ERRORS = (RuntimeError, OSError, ValueError, TypeError)

VECTOR_DRIVERS = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "ESRI Shapefile",
    ".fgb": "FlatGeobuf",
}
PARQUET_SUFFIXES = (".parquet", ".geoparquet")
TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")
WRITABLE_SUFFIXES = (*VECTOR_DRIVERS, *PARQUET_SUFFIXES, ".csv", ".csv.gz")


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


def reason(exc: BaseException) -> str:
    """A driver's message without its final full stop, so a sentence can follow.

    Examples
    --------
    >>> reason(OSError("No such file."))
    'No such file'
    """
    return str(exc).strip().rstrip(".")




def is_table_path(path) -> bool:
    """Whether *path* names a text table that :func:`~gridtools.io.read_text_table` reads (by its extension).

    Examples
    --------
    >>> is_table_path("events.csv.gz"), is_table_path("events.gpkg")
    (True, False)
    """
    return file_suffix(path) in TABLE_SUFFIXES
