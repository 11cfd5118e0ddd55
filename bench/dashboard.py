"""Dashboard responsiveness with 1,000 live connections, in headless Chromium.

The real app (`web.app.create_app`) runs in a background thread around a fake
engine (`tests/web/fakes.py`) that ticks a host with N connections — IPv4 and
IPv6, ids and command lines as capture makes them — where every connection's
speeds and byte counts change on every tick: the worst case for the page and
for the `table` deltas. Chromium (Debian's, driven by Playwright) opens the
overview; once the table holds its keyframe, the page is scrolled to the table and its own WebSocket message
handler is wrapped with `performance.now()` to time each tick's update (apply
the delta, re-render the table, chart, top processes, health), and a
`requestAnimationFrame` after it gives the time until that tick was on screen
(style, layout and paint included). Frames received are measured by
Playwright's WebSocket events.

Targets (issue 5): one tick's DOM update under 16 ms, the tick's WebSocket
message under 200 kB.

Usage: .venv/bin/python bench/dashboard.py [--connections 1000] [--ticks 50] [--interval 0.25]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web
from playwright.sync_api import WebSocket, sync_playwright

from capture.model import Connection, ProcessStats, Snapshot
from tests.browser.chromium import CHROMIUM, LAUNCH_ARGS
from tests.web.fakes import FakeEngine, build_snapshot
from web.app import create_app
from web.config import ServiceConfig
from web.credentials import Credentials
from web.hub import encode

PROCESSES = 50
USER = "bench"


def host(n: int, seq: int, started: float) -> Snapshot:
    """Tick `seq` of a busy host: `n` connections of 50 processes (opened at `started`), every one moving."""
    now = time.time()
    conns = []
    for i in range(n):
        v6 = i % 3 == 0
        local = f"[2001:db8:10::{i % 7 + 1:x}]:{40000 + i}" if v6 else f"192.168.10.{i % 7 + 2}:{40000 + i}"
        remote = f"[2606:4700:{i % 97:x}::{i:x}]:443" if v6 else f"93.184.{i % 250}.{i % 199 + 1}:443"
        pid = 2000 + i % PROCESSES
        up = 500.0 + (i * 37 + seq * 911) % 90_000 + 0.37
        down = 4_000.0 + (i * 53 + seq * 1777) % 900_000 + 0.61
        conns.append(
            Connection(
                id=f"tcp-{local}-{remote}", local_addr=local, remote_addr=remote, protocol="TCP",
                state="ESTABLISHED", process_name=f"worker-{pid % PROCESSES}", pid=pid,
                upload_speed=up, download_speed=down, duration=600.0 + seq * 0.25 + i % 60,
                bytes_sent=int(1e6 + i * 1e4 + seq * up / 4), bytes_received=int(5e7 + i * 1e5 + seq * down / 4),
                transport="tcp", family="ipv6" if v6 else "ipv4", interface="eth0",
                packets_sent=1000 + seq * 10, packets_received=5000 + seq * 50,
                cmdline=f"/usr/lib/worker/worker-{pid % PROCESSES} --type=renderer --id={pid} --pool=default",
                username="alice", first_seen=started - i % 60, last_seen=now, attribution="socket",
            )
        )
    procs = tuple(
        ProcessStats(pid, f"worker-{pid % PROCESSES}", f"/usr/lib/worker/worker-{pid % PROCESSES}", "alice",
                     n // PROCESSES, 1e5, 1e6, 10**8, 10**9)
        for pid in range(2000, 2000 + PROCESSES)
    )
    return replace(build_snapshot(seq=seq, now=now), connections=tuple(conns), processes=procs)


class Server:
    """The real app on 127.0.0.1:<free port>, served from its own event loop thread."""

    def __init__(self, engine: FakeEngine, password: str, interval: float, data_dir: Path):
        config = ServiceConfig(port=0)
        config = replace(
            config,
            engine=replace(config.engine, update_interval=interval),
            accounting=replace(config.accounting, data_dir=data_dir),
        )
        self.app = create_app(config, engine, Credentials(USER, password, "bench"))
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = self.runner.addresses[0][1]
        ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


INSTRUMENT = """() => {
  const socket = TM.overview.socket;
  const table = TM.overview.table;
  const handle = socket.onMessage;
  window.benchTicks = [];
  socket.onMessage = (message) => {
    if (message.type !== "update") return handle(message);
    const t0 = performance.now();
    handle(message);
    const t1 = performance.now();
    const tick = { update: t1 - t0, rows: table.order.length, rendered: table.rows.size, painted: null };
    window.benchTicks.push(tick);
    requestAnimationFrame(() => setTimeout(() => { tick.painted = performance.now() - t0; }, 0));
  };
}"""


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p95(values: Sequence[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))] if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--ticks", type=int, default=50)
    ap.add_argument("--interval", type=float, default=0.25, help="seconds between ticks")
    args = ap.parse_args()

    now = time.time()
    engine = FakeEngine(host(args.connections, 1, now))
    password = secrets.token_urlsafe(16)
    data_dir = tempfile.TemporaryDirectory(prefix="trafficmon-bench-")
    server = Server(engine, password, args.interval, Path(data_dir.name))
    frames: list[tuple[float, int, str]] = []

    def watch(ws: WebSocket) -> None:
        def received(payload: str | bytes) -> None:
            text = payload if isinstance(payload, str) else payload.decode()
            kind = json.loads(text)["type"]
            frames.append((time.monotonic(), len(text.encode()), kind))

        ws.on("framereceived", received)

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            context = browser.new_context(
                viewport={"width": 1280, "height": 800},
                http_credentials={"username": USER, "password": password},
            )
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("websocket", watch)
            page.goto(f"http://127.0.0.1:{server.port}/")
            page.wait_for_function("() => window.TM && TM.overview && TM.overview.table.records.size > 0")
            engine.tick(host(args.connections, 2, now))  # the keyframe for the page's subscription
            page.wait_for_function("() => TM.overview.table.synced")
            page.evaluate("document.getElementById('connections').scrollIntoView()")  # looking at the table
            page.evaluate(INSTRUMENT)
            started = time.monotonic()
            engine.run(lambda seq: host(args.connections, seq + 2, now), args.interval, args.ticks)
            engine.join(args.ticks * args.interval + 30)
            page.wait_for_function(f"() => window.benchTicks.length >= {args.ticks}", timeout=30_000)
            page.wait_for_timeout(200)
            ticks = page.evaluate("window.benchTicks")
            browser.close()
    finally:
        engine.stop()
        server.stop()
        data_dir.cleanup()

    updates = [size for at, size, kind in frames if kind == "update" and at >= started]
    keyframe = next(size for at, size, kind in frames if kind == "update" and at < started)
    initial = next(size for _, size, kind in frames if kind == "initial")
    full = len(encode({"connections": [c.to_dict() for c in host(args.connections, 3, now).connections]}))
    update_ms = [t["update"] for t in ticks]
    painted_ms = [t["painted"] for t in ticks if t["painted"] is not None]

    print(f"connections: {args.connections}, every one changing each tick; ticks measured: {len(ticks)}")
    print(f"rows in the table: {ticks[-1]['rows']}, of which in the DOM (near the viewport): {ticks[-1]['rendered']}")
    print(f"tick DOM update (message handler): median {median(update_ms):.2f} ms, "
          f"p95 {p95(update_ms):.2f} ms, max {max(update_ms):.2f} ms")
    print(f"tick until painted (handler + style/layout/paint): median {median(painted_ms):.2f} ms, "
          f"p95 {p95(painted_ms):.2f} ms")
    print(f"WebSocket update message (table delta + stats, traffic, processes, capture): "
          f"median {median(updates) / 1000:.1f} kB, max {max(updates) / 1000:.1f} kB")
    print(f"table keyframe message: {keyframe / 1000:.1f} kB; initial message: {initial / 1000:.1f} kB")
    print(f"for comparison, the same tick as a full `connections` list: {full / 1000:.1f} kB")
    if errors:
        print("console errors:", *errors, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
