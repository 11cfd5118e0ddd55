"""The capture engine: one sniffer thread, one attribution thread, one tick thread.

The sniffer only parses frames and adds bytes into a dict (no per-packet lock,
no per-packet queue); once per tick the tick thread swaps that dict out under a
lock taken per batch of frames, turns it into connection records and publishes
an immutable `Snapshot`. All engine threads live in the network namespace being
captured, so every socket, netlink and /proc/thread-self look-up answers for it.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace

from trafficmon.capture.attribution import Attribution, FlowKey
from trafficmon.capture.config import EngineConfig
from trafficmon.capture.coverage import CoverageWindow, late_frames
from trafficmon.capture.errors import CaptureError
from trafficmon.capture.counting import count_frames
from trafficmon.capture.flows import BYTES_PER_FLOW, Tracker
from trafficmon.capture.ifreq import interface_speed_bps
from trafficmon.capture.interface_capture import InterfaceCapture
from trafficmon.capture.interfaces import default_interfaces, list_interfaces, local_addresses
from trafficmon.capture.model import CaptureHealth, HistoryPoint, InterfaceStats, Snapshot, Totals
from trafficmon.capture.host import CounterSource, Host, SourceFactory
from trafficmon.capture.names import Names
from trafficmon.capture.netdev import CounterReader, KernelCounters
from trafficmon.capture.netns import enter, entered
from trafficmon.capture.outages import Outages
from trafficmon.capture.parse import Parser
from trafficmon.capture.rtnetlink import LinkEvents
from trafficmon.capture.slots import CAPTURED_BYTES, FWD_B, IFACE_SLOTS, IN_B, IN_P, LOCAL_B, OUT_B, OUT_P
from trafficmon.capture.sources import FrameSource, open_source
from trafficmon.capture.synwatch import SynWatch

log = logging.getLogger(__name__)

_INTERFACE_RESCAN_TICKS = 5
_STOP_POLL = 0.2
"""Longest the tick thread waits on link events before it looks whether it is told to stop."""


class Engine:
    """Captures, attributes and publishes; `start()` opens every capture socket up front.

    Frames come from `open_source` and the kernel facts from `host` (`capture.host`: live by default).
    """

    def __init__(self, config: EngineConfig, *, open_source: SourceFactory = open_source,
                 host: Host | None = None) -> None:
        self.config = config
        self._open_source = open_source
        self._host = host or Host(list_interfaces, local_addresses, CounterReader, interface_speed_bps)
        self._parser = Parser()
        self._lock = threading.Lock()
        self._flows: dict[FlowKey, list] = {}
        self._local: frozenset[bytes] = frozenset()
        self._captures: dict[str, InterfaceCapture] = {}
        self._added: deque[InterfaceCapture] = deque()
        self._outages = Outages()
        self._rescan_error: str | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._attribution = Attribution(config.netns)
        self._names = (
            Names(workers=config.resolve_workers, max_pending=config.resolve_queue, max_entries=config.resolve_cache)
            if config.resolve_names else None
        )
        self._tracker = Tracker(config.speed_window, config.linger, config.idle_timeout, config.average_window,
                                names=self._names.name if self._names else None,
                                flow_limit=max(1, config.flow_memory_bytes // BYTES_PER_FLOW))
        self._tick_flows = min(config.max_flows, self._tracker.flow_limit or config.max_flows)
        """Distinct flows one tick adds up at most: no more than the table keeps, so that a flood's
        new flows cannot grow the tick's own dicts (and the tracker before it folds) past the bound."""
        self._new_flows = 0
        """New flows in the tick's dict so far (under the lock): once the table is full, a tick takes
        only `_room()` of them, so a flood spread over ticks holds at most an eighth more than the bound."""
        self._folded_seen = 0
        self._folding_since: int | None = None
        """Flows folded and packets overflowed when folding began (None: not folding): a flood is logged once."""
        self._subscribers: dict[object, Callable[[Snapshot], None]] = {}
        self._history: deque[HistoryPoint] = deque(maxlen=max(1, round(config.history_length / config.update_interval)))
        self._coverage = CoverageWindow(round(config.coverage_window / config.update_interval))
        self._packets = 0
        self._bytes = 0
        self._drops = 0
        self._last_drop: float | None = None
        self._started = time.time()
        self._snapshot = Snapshot(seq=0, timestamp=self._started, started=self._started, interval=config.update_interval)

    # -- public face ------------------------------------------------------

    def start(self, opened: Callable[[], None] | None = None) -> None:
        """Open all capture sockets now (as root), call `opened`, then start the threads.

        `opened` runs while the process still has one thread: the moment a
        service can drop root and keep capabilities, which Linux holds per
        thread. Raises CaptureError naming the cause when capture cannot run at all.
        """
        with entered(self.config.netns):
            self._local = self._host.addresses()
            names = list(self.config.interfaces) or default_interfaces()
            existing = {i.name: i for i in self._host.interfaces()}
            missing = [n for n in names if n not in existing]
            if missing:
                raise CaptureError(f"no such interface: {', '.join(missing)}")
            try:
                for name in names:
                    cap = InterfaceCapture(name, self.config, existing[name].loopback)
                    self._open(cap)
                    self._captures[name] = cap
            except BaseException:
                for cap in self._captures.values():
                    self._close(cap)
                raise
            kernel = self._host.counters()
            try:
                for name, counters in kernel.read().items():
                    if name in self._captures:
                        self._captures[name].kernel.add(counters, 0.0)
                        self._captures[name].measured = True
            finally:
                kernel.close()
        if opened is not None:
            opened()
        self._started = time.time()
        # Until the first tick, say at least what is being captured.
        self._snapshot = replace(
            self._snapshot, started=self._started, timestamp=self._started,
            health=replace(self._snapshot.health, running=True, interfaces=tuple(self._captures)),
        )
        self._attribution.start()
        if self._names is not None:
            self._names.start()
        for target, name in ((self._sniff, "sniffer"), (self._ticker, "tick")):
            t = threading.Thread(target=target, name=f"trafficmon-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=1.0)
        for cap in self._captures.values():
            self._close(cap)
        self._attribution.stop()
        if self._names is not None:
            self._names.stop()

    def _open(self, cap: InterfaceCapture) -> None:
        """Open the capture source of `cap` and its SYN watch (a hint only: may fail alone)."""
        cap.source = self._open_source(cap.name, self.config)
        cap.kernel.speed_bps = self._host.speed_bps(cap.name)
        try:
            cap.syn = SynWatch(cap.name, cap.source.linktype)
        except (CaptureError, OSError) as exc:
            log.warning("no SYN watch on %s, short connections may stay unattributed: %s", cap.name, exc)
            return
        self._attribution.watch(cap.syn)

    def _close(self, cap: InterfaceCapture) -> None:
        if cap.syn is not None:
            self._attribution.unwatch(cap.syn)
            cap.syn.close()
        if cap.source is not None:
            cap.source.close()
        cap.source = cap.syn = None

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def subscribe(self, callback: Callable[[Snapshot], None]) -> Callable[[], None]:
        """Call `callback(snapshot)` from the tick thread after every tick, until the call returned is made.

        Each subscription is its own, the same callback twice included; ending one twice ends it once.
        """
        token = object()
        self._subscribers[token] = callback

        def unsubscribe() -> None:
            self._subscribers.pop(token, None)

        return unsubscribe

    # -- sniffer thread ---------------------------------------------------

    def _sniff(self) -> None:
        enter(self.config.netns)
        poller = select.epoll()
        by_fd: dict[int, InterfaceCapture] = {}
        for cap in self._captures.values():
            self._added.append(cap)
        try:
            while not self._stop.is_set():
                while self._added:
                    cap = self._added.popleft()
                    if cap.source is not None:
                        by_fd[cap.source.fileno()] = cap
                        poller.register(cap.source.fileno(), select.EPOLLIN)
                for fd, _ev in poller.poll(0.2):
                    ready = by_fd.get(fd)
                    if ready is None or ready.source is None:
                        continue
                    try:
                        self._drain(ready, ready.source)
                    except OSError as exc:
                        poller.unregister(fd)
                        del by_fd[fd]
                        self._fail(ready, f"capture on {ready.name} failed: {exc.strerror or exc}")
        finally:
            poller.close()

    def _drain(self, cap: InterfaceCapture, source: FrameSource) -> None:
        """Parse everything the source has ready into the flow dict."""
        frames = source.read()
        if not frames:
            return
        with self._lock:
            new = count_frames(frames, self._parser.parse, source.linktype, self._local, cap.counters, cap.name,
                               self._flows, self._tick_flows, self._room() - self._new_flows)
            self._new_flows += len(new)
        if new:
            self._attribution.submit(new)

    def _room(self) -> int:
        """New flows a tick may add: what the table has free, and at least an eighth of it.

        The tracker creates a tick's new flows before it folds the excess, so
        while the table is full every new flow briefly costs a second one; an
        eighth keeps that within the bound's margin and still lets new
        connections in (the least valuable flows are folded for them).
        """
        limit = self._tracker.flow_limit
        if limit is None:
            return self._tick_flows
        return max(limit - len(self._tracker.conns), limit // 8, 1)

    # -- tick thread ------------------------------------------------------

    def _ticker(self) -> None:
        enter(self.config.netns)
        kernel = self._host.counters()
        events = self._link_events()
        interval = self.config.update_interval
        last = time.monotonic()
        due = last + interval
        ticks = 0
        try:
            while not self._wait(due, events):
                now = time.monotonic()
                due = max(due + interval, now + interval / 10)
                ticks += 1
                try:
                    self._tick(now - last, now, kernel, rescan=ticks % _INTERFACE_RESCAN_TICKS == 0)
                except Exception:  # a bad tick must not stop publishing
                    log.exception("tick failed")
                last = now
        finally:
            kernel.close()
            if events is not None:
                events.close()

    @staticmethod
    def _link_events() -> LinkEvents | None:
        """The namespace's link notifications, or None (re-opens then wait for back-off and rescans)."""
        try:
            return LinkEvents()
        except OSError as exc:
            log.warning("cannot follow link events (%s); a lost interface is re-opened on a back-off", exc)
            return None

    def _wait(self, until: float, events: LinkEvents | None) -> bool:
        """Sleep until `until` (monotonic), acting on link events meanwhile; True when told to stop."""
        while not self._stop.is_set():
            remaining = until - time.monotonic()
            if remaining <= 0:
                return False
            if events is None:
                return self._stop.wait(remaining)
            ready, _, _ = select.select([events], [], [], min(remaining, _STOP_POLL))
            if ready:
                try:
                    self._on_link_events(events)
                except Exception:  # a bad event must not stop the ticks
                    log.exception("handling link events failed")
        return True

    def _on_link_events(self, events: LinkEvents) -> None:
        """An interface that is back is re-opened now, not at the end of its back-off."""
        changed, lost = events.read()
        mono = time.monotonic()
        due = False
        for cap in self._captures.values():
            if cap.source is None and (lost or changed.get(cap.name)):
                cap.retry_at = mono
                cap.failures = 0
                due = True
        appeared = any(up and name not in self._captures for name, up in changed.items())
        if due or lost or appeared:
            self._maintain_captures(mono, rescan=lost or appeared)

    def _tick(self, dt: float, mono: float, kernel: CounterSource, rescan: bool) -> None:
        wall = time.time()
        with self._lock:
            deltas, self._flows = self._flows, {}
            self._new_flows = 0
        self._local = self._host.addresses()
        self._maintain_captures(mono, rescan)
        states = self._attribution.request_states()
        result = self._tracker.tick(deltas, dt, wall, mono, self._attribution, states)
        self._log_folding()
        drops = self._drops
        interfaces, totals, coverage = self._interfaces(dt, kernel.read())
        if self._drops > drops:
            self._last_drop = wall
        errors: list[str] = []
        for cap in self._captures.values():
            error = cap.error
            if error is not None:
                errors.append(error)
                cap.shown = True
        if not self._captures:
            errors.append("no interface to capture on: none is up, apart from loopback and container "
                          "plumbing (bridges, veth host ends), which are captured only when named")
        health = CaptureHealth(
            running=any(c.source is not None for c in self._captures.values()),
            interfaces=tuple(self._captures),
            packets=self._packets,
            bytes=self._bytes,
            kernel_drops=self._drops,
            malformed=self._parser.malformed,
            bytes_attributed=result.bytes_attributed,
            bytes_unknown=result.bytes_unknown,
            coverage=coverage,
            errors=tuple(errors),
            truncated=self._parser.truncated,
            last_drop=self._last_drop,
            gaps=self._outages.gaps(self._captures),
            flows=len(self._tracker.conns),
            flow_limit=self._tracker.flow_limit or 0,
            flows_folded=self._tracker.folded,
            overflow_packets=self._tracker.overflow_packets,
        )
        self._history.append(HistoryPoint(wall, totals.upload_speed, totals.download_speed))
        snap = Snapshot(
            seq=self._snapshot.seq + 1,
            timestamp=wall,
            started=self._started,
            interval=self.config.update_interval,
            connections=result.connections,
            processes=result.processes,
            unknown=result.unknown,
            interfaces=interfaces,
            totals=totals,
            health=health,
            history=tuple(self._history),
            usage=result.usage,
        )
        self._snapshot = snap
        for callback in tuple(self._subscribers.values()):
            try:
                callback(snap)
            except Exception:
                log.exception("snapshot subscriber failed")

    def _log_folding(self) -> None:
        """Say when the flow table reaches its bound, and how many flows were folded once it is below again."""
        tracker = self._tracker
        limit = tracker.flow_limit or 0
        folded_now = tracker.folded + tracker.overflow_packets
        if self._folding_since is None and folded_now > self._folded_seen:
            self._folding_since = self._folded_seen
            log.warning("more flows than the flow bound keeps (%d flows: FLOW_MEMORY_BYTES=%d, at most %d new "
                        "a tick): folding the least active into their process and unknown totals",
                        limit, self.config.flow_memory_bytes, self._tick_flows)
        elif self._folding_since is not None and folded_now == self._folded_seen and len(tracker.conns) < limit:
            log.warning("the flow table is below its bound again: %d flows (or packets of new flows) folded",
                        folded_now - self._folding_since)
            self._folding_since = None
        self._folded_seen = folded_now

    def _interfaces(self, dt: float, kernel: Mapping[str, KernelCounters]) -> tuple[tuple[InterfaceStats, ...], Totals, float | None]:
        """Per-interface figures, totals, and coverage over the last `coverage_window`.

        Coverage compares only interfaces whose capture was open through the
        whole tick (`CoverageWindow` says why over a window).
        """
        out: list[InterfaceStats] = []
        sums = [0] * IFACE_SLOTS
        speed = [0.0, 0.0, 0.0, 0.0]  # upload, download; over the speed window, then the average window
        captured_delta = kernel_delta = 0
        for cap in self._captures.values():
            now = list(cap.counters)
            delta = [a - b for a, b in zip(now, cap.rate_prev)]
            cap.rate_prev = now
            source = cap.source  # the sniffer thread may close it meanwhile: then stats() fails
            if source is not None:
                try:
                    self._drops += source.stats()[1]
                except OSError:
                    pass
            cap.rate.add(dt, delta[OUT_B], delta[IN_B])
            cap.average.add(dt, delta[OUT_B], delta[IN_B])
            up_s, down_s = cap.rate.upload, cap.rate.download
            up_avg, down_avg = cap.average.upload, cap.average.download
            speed[0] += up_s
            speed[1] += down_s
            speed[2] += up_avg
            speed[3] += down_avg
            nbytes = sum(delta[i] for i in CAPTURED_BYTES)
            self._packets += sum(delta[i + 1] for i in CAPTURED_BYTES)
            self._bytes += nbytes
            moved = cap.kernel.add(kernel.get(cap.name), dt)
            opening, cap.opening = cap.opening, None
            if moved is not None and source is not None:
                if not cap.measured:
                    cap.opening = (nbytes, moved)
                else:
                    kernel_delta += moved + (late_frames(opening, (nbytes, moved)) if opening else 0)
                    captured_delta += nbytes
            cap.measured = source is not None
            for i in range(IFACE_SLOTS):
                sums[i] += now[i]
            out.append(InterfaceStats(
                name=cap.name, upload_speed=up_s, download_speed=down_s,
                average_upload_speed=up_avg, average_download_speed=down_avg,
                bytes_sent=now[OUT_B], bytes_received=now[IN_B],
                packets_sent=now[OUT_P], packets_received=now[IN_P],
                local_bytes=now[LOCAL_B], forwarded_bytes=now[FWD_B],
                kernel_bytes_sent=cap.kernel.sent, kernel_bytes_received=cap.kernel.received,
                up=source is not None, error=cap.error,
            ))
        totals = Totals(*speed, sums[OUT_B], sums[IN_B], sums[OUT_P], sums[IN_P], sums[LOCAL_B], sums[FWD_B])
        coverage = self._coverage.add(captured_delta, kernel_delta)
        return tuple(out), totals, coverage

    def _fail(self, cap: InterfaceCapture, message: str) -> None:
        """Record a capture failure; the tick thread re-opens with back-off.

        Logged once per outage, not on every re-open retry or rescan
        (`Outages`): health carries the current error meanwhile.
        """
        self._outages.failed(cap.name, message, time.time())
        cap.failed(message, time.monotonic())
        self._close(cap)

    def _present(self) -> list[str] | None:
        """The default interfaces now; None (and the reason logged once) when they cannot be listed."""
        try:
            present = default_interfaces()
        except CaptureError as exc:
            if self._rescan_error != str(exc):
                log.warning("%s; keeping the interfaces captured so far", exc)
            self._rescan_error = str(exc)
            return None
        self._rescan_error = None
        return present

    def _maintain_captures(self, mono: float, rescan: bool) -> None:
        """Re-open failed captures when due; follow interfaces coming and going by default."""
        present = self._present() if rescan and not self.config.interfaces else None
        if present is not None:
            for name in present:
                if name not in self._captures:
                    self._captures[name] = InterfaceCapture(name, self.config)
                    self._captures[name].retry_at = mono
            for name, cap in list(self._captures.items()):
                # Gone for good, and why it stopped was published: stop watching it.
                if cap.source is None and cap.shown and name not in present:
                    del self._captures[name]
        for cap in list(self._captures.values()):
            if cap.source is not None or mono < cap.retry_at:
                continue
            try:
                self._open(cap)
            except (CaptureError, OSError) as exc:  # OSError: the interface vanished while opening
                self._fail(cap, str(exc))
                continue
            self._outages.resumed(cap.name, time.time())
            cap.reopened()
            self._added.append(cap)
