"""Who may see and do what in the grid-operations loop: role tokens and the rules on cases.

Roles: ``reporter`` (a grid worker or the public: reports, sees own reports), ``grid_head``
(sees and handles the cases of its grid), ``department`` (sees and handles its own cases),
``dispatcher`` (the command centre: sees everything; registers, rejects, dispatches, reassigns,
suspends / resumes / postpones, merges duplicates; manages the tokens) and ``supervisor`` (sees
everything; verifies, sends back for rework, closes; assessment).  Tokens are random, stored as
SHA-256 digests in ``case_tokens`` of the case database, expire, and can be listed, revoked and
rotated (:class:`TokenStore`, over the shared :class:`gridtools.tokens.TokenTable`).

Examples
--------
>>> tokens = TokenStore(store.database)                                  # doctest: +SKIP
>>> token = tokens.issue("grid_head", "li", grid="32050901900200100")    # doctest: +SKIP
>>> tokens.authenticate(token)["grid"]                                    # doctest: +SKIP
'32050901900200100'
"""

from __future__ import annotations

from gridtools.errors import GridtoolsError, InputError
from gridtools.tokens import TokenTable, utc_now

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

#: PostgreSQL advisory lock key of the token writers ("gridtokn").
TOKEN_LOCK = 0x6772_6964_746F_6B6E
#: The first release's table (digest as key, no id, no expiry): migrated into ``case_tokens``.
_OLD_TABLE = "incident_tokens"


class ForbiddenError(GridtoolsError):
    """The role may not do this."""


class NotFoundError(GridtoolsError):
    """No such case, or one the caller may not see (the two are not told apart)."""


class ConflictError(GridtoolsError):
    """The request conflicts with what is stored (an idempotency key reused with another body)."""


class TokenStore:
    """Role tokens kept in a :class:`gridtools.db.Database` (the case database), table ``case_tokens``.

    The lifecycle (expiry, revocation by id, rotation with a grace period, the list with last
    use) is :class:`gridtools.tokens.TokenTable`, the same as the dispatch service's; this class
    adds the roles of the grid-operations loop and their scope (a grid head's grid, a
    department's name).  A database of the first release (table ``incident_tokens``) has its
    tokens copied over when opened (they keep working, without expiry); the old table is
    renamed ``incident_tokens_migrated``.

    Parameters
    ----------
    db : gridtools.db.Database
    clock : callable, optional
        The current time (an aware datetime), for tests.
    """

    def __init__(self, db, clock=None):
        self.db = db
        self.table = TokenTable(db, "case_tokens", roles=ROLES, scope=("grid", "department"), lock=TOKEN_LOCK,
                                command="gridtools incidents token", clock=clock or utc_now)
        self._migrate()

    def _migrate(self) -> None:
        exists = ("SELECT to_regclass(?) IS NOT NULL" if self.db.postgres else
                  "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?")
        if not self.db.scalar(exists, (_OLD_TABLE,)):
            return
        with self.db.write(lock=TOKEN_LOCK) as con:
            if not con.execute(exists, (_OLD_TABLE,)).fetchone()[0]:
                return  # another process migrated it meanwhile
            con.execute(f"INSERT INTO case_tokens (hash, role, name, grid, department, created, revoked, revoked_at) "
                        f"SELECT token_hash, role, name, grid_code, department, created_at, "
                        f"CASE WHEN revoked_at IS NULL THEN 0 ELSE 1 END, revoked_at FROM {_OLD_TABLE} "
                        f"WHERE token_hash NOT IN (SELECT hash FROM case_tokens) ORDER BY created_at")
            con.execute(f"ALTER TABLE {_OLD_TABLE} RENAME TO {_OLD_TABLE}_migrated")

    def issue(self, role: str, name: str, *, grid: str | None = None, department: str | None = None,
              days: float | None = None) -> str:
        """A new token for *role*, valid *days* (default ``settings.service_token_days``; 0: no
        expiry); a grid head needs *grid*, a department handler *department*.

        Examples
        --------
        >>> TokenStore(db).issue("reporter", "zhang", days=30)         # doctest: +SKIP
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
        return self.table.issue(role, name, days, grid=grid, department=department)

    def issue_token(self, role: str, name: str, days: float | None = None, grid: str | None = None,
                    department: str | None = None) -> str:
        """:meth:`issue` with the signature the service's ``POST /tokens`` calls."""
        return self.issue(role, name, grid=grid, department=department, days=days)

    def authenticate(self, token: str | None) -> dict | None:
        """The holder ``{"id", "role", "name", "grid", "department", "expires"}`` of a live token, else None."""
        return self.table.authenticate(token)

    def refusal(self, token: str | None) -> str:
        """Why *token* is refused: unknown, expired (when), revoked (when) or replaced by a rotation."""
        return self.table.refusal(token)

    def holder(self, token_id: int) -> dict | None:
        """The holder of a live token by its id."""
        return self.table.holder(token_id)

    def tokens(self) -> list[dict]:
        """Every token: id, role, name, grid, department, created, expires, last_used, revoked (never a secret)."""
        return self.table.tokens()

    def revoke(self, token: str) -> bool:
        """Revoke a token given the token itself; True when it was live."""
        return self.table.revoke_secret(token)

    def revoke_token(self, token_id: int) -> bool:
        """Revoke a token by its id (:meth:`tokens`); False when no live token has that id."""
        return self.table.revoke(token_id)

    def rotate_token(self, token_id: int, days: float | None = None, grace_hours: float = 0.0) -> str:
        """A new token for the holder of token *token_id*; the old one stops working now or after *grace_hours*."""
        return self.table.rotate(token_id, days, grace_hours)


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
