"""The component register as a GeoPackage file (SQLite) that QGIS, GDAL and gridtools all open.

Why hand-written GeoPackage SQL rather than GDAL writes: the register needs things GDAL's
writers do not give from Python: one SQLite transaction around *serial allocation + insert*
(``BEGIN IMMEDIATE``, so concurrent writers queue instead of colliding), UNIQUE constraints on the
code and on the source key (re-imports cannot duplicate), and whole-batch commits (a ``kill -9``
leaves only complete batches).  The file follows the GeoPackage 1.4 encoding (application id,
``gpkg_spatial_ref_sys``, ``gpkg_contents``, ``gpkg_geometry_columns``, GeoPackage binary
geometries, the ``gpkg_rtree_index`` extension with its standard triggers), so GDAL/QGIS read
and edit it like any GeoPackage.  GDAL supplies the ``ST_*`` functions the R-tree triggers call;
this module registers equivalent Python functions on the register's connections.

:class:`GeoPackageBackend` is the :class:`~gridtools.components.backend.RegisterBackend` the
store uses for a file path or a ``sqlite:///`` URL.
"""

from __future__ import annotations

import json
import math
import sqlite3
import struct
from collections.abc import Callable, Iterable
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyproj
import shapely

from gridtools import settings
from gridtools.components.backend import (
    COLUMNS,
    GEOM,
    SRS_ID,
    TABLE,
    RegisterBackend,
    write_classes,
)
from gridtools.components.classes import check_classes, load_classes
from gridtools.db import Database
from gridtools.errors import InputError

__all__ = ["GeoPackageBackend", "gpkg_blobs", "RTREE"]

RTREE = f"rtree_{TABLE}_{GEOM}"

_APPLICATION_ID = 0x47504B47  # "GPKG"
_USER_VERSION = 10400  # GeoPackage 1.4.0


def _gpkg_time() -> str:
    """``last_change`` in the GeoPackage format (milliseconds, UTC)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --------------------------------------------------------------------------------------------
# GeoPackage binary geometry


def gpkg_blobs(points: np.ndarray, srs_id: int = SRS_ID) -> list[bytes]:
    """GeoPackage binary encoding of 2-D geometries: ``GP`` header (little endian, no envelope) + WKB.

    Examples
    --------
    >>> blob = gpkg_blobs(np.array([shapely.Point(1, 2)]))[0]
    >>> blob[:2], len(blob), shapely.from_wkb(blob[8:]).wkt
    (b'GP', 29, 'POINT (1 2)')
    """
    header = b"GP\x00\x01" + struct.pack("<i", srs_id)
    wkb = shapely.to_wkb(points, byte_order=1, output_dimension=2)
    return [header + w for w in wkb]


def _wkb_offset(blob: bytes) -> tuple[int, int]:
    """(flags, offset of the WKB) of a GeoPackage geometry blob."""
    flags = blob[3]
    envelope = (flags >> 1) & 0x07
    size = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get(envelope, 0)
    return flags, 8 + size


def _envelope(blob) -> tuple[float, float, float, float] | None:
    if blob is None or len(blob) < 8 or blob[:2] != b"GP":
        return None
    flags, offset = _wkb_offset(blob)
    if flags & 0x10:
        return None
    endian = "<" if flags & 0x01 else ">"
    if (flags >> 1) & 0x07:
        minx, maxx, miny, maxy = struct.unpack_from(endian + "4d", blob, 8)
        return minx, maxx, miny, maxy
    # no envelope: a point is read directly, anything else through shapely
    wkb_endian = "<" if blob[offset] == 1 else ">"
    kind = struct.unpack_from(wkb_endian + "I", blob, offset + 1)[0]
    if kind == 1:
        x, y = struct.unpack_from(wkb_endian + "2d", blob, offset + 5)
        return (None if math.isnan(x) else (x, x, y, y))
    geom = shapely.from_wkb(bytes(blob[offset:]))
    if geom.is_empty:
        return None
    minx, miny, maxx, maxy = geom.bounds
    return minx, maxx, miny, maxy


def _st(index: int) -> Callable:
    def f(blob):
        env = _envelope(blob)
        return None if env is None else env[index]
    return f


def _st_is_empty(blob):
    if blob is None:
        return None
    return 1 if _envelope(blob) is None else 0


def _prepare_connection(con: sqlite3.Connection) -> None:
    """The spatial SQL functions the GeoPackage R-tree triggers call (GDAL has its own), and a cache
    that holds a whole batch."""
    deterministic = {"deterministic": True}
    con.create_function("ST_IsEmpty", 1, _st_is_empty, **deterministic)
    for i, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        con.create_function(name, 1, _st(i), **deterministic)
    # a batch's dirty pages (table, 3 indexes, R-tree) stay in memory until COMMIT: a smaller
    # cache spills mid-transaction, which costs an extra journal sync per spill
    con.execute("PRAGMA cache_size = -131072")


# --------------------------------------------------------------------------------------------
# schema

_SCHEMA = f"""
CREATE TABLE gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE gpkg_extensions (
  table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
  scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
CREATE TABLE {TABLE} (
  fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  {GEOM} POINT,
  code TEXT NOT NULL UNIQUE CHECK (length(code) = 16),
  admin_code TEXT NOT NULL,
  class_code TEXT NOT NULL,
  name TEXT,
  grid_code TEXT NOT NULL DEFAULT '',
  dept_in_charge TEXT,
  owner TEXT,
  maintainer TEXT,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
  source TEXT,
  source_key TEXT NOT NULL UNIQUE,
  import_batch INTEGER,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  retired_at TEXT,
  note TEXT);
CREATE INDEX idx_{TABLE}_grid ON {TABLE}(grid_code);
CREATE INDEX idx_{TABLE}_class ON {TABLE}(class_code);
CREATE TABLE component_classes (
  fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, class_code TEXT NOT NULL UNIQUE,
  major_code TEXT NOT NULL, sub_code TEXT NOT NULL, major_zh TEXT, major_en TEXT,
  name_zh TEXT, name_en TEXT, osm TEXT, source TEXT, note TEXT);
CREATE TABLE component_counters (
  fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, admin_code TEXT NOT NULL, class_code TEXT NOT NULL,
  last_serial INTEGER NOT NULL, UNIQUE (admin_code, class_code));
CREATE TABLE component_history (
  fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, code TEXT NOT NULL, action TEXT NOT NULL,
  field TEXT, old_value TEXT, new_value TEXT, changed_at TEXT NOT NULL, note TEXT);
CREATE INDEX idx_component_history_code ON component_history(code);
CREATE TABLE component_imports (
  fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, source TEXT, rows INTEGER NOT NULL,
  committed_at TEXT NOT NULL);
CREATE VIRTUAL TABLE {RTREE} USING rtree(id, minx, maxx, miny, maxy);
{{insert_trigger}};
CREATE TRIGGER {RTREE}_update6 AFTER UPDATE OF {GEOM} ON {TABLE}
  WHEN OLD.fid = NEW.fid AND (NEW.{GEOM} NOTNULL AND NOT ST_IsEmpty(NEW.{GEOM}))
BEGIN
  UPDATE {RTREE} SET minx = ST_MinX(NEW.{GEOM}), maxx = ST_MaxX(NEW.{GEOM}),
    miny = ST_MinY(NEW.{GEOM}), maxy = ST_MaxY(NEW.{GEOM}) WHERE id = NEW.fid;
END;
CREATE TRIGGER {RTREE}_update7 AFTER UPDATE OF {GEOM} ON {TABLE}
  WHEN OLD.fid = NEW.fid AND (NEW.{GEOM} ISNULL OR ST_IsEmpty(NEW.{GEOM}))
BEGIN
  DELETE FROM {RTREE} WHERE id = OLD.fid;
END;
CREATE TRIGGER {RTREE}_update5 AFTER UPDATE ON {TABLE}
  WHEN OLD.fid != NEW.fid AND (NEW.{GEOM} NOTNULL AND NOT ST_IsEmpty(NEW.{GEOM}))
BEGIN
  DELETE FROM {RTREE} WHERE id = OLD.fid;
  INSERT OR REPLACE INTO {RTREE} VALUES (NEW.fid,
    ST_MinX(NEW.{GEOM}), ST_MaxX(NEW.{GEOM}), ST_MinY(NEW.{GEOM}), ST_MaxY(NEW.{GEOM}));
END;
CREATE TRIGGER {RTREE}_update4 AFTER UPDATE ON {TABLE}
  WHEN OLD.fid != NEW.fid AND (NEW.{GEOM} ISNULL OR ST_IsEmpty(NEW.{GEOM}))
BEGIN
  DELETE FROM {RTREE} WHERE id IN (OLD.fid, NEW.fid);
END;
CREATE TRIGGER {RTREE}_delete AFTER DELETE ON {TABLE}
  WHEN old.{GEOM} NOT NULL
BEGIN
  DELETE FROM {RTREE} WHERE id = OLD.fid;
END;
"""

_INSERT_TRIGGER = f"""CREATE TRIGGER {RTREE}_insert AFTER INSERT ON {TABLE}
  WHEN (new.{GEOM} NOT NULL AND NOT ST_IsEmpty(NEW.{GEOM}))
BEGIN
  INSERT OR REPLACE INTO {RTREE} VALUES (NEW.fid,
    ST_MinX(NEW.{GEOM}), ST_MaxX(NEW.{GEOM}), ST_MinY(NEW.{GEOM}), ST_MaxY(NEW.{GEOM}));
END"""
_SCHEMA = _SCHEMA.replace("{insert_trigger}", _INSERT_TRIGGER)

# Retired codes must stay reserved: the register refuses deletes (retire instead).
_NO_DELETE = f"""
CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE}
BEGIN
  SELECT RAISE(ABORT, 'component codes are never deleted: retire the component instead');
END;
"""


def _statements(script: str) -> list[str]:
    """Split a script into statements (executescript would commit the open transaction)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [s for s in statements if s]


def _z_order(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Morton (Z-order) key of points quantised to 16 bits per axis over their own extent.

    Examples
    --------
    >>> _z_order(np.array([0.0, 1.0, 0.0, 1.0]), np.array([0.0, 0.0, 1.0, 1.0])).tolist()
    [0, 1431655765, 2863311530, 4294967295]
    """
    def spread(v):
        v = v.astype(np.uint64)
        v = (v | (v << 8)) & 0x00FF00FF
        v = (v | (v << 4)) & 0x0F0F0F0F
        v = (v | (v << 2)) & 0x33333333
        return (v | (v << 1)) & 0x55555555

    def quantise(v):
        span = v.max() - v.min() if len(v) else 0.0
        return np.zeros(len(v)) if span == 0 else (v - v.min()) / span * 65535

    return spread(quantise(x)) | (spread(quantise(y)) << np.uint64(1))


# --------------------------------------------------------------------------------------------
# the backend


class GeoPackageBackend(RegisterBackend):
    """A component register in a GeoPackage file.

    Every write is one SQLite transaction started with ``BEGIN IMMEDIATE`` (the write lock is
    taken before anything is read), so two processes writing at once queue, and a process killed
    mid-write leaves the file as it was before that transaction.

    Parameters
    ----------
    target : str or os.PathLike
        The file, or a ``sqlite:///path`` URL.
    create : bool, default True
        Create the file (and its folder) when it does not exist.

    Raises
    ------
    InputError
        No such file (``create=False``), or a file that is not SQLite.
    """

    def __init__(self, target, *, create: bool = True):
        db = Database(target, what=self.what, timeout=settings.components_lock_timeout_s, make_folder=create,
                      on_connect=_prepare_connection)
        path = db.path
        exists = path.exists() and path.stat().st_size > 0
        if not exists and not create:
            raise InputError(f"component register not found: {path}")
        if exists:
            with open(path, "rb") as f:
                head = f.read(16)
            if head != b"SQLite format 3\x00":
                raise InputError(f"{path} is not a GeoPackage/SQLite file; give a new file name "
                                 "(e.g. components.gpkg) or an existing component register")
        super().__init__(db)

    def install(self, classes: pd.DataFrame | None) -> None:
        if self.db.scalar("SELECT 1 FROM sqlite_master WHERE name = ?", (TABLE,)) is None:
            self._create_schema(classes if classes is not None else load_classes())
        elif classes is not None:
            with self.db.write():
                write_classes(self.db, check_classes(classes))

    def _create_schema(self, classes: pd.DataFrame) -> None:
        wgs84 = pyproj.CRS.from_epsg(SRS_ID).to_wkt("WKT1_GDAL")
        with self.db.write() as con:
            # checked again under the write lock: another process may have created the register meanwhile
            if con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (TABLE,)).fetchone():
                return
            if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'gpkg_contents'").fetchone():
                raise InputError(f"{self.db.path} is a GeoPackage but not a component register (no '{TABLE}' "
                                 "table); give a new file name for the register")
            con.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
            con.execute(f"PRAGMA user_version = {_USER_VERSION}")
            for statement in _statements(_SCHEMA + _NO_DELETE):
                con.execute(statement)
            con.executemany(
                "INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)",
                [("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate reference system"),
                 ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system"),
                 ("WGS 84 geodetic", SRS_ID, "EPSG", SRS_ID, wgs84,
                  "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid")])
            now = _gpkg_time()
            con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, srs_id) "
                        "VALUES (?, 'features', ?, ?, ?, ?)",
                        (TABLE, TABLE, "city management components (GB/T 30428.2), one row per component", now, SRS_ID))
            for table, text in (("component_classes", "component class table"),
                                ("component_counters", "last serial per county and class"),
                                ("component_history", "changes to components"),
                                ("component_imports", "committed import batches")):
                con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
                            "VALUES (?, 'attributes', ?, ?, ?)", (table, table, text, now))
            con.execute("INSERT INTO gpkg_geometry_columns VALUES (?, ?, 'POINT', ?, 0, 0)", (TABLE, GEOM, SRS_ID))
            con.execute("INSERT INTO gpkg_extensions VALUES (?, ?, 'gpkg_rtree_index', "
                        "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')", (TABLE, GEOM))
            write_classes(self.db, classes)

    def existing_keys(self, keys: list[str]) -> set[str]:
        # one statement per call: the keys travel as one JSON array, looked up through the UNIQUE index
        rows = self.db.execute(f"SELECT source_key FROM {TABLE} WHERE source_key IN (SELECT value FROM json_each(?))",
                               (json.dumps(keys, ensure_ascii=False),)).fetchall()
        return {r[0] for r in rows}

    def insert_rows(self, rows: Iterable[tuple], points: np.ndarray) -> None:
        values = [(blob, *row) for blob, row in zip(gpkg_blobs(points), rows, strict=True)]
        # Bulk path: the standard R-tree insert trigger calls ST_* functions once per row per
        # bound (Python functions here: ~6x the cost of the insert itself).  Inside this
        # transaction the trigger is dropped, the rows and their index entries are written
        # directly, and the trigger is re-created; a crash rolls all three back together, and
        # other writers (GDAL/QGIS) cannot run in between: this transaction holds the write lock.
        self.db.execute(f"DROP TRIGGER {RTREE}_insert")
        # AUTOINCREMENT under our write lock: the batch's fids are the next len(values) ones, in order
        fids = self.db.insert_many(f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES "
                                   f"({', '.join('?' * len(COLUMNS))}) RETURNING fid", values, TABLE)
        x, y = shapely.get_x(points), shapely.get_y(points)
        # R-tree inserts in Z-order: neighbouring points land in the same nodes (fewer splits)
        order = np.argsort(_z_order(x, y), kind="stable")
        ids = np.asarray(fids, dtype=np.int64)[order].tolist()
        xs, ys = x[order].tolist(), y[order].tolist()
        self.db.executemany(f"INSERT INTO {RTREE} VALUES (?, ?, ?, ?, ?)", zip(ids, xs, xs, ys, ys))
        self.db.execute(_INSERT_TRIGGER)
        self.grow_extent(min(xs), min(ys), max(xs), max(ys))

    def grow_extent(self, minx: float, miny: float, maxx: float, maxy: float) -> None:
        """Grow the layer extent in gpkg_contents to cover a new box (it never shrinks: a bound, as GDAL keeps it)."""
        self.db.execute(
            "UPDATE gpkg_contents SET min_x = min(coalesce(min_x, ?), ?), min_y = min(coalesce(min_y, ?), ?), "
            "max_x = max(coalesce(max_x, ?), ?), max_y = max(coalesce(max_y, ?), ?), last_change = ? WHERE table_name = ?",
            (minx, minx, miny, miny, maxx, maxx, maxy, maxy, _gpkg_time(), TABLE))

    def encode(self, geometry) -> bytes:
        return gpkg_blobs(np.array([geometry]))[0]

    def decode(self, values) -> np.ndarray:
        return shapely.from_wkb([None if b is None else bytes(b[_wkb_offset(b)[1]:]) for b in values])

    def bbox_clause(self, minx: float, miny: float, maxx: float, maxy: float) -> tuple[str, list]:
        return (f"c.fid IN (SELECT id FROM {RTREE} WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?)",
                [maxx, minx, maxy, miny])

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result (``'ok'`` for a sound file)."""
        return self.db.scalar("PRAGMA integrity_check")
