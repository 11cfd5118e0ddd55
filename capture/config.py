"""Settings of the capture engine; every bound is a setting with a safe default."""

from __future__ import annotations

import re
from dataclasses import dataclass

from trafficmon.settings import setting, validate

MIB = 1024 * 1024


_IFNAME = re.compile(r"[^\s/:]{1,15}")


def interface_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """Linux interface names: at most IFNAMSIZ - 1 (15) bytes, no '/', ':' or white space."""
    for name in names:
        if not _IFNAME.fullmatch(name) or len(name.encode()) > 15 or name in (".", ".."):
            raise ValueError(f"{name!r} is not an interface name")
    return names


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """What to capture and how the published figures are shaped.

    `interfaces` empty means every interface that is up and not loopback
    (re-evaluated as interfaces come and go); naming one selects it, loopback
    included. `netns` names a network namespace (`ip netns` name or a path such
    as /proc/PID/ns/net) to capture in instead of the engine's own.
    `idle_timeout` closes flows without a close of their own (UDP, ICMP,
    sockets of other hosts) after that long without a packet.
    `speed_window` is how many seconds of ticks every speed (connection,
    process, interface, total) is averaged over: five times the period of
    the bursts a transfer moves in reads within 20 % of its rate on every
    tick, so 5 s keeps steady the transfers that pace themselves at a second
    or finer (rate-limiting servers, shaped links, TCP's own bursts) and a
    transfer that stopped reads 0 within 5 s.
    `average_window` is the longer window the aggregates (processes, unknown
    buckets, interfaces, totals) are also averaged over, beside the speed
    window: transfers that move in bursts seconds apart read steady over it
    (`curl --limit-rate 1M` moves 10 MB every 10 s: six bursts in 60 s, ±1,
    read within 17 %). Connections have no second window: a minute of 1 s
    ticks costs 5 kB (idle) to 9 kB (busy) a flow (bench/rates.py), too much at
    100,000 flows, and every idle flow's record would change on every tick for
    a minute after its last byte.
    `coverage_window` is how many seconds of ticks capture health's coverage
    sums: long enough that frames still in the ring at a tick boundary (up to
    its 50 ms retire time) are a small share of what is compared.
    `resolve_names` looks up the remote addresses' reverse-DNS names (in the
    background, through the system resolver, from the namespace `start()` is
    called in). Off here, so the engine alone sends no DNS queries; the
    service turns it on by default (`RESOLVE_NAMES`). Its bounds:
    `resolve_workers` look-ups in flight at once (getnameinfo holds its thread
    for the whole query, seconds when a server does not answer);
    `resolve_queue` addresses waiting for a worker (beyond, they are asked for
    again on a later tick); `resolve_cache` names and failures remembered (the
    least recently asked for forgotten first).
    `flow_memory_bytes` bounds the memory the flow table may grow to (at
    `capture.flows.BYTES_PER_FLOW` a flow: 128 MiB is about 42,000 flows, far
    more than a host's own connections, and what a scan or flood can push it
    to); the flows beyond are folded into their process and unknown totals.
    `max_flows` bounds the distinct flows of one tick the sniffer adds up
    (beyond, a tick's new flows share one per protocol).
    """

    interfaces: tuple[str, ...] = setting(
        (), "INTERFACES", "names",
        "comma-separated interfaces to capture, and whose kernel counters are accounted "
        "(unset: capture every up, non-loopback one but container plumbing - bridges, and veths "
        "that are a bridge's port or carry no default route - and account the device-backed ones)",
        check=interface_names,
    )
    update_interval: float = setting(
        1.0, "UPDATE_INTERVAL", "float", "seconds between ticks (snapshots, WebSocket updates)",
        unit="s", low=0.05, high=3600,
    )
    history_length: int = setting(
        60, "HISTORY_LENGTH", "int", "seconds of live bandwidth history kept (one point per tick)",
        unit="s", low=1, high=1_000_000,
    )
    speed_window: float = setting(
        5.0, "SPEED_WINDOW", "float",
        "seconds over which every speed is averaged; bursts up to a fifth of it read steady",
        unit="s", low=0.05, high=3600,
    )
    average_window: float = setting(
        60.0, "AVERAGE_WINDOW", "float",
        "seconds of the second, longer average of the processes', interfaces' and totals' speeds "
        "(average_* fields, the dashboard's \"last minute\"); connections have only SPEED_WINDOW's",
        unit="s", low=0.05, high=3600,
    )
    linger: float = setting(
        5.0, "LINGER", "float", "seconds a closed connection stays listed", unit="s", low=0, high=86_400
    )
    idle_timeout: float = setting(
        30.0, "IDLE_TIMEOUT", "float",
        "seconds without a packet after which a flow with no close of its own (UDP, ICMP) ends",
        unit="s", low=0.1, high=86_400,
    )
    snaplen: int = setting(  # 34: an Ethernet and an IPv4 header, the least that names both hosts
        128, "SNAPLEN", "int",
        "bytes captured per frame; below 64 some frames lose their ports (they count as port-less "
        "flows, and health's `truncated` says how many)",
        unit="B", low=34, high=65_535,
    )
    capture_filter: str | None = setting(
        None, "CAPTURE_FILTER", "text", "BPF filter expression (needs libpcap)", high=4096
    )
    netns: str | None = setting(
        None, "NETNS", "text",
        "network namespace to capture in (ip netns name or /proc/PID/ns/net)", high=4096,
    )
    max_flows: int = setting(
        200_000, "MAX_FLOWS", "int",
        "distinct flows one tick adds up at most; beyond, that tick's new flows share one per protocol",
        low=1, high=10_000_000,
    )
    flow_memory_bytes: int = setting(
        128 * MIB, "FLOW_MEMORY_BYTES", "int",
        "memory the flow table may use (about 3.2 kB a flow); beyond, the closed, then the least "
        "active flows are folded into their process and unknown totals, no byte lost",
        unit="B", low=MIB, high=64 * 1024 * MIB,
    )
    rcvbuf_bytes: int = setting(
        32 * MIB, "RCVBUF_BYTES", "int", "kernel receive buffer per capture socket",
        unit="B", low=65_536, high=1024 * MIB,
    )
    coverage_window: float = 10.0
    resolve_names: bool = setting(
        False, "RESOLVE_NAMES", "bool",
        "look up the remote addresses' reverse-DNS names (system resolver, in the background, cached)",
    )
    resolve_workers: int = setting(
        2, "RESOLVE_WORKERS", "int",
        "reverse-DNS look-ups in flight at once (each holds a thread until its answer or time-out)",
        low=1, high=64,
    )
    resolve_queue: int = setting(
        256, "RESOLVE_QUEUE", "int",
        "addresses waiting for a reverse-DNS look-up; beyond, they are asked for on a later tick",
        low=1, high=1_000_000,
    )
    resolve_cache: int = setting(
        4096, "RESOLVE_CACHE", "int",
        "reverse-DNS names (and failures) remembered; the least recently asked for forgotten first",
        low=1, high=10_000_000,
    )

    def __post_init__(self) -> None:
        validate(self)

