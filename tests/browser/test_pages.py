"""The cap gauge, the months and settings pages, and screenshots of every page, in Chromium.

trafficmon accounts the kernel counters of the captured veth; the tests change
its state the way an operator would — `POST /adjust` and `PUT /api/settings`,
from a script or through the page's own forms — and look at what the pages show.
The pages show a billing period, so the service's clock and the page's are fixed
(`CLOCK`); the daily chart on the dates that matter is `tests.browser.test_daily_chart`.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.browser.conftest import DESKTOP, PHONE, Tab
from tests.browser.service import Service
from tests.browser.traffic import download, serve
from tests.support.hosts import Link

pytestmark = [pytest.mark.browser, pytest.mark.netns]

OpenTab = Callable[..., Tab]
CLOCK = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
"""When the service's and the pages' clocks start: the second day of a period, as a new user met it."""
WARNING_FILL = "rgb(176, 115, 0)"
"""--warning in the light theme: the gauge's colour from the warning threshold on."""
REFUSED = re.compile(r"Failed to load resource: the server responded with a status of 400 \(Bad Request\)")
"""Chromium's own console line for a request the server refused: expected when a test sends a bad value."""
REDOC_LOGO = re.compile(r"^Loading the image 'https://cdn\.redoc\.ly/redoc/logo-mini\.svg' violates the following Content Security Policy")
"""ReDoc's bundle hard-codes its footer logo's URL on its CDN (drf-spectacular-sidecar#11); the
page's Content Security Policy blocks it, so nothing leaves the machine, and Chromium says so."""


@pytest.fixture
def service_clock() -> datetime:
    return CLOCK


def field(tab: Tab, root: str, name: str) -> str:
    return tab.page.locator(f'{root} [data-field="{name}"]').text_content()


def test_cap_gauge_follows_adjust_and_turns_warning_past_the_threshold(service: Service, open_tab: OpenTab) -> None:
    tab = open_tab("/")
    page = tab.page
    page.wait_for_function("() => document.querySelector('#cap [data-field=used_percent]').textContent !== '—'")
    assert page.locator("#cap").get_attribute("data-level") == "ok"
    assert field(tab, "#cap", "cap") == "500 GB"
    assert field(tab, "#cap", "level") == "within the cap"

    service.request("POST", "/adjust", {"mode": "set", "gb": 410, "note": "provider's meter"})
    page.locator('#cap[data-level="warning"]').wait_for()
    assert field(tab, "#cap", "used_percent") == "82.0 %"
    assert field(tab, "#cap", "counted").startswith("410")
    assert field(tab, "#cap", "remaining").startswith("90.0")
    assert field(tab, "#cap", "level") == "warning level"
    fill = page.evaluate("getComputedStyle(document.querySelector('#cap .meter-fill')).backgroundColor")
    assert fill == WARNING_FILL
    assert page.locator("#cap .meter").get_attribute("aria-valuenow") == "82"

    banner = page.locator("#alert-banner")
    banner.wait_for()
    assert banner.get_attribute("data-level") == "warning"
    assert "Traffic warning: 82% of the 500 GB cap used" in banner.text_content()
    banner.get_by_role("button", name="Dismiss the alert").click()
    assert banner.is_hidden()
    tab.assert_clean()


def test_config_form_validation(service: Service, open_tab: OpenTab) -> None:
    tab = open_tab("/config")
    page = tab.page
    form = page.locator("#settings-form")
    cap = page.locator("#f-cap_gb")
    page.wait_for_function("() => document.querySelector('#f-cap_gb').value !== ''")
    assert cap.input_value() == "500"

    page.locator("#f-reset_day").fill("32")
    page.locator("#f-critical_percent").fill("70")
    form.get_by_role("button", name="Save settings").click()
    assert page.locator("#f-reset_day-error").text_content() == "A whole number from 1 to 31."
    assert page.locator("#f-critical_percent-error").text_content() == "Must be above the warning level (80 %)."
    assert page.locator("#f-reset_day").get_attribute("aria-invalid") == "true"
    assert form.locator(".form-status").text_content() == "Not saved: correct the highlighted fields."
    assert service.request("GET", "/api/settings")["settings"]["reset_day"] == 1

    page.locator("#f-reset_day").fill("15")
    page.locator("#f-critical_percent").fill("95")
    cap.fill("10000000000")  # fine for the browser, beyond what the server can count in bytes
    form.get_by_role("button", name="Save settings").click()
    error = page.locator("#f-cap_gb-error")
    error.wait_for()
    assert error.text_content().startswith("is too large")
    assert page.locator("#f-reset_day-error").is_hidden()
    assert form.locator(".form-status").text_content() == "Not saved: the server refused the highlighted field."
    assert service.request("GET", "/api/settings")["settings"]["cap_gb"] == 500

    cap.fill("600")
    form.get_by_role("button", name="Save settings").click()
    status = form.locator(".form-status")
    page.wait_for_function("() => document.querySelector('#settings-form .form-status').dataset.kind === 'ok'")
    assert status.text_content() == "Saved: cap_gb, reset_day. The new settings apply now."
    settings = service.request("GET", "/api/settings")["settings"]
    assert (settings["cap_gb"], settings["reset_day"]) == (600, 15)
    page.reload()
    page.wait_for_function("() => document.querySelector('#f-cap_gb').value === '600'")
    assert page.locator("#f-reset_day").input_value() == "15"
    tab.assert_clean(allow=REFUSED)


def test_manual_adjust_form_and_its_audit_trail(service: Service, open_tab: OpenTab) -> None:
    tab = open_tab("/config")
    page = tab.page
    form = page.locator("#adjust-form")
    page.wait_for_function("() => document.querySelector('#adjust [data-field=counted]').textContent !== '—'")
    assert page.locator('#audit [data-role="empty"]').is_visible()

    form.get_by_label("set the counted total to").check()
    page.locator("#f-amount").fill("-1")
    form.get_by_role("button", name="Apply").click()
    assert page.locator("#f-amount-error").text_content() == "The counted total cannot be set below zero."

    form.get_by_label("add to the counted total").check()
    page.locator("#f-amount").fill("-1000")
    form.get_by_role("button", name="Apply").click()
    refused = page.locator("#f-amount-error")
    page.wait_for_function("() => document.querySelector('#f-amount-error').textContent.includes('negative')")
    assert "would make the counted total negative" in refused.text_content()
    assert service.request("GET", "/api/audit")["count"] == 0

    page.locator("#f-amount").fill("2.5")
    page.locator("#f-note").fill("the provider's meter says so")
    form.get_by_role("button", name="Apply").click()
    page.wait_for_function("() => document.querySelector('#adjust-form .form-status').dataset.kind === 'ok'")
    assert form.locator(".form-status").text_content().startswith("Applied: counted total ")
    assert refused.is_hidden()
    row = page.locator("#audit tbody tr").first
    row.wait_for()
    assert row.locator("td").nth(1).text_content() == "add 2.50 GB"
    assert row.locator("td").nth(4).text_content() == "the provider's meter says so"
    assert row.locator("time").get_attribute("title")
    assert field(tab, "#adjust", "offset") == "2.50 GB"
    entry = service.request("GET", "/api/audit")["audit"][0]
    assert (entry["mode"], entry["bytes"], entry["note"]) == ("add", 2_500_000_000, "the provider's meter says so")
    tab.assert_clean(allow=REFUSED)


def test_months_page(service: Service, open_tab: OpenTab) -> None:
    service.request("POST", "/adjust", {"mode": "add", "gb": 1, "note": ""})
    tab = open_tab("/months")
    row = tab.page.locator("#months-table tbody tr").first
    row.wait_for()
    assert row.get_attribute("class") == "current"
    assert row.locator("th").text_content().endswith("(current)")
    cells = row.locator("td").all_text_contents()
    assert cells[2] == "1.00 GB"  # the offset
    assert cells[4] == "500 GB"
    tab.assert_clean()


BACKGROUNDS = {"light": "rgb(244, 246, 248)", "dark": "rgb(14, 17, 21)"}


def test_screenshots_of_every_page(
    link: Link, open_tab: OpenTab, peers: list[subprocess.Popen[str]], screens: Path
) -> None:
    """Each page at desktop and phone width, light and dark: saved, themed, and no sideways scrolling."""
    serve(link, peers)
    busy = download(link, peers)
    pages = {"overview": "/", "process": f"/processes/{busy.pid}", "daily": "/daily", "months": "/months",
             "config": "/config"}
    for scheme, background in BACKGROUNDS.items():
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            for name, path in pages.items():
                tab = open_tab(path, viewport=viewport, color_scheme=scheme)
                page = tab.page
                if name in ("overview", "process"):
                    page.wait_for_function("""() => [...document.querySelectorAll(
                        '#connections tbody td.col-download_speed')].some(td => td.textContent !== '0 B/s')""")
                    page.wait_for_timeout(1500)  # a few points on the chart
                else:
                    page.wait_for_load_state("networkidle")
                assert page.evaluate("getComputedStyle(document.documentElement).backgroundColor") == background
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{name} scrolls sideways by {overflow} px at {size} width"
                page.screenshot(path=screens / f"{name}-{size}-{scheme}.png", full_page=size == "phone")
                tab.assert_clean()
                page.context.close()
    assert len(list(screens.glob("*-*-*.png"))) >= 20


@pytest.mark.parametrize(("path", "rendered"), [("/docs", ".swagger-ui .info .title"), ("/redoc", "redoc h1")])
def test_api_documentation_pages_render_offline(open_tab: OpenTab, path: str, rendered: str) -> None:
    """Swagger UI and ReDoc come gzipped from the service itself and draw the OpenAPI document."""
    tab = open_tab(path)
    title = tab.page.locator(rendered).first
    title.wait_for()
    assert "trafficmon" in title.text_content().lower()
    tab.assert_clean(allow=REDOC_LOGO)
