"""Authentication and the worker of the grid-operations service: a FastAPI dependency, so another
token scheme (expiry, rotation) can replace it by overriding :func:`incident_user`.

``Authorization: Bearer <token>`` (the scheme in any case); Open311 clients send ``api_key``
instead (:func:`open311_user`).  Store work runs on one worker thread (:func:`run_blocking`), so
the event loop stays free for /health and pages while database calls queue in order.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated

from gridtools.errors import GridtoolsError, missing_dependency

try:
    from fastapi import Depends, Header, Request
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_dependency("fastapi", "service") from exc

__all__ = ["IncidentUser", "TooLarge", "Unauthorized", "bearer_token", "incident_user", "run_blocking"]


class Unauthorized(GridtoolsError):
    """No token, or one that is unknown or revoked."""


class TooLarge(GridtoolsError):
    """A request body over its limit."""


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization`` header ('Bearer x', 'bearer x'); '' when absent.

    Examples
    --------
    >>> bearer_token("bearer abc"), bearer_token(None)
    ('abc', '')
    """
    scheme, _, value = (authorization or "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


async def run_blocking(request: Request, fn, *args, **kwargs):
    """Run a store call on the service's worker thread."""
    return await asyncio.get_running_loop().run_in_executor(request.app.state.incident_worker,
                                                            partial(fn, *args, **kwargs))


async def incident_user(request: Request, authorization: Annotated[str | None, Header()] = None) -> dict:
    """The holder of the request's bearer token, or :class:`Unauthorized`."""
    ops = request.app.state.incidents
    who = await run_blocking(request, ops.tokens.authenticate, bearer_token(authorization))
    if who is None:
        raise Unauthorized("missing or unknown token: send 'Authorization: Bearer <token>' (tokens come from "
                           "'gridtools incidents token')")
    return who


IncidentUser = Annotated[dict, Depends(incident_user)]
