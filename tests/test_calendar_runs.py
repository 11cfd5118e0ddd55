"""The calendar runs' machinery: every process of a run on the date's clock, Chromium off it.

If libfaketime did not take, or took differently in the processes a test
starts, the calendar runs would pass on the real clock and prove nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.browser.chromium import browser_environment, clock_faked
from tests.calendar_runs import DATES, LIBFAKETIME, ROOT, CalendarDate, Outcome, faked_environment, summary

needs_libfaketime = pytest.mark.skipif(
    not Path(LIBFAKETIME).exists() and not os.environ.get("CI"),
    reason=f"needs Debian's libfaketime at {LIBFAKETIME} (apt-get install faketime)",
)

PROBE = """
import subprocess, sys, time
time.sleep(1.0)
local, parent = time.strftime("%Y-%m-%d %H:%M"), time.time()
child = subprocess.run([sys.executable, "-c", "import time; print(time.time())"], capture_output=True, text=True)
print(local, parent, child.stdout.strip(), sep="|")
"""
"""Sleeps a second (time.sleep must work), then starts a child: its clock must have run on, not restarted."""


@needs_libfaketime
@pytest.mark.parametrize("date", DATES, ids=[date.label for date in DATES])
def test_every_process_of_a_run_reads_the_date_and_one_clock(date: CalendarDate) -> None:
    start = date.start.timestamp()
    env = faked_environment(date, os.environ, time.time())
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True, timeout=30)
    local, parent_text, child_text = done.stdout.strip().split("|")
    parent, child = float(parent_text), float(child_text)
    assert local == date.local, "the local time, in the date's zone (TZ)"
    assert 1.0 <= parent - start < 5.0
    assert parent <= child < parent + 5.0, "a process started later is later on the same clock"
    shell = subprocess.run(["date", "+%Y-%m-%d %H:%M"], env=env, capture_output=True, text=True, check=True)
    assert shell.stdout.strip() == date.local, "programs other than Python see the date too (curl, iperf3)"


def test_the_browser_gets_an_environment_without_libfaketime() -> None:
    other = "/usr/lib/x86_64-linux-gnu/libeatmydata.so"
    faked = faked_environment(DATES[0], {"LD_PRELOAD": other, "HOME": "/root"}, time.time())
    assert clock_faked(faked)
    clean = browser_environment(faked)
    assert not clock_faked(clean)
    assert clean["LD_PRELOAD"] == other, "other preloads stay"
    assert not [name for name in clean if name.startswith("FAKETIME")]
    assert (clean["HOME"], clean["TZ"]) == ("/root", DATES[0].zone), "the page's zone is the run's"
    assert "LD_PRELOAD" not in browser_environment(faked_environment(DATES[0], {}, time.time()))


def test_the_summary_gives_each_date_its_result_and_seconds() -> None:
    leap, berlin = DATES[1], DATES[2]
    table = summary([Outcome(leap, "state", 0, 8.6), Outcome(leap, "web", 1, 200.2), Outcome(berlin, "state", 0, 9.0)])
    rows = [line.split() for line in table.splitlines()[2:]]
    assert rows[-2:] == [
        ["leap-day", "2028-02-29", "00:30", "UTC", "all", "FAILED", "209"],
        ["dst-berlin", "2026-03-29", "01:59", "Europe/Berlin", "all", "passed", "9"],
    ]
    assert ["leap-day", "2028-02-29", "00:30", "UTC", "web", "FAILED", "(1)", "200"] in rows
