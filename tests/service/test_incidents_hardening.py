"""Issue 12 for the grid-operations service: the dispatch service's guarantees, systematically.

The service is built with ``service.factory.new_service``, so it has the shared stack (per-token
rate limit, wrong tokens per address, request timeout, body limit with the photo limit kept, JSON
errors for every status in both formats, security headers, /health on the event loop, bounded
worker pools) and the shared token lifecycle (expiry, revoke by API and CLI, rotation with a grace
period, the list).  ``check_*`` functions run against PostgreSQL too
(``test_incidents_service_postgres.py``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from urllib.parse import urlencode

import pytest
from conftest import run_cli

pytest.importorskip("fastapi")
from test_incidents_service import GRID_A, IN_A, JPEG, Service, grids_frame

from gridtools import settings
from gridtools.db import Database
from gridtools.service.incidents_app import open_operations
from gridtools.tokens import hash_token, utc_now


@pytest.fixture
def service(tmp_path):
    s = Service(tmp_path / "cases.sqlite")
    yield s
    s.ops.store.close()


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _ids(service) -> dict:
    return {t["name"]: t["id"] for t in service.ops.tokens.tokens()}


# ------------------------------------------------------------------------------------------ stack
def test_per_token_rate_limit_and_wrong_tokens_per_address(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "service_rate_per_s", 1.0)
    monkeypatch.setattr(settings, "service_rate_burst", 5)
    service = Service(tmp_path / "cases.sqlite")
    codes = [service.call("GET", "/incidents/cases", "head_a").status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[-1] == 429
    r = service.call("GET", "/incidents/cases", "head_a")
    assert r.json()["error"] == "TooManyRequests" and int(r.headers["Retry-After"]) >= 1
    # another token is not held back by the first one's bucket
    assert service.call("GET", "/incidents/cases", "head_b").status_code == 200
    # the Open311 face shares the limit, and answers in the spec's error format
    for _ in range(6):
        r = service.client.get("/open311/v2/requests.json", params={"api_key": service.tokens["reporter"]})
    assert r.status_code == 429 and r.json()[0]["code"] == 429 and "too many" in r.json()[0]["description"]
    # wrong tokens from one address: 429 after the allowed failures, for the header and the api_key alike
    codes = [service.client.get("/incidents/cases", headers=_bearer(f"guess{k}")).status_code for k in range(30)]
    assert codes[0] == 401 and codes[-1] == 429 and codes.count(401) <= settings.service_auth_failures_per_min + 1
    r = service.client.get("/open311/v2/requests.json", params={"api_key": "guess"})
    assert r.status_code == 429 and r.json()[0]["code"] == 429
    service.ops.store.close()


def test_request_timeout_is_a_json_503_never_a_hang(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "service_request_timeout_s", 0.5)
    service = Service(tmp_path / "cases.sqlite")
    monkeypatch.setattr(service.ops, "cases", lambda *a, **k: time.sleep(2.0) or [])
    t0 = time.perf_counter()
    r = service.call("GET", "/incidents/cases", "dispatcher")
    assert time.perf_counter() - t0 < 1.8
    assert r.status_code == 503 and r.json()["error"] == "Unavailable" and r.headers["Retry-After"]
    r = service.client.get("/open311/v2/requests.json", params={"api_key": service.tokens["reporter"]})
    assert r.status_code == 503 and r.json()[0]["code"] == 503 and "longer than 0.5 s" in r.json()[0]["description"]
    service.ops.store.close()


def test_body_limit_keeps_the_photo_limit(service):
    r = service.report(description="x" * 100_000)
    assert r.status_code == 413 and r.json()["error"] == "TooLarge"
    form = urlencode({"api_key": service.tokens["reporter"], "service_code": "0104", "lat": IN_A[1],
                      "long": IN_A[0], "description": "x" * 100_000})
    r = service.client.post("/open311/v2/requests.json", content=form,
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413 and r.json()[0]["code"] == 413
    cid = service.report().json()["case_id"]
    photo = JPEG + b"\x00" * 1_000_000  # a 1 MB photo is well under its own 5 MB limit
    up = service.call("POST", f"/incidents/cases/{cid}/attachments", "reporter", content=photo,
                      headers={"Content-Type": "image/jpeg"})
    assert up.status_code == 201, up.text
    big = service.call("POST", f"/incidents/cases/{cid}/attachments", "reporter", content=b"\xff\xd8\xff" + b"0" * (6 << 20),
                       headers={"Content-Type": "image/jpeg"})
    assert big.status_code == 413 and big.json()["error"] == "TooLarge"
    # the photo's limit is the route's own: the message must not send the user to the 64 KB setting
    assert "service_max_body_bytes" not in big.json()["detail"]
    assert "service_max_body_bytes" in service.report(description="x" * 100_000).json()["detail"]


def test_json_errors_for_every_status_and_security_headers(service, monkeypatch):
    client = service.client
    responses = {
        "health": client.get("/health"),
        "cases": service.call("GET", "/incidents/cases", "dispatcher"),
        "unknown path": client.get("/no/such/path"),
        "wrong method": client.put("/incidents/cases"),
        "no token": client.get("/incidents/cases"),
        "bad body": service.call("POST", "/incidents/cases", "reporter", json={"lon": "east"}),
        "open311": client.get("/open311/v2/services.json"),
        "open311 error": client.get("/open311/v2/requests.json"),
        "page": client.get("/incidents/pages/report"),
    }
    assert responses["unknown path"].status_code == 404 and "no such path" in responses["unknown path"].json()["detail"]
    assert responses["wrong method"].json()["error"] == "MethodNotAllowed"
    assert responses["no token"].json()["error"] == "Unauthorized" and responses["no token"].headers["WWW-Authenticate"]
    assert responses["bad body"].status_code == 422 and responses["bad body"].json()["error"] == "ValidationError"
    assert responses["open311 error"].status_code == 401 and responses["open311 error"].json()[0]["code"] == 401
    monkeypatch.setattr(service.ops, "cases", lambda *a, **k: 1 / 0)
    responses["bug"] = service.call("GET", "/incidents/cases", "dispatcher")
    responses["open311 bug"] = client.get("/open311/v2/requests.json", params={"api_key": service.tokens["reporter"]})
    assert responses["bug"].status_code == 500 and responses["bug"].json()["error"] == "InternalError"
    assert responses["open311 bug"].status_code == 500 and responses["open311 bug"].json()[0]["code"] == 500
    for name, r in responses.items():
        assert "Traceback" not in r.text and "ZeroDivision" not in r.text, name
        assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff", name
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], name
        assert r.headers["Referrer-Policy"] == "no-referrer", name


def test_health_on_the_event_loop_and_a_bounded_queue(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "service_worker_queue", 1)
    service = Service(tmp_path / "cases.sqlite")
    real = service.ops.board
    monkeypatch.setattr(service.ops, "board", lambda who: time.sleep(1.5) or real(who))
    heavy = threading.Thread(target=lambda: service.call("GET", "/incidents/board", "dispatcher"))
    heavy.start()
    time.sleep(0.4)
    t0 = time.perf_counter()
    assert service.client.get("/health").json() == {"status": "ok"}
    assert time.perf_counter() - t0 < 0.5
    busy = service.call("GET", "/incidents/board", "supervisor")  # the read queue (1) is full
    assert busy.status_code == 503 and busy.json()["error"] == "Unavailable" and busy.headers["Retry-After"]
    heavy.join()
    assert service.call("GET", "/incidents/board", "supervisor").status_code == 200
    service.ops.store.close()


def test_bearer_in_any_case_bare_tokens_refused_and_health_reveals_nothing(service):
    raw = service.tokens["dispatcher"]
    for scheme in ("Bearer", "bearer", "BEARER"):
        assert service.client.get("/incidents/cases", headers={"Authorization": f"{scheme} {raw}"}).status_code == 200
    for header in (raw, f"Basic {raw}", f"Token {raw}"):
        assert service.client.get("/incidents/cases", headers={"Authorization": header}).status_code == 401
    service.report()
    assert service.client.get("/health").json() == {"status": "ok"}
    assert service.call("GET", "/health", "reporter").json() == {"status": "ok"}
    admin = service.call("GET", "/health", "dispatcher").json()
    assert admin["status"] == "ok" and "uptime_s" in admin and set(admin["queued"]) == {"work", "read", "pages"}


# ------------------------------------------------------------------------------------------ tokens
def check_token_lifecycle(service, db, capsys) -> None:
    client = service.client
    # issue by API (the dispatcher manages tokens), with a lifetime
    r = service.call("POST", "/tokens", "dispatcher", json={"role": "grid_head", "name": "qian", "grid": GRID_A,
                                                            "days": 1})
    assert r.status_code == 201 and r.json()["grid"] == GRID_A, r.text
    qian = r.json()["token"]
    assert client.get("/incidents/me", headers=_bearer(qian)).json()["grid"] == GRID_A
    assert service.call("POST", "/tokens", "supervisor", json={"role": "dispatcher", "name": "x"}).status_code == 403
    no_grid = service.call("POST", "/tokens", "dispatcher", json={"role": "grid_head", "name": "x"})
    assert no_grid.status_code == 422 and "grid" in no_grid.json()["detail"]
    # expiry: a day later the token is refused, and the refusal says why
    table = service.ops.tokens.table
    table.clock = lambda: utc_now() + dt.timedelta(days=1, minutes=1)
    try:
        r = client.get("/incidents/me", headers=_bearer(qian))
        assert r.status_code == 401 and "expired" in r.json()["detail"]
        r = client.get("/open311/v2/requests.json", params={"api_key": qian})  # the same refusal, Open311's way
        text = r.json()[0]["description"]
        assert r.status_code == 401 and "api_key" in text and "expired at 20" in text and "+00:00" in text
    finally:
        table.clock = utc_now
    # the list: every field, never a secret
    listed = service.call("GET", "/tokens", "dispatcher").json()
    assert service.call("GET", "/tokens", "head_a").status_code == 403
    by_name = {t["name"]: t for t in listed}
    assert {"id", "role", "name", "grid", "department", "created", "expires", "last_used", "revoked"} <= set(by_name["qian"])
    assert by_name["qian"]["grid"] == GRID_A and by_name["he"]["department"] == "Sanitation"
    assert by_name["qian"]["last_used"] and by_name["qian"]["expires"] and by_name["li"]["revoked"] is False
    text = str(listed)
    assert not any(secret in text or hash_token(secret) in text for secret in [qian, *service.tokens.values()])
    # revoke by API: refused from the very next request
    ids = _ids(service)
    assert service.call("DELETE", f"/tokens/{ids['ma']}", "dispatcher").json()["revoked"] is True
    r = service.call("GET", "/incidents/cases", "head_b")
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert service.call("DELETE", f"/tokens/{ids['ma']}", "dispatcher").status_code == 404
    # rotate one's own token: the old one stops at once, the new one is the same holder
    new = service.call("POST", "/tokens/rotate", "reporter").json()["token"]
    r = service.call("GET", "/incidents/me", "reporter")
    assert r.status_code == 401 and "replaced" in r.json()["detail"]
    assert client.get("/incidents/me", headers=_bearer(new)).json()["name"] == "zhang"
    # an administrator rotates another's token with a grace period: both work until it ends
    r = service.call("POST", f"/tokens/{ids['he']}/rotate", "dispatcher", json={"grace_hours": 1})
    assert r.status_code == 201, r.text
    fresh = r.json()["token"]
    assert service.call("GET", "/incidents/me", "department").status_code == 200
    table.clock = lambda: utc_now() + dt.timedelta(hours=1, minutes=1)
    try:
        assert service.call("GET", "/incidents/me", "department").status_code == 401
        assert client.get("/incidents/me", headers=_bearer(fresh)).json()["department"] == "Sanitation"
    finally:
        table.clock = utc_now
    # revoke and list by the CLI, in another "process" (its own store): effective at once
    code, text = run_cli(["incidents", "token", str(db), "--revoke", ids["zhao"]], capsys)
    assert code == 0 and "revoked" in text
    assert service.call("GET", "/incidents/cases", "supervisor").status_code == 401
    code, text = run_cli(["incidents", "token", str(db), "--list"], capsys)
    assert code == 0 and "qian" in text and "grid=" + GRID_A in text and "revoked" in text
    assert not any(secret in text for secret in [qian, new, fresh, *service.tokens.values()])


def test_token_lifecycle(service, tmp_path, capsys):
    check_token_lifecycle(service, tmp_path / "cases.sqlite", capsys)


OLD_TOKENS = """
CREATE TABLE IF NOT EXISTS incident_tokens (
    token_hash TEXT PRIMARY KEY, role TEXT NOT NULL, name TEXT NOT NULL, grid_code TEXT, department TEXT,
    created_at TEXT NOT NULL, revoked_at TEXT
);
"""


def check_old_token_table_migrates(target) -> None:
    """A case database of the first release (table incident_tokens: no id, no expiry) keeps its tokens."""
    from gridtools.incidents import IncidentStore

    store = IncidentStore(target)
    db = store.database
    db.create_tables(OLD_TOKENS)
    with db.write() as con:
        con.execute("INSERT INTO incident_tokens VALUES (?, 'grid_head', 'li', ?, NULL, '2025-01-05 09:00:00', NULL)",
                    (hash_token("old-live-token"), GRID_A))
        con.execute("INSERT INTO incident_tokens VALUES (?, 'reporter', 'wu', NULL, NULL, '2025-01-06 10:00:00', "
                    "'2025-02-01 08:00:00')", (hash_token("old-revoked-token"),))
    store.close()
    for _ in range(2):  # opened twice: migrated once
        ops = open_operations(target, grids_frame())
        who = ops.tokens.authenticate("old-live-token")
        assert who is not None and who["grid"] == GRID_A and who["expires"] is None
        assert ops.tokens.authenticate("old-revoked-token") is None
        assert "revoked" in ops.tokens.refusal("old-revoked-token")
        assert [(t["name"], t["revoked"]) for t in ops.tokens.tokens()] == [("li", False), ("wu", True)]
        ops.store.close()
    ops = open_operations(target, grids_frame())
    assert ops.tokens.revoke_token(ops.tokens.tokens()[0]["id"]) and ops.tokens.authenticate("old-live-token") is None
    old = Database(target)
    assert old.scalar("SELECT COUNT(*) FROM incident_tokens_migrated") == 2  # kept, renamed
    ops.store.close()


def test_old_token_table_migrates(tmp_path):
    check_old_token_table_migrates(tmp_path / "cases.sqlite")


def test_dispatch_refusals_say_why(tmp_path):
    """The dispatch service shares the token table: its 401s now say expired / revoked / replaced."""
    from fastapi.testclient import TestClient
    from test_hardening import _center

    from gridtools.service.app import create_app

    center, store, _ = _center(tmp_path)
    client = TestClient(create_app(center))
    boss = store.issue_token("dispatcher", "boss")
    ann = store.issue_token("driver", "ann", days=1)
    store.token_table.clock = lambda: utc_now() + dt.timedelta(days=2)
    r = client.get("/trucks", headers=_bearer(ann))
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    store.token_table.clock = utc_now
    bob = store.issue_token("driver", "bob")
    bob_id = next(t["id"] for t in store.tokens() if t["name"] == "bob")
    r = client.post(f"/tokens/{bob_id}/rotate", headers=_bearer(boss), json={"grace_hours": 2})
    assert r.status_code == 201
    assert client.get("/trucks", headers=_bearer(bob)).status_code == 200  # within the grace period
    assert client.get("/trucks", headers=_bearer(r.json()["token"])).status_code == 200
    listed = {t["name"]: t for t in client.get("/tokens", headers=_bearer(boss)).json() if t["name"] == "bob"}
    assert listed["bob"]["last_used"]


def test_a_first_release_dispatch_database_keeps_its_tokens(tmp_path):
    """The dispatch tokens table of the first release (no expiry, last use, rotation columns) is
    brought forward when opened: its tokens keep working and gain the lifecycle."""
    import sqlite3

    from gridtools.dispatch.store import TripStore

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE tokens (id INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT UNIQUE NOT NULL, role TEXT "
                    "NOT NULL, name TEXT NOT NULL, created TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)")
        con.execute("INSERT INTO tokens (hash, role, name, created) VALUES (?, 'dispatcher', 'boss', '2025-01-01')",
                    (hash_token("first-release-token"),))
    store = TripStore(path)
    who = store.authenticate("first-release-token")
    assert who is not None and who["role"] == "dispatcher" and who["expires"] is None
    assert store.tokens()[0]["last_used"]
    new = store.rotate_token(who["id"])
    assert store.authenticate("first-release-token") is None and store.authenticate(new)["name"] == "boss"
    store.close()
