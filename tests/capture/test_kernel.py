"""Kernel facts read once: /proc/net/dev, the interface ioctls, and the one rule for a counter's step."""

from __future__ import annotations

import io
import math
import socket

import pytest

from tests.support.hosts import Link
from trafficmon.capture import (
    COUNTER_32_RANGE,
    NET_DEV,
    CounterStep,
    KernelCounters,
    entered,
    interface_flags,
    interface_steps,
    link_speed_bps,
    plausible_bytes,
    read_net_dev,
)
from trafficmon.capture.counter_step import counter_step
from trafficmon.capture.kernel_bytes import KernelBytes

GBIT = 10**9
HEADER = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls "
    "carrier compressed\n"
)
LINE = "  {name}: {rx} {rxp} 0 0 0 0 0 0 {tx} {txp} 0 0 0 0 0 0\n"


def net_dev(*rows: tuple[str, int, int, int, int]) -> bytes:
    return (HEADER + "".join(LINE.format(name=n, rx=rx, rxp=rxp, tx=tx, txp=txp) for n, rx, rxp, tx, txp in rows)).encode()


# -- the step rule --------------------------------------------------------------------------------


def test_a_rise_within_the_limit_is_traffic_and_beyond_it_implausible() -> None:
    assert counter_step(1_000, 1_500, bits=64, limit=500) == CounterStep(500, "ok")
    assert counter_step(1_000, 1_501, bits=64, limit=500) == CounterStep(501, "implausible")


def test_a_drop_is_a_wrap_only_with_32_bit_counters() -> None:
    old = COUNTER_32_RANGE - 1_000
    assert counter_step(old, 500, bits=32, limit=math.inf) == CounterStep(1_500, "wrap")
    assert counter_step(old, 500, bits=64, limit=math.inf) == CounterStep(500, "reset")
    assert counter_step(old, 500, bits=None, limit=math.inf) == CounterStep(500, "reset"), "width unknown: no wraps"


def test_a_wrap_larger_than_the_link_could_carry_is_a_reset() -> None:
    # A counter at 1 MB that reads 500 bytes would have moved ~4 GiB across the wrap.
    assert counter_step(1_000_000, 500, bits=32, limit=1_000_000_000) == CounterStep(500, "reset")


def test_a_value_beyond_32_bits_cannot_have_wrapped_at_32_bits() -> None:
    assert counter_step(COUNTER_32_RANGE + 5, 500, bits=32, limit=math.inf) == CounterStep(500, "reset")


def test_one_counter_reset_resets_the_whole_interface() -> None:
    steps = interface_steps((1_000, 2_000), (1_500, 100), bits=64, limit=math.inf)
    assert steps == (CounterStep(1_500, "reset"), CounterStep(100, "reset"))
    wrapped = interface_steps((COUNTER_32_RANGE - 10, 2_000), (5, 2_100), bits=32, limit=math.inf)
    assert wrapped == (CounterStep(15, "wrap"), CounterStep(100, "ok"))


def test_plausible_bytes_is_the_link_speed_over_the_interval_plus_slack() -> None:
    assert plausible_bytes(GBIT, 10) == 1_375_000_000  # 1 Gbit/s for 10 s (+1 s slack)
    assert plausible_bytes(GBIT, -5) == 125_000_000, "a negative interval counts as none"


# -- /proc/net/dev --------------------------------------------------------------------------------


def test_net_dev_is_read_from_the_open_file_each_time() -> None:
    file = io.BytesIO(net_dev(("lo", 5, 1, 5, 1), ("eth0", 700, 8, 42, 9)))
    assert read_net_dev(file) == {"lo": KernelCounters(5, 1, 5, 1), "eth0": KernelCounters(700, 8, 42, 9)}
    file.seek(0)
    file.truncate()
    file.write(net_dev(("eth0", 800, 10, 43, 11)))
    assert read_net_dev(file) == {"eth0": KernelCounters(800, 10, 43, 11)}


def test_net_dev_skips_lines_without_the_transmit_columns() -> None:
    file = io.BytesIO(net_dev(("eth0", 1, 2, 3, 4)) + b"  bad0: 1 2 3\n")
    assert list(read_net_dev(file)) == ["eth0"]


def test_the_calling_threads_net_dev_has_loopback() -> None:
    with open(NET_DEV, "rb") as file:
        assert "lo" in read_net_dev(file)


# -- the engine's kernel bytes --------------------------------------------------------------------


def test_a_32_bit_wrap_of_the_kernel_counter_is_counted_across_the_wrap() -> None:
    kernel = KernelBytes(bits=32)
    assert kernel.add(KernelCounters(500, 5, COUNTER_32_RANGE - 1_000, 10), 0.0) is None  # the first reading
    moved = kernel.add(KernelCounters(800, 7, 2_000, 12), 1.0)
    assert moved == 3_000 + 300, "tx wrapped: 1,000 bytes up to 2^32 and 2,000 after it"
    assert (kernel.sent, kernel.received) == (3_000, 300)


def test_with_64_bit_counters_a_drop_counts_from_zero() -> None:
    kernel = KernelBytes(bits=64)
    kernel.add(KernelCounters(500, 5, COUNTER_32_RANGE - 1_000, 10), 0.0)
    assert kernel.add(KernelCounters(800, 7, 2_000, 12), 1.0) == 2_000 + 800
    assert (kernel.sent, kernel.received) == (2_000, 800)


def test_a_wrap_faster_than_the_link_is_a_re_created_interface() -> None:
    kernel = KernelBytes(bits=32)
    kernel.speed_bps = GBIT  # at most 250 MB in 1 s (+1 s slack): not the ~4 GiB across the wrap
    kernel.add(KernelCounters(500, 5, 1_000_000, 10), 0.0)
    assert kernel.add(KernelCounters(800, 7, 2_000, 12), 1.0) == 2_000 + 800


def test_an_interface_back_after_missing_counts_from_zero() -> None:
    kernel = KernelBytes()
    assert kernel.add(None, 0.0) is None
    kernel.add(KernelCounters(500, 5, 600, 6), 0.0)
    assert kernel.add(None, 1.0) is None
    assert kernel.add(KernelCounters(70, 1, 30, 1), 1.0) == 100
    assert (kernel.sent, kernel.received) == (30, 70), "the first reading is the base, not traffic"


def test_loopback_adds_back_the_link_headers_its_frames_are_captured_with() -> None:
    kernel = KernelBytes(loopback=True)
    kernel.add(KernelCounters(0, 0, 0, 0), 0.0)
    assert kernel.add(KernelCounters(100, 2, 100, 2), 1.0) == 200 + 14 * 4


# -- the interface ioctls -------------------------------------------------------------------------


def test_interface_flags_and_speed_of_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        flags = interface_flags(sock, "lo")
        assert (flags.up, flags.loopback) == (True, True)
        assert link_speed_bps(sock, "lo") is None  # loopback has no link speed
        with pytest.raises(OSError):
            interface_flags(sock, "no-such-if0")
        assert link_speed_bps(sock, "no-such-if0") is None


@pytest.mark.netns
def test_what_is_opened_inside_a_namespace_keeps_answering_for_it(link: Link) -> None:
    with entered(link.a.netns):
        file = open(NET_DEV, "rb")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with file, sock:
        assert set(read_net_dev(file)) == {"lo", link.a.iface}, "the namespace's interfaces, not ours"
        before = read_net_dev(file)[link.a.iface]
        for _ in range(3):
            sock.sendto(bytes(100), (link.b.ipv4, 9))
        after = read_net_dev(file)[link.a.iface]
        assert after.tx_packets - before.tx_packets >= 3
        assert after.tx_bytes - before.tx_bytes >= 3 * (14 + 20 + 8 + 100)  # Ethernet, IPv4, UDP, payload
        assert interface_flags(sock, link.a.iface) == (True, False)
        assert link_speed_bps(sock, link.a.iface) == 10 * GBIT  # what veth reports
