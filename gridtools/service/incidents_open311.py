"""Open311 GeoReport v2 as a second face of the case store (``/open311/v2/``, JSON).

``GET services.json``, ``GET services/{code}.json``, ``POST requests.json`` (form-encoded:
``api_key`` = a token of a role that may report, ``service_code``, ``lat``, ``long`` (WGS-84),
``description``, optional ``address_string``, ``media_url``), ``GET requests.json`` and
``GET requests/{id}.json``.  Reading requests also takes ``api_key`` (query), and lists only the
cases that token may see.  Errors are the spec's ``[{"code", "description"}]``.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gridtools.errors import InputError
from gridtools.incidents.access import NotFoundError
from gridtools.incidents.open311 import open311_requests, open311_services
from gridtools.service.incidents_attachments import read_limited
from gridtools.service.incidents_auth import open311_user, read, write

__all__ = ["router"]

router = APIRouter(prefix="/open311/v2", tags=["open311"])
_FORM_LIMIT = 64 * 1024


@router.get("/services.json")
async def services(request: Request):
    return await read(request, open311_services, request.app.state.incidents.store)


@router.get("/services/{service_code}.json")
async def service_definition(request: Request, service_code: str):
    return await read(request, request.app.state.incidents.open311_service, service_code)


@router.post("/requests.json")
async def post_request(request: Request):
    body = (await read_limited(request, _FORM_LIMIT)).decode("utf-8", errors="replace")
    form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    who = await open311_user(request, form.get("api_key"))
    if not form.get("service_code"):
        raise InputError("service_code is required")
    if not form.get("lat") or not form.get("long"):
        raise InputError("lat and long are required (WGS-84); an address_string alone cannot be located here")
    description = form.get("description", "")
    if form.get("address_string"):
        description = f"{description} [{form['address_string'][:300]}]".strip()
    ops = request.app.state.incidents
    case, _ = await write(request, ops.submit_report, who, form["service_code"], form["long"], form["lat"],
                          description=description, media_url=form.get("media_url", "")[:1000] or None)
    return [{"service_request_id": str(case["case_id"]), "service_notice": _notice(case), "account_id": None}]


def _notice(case: dict) -> str:
    return f"sent to {case['assignee']}" if case.get("assignee") else "registered; the command centre dispatches it"


def _requests(ops, who: dict, ids=None, service_code=None, status=None) -> list[dict]:
    if ids:
        visible = []
        for i in ids[:200]:
            try:
                visible.append(ops.case_row(who, int(i)))
            except (NotFoundError, ValueError):
                continue  # not there, or not the caller's: left out, as the spec's search does
        cases = pd.DataFrame(visible)
    else:
        cases = pd.DataFrame(ops.cases(who, limit=1000))
    if cases.empty:
        return []
    if service_code:
        cases = cases[cases["type_code"] == service_code]
    items = open311_requests(ops.store, cases=cases)
    return [r for r in items if not status or r["status"] == status]


def _one_request(ops, who: dict, request_id: int) -> list[dict]:
    case = ops.case_row(who, request_id)  # NotFoundError unless the caller may see it
    return open311_requests(ops.store, cases=pd.DataFrame([case]))


@router.get("/requests.json")
async def get_requests(request: Request, api_key: str | None = None, service_request_id: str | None = None,
                       service_code: str | None = None, status: str | None = None):
    who = await open311_user(request, api_key)
    ids = [i.strip() for i in service_request_id.split(",")] if service_request_id else None
    return JSONResponse(await read(request, _requests, request.app.state.incidents, who, ids, service_code, status))


@router.get("/requests/{request_id}.json")
async def get_request(request: Request, request_id: str, api_key: str | None = None):
    who = await open311_user(request, api_key)
    if not request_id.isdigit():
        raise NotFoundError(f"no request {request_id[:20]!r}")
    return JSONResponse(await read(request, _one_request, request.app.state.incidents, who, int(request_id)))
