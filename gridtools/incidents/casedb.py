"""The connection behind :class:`~gridtools.incidents.IncidentStore`: a SQLite file or PostgreSQL.

One small interface (``rows``, ``one``, ``frame``, ``run``, ``run_many``, ``insert_many``,
``transaction``) over :mod:`gridtools.db` so the
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

from gridtools.db import connect_postgres, database_label, is_postgres_url, postgres_schema

#: Advisory lock key held while the case tables are created in PostgreSQL ("gridcase").
_SCHEMA_LOCK_KEY = 0x6772_6964_6361_7365


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
        self.postgres = is_postgres_url(target)
        if self.postgres:
            self.where = database_label(target)
            self._con = connect_postgres(str(target), what="the case database")
            with self.transaction():
                # two first openings at once must not both create the tables (PostgreSQL's
                # CREATE ... IF NOT EXISTS is not safe against that race)
                self._con.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK_KEY,))
                self._con.executescript(postgres_schema(schema))
        else:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.where = str(path)
            # autocommit; transactions are explicit (BEGIN IMMEDIATE) in transaction()
            self._con = sqlite3.connect(path, isolation_level=None)
            self._con.row_factory = sqlite3.Row
            self._con.execute("PRAGMA foreign_keys = ON")
            self._con.executescript(schema)

    def _cursor(self, sql: str, params=()):
        return self._con.execute(sql, tuple(params))

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
        return pd.DataFrame.from_records(cur.fetchall(), columns=columns, coerce_float=True)

    def run(self, sql: str, params=()) -> None:
        """One statement (inside :meth:`transaction` for writes that belong together)."""
        self._cursor(sql, params)

    def run_many(self, sql: str, rows) -> None:
        """One statement for each parameter tuple."""
        self._con.executemany(sql, [tuple(r) for r in rows])

    def insert_many(self, sql: str, rows, table: str) -> list[int]:
        """Insert every row (inside :meth:`transaction`); the ids the database gave, in row order.

        *sql* is an ``INSERT`` into *table* ending in ``RETURNING <id column>``.  PostgreSQL sends
        all rows in one pipeline and returns each id; SQLite (whose ``executemany`` returns no
        rows) inserts them in one call under the write lock taken by ``BEGIN IMMEDIATE``, so the
        AUTOINCREMENT ids are exactly the next ones after the table's sequence.
        """
        rows = [tuple(r) for r in rows]
        if not rows:
            return []
        if self.postgres:
            cur = self._con.executemany(sql, rows, returning=True)
            ids = []
            while True:
                ids.append(next(iter(cur.fetchone().values())))
                if not cur.nextset():
                    return ids
        seq = "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0) AS seq"
        before = self.one(seq, (table,))["seq"]
        self._con.executemany(sql.rsplit(" RETURNING ", 1)[0], rows)
        after = self.one(seq, (table,))["seq"]
        if after - before != len(rows):  # pragma: no cover - the write lock makes this impossible
            raise RuntimeError(f"{table}: {len(rows)} rows inserted but the sequence moved by {after - before}")
        return list(range(before + 1, after + 1))

    @contextlib.contextmanager
    def transaction(self):
        """``with db.transaction():`` one write transaction holding the write lock from its start."""
        if self.postgres:
            with self._con.transaction():
                yield self
            return
        self._con.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def for_update(self) -> str:
        """``FOR UPDATE`` in PostgreSQL (row lock for a read-then-write); SQLite locks the file already."""
        return " FOR UPDATE" if self.postgres else ""

    def close(self) -> None:
        """Close the connection."""
        self._con.close()
