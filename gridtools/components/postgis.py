"""The component register in PostGIS: the same register as the GeoPackage file, for many users.

Chosen by a URL: ``open_store("postgresql://user@host:5432/city")``.  Needs ``psycopg``
(``pip install 'gridtools[postgis]'``) and a database where the ``postgis`` extension exists or
may be created.

Differences from the GeoPackage register, all inside :class:`PostgisBackend`: geometry is
``geometry(Point, 4326)`` with a GiST index; every write transaction first takes a
transaction-level advisory lock (:data:`~gridtools.components.backend.LOCK_KEY`, through
:meth:`gridtools.db.Database.write`), so serial allocation + insert is serialised across all
clients the way ``BEGIN IMMEDIATE`` serialises it in SQLite, and released by COMMIT or ROLLBACK
(also when a client dies: the server rolls its transaction back).  Deletes are refused by a
trigger.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import shapely

from gridtools.components.backend import (
    COLUMNS,
    GEOM,
    LOCK_KEY,
    SRS_ID,
    TABLE,
    RegisterBackend,
    write_classes,
)
from gridtools.components.classes import check_classes, load_classes
from gridtools.db import Database
from gridtools.errors import GridtoolsError

__all__ = ["PostgisBackend"]

_SCHEMA = f"""
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE {TABLE} (
  fid BIGSERIAL PRIMARY KEY,
  {GEOM} geometry(Point, {SRS_ID}),
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
  import_batch BIGINT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  retired_at TEXT,
  note TEXT);
CREATE INDEX idx_{TABLE}_geom ON {TABLE} USING gist ({GEOM});
CREATE INDEX idx_{TABLE}_grid ON {TABLE} (grid_code);
CREATE INDEX idx_{TABLE}_class ON {TABLE} (class_code);
CREATE TABLE component_classes (
  fid BIGSERIAL PRIMARY KEY, class_code TEXT NOT NULL UNIQUE, major_code TEXT NOT NULL, sub_code TEXT NOT NULL,
  major_zh TEXT, major_en TEXT, name_zh TEXT, name_en TEXT, osm TEXT, source TEXT, note TEXT);
CREATE TABLE component_counters (
  fid BIGSERIAL PRIMARY KEY, admin_code TEXT NOT NULL, class_code TEXT NOT NULL, last_serial BIGINT NOT NULL,
  UNIQUE (admin_code, class_code));
CREATE TABLE component_history (
  fid BIGSERIAL PRIMARY KEY, code TEXT NOT NULL, action TEXT NOT NULL, field TEXT, old_value TEXT, new_value TEXT,
  changed_at TEXT NOT NULL, note TEXT);
CREATE INDEX idx_component_history_code ON component_history (code);
CREATE TABLE component_imports (
  fid BIGSERIAL PRIMARY KEY, source TEXT, rows BIGINT NOT NULL, committed_at TEXT NOT NULL);
CREATE FUNCTION {TABLE}_no_delete() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'component codes are never deleted: retire the component instead';
END $$ LANGUAGE plpgsql;
CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE} FOR EACH ROW EXECUTE FUNCTION {TABLE}_no_delete();
"""


class PostgisBackend(RegisterBackend):
    """A component register in a PostGIS database.

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host:port/dbname``.
    """

    what = "the PostGIS register"
    select_columns = ", ".join(f"c.{c}" for c in ("fid", *COLUMNS[1:])) + f", ST_AsBinary(c.{GEOM}) AS {GEOM}"
    geom_param = f"ST_GeomFromWKB(?, {SRS_ID})"

    def __init__(self, url: str):
        super().__init__(Database(url, what=self.what))

    def install(self, classes: pd.DataFrame | None) -> None:
        self.db.connection()  # connection errors (and a missing psycopg) first, as they are
        import psycopg

        try:
            with self.db.write(lock=LOCK_KEY):
                if self.db.scalar("SELECT to_regclass(?)", (TABLE,)) is None:
                    for statement in _split(_SCHEMA):
                        self.db.execute(statement)
                    write_classes(self.db, classes if classes is not None else load_classes())
                elif classes is not None:
                    write_classes(self.db, check_classes(classes))
        except psycopg.Error as exc:
            raise GridtoolsError(f"cannot set up the component register in {self.db.label}: {str(exc).strip()} "
                                 "(the database needs the postgis extension, or the right to create it)") from exc

    def existing_keys(self, keys: list[str]) -> set[str]:
        rows = self.db.execute(f"SELECT source_key FROM {TABLE} WHERE source_key = ANY(?)", (keys,)).fetchall()
        return {r[0] for r in rows}

    def insert_rows(self, rows: Iterable[tuple], points: np.ndarray) -> None:
        wkb = shapely.to_wkb(points, output_dimension=2)
        placeholders = ", ".join([self.geom_param] + ["?"] * (len(COLUMNS) - 1))
        self.db.executemany(f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                            ((w, *row) for w, row in zip(wkb, rows, strict=True)))

    def encode(self, geometry) -> bytes:
        return shapely.to_wkb(geometry, output_dimension=2)

    def decode(self, values) -> np.ndarray:
        # ST_AsBinary gives WKB bytes; a plain SELECT * gives the geometry as hex EWKB text
        return shapely.from_wkb([None if v is None else bytes.fromhex(v) if isinstance(v, str) else bytes(v)
                                 for v in values])

    def bbox_clause(self, minx: float, miny: float, maxx: float, maxy: float) -> tuple[str, list]:
        return f"c.{GEOM} && ST_MakeEnvelope(?, ?, ?, ?, {SRS_ID})", [minx, miny, maxx, maxy]

    def integrity_check(self) -> str:
        """'ok' when the counters cover every stored serial and no code or key repeats."""
        bad = self.db.scalar(
            f"SELECT count(*) FROM {TABLE} c LEFT JOIN component_counters k ON k.admin_code = c.admin_code "
            "AND k.class_code = c.class_code WHERE k.last_serial IS NULL OR "
            "CAST(substr(c.code, 11, 6) AS BIGINT) > k.last_serial")
        return "ok" if bad == 0 else f"{bad} component(s) have serials beyond their counter"


def _split(script: str) -> list[str]:
    """Statements of the schema script (the plpgsql body holds ';' inside $$ quotes)."""
    parts, current, quoted = [], [], False
    for line in script.splitlines():
        current.append(line)
        quoted ^= line.count("$$") % 2 == 1
        if line.rstrip().endswith(";") and not quoted:
            parts.append("\n".join(current).strip().rstrip(";"))
            current = []
    return [p for p in parts if p]
