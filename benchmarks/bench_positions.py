"""What a trip's GPS positions cost the dispatch service, batch by batch: before and after incremental matching.

On the real OSM network of Shanghai Huangpu with the synthetic park of the service soak
(``bench_service_soak.py``: 4 gates, 12 docks, 3 waiting areas), one trip is booked through the
dispatch centre and its driver's app posts ``--fixes`` simulated fixes (1 Hz, 10 m GPS noise per
axis, 10 % of fixes dropped, a 30 s outage, 2 % stray fixes 80-250 m away, a detour off the
assigned route, then laps between the gate and the dock) in batches of ``--batch`` through the
library call ``POST /trips/{id}/positions`` makes (``DispatchCenter.report_positions``).

* **after**: today's code (each batch map-matches its new fixes plus a 70-fix overlap;
  ``gridtools.routing.compliance_live``); CPU seconds of every batch.
* **before**: the code of the last release, in the same run on a second trip with the same fixes
  (every batch stores its fixes, reads the whole track back and re-matches it with
  ``check_trip``, as ``record_positions`` did).  ``--before sampled`` (default) times the first,
  middle and last batch (the fixes before them stored directly) and infers the total from a line
  through those three; ``--before full`` runs every batch (minutes); ``--before none`` skips it.
* the kept figures against a whole-track match (``GET /trips/{id}/compliance?full=1``).
* **HTTP**: ``gridtools dispatch serve`` in its own process on loopback; ``--http-trucks`` drivers
  each book a trip and post ``--http-batches`` batches of ``--batch`` fixes at once, while
  ``/health`` is sampled every 20 ms (p50 / p99 / max), and idle before for comparison.

Run from the repository root::

    python benchmarks/bench_positions.py                      # ~3-5 min on a loaded 2-core machine
    python benchmarks/bench_positions.py --fixes 5000 --http-trucks 5    # a quick look

Results: stdout and ``benchmarks/results/positions.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from gridtools.dispatch.center import DispatchCenter  # noqa: E402
from gridtools.dispatch.checks import check_trip, trip_route  # noqa: E402
from gridtools.dispatch.store import TripStore  # noqa: E402
from gridtools.dispatch.synthetic import synthetic_park  # noqa: E402
from gridtools.dispatch.tracking import check_values, parse_fixes, track_frame  # noqa: E402
from gridtools.routing import Router, load_network, truck  # noqa: E402

from _common import Clock, dispatch_server, sample_health  # noqa: E402

NETWORK = SHARED / "china" / "shanghai_huangpu_osm" / "shanghai_huangpu_drive.osm"


def service_park(net):
    """The park of the service soak benchmark."""
    return synthetic_park(net, n_gates=4, n_docks=12, dock_capacity=6, n_waiting=3, waiting_capacity=15,
                          segment_capacity=4, timezone="Asia/Shanghai")


def simulated_fixes(net, park, router, assigned, trip, start, n_fixes: int, seed: int = 7) -> list[dict]:
    """``n_fixes`` fixes as the driver's app posts them: a detour, then laps between the gate and the dock."""
    from track_sim import add_outliers, detour_via, simulate

    gate, dock = park.gate(trip["gate"]), park.dock(trip["dock"])
    g, d = (gate.lon, gate.lat), (dock.lon, dock.lat)
    legs = [g, detour_via(net, assigned), d]
    length_m = max(assigned.length_m, 500.0)
    legs += [g, d] * int(np.ceil(n_fixes * 8.0 / 0.9 / (2 * length_m)))  # 8 m/s, 10 % dropped
    track, _ = simulate(router, assigned, legs, truck(), start=start, noise_m=10.0, outage_s=30.0, seed=seed)
    track, _ = add_outliers(track.iloc[:n_fixes].reset_index(drop=True), net, share=0.02, seed=seed)
    return [{"time": park.localize(t.isoformat()).isoformat(), "lon": float(p.x), "lat": float(p.y),
             "accuracy_m": 10.0} for t, p in zip(track["time"], track.geometry)]


def release_record_positions(store, network, park, trip, fixes, now):
    """``record_positions`` of the last release: store the batch, re-match the whole track, store the figures."""
    departure = dt.datetime.fromisoformat(trip["departure"])
    parsed = parse_fixes(fixes, park, now, "wgs84", not_before=departure - dt.timedelta(days=1))
    with store.transaction() as con:
        store.add_positions(con, trip["id"], parsed)
    rows = store.positions(trip["id"])
    if len(rows) < 2:
        return
    report = check_trip(store, network, park, trip["id"], track_frame(rows))
    with store.transaction() as con:
        store.save_check(con, trip["id"], check_values(report))


def cpu(fn, *a, **k):
    t0, w0 = time.process_time(), time.perf_counter()
    out = fn(*a, **k)
    return out, time.process_time() - t0, time.perf_counter() - w0


def book(center, store, park, plate, earliest):
    user = store.authenticate(store.issue_token("driver", plate))
    center.register_truck(user, {"plate": plate})
    trip, _ = center.request_trip(user, plate=plate, dock=park.docks[0].id, gate=park.gates[0].id,
                                  earliest=earliest.isoformat())
    return user, trip


def library_run(net, park, router, args) -> dict:
    start = park.localize("2030-03-04 06:00")
    clock = Clock(start - dt.timedelta(hours=1))
    db = str(Path(tempfile.mkdtemp()) / "positions.db")
    store = TripStore(db)
    center = DispatchCenter(net, park, store, router=router, clock=clock)
    user, trip = book(center, store, park, "沪A00001", start + dt.timedelta(minutes=20))
    # the release's code runs on a second trip with the same fixes (booked now: the clock moves on)
    before_trip = book(center, store, park, "沪A00002", start + dt.timedelta(minutes=20))[1]
    assigned = trip_route(store, net, trip["id"])
    fixes = simulated_fixes(net, park, router, assigned, trip, start.replace(tzinfo=None), args.fixes)
    clock.now = dt.datetime.fromisoformat(fixes[-1]["time"]) + dt.timedelta(minutes=1)
    batches = [fixes[k:k + args.batch] for k in range(0, len(fixes), args.batch)]
    after = []
    for b in batches:
        out, c, w = cpu(center.report_positions, user, trip["id"], b)
        after.append({"cpu_s": c, "wall_s": w, "matched": out["matched"], "stored": out["fixes"]})
    kept = center.compliance(user, trip["id"])
    full, full_cpu, _ = cpu(center.compliance, user, trip["id"], True)
    result = {"fixes": len(fixes), "batches": len(batches), "batch": args.batch,
              "route_m": round(assigned.length_m), "after": summary(after),
              "after_per_batch_cpu_s": [round(a["cpu_s"], 4) for a in after],
              "kept_vs_full": {"on_route_share": [kept["on_route_share"], full["on_route_share"]],
                               "off_route_stretches": [kept["off_route_stretches"], full["off_route_stretches"]],
                               "off_route_m": [kept["off_route_m"], full["off_route_m"]],
                               "stops": [kept["details"]["stops"], full["details"]["stops"]],
                               "full_rebuild_cpu_s": round(full_cpu, 3)}}
    if args.before != "none":
        result["before"] = before_run(net, park, store, before_trip["id"], batches, clock, args.before)
        b, a = result["before"], result["after"]
        result["ratio_last_batch"] = b["last_cpu_s"] / a["last_cpu_s"]
        result["ratio_total"] = b["total_cpu_s"] / a["total_cpu_s"]
    return result


def summary(rows: list[dict]) -> dict:
    c = [r["cpu_s"] for r in rows]
    return {"first_cpu_s": c[0], "middle_cpu_s": c[len(c) // 2], "last_cpu_s": c[-1], "total_cpu_s": float(sum(c)),
            "max_cpu_s": max(c), "matched_max": max(r.get("matched", 0) for r in rows),
            "matched_total": int(sum(r.get("matched", 0) for r in rows)), "total_wall_s": float(sum(r["wall_s"] for r in rows))}


def before_run(net, park, store, trip_id, batches, clock, mode: str) -> dict:
    """The release's code on a second trip with the same fixes (same process, same machine)."""
    trip = store.trip(trip_id)
    wanted = range(len(batches)) if mode == "full" else sorted({0, len(batches) // 2, len(batches) - 1})
    rows, done = [], 0
    for k in wanted:
        if k > done:  # the fixes before batch k, stored without matching (sampled mode)
            parsed = [f for b in batches[done:k] for f in parse_fixes(b, park, clock.now, "wgs84")]
            with store.transaction() as con:
                store.add_positions(con, trip["id"], parsed)
        _, c, w = cpu(release_record_positions, store, net, park, trip, batches[k], clock.now)
        rows.append({"batch": k, "stored": store.position_count(trip["id"]), "cpu_s": c, "wall_s": w})
        done = k + 1
    out = summary(rows)
    out["measured"] = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
    if mode != "full":  # cost = a + b * fixes stored, through the three measured batches
        b, a = np.polyfit([r["stored"] for r in rows], [r["cpu_s"] for r in rows], 1)
        stored = np.cumsum([len(x) for x in batches])
        out["total_cpu_s"] = float(np.sum(a + b * stored))
        out["total_inferred"] = True
        out["matched_total"] = int(stored.sum())
    else:
        out["matched_total"] = int(np.cumsum([len(x) for x in batches]).sum())
    return out


def http_run(net, park, router, args) -> dict:
    """``dispatch serve`` in its own process; drivers post batches at once while /health is sampled."""
    import httpx
    import yaml

    folder = Path(tempfile.mkdtemp())
    db = str(folder / "http.db")
    (folder / "park.yaml").write_text(yaml.safe_dump(park.as_dict(), allow_unicode=True))
    store = TripStore(db)
    tokens = [store.issue_token("driver", f"driver {k}") for k in range(args.http_trucks)]
    store.close()
    with dispatch_server(NETWORK, folder / "park.yaml", db, folder) as url:
        now = dt.datetime.now(park.tz)
        plans = []
        with httpx.Client(base_url=url, timeout=120) as c:
            for k, token in enumerate(tokens):
                head = {"Authorization": f"Bearer {token}"}
                plate = f"沪B{k:05d}"
                assert c.post("/trucks", json={"plate": plate}, headers=head).status_code == 201
                r = c.post("/trips", json={"plate": plate, "dock": park.docks[k % len(park.docks)].id,
                                           "gate": park.gates[k % len(park.gates)].id,
                                           "earliest_arrival": (now + dt.timedelta(hours=2)).isoformat()},
                           headers=head)
                assert r.status_code == 201, r.text
                trip = TripStore(db).trip(r.json()["id"])
                assigned = trip_route(TripStore(db), net, trip["id"])
                n = args.batch * args.http_batches
                begin = (now - dt.timedelta(seconds=n * 1.2 + 120)).replace(tzinfo=None)
                fixes = simulated_fixes(net, park, router, assigned, trip, begin, n, seed=k)
                plans.append((head, trip["id"], [fixes[j:j + args.batch] for j in range(0, n, args.batch)]))
        idle = sample_health(url, time.time() + 10)
        posted, stop = [], threading.Event()

        def driver(head, trip_id, batches):
            with httpx.Client(base_url=url, headers=head, timeout=300) as c:
                for b in batches:
                    t0 = time.perf_counter()
                    r = c.post(f"/trips/{trip_id}/positions", json={"fixes": b})
                    posted.append((time.perf_counter() - t0, r.status_code))

        threads = [threading.Thread(target=driver, args=p) for p in plans]
        health = []
        sampler = threading.Thread(target=lambda: health.extend(sample_health(url, None, stop)))
        sampler.start()
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.perf_counter() - t0
        stop.set()
        sampler.join()
    lat = [p[0] for p in posted]
    return {"trucks": args.http_trucks, "batches_each": args.http_batches, "batch": args.batch,
            "posting_s": took, "batch_p50_s": float(np.percentile(lat, 50)), "batch_max_s": float(max(lat)),
            "statuses": sorted({p[1] for p in posted}), "health_samples": len(health),
            "health_p50_ms": float(np.percentile(health, 50) * 1e3), "health_p99_ms": float(np.percentile(health, 99) * 1e3),
            "health_max_ms": float(max(health) * 1e3), "idle_health_p99_ms": float(np.percentile(idle, 99) * 1e3),
            "load_average": [round(v, 1) for v in os.getloadavg()]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixes", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--before", choices=("sampled", "full", "none"), default="sampled")
    ap.add_argument("--http-trucks", type=int, default=20)
    ap.add_argument("--http-batches", type=int, default=2)
    args = ap.parse_args()
    if not NETWORK.exists():
        sys.exit(f"needs {NETWORK} (the shared data folder)")
    net = load_network(NETWORK)
    park = service_park(net)
    router = Router(net)
    results = {"load_average_start": [round(v, 1) for v in os.getloadavg()],
               "library": library_run(net, park, router, args)}
    print(json.dumps(results["library"], indent=1), flush=True)
    if args.http_trucks:
        results["http"] = http_run(net, park, router, args)
        print(json.dumps(results["http"], indent=1))
    results["load_average_end"] = [round(v, 1) for v in os.getloadavg()]
    out = REPO / "benchmarks" / "results" / "positions.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
