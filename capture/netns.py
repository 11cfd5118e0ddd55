"""Entering a network namespace for the current thread only.

Sockets (AF_PACKET, netlink) and files under /proc/thread-self/net belong to
the namespace of the thread that opened them, and stay there afterwards. So the
engine enters the namespace just long enough to open what it needs, then leaves:
no other thread of the process (the web server, say) ever changes namespace.
Python 3.11 has no os.setns, hence ctypes. Failing to enter is a CaptureError
naming the cause (no such namespace, or CAP_SYS_ADMIN missing), like every other
reason capture cannot start.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

from trafficmon.capture.errors import CaptureError

CLONE_NEWNET = 0x40000000
_NETNS_RUN_DIR = "/run/netns"

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def netns_path(name: str) -> str:
    """An `ip netns` name or a path (/proc/PID/ns/net) as a path."""
    return name if "/" in name else os.path.join(_NETNS_RUN_DIR, name)


def _open_target(name: str) -> int:
    """A descriptor of namespace `name`; CaptureError when there is no such namespace."""
    try:
        return os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise CaptureError(f"cannot open network namespace {name!r}: {exc.strerror or exc}") from exc


def _enter_target(fd: int, name: str) -> None:
    """setns into `fd`; CaptureError naming the capability when the kernel refuses."""
    try:
        _setns(fd)
    except OSError as exc:
        if exc.errno == errno.EPERM:
            raise CaptureError(f"entering network namespace {name!r} needs root or CAP_SYS_ADMIN") from exc
        raise CaptureError(f"cannot enter network namespace {name!r}: {exc.strerror}") from exc


@contextmanager
def entered(name: str | None) -> Iterator[None]:
    """Run the body with the calling thread inside namespace `name` (None: stay)."""
    if name is None:
        yield
        return
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = _open_target(name)
        try:
            _enter_target(target, name)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def enter(name: str | None) -> None:
    """Move the calling thread into namespace `name` for good (engine-owned threads only)."""
    if name is None:
        return
    target = _open_target(name)
    try:
        _enter_target(target, name)
    finally:
        os.close(target)
