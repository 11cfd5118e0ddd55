"""A stand-in for `capture.engine.Engine` and hand-built snapshots to feed it.

The fake has the engine's four methods and nothing else; ticks are delivered
from a separate thread, as the real engine's tick thread does, so the app's
hand-over into the event loop is exercised for real.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from trafficmon.capture import CaptureError
from trafficmon.capture.model import (
    CaptureHealth,
    Connection,
    HistoryPoint,
    InterfaceStats,
    ProcessStats,
    Snapshot,
    Totals,
    UnknownBucket,
)


SOCKET_TYPES = {"tcp": "SOCK_STREAM", "udp": "SOCK_DGRAM"}
"""A connection's seed `protocol` by its transport, as `capture.flows.socket_type` gives it."""


class FakeEngine:
    """Serves whatever snapshot it was last given; `tick` publishes one like a real tick."""

    def __init__(self, snapshot: Snapshot | None = None, *, start_error: str | None = None):
        self._snapshot = snapshot if snapshot is not None else build_snapshot(seq=0)
        self._callbacks: dict[object, Callable[[Snapshot], None]] = {}
        self._start_error = start_error
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self.started = False
        self.stopped = False

    def start(self, opened: Callable[[], None] | None = None) -> None:
        """Opens nothing and so calls no `opened` (it would drop the test process's root): keeps it to be looked at."""
        if self._start_error is not None:
            raise CaptureError(self._start_error)
        self.opened = opened
        self.started = True

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=1)
        self.stopped = True

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def subscribe(self, callback: Callable[[Snapshot], None]) -> Callable[[], None]:
        """As the engine's: each subscription its own, ended once by the call returned, however often made."""
        token = object()
        self._callbacks[token] = callback

        def unsubscribe() -> None:
            self._callbacks.pop(token, None)

        return unsubscribe

    @property
    def subscribers(self) -> int:
        return len(self._callbacks)

    def tick(self, snapshot: Snapshot) -> None:
        """Make `snapshot` the latest and call subscribers from another thread, then return."""
        self._snapshot = snapshot
        thread = threading.Thread(target=self._notify, args=(snapshot,))
        thread.start()
        thread.join()

    def _notify(self, snapshot: Snapshot) -> None:
        for callback in tuple(self._callbacks.values()):
            callback(snapshot)

    def run(self, make: Callable[[int], Snapshot], interval: float, count: int) -> None:
        """Tick `count` times every `interval` seconds in a background thread (seq 1..count)."""

        def loop() -> None:
            next_at = time.monotonic()
            for seq in range(1, count + 1):
                next_at += interval
                if self._stop.wait(max(0.0, next_at - time.monotonic())):
                    return
                snap = make(seq)
                self._snapshot = snap
                self._notify(snap)

        self._ticker = threading.Thread(target=loop, daemon=True)
        self._ticker.start()

    def join(self, timeout: float) -> None:
        if self._ticker is not None:
            self._ticker.join(timeout)


def connection(
    n: int,
    *,
    pid: int | None,
    process: str,
    protocol: str = "tcp",
    up: float = 0.0,
    down: float = 0.0,
    sent: int = 0,
    received: int = 0,
    duration: float = 10.0,
    closed: bool = False,
    now: float = 0.0,
    attribution: str | None = None,
    remote_name: str | None = None,
) -> Connection:
    return Connection(
        id=f"c{n}",
        local_addr=f"192.0.2.1:{40000 + n}",
        remote_addr=f"198.51.100.{n % 250 + 1}:443",
        protocol=SOCKET_TYPES.get(protocol, "SOCK_RAW"),
        state="ESTABLISHED" if protocol == "tcp" and not closed else "",
        process_name=process,
        pid=pid,
        upload_speed=up,
        download_speed=down,
        duration=duration,
        bytes_sent=sent,
        bytes_received=received,
        transport=protocol,
        family="ipv4",
        interface="eth0",
        packets_sent=sent // 1000,
        packets_received=received // 1000,
        cmdline=f"/usr/bin/{process}" if pid is not None else "",
        username="alice" if pid is not None else "",
        first_seen=now - duration,
        last_seen=now,
        closed=closed,
        attribution=attribution or ("socket" if pid is not None else "none"),
        remote_name=remote_name,
    )


def build_snapshot(seq: int = 1, *, now: float | None = None, running: bool = True,
                   errors: tuple[str, ...] = (), extra: int = 0) -> Snapshot:
    """A small, fully known host: curl downloading, firefox on tcp and udp, one unknown flow.

    `extra` adds that many more (idle) connections of a process "bulk", to make big frames.
    """
    now = time.time() if now is None else now
    started = now - 100.0
    conns = [
        connection(1, pid=1234, process="curl", up=100.0, down=50_000.0, sent=2_000, received=1_500_000,
                   duration=30.0, now=now, remote_name="cdn.example.net"),
        connection(2, pid=2222, process="firefox", up=3_000.0, down=20_000.0, sent=90_000, received=800_000,
                   duration=60.0, now=now),
        connection(3, pid=2222, process="firefox", protocol="udp", up=500.0, down=700.0, sent=4_000,
                   received=6_000, duration=5.0, now=now),
        connection(4, pid=None, process="unknown", protocol="udp", up=10.0, down=0.0, sent=300,
                   received=0, duration=2.0, now=now),
        connection(5, pid=1234, process="curl", up=0.0, down=0.0, sent=500, received=700,
                   duration=1.0, closed=True, now=now, attribution="listener"),
    ]
    conns += [
        connection(100 + i, pid=5000 + i, process="bulk", up=1.0, down=1.0, sent=i, received=i, now=now)
        for i in range(extra)
    ]
    # Speeds over the speed window, then over the average window (each set sums to the interface's).
    processes = (
        ProcessStats(1234, "curl", "/usr/bin/curl", "alice", 2, 100.0, 50_000.0, 80.0, 40_000.0,
                     2_500, 1_500_700),
        ProcessStats(2222, "firefox", "/usr/bin/firefox", "alice", 2, 3_500.0, 20_700.0, 3_000.0, 25_000.0,
                     94_000, 806_000),
    )
    unknown = (UnknownBucket("udp", 10.0, 0.0, 4.0, 0.0, 300, 0),)
    interfaces = (
        InterfaceStats("eth0", 3_610.0, 70_700.0, 3_084.0, 65_000.0, 96_800, 2_306_700, 500, 2_100, 1_000, 0,
                       100_000, 2_400_000, True),
        InterfaceStats("wlan0", 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0, 0, 0, 0, False, "interface is down"),
    )
    totals = Totals(3_610.0, 70_700.0, 3_084.0, 65_000.0, 96_800, 2_306_700, 500, 2_100, 1_000, 0)
    health = CaptureHealth(running, ("eth0", "wlan0"), 2_600 + seq, 2_404_500, 3, 2, 2_403_500, 300,
                           0.97, errors, flows=40_672, flow_limit=40_672, flows_folded=1_234,
                           overflow_packets=56)
    history = tuple(HistoryPoint(now - 3 + i, 1_000.0 * i, 20_000.0 * i) for i in range(3))
    return Snapshot(
        seq=seq,
        timestamp=now,
        started=started,
        interval=1.0,
        connections=tuple(conns),
        processes=processes,
        unknown=unknown,
        interfaces=interfaces,
        totals=totals,
        health=health,
        history=history,
    )


BUSY_PROCESSES = 50


def busy_host(n: int, seq: int, started: float) -> Snapshot:
    """Tick `seq` of a busy host: `n` connections of 50 processes (opened at `started`), every one moving."""
    now = time.time()
    conns = []
    for i in range(n):
        v6 = i % 3 == 0
        local = f"[2001:db8:10::{i % 7 + 1:x}]:{40000 + i}" if v6 else f"192.168.10.{i % 7 + 2}:{40000 + i}"
        remote = f"[2606:4700:{i % 97:x}::{i:x}]:443" if v6 else f"93.184.{i % 250}.{i % 199 + 1}:443"
        pid = 2000 + i % BUSY_PROCESSES
        up = 500.0 + (i * 37 + seq * 911) % 90_000 + 0.37
        down = 4_000.0 + (i * 53 + seq * 1777) % 900_000 + 0.61
        conns.append(
            Connection(
                id=f"tcp-{local}-{remote}", local_addr=local, remote_addr=remote, protocol="TCP",
                state="ESTABLISHED", process_name=f"worker-{pid % BUSY_PROCESSES}", pid=pid,
                upload_speed=up, download_speed=down, duration=600.0 + seq * 0.25 + i % 60,
                bytes_sent=int(1e6 + i * 1e4 + seq * up / 4), bytes_received=int(5e7 + i * 1e5 + seq * down / 4),
                transport="tcp", family="ipv6" if v6 else "ipv4", interface="eth0",
                packets_sent=1000 + seq * 10, packets_received=5000 + seq * 50,
                cmdline=f"/usr/lib/worker/worker-{pid % BUSY_PROCESSES} --type=renderer --id={pid} --pool=default",
                username="alice", first_seen=started - i % 60, last_seen=now, attribution="socket",
            )
        )
    procs = tuple(
        ProcessStats(pid, f"worker-{pid % BUSY_PROCESSES}", f"/usr/lib/worker/worker-{pid % BUSY_PROCESSES}", "alice",
                     n // BUSY_PROCESSES, 1e5, 1e6, 9e4, 9e5, 10**8, 10**9)
        for pid in range(2000, 2000 + BUSY_PROCESSES)
    )
    return replace(build_snapshot(seq=seq, now=now), connections=tuple(conns), processes=procs)
