"""The grid-operations service under a replayed day of real reports, with a kill -9 mid-replay.

A day of the Toronto Police "Major Crime Indicators" records (../shared/data/crime/toronto_mci,
the busiest day that is not a 1 January catch-all date) is sent as field reports to
`gridtools incidents serve` on loopback by 50 concurrent clients, each report with its own
idempotency key; one report in ten is sent a second time after its answer (a client retry).
When half the reports are acknowledged the server is killed with SIGKILL and restarted; clients
retry whatever failed with the same key.  Then the database is checked against answers computed
here independently of the library:

* every acknowledged report is stored, once: one case per key, the acknowledged case id;
* each case went to the right assignee: the department of a component within 5 m (components
  were placed at every 7th report's corner, "Toronto Hydro"), else the head of the grid cell
  computed from the cell arithmetic (2 km-ish squares), else registered for the dispatcher;
* no case is in two states: the status equals the last logged step, report/register/dispatch
  are logged once each.

Printed and written to ``benchmarks/bench_incidents_service.txt``: reports, p50/p99 latency of
the answered requests, throughput (with and without the restart gap), and the ratio to the
baseline: the same reports through ``GridOperations.submit_report`` in this process, one after
the other, on a fresh database of the same backend.  SQLite always; PostgreSQL too when
``GRIDTOOLS_BENCH_POSTGRES_URL`` names a throwaway database (its case tables are dropped).

    python benchmarks/bench_incidents_service.py [--days 1] [--clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "crime" / "toronto_mci" / "toronto_mci_2014_2021.csv.gz"
OUT = REPO / "benchmarks" / "bench_incidents_service.txt"
CELL = 0.02  # degrees
X0, Y0 = -79.70, 43.55
TYPES = {"Assault": "0501", "Break and Enter": "0101", "Auto Theft": "0601", "Robbery": "0502",
         "Theft Over": "0104"}
DEPARTMENT = "Toronto Hydro"


def reports(days: int) -> pd.DataFrame:
    table = pd.read_csv(DATA)
    day = table["occurrencedate"].str[:10]
    busiest = day[~day.str.endswith("/01/01")].value_counts().index[:days]
    chosen = table[day.isin(busiest)].dropna(subset=["Lat", "Long"])
    chosen = chosen[(chosen["Lat"] > 43) & (chosen["Long"] < -79)].reset_index(drop=True)
    chosen["key"] = [f"mci-{i}" for i in range(len(chosen))]
    chosen["type_code"] = chosen["MCI"].map(TYPES)
    return chosen


def cell_code(lon, lat) -> np.ndarray:
    i = np.floor((np.asarray(lon) - X0) / CELL).astype(int)
    j = np.floor((np.asarray(lat) - Y0) / CELL).astype(int)
    return np.array([f"320509{a:05d}{b:06d}" for a, b in zip(i, j)])


def write_inputs(folder: Path, events: pd.DataFrame) -> tuple[Path, Path, np.ndarray]:
    """Grid cells covering the events, and a component register with a lamp at every 7th report."""
    from gridtools.components import open_store

    i = np.floor((events["Long"] - X0) / CELL).astype(int)
    j = np.floor((events["Lat"] - Y0) / CELL).astype(int)
    cells = sorted(set(zip(i, j)))
    cells = [c for c in cells if (c[0] + c[1]) % 9]  # leave some cells out: reports there are unrouted
    grids = gpd.GeoDataFrame(
        {"grid_code": [f"320509{a:05d}{b:06d}" for a, b in cells]},
        geometry=[shapely.box(X0 + a * CELL, Y0 + b * CELL, X0 + (a + 1) * CELL, Y0 + (b + 1) * CELL) for a, b in cells],
        crs=4326)
    grids_path = folder / "grids.gpkg"
    grids.to_file(grids_path, layer="grids", driver="GPKG")
    lamps = events.iloc[::7].drop_duplicates(["Long", "Lat"])
    batch = gpd.GeoDataFrame({"class_code": "0118", "source_key": [f"lamp{k}" for k in range(len(lamps))],
                              "name": "street lamp", "dept_in_charge": DEPARTMENT},
                             geometry=gpd.points_from_xy(lamps["Long"], lamps["Lat"]), crs=4326)
    register = folder / "components.gpkg"
    with open_store(register) as store:
        store.insert_batch(batch, admin_code="320509", source="bench")
    lamp_xy = np.column_stack([lamps["Long"], lamps["Lat"]])
    return grids_path, register, lamp_xy


def expected_assignees(events: pd.DataFrame, grids_path: Path, lamp_xy: np.ndarray) -> list:
    from gridtools.coords import distance_m

    known = set(gpd.read_file(grids_path)["grid_code"])
    codes = cell_code(events["Long"], events["Lat"])
    out = []
    for lon, lat, code in zip(events["Long"], events["Lat"], codes):
        near = distance_m(lon, lat, lamp_xy[:, 0], lamp_xy[:, 1]).min() <= 5.0
        out.append(f"department:{DEPARTMENT}" if near else (f"grid:{code}" if code in known else None))
    return out


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, db, grids, register):
        self.args = [sys.executable, "-m", "gridtools.cli", "incidents", "serve", str(db), "--grids", str(grids),
                     "--components", str(register), "--host", "127.0.0.1", "--port", str(_port())]
        self.base = f"http://127.0.0.1:{self.args[-1]}"
        self.proc = None

    def start(self):
        import httpx

        self.proc = subprocess.Popen(self.args, env={**os.environ, "PYTHONPATH": str(REPO)},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tic = time.perf_counter()
        while time.perf_counter() - tic < 120:
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return time.perf_counter() - tic
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


async def replay(server: Server, events: pd.DataFrame, token: str, clients: int) -> dict:
    import httpx

    queue: asyncio.Queue = asyncio.Queue()
    for row in events.itertuples(index=False):
        queue.put_nowait((row.key, {"type_code": row.type_code, "lon": row.Long, "lat": row.Lat,
                                    "description": f"{row.MCI} at {row.premises_type}"}, False))
    acked, latencies, retries, failures, limited, restart = {}, [], [], 0, 0, {}
    rng = random.Random(7)
    half = len(events) // 2

    async def client(http):
        nonlocal failures, limited
        while True:
            try:
                key, body, is_retry = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            while True:
                tic = time.perf_counter()
                try:
                    r = await http.post(f"{server.base}/incidents/cases", json=body,
                                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})
                except httpx.TransportError:
                    failures += 1
                    await asyncio.sleep(0.05)
                    continue
                if r.status_code == 429:  # the per-token rate limit: wait as told, then retry (same key)
                    limited += 1
                    await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                    continue
                if r.status_code >= 500:
                    failures += 1
                    await asyncio.sleep(0.05)
                    continue
                latencies.append(time.perf_counter() - tic)
                break
            assert r.status_code in (200, 201), r.text
            case_id = r.json()["case_id"]
            if is_retry:
                retries.append((key, case_id, r.status_code))
            else:
                acked[key] = case_id
                if rng.random() < 0.1:
                    queue.put_nowait((key, body, True))
            if len(acked) >= half and not restart:
                restart["at"] = len(acked)
                tic = time.perf_counter()
                server.kill()
                restart["seconds"] = await asyncio.to_thread(server.start)
                restart["gap"] = time.perf_counter() - tic

    tic = time.perf_counter()
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=clients), timeout=60) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    wall = time.perf_counter() - tic
    return {"acked": acked, "latencies": np.array(latencies), "retries": retries, "failures": failures,
            "limited": limited, "restart": restart, "wall": wall}


def check(db, events, expected, result) -> list[str]:
    from gridtools.incidents import IncidentStore

    problems = []
    with IncidentStore(db) as store:
        cases = store.cases().set_index("case_id")
        log = store.log()
    keys = cases["external_id"].str.rsplit(":", n=1).str[-1]
    if len(cases) != len(events):
        problems.append(f"{len(cases)} cases for {len(events)} reports")
    if not keys.is_unique:
        problems.append("a key stored twice")
    by_key = dict(zip(keys, cases.index))
    lost = [k for k, c in result["acked"].items() if by_key.get(k) != c]
    if lost:
        problems.append(f"{len(lost)} acknowledged reports missing or under another id")
    wrong_retry = [k for k, c, status in result["retries"] if by_key.get(k) != c or status != 200]
    if wrong_retry:
        problems.append(f"{len(wrong_retry)} retries did not return the first case")
    want = dict(zip(events["key"], expected))
    misrouted = [k for k, c in by_key.items() if (cases.at[c, "assignee"] if isinstance(cases.at[c, "assignee"], str)
                                                 else None) != want[k]]
    if misrouted:
        problems.append(f"{len(misrouted)} misrouted, e.g. {misrouted[:3]}")
    last = log.groupby("case_id")["to_status"].last()
    if (last.reindex(cases.index) != cases["status"]).any():
        problems.append("a status differs from its last logged step")
    counts = log.groupby(["case_id", "action"]).size()
    if (counts > 1).any():
        problems.append("a step logged twice")
    return problems


def baseline(target, events, grids_path, register) -> float:
    from gridtools import io
    from gridtools.service.incidents_app import open_operations

    ops = open_operations(target, io.read_any(grids_path, layer="grids"), register)
    who = ops.tokens.authenticate(ops.tokens.issue("reporter", "bench"))
    tic = time.perf_counter()
    for row in events.itertuples(index=False):
        ops.submit_report(who, row.type_code, row.Long, row.Lat, description=f"{row.MCI} at {row.premises_type}",
                          key=row.key)
    seconds = time.perf_counter() - tic
    ops.store.close()
    return len(events) / seconds


def fresh(target: str, folder: Path, name: str) -> str:
    if target.startswith("postgres"):
        import psycopg

        with psycopg.connect(target, autocommit=True) as con:
            con.execute("DROP TABLE IF EXISTS case_attachments, incident_tokens, incident_tokens_migrated, case_tokens, "
                        "case_log, cases, calendar_days, "
                        "event_types")
        return target
    return str(folder / name)


def run(label: str, target: str, events, clients: int, folder: Path) -> str:
    from gridtools.incidents import IncidentStore
    from gridtools.incidents.access import TokenStore

    grids_path, register, lamp_xy = write_inputs(folder, events)
    expected = expected_assignees(events, grids_path, lamp_xy)
    db = fresh(target, folder, f"{label}.sqlite")
    with IncidentStore(db) as store:
        token = TokenStore(store.database).issue("reporter", "replay")
    server = Server(db, grids_path, register)
    server.start()
    try:
        result = asyncio.run(replay(server, events, token, clients))
    finally:
        server.kill()
    problems = check(db, events, expected, result)
    rate_base = baseline(fresh(target, folder, f"{label}-base.sqlite"), events, grids_path, register)
    lat = result["latencies"] * 1000
    served = len(events) + len(result["retries"])
    gap = result["restart"].get("gap", 0.0)
    rate = served / result["wall"]
    rate_no_gap = served / max(result["wall"] - gap, 1e-9)
    routed = pd.Series(expected).fillna("unrouted").str.split(":").str[0].value_counts().to_dict()
    return (f"{label}: {len(events)} reports ({routed}) + {len(result['retries'])} retries from {clients} clients; "
            f"kill -9 after {result['restart'].get('at')} acknowledged, restart {result['restart'].get('seconds', 0):.1f} s "
            f"({result['failures']} failed attempts retried, {result['limited']} answered 429 and retried); p50 {np.percentile(lat, 50):.1f} ms, "
            f"p99 {np.percentile(lat, 99):.1f} ms; {rate:.0f} req/s overall, {rate_no_gap:.0f} req/s without the "
            f"restart gap; in-process baseline {rate_base:.0f} reports/s (ratio {rate_no_gap / rate_base:.2f}); "
            + ("checks: all passed (none lost, none doubled, all routed right, one state each)" if not problems
               else "PROBLEMS: " + "; ".join(problems)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    if not DATA.exists():
        print(f"SKIPPED: {DATA} not present")
        return
    events = reports(args.days)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        lines.append(run("sqlite", "sqlite", events, args.clients, Path(tmp)))
        print(lines[-1], flush=True)
        url = os.environ.get("GRIDTOOLS_BENCH_POSTGRES_URL")
        if url:
            lines.append(run("postgresql", url, events, args.clients, Path(tmp)))
            print(lines[-1], flush=True)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines.append(f"({os.cpu_count()} cores, load average {load} at the end: the clients, the server and other work "
                 "share the machine)")
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
