"""Settings of the capture engine; every bound is a setting with a safe default."""

from __future__ import annotations

from dataclasses import dataclass


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

    interfaces: tuple[str, ...] = ()
    update_interval: float = 1.0
    history_length: int = 60
    speed_window: float = 5.0
    average_window: float = 60.0
    linger: float = 5.0
    idle_timeout: float = 30.0
    snaplen: int = 128
    capture_filter: str | None = None
    netns: str | None = None
    max_flows: int = 200_000
    flow_memory_bytes: int = 128 * 1024 * 1024
    rcvbuf_bytes: int = 32 * 1024 * 1024
    coverage_window: float = 10.0
    resolve_names: bool = False
    resolve_workers: int = 2
    resolve_queue: int = 256
    resolve_cache: int = 4096
