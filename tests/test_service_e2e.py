"""The `trafficmon` command end to end: real capture and real counters in a test namespace, real HTTP."""

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
from typing import Any

import pytest

from tests.hosts import PEER_NAME, Link, resolver_jail
from tests.test_capture import ROOT, peers, start_peer, wait_line  # noqa: F401 - peers is a fixture

pytestmark = pytest.mark.netns

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


@pytest.fixture
def service(link: Link, tmp_path: Path) -> Iterator[str]:
    """A running trafficmon capturing link.a's veth; yields its base URL."""
    proc, url = start_service(link, tmp_path / "data")
    yield url
    stop_service(proc)


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
    # Flat out over a veth, capture may trail the kernel's count for a moment: "degraded", with the reason.
    assert health["status"] == ("degraded" if health["capture"]["problems"] else "healthy"), health["reason"]
    assert health["capture"]["interfaces"] == [link.a.iface]
    while c["remote_name"] != PEER_NAME:
        assert c["remote_name"] is None, "no other name than the resolver's"
        assert time.monotonic() < deadline + 10, "the peer's reverse-DNS name never showed"
        time.sleep(0.2)
        c = get(f"{service}api/connections?pid={client.pid}")["connections"][0]


def test_no_names_with_resolve_names_off(link: Link, tmp_path: Path, peers):
    proc, url = start_service(link, tmp_path / "data", "--no-resolve-names")
    try:
        peers.append(start_peer(link.b, "tcp-server", link.b.ipv4, "5012"))
        wait_line(peers[0])
        client = start_peer(link.a, "tcp-client", link.b.ipv4, "5012", "d", str(300_000_000))
        peers.append(client)
        seen = 0
        deadline = time.monotonic() + 30
        while seen < 6:  # three seconds of ticks: time enough for the resolver, were it on
            conns = get(f"{url}api/connections?pid={client.pid}")["connections"]
            if conns:
                assert conns[0]["remote_name"] is None
                seen += 1
            assert time.monotonic() < deadline, f"no connection for pid {client.pid}"
            time.sleep(0.5)
    finally:
        stop_service(proc)


def test_period_totals_follow_the_namespace_kernel_counters(link: Link, service: str, peers):
    """/data counts the captured namespace's veth (not the host's interfaces) from its kernel counters."""
    size = 20_000_000
    before = get(f"{service}data")
    peers.append(start_peer(link.b, "tcp-server", link.b.ipv4, "5011"))
    wait_line(peers[0])
    for mode in ("u", "d"):
        client = start_peer(link.a, "tcp-client", link.b.ipv4, "5011", mode, str(size))
        peers.append(client)
        assert json.loads(wait_line(client))["last"] == (1 if mode == "u" else size)
    deadline = time.monotonic() + 15
    while True:
        after = get(f"{service}data")
        sent, received = after["outbound"] - before["outbound"], after["inbound"] - before["inbound"]
        if sent >= size and received >= size:
            break
        assert time.monotonic() < deadline, f"the period moved only {sent} out, {received} in"
        time.sleep(0.2)
    kernel = link.a.counters()
    assert after["outbound"] <= kernel["tx_bytes"] and after["inbound"] <= kernel["rx_bytes"]
    assert after["counted"] == after["outbound"]
    assert get(f"{service}health")["accounting"]["interfaces"] == [link.a.iface]


def test_an_adjustment_survives_a_restart(link: Link, tmp_path: Path):
    data_dir = tmp_path / "data"
    proc, url = start_service(link, data_dir)
    try:
        answer = request(f"{url}adjust", {"mode": "set", "gb": 1.5, "note": "provider's meter"})
        assert answer["period"]["counted"] == 1_500_000_000
    finally:
        stop_service(proc)
    proc, url = start_service(link, data_dir)
    try:
        period = get(f"{url}data")
        assert period["counted"] >= 1_500_000_000
        assert period["offset"] == answer["adjustment"]["new_offset"]
        audit = get(f"{url}api/audit")["audit"]
        assert [(e["mode"], e["bytes"], e["note"]) for e in audit] == [("set", 1_500_000_000, "provider's meter")]
    finally:
        stop_service(proc)
