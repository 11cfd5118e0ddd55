"""Paced downloads for speed tests: an HTTP server whose downloads leave at a set rate, and curl fetching.

`python -m tests.support.paced HOST PORT RATE PERIOD` runs the server. `GET /SIZE` answers SIZE bytes,
RATE bytes per second, written as one burst of RATE * PERIOD bytes every
PERIOD seconds on a fixed schedule (a late burst does not shift the next), so
the bytes on the wire keep to RATE over any stretch longer than PERIOD, as a
server that limits its clients' speed does. The download ends by itself
when SIZE bytes are sent. Prints "ready" once listening.

Why not `curl --limit-rate`: curl limits how fast it reads, not what is on
the wire. curl 7.88 (strace shows it) reads in runs of about a hundred
100 kB reads, as fast as the link brings them, then waits until its average
is back under the limit: at 1 MB/s the wire carries about 10 MB at link speed,
then nothing for about ten seconds. No speed window shorter than about a
minute reads that within 20 % on every tick; curl's rate limit is a steady
rate only over minutes.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.hosts import Host

ROOT = Path(__file__).resolve().parents[2]
RATE = 1_000_000
"""Bytes per second of every paced download."""
PERIOD = 0.7
"""Seconds between bursts: a multiple of no tick length, so ticks hold one burst or none or two."""
PORT = 5030


class _Paced(BaseHTTPRequestHandler):
    rate = 0
    period = 0.0

    def do_GET(self) -> None:
        try:
            size = int(self.path.lstrip("/"))
        except ValueError:
            self.send_error(400, "GET /SIZE, SIZE in bytes")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        burst = max(1, round(self.rate * self.period))
        block = b"x" * burst
        start = time.monotonic()
        sent = bursts = 0
        while sent < size:
            chunk = min(burst, size - sent)
            self.wfile.write(block[:chunk])
            sent += chunk
            bursts += 1
            time.sleep(max(0.0, start + bursts * self.period - time.monotonic()))

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads only the "ready" line."""


def serve(host: Host, peers: list[subprocess.Popen[str]]) -> None:
    """The paced server on `host`, listening once this returns."""
    server = host.popen(sys.executable, "-m", "tests.support.paced", host.ipv4, str(PORT), str(RATE), str(PERIOD),
                        cwd=ROOT, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    peers.append(server)
    assert server.stdout is not None
    assert server.stdout.readline() == "ready\n", f"paced server exited with {server.wait()}"


def fetch(client: Host, server: Host, seconds: float, peers: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    """curl on `client` downloading `seconds` worth from the paced server on `server`; it ends by itself."""
    url = f"http://{server.ipv4}:{PORT}/{round(RATE * seconds)}"
    curl = client.popen("curl", "--silent", "--show-error", "--output", "/dev/null", "--max-time",
                        str(seconds + 10), url, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    peers.append(curl)
    return curl


def main(host: str, port: str, rate: str, period: str) -> None:
    _Paced.rate = int(rate)
    _Paced.period = float(period)
    ThreadingHTTPServer.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = ThreadingHTTPServer((host, int(port)), _Paced)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:])
