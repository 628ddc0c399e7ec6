"""Case import speed: ``IncidentStore.report_many`` against one ``report`` call per case.

Real records: the Toronto sample shipped in ``data/`` (43,659 thefts, their dates and
coordinates) become reported cases of one event type.  The baseline, in the same process and on
the same kind of database, records the first 3,000 of them one ``report()`` call (one
transaction) at a time.  SQLite always; PostgreSQL too when ``GRIDTOOLS_BENCH_POSTGRES_URL``
names a throwaway database (its case tables are dropped).

    python benchmarks/bench_incidents.py
    GRIDTOOLS_BENCH_POSTGRES_URL=postgresql://user:pass@127.0.0.1/scratch python benchmarks/bench_incidents.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from gridtools import io
from gridtools.incidents import IncidentStore

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "toronto_theft_2016_2019.csv.gz"
BASELINE_ROWS = 3000


def _cases():
    raw = io.read_events(SAMPLE)
    raw["type"] = "0601"
    raw["time"] = raw["occurrencedate"].astype(str) + " " + raw["occurrencehour"].astype(int).astype(str) + ":00"
    raw["lon"], raw["lat"] = raw.geometry.x, raw.geometry.y
    return raw.drop(columns="geometry")


def _fresh(target: str) -> str:
    if target.startswith("postgres"):
        import psycopg

        with psycopg.connect(target, autocommit=True) as con:
            con.execute("DROP TABLE IF EXISTS case_log, cases, calendar_days, event_types")
    return target


def run(label: str, make_target) -> None:
    table = _cases()
    with IncidentStore(_fresh(make_target())) as store:
        tic = time.perf_counter()
        ids = store.report_many(table, type_col="type", time_col="time", lon="lon", lat="lat")
        bulk = time.perf_counter() - tic
        assert len(ids) == len(table) == len(store.cases())
    with IncidentStore(_fresh(make_target())) as store:
        head = table.iloc[:BASELINE_ROWS]
        tic = time.perf_counter()
        for r in head.itertuples(index=False):  # the baseline: one call per case
            store.report("0601", at=r.time, lon=r.lon, lat=r.lat)
        single = time.perf_counter() - tic
    bulk_rate, single_rate = len(table) / bulk, BASELINE_ROWS / single
    print(f"{label}: report_many {len(table):,} cases in {bulk:.2f} s ({bulk_rate:,.0f} cases/s); "
          f"report() one at a time {single_rate:,.0f} cases/s; ratio {bulk_rate / single_rate:.0f}x")


def main() -> None:
    folder = tempfile.mkdtemp()
    counter = iter(range(100))
    run("SQLite", lambda: os.path.join(folder, f"cases{next(counter)}.sqlite"))
    url = os.environ.get("GRIDTOOLS_BENCH_POSTGRES_URL")
    if url:
        run("PostgreSQL", lambda: url)
    else:
        print("PostgreSQL skipped: set GRIDTOOLS_BENCH_POSTGRES_URL to a throwaway database")


if __name__ == "__main__":
    main()
