"""Defect 3 of issue 12: `incidents import` re-run with `--id` must add nothing and say so.

External ids are unique per source (a UNIQUE index on SQLite and PostgreSQL); a re-run after a
kill -9 that came after COMMIT but before the "recorded" line finds every case already there.
The ``check_*`` functions take a database target and run against PostgreSQL too
(tests/incidents/test_workflow_postgres.py).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO, run_cli

from gridtools.errors import InputError
from gridtools.incidents import IncidentStore

GRID = "32050901900200100"


def _events(tmp_path, n=5):
    path = tmp_path / "events.csv"
    rows = [f"e{i},0104,2026-11-23 {9 + i // 60:02d}:{i % 60:02d},{GRID}" for i in range(n)]
    path.write_text("id,type,time,grid_code\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def check_cli_rerun_adds_nothing(tmp_path, capsys, db) -> None:
    events = _events(tmp_path)
    args = ["incidents", "import", db, events, "--type", "type", "--time", "time", "--id", "id"]
    code, text = run_cli(args, capsys)
    assert code == 0 and "recorded 5 new cases" in text
    code, text = run_cli(args, capsys)
    assert code == 0 and "nothing added" in text and "5 rows skipped" in text and "'id'" in text
    with IncidentStore(db) as store:
        cases, log = store.cases(), store.log()
    assert len(cases) == 5 and len(log) == 5 and sorted(cases["external_id"]) == [f"e{i}" for i in range(5)]
    # a file with two new rows among the old ones adds those two only
    events.write_text(events.read_text() + f"e5,0104,2026-11-23 10:00,{GRID}\ne6,0104,2026-11-23 10:01,{GRID}\n")
    code, text = run_cli(args, capsys)
    assert "recorded 2 new cases" in text and "5 rows skipped" in text
    with IncidentStore(db) as store:
        assert len(store.cases()) == 7


def test_cli_rerun_adds_nothing_sqlite(tmp_path, capsys):
    check_cli_rerun_adds_nothing(tmp_path, capsys, tmp_path / "cases.sqlite")


def check_library_ids_unique_per_source(db) -> None:
    table = pd.DataFrame({"id": ["a", "b", "a", None, None], "type": "0104", "time": "2026-11-23 09:00",
                          "grid_code": GRID})
    with IncidentStore(db) as store:
        # an id repeated inside one file is refused, naming the rows ...
        with pytest.raises(InputError, match=r"'a' \(rows 1, 3"):
            store.import_table(table, type_col="type", time_col="time", id_col="id")
        assert len(store.cases()) == 0
        # ... or with dedupe=True it is the same case; rows without an id are always new
        first = store.import_table(table, type_col="type", time_col="time", id_col="id", dedupe=True)
        assert first.added.tolist() == [True, True, False, True, True]
        assert first.case_ids[0] == first.case_ids[2] and len(set(first.case_ids.tolist())) == 4
        again = store.report_many(table, type_col="type", time_col="time", id_col="id", dedupe=True)
        assert again[:3].tolist() == first.case_ids[:3].tolist() and len(store.cases()) == 6
        # the same id from another source is another case
        other = store.report_many(table.head(1), type_col="type", time_col="time", id_col="id", source="hotline")
        assert other[0] not in first.case_ids
        # a single report with a known external id is a retry: same case, nothing logged
        assert store.report("0104", grid_code=GRID, at="2026-11-23 09:00", source="import",
                            external_id="b") == first.case_ids[1]
        assert len(store.cases()) == 7 and len(store.log()) == 7


def test_library_ids_unique_per_source_sqlite(tmp_path):
    check_library_ids_unique_per_source(tmp_path / "cases.sqlite")


def test_the_database_itself_refuses_a_repeated_id(tmp_path):
    db = tmp_path / "cases.sqlite"
    with IncidentStore(db) as store:
        store.report("0104", grid_code=GRID, at="2026-11-23 09:00", source="import", external_id="x")
    with sqlite3.connect(db) as con, pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        con.execute("INSERT INTO cases (external_id, type_code, source, status, reported_at) "
                    "VALUES ('x', '0104', 'import', 'reported', '2026-11-23 09:00')")


KILLED_IMPORT = """
import os, signal, sys
import pandas as pd
from gridtools.incidents import IncidentStore
table = pd.read_csv(sys.argv[2], dtype=str)
store = IncidentStore(sys.argv[1])
store.import_table(table, type_col="type", time_col="time", id_col="id")  # committed
os.kill(os.getpid(), signal.SIGKILL)  # ... and killed before the "recorded" line
"""


def check_kill_after_commit_then_rerun(tmp_path, capsys, db) -> None:
    events = _events(tmp_path, n=200)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", KILLED_IMPORT, str(db), str(events)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL and "recorded" not in done.stdout
    code, text = run_cli(["incidents", "import", db, events, "--type", "type", "--time", "time", "--id", "id"],
                         capsys)
    assert code == 0 and "nothing added" in text and "200 rows skipped" in text
    with IncidentStore(db) as store:
        assert len(store.cases()) == 200 and store.cases()["external_id"].is_unique


def test_kill_after_commit_then_rerun_sqlite(tmp_path, capsys):
    check_kill_after_commit_then_rerun(tmp_path, capsys, tmp_path / "cases.sqlite")


def test_an_old_database_with_repeats_is_refused_until_deduplicated(tmp_path, capsys):
    db = tmp_path / "old.sqlite"
    IncidentStore(db).close()
    with sqlite3.connect(db) as con:  # what the old import made: every id twice, no unique index
        con.execute("DROP INDEX cases_source_external")
        for _ in range(2):
            con.executemany("INSERT INTO cases (external_id, type_code, source, status, reported_at) "
                            "VALUES (?, '0104', 'import', 'reported', '2026-11-23 09:00')", [("a",), ("b",)])
        con.execute("INSERT INTO case_log (case_id, at, action, to_status, level) "
                    "SELECT case_id, reported_at, 'report', 'reported', 'grid' FROM cases")
    with IncidentStore(db) as store:
        assert store.repeated_external_ids == 2
        with pytest.raises(InputError, match="2 external ids recorded more than once.*incidents dedupe"):
            store.report("0104", at="2026-11-23 09:00", source="import", external_id="c")
    code, text = run_cli(["incidents", "dedupe", db], capsys)
    assert code == 0 and "deleted 2 repeated imported cases" in text
    with IncidentStore(db) as store:
        assert store.repeated_external_ids == 0 and sorted(store.cases()["case_id"]) == [1, 2]
        assert len(store.log()) == 2
