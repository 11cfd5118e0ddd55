"""Packets -> flows -> connections and processes. Knows nothing of web or state.

Public face: `Engine` (start/stop/snapshot/subscribe), `EngineConfig`, the
plain result types in `capture.model`, and `CaptureError`.
"""

from trafficmon.capture.config import EngineConfig
from trafficmon.capture.errors import CaptureError

__all__ = ["CaptureError", "EngineConfig"]
