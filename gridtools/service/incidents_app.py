"""The grid-operations HTTP service (FastAPI): the incident loop for phones, pages and other city
systems, a thin shell over :class:`gridtools.incidents.operations.GridOperations`.

Built with :func:`gridtools.service.factory.new_service`, like the dispatch service, so it has the
same guarantees: per-token rate limits and a limit on wrong tokens per address (429), a request
timeout (503 with ``Retry-After``, never a hang), a body limit (64 KB; photos 5 MB), JSON errors
for every status including 500 (never a trace or a path), security headers on every response,
``/health`` on the event loop (nothing but ``{"status": "ok"}`` without an administrator token),
all store work in bounded worker pools (503 when full), and the token endpoints (``/tokens``:
issue, list, revoke, rotate; the dispatcher manages them).

Routers: cases (``/incidents/...``), attachments, Open311 GeoReport v2 (``/open311/v2/``) and the
phone pages (``/incidents/pages/...``).  Errors are JSON ``{"detail": message, "error": kind}``:
401 no/unknown/expired/revoked token, 403 not allowed, 404 unknown case (or one the caller may not
see), 409 wrong state or an idempotency key reused, 413 too large, 422 bad input, 429 too many
requests, 503 busy.  Open311 errors follow the spec: ``[{"code", "description"}]``.

Run with ``gridtools incidents serve``.
"""

from __future__ import annotations

import re
from typing import Literal

from gridtools.errors import GridtoolsError, InputError, missing_dependency

try:
    from fastapi import FastAPI
    from pydantic import BaseModel, Field
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_dependency("fastapi", "service") from exc

from gridtools.incidents.access import ConflictError, ForbiddenError, NotFoundError
from gridtools.incidents.operations import MAX_ATTACHMENT_BYTES
from gridtools.incidents.states import StateError

__all__ = ["IncidentTokenIn", "create_incidents_app", "include_incident_routes", "open_operations", "status_of"]


_STATUS = ((ForbiddenError, 403), (NotFoundError, 404), (ConflictError, 409), (StateError, 409), (InputError, 422))
_PHOTO_UPLOAD = re.compile(r"^/incidents/cases/[^/]+/attachments/?$")
#: A photo upload may take this long (a phone on a slow link sends 5 MB).
PHOTO_TIMEOUT_S = 180.0


class IncidentTokenIn(BaseModel):
    """The body of ``POST /tokens`` on this service."""

    role: Literal["reporter", "grid_head", "department", "dispatcher", "supervisor"] = "reporter"
    name: str = Field(min_length=1, max_length=200)
    days: float | None = Field(None, ge=0, le=3650, description="validity in days (default 90; 0: no expiry)")
    grid: str | None = Field(None, max_length=64, description="grid_head: the grid code")
    department: str | None = Field(None, max_length=200, description="department: its name")


def status_of(exc: GridtoolsError) -> int:
    """The HTTP status of a library error.

    Examples
    --------
    >>> status_of(NotFoundError("no case 7"))
    404
    """
    return next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)


def open311_errors(path: str, status: int, detail: str, kind: str):
    """Open311 GeoReport v2 errors, ``[{"code", "description"}]``, on ``/open311/`` paths (None elsewhere).

    Examples
    --------
    >>> open311_errors("/open311/v2/requests.json", 401, "api_key missing", "Unauthorized")
    [{'code': 401, 'description': 'api_key missing'}]
    """
    return [{"code": status, "description": detail}] if path.startswith("/open311/") else None


def route_limits(method: str, path: str):
    """``(max body bytes, timeout s)`` of a photo upload (5 MB, :data:`PHOTO_TIMEOUT_S`); None elsewhere.

    Examples
    --------
    >>> route_limits("POST", "/incidents/cases/7/attachments")[0] > 5_000_000
    True
    """
    if method == "POST" and _PHOTO_UPLOAD.match(path):
        return MAX_ATTACHMENT_BYTES + 1, PHOTO_TIMEOUT_S
    return None


def open_operations(db, grids, components=None):
    """A :class:`GridOperations` on the case database *db* (created if missing), grids and register.

    Examples
    --------
    >>> ops = open_operations("cases.sqlite", io.read_any("grids.gpkg", layer="grids"))   # doctest: +SKIP
    """
    from gridtools.incidents import IncidentStore
    from gridtools.incidents.operations import GridOperations
    from gridtools.incidents.routing import ReportRouter

    register = None
    if components is not None:
        from gridtools.components import open_store

        register = open_store(components, create=False)
    # WAL + synchronous FULL: each commit is one fsync and survives kill -9 and power cuts alike
    return GridOperations(IncidentStore(db, journal_mode="WAL"), ReportRouter(grids, register))


def include_incident_routes(svc, ops) -> None:
    """Add the grid-operations routers to the :class:`~gridtools.service.factory.Service` *svc*."""
    from gridtools.service import (
        incidents_attachments,
        incidents_cases,
        incidents_open311,
        incidents_pages,
    )

    svc.app.state.incidents = ops
    svc.app.state.service = svc
    for module in (incidents_attachments, incidents_cases, incidents_open311, incidents_pages):  # photos before steps
        svc.app.include_router(module.router)


def create_incidents_app(ops) -> FastAPI:
    """The FastAPI app serving one :class:`GridOperations`, on the shared service stack.

    Examples
    --------
    >>> app = create_incidents_app(open_operations("cases.sqlite", grids))     # doctest: +SKIP
    """
    from gridtools.service.factory import new_service

    svc = new_service("gridtools grid operations", ops.tokens, version="1", admin_role="dispatcher",
                      description="Field reports, work orders to the grid or department, the six-step loop, photos, "
                                  "duplicates, assessment; Open311 GeoReport v2 at /open311/v2/; tokens at /tokens.",
                      status_of=status_of, error_body=open311_errors, route_limits=route_limits,
                      token_in=IncidentTokenIn)
    include_incident_routes(svc, ops)
    return svc.app
