"""What the web layer needs from the capture engine, and nothing more.

`capture.engine.Engine` satisfies this protocol; tests hand in a fake with the
same four methods. Only `snapshot` and `subscribe` are used by the app: the
engine's life (start before anything else, stop last) belongs to the command
that composes the service, because capture sockets must be opened before the
web server exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from trafficmon.capture.model import Snapshot


class SnapshotSource(Protocol):
    def start(self, opened: Callable[[], None] | None = None) -> None:
        """Open capture sockets, call `opened` before any thread starts; raises `capture.CaptureError`.

        `opened` is where the service drops root (`web.privileges`); a fake that
        opens no socket need not call it.
        """

    def stop(self) -> None:
        """Stop capturing; returns within a second."""

    def snapshot(self) -> Snapshot:
        """The latest snapshot; never blocks."""

    def subscribe(self, callback: Callable[[Snapshot], None]) -> Callable[[], None]:
        """Call `callback` from the engine's tick thread after every tick; the call returned ends it (idempotent)."""
