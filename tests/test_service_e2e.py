"""The `trafficmon` command end to end: real capture in a test namespace, real HTTP."""

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
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hosts import Link
from tests.test_capture import ROOT, peers, start_peer, wait_line  # noqa: F401 - peers is a fixture

pytestmark = pytest.mark.netns

PASSWORD = "e2e-secret"


@pytest.fixture
def service(link: Link, tmp_path: Path) -> Iterator[str]:
    """A running trafficmon capturing link.a's veth; yields its base URL."""
    env = {**os.environ, "MONITOR_PASS": PASSWORD, "MONITOR_USER": "admin"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "web", "--interfaces", link.a.iface, "--netns", link.a.netns,
         "--host", "127.0.0.1", "--port", "0", "--data-dir", str(tmp_path / "data"), "--update-interval", "0.5"],
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
    yield url
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def get(url: str) -> dict:
    req = urllib.request.Request(url, headers={
        "Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode(),
        "Accept": "application/json",
    })
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.load(resp)


def test_download_shows_up_with_pid_and_speed(link: Link, service: str, peers):
    peers.append(start_peer(link.b, "tcp-server", link.b.ipv4, "5010"))
    wait_line(peers[0])
    client = start_peer(link.a, "tcp-client", link.b.ipv4, "5010", "d", str(300_000_000))
    peers.append(client)
    deadline = time.monotonic() + 30
    while True:
        conns = get(f"{service}api/connections?pid={client.pid}")["connections"]
        if conns and conns[0]["download_speed"] > 0:
            break
        assert time.monotonic() < deadline, f"no live download for pid {client.pid}: {conns}"
        time.sleep(0.2)
    c = conns[0]
    assert c["pid"] == client.pid
    assert c["process_name"].startswith("python")
    assert c["remote_addr"] == f"{link.b.ipv4}:5010"
    assert c["bytes_received"] > 0
    health = get(f"{service}health")
    assert health["status"] == "ok"
    assert health["capture"]["interfaces"] == [link.a.iface]
