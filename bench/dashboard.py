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
(style, layout and paint included; that includes waiting for the next
animation frame, up to 16.7 ms at 60 Hz, so a forced layout right after the
handler also gives the update's own style and layout cost). Frames received are measured by
Playwright's WebSocket events (decompressed); what they cost on the wire
(Chromium negotiates permessage-deflate) is read from the server socket's
TCP_INFO, and the deflate work per client is timed beside it.

Targets (issue 5): one tick's DOM update under 16 ms, the tick's WebSocket
message under 200 kB.

Usage: .venv/bin/python bench/dashboard.py [--connections 1000] [--ticks 50] [--interval 0.25] [--no-ws-compress]
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
import zlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web
from playwright.sync_api import WebSocket, sync_playwright

from trafficmon.capture.model import Snapshot
from trafficmon.state import Accountant
from tests.browser.chromium import CHROMIUM, LAUNCH_ARGS
from tests.web.fakes import FakeEngine, busy_host
from tests.web.wire import bytes_acked
from trafficmon.web.app import create_app
from trafficmon.web.config import ServiceConfig
from trafficmon.web.keys import HUB_KEY
from trafficmon.web.live.hub import encode
from trafficmon.web.live.table import TableStream
from trafficmon.web.security.credentials import Credentials

USER = "bench"


class Server:
    """The real app on 127.0.0.1:<free port>, served from its own event loop thread."""

    def __init__(self, engine: FakeEngine, password: str, interval: float, data_dir: Path, compress: bool):
        config = ServiceConfig(port=0, ws_compress=compress)
        config = replace(
            config,
            engine=replace(config.engine, update_interval=interval),
            accounting=replace(config.accounting, data_dir=data_dir),
        )
        self.app = create_app(config, engine, Credentials(USER, password, "bench"), Accountant(config.accounting))
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

    def wire_bytes(self) -> int:
        """What the one WebSocket client (the page) has received so far, on the wire."""
        (client,) = self.app[HUB_KEY].clients
        return bytes_acked(client.transport.get_extra_info("socket"))

    def settled_wire_bytes(self) -> int:
        last = -1
        while (now := self.wire_bytes()) != last:
            last = now
            time.sleep(0.1)
        return now


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
    void document.body.offsetHeight; // style and layout of what the handler changed, now
    const t2 = performance.now();
    const tick = { update: t1 - t0, laidOut: t2 - t0, rows: table.order.length, rendered: table.rows.size,
                   painted: null };
    window.benchTicks.push(tick);
    requestAnimationFrame(() => setTimeout(() => { tick.painted = performance.now() - t0; }, 0));
  };
}"""


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p95(values: Sequence[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))] if values else float("nan")


def deflate_cost(first: Snapshot, second: Snapshot) -> dict[str, float]:
    """Median ms to deflate each kind of message once, at the level aiohttp uses (Z_BEST_SPEED)."""
    stream = TableStream()
    stream.advance(first.seq, first.connections, len(first.connections))
    messages = {
        "delta": encode(stream.advance(second.seq, second.connections, len(second.connections))),
        "keyframe": encode(stream.keyframe()),
        "full": encode({"connections": [c.to_dict() for c in second.connections]}),
    }
    costs = {}
    for name, message in messages.items():
        times = []
        for _ in range(21):
            deflate = zlib.compressobj(zlib.Z_BEST_SPEED, zlib.DEFLATED, -zlib.MAX_WBITS)
            t0 = time.perf_counter()
            deflate.compress(message)
            deflate.flush(zlib.Z_SYNC_FLUSH)
            times.append((time.perf_counter() - t0) * 1000)
        costs[name] = median(times)
    return costs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--ticks", type=int, default=50)
    ap.add_argument("--interval", type=float, default=0.25, help="seconds between ticks")
    ap.add_argument("--ws-compress", action=argparse.BooleanOptionalAction, default=True,
                    help="the service's WS_COMPRESS (default on, as it ships)")
    args = ap.parse_args()

    now = time.time()
    engine = FakeEngine(busy_host(args.connections, 1, now))
    password = secrets.token_urlsafe(16)
    data_dir = tempfile.TemporaryDirectory(prefix="trafficmon-bench-")
    server = Server(engine, password, args.interval, Path(data_dir.name), args.ws_compress)
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
            wire_initial = server.settled_wire_bytes()
            engine.tick(busy_host(args.connections, 2, now))  # the keyframe for the page's subscription
            page.wait_for_function("() => TM.overview.table.synced")
            wire_keyframe = server.settled_wire_bytes() - wire_initial
            page.evaluate("document.getElementById('connections').scrollIntoView()")  # looking at the table
            page.evaluate(INSTRUMENT)
            started = time.monotonic()
            engine.run(lambda seq: busy_host(args.connections, seq + 2, now), args.interval, args.ticks)
            engine.join(args.ticks * args.interval + 30)
            page.wait_for_function(f"() => window.benchTicks.length >= {args.ticks}", timeout=30_000)
            page.wait_for_timeout(200)
            wire_updates = server.settled_wire_bytes() - wire_keyframe - wire_initial
            ticks = page.evaluate("window.benchTicks")
            browser.close()
    finally:
        engine.stop()
        server.stop()
        data_dir.cleanup()

    updates = [size for at, size, kind in frames if kind == "update" and at >= started]
    keyframe = next(size for at, size, kind in frames if kind == "update" and at < started)
    initial = next(size for _, size, kind in frames if kind == "initial")
    full = len(encode({"connections": [c.to_dict() for c in busy_host(args.connections, 3, now).connections]}))
    deflate_ms = deflate_cost(busy_host(args.connections, 3, now), busy_host(args.connections, 4, now))
    update_ms = [t["update"] for t in ticks]
    painted_ms = [t["painted"] for t in ticks if t["painted"] is not None]

    print(f"connections: {args.connections}, every one changing each tick; ticks measured: {len(ticks)}")
    print(f"rows in the table: {ticks[-1]['rows']}, of which in the DOM (near the viewport): {ticks[-1]['rendered']}")
    print(f"tick DOM update (message handler): median {median(update_ms):.2f} ms, "
          f"p95 {p95(update_ms):.2f} ms, max {max(update_ms):.2f} ms")
    laid_out_ms = [t["laidOut"] for t in ticks]
    print(f"tick DOM update with style and layout (handler + forced layout): median {median(laid_out_ms):.2f} ms, "
          f"p95 {p95(laid_out_ms):.2f} ms")
    print(f"tick until painted (handler + style/layout/paint): median {median(painted_ms):.2f} ms, "
          f"p95 {p95(painted_ms):.2f} ms")
    print(f"WebSocket update message (table delta + stats, traffic, processes, capture): "
          f"median {median(updates) / 1000:.1f} kB, max {max(updates) / 1000:.1f} kB")
    print(f"table keyframe message: {keyframe / 1000:.1f} kB; initial message: {initial / 1000:.1f} kB")
    print(f"on the wire ({'permessage-deflate' if args.ws_compress else 'uncompressed'}, from TCP_INFO): initial message {wire_initial / 1000:.1f} kB "
          f"(handshake included), table keyframe {wire_keyframe / 1000:.1f} kB, "
          f"updates {wire_updates / len(updates) / 1000:.1f} kB each on average")
    print(f"deflate per client (level 1, as aiohttp): table delta {deflate_ms['delta']:.2f} ms, "
          f"keyframe {deflate_ms['keyframe']:.2f} ms, full connections list {deflate_ms['full']:.2f} ms (medians)")
    print(f"for comparison, the same tick as a full `connections` list: {full / 1000:.1f} kB")
    if errors:
        print("console errors:", *errors, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
