"""The two interface ioctls trafficmon makes: an interface's flags, and its link speed from ethtool.

Both go through a `struct ifreq` on a socket the caller passes in. A socket
answers for the network namespace it was created in, whatever thread uses it,
which is what lets the capture (its threads in the namespace) and the
accounting (a socket opened inside the namespace once) ask the same question
the same way.
"""

from __future__ import annotations

import ctypes
import fcntl
import socket
import struct
from typing import NamedTuple

# <linux/sockios.h>, <linux/if.h>, <linux/ethtool.h>
SIOCGIFFLAGS = 0x8913
SIOCETHTOOL = 0x8946
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
ETHTOOL_GSET = 0x1
IFNAMSIZ = 16
BITS_PER_MBIT = 10**6
# struct ifreq: the name, then a 24-byte union (the flags, or a pointer to ethtool's data).
_IFREQ_FLAGS = struct.Struct(f"{IFNAMSIZ}sH22x")
_IFREQ_DATA = struct.Struct(f"{IFNAMSIZ}sP{24 - struct.calcsize('P')}x")
_ETHTOOL_CMD = struct.Struct("=IIIHBBBBBBIIHBBI2I")
"""struct ethtool_cmd (44 bytes): speed is its 4th field, speed_hi its 13th."""
_SPEED_UNKNOWN = (0, 0xFFFF, 0xFFFFFFFF)


class InterfaceFlags(NamedTuple):
    """The two flags anything here decides on: up (administratively), and loopback."""

    up: bool
    loopback: bool


def interface_flags(sock: socket.socket, name: str) -> InterfaceFlags:
    """Raises OSError when the namespace of `sock` has no interface `name`."""
    answer = fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, _IFREQ_FLAGS.pack(name.encode(), 0))
    flags = _IFREQ_FLAGS.unpack(answer)[1]
    return InterfaceFlags(bool(flags & IFF_UP), bool(flags & IFF_LOOPBACK))


def link_speed_bps(sock: socket.socket, name: str) -> float | None:
    """Bits per second; None when the driver does not say (loopback, link down, unknown speed, no such interface)."""
    command = ctypes.create_string_buffer(_ETHTOOL_CMD.size)
    struct.pack_into("=I", command, 0, ETHTOOL_GSET)
    request = _IFREQ_DATA.pack(name.encode(), ctypes.addressof(command))
    try:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, request)
    except OSError:
        return None
    fields = _ETHTOOL_CMD.unpack(command.raw)
    mbit = fields[12] << 16 | fields[3]
    return None if mbit in _SPEED_UNKNOWN else mbit * BITS_PER_MBIT


def interface_speed_bps(name: str) -> float | None:
    """`link_speed_bps` of `name` in the calling thread's namespace, on a socket of its own."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        return link_speed_bps(sock, name)
