"""Bearer tokens for the services: the auth dependency, per-token rate limits, the token API and
short-lived signed links.

A service builds one :class:`Auth` over its token store (any object with ``authenticate``,
``issue_token``, ``tokens``, ``revoke_token`` and ``rotate_token`` as
:class:`gridtools.dispatch.TripStore` has them) and uses ``auth.user`` / ``auth.role("dispatcher")``
as FastAPI dependencies; :func:`token_router` adds the token lifecycle endpoints:

* ``POST /tokens`` (``role``, ``name``, ``days``) issue; ``GET /tokens`` list (never the tokens);
  ``DELETE /tokens/{id}`` revoke, by an administrator role;
* ``POST /tokens/rotate``: the caller's token is replaced by a new one (same role and holder) and
  revoked (or, with ``grace_hours``, kept working that long), so a holder can rotate without an
  administrator; ``POST /tokens/{id}/rotate`` does the same for any token, by an administrator.

Rules: ``Authorization: Bearer <token>`` with the scheme in any case (RFC 7235); a bare token or
another scheme is refused; a token is asked of the store on every request (a revocation takes
effect at once, also one made by the CLI in another process); each token may make
``settings.service_rate_per_s`` requests per second (bursts of ``service_rate_burst``), and an
address that keeps sending wrong tokens gets 429 after ``service_auth_failures_per_min``.

Examples
--------
>>> auth = Auth(store, WorkerPool("auth", 1, 64))                       # doctest: +SKIP
>>> @app.get("/mine")                                                    # doctest: +SKIP
... async def mine(who: Annotated[dict, Depends(auth.user)]): ...
"""


import base64
import hashlib
import hmac
import time
from typing import Annotated, Literal

from gridtools.errors import missing_dependency
from gridtools.service.middleware import RateLimiter, ServiceError

try:
    from fastapi import APIRouter, Depends, Header, Request
    from pydantic import BaseModel, Field
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_dependency("fastapi", "service") from exc


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization`` header (``Bearer``/``bearer``/``BEARER``), else None.

    Examples
    --------
    >>> bearer_token("bearer abc"), bearer_token("abc"), bearer_token("Basic abc")
    ('abc', None, None)
    """
    parts = (authorization or "").split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1]


class TokenIn(BaseModel):
    role: Literal["driver", "dispatcher"] = "driver"
    name: str = Field(min_length=1, max_length=200)
    days: float | None = Field(None, ge=0, le=3650, description="validity in days (default 90; 0: no expiry)")


class Auth:
    """The auth dependencies of one service.

    Parameters
    ----------
    store
        The token store (see the module docstring).
    pool : WorkerPool
        Where the store is asked (never on the event loop).
    admin_role : str
        The role that may issue, list and revoke tokens.
    rate, burst, failures_per_min : optional
        Defaults from ``settings.service_rate_per_s``, ``service_rate_burst``,
        ``service_auth_failures_per_min``.
    """

    def __init__(self, store, pool, admin_role: str = "dispatcher", rate: float | None = None,
                 burst: int | None = None, failures_per_min: int | None = None):
        from gridtools import settings

        self.store, self.pool, self.admin_role = store, pool, admin_role
        self.limiter = RateLimiter(settings.service_rate_per_s if rate is None else rate,
                                   settings.service_rate_burst if burst is None else burst)
        per_min = settings.service_auth_failures_per_min if failures_per_min is None else failures_per_min
        self.failures = RateLimiter(per_min / 60.0, per_min)

        async def user(request: Request, authorization: Annotated[str | None, Header()] = None) -> dict:
            return await self.authenticate(request, bearer_token(authorization))

        async def admin(who: Annotated[dict, Depends(user)]) -> dict:
            if who["role"] != self.admin_role:
                raise ServiceError(403, f"only a {self.admin_role} token may do this", kind="ForbiddenError")
            return who

        self.user = user
        self.admin = admin

    async def authenticate(self, request: Request, token: str | None) -> dict:
        """The holder of ``token`` (rate-limited per token), or 401 / 429."""
        client = request.client.host if request.client else "?"
        # only a wrong token counts against an address (guessing); a request without one is a 401
        wait = self.failures.blocked(client) if token else 0.0
        if wait > 0:
            raise ServiceError(429, f"too many failed authentications from this address; retry after "
                                    f"{int(wait) + 1} s", headers={"Retry-After": str(int(wait) + 1)})
        who = await self.pool.run(self.store.authenticate, token) if token else None
        if who is None:
            if token:
                self.failures.wait(client)
            # the reason (expired, revoked, rotated) is told only to whoever holds that secret
            why = await self.pool.run(self.store.refusal, token) if token and hasattr(self.store, "refusal") \
                else "missing, unknown, expired or revoked token"
            refused = ServiceError(401, f"{why}: send 'Authorization: Bearer <token>' (tokens come from the "
                                        "CLI's 'token' command or POST /tokens)",
                                   headers={"WWW-Authenticate": "Bearer"}, kind="Unauthorized")
            refused.reason = why  # for a service that asks for its tokens another way (Open311's api_key)
            raise refused
        self.limiter.check(("token", who["id"]))
        return who


class RotateIn(BaseModel):
    days: float | None = Field(None, ge=0, le=3650, description="validity of the new token in days (default 90)")
    grace_hours: float = Field(0, ge=0, le=720, description="hours the old token keeps working (default 0: none)")


def token_router(auth: Auth, token_in: type[BaseModel] | None = None) -> APIRouter:
    """``/tokens`` endpoints: issue, list, revoke, rotate any (admin role) and rotate one's own (any holder).

    ``token_in``: the body of ``POST /tokens`` (its fields are passed to ``store.issue_token`` by
    name), for a service whose tokens have other roles or fields (default :class:`TokenIn`).
    """
    token_in = token_in or TokenIn
    router = APIRouter(tags=["tokens"])
    Admin = Annotated[dict, Depends(auth.admin)]
    User = Annotated[dict, Depends(auth.user)]

    @router.post("/tokens", status_code=201)
    async def issue_token(body: token_in, who: Admin):
        fields = body.model_dump()
        token = await auth.pool.run(auth.store.issue_token, **fields)
        return {"token": token, **{k: v for k, v in fields.items() if k != "days"}}

    @router.post("/tokens/{token_id}/rotate", status_code=201)
    async def rotate_any(token_id: int, who: Admin, body: RotateIn | None = None):
        """A new token for the holder of token ``token_id``; the old one stops working now or after ``grace_hours``."""
        body = body or RotateIn()
        token = await auth.pool.run(auth.store.rotate_token, token_id, body.days, body.grace_hours)
        return {"token": token, "replaces": token_id, "grace_hours": body.grace_hours}

    @router.get("/tokens")
    async def list_tokens(who: Admin):
        return await auth.pool.run(auth.store.tokens)

    @router.delete("/tokens/{token_id}")
    async def revoke_token(token_id: int, who: Admin):
        if not await auth.pool.run(auth.store.revoke_token, token_id):
            raise ServiceError(404, f"no token with id {token_id}", kind="NotFoundError")
        return {"id": token_id, "revoked": True}

    @router.post("/tokens/rotate", status_code=201)
    async def rotate_token(who: User, body: RotateIn | None = None):
        """A new token for the caller; the one used for this request stops working (now, or after ``grace_hours``)."""
        body = body or RotateIn()
        token = await auth.pool.run(auth.store.rotate_token, who["id"], body.days, body.grace_hours)
        return {"token": token, "role": who["role"], "name": who["name"], "revoked": who["id"],
                "grace_hours": body.grace_hours}

    return router


class LinkSigner:
    """Short-lived signed links: a page opened from a link (on a phone) without an ``Authorization``
    header, for one resource and one token holder only.

    The signature is an HMAC-SHA256 over (resource, holder id, expiry) with a server secret; the
    holder's token must still be valid when the link is used (revoking the token kills its links).

    Examples
    --------
    >>> s = LinkSigner(b"k" * 32, clock=lambda: 1000.0)
    >>> q = s.sign("trip/abc/map", 7, ttl_s=600)
    >>> s.verify("trip/abc/map", q["holder"], q["expires"], q["sig"])
    7
    """

    def __init__(self, secret: bytes, clock=time.time):
        self.secret, self.clock = bytes(secret), clock

    def _mac(self, resource: str, holder: int, expires: int) -> str:
        text = f"{resource}\n{int(holder)}\n{int(expires)}".encode()
        return base64.urlsafe_b64encode(hmac.new(self.secret, text, hashlib.sha256).digest()[:18]).decode()

    def sign(self, resource: str, holder: int, ttl_s: float = 900) -> dict:
        """Query parameters (``holder``, ``expires``, ``sig``) of a link valid ``ttl_s`` seconds."""
        expires = int(self.clock() + ttl_s)
        return {"holder": int(holder), "expires": expires, "sig": self._mac(resource, holder, expires)}

    def verify(self, resource: str, holder, expires, sig) -> int:
        """The holder id of a valid link; 401 :class:`ServiceError` for a wrong or expired one."""
        try:
            holder, expires = int(holder), int(expires)
        except (TypeError, ValueError):
            holder, expires = -1, 0
        good = hmac.compare_digest(self._mac(resource, holder, expires), str(sig or ""))
        if not good or expires < self.clock():
            raise ServiceError(401, "this link is wrong or has expired; open the trip in the app again to get "
                                    "a new link", kind="Unauthorized")
        return holder
