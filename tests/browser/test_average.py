"""`curl --limit-rate 1M`, read in Chromium over the last minute on every tick: the overview's total and the process page.

curl limits how fast it reads, not what is on the wire (tests.support.paced says how):
the wire carries about 10 MB at link speed, then nothing for about ten
seconds. No 5 s window reads that steadily; the minute window
(`AVERAGE_WINDOW`, 60 s by default) holds six bursts, ±1 at its edges.
curl downloads from `python -m http.server` in the other namespace, and the
download ends by itself. The overview and the process page are switched to
"last minute"; after one average window of the download (plus curl's start,
which runs ahead of its limit), every value each shows for MEASURED seconds
must be the wire's rate over the minute before it, within 5 % (the kernel's
counters of the veth, sampled meanwhile, say what the wire carried). A third
tab, left on "last 5 s", reads the same total meanwhile: it swings.

Why the readings are held to the wire and not to the limit: curl keeps its
limit only over its own periods of a few seconds, and does not make up for a
period it ran over. Over a minute its wire carried 0.90-1.19 of its limit here
on an idle machine (the page read each figure within 1 %), and a loaded CI
machine read 1.37 MB/s for 20 s: eight bursts in a minute. Steady downloads against a fixed rate are
tests.browser.test_rates.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import Tab
from tests.browser.service import UPDATE_INTERVAL, Service
from tests.support.dashboard import amount, wait_live
from tests.support.dashboard import RECORD, TOLERANCE
from tests.support.hosts import Host, Link

pytestmark = [pytest.mark.browser, pytest.mark.netns]

OpenTab = Callable[..., Tab]
LIMIT = 1_048_576
"""curl's `--limit-rate 1M`: bytes per second."""
MEASURED = 20.0
STARTUP = 10.0
"""Seconds curl runs ahead of its limit when it starts: about 25 MB arrive in the first four
(its first read run plus the socket's buffers), so the first minute's average is high."""
SIZE = 150 * 2**20
"""Bytes of the file downloaded: about two minutes at the limit, longer than the test needs."""
PORT = 5040
WIRE_TOLERANCE = 0.05
SAMPLED = 0.5
"""Seconds between two samples of the veth's counters."""
LAG = 5.0
"""Seconds a reading may trail the wire: a tick of the service, its delivery, a sample, and on a
loaded machine the sniffer reading the ring's frames late (one reading 8 % off a steady wire
with 2.5 s)."""
TIMED = """selector => {
  const target = document.querySelector(selector);
  window.readings = [];
  new MutationObserver(() => window.readings.push([Date.now(), target.textContent]))
    .observe(target, {childList: true, characterData: true, subtree: true});
}"""
"""tests.browser.test_rates' RECORD, each text with the page's time (ms)."""


def serve_file(host: Host, folder: Path, peers: list[subprocess.Popen[str]]) -> None:
    """`python -m http.server` on `host`, serving `folder`; listening once this returns."""
    server = host.popen(sys.executable, "-u", "-m", "http.server", "--bind", host.ipv4, "--directory", str(folder),
                        str(PORT), text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL)
    peers.append(server)
    assert server.stdout is not None
    line = server.stdout.readline()
    assert line.startswith("Serving HTTP on"), f"http.server said {line!r} and exited with {server.poll()}"


def limited_download(client: Host, server: Host, peers: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    """curl on `client` fetching the file at `--limit-rate 1M`; it ends by itself (at the end, or `--max-time`)."""
    curl = client.popen("curl", "--silent", "--show-error", "--output", "/dev/null", "--limit-rate", "1M",
                        "--max-time", str(round(2 * SIZE / LIMIT)), f"http://{server.ipv4}:{PORT}/big",
                        text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    peers.append(curl)
    return curl


class Wire:
    """The bytes `host`'s veth received, sampled every half second from a thread until `stop()`.

    What the download really put on the wire: curl keeps its limit only on
    average over its own periods of a few seconds, so a failure says what
    the wire carried in the minute before each reading."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self.samples: list[tuple[float, int]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(SAMPLED):
            self.samples.append((time.time(), self._host.counters()["rx_bytes"]))

    def stop(self) -> None:
        """Stop sampling; the fixture calls it again at the end, which does nothing."""
        self._done.set()
        self._thread.join()

    def rates(self, window: float, since: float, until: float) -> list[tuple[float, float]]:
        """(time, bytes per second over the `window` seconds before it) at each sample between the two times."""
        rates = []
        for at, total in self.samples:
            before = [(t, b) for t, b in self.samples if t <= at - window]
            if since <= at <= until and before:
                then, earlier = before[-1]
                rates.append((at, (total - earlier) / (at - then)))
        return rates


def off_the_wire(readings: list[tuple[float, float]], wire: list[tuple[float, float]]) -> list[str]:
    """The readings (time, bytes per second) outside the wire's rates over the LAG seconds before
    them, give or take WIRE_TOLERANCE: a reading shows the service's last tick, sent a tick ago,
    and while a burst enters or leaves the minute the service's ticks and the samples split it
    differently, so a reading may fall between two samples' rates. Up to two samples after it
    count too: the sample that follows a reading comes up to SAMPLED later, and a sample's rate is
    over the window back to the sample before it, up to SAMPLED longer than the service's minute,
    so the wire lets a burst leave its minute up to SAMPLED after the service does (a CI run read
    1.12 MB/s while the wire's minute was falling from 1.46 MB/s, its last sample in range at
    1.22)."""
    off = []
    for at, shown in readings:
        near = [rate for sampled, rate in wire if at - LAG <= sampled <= at + 2 * SAMPLED]
        if not near or not (1 - WIRE_TOLERANCE) * min(near) <= shown <= (1 + WIRE_TOLERANCE) * max(near):
            earlier = [rate for sampled, rate in wire if at - 3 * LAG <= sampled < at - LAG]
            off.append(f"{shown:,.0f} B/s at {at:.1f} s, the wire {', '.join(f'{r:,.0f}' for r in near)}"
                       f" (in the {2 * LAG:g} s before: {', '.join(f'{r:,.0f}' for r in earlier)})")
    return off


def page_times(tab: Tab) -> list[tuple[float, float]]:
    """The tab's timed readings as (the test's time, bytes per second): the page's clock may be
    Playwright's, started at the service's time."""
    ahead = tab.page.evaluate("Date.now()") / 1000 - time.time()
    return [(at / 1000 - ahead, amount(text)) for at, text in tab.page.evaluate("window.readings")]


@pytest.fixture
def wire(link: Link) -> Iterator[Wire]:
    """What link.a's veth receives, sampled until the test ends."""
    sampled = Wire(link.a)
    yield sampled
    sampled.stop()


def show_last_minute(tab: Tab) -> None:
    tab.page.locator('[data-speeds="average"]').click()
    assert tab.page.locator('[data-speeds="average"]').get_attribute("aria-pressed") == "true"


def window_labels(tab: Tab) -> set[str]:
    return set(tab.page.eval_on_selector_all('[data-role="speeds-window"]', "els => els.map(e => e.textContent)"))


def test_curl_limit_rate_reads_its_limit_on_every_tick_over_the_last_minute(
    link: Link, service: Service, open_tab: OpenTab, peers: list[subprocess.Popen[str]], tmp_path: Path, wire: Wire
) -> None:
    folder = tmp_path / "www"
    folder.mkdir()
    with (folder / "big").open("wb") as big:
        big.truncate(SIZE)  # sparse: zeros, no disk
    overview = open_tab("/")
    wait_live(overview)
    settings = overview.page.evaluate("TM.settings")
    window, minute, five = settings["average_window"], settings["average_window_text"], settings["speed_window_text"]
    assert (minute, five) == ("last minute", "last 5 s")
    buttons = overview.page.locator("[data-speeds]")
    assert buttons.all_text_contents() == [five, minute]
    assert window_labels(overview) == {five}, "the 5 s window until told otherwise"
    show_last_minute(overview)
    assert window_labels(overview) == {minute}
    assert overview.page.locator("#top-processes h2").text_content() == f"Top processes by speed {minute}"
    overview.page.reload()
    wait_live(overview)
    assert overview.page.locator('[data-speeds="average"]').get_attribute("aria-pressed") == "true", "remembered"
    assert window_labels(overview) == {minute}
    assert overview.page.locator("#connections .card-head .window").text_content() == f"Up and Down: {five}"

    serve_file(link.b, folder, peers)
    curl = limited_download(link.a, link.b, peers)
    started = time.monotonic()
    process = open_tab(f"/processes/{curl.pid}")
    process.page.wait_for_function(
        "() => document.querySelector('#process [data-field=name]').textContent === 'curl'", timeout=10_000)
    show_last_minute(process)
    download = process.page.locator("#process dt").filter(has_text="Download")
    assert download.text_content() == f"Download ({minute})"
    assert process.page.locator("#connections .card-head .window").text_content() == f"Up and Down: {five}"
    swinging = open_tab("/")  # another browser: its own storage, the default window
    wait_live(swinging)
    assert window_labels(swinging) == {five}

    time.sleep(max(0.0, started + window + STARTUP - time.monotonic()))  # warm-up: a whole window of the download
    overview.page.evaluate(TIMED, "#rate-down")
    process.page.evaluate(TIMED, '#process [data-field="download_speed"]')
    swinging.page.evaluate(RECORD, "#rate-down")
    measured = time.time()
    time.sleep(MEASURED)
    wire.stop()
    carried = wire.rates(window, measured - 3 * LAG, time.time())  # from 2 LAG before the first: a failure's context
    totals, mine = (page_times(tab) for tab in (overview, process))
    shorter = [amount(t) for t in swinging.page.evaluate("window.readings")]
    assert curl.poll() is None, "the download lasted the whole measurement"

    ticks = MEASURED / UPDATE_INTERVAL - 2
    assert min(len(totals), len(mine), len(shorter)) >= ticks, (len(totals), len(mine), len(shorter))
    assert off_the_wire(totals, carried) == [], "the overview's total"
    assert off_the_wire(mine, carried) == [], "the process page"
    # Why the minute is there: over the 5 s window the same download reads nothing between its
    # bursts, and more than the limit after one (up to twice it): outside 20 % both ways.
    low, high = (1 - TOLERANCE) * LIMIT, (1 + TOLERANCE) * LIMIT
    assert min(shorter) < low and max(shorter) > high, shorter
    for tab in (overview, process, swinging):
        tab.assert_clean()
