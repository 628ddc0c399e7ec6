"""The grid-operations service tests of test_incidents_service.py against PostgreSQL.

Runs only when ``GRIDTOOLS_TEST_POSTGRES_URL`` names a database the tests may wipe (the case,
token and attachment tables are dropped before every test).
"""

from __future__ import annotations

import pytest
from conftest import postgres_url

URL = postgres_url("the grid-operations service tests")
pytest.importorskip("fastapi")
import psycopg
from test_incidents_hardening import check_old_token_table_migrates, check_token_lifecycle
from test_incidents_service import (
    Service,
    check_open311_client,
    check_report_routing_loop_and_idempotency,
    test_photos_are_checked_and_served_only_to_who_may_see_the_case,
    test_role_isolation_on_every_endpoint,
    test_suspend_postpone_reassign_and_duplicates_over_http,
)

__all__ = ["test_photos_are_checked_and_served_only_to_who_may_see_the_case", "test_role_isolation_on_every_endpoint",
           "test_suspend_postpone_reassign_and_duplicates_over_http"]


@pytest.fixture
def service():
    with psycopg.connect(URL, autocommit=True) as con:
        con.execute("DROP TABLE IF EXISTS case_attachments, incident_tokens, incident_tokens_migrated, case_tokens, "
                    "case_log, cases, calendar_days, event_types")
    s = Service(URL)
    yield s
    s.ops.store.close()


def test_postgres_report_routing_loop_and_idempotency(service):
    check_report_routing_loop_and_idempotency(service)


def test_postgres_open311_client(service):
    check_open311_client(service)


def test_postgres_token_lifecycle(service, capsys):
    check_token_lifecycle(service, URL, capsys)


def test_postgres_old_token_table_migrates():
    with psycopg.connect(URL, autocommit=True) as con:
        con.execute("DROP TABLE IF EXISTS case_attachments, incident_tokens, incident_tokens_migrated, case_tokens, "
                    "case_log, cases, calendar_days, event_types")
    check_old_token_table_migrates(URL)
