"""What the component register asks of its storage: a GeoPackage file or a PostGIS database.

:class:`~gridtools.components.ComponentStore` holds the register's logic once (codes and serials,
history, queries), in SQL that both backends run through :class:`gridtools.db.Database`.  A
backend owns only what differs between them:

* the schema and its creation (:meth:`RegisterBackend.install`);
* how a geometry is written and read back (:meth:`~RegisterBackend.encode`,
  :meth:`~RegisterBackend.decode`, :attr:`~RegisterBackend.geom_param`,
  :attr:`~RegisterBackend.select_columns`);
* the spatial index behind a bounding-box query (:meth:`~RegisterBackend.bbox_clause`);
* the bulk insert of a batch (:meth:`~RegisterBackend.insert_rows`) and the layer extent;
* the key lookup of a batch (:meth:`~RegisterBackend.existing_keys`) and the integrity check.

:mod:`gridtools.components.gpkg` and :mod:`gridtools.components.postgis` implement it; the store
picks one by its target (a file or ``sqlite:///`` URL, or a ``postgresql://`` URL).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable

import numpy as np
import pandas as pd

from gridtools.components.classes import CLASS_COLUMNS
from gridtools.db import Database

__all__ = ["RegisterBackend", "write_classes", "TABLE", "GEOM", "SRS_ID", "COLUMNS", "LOCK_KEY"]

TABLE = "components"
GEOM = "geom"
SRS_ID = 4326

#: Columns of the components table written on insert (``fid`` is given by the database).
COLUMNS = ("geom", "code", "admin_code", "class_code", "name", "grid_code", "dept_in_charge", "owner",
           "maintainer", "status", "source", "source_key", "import_batch", "created_at", "updated_at",
           "retired_at", "note")

#: PostgreSQL advisory lock key held by every write of a register ("gridcomp", below 2**63 as
#: bigint needs); SQLite serialises writers by its file lock and ignores it.
LOCK_KEY = 0x6772_6964_636F_6D70


class RegisterBackend(abc.ABC):
    """The storage of one component register (see the module docstring for what it owns).

    Parameters
    ----------
    db : Database
        The register's database.
    """

    #: What the register is called in messages.
    what = "the component register"
    #: The SELECT list of a component row (``c`` is the components table), geometry as ``geom``.
    select_columns = "c.*"
    #: The SQL placeholder of a geometry value written by :meth:`encode`.
    geom_param = "?"

    def __init__(self, db: Database):
        self.db = db

    @property
    def label(self):
        """How messages name the register (a file path, or host/dbname)."""
        return self.db.path if self.db.path is not None else self.db.label

    @abc.abstractmethod
    def install(self, classes: pd.DataFrame | None) -> None:
        """Create the register's tables (with *classes*, default the shipped table) or, on an
        existing register, add / update the given classes."""

    @abc.abstractmethod
    def existing_keys(self, keys: list[str]) -> set[str]:
        """The subset of *keys* already stored as ``source_key``."""

    @abc.abstractmethod
    def insert_rows(self, rows: Iterable[tuple], points: np.ndarray) -> None:
        """Insert one batch inside the open write transaction.

        Parameters
        ----------
        rows : iterable of tuples
            Values of :data:`COLUMNS` without the geometry (``COLUMNS[1:]``), one per component.
        points : numpy.ndarray of shapely Points
            Their locations (EPSG:4326), in the same order.
        """

    @abc.abstractmethod
    def encode(self, geometry):
        """A shapely geometry as the value bound to :attr:`geom_param`."""

    @abc.abstractmethod
    def decode(self, values) -> np.ndarray:
        """Stored geometry values (as read by :attr:`select_columns` or ``SELECT *``) as shapely
        geometries (None stays None)."""

    @abc.abstractmethod
    def bbox_clause(self, minx: float, miny: float, maxx: float, maxy: float) -> tuple[str, list]:
        """A WHERE clause (and its parameters) selecting components ``c`` inside a box, by index."""

    def grow_extent(self, minx: float, miny: float, maxx: float, maxy: float) -> None:
        """Record that the layer now covers this box (GeoPackage keeps it in gpkg_contents)."""

    @abc.abstractmethod
    def integrity_check(self) -> str:
        """``'ok'`` for a sound register, otherwise what is wrong."""


def write_classes(db: Database, classes: pd.DataFrame) -> None:
    """Insert or update the class table rows (inside a write transaction).

    Parameters
    ----------
    db : Database
        The register's database.
    classes : pandas.DataFrame
        A checked class table (:func:`gridtools.components.classes.check_classes`).
    """
    cols = CLASS_COLUMNS
    db.executemany(
        f"INSERT INTO component_classes ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
        "ON CONFLICT(class_code) DO UPDATE SET " + ", ".join(f"{c}=excluded.{c}" for c in cols[1:]),
        classes[list(cols)].itertuples(index=False, name=None))
