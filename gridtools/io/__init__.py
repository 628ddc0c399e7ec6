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

from gridtools.crs import chinese_datum, local_metric_crs, parse_crs, to_metric
from gridtools.io.formats import PARAMS_ATTR, TABLE_SUFFIXES, file_suffix, is_table_path
from gridtools.io.points import detect_coordinates
from gridtools.io.read import layer_params, list_layers, read_any, read_events
from gridtools.io.text import read_mapping, read_text_table, write_text_table
from gridtools.io.write import write_any
from gridtools.validate import check_coordinates, check_geometries, numeric_column, require_columns

__all__ = [
    "read_any",
    "read_events",
    "list_layers",
    "layer_params",
    "PARAMS_ATTR",
    "write_any",
    "read_text_table",
    "write_text_table",
    "read_mapping",
    "file_suffix",
    "TABLE_SUFFIXES",
    "is_table_path",
    "detect_coordinates",
    # moved to gridtools.crs / gridtools.validate; importable from io for one release
    "parse_crs",
    "chinese_datum",
    "local_metric_crs",
    "to_metric",
    "check_coordinates",
    "check_geometries",
    "numeric_column",
    "require_columns",
]
