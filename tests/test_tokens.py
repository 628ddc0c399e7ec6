"""gridtools.tokens: rotation is one transaction (a failure part-way leaves the table as it was).

With ``GRIDTOOLS_TEST_POSTGRES_URL`` set, each test runs on PostgreSQL too, in a table named after
this process (dropped afterwards).
"""

from __future__ import annotations

import datetime as dt
import os

import pytest

from conftest import Clock, worker_schema_url
from gridtools.db import Database
from gridtools.errors import InputError
from gridtools.tokens import TokenTable

START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone.utc)
PG_URL = os.environ.get("GRIDTOOLS_TEST_POSTGRES_URL")
TABLE = f"gt_toktest_{os.getpid()}"


@pytest.fixture(params=["sqlite"] + (["postgresql"] if PG_URL else []))
def table(request, tmp_path):
    if request.param == "postgresql":
        pytest.importorskip("psycopg")
    db = Database(tmp_path / "tokens.db" if request.param == "sqlite" else worker_schema_url(PG_URL))
    yield TokenTable(db, TABLE, roles=("driver", "dispatcher"), scope=("grid",), clock=Clock(START))
    if db.postgres:
        db.execute(f"DROP TABLE IF EXISTS {TABLE}")
        db.execute(f"DROP FUNCTION IF EXISTS {TABLE}_fail()")
    db.close()


def _state(table):
    return [(t["id"], t["revoked"], t["expires"], t["replaced_by"]) for t in table.tokens()]


def _fail_updates_of_replaced_by(table) -> None:
    """A trigger that makes the UPDATE retiring the old token fail (after the new row is written)."""
    if table.db.postgres:
        table.db.execute(f"CREATE FUNCTION {TABLE}_fail() RETURNS trigger LANGUAGE plpgsql AS "
                         "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$")
        table.db.execute(f"CREATE TRIGGER fail_retire BEFORE UPDATE OF replaced_by ON {TABLE} "
                         f"FOR EACH ROW EXECUTE FUNCTION {TABLE}_fail()")
    else:
        table.db.execute(f"CREATE TRIGGER fail_retire BEFORE UPDATE OF replaced_by ON {TABLE} "
                         "BEGIN SELECT RAISE(ABORT, 'injected failure'); END")


@pytest.mark.parametrize("grace_hours", [0, 2])
def test_rotate_that_fails_after_the_new_row_leaves_the_table_as_before(table, grace_hours):
    secret = table.issue("driver", "ann", days=7, grid="G1")
    old_id = table.authenticate(secret)["id"]
    before = _state(table)
    # the failure comes after the INSERT of the new token, at the UPDATE that retires the old one
    _fail_updates_of_replaced_by(table)
    with pytest.raises(Exception, match="injected failure"):  # sqlite3 or psycopg's error
        table.rotate(old_id, grace_hours=grace_hours)
    assert _state(table) == before  # no second token, old one unreplaced
    assert table.authenticate(secret)["id"] == old_id
    table.db.execute(f"DROP TRIGGER fail_retire{' ON ' + TABLE if table.db.postgres else ''}")
    new = table.rotate(old_id, grace_hours=grace_hours)  # and the table still rotates afterwards
    new_id = table.authenticate(new)["id"]  # (PostgreSQL's sequence does not give back a rolled-back id)
    assert new_id > old_id and [t["replaced_by"] for t in table.tokens()] == [new_id, None]


def test_rotate_keeps_the_holder_and_retires_the_old_token(table):
    secret = table.issue("driver", "ann", days=7, grid="G1")
    old_id = table.authenticate(secret)["id"]
    new = table.rotate(old_id, days=1)
    who = table.authenticate(new)
    assert (who["role"], who["name"], who["grid"]) == ("driver", "ann", "G1")
    assert who["expires"] == "2026-03-03T08:00:00+00:00"
    assert table.authenticate(secret) is None
    assert table.refusal(secret) == f"this token was replaced by token {who['id']} (rotated); use the new token"
    with pytest.raises(InputError, match=f"no live token with id {old_id}"):
        table.rotate(old_id)


def test_rotate_with_grace_keeps_the_old_token_until_then(table):
    clock = table.clock
    secret = table.issue("driver", "ann", days=7)
    old_id = table.authenticate(secret)["id"]
    new = table.rotate(old_id, grace_hours=2)
    assert table.authenticate(secret)["id"] == old_id and table.authenticate(new)["id"] != old_id
    clock.now = START + dt.timedelta(hours=2, seconds=1)
    assert table.authenticate(secret) is None and table.authenticate(new) is not None


def test_rotate_checks_its_arguments_before_writing(table):
    secret = table.issue("driver", "ann", days=7)
    old_id = table.authenticate(secret)["id"]
    before = _state(table)
    with pytest.raises(InputError, match="days=..."):
        table.rotate(old_id, days=9999)
    with pytest.raises(InputError, match="grace_hours=..."):
        table.rotate(old_id, grace_hours=721)
    assert _state(table) == before
