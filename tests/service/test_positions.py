"""GPS positions from the driver's app and off-route trucks on the dispatcher's view (issue 13).

On the ladder network the assigned route runs straight along latitude 49.0 from gate G to dock
D; a truck that takes the parallel northern road (333 m north) is off its route for ~2 minutes.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from gridtools.dispatch.center import DispatchCenter  # noqa: E402
from gridtools.dispatch.store import TripStore  # noqa: E402
from gridtools.service.app import create_app  # noqa: E402

from conftest import Clock  # noqa: E402
from ladder import ladder_network, ladder_park  # noqa: E402

XSS = "<img src=x onerror=alert(7)>"


def _track(start: dt.datetime, path, step_s: float = 5.0, speed_ms: float = 11.0, noise_m: float = 5.0, seed=0):
    """Fixes every ``step_s`` along the lon/lat polyline ``path`` at ``speed_ms``, with GPS noise."""
    rng = np.random.default_rng(seed)
    pts = np.asarray(path, float)
    m_per_deg = np.array([111_320 * np.cos(np.radians(49.0)), 110_540])
    seg = np.hypot(*((np.diff(pts, axis=0)) * m_per_deg).T)
    along = np.arange(0, seg.sum(), speed_ms * step_s)
    cum = np.r_[0, np.cumsum(seg)]
    lon = np.interp(along, cum, pts[:, 0]) + rng.normal(0, noise_m, len(along)) / m_per_deg[0]
    lat = np.interp(along, cum, pts[:, 1]) + rng.normal(0, noise_m, len(along)) / m_per_deg[1]
    return [{"time": (start + dt.timedelta(seconds=k * step_s)).isoformat(), "lon": float(x), "lat": float(y),
             "accuracy_m": 8.0} for k, (x, y) in enumerate(zip(lon, lat))]


ON_ROUTE = [(8.0, 49.0), (8.01, 49.0)]
DETOUR = [(8.01, 49.0), (8.01, 49.003), (8.03, 49.003), (8.03, 49.0), (8.035, 49.0)]


@pytest.fixture()
def positions_db(tmp_path) -> str:
    """The database of the tests (test_service_postgres.py runs them on PostgreSQL)."""
    return str(tmp_path / "d.db")


@pytest.fixture()
def service(positions_db):
    park = ladder_park()
    clock = Clock(dt.datetime(2030, 3, 4, 8, 0, tzinfo=park.tz))
    store = TripStore(positions_db)
    center = DispatchCenter(ladder_network(), park, store, clock=clock)
    client = TestClient(create_app(center), raise_server_exceptions=False)
    boss = {"Authorization": f"Bearer {store.issue_token('dispatcher', 'control room')}"}
    heads = {n: {"Authorization": f"Bearer {store.issue_token('driver', n)}"} for n in ("ann", "bob")}
    assert client.post("/trucks", json={"plate": "沪A12345"}, headers=heads["ann"]).status_code == 201
    trip = client.post("/trips", json={"plate": "沪A12345", "dock": "D", "gate": "G",
                                       "earliest_arrival": "2030-03-04T08:30"}, headers=heads["ann"]).json()
    clock.now = dt.datetime(2030, 3, 4, 8, 40, tzinfo=park.tz)  # the fixes below are from 08:10 on
    start = dt.datetime(2030, 3, 4, 8, 10, tzinfo=park.tz)
    return client, center, store, boss, heads, trip, start


def test_positions_are_idempotent_isolated_and_flag_an_off_route_truck(service):
    client, _, store, boss, heads, trip, start = service
    ann, bob = heads["ann"], heads["bob"]
    url = f"/trips/{trip['id']}/positions"
    first = _track(start, ON_ROUTE)
    r = client.post(url, json={"fixes": first}, headers=ann)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == len(first) and out["duplicates"] == 0 and out["off_route_now"] is False
    assert out["compliance"]["on_route_share"] == 1.0
    # the app re-sends the same batch (no answer came back): nothing is added, same answer
    again = client.post(url, json={"fixes": first}, headers=ann).json()
    assert again["accepted"] == 0 and again["duplicates"] == len(first) and again["fixes"] == len(first)
    assert again["compliance"] == out["compliance"] and store.position_count(trip["id"]) == len(first)
    # isolation: another driver cannot see the trip, a dispatcher does not post for a driver
    assert client.post(url, json={"fixes": first}, headers=bob).status_code == 404
    assert client.post(url, json={"fixes": first}, headers=boss).status_code == 403
    assert client.post(url, json={"fixes": first}).status_code == 401
    assert client.get("/dispatcher/off-route", headers=boss).json() == []
    # the detour over the northern road: off the route now
    detour = _track(start + dt.timedelta(seconds=5 * len(first)), DETOUR, seed=1)
    cut = int(len(detour) * 0.6)  # still on the northern road
    r = client.post(url, json={"fixes": detour[:cut]}, headers=ann).json()
    assert r["off_route_now"] is True and r["compliance"]["off_route_stretches"] == 1
    listed = client.get("/dispatcher/off-route", headers=boss).json()
    assert [t["trip_id"] for t in listed] == [trip["id"]] and listed[0]["plate"] == "沪A12345"
    assert listed[0]["max_off_m"] > 250
    assert client.get("/dispatcher/off-route", headers=ann).status_code == 403
    comp = client.get(f"/trips/{trip['id']}/compliance", headers=ann).json()
    assert comp["off_route_now"] is True and comp["fixes"] == len(first) + cut
    assert client.get(f"/trips/{trip['id']}/compliance", headers=bob).status_code == 404
    # back on the route: no longer listed (the stretch stays in the trip's compliance)
    r = client.post(url, json={"fixes": detour[cut:]}, headers=ann).json()
    assert r["off_route_now"] is False and r["compliance"]["off_route_stretches"] == 1
    assert client.get("/dispatcher/off-route", headers=boss).json() == []


def test_bad_positions_are_refused_with_the_reason(service, monkeypatch):
    from gridtools import settings

    client, _, store, _, heads, trip, start = service
    ann = heads["ann"]
    url = f"/trips/{trip['id']}/positions"
    fixes = _track(start, ON_ROUTE)
    bad = [dict(f) for f in fixes[:5]]
    bad[3]["lat"] = 95.0
    r = client.post(url, json={"fixes": bad}, headers=ann)
    assert r.status_code == 422 and "fix 3" in r.json()["detail"]
    future = [{**fixes[0], "time": (start + dt.timedelta(hours=3)).isoformat()}]
    r = client.post(url, json={"fixes": future}, headers=ann)
    assert r.status_code == 422 and "phone's clock" in r.json()["detail"]
    r = client.post(url, json={"fixes": [{**fixes[0], "time": "yesterday"}]}, headers=ann)
    assert r.status_code == 422 and "fix 0" in r.json()["detail"]
    assert client.post(url, json={"fixes": fixes[:2], "crs": "bd09x"}, headers=ann).status_code == 422
    assert client.post(url, json={"fixes": []}, headers=ann).status_code == 422
    monkeypatch.setattr(settings, "dispatch_max_fixes_per_batch", 10)
    r = client.post(url, json={"fixes": fixes[:11]}, headers=ann)
    assert r.status_code == 422 and "at most 10" in r.json()["detail"]
    big = [{**fixes[0], "time": f"2030-03-04T08:{k // 60:02d}:{k % 60:02d}"} for k in range(1200)]
    assert client.post(url, json={"fixes": big}, headers=ann).status_code == 413  # over the body limit
    assert store.position_count(trip["id"]) == 0  # nothing of a refused batch is stored
    assert client.delete(f"/trips/{trip['id']}", headers=ann).status_code == 200
    r = client.post(url, json={"fixes": fixes[:2]}, headers=ann)
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]


def test_gcj02_fixes_are_stored_in_wgs84():
    from gridtools.coords import convert
    from gridtools.dispatch import park_from_dict
    from gridtools.dispatch.tracking import parse_fixes

    park = park_from_dict({"gates": [], "docks": [], "timezone": "Asia/Shanghai"})
    now = dt.datetime(2030, 3, 4, 9, 0, tzinfo=park.tz)
    glon, glat = convert(121.48, 31.23, "EPSG:4326", "gcj02")
    assert abs(float(glon) - 121.48) > 1e-3  # GCJ-02 is ~500 m off in Shanghai
    (t, lon, lat, acc), = parse_fixes([{"time": "2030-03-04 08:59:00", "lon": float(glon), "lat": float(glat)}],
                                      park, now, crs="gcj02")
    assert abs(lon - 121.48) < 1e-6 and abs(lat - 31.23) < 1e-6 and t.startswith("2030-03-04T08:59:00") and acc is None


def test_off_route_truck_shows_on_the_dispatcher_page(service, browser, tmp_path):
    from browser import open_page, screenshot

    client, _, store, boss, heads, trip, start = service
    ann = heads["ann"]
    fixes = _track(start, ON_ROUTE) + _track(start + dt.timedelta(minutes=10), DETOUR[:3], seed=2)
    r = client.post(f"/trips/{trip['id']}/positions", json={"fixes": fixes}, headers=ann).json()
    assert r["off_route_now"] is True
    with store.transaction() as con:  # as if stored before plates were checked: must render as text
        con.execute("UPDATE trips SET plate = ?", (XSS,))
    page = client.get("/dispatcher", headers=boss, params={"hours": 6})
    assert page.status_code == 200 and XSS not in page.text
    path = tmp_path / "dispatcher.html"
    path.write_text(page.text, encoding="utf-8")
    dialogs = []
    with open_page(browser, path) as (tab, blocked):
        tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        tab.wait_for_timeout(300)
        listed = tab.locator("#off-route table").inner_text()
        assert XSS in listed and trip["id"] in listed  # the list, as text
        rings = tab.locator("path.off-route")
        assert rings.count() == 1  # the truck's last position on the map
        rings.first.dispatch_event("mouseover")
        tab.wait_for_timeout(200)
        tip = " ".join(tab.locator(".leaflet-tooltip").all_inner_texts())
        assert "OFF ROUTE" in tip and XSS in tip
        assert tab.locator("img[src='x']").count() == 0 and dialogs == []
        assert not [u for u in blocked if not u.startswith("https://tile")], blocked
        screenshot(tab, "service_dispatcher_off_route")
