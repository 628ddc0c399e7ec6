"""The one middleware stack of every gridtools service: limits, timeouts, JSON errors, headers.

:func:`install` puts it on a FastAPI app; the dispatch service and the grid-operations service
both call it, so they refuse, limit and report in the same way:

* a request body above ``max_body_bytes`` gets 413 (by ``Content-Length`` or while it streams);
* a request that runs longer than ``timeout_s`` gets 503 with ``Retry-After``;
* every error is JSON ``{"detail": message, "error": kind}`` whatever its status: 404 of an unknown
  path, 405, 422 of a malformed body, 429, 500 of a bug (the traceback goes to the log, not to the
  client), 503 of a locked database or a full worker queue;
* every response carries the security headers of :data:`SECURITY_HEADERS` (no sniffing, no
  framing by other sites, no referrer, a content security policy that lets a page load only its
  own inlined assets and the basemap tiles).

Rate limits are per token and live in :mod:`gridtools.service.auth` (only it knows the token);
:class:`RateLimiter` is the token bucket both use.

Examples
--------
>>> app = FastAPI()                                               # doctest: +SKIP
>>> install(app, max_body_bytes=65536, timeout_s=30)              # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import threading
import time

from gridtools.errors import BusyError, GridtoolsError, missing_dependency

try:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_dependency("fastapi", "service") from exc

log = logging.getLogger("gridtools.service")

#: Headers on every response.  ``img-src`` allows https tiles (the basemap is an online option);
#: scripts and styles must be inline (the pages inline their vendored assets) or from this origin.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                               "style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
}

#: Error kinds by status, for errors that carry no kind of their own.
STATUS_KINDS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
                409: "Conflict", 413: "TooLarge", 422: "ValidationError", 429: "TooManyRequests",
                500: "InternalError", 503: "Unavailable"}


class ServiceError(GridtoolsError):
    """An error with an HTTP status (and optional headers) that the stack turns into JSON.

    Examples
    --------
    >>> ServiceError(429, "slow down", headers={"Retry-After": "2"}).status
    429
    """

    def __init__(self, status: int, message: str, headers: dict | None = None, kind: str | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.kind = kind or STATUS_KINDS.get(status, "Error")


def error_response(status: int, detail: str, kind: str | None = None, headers: dict | None = None,
                   **extra) -> JSONResponse:
    """The JSON error body every status uses: ``{"detail": ..., "error": ...}``.

    Examples
    --------
    >>> error_response(404, "no trip 'x'").body
    b'{"detail":"no trip \\'x\\'","error":"NotFound"}'
    """
    body = {"detail": detail, "error": kind or STATUS_KINDS.get(status, "Error"), **extra}
    return JSONResponse(body, status_code=status, headers=headers)


class RateLimiter:
    """Token buckets by key: ``rate`` requests per second on average, bursts up to ``burst``.

    Parameters
    ----------
    rate : float
        Refill per second.
    burst : int
        Bucket size.
    clock : callable
        Seconds (monotonic); tests pass their own.

    Examples
    --------
    >>> limiter = RateLimiter(rate=1.0, burst=2, clock=lambda: 0.0)
    >>> [limiter.wait("k") for _ in range(3)]
    [0.0, 0.0, 1.0]
    """

    def __init__(self, rate: float, burst: int, clock=time.monotonic, max_keys: int = 100_000):
        self.rate, self.burst, self.clock, self.max_keys = float(rate), float(burst), clock, max_keys
        self._buckets: dict = {}
        self._lock = threading.Lock()

    def wait(self, key) -> float:
        """Take one request from ``key``'s bucket: 0.0 when allowed, else the seconds until it would be."""
        now = self.clock()
        with self._lock:
            if len(self._buckets) > self.max_keys:  # bounded memory: forget idle keys
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < self.burst / self.rate}
            level, last = self._buckets.get(key, (self.burst, now))
            level = min(self.burst, level + (now - last) * self.rate)
            if level >= 1.0:
                self._buckets[key] = (level - 1.0, now)
                return 0.0
            self._buckets[key] = (level, now)
            return (1.0 - level) / self.rate

    def blocked(self, key) -> float:
        """Seconds until ``key`` may make a request (0.0: now), without taking one."""
        now = self.clock()
        with self._lock:
            level, last = self._buckets.get(key, (self.burst, now))
        level = min(self.burst, level + (now - last) * self.rate)
        return 0.0 if level >= 1.0 else (1.0 - level) / self.rate

    def check(self, key, what: str = "requests") -> None:
        """Raise a 429 :class:`ServiceError` with ``Retry-After`` when ``key`` is over its rate."""
        delay = self.wait(key)
        if delay > 0:
            raise ServiceError(429, f"too many {what}: at most {self.rate:g} per second (bursts of {self.burst:g}); "
                                    f"retry after {math.ceil(delay)} s", headers={"Retry-After": str(math.ceil(delay))})


class _Guard:
    """ASGI middleware: body limit, timeout, security headers, JSON 500 (see the module docstring)."""

    def __init__(self, app, max_body_bytes: int, timeout_s: float, error_body=None, route_limits=None):
        self.app, self.max_body, self.timeout = app, int(max_body_bytes), float(timeout_s)
        self.error_body, self.route_limits = error_body, route_limits

    def _error(self, scope, status: int, detail: str, kind: str, headers: dict | None = None):
        return shaped_error(scope.get("path", ""), status, detail, kind, headers, error_body=self.error_body)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False
        limits = self.route_limits(scope.get("method", ""), scope.get("path", "")) if self.route_limits else None
        max_body, timeout = limits or (self.max_body, self.timeout)

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                         if k.lower().encode() not in present]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        async def respond(response):
            if not started:
                await response(scope, receive, send_with_headers)

        # the setting is named only where it is the limit (a route's own limit, a photo upload, is not it)
        too_large = f"request body larger than {max_body:,} bytes" + \
            (" (settings.service_max_body_bytes)" if limits is None else "")
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body):
            return await respond(self._error(scope, 413, too_large, "TooLarge"))
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > max_body:
                raise ServiceError(413, too_large)
            return message

        try:
            await asyncio.wait_for(self.app(scope, limited_receive, send_with_headers), timeout)
        except asyncio.TimeoutError:
            await respond(self._error(scope, 503, f"the request took longer than {timeout:g} s and was stopped; "
                                                  "retry later (a POST with an Idempotency-Key is safe to retry)",
                                      "Unavailable", {"Retry-After": "5"}))
        except ServiceError as exc:
            await respond(self._error(scope, exc.status, str(exc), exc.kind, exc.headers))
        except Exception:  # noqa: BLE001 - a bug: logged with its traceback, JSON 500 to the client
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            await respond(self._error(scope, 500, "internal error (logged on the server); the request may be "
                                                  "retried", "InternalError"))


def shaped_error(path: str, status: int, detail: str, kind: str | None = None, headers: dict | None = None, *,
                 error_body=None, **extra) -> JSONResponse:
    """:func:`error_response`, or the body ``error_body(path, status, detail, kind)`` gives for this
    path (a service whose API has its own error format on some paths, as Open311's
    ``[{"code", "description"}]``; None from it: the default body).

    Examples
    --------
    >>> open311 = lambda path, status, detail, kind: [{"code": status, "description": detail}] \\
    ...     if path.startswith("/open311/") else None
    >>> shaped_error("/open311/v2/requests.json", 401, "api_key missing", error_body=open311).body
    b'[{"code":401,"description":"api_key missing"}]'
    """
    kind = kind or STATUS_KINDS.get(status, "Error")
    body = error_body(path, status, detail, kind) if error_body is not None else None
    if body is None:
        return error_response(status, detail, kind, headers, **extra)
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI, *, max_body_bytes: int | None = None, timeout_s: float | None = None,
            status_of=None, error_body=None, route_limits=None) -> None:
    """Put the middleware stack and the JSON error handlers on ``app``.

    Parameters
    ----------
    app : FastAPI
    max_body_bytes, timeout_s : optional
        Default ``settings.service_max_body_bytes`` / ``settings.service_request_timeout_s``.
    status_of : callable, optional
        ``status_of(exc) -> int`` for the :class:`~gridtools.errors.GridtoolsError` subclasses of
        the service's library (default: 400, and 422 for an ``InputError``).
    error_body : callable, optional
        ``error_body(path, status, detail, kind)``: the JSON body of an error on ``path`` when the
        service's API there has its own error format, or None for the default (see
        :func:`shaped_error`).
    route_limits : callable, optional
        ``route_limits(method, path) -> (max_body_bytes, timeout_s)`` for the few routes that take
        more (a photo upload), or None for the defaults.

    Examples
    --------
    >>> install(FastAPI())   # doctest: +SKIP
    """
    from gridtools import settings
    from gridtools.errors import InputError

    max_body_bytes = settings.service_max_body_bytes if max_body_bytes is None else max_body_bytes
    timeout_s = settings.service_request_timeout_s if timeout_s is None else timeout_s
    status_of = status_of or (lambda exc: 422 if isinstance(exc, InputError) else 400)
    app.add_middleware(_Guard, max_body_bytes=max_body_bytes, timeout_s=timeout_s, error_body=error_body,
                       route_limits=route_limits)

    def reply(request: Request, status, detail, kind=None, headers=None, **extra):  # this app's error shape
        return shaped_error(request.url.path, status, detail, kind, headers, error_body=error_body, **extra)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError):
        return reply(request, exc.status, str(exc), exc.kind, exc.headers)

    @app.exception_handler(GridtoolsError)
    async def _gridtools_error(request: Request, exc: GridtoolsError):
        if isinstance(exc, BusyError):  # the database's write lock is held elsewhere: retry, nothing changed
            return reply(request, 503, str(exc), "Unavailable", {"Retry-After": "5"})
        extra = {}
        blocking = getattr(exc, "blocking", None)
        if blocking:
            extra["blocking"] = [{k: v for k, v in b.items() if k in ("osmid", "name", "restriction", "why")}
                                 for b in blocking]
        return reply(request, status_of(exc), str(exc), type(exc).__name__, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}")
        return reply(request, 422, "; ".join(parts), "ValidationError")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such path {request.url.path!r}; the API is described at /docs"
        return reply(request, exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(sqlite3.OperationalError)
    async def _locked(request: Request, exc: sqlite3.OperationalError):
        if "locked" in str(exc) or "busy" in str(exc):
            return reply(request, 503, "the database is busy (another program holds its write lock); nothing was "
                                       "changed: retry in a few seconds", "Unavailable", {"Retry-After": "5"})
        log.error("database error in %s: %s", request.url.path, exc)
        return reply(request, 500, "database error (logged on the server)", "InternalError")
