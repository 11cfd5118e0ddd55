"""The daily chart on fixed dates: a real download through a service whose clock is the test's.

Each case starts trafficmon with its wall clock at a chosen instant (libfaketime,
`tests.browser.service`), the page's clock at the same instant (Playwright), and
settings in the environment (reset day, zone, a cap small enough for a few MB to
show). A bounded download from the other namespace lands in "today" of that date.
At desktop (1400 px) and phone (390 px) width the chart must span the expected
days, today's inbound bar must be drawn whole inside its day and the plot, the x
labels must not overlap, and the table must list the expected dates; then the
one-day view (days=1) must draw today alone.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import PHONE, Tab
from tests.browser.service import Service
from tests.browser.traffic import RATE_BYTES, download, serve
from tests.support.hosts import Link
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.netns]

OpenTab = Callable[..., Tab]
INBOUND_BAR = (28, 126, 214)
"""--down in the light theme: the colour of the inbound bars."""
DESKTOP_WIDE = {"width": 1400, "height": 900}
CAP_GB = "0.03"
"""A cap of 30 MB: a daily budget of about 1 MB, so a download of a few MB draws a tall bar."""
DOWNLOAD = 3 * RATE_BYTES // 2
"""Bytes of the download: 1.5 s on the shaped link."""
COUNTED = RATE_BYTES
"""Inbound bytes the accounting must have counted before the page is opened."""
CLOCKS_APART = 3.0
"""Seconds the page's clock may be off the service's: the Date header has whole seconds, and a page loads."""


@dataclass(frozen=True)
class Case:
    """A moment to run the service at, its billing settings, and the period's days then."""

    clock: datetime
    first: date
    last: date
    reset_day: int = 1
    zone: str = "UTC"

    @property
    def today(self) -> date:
        return self.clock.astimezone(ZoneInfo(self.zone)).date()


def local(text: str, zone: str = "UTC") -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


BERLIN = "Europe/Berlin"
CASES = {
    "first-minute-of-a-period": Case(local("2026-12-01 00:00:00"), date(2026, 12, 1), date(2026, 12, 31)),
    "last-day-at-23:59": Case(local("2026-12-31 23:59:00"), date(2026, 12, 1), date(2026, 12, 31)),
    "28-february-leap-year": Case(local("2028-02-28 12:00"), date(2028, 2, 1), date(2028, 2, 29)),
    "29-february": Case(local("2028-02-29 12:00"), date(2028, 2, 1), date(2028, 2, 29)),
    # February 2027 has no 29th: the period starts on its last day.
    "reset-day-29-short-february": Case(local("2027-02-28 12:00"), date(2027, 2, 28), date(2027, 3, 28),
                                        reset_day=29),
    # Leap February has no 30th: the period starts on the 29th.
    "reset-day-30-leap-february": Case(local("2028-03-01 12:00"), date(2028, 2, 29), date(2028, 3, 29),
                                       reset_day=30),
    # April has no 31st: March's period ends when April's starts, on the 30th.
    "reset-day-31-short-april": Case(local("2026-04-29 12:00"), date(2026, 3, 31), date(2026, 4, 29),
                                     reset_day=31),
    # Berlin's clocks jump from 02:00 to 03:00: 03:30 is half an hour after the jump.
    "dst-spring-forward-berlin": Case(local("2026-03-29 03:30", BERLIN), date(2026, 3, 1), date(2026, 3, 31),
                                      zone=BERLIN),
    # Berlin's clocks go back from 03:00 to 02:00: 01:30 UTC is the second 02:30 of the day.
    "dst-fall-back-berlin": Case(local("2026-10-25 01:30"), date(2026, 10, 1), date(2026, 10, 31), zone=BERLIN),
}


@pytest.fixture
def service_clock(case: Case) -> datetime:
    return case.clock


@pytest.fixture
def service_env(case: Case) -> dict[str, str]:
    return {"RESET_DAY": str(case.reset_day), "TIMEZONE": case.zone, "TRAFFIC_CAP_GB": CAP_GB}


def days(first: date | str, last: date | str) -> list[str]:
    """Every ISO date from `first` to `last`, both included."""
    start, end = date.fromisoformat(str(first)), date.fromisoformat(str(last))
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def label(day: str) -> str:
    """The chart's x label of a date (Chromium's en-US: "Feb 29")."""
    parsed = date.fromisoformat(day)
    return f"{parsed:%b} {parsed.day}"


def spelled(day: date) -> str:
    """A date as the page writes it out (Chromium's en-US: "Tue, Feb 29, 2028")."""
    return f"{day:%a}, {day:%b} {day.day}, {day.year}"


CHART = """(inbound) => {
  const u = document.getElementById("daily-chart").tmChart.plot;
  const axis = u.axes[0];
  u.ctx.font = axis.font[0];
  const labels = axis._splits.map((split, i) => {
    const middle = u.valToPos(split, "x", true);
    const width = u.ctx.measureText(axis._values[i]).width;
    return { index: split, text: axis._values[i], left: middle - width / 2, right: middle + width / 2 };
  });
  const canvas = u.ctx.canvas;
  const pixels = u.ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const columns = (colour) => {
    const found = new Map();
    for (let i = 0; i < pixels.length; i += 4) {
      if (pixels[i] === colour[0] && pixels[i + 1] === colour[1] && pixels[i + 2] === colour[2]) {
        const x = (i / 4) % canvas.width;
        found.set(x, (found.get(x) || 0) + 1);
      }
    }
    return [...found.entries()].sort((a, b) => a[0] - b[0]);
  };
  return {
    points: u.data[0].length,
    scale: [u.scales.x.min, u.scales.x.max],
    plot: [u.bbox.left, u.bbox.left + u.bbox.width],
    plotHeight: u.bbox.height,
    canvasWidth: canvas.width,
    slots: u.data[0].map((i) => [u.valToPos(i - 0.5, "x", true), u.valToPos(i + 0.5, "x", true)]),
    labels,
    inbound: columns(inbound),
  };
}"""


def band(columns: list[list[int]], low: float, high: float) -> list[int]:
    """The canvas columns within [low, high) that hold pixels of a bar's colour."""
    return [x for x, _ in columns if low <= x < high]


def check_chart(tab: Tab, dates: list[str], today: str, where: str) -> None:
    """The chart spans `dates`, today's bars are whole inside their day and the plot, labels apart."""
    drawn: dict[str, Any] = tab.page.evaluate(CHART, list(INBOUND_BAR))
    n = len(dates)
    assert drawn["points"] == n, where
    assert drawn["scale"] == [-0.5, n - 0.5], f"{where}: half a day of room on each side"
    labels = drawn["labels"]
    assert labels[0]["index"] == 0, f"{where}: the first day is labelled"
    assert [entry["text"] for entry in labels] == [label(dates[entry["index"]]) for entry in labels], where
    for before, after in zip(labels, labels[1:], strict=False):
        assert before["right"] < after["left"], f"{where}: {before['text']} overlaps {after['text']}"
    assert labels[0]["left"] >= 0 and labels[-1]["right"] <= drawn["canvasWidth"], f"{where}: labels inside"
    low, high = drawn["slots"][dates.index(today)]
    plot_left, plot_right = drawn["plot"]
    bar = band(drawn["inbound"], low, high)
    assert bar, f"{where}: today's inbound bar is drawn"
    assert band(drawn["inbound"], 0, drawn["canvasWidth"]) == bar, f"{where}: only today has inbound bytes"
    assert bar == list(range(bar[0], bar[-1] + 1)), f"{where}: the bar is one solid band"
    # The plot clips what is drawn outside it: a bar clear of both edges was drawn whole.
    assert plot_left < bar[0] and bar[-1] < plot_right - 1, f"{where}: the bar lies inside the plot, whole"
    tall = [count for x, count in drawn["inbound"] if x in bar]
    assert min(tall) > drawn["plotHeight"] / 2, f"{where}: the bar is as tall as the download (3 daily budgets)"


def check_table(tab: Tab, rows: list[str]) -> None:
    listed = tab.page.eval_on_selector_all("#daily-table tbody th time", "ts => ts.map(t => t.dateTime)")
    assert listed == rows[::-1], "the table lists the days up to today, newest first"
    today = tab.page.locator("#daily-table tbody tr").first
    assert today.get_attribute("class") == "current"
    assert today.locator("td").nth(1).text_content().endswith(" MB"), "the download is today's"


def choose(tab: Tab, option: str, dates: list[str], rows: list[str]) -> None:
    """Pick a span in the page's selector and wait until the chart and the table show it."""
    tab.page.locator("#daily-days").select_option(option)
    tab.page.wait_for_function(
        """([points, rows]) => document.getElementById("daily-chart").tmChart.plot.data[0].length === points
            && document.querySelectorAll("#daily-table tbody tr").length === rows""",
        arg=[len(dates), len(rows)],
    )


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_daily_chart_on_a_fixed_date(case: Case, link: Link, service: Service, open_tab: OpenTab,
                                     peers: list[subprocess.Popen[str]], screens: Path) -> None:
    serve(link, peers)
    download(link, peers, size=DOWNLOAD)
    wait_until(lambda: service.request("GET", "/data")["inbound"], lambda n: n >= COUNTED, 10,
               "the accounting counted the download", interval=0.2)
    today = case.today.isoformat()
    period = days(case.first, case.last)
    rows = days(case.first, case.today)
    body = service.request("GET", "/daily-chart")
    assert (body["today"], body["first_day"], body["last_day"]) == (today, period[0], period[-1])
    assert body["dates"] == period
    assert [d["date"] for d in body["days"]] == rows

    for name, viewport in (("desktop", DESKTOP_WIDE), ("phone", PHONE)):
        tab = open_tab("/daily", viewport=viewport)
        page = tab.page
        assert abs(page.evaluate("Date.now()") / 1000 - service.now()) < CLOCKS_APART, "one clock for both"
        assert page.locator("nav a[aria-current=page]").text_content() == "Daily"
        page.wait_for_function("n => document.querySelectorAll('#daily-table tbody tr').length === n", arg=len(rows))
        check_table(tab, rows)
        check_chart(tab, period, today, name)
        page.locator("#daily-chart").screenshot(path=screens / f"daily-chart-{case.clock:%Y-%m-%d-%H%M}-{name}.png")
        note = page.locator('#daily [data-role="period"]').text_content()
        assert note.startswith(f"Billing period {spelled(case.first)} – {spelled(case.last)} "
                               f"({len(period)} days, {case.zone}). Daily budget "), note
        assert re.search(r"Daily budget [\d.]+ (kB|MB) of outbound traffic", note), note
        legend = page.locator("#daily-chart .u-legend").text_content()
        assert "Outbound" in legend and "Inbound" in legend and "Daily budget" in legend
        choose(tab, "1", [today], [today])
        check_table(tab, [today])
        check_chart(tab, [today], today, f"{name}, today only")
        if name == "desktop":
            month = days((case.today - timedelta(days=30)).isoformat(), today)
            choose(tab, "31", month, month)
            check_table(tab, month)
            check_chart(tab, month, today, f"{name}, the last 31 days")
        tab.assert_clean()
        page.context.close()
    assert datetime.fromtimestamp(service.now(), ZoneInfo(case.zone)).date() == case.today, (
        "the test outlasted the service's day: its checks were not all made on that date")
