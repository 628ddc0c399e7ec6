"""Database plumbing shared by the stores: a SQLite file by default, PostgreSQL for many users.

The stores (incident cases, dispatch trips, the component register) write their SQL once, in
SQLite's dialect with ``?`` placeholders; this module lets the same text run on PostgreSQL:

* :func:`is_postgres_url` tells a ``postgresql://`` URL from a file path;
* :func:`postgres_schema` turns a SQLite ``CREATE TABLE`` script into PostgreSQL types;
* :func:`connect_postgres` opens a psycopg connection (autocommit) wrapped in
  :class:`PgConnection`, which translates the placeholders; a failed connection is an
  :class:`~gridtools.errors.InputError` naming the database by :func:`database_label` (no password).
"""

from __future__ import annotations

from gridtools.errors import InputError, missing_dependency

__all__ = ["is_postgres_url", "database_label", "postgres_schema", "PgConnection", "connect_postgres"]


def is_postgres_url(text) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL.

    Examples
    --------
    >>> is_postgres_url("postgresql://me@localhost/cases"), is_postgres_url("cases.sqlite")
    (True, False)
    """
    return str(text).startswith(("postgres://", "postgresql://"))


def database_label(url: str) -> str:
    """How messages name a PostgreSQL database: host and database, never the user or password.

    Examples
    --------
    >>> database_label("postgresql://me:secret@db.city.gov/cases")
    'db.city.gov/cases'
    """
    return str(url).split("@")[-1]


def postgres_schema(sqlite_schema: str) -> str:
    """A SQLite schema in PostgreSQL types.

    REAL is 4-byte in PostgreSQL, so it becomes DOUBLE PRECISION (SQLite's REAL is float64).

    Examples
    --------
    >>> postgres_schema("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, x REAL, b BLOB);")
    'CREATE TABLE t (id BIGSERIAL PRIMARY KEY, x DOUBLE PRECISION, b BYTEA);'
    """
    return (sqlite_schema.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
            .replace("INTEGER", "BIGINT").replace("REAL", "DOUBLE PRECISION").replace("BLOB", "BYTEA"))


def _placeholders(sql: str) -> str:
    # a literal % must be doubled once psycopg substitutes parameters
    return sql.replace("%", "%%").replace("?", "%s")


class PgConnection:
    """A psycopg connection speaking the stores' SQL: ``?`` placeholders, sqlite3-like methods."""

    def __init__(self, raw):
        self.raw = raw

    @property
    def closed(self) -> bool:
        return bool(self.raw.closed)

    def cursor(self):
        return self.raw.cursor()

    def execute(self, sql: str, params=()):
        cur = self.raw.cursor()
        params = tuple(params)
        cur.execute(_placeholders(sql), params) if params else cur.execute(sql)
        return cur

    def executemany(self, sql: str, rows, returning: bool = False):
        """One statement per row, pipelined; ``returning=True`` keeps each row's result set
        (walk them with ``cursor.fetchone()`` / ``cursor.nextset()``)."""
        cur = self.raw.cursor()
        cur.executemany(_placeholders(sql), [tuple(r) for r in rows], returning=returning)
        return cur

    def executescript(self, script: str) -> None:
        """Several statements without parameters (PostgreSQL's simple query protocol runs them all)."""
        self.raw.execute(script)

    def transaction(self):
        """psycopg's transaction block (BEGIN ... COMMIT, ROLLBACK on an exception)."""
        return self.raw.transaction()

    def close(self) -> None:
        self.raw.close()


def connect_postgres(url: str, *, what: str = "the database", dict_rows: bool = True) -> PgConnection:
    """Open *url* in autocommit mode (each store begins its own transactions).

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host/dbname``.
    what : str
        What the database is, for the error message ("the case database").
    dict_rows : bool, default True
        Rows as dicts (``row["col"]``); False: tuples.

    Raises
    ------
    MissingDependencyError
        psycopg is not installed (``pip install 'gridtools[postgis]'``).
    InputError
        The server cannot be reached or refuses the login.
    """
    try:
        import psycopg
        from psycopg.rows import dict_row, tuple_row
    except ImportError as exc:
        raise missing_dependency("psycopg", extra="postgis") from exc
    try:
        raw = psycopg.connect(url, autocommit=True, row_factory=dict_row if dict_rows else tuple_row)
    except psycopg.Error as exc:
        raise InputError(f"cannot connect to {what} {database_label(url)}: {str(exc).strip()}") from None
    return PgConnection(raw)
