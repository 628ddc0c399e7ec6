"""The dispatch HTTP service: API flow, access rules, bad input, load test and kill -9 recovery."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from gridtools.dispatch.center import DispatchCenter  # noqa: E402
from gridtools.dispatch.store import TripStore, hash_token  # noqa: E402
from gridtools.service.app import create_app  # noqa: E402

from ladder import ladder_frame, ladder_network, ladder_park  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def tomorrow(hhmm: str = "08:10") -> str:
    day = dt.date.today() + dt.timedelta(days=1)
    return f"{day.isoformat()}T{hhmm}"


@pytest.fixture()
def dispatch_db(tmp_path) -> str:
    """The service database (tests/service/test_service_postgres.py overrides it with a PostgreSQL URL)."""
    return str(tmp_path / "d.db")


@pytest.fixture()
def api(dispatch_db):
    store = TripStore(dispatch_db)
    center = DispatchCenter(ladder_network(), ladder_park(), store)
    client = TestClient(create_app(center))
    boss = store.issue_token("dispatcher", "control room")
    client.headers["Authorization"] = f"Bearer {boss}"
    drivers = {}
    for name in ("ann", "bob"):
        token = client.post("/tokens", json={"role": "driver", "name": name}).json()["token"]
        drivers[name] = {"Authorization": f"Bearer {token}"}
    return client, drivers, store


def test_trip_flow_and_access(api):
    client, drivers, store = api
    ann, bob = drivers["ann"], drivers["bob"]
    assert client.post("/trucks", json={"plate": "A1", "weight_t": 40}, headers=ann).status_code == 201
    assert client.post("/trucks", json={"plate": "B1", "weight_t": 26, "height_m": 3.8}, headers=bob).status_code == 201
    r = client.post("/trips", json={"plate": "A1", "dock": "D", "gate": "G", "earliest_arrival": tomorrow()},
                    headers=ann)
    assert r.status_code == 201, r.text
    trip = r.json()
    assert trip["status"] == "assigned" and trip["route"]["osmids"] == [1, 2, 3, 7]
    assert [t["osmid"] for t in trip["times"]] == [1, 2, 3, 7] and trip["waiting_area"] is None
    # the second large truck in the same slot takes the parallel road (capacity 1 per slot)
    t2 = client.post("/trips", json={"plate": "B1", "dock": "D", "gate": "G", "earliest_arrival": tomorrow()},
                     headers=bob).json()
    assert t2["route"]["osmids"] == [1, 4, 5, 6, 7] and t2["delay_s"] == 0
    # drivers see only their own trips; dispatchers see all
    assert [t["id"] for t in client.get("/trips", headers=ann).json()] == [trip["id"]]
    assert client.get(f"/trips/{t2['id']}", headers=ann).status_code == 404
    assert len(client.get("/trips").json()) == 2
    assert client.post(f"/trips/{trip['id']}/arrival", headers=bob).status_code == 404
    assert client.post("/trucks", json={"plate": "A1"}, headers=bob).status_code == 403
    # route GeoJSON and maps
    gj = client.get(f"/trips/{trip['id']}/route.geojson", headers=ann).json()
    assert gj["type"] == "FeatureCollection" and [f["properties"]["osmid"] for f in gj["features"]] == [1, 2, 3, 7]
    assert "leaflet" in client.get(f"/trips/{trip['id']}/map", headers=ann).text.lower()
    page = client.get("/dispatcher")
    assert page.status_code == 200 and "2 active trips" in page.text and "0 over capacity" in page.text
    assert client.get("/dispatcher", headers=ann).status_code == 403
    slot = trip["road_slot_start"][:16]
    one = client.get("/dispatcher", params={"slot": slot})
    assert one.status_code == 200 and f"slot {slot}" in one.text
    load = client.get("/dispatcher/load").json()
    assert all(row["load"] <= row["capacity"] for row in load)
    assert {row["osmid"]: row["load"] for row in load} == {1: 2, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 2}
    # update: a later time re-plans the trip and frees the old slot
    moved = client.patch(f"/trips/{trip['id']}", json={"earliest_arrival": tomorrow("10:05")}, headers=ann).json()
    assert moved["arrival"].startswith(tomorrow("10:05")) and moved["id"] == trip["id"]
    # arrival, departure, then cancelling is refused (409); cancelling B's trip frees its load
    assert client.post(f"/trips/{trip['id']}/arrival", headers=ann).json()["status"] == "arrived"
    assert client.post(f"/trips/{trip['id']}/departure", headers=ann).json()["status"] == "departed"
    assert client.delete(f"/trips/{trip['id']}", headers=ann).status_code == 409
    assert client.delete(f"/trips/{t2['id']}", headers=bob).json()["status"] == "cancelled"
    assert all(row["osmid"] not in (4, 5, 6) for row in client.get("/dispatcher/load").json())
    # tokens are stored hashed only
    stored = [r["hash"] for r in store.connection().execute("SELECT hash FROM tokens")]
    raw = drivers["ann"]["Authorization"].split()[1]
    assert hash_token(raw) in stored and raw not in stored


def test_idempotent_retry(api):
    client, drivers, _ = api
    ann = drivers["ann"]
    client.post("/trucks", json={"plate": "A1"}, headers=ann)
    body = {"plate": "A1", "dock": "D", "gate": "G", "earliest_arrival": tomorrow()}
    first = client.post("/trips", json=body, headers={**ann, "Idempotency-Key": "k1"})
    again = client.post("/trips", json=body, headers={**ann, "Idempotency-Key": "k1"})
    assert first.status_code == 201 and again.status_code == 200 and first.json()["id"] == again.json()["id"]
    assert len(client.get("/trips").json()) == 1


@pytest.mark.parametrize("body, code, words", [
    ({"dock": "NOPE"}, 422, "unknown dock 'NOPE'"),
    ({"gate": "NOPE"}, 422, "unknown gate 'NOPE'"),
    ({"earliest_arrival": "next tuesday"}, 422, "cannot read the time"),
    ({"earliest_arrival": "2020-01-01T08:00"}, 422, "in the past"),
    ({"gate": None, "origin": [9.5, 49.0]}, 422, "from the nearest road"),
    ({"dock": "D2"}, 422, "maxweight"),
    ({"plate": "ZZ9"}, 404, "not registered"),
    ({"dock": None}, 422, "dock"),
])
def test_bad_input_gives_clear_4xx(api, body, code, words):
    client, drivers, _ = api
    ann = drivers["ann"]
    client.post("/trucks", json={"plate": "A1", "weight_t": 40}, headers=ann)
    payload = {"plate": "A1", "dock": "D", "gate": "G", "earliest_arrival": tomorrow(), **body}
    r = client.post("/trips", json={k: v for k, v in payload.items() if v is not None or k == "gate"}, headers=ann)
    assert r.status_code == code, r.text
    assert words in r.json()["detail"]
    if body.get("dock") == "D2":
        assert r.json()["error"] == "NoRouteError" and r.json()["blocking"][0]["osmid"] == 9


def test_auth_required(api):
    client, _, _ = api
    assert client.get("/trips", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/openapi.json").json()["info"]["title"] == "gridtools truck dispatch"


def test_restart_rebuilds_loads(dispatch_db):
    """A new centre on the same database books the stored trips' loads again."""
    net, park = ladder_network(), ladder_park()
    store = TripStore(dispatch_db)
    center = DispatchCenter(net, park, store)
    who = {"id": store.authenticate(store.issue_token("driver", "x"))["id"], "role": "driver"}
    center.register_truck(who, {"plate": "A1"})
    center.register_truck(who, {"plate": "A2"})
    center.request_trip(who, "A1", "D", tomorrow(), gate="G")
    center.request_trip(who, "A2", "D", tomorrow(), gate="G")
    before = center.dispatcher.load_table()
    again = DispatchCenter(net, park, TripStore(dispatch_db))
    assert again.restored == 2
    after = again.dispatcher.load_table()
    assert sorted(zip(before["segment"], before["slot"], before["load"])) == \
        sorted(zip(after["segment"], after["slot"], after["load"]))


def test_postgres_url_needs_psycopg(monkeypatch):
    """A postgresql:// URL selects PostgreSQL; without psycopg the error says what to install."""
    from gridtools.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingDependencyError, match=r"gridtools\[postgis\]"):
        TripStore("postgresql://nobody@127.0.0.1/none")


# ------------------------------------------------------------------------------------------ live server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(tmp_path: Path, port: int, db: str) -> subprocess.Popen:
    env = {**os.environ, "GRIDTOOLS_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "gridtools.cli", "dispatch", "serve", "--network", str(tmp_path / "roads.geojson"),
           "--park", str(tmp_path / "park.yaml"), "--db", db, "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not start within 90 s")


def test_live_server_load_and_kill9(tmp_path, dispatch_db):
    """200 trip requests from 50 concurrent clients to uvicorn on loopback: none lost, none doubled;
    then kill -9 and restart: every accepted trip is still there and its load is restored."""
    from gridtools import io

    io.write_any(ladder_frame(), tmp_path / "roads.geojson")
    park = ladder_park().as_dict()
    park["segment_capacity"] = 20
    (tmp_path / "park.yaml").write_text(yaml.safe_dump(park))
    boss = TripStore(dispatch_db).issue_token("dispatcher", "control room")
    port = _free_port()
    proc = _start(tmp_path, port, dispatch_db)
    url = f"http://127.0.0.1:{port}"
    head = {"Authorization": f"Bearer {boss}"}
    n, conc = 200, 50
    rng = np.random.default_rng(0)
    minutes = rng.integers(0, 8 * 60, n)
    try:
        for k in range(n):
            httpx.post(f"{url}/trucks", json={"plate": f"P{k:03d}"}, headers=head).raise_for_status()

        async def run():
            sem = asyncio.Semaphore(conc)
            lat, results = [], []
            async with httpx.AsyncClient(base_url=url, headers=head, timeout=60,
                                         limits=httpx.Limits(max_connections=conc)) as client:
                async def one(k):
                    when = tomorrow(f"{6 + minutes[k] // 60:02d}:{minutes[k] % 60:02d}")
                    async with sem:
                        t0 = time.perf_counter()
                        r = await client.post("/trips", json={"plate": f"P{k:03d}", "dock": "D", "gate": "G",
                                                              "earliest_arrival": when},
                                              headers={"Idempotency-Key": f"req-{k}"})
                        lat.append(time.perf_counter() - t0)
                        results.append((k, r.status_code, r.json()))
                await asyncio.gather(*(one(k) for k in range(n)))
            return lat, results

        lat, results = asyncio.run(run())
        print(f"\nservice load test: {n} requests, {conc} concurrent: p50 {np.percentile(lat, 50) * 1e3:.0f} ms, "
              f"p99 {np.percentile(lat, 99) * 1e3:.0f} ms")
        assert all(code == 201 for _, code, _ in results), [r for r in results if r[1] != 201][:3]
        ids = {body["id"] for _, _, body in results}
        assert len(ids) == n
        listed = httpx.get(f"{url}/trips", headers=head).json()
        assert sorted(t["id"] for t in listed) == sorted(ids)
        load = httpx.get(f"{url}/dispatcher/load", headers=head).json()
        assert all(row["load"] <= row["capacity"] for row in load)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    proc = _start(tmp_path, port, dispatch_db)
    try:
        health = httpx.get(f"{url}/health", headers=head).json()
        assert health["trips"] == n and health["restored_on_start"] == n
        after = httpx.get(f"{url}/trips", headers=head).json()
        assert sorted(t["id"] for t in after) == sorted(ids)
        assert httpx.get(f"{url}/dispatcher/load", headers=head).json() == load
        # a retried request after the restart returns the stored trip, not a new one
        k = 7
        when = tomorrow(f"{6 + minutes[k] // 60:02d}:{minutes[k] % 60:02d}")
        r = httpx.post(f"{url}/trips", json={"plate": f"P{k:03d}", "dock": "D", "gate": "G",
                                             "earliest_arrival": when},
                       headers={**head, "Idempotency-Key": f"req-{k}"})
        assert r.status_code == 200 and r.json()["id"] == dict((kk, b["id"]) for kk, _, b in results)[k]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
