"""Pages in a real browser: headless Chromium from Debian's packages, driven by Playwright.

Every HTML page gridtools writes or serves must work with the network unplugged.  These helpers
open a page in Chromium with every request outside ``file://`` and the loopback address refused
(and recorded), so a test can assert both that nothing was fetched from the internet and that
the page really drew something (features on the map, rows in a table).

Chromium: ``apt-get install chromium`` (``.ci/run`` installs it).  Playwright's own browser
downloads do not work here; ``executable_path`` points it at the system browser.  Tests that use
the :func:`browser` fixture skip with that reason where no Chromium can be found.

Examples
--------
>>> with open_page(browser, "grids.html") as (page, blocked):   # doctest: +SKIP
...     assert page.locator("path.leaflet-interactive").count() > 0 and blocked == []
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Where the screenshots of each page type go (linked from docs/offline.md).
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
          "--disable-sync", "--no-first-run", "--disable-quic"]


def start_browser():
    """A headless Chromium (Playwright ``Browser``), or skip the test with the reason."""
    if CHROMIUM is None:
        pytest.skip("browser test needs Debian's chromium (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (pip install playwright)")
    manager = playwright_api.sync_playwright().start()
    browser = manager.chromium.launch(executable_path=CHROMIUM, args=_FLAGS)
    return manager, browser


def _local(url: str) -> bool:
    parts = urlparse(url)
    return parts.scheme in ("file", "data", "blob", "about") or parts.hostname in ("127.0.0.1", "localhost", "::1")


@contextmanager
def open_page(browser, target, *, width: int = 1200, height: int = 800, wait_ms: int = 500, headers=None):
    """Open *target* (a file path or a loopback URL) offline; yield ``(page, blocked_urls)``.

    Every request to a host other than loopback is aborted and its URL appended to the list, so
    ``blocked == []`` means the page asked the internet for nothing.
    """
    context = browser.new_context(viewport={"width": width, "height": height}, extra_http_headers=headers or {})
    blocked: list[str] = []
    errors: list[str] = []

    def route(request_route):
        url = request_route.request.url
        if _local(url):
            request_route.continue_()
        else:
            blocked.append(url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    url = target if isinstance(target, str) and "://" in target else Path(target).resolve().as_uri()
    try:
        page.goto(url, wait_until="load")
        page.wait_for_timeout(wait_ms)
        page.js_errors = errors  # script errors, for tests that assert none
        yield page, blocked
    finally:
        context.close()


def screenshot(page, name: str) -> Path:
    """Save a PNG of *page* as ``docs/screenshots/<name>.png`` (for the docs) and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def leaflet_features(page) -> int:
    """How many vector features (polygons, lines, circle markers) a Leaflet map drew, in every frame."""
    total = 0
    for frame in page.frames:
        try:
            total += frame.locator("path.leaflet-interactive").count()
        except Exception:  # noqa: BLE001 - a frame that went away counts nothing
            continue
    return total


class LiveServer:
    """An ASGI *app* served by uvicorn in a thread on a free loopback port; ``with`` gives its base URL.

    Examples
    --------
    >>> with LiveServer(app) as url, open_page(browser, url + "docs") as (page, blocked):  # doctest: +SKIP
    ...     assert blocked == []
    """

    def __init__(self, app):
        uvicorn = pytest.importorskip("uvicorn")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{self.port}")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}/"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(5)
