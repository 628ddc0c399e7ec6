"""The browser grid editor: open, select a unit by a real click, move it, see the tally change, save, reload."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely import box

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from browser import LiveServer as Server, open_page, screenshot, start_browser  # noqa: E402
from gridtools.service.editor import EditSession, create_editor_app  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    """Chromium for this module only, stopped at its end: Playwright's sync API keeps an event loop
    running in the main thread while it is started, which breaks later ``asyncio.run`` calls in the
    same worker (the dispatch service's live-server test)."""
    manager, chromium = start_browser()
    yield chromium
    chromium.close()
    manager.stop()


def plan_file(tmp_path):
    """24 lattice units (lon/lat near Suzhou) in three strips of 2,000 residents; written like a partition."""
    cells = [box(120.60 + x * 0.002, 31.30 + y * 0.002, 120.602 + x * 0.002, 31.302 + y * 0.002)
             for y in range(4) for x in range(6)]
    units = gpd.GeoDataFrame({"pop": np.full(24, 250.0)}, geometry=cells, crs="EPSG:4326")
    units["grid_code"] = ["<b>g" + str(i % 6 // 2) + "</b>" for i in range(24)]   # markup must show as text
    path = tmp_path / "grids.gpkg"
    units.to_file(path, layer="units")
    return path


def session_of(path):
    units = gpd.read_file(path, layer="units")
    return EditSession(units, "pop", path, min_pop=1750, max_pop=2250)


def tally(page, grid):
    return page.locator(f'#tallies tr[data-grid="{grid}"] td.population').inner_text()


def click_unit(page, unit_id):
    x, y = page.evaluate("""id => { const e = window.gridEditor; const c = e.state.layers[id].getBounds().getCenter();
                                    const p = e.map.latLngToContainerPoint(c); const r = e.map.getContainer().getBoundingClientRect();
                                    return [p.x + r.left, p.y + r.top]; }""", unit_id)
    page.mouse.click(x, y)


def test_editor_move_tally_save_reload(browser, tmp_path):
    path = plan_file(tmp_path)
    with Server(create_editor_app(session_of(path))) as url, open_page(browser, url, wait_ms=800) as (page, blocked):
        page.wait_for_function("window.gridEditor && window.gridEditor.ready")
        assert tally(page, "<b>g1</b>") == "2,000" and page.locator("#tallies tr").count() == 3
        click_unit(page, 1)   # column 1, row 0: in g0, touching g1
        page.wait_for_function("document.querySelectorAll('#target option').length > 0")
        assert page.locator("#target option").first.get_attribute("value") == "<b>g1</b>"
        page.click("#move")
        page.wait_for_function("document.querySelector('#message').textContent.startsWith('moved')")
        assert tally(page, "<b>g1</b>") == "2,250" and tally(page, "<b>g0</b>") == "1,750"
        click_unit(page, 7)   # a second unit out of g0 would leave it below the band: refused with the reason
        page.wait_for_function("document.querySelectorAll('#target option').length > 0")
        page.select_option("#target", "<b>g1</b>")
        page.click("#move")
        page.wait_for_function("document.querySelector('#message').className === 'refused'")
        assert "below the minimum" in page.locator("#message").inner_text()
        screenshot(page, "grid_editor")
        page.click("#save")
        page.wait_for_function("document.querySelector('#message').textContent.startsWith('saved')")
        assert blocked == [] and page.js_errors == []
    saved = gpd.read_file(path, layer="units")
    assert saved.loc[1, "grid_code"] == "<b>g1</b>"
    assert len(gpd.read_file(path, layer="grids")) == 3
    assert "move" in set(gpd.read_file(path, layer="edit_history")["edit"])
    with Server(create_editor_app(session_of(path))) as url, open_page(browser, url, wait_ms=800) as (page, _):
        page.wait_for_function("window.gridEditor && window.gridEditor.ready")
        assert tally(page, "<b>g1</b>") == "2,250"
        assert page.locator("b").count() == 1   # only the page's own title is bold: no injected markup


def test_locks_survive_save_and_reload(tmp_path):
    path = plan_file(tmp_path)
    session = session_of(path)
    session.lock("<b>g2</b>", True)
    session.save()
    locked = EditSession.locked_in(gpd.read_file(path, layer="grids"))
    assert locked == ["<b>g2</b>"]
    again = EditSession(gpd.read_file(path, layer="units"), "pop", path, min_pop=1750, max_pop=2250, locked=locked)
    assert "locked" in again.move([4], "<b>g1</b>")["reason"]


def test_session_lock_undo_redo(tmp_path):
    session = session_of(plan_file(tmp_path))
    assert session.lock("<b>g1</b>", True)["state"]["grids"][1]["locked"]
    refused = session.move([1], "<b>g1</b>")
    assert not refused["ok"] and "locked" in refused["reason"]
    session.lock("<b>g1</b>", False)
    assert session.move([1], "<b>g1</b>")["ok"]
    assert session.undo()["state"]["labels"][1] == "<b>g0</b>"
    assert session.redo()["state"]["labels"][1] == "<b>g1</b>"


def test_cli_edit_needs_a_units_layer(tmp_path, capsys):
    from conftest import run_cli

    path = tmp_path / "only_grids.gpkg"
    gpd.GeoDataFrame({"population": [1.0]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:32650").to_file(path, layer="grids")
    code, text = run_cli(["grids", "edit", path, "--pop", "pop"], capsys)
    assert code != 0 and "no 'units' layer" in text and "Traceback" not in text


def test_session_rebalance_keeps_locked_grid(tmp_path):
    path = plan_file(tmp_path)
    units = gpd.read_file(path, layer="units")
    units.loc[[2, 8], "grid_code"] = "<b>g0</b>"          # g0 2,500 and g1 1,500: both out of band
    session = EditSession(units, "pop", path, min_pop=1750, max_pop=2250)
    session.lock("<b>g2</b>", True)
    answer = session.rebalance()
    assert answer["ok"] and all(g["in_band"] for g in answer["state"]["grids"])
    assert [answer["state"]["labels"][i] for i in (4, 5, 10, 11)] == ["<b>g2</b>"] * 4
