"""``gridtools dispatch check``: a stored trip's GPS track against its assigned route and place."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import yaml

from conftest import run_cli
from ladder import ladder_frame, ladder_network, ladder_park
from gridtools import io
from gridtools.dispatch.center import DispatchCenter
from gridtools.dispatch.checks import check_trip, trip_route
from gridtools.dispatch.store import TripStore
from gridtools.routing import Router, truck
from track_sim import simulate


def _trip(tmp_path):
    net, park = ladder_network(), ladder_park()
    store = TripStore(str(tmp_path / "d.db"))
    center = DispatchCenter(net, park, store)
    user = store.authenticate(store.issue_token("driver", "ann"))
    center.register_truck(user, {"plate": "A1", "weight_t": 40})
    day = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    trip, _ = center.request_trip(user, plate="A1", dock="D", gate="G", earliest=f"{day}T08:10")
    return net, park, store, trip["id"]


def test_check_trip_follows_or_leaves_the_assigned_route(tmp_path, capsys, monkeypatch):
    net, park, store, trip_id = _trip(tmp_path)
    assigned = trip_route(store, net, trip_id)
    assert assigned.osmids == [1, 2, 3, 7]
    router = Router(net)
    good, _ = simulate(router, assigned, [(8.0, 49.0), (8.04, 49.0)], truck(), noise_m=10.0, seed=1)
    report = check_trip(store, net, park, trip_id, good)
    assert report.off_route == [] and report.parked_in_place is True
    # the north detour (ways 4-5-6, 330 m off) is reported with its times
    detour, _ = simulate(router, assigned, [(8.0, 49.0), (8.02, 49.003), (8.04, 49.0)], truck(), noise_m=10.0,
                         seed=2)
    report = check_trip(store, net, park, trip_id, detour)
    assert len(report.off_route) == 1 and report.off_route[0]["max_off_m"] > 250
    # the CLI: same report in words
    monkeypatch.setenv("GRIDTOOLS_CACHE", str(tmp_path / "cache"))
    io.write_any(ladder_frame(), tmp_path / "roads.geojson")
    (tmp_path / "park.yaml").write_text(yaml.safe_dump(park.as_dict()))
    track = pd.DataFrame({"lon": detour.geometry.x, "lat": detour.geometry.y, "time": detour["time"].astype(str)})
    track.to_csv(tmp_path / "gps.csv", index=False)
    code, text = run_cli(["dispatch", "check", trip_id, "--db", str(tmp_path / "d.db"), "--network",
                          str(tmp_path / "roads.geojson"), "--park", str(tmp_path / "park.yaml"), "--track",
                          str(tmp_path / "gps.csv")], capsys)
    assert code in (0, None), text
    assert "off route" in text and "parked in its assigned place" in text
    code, text = run_cli(["dispatch", "check", "nope", "--db", str(tmp_path / "d.db"), "--network",
                          str(tmp_path / "roads.geojson"), "--park", str(tmp_path / "park.yaml"), "--track",
                          str(tmp_path / "gps.csv")], capsys)
    assert code == 2 and "no trip 'nope'" in text


def test_check_without_a_track_rematches_the_stored_positions(tmp_path, capsys, monkeypatch):
    """``dispatch check TRIP`` without --track: the fixes the driver's app posted, matched in full,
    and the stored figures replaced (the repair for a trip whose kept matching is lost)."""
    net, park, store, trip_id = _trip(tmp_path)
    assigned = trip_route(store, net, trip_id)
    detour, _ = simulate(Router(net), assigned, [(8.0, 49.0), (8.02, 49.003), (8.04, 49.0)], truck(),
                         noise_m=10.0, seed=2)
    with store.transaction() as con:
        store.add_positions(con, trip_id, [(t.isoformat(timespec="milliseconds"), p.x, p.y, None) for t, p in
                                           zip(detour["time"].dt.tz_localize("UTC"), detour.geometry)])
    monkeypatch.setenv("GRIDTOOLS_CACHE", str(tmp_path / "cache"))
    io.write_any(ladder_frame(), tmp_path / "roads.geojson")
    (tmp_path / "park.yaml").write_text(yaml.safe_dump(park.as_dict()))
    args = ["dispatch", "check", trip_id, "--db", str(tmp_path / "d.db"), "--network", str(tmp_path / "roads.geojson"),
            "--park", str(tmp_path / "park.yaml")]
    code, text = run_cli(args, capsys)
    assert code in (0, None), text
    assert "off route" in text and f"{len(detour):,} fixes" in text
    kept = store.check(trip_id)
    assert kept["fixes"] == len(detour) and kept["off_route_stretches"] == 1
    assert store.track_state(trip_id)["fixes"] == len(detour)
    other = store.new_trip_id()
    code, text = run_cli(args[:2] + [other] + args[3:], capsys)
    assert code == 2 and f"no trip '{other}'" in text
