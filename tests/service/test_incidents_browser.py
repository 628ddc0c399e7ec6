"""The phone pages in a real headless Chromium against `gridtools incidents serve` on loopback:
report with a photo on the form, see it on the grid head's list, handle, then the command centre
dispatches an unrouted report, verifies and closes.  Offline (no request leaves loopback) and
the stored-XSS payload of issue 12 shows as text."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from browser import leaflet_features, open_page, screenshot
from conftest import REPO, run_cli
from test_incidents_service import GRID_A, grids_frame

expect = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright").expect
XSS = "<img src=x onerror=alert(7)>"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _photo(path):
    from PIL import Image

    Image.new("RGB", (64, 48), (200, 40, 40)).save(path, format="JPEG")
    return path


@pytest.fixture
def server(tmp_path, capsys):
    grids = tmp_path / "grids.gpkg"
    grids_frame().to_file(grids, layer="grids", driver="GPKG")
    db = tmp_path / "cases.sqlite"
    tokens = {}
    for key, args in {"reporter": ["--role", "reporter", "--name", "zhang"],
                      "head": ["--role", "grid_head", "--name", "li", "--grid", GRID_A],
                      "dispatcher": ["--role", "dispatcher", "--name", "wang"],
                      "supervisor": ["--role", "supervisor", "--name", "zhao"]}.items():
        code, text = run_cli(["incidents", "token", db, *args], capsys, collapse=False)
        assert code == 0
        tokens[key] = text.strip().splitlines()[-1]
    port = _port()
    proc = subprocess.Popen([sys.executable, "-m", "gridtools.cli", "incidents", "serve", str(db), "--grids", str(grids),
                             "--host", "127.0.0.1", "--port", str(port)], env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:  # pragma: no cover
        proc.kill()
        pytest.fail(proc.stdout.read().decode())
    yield base, tokens, tmp_path
    proc.kill()
    proc.wait()


def _row(page, case_id):
    return page.locator(f"tr[data-case='{case_id}']")


def test_report_with_photo_grid_head_list_dispatch_close(browser, server):
    base, tokens, tmp = server
    alerts = []
    with open_page(browser, f"{base}/incidents/pages/report#token={tokens['reporter']}", width=390, height=844,
                   wait_ms=800) as (page, blocked):
        page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
        page.locator("#type option").nth(10).wait_for(state="attached")
        page.select_option("#type", "0104")
        box = page.locator("#map").bounding_box()
        xy = page.evaluate("gtMap.latLngToContainerPoint([31.305, 120.605])")
        page.mouse.click(box["x"] + xy["x"], box["y"] + xy["y"])  # tap the map inside grid A
        page.fill("#desc", f"dirty road {XSS}")
        page.set_input_files("#photo", str(_photo(tmp / "photo.jpg")))
        page.click("#send")
        expect(page.locator("#msg")).to_have_text(f"case 1 sent to grid:{GRID_A}")
        screenshot(page, "incidents_report_form")
        assert blocked == [] and page.js_errors == []
    with open_page(browser, f"{base}/incidents/pages/grid#token={tokens['head']}", width=390, height=844,
                   wait_ms=800) as (page, blocked):
        page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
        row = _row(page, 1)
        row.wait_for()
        thumb = row.locator("img.thumb")
        thumb.wait_for()
        page.wait_for_timeout(300)
        assert thumb.evaluate("img => img.naturalWidth") == 64  # the photo itself, fetched with the token
        assert XSS in row.text_content() and page.locator("img[src='x']").count() == 0  # shown as text
        assert leaflet_features(page) >= 3  # two grids and the case
        screenshot(page, "incidents_grid_head_list")
        row.locator("button[data-action='handle']").click()
        expect(page.locator("#msg")).to_have_text("case 1: handle done")
        assert blocked == [] and page.js_errors == []
    # a report outside every grid waits on the board for the dispatcher
    r = httpx.post(f"{base}/incidents/cases", json={"type_code": "0104", "lon": 121.0, "lat": 31.0},
                   headers={"Authorization": f"Bearer {tokens['reporter']}"})
    assert r.status_code == 201 and r.json()["status"] == "registered"
    with open_page(browser, f"{base}/incidents/pages/board#token={tokens['dispatcher']}", wait_ms=800) as (page, blocked):
        _row(page, 2).wait_for()
        page.fill("#to", "department:Sanitation")
        _row(page, 2).locator("button[data-action='dispatch']").click()
        expect(page.locator("#msg")).to_have_text("case 2: dispatch done")
        assert blocked == [] and page.js_errors == []
    with open_page(browser, f"{base}/incidents/pages/board#token={tokens['supervisor']}", wait_ms=800) as (page, blocked):
        page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
        _row(page, 1).locator("button[data-action='verify']").click()
        expect(page.locator("#msg")).to_have_text("case 1: verify done")
        _row(page, 1).locator("button[data-action='close']").click()
        expect(page.locator("#msg")).to_have_text("case 1: close done")
        screenshot(page, "incidents_board")
        assert blocked == [] and page.js_errors == []
    cases = {c["case_id"]: c for c in httpx.get(f"{base}/incidents/cases", headers={
        "Authorization": f"Bearer {tokens['supervisor']}"}).json()}
    assert cases[1]["status"] == "closed" and cases[2]["assignee"] == "department:Sanitation"
    assert alerts == []
