"""Bearer tokens kept in a database table: the one token lifecycle of every gridtools service.

:class:`TokenTable` is used by the dispatch store (:class:`gridtools.dispatch.TripStore`, table
``tokens``) and by the case store of the grid-operations service
(:class:`gridtools.incidents.access.TokenStore`, table ``case_tokens``), so both services issue,
check, list, revoke and rotate tokens in the same way:

* a token is 192 random bits shown once; only its SHA-256 digest is stored;
* it is valid ``days`` (default ``settings.service_token_days``; 0: no expiry);
* it is looked up on every request (a revocation, also one made by the CLI in another process,
  takes effect on the next request: there is no cache);
* rotation gives the same holder (role, name, scope) a new secret; the old one stops working at
  once, or after a grace period (its expiry is brought forward); issuing the new token and
  retiring the old one are one transaction;
* the list shows id, role, holder, scope, created, expires, last used, revoked (never a secret);
* a refused token gets a reason (:meth:`TokenTable.refusal`): unknown, expired (when), revoked
  (when), replaced by a rotation.

A *scope* is what a service adds to a holder (the grid-operations service: ``grid`` and
``department``); the table gets one TEXT column per scope name.  Columns added by newer versions
are added to older tables when opened (:meth:`gridtools.db.Database.ensure_column`).

Examples
--------
>>> import os, tempfile
>>> from gridtools.db import Database
>>> table = TokenTable(Database(os.path.join(tempfile.mkdtemp(), "t.db")), "tokens", roles=("driver",))
>>> secret = table.issue("driver", "ann", days=7)
>>> table.authenticate(secret)["name"]
'ann'
>>> new = table.rotate(table.authenticate(secret)["id"])
>>> table.authenticate(secret) is None, table.refusal(secret).startswith("this token was replaced")
(True, True)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time

from gridtools.errors import BusyError, InputError

__all__ = ["TokenTable", "hash_token", "utc_now"]

#: Columns every token table has beyond the first release (id, hash, role, name, created, revoked).
LATER_COLUMNS = (("expires", "TEXT"), ("last_used", "TEXT"), ("revoked_at", "TEXT"), ("replaced_by", "INTEGER"))
#: Seconds between two writes of a token's ``last_used`` (a token check stays a read).
TOUCH_EVERY_S = 60.0


def hash_token(token: str) -> str:
    """SHA-256 of a token (tokens are random 192-bit strings, so no salt or stretching is needed).

    Examples
    --------
    >>> len(hash_token("abc"))
    64
    """
    return hashlib.sha256(token.encode()).hexdigest()


def utc_now() -> dt.datetime:
    """The current time in UTC (the clock of a :class:`TokenTable` unless one is given).

    Examples
    --------
    >>> utc_now().tzinfo
    datetime.timezone.utc
    """
    return dt.datetime.now(dt.timezone.utc)


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


class TokenTable:
    """Issue, check, list, revoke and rotate the tokens of one table of a :class:`gridtools.db.Database`.

    Parameters
    ----------
    db : gridtools.db.Database
    table : str
        The table (created when absent; older tables get the newer columns).
    roles : tuple of str
        The roles a token may have.
    scope : tuple of str, optional
        Extra holder fields (one TEXT column each), e.g. ``("grid", "department")``.
    lock : int, optional
        PostgreSQL advisory lock key of the store's writers.
    command : str
        The CLI command that manages these tokens, for messages.
    clock : callable, optional
        The current time (an aware datetime); tests pass their own.

    Examples
    --------
    >>> TokenTable(db, "tokens", roles=("driver", "dispatcher"))        # doctest: +SKIP
    """

    def __init__(self, db, table: str, *, roles: tuple, scope: tuple = (), lock: int | None = None,
                 command: str = "gridtools dispatch token", clock=utc_now):
        self.db, self.table, self.roles, self.scope = db, table, tuple(roles), tuple(scope)
        self.lock, self.command, self.clock = lock, command, clock
        self._touched: dict = {}
        self._touch_lock = threading.Lock()
        db.create_tables(f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT "
                         "UNIQUE NOT NULL, role TEXT NOT NULL, name TEXT NOT NULL, created TEXT NOT NULL, revoked "
                         "INTEGER NOT NULL DEFAULT 0);", lock=lock)
        for column, kind in LATER_COLUMNS + tuple((s, "TEXT") for s in self.scope):
            db.ensure_column(table, column, kind)
        self._holder = ", ".join(("id", "role", "name", "expires", *self.scope))

    # -- issue -----------------------------------------------------------------------------------
    def issue(self, role: str, name: str, days: float | None = None, **scope) -> str:
        """A new token for *role* held by *name*, valid *days* (0: never expires); printed once.

        Parameters
        ----------
        role, name : str
        days : float, optional
            Validity, 0 to 3650 days (default ``settings.service_token_days``; 0: no expiry).
        **scope
            Values of the table's scope fields (``grid="..."``).

        Returns
        -------
        str
            The token; only its digest is stored.

        Examples
        --------
        >>> table.issue("driver", "ann", days=30)                          # doctest: +SKIP
        'q3J...'
        """
        days = self._checked(role, name, days, scope)
        with self.db.write(lock=self.lock) as con:
            return self._insert(con, role, name, days, scope)[0]

    def _checked(self, role: str, name: str, days, scope: dict) -> float:
        """The checks of :meth:`issue`; the validity in days (a float)."""
        from gridtools import settings

        if role not in self.roles:
            raise InputError(f"role={role!r}: use one of {', '.join(self.roles)}.")
        if not str(name or "").strip():
            raise InputError("name='': give the name of the token holder (a person, a company or a desk).")
        unknown = set(scope) - set(self.scope)
        if unknown:
            raise InputError(f"unknown token field(s) {', '.join(sorted(unknown))}; use {', '.join(self.scope)}")
        days = settings.service_token_days if days is None else days
        try:
            days = float(days)
        except (TypeError, ValueError):
            raise InputError(f"days=...: give a number of days (0: no expiry), got {days!r}.") from None
        if not 0 <= days <= 3650:
            raise InputError(f"days=...: a token lives 0 (no expiry) to 3650 days, got {days:g}.")
        return days

    def _insert(self, con, role: str, name: str, days: float, scope: dict) -> tuple[str, int]:
        """Write a new token row inside the open transaction *con*; (the token, its id)."""
        now = self.clock()
        expires = _stamp(now + dt.timedelta(days=days)) if days else None
        token = secrets.token_urlsafe(24)
        columns = ("hash", "role", "name", "created", "expires", *self.scope)
        values = (hash_token(token), role, str(name).strip(), _stamp(now), expires,
                  *(scope.get(s) for s in self.scope))
        con.execute(f"INSERT INTO {self.table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                    values)
        # read back by digest: portable to both backends (no lastrowid in psycopg)
        new_id = con.execute(f"SELECT id FROM {self.table} WHERE hash = ?", (values[0],)).fetchone()[0]
        return token, new_id

    # -- check -----------------------------------------------------------------------------------
    def _live(self, row) -> dict | None:
        if row is None or (row["expires"] and row["expires"] <= _stamp(self.clock())):
            return None
        return dict(row)

    def authenticate(self, token: str | None) -> dict | None:
        """The holder (``id``, ``role``, ``name``, ``expires`` and the scope fields) of a live token;
        None for a missing, unknown, revoked or expired one.  Asked of the database every time.

        Examples
        --------
        >>> table.authenticate(secret)["role"]                             # doctest: +SKIP
        'driver'
        """
        if not token or len(token) > 200:
            return None
        who = self._live(self.db.one(f"SELECT {self._holder} FROM {self.table} WHERE hash = ? AND revoked = 0",
                                     (hash_token(token),)))
        if who is not None:
            self._touch(who["id"])
        return who

    def holder(self, token_id: int) -> dict | None:
        """The holder of a live token by its id, as :meth:`authenticate` (None when not live)."""
        return self._live(self.db.one(f"SELECT {self._holder} FROM {self.table} WHERE id = ? AND revoked = 0",
                                      (int(token_id),)))

    def refusal(self, token: str | None) -> str:
        """Why *token* is refused, for a 401 message: missing, unknown, expired, revoked or replaced.

        Only the holder of the secret learns its state (the lookup is by its digest).

        Examples
        --------
        >>> table.refusal("nonsense")                                      # doctest: +SKIP
        'unknown token'
        """
        if not token:
            return "no token"
        row = self.db.one(f"SELECT revoked, revoked_at, expires, replaced_by FROM {self.table} WHERE hash = ?",
                          (hash_token(token),)) if len(token) <= 200 else None
        ask = f"ask an administrator for a new one ('{self.command}')"
        if row is None:
            return "unknown token"
        if row["replaced_by"] is not None:
            return f"this token was replaced by token {row['replaced_by']} (rotated); use the new token"
        if row["revoked"]:
            return f"this token was revoked{' at ' + row['revoked_at'] if row['revoked_at'] else ''}; {ask}"
        if row["expires"] and row["expires"] <= _stamp(self.clock()):
            return f"this token expired at {row['expires']}; {ask}"
        return "token refused"

    def _touch(self, token_id: int) -> None:
        """Record ``last_used`` at most every :data:`TOUCH_EVERY_S` per token, never waiting for a
        writer: a token check must not queue behind a booking or an import."""
        now = time.monotonic()
        with self._touch_lock:
            if now - self._touched.get(token_id, -1e9) < TOUCH_EVERY_S:
                return
            if len(self._touched) > 100_000:
                self._touched.clear()
            self._touched[token_id] = now
        if not self.db.lock.acquire(blocking=False):
            return
        try:
            with self.db.write(lock=self.lock) as con:
                con.execute(f"UPDATE {self.table} SET last_used = ? WHERE id = ?", (_stamp(self.clock()), token_id))
        except (BusyError, RuntimeError):  # the database is busy elsewhere, or a transaction is open here
            pass
        finally:
            self.db.lock.release()

    # -- manage ----------------------------------------------------------------------------------
    def tokens(self) -> list[dict]:
        """Every token: id, role, name, the scope fields, created, expires, last_used, revoked,
        revoked_at, replaced_by (never the token or its digest).

        Examples
        --------
        >>> [t["name"] for t in table.tokens()]                            # doctest: +SKIP
        ['ann']
        """
        columns = ("id", "role", "name", *self.scope, "created", "expires", "last_used", "revoked", "revoked_at",
                   "replaced_by")
        rows = self.db.rows(f"SELECT {', '.join(columns)} FROM {self.table} ORDER BY id")
        now = _stamp(self.clock())
        for row in rows:
            row["revoked"] = bool(row["revoked"])
            row["expired"] = bool(row["expires"] and row["expires"] <= now)
        return rows

    def revoke(self, token_id: int) -> bool:
        """Revoke a token by its id (:meth:`tokens`); False when there is no live such token.

        Examples
        --------
        >>> table.revoke(3)                                                # doctest: +SKIP
        True
        """
        with self.db.write(lock=self.lock) as con:
            return con.execute(f"UPDATE {self.table} SET revoked = 1, revoked_at = ? WHERE id = ? AND revoked = 0",
                               (_stamp(self.clock()), int(token_id))).rowcount > 0

    def revoke_secret(self, token: str) -> bool:
        """Revoke a token given the token itself; True when it was live."""
        with self.db.write(lock=self.lock) as con:
            return con.execute(f"UPDATE {self.table} SET revoked = 1, revoked_at = ? WHERE hash = ? AND revoked = 0",
                               (_stamp(self.clock()), hash_token(token or ""))).rowcount > 0

    def rotate(self, token_id: int, days: float | None = None, grace_hours: float = 0.0) -> str:
        """A new token for the holder of token *token_id* (same role, name and scope); the old one
        stops working now, or after *grace_hours* (so a client can switch without a gap).

        Parameters
        ----------
        token_id : int
        days : float, optional
            Validity of the new token (as :meth:`issue`).
        grace_hours : float
            0 to 720 hours the old token keeps working (never beyond its own expiry).

        Returns
        -------
        str
            The new token.

        Examples
        --------
        >>> table.rotate(3, grace_hours=24)                                # doctest: +SKIP
        'Zk1...'
        """
        try:
            grace = float(grace_hours)
        except (TypeError, ValueError):
            raise InputError(f"grace_hours=...: give a number of hours, got {grace_hours!r}.") from None
        if not 0 <= grace <= 720:
            raise InputError(f"grace_hours=...: the old token may keep working 0 to 720 hours (30 days), got "
                             f"{grace:g}.")
        # one transaction: a crash or an error at any step leaves the old token as it was and no new one
        with self.db.write(lock=self.lock) as con:
            old = self._live(con.execute(f"SELECT {self._holder} FROM {self.table} WHERE id = ? AND revoked = 0"
                                         + self.db.for_update(), (int(token_id),)).fetchone())
            if old is None:
                raise InputError(f"no live token with id {token_id} (see the list of tokens: "
                                 f"'{self.command} --list')")
            scope = {s: old[s] for s in self.scope}
            token, new_id = self._insert(con, old["role"], old["name"],
                                         self._checked(old["role"], old["name"], days, scope), scope)
            now = self.clock()
            if grace:
                until = _stamp(now + dt.timedelta(hours=grace))
                if old["expires"] and old["expires"] < until:
                    until = old["expires"]
                con.execute(f"UPDATE {self.table} SET expires = ?, replaced_by = ? WHERE id = ?",
                            (until, new_id, int(token_id)))
            else:
                con.execute(f"UPDATE {self.table} SET revoked = 1, revoked_at = ?, replaced_by = ? WHERE id = ?",
                            (_stamp(now), new_id, int(token_id)))
        return token
