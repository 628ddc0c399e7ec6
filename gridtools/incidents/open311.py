"""Open311 GeoReport v2 (the interchange format of municipal issue trackers): the case store's
event types as services and its cases as service requests.

Examples
--------
>>> from gridtools.incidents.open311 import open311_requests, open311_services
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridtools import settings

__all__ = ["open311_requests", "open311_services"]


def _iso(text, offset: str):
    return None if text is None or (isinstance(text, float) and np.isnan(text)) else f"{text.replace(' ', 'T')}{offset}"


def open311_services(store, *, language: str = "en") -> list[dict]:
    """The event types as an Open311 GeoReport v2 service list (``GET services``).

    Parameters
    ----------
    store : IncidentStore
    language : {"en", "zh"}
        Language of names and groups.

    Returns
    -------
    list of dict
        ``service_code``, ``service_name``, ``description``, ``metadata`` (False), ``type``
        (``realtime``), ``keywords``, ``group``.

    Examples
    --------
    >>> services = open311_services(store)                       # doctest: +SKIP
    """
    types = store.types()
    suffix = "zh" if language == "zh" else "en"
    return [
        {
            "service_code": row["code"],
            "service_name": row[f"name_{suffix}"],
            "description": f"{row[f'name_{suffix}']}: handled within {row['deadline_hours']:g} "
                           f"{'working ' if row['basis'] == 'working' else ''}hours by {row[f'department_{suffix}']}",
            "metadata": False,
            "type": "realtime",
            "keywords": ", ".join([row["name_zh"], row["name_en"]]),
            "group": row[f"major_{suffix}"],
        }
        for _, row in types.iterrows()
    ]


def open311_requests(store, *, utc_offset: str | None = None, language: str = "en", cases=None) -> list[dict]:
    """Cases as Open311 GeoReport v2 service requests (``GET requests``).

    Status is ``closed`` for closed or rejected cases and ``open`` otherwise; ``status_notes`` holds
    the gridtools state (and the rejection); ``agency_responsible`` the current assignee;
    ``expected_datetime`` the deadline; ``updated_datetime`` the last logged step.  Times get
    *utc_offset* (default ``settings.incident_utc_offset``) since the store keeps local time.

    Parameters
    ----------
    store : IncidentStore
    utc_offset : str, optional
    language : {"en", "zh"}
    cases : pandas.DataFrame, optional
        Rows of ``store.cases()`` to export (default: all).

    Returns
    -------
    list of dict

    Examples
    --------
    >>> requests = open311_requests(store)                       # doctest: +SKIP
    """
    offset = settings.incident_utc_offset if utc_offset is None else utc_offset
    cases = store.cases() if cases is None else cases
    types = store.types().set_index("code")
    if len(cases) > 1000:
        last = store.log().groupby("case_id")["at"].max()
    else:  # a page of cases: their own log rows only
        ids = [int(c) for c in cases["case_id"]] or [0]
        last = store.database.frame(f"SELECT case_id, MAX(at) AS at FROM case_log WHERE case_id IN "
                                    f"({', '.join('?' * len(ids))}) GROUP BY case_id", ids).set_index("case_id")["at"]
    suffix = "zh" if language == "zh" else "en"
    out = []
    for _, row in cases.iterrows():
        closed = row["status"] in ("closed", "rejected")
        out.append({
            "service_request_id": str(row["case_id"]),
            "status": "closed" if closed else "open",
            "status_notes": row["status"] + (f" ({row['resolution']})" if isinstance(row["resolution"], str) else ""),
            "service_name": types.at[row["type_code"], f"name_{suffix}"],
            "service_code": row["type_code"],
            "description": row["description"] or "",
            "agency_responsible": row["assignee"] if isinstance(row["assignee"], str) else "",
            "service_notice": "",
            "requested_datetime": _iso(row["reported_at"], offset),
            "updated_datetime": _iso(last.get(row["case_id"]), offset),
            "expected_datetime": _iso(row["deadline_at"], offset),
            "address": "",
            "address_id": row["grid_code"] if isinstance(row["grid_code"], str) else "",
            "zipcode": "",
            "lat": None if pd.isna(row["lat"]) else float(row["lat"]),
            "long": None if pd.isna(row["lon"]) else float(row["lon"]),
            "media_url": row["media_url"] if isinstance(row.get("media_url"), str) else "",
        })
    return out
