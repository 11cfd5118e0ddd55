"""The kernel's interface byte counters, and telling traffic from counter resets.

Period totals come from these counters, like vnStat's: they are exact, cost
nothing, and keep counting while trafficmon is stopped, so bytes moved during a
restart are counted when it comes back — as long as the machine stayed up.
`CounterTracker` turns successive readings into bytes moved, and handles in one
place everything that makes a counter go backwards or leap (one counter's
step is told by `capture.interface_steps`, the rule the engine's kernel bytes
follow too):

- reboot (the boot id changed): counters restarted at zero, so the values read
  are the bytes moved since boot; bytes of the old boot after the last reading
  are unknowable and lost;
- an interface re-created (a counter went down in the same boot): a new
  baseline, and its current values are the bytes since it came back;
- a 32-bit counter wrapped (only when the counters are 32 bits wide): the step
  across 2^32 is traffic;
- a step larger than the link could have carried since the last reading: a
  reset, not traffic (vnStat users saw multi-GB phantom spikes from exactly
  this), so nothing is counted and the new values become the baseline.

Time between readings is measured on CLOCK_BOOTTIME, which keeps running during
suspend and is immune to wall-clock changes. When the wall clock was stepped
between two readings (forward or back), the bytes are booked to the last
boot-clock interval before the reading, in the new wall time: not spread over
a jump of days they did not take, and never counted twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import psutil

from trafficmon.capture import interface_steps, plausible_bytes, read_net_dev
from trafficmon.state.links import LinkFacts, SysfsLinks

CLOCK_STEP_SECONDS = 2.0
"""The wall clock moved this much more (or less) than the boot clock between two readings: it was
stepped (NTP, an operator, a VM resumed), and the bytes are booked to the boot clock's interval."""
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True, slots=True)
class InterfaceCounters:
    """One interface's kernel byte counters, with its link speed when the driver reports one."""

    bytes_sent: int
    bytes_recv: int
    speed_bps: float | None = None


@dataclass(frozen=True, slots=True)
class CounterReading:
    """The monitored interfaces' counters at one moment.

    `boot_id` changes at every boot; `uptime` is seconds since boot on a clock
    that counts suspend (CLOCK_BOOTTIME).
    """

    interfaces: Mapping[str, InterfaceCounters]
    boot_id: str
    uptime: float


CounterSource = Callable[[], CounterReading]
"""Anything that reads the counters now; `SystemCounters` is the real one."""


def _raw_per_nic() -> Mapping[str, Any]:
    """psutil's per-NIC counters (objects with bytes_sent/bytes_recv), unadjusted."""
    return psutil.net_io_counters(pernic=True, nowrap=False)


class ProcNetDev:
    """Per-NIC byte counters from an open `/proc/.../net/dev` file, for `SystemCounters`.

    A file opened inside a network namespace answers for that namespace
    (`capture.read_net_dev`), so this reads the counters of a namespace being
    captured. The caller owns the file.
    """

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    def __call__(self) -> dict[str, InterfaceCounters]:
        return {
            name: InterfaceCounters(bytes_sent=kernel.tx_bytes, bytes_recv=kernel.rx_bytes)
            for name, kernel in read_net_dev(self._file).items()
        }


class SystemCounters:
    """The default counter source: the kernel's per-NIC counters, raw.

    psutil's own wrap handling is switched off (`nowrap=False`): it would add
    the previous value whenever a counter goes down, which turns a 32-bit wrap
    into lost bytes and hides resets from the plausibility check. `links`,
    `boot_id_path` and `per_nic` say where the facts come from: a made-up host
    in tests, or a monitored network namespace (`ProcNetDev` and
    `state.links.SocketLinks` bound to it).

    Without an interface list the monitored interfaces are those backed by a
    device (a /sys/class/net/<if>/device link: physical and virtual machine
    NICs), or every non-loopback interface when none is (or when that cannot
    be told). Bridges, veths, tunnels and VLANs carry traffic that also crosses
    a device-backed interface; counting them too would count container or VPN
    traffic twice or three times against the cap.
    """

    def __init__(
        self,
        interfaces: tuple[str, ...] = (),
        *,
        links: LinkFacts | None = None,
        boot_id_path: Path = BOOT_ID,
        per_nic: Callable[[], Mapping[str, Any]] = _raw_per_nic,
    ) -> None:
        self._named = interfaces
        self._links = links if links is not None else SysfsLinks()
        self._boot_id_path = boot_id_path
        self._per_nic = per_nic

    def __call__(self) -> CounterReading:
        pernic = self._per_nic()
        chosen = self._chosen(list(pernic))
        interfaces = {
            name: InterfaceCounters(
                pernic[name].bytes_sent, pernic[name].bytes_recv, self._links.speed_bps(name)
            )
            for name in chosen
        }
        return CounterReading(interfaces, self._boot_id(), _uptime())

    def _chosen(self, present: list[str]) -> list[str]:
        if self._named:
            return [name for name in self._named if name in present]
        candidates = [name for name in present if not self._links.is_loopback(name)]
        backed = [name for name in candidates if self._links.has_device(name)]
        return backed or candidates

    def _boot_id(self) -> str:
        try:
            return self._boot_id_path.read_text().strip()
        except OSError:
            return f"boot-time:{int(psutil.boot_time())}"


def _uptime() -> float:
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(boottime) if boottime is not None else time.monotonic()


@dataclass(frozen=True, slots=True)
class CounterEvent:
    """Something the tracker noticed about the counters, for the log and the status page.

    `kind` is one of: first (counting starts), selection (the configured
    interfaces changed: counting restarts), reboot, reset, wrap, implausible,
    new (an interface appeared), gone (an interface disappeared), clock (the
    wall clock was stepped between two readings).
    """

    time: float
    interface: str
    kind: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "interface": self.interface,
            "kind": self.kind,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class CounterDelta:
    """Bytes moved since the previous reading, and from when they may have moved.

    `since` is the wall-clock time the bytes started accruing (the previous
    reading, or the boot when that was later); None when nothing could be
    counted (first reading).
    """

    sent: int
    recv: int
    since: float | None
    events: tuple[CounterEvent, ...]


@dataclass(frozen=True, slots=True)
class Baseline:
    """The last reading the tracker counted from; persisted so restarts count downtime bytes."""

    boot_id: str
    uptime: float
    time: float
    interfaces: Mapping[str, tuple[int, int]]
    selection: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "boot_id": self.boot_id,
            "uptime": self.uptime,
            "time": self.time,
            "interfaces": {name: list(values) for name, values in self.interfaces.items()},
            "selection": list(self.selection),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Baseline:
        """Rebuild a persisted baseline; ValueError when it is not one."""
        try:
            interfaces = {
                str(name): (int(values[0]), int(values[1]))
                for name, values in data["interfaces"].items()
            }
            return cls(
                boot_id=str(data["boot_id"]),
                uptime=float(data["uptime"]),
                time=float(data["time"]),
                interfaces=interfaces,
                selection=tuple(str(name) for name in data["selection"]),
            )
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ValueError(f"not a counter baseline: {exc!r}") from None


class CounterTracker:
    """Turns successive counter readings into bytes moved (see the module docstring).

    Not thread-safe: the accountant calls it under its lock.
    """

    def __init__(
        self,
        *,
        selection: tuple[str, ...],
        fallback_speed_bps: float,
        counter_bits: int,
        baseline: Baseline | None = None,
    ) -> None:
        self._selection = selection
        self.fallback_speed_bps = fallback_speed_bps
        self._bits = counter_bits
        self._pending: list[CounterEvent] = []
        if baseline is not None and baseline.selection != selection:
            self._pending.append(
                CounterEvent(
                    baseline.time,
                    "",
                    "selection",
                    f"interfaces changed from {list(baseline.selection) or 'automatic'} to "
                    f"{list(selection) or 'automatic'}; counting restarts from the next reading",
                )
            )
            baseline = None
        self._baseline = baseline

    @property
    def baseline(self) -> Baseline | None:
        """The reading the next delta is counted from."""
        return self._baseline

    def advance(self, reading: CounterReading, now: float) -> CounterDelta:
        """Count the bytes moved since the previous reading; `now` is the wall clock."""
        events, self._pending = self._pending, []
        previous = self._baseline
        self._baseline = Baseline(
            reading.boot_id,
            reading.uptime,
            now,
            {name: (c.bytes_sent, c.bytes_recv) for name, c in reading.interfaces.items()},
            self._selection,
        )
        if previous is None:
            events.append(
                CounterEvent(now, "", "first", "counting starts from the current counter values")
            )
            return CounterDelta(0, 0, None, tuple(events))
        rebooted = reading.boot_id != previous.boot_id or reading.uptime < previous.uptime
        if rebooted:
            elapsed = reading.uptime
            since = max(previous.time, now - reading.uptime)
            events.append(
                CounterEvent(
                    now,
                    "",
                    "reboot",
                    f"machine rebooted {reading.uptime:.0f} s ago; counting the bytes since boot",
                )
            )
            known: Mapping[str, tuple[int, int]] = {}
        else:
            elapsed = reading.uptime - previous.uptime
            since = previous.time
            known = previous.interfaces
            stepped = (now - previous.time) - elapsed
            if abs(stepped) > CLOCK_STEP_SECONDS:
                since = now - elapsed
                events.append(
                    CounterEvent(
                        now,
                        "",
                        "clock",
                        f"the wall clock was stepped {'forward' if stepped > 0 else 'back'} by {abs(stepped):.0f} s"
                        f" since the last reading; the bytes are booked to the last {elapsed:.0f} s",
                    )
                )
        sent = recv = 0
        for name, counters in reading.interfaces.items():
            limit = self._limit(counters, elapsed)
            old = known.get(name)
            if old is None:
                step = self._fresh(name, counters, limit, now, announce=not rebooted)
            else:
                step = self._step(name, old, counters, limit, now)
            sent += step[0]
            recv += step[1]
            events.extend(step[2])
        for name in sorted(set(known) - set(reading.interfaces)):
            events.append(CounterEvent(now, name, "gone", "interface disappeared"))
        return CounterDelta(sent, recv, since, tuple(events))

    def _limit(self, counters: InterfaceCounters, elapsed: float) -> float:
        """The most bytes one direction of the link could have carried in `elapsed` seconds."""
        return plausible_bytes(counters.speed_bps or self.fallback_speed_bps, elapsed)

    def _fresh(
        self, name: str, counters: InterfaceCounters, limit: float, now: float, *, announce: bool
    ) -> tuple[int, int, list[CounterEvent]]:
        """Counters that started after the previous reading: their values are new traffic."""
        events = []
        if announce:
            events.append(CounterEvent(now, name, "new", "interface appeared"))
        if counters.bytes_sent > limit or counters.bytes_recv > limit:
            events.append(
                CounterEvent(
                    now,
                    name,
                    "implausible",
                    f"counters {counters.bytes_sent}/{counters.bytes_recv} exceed what the link "
                    f"could carry ({limit:.0f} bytes); taken as the new baseline",
                )
            )
            return 0, 0, events
        return counters.bytes_sent, counters.bytes_recv, events

    def _step(
        self,
        name: str,
        old: tuple[int, int],
        counters: InterfaceCounters,
        limit: float,
        now: float,
    ) -> tuple[int, int, list[CounterEvent]]:
        (sent, sent_kind), (recv, recv_kind) = interface_steps(
            old, (counters.bytes_sent, counters.bytes_recv), bits=self._bits, limit=limit
        )
        kinds = (sent_kind, recv_kind)
        if "reset" in kinds:
            event = CounterEvent(
                now,
                name,
                "reset",
                f"counters went from {old[0]}/{old[1]} to "
                f"{counters.bytes_sent}/{counters.bytes_recv}: interface re-created",
            )
            counted = self._fresh(name, counters, limit, now, announce=False)
            return counted[0], counted[1], [event, *counted[2]]
        if "implausible" in kinds:
            event = CounterEvent(
                now,
                name,
                "implausible",
                f"step of {sent}/{recv} bytes exceeds what the link could carry "
                f"({limit:.0f} bytes); taken as a counter reset, not traffic",
            )
            return 0, 0, [event]
        events = [
            CounterEvent(now, name, "wrap", f"{direction} counter wrapped at 2^32")
            for direction, kind in zip(("sent", "received"), kinds, strict=True)
            if kind == "wrap"
        ]
        return sent, recv, events
