"""Interface kinds and default routes from rtnetlink, answered for the calling thread's namespace.

Whether an interface is container plumbing (a bridge, a bridge's port, the
host end of a veth pair) is told by the link the kernel reports for RTM_GETLINK
(IFLA_LINKINFO's IFLA_INFO_KIND, IFLA_MASTER) and by the routes of RTM_GETROUTE
(which interfaces carry a default route). /sys/class/net cannot tell: it shows
the namespace sysfs was mounted in, not the thread's. A netlink socket belongs
to the namespace of the thread that opens it, so each call opens its own.
Built by hand with `struct`, as `capture.sockdiag` is: two dumps and one
multicast group do not need a netlink library.

`LinkEvents` listens to the kernel's link notifications (RTMGRP_LINK), so an
interface that is deleted and created again is re-opened when it comes back,
not at the end of a back-off.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Iterator
from typing import NamedTuple

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTMGRP_LINK = 0x1
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_DUMP = 0x1, 0x2, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFF_UP, IFF_LOOPBACK = 0x1, 0x8
IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_EXT_MASK = 3, 10, 18, 29
IFLA_INFO_KIND = 1
RTEXT_FILTER_SKIP_STATS = 1 << 3  # the per-link statistics are most of a link dump: leave them out
RTA_OIF, RTA_MULTIPATH = 4, 9
RTN_UNICAST = 1

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTATTR = struct.Struct("=HH")
_RTNEXTHOP = struct.Struct("=HBBi")
_U32 = struct.Struct("=I")
_ERR = struct.Struct("=i")
_ATTR_TYPE = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER
_BUFFER = 1 << 16


class Link(NamedTuple):
    """One interface as RTM_GETLINK reports it."""

    index: int
    name: str
    up: bool
    loopback: bool
    kind: str
    """The driver's link kind ("veth", "bridge", "tun", "wireguard", "ipip"...); "" for hardware."""
    master: int
    """The ifindex of the bridge (or bond) it is a port of; 0 when it is nobody's port."""


def links() -> list[Link]:
    """Every interface of the calling thread's namespace."""
    request = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _attr(IFLA_EXT_MASK, _U32.pack(RTEXT_FILTER_SKIP_STATS))
    out: list[Link] = []
    for mtype, msg in _dump(RTM_GETLINK, request):
        if mtype != RTM_NEWLINK or len(msg) < _IFINFOMSG.size:
            continue
        _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(msg)
        attrs = dict(_attrs(msg, _IFINFOMSG.size))
        name = _string(attrs.get(IFLA_IFNAME, b""))
        info = dict(_attrs(attrs[IFLA_LINKINFO], 0)) if IFLA_LINKINFO in attrs else {}
        kind = _string(info.get(IFLA_INFO_KIND, b""))
        master = _U32.unpack_from(attrs[IFLA_MASTER])[0] if IFLA_MASTER in attrs else 0
        out.append(Link(index, name, bool(flags & IFF_UP), bool(flags & IFF_LOOPBACK), kind, master))
    return out


class LinkEvents:
    """RTM_NEWLINK / RTM_DELLINK notifications of the namespace of the thread that makes it."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
        self._sock.setblocking(False)
        self._sock.bind((0, RTMGRP_LINK))
        self._buf = bytearray(_BUFFER)

    def fileno(self) -> int:
        return self._sock.fileno()

    def read(self) -> tuple[dict[str, bool], bool]:
        """Links changed since the last read (name -> up; a deleted link is down), and whether events
        were lost (the kernel's queue overflowed: the caller must look at every link again)."""
        changed: dict[str, bool] = {}
        while True:
            try:
                n = self._sock.recv_into(self._buf)
            except BlockingIOError:
                return changed, False
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    return changed, True
                raise
            for mtype, _seq, msg in _messages(self._buf, n):
                if mtype not in (RTM_NEWLINK, RTM_DELLINK) or len(msg) < _IFINFOMSG.size:
                    continue
                flags = _IFINFOMSG.unpack_from(msg)[3]
                name = _string(dict(_attrs(msg, _IFINFOMSG.size)).get(IFLA_IFNAME, b""))
                if name:
                    changed[name] = mtype == RTM_NEWLINK and bool(flags & IFF_UP)

    def close(self) -> None:
        self._sock.close()


def _messages(buf: bytearray, n: int) -> Iterator[tuple[int, int, bytes]]:
    """(type, sequence number, body) of each netlink message in the first `n` bytes of `buf`."""
    off = 0
    while off + _NLMSGHDR.size <= n:
        length, mtype, _flags, mseq, _pid = _NLMSGHDR.unpack_from(buf, off)
        if length < _NLMSGHDR.size:
            return
        yield mtype, mseq, bytes(buf[off + _NLMSGHDR.size:off + length])
        off += _align(length)


def default_route_interfaces() -> frozenset[int]:
    """The ifindexes that carry a default route (IPv4 or IPv6, any table, each path of a multipath one)."""
    out: set[int] = set()
    for mtype, msg in _dump(RTM_GETROUTE, _RTMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0, 0, 0, 0, 0)):
        if mtype != RTM_NEWROUTE or len(msg) < _RTMSG.size:
            continue
        family, dst_len, _src, _tos, _table, _proto, _scope, rtype, _flags = _RTMSG.unpack_from(msg)
        if family not in (socket.AF_INET, socket.AF_INET6) or dst_len != 0 or rtype != RTN_UNICAST:
            continue
        for kind, value in _attrs(msg, _RTMSG.size):
            if kind == RTA_OIF:
                out.add(_U32.unpack_from(value)[0])
            elif kind == RTA_MULTIPATH:
                out.update(_next_hops(value))
    return frozenset(out)


def _next_hops(value: bytes) -> Iterator[int]:
    """The ifindex of each `struct rtnexthop` of an RTA_MULTIPATH attribute."""
    off = 0
    while off + _RTNEXTHOP.size <= len(value):
        length, _flags, _hops, ifindex = _RTNEXTHOP.unpack_from(value, off)
        if length < _RTNEXTHOP.size:
            return
        yield ifindex
        off += _align(length)


def _string(value: bytes) -> str:
    return value.rstrip(b"\0").decode(errors="replace")


def _align(n: int) -> int:
    return (n + 3) & ~3


def _attr(kind: int, value: bytes) -> bytes:
    length = _RTATTR.size + len(value)
    return _RTATTR.pack(length, kind) + value + b"\0" * (_align(length) - length)


def _attrs(buf: bytes, off: int) -> Iterator[tuple[int, bytes]]:
    """(type, value) of each attribute from `off` to the end of `buf`."""
    while off + _RTATTR.size <= len(buf):
        length, kind = _RTATTR.unpack_from(buf, off)
        if length < _RTATTR.size or off + length > len(buf):
            return
        yield kind & _ATTR_TYPE, buf[off + _RTATTR.size:off + length]
        off += _align(length)


def _dump(request_type: int, body: bytes) -> Iterator[tuple[int, bytes]]:
    """Send one dump request on a fresh NETLINK_ROUTE socket; (type, body) of each reply until DONE."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        seq = 1
        sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), request_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
        buf = bytearray(_BUFFER)
        while True:
            n = sock.recv_into(buf)
            for mtype, mseq, msg in _messages(buf, n):
                if mseq != seq:
                    continue
                if mtype == NLMSG_DONE:
                    return
                if mtype == NLMSG_ERROR:
                    (code,) = _ERR.unpack_from(msg)
                    if code == 0:
                        return
                    raise OSError(-code, f"rtnetlink: {errno.errorcode.get(-code, code)}")
                yield mtype, msg
