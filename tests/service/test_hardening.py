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

from ladder import ladder_network, ladder_park  # noqa: E402


class Clock:
    """An injected clock the test moves forward."""

    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


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
    assert len(center.dispatcher.menus.profiles) == 1
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
             "dispatcher_page": client.get("/dispatcher").text}
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
