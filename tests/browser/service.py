"""A real `trafficmon` process for the browser tests: started, stopped and restarted on one port.

It runs in the test's own network namespace, listens on loopback, and captures
the veth end of a test host through `--netns`, as an operator would run it. Its
resolver (`tests.support.hosts.resolver_jail`) names the peer's addresses PEER_NAME and
sends no query off the machine.
Its output goes to a log file, quoted when it fails to come up.

Given a `clock`, its wall clock starts at that instant and runs on from there
(Debian's libfaketime, preloaded): the billing period and the days are those of
the date the test chose. Only the wall clock is faked: the monotonic clocks stay
real, or every timed wait in Python would misjudge its timeout, and the kernel's
counters and the capture's packet timing need no clock of the test's. Bytes the
kernel counts are booked at the faked "now" of the reading that sees them.
"""

from __future__ import annotations

import base64
import email.utils
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.hosts import PEER_NAME, Host, resolver_jail

ROOT = Path(__file__).resolve().parents[2]
USER = "admin"
UPDATE_INTERVAL = 0.5
START_TIMEOUT = 30.0
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
"""Debian's `faketime` package."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """`python -m trafficmon` capturing `host`, on a port that stays the same across restarts."""

    def __init__(self, host: Host, data_dir: Path, password: str, peer_addresses: tuple[str, ...] = (), *,
                 clock: datetime | None = None, env: Mapping[str, str] | None = None):
        self.host = host
        self.clock = clock
        self.env = dict(env or {})
        self.peer_addresses = peer_addresses
        self.data_dir = data_dir
        self.password = password
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / "trafficmon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def credentials(self) -> dict[str, str]:
        return {"username": USER, "password": self.password}

    def start(self) -> None:
        argv = [
            sys.executable, "-m", "trafficmon", "--interfaces", self.host.iface, "--netns", self.host.netns,
            "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir),
            "--update-interval", str(UPDATE_INTERVAL), "--history-length", "60",
        ]
        env = {**os.environ, **self.env, "MONITOR_USER": USER, "MONITOR_PASS": self.password}
        if self.clock is not None:
            env.update(faked_clock(self.clock))
        names = {address: PEER_NAME for address in self.peer_addresses}
        jailed = resolver_jail(argv, names, self.data_dir.parent)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(jailed, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        """Up means /health answers 200: listening, capturing and ticking."""
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            code = self.proc.poll()
            assert code is None, f"trafficmon exited with {code}:\n{self.log.read_text()}"
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, f"trafficmon not healthy in time:\n{self.log.read_text()}"
            time.sleep(0.1)

    def now(self) -> float:
        """The service's wall clock (faked or not) to the second: its answer's Date header."""
        with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
            return email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Call the JSON API as a script would (basic auth, no browser headers); the parsed answer."""
        token = base64.b64encode(f"{USER}:{self.password}".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        assert code == 0, f"trafficmon stopped with {code}:\n{self.log.read_text()}"


def faked_clock(start: datetime) -> dict[str, str]:
    """The environment that starts a process's wall clock at `start` (an aware datetime).

    libfaketime reads the "@" start time in the process's own zone, so TZ is
    UTC; the service takes its billing zone from TIMEZONE, not from TZ. These
    settings replace those of a run that is itself under libfaketime
    (`tests.calendar_runs`). FAKETIME_FORCE_MONOTONIC_FIX=0: Debian's build
    otherwise shifts the deadlines of waits on monotonic condition variables
    by the faked offset, so they time out at once and Python's threads hand
    the GIL to each other without pause (three times the CPU).
    """
    return {
        "LD_PRELOAD": LIBFAKETIME,
        "FAKETIME": "@" + start.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_FORCE_MONOTONIC_FIX": "0",
        "TZ": "UTC",
    }
