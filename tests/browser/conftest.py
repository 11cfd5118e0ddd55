"""Browser tests: Debian's Chromium driven by Playwright (sync API), against a real trafficmon.

Outside CI these tests skip, with the reason, when Chromium or Playwright is
missing; in CI (`CI` set) that is an error instead, as for the namespace tests.
Every page is watched for console errors and uncaught exceptions; a test ends
with `tab.assert_clean()`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import CHROMIUM, LAUNCH_ARGS, browser_environment, clock_faked
from tests.browser.service import Service
from tests.support.hosts import Link


DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SCREENS = Path(os.environ.get("TRAFFICMON_SCREENS", Path(tempfile.gettempdir()) / "trafficmon-screens"))


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).exists():
        return f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    if not _playwright_importable():
        return "needs Playwright for Python (pip install -e '.[test]')"
    return None


def _playwright_importable() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = browser_unavailable()
    if reason is None:
        return
    browser_items = [item for item in items if "browser" in item.keywords]
    if os.environ.get("CI") and browser_items:
        raise pytest.UsageError(f"CI must run the browser tests, but this machine {reason}")
    for item in browser_items:
        item.add_marker(pytest.mark.skip(reason=f"browser test {reason}"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Not for the whole session: while Playwright's sync API
    runs, its event loop is the thread's running loop, and pytest-asyncio's tests after it
    could not start their own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, env=browser_environment())
        yield chromium
        chromium.close()


# Chromium's own reports of a failed request (not script errors): expected only
# while a test has the server down or locked.
NETWORK_NOISE = re.compile(
    r"WebSocket connection to '.*' failed|Failed to load resource: net::ERR_CONNECTION_REFUSED"
    r"|Failed to load resource: the server responded with a status of 401"
)


@dataclass
class Tab:
    """A page plus every console error and uncaught exception it produced."""

    page: Any
    response: Any = None
    errors: list[str] = field(default_factory=list)

    def assert_clean(self, allow: re.Pattern[str] | None = None) -> None:
        left = [e for e in self.errors if allow is None or not allow.search(e)]
        assert left == [], f"console errors: {left}"


@pytest.fixture
def service_clock() -> datetime | None:
    """Where the service's wall clock starts (None: the real time); a module or a test may choose."""
    return None


@pytest.fixture
def service_env() -> dict[str, str]:
    """Settings given to the service in its environment; a module or a test may choose."""
    return {}


@pytest.fixture
def service(link: Link, tmp_path: Path, service_clock: datetime | None,
            service_env: dict[str, str]) -> Iterator[Service]:
    """trafficmon capturing link.a's veth, started; stopped at the end whatever the test did to it."""
    running = Service(link.a, tmp_path / "data", "browser-test-pässword", (link.b.ipv4, link.b.ipv6),
                      clock=service_clock, env=service_env)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def open_tab(browser: Any, service: Service) -> Iterator[Callable[..., Tab]]:
    """`open_tab(path, viewport=..., color_scheme=..., credentials=...)` -> a loaded Tab.

    When the service's clock is faked (its own, or the whole run's under
    `tests.calendar_runs`), the page's clock (Playwright's) starts at the service's
    time, and both run on from there.
    """
    contexts: list[Any] = []

    def open_(path: str = "/", *, viewport: dict[str, int] = DESKTOP, color_scheme: str = "light",
              credentials: dict[str, str] | None = None, wait: bool = True) -> Tab:
        context = browser.new_context(
            viewport=viewport,
            color_scheme=color_scheme,
            http_credentials=service.credentials if credentials is None else credentials,
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        if service.clock is not None or clock_faked():
            page.clock.install(time=service.now())
        tab = Tab(page)
        page.on("console", lambda msg: tab.errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: tab.errors.append(f"uncaught: {exc}"))
        tab.response = page.goto(service.url + path)
        if wait:
            page.wait_for_load_state("load")
        return tab

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def screens() -> Path:
    """Where screenshots go: outside the repository, kept after the run as artefacts."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    return SCREENS
