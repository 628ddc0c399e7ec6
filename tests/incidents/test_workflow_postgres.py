"""The case-store tests of tests/incidents/test_workflow.py, run against PostgreSQL, plus concurrency.

Runs only when ``GRIDTOOLS_TEST_POSTGRES_URL`` names a database the tests may wipe (the case
tables are dropped before every test), e.g.
``GRIDTOOLS_TEST_POSTGRES_URL=postgresql://user:pass@127.0.0.1/gt_cases_test``.
"""

from __future__ import annotations


import pytest
from conftest import postgres_url

URL = postgres_url("the case-store tests")
import psycopg  # noqa: E402  (present: postgres_url checked)

# the same tests, collected here so that they use this module's store fixture
from test_workflow import (  # noqa: E402,F401
    GRID_A,
    check_cli_workflow,
    check_concurrent_imports_and_steps,
    test_full_loop_timestamps_deadline_and_log,
    test_invalid_steps_unknown_types_and_times,
    test_open311_export,
    test_report_many_from_geocode_output,
    test_rework_overdue_escalation_and_grid_stats,
)

from test_import_idempotent import (  # noqa: E402
    check_cli_rerun_adds_nothing,
    check_kill_after_commit_then_rerun,
    check_library_ids_unique_per_source,
)

from gridtools.incidents import IncidentStore, WorkCalendar  # noqa: E402


def _wipe() -> None:
    with psycopg.connect(URL, autocommit=True) as con:
        con.execute("DROP TABLE IF EXISTS case_attachments, incident_tokens, case_log, cases, calendar_days, event_types")


@pytest.fixture
def store():
    _wipe()
    cal = WorkCalendar(periods=(("09:00", "12:00"), ("13:00", "17:00")))
    with IncidentStore(URL, calendar=cal) as s:
        yield s


def test_postgres_store_survives_reopening_and_keeps_float64():
    _wipe()
    with IncidentStore(URL) as s:
        case = s.report("0601", grid_code=GRID_A, at="2026-11-23 09:00", lon=121.123456789012, lat=31.2)
        s.set_calendar_days(holidays=["2026-11-24"])
        assert "***" in s.path or "@" not in s.path  # no password in messages
    with IncidentStore(URL) as s:
        assert s.cases().loc[0, "lon"] == 121.123456789012  # DOUBLE PRECISION, not 4-byte REAL
        s.register(case, at="2026-11-23 16:00")
        s.dispatch(case, at="2026-11-23 16:00")
        assert s.cases().loc[0, "deadline_at"] == "2026-11-25 16:30:00"  # the stored holiday counted
    with psycopg.connect(URL) as con:
        kinds = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_name = 'cases' AND table_schema = current_schema()").fetchall())
    assert kinds["lon"] == "double precision" and kinds["case_id"] == "bigint"


def test_postgres_concurrent_imports_and_steps():
    """Two stores (two supervisors' sessions) import at once and race to register the same cases."""
    _wipe()
    check_concurrent_imports_and_steps(URL)


def test_postgres_cli_workflow(tmp_path, capsys, monkeypatch):
    _wipe()
    monkeypatch.chdir(tmp_path)
    check_cli_workflow(tmp_path, capsys, URL)
    # a URL that went through pathlib.Path ("postgresql:/...") would have become a local SQLite file
    assert not list(tmp_path.glob("postgres*"))
    with psycopg.connect(URL) as con:
        assert con.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 2


def test_postgres_import_rerun_adds_nothing(tmp_path, capsys):
    _wipe()
    check_cli_rerun_adds_nothing(tmp_path, capsys, URL)


def test_postgres_ids_unique_per_source(tmp_path):
    _wipe()
    check_library_ids_unique_per_source(URL)
    with psycopg.connect(URL) as con, pytest.raises(psycopg.errors.UniqueViolation):
        con.execute("INSERT INTO cases (external_id, type_code, source, status, reported_at) "
                    "SELECT external_id, type_code, source, status, reported_at FROM cases LIMIT 1")


def test_postgres_kill_after_commit_then_rerun(tmp_path, capsys):
    _wipe()
    check_kill_after_commit_then_rerun(tmp_path, capsys, URL)
