"""The WebSocket hub: each tick serialised once per distinct subscription, fanned out.

The engine calls `on_tick` from its own thread. Ticks are coalesced on their
way into the event loop (a slow loop publishes the newest snapshot, it does not
queue every one), then one frame is built per distinct subscription — most
clients share the default one, so most ticks are serialised exactly once — in
the hub's builder thread, not on the loop (picking the busiest 1,000 of 100,000
connections and serialising them is a tenth of a second the loop would not
serve anyone), and the same `bytes` go to every client's outbox
(`web.live.outbox`). One build at a time: a tick that arrives during one waits,
and only the newest waiting tick is built. A client
whose send has stalled longer than `WS_SEND_TIMEOUT`, or whose reply queue
overflows, is closed with TRY_AGAIN_LATER and a reason, never buffered for.

The `table` topic is stateful (deltas between ticks, see `web.live.table`): one
stream per distinct subscription that asks for it, advanced once per tick, and
two frames at most per such subscription — the delta, and a keyframe for the
clients that join or missed a frame.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
from collections.abc import Mapping
from typing import Any

from aiohttp import WSCloseCode, web

from trafficmon.capture.model import Snapshot
from trafficmon.web.config import ServiceConfig
from trafficmon.web.live.outbox import DATA_TOPICS, TOPICS, Client, Subscription
from trafficmon.web.live.source import SnapshotSource
from trafficmon.web.live.table import TableStream
from trafficmon.web.parsing.queries import Selection
from trafficmon.web.views import live_json
from trafficmon.web.views.live_json import TrafficSource

log = logging.getLogger(__name__)

FILTERED_TOPICS = frozenset({"connections", "processes", "table"})
_NO_SELECTION = Selection()
Wanted = tuple[Subscription, bool]
"""A frame a tick needs: a distinct subscription, and whether its table part is a keyframe."""


def encode(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


class TickView:
    """The parts of one snapshot, each built at most once however many clients want it."""

    def __init__(self, snap: Snapshot, traffic: TrafficSource, max_connections: int):
        self.snap = snap
        self._traffic = traffic
        self._max_connections = max_connections
        self._parts: dict[tuple[str, Selection], Any] = {}

    def part(self, topic: str, selection: Selection) -> Any:
        key = (topic, selection if topic in FILTERED_TOPICS else _NO_SELECTION)
        if key not in self._parts:
            self._parts[key] = self._build(topic, key[1])
        return self._parts[key]

    def _build(self, topic: str, selection: Selection) -> Any:
        snap = self.snap
        match topic:
            case "connections":
                matching = live_json.matching_connections(snap, selection)
                return [c.to_dict() for c in live_json.busiest(matching, self._max_connections)]
            case "processes":
                return live_json.process_list(snap, selection)
            case "stats":
                return live_json.stats(snap)
            case "traffic":
                return self._traffic()
            case "interfaces":
                return [i.to_dict() for i in snap.interfaces]
            case "capture":
                return live_json.capture(snap)
        raise ValueError(f"no such topic: {topic}")

    def message(self, kind: str, sub: Subscription, table: dict[str, Any] | None = None) -> dict[str, Any]:
        """`table` is the subscription's table part (a delta or a keyframe), built by its stream."""
        data = {
            t: table if t == "table" else self.part(t, sub.selection)
            for t in TOPICS
            if t in sub.topics and t in DATA_TOPICS
        }
        message: dict[str, Any] = {
            "type": kind,
            "seq": self.snap.seq,
            "timestamp": self.snap.timestamp,
            "data": data,
        }
        if not sub.selection.empty:
            message["filter"] = sub.selection.to_dict()
        return message


class Hub:
    """Connected clients, the tick hand-over from the engine thread, and fan-out."""

    def __init__(self, config: ServiceConfig, source: SnapshotSource, traffic: TrafficSource):
        self._config = config
        self._source = source
        self._traffic = traffic
        self._clients: set[Client] = set()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: Snapshot | None = None
        self._closing_tasks: set[asyncio.Task[None]] = set()
        self._tables: dict[Subscription, TableStream] = {}
        self._builder = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ws-frames")
        self._building: asyncio.Task[None] | None = None
        self._waiting: Snapshot | None = None
        self._initial: tuple[Snapshot, bytes] | None = None
        self.ticks = 0
        self.frames_built = 0
        self.evicted = 0
        self._skipped_gone = 0

    # -- the engine side -------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._loop = loop

    def detach(self) -> None:
        """Ignore ticks from now on (the engine has no unsubscribe); a build under way still goes out."""
        with self._lock:
            self._loop = None
            self._pending = None
        self._waiting = None
        self._builder.shutdown(wait=False)

    def on_tick(self, snap: Snapshot) -> None:
        """Engine thread: hand the newest snapshot to the loop, at most one hop pending."""
        with self._lock:
            loop = self._loop
            if loop is None:
                return
            first = self._pending is None
            self._pending = snap
        if first:
            try:
                loop.call_soon_threadsafe(self._take_pending)
            except RuntimeError:
                # The loop closed between detach and this tick.
                return

    def _take_pending(self) -> None:
        with self._lock:
            snap, self._pending = self._pending, None
        if snap is None:
            return
        if self._building is not None:
            self._waiting = snap
            return
        self._building = asyncio.get_running_loop().create_task(self._publish_off_loop(snap))

    async def _publish_off_loop(self, snap: Snapshot | None) -> None:
        loop = asyncio.get_running_loop()
        try:
            while snap is not None:
                self.ticks += 1
                self._evict_stalled()
                wanted = self._wanted()
                frames = await loop.run_in_executor(self._builder, self._build_frames, snap, wanted)
                self._fan_out(frames)
                snap, self._waiting = self._waiting, None
        finally:
            self._building = None

    # -- clients -----------------------------------------------------------

    @property
    def full(self) -> bool:
        return len(self._clients) >= self._config.ws_max_clients

    @property
    def clients(self) -> frozenset[Client]:
        return frozenset(self._clients)

    @property
    def skipped(self) -> int:
        """Updates replaced before they were sent, over all clients ever connected."""
        return self._skipped_gone + sum(c.skipped for c in self._clients)

    def connect(self, ws: web.WebSocketResponse, transport: asyncio.Transport) -> Client:
        """Register a prepared socket; its first frame is the `initial` message."""
        client = Client(ws, transport, self._config.ws_queue)
        client.offer_control(self._initial_frame())
        self._clients.add(client)
        client.start()
        return client

    def _initial_frame(self) -> bytes:
        """Every client starts on the default subscription: its first frame is built once per tick, not per client."""
        snap = self._source.snapshot()
        if self._initial is None or self._initial[0] is not snap:
            view = TickView(snap, self._traffic, self._config.ws_max_connections)
            self._initial = (snap, encode(view.message("initial", Subscription())))
        return self._initial[1]

    async def disconnect(self, client: Client) -> None:
        if client in self._clients:
            self._clients.discard(client)
            self._skipped_gone += client.skipped
        await client.finish()

    def subscribe(self, client: Client, subscription: Subscription) -> None:
        client.subscription = subscription
        client.needs_keyframe = True

    def reply(self, client: Client, message: Mapping[str, Any]) -> None:
        """Queue a direct answer (pong, error, ack); a client that lets replies pile up is evicted."""
        if not client.offer_control(encode(message)):
            self.evict(client, f"too slow: more than {self._config.ws_queue} replies unread")

    def make_room(self) -> bool:
        """A full server's last resort before a 503: evict the client stalled longest, if one is.

        Stalled means a send has waited over a tick for it to read: a client
        that does not read must not keep one that does out.
        """
        now = asyncio.get_running_loop().time()
        stalled = max(self._clients, key=lambda c: c.stalled_for(now), default=None)
        if stalled is None or stalled.stalled_for(now) <= self._config.engine.update_interval:
            return False
        self.evict(stalled, f"too slow: evicted for a new client after a send waited "
                            f"{stalled.stalled_for(now):.1f} s")
        return True

    def gone(self, client: Client, error: BaseException | None) -> None:
        """The handler's loop ended: say so when it was aiohttp's heartbeat that closed a silent client."""
        if isinstance(error, TimeoutError) and client in self._clients:
            self.evicted += 1
            log.warning("closed WebSocket client %s: %s (it does not read)",
                        client.transport.get_extra_info("peername"), error)

    def evict(self, client: Client, reason: str) -> None:
        if client not in self._clients or client.closing:
            return
        self._clients.discard(client)
        self._skipped_gone += client.skipped
        self.evicted += 1
        log.warning("closing WebSocket client %s: %s", client.transport.get_extra_info("peername"), reason)
        task = asyncio.get_running_loop().create_task(
            client.close(WSCloseCode.TRY_AGAIN_LATER, reason, self._config.ws_send_timeout)
        )
        self._closing_tasks.add(task)
        task.add_done_callback(self._closing_tasks.discard)

    async def close_all(self, code: WSCloseCode, reason: str) -> None:
        """Close every client (GOING_AWAY on shutdown) and wait for pending evictions and the last build."""
        if self._building is not None:
            await asyncio.gather(self._building, return_exceptions=True)
        clients = list(self._clients)
        timeout = min(self._config.ws_send_timeout, 5.0)
        await asyncio.gather(*(c.close(code, reason, timeout) for c in clients), return_exceptions=True)
        if self._closing_tasks:
            await asyncio.gather(*self._closing_tasks, return_exceptions=True)

    # -- publishing ------------------------------------------------------

    def publish(self, snap: Snapshot) -> None:
        """Fan one tick out at once, built on the calling thread (the engine's ticks use the builder)."""
        self.ticks += 1
        self._evict_stalled()
        self._fan_out(self._build_frames(snap, self._wanted()))

    def _wanted(self) -> set[Wanted]:
        """Which frames this tick needs: each distinct subscription, as a table delta or a keyframe.

        Read on the loop, before the build. Until the build is handed out a
        client's pending update can only be sent (nothing else offers
        updates), so one that needed a keyframe still gets one, harmlessly.
        """
        wanted = set()
        for client in self._clients:
            sub = client.subscription
            if sub.topics & DATA_TOPICS:
                wanted.add((sub, "table" in sub.topics and (client.needs_keyframe or client.update_pending)))
        return wanted

    def _build_frames(self, snap: Snapshot, wanted: set[Wanted]) -> dict[Wanted, bytes]:
        """One frame per wanted (subscription, keyframe); the only code that advances the table streams."""
        view = TickView(snap, self._traffic, self._config.ws_max_connections)
        deltas = self._advance_tables(view, {sub for sub, _ in wanted if "table" in sub.topics})
        frames = {}
        for sub, keyframe in wanted:
            table = None
            if "table" in sub.topics:
                table = self._tables[sub].keyframe() if keyframe else deltas[sub]
            frames[(sub, keyframe)] = encode(view.message("update", sub, table))
        self.frames_built += len(frames)
        return frames

    def _fan_out(self, frames: dict[Wanted, bytes]) -> None:
        """The same bytes to every client of a subscription; one that subscribed anew during the build waits a tick."""
        for client in list(self._clients):
            sub = client.subscription
            keyframe = "table" in sub.topics and (client.needs_keyframe or client.update_pending)
            frame = frames.get((sub, keyframe))
            if frame is None and not keyframe:
                frame = frames.get((sub, True))  # its pending update went out during the build
            if frame is None:
                continue
            client.needs_keyframe = False
            client.offer_update(frame)

    def _advance_tables(self, view: TickView, wanted: set[Subscription]) -> dict[Subscription, dict[str, Any]]:
        """Advance the table stream of every subscription that has one; drop unused streams."""
        for gone in self._tables.keys() - wanted:
            del self._tables[gone]
        deltas = {}
        for sub in wanted:
            stream = self._tables.setdefault(sub, TableStream())
            matching = live_json.matching_connections(view.snap, sub.selection)
            listed = live_json.busiest(matching, self._config.ws_max_connections)
            deltas[sub] = stream.advance(view.snap.seq, listed, len(matching))
        return deltas

    def publish_alert(self, alert: Mapping[str, Any]) -> None:
        """Send `{"type": "alert", "data": alert}` to every client subscribed to alerts.

        Call from the event loop (from another thread: `loop.call_soon_threadsafe`).
        """
        frame = encode({"type": "alert", "data": dict(alert)})
        for client in list(self._clients):
            if "alerts" in client.subscription.topics and not client.offer_control(frame):
                self.evict(client, f"too slow: more than {self._config.ws_queue} alerts unread")

    def _evict_stalled(self) -> None:
        now = asyncio.get_running_loop().time()
        limit = self._config.ws_send_timeout
        for client in list(self._clients):
            stalled = client.stalled_for(now)
            if stalled > limit:
                self.evict(client, f"too slow: a send waited {stalled:.1f} s for the client to read")
