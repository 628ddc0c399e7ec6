"""The component register: every component's code, location, grid and keepers, with their history.

One register, two storages behind :class:`~gridtools.components.backend.RegisterBackend`: a
GeoPackage file (SQLite; QGIS, GDAL and gridtools all open it, :mod:`gridtools.components.gpkg`)
for a file path or ``sqlite:///`` URL, or PostGIS (:mod:`gridtools.components.postgis`) for a
``postgresql://`` URL.  The database is opened through :class:`gridtools.db.Database`, and every
write is one :meth:`~gridtools.db.Database.write` transaction: SQLite's single write lock
(``BEGIN IMMEDIATE``) or PostgreSQL's advisory lock is taken before anything is read, so serial
allocation + insert is atomic and concurrent writers queue instead of colliding.

Tables
------
``components`` (features, POINT, EPSG:4326)
    fid, geom, code (16 digits, UNIQUE), admin_code, class_code, name, grid_code ('' outside every
    grid), dept_in_charge, owner, maintainer, status ('active' | 'retired'), source, source_key
    (UNIQUE), import_batch, created_at, updated_at, retired_at, note.
``component_classes``, ``component_counters`` (last serial per county + class),
``component_history`` (every update / retire / regrid: old and new value, UTC time),
``component_imports`` (one row per committed batch: source, rows, time).

Retired components stay in the table with ``status='retired'``: their codes are never reused,
and the counters only grow.  Serials are dense: a rolled-back batch rolls back its counter update
too, so serials have no gaps unless rows are deleted by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import datetime, timezone

import geopandas as gpd
import numpy as np
import pandas as pd

from gridtools.components.backend import (
    GEOM,
    LOCK_KEY,
    SRS_ID,
    TABLE,
    RegisterBackend,
)
from gridtools.components.codes import (
    MAX_SERIAL,
    check_admin_code,
    make_codes,
    parse_code,
)
from gridtools.components.gpkg import GeoPackageBackend
from gridtools.components.postgis import PostgisBackend
from gridtools.db import is_postgres_url
from gridtools.errors import InputError

__all__ = ["ComponentStore", "open_store", "FIELDS", "EDITABLE_FIELDS"]

#: Attribute fields of a component (besides code, class, geometry and bookkeeping).
FIELDS = ("name", "grid_code", "dept_in_charge", "owner", "maintainer", "note")
#: Fields :meth:`ComponentStore.update` may change (``geometry`` moves the component).
EDITABLE_FIELDS = ("name", "grid_code", "dept_in_charge", "owner", "maintainer", "note", "class_code")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def open_store(target, *, classes: pd.DataFrame | None = None, create: bool = True) -> "ComponentStore":
    """Open (or create) a component register.

    Parameters
    ----------
    target : str or os.PathLike
        A GeoPackage file (``components.gpkg``, or ``sqlite:///path/components.gpkg``), or a
        PostGIS URL ``postgresql://user@host/db`` as a str (same API, for many concurrent users).
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
    return ComponentStore(target, classes=classes, create=create)


def _backend(target, create: bool) -> RegisterBackend:
    if is_postgres_url(target) and isinstance(target, str):
        return PostgisBackend(target)
    return GeoPackageBackend(target, create=create)


class ComponentStore:
    """A component register in a GeoPackage file or a PostGIS database.

    Use :func:`open_store` to get one.  Every write is one transaction holding the register's
    write lock from its start (``BEGIN IMMEDIATE`` in SQLite, an advisory lock in PostgreSQL), so
    two processes writing at once queue, and a process killed mid-write leaves the register as it
    was before that transaction.

    Parameters
    ----------
    target : str or os.PathLike
        As for :func:`open_store`.
    classes : DataFrame, optional
        As for :func:`open_store`.
    create : bool, default True
        Create the GeoPackage file when it does not exist.
    """

    def __init__(self, target, *, classes: pd.DataFrame | None = None, create: bool = True):
        self._backend = _backend(target, create)
        self._db = self._backend.db
        #: The GeoPackage file (a Path), or host/dbname of a PostGIS URL (never the password).
        self.path = self._backend.label
        self._backend.install(classes)

    @property
    def con(self):
        """This thread's database connection (sqlite3 or :class:`gridtools.db.PgConnection`)."""
        return self._db.connection()

    def _write(self):
        # one writer at a time on either backend: serial allocation + insert stay atomic
        return self._db.write(lock=LOCK_KEY)

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

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
        return self._db.frame("SELECT * FROM component_classes ORDER BY class_code").drop(columns="fid")

    # -- writing ----------------------------------------------------------------------------
    def existing_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of *keys* already in the register (active or retired)."""
        return self._backend.existing_keys([str(k) for k in keys])

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
        known = {r[0] for r in self._db.execute("SELECT class_code FROM component_classes").fetchall()}
        unknown = sorted(set(batch["class_code"]) - known)
        if unknown:
            raise InputError(f"class code(s) {unknown} are not in the register's class table; add them first")
        with self._write():
            # under the write lock: which keys exist and the last serials cannot change now
            exists = self.existing_keys(batch["source_key"])
            new = batch[~batch["source_key"].isin(exists)]
            if not len(new):
                return pd.DataFrame({"source_key": [], "code": []})
            cls = new["class_code"].to_numpy()
            codes = self._allocate_codes(admin, cls)
            batch_id = self._db.scalar("INSERT INTO component_imports (source, rows, committed_at) VALUES (?, ?, ?) "
                                       "RETURNING fid", (source, len(new), _now()))
            self._backend.insert_rows(self._rows(new, codes, cls, admin, source, batch_id), new.geometry.to_numpy())
            return pd.DataFrame({"source_key": new["source_key"].to_numpy(), "code": codes})

    def _allocate_codes(self, admin: str, cls: np.ndarray) -> np.ndarray:
        """The next serials of each class (inside the write transaction), counters moved on."""
        codes = np.empty(len(cls), dtype=object)
        for class_code in np.unique(cls):
            mine = np.flatnonzero(cls == class_code)
            last = self._db.scalar("SELECT last_serial FROM component_counters WHERE admin_code=? AND class_code=?",
                                   (admin, class_code)) or 0
            if last + len(mine) > MAX_SERIAL:
                raise InputError(f"class {class_code} in county {admin} would pass serial {MAX_SERIAL:,}")
            codes[mine] = make_codes(admin, [class_code] * len(mine), np.arange(last + 1, last + 1 + len(mine)))
            self._db.execute("INSERT INTO component_counters (admin_code, class_code, last_serial) VALUES (?, ?, ?) "
                             "ON CONFLICT(admin_code, class_code) DO UPDATE SET last_serial = excluded.last_serial",
                             (admin, class_code, last + len(mine)))
        return codes

    @staticmethod
    def _rows(new, codes, cls, admin, source, batch_id) -> Iterable[tuple]:
        """Values of ``COLUMNS[1:]`` (all but the geometry) of the new components."""
        now = _now()
        values = {c: _text_column(new, c) for c in FIELDS}
        values["grid_code"] = [v or "" for v in values["grid_code"]]
        n = len(new)
        return zip(codes, [admin] * n, cls, values["name"], values["grid_code"], values["dept_in_charge"],
                   values["owner"], values["maintainer"], ["active"] * n, [source] * n, new["source_key"].tolist(),
                   [batch_id] * n, [now] * n, [now] * n, [None] * n, values["note"])

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

        Examples
        --------
        >>> store.update("3205080118000001", owner="district lamps office", note="handover")  # doctest: +SKIP
        """
        bad = sorted(set(fields) - set(EDITABLE_FIELDS))
        if bad:
            raise InputError(f"cannot update {bad}; editable fields are {', '.join(EDITABLE_FIELDS)} and geometry")
        with self._write():
            current = self._row(code)
            if current["status"] == "retired":
                raise InputError(f"component {code} is retired; retired components are not edited")
            now = _now()
            changes = [(k, current[k], None if v is None else str(v)) for k, v in fields.items()
                       if (None if v is None else str(v)) != current[k]]
            for k, _, new in changes:
                self._db.execute(f"UPDATE {TABLE} SET {k} = ?, updated_at = ? WHERE code = ?", (new, now, code))
            if geometry is not None:
                changes += self._move(code, current, geometry, now)
            self._history(code, "update", changes, now, note)
        return pd.DataFrame(changes, columns=["field", "old_value", "new_value"], dtype=object)

    def _move(self, code: str, current: dict, geometry, now: str) -> list[tuple]:
        """Store a new location (inside the write transaction); the history change, if any."""
        old = None if current[GEOM] is None else self._backend.decode([current[GEOM]])[0]
        if old is not None and old.equals_exact(geometry, 0.0):
            return []
        self._db.execute(f"UPDATE {TABLE} SET {GEOM} = {self._backend.geom_param}, updated_at = ? WHERE code = ?",
                         (self._backend.encode(geometry), now, code))
        self._backend.grow_extent(geometry.x, geometry.y, geometry.x, geometry.y)
        return [("geometry", None if old is None else old.wkt, geometry.wkt)]

    def retire(self, code: str, *, note: str | None = None) -> None:
        """Retire a component: it stays in the register (status 'retired'), its code stays reserved.

        Examples
        --------
        >>> store.retire("3205080118000001", note="lamp removed")   # doctest: +SKIP
        """
        with self._write():
            current = self._row(code)
            if current["status"] == "retired":
                raise InputError(f"component {code} is already retired (since {current['retired_at']})")
            now = _now()
            self._db.execute(f"UPDATE {TABLE} SET status = 'retired', retired_at = ?, updated_at = ? WHERE code = ?",
                             (now, now, code))
            self._history(code, "retire", [("status", "active", "retired")], now, note)

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

        Examples
        --------
        >>> from gridtools.components import place_in_grids                 # doctest: +SKIP
        >>> store.regrid(lambda points: place_in_grids(points, new_grids))   # doctest: +SKIP
        """
        with self._write():
            current = self.query(status="active")
            new = np.asarray(grid_of(current), dtype=object)
            changed = current["grid_code"].to_numpy() != new
            now = _now()
            for code, old, value in zip(current["code"][changed], current["grid_code"][changed], new[changed]):
                self._db.execute(f"UPDATE {TABLE} SET grid_code = ?, updated_at = ? WHERE code = ?", (value, now, code))
                self._history(code, "regrid", [("grid_code", old, value)], now, note)
        return int(changed.sum())

    def _history(self, code, action, changes, now, note) -> None:
        self._db.executemany("INSERT INTO component_history (code, action, field, old_value, new_value, changed_at, note) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [(code, action, f, o, n, now, note) for f, o, n in changes])

    def _row(self, code: str) -> dict:
        parse_code(code)
        row = self._db.one(f"SELECT * FROM {TABLE} WHERE code = ?", (str(code),))
        if row is None:
            raise InputError(f"no component with code {code} in {self.path}")
        return row

    # -- reading ----------------------------------------------------------------------------
    def count(self, status: str | None = None) -> int:
        """Number of components (all, or with the given status)."""
        if status is None:
            return self._db.scalar(f"SELECT count(*) FROM {TABLE}")
        return self._db.scalar(f"SELECT count(*) FROM {TABLE} WHERE status = ?", (status,))

    def _frame(self, where: str = "", params: tuple = ()) -> gpd.GeoDataFrame:
        sql = (f"SELECT {self._backend.select_columns}, k.name_zh AS class_zh, k.name_en AS class_en, k.major_zh, "
               f"k.major_en FROM {TABLE} c LEFT JOIN component_classes k ON k.class_code = c.class_code {where} "
               "ORDER BY c.fid")
        table = self._db.frame(sql, params)
        geoms = self._backend.decode(table.pop(GEOM))
        return gpd.GeoDataFrame(table, geometry=geoms, crs=SRS_ID)

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
            Longitude/latitude window (uses the spatial index: R-tree or GiST).
        """
        clauses, params = [], []
        if grid is not None:
            clauses.append("c.grid_code = ?")
            params.append(str(grid))
        if class_code is not None:
            clause, values = _class_clause(str(class_code))
            clauses.append(clause)
            params += values
        if status is not None:
            clauses.append("c.status = ?")
            params.append(status)
        if bbox is not None:
            minx, miny, maxx, maxy = bbox
            clause, values = self._backend.bbox_clause(minx, miny, maxx, maxy)
            clauses.append(clause)
            params += values
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return self._frame(where, tuple(params))

    def nearest(self, lon: float, lat: float, k: int = 1, *, max_distance_m: float = 5000.0,
                status: str | None = "active") -> gpd.GeoDataFrame:
        """The *k* components nearest to a clicked point, searched through the spatial index.

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
            return self._db.frame("SELECT * FROM component_history ORDER BY fid").drop(columns="fid")
        return self._db.frame("SELECT * FROM component_history WHERE code = ? ORDER BY fid", (str(code),)).drop(
            columns="fid")

    def to_geodataframe(self, *, status: str | None = None) -> gpd.GeoDataFrame:
        """Every component (optionally of one status) with class names, for export and maps."""
        return self.query(status=status)

    def integrity_check(self) -> str:
        """``'ok'`` for a sound register: SQLite's ``PRAGMA integrity_check`` on a GeoPackage; on
        PostGIS, every stored serial covered by its counter."""
        return self._backend.integrity_check()


def _text_column(frame: pd.DataFrame, column: str) -> list:
    if column not in frame.columns:
        return [None] * len(frame)
    values = frame[column].astype(object)
    return [None if (v is None or (isinstance(v, float) and math.isnan(v))) else str(v) for v in values]


def _class_clause(text: str) -> tuple[str, list]:
    """WHERE clause and parameters selecting one class (``"0118"``) or one major class (``"01"``).

    A major class is the range of its class codes (all 4 digits), ``"01" <= class_code < "02"``,
    which the index on ``class_code`` serves (``substr(class_code, 1, 2) = ?`` cannot); the
    bounds are digits, ordered alike by every collation.

    Examples
    --------
    >>> _class_clause("01")
    ('c.class_code >= ? AND c.class_code < ?', ['01', '02'])
    """
    if len(text) != 2:
        return "c.class_code = ?", [text]
    if not (text.isascii() and text.isdigit()):  # no class starts so: matched nothing, and still does
        return "substr(c.class_code, 1, 2) = ?", [text]
    if text == "99":  # no 2-digit bound above: the index serves the lower one, substr keeps it exact
        return "c.class_code >= ? AND substr(c.class_code, 1, 2) = ?", [text, text]
    return "c.class_code >= ? AND c.class_code < ?", [text, f"{int(text) + 1:02d}"]


def _haversine(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres (WGS-84 mean radius)."""
    p1, p2 = np.radians(lat), np.radians(lats)
    dphi, dlmb = p2 - p1, np.radians(lons - lon)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(a))

