"""Dropping root once the capture sockets are open (RUN_AS).

A service started as root opens every capture socket, then becomes RUN_AS
and keeps only the capabilities it still uses (`kept`); `setuid(0)` fails
from then on and the bounding set loses the rest where the process may
change it. Linux holds credentials per thread: glibc's setuid() changes
every thread's uid, but PR_SET_KEEPCAPS and capset() act on the calling
thread alone, so the drop has to happen while the process has one thread.
The engine calls it between opening its sockets and starting its threads
(`Engine.start(opened=...)`), and `drop` refuses when other threads exist.

DATA_DIR becomes RUN_AS's (the database, its journal and the credentials
are written after the drop); nothing outside it is changed.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from trafficmon.capture import CAPABILITY_BITS

log = logging.getLogger("trafficmon")

PR_CAPBSET_DROP = 24
PR_SET_KEEPCAPS = 8
PR_SET_NO_NEW_PRIVS = 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
STAY_ROOT = "root"
DEFAULT_USERS = ("trafficmon", "nobody")


class PrivilegeError(Exception):
    """Root cannot be dropped as configured; the message says why, on one line."""


@dataclass(frozen=True, slots=True)
class Account:
    """Who the service becomes."""

    name: str
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class Kept:
    """A capability kept after the drop and what the service would lose without it."""

    name: str
    why: str


def account(run_as: str | None) -> Account | None:
    """The account RUN_AS names (unset: `trafficmon` if it exists, else `nobody`); None: stay root."""
    if run_as == STAY_ROOT:
        return None
    for name in (run_as,) if run_as else DEFAULT_USERS:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
    if run_as:
        raise PrivilegeError(f"RUN_AS {run_as!r}: no such user")
    raise PrivilegeError("RUN_AS is unset and neither a trafficmon nor a nobody user exists; name one")


def kept(port: int, netns: str | None) -> tuple[Kept, ...]:
    """The capabilities the service still uses once it is not root."""
    keep = [
        Kept("CAP_NET_RAW", "re-opening a capture after its interface is re-created or comes up"),
        Kept("CAP_DAC_READ_SEARCH", "listing other users' /proc/PID/fd, to name their processes"),
        Kept("CAP_SYS_PTRACE", "reading the links in other users' /proc/PID/fd"),
    ]
    if 0 < port < 1024:
        keep.append(Kept("CAP_NET_BIND_SERVICE", f"listening on port {port}, below 1024"))
    if netns is not None:
        keep.append(Kept("CAP_SYS_ADMIN", f"entering network namespace {netns} (NETNS) from each thread"))
    return tuple(keep)


def own_data_dir(data_dir: Path, who: Account) -> None:
    """Give DATA_DIR and what it holds to `who`; what is `who`'s already is left alone (links are not followed)."""
    paths = [str(data_dir)]
    for top, dirs, files in os.walk(data_dir):
        paths.extend(os.path.join(top, name) for name in (*dirs, *files))
    for path in paths:
        status = os.lstat(path)
        if (status.st_uid, status.st_gid) != (who.uid, who.gid):
            os.lchown(path, who.uid, who.gid)


def drop(who: Account, keep: tuple[Kept, ...]) -> None:
    """Become `who`, with `keep` as the permitted and effective capabilities and nothing to regain."""
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise PrivilegeError(f"cannot drop root with {threads} threads running: capabilities are per thread")
    bits = [CAPABILITY_BITS[k.name] for k in keep]
    libc = ctypes.CDLL(None, use_errno=True)
    _shrink_bounding_set(libc, set(bits))
    _prctl(libc, PR_SET_KEEPCAPS, 1)
    os.setgroups([])
    os.setgid(who.gid)
    os.setuid(who.uid)
    _capset(libc, sum(1 << b for b in bits))
    _prctl(libc, PR_SET_KEEPCAPS, 0)
    _prctl(libc, PR_SET_NO_NEW_PRIVS, 1)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise PrivilegeError("root could be regained after the drop")
    log.info("running as %s (uid %d), keeping %s", who.name, who.uid, ", ".join(k.name for k in keep))


def _shrink_bounding_set(libc: ctypes.CDLL, keep: set[int]) -> None:
    """Drop what is not kept from the bounding set, where CAP_SETPCAP allows (a container often does not)."""
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for bit in range(last + 1):
        if bit not in keep and libc.prctl(PR_CAPBSET_DROP, bit, 0, 0, 0) != 0:
            if ctypes.get_errno() == errno.EPERM:
                return
            raise PrivilegeError(f"cannot shrink the capability bounding set: {os.strerror(ctypes.get_errno())}")


def _prctl(libc: ctypes.CDLL, option: int, value: int) -> None:
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise PrivilegeError(f"prctl({option}) failed: {os.strerror(ctypes.get_errno())}")


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _capset(libc: ctypes.CDLL, mask: int) -> None:
    """Permitted = effective = `mask`, inheritable empty, for the calling thread (capset(2), version 3)."""
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for i in range(2):
        word = mask >> (32 * i) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = word
    if libc.capset(ctypes.byref(header), data) != 0:
        raise PrivilegeError(f"cannot keep the capabilities after the drop: {os.strerror(ctypes.get_errno())}")
