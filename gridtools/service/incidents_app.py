"""The grid-operations HTTP service (FastAPI): the incident loop for phones, pages and other city
systems, a thin shell over :class:`gridtools.incidents.operations.GridOperations`.

Routers: cases (``/incidents/...``), attachments, Open311 GeoReport v2 (``/open311/v2/``) and the
phone pages (``/incidents/pages/...``).  Errors are JSON ``{"detail": message, "error": kind}``:
401 no/unknown token, 403 not allowed, 404 unknown case (or one the caller may not see), 409
wrong state or an idempotency key reused, 413 too large, 422 bad input; 500 says only "internal
error" (never a trace or a path).  Open311 errors follow the spec: ``[{"code", "description"}]``.

Run with ``gridtools incidents serve``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from gridtools.errors import GridtoolsError, InputError, missing_dependency

try:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_dependency("fastapi", "service") from exc

from gridtools.incidents.access import ConflictError, ForbiddenError, NotFoundError
from gridtools.incidents.states import StateError
from gridtools.service.incidents_auth import TooLarge, Unauthorized

__all__ = ["create_incidents_app", "include_incident_routes", "open_operations", "status_of"]


_STATUS = ((Unauthorized, 401), (ForbiddenError, 403), (NotFoundError, 404), (ConflictError, 409), (StateError, 409),
           (TooLarge, 413), (InputError, 422))


def status_of(exc: GridtoolsError) -> int:
    """The HTTP status of a library error."""
    return next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)


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


def _is_open311(request: Request) -> bool:
    return request.url.path.startswith("/open311/")


def _error(request: Request, status: int, detail: str, kind: str, headers=None) -> JSONResponse:
    if _is_open311(request):
        return JSONResponse([{"code": status, "description": detail}], status_code=status, headers=headers)
    return JSONResponse({"detail": detail, "error": kind}, status_code=status, headers=headers)


def include_incident_routes(app: FastAPI, ops) -> None:
    """Add the grid-operations routes and error handlers to *app* (one app may serve dispatch too)."""
    from gridtools.service import (
        incidents_attachments,
        incidents_cases,
        incidents_open311,
        incidents_pages,
    )

    app.state.incidents = ops
    # one worker thread: store calls queue in order off the event loop (a connection per thread)
    app.state.incident_worker = ThreadPoolExecutor(1, thread_name_prefix="gridtools-incidents")
    for module in (incidents_attachments, incidents_cases, incidents_open311, incidents_pages):  # photos before steps
        app.include_router(module.router)

    @app.exception_handler(GridtoolsError)
    async def _gridtools_error(request: Request, exc: GridtoolsError):
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        return _error(request, status_of(exc), str(exc), type(exc).__name__, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg')}" for e in exc.errors()]
        return _error(request, 422, "; ".join(parts), "ValidationError")

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        return _error(request, exc.status_code, str(exc.detail), "HTTPError")

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):  # never a trace or a path to the client
        return _error(request, 500, "internal error", "InternalError")


def create_incidents_app(ops) -> FastAPI:
    """The FastAPI app serving one :class:`GridOperations`.

    Examples
    --------
    >>> app = create_incidents_app(open_operations("cases.sqlite", grids))     # doctest: +SKIP
    """
    app = FastAPI(title="gridtools grid operations", version="1",
                  description="Field reports, work orders to the grid or department, the six-step loop, photos, "
                              "duplicates, assessment; Open311 GeoReport v2 at /open311/v2/.")
    include_incident_routes(app, ops)

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    return app
