"""The grid-operations service over HTTP (FastAPI TestClient): reports routed and idempotent,
the loop by role, photos, duplicates, assessment, Open311 from the GeoReport v2 spec, and role
isolation on every endpoint.  ``check_*`` functions run against PostgreSQL too."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import geopandas as gpd
import pytest
import shapely
from conftest import run_cli

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from gridtools.service.incidents_app import create_incidents_app, open_operations

GRID_A, GRID_B = "32050901900200100", "32050901900300100"
IN_A, IN_B = (120.605, 31.305), (120.615, 31.305)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


def grids_frame():
    return gpd.GeoDataFrame({"grid_code": [GRID_A, GRID_B]}, geometry=[
        shapely.box(120.600, 31.300, 120.610, 31.310), shapely.box(120.610, 31.300, 120.620, 31.310)], crs=4326)


class Service:
    """A client plus one token per role."""

    def __init__(self, db):
        self.ops = open_operations(db, grids_frame())
        self.client = TestClient(create_incidents_app(self.ops), raise_server_exceptions=False)
        issue = self.ops.tokens.issue
        self.tokens = {"reporter": issue("reporter", "zhang"), "reporter2": issue("reporter", "wu"),
                       "head_a": issue("grid_head", "li", grid=GRID_A), "head_b": issue("grid_head", "ma", grid=GRID_B),
                       "department": issue("department", "he", department="Sanitation"),
                       "dispatcher": issue("dispatcher", "wang"), "supervisor": issue("supervisor", "zhao")}

    def call(self, method, path, who=None, **kw):
        headers = kw.pop("headers", {})
        if who:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return self.client.request(method, path, headers=headers, **kw)

    def report(self, who="reporter", point=IN_A, key=None, **body):
        body = {"type_code": "0104", "lon": point[0], "lat": point[1], "description": "dirty road", **body}
        return self.call("POST", "/incidents/cases", who, json=body, headers={"Idempotency-Key": key} if key else {})


@pytest.fixture
def service(tmp_path):
    s = Service(tmp_path / "cases.sqlite")
    yield s
    s.ops.store.close()


def check_report_routing_loop_and_idempotency(service) -> None:
    r = service.report(key="k1")
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["status"] == "dispatched" and case["assignee"] == f"grid:{GRID_A}" and case["deadline_at"]
    assert case["reporter"] == "reporter:zhang" and case["source"] == "public"
    again = service.report(key="k1")  # a retry
    assert again.status_code == 200 and again.json()["case_id"] == case["case_id"]
    assert service.report(key="k1", description="something else").status_code == 409
    assert service.report(key="k1", source="hotline").json()["case_id"] == case["case_id"]  # still the same report
    # the same key from another reporter is another report
    assert service.report(who="reporter2", key="k1").json()["case_id"] != case["case_id"]
    assert len(service.ops.store.cases()) == 2
    cid = case["case_id"]
    assert service.call("POST", f"/incidents/cases/{cid}/attachments", "reporter", content=JPEG,
                        headers={"Content-Type": "image/jpeg"}).status_code == 201
    # the loop by role
    assert service.call("POST", f"/incidents/cases/{cid}/handle", "head_b").status_code == 404
    assert service.call("POST", f"/incidents/cases/{cid}/close", "head_a").status_code == 403
    assert service.call("POST", f"/incidents/cases/{cid}/handle", "head_a").json()["status"] == "handled"
    assert service.call("POST", f"/incidents/cases/{cid}/close", "supervisor").status_code == 409  # not verified
    assert service.call("POST", f"/incidents/cases/{cid}/verify", "supervisor").json()["status"] == "verified"
    assert service.call("POST", f"/incidents/cases/{cid}/close", "supervisor").json()["status"] == "closed"
    log = service.call("GET", f"/incidents/cases/{cid}", "reporter").json()["log"]
    assert [s["action"] for s in log] == ["report", "register", "dispatch", "handle", "verify", "close"]
    # outside every grid: registered only, the dispatcher dispatches
    out = service.report(point=(121.0, 31.0)).json()
    assert out["status"] == "registered" and out["assignee"] is None
    board = service.call("GET", "/incidents/board", "dispatcher").json()
    assert [c["case_id"] for c in board["unrouted"]] == [out["case_id"]]
    r = service.call("POST", f"/incidents/cases/{out['case_id']}/dispatch", "dispatcher", json={"to": "department:Sanitation"})
    assert r.json()["assignee"] == "department:Sanitation"
    assert service.call("GET", f"/incidents/cases/{out['case_id']}", "department").status_code == 200
    # a phone's GCJ-02 reading is converted before the grid is looked up
    from gridtools import coords

    gx, gy = coords.convert(*IN_B, "wgs84", "gcj02")
    assert service.report(point=(float(gx), float(gy)), crs="gcj02").json()["grid_code"] == GRID_B


def test_report_routing_loop_and_idempotency(service):
    check_report_routing_loop_and_idempotency(service)


def test_suspend_postpone_reassign_and_duplicates_over_http(service):
    first = service.report().json()["case_id"]
    second = service.report(who="reporter2", point=(IN_A[0] + 0.0001, IN_A[1])).json()["case_id"]
    pairs = service.call("GET", "/incidents/board", "dispatcher").json()["duplicates"]
    assert [(p["case_id"], p["duplicate_of"]) for p in pairs] == [(second, first)]
    assert service.ops.store.case(second)["status"] == "dispatched"  # suggested, not merged
    service.call("POST", f"/incidents/cases/{second}/attachments", "reporter2", content=PNG,
                 headers={"Content-Type": "image/png"})
    r = service.call("POST", f"/incidents/cases/{second}/merge", "dispatcher", json={"into": first})
    assert r.json()["status"] == "closed" and r.json()["merged_into"] == first
    merged = service.call("GET", f"/incidents/cases/{first}", "head_a").json()
    assert [x["reporter"] for x in merged["reports"]] == ["reporter:zhang", "reporter:wu"]
    assert [a["media_type"] for a in merged["attachments"]] == ["image/png"]
    assert service.call("POST", f"/incidents/cases/{first}/suspend", "dispatcher", json={}).status_code == 422
    assert service.call("POST", f"/incidents/cases/{first}/suspend", "dispatcher",
                        json={"reason": "waiting for the owner"}).json()["status"] == "suspended"
    assert service.call("POST", f"/incidents/cases/{first}/resume", "dispatcher").json()["status"] == "dispatched"
    r = service.call("POST", f"/incidents/cases/{first}/postpone", "dispatcher", json={"hours": 4, "reason": "rain"})
    assert r.json()["postponements"] == 1
    r = service.call("POST", f"/incidents/cases/{first}/reassign", "dispatcher",
                     json={"to": "department:Sanitation", "reason": "a cleaning job"})
    assert r.json()["assignee"] == "department:Sanitation" and r.json()["reassignments"] == 1
    assert service.call("POST", f"/incidents/cases/{first}/handle", "head_a").status_code == 403  # not theirs now
    assert service.call("POST", f"/incidents/cases/{first}/handle", "department").json()["status"] == "handled"
    table = service.call("GET", "/incidents/assess?subject=department&from=2000-01-01&to=2100-01-01", "supervisor")
    assert table.status_code == 200 and table.json()[0]["department"] == "Sanitation"
    assert service.call("GET", "/incidents/assess?subject=grid&from=2000-01-01&to=2100-01-01", "reporter").status_code == 403


def test_photos_are_checked_and_served_only_to_who_may_see_the_case(service):
    cid = service.report().json()["case_id"]
    up = lambda who, data, kind="image/jpeg": service.call(
        "POST", f"/incidents/cases/{cid}/attachments", who, content=data, headers={"Content-Type": kind})
    assert up("reporter", b"<script>alert(1)</script>", "image/jpeg").status_code == 422  # bytes, not the header
    assert up("reporter", b"\xff\xd8\xff" + b"0" * (5 * 1024 * 1024)).status_code == 413
    assert up("reporter2", JPEG).status_code == 404  # not their case
    aid = up("reporter", JPEG).json()["attachment_id"]
    path = f"/incidents/attachments/{aid}"
    got = service.call("GET", path, "head_a")
    assert got.status_code == 200 and got.content == JPEG and got.headers["content-type"] == "image/jpeg"
    for who in ("head_b", "reporter2", "department", None):
        assert service.call("GET", path, who).status_code in (401, 404), who
    assert service.call("GET", f"/incidents/attachments/{aid + 1}", "dispatcher").status_code == 404


def _routes(app):
    for path, methods in app.openapi()["paths"].items():
        for method in methods:
            if method.upper() in ("GET", "POST") and path.startswith(("/incidents", "/open311")):
                yield method.upper(), path


def test_role_isolation_on_every_endpoint(service):
    """Every endpoint with every role's token and none: nothing leaks, nothing crashes."""
    a = service.report().json()["case_id"]
    b = service.report(who="reporter2", point=IN_B).json()["case_id"]
    aid = service.call("POST", f"/incidents/cases/{a}/attachments", "reporter", content=JPEG,
                       headers={"Content-Type": "image/jpeg"}).json()["attachment_id"]
    values = {"case_id": b, "action": "handle", "attachment_id": aid, "service_code": "0104", "request_id": str(b),
              "name": "grid"}
    seen = 0
    for method, path in _routes(service.client.app):
        url = re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), path)
        for who in [None, *service.tokens]:
            kw = {"json": {}} if method == "POST" and "open311" not in url and "attachments" not in url else {}
            r = service.call(method, url, who, **kw)
            seen += 1
            text = r.text
            assert r.status_code < 500, (method, url, who, text)
            assert "Traceback" not in text and "/work/" not in text and ".py" not in text, (url, who)
            public = url.startswith(("/incidents/pages", "/incidents/vendor", "/open311/v2/services"))
            if who is None and not public:
                assert r.status_code in (401, 403), (method, url)
            if who in ("head_a", "reporter", "department") and url.startswith("/incidents/") and str(b) in url \
                    and "attachments" not in url:
                assert r.status_code in (403, 404), (method, url, who)  # case b is grid B's and wu's
    assert seen > 100
    # lists carry only what the role may see
    ids = lambda who: {c["case_id"] for c in service.call("GET", "/incidents/cases", who).json()}
    assert ids("head_a") == {a} and ids("head_b") == {b} and ids("reporter") == {a} and ids("department") == set()
    assert ids("dispatcher") == ids("supervisor") == {a, b}
    # a revoked token is refused at once
    service.ops.tokens.revoke(service.tokens["head_a"])
    assert service.call("GET", "/incidents/cases", "head_a").status_code == 401
    # odd input gets a JSON 4xx, never a 500
    for url in ("/incidents/cases/99999999999999999999999", "/incidents/cases/-1", "/incidents/cases?offset=9223372036854775808"):
        r = service.call("GET", url, "dispatcher")
        assert 400 <= r.status_code < 500 and "detail" in r.json(), url
    assert service.call("GET", "/incidents/cases", headers={"Authorization": f"bearer {service.tokens['dispatcher']}"}
                        ).status_code == 200


class GeoReportClient:
    """A minimal Open311 GeoReport v2 client written from the spec (wiki.open311.org/GeoReport_v2):
    JSON format, form-encoded POST with api_key, responses as arrays."""

    def __init__(self, http, endpoint: str, api_key: str):
        self.http, self.endpoint, self.api_key = http, endpoint.rstrip("/"), api_key

    def services(self):
        return self.http.get(f"{self.endpoint}/services.json").json()

    def service_definition(self, code):
        return self.http.get(f"{self.endpoint}/services/{code}.json").json()

    def post_request(self, **fields):
        body = urlencode({"api_key": self.api_key, **fields})
        r = self.http.post(f"{self.endpoint}/requests.json", content=body,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        return r.status_code, r.json()

    def get_requests(self, **params):
        return self.http.get(f"{self.endpoint}/requests.json", params={"api_key": self.api_key, **params}).json()

    def get_request(self, request_id):
        return self.http.get(f"{self.endpoint}/requests/{request_id}.json", params={"api_key": self.api_key}).json()


def check_open311_client(service) -> None:
    client = GeoReportClient(service.client, "/open311/v2/", service.tokens["reporter"])
    services = client.services()
    assert {"service_code", "service_name", "metadata", "type", "group"} <= set(services[0])
    code = next(s["service_code"] for s in services if s["service_code"] == "0104")
    assert client.service_definition(code)["service_code"] == code
    status, created = client.post_request(service_code=code, lat=IN_A[1], long=IN_A[0], description="垃圾 on the road",
                                          address_string="Renmin Rd & Ganjiang Rd", media_url="https://x.example/p.jpg")
    assert status in (200, 201) and isinstance(created, list) and created[0]["service_request_id"]
    rid = created[0]["service_request_id"]
    got = client.get_request(rid)
    assert isinstance(got, list) and len(got) == 1
    item = got[0]
    assert (item["service_request_id"], item["status"], item["service_code"]) == (rid, "open", code)
    assert item["lat"] == pytest.approx(IN_A[1]) and item["long"] == pytest.approx(IN_A[0])
    assert item["description"].startswith("垃圾 on the road") and item["media_url"] == "https://x.example/p.jpg"
    assert item["agency_responsible"] == f"grid:{GRID_A}" and item["requested_datetime"].endswith("+08:00")
    assert rid in [r["service_request_id"] for r in client.get_requests()]
    assert client.get_requests(service_code="0501") == []
    # no key, or a wrong one: refused with the spec's error array, and nothing stored
    before = len(service.ops.store.cases())
    for key in ("", "not-a-token"):
        bad = GeoReportClient(service.client, "/open311/v2", key)
        status, body = bad.post_request(service_code=code, lat=IN_A[1], long=IN_A[0], description="x")
        assert status in (401, 403) and body[0]["code"] == status and "description" in body[0]
    assert len(service.ops.store.cases()) == before
    status, body = client.post_request(service_code="9999", lat=IN_A[1], long=IN_A[0])
    assert status == 422 and "unknown event type" in body[0]["description"]
    status, body = client.post_request(service_code=code, address_string="somewhere")
    assert status == 422 and "lat and long" in body[0]["description"]


def test_open311_client(service):
    check_open311_client(service)


def test_cli_token_prints_the_token_last(tmp_path, capsys):
    db = tmp_path / "cases.sqlite"
    code, text = run_cli(["incidents", "token", db, "--role", "grid_head", "--name", "li", "--grid", GRID_A], capsys,
                         collapse=False)
    assert code == 0
    token = text.strip().splitlines()[-1]
    ops = open_operations(db, grids_frame())
    assert ops.tokens.authenticate(token)["grid"] == GRID_A
    code, text = run_cli(["incidents", "token", db, "--role", "grid_head", "--name", "li"], capsys)
    assert code != 0 and "--grid" in text and "Traceback" not in text


def test_pages_are_offline_and_escape_by_construction(service):
    for name in ("report", "grid", "board"):
        r = service.client.get(f"/incidents/pages/{name}")
        assert r.status_code == 200 and "connect-src 'self'" in r.headers["content-security-policy"]
        assert "innerHTML" not in r.text and "http://" not in r.text and "https://" not in r.text
    assert service.client.get("/incidents/vendor/leaflet.js").status_code == 200
    assert service.client.get("/incidents/vendor/..%2Fapp.py").status_code == 404
    assert json.loads(service.client.get("/incidents/pages/nope").text)["detail"].startswith("no page")
