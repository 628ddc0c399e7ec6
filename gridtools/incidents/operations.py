"""The grid-operations loop as one object the service calls: reports in (routed, idempotent,
duplicates suggested), steps by role, cases and photos by visibility, the dispatcher's board.

:class:`GridOperations` joins an :class:`~gridtools.incidents.IncidentStore`, a
:class:`~gridtools.incidents.routing.ReportRouter` and the role tokens
(:class:`~gridtools.incidents.access.TokenStore`); every rule of who may see or do what is in
:mod:`gridtools.incidents.access`, so the HTTP layer only translates.

Examples
--------
>>> ops = GridOperations(IncidentStore("cases.sqlite"), ReportRouter(grids))            # doctest: +SKIP
>>> who = ops.tokens.authenticate(token)                                                 # doctest: +SKIP
>>> case, created = ops.submit_report(who, "0104", 120.605, 31.305, crs="gcj02", key="r-1")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from gridtools.errors import InputError
from gridtools.incidents.access import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    TokenStore,
    can_see,
    check_action,
    visible_clause,
)
from gridtools.incidents.duplicates import (
    merge_duplicate,
    merged_reporters,
    suggest_duplicates,
)

__all__ = ["ATTACHMENT_TYPES", "CASE_FIELDS", "MAX_ATTACHMENT_BYTES", "STEPS", "GridOperations", "take_step"]

#: Photo types accepted, by their first bytes (the declared type is not trusted).
ATTACHMENT_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
#: Columns of a case shown to callers.
CASE_FIELDS = ("case_id", "type_code", "description", "source", "lon", "lat", "grid_code", "community_code",
               "street_code", "status", "level", "assignee", "department", "component_code", "reporter",
               "reported_at", "registered_at", "dispatched_at", "handled_at", "verified_at", "closed_at",
               "deadline_at", "escalations", "reworks", "postponements", "reassignments", "suspended_hours",
               "resolution", "merged_into", "media_url")
_ATTACHMENTS = """
CREATE TABLE IF NOT EXISTS case_attachments (
    attachment_id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL REFERENCES cases(case_id),
    media_type TEXT NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL,
    uploaded_by TEXT, uploaded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attachments_case ON case_attachments(case_id);
"""
_REPORTER_SOURCE = {"reporter": "public", "grid_head": "inspector", "department": "inspector",
                    "dispatcher": "hotline", "supervisor": "inspector"}


def _public(case: dict) -> dict:
    return {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in case.items() if k in CASE_FIELDS}


def _holder(who: dict) -> str:
    return f"{who['role']}:{who['name']}"


class GridOperations:
    """Reports, steps, cases and photos with the role rules applied.

    Parameters
    ----------
    store : IncidentStore
    router : ReportRouter
    """

    def __init__(self, store, router):
        self.store = store
        self.router = router
        self.tokens = TokenStore(store.database)
        store.database.create_tables(_ATTACHMENTS, lock=0x6772_6964_6174_6368)

    # -- reports ---------------------------------------------------------------------------------
    def submit_report(self, who: dict, type_code: str, lon, lat, *, crs: str = "wgs84", description: str = "",
                      component_code: str | None = None, source: str | None = None, key: str | None = None,
                      media_url: str | None = None, at=None) -> tuple[dict, bool]:
        """Record a report, route it and send the work order; ``(case, created)``.

        *key* (an idempotency key, per token holder) makes a retry return the first case
        (``created`` False) and finish its routing if a crash interrupted it; the same key with
        another report is a :class:`ConflictError`.
        """
        if who["role"] not in ("reporter", "grid_head", "dispatcher"):
            raise ForbiddenError(f"a {who['role']} may not file reports")
        description = str(description or "")
        if media_url and not str(media_url).lower().startswith(("http://", "https://")):
            raise InputError("media_url: give an http:// or https:// address.")
        if len(description) > 4000:
            raise InputError("description: at most 4000 characters.")
        route = self.router.route(lon, lat, crs=crs, component_code=component_code or None)
        holder = _holder(who)
        external = f"{holder}:{key}" if key else None
        source = source or _REPORTER_SOURCE[who["role"]]
        # a key names one report of its holder whatever else the retry says (its holder is in the id)
        known = self.store.database.scalar("SELECT MIN(case_id) FROM cases WHERE external_id = ?",
                                           (external,)) if external else None
        routing = {"assignee": route.assignee, "department": route.department,
                   "component_code": route.component_code, "reporter": holder, "media_url": media_url}
        if known is None:
            case_id = self.store.report(type_code, at=at, lon=route.lon, lat=route.lat, grid_code=route.grid_code,
                                        community_code=route.community_code, street_code=route.street_code,
                                        description=description, source=source, external_id=external,
                                        reporter=holder, route=routing)
        else:
            case_id = int(known)
        case = self.store.case(case_id)
        created = known is None
        if external and (case["type_code"] != str(type_code) or (case["description"] or "") != description
                         or abs(case["lon"] - route.lon) > 1e-7 or abs(case["lat"] - route.lat) > 1e-7):
            raise ConflictError(f"idempotency key {key!r} was used for another report (case {case_id})")
        if case["status"] == "reported":  # filed before routing was part of the report's transaction
            case = self.store.route_new(case_id, **routing, at=at)
        return _public(case), created

    # -- reading ---------------------------------------------------------------------------------
    def case(self, who: dict, case_id: int) -> dict:
        """One case *who* may see, with its log, attachments, merged reports and (dispatchers) duplicates."""
        out = _public(self.case_row(who, case_id))
        out["log"] = self.store.log(case_id)[["at", "action", "from_status", "to_status", "actor", "note"]] \
            .astype(object).where(lambda f: f.notna(), None).to_dict("records")
        out["attachments"] = self.attachments(who, case_id)
        out["reports"] = merged_reporters(self.store, case_id).astype(object).to_dict("records")
        if who["role"] in ("dispatcher", "supervisor"):
            out["duplicate_of"] = suggest_duplicates(self.store, case_id).astype(object).to_dict("records")
        return out

    def cases(self, who: dict, *, status: str | None = None, limit: int = 200, offset: int = 0) -> list[dict]:
        """The cases *who* may see, newest first (a page of *limit* from *offset*)."""
        where, params = visible_clause(who)
        if status:
            where += " AND status = ?"
            params += (status,)
        limit, offset = max(1, min(int(limit), 5000)), max(0, min(int(offset), 2**62))
        rows = self.store.database.rows(f"SELECT {', '.join(CASE_FIELDS)} FROM cases WHERE {where} "
                                        f"ORDER BY case_id DESC LIMIT {limit} OFFSET {offset}", params)
        return [_public(r) for r in rows]

    def board(self, who: dict, now=None) -> dict:
        """The dispatcher's board: unrouted cases, overdue cases and duplicate suggestions."""
        if who["role"] not in ("dispatcher", "supervisor"):
            raise ForbiddenError("the board is for dispatchers and supervisors")
        late = self.store.overdue(now)
        fresh = self.cases(who, status="registered", limit=500)
        recent = self.cases(who, limit=300)
        pairs = []
        for case in recent:
            if case["status"] not in ("closed", "rejected"):
                for dup in suggest_duplicates(self.store, case["case_id"]).itertuples():
                    if dup.case_id < case["case_id"]:
                        pairs.append({"case_id": case["case_id"], "duplicate_of": int(dup.case_id),
                                      "distance_m": float(dup.distance_m), "hours_apart": float(dup.hours_apart)})
        overdue = late[["case_id", "type_code", "grid_code", "status", "assignee", "stage", "due_at",
                        "overdue_hours"]].astype(object).where(late.notna(), None).to_dict("records") if len(late) else []
        return {"unrouted": fresh, "overdue": overdue, "duplicates": pairs}

    def event_types(self) -> list[dict]:
        """The event types a report may name (code, names, deadline, basis)."""
        table = self.store.types()
        return table[["code", "major_zh", "major_en", "name_zh", "name_en", "deadline_hours", "basis"]].to_dict("records")

    def assessment(self, who: dict, subject: str, start: str, end: str, compare: bool = False) -> list[dict]:
        """The assessment per *subject* over ``start``..``end`` (:func:`gridtools.incidents.assess.assess`),
        as records with None for missing figures; for supervisors and dispatchers only."""
        from gridtools.incidents.assess import assess

        if who["role"] not in ("supervisor", "dispatcher"):
            raise ForbiddenError("assessment is for supervisors and dispatchers")
        frame = assess(self.store, subject, period=(start, end), compare=compare).reset_index().astype(object)
        return frame.where(frame.notna(), None).to_dict("records")

    def grids_geojson(self) -> dict:
        """The grid polygons (code and shape, WGS-84) as a GeoJSON FeatureCollection, for the pages' map."""
        import json

        return json.loads(self.router.grids[["grid_code", "geometry"]].to_crs(4326).to_json())

    def open311_service(self, code: str) -> dict:
        """The Open311 service definition of event type *code* (:class:`NotFoundError` when unknown)."""
        from gridtools.incidents.open311 import open311_services

        if code not in {s["service_code"] for s in open311_services(self.store)}:
            raise NotFoundError(f"no service {str(code)[:20]!r}")
        return {"service_code": code, "attributes": []}

    # -- steps -----------------------------------------------------------------------------------
    def act(self, who: dict, case_id: int, action: str, *, to: str | None = None, reason: str | None = None,
            hours: float | None = None, into: int | None = None, note: str | None = None, at=None) -> dict:
        """Take one step on a case as *who* (the role rules of :data:`gridtools.incidents.access.ACTIONS`)."""
        try:
            case = self.store.case(case_id)
        except InputError:
            raise NotFoundError(f"no case {case_id}") from None
        check_action(who, action, case)
        actor = _holder(who)
        if action == "handle" and who["role"] in ("grid_head", "department") and case["assignee"] not in (
                f"grid:{who['grid']}", f"department:{who['department']}"):
            raise ForbiddenError(f"case {case_id} is assigned to {case['assignee']}, not to you")
        store = self.store
        take_step(store, case_id, action, to=to, reason=reason, hours=hours, into=into, note=note, at=at, actor=actor)
        if action == "dispatch":
            store.database.execute("UPDATE cases SET dispatcher = ? WHERE case_id = ?", (actor, int(case_id)))
        return _public(store.case(case_id))

    # -- photos ----------------------------------------------------------------------------------
    def add_attachment(self, who: dict, case_id: int, data: bytes) -> dict:
        """Store a photo (JPEG or PNG, checked by its bytes, at most 5 MB) with a case *who* may see."""
        self.case_row(who, case_id)
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise InputError(f"photo too large: {len(data):,} bytes (at most {MAX_ATTACHMENT_BYTES:,}).")
        kind = next((t for magic, t in ATTACHMENT_TYPES.items() if data.startswith(magic)), None)
        if kind is None:
            raise InputError("not a JPEG or PNG photo (judged by its first bytes).")
        now = dt.datetime.now().isoformat(sep=" ", timespec="seconds")
        with self.store.database.write():
            row = self.store.database.one(
                "INSERT INTO case_attachments (case_id, media_type, size, data, uploaded_by, uploaded_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING attachment_id", (int(case_id), kind, len(data), data,
                                                                      _holder(who), now))
        return {"attachment_id": int(row["attachment_id"]), "case_id": int(case_id), "media_type": kind,
                "size": len(data)}

    def attachments(self, who: dict, case_id: int) -> list[dict]:
        """The photos of a case and of the cases merged into it (metadata, no bytes)."""
        self.case_row(who, case_id)
        return self.store.database.rows(
            "SELECT attachment_id, case_id, media_type, size, uploaded_at FROM case_attachments WHERE case_id = ? "
            "OR case_id IN (SELECT case_id FROM cases WHERE merged_into = ?) ORDER BY attachment_id",
            (int(case_id), int(case_id)))

    def attachment(self, who: dict, attachment_id: int) -> tuple[str, bytes]:
        """``(media type, bytes)`` of a photo whose case (or the case it was merged into) *who* may see."""
        row = self.store.database.one("SELECT case_id, media_type, data FROM case_attachments WHERE attachment_id = ?",
                                      (int(attachment_id),))
        if row is None:
            raise NotFoundError(f"no attachment {attachment_id}")
        case = self.store.case(row["case_id"])
        if not (can_see(who, case) or (case["merged_into"] and can_see(who, self.store.case(case["merged_into"])))):
            raise NotFoundError(f"no attachment {attachment_id}")
        return row["media_type"], bytes(row["data"])

    def case_row(self, who: dict, case_id: int) -> dict:
        """The stored case, if *who* may see it (else :class:`NotFoundError`)."""
        try:
            case = self.store.case(case_id)
        except InputError:
            raise NotFoundError(f"no case {case_id}") from None
        if not can_see(who, case):
            raise NotFoundError(f"no case {case_id}")
        return case


#: Every step :func:`take_step` knows, in loop order.
STEPS = ("register", "reject", "dispatch", "handle", "verify", "rework", "close", "suspend", "resume", "postpone",
         "reassign", "merge")


def take_step(store, case_id: int, action: str, *, to=None, reason=None, hours=None, into=None, note=None, at=None,
              actor=None) -> None:
    """Take the step named *action* (one of :data:`STEPS`) on a case, with no role check.

    Examples
    --------
    >>> take_step(store, 12, "postpone", hours=4, reason="rain")      # doctest: +SKIP
    """
    steps = {
        "register": lambda: store.register(case_id, at=at, actor=actor, note=note),
        "reject": lambda: store.register(case_id, accept=False, at=at, actor=actor, note=note or reason),
        "dispatch": lambda: store.dispatch(case_id, to=to, at=at, actor=actor, note=note),
        "handle": lambda: store.handle(case_id, at=at, actor=actor, note=note),
        "verify": lambda: store.verify(case_id, at=at, actor=actor, note=note),
        "rework": lambda: store.verify(case_id, ok=False, at=at, actor=actor, note=note or reason),
        "close": lambda: store.close_case(case_id, at=at, actor=actor, note=note),
        "suspend": lambda: store.suspend(case_id, reason=reason, at=at, actor=actor),
        "resume": lambda: store.resume(case_id, at=at, actor=actor, note=note),
        "postpone": lambda: store.postpone(case_id, hours=hours, reason=reason, at=at, actor=actor),
        "reassign": lambda: store.reassign(case_id, to=to, reason=reason, at=at, actor=actor),
        "merge": lambda: merge_duplicate(store, case_id, into=_int(into, "into"), at=at, actor=actor),
    }
    if action not in steps:
        raise InputError(f"unknown action {action!r}; use one of: {', '.join(STEPS)}")
    steps[action]()


def _int(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: give a case id.") from None
