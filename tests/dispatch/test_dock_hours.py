"""Dock opening hours and service time per cargo type (issue 13): a trip arriving while its dock is
closed waits (booked at the opening) or is refused with the reason; library, CLI and service."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from conftest import run_cli
from ladder import ladder_frame, ladder_network, ladder_park

from gridtools import io
from gridtools.dispatch import Dispatcher, TripRequest, park_from_dict
from gridtools.errors import InputError

DAY = "2030-01-07"
HOURS = {"service_minutes": {"general": 30, "reefer": 60, "default": 30}}


def park_with(dock_hours="08:00-18:00", rule=None, capacity=None, **park):
    base = ladder_park().as_dict()
    base["docks"][0]["hours"] = dock_hours
    if capacity:
        base["docks"][0]["capacity"] = capacity
    if rule:
        base["docks"][0]["outside_hours"] = rule
    return park_from_dict({**base, **HOURS, **park})


@pytest.fixture(scope="module")
def ladder():
    return ladder_network()


def req(when, cargo_type=None, plate="A"):
    return TripRequest(plate=plate, dock="D", earliest=f"{DAY} {when}", gate="G", cargo_type=cargo_type)


def test_inside_the_hours_nothing_moves(ladder):
    a = Dispatcher(ladder, park_with(), base_time=DAY).assign(req("09:10", "reefer"))
    assert a.dock_time.strftime("%H:%M") == "09:10" and a.note == "" and a.service_s == 3600
    assert a.dock_done.strftime("%H:%M") == "10:10"


def test_arriving_after_closing_waits_for_the_opening(ladder):
    a = Dispatcher(ladder, park_with(), base_time=DAY).assign(req("19:10"))
    assert a.dock_time == dt.datetime(2030, 1, 8, 8, 0, tzinfo=a.dock_time.tzinfo)
    assert "closed at 2030-01-07 19:10" in a.note and "booked at its opening, 2030-01-08 08:00" in a.note
    assert a.earliest.strftime("%H:%M") == "19:10" and a.delay_s == pytest.approx(12 * 3600 + 50 * 60)


def test_a_service_that_would_run_past_closing_waits(ladder):
    d = Dispatcher(ladder, park_with(), base_time=DAY)
    fits = d.assign(req("17:00", "general", plate="A"))  # 17:00-17:30: inside
    assert fits.dock_time.strftime("%d %H:%M") == "07 17:00" and fits.note == ""
    late = d.assign(req("17:40", "reefer", plate="B"))   # 17:40-18:40 would pass 18:00
    assert late.dock_time.strftime("%d %H:%M") == "08 08:00" and "60-minute service" in late.note
    # slots inside the window that would end after closing are not offered either
    one = Dispatcher(ladder, park_with(capacity=1), max_wait_slots=0, base_time=DAY)
    assert one.assign(req("17:00", plate="F")).dock_time.strftime("%d %H:%M") == "07 17:00"
    assert one.assign(req("17:00", plate="X")).dock_time.strftime("%d %H:%M") == "07 17:30"  # ends 18:00
    with pytest.raises(InputError, match=r"dock D has no slot inside its opening hours \(08:00-18:00\)"):
        one.assign(req("17:00", plate="Y"))


def test_refused_outside_the_hours_with_the_reason(ladder):
    d = Dispatcher(ladder, park_with(rule="refuse"), base_time=DAY)
    with pytest.raises(InputError, match=r"dock D is closed at 2030-01-07 06:30 for a 30-minute service "
                                         r"\(open 08:00-18:00, UTC\).*outside_hours: refuse"):
        d.assign(req("06:30"))
    assert d.assign(req("08:00")).note == ""
    # the park-wide rule, overridden per dock
    assert "booked at its opening" in Dispatcher(ladder, park_with(outside_hours="refuse", rule="wait"), base_time=DAY).assign(
        req("06:30")).note
    with pytest.raises(InputError, match="outside_hours: refuse"):
        Dispatcher(ladder, park_with(outside_hours="refuse"), base_time=DAY).assign(req("06:30"))


def test_windows_and_overnight_hours(ladder):
    split = Dispatcher(ladder, park_with("08:00-12:00, 13:00-18:00"), base_time=DAY)
    assert split.assign(req("12:10")).dock_time.strftime("%H:%M") == "13:00"
    night = Dispatcher(ladder, park_with("22:00-06:00"), base_time=DAY)
    assert night.assign(req("05:10")).note == ""
    assert night.assign(req("07:00", plate="B")).dock_time.strftime("%d %H:%M") == "07 22:00"
    assert Dispatcher(ladder, park_with(None), base_time=DAY).assign(req("03:00")).note == ""  # no hours: always open


def test_cargo_types(ladder):
    d = Dispatcher(ladder, park_with(), base_time=DAY)
    assert d.assign(req("09:00")).service_s == 1800  # no type: the default
    with pytest.raises(InputError, match=r"unknown cargo type 'refer'.*default, general, reefer"):
        d.assign(req("09:00", "refer", plate="B"))
    strict = Dispatcher(ladder, park_with(service_minutes={"general": 30}), base_time=DAY)
    with pytest.raises(InputError, match="give the trip's cargo type"):
        strict.assign(req("09:00"))
    assert Dispatcher(ladder, ladder_park(), base_time=DAY).assign(req("09:00", "anything")).service_s == 0  # no service times


@pytest.mark.parametrize("change, message", [
    ({"hours": "8-18"}, "docks entry 1: hours window '8-18' is not HH:MM-HH:MM"),
    ({"hours": "08:00-25:00"}, "is not a time range within a day"),
    ({"hours": "08:00-08:00"}, "is not a time range within a day"),
    ({"hours": 8}, "hours must be 'HH:MM-HH:MM' windows"),
    ({"outside_hours": "maybe"}, "outside_hours must be wait or refuse, got 'maybe'"),
])
def test_bad_dock_hours_are_named(change, message):
    base = ladder_park().as_dict()
    base["docks"][0].update(change)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        park_from_dict(base, source="park.yaml")


@pytest.mark.parametrize("change, message", [
    ({"service_minutes": [30]}, "service_minutes must map cargo types to minutes"),
    ({"service_minutes": {"reefer": -5}}, "service_minutes[reefer] must be a number >= 0"),
    ({"service_minutes": {"reefer": "long"}}, "service_minutes[reefer] must be a number, got 'long'"),
    ({"outside_hours": "never"}, "outside_hours must be wait or refuse, got 'never'"),
    ({"gates": [{"id": "G", "lon": 8.0, "lat": 49.0, "hours": "08:00-18:00"}]}, "hours and outside_hours apply to docks"),
])
def test_bad_park_service_times_are_named(change, message):
    with pytest.raises(InputError) as err:
        park_from_dict({**ladder_park().as_dict(), **change}, source="park.yaml")
    assert message in str(err.value) and "park.yaml" in str(err.value)


def test_park_file_round_trip():
    p = park_with("08:00-12:00,13:00-18:00", rule="refuse")
    again = park_from_dict(p.as_dict())
    assert again.docks[0].hours == ("08:00-12:00", "13:00-18:00") and again.docks[0].outside_hours == "refuse"
    assert again.service_minutes == HOURS["service_minutes"] and again.gates[0].hours == ()


def test_cli_assign_gives_the_reason_and_the_wait(tmp_path, capsys, monkeypatch):
    import yaml

    monkeypatch.setenv("GRIDTOOLS_CACHE", str(tmp_path / "cache"))
    io.write_any(ladder_frame(), tmp_path / "roads.geojson")
    park = park_with(rule="refuse").as_dict()
    park["docks"][1]["hours"] = "08:00-18:00"  # D2 waits (the park's rule)
    (tmp_path / "park.yaml").write_text(yaml.safe_dump(park))
    pd.DataFrame({"plate": ["A", "B", "C"], "dock": ["D", "D", "D2"], "gate": ["G"] * 3,
                  "earliest_arrival": [f"{DAY} 09:00", f"{DAY} 19:00", f"{DAY} 19:00"],
                  "cargo_type": ["reefer", "", "general"], "weight_t": [40, 40, 7]}).to_csv(tmp_path / "trips.csv",
                                                                                        index=False)
    code, text = run_cli(["dispatch", "assign", str(tmp_path / "trips.csv"), "--network",
                          str(tmp_path / "roads.geojson"), "--park", str(tmp_path / "park.yaml"),
                          "-o", str(tmp_path / "plan.gpkg")], capsys, collapse=True)
    assert code in (0, None), text
    plan = io.read_any(tmp_path / "plan.gpkg", layer="trips")
    assert list(plan["status"]) == ["assigned", "refused", "assigned"]
    assert "closed at 2030-01-07 19:00" in plan["reason"].iloc[1] and "outside_hours: refuse" in plan["reason"].iloc[1]
    assert "closed at 2030-01-07 19:00" in text  # the refusal on the terminal
    assert plan["service_s"].iloc[0] == 3600 and "booked at its opening, 2030-01-08 08:00" in plan["note"].iloc[2]
    # a bad hours value in the park file: one line naming the file and the dock entry
    bad = yaml.safe_load((tmp_path / "park.yaml").read_text())
    bad["docks"][0]["hours"] = "8 to 6"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    code, text = run_cli(["dispatch", "assign", str(tmp_path / "trips.csv"), "--network",
                          str(tmp_path / "roads.geojson"), "--park", str(tmp_path / "bad.yaml"),
                          "-o", str(tmp_path / "plan2.gpkg")], capsys, collapse=True)
    assert code == 2 and "bad.yaml: docks entry 1: hours window '8 to 6'" in text and "Traceback" not in text


def test_service_gives_the_reason_and_the_opening(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from gridtools.dispatch.center import DispatchCenter
    from gridtools.dispatch.store import TripStore
    from gridtools.service.app import create_app

    park = park_with()
    park.docks[1] = type(park.docks[1])(**{**park.docks[1].__dict__, "hours": ("08:00-18:00",),
                                           "outside_hours": "refuse"})
    now = dt.datetime(2030, 1, 7, 6, 0, tzinfo=park.tz)
    store = TripStore(str(tmp_path / "d.db"))
    client = TestClient(create_app(DispatchCenter(ladder_network(), park, store, clock=lambda: now)))
    client.headers["Authorization"] = f"Bearer {store.issue_token('dispatcher', 'boss')}"
    client.post("/trucks", json={"plate": "A1"})
    client.post("/trucks", json={"plate": "L1", "weight_t": 7})
    r = client.post("/trips", json={"plate": "A1", "dock": "D", "gate": "G", "earliest_arrival": f"{DAY}T19:00",
                                    "cargo_type": "reefer"})
    assert r.status_code == 201, r.text
    trip = r.json()
    assert trip["dock_time"].startswith("2030-01-08T08:00") and "booked at its opening" in trip["note"]
    assert trip["cargo_type"] == "reefer" and trip["service_s"] == 3600 and trip["dock_done"].startswith("2030-01-08T09:00")
    assert client.get(f"/trips/{trip['id']}").json()["note"] == trip["note"]
    r = client.post("/trips", json={"plate": "L1", "dock": "D2", "gate": "G", "earliest_arrival": f"{DAY}T19:00"})
    assert r.status_code == 422 and "dock D2 is closed at 2030-01-07 19:00" in r.json()["detail"]
    r = client.post("/trips", json={"plate": "L1", "dock": "D", "gate": "G", "earliest_arrival": f"{DAY}T09:00",
                                    "cargo_type": "frozen"})
    assert r.status_code == 422 and "unknown cargo type 'frozen'" in r.json()["detail"]
