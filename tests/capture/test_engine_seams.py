"""The engine on frames and kernel counters from memory: no root, no namespace, only its public face.

Direction and counting per interface, coverage against the kernel's counters,
re-opening a capture that was lost, and subscribing, each through
`Engine.snapshot()` and `Engine.subscribe`; the frames come from the engine's
`open_source` seam and the kernel facts from its `host` (tests/support/frames.py).
"""

from __future__ import annotations

from typing import Any


from trafficmon.capture.config import EngineConfig
from trafficmon.capture.engine import Engine
from trafficmon.capture.model import CaptureLevel, Snapshot
from trafficmon.capture.sources import PACKET_OTHERHOST
from tests.support.engines import wait_for
from tests.support.waiting import wait_until
from tests.support.frames import MemoryHost, MemorySource, arp_frame, received, sent, udp_frame

HOST, HOST_TOO, PEER, ELSEWHERE = "198.18.0.1", "198.18.0.3", "198.51.100.7", "203.0.113.9"


def launch(running: list[Engine], memory: MemoryHost, **settings: Any) -> Engine:
    """An engine on `memory`'s interfaces, ticking every 50 ms."""
    config = EngineConfig(interfaces=tuple(memory.names), **{"update_interval": 0.05, **settings})
    eng = Engine(config, open_source=memory.open_source, host=memory.host)
    eng.start()
    running.append(eng)
    return eng


def counted(eng: Engine, source: MemorySource) -> Snapshot:
    """The first snapshot of a tick that began after the engine read everything pushed to `source`.

    Two ticks on: one in progress when the reading ended may have counted the
    interface's bytes but swapped its flows out before them.
    """
    source.wait_read()
    seq = eng.snapshot().seq
    return wait_for(eng, lambda snap: snap.seq >= seq + 2)


def test_each_frame_counts_by_its_direction_on_its_interface(running: list[Engine]) -> None:
    memory = MemoryHost(["mem0"], [HOST, HOST_TOO])
    eng = launch(running, memory)
    out, back = udp_frame(HOST, PEER, 5000, 53, 100), udp_frame(PEER, HOST, 53, 5000, 300)
    local, passing = udp_frame(HOST, HOST_TOO, 6000, 7000, 10), udp_frame(PEER, ELSEWHERE, 1, 2, 50)
    memory.source("mem0").push([sent(out)] * 3 + [received(back)] * 2 + [sent(local), (passing, PACKET_OTHERHOST)])

    snap = counted(eng, memory.source("mem0"))

    (iface,) = snap.interfaces
    assert (iface.name, iface.up, iface.error) == ("mem0", True, None)
    assert (iface.bytes_sent, iface.packets_sent) == (3 * len(out), 3)
    assert (iface.bytes_received, iface.packets_received) == (2 * len(back), 2)
    assert (iface.local_bytes, iface.forwarded_bytes) == (len(local), len(passing))
    totals = snap.totals
    assert (totals.bytes_sent, totals.bytes_received, totals.local_bytes, totals.forwarded_bytes) == (
        iface.bytes_sent, iface.bytes_received, iface.local_bytes, iface.forwarded_bytes)
    (dns,) = [c for c in snap.connections if c.remote_addr == f"{PEER}:53"]
    assert (dns.local_addr, dns.protocol, dns.interface) == (f"{HOST}:5000", "SOCK_DGRAM", "mem0")
    assert (dns.bytes_sent, dns.packets_sent, dns.bytes_received, dns.packets_received) == (
        3 * len(out), 3, 2 * len(back), 2)
    assert (snap.health.packets, snap.health.bytes) == (7, 3 * len(out) + 2 * len(back) + len(local) + len(passing))


def test_an_arp_request_out_and_its_reply_in_are_one_flow(running: list[Engine]) -> None:
    """Non-IP flows are keyed by their ethertype alone: not listed as connections, one unknown bucket."""
    memory = MemoryHost(["mem0"], [HOST])
    eng = launch(running, memory)
    request, reply = arp_frame("who-has", HOST, PEER), arp_frame("is-at", PEER, HOST)
    memory.source("mem0").push([sent(request), received(reply)])

    snap = counted(eng, memory.source("mem0"))

    assert snap.connections == () and snap.health.flows == 1
    assert [(u.transport, u.bytes_sent, u.bytes_received) for u in snap.unknown] == [
        ("non-ip", len(request), len(reply))]


def test_coverage_holds_the_captured_bytes_against_the_kernels(running: list[Engine]) -> None:
    """Everything the kernel counted captured: 1.0; the kernel counts as much again that never arrives: 0.5."""
    memory = MemoryHost(["mem0"], [HOST])
    eng = launch(running, memory, coverage_window=60.0)
    assert eng.snapshot().health.coverage is None
    out, back = udp_frame(HOST, PEER, 5000, 53, 400), udp_frame(PEER, HOST, 53, 5000, 1000)
    memory.count("mem0", tx_bytes=len(out), rx_bytes=len(back))
    memory.source("mem0").push([sent(out), received(back)])

    whole = wait_for(eng, lambda snap: snap.health.coverage == 1.0)
    assert (whole.interfaces[0].kernel_bytes_sent, whole.interfaces[0].kernel_bytes_received) == (len(out), len(back))

    memory.count("mem0", tx_bytes=len(out), rx_bytes=len(back))
    lost = wait_for(eng, lambda snap: snap.interfaces[0].kernel_bytes_sent == 2 * len(out))
    assert lost.health.coverage == 0.5
    level = lost.capture_level(lost.timestamp)
    assert level.level == "degraded" and any("coverage is 50.0 %" in reason for reason in level.reasons)


def test_a_lost_capture_is_reopened_and_counting_resumes(running: list[Engine]) -> None:
    """The source raises the capture-lost error: health says so, the engine opens a new one, bytes add up on."""
    memory = MemoryHost(["mem0"], [HOST])
    eng = launch(running, memory)
    frame = udp_frame(HOST, PEER, 5000, 53, 200)
    first = memory.source("mem0")
    first.push([sent(frame)])
    counted(eng, first)

    first.lose()
    down = wait_for(eng, lambda snap: not snap.interfaces[0].up)
    assert first.closed and not down.health.running
    reason = "capture on mem0 failed: interface 'mem0' is down or was removed"
    assert down.interfaces[0].error == down.health.errors[0] == reason
    assert down.capture_level(down.timestamp) == CaptureLevel("down", (reason,))

    back = wait_for(eng, lambda snap: snap.interfaces[0].up, timeout=5.0)  # the first re-open comes after 1 s
    assert len(memory.opened["mem0"]) == 2 and back.health.running and back.health.errors == ()
    assert memory.speeds_read == ["mem0", "mem0"]  # each open reads the link speed afresh
    assert back.capture_level(back.timestamp) == CaptureLevel("ok")
    (gap,) = back.health.gaps
    assert (gap.interface, gap.reason) == ("mem0", reason) and gap.end is not None
    memory.source("mem0").push([sent(frame)] * 2)
    snap = counted(eng, memory.source("mem0"))
    assert (snap.interfaces[0].bytes_sent, snap.interfaces[0].packets_sent) == (3 * len(frame), 3)


def test_frames_the_kernel_counted_as_a_capture_reopened_pair_with_those_bytes(running: list[Engine]) -> None:
    """Counted by the kernel in the tick the capture re-opened, read a tick later: coverage stays 1.0, not more.

    The tick a source opens in is not compared (the source was open for only
    part of it); a frame the kernel counted then reaches the reader late, in
    the first compared tick, as a ring block's retire time allows. Before, that
    tick captured more than its kernel counted and coverage read over 1.0
    for a whole window.
    """
    memory = MemoryHost(["mem0"], [HOST])
    frame = udp_frame(HOST, PEER, 5000, 53, 600)
    opened = memory.open_source

    def reopening_with_a_frame_in_flight(iface: str, config: EngineConfig) -> MemorySource:
        source = opened(iface, config)
        if len(memory.opened[iface]) == 2:
            memory.count(iface, tx_bytes=len(frame))
        return source

    memory.open_source = reopening_with_a_frame_in_flight  # type: ignore[method-assign]
    eng = launch(running, memory, update_interval=0.5, coverage_window=60.0)
    memory.source("mem0").push([sent(frame)])
    memory.count("mem0", tx_bytes=len(frame))
    assert wait_for(eng, lambda snap: snap.health.coverage is not None).health.coverage == 1.0

    pushed = []

    def deliver_late(snap: Snapshot) -> None:
        if snap.interfaces[0].up and len(memory.opened["mem0"]) == 2 and not pushed:
            pushed.append(snap.seq)
            memory.source("mem0").push([sent(frame)])

    eng.subscribe(deliver_late)
    memory.source("mem0").lose()
    wait_for(eng, lambda snap: not snap.interfaces[0].up)
    wait_for(eng, lambda snap: bool(pushed), timeout=5.0)  # the first re-open comes after 1 s
    snap = counted(eng, memory.source("mem0"))
    assert snap.interfaces[0].bytes_sent == 2 * len(frame)
    assert snap.interfaces[0].kernel_bytes_sent == 2 * len(frame)
    assert snap.health.coverage == 1.0


def test_interfaces_and_totals_read_both_windows(running: list[Engine]) -> None:
    """Each interface's bytes go into its speed and its average window; the totals are the interfaces' sums."""
    memory = MemoryHost(["mem0", "mem1"], [HOST])
    eng = launch(running, memory, speed_window=0.2, average_window=60.0)
    seen: list[Snapshot] = []
    eng.subscribe(seen.append)
    memory.source("mem0").push([sent(udp_frame(HOST, PEER, 5000, 53, 900))])
    memory.source("mem1").push([received(udp_frame(PEER, HOST, 53, 5000, 3000))])

    later = wait_for(eng, lambda snap: snap.seq > 0 and snap.interfaces[1].bytes_received > 0
                     and snap.totals.download_speed == 0)

    assert any(s.interfaces[0].upload_speed > 0 and s.interfaces[1].download_speed > 0 for s in seen)
    a, b = later.interfaces
    assert a.upload_speed == b.download_speed == 0.0 and a.average_upload_speed > 0 and b.average_download_speed > 0
    assert (a.average_download_speed, b.average_upload_speed) == (0.0, 0.0)
    for s in seen:
        one, two = s.interfaces
        assert (s.totals.upload_speed, s.totals.download_speed) == (
            one.upload_speed + two.upload_speed, one.download_speed + two.download_speed)
        assert (s.totals.average_upload_speed, s.totals.average_download_speed) == (
            one.average_upload_speed + two.average_upload_speed,
            one.average_download_speed + two.average_download_speed,
        )


def test_unsubscribing_stops_the_calls_and_can_be_repeated(running: list[Engine]) -> None:
    memory = MemoryHost(["mem0"], [HOST])
    eng = launch(running, memory)
    mine: list[Snapshot] = []
    others: list[Snapshot] = []
    unsubscribe = eng.subscribe(mine.append)
    eng.subscribe(others.append)
    eng.subscribe(mine.append)  # the same callback twice: two subscriptions
    wait_for(eng, lambda _snap: len(mine) >= 4)

    unsubscribe()
    unsubscribe()
    seq = eng.snapshot().seq  # the tick after it may have been calling the subscribers already
    wait_until(lambda: mine[-1].seq, lambda last: last >= seq + 3, 5.0, "the second subscription stopped")
    late = [s.seq for s in mine if s.seq > seq + 1]
    assert late == sorted(set(late)), "the second subscription is called once per tick, the first no more"
    assert others[-1].seq >= seq + 2
