"""The truck-dispatch HTTP service (FastAPI): a thin shell over :class:`gridtools.dispatch.DispatchCenter`.

Authentication: ``Authorization: Bearer <token>``.  Drivers see and change only their own trucks
and trips; dispatchers see everything and issue tokens.  Errors are JSON ``{"detail": message,
"error": kind}`` with 4xx codes: 401 no/unknown token, 403 not allowed, 404 unknown trip/truck
(or one the caller may not see), 409 wrong state, 422 bad input (unknown dock, malformed or past
time, far from any road, no legal route: then ``blocking`` names the restrictions).

OpenAPI docs at ``/docs``; run with ``gridtools dispatch serve``.
"""


import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Annotated, Literal

from gridtools.errors import GridtoolsError, InputError, missing_dependency

try:
    from fastapi import Depends, FastAPI, Header, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from pydantic import BaseModel, Field
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_dependency("fastapi", "service") from exc

from gridtools.dispatch.center import ConflictError, DispatchCenter, ForbiddenError, NotFoundError
from gridtools.routing import NoRouteError


class TruckIn(BaseModel):
    plate: str = Field(min_length=1, max_length=32, examples=["沪A12345"])
    weight_t: float | None = Field(None, ge=0, le=200, description="gross weight, tonnes (default 40)")
    height_m: float | None = Field(None, ge=0, le=10, description="default 4.0")
    width_m: float | None = Field(None, ge=0, le=10, description="default 2.55")
    length_m: float | None = Field(None, ge=0, le=60, description="default 16.5")
    axle_load_t: float | None = Field(None, ge=0, le=100)


class TripIn(BaseModel):
    plate: str = Field(min_length=1, max_length=32)
    dock: str = Field(description="destination dock id")
    earliest_arrival: str = Field(description="ISO 8601; without an offset: park local time",
                                  examples=["2026-11-24T08:10"])
    gate: str | None = Field(None, description="entry gate id (or give origin)")
    origin: tuple[float, float] | None = Field(None, description="[lon, lat] WGS-84, instead of a gate")
    cargo: str = ""


class TripPatch(BaseModel):
    earliest_arrival: str | None = None
    dock: str | None = None
    gate: str | None = None
    origin: tuple[float, float] | None = None
    cargo: str | None = None


class TokenIn(BaseModel):
    role: Literal["driver", "dispatcher"] = "driver"
    name: str = Field(min_length=1, max_length=200)


STATUS_OF = {InputError: 422, NoRouteError: 422, NotFoundError: 404, ForbiddenError: 403, ConflictError: 409}


def _status(exc: GridtoolsError) -> int:
    for kind, code in STATUS_OF.items():
        if isinstance(exc, kind):
            return code
    return 400


def create_app(center: DispatchCenter) -> FastAPI:
    """The FastAPI app serving one :class:`DispatchCenter`.

    Examples
    --------
    >>> app = create_app(DispatchCenter(network, park, TripStore("d.db")))   # doctest: +SKIP
    """
    app = FastAPI(title="gridtools truck dispatch", version="1",
                  description="Register trucks and trips; each trip gets a legal route, an arrival slot, a dock "
                              "slot and a waiting place, spread so that large trucks do not pile up on one road "
                              "segment in one time slot.")
    app.state.center = center
    # Dispatch work and SQLite writes run on the event loop itself, one request after the other
    # (a few ms each; the dispatch state is serialised anyway).  Handing them to worker threads
    # made every call wait for the GIL behind the loop (convoy effect): 4x lower throughput
    # under 50 concurrent clients.  Maps and pages (slow, read-only) go to a small thread pool.
    pages = ThreadPoolExecutor(2, thread_name_prefix="gridtools-pages")

    async def run(fn, *args, **kw):
        return fn(*args, **kw)

    async def render(fn, *args, **kw):
        return await asyncio.get_running_loop().run_in_executor(pages, partial(fn, *args, **kw))

    @app.exception_handler(GridtoolsError)
    async def _gridtools_error(request: Request, exc: GridtoolsError):
        body = {"detail": str(exc), "error": type(exc).__name__}
        if isinstance(exc, NoRouteError):
            body["blocking"] = [{k: v for k, v in b.items() if k in ("osmid", "name", "restriction", "why")}
                                for b in exc.blocking]
        return JSONResponse(body, status_code=_status(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}")
        return JSONResponse({"detail": "; ".join(parts), "error": "ValidationError"}, status_code=422)

    async def user(authorization: Annotated[str | None, Header()] = None) -> dict:
        token = (authorization or "").removeprefix("Bearer ").strip()
        who = await run(center.store.authenticate, token)
        if who is None:
            raise _Unauthorized()
        return who

    class _Unauthorized(GridtoolsError):
        pass

    @app.exception_handler(_Unauthorized)
    async def _unauthorized(request: Request, exc):
        return JSONResponse({"detail": "missing or unknown token: send 'Authorization: Bearer <token>' "
                                       "(tokens come from 'gridtools dispatch token' or POST /tokens)",
                             "error": "Unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    async def dispatcher(who: Annotated[dict, Depends(user)]) -> dict:
        if who["role"] != "dispatcher":
            raise ForbiddenError("only a dispatcher token may do this")
        return who

    User = Annotated[dict, Depends(user)]
    Dispatcher = Annotated[dict, Depends(dispatcher)]

    @app.get("/health")
    async def health():
        return {"status": "ok", "trips": await run(center.store.count), "restored_on_start": center.restored}

    @app.get("/park")
    async def park(who: User):
        return center.park.as_dict()

    @app.post("/tokens", status_code=201)
    async def issue_token(body: TokenIn, who: Dispatcher):
        return {"token": await run(center.store.issue_token, body.role, body.name), "role": body.role,
                "name": body.name}

    @app.post("/trucks", status_code=201)
    async def register_truck(body: TruckIn, who: User):
        return await run(center.register_truck, who, body.model_dump())

    @app.get("/trucks")
    async def list_trucks(who: User):
        return await run(center.trucks, who)

    @app.post("/trips", status_code=201)
    async def request_trip(body: TripIn, who: User, idempotency_key: Annotated[str | None, Header()] = None):
        trip, created = await run(center.request_trip, who, body.plate, body.dock, body.earliest_arrival,
                                  gate=body.gate, origin=body.origin, cargo=body.cargo, request_key=idempotency_key)
        # JSONResponse directly: FastAPI's generic encoder costs more than the whole assignment
        return JSONResponse(trip, status_code=201 if created else 200)

    @app.get("/trips")
    async def list_trips(who: User, status: str | None = None,
                         limit: Annotated[int, Query(ge=1, le=10000)] = 1000, offset: Annotated[int, Query(ge=0)] = 0):
        return JSONResponse(await run(center.trips, who, status, limit, offset))

    @app.get("/trips/{trip_id}")
    async def get_trip(trip_id: str, who: User):
        return JSONResponse(await run(center.trip, who, trip_id))

    @app.patch("/trips/{trip_id}")
    async def update_trip(trip_id: str, body: TripPatch, who: User):
        return await run(center.update_trip, who, trip_id, earliest=body.earliest_arrival, dock=body.dock,
                         gate=body.gate, origin=body.origin, cargo=body.cargo)

    @app.delete("/trips/{trip_id}")
    async def cancel_trip(trip_id: str, who: User):
        return await run(center.cancel_trip, who, trip_id)

    @app.post("/trips/{trip_id}/arrival")
    async def arrival(trip_id: str, who: User):
        return await run(center.report, who, trip_id, "arrival")

    @app.post("/trips/{trip_id}/departure")
    async def departure(trip_id: str, who: User):
        return await run(center.report, who, trip_id, "departure")

    @app.get("/trips/{trip_id}/route.geojson")
    async def trip_route(trip_id: str, who: User):
        frame = await render(center.route_frame, who, trip_id)
        return JSONResponse(json.loads(frame.to_json()), media_type="application/geo+json")

    def _trip_map(who, trip_id):
        from gridtools.maps import dispatch_map, map_page

        page, _ = map_page(dispatch_map(routes=center.route_frame(who, trip_id), park=center.park))
        return page

    @app.get("/trips/{trip_id}/map", response_class=HTMLResponse)
    async def trip_map(trip_id: str, who: User):
        return await render(_trip_map, who, trip_id)

    def _load(day):
        frame = center.load_frame(day)
        return json.loads(frame.drop(columns="geometry").to_json(orient="records"))

    @app.get("/dispatcher/load")
    async def load(who: Dispatcher, day: str | None = None):
        return await run(_load, day)

    @app.post("/dispatcher/warm")
    async def warm(who: Dispatcher):
        """Build route menus for every gate-dock pair and registered truck profile now."""
        return {"menus": await run(center.warm)}

    @app.get("/dispatcher", response_class=HTMLResponse)
    async def dispatcher_view(who: Dispatcher, day: str | None = None, slot: str | None = None,
                              max_routes: int = 200):
        """All routes and the load per segment: peak over the day, or one slot (``slot=2026-11-24T08:30``)."""
        return await render(dispatcher_html, center, who, day, max_routes, slot)

    return app


def dispatcher_html(center: DispatchCenter, who: dict, day: str | None = None, max_routes: int = 200,
                    slot: str | None = None) -> str:
    """The dispatcher's page: a map of routes and segment load, and the load table per segment and slot."""
    import html

    import pandas as pd

    from gridtools.maps import dispatch_map

    trips = [t for t in center.trips(who) if t["status"] in ("assigned", "arrived")]
    if day:
        trips = [t for t in trips if str(t["dock_time"]).startswith(day)]
    frames = [center.route_frame(who, t["id"]) for t in trips[:max_routes]]
    routes = pd.concat(frames, ignore_index=True) if frames else None
    load = center.load_frame(day)
    m = dispatch_map(routes=routes, load=load, park=center.park, slot=slot)
    table = load.drop(columns=["geometry", "segment"]).sort_values(["ratio", "slot"], ascending=[False, True])
    over = int((load["load"] > load["capacity"]).sum()) if len(load) else 0
    head = (f"<h2>{html.escape(center.park.name)}: {len(trips)} active trips, {len(load)} loaded segment-slots, "
            f"{over} over capacity</h2>")
    return ("<html><head><meta charset='utf-8'><title>dispatch</title></head><body style='font-family:sans-serif'>"
            + head + "<div style='height:60vh'>" + m._repr_html_() + "</div>"
            + table.head(500).to_html(index=False, classes="load") + "</body></html>")
