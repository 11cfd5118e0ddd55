"""Socket inode -> process, through /proc/<pid>/fd, and the process's identity via psutil.

Scanning every process's descriptors is the expensive step of attribution
(nethogs does it on every unknown packet and burns a core, PERFORMANCE.md), so
`InodeOwners` looks at the processes most likely to own a new socket first and
keeps a full scan rate-limited. The inode table of a full scan is remembered,
which answers later look-ups of sockets that existed at scan time for free.
"""

from __future__ import annotations

import os
import re
import time
from collections import OrderedDict
from collections.abc import Iterable

import psutil

from trafficmon.capture.model import Owner

_SOCKET_PREFIX = "socket:["
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def readable(text: str) -> str:
    """A process's name or argument as text anyone can show and store, as `ps` shows it.

    The kernel takes any bytes but NUL in a name and any in an argument; psutil
    hands undecodable ones over as lone surrogates (surrogateescape), which no
    UTF-8 writer accepts: the store's flush, a JSON reply, a terminal. They
    become U+FFFD, and control characters "?", which is what `ps` prints.
    """
    decoded = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _CONTROL.sub("?", decoded)


def socket_inodes(pid: int) -> list[int]:
    """Inodes of the sockets `pid` holds open now (empty if it is gone or hidden)."""
    base = f"/proc/{pid}/fd"
    try:
        names = os.listdir(base)
    except OSError:
        return []
    out: list[int] = []
    for name in names:
        try:
            target = os.readlink(f"{base}/{name}")
        except OSError:
            continue
        if target.startswith(_SOCKET_PREFIX):
            out.append(int(target[8:-1]))
    return out


def all_pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


class InodeOwners:
    """Finds the PID holding a socket inode: likely processes first, full scans rate-limited."""

    def __init__(self, full_scan_interval: float = 0.05, recent: int = 32) -> None:
        self._full_scan_interval = full_scan_interval
        self._last_full = -1e9
        self._table: dict[int, int] = {}
        self._recent: OrderedDict[int, None] = OrderedDict()
        self._recent_max = recent
        self._known_pids: set[int] = set()
        self.full_scans = 0

    def note_owner(self, pid: int) -> None:
        """Remember `pid` as a likely owner of the next new sockets."""
        self._recent[pid] = None
        self._recent.move_to_end(pid)
        while len(self._recent) > self._recent_max:
            self._recent.popitem(last=False)

    def find(self, inodes: Iterable[int], hints: Iterable[int] = ()) -> dict[int, int]:
        """inode -> pid for as many of `inodes` as can be found now."""
        wanted = {i for i in inodes if i}
        found: dict[int, int] = {}
        for inode in list(wanted):
            pid = self._table.get(inode)
            if pid is not None and inode in socket_inodes(pid):
                found[inode] = pid
                wanted.discard(inode)
        if not wanted:
            return found
        checked: set[int] = set()
        for pid in [*hints, *reversed(self._recent), *self._new_pids()]:
            if pid in checked:
                continue
            checked.add(pid)
            self._match(pid, wanted, found)
            if not wanted:
                return found
        if time.monotonic() - self._last_full >= self._full_scan_interval:
            table = self.scan()
            for inode in list(wanted):
                pid = table.get(inode)
                if pid is not None:
                    found[inode] = pid
                    wanted.discard(inode)
        return found

    def scan(self) -> dict[int, int]:
        """Read every process's descriptors now: the inode -> pid table, kept for later look-ups."""
        self._last_full = time.monotonic()
        self.full_scans += 1
        table: dict[int, int] = {}
        for pid in all_pids():
            for inode in socket_inodes(pid):
                table[inode] = pid
        self._table = table
        return table

    def known(self, inode: int) -> int | None:
        """The pid the last scan saw holding `inode`, without reading /proc again."""
        return self._table.get(inode)

    def _match(self, pid: int, wanted: set[int], found: dict[int, int]) -> None:
        for inode in socket_inodes(pid):
            if inode in wanted:
                found[inode] = pid
                wanted.discard(inode)
                self._table[inode] = pid

    def _new_pids(self) -> list[int]:
        """Processes that appeared since the last call: new processes open new sockets."""
        pids = set(all_pids())
        new = pids - self._known_pids
        self._known_pids = pids
        return sorted(new, reverse=True) if len(new) < len(pids) else []


class ProcessInfo:
    """pid -> Owner, cached per process lifetime (pid and start time) so reuse is noticed."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._cache: OrderedDict[int, tuple[float, Owner]] = OrderedDict()
        self._max = max_entries

    def owner(self, pid: int) -> Owner | None:
        try:
            proc = psutil.Process(pid)
            started = proc.create_time()
        except (psutil.Error, OSError):
            return None
        cached = self._cache.get(pid)
        if cached is not None and cached[0] == started:
            return cached[1]
        try:
            with proc.oneshot():
                name = proc.name()
                try:
                    cmdline = " ".join(proc.cmdline())
                except (psutil.AccessDenied, psutil.ZombieProcess):
                    cmdline = ""
                try:
                    username = proc.username()
                except (psutil.Error, KeyError):
                    username = str(proc.uids().real)
        except (psutil.Error, OSError):
            return None
        found = Owner(
            pid=pid, name=readable(name), cmdline=readable(cmdline or name), username=readable(username)
        )
        self._cache[pid] = (started, found)
        self._cache.move_to_end(pid)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return found
