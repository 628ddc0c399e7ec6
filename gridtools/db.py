"""One database layer for the stores: a SQLite (or GeoPackage) file, or PostgreSQL for many users.

The incident store (:class:`~gridtools.incidents.IncidentStore`), the dispatch trip store
(:class:`~gridtools.dispatch.store.TripStore`) and the component register
(:class:`~gridtools.components.ComponentStore`) open their database with ``Database(target)`` and
write their SQL once, in SQLite's dialect with ``?`` placeholders; this module runs the same text
on PostgreSQL.

Targets
-------
``Database(target)`` takes

* a file path, ``str`` or :class:`os.PathLike` (``"cases.sqlite"``, ``Path("register.gpkg")``):
  SQLite.  A GeoPackage is a SQLite file, so it is the same backend;
* a ``sqlite:///path`` URL (SQLAlchemy's spelling: ``sqlite:///cases.sqlite`` is relative to the
  working folder, ``sqlite:////srv/cases.sqlite`` absolute): SQLite;
* a ``postgresql://user:password@host:port/dbname?options`` URL as a ``str`` (also ``postgres://``
  and ``postgresql+psycopg://``): PostgreSQL through ``psycopg``
  (``pip install 'gridtools[postgis]'``).

URLs must be strings: :class:`pathlib.Path` collapses ``//`` (``postgresql:/me@host/db``), so a
path whose text starts with a URL scheme is refused rather than taken for a file name.  Any other
``scheme://`` is refused too.  Messages name a database by :attr:`Database.label`: the file path,
or ``host:port/dbname`` without the user, the password and the query options.

Connections
-----------
Creating a Database opens nothing.  Each thread gets its own connection, opened on first use and
kept until :meth:`Database.close` (called in that thread) or the end of the thread.  Both
backends run in autocommit mode: a statement outside a transaction commits on its own, and
transactions are explicit (below).  Rows
index by position and by column name (``row[0]``, ``row["code"]``; ``dict(row)`` is a dict):
:class:`sqlite3.Row` in SQLite, :class:`Row` in PostgreSQL.

* SQLite: foreign keys on; a busy *timeout* (seconds a statement waits for another connection's
  lock before ``sqlite3.OperationalError: database is locked``); the file's journal mode
  (``journal_mode="WAL"`` lets readers run beside the writer) and ``synchronous`` level
  (``"NORMAL"`` in WAL mode survives a crash of the process, ``"FULL"`` also a power cut) when
  given; the folder is created on the first connection unless ``make_folder=False``.  The first
  connection to an existing file runs ``PRAGMA quick_check``: a damaged file is an
  :class:`~gridtools.errors.InputError` that says how to recover, before anything is read or written.
  ``on_connect(connection)`` runs on every new connection (the component register registers
  its GeoPackage SQL functions there).
* PostgreSQL: ``?`` placeholders become ``%s`` and a literal ``%`` is doubled (only when the
  statement has parameters: psycopg substitutes nothing otherwise); :func:`postgres_schema`
  turns a SQLite ``CREATE TABLE`` script into PostgreSQL types; a connection the server closed is
  reopened on next use.  A connection that fails is an :class:`~gridtools.errors.InputError`
  naming the database by its label.

Transactions
------------
``with db.write(lock=KEY) as con:`` is the one write transaction of every store: committed when
the block ends, rolled back when it raises (and the exception passes on).

* SQLite: ``BEGIN IMMEDIATE``: the file's single write lock is taken before the first statement,
  so everything read inside the block stays true until COMMIT and two writers queue instead of
  colliding (the second waits up to *timeout* seconds).  Readers are not blocked in WAL mode; in
  the default rollback journal they are kept out only while COMMIT writes the file.  *lock* is
  not needed: the file lock already serialises every writer.
* PostgreSQL: ``BEGIN`` (READ COMMITTED) and, with *lock*, ``pg_advisory_xact_lock(lock)`` as the
  first statement: every writer passing the same key is serialised across processes and hosts,
  the way ``BEGIN IMMEDIATE`` serialises SQLite writers, and the lock is released by COMMIT,
  ROLLBACK or the death of the client.  Without *lock* writers run side by side; a
  read-then-write must lock the rows it read (``"SELECT ... " + db.for_update()``).
* Both: the block also holds :attr:`Database.lock`, a re-entrant thread lock, so the threads of
  one process sharing a Database queue in-process; transactions do not nest (a ``write()`` or
  ``read()`` inside another on the same thread is a :class:`RuntimeError`).

``with db.read() as con:`` is a read-only snapshot: several queries see the same committed state
and writes are refused (SQLite: a deferred ``BEGIN`` with ``PRAGMA query_only``, whose snapshot
starts at the first read and which, outside WAL mode, makes a writer's COMMIT wait until it ends;
PostgreSQL: ``REPEATABLE READ, READ ONLY``).  Single statements need no read transaction.

Examples
--------
>>> import os, tempfile
>>> db = Database(os.path.join(tempfile.mkdtemp(), "demo.sqlite"))
>>> db.create_tables("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY AUTOINCREMENT, x REAL);")
>>> with db.write() as con:
...     _ = con.execute("INSERT INTO t (x) VALUES (?)", (1.5,))
>>> db.rows("SELECT * FROM t")
[{'id': 1, 'x': 1.5}]
>>> db.close()
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import pandas as pd

from gridtools.errors import BusyError, GridtoolsError, InputError, missing_dependency

__all__ = ["Database", "Row", "is_postgres_url", "database_label", "postgres_schema", "PgConnection",
           "connect_postgres"]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://", "postgres+psycopg://")
# the text a Path makes of a URL: "postgresql:/host/db", "sqlite:/x.db" (one slash lost)
_MANGLED_URL = re.compile(r"^(postgresql|postgres|sqlite)(\+psycopg)?:", re.IGNORECASE)
_ANY_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
_JOURNAL_MODES = ("DELETE", "TRUNCATE", "PERSIST", "MEMORY", "WAL", "OFF")


def is_postgres_url(text) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``, ``postgresql+psycopg://``) URL.

    Examples
    --------
    >>> is_postgres_url("postgresql://me@localhost/cases"), is_postgres_url("cases.sqlite")
    (True, False)
    """
    return str(text).lower().startswith(_POSTGRES_SCHEMES)


def database_label(url: str) -> str:
    """How messages name a PostgreSQL database: host, port and database, never the user or password.

    The query options are left out as well (they may hold a ``password=``).

    Examples
    --------
    >>> database_label("postgresql://me:secret@db.city.gov/cases")
    'db.city.gov/cases'
    >>> database_label("postgresql://127.0.0.1:5433/cases?password=secret")
    '127.0.0.1:5433/cases'
    """
    parts = urlsplit(str(url))
    host = parts.netloc.rsplit("@", 1)[-1] or "localhost"
    return host + parts.path


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


# --------------------------------------------------------------------------------------------
# PostgreSQL rows and connections


class Row(tuple):
    """A PostgreSQL row that indexes like :class:`sqlite3.Row`: by position or by column name.

    Examples
    --------
    >>> row = _row_class(("code", "n"))(("0118", 3))
    >>> row[0], row["n"], dict(row)
    ('0118', 3, {'code': '0118', 'n': 3})
    """

    __slots__ = ()
    _index: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key):
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """Column names, in order (so ``dict(row)`` works)."""
        return list(self._index)


@functools.lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    # one small class per column list: a row stays a plain tuple plus a shared name index
    return type("Row", (Row,), {"__slots__": (), "_index": {n: i for i, n in enumerate(names)}})


def _row_factory(cursor):
    names = tuple(c.name for c in cursor.description or ())
    return _row_class(names)


class PgConnection:
    """A psycopg connection speaking the stores' SQL: ``?`` placeholders, sqlite3-like methods."""

    def __init__(self, raw):
        self.raw = raw

    @property
    def closed(self) -> bool:
        return bool(self.raw.closed)

    @property
    def in_transaction(self) -> bool:
        """True inside BEGIN ... COMMIT (as :attr:`sqlite3.Connection.in_transaction`)."""
        from psycopg import pq

        return self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    def cursor(self, *, tuples: bool = False):
        """A cursor; ``tuples=True``: plain tuple rows (fastest for building frames)."""
        if tuples:
            from psycopg.rows import tuple_row

            return self.raw.cursor(row_factory=tuple_row)
        return self.raw.cursor()

    def execute(self, sql: str, params=(), *, tuples: bool = False):
        cur = self.cursor(tuples=tuples)
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


def connect_postgres(url: str, *, what: str = "the database") -> PgConnection:
    """Open *url* in autocommit mode (transactions are explicit: :meth:`Database.write`).

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host/dbname``.
    what : str
        What the database is, for the error message ("the case database").

    Returns
    -------
    PgConnection
        Rows are :class:`Row` (by position or by name).

    Raises
    ------
    MissingDependencyError
        psycopg is not installed (``pip install 'gridtools[postgis]'``).
    InputError
        The server cannot be reached or refuses the login.

    Examples
    --------
    >>> con = connect_postgres("postgresql://me@db.city.gov/cases")       # doctest: +SKIP
    """
    try:
        import psycopg
    except ImportError as exc:
        raise missing_dependency("psycopg", extra="postgis") from exc
    dsn = re.sub(r"^(postgresql|postgres)\+psycopg://", "postgresql://", str(url), flags=re.IGNORECASE)
    try:
        raw = psycopg.connect(dsn, autocommit=True, row_factory=_row_factory)
    except psycopg.Error as exc:
        raise InputError(f"cannot connect to {what} {database_label(url)}: {str(exc).strip()}") from None
    return PgConnection(raw)


# --------------------------------------------------------------------------------------------
# the database


def _sqlite_path(target) -> Path:
    """The file behind a path or ``sqlite:///`` URL; a URL in a Path, or another scheme, is refused."""
    if isinstance(target, os.PathLike):
        text = os.fspath(target)
        if _MANGLED_URL.match(str(text)):
            raise InputError(f"{text!r} looks like a database URL that went through a file path, which "
                             "dropped one '/'; pass the URL as a str")
        return Path(text)
    text = str(target)
    if text.lower().startswith("sqlite:///"):
        return Path(text[len("sqlite:///"):])
    if text.lower().startswith("sqlite:") or _ANY_URL.match(text):
        raise InputError(f"unsupported database URL {text.split('@')[-1]!r}: give a file path, "
                         "'sqlite:///path' or 'postgresql://user@host/dbname'")
    return Path(text)


class Database:
    """A SQLite file or a PostgreSQL database, with one SQL dialect and one transaction context.

    The module docstring (:mod:`gridtools.db`) states the contract: what a target may be, the
    connection settings and the locking of :meth:`write` / :meth:`read` per backend.

    Parameters
    ----------
    target : str or os.PathLike
        SQLite file path, ``sqlite:///path`` URL, or ``postgresql://`` URL (a str).
    what : str, default "the database"
        What the database is, for messages ("the case database").
    timeout : float, default 5.0
        SQLite: seconds a statement waits for another connection's lock.
    journal_mode : {"WAL", "DELETE", ...}, optional
        SQLite journal mode set on each connection (default: the file's own, DELETE for new files).
    synchronous : {"NORMAL", "FULL", "OFF", "EXTRA"}, optional
        SQLite ``PRAGMA synchronous`` (default: SQLite's, FULL).
    make_folder : bool, default True
        SQLite: create the file's folder (on the first connection) when absent; False: a missing
        folder is an InputError.
    on_connect : callable, optional
        Called with every new connection (sqlite3.Connection or :class:`PgConnection`).

    Attributes
    ----------
    postgres : bool
        True for PostgreSQL.
    path : pathlib.Path or None
        The SQLite file (None for PostgreSQL).
    label : str
        How messages name the database: the file path, or host/dbname without credentials.
    lock : threading.RLock
        Held by :meth:`write`; hold it yourself to keep in-memory state in step with a write.

    Raises
    ------
    InputError
        An unsupported URL, a URL passed as a Path, or (``make_folder=False``) a missing folder.

    Examples
    --------
    >>> Database("sqlite:///cases.sqlite").path, Database("postgresql://me:pw@db/cases").label
    (PosixPath('cases.sqlite'), 'db/cases')
    """

    def __init__(self, target, *, what: str = "the database", timeout: float = 5.0,
                 journal_mode: str | None = None, synchronous: str | None = None, make_folder: bool = True,
                 on_connect: Callable | None = None):
        self.what = what
        self.postgres = not isinstance(target, os.PathLike) and is_postgres_url(target)
        self._url = str(target) if self.postgres else None
        self.path = None if self.postgres else _sqlite_path(target)
        self.label = database_label(self._url) if self.postgres else str(self.path)
        self._timeout = float(timeout)
        self._pragmas = [f"PRAGMA journal_mode={_choice(journal_mode, _JOURNAL_MODES, 'journal_mode')}"
                         ] if journal_mode else []
        if synchronous:
            self._pragmas.append(f"PRAGMA synchronous={_choice(synchronous, _SYNCHRONOUS, 'synchronous')}")
        self._on_connect = on_connect
        self._make_folder = make_folder
        self.lock = threading.RLock()
        self._local = threading.local()
        self._checked = False  # SQLite: PRAGMA quick_check passed on the first connection
        if self.path is not None and not make_folder and not self.path.parent.exists():
            raise InputError(f"folder {self.path.parent} for {what} {self.path} does not exist")

    @property
    def backend(self) -> str:
        """``"postgresql"`` or ``"sqlite"``."""
        return "postgresql" if self.postgres else "sqlite"

    def __repr__(self) -> str:
        return f"Database({self.label!r}, backend={self.backend!r})"

    # -- connections ---------------------------------------------------------------------------
    def connection(self):
        """This thread's connection (opened on first use; reopened if the server closed it).

        Returns
        -------
        sqlite3.Connection or PgConnection
            Both take ``?`` placeholders and return rows indexable by position and name.
        """
        con = getattr(self._local, "con", None)
        if con is not None and self.postgres and con.closed:  # the server restarted: reconnect
            con = None
        if con is None:
            con = self._connect_postgres() if self.postgres else self._connect_sqlite()
            if self._on_connect is not None:
                self._on_connect(con)
            self._local.con = con
        return con

    def _connect_postgres(self) -> PgConnection:
        return connect_postgres(self._url, what=self.what)

    def _connect_sqlite(self) -> sqlite3.Connection:
        if self._make_folder:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        existed = self.path.exists() and self.path.stat().st_size > 0
        try:
            # isolation_level=None: autocommit; transactions are explicit (write() / read())
            con = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA foreign_keys = ON")
            for pragma in self._pragmas:
                con.execute(pragma)
            if existed and not self._checked:
                # a damaged file must be refused before anything reads or writes it, not after
                # an import reported success into it (quick_check: O(file) without index checks)
                found = [r[0] for r in con.execute("PRAGMA quick_check(5)")]
                if found != ["ok"]:
                    con.close()
                    raise InputError(self._damaged("; ".join(found)))
                self._checked = True
        except sqlite3.DatabaseError as exc:
            raise InputError(self._damaged(exc) if existed else f"cannot open {self.what} {self.label}: {exc}") from None
        return con

    def _damaged(self, found) -> str:
        found = " ".join(str(found).replace("*** in database main ***", "").split())[:200]
        return (f"{self.what} {self.label} is damaged ({found}); nothing was read or written.  Restore it from a "
                f"backup, or salvage what is left: sqlite3 {self.label} .recover | sqlite3 recovered.db, then use "
                f"recovered.db")

    def close(self) -> None:
        """Close this thread's connection (a later call opens a new one)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- transactions --------------------------------------------------------------------------
    def _refuse_nesting(self, con) -> None:
        if con.in_transaction:
            raise RuntimeError(f"{self.what} {self.label}: a transaction is already open on this thread "
                               "(write() and read() do not nest)")

    @contextlib.contextmanager
    def write(self, *, lock: int | None = None):
        """``with db.write(lock=KEY) as con:`` one write transaction, committed at the end of the block.

        SQLite takes its single write lock first (``BEGIN IMMEDIATE``); PostgreSQL takes the
        advisory lock *lock* first when given (see the module docstring).  Any exception in the
        block rolls the transaction back and passes on.

        Parameters
        ----------
        lock : int, optional
            PostgreSQL advisory lock key (a signed 64-bit number) serialising every writer that
            passes it; ignored by SQLite, whose writers are serialised by the file lock.

        Yields
        ------
        sqlite3.Connection or PgConnection
            This thread's connection, inside the transaction.

        Examples
        --------
        >>> with db.write(lock=0x6772_6964) as con:                        # doctest: +SKIP
        ...     con.execute("UPDATE counters SET n = n + 1")
        """
        with self.lock:
            con = self.connection()
            self._refuse_nesting(con)
            if self.postgres:
                with con.transaction():
                    if lock is not None:
                        con.execute("SELECT pg_advisory_xact_lock(?)", (int(lock),))
                    yield con
                return
            try:
                con.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                raise BusyError(f"{self.what} {self.label}: the database is busy (locked: another program holds "
                                f"its write lock for more than {self._timeout:g} s, a long import?); nothing was "
                                "changed. Run the command again when it has finished.") from None
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:  # SQLite has already rolled back after some errors
                    con.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def read(self):
        """``with db.read() as con:`` a read-only snapshot across several queries.

        Yields
        ------
        sqlite3.Connection or PgConnection
            This thread's connection, inside the read transaction; writes raise.

        Examples
        --------
        >>> with db.read() as con:                                          # doctest: +SKIP
        ...     open_cases = con.execute("SELECT count(*) FROM cases").fetchone()[0]
        """
        con = self.connection()
        self._refuse_nesting(con)
        if self.postgres:
            with con.transaction():
                con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield con
            return
        con.execute("PRAGMA query_only = ON")
        try:
            con.execute("BEGIN")
            try:
                yield con
            finally:
                if con.in_transaction:
                    con.execute("COMMIT")  # nothing was written: ends the snapshot
        finally:
            con.execute("PRAGMA query_only = OFF")

    def for_update(self) -> str:
        """``" FOR UPDATE"`` on PostgreSQL (locks the selected rows until COMMIT), ``""`` on SQLite.

        Inside :meth:`write`, SQLite holds the whole file already.

        Examples
        --------
        >>> Database("cases.sqlite").for_update()
        ''
        """
        return " FOR UPDATE" if self.postgres else ""

    # -- statements ----------------------------------------------------------------------------
    def execute(self, sql: str, params=()):
        """Run one statement on this thread's connection (inside the open transaction, if any).

        Returns
        -------
        cursor
            Its rows index by position and by name.
        """
        return self.connection().execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Iterable) -> None:
        """Run one statement for each parameter tuple."""
        self.connection().executemany(sql, [tuple(r) for r in rows])

    def executescript(self, script: str) -> None:
        """Run several statements without parameters (SQLite commits an open transaction first)."""
        self.connection().executescript(script)

    def rows(self, sql: str, params=()) -> list[dict]:
        """All rows of a query, as dicts.

        Examples
        --------
        >>> db.rows("SELECT code FROM event_types WHERE urgent = ?", (1,))    # doctest: +SKIP
        [{'code': '0104'}]
        """
        return [dict(r) for r in self.execute(sql, params).fetchall()]

    def one(self, sql: str, params=()) -> dict | None:
        """The first row of a query (a dict), or None."""
        # fetchall: an INSERT ... RETURNING must run to completion before the transaction commits
        rows = self.execute(sql, params).fetchall()
        return dict(rows[0]) if rows else None

    def scalar(self, sql: str, params=()):
        """The first column of the first row (None when there is no row).

        Examples
        --------
        >>> db.scalar("SELECT count(*) FROM cases")                          # doctest: +SKIP
        12
        """
        rows = self.execute(sql, params).fetchall()
        return rows[0][0] if rows else None

    def frame(self, sql: str, params=()) -> pd.DataFrame:
        """A query as a DataFrame (its columns even when no row matches)."""
        con = self.connection()
        if self.postgres:
            cur = con.execute(sql, tuple(params), tuples=True)
        else:
            cur = con.cursor()
            cur.row_factory = None  # plain tuples: the frame is built from them directly
            cur.execute(sql, tuple(params))
        columns = [d[0] for d in cur.description]
        return pd.DataFrame.from_records(cur.fetchall(), columns=columns, coerce_float=True)

    def insert_many(self, sql: str, rows: Iterable, table: str) -> list[int]:
        """Insert every row inside :meth:`write`; the ids the database gave, in row order.

        Parameters
        ----------
        sql : str
            An ``INSERT`` into *table* ending in ``RETURNING <id column>``; the id column is an
            ``INTEGER PRIMARY KEY AUTOINCREMENT`` (BIGSERIAL in PostgreSQL).
        rows : iterable of tuples
            Parameters, one tuple per row.
        table : str
            The table (SQLite reads its AUTOINCREMENT sequence).

        Returns
        -------
        list of int

        Notes
        -----
        PostgreSQL sends all rows in one pipeline and returns each id.  SQLite (whose
        ``executemany`` returns no rows) inserts them in one call under the write lock taken by
        ``BEGIN IMMEDIATE``, so the ids are exactly the next ones after the table's sequence.
        """
        rows = [tuple(r) for r in rows]
        if not rows:
            return []
        con = self.connection()
        if self.postgres:
            cur = con.executemany(sql, rows, returning=True)
            ids = []
            while True:
                ids.append(cur.fetchone()[0])
                if not cur.nextset():
                    return ids
        seq = "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0)"
        before = self.scalar(seq, (table,))
        con.executemany(sql.rsplit(" RETURNING ", 1)[0], rows)
        after = self.scalar(seq, (table,))
        if after - before != len(rows):  # pragma: no cover - the write lock makes this impossible
            raise GridtoolsError(f"{table}: {len(rows)} rows inserted but the sequence moved by {after - before}")
        return list(range(before + 1, after + 1))

    def create_tables(self, schema: str, *, lock: int | None = None) -> None:
        """Run a ``CREATE TABLE IF NOT EXISTS`` script written in SQLite types.

        PostgreSQL runs it translated (:func:`postgres_schema`) in one transaction holding the
        advisory lock *lock*: two first openings at once must not both create the tables
        (``CREATE ... IF NOT EXISTS`` is not safe against that race there).

        Parameters
        ----------
        schema : str
            The script, in SQLite's dialect.
        lock : int, optional
            PostgreSQL advisory lock key held while the tables are created.
        """
        if self.postgres:
            with self.write(lock=lock) as con:
                con.executescript(postgres_schema(schema))
            return
        with self.lock:
            self.connection().executescript(schema)


    def ensure_column(self, table: str, column: str, sql_type: str) -> None:
        """Add ``column`` to ``table`` when an older database lacks it (a store's schema grew).

        Examples
        --------
        >>> db = Database(":memory:")                                  # doctest: +SKIP
        >>> db.ensure_column("tokens", "expires", "TEXT")              # doctest: +SKIP
        """
        if self.postgres:
            with self.write() as con:
                con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {postgres_schema(sql_type)}")
            return
        with self.lock:
            con = self.connection()
            if column not in [r[1] for r in con.execute(f"PRAGMA table_info({table})")]:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")


def _choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    text = str(value).upper()
    if text not in allowed:
        raise InputError(f"the {name!r} parameter must be one of {', '.join(allowed)}; got {value!r}")
    return text
