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
from pathlib import Path
from typing import Any

from tests.support.hosts import PEER_NAME, Link, resolver_jail
from tests.support.peers import ROOT

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
