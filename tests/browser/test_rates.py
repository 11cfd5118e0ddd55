"""A steady rate-limited download, read in Chromium on every tick: the overview's total and the process page.

The download comes from a server that limits its clients' speed (tests.support.paced:
RATE bytes per second, sent in bursts), fetched by curl, and ends by itself.
Both pages are open from the start; after one speed window of warm-up, every
value each page shows for MEASURED seconds must be within 20 % of RATE.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pytest

from tests.support import paced
from tests.browser.conftest import Tab
from tests.browser.service import UPDATE_INTERVAL, Service
from tests.support.dashboard import amount, wait_live
from tests.support.hosts import Link
from tests.support.dashboard import RECORD, TOLERANCE

pytestmark = [pytest.mark.browser, pytest.mark.netns]

OpenTab = Callable[..., Tab]
MEASURED = 10.0


def speed_window(tab: Tab) -> float:
    return float(tab.page.evaluate("TM.settings.speed_window"))


def test_a_rate_limited_download_reads_its_rate_on_every_tick(
    link: Link, service: Service, open_tab: OpenTab, peers: list[subprocess.Popen[str]]
) -> None:
    overview = open_tab("/")
    wait_live(overview)
    window = speed_window(overview)
    paced.serve(link.b, peers)
    curl = paced.fetch(link.a, link.b, window + MEASURED + 5, peers)
    process = open_tab(f"/processes/{curl.pid}")
    process.page.wait_for_function(
        "() => document.querySelector('#process [data-field=name]').textContent === 'curl'", timeout=10_000)
    assert process.page.locator("#process dt").filter(has_text="Download").text_content() == \
        f"Download (last {window:g} s)"
    assert f"averaged over the last {window:g} s" in overview.page.locator("footer").text_content()

    time.sleep(window + UPDATE_INTERVAL)  # warm-up: one whole window of the download
    overview.page.evaluate(RECORD, "#rate-down")
    process.page.evaluate(RECORD, '#process [data-field="download_speed"]')
    time.sleep(MEASURED)
    totals = [amount(t) for t in overview.page.evaluate("window.readings")]
    mine = [amount(t) for t in process.page.evaluate("window.readings")]
    assert curl.poll() is None, "the download lasted the whole measurement"

    ticks = MEASURED / UPDATE_INTERVAL - 2
    assert len(totals) >= ticks and len(mine) >= ticks, (len(totals), len(mine))
    low, high = (1 - TOLERANCE) * paced.RATE, (1 + TOLERANCE) * paced.RATE
    assert all(low <= v <= high for v in totals), totals
    assert all(low <= v <= high for v in mine), mine
    overview.assert_clean()
    process.assert_clean()
