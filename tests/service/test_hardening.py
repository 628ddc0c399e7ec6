"""Defects found by the load, fault and security probe of the dispatch service (issue 12), one test each.

Every test here failed on main before its fix (the commit that adds it says which defect)."""

from __future__ import annotations

import datetime as dt

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from gridtools.dispatch.center import DispatchCenter  # noqa: E402
from gridtools.dispatch.store import TripStore  # noqa: E402
from gridtools.service.app import create_app  # noqa: E402

from conftest import Clock  # noqa: E402
from ladder import ladder_network, ladder_park  # noqa: E402


def _center(tmp_path, clock=None, **park):
    store = TripStore(str(tmp_path / "d.db"))
    p = ladder_park(**park)
    clock = clock or Clock(dt.datetime(2026, 11, 24, 6, 0, tzinfo=p.tz))
    return DispatchCenter(ladder_network(), p, store, clock=clock), store, clock


def _driver(center, store, name="ann"):
    return {"id": store.authenticate(store.issue_token("driver", name))["id"], "role": "driver"}


def test_horizon_rolls_after_weeks_of_uptime(tmp_path):
    """Defect 1: after 15+ days of uptime every booking was refused ("more than 14 days after the
    start of the dispatch horizon"); the horizon must follow the clock."""
    center, store, clock = _center(tmp_path)
    who = _driver(center, store)
    center.register_truck(who, {"plate": "沪A12345"})
    for day in range(0, 60, 3):
        clock.now = dt.datetime(2026, 11, 24, 6, 0, tzinfo=center.park.tz) + dt.timedelta(days=day)
        when = (clock.now + dt.timedelta(hours=2)).replace(tzinfo=None).isoformat(timespec="minutes")
        trip, created = center.request_trip(who, "沪A12345", "D", when, gate="G")
        assert created and trip["arrival"].startswith(when[:16])
    # loads of days gone by are dropped: the arrays do not grow with uptime
    assert center.dispatcher.load.shape[1] <= center.dispatcher.max_slots
    assert center.dispatcher.slot_start(center.dispatcher.base_slot).date() == (clock.now - dt.timedelta(days=1)).date()


@pytest.fixture()
def api(tmp_path):
    center, store, clock = _center(tmp_path, clock=Clock(dt.datetime.now(ladder_park().tz)))
    client = TestClient(create_app(center))
    boss = store.issue_token("dispatcher", "control room")
    client.headers["Authorization"] = f"Bearer {boss}"
    drivers = {}
    for name in ("ann", "bob"):
        token = client.post("/tokens", json={"role": "driver", "name": name}).json()["token"]
        drivers[name] = {"Authorization": f"Bearer {token}"}
    return client, drivers, store, center


def tomorrow(hhmm: str = "08:10") -> str:
    return f"{(dt.date.today() + dt.timedelta(days=1)).isoformat()}T{hhmm}"


def test_truck_profiles_share_menus_and_are_bounded(api, monkeypatch):
    """Defect 2: each distinct truck profile (200 trucks at 30.000-30.199 t) built its own route
    menus; profiles are bucketed by the limits that bind (the ladder has one: 7.5 t) and the
    trucks of one account are bounded."""
    from gridtools import settings

    client, drivers, store, center = api
    for k in range(30):
        r = client.post("/trucks", json={"plate": f"P{k:03d}", "weight_t": 30 + k / 1000})
        assert r.status_code == 201, r.text
    # the default 40 t truck and the 30 t ones meet the same limits: one menu (dock D2 is closed to them)
    assert client.post("/dispatcher/warm").json()["menus"] == 1
    for k in range(0, 30, 3):
        r = client.post("/trips", json={"plate": f"P{k:03d}", "dock": "D", "gate": "G",
                                        "earliest_arrival": tomorrow(f"{6 + k // 3:02d}:00")})
        assert r.status_code == 201, r.text
    assert len(center.dispatcher.menus.profiles) == 1, list(center.dispatcher.menus.profiles._first)
    # a light truck is another bucket: it may use the 7.5 t road
    client.post("/trucks", json={"plate": "L1", "weight_t": 7})
    assert client.post("/trips", json={"plate": "L1", "dock": "D2", "gate": "G",
                                       "earliest_arrival": tomorrow()}).status_code == 201
    assert len(center.dispatcher.menus.profiles) == 2
    monkeypatch.setattr(settings, "dispatch_max_trucks_per_account", 3)
    ann = drivers["ann"]
    codes = [client.post("/trucks", json={"plate": f"A{k}"}, headers=ann).status_code for k in range(5)]
    assert codes == [201, 201, 201, 422, 422]


XSS = "<img src=x onerror=alert(7)>"


def html_text(value: str) -> str:
    """``value`` as escaped HTML text."""
    import html

    return html.escape(value)


def test_plates_are_validated(api):
    """Defect 4 (input side): a plate is letters, digits and Chinese characters."""
    client, drivers, store, center = api
    r = client.post("/trucks", json={"plate": XSS})
    assert r.status_code == 422 and "is not a vehicle plate" in r.json()["detail"]
    assert client.post("/trucks", json={"plate": "沪A12345"}).status_code == 201
    assert client.post("/trucks", json={"plate": "京A·D1234"}).status_code == 201


def test_every_page_renders_user_fields_as_text(api, tmp_path, browser, monkeypatch):
    """Defect 4: a plate '<img src=x onerror=alert(7)>' was written into the trip map and the
    dispatcher page through the tooltip's innerHTML and the alert fired.  Stored data from before
    the plate check (or a road name from OSM) must render as text on every page, offline."""
    from browser import leaflet_features, open_page, screenshot

    client, drivers, store, center = api
    assert client.post("/trucks", json={"plate": "沪A12345"}).status_code == 201
    trip = client.post("/trips", json={"plate": "沪A12345", "dock": "D", "gate": "G", "cargo": XSS,
                                       "earliest_arrival": tomorrow()}).json()
    # as if stored before plates were checked
    with store.transaction() as con:
        con.execute("UPDATE trucks SET plate = ?", (XSS,))
        con.execute("UPDATE trips SET plate = ?", (XSS,))
    center.network.ways.loc[center.network.ways.index[0], "name"] = XSS
    pages = {"trip_map": client.get(f"/trips/{trip['id']}/map").text,
             # a window that holds tomorrow's trip: its plate is drawn and listed
             "dispatcher_page": client.get("/dispatcher", params={"hours": 48}).text}
    for name, text in pages.items():
        assert XSS not in text, name
        path = tmp_path / f"{name}.html"
        path.write_text(text, encoding="utf-8")
        dialogs = []
        with open_page(browser, path) as (page, blocked):
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.wait_for_timeout(300)
            # hover every feature (a horizontal line has no height, so Playwright's hover() refuses it)
            page.evaluate("document.querySelectorAll('path.leaflet-interactive').forEach(p => "
                          "p.dispatchEvent(new MouseEvent('mouseover', {bubbles: true, clientX: 10, clientY: 10})))")
            page.wait_for_timeout(300)
            tooltip = page.locator(".leaflet-tooltip").all_inner_texts()
            assert leaflet_features(page) > 0, name
            assert not [u for u in blocked if not u.startswith("https://tile")], blocked  # assets are inlined
            assert page.locator("img[src='x']").count() == 0 and dialogs == [], name
            assert "Notebook Trusted" not in page.content()
            screenshot(page, f"service_{name}")
        assert any(XSS in t for t in tooltip) or name == "dispatcher_page", (name, tooltip)
    assert "trips 1-1 on the map" in pages["dispatcher_page"] and html_text(XSS) in pages["dispatcher_page"]


def test_limits_rate_and_token_lifecycle(api, monkeypatch):
    """Defect 6: a 50 MB cargo was accepted; 2,000 wrong tokens in 4 s went unanswered by any
    limit; tokens never expired and could not be revoked (the auth cache kept a revoked one alive
    30 s); 'bearer' in lower case was refused while a bare token was accepted."""
    client, drivers, store, center = api
    ann = drivers["ann"]
    client.post("/trucks", json={"plate": "A1"}, headers=ann)
    big = client.post("/trips", json={"plate": "A1", "dock": "D", "gate": "G", "earliest_arrival": tomorrow(),
                                      "cargo": "x" * 200_000}, headers=ann)
    assert big.status_code == 413 and big.json()["error"] == "TooLarge"
    long = client.post("/trips", json={"plate": "A1", "dock": "D", "gate": "G", "earliest_arrival": tomorrow(),
                                       "cargo": "x" * 5000}, headers=ann)
    assert long.status_code == 422 and "cargo" in long.json()["detail"]
    # the scheme in any case; a bare token or another scheme is refused
    raw = ann["Authorization"].split()[1]
    assert client.get("/trucks", headers={"Authorization": f"bearer {raw}"}).status_code == 200
    assert client.get("/trucks", headers={"Authorization": raw}).status_code == 401
    assert client.get("/trucks", headers={"Authorization": f"Basic {raw}"}).status_code == 401
    # revoke by API: the very next request is refused (no cache), listing shows it revoked
    listed = {t["name"]: t for t in client.get("/tokens").json()}
    assert "hash" not in listed["ann"] and listed["ann"]["expires"]
    assert client.delete(f"/tokens/{listed['ann']['id']}").json()["revoked"] is True
    assert client.get("/trucks", headers=ann).status_code == 401
    # rotation: a new token works, the old one is dead
    bob = drivers["bob"]
    new = client.post("/tokens/rotate", headers=bob).json()["token"]
    assert client.get("/trucks", headers=bob).status_code == 401
    assert client.get("/trucks", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    # expiry
    short = store.issue_token("driver", "temp", days=1)
    assert store.authenticate(short) is not None
    with store.transaction() as con:
        con.execute("UPDATE tokens SET expires = ? WHERE name = 'temp'", ("2000-01-01T00:00:00+00:00",))
    assert store.authenticate(short) is None
    # wrong tokens from one address: 429 after the allowed failures, with Retry-After
    codes = [client.get("/trucks", headers={"Authorization": f"Bearer wrong{k}"}).status_code for k in range(40)]
    assert codes[0] == 401 and codes[-1] == 429 and codes.count(401) <= 21
    r = client.get("/trucks", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


def test_per_token_rate_limit(tmp_path, monkeypatch):
    """Defect 6: one token may not flood the service (429 with Retry-After beyond its rate)."""
    from gridtools import settings

    monkeypatch.setattr(settings, "service_rate_per_s", 1.0)
    monkeypatch.setattr(settings, "service_rate_burst", 5)
    center, store, _ = _center(tmp_path)
    client = TestClient(create_app(center))
    client.headers["Authorization"] = f"Bearer {store.issue_token('driver', 'x')}"
    codes = [client.get("/trucks").status_code for _ in range(8)]
    assert codes[:5] == [200] * 5 and codes[-1] == 429


def test_token_revoke_and_list_by_cli(tmp_path, capsys):
    """Defect 6: revoking took raw SQL; the CLI lists and revokes tokens."""
    from conftest import run_cli

    db = str(tmp_path / "d.db")
    store = TripStore(db)
    token = store.issue_token("driver", "ann")
    code, text = run_cli(["dispatch", "token", "--db", db, "--list"], capsys)
    assert code == 0 and "ann" in text and token not in text
    tid = store.tokens()[0]["id"]
    code, text = run_cli(["dispatch", "token", "--db", db, "--revoke", tid], capsys)
    assert code == 0 and "revoked" in text
    assert store.authenticate(token) is None
    code, text = run_cli(["dispatch", "token", "--db", db, "--name", "bob", "--days", "7"], capsys)
    assert code == 0 and store.authenticate(text.strip())["expires"]
    code, text = run_cli(["dispatch", "token", "--db", db], capsys)
    assert code != 0 and "--name" in text


def test_json_errors_for_every_status_and_security_headers(api):
    """Defect 10: offset=2**63 gave a plain-text 500 and reset the connection; every error is JSON."""
    client, drivers, store, center = api
    r = client.get("/trips", params={"offset": 2 ** 63})
    assert r.status_code == 422 and r.json()["error"] == "ValidationError"
    r = client.get("/no/such/path")
    assert r.status_code == 404 and "no such path" in r.json()["detail"]
    r = client.put("/trips")
    assert r.status_code == 405 and r.json()["error"] == "MethodNotAllowed"
    assert r.headers["X-Content-Type-Options"] == "nosniff" and "frame-ancestors 'none'" in \
        r.headers["Content-Security-Policy"]


def test_internal_error_is_json_500(api, monkeypatch):
    client, drivers, store, center = api
    monkeypatch.setattr(center, "trucks", lambda who: 1 / 0)
    r = TestClient(client.app, raise_server_exceptions=False).get("/trucks", headers=client.headers)
    assert r.status_code == 500 and r.json()["error"] == "InternalError" and "Traceback" not in r.text


def test_small_defects(api):
    """Defect 10: idempotency keys were global (another account could squat one) and a reused key
    with another body returned the old trip; 0 t trucks skipped every limit; a gate and an origin
    together ignored the origin; np.float64(...) in messages; /health showed the trip count to anyone."""
    client, drivers, store, center = api
    ann, bob = drivers["ann"], drivers["bob"]
    client.post("/trucks", json={"plate": "A1"}, headers=ann)
    client.post("/trucks", json={"plate": "B1"}, headers=bob)
    body = {"plate": "A1", "dock": "D", "gate": "G", "earliest_arrival": tomorrow()}
    first = client.post("/trips", json=body, headers={**ann, "Idempotency-Key": "k1"})
    squat = client.post("/trips", json={**body, "plate": "B1"}, headers={**bob, "Idempotency-Key": "k1"})
    assert first.status_code == 201 and squat.status_code == 201 and squat.json()["id"] != first.json()["id"]
    other = client.post("/trips", json={**body, "earliest_arrival": tomorrow("11:00")},
                        headers={**ann, "Idempotency-Key": "k1"})
    assert other.status_code == 409 and "different request" in other.json()["detail"]
    assert client.post("/trucks", json={"plate": "Z0", "weight_t": 0}, headers=ann).status_code == 422
    with pytest.raises(Exception, match="above 0"):
        center.register_truck({"id": 1, "role": "driver"}, {"plate": "Z0", "weight_t": 0.0})
    both = client.post("/trips", json={**body, "origin": [8.0, 49.0]}, headers=ann)
    assert both.status_code == 422 and "not both" in both.json()["detail"]
    nan = client.post("/trips", json={**body, "gate": None, "origin": [8.0, 95.0]}, headers=ann)
    assert nan.status_code == 422 and "np.float64" not in nan.json()["detail"]
    assert client.get("/health", headers={"Authorization": ""}).json() == {"status": "ok"}
    assert client.get("/health").json()["trips"] == 2


def test_counts_are_of_all_trips(api, monkeypatch):
    """Defect 8: the dispatcher page counted only the first 1,000 trips ever created, and 0 for a
    booked day with a day filter."""
    from gridtools import settings

    client, drivers, store, center = api
    monkeypatch.setattr(settings, "dispatch_max_active_trips_per_truck", 1000, raising=False)
    monkeypatch.setattr(center.park, "segment_capacity", 1000, raising=False)
    client.post("/trucks", json={"plate": "A1"})
    who = store.authenticate(client.headers["Authorization"].split()[1])
    day0, day1 = dt.date.today() + dt.timedelta(days=1), dt.date.today() + dt.timedelta(days=2)
    trip, _ = center.request_trip(who, "A1", "D", f"{day1}T08:00", gate="G")
    row = store.trip(trip["id"])
    # 1,200 trips of the day before, copied in the store (faster than assigning them)
    with store.transaction() as con:
        for k in range(1200):
            values = {**row, "id": f"old{k:05d}", "request_key": None, "created": "2000-01-01T00:00:00",
                      "dock_time": f"{day0}T08:00:00+00:00"}
            store.insert_trip(con, values)
    # counts only: no routes drawn (drawing 200 routes of copied trips can pass the 30 s request
    # timeout on a loaded machine)
    page = client.get("/dispatcher", params={"max_routes": 0}).text
    assert "1201 active trips" in page
    assert "1 active trips" in client.get("/dispatcher", params={"day": str(day1), "max_routes": 0}).text


def test_one_truck_cannot_be_on_two_trips(api):
    """Defect 9: one truck booked 404 trips for the same time at one dock; a trip a dispatcher
    books on a driver's truck belonged to the dispatcher, so the driver could not see it."""
    client, drivers, store, center = api
    ann = drivers["ann"]
    client.post("/trucks", json={"plate": "A1"}, headers=ann)
    body = {"plate": "A1", "dock": "D", "gate": "G", "earliest_arrival": tomorrow()}
    assert client.post("/trips", json=body, headers=ann).status_code == 201
    again = client.post("/trips", json=body, headers=ann)
    assert again.status_code == 409 and "already on trip" in again.json()["detail"]
    later = client.post("/trips", json={**body, "earliest_arrival": tomorrow("14:00")}, headers=ann)
    assert later.status_code == 201
    # the dispatcher books on ann's truck: the trip is ann's
    booked = client.post("/trips", json={**body, "earliest_arrival": tomorrow("18:00")})
    assert booked.status_code == 201
    assert booked.json()["id"] in [t["id"] for t in client.get("/trips", headers=ann).json()]
    assert client.post(f"/trips/{booked.json()['id']}/arrival", headers=ann).status_code == 200


def test_trip_map_opens_from_a_signed_link(api):
    """Issue 11: a driver opens the trip map on a phone from a short-lived signed link; the link
    shows that trip only, to its holder only, and dies with the token."""
    client, drivers, store, center = api
    ann, bob = drivers["ann"], drivers["bob"]
    client.post("/trucks", json={"plate": "A1"}, headers=ann)
    trip = client.post("/trips", json={"plate": "A1", "dock": "D", "gate": "G", "earliest_arrival": tomorrow()},
                       headers=ann).json()
    assert client.post(f"/trips/{trip['id']}/map-link", headers=bob).status_code == 404
    link = client.post(f"/trips/{trip['id']}/map-link", headers=ann).json()["url"]
    phone = TestClient(client.app)
    page = phone.get(link)
    assert page.status_code == 200 and "L.map(" in page.text
    assert phone.get(link.replace("sig=", "sig=x")).status_code == 401
    assert phone.get(link.replace(trip["id"], "0" * 16)).status_code == 401
    ann_id = [t for t in store.tokens() if t["name"] == "ann"][0]["id"]
    store.revoke_token(ann_id)
    assert phone.get(link).status_code == 401


def test_docs_work_offline(api):
    """Issue 11: /docs loaded Swagger UI from a CDN; its assets are served by the service."""
    client, *_ = api
    page = client.get("/docs").text
    assert "cdn" not in page.lower()
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs/openapi.json").json()["paths"]


def test_docs_render_offline_in_a_browser(tmp_path, browser):
    """Issue 11, in Chromium: /docs served by a live service on loopback asks the internet for
    nothing (its Swagger UI assets come from the service, under its content security policy) and
    draws every operation of the API."""
    from browser import LiveServer, open_page, screenshot

    center, *_ = _center(tmp_path)
    app = create_app(center)
    operations = sum(len(methods) for methods in app.openapi()["paths"].values())
    with LiveServer(app) as url, open_page(browser, url + "docs", wait_ms=300) as (page, blocked):
        page.wait_for_selector(".opblock", timeout=10_000)
        assert blocked == [], blocked
        assert page.js_errors == [], page.js_errors[:3]
        assert page.locator(".opblock").count() == operations > 0
        assert "gridtools" in page.locator(".information-container .title").inner_text().lower()
        screenshot(page, "service_docs")


def test_slow_work_and_a_locked_database_do_not_stall_the_service(tmp_path, monkeypatch):
    """Defect 7: /dispatcher/load (8.3 s) and an outside writer holding the SQLite lock stalled
    every request, /health included, and the POST ended in a 500 after 30 s."""
    import sqlite3
    import threading
    import time

    from gridtools import settings

    monkeypatch.setattr(settings, "dispatch_lock_timeout_s", 0.5)
    center, store, _ = _center(tmp_path)
    client = TestClient(create_app(center))
    client.headers["Authorization"] = f"Bearer {store.issue_token('dispatcher', 'boss')}"
    real = center.load_frame

    def slow(day=None):
        time.sleep(2.0)  # a heavy load table, in the worker
        return real(day)

    monkeypatch.setattr(center, "load_frame", slow)
    heavy = threading.Thread(target=lambda: client.get("/dispatcher/load"))
    heavy.start()
    time.sleep(0.3)
    t0 = time.perf_counter()
    assert client.get("/health").status_code == 200
    assert time.perf_counter() - t0 < 0.5
    heavy.join()
    # an outside program holds the write lock: the POST is refused quickly with 503, in JSON
    other = sqlite3.connect(tmp_path / "d.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        t0 = time.perf_counter()
        r = client.post("/trucks", json={"plate": "A1"})
        assert r.status_code == 503 and r.json()["error"] == "Unavailable" and r.headers["Retry-After"]
        assert time.perf_counter() - t0 < 5
        assert client.get("/health").status_code == 200
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert client.post("/trucks", json={"plate": "A1"}).status_code == 201
