"""The dispatch store and service contract of tests/service/test_service.py, run against PostgreSQL.

Runs only when ``GRIDTOOLS_TEST_POSTGRES_URL`` names a database the tests may wipe (its dispatch
tables are dropped before every test), e.g.
``GRIDTOOLS_TEST_POSTGRES_URL=postgresql://user:pass@127.0.0.1/gt_dispatch_test``.
"""

from __future__ import annotations


import pytest
from conftest import postgres_url

URL = postgres_url("the dispatch tests")
import psycopg  # noqa: E402  (present: postgres_url checked)
pytest.importorskip("fastapi")

# the same tests, collected here so that they use this module's dispatch_db fixture
from test_service import (  # noqa: E402,F401
    api,
    test_auth_required,
    test_bad_input_gives_clear_4xx,
    test_idempotent_retry,
    test_live_server_load_and_kill9,
    test_restart_rebuilds_loads,
    test_trip_flow_and_access,
)

from test_positions import (  # noqa: E402,F401
    service,
    test_bad_positions_are_refused_with_the_reason,
    test_positions_are_idempotent_isolated_and_flag_an_off_route_truck,
)

from test_positions_live import (  # noqa: E402,F401
    huangpu,
    test_batches_late_resent_and_a_restart_give_the_whole_track_figures,
)
from gridtools.dispatch.store import TripStore  # noqa: E402


@pytest.fixture()
def dispatch_db() -> str:
    with psycopg.connect(URL, autocommit=True) as con:
        con.execute("DROP TABLE IF EXISTS meta, tokens, trucks, trips, positions, trip_checks, trip_tracks")
    return URL


@pytest.fixture()
def positions_db(dispatch_db) -> str:
    return dispatch_db


def test_postgres_schema_types_and_bytes(dispatch_db):
    """Floats stay float64 (PostgreSQL REAL would be float32) and route blobs come back as bytes."""
    store = TripStore(dispatch_db)
    store.upsert_truck(1, "T1", {"weight_t": 40.123456789, "height_m": 4.0, "width_m": 2.55, "length_m": 16.5})
    assert store.truck("T1")["weight_t"] == 40.123456789
    with psycopg.connect(URL) as con:
        types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_name = 'trips' AND table_schema = current_schema()").fetchall())
    assert types["time_s"] == "double precision" and types["arcs"] == "bytea" and types["owner"] == "bigint"
    assert store.count() == 0 and store.count("assigned") == 0


def test_postgres_writes_serialised_across_stores(dispatch_db):
    """Two stores (as two service processes would) both hold the advisory lock only inside a transaction."""
    a, b = TripStore(dispatch_db), TripStore(dispatch_db)
    with a.transaction() as con:
        con.execute("INSERT INTO trucks(plate, owner, created) VALUES (?, ?, ?)", ("X", 1, "now"))
        held = b.connection().execute("SELECT pg_try_advisory_xact_lock(?) AS ok",
                                      (0x6772_6964_7472_6970,)).fetchone()["ok"]
        assert held is False  # b cannot take the writer lock while a's transaction is open
    assert b.truck("X")["owner"] == 1
    with b.transaction():
        pass  # and takes it once a has committed
