"""The truck-dispatch HTTP service (FastAPI): a thin shell over :class:`gridtools.dispatch.DispatchCenter`.

Built on :func:`gridtools.service.factory.new_service` (the middleware stack, worker pools, tokens,
``/health``, offline ``/docs``).  Authentication: ``Authorization: Bearer <token>``.  Drivers see
and change only their own trucks and trips (a trip a dispatcher books on a driver's truck is the
driver's); dispatchers see everything and manage tokens.  Errors are JSON ``{"detail": message,
"error": kind}`` for every status: 401 no/unknown/expired/revoked token, 403 not allowed, 404 unknown
trip/truck (or one the caller may not see), 409 wrong state, a truck already on a trip, or an
Idempotency-Key reused for another request, 413 body too large, 422 bad input (unknown dock,
malformed or past time, far from any road, no legal route: then ``blocking`` names the
restrictions), 429 over the rate, 503 busy (retry), 500 a bug (logged).

Run with ``gridtools dispatch serve``.
"""


import json
from typing import Annotated

from gridtools.errors import InputError, missing_dependency

try:
    from fastapi import APIRouter, Depends, Header, Query, Request
    from fastapi.responses import HTMLResponse, JSONResponse
    from pydantic import BaseModel, Field
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_dependency("fastapi", "service") from exc

from gridtools.dispatch.center import (
    ConflictError,
    DispatchCenter,
    ForbiddenError,
    NotFoundError,
)
from gridtools.routing import NoRouteError
from gridtools.service import pages
from gridtools.service.auth import LinkSigner
from gridtools.service.factory import Service, new_service
from gridtools.service.middleware import ServiceError
from gridtools.service.workers import render_pool

#: Longest idempotency key and free text the API accepts (the library checks cargo again).
MAX_KEY = 200
MAX_CARGO = 500
#: Largest offset of a listing (beyond: 422, not a database overflow).
MAX_OFFSET = 10 ** 9
#: Most fixes one positions batch may list (the library's limit, settings.dispatch_max_fixes_per_batch, is lower).
MAX_FIXES = 5000
#: Most trips one page of the dispatcher's board draws (a page's work is bounded by this).
MAX_BOARD = 500


class TruckIn(BaseModel):
    plate: str = Field(min_length=1, max_length=32, examples=["沪A12345"])
    weight_t: float | None = Field(None, gt=0, le=200, description="gross weight, tonnes (default 40)")
    height_m: float | None = Field(None, gt=0, le=10, description="default 4.0")
    width_m: float | None = Field(None, gt=0, le=10, description="default 2.55")
    length_m: float | None = Field(None, gt=0, le=60, description="default 16.5")
    axle_load_t: float | None = Field(None, ge=0, le=100)


class TripIn(BaseModel):
    plate: str = Field(min_length=1, max_length=32)
    dock: str = Field(max_length=100, description="destination dock id")
    earliest_arrival: str = Field(max_length=64, description="ISO 8601; without an offset: park local time",
                                  examples=["2026-11-24T08:10"])
    gate: str | None = Field(None, max_length=100, description="entry gate id (or give origin, not both)")
    origin: tuple[float, float] | None = Field(None, description="[lon, lat] WGS-84, instead of a gate")
    cargo: str = Field("", max_length=MAX_CARGO)
    cargo_type: str | None = Field(None, max_length=40, description="picks the service time at the dock "
                                                                    "(the park's service_minutes)")


class TripPatch(BaseModel):
    earliest_arrival: str | None = Field(None, max_length=64)
    dock: str | None = Field(None, max_length=100)
    gate: str | None = Field(None, max_length=100)
    origin: tuple[float, float] | None = None
    cargo: str | None = Field(None, max_length=MAX_CARGO)
    cargo_type: str | None = Field(None, max_length=40)


class Fix(BaseModel):
    time: str = Field(max_length=64, description="ISO 8601; without an offset: park local time",
                      examples=["2026-11-24T08:01:05+08:00"])
    lon: float
    lat: float
    accuracy_m: float | None = Field(None, ge=0, le=100_000)


class PositionsIn(BaseModel):
    fixes: list[Fix] = Field(min_length=1, max_length=MAX_FIXES,
                             description="GPS fixes of this trip (at most settings.dispatch_max_fixes_per_batch)")
    crs: str = Field("wgs84", max_length=16, description="wgs84 (EPSG:4326, default) or gcj02")


STATUS_OF = {InputError: 422, NoRouteError: 422, NotFoundError: 404, ForbiddenError: 403, ConflictError: 409}


def status_of(exc) -> int:
    """HTTP status of a library error (400 for a kind not listed in :data:`STATUS_OF`)."""
    for kind, code in STATUS_OF.items():
        if isinstance(exc, kind):
            return code
    return 400


def create_app(center: DispatchCenter):
    """The FastAPI app serving one :class:`DispatchCenter`.

    Examples
    --------
    >>> app = create_app(DispatchCenter(network, park, TripStore("d.db")))   # doctest: +SKIP
    """
    svc = new_service("gridtools truck dispatch", center.store, status_of=status_of,
                      description="Register trucks and trips; each trip gets a legal route, an arrival slot, a dock "
                                  "slot and a waiting place, spread so that large trucks do not pile up on one road "
                                  "segment in one time slot.")
    svc.app.state.center = center
    svc.health.update(trips=center.store.count, restored_on_start=center.restored)
    svc.app.include_router(trucks_and_trips(svc, center))
    svc.app.include_router(dispatcher_routes(svc, center))
    return svc.app


def trucks_and_trips(svc: Service, center: DispatchCenter) -> APIRouter:
    """The driver's API: park, trucks, trips, their routes and maps (with phone links)."""
    router = APIRouter(tags=["trips"])
    User = Annotated[dict, Depends(svc.auth.user)]
    work, read = svc.work.run, svc.read.run
    signer = LinkSigner(center.store.secret("links"))

    @router.get("/park")
    async def park(who: User):
        return center.park.as_dict()

    @router.post("/trucks", status_code=201)
    async def register_truck(body: TruckIn, who: User):
        return await work(center.register_truck, who, body.model_dump())

    @router.get("/trucks")
    async def list_trucks(who: User):
        return await read(center.trucks, who)

    @router.post("/trips", status_code=201)
    async def request_trip(body: TripIn, who: User,
                           idempotency_key: Annotated[str | None, Header(max_length=MAX_KEY)] = None):
        trip, created = await work(center.request_trip, who, body.plate, body.dock, body.earliest_arrival,
                                   gate=body.gate, origin=body.origin, cargo=body.cargo, request_key=idempotency_key,
                                   cargo_type=body.cargo_type)
        # JSONResponse directly: FastAPI's generic encoder costs more than the whole assignment
        return JSONResponse(trip, status_code=201 if created else 200)

    @router.get("/trips")
    async def list_trips(who: User, status: Annotated[str | None, Query(max_length=20)] = None,
                         limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
                         offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0):
        return JSONResponse(await read(center.trips, who, status, limit, offset))

    @router.get("/trips/{trip_id}")
    async def get_trip(trip_id: str, who: User):
        return JSONResponse(await read(center.trip, who, trip_id))

    @router.patch("/trips/{trip_id}")
    async def update_trip(trip_id: str, body: TripPatch, who: User):
        return await work(center.update_trip, who, trip_id, earliest=body.earliest_arrival, dock=body.dock,
                          gate=body.gate, origin=body.origin, cargo=body.cargo, cargo_type=body.cargo_type)

    @router.delete("/trips/{trip_id}")
    async def cancel_trip(trip_id: str, who: User):
        return await work(center.cancel_trip, who, trip_id)

    @router.post("/trips/{trip_id}/arrival")
    async def arrival(trip_id: str, who: User):
        return await work(center.report, who, trip_id, "arrival")

    @router.post("/trips/{trip_id}/departure")
    async def departure(trip_id: str, who: User):
        return await work(center.report, who, trip_id, "departure")

    @router.post("/trips/{trip_id}/positions")
    async def post_positions(trip_id: str, body: PositionsIn, who: User):
        """GPS fixes of the caller's own active trip, from the driver's app; stored by (trip, time),
        so a re-sent batch adds nothing.  Returns how many were new and the trip's route compliance
        so far (share on the assigned route, off-route stretches, ``off_route_now``)."""
        fixes = [f.model_dump() for f in body.fixes]
        return JSONResponse(await svc.pages.run(center.report_positions, who, trip_id, fixes, body.crs))

    @router.get("/trips/{trip_id}/compliance")
    async def trip_compliance(trip_id: str, who: User, full: Annotated[bool, Query()] = False):
        """The latest route compliance of a trip (null before two fixes were posted).  ``full=1``
        matches the whole track again (a few seconds for a long trip; done by itself when the
        kept matching is missing); otherwise the figures kept since the last batch are read."""
        return JSONResponse(await svc.pages.run(center.compliance, who, trip_id, full))

    @router.get("/trips/{trip_id}/route.geojson")
    async def trip_route(trip_id: str, who: User):
        frame = await svc.pages.run(center.route_frame, who, trip_id)
        return JSONResponse(json.loads(frame.to_json()), media_type="application/geo+json")

    @router.post("/trips/{trip_id}/map-link")
    async def trip_map_link(trip_id: str, who: User, minutes: Annotated[int, Query(ge=1, le=24 * 60)] = 60):
        """A link to the trip's map that opens without a token header (on a phone), for ``minutes``;
        it shows this trip only, to its holder only, and dies when the token is revoked."""
        await read(center.trip, who, trip_id)  # 404 unless the caller may see the trip
        q = signer.sign(f"trip/{trip_id}/map", who["id"], minutes * 60)
        return {"url": f"/trips/{trip_id}/map?holder={q['holder']}&expires={q['expires']}&sig={q['sig']}",
                "expires": q["expires"]}

    @router.get("/trips/{trip_id}/map", response_class=HTMLResponse)
    async def trip_map(trip_id: str, who: Annotated[dict, Depends(_link_or_token(svc, signer))]):
        """The trip's map: with the bearer token, or opened from a link of ``POST /trips/{id}/map-link``."""
        return HTMLResponse(await svc.pages.run(pages.trip_map, center, who, trip_id))

    return router


def _link_or_token(svc: Service, signer: LinkSigner):
    """A dependency: the holder of a valid signed link for this trip's map, or of the bearer token."""

    async def who(request: Request, trip_id: str, holder: int | None = None, expires: int | None = None,
                  sig: Annotated[str | None, Query(max_length=64)] = None,
                  authorization: Annotated[str | None, Header()] = None) -> dict:
        if sig is None:
            return await svc.auth.user(request, authorization)
        holder_id = signer.verify(f"trip/{trip_id}/map", holder, expires, sig)
        found = await svc.read.run(svc.auth.store.holder, holder_id)
        if found is None:
            raise ServiceError(401, "the token behind this link was revoked or has expired", kind="Unauthorized")
        return found

    return who


def dispatcher_routes(svc: Service, center: DispatchCenter) -> APIRouter:
    """The dispatcher's API: loads, warming the route menus, the dispatcher page."""
    router = APIRouter(tags=["dispatcher"])
    Admin = Annotated[dict, Depends(svc.auth.admin)]
    Day = Annotated[str | None, Query(max_length=10, pattern=r"^\d{4}-\d{2}-\d{2}$")]

    def _load(day):
        frame = center.load_frame(day)
        return json.loads(frame.drop(columns="geometry").to_json(orient="records"))

    @router.get("/dispatcher/load")
    async def load(who: Admin, day: Day = None):
        return JSONResponse(await svc.pages.run(_load, day))

    @router.get("/dispatcher/off-route")
    async def off_route(who: Admin):
        """Active trips whose last GPS fix is off their assigned route, farthest off-route distance first."""
        return JSONResponse(await svc.read.run(center.off_route, who))

    @router.post("/dispatcher/warm")
    async def warm(who: Admin):
        """Build route menus for every gate-dock pair and bucket of registered truck profiles now
        (in the worker, so the service keeps answering)."""
        return {"menus": await svc.work.run(center.warm)}

    @router.get("/dispatcher", response_class=HTMLResponse)
    async def dispatcher_view(who: Admin, day: Day = None,
                              slot: Annotated[str | None, Query(max_length=16)] = None,
                              hours: Annotated[float | None, Query(gt=0, le=48)] = None,
                              max_routes: Annotated[int | None, Query(ge=0, le=MAX_BOARD)] = None,
                              offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0):
        """The trips on the road or at the dock from now to ``hours`` ahead (or of one ``day``, or
        one ``slot=2026-11-24T08:30``), one line each, ``max_routes`` per page from ``offset``;
        the load per segment in the same window; the load table."""
        from gridtools import settings

        limit = settings.dispatch_board_routes if max_routes is None else max_routes
        data = await svc.pages.run(pages.dispatcher_data, center, who, day, limit, slot, hours, offset)
        # the HTML in a worker process: rendering holds the GIL and its garbage stops every thread
        render = render_pool()
        return HTMLResponse(await render.run(pages.render_dispatcher, data) if render is not None else
                            await svc.pages.run(pages.render_dispatcher, data))

    return router
