"""The grid-operations routers' access to their :class:`~gridtools.service.factory.Service`: who is
asking, and where the store work runs.

The service is built by :func:`gridtools.service.factory.new_service` (see
:mod:`gridtools.service.incidents_app`), so authentication is the shared
:class:`~gridtools.service.auth.Auth`: ``Authorization: Bearer <token>`` with the scheme in any
case (a bare token is refused), the token store asked on every request (a revocation or a
rotation takes effect at once, also one made by the CLI), a rate limit per token and one on wrong
tokens per address.  Open311 clients send ``api_key`` instead (:func:`open311_user`).

Store work runs in the service's bounded pools (503 when a queue is full): changes of state on
``svc.work`` (one thread, in order), reads on ``svc.read``, the assessment on ``svc.pages``.

Examples
--------
>>> @router.get("/incidents/me")                                         # doctest: +SKIP
... async def me(who: IncidentUser): return who
"""

from __future__ import annotations

from typing import Annotated

from gridtools.errors import missing_dependency
from gridtools.service.auth import bearer_token
from gridtools.service.middleware import ServiceError

try:
    from fastapi import Depends, Header, Request
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_dependency("fastapi", "service") from exc

__all__ = ["IncidentUser", "incident_user", "open311_user", "read", "slow", "write"]


async def incident_user(request: Request, authorization: Annotated[str | None, Header()] = None) -> dict:
    """The holder of the request's bearer token (401 / 429 from the shared :class:`Auth`)."""
    return await request.app.state.service.auth.authenticate(request, bearer_token(authorization))


async def open311_user(request: Request, api_key: str | None) -> dict:
    """The holder of an Open311 ``api_key`` (the same tokens, limits and refusals as the header)."""
    try:
        return await request.app.state.service.auth.authenticate(request, (api_key or "").strip() or None)
    except ServiceError as exc:
        if exc.status != 401:
            raise
        reason = getattr(exc, "reason", "missing, unknown, expired or revoked token")
        raise ServiceError(401, f"api_key missing or not valid ({reason}); ask the city for a key "
                                "('gridtools incidents token')", kind="Unauthorized") from None


async def write(request: Request, fn, *args, **kwargs):
    """A change of state (a report, a step, a photo) on the service's one ``work`` thread, in order."""
    return await request.app.state.service.work.run(fn, *args, **kwargs)


async def read(request: Request, fn, *args, **kwargs):
    """A read of the case store on the ``read`` pool."""
    return await request.app.state.service.read.run(fn, *args, **kwargs)


async def slow(request: Request, fn, *args, **kwargs):
    """A slow read (an assessment over months) on the lower-priority ``pages`` pool."""
    return await request.app.state.service.pages.run(fn, *args, **kwargs)


IncidentUser = Annotated[dict, Depends(incident_user)]
