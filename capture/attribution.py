"""Flow -> socket -> process, resolved in a thread of its own the moment a flow appears.

A short download can open, move 200 kB and close within a few milliseconds,
well inside one tick: waiting for a periodic refresh (as nethogs and bandwhich
do) loses it to "unknown". So the sniffer hands every new flow key over at
once; this thread asks the kernel for that exact socket (sock_diag) while it
still exists, and finds its process among the likely owners first.

Results are kept for a while after the flow goes quiet, so late packets of a
closed connection still land on their process. Sockets are looked up only in
the namespace the resolver thread lives in.
"""

from __future__ import annotations

import heapq
import logging
import os
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import NamedTuple

from trafficmon.capture.model import Owner
from trafficmon.capture.netns import enter
from trafficmon.capture.procfs import InodeOwners, ProcessInfo
from trafficmon.capture.sockdiag import DiagSocket, SockDiag
from trafficmon.capture.synwatch import SynWatch

log = logging.getLogger(__name__)

FlowKey = tuple[int, bytes, int, bytes, int]
"""(ip protocol, local ip, local port, remote ip, remote port); ips packed."""

_SOCKET_PROTOCOLS = (socket.IPPROTO_TCP, socket.IPPROTO_UDP)
_MAX_PORT_HINTS = 65536
# A server's socket has no inode until the process accept()s it: still in its handshake, or
# already established (even half closed by the peer) but waiting in the listener's queue.
# Before the kernel has seen the SYN, or after the socket closed, an exact look-up of a TCP
# flow finds the listener itself. Look again soon, a few times, before settling for the
# listener's process.
_NOT_YET_OWN = {"LISTEN", "SYN_RECV", "NEW_SYN_RECV", "ESTABLISHED", "CLOSE_WAIT"}
_SOON = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)


class Resolution(NamedTuple):
    """Who owns a flow, and how that was established.

    `how` is "socket" when the flow's own socket was found in the process,
    "listener" when that socket was gone but the process listening on its
    local port was found, "peer" when it was gone and exactly one live process
    was seen talking to the same remote endpoint recently.
    """

    owner: Owner
    state: str
    how: str = "socket"


class Attribution:
    """Owner of each flow key, filled in by a background thread."""

    def __init__(self, netns: str | None, retry_interval: float = 1.0, keep: float = 120.0) -> None:
        self._netns = netns
        self._retry_interval = retry_interval
        self._keep = keep
        self._pending: deque[FlowKey] = deque(maxlen=100_000)
        self._soon: list[tuple[float, int, FlowKey]] = []
        self._wakefd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._poller = select.epoll()
        self._poller.register(self._wakefd, select.EPOLLIN)
        self._watches: dict[int, SynWatch] = {}
        self._stop = threading.Event()
        self._resolved: dict[FlowKey, Resolution] = {}
        self._last_try: dict[FlowKey, float] = {}
        self._left: dict[FlowKey, float] = {}
        self._port_owner: dict[tuple[int, int], int] = {}
        self._peer_owners: dict[tuple[int, bytes, int], dict[int, tuple[Owner, float]]] = {}
        self._states: dict[FlowKey, str] = {}
        self._want_states = False
        self._thread: threading.Thread | None = None
        self.lookups = 0
        self.errors = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="trafficmon-attribution", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        os.eventfd_write(self._wakefd, 1)
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self._poller.close()
        os.close(self._wakefd)

    def submit(self, keys: Iterable[FlowKey]) -> None:
        """Queue flows for look-up; called by the sniffer once per batch of frames."""
        self._pending.extend(keys)
        os.eventfd_write(self._wakefd, 1)

    def watch(self, syn: SynWatch) -> None:
        """Read this SYN watch in the attribution thread itself: no hand-over on the way."""
        self._watches[syn.fileno()] = syn
        self._poller.register(syn.fileno(), select.EPOLLIN)

    def unwatch(self, syn: SynWatch) -> None:
        if self._watches.pop(syn.fileno(), None) is not None:
            self._poller.unregister(syn.fileno())

    def owner(self, key: FlowKey) -> Resolution | None:
        return self._resolved.get(key)

    def retry(self, keys: Iterable[FlowKey]) -> None:
        """Look again at flows still unattributed, no more than once per retry interval."""
        now = time.monotonic()
        due = [k for k in keys if now - self._last_try.get(k, -1e9) >= self._retry_interval]
        if due:
            self.submit(due)

    def request_states(self) -> dict[FlowKey, str]:
        """Ask for a fresh socket-state dump; returns the previous one at once."""
        self._want_states = True
        os.eventfd_write(self._wakefd, 1)
        return self._states

    def _run(self) -> None:
        enter(self._netns)
        diag = SockDiag()
        inodes = InodeOwners()
        inodes.scan()  # listeners that exist already are known before the first connection arrives
        procs = ProcessInfo()
        try:
            while not self._stop.is_set():
                wait = 0.5 if not self._soon else max(0.0, self._soon[0][0] - time.monotonic())
                try:
                    self._step(self._poller.poll(wait), diag, inodes, procs)
                except Exception:  # one bad round must not end attribution for good
                    log.exception("attribution round failed")
                    self.errors += 1
        finally:
            diag.close()

    def _step(self, events: list[tuple[int, int]], diag: SockDiag, inodes: InodeOwners, procs: ProcessInfo) -> None:
        batch: list[FlowKey] = []
        for fd, _ev in events:
            if fd == self._wakefd:
                try:
                    os.eventfd_read(fd)
                except BlockingIOError:
                    pass
                continue
            syn = self._watches.get(fd)
            if syn is not None:
                try:
                    batch.extend(syn.read())
                except OSError:
                    self.unwatch(syn)
        while self._pending:
            batch.append(self._pending.popleft())
        now = time.monotonic()
        attempts: dict[FlowKey, int] = {}
        while self._soon and self._soon[0][0] <= now:
            _due, attempt, key = heapq.heappop(self._soon)
            attempts[key] = attempt
            batch.append(key)
        if batch:
            self._resolve(batch, diag, inodes, procs, attempts)
        if self._want_states:
            self._want_states = False
            self._states = self._dump_states(diag)

    def _resolve(self, batch: list[FlowKey], diag: SockDiag, inodes: InodeOwners, procs: ProcessInfo,
                 attempts: dict[FlowKey, int]) -> None:
        now = time.monotonic()
        found: dict[FlowKey, DiagSocket] = {}
        gone: dict[FlowKey, str] = {}
        for key in dict.fromkeys(batch):
            if key in self._resolved or key[0] not in _SOCKET_PROTOCOLS:
                continue
            self._last_try[key] = now
            self.lookups += 1
            try:
                sock = diag.lookup(*key)
            except OSError as exc:
                self.errors += 1
                log.debug("sock_diag lookup failed: %s", exc)
                continue
            listener = sock is not None and sock.state_name == "LISTEN"
            if sock is not None and sock.inode and not listener:
                found[key] = sock
            elif sock is None or sock.state_name not in _NOT_YET_OWN or not self._later(key, attempts, now):
                gone[key] = "CLOSED" if sock is None or listener else sock.state_name
        if found:
            hints = [self._port_hint(k, diag, inodes) for k in found]
            pids = inodes.find((s.inode for s in found.values()), [h for h in hints if h is not None])
            for key, sock in found.items():
                owner = procs.owner(pids[sock.inode]) if sock.inode in pids else None
                if owner is None:
                    # accept() numbers the socket's inode before its descriptor lands in /proc/PID/fd.
                    if not self._later(key, attempts, now):
                        gone[key] = sock.state_name
                    continue
                inodes.note_owner(owner.pid)
                self._remember(key, owner, now)
                self._resolved[key] = Resolution(owner, sock.state_name)
        for key, state in gone.items():
            fallback = self._by_listener(key, diag, inodes, procs) or self._by_peer(key, now, procs)
            if fallback is not None:
                self._resolved[key] = Resolution(fallback[0], state, fallback[1])

    def _port_hint(self, key: FlowKey, diag: SockDiag, inodes: InodeOwners) -> int | None:
        """The process most likely to hold the socket of `key`: the last owner of its local port,
        else the process listening on that port (an accepted socket's owner, almost always).

        Checked before any full scan of /proc, which takes milliseconds: long enough for a
        short connection's server to accept, answer and close the socket meanwhile.
        """
        pid = self._port_owner.get((key[0], key[2]))
        if pid is not None:
            return pid
        listener = _listener(key, diag)
        return inodes.known(listener.inode) if listener is not None else None

    def _later(self, key: FlowKey, attempts: dict[FlowKey, int], now: float) -> bool:
        """Schedule another look-up of `key` soon, unless its attempts are used up."""
        attempt = attempts.get(key, 0)
        if attempt >= len(_SOON):
            return False
        heapq.heappush(self._soon, (now + _SOON[attempt], attempt + 1, key))
        return True

    def _remember(self, key: FlowKey, owner: Owner, now: float) -> None:
        """Note who owned a socket, as hints and for the fallbacks of sockets found too late."""
        if len(self._port_owner) > _MAX_PORT_HINTS:
            self._port_owner.clear()
        self._port_owner[(key[0], key[2])] = owner.pid
        if len(self._peer_owners) > _MAX_PORT_HINTS:
            self._peer_owners.clear()
        self._peer_owners.setdefault((key[0], key[3], key[4]), {})[owner.pid] = (owner, now)

    def _by_listener(self, key: FlowKey, diag: SockDiag, inodes: InodeOwners,
                     procs: ProcessInfo) -> tuple[Owner, str] | None:
        """The process listening on the flow's local port: a server's connection that already closed."""
        listener = _listener(key, diag)
        if listener is None:
            return None
        pid = inodes.find([listener.inode], [self._port_owner.get((key[0], key[2]), 0)]).get(listener.inode)
        owner = procs.owner(pid) if pid is not None else None
        return (owner, "listener") if owner is not None else None

    def _by_peer(self, key: FlowKey, now: float, procs: ProcessInfo) -> tuple[Owner, str] | None:
        """The one live process seen talking to the same remote endpoint within the keep time."""
        seen = self._peer_owners.get((key[0], key[3], key[4]))
        if not seen:
            return None
        recent = [owner for owner, t in seen.values() if now - t <= self._keep]
        if len(recent) != 1 or procs.owner(recent[0].pid) != recent[0]:
            return None
        return recent[0], "peer"

    def _dump_states(self, diag: SockDiag) -> dict[FlowKey, str]:
        states: dict[FlowKey, str] = {}
        for proto in _SOCKET_PROTOCOLS:
            try:
                sockets = diag.dump(proto)
            except OSError as exc:
                log.debug("sock_diag dump failed: %s", exc)
                continue
            for s in sockets:
                if s.remote_port:
                    states[(proto, s.local_ip, s.local_port, s.remote_ip, s.remote_port)] = s.state_name
        return states

    def expire(self, active: set[FlowKey]) -> None:
        """Forget owners of flows that left `active` longer than the keep time ago.

        The keep time runs from when the flow left the tracker, not from its
        look-up: a connection that lived longer than that must still find its
        process when a late packet arrives just after it closed.
        """
        now = time.monotonic()
        left = self._left
        for key in list(self._last_try):
            if key in active:
                left.pop(key, None)
            elif now - left.setdefault(key, now) > self._keep:
                del self._last_try[key]
                del left[key]
                self._resolved.pop(key, None)


def _listener(key: FlowKey, diag: SockDiag) -> DiagSocket | None:
    """The socket listening on the local port of TCP flow `key`, if any."""
    if key[0] != socket.IPPROTO_TCP:
        return None
    try:
        listener = diag.lookup(key[0], key[1], key[2], bytes(len(key[1])), 0)
    except OSError:
        return None
    if listener is None or listener.state_name != "LISTEN" or not listener.inode:
        return None
    return listener
