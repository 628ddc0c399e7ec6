"""Who may see and do what in the grid-operations loop: role tokens and the rules on cases.

Roles: ``reporter`` (a grid worker or the public: reports, sees own reports), ``grid_head``
(sees and handles the cases of its grid), ``department`` (sees and handles its own cases),
``dispatcher`` (the command centre: sees everything; registers, rejects, dispatches, reassigns,
suspends / resumes / postpones, merges duplicates) and ``supervisor`` (sees everything; verifies,
sends back for rework, closes; assessment).  Tokens are random, stored as SHA-256 digests in
``incident_tokens`` of the case database, and can be revoked.

Examples
--------
>>> tokens = TokenStore(store.database)                                  # doctest: +SKIP
>>> token = tokens.issue("grid_head", "li", grid="32050901900200100")    # doctest: +SKIP
>>> tokens.authenticate(token)["grid"]                                    # doctest: +SKIP
'32050901900200100'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from gridtools.errors import GridtoolsError, InputError

__all__ = [
    "ACTIONS",
    "ROLES",
    "ConflictError",
    "ForbiddenError",
    "NotFoundError",
    "TokenStore",
    "can_see",
    "check_action",
    "visible_clause",
]

ROLES = ("reporter", "grid_head", "department", "dispatcher", "supervisor")
#: Which roles may take each step (grid heads and departments only on cases they may see).
ACTIONS = {
    "register": ("dispatcher",), "reject": ("dispatcher",), "dispatch": ("dispatcher",),
    "reassign": ("dispatcher",), "suspend": ("dispatcher",), "resume": ("dispatcher",),
    "postpone": ("dispatcher",), "merge": ("dispatcher",),
    "handle": ("grid_head", "department", "dispatcher"),
    "verify": ("supervisor",), "rework": ("supervisor",), "close": ("supervisor",),
}

_TOKENS = """
CREATE TABLE IF NOT EXISTS incident_tokens (
    token_hash TEXT PRIMARY KEY, role TEXT NOT NULL, name TEXT NOT NULL, grid_code TEXT, department TEXT,
    created_at TEXT NOT NULL, revoked_at TEXT
);
"""


class ForbiddenError(GridtoolsError):
    """The role may not do this."""


class NotFoundError(GridtoolsError):
    """No such case, or one the caller may not see (the two are not told apart)."""


class ConflictError(GridtoolsError):
    """The request conflicts with what is stored (an idempotency key reused with another body)."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """Role tokens kept in a :class:`gridtools.db.Database` (the case database).

    Parameters
    ----------
    db : gridtools.db.Database
    """

    def __init__(self, db):
        self.db = db
        db.create_tables(_TOKENS, lock=0x6772_6964_746F_6B6E)

    def issue(self, role: str, name: str, *, grid: str | None = None, department: str | None = None) -> str:
        """A new token for *role*; a grid head needs *grid*, a department handler *department*.

        Examples
        --------
        >>> TokenStore(db).issue("reporter", "zhang")                  # doctest: +SKIP
        'q3J...'
        """
        if role not in ROLES:
            raise InputError(f"role={role!r}: use one of {', '.join(ROLES)}.")
        if not (name or "").strip():
            raise InputError("name='' : a token needs the name of its holder.")
        if role == "grid_head" and not grid:
            raise InputError("a grid_head token needs grid='<grid code>' (--grid).")
        if role == "department" and not department:
            raise InputError("a department token needs department='<name>' (--department).")
        token = secrets.token_urlsafe(24)
        now = dt.datetime.now().isoformat(sep=" ", timespec="seconds")
        with self.db.write():
            self.db.execute("INSERT INTO incident_tokens (token_hash, role, name, grid_code, department, created_at) "
                            "VALUES (?, ?, ?, ?, ?, ?)", (_digest(token), role, name.strip(), grid, department, now))
        return token

    def authenticate(self, token: str | None) -> dict | None:
        """The holder ``{"role", "name", "grid", "department"}`` of a live token, else None."""
        if not token:
            return None
        row = self.db.one("SELECT role, name, grid_code, department FROM incident_tokens "
                          "WHERE token_hash = ? AND revoked_at IS NULL", (_digest(token),))
        if row is None:
            return None
        return {"role": row["role"], "name": row["name"], "grid": row["grid_code"], "department": row["department"]}

    def revoke(self, token: str) -> bool:
        """Revoke a token; True when it was live."""
        now = dt.datetime.now().isoformat(sep=" ", timespec="seconds")
        with self.db.write():
            cur = self.db.execute("UPDATE incident_tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
                                  (now, _digest(token)))
        return cur.rowcount > 0


def can_see(who: dict, case: dict) -> bool:
    """True when *who* may read *case* (and its photos).

    Examples
    --------
    >>> can_see({"role": "grid_head", "grid": "A"}, {"grid_code": "B", "assignee": "grid:B"})
    False
    """
    role = who["role"]
    if role in ("dispatcher", "supervisor"):
        return True
    if role == "grid_head":
        return case.get("grid_code") == who["grid"] or case.get("assignee") == f"grid:{who['grid']}"
    if role == "department":
        return case.get("department") == who["department"] or case.get("assignee") == f"department:{who['department']}"
    return case.get("reporter") == f"{who['role']}:{who['name']}"


def visible_clause(who: dict) -> tuple[str, tuple]:
    """The SQL condition (and parameters) selecting the cases *who* may see."""
    role = who["role"]
    if role in ("dispatcher", "supervisor"):
        return "1 = 1", ()
    if role == "grid_head":
        return "(grid_code = ? OR assignee = ?)", (who["grid"], f"grid:{who['grid']}")
    if role == "department":
        return "(department = ? OR assignee = ?)", (who["department"], f"department:{who['department']}")
    return "reporter = ?", (f"{who['role']}:{who['name']}",)


def check_action(who: dict, action: str, case: dict) -> None:
    """Raise unless *who* may take *action* on *case*.

    Raises
    ------
    NotFoundError
        The case is not one *who* may see (so its existence is not revealed).
    ForbiddenError
        The role may not take this step.
    """
    if not can_see(who, case):
        raise NotFoundError(f"no case {case.get('case_id')}")
    if action not in ACTIONS:
        raise InputError(f"unknown action {action!r}; use one of: {', '.join(ACTIONS)}")
    if who["role"] not in ACTIONS[action]:
        raise ForbiddenError(f"a {who['role']} may not {action} a case (that is for: {', '.join(ACTIONS[action])})")
