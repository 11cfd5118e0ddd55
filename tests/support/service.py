"""The real `trafficmon` command capturing a test namespace's veth, and plain HTTP to it."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.support.hosts import PEER_NAME, Link, resolver_jail
from tests.support import paced
from tests.support.peers import ROOT
from tests.support.waiting import wait_until

PASSWORD = "e2e-secret"


def start_service(link: Link, data_dir: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """Start trafficmon capturing (and accounting) link.a's veth; the process and its base URL.

    Its resolver knows link.b's addresses as PEER_NAME and sends no query off the machine.
    """
    env = {**os.environ, "MONITOR_PASS": PASSWORD, "MONITOR_USER": "admin"}
    argv = [sys.executable, "-m", "trafficmon", "--interfaces", link.a.iface, "--netns", link.a.netns,
            "--host", "127.0.0.1", "--port", "0", "--data-dir", str(data_dir), "--update-interval", "0.5",
            "--counter-poll-interval", "0.2", *extra]
    data_dir.mkdir(parents=True, exist_ok=True)
    names = {link.b.ipv4: PEER_NAME, link.b.ipv6: PEER_NAME}
    proc = subprocess.Popen(
        resolver_jail(argv, names, data_dir.parent),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    url = None
    deadline = time.monotonic() + 30
    while url is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, f"trafficmon exited: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}"
        found = re.search(r"listening on (http://\S+/)", line)
        url = found.group(1) if found else None
    assert url, "trafficmon never said where it listens"
    return proc, url


def stop_service(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, as systemd stops it: a clean exit (the accounting flushed on the way)."""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def request(url: str, body: dict[str, Any] | None = None) -> Any:
    """GET `url`, or POST `body` to it as JSON; the JSON answer."""
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode(),
        "Accept": "application/json",
    }
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.load(resp)


def get(url: str) -> Any:
    return request(url)


_GET = """
import base64, sys, urllib.error, urllib.request
request = urllib.request.Request(sys.argv[1], headers={"Authorization": "Basic " + base64.b64encode(b"admin:%s").decode()})
try:
    print(urllib.request.urlopen(request, timeout=5).read().decode())
except urllib.error.HTTPError as answer:  # /health is 503 while capture is down, with the same body
    print(answer.read().decode())
"""


class NamespacedService:
    """The real service started inside link.a's namespace, as on a server (no NETNS), read over HTTP from inside it.

    `command` is how it is started (a wrapper such as setpriv before it), `env` what it gets beyond MONITOR_PASS.
    """

    def __init__(self, link: Link, data_dir: Path, env: dict[str, str],
                 command: Sequence[str] = (sys.executable, "-m", "trafficmon")) -> None:
        self.link = link
        argv = [*command, "--interfaces", link.a.iface, "--host", "127.0.0.1", "--port", "0",
                "--data-dir", str(data_dir), "--update-interval", "0.5"]
        self.proc = link.a.popen(*argv, cwd=ROOT, env={**os.environ, "MONITOR_PASS": PASSWORD, **env},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            found = re.search(r"listening on (http://\S+/)", line)
            if found:
                self.url = found.group(1)
                return
        raise AssertionError(f"trafficmon exited: {self.proc.wait()} {self.proc.stderr.read() if self.proc.stderr else ''}")

    def get(self, path: str) -> Any:
        out = self.link.a.run(sys.executable, "-c", _GET % PASSWORD, self.url.rstrip("/") + path)
        return json.loads(out.stdout)

    def connections_of(self, pid: int) -> list[dict[str, Any]]:
        return [c for c in self.get("/api/connections")["connections"] if c["pid"] == pid]

    def downloading(self, peers: list[subprocess.Popen[str]]) -> dict[str, Any]:
        """A paced download by root's curl in link.a from link.b; its connection once shown at speed."""
        curl = paced.fetch(self.link.a, self.link.b, seconds=8, peers=peers)
        found = wait_until(lambda: self.connections_of(curl.pid),
                           lambda conns: any(c["download_speed"] > 0.5 * paced.RATE for c in conns),
                           timeout=10, what=f"curl (pid {curl.pid}, root's) downloading at about 1 MB/s",
                           interval=0.25)
        return found[0]

    def status(self) -> dict[str, str]:
        lines = Path(f"/proc/{self.proc.pid}/status").read_text().splitlines()
        return {key: value.strip() for key, value in (line.split(":", 1) for line in lines)}

    def stop(self) -> str:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=15)
        return err
