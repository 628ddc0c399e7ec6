"""Positions posted batch by batch are matched once each: the kept figures equal a whole-track re-match.

On the real Huangpu network: a trip booked through the dispatch centre of a synthetic park, a
simulated drive of its assigned route with a detour (10 m GPS noise, 10 % of fixes dropped, a 30 s
outage, 2 % stray fixes, a 5-minute stop at the dock), posted in batches of 100, one batch late,
one re-sent, and the service restarted in between (a new store and centre on the same database).
test_service_postgres.py runs the same test on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from conftest import Clock, shared_data
from gridtools.dispatch.center import DispatchCenter
from gridtools.dispatch.checks import trip_route
from gridtools.dispatch.store import TripStore
from gridtools.dispatch.tracking import track_frame
from gridtools.routing import Router, check_route, load_network, truck
from gridtools.routing.compliance_live import CONTEXT, REVISE, LiveCheck
from track_sim import detour_via

BATCH = 100


@pytest.fixture(scope="module")
def huangpu(tmp_path_factory):
    from gridtools.dispatch.synthetic import synthetic_park

    net = load_network(shared_data("china", "shanghai_huangpu_osm", "shanghai_huangpu_drive.osm"),
                       cache_dir=tmp_path_factory.mktemp("cache"))
    park = synthetic_park(net, n_gates=4, n_docks=6, dock_capacity=4, segment_capacity=3,
                          timezone="Asia/Shanghai", seed=1)
    return net, park, Router(net)


@pytest.fixture()
def positions_db(tmp_path) -> str:
    """The database of the test (test_service_postgres.py gives a PostgreSQL URL instead)."""
    return str(tmp_path / "live.db")


def booked_trip(net, park, router, db, clock):
    """A driver's token and a trip from the first gate to the first dock, booked on ``db``."""
    store = TripStore(db)
    center = DispatchCenter(net, park, store, router=router, clock=clock)
    user = store.authenticate(store.issue_token("driver", "ann"))
    center.register_truck(user, {"plate": "沪A12345"})
    trip, _ = center.request_trip(user, plate="沪A12345", dock=park.docks[0].id, gate=park.gates[0].id,
                                  earliest=(clock.now + dt.timedelta(minutes=30)).isoformat())
    return store, center, user, trip


def fixes_of(track) -> list[dict]:
    """A simulated track as the driver's app posts it (WGS-84, ISO times with their offset)."""
    return [{"time": t.isoformat(), "lon": float(p.x), "lat": float(p.y), "accuracy_m": 10.0}
            for t, p in zip(track["time"], track.geometry)]


def simulated_drive(net, park, router, store, trip, start):
    from track_sim import add_outliers, simulate

    assigned = trip_route(store, net, trip["id"])
    gate, dock = park.gate(trip["gate"]), park.dock(trip["dock"])
    g, d = (gate.lon, gate.lat), (dock.lon, dock.lat)
    legs = [g, detour_via(net, assigned), d, g, d]  # a detour, then back to the gate and along the route
    track, truth = simulate(router, assigned, legs, truck(), start=start, noise_m=10.0, outage_s=30.0, seed=7)
    track, _ = add_outliers(track, net, share=0.02, seed=7)
    return assigned, track, truth


def same_stretches(a: list, b: list, times: np.ndarray) -> bool:
    """Equal off-route stretches, each end within one fix (``start`` / ``end``: naive UTC Timestamps)."""
    def where(stretches):
        return [[int(np.searchsorted(times, o[k].to_datetime64())) for k in ("start", "end")] for o in stretches]

    return len(a) == len(b) and all(abs(p - q) <= 1 for x, y in zip(where(a), where(b)) for p, q in zip(x, y))


@pytest.mark.slow
def test_batches_late_resent_and_a_restart_give_the_whole_track_figures(huangpu, positions_db):
    net, park, router = huangpu
    start = park.localize("2030-03-04 08:00")
    clock = Clock(start - dt.timedelta(hours=1))
    store, center, user, trip = booked_trip(net, park, router, positions_db, clock)
    assigned, track, truth = simulated_drive(net, park, router, store, trip, start.replace(tzinfo=None))
    assert (truth["true_off_m"] > 100).sum() > 60  # the detour really leaves the route
    clock.now = start + dt.timedelta(hours=3)
    fixes = fixes_of(track.assign(time=[park.localize(t.isoformat()) for t in track["time"]]))
    batches = [fixes[k:k + BATCH] for k in range(0, len(fixes), BATCH)]
    order = [0, 1, 2, 4, 3, 2] + list(range(5, len(batches)))  # batch 4 before 3, batch 2 sent again
    matched = []
    for step, b in enumerate(order):
        if step == 7:  # the service restarts: a new store and centre on the same database
            store = TripStore(positions_db)
            center = DispatchCenter(net, park, store, router=router, clock=clock)
        out = center.report_positions(user, trip["id"], batches[b])
        matched.append((b, out["accepted"], out["matched"]))
    assert store.position_count(trip["id"]) == len(fixes)
    # every batch in time order matched itself plus the overlap only (a late one: what follows it too)
    in_order = [m for b, acc, m in matched[6:]]
    assert max(in_order) <= BATCH + REVISE + CONTEXT, matched
    assert matched[5][1:] == (0, 0)  # the re-sent batch: nothing new, nothing matched
    assert matched[4][2] <= 2 * BATCH + REVISE + CONTEXT  # batch 3 after 4: 3 and 4 again
    kept = center.compliance(user, trip["id"])
    assert kept["rebuilt"] is False and kept["fixes"] == len(fixes)
    # the fixes behind the freeze point were summed up and their arrays dropped from the state
    state = LiveCheck.from_bytes(assigned, store.track_state(trip["id"])["state"])
    assert state.frozen["dropped"] > 0 and len(state.ms) < len(fixes) - 200, state.frozen
    full = check_route(assigned, track_frame(store.positions(trip["id"])),
                       parking=__import__("shapely").Point(park.dock(trip["dock"]).lon, park.dock(trip["dock"]).lat))
    assert abs(kept["on_route_share"] - full.on_route_share) <= 0.005, (kept, full.summary)
    assert kept["off_route_stretches"] == len(full.off_route) >= 1
    details = kept["details"]
    import pandas as pd

    stored = [{k: pd.Timestamp(o[k]) for k in ("start", "end")} for o in details["off_route"]]
    assert same_stretches(stored, full.off_route, full.points["time"].to_numpy()), (stored, full.off_route)
    assert details["stops"] == len(full.stops) and details["parked_in_place"] == full.parked_in_place
    assert kept["off_route_now"] == bool(full.points["off_route"].iloc[-1])
    # the full rebuild, asked for, gives the same figures
    again = center.compliance(user, trip["id"], full=True)
    assert again["rebuilt"] is True and abs(again["on_route_share"] - kept["on_route_share"]) <= 0.005
    # a state that holds other fixes than the store (lost, or from an older release) is rebuilt
    with store.transaction() as con:
        con.execute("DELETE FROM trip_tracks")
    assert center.compliance(user, trip["id"])["rebuilt"] is True
    assert store.track_state(trip["id"])["fixes"] == len(fixes)


def test_positions_and_compliance_are_matched_in_the_worker_pool(tmp_path):
    """The map matching of a batch never runs on the event loop: it is submitted to the service's
    page pool (threads named gridtools-pages-*), so /health answers while trucks post."""
    import threading

    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from gridtools.service.app import create_app
    from ladder import ladder_network, ladder_park
    from test_positions import ON_ROUTE, _track

    park = ladder_park()
    clock = Clock(dt.datetime(2030, 3, 4, 8, 0, tzinfo=park.tz))
    store = TripStore(str(tmp_path / "d.db"))
    center = DispatchCenter(ladder_network(), park, store, clock=clock)
    ran = []
    for name in ("report_positions", "compliance"):
        def spy(*a, _fn=getattr(center, name), _name=name, **k):
            ran.append((_name, threading.current_thread().name))
            return _fn(*a, **k)
        setattr(center, name, spy)
    client = TestClient(create_app(center), raise_server_exceptions=False)
    ann = {"Authorization": f"Bearer {store.issue_token('driver', 'ann')}"}
    assert client.post("/trucks", json={"plate": "沪A12345"}, headers=ann).status_code == 201
    trip = client.post("/trips", json={"plate": "沪A12345", "dock": "D", "gate": "G",
                                       "earliest_arrival": "2030-03-04T08:30"}, headers=ann).json()
    clock.now = dt.datetime(2030, 3, 4, 8, 40, tzinfo=park.tz)
    fixes = _track(dt.datetime(2030, 3, 4, 8, 10, tzinfo=park.tz), ON_ROUTE)
    assert client.post(f"/trips/{trip['id']}/positions", json={"fixes": fixes}, headers=ann).status_code == 200
    assert client.get(f"/trips/{trip['id']}/compliance", headers=ann, params={"full": 1}).json()["rebuilt"] is True
    assert [n for n, _ in ran] == ["report_positions", "compliance"]
    assert all(t.startswith("gridtools-pages") for _, t in ran), ran
