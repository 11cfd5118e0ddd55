"""The overview and process pages in Chromium, against trafficmon capturing real traffic.

A test process downloads from the other namespace (shaped to a known rate);
the page must show its connection with its PID within two ticks, keep its
speed current, sort and filter the table, survive a server restart, and say
so when authentication fails.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable

import pytest

from tests.browser.conftest import NETWORK_NOISE, Tab
from tests.browser.service import UPDATE_INTERVAL, Service
from tests.browser.traffic import LONG, PORT, RATE_BYTES, download, established, serve
from tests.support.hosts import PEER_NAME, Link
from tests.support.peers import wait_line
from tests.support.dashboard import SPEED_ABOVE, amount, column, row_of, wait_live
pytestmark = [pytest.mark.browser, pytest.mark.netns]

OpenTab = Callable[..., Tab]
RENDER_SLACK = 0.3
"""Seconds for a tick to cross the WebSocket, be drawn, and be seen by Playwright."""


def test_page_needs_basic_auth(open_tab: OpenTab, service: Service) -> None:
    wrong = open_tab("/", credentials={"username": "admin", "password": "not-it"})
    assert wrong.response.status == 401
    assert "wrong user or password" in wrong.page.content()

    right = open_tab("/")
    assert right.response.status == 200
    assert right.page.title() == "trafficmon — overview"
    wait_live(right)
    assert right.page.locator("#live-status .status-text").text_content() == "live"
    # Capture health drawn from the server's level: capturing the veth is ok (or degraded, never down).
    right.page.locator('#health[data-state="good"], #health[data-state="degraded"]').wait_for(timeout=10_000)
    right.assert_clean()


def test_download_appears_with_its_pid_within_two_ticks_and_its_speed_updates(
    link: Link, open_tab: OpenTab, peers: list[subprocess.Popen[str]]
) -> None:
    tab = open_tab("/")
    wait_live(tab)
    serve(link, peers)
    client = download(link, peers)
    started = established(link.a)
    row = row_of(tab, client.pid)
    row.wait_for(timeout=10_000)
    shown_after = time.monotonic() - started
    assert shown_after <= 2 * UPDATE_INTERVAL + RENDER_SLACK, f"row shown {shown_after:.2f} s after connecting"

    assert row.locator("td.col-process_name").text_content().startswith("python")
    remote = row.locator("td.col-remote_addr")
    named = f"{PEER_NAME} ({link.b.ipv4}:{PORT})"
    deadline = time.monotonic() + 4 * UPDATE_INTERVAL + RENDER_SLACK
    while (shown := remote.text_content()) != named:  # the name follows the address within a tick or two
        assert shown == f"{link.b.ipv4}:{PORT}" and time.monotonic() < deadline, shown
        time.sleep(0.05)
    assert row.locator("td.col-protocol").text_content() == "TCP"
    assert row.locator("td.col-state").text_content() == "ESTABLISHED"
    samples = []
    for _ in range(4):
        time.sleep(2 * UPDATE_INTERVAL)
        samples.append((amount(row.locator("td.col-download_speed").text_content()),
                        amount(row.locator("td.col-bytes_received").text_content())))
    speeds = [s for s, _ in samples]
    received = [r for _, r in samples]
    assert all(0.5 * RATE_BYTES < s < 1.5 * RATE_BYTES for s in speeds), speeds
    assert received == sorted(received) and received[0] < received[-1], received
    tab.assert_clean()


def test_sorting_and_filtering(link: Link, open_tab: OpenTab, peers: list[subprocess.Popen[str]]) -> None:
    serve(link, peers)
    busy = download(link, peers)
    idle = download(link, peers, size=100_000, connections=3)
    wait_line(idle)  # its three downloads are done; the connections stay open, idle
    tab = open_tab("/")
    for pid in (busy.pid, idle.pid):
        row_of(tab, pid).first.wait_for()
    page = tab.page
    header = page.locator("#connections thead th")

    assert header.filter(has_text="Down").get_attribute("aria-sort") == "descending"
    # The idle process's three downloads ran a moment ago: its speed window empties within 5 s.
    page.wait_for_function(
        "pid => document.querySelector('#connections tbody tr[data-id] td.col-pid').textContent === pid",
        arg=str(busy.pid), timeout=10_000)

    header.filter(has_text="PID").locator("button").click()
    assert header.filter(has_text="PID").get_attribute("aria-sort") == "descending"
    pids = [int(p) for p in column(tab, "pid") if p != "—"]
    assert pids == sorted(pids, reverse=True) and {busy.pid, idle.pid} <= set(pids)
    header.filter(has_text="PID").locator("button").click()
    assert header.filter(has_text="PID").get_attribute("aria-sort") == "ascending"
    pids = [int(p) for p in column(tab, "pid") if p != "—"]
    assert pids == sorted(pids)

    header.filter(has_text="Received").locator("button").click()
    received = [amount(r) for r in column(tab, "bytes_received")]
    assert received == sorted(received, reverse=True)
    header.filter(has_text="Process").locator("button").click()
    assert header.filter(has_text="Process").get_attribute("aria-sort") == "ascending"
    names = [n.lower() for n in column(tab, "process_name")]
    assert names == sorted(names)

    search = page.locator("#connections input[type=search]")
    search.fill(str(idle.pid))
    page.wait_for_function("() => document.querySelectorAll('#connections tbody tr[data-id]').length === 3")
    assert set(column(tab, "pid")) == {str(idle.pid)}
    assert page.locator('#connections [data-role="count"]').text_content().startswith("3 of ")

    search.fill(f"{link.b.ipv4}:{PORT}")
    page.wait_for_function("() => document.querySelectorAll('#connections tbody tr[data-id]').length === 4")
    assert sorted(column(tab, "pid")) == sorted([str(busy.pid)] + [str(idle.pid)] * 3)

    search.fill(PEER_NAME.split(".")[0])
    page.wait_for_function("() => document.querySelectorAll('#connections tbody tr[data-id]').length === 4")
    assert all(r.startswith(PEER_NAME) for r in column(tab, "remote_addr"))

    search.fill("no-such-process")
    empty = page.locator('#connections [data-role="empty"]')
    empty.wait_for()
    assert empty.text_content() == "No connection matches “no-such-process”."
    assert column(tab, "pid") == []
    search.fill("")
    row_of(tab, busy.pid).wait_for()
    tab.assert_clean()


def test_keyboard_moves_through_the_rows_and_opens_a_process(
    link: Link, open_tab: OpenTab, peers: list[subprocess.Popen[str]]
) -> None:
    serve(link, peers)
    busy = download(link, peers)
    idle = download(link, peers, size=100_000, connections=2)
    wait_line(idle)
    tab = open_tab("/")
    page = tab.page
    row_of(tab, busy.pid).wait_for()
    row_of(tab, idle.pid).first.wait_for()

    page.locator("#connections thead th").last.locator("button").focus()
    page.keyboard.press("Tab")
    first = page.evaluate("document.activeElement.dataset.id")
    assert first == page.locator("#connections tbody tr[data-id]").first.get_attribute("data-id")
    page.keyboard.press("ArrowDown")
    second = page.evaluate("document.activeElement.dataset.id")
    assert second != first
    assert page.locator("#connections tbody tr[aria-current=true]").get_attribute("data-id") == second
    page.keyboard.press("Escape")
    assert page.locator("#connections tbody tr[aria-current=true]").count() == 0

    page.keyboard.press("Home")
    assert page.evaluate("document.activeElement.dataset.id") == first
    pid = page.evaluate("document.activeElement.querySelector('td.col-pid').textContent")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/processes/{pid}$"))
    tab.assert_clean()


def test_process_page_shows_one_process(
    link: Link, open_tab: OpenTab, peers: list[subprocess.Popen[str]]
) -> None:
    serve(link, peers)
    busy = download(link, peers)
    idle = download(link, peers, size=100_000, connections=2)
    wait_line(idle)
    tab = open_tab(f"/processes/{busy.pid}")
    page = tab.page
    name = page.locator('#process [data-field="name"]')
    page.wait_for_function("() => document.querySelector('#process [data-field=name]').textContent !== 'Process'")
    assert name.text_content().startswith("python")
    assert page.locator('#process [data-field="cmdline"]').text_content().endswith(f"d {LONG} 1")
    page.wait_for_function("() => document.querySelectorAll('#connections tbody tr[data-id]').length === 1")
    assert column(tab, "remote_addr") == [f"{PEER_NAME} ({link.b.ipv4}:{PORT})"]
    # The row shows once the connection is up; its speed window fills over the next seconds.
    page.wait_for_function(SPEED_ABOVE, arg=['#process [data-field="download_speed"]', 0.5 * RATE_BYTES],
                           timeout=10_000)
    assert page.locator("#process-chart canvas").count() == 1
    assert page.locator('#process [data-role="gone"]').is_hidden()
    tab.assert_clean()


def test_page_reconnects_after_the_server_restarts(
    link: Link, service: Service, open_tab: OpenTab, peers: list[subprocess.Popen[str]]
) -> None:
    serve(link, peers)
    busy = download(link, peers)
    tab = open_tab("/")
    wait_live(tab)
    row_of(tab, busy.pid).wait_for()
    status = tab.page.locator("#live-status")

    service.stop()
    tab.page.locator('#live-status[data-state="reconnecting"]').wait_for()
    text = status.locator(".status-text").text_content()
    assert re.fullmatch(r"disconnected( \(.*\))? — reconnecting in \d+ s", text), text
    service.start()
    wait_live(tab, timeout=30_000)
    row_of(tab, busy.pid).wait_for()
    tab.assert_clean(allow=NETWORK_NOISE)


def test_failed_authentication_is_said_plainly(link: Link, service: Service, open_tab: OpenTab) -> None:
    tab = open_tab("/")
    wait_live(tab)
    service.stop()
    service.password = "changed-while-the-page-was-open"
    service.start()
    tab.page.locator('#live-status[data-state="auth-failed"]').wait_for(timeout=30_000)
    text = tab.page.locator("#live-status .status-text").text_content()
    assert text == "authentication failed — reload the page to sign in again"
    tab.assert_clean(allow=NETWORK_NOISE)


def test_rows_update_in_place_keep_the_selection_and_hold_their_order_under_the_pointer(
    link: Link, open_tab: OpenTab, peers: list[subprocess.Popen[str]]
) -> None:
    serve(link, peers)
    busy = download(link, peers)
    tab = open_tab("/")
    page = tab.page
    row = row_of(tab, busy.pid)
    row.wait_for()
    received = row.locator("td.col-bytes_received").text_content()
    row.evaluate("tr => { tr.markedByTest = true; }")
    row.locator("td.col-remote_addr").click()
    assert row.get_attribute("aria-current") == "true"
    hint = page.locator('#connections [data-role="hint"]')
    assert hint.is_visible(), "the order is held while the pointer is over the rows"

    page.wait_for_function(
        "before => document.querySelector('#connections tr[aria-current=true] td.col-bytes_received')"
        ".textContent !== before",
        arg=received,
    )
    assert row.evaluate("tr => tr.markedByTest === true"), "the same <tr> was updated, not replaced"
    assert row.get_attribute("aria-current") == "true"
    page.mouse.move(5, 5)
    assert hint.is_visible(), "still held: the keyboard focus is on the selected row"
    page.locator("#connections-title").click()
    hint.wait_for(state="hidden")
    assert row.get_attribute("aria-current") == "true", "the selection outlives the hold"
    tab.assert_clean()


def test_bandwidth_range_switch(open_tab: OpenTab) -> None:
    tab = open_tab("/")
    page = tab.page
    wait_live(tab)
    buttons = page.locator("#rates [data-range]")
    assert buttons.all_text_contents() == ["Live (60 s)", "1 h", "48 h"]
    with page.expect_response(lambda r: "/api/bandwidth-history?range=1h" in r.url) as answer:
        buttons.nth(1).click()
    assert answer.value.status == 200
    assert buttons.nth(1).get_attribute("aria-pressed") == "true"
    if answer.value.json()["count"] == 0:
        assert page.locator("#range-note").text_content() == "No complete minute recorded yet."
    else:
        assert page.locator("#range-note").is_hidden()
    buttons.nth(0).click()
    assert buttons.nth(0).get_attribute("aria-pressed") == "true"
    assert page.locator("#rate-chart canvas").count() == 1
    tab.assert_clean()


PROJECTED = "412 GB at the last 7 days' pace, reaching the cap on 27 Dec"
RENDER_PROJECTION = """async () => {
  const period = (await TM.api("GET", "/data")).data;
  period.timezone = "UTC";
  period.projection = {
    ...period.projection, bytes: 412e9, basis: "last_days", basis_text: "at the last 7 days' pace",
    cap_date: "2026-12-27T10:00:00+00:00", needs_seconds: 0,
  };
  TM.overview.gauge.render(period);
  const field = document.querySelector('#cap [data-field="projection"]');
  return [field.textContent, field.querySelector("time").dateTime];
}"""


def test_the_gauge_says_what_its_projection_rests_on(open_tab: OpenTab) -> None:
    """Whatever today's date: a service that just started has no projection and says why.

    The figure with its basis and cap day is drawn from a period the test sets
    (rendered and read in one turn of the page's event loop, so no tick comes
    in between), as the page's clock is not the service's.
    """
    tab = open_tab("/")
    field = tab.page.locator('#cap [data-field="projection"]')
    field.filter(has_text="not enough").wait_for()
    assert field.text_content() == "not enough data yet (after a day of counting)"
    assert tab.page.evaluate(RENDER_PROJECTION) == [PROJECTED, "2026-12-27T10:00:00+00:00"]
    tab.assert_clean()
