"""The tables at phone width (390 px) and at desktop widths: every figure whole, every column within reach.

At 390 px the connection tables of `/` and `/processes/{pid}` are stacked, a card
per connection; the /daily and /months tables a card per row. For every cell the
page shows, and for the widest text each column of figures can hold (written into
a copy of a row, measured, removed in one go), a figure must not be clipped
(scrollWidth <= clientWidth), and every cell must be rendered inside its row and
the viewport: visible without scrolling sideways, or — an address longer than
the card — scrollable within its own cell.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import PHONE, Tab
from tests.support.dashboard import column, row_of
from tests.browser.traffic import download, serve
from tests.support.hosts import Link
from tests.support.peers import wait_line
pytestmark = [pytest.mark.browser, pytest.mark.netns]

OpenTab = Callable[..., Tab]

WIDEST = {
    "pid": "4194304",
    "protocol": "ICMPv6",
    "state": "ESTABLISHED",
    "upload_speed": "99.9 MB/s",
    "download_speed": "99.9 MB/s",
    "bytes_sent": "99.9 GB",
    "bytes_received": "99.9 GB",
    "duration": "23 h 59 min",
}
"""The widest text of each column of figures (TM.fmt: three digits, a unit; a 7-digit pid)."""
ADDRESSES = ("local_addr", "remote_addr")

PROBLEMS = """([rowSelector, widest, addresses]) => {
  const problems = [];
  const viewport = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > viewport) problems.push("the page scrolls sideways");
  function check(row, cell, what) {
    const box = cell.getBoundingClientRect();
    const outer = row.getBoundingClientRect();
    const style = getComputedStyle(cell);
    if (!cell.getClientRects().length || box.width === 0 || style.visibility === "hidden") {
      problems.push(what + " is not shown");
      return;
    }
    if (box.left < outer.left - 0.5 || box.right > outer.right + 0.5 || box.left < 0 || box.right > viewport) {
      problems.push(what + " lies outside its row or the screen");
    }
    if (cell.scrollWidth > cell.clientWidth) {
      const key = [...cell.classList].find((c) => c.startsWith("col-"));
      const scrolls = key && addresses.includes(key.slice(4)) && style.overflowX === "auto";
      if (!scrolls) problems.push(what + " is clipped: " + cell.scrollWidth + " > " + cell.clientWidth);
    }
  }
  const rows = [...document.querySelectorAll(rowSelector)];
  if (!rows.length) return ["no rows"];
  for (const row of rows) {
    for (const cell of row.cells) check(row, cell, JSON.stringify(cell.textContent) + " (" + cell.className + ")");
  }
  const copy = rows[0].cloneNode(true);
  rows[0].after(copy);
  for (const cell of copy.cells) {
    const key = [...cell.classList].find((c) => c.startsWith("col-"));
    const text = key && widest[key.slice(4)];
    if (text) {
      cell.textContent = text;
      check(copy, cell, "the widest " + key.slice(4) + " " + JSON.stringify(text));
    }
  }
  copy.remove();
  return problems;
}"""


def problems(tab: Tab, rows: str, widest: dict[str, str] | None = None) -> list[str]:
    return tab.page.evaluate(PROBLEMS, [rows, widest or {}, list(ADDRESSES)])


def connection_problems(tab: Tab) -> list[str]:
    return problems(tab, "#connections tbody tr[data-id]", WIDEST)


def labels(row: Any) -> list[str | None]:
    """What each cell of a stacked row says it is, left to right."""
    return row.evaluate("tr => [...tr.cells].map(c => c.dataset.label ?? null)")


@pytest.fixture
def traffic(link: Link, peers: list[subprocess.Popen[str]]) -> tuple[int, int]:
    """A download in progress and a process with two idle connections: their pids."""
    serve(link, peers)
    busy = download(link, peers)
    idle = download(link, peers, size=100_000, connections=2)
    wait_line(idle)
    return busy.pid, idle.pid


def test_overview_connections_at_phone_width(open_tab: OpenTab, traffic: tuple[int, int], screens: Path) -> None:
    busy, idle = traffic
    tab = open_tab("/", viewport=PHONE)
    page = tab.page
    row_of(tab, busy).wait_for()
    row_of(tab, idle).first.wait_for()
    assert connection_problems(tab) == []
    assert labels(row_of(tab, busy)) == [
        "Process", "PID", "Local", "Remote", "Proto", "State", "Up", "Down", "Sent", "Received", "Duration"]
    assert page.locator("#connections thead").is_visible(), "the sort buttons are there"
    page.screenshot(path=str(screens / "phone-overview.png"), full_page=True)

    # Sort by any column with one tap, as at desktop width.
    header = page.locator("#connections thead th")
    header.filter(has_text="Received").locator("button").click()
    assert header.filter(has_text="Received").get_attribute("aria-sort") == "descending"
    assert column(tab, "pid")[0] == str(busy)
    header.filter(has_text="PID").locator("button").click()
    pids = [int(p) for p in column(tab, "pid") if p != "—"]
    assert pids == sorted(pids, reverse=True)

    # The keyboard moves through the cards as through the rows.
    page.locator("#connections tbody tr[data-id]").first.focus()
    first = page.evaluate("document.activeElement.dataset.id")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.id") != first
    assert page.locator("#connections tbody tr[aria-current=true]").count() == 1
    assert connection_problems(tab) == []
    tab.assert_clean()


def test_process_connections_at_phone_width(open_tab: OpenTab, traffic: tuple[int, int], screens: Path) -> None:
    busy, _ = traffic
    tab = open_tab(f"/processes/{busy}", viewport=PHONE)
    tab.page.wait_for_function("() => document.querySelectorAll('#connections tbody tr[data-id]').length === 1")
    assert connection_problems(tab) == []
    assert tab.page.locator('#process [data-field="download_speed"]').is_visible()
    tab.page.screenshot(path=str(screens / "phone-process.png"), full_page=True)
    tab.assert_clean()


@pytest.mark.parametrize("width", [1280, 1400])
def test_every_figure_is_whole_at_desktop_width(open_tab: OpenTab, traffic: tuple[int, int], width: int) -> None:
    busy, _ = traffic
    tab = open_tab("/", viewport={"width": width, "height": 800})
    row_of(tab, busy).wait_for()
    found = [p for p in connection_problems(tab) if "_addr" not in p]  # addresses may be cut, with a title
    assert found == []
    tab.assert_clean()


@pytest.mark.parametrize(("path", "table"), [("/daily", "#daily-table"), ("/months", "#months-table")])
def test_daily_and_months_tables_at_phone_width(
    open_tab: OpenTab, path: str, table: str, screens: Path
) -> None:
    tab = open_tab(path, viewport=PHONE)
    rows = f"{table} tbody tr"
    tab.page.locator(rows).first.wait_for()
    assert problems(tab, rows) == []
    headings = tab.page.eval_on_selector_all(f"{table} thead th", "ths => ths.map(th => th.textContent.trim())")
    assert labels(tab.page.locator(rows).first) == headings, "every figure says what it is"
    tab.page.screenshot(path=str(screens / f"phone-{path.strip('/')}.png"), full_page=True)
    tab.assert_clean()
