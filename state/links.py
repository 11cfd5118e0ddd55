"""What the kernel says about a network interface besides its byte counters.

Picking the interfaces to account for (loopback excluded, device-backed ones
preferred) and bounding a plausible counter step (the link speed) need three
facts per interface. They come from one of two places:

- `SysfsLinks`: /sys/class/net, the usual source. Sysfs shows the interfaces of
  the network namespace it was *mounted* in (the host's, for a service on the
  host), whatever namespace the reading thread is in;
- `SocketLinks`: ioctls on a socket (`capture.interface_flags` and
  `capture.link_speed_bps`, the engine's too). A socket belongs to the
  namespace it was created in for good, so one created inside a monitored
  namespace keeps answering about that namespace's interfaces from any
  thread. It is what a service capturing another namespace (NETNS) needs:
  there, sysfs would describe the host's interfaces, or name a different
  device that happens to share the name.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Protocol

from trafficmon.capture import BITS_PER_MBIT, interface_flags, link_speed_bps

SYSFS_NET = Path("/sys/class/net")
ARPHRD_LOOPBACK = "772"
"""/sys/class/net/<if>/type of a loopback device."""


class LinkFacts(Protocol):
    """The per-interface facts the counter source needs; None where they are unknown."""

    def is_loopback(self, name: str) -> bool:
        """True for a loopback device (its traffic never leaves the host)."""
        ...

    def has_device(self, name: str) -> bool | None:
        """True when a device (a NIC, a virtual machine's NIC) backs the interface."""
        ...

    def speed_bps(self, name: str) -> float | None:
        """The link speed in bits per second."""
        ...


class SysfsLinks:
    """Facts from /sys/class/net (`root` is a parameter so tests can describe a made-up host)."""

    def __init__(self, root: Path = SYSFS_NET) -> None:
        self._root = root

    def is_loopback(self, name: str) -> bool:
        try:
            return (self._root / name / "type").read_text().strip() == ARPHRD_LOOPBACK
        except OSError:
            return name == "lo"

    def has_device(self, name: str) -> bool:
        """A /sys/class/net/<if>/device link: physical and virtual machine NICs have one;
        bridges, veths, tunnels and VLANs do not."""
        return (self._root / name / "device").exists()

    def speed_bps(self, name: str) -> float | None:
        """None when unknown (-1, unreadable, link down)."""
        try:
            mbit = int((self._root / name / "speed").read_text().strip())
        except (OSError, ValueError):
            return None
        return mbit * BITS_PER_MBIT if mbit > 0 else None


class SocketLinks:
    """Facts from ioctls on `sock`, about the interfaces of the namespace it was created in.

    Loopback comes from the interface flags and the speed from ethtool, the
    same places sysfs reads them from. Whether a device backs an interface has
    no ioctl (ethtool's bus info is filled in by bridges and tunnels too), so
    it is reported unknown and the counter source then takes every
    non-loopback interface of the namespace; INTERFACES narrows that down.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def is_loopback(self, name: str) -> bool:
        try:
            return interface_flags(self._sock, name).loopback
        except OSError:
            return name == "lo"

    def has_device(self, name: str) -> bool | None:
        return None

    def speed_bps(self, name: str) -> float | None:
        """None when the driver does not say (loopback, link down, unknown speed)."""
        return link_speed_bps(self._sock, name)
