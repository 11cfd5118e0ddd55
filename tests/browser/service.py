"""A real `trafficmon` process for the browser tests: started, stopped and restarted on one port.

It runs in the test's own network namespace, listens on loopback, and captures
the veth end of a test host through `--netns`, as an operator would run it. Its
resolver (`tests.hosts.resolver_jail`) names the peer's addresses PEER_NAME and
sends no query off the machine.
Its output goes to a log file, quoted when it fails to come up.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.hosts import PEER_NAME, Host, resolver_jail

ROOT = Path(__file__).resolve().parents[2]
USER = "admin"
UPDATE_INTERVAL = 0.5
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """`python -m web` capturing `host`, on a port that stays the same across restarts."""

    def __init__(self, host: Host, data_dir: Path, password: str, peer_addresses: tuple[str, ...] = ()):
        self.host = host
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
            sys.executable, "-m", "web", "--interfaces", self.host.iface, "--netns", self.host.netns,
            "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir),
            "--update-interval", str(UPDATE_INTERVAL), "--history-length", "60",
        ]
        env = {**os.environ, "MONITOR_USER": USER, "MONITOR_PASS": self.password}
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
