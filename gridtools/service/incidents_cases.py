"""Cases of the grid-operations service: report, list, read, step, the dispatcher's board,
assessment.  Every rule of who may see or do what is applied by the library
(:mod:`gridtools.incidents.access`); this router only translates HTTP."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gridtools.errors import InputError
from gridtools.incidents.access import ACTIONS
from gridtools.service.incidents_auth import IncidentUser, read, slow, write

__all__ = ["ReportIn", "StepIn", "router"]

router = APIRouter(prefix="/incidents", tags=["cases"])


class ReportIn(BaseModel):
    type_code: str = Field(min_length=1, max_length=16, examples=["0104"])
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: Literal["wgs84", "gcj02", "bd09"] = Field("wgs84", description="datum of lon/lat (phones: often gcj02)")
    description: str = Field("", max_length=4000)
    component_code: str | None = Field(None, max_length=32)
    source: Literal["inspector", "public", "hotline", "camera"] | None = None


class StepIn(BaseModel):
    to: str | None = Field(None, max_length=200, description="dispatch / reassign: the assignee")
    reason: str | None = Field(None, max_length=2000)
    hours: float | None = Field(None, gt=0, le=10000, description="postpone: extra hours")
    into: int | None = Field(None, ge=1, le=2**62, description="merge: the case this one duplicates")
    note: str | None = Field(None, max_length=2000)


def _ops(request: Request):
    return request.app.state.incidents


@router.get("/me")
async def me(who: IncidentUser):
    return who


@router.get("/types")
async def types(request: Request, who: IncidentUser):
    return await read(request, _ops(request).event_types)


@router.post("/cases", status_code=201)
async def report(request: Request, body: ReportIn, who: IncidentUser,
                 idempotency_key: Annotated[str | None, Header(max_length=200)] = None):
    case, created = await write(request, _ops(request).submit_report, who, body.type_code, body.lon, body.lat,
                                crs=body.crs, description=body.description, component_code=body.component_code,
                                source=body.source, key=idempotency_key)
    return JSONResponse(case, status_code=201 if created else 200)


@router.get("/cases")
async def list_cases(request: Request, who: IncidentUser, status: str | None = Query(None, max_length=20),
                     limit: Annotated[int, Query(ge=1, le=5000)] = 200,
                     offset: Annotated[int, Query(ge=0, le=2**62)] = 0):
    return await read(request, _ops(request).cases, who, status=status, limit=limit, offset=offset)


@router.get("/cases/{case_id}")
async def get_case(request: Request, case_id: int, who: IncidentUser):
    return JSONResponse(await read(request, _ops(request).case, who, _case_id(case_id)))


@router.post("/cases/{case_id}/{action}")
async def step(request: Request, case_id: int, action: str, who: IncidentUser, body: StepIn | None = None):
    if action not in ACTIONS:
        raise InputError(f"unknown action {action[:40]!r}; use one of: {', '.join(ACTIONS)}")
    body = body or StepIn()
    return await write(request, _ops(request).act, who, _case_id(case_id), action, to=body.to,
                       reason=body.reason, hours=body.hours, into=body.into, note=body.note)


@router.get("/board")
async def board(request: Request, who: IncidentUser):
    return JSONResponse(await read(request, _ops(request).board, who))


@router.get("/assess")
async def assessment(request: Request, who: IncidentUser,
                     subject: Literal["department", "reporter", "dispatcher", "grid", "community"],
                     start: Annotated[str, Query(alias="from", max_length=40)],
                     end: Annotated[str, Query(alias="to", max_length=40)], compare: bool = False):
    return JSONResponse(await slow(request, _ops(request).assessment, who, subject, start, end, compare))


@router.get("/grids.geojson")
async def grids(request: Request, who: IncidentUser):
    return JSONResponse(await read(request, _ops(request).grids_geojson), media_type="application/geo+json")


def _case_id(value) -> int:
    number = int(value)
    if not 1 <= number <= 2**62:
        raise InputError(f"case id {number} out of range")
    return number
