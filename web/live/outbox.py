"""One WebSocket client's outbox and the task that writes it.

Memory per client is bounded whatever the peer does:
- updates are whole snapshots, so only the newest unsent one is kept (one slot,
  newest wins; a replaced update is counted as skipped);
- replies and alerts wait in a queue of at most `WS_QUEUE` frames. Replies are
  back-pressure, not a reason to close: the handler reads the client's next
  message only once there is room (`room`), so a client that sends a burst of
  pings gets every pong, a little later; only a client that leaves its replies
  unread for `WS_SEND_TIMEOUT` is evicted. Alerts overflowing it evict the client;
- frames are the hub's shared `bytes`, written with `send_frame` (no per-client
  encoding; aiohttp deflates them per client when compression was negotiated,
  see `web.live.endpoint`), and aiohttp's writer stops at its own buffer limit until the peer
  drains, so the transport buffer holds at most about one frame more than that.

Only the handler task reads from the socket; only this writer task (plus
aiohttp's own heartbeat and close) writes to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web

from trafficmon.web.parsing.queries import Selection

log = logging.getLogger(__name__)

TOPICS = ("connections", "stats", "traffic", "processes", "interfaces", "capture", "table", "alerts")
DATA_TOPICS = frozenset(TOPICS) - {"alerts"}
DEFAULT_TOPICS = frozenset({"connections", "stats", "traffic", "alerts"})


@dataclass(frozen=True, slots=True)
class Subscription:
    """What a client receives; equal subscriptions share one serialised frame per tick."""

    topics: frozenset[str] = DEFAULT_TOPICS
    selection: Selection = field(default_factory=Selection)


class Client:
    """A connected WebSocket peer as the hub sees it."""

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport, queue_size: int):
        self.ws = ws
        self.transport = transport
        self.subscription = Subscription()
        self.skipped = 0
        self.sent = 0
        self.close_reason: str | None = None
        self.needs_keyframe = True
        self._queue_size = queue_size
        self._control: deque[bytes] = deque()
        self._latest: bytes | None = None
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._sending_since: float | None = None
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write(), name="ws-writer")

    @property
    def closing(self) -> bool:
        return self.close_reason is not None

    @property
    def queued(self) -> int:
        """Frames waiting to be written (control queue plus the update slot)."""
        return len(self._control) + (self._latest is not None)

    @property
    def update_pending(self) -> bool:
        """An update is waiting unsent; offering another drops it (see `web.live.table`)."""
        return self._latest is not None

    def offer_update(self, frame: bytes) -> None:
        """Replace any unsent update with this newer one."""
        if self._latest is not None:
            self.skipped += 1
        self._latest = frame
        self._wake.set()

    def offer_control(self, frame: bytes) -> bool:
        """Queue a reply or alert; False when the queue is full (the client is too slow)."""
        if len(self._control) >= self._queue_size:
            return False
        self._control.append(frame)
        if len(self._control) >= self._queue_size:
            self._drained.clear()
        self._wake.set()
        return True

    async def room(self, timeout: float) -> bool:
        """Wait until a reply fits in the queue; False when none did within `timeout` (not reading)."""
        if len(self._control) < self._queue_size:
            return True
        try:
            await asyncio.wait_for(self._drained.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def stalled_for(self, now: float) -> float:
        """Seconds the current send has been waiting for the peer to read (0 when idle)."""
        return 0.0 if self._sending_since is None else now - self._sending_since

    def _next_frame(self) -> bytes:
        """Replies and alerts first (they are small and must not be lost), then the update."""
        if self._control:
            frame = self._control.popleft()
            self._drained.set()
            return frame
        frame, self._latest = self._latest, None
        assert frame is not None
        return frame

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._control or self._latest is not None:
                    frame = self._next_frame()
                    self._sending_since = loop.time()
                    await self.ws.send_frame(frame, WSMsgType.TEXT)
                    self._sending_since = None
                    self.sent += 1
        except ConnectionError:
            # The peer went away; the handler's read loop sees the close and cleans up.
            return
        except Exception:
            log.exception("WebSocket writer failed; the client gets no more messages")
            self.transport.close()

    async def close(self, code: WSCloseCode, reason: str, timeout: float) -> None:
        """Stop writing, send a close frame with `code`, and drop the connection.

        The close frame queues behind what the peer has not read yet; a peer
        that does not read it within `timeout` has its socket aborted, so the
        buffers are released either way.
        """
        if self.close_reason is not None:
            return
        self.close_reason = reason
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        try:
            await asyncio.wait_for(
                self.ws.close(code=code, message=reason.encode()[:123], drain=False), timeout
            )
        except (TimeoutError, ConnectionError):
            log.debug("closing a WebSocket client timed out or failed; aborting it")
        if self.transport.get_write_buffer_size():
            asyncio.get_running_loop().call_later(timeout, self.transport.abort)

    async def finish(self) -> None:
        """The handler is done with this client: stop the writer if it still runs."""
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
