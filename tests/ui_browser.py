"""Headless Chromium for tests, driven by Playwright: Debian's `chromium` binary, never Playwright's own browsers.

`chromium()` finds the binary (or skips/fails saying how to install it: also used by test_card_screens.py);
`launch_browser()` starts it; `Watched` is a page that records every JS console error, page error, dialog and
request leaving this machine, and fails the test on any of them; `Screens` saves screenshots to a folder
($ARTIFLOW_TEST_SCREENS, or pytest's temporary folder: never the repository).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

REQUIRE = "ARTIFLOW_TEST_REQUIRE_CHROMIUM"
SCREENS = "ARTIFLOW_TEST_SCREENS"
INSTALL_HINT = ("Chromium is not installed: install Debian's 'chromium' package (sudo apt-get install chromium), or "
                "run `make test`, which installs it as root via tests/services/ensure_chromium.sh")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
VIEWPORT = {"width": 1280, "height": 900}
# a browser that fetches nothing from outside, keeps no state, and runs as root in a VM (no kernel sandbox)
LAUNCH_ARGS = ["--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
               "--mute-audio", "--hide-scrollbars", "--force-device-scale-factor=1",
               "--proxy-server=http://127.0.0.1:9"]   # loopback bypasses the proxy; nothing else gets out


def chromium() -> str:
    """The chromium binary; else a skip saying how to install it (a failure with ARTIFLOW_TEST_REQUIRE_CHROMIUM=1,
    which `make test` sets)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get(REQUIRE, "") not in ("", "0"):
        pytest.fail(f"{INSTALL_HINT} ({REQUIRE} is set: the browser tests may not be skipped; "
                    f"set {REQUIRE}=0 to skip them instead).", pytrace=False)
    pytest.skip(INSTALL_HINT)


def launch_args() -> list[str]:
    """Chromium's command-line switches here (its own sandbox refuses to run as root)."""
    return LAUNCH_ARGS + (["--no-sandbox"] if os.geteuid() == 0 else [])


@contextlib.contextmanager
def launch_browser() -> Iterator[Any]:
    """A headless Chromium (Debian's) driven by Playwright, closed at the end."""
    binary = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=binary, headless=True, args=launch_args())
        try:
            yield browser
        finally:
            browser.close()


class Screens:
    """Where screenshots go: $ARTIFLOW_TEST_SCREENS if set, else a folder of pytest's."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    @classmethod
    def for_session(cls, tmp_path_factory: pytest.TempPathFactory) -> Screens:
        given = os.environ.get(SCREENS)
        return cls(Path(given) if given else tmp_path_factory.mktemp("screens"))

    def shot(self, page: Any, name: str, element: str | None = None) -> Path:
        """A PNG of the whole of `page` (or of its `element` only), named `name`, returned for the test to look at.

        Chromium leaves out-of-process frames (sandboxed cards) blank in whole-page shots: shoot their element."""
        path = self.folder / f"{re.sub(r'[^A-Za-z0-9_-]+', '-', name)}.png"
        if element is None:
            page.screenshot(path=str(path), full_page=True)
        else:
            page.locator(element).scroll_into_view_if_needed()
            page.locator(element).screenshot(path=str(path))
        assert path.stat().st_size > 1000, f"the screenshot {path} is empty"
        return path


class Watched:
    """A browser page that records what must never happen: JS console errors (CSP violations are among them),
    uncaught page errors, dialogs (alert/confirm/prompt: a script ran that should not have), requests to
    anything but this machine (the UI works offline). `check()` fails the test listing them. With
    `route=False` requests are not intercepted (each interception is a round trip to Python: timings)."""

    def __init__(self, browser: Any, base_url: str, route: bool = True) -> None:
        self.context = browser.new_context(base_url=base_url, viewport=VIEWPORT)
        if route:
            self.context.route("**/*", self._only_local)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)  # a loaded CI machine: waits are for what a page shows, not speed
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}\n{error.stack}"))
        self.page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            where = message.location or {}
            self.problems.append(f"console error at {where.get('url', '?')}:{where.get('lineNumber', '?')}: "
                                 f"{message.text}")

    def _dialog(self, dialog: Any) -> None:
        self.problems.append(f"a dialog ({dialog.type}) opened saying {dialog.message!r} on {self.page.url}")
        dialog.dismiss()

    def _only_local(self, route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about") or parts.hostname in LOCAL_HOSTS:
            route.continue_()
            return
        self.problems.append(f"a request left this machine: {url}")
        route.abort()

    def goto(self, path: str) -> Any:
        """Open `path` of the UI, expecting a 200 page, and give the response."""
        response = self.page.goto(path, wait_until="load")
        assert response is not None and response.status == 200, \
            f"{path}: HTTP {response.status if response else '(none)'}: {self.page.inner_text('body')[:500]}"
        return response

    def check(self) -> None:
        """Fail the test if anything that must never happen has happened on this page so far."""
        assert not self.problems, "the browser saw:\n" + "\n".join(self.problems)

    def close(self) -> None:
        self.context.close()


@contextlib.contextmanager
def watched(browser: Any, base_url: str) -> Iterator[Watched]:
    """A `Watched` page for one test: checked (and closed) at its end."""
    view = Watched(browser, base_url)
    try:
        yield view
        view.check()
    finally:
        view.close()


def echarts_points(page: Any, selector: str, series: int = 0) -> list:
    """The data of series `series` of the ECharts chart in the element `selector` (as the chart holds it), once
    drawn: the pages fetch ECharts after they load (static/app.js withECharts), and a chart below the fold only
    once it is scrolled to (the run page's timeline), so it is scrolled into view first."""
    page.locator(selector).scroll_into_view_if_needed()
    page.wait_for_function("(sel) => window.echarts && echarts.getInstanceByDom(document.querySelector(sel))",
                           arg=selector, timeout=30_000)
    return page.eval_on_selector(
        selector, "(div, i) => { const c = echarts.getInstanceByDom(div); "
                  "return c ? c.getOption().series[i].data : null; }", series)


def fixtures() -> tuple[Any, Any]:
    """(browser, screens): session fixtures for a test module (`browser, screens = ui_browser.fixtures()`)."""

    @pytest.fixture(scope="session", name="browser")
    def browser_fixture() -> Iterator[Any]:
        with launch_browser() as browser:
            yield browser

    @pytest.fixture(scope="session", name="screens")
    def screens_fixture(tmp_path_factory: pytest.TempPathFactory) -> Screens:
        return Screens.for_session(tmp_path_factory)

    return browser_fixture, screens_fixture
