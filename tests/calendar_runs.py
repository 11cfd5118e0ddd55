"""The suites that show dates, run with the whole machine's clock at dates that break naive code.

`make calendar` (and `make test`, after pytest) runs the state, web and browser
suites and the end-to-end tests under Debian's libfaketime, once per date of
DATES: the last minute of a year, a leap day, the night Berlin's clocks skip an
hour, the last day of February in a zone with DST. A test that passes on the
day it was written but not on one of these assumed today's date.

Every suite starts at the date and the clock runs on from there (a suite that
starts at 23:59 crosses midnight while it runs). The clock is given to
libfaketime as an offset from the real time, the same for every process of a
suite: the "@date" form would restart the clock in each process a test starts,
leaving the services minutes behind the test that started them. TZ is the
date's zone. The monotonic clocks stay real (FAKETIME_DONT_FAKE_MONOTONIC=1),
or every timed wait in Python would misjudge its timeout, and waits on them are
left as they are (FAKETIME_FORCE_MONOTONIC_FIX=0: Debian's build otherwise
shifts their deadlines into the past, and Python's threads pass the GIL to each
other without pause, three times the CPU); `faketime_site` puts right the one
Python call libfaketime 0.9.10 still breaks (`time.sleep`).
Chromium is started outside libfaketime (`tests.browser.chromium`), and
Playwright's driver (node) is left on the real clock (FAKETIME_SKIP_CMDS): the
pages get the service's time from Playwright's clock, which reckons from the
driver's clock and the page's, so the two must agree.

    python -m tests.calendar_runs                      # every date, every suite
    python -m tests.calendar_runs --date leap-day      # one date
    python -m tests.calendar_runs --date year-end --suite web -- -x -k period
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
"""Debian's `faketime` package (TEST_APT in the Makefile)."""
SITE = Path(__file__).resolve().parent / "faketime_site"
SUITES = {
    "state": ("tests/state",),
    "web": ("tests/web",),
    "browser": ("tests/browser",),
    "e2e": ("tests/e2e/test_service_e2e.py", "tests/e2e/test_readme_clients.py"),
}
"""What runs at every date, one pytest per suite (each starts at the date)."""
CLOCK_SLACK = 10.0
"""Seconds a freshly started process's clock may be past the date: more means libfaketime did not take."""


@dataclass(frozen=True)
class CalendarDate:
    """A local wall-clock time in a zone: where the clock of a run starts."""

    label: str
    local: str
    zone: str
    why: str

    @property
    def start(self) -> datetime:
        """The instant, aware (none of DATES is in a DST gap or overlap, so the local time names one)."""
        return datetime.fromisoformat(self.local).replace(tzinfo=ZoneInfo(self.zone))


DATES = (
    CalendarDate("year-end", "2026-12-31 23:59", "UTC", "last day of a period and of a year, at 23:59"),
    CalendarDate("leap-day", "2028-02-29 00:30", "UTC", "29 February"),
    CalendarDate("dst-berlin", "2026-03-29 01:59", "Europe/Berlin", "a minute before 02:00 becomes 03:00"),
    CalendarDate("feb-end-new-york", "2027-02-28 23:59", "America/New_York",
                 "28 February at 23:59 (not a leap year) in a zone with DST"),
)


@dataclass(frozen=True)
class Outcome:
    """How one pytest run at one date ended: its exit code and how long it took."""

    date: CalendarDate
    suite: str
    code: int
    seconds: float


def faked_environment(date: CalendarDate, environ: Mapping[str, str], now: float) -> dict[str, str]:
    """`environ` plus what starts the wall clock of every process at `date`, `now` being the real time."""
    preload = " ".join(part for part in (LIBFAKETIME, environ.get("LD_PRELOAD", "")) if part)
    python_path = os.pathsep.join(part for part in (str(SITE), environ.get("PYTHONPATH", "")) if part)
    return {
        **environ,
        "LD_PRELOAD": preload,
        "FAKETIME": f"{date.start.timestamp() - now:+.6f}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_FORCE_MONOTONIC_FIX": "0",
        "FAKETIME_SKIP_CMDS": "node",
        "TZ": date.zone,
        "PYTHONPATH": python_path,
    }


def clock_seen(env: Mapping[str, str]) -> float:
    """The wall clock a Python process started with `env` reads, once it has slept (as tests do)."""
    probe = "import time; time.sleep(0.01); print(time.time())"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True, timeout=30)
    return float(done.stdout)


def run_suite(date: CalendarDate, suite: str, pytest_args: Sequence[str]) -> Outcome:
    """pytest on `suite` at `date`, every line of its output labelled with both.

    A clock that is not at the date fails the run before pytest starts: suites
    on the real clock would pass and prove nothing.
    """
    label = f"[{date.label} {suite}]"
    print(f"{label} {date.local} {date.zone}: {date.why}", flush=True)
    argv = [sys.executable, "-m", "pytest", "-ra", *SUITES[suite], *pytest_args]
    began = time.monotonic()
    env = faked_environment(date, os.environ, time.time())
    seen = clock_seen(env)
    if not 0 <= seen - date.start.timestamp() < CLOCK_SLACK:
        print(f"{label} libfaketime did not take: a process started at {date.local} {date.zone} reads "
              f"{datetime.fromtimestamp(seen, ZoneInfo(date.zone)):%Y-%m-%d %H:%M:%S}", flush=True)
        return Outcome(date, suite, 2, time.monotonic() - began)
    with subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(f"{label} {line}", end="", flush=True)
    return Outcome(date, suite, proc.returncode, time.monotonic() - began)


def summary(outcomes: Sequence[Outcome]) -> str:
    """One row per date and suite, then one per date: passed or failed, and how long it took."""
    rows = [(o.date.label, o.date.local, o.date.zone, o.suite, "passed" if o.code == 0 else f"FAILED ({o.code})",
             f"{o.seconds:.0f}") for o in outcomes]
    for date in dict.fromkeys(o.date for o in outcomes):
        mine = [o for o in outcomes if o.date == date]
        failed = any(o.code != 0 for o in mine)
        rows.append((date.label, date.local, date.zone, "all", "FAILED" if failed else "passed",
                     f"{sum(o.seconds for o in mine):.0f}"))
    header = ("date", "local time", "zone", "suite", "result", "seconds")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in (header, *rows)]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen dates and suites, each to the end (one failure does not hide the others)."""
    labels = [date.label for date in DATES]
    parser = argparse.ArgumentParser(prog="python -m tests.calendar_runs", description=__doc__.split("\n")[0])
    parser.add_argument("--date", action="append", choices=labels, help="run only this date (repeatable)")
    parser.add_argument("--suite", action="append", choices=list(SUITES),
                        help="run only this suite (repeatable; default: all)")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args(argv)
    if not Path(LIBFAKETIME).exists():
        parser.error(f"needs Debian's libfaketime at {LIBFAKETIME} (apt-get install faketime)")
    dates = [date for date in DATES if args.date is None or date.label in args.date]
    outcomes = [run_suite(date, suite, args.pytest_args) for date in dates for suite in args.suite or SUITES]
    print(summary(outcomes))
    return 0 if all(o.code == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
