"""The component register: one GeoPackage file (SQLite) that QGIS, GDAL and gridtools all open.

Why hand-written GeoPackage SQL rather than GDAL writes: the register needs things GDAL's
writers do not give from Python: one SQLite transaction around *serial allocation + insert*
(``BEGIN IMMEDIATE``, so concurrent writers queue instead of colliding), UNIQUE constraints on the
code and on the source key (re-imports cannot duplicate), and whole-batch commits (a ``kill -9``
leaves only complete batches).  The file follows the GeoPackage 1.4 encoding (application id,
``gpkg_spatial_ref_sys``, ``gpkg_contents``, ``gpkg_geometry_columns``, GeoPackage binary
geometries, the ``gpkg_rtree_index`` extension with its standard triggers), so GDAL/QGIS read
and edit it like any GeoPackage.  GDAL supplies the ``ST_*`` functions the R-tree triggers call;
this module registers equivalent Python functions on its own connections.

Tables
------
``components`` (features, POINT, EPSG:4326)
    fid, geom, code (16 digits, UNIQUE), admin_code, class_code, name, grid_code ('' outside every
    grid), dept_in_charge, owner, maintainer, status ('active' | 'retired'), source, source_key
    (UNIQUE), import_batch, created_at, updated_at, retired_at, note.
``component_classes``, ``component_counters`` (last serial per county + class),
``component_history`` (every update / retire / regrid: old and new value, UTC time),
``component_imports`` (one row per committed batch: source, rows, time).

A ``postgresql://`` URL opens the same API on PostGIS instead (:mod:`gridtools.components.postgis`).

Retired components stay in the table with ``status='retired'``: their codes are never reused,
and the counters only grow.  Serials are dense: a rolled-back batch rolls back its counter update
too, so serials have no gaps unless rows are deleted by hand.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import struct
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridtools import settings
from gridtools.components.classes import check_classes, load_classes
from gridtools.components.codes import MAX_SERIAL, check_admin_code, make_codes, parse_code
from gridtools.errors import GridtoolsError, InputError

__all__ = ["ComponentStore", "open_store", "FIELDS", "EDITABLE_FIELDS"]

TABLE = "components"
GEOM = "geom"
RTREE = f"rtree_{TABLE}_{GEOM}"
SRS_ID = 4326

#: Attribute fields of a component (besides code, class, geometry and bookkeeping).
FIELDS = ("name", "grid_code", "dept_in_charge", "owner", "maintainer", "note")
#: Fields :meth:`ComponentStore.update` may change (``geometry`` moves the component).
EDITABLE_FIELDS = ("name", "grid_code", "dept_in_charge", "owner", "maintainer", "note", "class_code")

_APPLICATION_ID = 0x47504B47  # "GPKG"
_USER_VERSION = 10400  # GeoPackage 1.4.0

_COLUMNS = ("geom", "code", "admin_code", "class_code", "name", "grid_code", "dept_in_charge", "owner",
            "maintainer", "status", "source", "source_key", "import_batch", "created_at", "updated_at",
            "retired_at", "note")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def _register_functions(con: sqlite3.Connection) -> None:
    """The spatial SQL functions the GeoPackage R-tree triggers call (GDAL has its own)."""
    deterministic = {"deterministic": True}
    con.create_function("ST_IsEmpty", 1, _st_is_empty, **deterministic)
    for i, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        con.create_function(name, 1, _st(i), **deterministic)


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


def _create_schema(con: sqlite3.Connection, classes: pd.DataFrame, path: Path) -> None:
    wgs84 = pyproj.CRS.from_epsg(SRS_ID).to_wkt("WKT1_GDAL")
    con.execute("BEGIN IMMEDIATE")
    try:
        # checked again under the write lock: another process may have created the register meanwhile
        if con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (TABLE,)).fetchone():
            con.execute("COMMIT")
            return
        if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'gpkg_contents'").fetchone():
            raise InputError(f"{path} is a GeoPackage but not a component register (no '{TABLE}' table); "
                             "give a new file name for the register")
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
        _write_classes(con, classes)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _write_classes(con: sqlite3.Connection, classes: pd.DataFrame) -> None:
    cols = ("class_code", "major_code", "sub_code", "major_zh", "major_en", "name_zh", "name_en", "osm", "source", "note")
    con.executemany(
        f"INSERT INTO component_classes ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
        f"ON CONFLICT(class_code) DO UPDATE SET " + ", ".join(f"{c}=excluded.{c}" for c in cols[1:]),
        classes[list(cols)].itertuples(index=False, name=None))


# --------------------------------------------------------------------------------------------
# the store


def open_store(target, *, classes: pd.DataFrame | None = None, create: bool = True) -> "ComponentStore":
    """Open (or create) a component register.

    Parameters
    ----------
    target : str or Path
        A GeoPackage file (``components.gpkg``, or ``sqlite:///path/components.gpkg``), or a
        PostGIS URL ``postgresql://user@host/db`` (same API, for many concurrent users).
    classes : DataFrame, optional
        Class table for a new register (default: the shipped one).  On an existing register the
        given classes are added / updated.
    create : bool, default True
        Create the file when it does not exist.

    Raises
    ------
    MissingDependencyError
        PostGIS URL without the ``psycopg`` package (``pip install 'gridtools[postgis]'``).
    GridtoolsError
        The PostGIS server cannot be reached, or lacks the postgis extension.

    Examples
    --------
    >>> import tempfile, os
    >>> store = open_store(os.path.join(tempfile.mkdtemp(), "c.gpkg"))
    >>> store.count()
    0
    >>> store.close()
    """
    text = str(target)
    # a URL that went through pathlib.Path (the CLI's DB argument) has lost one slash
    url = re.match(r"^(postgresql|postgres)(\+psycopg)?:/+(.*)$", text)
    if url:
        from gridtools.components.postgis import PostgisStore

        return PostgisStore("postgresql://" + url.group(3), classes=classes)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///"):]
    return ComponentStore(Path(text), classes=classes, create=create)


class ComponentStore:
    """A component register in a GeoPackage file.  Use :func:`open_store` to get one.

    Every write is one SQLite transaction started with ``BEGIN IMMEDIATE`` (the write lock is
    taken before anything is read), so two processes writing at once queue, and a process killed
    mid-write leaves the file as it was before that transaction.
    """

    def __init__(self, path: Path, *, classes: pd.DataFrame | None = None, create: bool = True):
        self.path = Path(path)
        exists = self.path.exists() and self.path.stat().st_size > 0
        if not exists and not create:
            raise InputError(f"component register not found: {self.path}")
        if exists:
            with open(self.path, "rb") as f:
                head = f.read(16)
            if head != b"SQLite format 3\x00":
                raise InputError(f"{self.path} is not a GeoPackage/SQLite file; give a new file name "
                                 "(e.g. components.gpkg) or an existing component register")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT)
        self.con = sqlite3.connect(str(self.path), timeout=settings.components_lock_timeout_s,
                                   isolation_level=None)
        _register_functions(self.con)
        self.con.execute("PRAGMA foreign_keys = ON")
        # a batch's dirty pages (table, 3 indexes, R-tree) stay in memory until COMMIT: a smaller
        # cache spills mid-transaction, which costs an extra journal sync per spill
        self.con.execute("PRAGMA cache_size = -131072")
        if not self._has_table(TABLE):
            _create_schema(self.con, classes if classes is not None else load_classes(), self.path)
        elif classes is not None:
            self._transaction(lambda: _write_classes(self.con, check_classes(classes)))

    # -- plumbing ---------------------------------------------------------------------------
    def _has_table(self, name: str) -> bool:
        row = self.con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone()
        return row is not None

    def _transaction(self, body: Callable):
        self.con.execute("BEGIN IMMEDIATE")
        try:
            result = body()
            self.con.execute("COMMIT")
            return result
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    # -- backend hooks (GeoPackage here; PostgisStore overrides them) ---------------------------
    _select_columns = "c.*"
    _geom_param = "?"

    def _insert_id(self, sql: str, params: tuple) -> int:
        return self.con.execute(sql, params).lastrowid

    def _geom_value(self, geometry):
        return gpkg_blobs(np.array([geometry]))[0]

    def _geometry_of(self, row: dict):
        blob = row.get(GEOM)
        return None if blob is None else shapely.from_wkb(bytes(blob[_wkb_offset(blob)[1]:]))

    def _decode_geoms(self, blobs: pd.Series) -> np.ndarray:
        return shapely.from_wkb([None if b is None else bytes(b[_wkb_offset(b)[1]:]) for b in blobs])

    def _bbox_clause(self, minx, miny, maxx, maxy) -> tuple[str, list]:
        return (f"c.fid IN (SELECT id FROM {RTREE} WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?)",
                [maxx, minx, maxy, miny])

    def close(self) -> None:
        """Close the database connection."""
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"ComponentStore({str(self.path)!r}, {self.count():,} components)"

    # -- classes ----------------------------------------------------------------------------
    @property
    def classes(self) -> pd.DataFrame:
        """The register's class table."""
        return self._read_frame("SELECT * FROM component_classes ORDER BY class_code").drop(columns="fid")

    # -- writing ----------------------------------------------------------------------------
    def existing_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of *keys* already in the register (active or retired)."""
        # one statement per call: the keys travel as one JSON array, looked up through the UNIQUE index
        rows = self.con.execute(f"SELECT source_key FROM {TABLE} WHERE source_key IN (SELECT value FROM json_each(?))",
                                (json.dumps([str(k) for k in keys], ensure_ascii=False),)).fetchall()
        return {r[0] for r in rows}

    def insert_batch(self, batch: gpd.GeoDataFrame, *, admin_code: str, source: str = "") -> pd.DataFrame:
        """Code and insert one batch in one transaction; rows whose source key exists are skipped.

        Parameters
        ----------
        batch : GeoDataFrame
            EPSG:4326 points with columns ``class_code``, ``source_key`` and any of
            :data:`FIELDS`.  Source keys must be unique within the batch.
        admin_code : str
            6-digit county code for the new codes.
        source : str
            Where the rows come from (file name), recorded on each row.

        Returns
        -------
        DataFrame
            ``source_key``, ``code`` of the rows inserted (in batch order).
        """
        admin = check_admin_code(admin_code)
        if batch.crs is None or batch.crs.to_epsg() != SRS_ID:
            raise InputError("insert_batch needs EPSG:4326 points; reproject with to_crs(4326)")
        known = set(self.con.execute("SELECT class_code FROM component_classes").fetchall())
        unknown = sorted(set(batch["class_code"]) - {k[0] for k in known})
        if unknown:
            raise InputError(f"class code(s) {unknown} are not in the register's class table; add them first")

        def body():
            # under the write lock: which keys exist and the last serials cannot change now
            exists = self.existing_keys(batch["source_key"])
            new = batch[~batch["source_key"].isin(exists)]
            if not len(new):
                return pd.DataFrame({"source_key": [], "code": []})
            codes = np.empty(len(new), dtype=object)
            cls = new["class_code"].to_numpy()
            for class_code in np.unique(cls):
                mine = np.flatnonzero(cls == class_code)
                row = self.con.execute("SELECT last_serial FROM component_counters WHERE admin_code=? AND class_code=?",
                                       (admin, class_code)).fetchone()
                last = row[0] if row else 0
                if last + len(mine) > MAX_SERIAL:
                    raise InputError(f"class {class_code} in county {admin} would pass serial {MAX_SERIAL:,}")
                codes[mine] = make_codes(admin, [class_code] * len(mine), np.arange(last + 1, last + 1 + len(mine)))
                self.con.execute("INSERT INTO component_counters (admin_code, class_code, last_serial) VALUES (?, ?, ?) "
                                 "ON CONFLICT(admin_code, class_code) DO UPDATE SET last_serial = excluded.last_serial",
                                 (admin, class_code, last + len(mine)))
            batch_id = self._insert_id("INSERT INTO component_imports (source, rows, committed_at) VALUES (?, ?, ?)",
                                       (source, len(new), _now()))
            self._write_rows(new, codes, cls, admin, source, batch_id)
            return pd.DataFrame({"source_key": new["source_key"].to_numpy(), "code": codes})

        return self._transaction(body)

    def _rows(self, new, codes, cls, admin, source, batch_id, geoms) -> Iterable[tuple]:
        now = _now()
        values = {c: _text_column(new, c) for c in FIELDS}
        values["grid_code"] = [v or "" for v in values["grid_code"]]
        n = len(new)
        return zip(geoms, codes, [admin] * n, cls, values["name"], values["grid_code"], values["dept_in_charge"],
                   values["owner"], values["maintainer"], ["active"] * n, [source] * n, new["source_key"].tolist(),
                   [batch_id] * n, [now] * n, [now] * n, [None] * n, values["note"])

    def _write_rows(self, new, codes, cls, admin, source, batch_id) -> None:
        rows = self._rows(new, codes, cls, admin, source, batch_id, gpkg_blobs(new.geometry.to_numpy()))
        # Bulk path: the standard R-tree insert trigger calls ST_* functions once per row per
        # bound (Python functions here: ~6x the cost of the insert itself).  Inside this
        # transaction the trigger is dropped, the rows and their index entries are written
        # directly, and the trigger is re-created; a crash rolls all three back together, and
        # other writers (GDAL/QGIS) cannot run in between: this transaction holds the write lock.
        self.con.execute(f"DROP TRIGGER {RTREE}_insert")
        self.con.executemany(f"INSERT INTO {TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                             rows)
        # AUTOINCREMENT under our write lock: the batch's fids are the last len(new) ones, in order
        last = self.con.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (TABLE,)).fetchone()[0]
        fids = range(last - len(new) + 1, last + 1)
        check = self.con.execute(f"SELECT count(*) FROM {TABLE} WHERE fid BETWEEN ? AND ? AND import_batch = ?",
                                 (fids[0], fids[-1], batch_id)).fetchone()[0]
        if check != len(new):  # pragma: no cover - would mean another writer got in: never under BEGIN IMMEDIATE
            raise GridtoolsError("component fids of this batch are not contiguous; nothing was written")
        x, y = new.geometry.x.to_numpy(), new.geometry.y.to_numpy()
        # R-tree inserts in Z-order: neighbouring points land in the same nodes (fewer splits)
        order = np.argsort(_z_order(x, y), kind="stable")
        ids = np.asarray(fids, dtype=np.int64)[order].tolist()
        xs, ys = x[order].tolist(), y[order].tolist()
        self.con.executemany(f"INSERT INTO {RTREE} VALUES (?, ?, ?, ?, ?)", zip(ids, xs, xs, ys, ys))
        self.con.execute(_INSERT_TRIGGER)
        self._update_extent(min(xs), min(ys), max(xs), max(ys))

    def _update_extent(self, minx: float, miny: float, maxx: float, maxy: float) -> None:
        """Grow the layer extent in gpkg_contents to cover a new box (it never shrinks: a bound, as GDAL keeps it)."""
        self.con.execute(
            "UPDATE gpkg_contents SET min_x = min(coalesce(min_x, ?), ?), min_y = min(coalesce(min_y, ?), ?), "
            "max_x = max(coalesce(max_x, ?), ?), max_y = max(coalesce(max_y, ?), ?), last_change = ? WHERE table_name = ?",
            (minx, minx, miny, miny, maxx, maxx, maxy, maxy, _gpkg_time(), TABLE))

    def update(self, code: str, *, note: str | None = None, geometry=None, **fields) -> pd.DataFrame:
        """Change fields of one component, recording old and new values in the history.

        Parameters
        ----------
        code : str
            16-digit component code.
        note : str, optional
            Why (stored with each history row).
        geometry : shapely Point, optional
            New location (EPSG:4326).
        **fields
            Any of :data:`EDITABLE_FIELDS`.

        Returns
        -------
        DataFrame
            The history rows written.
        """
        bad = sorted(set(fields) - set(EDITABLE_FIELDS))
        if bad:
            raise InputError(f"cannot update {bad}; editable fields are {', '.join(EDITABLE_FIELDS)} and geometry")

        def body():
            current = self._row(code)
            if current["status"] == "retired":
                raise InputError(f"component {code} is retired; retired components are not edited")
            now = _now()
            changes = [(k, current[k], None if v is None else str(v)) for k, v in fields.items()
                       if (None if v is None else str(v)) != current[k]]
            for k, _, new in changes:
                self.con.execute(f"UPDATE {TABLE} SET {k} = ?, updated_at = ? WHERE code = ?", (new, now, code))
            if geometry is not None:
                old = self._geometry_of(current)
                if old is None or not old.equals_exact(geometry, 0.0):
                    self.con.execute(f"UPDATE {TABLE} SET {GEOM} = {self._geom_param}, updated_at = ? WHERE code = ?",
                                     (self._geom_value(geometry), now, code))
                    old_wkt = None if old is None else old.wkt
                    changes.append(("geometry", old_wkt, geometry.wkt))
                    self._update_extent(geometry.x, geometry.y, geometry.x, geometry.y)
            self._history(code, "update", changes, now, note)
            return pd.DataFrame(changes, columns=["field", "old_value", "new_value"], dtype=object)

        return self._transaction(body)

    def retire(self, code: str, *, note: str | None = None) -> None:
        """Retire a component: it stays in the register (status 'retired'), its code stays reserved.

        Examples
        --------
        >>> store.retire("3205080118000001", note="lamp removed")   # doctest: +SKIP
        """
        def body():
            current = self._row(code)
            if current["status"] == "retired":
                raise InputError(f"component {code} is already retired (since {current['retired_at']})")
            now = _now()
            self.con.execute(f"UPDATE {TABLE} SET status = 'retired', retired_at = ?, updated_at = ? WHERE code = ?",
                             (now, now, code))
            self._history(code, "retire", [("status", "active", "retired")], now, note)

        self._transaction(body)

    def regrid(self, grid_of: Callable[[gpd.GeoDataFrame], np.ndarray], *, note: str | None = None) -> int:
        """Recompute ``grid_code`` of every active component (after grids were redrawn).

        Parameters
        ----------
        grid_of : callable
            Takes the active components (GeoDataFrame, EPSG:4326) and returns their new grid codes.

        Returns
        -------
        int
            How many components changed grid (each change is in the history).
        """
        def body():
            current = self.query(status="active")
            new = np.asarray(grid_of(current), dtype=object)
            changed = current["grid_code"].to_numpy() != new
            now = _now()
            for code, old, value in zip(current["code"][changed], current["grid_code"][changed], new[changed]):
                self.con.execute(f"UPDATE {TABLE} SET grid_code = ?, updated_at = ? WHERE code = ?", (value, now, code))
                self._history(code, "regrid", [("grid_code", old, value)], now, note)
            return int(changed.sum())

        return self._transaction(body)

    def _history(self, code, action, changes, now, note) -> None:
        self.con.executemany("INSERT INTO component_history (code, action, field, old_value, new_value, changed_at, note) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [(code, action, f, o, n, now, note) for f, o, n in changes])

    def _row(self, code: str) -> dict:
        parse_code(code)
        cur = self.con.execute(f"SELECT * FROM {TABLE} WHERE code = ?", (str(code),))
        row = cur.fetchone()
        if row is None:
            raise InputError(f"no component with code {code} in {self.path}")
        return dict(zip([d[0] for d in cur.description], row))

    # -- reading ----------------------------------------------------------------------------
    def count(self, status: str | None = None) -> int:
        """Number of components (all, or with the given status)."""
        if status is None:
            return self.con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
        return self.con.execute(f"SELECT count(*) FROM {TABLE} WHERE status = ?", (status,)).fetchone()[0]

    def _frame(self, where: str = "", params: tuple = ()) -> gpd.GeoDataFrame:
        sql = (f"SELECT {self._select_columns}, k.name_zh AS class_zh, k.name_en AS class_en, k.major_zh, k.major_en "
               f"FROM {TABLE} c LEFT JOIN component_classes k ON k.class_code = c.class_code {where} ORDER BY c.fid")
        table = self._read_frame(sql, params)
        geoms = self._decode_geoms(table.pop(GEOM))
        return gpd.GeoDataFrame(table, geometry=geoms, crs=SRS_ID)

    def _read_frame(self, sql: str, params: tuple = ()) -> pd.DataFrame:
        cur = self.con.execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])

    def get(self, code: str) -> gpd.GeoDataFrame:
        """The component with this code (one row), with its class names.

        Raises
        ------
        InputError
            No such code.
        """
        parse_code(code)
        found = self._frame("WHERE c.code = ?", (str(code),))
        if not len(found):
            raise InputError(f"no component with code {code} in {self.path}")
        return found

    def query(self, *, grid: str | None = None, class_code: str | None = None, status: str | None = "active",
              bbox: tuple[float, float, float, float] | None = None) -> gpd.GeoDataFrame:
        """Components by grid, class (4-digit class or 2-digit major class), status and/or bounding box.

        Parameters
        ----------
        grid : str, optional
            Grid code; ``""`` selects components outside every grid.
        class_code : str, optional
            ``"0118"`` (street lamps) or ``"01"`` (every public utility).
        status : {"active", "retired", None}
            None selects both.
        bbox : (minx, miny, maxx, maxy), optional
            Longitude/latitude window (uses the R-tree).
        """
        clauses, params = [], []
        if grid is not None:
            clauses.append("c.grid_code = ?")
            params.append(str(grid))
        if class_code is not None:
            text = str(class_code)
            if len(text) == 2:
                clauses.append("substr(c.class_code, 1, 2) = ?")
            else:
                clauses.append("c.class_code = ?")
            params.append(text)
        if status is not None:
            clauses.append("c.status = ?")
            params.append(status)
        if bbox is not None:
            minx, miny, maxx, maxy = bbox
            clause, values = self._bbox_clause(minx, miny, maxx, maxy)
            clauses.append(clause)
            params += values
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return self._frame(where, tuple(params))

    def nearest(self, lon: float, lat: float, k: int = 1, *, max_distance_m: float = 5000.0,
                status: str | None = "active") -> gpd.GeoDataFrame:
        """The *k* components nearest to a clicked point, searched through the R-tree.

        The search window starts at 50 m and doubles until it holds *k* components whose
        distance is within the window (so none nearer can lie outside it) or passes
        *max_distance_m*.  Distances are great-circle metres (``distance_m`` column).
        """
        radius = 50.0
        while True:
            dlat = radius / 111_320.0
            dlon = radius / (111_320.0 * max(math.cos(math.radians(lat)), 1e-6))
            found = self.query(status=status, bbox=(lon - dlon, lat - dlat, lon + dlon, lat + dlat))
            if len(found):
                found["distance_m"] = _haversine(lon, lat, found.geometry.x.to_numpy(), found.geometry.y.to_numpy())
                found = found[found["distance_m"] <= radius].sort_values("distance_m", kind="stable")
            if len(found) >= k or radius >= max_distance_m:
                found = found[found["distance_m"] <= max_distance_m] if len(found) else found
                return found.head(k).reset_index(drop=True)
            radius *= 2

    def history(self, code: str | None = None) -> pd.DataFrame:
        """Change history (all components, or one)."""
        if code is None:
            return self._read_frame("SELECT * FROM component_history ORDER BY fid").drop(columns="fid")
        return self._read_frame("SELECT * FROM component_history WHERE code = ? ORDER BY fid", (str(code),)).drop(
            columns="fid")

    def to_geodataframe(self, *, status: str | None = None) -> gpd.GeoDataFrame:
        """Every component (optionally of one status) with class names, for export and maps."""
        return self.query(status=status)

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result (``'ok'`` for a sound file)."""
        return self.con.execute("PRAGMA integrity_check").fetchone()[0]


def _text_column(frame: pd.DataFrame, column: str) -> list:
    if column not in frame.columns:
        return [None] * len(frame)
    values = frame[column].astype(object)
    return [None if (v is None or (isinstance(v, float) and math.isnan(v))) else str(v) for v in values]


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


def _haversine(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres (WGS-84 mean radius)."""
    p1, p2 = np.radians(lat), np.radians(lats)
    dphi, dlmb = p2 - p1, np.radians(lons - lon)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(a))

