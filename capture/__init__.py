"""Packets -> flows -> connections and processes. Knows nothing of web or state.

Public face (the import contracts in pyproject.toml hold the other parts to
it): `Engine` (start/stop/snapshot/subscribe), `EngineConfig`, `CaptureError`,
`entered` (run a block in another network namespace), `replay` and
`format_report` (a capture file's totals), and the plain result types in
`capture.model`.

`Engine`, `replay` and `format_report` are imported when first asked for:
they bring in scapy and the whole engine (0.2 s), which neither `trafficmon
--help` nor the state layer's use of `capture.model` needs.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from trafficmon.capture.config import EngineConfig
from trafficmon.capture.errors import CaptureError
from trafficmon.capture.netns import entered

if TYPE_CHECKING:
    from trafficmon.capture.engine import Engine
    from trafficmon.capture.file_totals import format_report, replay

_ON_FIRST_USE = {
    "Engine": "trafficmon.capture.engine",
    "format_report": "trafficmon.capture.file_totals",
    "replay": "trafficmon.capture.file_totals",
}

__all__ = ["CaptureError", "Engine", "EngineConfig", "entered", "format_report", "replay"]


def __getattr__(name: str) -> Any:
    if name not in _ON_FIRST_USE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_ON_FIRST_USE[name]), name)
