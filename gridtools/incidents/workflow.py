"""The closed loop of digital city management, kept in a SQLite file or a PostgreSQL database.

report -> register -> dispatch (to the grid team, or a department) -> handle -> verify -> close,
with every step time-stamped in a log table.  A case not dispatched within the dispatch limit,
or not handled by its deadline, is *overdue*; :meth:`IncidentStore.escalate` moves overdue cases
up the grid hierarchy (grid team -> community -> street) with a fresh deadline.  Per-grid
statistics say how many cases were solved inside the grid (never escalated) and how long
closing took.

States and transitions::

    reported --register--> registered --dispatch--> dispatched --handle--> handled
        |                                              ^                      |
        +--register(accept=False)--> rejected          +--verify(ok=False)----+  (rework)
                                                                              |
                                         closed <--close-- verified <--verify(ok=True)

Times are naive local datetimes (the city's clock), stored as ISO text.  The database is a plain
SQLite file any tool can read, or, for a city with many inspectors and supervisors at once, a
PostgreSQL database given by URL (``IncidentStore("postgresql://user@host/cases")``, needs
``psycopg``); tables ``cases``, ``case_log``, ``event_types``, ``calendar_days`` either way.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import numpy as np
import pandas as pd

from gridtools import settings, timeparse, validate
from gridtools.db import Database
from gridtools.errors import InputError
from gridtools.incidents.states import CaseControls, StateError
from gridtools.incidents.types import TYPE_COLUMNS, WorkCalendar, event_types

__all__ = ["LEVELS", "STATES", "ImportResult", "IncidentStore", "StateError", "open311_requests", "open311_services"]

STATES = ("reported", "registered", "dispatched", "handled", "verified", "closed", "rejected", "suspended")
LEVELS = ("grid", "community", "street")
_OPEN = ("reported", "registered", "dispatched", "handled", "verified", "suspended")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS event_types (
    code TEXT PRIMARY KEY, major_code TEXT, major_zh TEXT, major_en TEXT, name_zh TEXT,
    name_en TEXT, deadline_hours REAL NOT NULL, basis TEXT NOT NULL, urgent INTEGER NOT NULL,
    department_zh TEXT, department_en TEXT
);
CREATE TABLE IF NOT EXISTS calendar_days (
    day TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('holiday', 'workday'))
);
CREATE TABLE IF NOT EXISTS cases (
    case_id INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id TEXT,
    type_code TEXT NOT NULL REFERENCES event_types(code),
    description TEXT,
    source TEXT,
    lon REAL, lat REAL,
    grid_code TEXT, community_code TEXT, street_code TEXT,
    status TEXT NOT NULL,
    level TEXT NOT NULL DEFAULT 'grid',
    assignee TEXT,
    reported_at TEXT NOT NULL,
    registered_at TEXT, dispatched_at TEXT, handled_at TEXT, verified_at TEXT, closed_at TEXT,
    deadline_at TEXT,
    escalations INTEGER NOT NULL DEFAULT 0,
    reworks INTEGER NOT NULL DEFAULT 0,
    resolution TEXT
);
CREATE TABLE IF NOT EXISTS case_log (
    log_id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL REFERENCES cases(case_id),
    at TEXT NOT NULL, action TEXT NOT NULL, from_status TEXT, to_status TEXT, level TEXT,
    actor TEXT, note TEXT
);
CREATE INDEX IF NOT EXISTS cases_status ON cases(status);
CREATE INDEX IF NOT EXISTS cases_grid ON cases(grid_code);
CREATE INDEX IF NOT EXISTS log_case ON case_log(case_id);
CREATE INDEX IF NOT EXISTS cases_external ON cases(external_id);
CREATE INDEX IF NOT EXISTS cases_assignee ON cases(assignee);
"""

#: External ids are unique per source: an import re-run (after a crash, say) adds nothing.  Made
#: apart from the tables because a database written before this rule may hold repeats.
_UNIQUE_EXTERNAL = "CREATE UNIQUE INDEX IF NOT EXISTS cases_source_external ON cases(source, external_id)"
_REPEATS = ("SELECT COUNT(*) FROM (SELECT 1 FROM cases WHERE external_id IS NOT NULL "
            "GROUP BY source, external_id HAVING COUNT(*) > 1) AS d")

#: Advisory lock key held while the case tables are created in PostgreSQL ("gridcase").
_SCHEMA_LOCK_KEY = 0x6772_6964_6361_7365
#: Advisory lock key serialising writers of external ids in PostgreSQL ("gridimpt").
_IMPORT_LOCK_KEY = 0x6772_6964_696D_7074

_INSERT_CASE = (
    "INSERT INTO cases (external_id, type_code, description, source, lon, lat, grid_code, "
    "community_code, street_code, status, level, reported_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'reported', 'grid', ?) RETURNING case_id"
)


class ImportResult(NamedTuple):
    """What :meth:`IncidentStore.import_table` did: each row's case id and whether it was new."""

    case_ids: np.ndarray
    added: np.ndarray


def _time(value) -> dt.datetime:
    """A step's time: now when None, else the local wall clock of *value* (cases keep local time)."""
    if value is None:
        return dt.datetime.now().replace(microsecond=0)
    return timeparse.parse_moment(value, what="time", aware="local").to_pydatetime()


def _text(moment: dt.datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds")


class IncidentStore(CaseControls):
    """A case database (SQLite file or PostgreSQL) with the closed-loop workflow.

    Parameters
    ----------
    path : str or os.PathLike
        SQLite file (or ``sqlite:///path`` URL), created with its tables if absent; or a
        ``postgresql://`` URL (a str) of an existing database (the tables are created when absent).
    types : pandas.DataFrame, optional
        Event types (:func:`gridtools.incidents.event_types`) to install; by default the shipped
        table is installed into a new database and an existing database keeps its own.
    calendar : WorkCalendar, optional
        Office periods and weekdays; holidays / make-up days stored in the database are added.
    journal_mode : {"WAL", "DELETE", ...}, optional
        SQLite journal mode (with ``synchronous=FULL``: every commit survives a crash and a power
        cut); the service uses WAL (one fsync per commit, readers never wait for writers).

    Examples
    --------
    >>> store = IncidentStore(tmp / "cases.sqlite")                      # doctest: +SKIP
    >>> case = store.report("0104", grid_code="32050901900200100", lon=120.6, lat=31.1,
    ...                     at="2026-11-23 09:00")                       # doctest: +SKIP
    >>> store.register(case, at="2026-11-23 09:05"); store.dispatch(case, at="2026-11-23 09:10")  # doctest: +SKIP
    """

    def __init__(self, path, *, types: pd.DataFrame | None = None, calendar: WorkCalendar | None = None,
                 journal_mode: str | None = None):
        # a write transaction holds the write lock from its start: BEGIN IMMEDIATE in SQLite, and in
        # PostgreSQL the case row read by _step is locked with SELECT ... FOR UPDATE
        self._db = Database(path, what="the case database", journal_mode=journal_mode,
                            synchronous="FULL" if journal_mode else None)
        self._db.create_tables(_SCHEMA, lock=_SCHEMA_LOCK_KEY)
        self.path = self._db.label  # file path, or host/dbname of the URL (never the password)
        self.add_missing_columns()
        self.repeated_external_ids = self._make_external_ids_unique()
        have_types = self._db.scalar("SELECT COUNT(*) FROM event_types")
        if types is not None or not have_types:
            self.set_types(event_types() if types is None else types)
        self._calendar = calendar or WorkCalendar()

    # ----------------------------------------------------------------------------------------
    # setup

    def _make_external_ids_unique(self) -> int:
        """Create the UNIQUE index on (source, external_id); the number of repeated ids blocking it."""
        with self._db.write(lock=_SCHEMA_LOCK_KEY):
            repeats = int(self._db.scalar(_REPEATS)) if not self._has_unique_index() else 0
            if not repeats:
                self._db.execute(_UNIQUE_EXTERNAL)
        return repeats

    def _has_unique_index(self) -> bool:
        if self._db.postgres:
            return self._db.scalar("SELECT to_regclass('cases_source_external') IS NOT NULL")
        return bool(self._db.scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' "
                                    "AND name = 'cases_source_external'"))

    def _refuse_repeats(self) -> None:
        if self.repeated_external_ids:
            raise InputError(
                f"{self.path} holds {self.repeated_external_ids:,} external ids recorded more than once in one "
                "source (an import re-run before gridtools refused repeats); remove the later copies with "
                "IncidentStore.drop_repeated_imports() ('gridtools incidents dedupe'), then import again.")

    def drop_repeated_imports(self) -> int:
        """Delete the later copies of cases whose (source, external_id) was recorded more than once.

        Only copies still ``reported`` with nothing but their report step logged are deleted (an
        import run twice made them); a repeat that has been worked on is kept and counted in
        :attr:`repeated_external_ids`, for a person to decide.

        Returns
        -------
        int
            Cases deleted.

        Examples
        --------
        >>> IncidentStore("old.sqlite").drop_repeated_imports()          # doctest: +SKIP
        600000
        """
        later = ("SELECT c.case_id FROM cases c WHERE c.external_id IS NOT NULL AND c.status = 'reported' "
                 "AND EXISTS (SELECT 1 FROM cases o WHERE o.source = c.source AND o.external_id = c.external_id "
                 "AND o.case_id < c.case_id) "
                 "AND NOT EXISTS (SELECT 1 FROM case_log l WHERE l.case_id = c.case_id AND l.action <> 'report')")
        with self._db.write(lock=_IMPORT_LOCK_KEY):
            ids = [int(r["case_id"]) for r in self._db.rows(later)]
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ", ".join("?" * len(chunk))
                self._db.execute(f"DELETE FROM case_log WHERE case_id IN ({marks})", chunk)
                self._db.execute(f"DELETE FROM cases WHERE case_id IN ({marks})", chunk)
        self.repeated_external_ids = self._make_external_ids_unique()
        return len(ids)

    @property
    def database(self) -> Database:
        """The :class:`gridtools.db.Database` holding the cases (for modules adding their own tables)."""
        return self._db

    @staticmethod
    def _moment(value) -> dt.datetime:
        return _time(value)

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def set_types(self, types: pd.DataFrame) -> None:
        """Install (replace) the event-type table."""
        rows = types[list(TYPE_COLUMNS)].astype(object).where(types[list(TYPE_COLUMNS)].notna(), None)
        rows = [tuple(int(bool(v)) if k == "urgent" else v for k, v in zip(TYPE_COLUMNS, r, strict=True))
                for r in rows.itertuples(index=False)]
        others = [c for c in TYPE_COLUMNS if c != "code"]
        with self._db.write():
            self._db.executemany(
                f"INSERT INTO event_types ({', '.join(TYPE_COLUMNS)}) VALUES ({', '.join('?' * len(TYPE_COLUMNS))}) "
                f"ON CONFLICT (code) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in others)}",
                rows,
            )

    def set_calendar_days(self, holidays=(), workdays=()) -> None:
        """Store public holidays and make-up working days (dates or 'YYYY-MM-DD')."""
        rows = [(str(pd.Timestamp(d).date()), "holiday") for d in holidays]
        rows += [(str(pd.Timestamp(d).date()), "workday") for d in workdays]
        with self._db.write():
            self._db.executemany("INSERT INTO calendar_days (day, kind) VALUES (?, ?) "
                              "ON CONFLICT (day) DO UPDATE SET kind = excluded.kind", rows)

    @property
    def calendar(self) -> WorkCalendar:
        """The working calendar: office periods plus the stored holidays / make-up days."""
        days = self._db.rows("SELECT day, kind FROM calendar_days")
        holidays = frozenset(dt.date.fromisoformat(r["day"]) for r in days if r["kind"] == "holiday")
        workdays = frozenset(dt.date.fromisoformat(r["day"]) for r in days if r["kind"] == "workday")
        c = self._calendar
        return WorkCalendar(c.periods, c.weekdays, c.holidays | holidays, c.workdays | workdays)

    def types(self) -> pd.DataFrame:
        """The installed event types."""
        return self._db.frame("SELECT * FROM event_types ORDER BY code")

    # ----------------------------------------------------------------------------------------
    # the loop

    def _type(self, code: str) -> tuple[float, str, bool, str]:
        row = self._db.one(
            "SELECT deadline_hours, basis, urgent, department_en FROM event_types WHERE code = ?", (str(code),)
        )
        if row is None:
            known = [r["code"] for r in self._db.rows("SELECT code FROM event_types ORDER BY code")]
            raise InputError(
                f"unknown event type {code!r}; known codes: {', '.join(known[:12])}"
                + (" ..." if len(known) > 12 else "") + " (gridtools incidents types lists them)."
            )
        return float(row["deadline_hours"]), row["basis"], bool(row["urgent"]), row["department_en"]

    def report(self, type_code: str, *, at=None, lon=None, lat=None, grid_code: str | None = None,
               community_code: str | None = None, street_code: str | None = None,
               description: str = "", source: str = "inspector", external_id: str | None = None,
               reporter: str | None = None, route: dict | None = None) -> int:
        """Record a new case (status ``reported``); returns its ``case_id``.

        Community and street codes default to the prefixes of *grid_code*
        (:func:`gridtools.incidents.code_levels`).  An *external_id* already recorded from
        *source* adds nothing and returns that case's id (a retry is harmless).  *reporter* names
        who filed it; *route* (the keyword arguments of :meth:`route_new`) registers and
        dispatches the new case in the same transaction, so a crash leaves it either absent or
        routed.
        """
        from gridtools.incidents.locate import code_levels

        self._type(type_code)
        moment = _time(at)
        if grid_code and (community_code is None or street_code is None):
            levels = code_levels([grid_code]).iloc[0]
            community_code = community_code or levels["community_code"] or None
            street_code = street_code or levels["street_code"] or None
        external_id = None if external_id is None else str(external_id)
        with self._db.write(lock=_IMPORT_LOCK_KEY if external_id is not None else None):
            if external_id is not None:
                self._refuse_repeats()
                known = self._known_external_ids(source, [external_id])
                if known:  # recorded before (a retry): the same case, nothing added
                    return known[external_id]
            case_id = int(self._db.one(
                _INSERT_CASE,
                (external_id, str(type_code), description, source, lon, lat, grid_code or None,
                 community_code, street_code, _text(moment)),
            )["case_id"])
            if reporter is not None:
                self._db.execute("UPDATE cases SET reporter = ? WHERE case_id = ?", (reporter, case_id))
            self._log(case_id, moment, "report", None, "reported", "grid", reporter or source, description)
            if route is not None:
                self.route_in_transaction(case_id, moment, **route)
        return case_id

    def _known_external_ids(self, source: str, external_ids) -> dict[str, int]:
        """{external id: case id} of the given ids already recorded from *source*."""
        known = {}
        ids = list(external_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = self._db.rows(f"SELECT external_id, case_id FROM cases WHERE source = ? AND external_id IN "
                                 f"({', '.join('?' * len(chunk))})", (source, *chunk))
            known.update({r["external_id"]: int(r["case_id"]) for r in rows})
        return known

    def report_many(self, table: pd.DataFrame, *, type_col: str, time_col: str, lon: str | None = None,
                    lat: str | None = None, id_col: str | None = None, description_col: str | None = None,
                    source: str = "import", dayfirst: bool | None = None, dedupe: bool = False) -> np.ndarray:
        """Record many cases at once, e.g. the output of :func:`gridtools.incidents.locate`.

        The case ids of :meth:`import_table` (rows whose *id_col* value was recorded before from
        *source* give that earlier case's id; nothing is added for them).
        """
        return self.import_table(table, type_col=type_col, time_col=time_col, lon=lon, lat=lat, id_col=id_col,
                                 description_col=description_col, source=source, dayfirst=dayfirst,
                                 dedupe=dedupe).case_ids

    def import_table(self, table: pd.DataFrame, *, type_col: str, time_col: str, lon: str | None = None,
                     lat: str | None = None, id_col: str | None = None, description_col: str | None = None,
                     source: str = "import", dayfirst: bool | None = None, dedupe: bool = False) -> ImportResult:
        """Record many cases at once, adding none twice: what :meth:`report_many` does, and what was new.

        External ids (*id_col*) are unique per *source* (a UNIQUE index in the database): a row
        whose id was recorded before, in an earlier run or earlier in the same table, adds
        nothing, so re-running an import after a crash (even one after COMMIT but before the
        "recorded" line) is harmless.

        Uses the table's ``grid_code`` / ``community_code`` / ``street_code`` columns when present.
        Times are read by :func:`gridtools.timeparse.parse_column` (day-first or month-first
        detected per column; *dayfirst* settles a column no value settles) at their local wall
        clock.

        With *id_col* each case is named by the caller's id. An id repeated inside the table is
        refused (naming the rows) unless ``dedupe=True``, which records it once; an id recorded
        by an earlier run adds nothing and gives that earlier case's id.

        Returns
        -------
        ImportResult
            ``case_ids`` (each row's case, in table order) and ``added`` (True where the row made
            a new case).

        Examples
        --------
        >>> store.import_table(table, type_col="type", time_col="time", id_col="id").added.sum()  # doctest: +SKIP
        0

        Raises
        ------
        InputError
            Missing columns, unknown type codes, unreadable times, or repeated ids (listing the rows).
        """
        from gridtools.errors import rows_where

        needed = {type_col: "type_col", time_col: "time_col"}
        optional = {"lon": lon, "lat": lat, "id_col": id_col, "description_col": description_col}
        needed.update({col: name for name, col in optional.items() if col})
        validate.require_columns(table, needed, table.attrs.get("source", "events"))
        if id_col:
            self._refuse_repeated_ids(table, id_col, dedupe)
        codes = table[type_col].astype(str).str.strip()
        known = {r["code"] for r in self._db.rows("SELECT code FROM event_types")}
        unknown = ~codes.isin(known).to_numpy()
        if unknown.any():
            raise InputError(
                f"unknown event type codes in {rows_where(unknown, table.index)} "
                f"(e.g. {codes[unknown].iloc[0]!r}); see 'gridtools incidents types'."
            )
        source_name = table.attrs.get("source", "events")
        times = pd.Series(timeparse.parse_column(table[time_col], column=time_col, source=source_name,
                                                 dayfirst=dayfirst, aware="local"))

        def column(name):
            if name and name in table.columns:
                values = table[name].astype(object).where(table[name].notna(), None)
                return [None if v == "" else v for v in values]
            return [None] * len(table)

        def number(name):
            if not name:
                return [None] * len(table)
            values = pd.to_numeric(table[name], errors="coerce")
            return [None if pd.isna(v) else float(v) for v in values]

        stamps = times.dt.strftime("%Y-%m-%d %H:%M:%S").tolist()
        external = [None if v is None else str(v) for v in column(id_col)]
        rows = list(zip(external, codes.tolist(), column(description_col), [source] * len(table),
                        number(lon), number(lat), column("grid_code"), column("community_code"),
                        column("street_code"), stamps, strict=True))
        with self._db.write(lock=_IMPORT_LOCK_KEY if id_col else None):
            self._refuse_repeats()
            case_of = self._known_external_ids(source, sorted({e for e in external if e is not None}))
            added = np.zeros(len(rows), dtype=bool)
            for i, key in enumerate(external):
                if key is None or key not in case_of:
                    added[i] = True
                    if key is not None:
                        case_of[key] = -1  # a later row with this id repeats this one
            fresh = [r for r, a in zip(rows, added, strict=True) if a]
            # the ids the database gave, whatever other writers do
            new_ids = self._db.insert_many(_INSERT_CASE, fresh, "cases")
            self._db.executemany(
                "INSERT INTO case_log (case_id, at, action, from_status, to_status, level, actor) "
                "VALUES (?, ?, 'report', NULL, 'reported', 'grid', ?)",
                [(int(i), r[-1], source) for i, r in zip(new_ids, fresh, strict=True)],
            )
        ids = np.zeros(len(rows), dtype=np.int64)
        ids[added] = new_ids
        for i, key in enumerate(external):
            if key is not None and case_of[key] == -1:
                case_of[key] = int(ids[i])
            if not added[i]:
                ids[i] = case_of[key]
        return ImportResult(ids, added)

    @staticmethod
    def _refuse_repeated_ids(table: pd.DataFrame, id_col: str, dedupe: bool) -> None:
        """Refuse ids repeated inside *table* (naming them and their rows) unless *dedupe* says to
        count each id once; ids recorded by an earlier run are not an error (a re-run adds nothing)."""
        from gridtools.identifiers import check_unique_keys

        named = table[id_col].notna() & (table[id_col].astype(str).str.strip() != "")  # rows without an id are new
        if not dedupe:
            check_unique_keys(table.loc[named].assign(**{id_col: table.loc[named, id_col].astype(str)}), id_col,
                              table.attrs.get("source", "events"))

    def _case(self, case_id: int, lock: bool = False) -> dict:
        # lock: inside a write transaction, so the status checked is the status updated
        row = self._db.one("SELECT * FROM cases WHERE case_id = ?" + (self._db.for_update() if lock else ""),
                           (int(case_id),))
        if row is None:
            raise InputError(f"no case {case_id} in {self.path}.")
        return row

    def _log(self, case_id, moment, action, before, after, level, actor=None, note=None):
        self._db.execute(
            "INSERT INTO case_log (case_id, at, action, from_status, to_status, level, actor, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (int(case_id), _text(moment), action, before, after, level, actor, note),
        )

    def _step(self, case_id, action, allowed, after, at, stamp_col=None, actor=None, note=None, **extra):
        moment = _time(at)
        with self._db.write():
            case = self._case(case_id, lock=True)
            if case["status"] not in allowed:
                raise StateError(
                    f"case {case_id} is {case['status']}: the step '{action}' needs a case that is "
                    f"{' or '.join(allowed)}. The loop is report -> register -> dispatch -> handle -> "
                    "verify -> close."
                )
            if moment < _time(case["reported_at"]):
                raise InputError(f"case {case_id}: {action} at {_text(moment)} is before its report "
                                 f"({case['reported_at']}).")
            sets = {"status": after, **extra}
            if stamp_col:
                sets[stamp_col] = _text(moment)
            self._db.execute(
                f"UPDATE cases SET {', '.join(f'{k} = ?' for k in sets)} WHERE case_id = ?",
                (*sets.values(), int(case_id)),
            )
            self._log(case_id, moment, action, case["status"], after, extra.get("level", case["level"]),
                      actor, note)
        return case, moment

    def register(self, case_id: int, *, at=None, accept: bool = True, actor=None, note=None) -> None:
        """Register a reported case, or reject it (``accept=False``: not a valid case; terminal)."""
        if accept:
            self._step(case_id, "register", ("reported",), "registered", at, "registered_at", actor, note)
        else:
            self._step(case_id, "reject", ("reported",), "rejected", at, "closed_at", actor, note,
                       resolution="rejected")

    def _deadline(self, type_code: str, start: dt.datetime) -> dt.datetime:
        hours, basis, _, _ = self._type(type_code)
        if basis == "calendar":
            return start + dt.timedelta(hours=hours)
        return self.calendar.add(start, hours)

    def dispatch(self, case_id: int, *, to: str | None = None, at=None, actor=None, note=None) -> None:
        """Send a registered case to the grid team (default) or a department; sets its deadline."""
        case = self._case(case_id)
        assignee = to or self._holder(case, case["level"])
        if assignee is None:
            raise InputError(f"case {case_id} has no grid_code (it lies outside every grid): dispatch it to a "
                             "department (to=...).")
        moment = _time(at)
        deadline = self._deadline(case["type_code"], moment)
        self._step(case_id, "dispatch", ("registered",), "dispatched", moment, "dispatched_at", actor, note,
                   assignee=assignee, deadline_at=_text(deadline))

    @staticmethod
    def _holder(case, level: str) -> str | None:
        code = {"grid": case["grid_code"], "community": case["community_code"], "street": case["street_code"]}[level]
        return f"{level}:{code}" if code else None

    def handle(self, case_id: int, *, at=None, actor=None, note=None) -> None:
        """The assignee reports the case handled."""
        self._step(case_id, "handle", ("dispatched",), "handled", at, "handled_at", actor, note)

    def verify(self, case_id: int, *, ok: bool = True, at=None, actor=None, note=None) -> None:
        """The supervisor checks on site: ``ok`` -> verified; otherwise back to the assignee (rework)."""
        if ok:
            self._step(case_id, "verify", ("handled",), "verified", at, "verified_at", actor, note)
        else:
            case = self._case(case_id)
            self._step(case_id, "rework", ("handled",), "dispatched", at, None, actor, note,
                       reworks=int(case["reworks"]) + 1, handled_at=None)

    def close_case(self, case_id: int, *, at=None, actor=None, note=None) -> None:
        """Close a verified case."""
        self._step(case_id, "close", ("verified",), "closed", at, "closed_at", actor, note, resolution="solved")

    # ----------------------------------------------------------------------------------------
    # supervision

    def cases(self) -> pd.DataFrame:
        """All cases, one row each."""
        return self._db.frame("SELECT * FROM cases ORDER BY case_id")

    def log(self, case_id: int | None = None) -> pd.DataFrame:
        """The time-stamped steps of one case (or all)."""
        if case_id is None:
            return self._db.frame("SELECT * FROM case_log ORDER BY log_id")
        return self._db.frame("SELECT * FROM case_log WHERE case_id = ? ORDER BY log_id", (int(case_id),))

    def overdue(self, now=None) -> pd.DataFrame:
        """Open cases past a limit at *now*: not dispatched in time, or not handled by the deadline.

        Reported/registered cases are due ``settings.incident_dispatch_minutes`` after the report
        (``incident_dispatch_minutes_urgent`` for urgent types); dispatched cases at their
        deadline.  Handled cases wait for verification and are not counted.

        Returns
        -------
        pandas.DataFrame
            The cases with ``stage`` (``dispatch`` or ``handling``), ``due_at`` and
            ``overdue_hours`` (calendar hours), most overdue first.
        """
        moment = _time(now)
        cases = self._db.frame(
            "SELECT c.*, t.urgent FROM cases c JOIN event_types t ON t.code = c.type_code "
            "WHERE c.status IN ('reported', 'registered', 'dispatched') ORDER BY c.case_id"
        )
        if cases.empty:
            return cases.drop(columns="urgent").assign(stage=[], due_at=[], overdue_hours=[])
        limit = np.where(cases["urgent"].astype(bool), settings.incident_dispatch_minutes_urgent,
                         settings.incident_dispatch_minutes)
        waiting = (cases["status"] != "dispatched").to_numpy()
        dispatch_due = pd.to_datetime(cases["reported_at"]) + pd.to_timedelta(limit, unit="min")
        due = dispatch_due.where(waiting, pd.to_datetime(cases["deadline_at"]))
        over = (due < pd.Timestamp(moment)).to_numpy()
        out = cases[over].drop(columns="urgent").copy()
        out["stage"] = np.where(waiting[over], "dispatch", "handling")
        out["due_at"] = due[over].dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy()
        out["overdue_hours"] = ((pd.Timestamp(moment) - due[over]).dt.total_seconds() / 3600).round(3).to_numpy()
        return out.sort_values("overdue_hours", ascending=False).reset_index(drop=True)

    def escalate(self, now=None, *, actor: str = "supervision") -> list[int]:
        """Move cases overdue in handling up one level (grid -> community -> street).

        The case goes to the holder of the next level with a fresh deadline counted from *now*;
        a case already at street level stays there (it remains in :meth:`overdue`).

        Returns
        -------
        list of int
            Escalated case ids.
        """
        moment = _time(now)
        late = self.overdue(moment)
        late = late[(late["stage"] == "handling") & (late["status"] == "dispatched") & (late["level"] != "street")]
        moved = []
        for case_id in late["case_id"].astype(int):
            case = self._case(case_id)
            level = LEVELS[LEVELS.index(case["level"]) + 1]
            holder = self._holder(case, level) or case["assignee"]
            deadline = self._deadline(case["type_code"], moment)
            self._step(case_id, "escalate", ("dispatched",), "dispatched", moment, None, actor,
                       f"overdue: to {holder}", level=level, assignee=holder, deadline_at=_text(deadline),
                       escalations=int(case["escalations"]) + 1)
            moved.append(case_id)
        return moved

    def grid_stats(self, now=None) -> pd.DataFrame:
        """Per grid: cases, closed, share solved inside the grid, time to close, on-time share.

        Returns
        -------
        pandas.DataFrame
            Index ``grid_code``; columns ``cases``, ``open``, ``closed``, ``rejected``,
            ``solved_in_grid`` (closed without escalation), ``share_solved_in_grid`` (of closed),
            ``median_hours_to_close`` / ``mean_hours_to_close`` (report to close, calendar hours),
            ``on_time_share`` (closed cases handled by their deadline), ``overdue_now``.
        """
        cases = self.cases()
        if cases.empty:
            return pd.DataFrame()
        cases["grid_code"] = cases["grid_code"].fillna("(outside grids)")
        closed = cases["status"] == "closed"
        hours = (pd.to_datetime(cases["closed_at"]) - pd.to_datetime(cases["reported_at"])).dt.total_seconds() / 3600
        on_time = pd.to_datetime(cases["handled_at"]) <= pd.to_datetime(cases["deadline_at"])
        frame = pd.DataFrame({
            "grid_code": cases["grid_code"],
            "cases": 1,
            "open": cases["status"].isin(_OPEN).astype(int),
            "closed": closed.astype(int),
            "rejected": (cases["status"] == "rejected").astype(int),
            "solved_in_grid": (closed & (cases["escalations"] == 0)).astype(int),
            "hours": hours.where(closed),
            "on_time": on_time.where(closed).astype(float),
        })
        grouped = frame.groupby("grid_code")
        stats = grouped[["cases", "open", "closed", "rejected", "solved_in_grid"]].sum()
        stats["share_solved_in_grid"] = (stats["solved_in_grid"] / stats["closed"]).where(stats["closed"] > 0)
        stats["median_hours_to_close"] = grouped["hours"].median()
        stats["mean_hours_to_close"] = grouped["hours"].mean()
        stats["on_time_share"] = grouped["on_time"].mean()
        late = self.overdue(now)
        late_counts = late.assign(grid_code=late["grid_code"].fillna("(outside grids)")).groupby("grid_code").size()
        stats["overdue_now"] = late_counts.reindex(stats.index).fillna(0).astype(int)
        return stats


# the Open311 export lives in its own module; re-exported here, where it was first
from gridtools.incidents.open311 import open311_requests, open311_services
