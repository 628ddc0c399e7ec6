"""gridtools.db: targets, the three stores on sqlite:/// URLs, and the transaction contract per backend.

The PostgreSQL tests run only where ``GRIDTOOLS_TEST_POSTGRES_URL`` names a throwaway database;
they use tables named after this process, dropped afterwards.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from gridtools.db import Database, is_postgres_url
from gridtools.errors import InputError

PG_URL = os.environ.get("GRIDTOOLS_TEST_POSTGRES_URL")
TABLE = f"gt_dbtest_{os.getpid()}"
SCHEMA = f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, x REAL);"


# ------------------------------------------------------------------------------------------
# targets


def test_targets_pick_the_backend_and_never_show_a_password(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Database("cases.sqlite").path == Path("cases.sqlite")
    assert Database(tmp_path / "reg.gpkg").path == tmp_path / "reg.gpkg"
    assert Database("sqlite:///rel/cases.sqlite").path == Path("rel/cases.sqlite")  # relative, as SQLAlchemy
    assert Database(f"sqlite:///{tmp_path}/abs.sqlite").path == tmp_path / "abs.sqlite"  # sqlite:////abs
    pg = Database("postgresql://me:s3cret@db.city.gov:5433/cases?password=s3cret")
    assert pg.postgres and pg.path is None and pg.backend == "postgresql"
    assert pg.label == "db.city.gov:5433/cases" and "s3cret" not in repr(pg)
    assert Database("postgresql+psycopg://me@db/cases").postgres and is_postgres_url("postgres://db/x")
    assert not list(tmp_path.iterdir())  # creating a Database opens (and creates) nothing


def test_a_url_mangled_by_path_or_an_unknown_scheme_is_refused(tmp_path):
    with pytest.raises(InputError, match="pass the URL as a str"):
        Database(Path("postgresql://me@localhost/cases"))  # Path made it 'postgresql:/me@localhost/cases'
    with pytest.raises(InputError, match="pass the URL as a str"):
        Database(Path("sqlite:///x.db"))
    with pytest.raises(InputError, match="unsupported database URL 'host/db'"):
        Database("mysql://me:pw@host/db")
    with pytest.raises(InputError, match="does not exist"):
        Database(tmp_path / "missing" / "d.db", make_folder=False)
    with pytest.raises(InputError, match="'synchronous' parameter"):
        Database(tmp_path / "d.db", synchronous="sometimes")


def test_sqlite_connection_settings(tmp_path):
    db = Database(tmp_path / "sub" / "d.db", timeout=7.5, journal_mode="WAL", synchronous="NORMAL")
    con = db.connection()
    assert (tmp_path / "sub").is_dir()  # the folder is made on the first connection
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert con.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert con.execute("PRAGMA busy_timeout").fetchone()[0] == 7500
    assert con.in_transaction is False and con.isolation_level is None  # autocommit
    other = {}
    thread = threading.Thread(target=lambda: other.setdefault("con", db.connection()))
    thread.start()
    thread.join()
    assert other["con"] is not con  # one connection per thread
    db.close()


# ------------------------------------------------------------------------------------------
# the three stores on sqlite:/// URLs


def test_incident_store_on_a_sqlite_url(tmp_path):
    from gridtools.incidents import IncidentStore

    url = f"sqlite:///{tmp_path}/cases.sqlite"
    with IncidentStore(url) as store:
        case = store.report("0601", grid_code="32050901900200100", at="2026-11-23 09:00")
        store.register(case, at="2026-11-23 09:05")
        assert store.path == str(tmp_path / "cases.sqlite")
    with sqlite3.connect(tmp_path / "cases.sqlite") as con:  # the file named by the URL, not 'sqlite:/...'
        assert con.execute("SELECT status FROM cases").fetchall() == [("registered",)]
    assert not (tmp_path / "sqlite:").exists() and not Path("sqlite:").exists()


def test_trip_store_on_a_sqlite_url(tmp_path):
    from gridtools.dispatch.store import TripStore

    store = TripStore(f"sqlite:///{tmp_path}/d.db")
    token = store.issue_token("driver", "ann")
    assert store.path == tmp_path / "d.db"
    assert TripStore(tmp_path / "d.db").authenticate(token)["name"] == "ann"
    assert store.connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_component_register_on_a_sqlite_url(tmp_path, capsys):
    import geopandas as gpd
    import shapely

    from gridtools.cli import main
    from gridtools.components import open_store

    url = f"sqlite:///{tmp_path}/reg.gpkg"
    batch = gpd.GeoDataFrame({"class_code": ["0118"], "source_key": ["k1"]},
                             geometry=[shapely.Point(120.6, 31.3)], crs=4326)
    with open_store(url) as store:
        assert store.insert_batch(batch, admin_code="320508")["code"].tolist() == ["3205080118000001"]
    with open_store(tmp_path / "reg.gpkg", create=False) as store:
        assert store.count() == 1 and store.integrity_check() == "ok"
    with pytest.raises(SystemExit) as exit_info:  # the CLI takes the same URL
        main(["components", "query", url, "--code", "3205080118000001"])
    assert exit_info.value.code == 0 and "3205080118000001" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------
# transactions on SQLite


def test_sqlite_write_serialises_writers(tmp_path):
    """A write in one connection holds the one write lock: another writer waits, or times out."""
    path = tmp_path / "t.db"
    first, impatient = Database(path), Database(path, timeout=0.1)
    first.create_tables(SCHEMA)
    with first.write() as con:
        con.execute(f"INSERT INTO {TABLE} (name) VALUES ('first')")
        with pytest.raises(sqlite3.OperationalError, match="locked"), impatient.write():
            pass  # BEGIN IMMEDIATE cannot get the lock while the first transaction is open
        assert impatient.scalar(f"SELECT count(*) FROM {TABLE}") == 0  # readers go on, and see no dirty row
    order = _race_two_writers(lambda: Database(path, timeout=10.0))
    assert order == ["a in", "a out", "b in", "b out"]
    assert Database(path).scalar(f"SELECT count(*) FROM {TABLE}") == 3


def _race_two_writers(open_db, lock=None) -> list[str]:
    """Writer a takes the write lock, then b tries: b must enter only after a has committed."""
    order, a_inside = [], threading.Event()

    def writer(name, wait_for=None):
        db = open_db()
        if wait_for is not None:
            wait_for.wait(10)
        with db.write(lock=lock) as con:
            order.append(f"{name} in")
            if name == "a":
                a_inside.set()
                time.sleep(0.3)  # b is queued now
            con.execute(f"INSERT INTO {TABLE} (name) VALUES (?)", (name,))
            order.append(f"{name} out")
        db.close()

    threads = [threading.Thread(target=writer, args=("a",)), threading.Thread(target=writer, args=("b", a_inside))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return order


def test_sqlite_write_rolls_back_on_an_exception(tmp_path):
    db = Database(tmp_path / "t.db")
    _check_rollback(db)
    assert db.connection().in_transaction is False


def test_sqlite_read_is_a_snapshot_and_refuses_writes(tmp_path):
    path = tmp_path / "t.db"
    db, writer = Database(path, journal_mode="WAL"), Database(path, journal_mode="WAL")
    db.create_tables(SCHEMA)
    with db.read() as con:
        before = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
        with writer.write() as w:  # WAL: a writer commits beside the open snapshot
            w.execute(f"INSERT INTO {TABLE} (name) VALUES ('later')")
        assert con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == before == 0
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            con.execute(f"INSERT INTO {TABLE} (name) VALUES ('no')")
    assert db.scalar(f"SELECT count(*) FROM {TABLE}") == 1
    with db.write() as con:  # query_only is off again
        con.execute(f"INSERT INTO {TABLE} (name) VALUES ('yes')")


def test_transactions_do_not_nest(tmp_path):
    db = Database(tmp_path / "t.db")
    with db.write(), pytest.raises(RuntimeError, match="do not nest"), db.write():
        pass
    with db.read(), pytest.raises(RuntimeError, match="do not nest"), db.write():
        pass


def test_rows_index_by_position_and_name_and_ids_come_back_in_order(tmp_path):
    db = Database(tmp_path / "t.db")
    _check_rows_and_ids(db)


def _check_rollback(db: Database) -> None:
    db.create_tables(SCHEMA)
    with db.write() as con:
        con.execute(f"INSERT INTO {TABLE} (name) VALUES ('kept')")
    with pytest.raises(ZeroDivisionError), db.write() as con:
        con.execute(f"INSERT INTO {TABLE} (name) VALUES ('gone')")
        1 / 0
    with pytest.raises(Exception, match="no_such_table|does not exist|no such table"), db.write() as con:
        con.execute(f"UPDATE {TABLE} SET name = 'changed'")
        con.execute("SELECT * FROM no_such_table")  # a database error rolls back too
    assert [r["name"] for r in db.rows(f"SELECT name FROM {TABLE} ORDER BY id")] == ["kept"]
    with db.write() as con:  # the connection is usable again
        con.execute(f"INSERT INTO {TABLE} (name) VALUES ('after')")
    assert db.scalar(f"SELECT count(*) FROM {TABLE}") == 2


def _check_rows_and_ids(db: Database) -> None:
    db.create_tables(SCHEMA)
    with db.write():
        ids = db.insert_many(f"INSERT INTO {TABLE} (name, x) VALUES (?, ?) RETURNING id",
                             [("a", 1.5), ("b", 100.0), ("c", None)], TABLE)
        assert ids == [ids[0], ids[0] + 1, ids[0] + 2]
        db.execute(f"INSERT INTO {TABLE} (name, x) VALUES (?, ?)", ("50%", 0.25))  # a literal % with parameters
    row = db.execute(f"SELECT id, name, x FROM {TABLE} WHERE id = ?", (ids[1],)).fetchone()
    assert row[1] == row["name"] == "b" and dict(row) == {"id": ids[1], "name": "b", "x": 100.0}
    assert db.one(f"SELECT name FROM {TABLE} WHERE name LIKE '%\\%' ESCAPE '\\'") == {"name": "50%"}
    frame = db.frame(f"SELECT name, x FROM {TABLE} WHERE x > ? ORDER BY id", (1.0,))
    assert frame["name"].tolist() == ["a", "b"] and frame["x"].dtype == float
    assert list(db.frame(f"SELECT name, x FROM {TABLE} WHERE 1 = 0").columns) == ["name", "x"]


# ------------------------------------------------------------------------------------------
# transactions on PostgreSQL


@pytest.fixture
def pg():
    if not PG_URL:
        pytest.skip("set GRIDTOOLS_TEST_POSTGRES_URL to a throwaway PostgreSQL database to run these tests")
    pytest.importorskip("psycopg")
    db = Database(PG_URL)
    db.execute(f"DROP TABLE IF EXISTS {TABLE}")
    yield db
    db.execute(f"DROP TABLE IF EXISTS {TABLE}")
    db.close()


def test_postgres_write_rolls_back_on_an_exception(pg):
    _check_rollback(pg)
    assert pg.connection().in_transaction is False


def test_postgres_rows_placeholders_and_ids(pg):
    _check_rows_and_ids(pg)
    assert "gt:gt" not in pg.label and "@" not in pg.label


def test_postgres_write_lock_serialises_writers(pg):
    key = 0x6774_6462_7465_7374
    pg.create_tables(SCHEMA)
    other = Database(PG_URL)
    with pg.write(lock=key):
        held = other.execute("SELECT pg_try_advisory_xact_lock(?) AS ok", (key,)).fetchone()["ok"]
        assert held is False  # the other writer cannot take the key while this transaction is open
    assert other.execute("SELECT pg_try_advisory_xact_lock(?)", (key,)).fetchone()[0] is True  # released
    other.close()
    assert _race_two_writers(lambda: Database(PG_URL), lock=key) == ["a in", "a out", "b in", "b out"]


def test_postgres_read_is_a_snapshot_and_refuses_writes(pg):
    import psycopg

    pg.create_tables(SCHEMA)
    writer = Database(PG_URL)
    with pg.read() as con:
        before = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
        with writer.write() as w:
            w.execute(f"INSERT INTO {TABLE} (name) VALUES ('later')")
        assert con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == before == 0  # REPEATABLE READ
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), pg.read() as con:
        con.execute(f"INSERT INTO {TABLE} (name) VALUES ('no')")
    assert pg.scalar(f"SELECT count(*) FROM {TABLE}") == 1
    writer.close()


def test_postgres_reconnects_after_the_server_closed_the_connection(pg):
    first = pg.connection()
    first.close()  # as after a server restart
    assert pg.connection() is not first and pg.scalar("SELECT 1") == 1


def _damage(path) -> None:
    """Overwrite the middle pages of a SQLite file with junk (as a disk fault or a bad copy would)."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 2)
        f.write(b"\xde\xad\xbe\xef" * 2048)


def test_damaged_sqlite_file_is_refused_on_open(tmp_path):
    """Issue 12 defect 5: importing into a damaged database reported success; now the first
    connection runs quick_check and refuses with the way to recover."""
    path = tmp_path / "cases.sqlite"
    db = Database(path)
    db.create_tables("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, x TEXT);")
    with db.write() as con:
        con.executemany("INSERT INTO t (x) VALUES (?)", [(f"row {i} " * 20,) for i in range(20000)])
    db.close()
    _damage(path)
    again = Database(path, what="the case database")
    with pytest.raises(InputError, match=r"the case database .*cases.sqlite is damaged.*\.recover"):
        again.connection()
    # a file that is not SQLite at all says the same
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 1000)
    with pytest.raises(InputError, match="is damaged"):
        Database(junk).connection()


def test_damaged_databases_give_one_line_in_every_command(tmp_path, capsys):
    """Issue 12 defect 5: damaged files gave raw tracebacks in `dispatch serve`, `components
    query/export`, `incidents step/overdue/stats`; now one line that says how to recover."""
    from conftest import run_cli

    path = tmp_path / "cases.sqlite"
    db = Database(path)
    db.create_tables("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, x TEXT);")
    with db.write() as con:
        con.executemany("INSERT INTO filler (x) VALUES (?)", [(f"row {i} " * 20,) for i in range(20000)])
    db.close()
    _damage(path)
    park = tmp_path / "park.yaml"
    park.write_text("docks: [{id: D, lon: 8.04, lat: 49.0}]\ngates: [{id: G, lon: 8.0, lat: 49.0}]\n")
    for args in (["incidents", "stats", path], ["incidents", "overdue", path],
                 ["components", "query", path], ["dispatch", "token", "--db", path, "--list"]):
        code, text = run_cli(args, capsys)
        assert code != 0 and "is damaged" in text and ".recover" in text and "Traceback" not in text, (args, text)
