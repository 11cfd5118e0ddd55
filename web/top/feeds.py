"""Where `trafficmon top` gets its frames: a running service's WebSocket, or its own capture.

Both hand the app the WebSocket's JSON (`view.Frame`): a service's is read as
it is sent; the own capture's is built by the same `TickView` the service's
hub builds its messages with, so the two cannot drift.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from trafficmon.capture import CaptureError, EngineConfig
from trafficmon.web.live.hub import TickView
from trafficmon.web.parsing.queries import Selection
from trafficmon.web.top.view import Frame

TOPICS = ["processes", "connections", "stats", "traffic", "capture"]
RETRY_SECONDS = (1.0, 2.0, 5.0)
"""Waits before the first, second and every later attempt to reach a service that went away."""

OnFrame = Callable[[Frame], None]
OnStatus = Callable[[str], None]


class FeedError(Exception):
    """The feed cannot start (bad URL, refused credentials, no capture); one line saying why."""


def frame_of(data: dict[str, Any], seq: int) -> Frame:
    return Frame(seq=seq, processes=data.get("processes") or (), connections=data.get("connections") or (),
                 stats=data.get("stats") or {}, capture=data.get("capture") or {}, traffic=data.get("traffic"))


class ServiceFeed:
    """A service's `/ws`, subscribed to the topics top shows; reconnects when the service goes away."""

    def __init__(self, url: str, authorization: str | None) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": authorization} if authorization else {}

    async def check(self) -> None:
        """Reach the service once before the screen is taken: a wrong URL or credentials is one line, exit 2."""
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                async with session.get(f"{self.url}/api/stats", headers=self._headers) as answer:
                    if answer.status in (401, 403, 429):
                        raise FeedError(f"{self.url} refused the credentials ({answer.status}): give --password "
                                        "or --token (or MONITOR_PASS / TRAFFICMON_TOKEN)")
                    if answer.status != 200:
                        raise FeedError(f"{self.url}/api/stats answered {answer.status}: is it trafficmon?")
        except aiohttp.ClientError as exc:
            raise FeedError(f"cannot reach {self.url}: {exc}") from None
        except asyncio.TimeoutError:
            raise FeedError(f"cannot reach {self.url}: no answer within 10 s") from None

    async def run(self, on_frame: OnFrame, on_status: OnStatus) -> None:
        attempt = 0
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.ws_connect(f"{self.url}/ws", headers=self._headers, heartbeat=10) as ws:
                        attempt = 0
                        on_status(f"reading {self.url}")
                        await ws.send_json({"type": "subscribe", "topics": TOPICS})
                        async for message in ws:
                            if message.type != aiohttp.WSMsgType.TEXT:
                                break
                            event = json.loads(message.data)
                            if event.get("type") == "update":
                                on_frame(frame_of(event["data"], event["seq"]))
                    why = "the service closed the connection"
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    why = f"lost {self.url}: {exc or type(exc).__name__}"
                wait = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
                attempt += 1
                on_status(f"{why}; trying again in {wait:g} s")
                await asyncio.sleep(wait)


class CaptureFeed:
    """top's own capture (root, no service): the engine's ticks, as the service's hub would send them."""

    def __init__(self, config: EngineConfig) -> None:
        from trafficmon.capture import Engine

        self.url = "own capture"
        self._engine = Engine(config)

    async def check(self) -> None:
        try:
            self._engine.start()
        except CaptureError as exc:
            raise FeedError(f"cannot capture: {exc}") from None

    async def run(self, on_frame: OnFrame, on_status: OnStatus) -> None:
        loop = asyncio.get_running_loop()
        everything = Selection()

        def tick(snap: Any) -> None:
            view = TickView(snap, traffic=lambda: None, max_connections=10_000)
            frame = Frame(seq=snap.seq, processes=view.part("processes", everything),
                          connections=view.part("connections", everything), stats=view.part("stats", everything),
                          capture=view.part("capture", everything))
            loop.call_soon_threadsafe(on_frame, frame)

        unsubscribe = self._engine.subscribe(tick)
        on_status("capturing here (no service: no cap)")
        try:
            await asyncio.Event().wait()
        finally:
            unsubscribe()
            self._engine.stop()
