"""Large answers built once per tick, in a worker thread, shared by every request that asks for them.

Why: `GET /api/connections?limit=10000` over 100,000 connections is 6.8 MB of
JSON, about a quarter of a second of pure Python on this machine class. Built
on the event loop, four such requests at once held every other client
(WebSocket ticks included) for a second or more. Here the body is built in one
worker thread, where the interpreter still hands the loop its turn every few
milliseconds, and only once per tick and query: requests for the same query
in the same tick wait for that one build and get the same bytes. The bodies of
the current tick are kept up to `max_bytes` (beyond, a body is built for its
request and not kept, so many distinct queries cannot pin memory), and
forgotten when the tick moves on: an answer is never older than the snapshot.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Hashable

from trafficmon.capture.model import Snapshot


class TickBuilds:
    """The current tick's built bodies, by query."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tick-builds")
        self._snap: Snapshot | None = None
        self._builds: dict[Hashable, asyncio.Future[bytes]] = {}
        self._kept = 0
        self.built = 0

    async def body(self, snap: Snapshot, query: Hashable, build: Callable[[Snapshot], bytes]) -> bytes:
        """The body of `query` for `snap`, built by `build(snap)` in the worker unless this tick has it.

        A tick is a snapshot object (the engine makes a new one per tick), not
        its seq: holding it also keeps its id from being reused.
        """
        if snap is not self._snap:
            self._snap, self._builds, self._kept = snap, {}, 0
        future = self._builds.get(query)
        if future is None:
            future = asyncio.wrap_future(self._executor.submit(build, snap))
            self._builds[query] = future
            self.built += 1
            future.add_done_callback(lambda done: self._keep_or_forget(snap, query, done))
        # A request that goes away must not cancel the build others wait for.
        return await asyncio.shield(future)

    def _keep_or_forget(self, snap: Snapshot, query: Hashable, done: asyncio.Future[bytes]) -> None:
        if snap is not self._snap or self._builds.get(query) is not done:
            return
        if done.cancelled() or done.exception() is not None:
            del self._builds[query]
            return
        size = len(done.result())
        if self._kept + size > self._max_bytes:
            del self._builds[query]
        else:
            self._kept += size

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
