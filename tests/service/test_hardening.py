"""Defects found by the load, fault and security probe of the dispatch service (issue 12), one test each.

Every test here failed on main before its fix (the commit that adds it says which defect)."""

from __future__ import annotations

import datetime as dt

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from gridtools.dispatch.center import DispatchCenter  # noqa: E402
from gridtools.dispatch.store import TripStore  # noqa: E402
from gridtools.service.app import create_app  # noqa: E402

from ladder import ladder_network, ladder_park  # noqa: E402


class Clock:
    """An injected clock the test moves forward."""

    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


def _center(tmp_path, clock=None, **park):
    store = TripStore(str(tmp_path / "d.db"))
    p = ladder_park(**park)
    clock = clock or Clock(dt.datetime(2026, 11, 24, 6, 0, tzinfo=p.tz))
    return DispatchCenter(ladder_network(), p, store, clock=clock), store, clock


def _driver(center, store, name="ann"):
    return {"id": store.authenticate(store.issue_token("driver", name))["id"], "role": "driver"}


def test_horizon_rolls_after_weeks_of_uptime(tmp_path):
    """Defect 1: after 15+ days of uptime every booking was refused ("more than 14 days after the
    start of the dispatch horizon"); the horizon must follow the clock."""
    center, store, clock = _center(tmp_path)
    who = _driver(center, store)
    center.register_truck(who, {"plate": "沪A12345"})
    for day in range(0, 60, 3):
        clock.now = dt.datetime(2026, 11, 24, 6, 0, tzinfo=center.park.tz) + dt.timedelta(days=day)
        when = (clock.now + dt.timedelta(hours=2)).replace(tzinfo=None).isoformat(timespec="minutes")
        trip, created = center.request_trip(who, "沪A12345", "D", when, gate="G")
        assert created and trip["arrival"].startswith(when[:16])
    # loads of days gone by are dropped: the arrays do not grow with uptime
    assert center.dispatcher.load.shape[1] <= center.dispatcher.max_slots
    assert center.dispatcher.slot_start(center.dispatcher.base_slot).date() == (clock.now - dt.timedelta(days=1)).date()
