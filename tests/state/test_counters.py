"""Kernel counter tracking: reboots, re-created interfaces, 32-bit wraps, implausible steps."""

from __future__ import annotations

import io
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil

from trafficmon.capture import COUNTER_32_RANGE
from trafficmon.state.counters import (
    Baseline,
    CounterReading,
    CounterTracker,
    InterfaceCounters,
    ProcNetDev,
    SystemCounters,
)
from trafficmon.state.links import SocketLinks, SysfsLinks

GBIT = 10**9
T0 = 1_700_000_000.0


def reading(uptime: float, boot: str = "b1", **interfaces: tuple[int, int]) -> CounterReading:
    return CounterReading(
        {name: InterfaceCounters(sent, recv, GBIT) for name, (sent, recv) in interfaces.items()},
        boot,
        uptime,
    )


def tracker(bits: int = 64) -> CounterTracker:
    return CounterTracker(selection=(), fallback_speed_bps=100 * GBIT, counter_bits=bits)


def test_first_reading_counts_nothing_then_steps_are_traffic() -> None:
    t = tracker()
    first = t.advance(reading(100, eth0=(5_000_000, 9_000_000)), T0)
    assert (first.sent, first.recv, first.since) == (0, 0, None)
    assert [e.kind for e in first.events] == ["first"]
    second = t.advance(reading(110, eth0=(5_700_000, 9_100_000)), T0 + 10)
    assert (second.sent, second.recv, second.since) == (700_000, 100_000, T0)
    assert second.events == ()


def test_reboot_counts_the_bytes_since_boot_from_the_boot_on() -> None:
    t = tracker()
    t.advance(reading(1000, eth0=(80_000_000, 90_000_000)), T0)
    # Down for an hour, then the machine rebooted 600 s before this reading.
    later = t.advance(reading(600, boot="b2", eth0=(3_000_000, 4_000_000)), T0 + 3600)
    assert (later.sent, later.recv) == (3_000_000, 4_000_000)
    assert later.since == T0 + 3000
    assert [e.kind for e in later.events] == ["reboot"]


def test_reboot_with_more_than_the_link_could_carry_since_boot_is_not_counted() -> None:
    t = tracker()
    t.advance(reading(1000, eth0=(1, 1)), T0)
    # 1 Gbit/s for 10 s (+1 s slack) is at most 1.375 GB.
    later = t.advance(reading(10, boot="b2", eth0=(2_000_000_000, 5)), T0 + 20)
    assert (later.sent, later.recv) == (0, 0)
    assert [e.kind for e in later.events] == ["reboot", "implausible"]


def test_32_bit_wrap_is_counted_across_the_wrap() -> None:
    t = tracker(bits=32)
    t.advance(reading(100, eth0=(COUNTER_32_RANGE - 1000, 50)), T0)
    after = t.advance(reading(101, eth0=(500, 70)), T0 + 1)
    assert (after.sent, after.recv) == (1500, 20)
    assert [(e.interface, e.kind) for e in after.events] == [("eth0", "wrap")]


def test_with_64_bit_counters_a_drop_is_a_reset_counting_the_new_values() -> None:
    t = tracker(bits=64)
    t.advance(reading(100, eth0=(COUNTER_32_RANGE - 1000, 50)), T0)
    after = t.advance(reading(101, eth0=(500, 70)), T0 + 1)
    assert (after.sent, after.recv) == (500, 70)
    assert [e.kind for e in after.events] == ["reset"]


def test_implausible_jump_is_a_new_baseline_not_traffic() -> None:
    t = tracker()
    t.advance(reading(100, eth0=(1_000, 1_000)), T0)
    # 10 GB in one second on a 1 Gbit/s link.
    jump = t.advance(reading(101, eth0=(10_000_001_000, 2_000)), T0 + 1)
    assert (jump.sent, jump.recv) == (0, 0)
    assert [e.kind for e in jump.events] == ["implausible"]
    after = t.advance(reading(102, eth0=(10_100_001_000, 3_000)), T0 + 2)
    assert (after.sent, after.recv) == (100_000_000, 1_000)


def test_interfaces_appearing_and_disappearing() -> None:
    t = tracker()
    t.advance(reading(100, eth0=(10, 10)), T0)
    appeared = t.advance(reading(160, eth0=(20, 30), ppp0=(4_000, 5_000)), T0 + 60)
    assert (appeared.sent, appeared.recv) == (4_010, 5_020)
    assert [(e.interface, e.kind) for e in appeared.events] == [("ppp0", "new")]
    gone = t.advance(reading(170, eth0=(25, 30)), T0 + 70)
    assert (gone.sent, gone.recv) == (5, 0)
    assert [(e.interface, e.kind) for e in gone.events] == [("ppp0", "gone")]
    back = t.advance(reading(180, eth0=(25, 30), ppp0=(700, 800)), T0 + 80)
    assert (back.sent, back.recv) == (700, 800)


def test_a_re_created_interface_counts_from_zero() -> None:
    t = tracker()
    t.advance(reading(100, ppp0=(9_000_000, 8_000_000)), T0)
    recreated = t.advance(reading(130, ppp0=(1_234, 5_678)), T0 + 30)
    assert (recreated.sent, recreated.recv) == (1_234, 5_678)
    assert [e.kind for e in recreated.events] == ["reset"]


def test_baseline_round_trip_and_selection_change_restarts_counting() -> None:
    t = tracker()
    t.advance(reading(100, eth0=(10, 20)), T0)
    assert t.baseline is not None
    stored = Baseline.from_dict(t.baseline.to_dict())
    same = CounterTracker(
        selection=(), fallback_speed_bps=100 * GBIT, counter_bits=64, baseline=stored
    )
    assert same.advance(reading(200, eth0=(110, 220)), T0 + 100).sent == 100
    other = CounterTracker(
        selection=("eth0",), fallback_speed_bps=100 * GBIT, counter_bits=64, baseline=stored
    )
    restarted = other.advance(reading(200, eth0=(110, 220)), T0 + 100)
    assert (restarted.sent, restarted.since) == (0, None)
    assert [e.kind for e in restarted.events] == ["selection", "first"]


def _fake_host(root: Path, **kinds: str) -> dict[str, Any]:
    """A /sys/class/net with one directory per interface: "lo", "nic" (device-backed), "virtual"."""
    per_nic = {}
    for index, (name, kind) in enumerate(kinds.items()):
        (root / name).mkdir(parents=True)
        (root / name / "type").write_text("772\n" if kind == "lo" else "1\n")
        (root / name / "speed").write_text("1000\n" if kind == "nic" else "-1\n")
        if kind == "nic":
            (root / name / "device").mkdir()
        per_nic[name] = SimpleNamespace(bytes_sent=100 * (index + 1), bytes_recv=10 * (index + 1))
    return per_nic


def test_system_counters_choose_device_backed_interfaces_without_loopback(tmp_path: Path) -> None:
    boot_id = tmp_path / "boot_id"
    boot_id.write_text("abc-123\n")
    per_nic = _fake_host(tmp_path / "net", lo="lo", eth0="nic", docker0="virtual", veth1="virtual")

    def counters(names: tuple[str, ...] = ()) -> CounterReading:
        return SystemCounters(
            names, links=SysfsLinks(tmp_path / "net"), boot_id_path=boot_id, per_nic=lambda: per_nic
        )()

    automatic = counters()
    assert automatic.interfaces == {"eth0": InterfaceCounters(200, 20, GBIT)}
    assert automatic.boot_id == "abc-123"
    assert automatic.uptime > 0
    named = counters(("lo", "veth1", "gone0"))
    assert named.interfaces == {
        "lo": InterfaceCounters(100, 10, None),
        "veth1": InterfaceCounters(400, 40, None),
    }

    # No device-backed interface at all (a container, OpenVZ): every non-loopback one.
    only_virtual = _fake_host(tmp_path / "ct", lo="lo", venet0="virtual", tun0="virtual")
    reading = SystemCounters(
        links=SysfsLinks(tmp_path / "ct"), boot_id_path=tmp_path / "missing", per_nic=lambda: only_virtual
    )()
    assert sorted(reading.interfaces) == ["tun0", "venet0"]
    assert reading.boot_id == f"boot-time:{int(psutil.boot_time())}"


def test_system_counters_read_this_host() -> None:
    reading = SystemCounters()()
    assert "lo" not in reading.interfaces
    assert all(c.bytes_sent >= 0 and c.bytes_recv >= 0 for c in reading.interfaces.values())
    assert reading.boot_id == Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def test_proc_net_dev_is_read_from_the_open_file_each_time() -> None:
    header = (
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls "
        "carrier compressed\n"
    )
    line = "  {name}: {rx} 8 0 0 0 0 0 0 {tx} 9 0 0 0 0 0 0\n"
    file = io.BytesIO((header + line.format(name="lo", rx=5, tx=5) + line.format(name="eth0", rx=700, tx=42)).encode())
    read = ProcNetDev(file)
    assert read() == {"lo": InterfaceCounters(5, 5), "eth0": InterfaceCounters(42, 700)}
    file.seek(0)
    file.truncate()
    file.write((header + line.format(name="eth0", rx=800, tx=43)).encode())
    assert read() == {"eth0": InterfaceCounters(43, 800)}


def test_socket_links_answer_for_the_socket_namespace() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        links = SocketLinks(sock)
        assert links.is_loopback("lo")
        assert links.speed_bps("lo") is None  # loopback has no link speed
        assert links.has_device("lo") is None  # no ioctl says; the source then takes every non-loopback one
        assert not links.is_loopback("no-such-if0")
        assert links.speed_bps("no-such-if0") is None
