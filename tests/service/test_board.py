"""The dispatcher's board on a big database: only the trips of the window, one line each, paged,
inside the request timeout (issue 12: on the month's database the page drew the first 200 active
trips ever created, incl. trips never reported as departed, and ran into its 30 s timeout)."""

from __future__ import annotations

import datetime as dt

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from gridtools.dispatch.center import DispatchCenter  # noqa: E402
from gridtools.dispatch.store import TripStore  # noqa: E402
from gridtools.service.app import MAX_BOARD, create_app  # noqa: E402
from gridtools.service.workers import render_pool  # noqa: E402

from conftest import Clock  # noqa: E402
from ladder import ladder_network, ladder_park  # noqa: E402


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A service whose store holds 20,000 trips never reported as departed (a month ago) and
    1,000 trips on the road in the next hours, copied from one real assignment."""
    from gridtools import settings

    saved, settings.service_request_timeout_s = settings.service_request_timeout_s, 10.0
    park = ladder_park()
    now = dt.datetime.now(park.tz).replace(second=0, microsecond=0)
    store = TripStore(str(tmp_path_factory.mktemp("board") / "big.db"))
    center = DispatchCenter(ladder_network(), park, store, clock=Clock(now))
    client = TestClient(create_app(center), raise_server_exceptions=False)  # its timeout: 10 s
    pool = render_pool()
    if pool is not None:  # started as `dispatch serve` starts it (tune_interpreter), not by the first page
        pool.preload("gridtools.maps", wait=True)
    settings.service_request_timeout_s = saved
    client.headers["Authorization"] = f"Bearer {store.issue_token('dispatcher', 'control room')}"
    client.post("/trucks", json={"plate": "沪A00001"})
    first = client.post("/trips", json={"plate": "沪A00001", "dock": "D", "gate": "G",
                                        "earliest_arrival": (now + dt.timedelta(days=1)).replace(tzinfo=None)
                                        .isoformat(timespec="minutes")}).json()
    row = store.trip(first["id"])

    def at(t):
        return t.astimezone(park.tz).isoformat()

    with store.transaction() as con:
        for k in range(20000):
            old = now - dt.timedelta(days=30, minutes=k)
            store.insert_trip(con, {**row, "id": f"stale{k:05d}", "request_key": None, "departure": at(old),
                                    "dock_time": at(old + dt.timedelta(minutes=20)), "created": f"2000-01-01T{k:05d}"})
        for k in range(1000):
            leave = now + dt.timedelta(minutes=k % 120)
            store.insert_trip(con, {**row, "id": f"road{k:05d}", "request_key": None, "departure": at(leave),
                                    "dock_time": at(leave + dt.timedelta(minutes=20)), "updated": f"v{k}"})
    return client, center


def test_heaviest_dispatcher_request_on_a_big_database_finishes_inside_its_timeout(big):
    client, _ = big
    r = client.get("/dispatcher", params={"max_routes": MAX_BOARD, "hours": 48})
    assert r.status_code == 200, r.text[:300]
    page = r.text
    # the window: the 1,000 trips on the road (and the first trip, booked a day ahead: 48 h
    # reach it) and none of the 20,000 stale ones, which are counted instead
    assert "21001 active trips; 1001 on the road or at the dock" in page
    assert f"trips 1-{MAX_BOARD} on the map, {1001 - MAX_BOARD} more" in page
    assert "20000 past their dock time and never reported departed" in page
    assert "stale0" not in page and page.count("road0") >= MAX_BOARD
    # one line per trip: as many route features as trips drawn
    assert page.count('"trip": "road') == MAX_BOARD
    nxt = client.get("/dispatcher", params={"max_routes": MAX_BOARD, "hours": 48, "offset": MAX_BOARD})
    assert nxt.status_code == 200 and f"trips {MAX_BOARD + 1}-1000 on the map, 1 more" in nxt.text
    assert f"offset={2 * MAX_BOARD}" in nxt.text and "offset=0" in nxt.text  # next and previous page links


def test_board_window_day_and_slot(big):
    client, center = big
    boss = {"id": 1, "role": "dispatcher"}
    default = center.board(boss)  # now to settings.dispatch_board_hours ahead, 100 per page
    assert default.total == 1000 and len(default.trips) == 100 and default.more == 900
    deps = [t["departure"] for t in default.trips]
    assert deps == sorted(deps) and len(default.lines) == 100
    assert all(g.geom_type == "LineString" and not g.is_empty for g in default.lines.geometry)
    one = center.board(boss, hours=0.5)
    assert 0 < one.total < 1000
    slot = (center.clock() + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert 0 < center.board(boss, slot=slot).total < 1000
    stale_day = (center.clock() - dt.timedelta(days=30)).date().isoformat()
    assert center.board(boss, day=stale_day, limit=0).total > 0
    with pytest.raises(Exception, match="dispatchers"):
        center.board({"id": 2, "role": "driver"})
    assert client.get("/dispatcher", params={"hours": 0}).status_code == 422
    assert client.get("/dispatcher", params={"max_routes": MAX_BOARD + 1}).status_code == 422


def test_dispatcher_page_of_a_day_without_loads(tmp_path):
    """An empty load table (nothing booked on the horizon) with a day filter gave a 500."""
    park = ladder_park()
    store = TripStore(str(tmp_path / "empty.db"))
    client = TestClient(create_app(DispatchCenter(ladder_network(), park, store)))
    client.headers["Authorization"] = f"Bearer {store.issue_token('dispatcher', 'boss')}"
    r = client.get("/dispatcher", params={"day": "2026-11-21"})
    assert r.status_code == 200 and "0 docking on 2026-11-21" in r.text
    assert client.get("/dispatcher/load", params={"day": "2026-11-21"}).json() == []
