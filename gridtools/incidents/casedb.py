"""The connection behind :class:`~gridtools.incidents.IncidentStore`: a SQLite file or PostgreSQL.

One small interface (``rows``, ``one``, ``frame``, ``run``, ``run_many``, ``transaction``) so the
workflow speaks one SQL dialect: ``?`` placeholders, ``INSERT ... ON CONFLICT``, ``RETURNING``
(SQLite >= 3.35 and PostgreSQL both have them).  A write transaction takes the database's write
lock before it reads (``BEGIN IMMEDIATE`` in SQLite; ``SELECT ... FOR UPDATE`` on the case row in
PostgreSQL), so two supervisors stepping the same case cannot both pass the status check.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pandas as pd

from gridtools.errors import missing_dependency
from gridtools.io import is_postgres_url, redacted_url


#: Advisory lock key held while the case tables are created in PostgreSQL ("gridcase").
_SCHEMA_LOCK_KEY = 0x6772_6964_6361_7365


def postgres_schema(sqlite_schema: str) -> str:
    """A SQLite schema in PostgreSQL types (REAL is 4-byte there: DOUBLE PRECISION keeps float64)."""
    return (sqlite_schema.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
            .replace("INTEGER", "BIGINT").replace("REAL", "DOUBLE PRECISION"))


class CaseDatabase:
    """A SQLite file (``path``) or a PostgreSQL database (``postgresql://`` URL) with one SQL dialect.

    Parameters
    ----------
    target : str or os.PathLike
        SQLite file (created with its folder if absent) or PostgreSQL URL (needs ``psycopg``).
    schema : str
        ``CREATE TABLE IF NOT EXISTS`` statements in SQLite types, run on opening.
    """

    def __init__(self, target, schema: str):
        self._depth = 0
        self.postgres = is_postgres_url(target)
        if self.postgres:
            try:
                import psycopg
                from psycopg.rows import dict_row
            except ImportError as exc:  # pragma: no cover - depends on the installation
                raise missing_dependency("psycopg", extra="postgis") from exc
            self.where = redacted_url(str(target))
            self._con = psycopg.connect(str(target), autocommit=True, row_factory=dict_row)
            with self.transaction():
                # two first openings at once must not both create the tables (PostgreSQL's
                # CREATE ... IF NOT EXISTS is not safe against that race)
                self._con.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
                self._con.execute(postgres_schema(schema))
        else:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.where = str(path)
            # autocommit; transactions are explicit (BEGIN IMMEDIATE) in transaction()
            self._con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._con.row_factory = sqlite3.Row
            self._con.execute("PRAGMA foreign_keys = ON")
            self._con.executescript(schema)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    def _cursor(self, sql: str, params=()):
        cur = self._con.cursor()
        cur.execute(self._sql(sql), tuple(params))
        return cur

    def rows(self, sql: str, params=()) -> list[dict]:
        """All rows of a query, as dicts."""
        return [dict(r) for r in self._cursor(sql, params).fetchall()]

    def one(self, sql: str, params=()) -> dict | None:
        """The first row of a query (a dict), or None."""
        # fetchall: an INSERT ... RETURNING must run to completion before the transaction commits
        rows = self._cursor(sql, params).fetchall()
        return dict(rows[0]) if rows else None

    def frame(self, sql: str, params=()) -> pd.DataFrame:
        """A query as a DataFrame (columns even when no row matches)."""
        cur = self._cursor(sql, params)
        columns = [d[0] for d in cur.description]
        records = [tuple(r[c] for c in columns) if isinstance(r, dict) else tuple(r) for r in cur.fetchall()]
        return pd.DataFrame.from_records(records, columns=columns, coerce_float=True)

    def run(self, sql: str, params=()) -> None:
        """One statement (inside :meth:`transaction` for writes that belong together)."""
        self._cursor(sql, params)

    def run_many(self, sql: str, rows) -> None:
        """One statement for each parameter tuple."""
        cur = self._con.cursor()
        cur.executemany(self._sql(sql), [tuple(r) for r in rows])

    @contextlib.contextmanager
    def transaction(self):
        """``with db.transaction():`` one write transaction holding the write lock from its start."""
        if self._depth:  # nested: part of the enclosing transaction
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            if self.postgres:
                with self._con.transaction():
                    yield self
            else:
                self._con.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                except BaseException:
                    self._con.execute("ROLLBACK")
                    raise
                self._con.execute("COMMIT")
        finally:
            self._depth = 0

    def for_update(self) -> str:
        """``FOR UPDATE`` in PostgreSQL (row lock for a read-then-write); SQLite locks the file already."""
        return " FOR UPDATE" if self.postgres else ""

    def close(self) -> None:
        """Close the connection."""
        self._con.close()
