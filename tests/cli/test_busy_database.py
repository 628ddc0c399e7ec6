"""Issue 12, defect 7: ``incidents step`` while another program (a long import) holds the case
database's write lock ended in a raw ``database is locked``; it is one line saying what to do."""

from __future__ import annotations

import sqlite3

from conftest import run_cli

from gridtools.incidents import IncidentStore


def test_a_step_while_an_import_holds_the_lock_says_busy_and_changes_nothing(tmp_path, capsys):
    db = tmp_path / "cases.sqlite"
    with IncidentStore(db) as store:
        case = store.report("0101", grid_code="32050800100100100", at="2026-11-23 09:00")
    importer = sqlite3.connect(db, isolation_level=None)
    importer.execute("BEGIN IMMEDIATE")  # what a long import holds until its COMMIT
    try:
        code, text = run_cli(["incidents", "step", str(db), str(case), "register"], capsys)
    finally:
        importer.execute("ROLLBACK")
        importer.close()
    assert code == 75, text
    assert "database is busy" in text and "Run the command again" in text and "Traceback" not in text
    with IncidentStore(db) as store:
        assert store.cases().set_index("case_id").loc[case, "status"] == "reported"
    # once the lock is gone the same step works
    code, text = run_cli(["incidents", "step", str(db), str(case), "register"], capsys)
    assert code == 0 and "registered" in text, text
