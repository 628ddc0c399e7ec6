"""Persistent state of the dispatch service: tokens, trucks and trips in SQLite (default) or PostgreSQL.

The database is opened through :class:`gridtools.db.Database` (a file path, a ``sqlite:///path``
URL, or a ``postgresql://`` URL as a str).  SQLite runs in WAL mode; every change is one
:meth:`~gridtools.db.Database.write` transaction committed before the caller returns, so an
accepted trip survives a crash or ``kill -9`` of the service (``synchronous=NORMAL``; set
``settings.dispatch_sqlite_synchronous = "FULL"`` to also survive a power cut).  Tokens are stored
as SHA-256 hashes only.  The route of each trip is kept (arcs, segments, segment slots as int64
blobs) so the load index of a :class:`~gridtools.dispatch.Dispatcher` is rebuilt exactly on restart.

PostgreSQL is the option, chosen by a URL (``TripStore("postgresql://user@host/dbname")``; needs
``psycopg``: ``pip install 'gridtools[postgis]'``).  Same tables and API; each write transaction
first takes the transaction-level advisory lock :data:`PG_LOCK_KEY`, so writes are serialised
across all service processes the way ``BEGIN IMMEDIATE`` serialises them in SQLite; a committed
trip is durable by PostgreSQL's own WAL.  In either backend the threads of one process also queue
on :attr:`TripStore.write_lock`, which the dispatch centre holds to keep its load index in step.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

import numpy as np

from gridtools.db import Database
from gridtools.errors import InputError
from gridtools.tokens import TokenTable, hash_token  # noqa: F401 - hash_token: its old home

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS trucks (
    plate TEXT PRIMARY KEY, owner INTEGER NOT NULL, weight_t REAL, height_m REAL, width_m REAL, length_m REAL,
    axle_load_t REAL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trips (
    id TEXT PRIMARY KEY, request_key TEXT UNIQUE, owner INTEGER NOT NULL, plate TEXT NOT NULL, cargo TEXT,
    gate TEXT, origin_lon REAL, origin_lat REAL, dock TEXT NOT NULL, earliest TEXT NOT NULL, status TEXT NOT NULL,
    road_slot INTEGER, dock_slot INTEGER, waiting_area TEXT, arrival TEXT, dock_time TEXT, departure TEXT,
    route_rank INTEGER, time_s REAL, length_m REAL, fastest_time_s REAL, over_capacity INTEGER, large INTEGER,
    arcs BLOB, segs BLOB, seg_slots BLOB, arc_time_s BLOB, osmids TEXT, arrived_at TEXT, departed_at TEXT,
    created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS trips_owner ON trips(owner);
CREATE INDEX IF NOT EXISTS trips_status ON trips(status);
CREATE INDEX IF NOT EXISTS trips_plate ON trips(plate, status);
CREATE INDEX IF NOT EXISTS trips_status_dock ON trips(status, dock_time);
CREATE TABLE IF NOT EXISTS positions (
    trip_id TEXT NOT NULL, time TEXT NOT NULL, lon REAL NOT NULL, lat REAL NOT NULL, accuracy_m REAL,
    received TEXT NOT NULL, PRIMARY KEY (trip_id, time));
CREATE TABLE IF NOT EXISTS trip_checks (
    trip_id TEXT PRIMARY KEY, checked TEXT NOT NULL, fixes INTEGER NOT NULL, on_route_share REAL,
    off_route_now INTEGER NOT NULL, off_route_stretches INTEGER NOT NULL, off_route_m REAL, max_off_m REAL,
    last_time TEXT, last_lon REAL, last_lat REAL, summary TEXT);
CREATE INDEX IF NOT EXISTS trip_checks_off ON trip_checks(off_route_now);
CREATE TABLE IF NOT EXISTS trip_tracks (
    trip_id TEXT PRIMARY KEY, fixes INTEGER NOT NULL, state BLOB NOT NULL, updated TEXT NOT NULL);
"""

#: Advisory lock key taken by every writer of a PostgreSQL dispatch database ("gridtrip").
PG_LOCK_KEY = 0x6772_6964_7472_6970


ACTIVE = ("assigned", "arrived")
TRIP_COLUMNS = ("id", "request_key", "owner", "plate", "cargo", "gate", "origin_lon", "origin_lat", "dock",
                "earliest", "status", "road_slot", "dock_slot", "waiting_area", "arrival", "dock_time", "departure",
                "route_rank", "time_s", "length_m", "fastest_time_s", "over_capacity", "large", "arcs", "segs",
                "seg_slots", "arc_time_s", "osmids", "arrived_at", "departed_at", "created", "updated", "request_hash",
                "cargo_type", "service_s", "note")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _day_range(day) -> tuple[str, str]:
    """``(start, end)`` text bounds of the dock times of *day* (``"2026-11-24"``, a date, or any
    value whose text starts with one): ``start <= dock_time < end``.

    Dock times are park local ISO text (``2026-11-24T23:59:00+08:00``), so the date is their first
    10 characters and the half-open range from that date to the next one selects exactly the
    times of that day, and, unlike ``substr(dock_time, 1, 10) = ?``, uses the index
    ``trips_status_dock``.  A text that is no date gives an empty range (no trip, as before).

    Examples
    --------
    >>> _day_range("2026-12-31")
    ('2026-12-31', '2027-01-01')
    """
    text = str(day)[:10]
    try:
        date = dt.date.fromisoformat(text)
    except ValueError:
        return text, text
    if date.isoformat() != text:  # "20261124", "2026-W48-2": not the stored spelling, matched nothing
        return text, text
    return text, (date + dt.timedelta(days=1)).isoformat()


class TripStore:
    """SQLite (default) or PostgreSQL store of tokens, trucks and trips.

    Parameters
    ----------
    path : str or os.PathLike
        Database file or ``sqlite:///path`` URL (created with its tables when absent; its folder
        must exist), or a ``postgresql://`` URL (a str) of an existing database (the tables are
        created when absent).

    Examples
    --------
    >>> import tempfile, os
    >>> store = TripStore(os.path.join(tempfile.mkdtemp(), "d.db"))
    >>> token = store.issue_token("dispatcher", "control room")
    >>> store.authenticate(token)["role"]
    'dispatcher'
    """

    def __init__(self, path):
        from gridtools import settings

        self._db = Database(path, what="the dispatch database", timeout=settings.dispatch_lock_timeout_s, journal_mode="WAL",
                            synchronous=settings.dispatch_sqlite_synchronous, make_folder=False)
        #: The SQLite file (a Path), or host/dbname of a PostgreSQL URL (never the password).
        self.path = self._db.path if self._db.path is not None else self._db.label
        self._db.create_tables(SCHEMA, lock=PG_LOCK_KEY)
        #: The tokens (table ``tokens``; :class:`gridtools.tokens.TokenTable`).
        self.token_table = TokenTable(self._db, "tokens", roles=("driver", "dispatcher"), lock=PG_LOCK_KEY,
                                      command="gridtools dispatch token")
        # columns added since the first release (older databases get them on open)
        self._db.ensure_column("trips", "request_hash", "TEXT")
        self._db.ensure_column("trips", "cargo_type", "TEXT")
        self._db.ensure_column("trips", "service_s", "REAL")
        self._db.ensure_column("trips", "note", "TEXT")

    @property
    def write_lock(self):
        """The re-entrant thread lock every write transaction holds (:attr:`gridtools.db.Database.lock`)."""
        return self._db.lock

    def connection(self):
        """This thread's connection (WAL lets readers run beside the single writer)."""
        return self._db.connection()

    def close(self) -> None:
        """Close this thread's connection."""
        self._db.close()

    def transaction(self):
        """``with store.transaction() as con:`` one write transaction, committed on exit.

        SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the advisory lock :data:`PG_LOCK_KEY` first.
        Either way one writer at a time across every process (:meth:`gridtools.db.Database.write`).
        """
        return self._db.write(lock=PG_LOCK_KEY)

    # ------------------------------------------------------------------ tokens
    # the lifecycle (expiry, revocation, rotation, list) is gridtools.tokens.TokenTable, shared with
    # the grid-operations service; these methods are the names the service layer calls
    def issue_token(self, role: str, name: str, days: float | None = None) -> str:
        """A new random token for a ``driver`` or ``dispatcher``, valid ``days`` (default
        ``settings.service_token_days``; 0: never expires); only its hash is stored."""
        return self.token_table.issue(role, name, days)

    def authenticate(self, token: str | None) -> dict | None:
        """The token holder (``id``, ``role``, ``name``, ``expires``) or None for an unknown, revoked
        or expired token.  Asked of the database every time (one indexed lookup), so a revocation,
        by this process, the CLI or another service process, takes effect on the next request."""
        return self.token_table.authenticate(token)

    def refusal(self, token: str | None) -> str:
        """Why a token is refused (unknown, expired, revoked, replaced), for the 401 message."""
        return self.token_table.refusal(token)

    def holder(self, token_id: int) -> dict | None:
        """The holder of an active (not revoked, not expired) token by its id, as :meth:`authenticate`."""
        return self.token_table.holder(token_id)

    def secret(self, name: str) -> bytes:
        """A random 32-byte server secret kept in the database (created on first use), e.g. for
        signing links: every service process on the database shares it and it survives restarts."""
        key = f"secret:{name}"
        row = self.connection().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            with self.transaction() as con:
                con.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING",
                            (key, secrets.token_hex(32)))
            row = self.connection().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return bytes.fromhex(row["value"])

    def tokens(self) -> list[dict]:
        """Every token's id, role, holder, created, expires, last used and whether it is revoked (never the token)."""
        return self.token_table.tokens()

    def revoke_token(self, token_id: int) -> bool:
        """Revoke a token by its id (:meth:`tokens`); False when there is no live token with that id."""
        return self.token_table.revoke(token_id)

    def rotate_token(self, token_id: int, days: float | None = None, grace_hours: float = 0.0) -> str:
        """A new token for the holder of token ``token_id`` (same role and name); the old one stops
        working now, or after ``grace_hours``."""
        return self.token_table.rotate(token_id, days, grace_hours)

    # ------------------------------------------------------------------ trucks
    def upsert_truck(self, owner: int, plate: str, dims: dict) -> dict:
        with self.transaction() as con:
            row = con.execute("SELECT owner FROM trucks WHERE plate = ?", (plate,)).fetchone()
            if row is not None and row["owner"] != owner:
                raise PermissionError(f"truck {plate} is registered by another account")
            con.execute("INSERT INTO trucks(plate, owner, weight_t, height_m, width_m, length_m, axle_load_t, created) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(plate) DO UPDATE SET weight_t = excluded.weight_t, "
                        "height_m = excluded.height_m, width_m = excluded.width_m, length_m = excluded.length_m, "
                        "axle_load_t = excluded.axle_load_t",
                        (plate, owner, dims["weight_t"], dims["height_m"], dims["width_m"], dims["length_m"],
                         dims.get("axle_load_t") or 0.0, _now()))
        return self.truck(plate)

    def truck_count(self, owner: int) -> int:
        """Trucks registered by one account."""
        return self.connection().execute("SELECT COUNT(*) AS n FROM trucks WHERE owner = ?", (owner,)).fetchone()["n"]

    def truck(self, plate: str) -> dict | None:
        row = self.connection().execute("SELECT * FROM trucks WHERE plate = ?", (plate,)).fetchone()
        return dict(row) if row else None

    def trucks(self, owner: int | None = None) -> list[dict]:
        sql, args = "SELECT * FROM trucks", ()
        if owner is not None:
            sql, args = sql + " WHERE owner = ?", (owner,)
        return [dict(r) for r in self.connection().execute(sql + " ORDER BY plate", args)]

    # ------------------------------------------------------------------ trips
    @staticmethod
    def new_trip_id() -> str:
        return uuid.uuid4().hex[:16]

    @staticmethod
    def trip_values(trip_id: str, owner: int, request_key, req, a, request_hash: str | None = None) -> dict:
        """Row values of an assigned trip (``req``: TripRequest, ``a``: Assignment)."""
        now = _now()
        return {"id": trip_id, "request_key": request_key, "request_hash": request_hash, "owner": owner, "plate": req.plate, "cargo": req.cargo,
                "gate": req.gate, "origin_lon": a.origin[0], "origin_lat": a.origin[1], "dock": a.dock,
                "earliest": a.earliest.isoformat(), "status": "assigned", "road_slot": a.road_slot,
                "dock_slot": a.dock_slot, "waiting_area": a.waiting_area, "arrival": a.arrival.isoformat(),
                "dock_time": a.dock_time.isoformat(), "departure": a.departure.isoformat(),
                "route_rank": a.route_rank, "time_s": a.route.time_s, "length_m": a.route.length_m,
                "fastest_time_s": a.fastest_time_s, "over_capacity": a.over_capacity, "large": int(a.large),
                "arcs": np.asarray(a.route.arcs, np.int64).tobytes(),
                "segs": np.asarray(a.route.segs, np.int64).tobytes(),
                "seg_slots": np.asarray(a.seg_slots, np.int64).tobytes(),
                "arc_time_s": np.asarray(a.route.arc_time_s, np.float64).tobytes(),
                "osmids": ",".join(map(str, a.route.osmids)), "arrived_at": None, "departed_at": None,
                "created": now, "updated": now, "cargo_type": req.cargo_type, "service_s": a.service_s,
                "note": a.note}

    def insert_trip(self, con, values: dict) -> None:
        cols = ", ".join(values)
        con.execute(f"INSERT INTO trips({cols}) VALUES ({', '.join('?' * len(values))})", tuple(values.values()))

    def replace_assignment(self, con, trip_id: str, values: dict) -> None:
        keep = ("id", "request_key", "request_hash", "owner", "created", "status", "arrived_at", "departed_at")
        sets = {k: v for k, v in values.items() if k not in keep}
        sets["updated"] = _now()
        con.execute(f"UPDATE trips SET {', '.join(k + ' = ?' for k in sets)} WHERE id = ?",
                    (*sets.values(), trip_id))

    def set_status(self, con, trip_id: str, status: str, column: str | None = None) -> None:
        now = _now()
        if column:
            con.execute(f"UPDATE trips SET status = ?, {column} = ?, updated = ? WHERE id = ?", (status, now, now, trip_id))
        else:
            con.execute("UPDATE trips SET status = ?, updated = ? WHERE id = ?", (status, now, trip_id))

    def trip(self, trip_id: str, con=None) -> dict | None:
        row = (con or self.connection()).execute("SELECT * FROM trips WHERE id = ?", (trip_id,)).fetchone()
        return dict(row) if row else None

    def trip_by_key(self, request_key: str, con=None) -> dict | None:
        row = (con or self.connection()).execute("SELECT * FROM trips WHERE request_key = ?", (request_key,)).fetchone()
        return dict(row) if row else None

    @staticmethod
    def _where(owner=None, status=None, day=None, plate=None) -> tuple[str, list]:
        """WHERE clause of the trip listings; ``status`` is one status or a tuple of them."""
        where, args = [], []
        if owner is not None:
            where.append("owner = ?"), args.append(owner)
        if isinstance(status, (tuple, list)):
            where.append(f"status IN ({', '.join('?' * len(status))})"), args.extend(status)
        elif status is not None:
            where.append("status = ?"), args.append(status)
        if day is not None:  # dock times are stored in park local time
            where.append("dock_time >= ? AND dock_time < ?"), args.extend(_day_range(day))
        if plate is not None:
            where.append("plate = ?"), args.append(plate)
        return (" WHERE " + " AND ".join(where)) if where else "", args

    def trips(self, owner: int | None = None, status=None, limit: int = 1000, offset: int = 0,
              with_route: bool = False, day: str | None = None) -> list[dict]:
        """Trips oldest first: of one ``owner`` (None: all), one status or a tuple of statuses, one
        dock ``day`` (``"2026-11-24"``, park local time), at most ``limit`` from ``offset``."""
        cols = "*" if with_route else ", ".join(c for c in TRIP_COLUMNS if c not in ("arcs", "segs", "seg_slots",
                                                                                       "arc_time_s"))
        where, args = self._where(owner, status, day)
        sql = f"SELECT {cols} FROM trips{where} ORDER BY created, id LIMIT ? OFFSET ?"
        return [dict(r) for r in self.connection().execute(sql, (*args, int(limit), int(offset)))]

    def trips_of_truck(self, plate: str, since: str, con=None) -> list[dict]:
        """Active trips of one truck (times only) docking at or after ``since`` (ISO time), for the
        overlap check and the quota: a trip never reported as departed stops counting once its day is gone."""
        marks = ", ".join("?" * len(ACTIVE))
        return [dict(r) for r in (con or self.connection()).execute(
            f"SELECT id, departure, dock_time FROM trips WHERE plate = ? AND status IN ({marks}) AND dock_time >= ?",
            (plate, *ACTIVE, since))]

    def active_trips(self, since: str | None = None) -> list[dict]:
        """Assigned or arrived trips (with their routes), oldest first; ``since``: only those whose
        dock time is at or after this ISO time (trips long gone load nothing)."""
        marks = ", ".join("?" * len(ACTIVE))
        sql, args = f"SELECT * FROM trips WHERE status IN ({marks})", list(ACTIVE)
        if since is not None:
            sql, args = sql + " AND dock_time >= ?", args + [since]
        return [dict(r) for r in self.connection().execute(sql + " ORDER BY created, id", tuple(args))]

    def trips_between(self, start: str, end: str, limit: int = 100, offset: int = 0, day: str | None = None,
                      count: bool = False):
        """Active trips on the road or at the dock between ``start`` and ``end`` (ISO times in park
        local time): left their origin before ``end`` and dock at or after ``start``; earliest
        departure first, with their routes.  ``day``: instead, the active trips docking that day.
        ``count=True``: how many there are (all of them, not one page).

        Examples
        --------
        >>> store.trips_between("2026-11-24T08:00:00+08:00", "2026-11-24T11:00:00+08:00", limit=50)  # doctest: +SKIP
        """
        marks = ", ".join("?" * len(ACTIVE))
        where, args = f" WHERE status IN ({marks})", list(ACTIVE)
        if day is not None:
            where, args = where + " AND dock_time >= ? AND dock_time < ?", args + list(_day_range(day))
        else:
            where, args = where + " AND dock_time >= ? AND departure < ?", args + [start, end]
        con = self.connection()
        if count:
            return con.execute(f"SELECT COUNT(*) AS n FROM trips{where}", tuple(args)).fetchone()["n"]
        sql = f"SELECT * FROM trips{where} ORDER BY departure, id LIMIT ? OFFSET ?"
        return [dict(r) for r in con.execute(sql, (*args, int(limit), int(offset)))]

    def count_overdue(self, before: str) -> int:
        """Active trips whose dock time is before ``before`` (ISO): never reported as departed."""
        marks = ", ".join("?" * len(ACTIVE))
        return self.connection().execute(f"SELECT COUNT(*) AS n FROM trips WHERE status IN ({marks}) AND dock_time < ?",
                                         (*ACTIVE, before)).fetchone()["n"]

    # ------------------------------------------------------------------ GPS positions
    def add_positions(self, con, trip_id: str, fixes: list[tuple], before: int | None = None) -> int:
        """Store GPS fixes ``(time ISO, lon, lat, accuracy_m)`` of a trip; a fix whose time is
        already stored for the trip is kept as it was (a re-sent batch adds nothing).  Returns
        how many were new.  ``before``: the trip's count of fixes in this transaction, when the
        caller has just read it (:meth:`position_count`)."""
        before = self.position_count(trip_id, con) if before is None else before
        now = _now()
        con.executemany("INSERT INTO positions(trip_id, time, lon, lat, accuracy_m, received) VALUES (?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT(trip_id, time) DO NOTHING", [(trip_id, *f, now) for f in fixes])
        return self.position_count(trip_id, con) - before

    def position_count(self, trip_id: str, con=None) -> int:
        return (con or self.connection()).execute("SELECT COUNT(*) AS n FROM positions WHERE trip_id = ?",
                                                  (trip_id,)).fetchone()["n"]

    def positions(self, trip_id: str, con=None, since: str | None = None) -> list[dict]:
        """The trip's stored fixes, oldest first (only those stamped ``since`` or later when given:
        an ISO time as stored)."""
        where, args = ("trip_id = ?", (trip_id,)) if since is None else ("trip_id = ? AND time >= ?", (trip_id, since))
        return [dict(r) for r in (con or self.connection()).execute(
            f"SELECT time, lon, lat, accuracy_m FROM positions WHERE {where} ORDER BY time", args)]

    def track_state(self, trip_id: str) -> dict | None:
        """The kept map matching of a trip's track (``fixes``: how many it holds, ``state``: bytes of
        :meth:`gridtools.routing.compliance_live.LiveCheck.to_bytes`), or None."""
        row = self.connection().execute("SELECT fixes, state FROM trip_tracks WHERE trip_id = ?", (trip_id,)).fetchone()
        return {"fixes": row["fixes"], "state": bytes(row["state"])} if row else None

    def save_track_state(self, con, trip_id: str, fixes: int, state: bytes) -> None:
        """Store (replace) the kept map matching of a trip's track, in the caller's transaction."""
        con.execute("INSERT INTO trip_tracks(trip_id, fixes, state, updated) VALUES (?, ?, ?, ?) ON CONFLICT(trip_id) "
                    "DO UPDATE SET fixes = excluded.fixes, state = excluded.state, updated = excluded.updated",
                    (trip_id, int(fixes), state, _now()))

    def save_check(self, con, trip_id: str, values: dict) -> None:
        """Store (replace) the latest compliance figures of a trip (columns of ``trip_checks``)."""
        row = {"trip_id": trip_id, "checked": _now(), **values}
        cols = ", ".join(row)
        sets = ", ".join(f"{k} = excluded.{k}" for k in row if k != "trip_id")
        con.execute(f"INSERT INTO trip_checks({cols}) VALUES ({', '.join('?' * len(row))}) "
                    f"ON CONFLICT(trip_id) DO UPDATE SET {sets}", tuple(row.values()))

    def check(self, trip_id: str) -> dict | None:
        row = self.connection().execute("SELECT * FROM trip_checks WHERE trip_id = ?", (trip_id,)).fetchone()
        return dict(row) if row else None

    def off_route(self, limit: int = 500) -> list[dict]:
        """Active trips whose latest fix is off their assigned route, with the trip's plate and
        dock, longest off-route distance first (at most ``limit``)."""
        marks = ", ".join("?" * len(ACTIVE))
        sql = (f"SELECT c.*, t.plate, t.dock, t.status FROM trip_checks c JOIN trips t ON t.id = c.trip_id "
               f"WHERE c.off_route_now = 1 AND t.status IN ({marks}) ORDER BY c.off_route_m DESC, c.trip_id LIMIT ?")
        return [dict(r) for r in self.connection().execute(sql, (*ACTIVE, int(limit)))]

    def count(self, status=None, day: str | None = None, owner: int | None = None) -> int:
        """Number of trips (all, or of one status / tuple of statuses, dock day and owner)."""
        where, args = self._where(owner, status, day)
        return self.connection().execute(f"SELECT COUNT(*) AS n FROM trips{where}", tuple(args)).fetchone()["n"]
