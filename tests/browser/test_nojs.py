"""The /config page's adjust form in a Chromium with JavaScript off: the browser posts it itself.

The server answers the form post with a 303 back to /config, which renders the
result (or the refusal beside its field) with no script running.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import DESKTOP
from tests.browser.service import Service

pytestmark = [pytest.mark.browser, pytest.mark.netns]


@pytest.fixture
def page(browser: Any, service: Service) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False, http_credentials=service.credentials)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def test_adjust_form_works_without_javascript(service: Service, page: Any) -> None:
    page.goto(service.url + "/config")
    form = page.locator("#adjust-form")
    form.get_by_label("set the counted total to").check()
    page.locator("#f-amount").fill("1.5")
    page.locator("#f-note").fill("no <script> here")
    with page.expect_navigation():
        form.get_by_role("button", name="Apply").click()
    assert page.url == service.url + "/config?adjusted=1#adjust"
    status = form.locator(".form-status")
    assert status.get_attribute("data-kind") == "ok"
    assert status.text_content().startswith("Applied: counted total ")
    assert status.text_content().endswith(" → 1,500,000,000 bytes (1.50 GB).")

    page.locator("#f-amount").fill("1e3")  # a number to the browser, not a decimal GB figure to the server
    with page.expect_navigation():
        form.get_by_role("button", name="Apply").click()
    assert re.fullmatch(re.escape(service.url) + r"/config\?refused=[A-Za-z0-9_-]+#adjust", page.url)
    assert status.get_attribute("data-kind") == "error"
    assert status.text_content() == "Not applied: gb: must be a decimal number of GB (10^9 bytes), got '1e3'"
    assert page.locator("#f-amount-error").text_content() == "must be a decimal number of GB (10^9 bytes), got '1e3'"
    assert page.locator("#f-amount").get_attribute("aria-invalid") == "true"
    audit = service.request("GET", "/api/audit")["audit"]
    assert [(e["mode"], e["bytes"], e["note"]) for e in audit] == [("set", 1_500_000_000, "no <script> here")]
