"""The states real case systems use beyond the six-step loop: suspend / resume with the clock
stopped, postpone with a reason, reassign, and the columns that count them.

:class:`CaseControls` is a mixin of :class:`gridtools.incidents.IncidentStore`; its steps go
through the store's one step transaction, so the status checked is the status changed and every
step is logged in ``case_log``.

States added::

    registered | dispatched | handled --suspend--> suspended --resume--> (the state it left)
    dispatched --postpone(hours, reason)--> dispatched   (deadline later, postponements + 1)
    dispatched --reassign(to, reason)-----> dispatched   (new assignee, same deadline, reassignments + 1)

Examples
--------
>>> store.suspend(12, reason="waiting for the power company", at="2026-11-23 10:00")   # doctest: +SKIP
>>> store.resume(12, at="2026-11-24 10:00")    # the deadline moves by the working time suspended  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt

from gridtools.errors import InputError

__all__ = ["EXTRA_COLUMNS", "SOURCES", "SUSPENDABLE", "CaseControls", "StateError"]

#: Columns of ``cases`` beyond the first schema; added to an older database when it is opened.
EXTRA_COLUMNS = {
    "suspended_at": "TEXT",
    "resume_status": "TEXT",
    "suspended_hours": "REAL NOT NULL DEFAULT 0",
    "postponements": "INTEGER NOT NULL DEFAULT 0",
    "reassignments": "INTEGER NOT NULL DEFAULT 0",
    "reporter": "TEXT",
    "dispatcher": "TEXT",
    "department": "TEXT",
    "component_code": "TEXT",
    "merged_into": "INTEGER",
    "media_url": "TEXT",
}
#: States a case may be suspended from.
SUSPENDABLE = ("registered", "dispatched", "handled")
#: Where a case came from (``source`` of a report made by a person or device).
SOURCES = ("inspector", "public", "hotline", "camera", "import")


class StateError(InputError):
    """A step the case's current state does not allow (HTTP 409)."""


def _reason(reason, action: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise InputError(f"{action} needs a reason (reason='...'): it is kept in the case log.")
    return text


class CaseControls:
    """Suspend, resume, postpone and reassign (mixed into :class:`~gridtools.incidents.IncidentStore`)."""

    def _shifted(self, type_code: str, deadline: dt.datetime, start: dt.datetime, end: dt.datetime) -> dt.datetime:
        """*deadline* moved by the time from *start* to *end*, counted as the type counts its hours."""
        _, basis, _, _ = self._type(type_code)
        if basis == "calendar":
            return deadline + (end - start)
        return self.calendar.add(deadline, self.calendar.hours_between(start, end))

    def suspend(self, case_id: int, *, reason: str, at=None, actor=None) -> None:
        """Stop the clock of a registered, dispatched or handled case (``suspended``), with a reason."""
        case = self._case(case_id)
        self._step(case_id, "suspend", SUSPENDABLE, "suspended", at, "suspended_at", actor,
                   _reason(reason, "suspend"), resume_status=case["status"])

    def resume(self, case_id: int, *, at=None, actor=None, note=None) -> None:
        """Restart a suspended case where it was; its deadline moves by the time it was suspended."""
        case = self._case(case_id)
        if case["status"] != "suspended":
            raise StateError(f"case {case_id} is {case['status']}: only a suspended case can be resumed.")
        start = dt.datetime.fromisoformat(case["suspended_at"])
        moment = self._moment(at)
        extra = {"suspended_hours": float(case["suspended_hours"] or 0) + (moment - start).total_seconds() / 3600,
                 "suspended_at": None, "resume_status": None}
        if case["deadline_at"]:
            deadline = self._shifted(case["type_code"], dt.datetime.fromisoformat(case["deadline_at"]), start, moment)
            extra["deadline_at"] = deadline.isoformat(sep=" ", timespec="seconds")
        self._step(case_id, "resume", ("suspended",), case["resume_status"], moment, None, actor, note, **extra)

    def postpone(self, case_id: int, *, hours: float, reason: str, at=None, actor=None) -> None:
        """Give a dispatched case *hours* more (in the type's working or calendar hours), with a reason."""
        if not hours or float(hours) <= 0:
            raise InputError(f"postpone needs hours > 0 (hours={hours!r}).")
        case = self._case(case_id)
        if not case["deadline_at"]:
            raise StateError(f"case {case_id} is {case['status']}: only a dispatched case has a deadline to postpone.")
        old = dt.datetime.fromisoformat(case["deadline_at"])
        _, basis, _, _ = self._type(case["type_code"])
        new = old + dt.timedelta(hours=float(hours)) if basis == "calendar" else self.calendar.add(old, float(hours))
        self._step(case_id, "postpone", ("dispatched",), "dispatched", at, None, actor,
                   f"{_reason(reason, 'postpone')} (+{float(hours):g} h)",
                   deadline_at=new.isoformat(sep=" ", timespec="seconds"),
                   postponements=int(case["postponements"] or 0) + 1)

    def reassign(self, case_id: int, *, to: str, reason: str, at=None, actor=None) -> None:
        """Send a dispatched case to another assignee (a wrong dispatch); the deadline is kept."""
        if not (to or "").strip():
            raise InputError("reassign needs the new assignee (to='department:...').")
        case = self._case(case_id)
        self._step(case_id, "reassign", ("dispatched",), "dispatched", at, None, actor,
                   f"{_reason(reason, 'reassign')} (from {case['assignee']})", assignee=to.strip(),
                   reassignments=int(case["reassignments"] or 0) + 1)

    def route_new(self, case_id: int, *, assignee: str | None, department: str | None = None,
                  component_code: str | None = None, reporter: str | None = None, media_url: str | None = None,
                  at=None, actor: str = "auto") -> dict:
        """Register a new report and send it to *assignee* in one transaction (the automatic work order).

        Without an assignee (a point outside every grid, no component) the case is only registered:
        the dispatcher decides.  A case already past ``reported`` is left as it is (a retried
        report), so this is safe to repeat.

        Returns
        -------
        dict
            The case after the step.
        """
        moment = self._moment(at)
        with self.database.write():
            return self.route_in_transaction(case_id, moment, assignee=assignee, department=department,
                                             component_code=component_code, reporter=reporter, media_url=media_url,
                                             actor=actor)

    def route_in_transaction(self, case_id: int, moment: dt.datetime, *, assignee: str | None,
                             department: str | None = None, component_code: str | None = None,
                             reporter: str | None = None, media_url: str | None = None, actor: str = "auto") -> dict:
        """The step of :meth:`route_new`, inside a write transaction the caller holds."""
        case = self._case(case_id, lock=True)
        if case["status"] != "reported":
            return case
        stamp = moment.isoformat(sep=" ", timespec="seconds")
        sets = {"status": "registered", "registered_at": stamp, "department": department,
                "component_code": component_code, "reporter": reporter or case["reporter"], "media_url": media_url}
        if assignee:
            deadline = self._deadline(case["type_code"], moment).isoformat(sep=" ", timespec="seconds")
            sets.update(status="dispatched", dispatched_at=stamp, assignee=assignee, deadline_at=deadline,
                        dispatcher=actor)
        self.database.execute(f"UPDATE cases SET {', '.join(f'{k} = ?' for k in sets)} WHERE case_id = ?",
                              (*sets.values(), int(case_id)))
        self._log(case_id, moment, "register", "reported", "registered", "grid", actor, None)
        if assignee:
            self._log(case_id, moment, "dispatch", "registered", "dispatched", "grid", actor, f"to {assignee}")
        return self._case(case_id)

    def case(self, case_id: int) -> dict:
        """One case as a dict (every column of ``cases``).

        Raises
        ------
        InputError
            No such case.

        Examples
        --------
        >>> store.case(12)["status"]                          # doctest: +SKIP
        'dispatched'
        """
        return self._case(case_id)

    def close_as_duplicate(self, case_id: int, *, into: int, at=None, actor=None) -> None:
        """Close an open case as a duplicate of case *into* (``resolution='duplicate'``, ``merged_into``)."""
        open_states = ("reported", "registered", "dispatched", "handled", "verified", "suspended")
        _, moment = self._step(case_id, "merge", open_states, "closed", at, "closed_at", actor,
                               f"duplicate of case {int(into)}", resolution="duplicate", merged_into=int(into))
        with self.database.write():
            self._log(int(into), moment, "absorb", None, None, None, actor, f"case {int(case_id)} merged in")

    def add_missing_columns(self) -> None:
        """Add :data:`EXTRA_COLUMNS` missing from an older database's ``cases`` table."""
        db = self.database
        if db.postgres:
            have = {r["column_name"] for r in db.rows(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'cases' "
                "AND table_schema = current_schema()")}
        else:
            have = {r["name"] for r in db.rows("PRAGMA table_info(cases)")}
        missing = {k: v for k, v in EXTRA_COLUMNS.items() if k not in have}
        if missing:
            with db.write(lock=0x6772_6964_6361_7365):
                for name, kind in missing.items():
                    kind = kind.replace("REAL", "DOUBLE PRECISION").replace("INTEGER", "BIGINT") if db.postgres else kind
                    db.execute(f"ALTER TABLE cases ADD COLUMN {'IF NOT EXISTS ' if db.postgres else ''}{name} {kind}")
                # the lists of reporters and departments select by these
                db.execute("CREATE INDEX IF NOT EXISTS cases_reporter ON cases(reporter)")
                db.execute("CREATE INDEX IF NOT EXISTS cases_department ON cases(department)")
