"""gridtools.dispatch.store: the trips of one dock day are a range on dock_time (exact rows, index used).

With ``GRIDTOOLS_TEST_POSTGRES_URL`` set, the same rows are checked on PostgreSQL too (the store's
tables in that throwaway database, in the xdist worker's schema, get a few trips with ids starting
``gt_daytest_``, deleted after).
"""

from __future__ import annotations

import os

import pytest

from conftest import sqlite_query_plans, worker_schema_url
from gridtools.dispatch.store import ACTIVE, TripStore, _day_range

DAY = "2026-12-31"
# (id, status, dock_time): park local ISO text, as TripStore.trip_values writes it
TRIPS = [
    ("gt_daytest_a", "assigned", "2026-12-30T23:59:00+08:00"),  # the evening before
    ("gt_daytest_b", "assigned", "2026-12-31T00:00:00+08:00"),  # the first minute of the day
    ("gt_daytest_c", "arrived", "2026-12-31T12:30:00+08:00"),
    ("gt_daytest_d", "assigned", "2026-12-31T23:59:00+08:00"),  # the last minute of the day
    ("gt_daytest_e", "departed", "2026-12-31T10:00:00+08:00"),  # of the day, but no longer active
    ("gt_daytest_f", "assigned", "2027-01-01T00:00:00+08:00"),  # the next day (and year) begins
    ("gt_daytest_g", "assigned", None),
]


def _backends():
    yield "sqlite"
    if os.environ.get("GRIDTOOLS_TEST_POSTGRES_URL"):
        yield "postgresql"


@pytest.fixture(params=list(_backends()))
def store(request, tmp_path):
    if request.param == "sqlite":
        store = TripStore(tmp_path / "d.db")
    else:
        pytest.importorskip("psycopg")
        store = TripStore(worker_schema_url(os.environ["GRIDTOOLS_TEST_POSTGRES_URL"]))
    with store.transaction() as con:
        for trip_id, status, dock_time in TRIPS:
            con.execute("INSERT INTO trips (id, owner, plate, dock, earliest, status, dock_time, departure, "
                        "created, updated) VALUES (?, 7, 'SH-1', 'D1', '2026-12-30', ?, ?, ?, ?, ?)",
                        (trip_id, status, dock_time, dock_time, trip_id, trip_id))
    yield store
    with store.transaction() as con:
        con.execute("DELETE FROM trips WHERE id LIKE 'gt_daytest_%'")
    store.close()


def _ids(rows):
    # a PostgreSQL test database may hold other tests' trips: look at this test's only
    return sorted(r["id"] for r in rows if r["id"].startswith("gt_daytest_"))


def _private(store):
    return not store._db.postgres  # the SQLite file holds this test's trips only: counts are exact


def test_a_day_is_exactly_the_trips_whose_dock_time_has_that_date(store):
    # what substr(dock_time, 1, 10) = DAY selected
    of_day = sorted(t for t, _, when in TRIPS if when and when[:10] == DAY)
    active = sorted(t for t, status, when in TRIPS if when and when[:10] == DAY and status in ACTIVE)
    assert of_day == ["gt_daytest_b", "gt_daytest_c", "gt_daytest_d", "gt_daytest_e"]
    assert _ids(store.trips(day=DAY)) == of_day
    assert _ids(store.trips(day=DAY, status=ACTIVE, owner=7)) == active
    assert _ids(store.trips_between("", "", day=DAY)) == active
    assert _ids(store.trips(day="2027-01-01T08:00")) == ["gt_daytest_f"]  # the date of a longer text
    if _private(store):
        assert store.count(day=DAY) == len(of_day)
        assert store.count(ACTIVE, day=DAY) == len(active)
        assert store.trips_between("", "", day=DAY, count=True) == len(active)


@pytest.mark.parametrize("day", ["2026-13-01", "2026-02-30", "20261231", "2026-W53-4", "2026-12"])
def test_a_text_that_is_no_date_matches_no_trip(store, day):
    assert _ids(store.trips(day=day)) == [] and _ids(store.trips_between("", "", day=day)) == []
    if _private(store):
        assert store.count(day=day) == 0 and store.trips_between("", "", day=day, count=True) == 0


def test_the_day_range_ends_at_the_next_date():
    assert _day_range("2026-02-28") == ("2026-02-28", "2026-03-01")
    assert _day_range("2028-02-28T10:00") == ("2028-02-28", "2028-02-29")


def test_a_day_of_active_trips_searches_the_status_dock_index(tmp_path):
    store = TripStore(tmp_path / "d.db")
    plans = sqlite_query_plans(store.connection(), lambda: store.trips_between("", "", day=DAY),
                               lambda: store.trips_between("", "", day=DAY, count=True),
                               lambda: store.count(ACTIVE, day=DAY), lambda: store.trips(day=DAY, status="assigned"))
    assert len(plans) == 4
    for plan in plans:
        assert "INDEX trips_status_dock (status=? AND dock_time>? AND dock_time<?)" in plan, plan
    store.close()
