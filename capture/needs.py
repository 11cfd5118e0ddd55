"""What capture needs from the host, looked at without capturing (`trafficmon check`).

Each finding is a sentence a person can act on. A problem stops the service
from capturing at all (no capture socket, a named interface missing, a
filter that does not compile, a namespace it cannot enter); a warning is a
capture that runs but knows less (other users' processes not named). The
capabilities are the ones the kernel asks for: CAP_NET_RAW for AF_PACKET
sockets, CAP_SYS_ADMIN to enter another network namespace, and, to name the
processes of other users, CAP_DAC_READ_SEARCH (listing their /proc/PID/fd)
with CAP_SYS_PTRACE (reading the links in it).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Literal

from trafficmon.capture.bpf import compile_expression
from trafficmon.capture.capabilities import CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, effective_capabilities
from trafficmon.capture.config import EngineConfig
from trafficmon.capture.errors import CaptureError
from trafficmon.capture.interfaces import default_interfaces, list_interfaces
from trafficmon.capture.netns import entered
from trafficmon.capture.parse import LINKTYPE_ETHERNET

Level = Literal["ok", "warning", "problem"]

@dataclass(frozen=True, slots=True)
class Finding:
    """One thing looked at: how it stands, what it is about, and in plain words why."""

    level: Level
    subject: str
    text: str


def preflight(config: EngineConfig, capabilities: int | None = None) -> list[Finding]:
    """What would stop or limit capture with `config`, looked at in the namespace it captures."""
    caps = effective_capabilities() if capabilities is None else capabilities
    try:
        with entered(config.netns):
            return [_capture_socket(), _interfaces(config), *_filter(config), _attribution(caps)]
    except CaptureError as exc:
        return [Finding("problem", "network namespace", str(exc))]


def _capture_socket() -> Finding:
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except PermissionError:
        return Finding("problem", "capture", "capture sockets need root or CAP_NET_RAW, which this process lacks")
    except OSError as exc:
        return Finding("problem", "capture", f"cannot open a capture socket: {exc.strerror or exc}")
    return Finding("ok", "capture", "capture sockets open (CAP_NET_RAW)")


def _interfaces(config: EngineConfig) -> Finding:
    try:
        return _listed_interfaces(config)
    except CaptureError as exc:  # rtnetlink refused or failed
        return Finding("problem", "interfaces", str(exc))


def _listed_interfaces(config: EngineConfig) -> Finding:
    if config.interfaces:
        present = {info.name for info in list_interfaces()}
        missing = [name for name in config.interfaces if name not in present]
        if missing:
            return Finding("problem", "interfaces", f"no such interface: {', '.join(missing)}")
        return Finding("ok", "interfaces", f"capturing {', '.join(config.interfaces)}")
    found = default_interfaces()
    if not found:
        return Finding("warning", "interfaces", "no interface to capture yet: none is up but loopback and container "
                       "plumbing; capture starts when one comes up, or name one with INTERFACES")
    return Finding("ok", "interfaces", f"capturing {', '.join(found)} (every up interface but loopback and "
                   "container plumbing, followed as they come and go)")


def _filter(config: EngineConfig) -> list[Finding]:
    if config.capture_filter is None:
        return []
    try:
        compile_expression(config.capture_filter, LINKTYPE_ETHERNET)
    except CaptureError as exc:
        return [Finding("problem", "capture filter", str(exc))]
    return [Finding("ok", "capture filter", f"{config.capture_filter!r} compiles (libpcap)")]


def _attribution(caps: int) -> Finding:
    lacking = [name for bit, name in ((CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH"), (CAP_SYS_PTRACE, "CAP_SYS_PTRACE"))
               if not caps >> bit & 1]
    if lacking:
        return Finding("warning", "attribution", f"without {' and '.join(lacking)}, connections of other users' "
                       "processes cannot be given to them (they show as unknown): their /proc/PID/fd is not readable")
    return Finding("ok", "attribution", "every user's processes can be named (CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE)")
