"""kill -9 of `gridtools incidents serve` in the middle of concurrent keyed reports, then a restart:
every acknowledged report is there once, retries give the first case, one state per case.
(The full replay of a Toronto day is benchmarks/bench_incidents_service.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from conftest import REPO
from test_incidents_browser import _port
from test_incidents_service import GRID_A, GRID_B, grids_frame

from gridtools.incidents import IncidentStore
from gridtools.incidents.access import TokenStore


def _serve(db, grids, port):
    proc = subprocess.Popen([sys.executable, "-m", "gridtools.cli", "incidents", "serve", str(db), "--grids", str(grids),
                             "--port", str(port)], env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("the service did not start")


@pytest.mark.slow
def test_kill9_mid_reports_loses_and_doubles_nothing(tmp_path):
    grids = tmp_path / "grids.gpkg"
    grids_frame().to_file(grids, layer="grids", driver="GPKG")
    db = tmp_path / "cases.sqlite"
    with IncidentStore(db) as store:
        token = TokenStore(store.database).issue("reporter", "zhang")
    port = _port()
    server = {"proc": _serve(db, grids, port)}
    reports = [(f"k{i}", 120.601 + (i % 19) * 0.001, 31.301 + (i % 7) * 0.001) for i in range(60)]
    acked, lock, killed = {}, threading.Lock(), threading.Event()

    def send(key, lon, lat):
        while True:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/incidents/cases", timeout=30,
                               json={"type_code": "0104", "lon": lon, "lat": lat},
                               headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})
                if r.status_code < 500:
                    return r
            except httpx.TransportError:
                pass
            time.sleep(0.05)

    def client(part):
        for key, lon, lat in part:
            r = send(key, lon, lat)
            assert r.status_code in (200, 201), r.text
            with lock:
                acked[key] = r.json()["case_id"]
                if len(acked) == len(reports) // 2 and not killed.is_set():
                    killed.set()
                    server["proc"].send_signal(signal.SIGKILL)
                    server["proc"].wait()
                    server["proc"] = _serve(db, grids, port)

    threads = [threading.Thread(target=client, args=(reports[i::6],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert killed.is_set() and len(acked) == len(reports)
        again = {k: send(k, lon, lat).json()["case_id"] for k, lon, lat in reports[:20]}  # client retries
        assert all(again[k] == acked[k] for k in again)
    finally:
        server["proc"].kill()
        server["proc"].wait()
    with IncidentStore(db) as store:
        cases, log = store.cases(), store.log()
    assert len(cases) == len(reports) and cases["external_id"].is_unique
    stored = dict(zip(cases["external_id"].str.rsplit(":", n=1).str[-1], cases["case_id"], strict=True))
    assert stored == acked  # every acknowledged report, under the id it was acknowledged with
    assert set(cases["assignee"]) == {f"grid:{GRID_A}", f"grid:{GRID_B}"} and (cases["status"] == "dispatched").all()
    assert (log.groupby("case_id")["to_status"].last() == cases.set_index("case_id")["status"]).all()
    assert (log.groupby(["case_id", "action"]).size() == 1).all()
