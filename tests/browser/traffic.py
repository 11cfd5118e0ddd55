"""Traffic for the browser tests: downloads from the other namespace, slowed to a known rate.

A veth moves gigabytes per second, so an unshaped download is over before the
page has shown two ticks of it. The server's side is shaped with a token
bucket (`tc ... tbf`), so a download lasts as long as the test needs it and
its speed is known.
"""

from __future__ import annotations

import subprocess
import time

from tests.support.hosts import Host, Link
from tests.support.peers import start_peer, wait_line
from tests.support.waiting import wait_until
PORT = 5020
RATE_BYTES = 2_000_000
"""What the shaped link carries per second (16 Mbit/s)."""
LONG = 1_000_000_000
"""Bytes of a download that outlasts any test at RATE_BYTES."""


def shape(host: Host) -> None:
    """Limit what `host` sends to RATE_BYTES per second (burst above the 64 kB of a GSO frame)."""
    host.run("tc", "qdisc", "add", "dev", host.iface, "root", "tbf", "rate", f"{RATE_BYTES * 8}bit",
             "burst", "128kb", "latency", "200ms")


def serve(link: Link, peers: list[subprocess.Popen[str]]) -> None:
    """A tcp-server on link.b, its sending shaped."""
    server = start_peer(link.b, "tcp-server", link.b.ipv4, str(PORT))
    peers.append(server)
    wait_line(server)
    shape(link.b)


def download(link: Link, peers: list[subprocess.Popen[str]], size: int = LONG,
             connections: int = 1) -> subprocess.Popen[str]:
    """A tcp-client on link.a downloading `size` bytes per connection from the server."""
    client = start_peer(link.a, "tcp-client", link.b.ipv4, str(PORT), "d", str(size), str(connections))
    peers.append(client)
    return client


def established(host: Host, connections: int = 1, timeout: float = 10.0) -> float:
    """Wait until `host` has that many TCP connections to PORT established; the monotonic time then."""
    def listed() -> int:
        return len(host.run("ss", "-Htn", "state", "established", f"( dport = :{PORT} )").stdout.splitlines())

    wait_until(listed, lambda n: n >= connections, timeout, f"{connections} connections to port {PORT} established",
               interval=0.01)
    return time.monotonic()
