"""`trafficmon top` in a real terminal (tmux), against a running service capturing a test namespace."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import paced
from tests.support.hosts import Link
from tests.support.peers import ROOT
from tests.support.service import PASSWORD, get, start_service, stop_service
from tests.support.waiting import wait_until

pytestmark = pytest.mark.netns

TICK = 1.0
"""The service's UPDATE_INTERVAL here."""


class Terminal:
    """One tmux session, 160 x 40 (no user configuration), running a command; its screen read as text.

    COLUMNS and LINES are unset in the command, as Textual prefers them to the
    terminal's own size: without that, top was seen laid out 80 columns wide in
    a 160-column window within a full run (where they came from is not known).
    """

    def __init__(self, name: str, command: str) -> None:
        self.name = name
        sized = f"unset COLUMNS LINES; {command}"
        subprocess.run(["tmux", "-f", "/dev/null", "new-session", "-d", "-s", name, "-x", "160", "-y", "40", sized],
                       check=True, timeout=10)

    def screen(self) -> str:
        shown = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True,
                               timeout=10)
        return shown.stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True, timeout=10)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True, timeout=10)


@pytest.fixture
def service(link: Link, tmp_path: Path) -> Iterator[str]:
    proc, url = start_service(link, tmp_path / "data", "--update-interval", str(TICK))
    yield url
    stop_service(proc)


@pytest.fixture
def top(service: str, tmp_path: Path) -> Iterator[Terminal]:
    command = (f"cd {shlex.quote(str(ROOT))} && MONITOR_PASS={PASSWORD} {shlex.quote(sys.executable)} -m trafficmon "
               f"top --url {service}; sleep 60")
    terminal = Terminal(f"tmtop{tmp_path.name[-12:]}", command)
    yield terminal
    terminal.close()


def line_of(screen: str, pid: int) -> str | None:
    return next((line for line in screen.splitlines() if line.split()[:1] == [str(pid)]), None)


def test_top_shows_a_download_with_its_pid_and_speed_and_a_key_changes_the_sort(
    link: Link, service: str, top: Terminal, peers: list[subprocess.Popen[str]]
) -> None:
    wait_until(top.screen, lambda shown: "sorted by total" in shown and "capture ok" in shown, 20,
               "top reading the service")
    paced.serve(link.b, peers)
    curl = paced.fetch(link.a, link.b, seconds=20, peers=peers)
    wait_until(lambda: get(f"{service}api/connections?pid={curl.pid}")["connections"],
               lambda listed: bool(listed) and listed[0]["download_speed"] > 0.5 * paced.RATE, 15,
               f"the service showing curl (pid {curl.pid}) at speed", interval=0.1)
    shown_by_service = time.monotonic()
    row = wait_until(lambda: line_of(top.screen(), curl.pid), lambda line: line is not None and "MB/s" in line,
                     2 * TICK + 0.5, f"top showing curl (pid {curl.pid}) at about 1 MB/s within two ticks",
                     interval=0.1)
    print(f"top showed it {time.monotonic() - shown_by_service:.2f} s after the service did: {row.strip()}")
    assert row is not None and " curl " in row

    top.keys("s")
    after = wait_until(top.screen, lambda shown: "sorted by download" in shown, 5, "the sort after pressing s")
    assert line_of(after, curl.pid) is not None
    top.keys("/")
    wait_until(top.screen, lambda shown: "filter: name, PID, user, address" in shown, 5, "the filter box on /")
    top.keys("no-such-process", "Enter")
    wait_until(top.screen, lambda shown: "filter 'no-such-process'" in shown and line_of(shown, curl.pid) is None, 5,
               "the filter hiding curl")
    top.keys("Escape")
    wait_until(lambda: line_of(top.screen(), curl.pid), lambda line: line is not None, 5, "Escape clearing the filter")
    top.keys("v")
    wait_until(top.screen, lambda shown: "view connections" in shown and "REMOTE" in shown, 5,
               "the connections view after pressing v")
    top.keys("q")
    wait_until(top.screen, lambda shown: "sorted by" not in shown, 5, "top quit on q")


def test_a_service_that_refuses_the_credentials_is_one_line_and_exit_2(service: str) -> None:
    result = subprocess.run([sys.executable, "-m", "trafficmon", "top", "--url", service, "--password", "wrong"],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (f"trafficmon top: {service.rstrip('/')} refused the credentials (401): give --password "
                             "or --token (or MONITOR_PASS / TRAFFICMON_TOKEN)\n")


def test_no_service_at_the_url_is_one_line_and_exit_2() -> None:
    result = subprocess.run([sys.executable, "-m", "trafficmon", "top", "--url", "http://127.0.0.1:9"],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.startswith("trafficmon top: cannot reach http://127.0.0.1:9: ")
    assert result.stderr.count("\n") == 1


def test_top_as_root_without_a_service_captures_by_itself(
    link: Link, tmp_path: Path, peers: list[subprocess.Popen[str]]
) -> None:
    command = (f"cd {shlex.quote(str(ROOT))} && {shlex.quote(sys.executable)} -m trafficmon top "
               f"--interfaces {link.a.iface} --netns {link.a.netns}; sleep 60")
    terminal = Terminal(f"tmown{tmp_path.name[-12:]}", command)
    try:
        wait_until(terminal.screen, lambda shown: "capturing here (no service: no cap)" in shown
                   and "cap: kept by the service (top --url)" in shown, 20, "top capturing by itself, ticking")
        paced.serve(link.b, peers)
        curl = paced.fetch(link.a, link.b, seconds=20, peers=peers)
        row = wait_until(lambda: line_of(terminal.screen(), curl.pid), lambda line: line is not None and "MB/s" in line,
                         15, f"curl (pid {curl.pid}) at about 1 MB/s in top's own capture", interval=0.2)
        assert " curl " in row
    finally:
        terminal.close()
