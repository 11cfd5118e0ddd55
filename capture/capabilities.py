"""Capabilities by name, and the ones the service runs with.

Light on purpose (no capture code): the command reads these before it knows
whether it will capture, to say what it keeps when it drops root.
"""

from __future__ import annotations

from pathlib import Path

CAPABILITY_BITS = {
    "CAP_CHOWN": 0, "CAP_DAC_READ_SEARCH": 2, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_RAW": 13, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21,
}
"""The capabilities the service and its packaging name, by their bit in the kernel's sets (linux/capability.h)."""
CAP_DAC_READ_SEARCH = CAPABILITY_BITS["CAP_DAC_READ_SEARCH"]
CAP_SYS_PTRACE = CAPABILITY_BITS["CAP_SYS_PTRACE"]
SERVICE_CAPABILITIES = ("CAP_NET_RAW", "CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE")
"""What a service on the host's own namespace needs (packaging/trafficmon.service holds these and no more)."""


def effective_capabilities(status: Path = Path("/proc/self/status")) -> int:
    """The calling process's effective capability set (CapEff) as a bit mask."""
    for line in status.read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0
