"""The component register in PostGIS: the same API as the GeoPackage register, for many users.

Chosen by a URL: ``open_store("postgresql://user@host:5432/city")`` (CLI: give the URL as DB).
Needs ``psycopg`` (``pip install 'gridtools[postgis]'``) and a database where the ``postgis``
extension exists or may be created.

Differences from the GeoPackage register, all internal: geometry is ``geometry(Point, 4326)``
with a GiST index; every write transaction first takes a transaction-level advisory lock
(``pg_advisory_xact_lock``), so serial allocation + insert is serialised across all clients the
way ``BEGIN IMMEDIATE`` serialises it in SQLite, and released by COMMIT or ROLLBACK (also when a
client dies: the server rolls its transaction back).  Deletes are refused by a trigger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import shapely

from gridtools.components.classes import check_classes, load_classes
from gridtools.components.store import _COLUMNS, GEOM, SRS_ID, TABLE, ComponentStore, _write_classes
from gridtools.db import connect_postgres, database_label
from gridtools.errors import GridtoolsError

__all__ = ["PostgisStore"]

#: Advisory lock key shared by every gridtools writer of a database (any 64-bit number works).
LOCK_KEY = 0x6772_6964_636F_6D70  # "gridcomp", below 2**63 as bigint needs

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


class PostgisStore(ComponentStore):
    """A component register in a PostGIS database (see :func:`gridtools.components.open_store`)."""

    _select_columns = ", ".join(f"c.{c}" for c in ("fid", *_COLUMNS[1:])) + f", ST_AsBinary(c.{GEOM}) AS {GEOM}"
    _geom_param = f"ST_GeomFromWKB(?, {SRS_ID})"

    def __init__(self, url: str, *, classes: pd.DataFrame | None = None):
        self.path = database_label(url)  # for messages: host/db, never the password
        self.con = connect_postgres(url, what="the PostGIS register", dict_rows=False)
        self._raw = self.con.raw
        import psycopg  # connect_postgres has checked it is installed

        def create():
            exists = self.con.execute("SELECT to_regclass(?)", (TABLE,)).fetchone()[0]
            if exists is None:
                for statement in _split(_SCHEMA):
                    self.con.execute(statement)
                _write_classes(self.con, classes if classes is not None else load_classes())
            elif classes is not None:
                _write_classes(self.con, check_classes(classes))

        try:
            self._transaction(create)
        except psycopg.Error as exc:
            raise GridtoolsError(f"cannot set up the component register in {self.path}: {str(exc).strip()} "
                                 "(the database needs the postgis extension, or the right to create it)") from exc

    # -- backend hooks --------------------------------------------------------------------------
    def _transaction(self, body: Callable):
        with self._raw.transaction():
            # one writer at a time across every client: serial allocation + insert stay atomic
            self.con.execute("SELECT pg_advisory_xact_lock(?)", (LOCK_KEY,))
            return body()

    def _insert_id(self, sql: str, params: tuple) -> int:
        return self.con.execute(sql + " RETURNING fid", params).fetchone()[0]

    def existing_keys(self, keys: Iterable[str]) -> set[str]:
        rows = self.con.execute(f"SELECT source_key FROM {TABLE} WHERE source_key = ANY(?)",
                                ([str(k) for k in keys],)).fetchall()
        return {r[0] for r in rows}

    def _write_rows(self, new, codes, cls, admin, source, batch_id) -> None:
        wkb = shapely.to_wkb(new.geometry.to_numpy(), output_dimension=2)
        rows = self._rows(new, codes, cls, admin, source, batch_id, wkb)
        placeholders = ", ".join([self._geom_param] + ["?"] * (len(_COLUMNS) - 1))
        self.con.executemany(f"INSERT INTO {TABLE} ({', '.join(_COLUMNS)}) VALUES ({placeholders})", rows)

    def _update_extent(self, minx, miny, maxx, maxy) -> None:
        pass  # PostGIS keeps its own statistics

    def _geom_value(self, geometry):
        return shapely.to_wkb(geometry, output_dimension=2)

    def _geometry_of(self, row: dict):
        value = row.get(GEOM)
        return None if value is None else shapely.from_wkb(bytes.fromhex(value) if isinstance(value, str) else value)

    def _decode_geoms(self, blobs: pd.Series) -> np.ndarray:
        return shapely.from_wkb([None if b is None else bytes(b) for b in blobs])

    def _bbox_clause(self, minx, miny, maxx, maxy) -> tuple[str, list]:
        return f"c.{GEOM} && ST_MakeEnvelope(?, ?, ?, ?, {SRS_ID})", [minx, miny, maxx, maxy]

    def integrity_check(self) -> str:
        """'ok' when the counters cover every stored serial and no code or key repeats."""
        bad = self.con.execute(
            f"SELECT count(*) FROM {TABLE} c LEFT JOIN component_counters k ON k.admin_code = c.admin_code "
            "AND k.class_code = c.class_code WHERE k.last_serial IS NULL OR "
            "CAST(substr(c.code, 11, 6) AS BIGINT) > k.last_serial").fetchone()[0]
        return "ok" if bad == 0 else f"{bad} component(s) have serials beyond their counter"

    def __repr__(self) -> str:
        return f"PostgisStore({self.path!r}, {self.count():,} components)"


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
