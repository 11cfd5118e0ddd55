"""Packets -> flows -> connections and processes. Knows nothing of web or state.

Public face (the import contracts in pyproject.toml hold the other parts to
it): `Engine` (start/stop/snapshot/subscribe), `EngineConfig` (and
`interface_names`, the one rule for an interface name), `CaptureError`,
`entered` (run a block in another network namespace), `preflight` (what
capture needs from the host, as `Finding`s, for `trafficmon check`;
`CAPABILITY_BITS`, the capabilities by name, and `SERVICE_CAPABILITIES`), `replay` and
`format_report` (a capture file's totals), and the plain result types in
`capture.model`. Beside them, the kernel facts the accounting reads the same
way the engine does: a namespace's /proc/net/dev (`NET_DEV`, `read_net_dev`,
`KernelCounters`), the interface ioctls (`interface_flags`,
`link_speed_bps`; `BITS_PER_MBIT`, the unit ethtool and sysfs give speeds
in), and the one rule for a counter's step between two readings
(`interface_steps`, `CounterStep`, `plausible_bytes`,
`platform_counter_bits`, `COUNTER_32_RANGE`).

`Engine`, `preflight`, `replay` and `format_report` are imported when first asked for:
they bring in scapy and the whole engine (0.2 s), which neither `trafficmon
--help` nor the state layer's use of `capture.model` needs.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from trafficmon.capture.capabilities import CAPABILITY_BITS, SERVICE_CAPABILITIES
from trafficmon.capture.config import EngineConfig, interface_names
from trafficmon.capture.counter_step import (
    COUNTER_32_RANGE,
    CounterStep,
    interface_steps,
    platform_counter_bits,
    plausible_bytes,
)
from trafficmon.capture.errors import CaptureError
from trafficmon.capture.ifreq import BITS_PER_MBIT, interface_flags, link_speed_bps
from trafficmon.capture.netdev import NET_DEV, KernelCounters, read_net_dev
from trafficmon.capture.netns import entered

if TYPE_CHECKING:
    from trafficmon.capture.engine import Engine
    from trafficmon.capture.file_totals import format_report, replay
    from trafficmon.capture.needs import Finding, preflight

_ON_FIRST_USE = {
    "Engine": "trafficmon.capture.engine",
    "Finding": "trafficmon.capture.needs",
    "preflight": "trafficmon.capture.needs",
    "format_report": "trafficmon.capture.file_totals",
    "replay": "trafficmon.capture.file_totals",
}

__all__ = [
    "BITS_PER_MBIT",
    "CAPABILITY_BITS",
    "COUNTER_32_RANGE",
    "NET_DEV",
    "SERVICE_CAPABILITIES",
    "CaptureError",
    "CounterStep",
    "Engine",
    "EngineConfig",
    "Finding",
    "KernelCounters",
    "entered",
    "format_report",
    "interface_flags",
    "interface_names",
    "interface_steps",
    "link_speed_bps",
    "platform_counter_bits",
    "plausible_bytes",
    "preflight",
    "read_net_dev",
    "replay",
]


def __getattr__(name: str) -> Any:
    if name not in _ON_FIRST_USE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_ON_FIRST_USE[name]), name)
