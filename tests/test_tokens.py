"""gridtools.tokens: rotation is one transaction (a failure part-way leaves the table as it was)."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from conftest import Clock
from gridtools.db import Database
from gridtools.errors import InputError
from gridtools.tokens import TokenTable

START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def table(tmp_path):
    db = Database(tmp_path / "tokens.db")
    yield TokenTable(db, "tokens", roles=("driver", "dispatcher"), scope=("grid",), clock=Clock(START))
    db.close()


def _state(table):
    return [(t["id"], t["revoked"], t["expires"], t["replaced_by"]) for t in table.tokens()]


@pytest.mark.parametrize("grace_hours", [0, 2])
def test_rotate_that_fails_after_the_new_row_leaves_the_table_as_before(table, grace_hours):
    secret = table.issue("driver", "ann", days=7, grid="G1")
    old_id = table.authenticate(secret)["id"]
    before = _state(table)
    # the failure comes after the INSERT of the new token, at the UPDATE that retires the old one
    table.db.execute("CREATE TRIGGER fail_retire BEFORE UPDATE OF replaced_by ON tokens "
                     "BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
    with pytest.raises(sqlite3.DatabaseError, match="injected failure"):
        table.rotate(old_id, grace_hours=grace_hours)
    assert _state(table) == before  # no second token, old one unreplaced
    assert table.authenticate(secret)["id"] == old_id
    table.db.execute("DROP TRIGGER fail_retire")
    new = table.rotate(old_id, grace_hours=grace_hours)  # and the table still rotates afterwards
    assert table.authenticate(new)["id"] == old_id + 1


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
