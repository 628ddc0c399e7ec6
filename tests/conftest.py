"""Shared test helpers.

Real datasets live outside the repository in ``../shared/data`` (see its README.md); tests that
use them skip with a clear reason where that folder is absent.  Import the helpers with
``from conftest import shared_data, run_cli, postgres_url, Clock``.

The tests mirror the package tree: ``tests/grids/`` tests ``gridtools/grids/``, and so on;
modules at the top of ``gridtools`` are tested at the top of ``tests/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: The repository root.
REPO = Path(__file__).resolve().parents[1]
#: ``<repo>/../shared/data``
SHARED_DATA = REPO.parent / "shared" / "data"


class Clock:
    """A clock a test sets and moves forward (``clock.now = ...``): the ``clock=`` of a
    ``DispatchCenter`` or a token store."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def shared_data(*parts: str) -> Path:
    """Path of a file under ``../shared/data``, or skip the calling test if it is absent.

    Examples
    --------
    >>> blocks = shared_data("population", "rockland", "rockland_blocks.gpkg")  # doctest: +SKIP
    """
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared/data/{'/'.join(parts)} not present: real-data test skipped")
    return path


def run_cli(args, capsys, *, collapse: bool = True) -> tuple[int, str]:
    """Run ``gridtools ARGS`` in this process; return (exit code, standard output + error).

    With *collapse* (the default) runs of whitespace become one space, so a test can match a
    sentence however rich wrapped it for the terminal.

    Examples
    --------
    >>> code, text = run_cli(["--help"], capsys)  # doctest: +SKIP
    """
    from gridtools.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    return exit_info.value.code, " ".join(text.split()) if collapse else text


def postgres_url(what: str, variable: str = "GRIDTOOLS_TEST_POSTGRES_URL") -> str:
    """The throwaway PostgreSQL database named by *variable*, or skip the calling module.

    Call it at module level; the module's tests are skipped with a reason saying how to run
    them where the variable is not set or psycopg is missing.
    """
    import os

    url = os.environ.get(variable)
    if not url:
        pytest.skip(f"set {variable} to a throwaway PostgreSQL database to run {what} against PostgreSQL",
                    allow_module_level=True)
    pytest.importorskip("psycopg")
    return worker_schema_url(url)


def worker_schema_url(url: str) -> str:
    """*url* with its tables in a schema of this xdist worker's own (``gridtools_test_gw0``, ...).

    The PostgreSQL suites drop and create their tables before every test; under ``pytest -n auto``
    two workers sharing one database would drop each other's tables mid-test. Each worker gets a
    schema first on its ``search_path`` (``public`` after it, for PostGIS' types and functions).
    Without xdist, or when the URL already sets ``options``, the URL is returned as given.
    """
    import os

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or "options=" in url:
        return url
    import psycopg

    schema = f"gridtools_test_{worker}"
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema},public"


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium for page tests (see tests/browser.py); skips where none is installed.

    Module-scoped, not session-scoped: Playwright's sync API keeps an event loop running while it is
    open, and a later test in the same worker that calls ``asyncio.run`` (the live-server tests) fails.
    """
    from browser import start_browser

    manager, chromium = start_browser()
    yield chromium
    chromium.close()
    manager.stop()


def shanghai_bund_network():
    """Buildings and block-bounding network of the Bund / Lujiazui (OSM via Tilezen tiles).

    Tilezen spells OSM tags as ``kind``/``kind_detail``; the highway/railway/tunnel columns are
    rebuilt so :func:`gridtools.blocks.network_lines_from_osm` can filter them.  Water areas (not
    the duplicate outline lines Tilezen also ships, nor pools) are major barriers.

    Returns
    -------
    (buildings, network) : tuple of GeoDataFrames (EPSG:4326)
    """
    import warnings

    import geopandas as gpd
    import numpy as np
    import pandas as pd

    from gridtools.blocks import network_lines_from_osm

    path = shared_data("china", "shanghai_tiles", "shanghai_bund_lujiazui_tilezen.geojson")
    with warnings.catch_warnings():  # tile features repeat OSM ids; harmless here
        warnings.simplefilter("ignore", RuntimeWarning)
        tiles = gpd.read_file(path)
    polygons = tiles.geom_type.isin(["Polygon", "MultiPolygon"])
    buildings = tiles[(tiles["layer"] == "buildings") & polygons]
    roads = tiles[tiles["layer"] == "roads"].copy()
    is_road = roads["kind"].isin(["major_road", "minor_road", "path"])
    roads["highway"] = roads["kind_detail"].where(is_road)
    roads["railway"] = roads["kind_detail"].where(roads["kind"] == "rail")
    roads["tunnel"] = np.where(roads["is_tunnel"].eq(True), "yes", None)
    pools = tiles["kind"].isin(["swimming_pool", "fountain"])
    water = tiles[(tiles["layer"] == "water") & polygons & ~pools]
    return buildings, pd.concat([network_lines_from_osm(roads), water.assign(major=True)])


def sqlite_query_plans(con, *calls) -> list[str]:
    """SQLite's query plan of every statement the *calls* run on connection *con*, one string each.

    The statements are caught as run, with their parameters filled in, so a plan test checks the
    SQL the store really sends (e.g. that a range on an indexed column uses the index).
    """
    ran = []
    con.set_trace_callback(ran.append)
    try:
        for call in calls:
            call()
    finally:
        con.set_trace_callback(None)
    return [" ".join(row[3] for row in con.execute("EXPLAIN QUERY PLAN " + sql)) for sql in ran]
