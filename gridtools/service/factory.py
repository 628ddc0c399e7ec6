"""The app factory every gridtools service starts from.

:func:`new_service` returns a :class:`Service`: a FastAPI app with the middleware stack of
:mod:`gridtools.service.middleware`, the two worker pools of :mod:`gridtools.service.workers`
(``work``: one thread, for the state that must change one request at a time; ``read``: token
checks and quick queries; ``pages``: maps, pages and load tables at a lower CPU priority), the :class:`~gridtools.service.auth.Auth` dependencies and token
endpoints over the given token store, ``/health`` (answered on the event loop, touching nothing),
and ``/docs`` served with its assets from this process (offline).  A service then adds its own
routers:

>>> svc = new_service("gridtools truck dispatch", store)                # doctest: +SKIP
>>> svc.app.include_router(dispatch_router(svc, center))                # doctest: +SKIP
"""


import time
from dataclasses import dataclass, field
from typing import Annotated, Callable

from gridtools.errors import missing_dependency
from gridtools.service.auth import Auth, bearer_token, token_router
from gridtools.service.middleware import install
from gridtools.service.workers import WorkerPool, render_pool

try:
    from fastapi import FastAPI, Header, Request
    from fastapi.responses import HTMLResponse, JSONResponse
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_dependency("fastapi", "service") from exc


@dataclass
class Service:
    """A service under construction: its app, pools and auth dependencies.

    Attributes
    ----------
    app : FastAPI
    auth : Auth
        ``auth.user`` / ``auth.admin`` are the FastAPI dependencies.
    work : WorkerPool
        One thread: changes of state, in order.
    read : WorkerPool
        Token checks and quick queries.
    pages : WorkerPool
        Slow read-only work (maps, pages, load tables), at a lower CPU priority, so that it
        never keeps a token check or a booking waiting.
    health : dict
        Extra fields ``/health`` shows to an authenticated administrator (callables are called on
        a worker).
    """

    app: FastAPI
    auth: Auth
    work: WorkerPool
    read: WorkerPool
    pages: WorkerPool
    health: dict = field(default_factory=dict)


def new_service(title: str, store, *, description: str = "", version: str = "1", admin_role: str = "dispatcher",
                status_of: Callable | None = None, error_body: Callable | None = None,
                route_limits: Callable | None = None, token_in=None) -> Service:
    """A FastAPI app with the common stack, pools, auth, tokens, ``/health`` and offline ``/docs``.

    Parameters
    ----------
    title, description, version : str
        OpenAPI information.
    store
        Token store (see :mod:`gridtools.service.auth`).
    admin_role : str
        The role that manages tokens and sees ``/health`` details.
    status_of : callable, optional
        HTTP status of the library's errors (see :func:`gridtools.service.middleware.install`).
    error_body, route_limits : callable, optional
        An error format of the service's own on some paths, and larger limits for a few routes
        (see :func:`gridtools.service.middleware.install`).
    token_in : pydantic model, optional
        The body of ``POST /tokens`` when the service's tokens have other roles or fields (see
        :func:`gridtools.service.auth.token_router`).

    Returns
    -------
    Service
    """
    from gridtools import settings

    app = FastAPI(title=title, version=version, description=description, docs_url=None, redoc_url=None)
    install(app, status_of=status_of, error_body=error_body, route_limits=route_limits)
    work = WorkerPool("work", 1, settings.service_worker_queue)
    read = WorkerPool("read", settings.service_worker_threads, settings.service_worker_queue)
    heavy = WorkerPool("pages", settings.service_worker_threads, settings.service_worker_queue, nice=10)
    auth = Auth(store, read, admin_role=admin_role)
    svc = Service(app=app, auth=auth, work=work, read=read, pages=heavy)
    app.include_router(token_router(auth, token_in))
    started = time.time()

    @app.get("/health")
    async def health(request: Request, authorization: Annotated[str | None, Header()] = None):
        """``{"status": "ok"}``; with an administrator token also the uptime, queue lengths and the
        service's own figures."""
        out = {"status": "ok"}
        token = bearer_token(authorization)
        if token:
            who = await auth.authenticate(request, token)
            if who["role"] == admin_role:
                out.update(uptime_s=round(time.time() - started, 1),
                           queued={"work": work.pending, "read": read.pending, "pages": heavy.pending})
                for name, value in svc.health.items():
                    out[name] = await read.run(value) if callable(value) else value
        return JSONResponse(out)

    _offline_docs(app)
    return svc


def tune_interpreter(switch_interval_s: float = 0.001, preload=("gridtools.maps",)) -> None:
    """Keep the event loop responsive while worker threads render pages: call once, after the
    service's state is built (network, route menus, restored trips), before serving.

    Two pauses hold every thread of the process, ``/health`` included:

    * CPython hands the GIL between threads every ``sys.getswitchinterval()`` seconds (5 ms by
      default); a request on the event loop that needs it a few dozen times waits that long each
      time a worker thread is busy in Python code.  1 ms keeps small requests fast.
    * A full (generation 2) garbage collection scans every object the process holds; a page
      render creates enough objects to trigger one, and on the dispatch service it took ~400 ms
      (measured: ``benchmarks/service_soak.md``).  ``gc.freeze()`` moves everything alive now
      (the network, the menus, the modules in ``preload``, imported here first) out of the
      collector's sight, so a full collection scans only what was made since: ~30 ms.

    Also starts the page-rendering processes (:func:`gridtools.service.workers.render_pool`)
    with ``preload`` imported, so the first page does not wait for them.

    Called by the process that runs the service (``gridtools dispatch serve``), not by
    :func:`new_service` (a library should not change the interpreter of a process it does not own).

    Examples
    --------
    >>> tune_interpreter()   # doctest: +SKIP
    """
    import gc
    import importlib
    import sys

    sys.setswitchinterval(switch_interval_s)
    for name in preload:
        importlib.import_module(name)
    pool = render_pool()
    if pool is not None:
        pool.preload(*preload)
    gc.collect()
    gc.freeze()


def _offline_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the ``swagger-ui-bundle`` package, served by the service itself;
    without that package, a plain offline list of the endpoints."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        swagger_ui_path = None

    @app.get("/docs/openapi.json", include_in_schema=False)
    async def docs_schema():
        # the bundled Swagger UI (4.x) reads OpenAPI 3.0 documents; FastAPI writes 3.1, which is
        # the same for everything these services declare
        return JSONResponse({**app.openapi(), "openapi": "3.0.3"})

    if swagger_ui_path is not None:
        from fastapi.openapi.docs import get_swagger_ui_html
        from fastapi.staticfiles import StaticFiles

        app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

        @app.get("/docs", include_in_schema=False)
        async def docs():
            return get_swagger_ui_html(openapi_url="/docs/openapi.json", title=app.title + " - API",
                                       swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                                       swagger_css_url="/docs/assets/swagger-ui.css",
                                       swagger_favicon_url="/docs/assets/favicon-32x32.png")
        return

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    async def docs_list():
        from gridtools.service.pages import Safe, page, text

        rows = "".join(f"<tr><td>{text(m.upper())}</td><td>{text(path)}</td><td>{text(op.get('summary', ''))}</td></tr>"
                       for path, ops in app.openapi()["paths"].items() for m, op in ops.items())
        return page(app.title, Safe(f"<h2>{text(app.title)}</h2><p>The full schema: "
                                    f"<a href='/openapi.json'>/openapi.json</a> (pip install swagger-ui-bundle for "
                                    f"the interactive page)</p><table>{rows}</table>"))
