"""Soak test of the dispatch service: a simulated month of unattended operation.

On the real OSM network of Shanghai Huangpu with a synthetic park (4 gates, 12 docks of 6 trucks
per 30-min slot, 3 waiting areas, 4 large trucks per road segment per slot), the HTTP app of
``gridtools dispatch serve`` (the whole middleware stack, in-process through ASGI) runs for
``--days`` simulated days on an injected clock.  Each day:

* ``--trips`` trip requests from 30 driver accounts (600 trucks of the three synthetic classes),
  bunched around two peaks, each with an ``Idempotency-Key``; 5 % are retried (must return the
  same trip), 5 % cancelled, 5 % re-planned, 80 % report arrival and departure;
* every 7th day a restart (a new centre on the same database, as after ``kill -9``);
* the invariants, checked at the end of the day: **no lost trip** (every acknowledged trip is in
  the store with the status the client last saw), **loads equal a recount** (a fresh centre
  rebuilt from the store has the same segment, dock and waiting-area loads), **no over-capacity
  beyond the report** (the over-capacity segment-slots of the live loads are the recount's, and
  each lies on a trip whose ``over_capacity`` says so), **the horizon rolls** (its start is the
  day before the clock), **latency bounded** (p99 of the day under ``--p99-limit-ms``).

Then the live check: ``gridtools dispatch serve`` in its own process on loopback over the
month's database (its clock is the real one: the simulated month ends yesterday), ``/health`` sampled while
two clients keep requesting the heaviest dispatcher page (``GET /dispatcher`` with the most routes
a page draws, over a 48 h window): its p99 must stay under ``--health-p99-limit-ms`` (100 ms) and every page
must answer 200 (``live_check_ok``; the run exits 1 when it does not hold).

Run from the repository root::

    python benchmarks/bench_service_soak.py                 # 30 days x 1,000 trips, ~5 min on 2 cores
    python benchmarks/bench_service_soak.py --days 5 --trips 300   # a quick look
    python benchmarks/bench_service_soak.py --health-only DB --park PARK.yaml   # the live check alone, on a kept database

Results: a markdown table per day on stdout and ``benchmarks/results/service_soak.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

from gridtools import settings  # noqa: E402
from gridtools.dispatch.center import DispatchCenter  # noqa: E402
from gridtools.dispatch.store import TripStore  # noqa: E402
from gridtools.dispatch.synthetic import synthetic_day, synthetic_park  # noqa: E402
from gridtools.routing import Router, load_network  # noqa: E402

from _common import Clock, dispatch_server, sample_health  # noqa: E402

NETWORK = SHARED / "china" / "shanghai_huangpu_osm" / "shanghai_huangpu_drive.osm"
#: First simulated day (set by main: the month ends yesterday, so the live check's real clock follows it).
START = dt.datetime(2030, 1, 1, 5, 0)


def make_app(net, park, router, db, clock):
    from fastapi.testclient import TestClient

    from gridtools.service.app import create_app

    center = DispatchCenter(net, park, TripStore(db), router=router, clock=clock)
    return center, TestClient(create_app(center), raise_server_exceptions=False)


def register(client, park, boss, n_drivers=30, n_trucks=600):
    """Driver accounts and their trucks (the three synthetic truck classes)."""
    heads, plates = [], []
    classes = [{"weight_t": 40.0}, {"weight_t": 26.0, "height_m": 3.8, "length_m": 10.0},
               {"weight_t": 12.0, "height_m": 3.5, "length_m": 8.0, "width_m": 2.5}]
    for d in range(n_drivers):
        token = client.post("/tokens", json={"role": "driver", "name": f"driver {d}"}, headers=boss).json()["token"]
        heads.append({"Authorization": f"Bearer {token}"})
    for k in range(n_trucks):
        plate = f"沪A{k:05d}"
        r = client.post("/trucks", json={"plate": plate, **classes[k % 3]}, headers=heads[k % n_drivers])
        assert r.status_code == 201, r.text
        plates.append((plate, heads[k % n_drivers]))
    return plates


def one_day(client, park, day: int, plates, n_trips, rng, seen, lat):
    """A day of requests; ``seen`` maps trip id -> last status the client saw."""
    date = (START + dt.timedelta(days=day)).date().isoformat()
    reqs = synthetic_day(park, n_trips, day=date, seed=day)
    counts = {"created": 0, "retried": 0, "busy_truck": 0, "refused": 0, "cancelled": 0, "replanned": 0,
              "completed": 0, "errors_5xx": 0}
    made = []
    for k, r in enumerate(reqs):
        plate, head = plates[int(rng.integers(len(plates)))]
        body = {"plate": plate, "dock": r.dock, "gate": r.gate,
                "earliest_arrival": r.earliest.replace(tzinfo=None).isoformat(timespec="minutes")}
        key = {"Idempotency-Key": f"d{day}-{k}"}
        t0 = time.perf_counter()
        res = client.post("/trips", json=body, headers={**head, **key})
        lat.append(time.perf_counter() - t0)
        if res.status_code == 201:
            trip = res.json()
            seen[trip["id"]] = "assigned"
            made.append((trip["id"], head, body, key))
            counts["created"] += 1
        elif res.status_code == 409:
            counts["busy_truck"] += 1
        elif res.status_code >= 500:
            counts["errors_5xx"] += 1
        else:
            counts["refused"] += 1
    for trip_id, head, body, key in made:
        u = rng.random()
        if u < 0.05:  # a client retry: same key, same body -> the same trip
            again = client.post("/trips", json=body, headers={**head, **key})
            assert again.status_code == 200 and again.json()["id"] == trip_id, again.text
            counts["retried"] += 1
        elif u < 0.10:
            if client.delete(f"/trips/{trip_id}", headers=head).status_code == 200:
                seen[trip_id] = "cancelled"
                counts["cancelled"] += 1
        elif u < 0.15:
            later = (dt.datetime.fromisoformat(body["earliest_arrival"]) + dt.timedelta(minutes=45))
            if client.patch(f"/trips/{trip_id}", json={"earliest_arrival": later.isoformat(timespec="minutes")},
                            headers=head).status_code == 200:
                counts["replanned"] += 1
        if seen[trip_id] == "assigned" and u >= 0.2:
            a = client.post(f"/trips/{trip_id}/arrival", headers=head)
            b = client.post(f"/trips/{trip_id}/departure", headers=head)
            if a.status_code == 200 and b.status_code == 200:
                seen[trip_id] = "departed"
                counts["completed"] += 1
    return counts


def invariants(center, net, park, router, db, clock, seen) -> dict:
    """The day's checks; each value is True when it holds."""
    stored = {r["id"]: r["status"] for r in center.store.trips(limit=10 ** 9)}
    lost = [t for t, s in seen.items() if stored.get(t) != s]
    again = DispatchCenter(net, park, TripStore(db), router=router, clock=clock)
    live, fresh = center.dispatcher, again.dispatcher

    def table(d):
        t = d.load_table()
        return sorted(zip(t["segment"].tolist(), t["slot"].tolist(), t["load"].tolist()))

    same_road = table(live) == table(fresh)
    same_dock = (live.base_slot == fresh.base_slot and
                 np.array_equal(_trim(live.dock_load), _trim(fresh.dock_load)) and
                 np.array_equal(_trim(live.wait_load), _trim(fresh.wait_load)))
    over_live, over_fresh = live.load_stats()["segment_slots_over"], fresh.load_stats()["segment_slots_over"]
    flagged = center.store.connection().execute(
        "SELECT COUNT(*) AS n FROM trips WHERE status IN ('assigned', 'arrived') AND over_capacity > 0").fetchone()["n"]
    horizon = live.slot_start(live.base_slot).date() == (clock() - dt.timedelta(days=1)).date()
    return {"no_lost_trip": not lost, "loads_equal_recount": same_road and same_dock,
            "over_capacity_reported": over_live == over_fresh and (over_live == 0 or flagged > 0),
            "horizon_rolls": horizon, "lost": len(lost), "over_segment_slots": int(over_live),
            "load_columns": int(live.load.shape[1])}


def _trim(a):
    """Arrays without trailing empty columns (a recount may have grown less far)."""
    used = np.flatnonzero(a.any(axis=0))
    return a[:, :used[-1] + 1] if len(used) else a[:, :0]


def health_under_load(db, park, boss, seconds=20.0):
    """``gridtools dispatch serve`` in its own process on loopback over the month's database;
    /health sampled while two clients keep requesting the heaviest GET /dispatcher."""
    import os

    import httpx
    import yaml

    from gridtools.service.app import MAX_BOARD

    folder = Path(db).parent
    if not (folder / "park.yaml").exists():
        (folder / "park.yaml").write_text(yaml.safe_dump(park.as_dict(), allow_unicode=True))
    with dispatch_server(NETWORK, folder / "park.yaml", db, folder) as url:
        # the heaviest pages: the most routes a page draws, over the dock day with the most active
        # trips and over a 48 h window from now (the real clock)
        busiest = TripStore(db).connection().execute(
            "SELECT substr(dock_time, 1, 10) AS day, COUNT(*) AS n FROM trips WHERE status IN ('assigned', 'arrived') "
            "GROUP BY day ORDER BY n DESC LIMIT 1").fetchone()
        asks = [{"max_routes": MAX_BOARD, "hours": 48}] + ([{"max_routes": MAX_BOARD, "day": busiest["day"]}]
                                                            if busiest else [])
        stop = time.time() + seconds
        heavy = []

        def hammer(first):
            with httpx.Client(base_url=url, headers=boss, timeout=300) as c:
                k = first
                while time.time() < stop:
                    t0 = time.perf_counter()
                    r = c.get("/dispatcher", params=asks[k % len(asks)])
                    heavy.append((time.perf_counter() - t0, r.status_code))
                    k += 1

        workers = [threading.Thread(target=hammer, args=(k,)) for k in range(2)]
        # the same sampling with no page requests first: what the machine's load alone costs
        idle = sample_health(url, time.time() + seconds / 2)
        stop = time.time() + seconds
        for w in workers:
            w.start()
        time.sleep(1.0)
        samples = sample_health(url, stop)
        for w in workers:
            w.join()
    return {"load_average": [round(v, 1) for v in os.getloadavg()],
            "idle_health_p50_ms": float(np.percentile(idle, 50) * 1e3),
            "idle_health_p99_ms": float(np.percentile(idle, 99) * 1e3), "health_samples": len(samples), "health_p50_ms": float(np.percentile(samples, 50) * 1e3),
            "health_p99_ms": float(np.percentile(samples, 99) * 1e3),
            "health_max_ms": float(np.max(samples) * 1e3), "dispatcher_requests": len(heavy),
            "dispatcher_p50_s": float(np.percentile([h[0] for h in heavy], 50)) if heavy else None,
            "dispatcher_max_s": float(max(h[0] for h in heavy)) if heavy else None,
            "dispatcher_status": sorted({h[1] for h in heavy}), "server_log": str(folder / "serve.log"), "dispatcher_requests_asked": asks,
            "busiest_day_active_trips": busiest["n"] if busiest else 0}


def live_check_ok(live: dict, p99_limit_ms: float) -> bool:
    """The live check holds: /health p99 under the limit and every dispatcher page answered 200."""
    return bool(live["health_p99_ms"] < p99_limit_ms and live["dispatcher_status"] == [200])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--trips", type=int, default=1000)
    ap.add_argument("--restart-every", type=int, default=7)
    ap.add_argument("--p99-limit-ms", type=float, default=250.0)
    ap.add_argument("--health-seconds", type=float, default=20.0)
    ap.add_argument("--health-p99-limit-ms", type=float, default=100.0,
                    help="live check: /health p99 under this while the dispatcher page is hammered")
    ap.add_argument("--health-only", metavar="DB", help="only the live check, on this kept soak database")
    ap.add_argument("--park", help="with --health-only: the park file of that database (default: beside it)")
    args = ap.parse_args()
    if not NETWORK.exists():
        sys.exit(f"needs {NETWORK} (the shared data folder)")
    if args.health_only:
        from gridtools.dispatch import read_park

        park = read_park(args.park or str(Path(args.health_only).parent / "park.yaml"))
        boss = {"Authorization": f"Bearer {TripStore(args.health_only).issue_token('dispatcher', 'bench')}"}
        live = health_under_load(args.health_only, park, boss, seconds=args.health_seconds)
        live["live_check_ok"] = live_check_ok(live, args.health_p99_limit_ms)
        print(json.dumps(live, indent=1))
        return
    global START
    START = dt.datetime.combine(dt.date.today() - dt.timedelta(days=args.days), dt.time(5, 0))
    settings.service_rate_per_s, settings.service_rate_burst = 10_000.0, 10_000  # one process plays 30 drivers
    net = load_network(NETWORK)
    park = synthetic_park(net, n_gates=4, n_docks=12, dock_capacity=6, n_waiting=3, waiting_capacity=15,
                          segment_capacity=4, timezone="Asia/Shanghai")
    router = Router(net).prepare()
    clock = Clock(park.localize(START))
    db = str(Path(tempfile.mkdtemp()) / "soak.db")
    store = TripStore(db)
    boss = {"Authorization": f"Bearer {store.issue_token('dispatcher', 'control room')}"}
    center, client = make_app(net, park, router, db, clock)
    plates = register(client, park, boss)
    rng = np.random.default_rng(0)
    seen: dict = {}
    days, restarts = [], 0
    t_all = time.perf_counter()
    for day in range(args.days):
        clock.now = park.localize(START + dt.timedelta(days=day))
        if day and day % args.restart_every == 0:
            center, client = make_app(net, park, router, db, clock)  # as after kill -9: rebuilt from the store
            restarts += 1
        lat: list = []
        t0 = time.perf_counter()
        counts = one_day(client, park, day, plates, args.trips, rng, seen, lat)
        wall = time.perf_counter() - t0
        checks = invariants(center, net, park, router, db, clock, seen)
        p50, p99 = float(np.percentile(lat, 50) * 1e3), float(np.percentile(lat, 99) * 1e3)
        checks["latency_bounded"] = p99 < args.p99_limit_ms
        row = {"day": day + 1, "date": clock.now.date().isoformat(), **counts, "p50_ms": round(p50, 1),
               "p99_ms": round(p99, 1), "restarts": restarts, "wall_s": round(wall, 1), **checks}
        days.append(row)
        ok = all(row[k] for k in ("no_lost_trip", "loads_equal_recount", "over_capacity_reported", "horizon_rolls",
                                  "latency_bounded"))
        print(f"day {row['day']:>2} {row['date']}: {counts['created']:>5} trips ({counts['busy_truck']} truck busy, "
              f"{counts['refused']} refused, {counts['errors_5xx']} 5xx), p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
              f"restarts {restarts}, invariants {'ok' if ok else 'FAILED ' + json.dumps(checks)}", flush=True)
    live = health_under_load(db, park, boss, seconds=args.health_seconds)
    live["live_check_ok"] = live_check_ok(live, args.health_p99_limit_ms)
    total = {"days": args.days, "trips_per_day_requested": args.trips,
             "trips_created": int(sum(d["created"] for d in days)), "restarts": restarts,
             "all_invariants_every_day": all(all(d[k] for k in ("no_lost_trip", "loads_equal_recount",
                                                                 "over_capacity_reported", "horizon_rolls",
                                                                 "latency_bounded")) for d in days),
             "errors_5xx": int(sum(d["errors_5xx"] for d in days)), "wall_s": round(time.perf_counter() - t_all, 1),
             **live}
    print("\n| day | date | trips | truck busy | refused | p50 ms | p99 ms | restarts | lost | loads = recount "
          "| over-capacity reported | horizon rolls |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    for d in days:
        print(f"| {d['day']} | {d['date']} | {d['created']} | {d['busy_truck']} | {d['refused']} | {d['p50_ms']} | "
              f"{d['p99_ms']} | {d['restarts']} | {d['lost']} | {d['loads_equal_recount']} | "
              f"{d['over_capacity_reported']} | {d['horizon_rolls']} |")
    print(f"\n{json.dumps(total, indent=1)}")
    out = REPO / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "service_soak.json").write_text(json.dumps({"summary": total, "days": days}, indent=1))
    if not (total["all_invariants_every_day"] and live["live_check_ok"] and total["errors_5xx"] == 0):
        sys.exit("soak FAILED: see all_invariants_every_day, live_check_ok and errors_5xx above")


if __name__ == "__main__":
    main()
