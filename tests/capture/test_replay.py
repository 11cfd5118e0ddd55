"""Offline replay of capture files through the live parser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.utils import wrpcap

from trafficmon.capture.file_totals import format_report, replay


def eth() -> Ether:
    """Explicit MACs: without them scapy resolves addresses on the host's network."""
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def frames() -> list:
    out = []
    for _ in range(10):
        out.append(eth() / IP(src="198.18.0.1", dst="198.18.0.2") / TCP(sport=40000, dport=80) / (b"q" * 100))
        out.append(eth() / IP(src="198.18.0.2", dst="198.18.0.1") / TCP(sport=80, dport=40000) / (b"r" * 1000))
    for _ in range(5):
        out.append(eth() / IPv6(src="fd54:4d::1", dst="fd54:4d::2") / UDP(sport=5353, dport=53) / (b"d" * 40))
    out.append(eth() / ARP())
    return out


def test_replay_totals_per_flow_and_protocol(tmp_path: Path):
    pkts = frames()
    path = tmp_path / "t.pcap"
    wrpcap(str(path), pkts)
    report = replay(path)
    assert report.frames == len(pkts)
    assert report.bytes == sum(len(p) for p in pkts)
    assert report.malformed == 0
    tcp = report.flows[0]
    assert (tcp.protocol, tcp.a, tcp.b) == ("TCP", "198.18.0.1:40000", "198.18.0.2:80")
    assert (tcp.bytes_a_to_b, tcp.bytes_b_to_a) == (10 * len(pkts[0]), 10 * len(pkts[1]))
    assert (tcp.packets_a_to_b, tcp.packets_b_to_a) == (10, 10)
    assert report.protocols["UDP"] == [5, 5 * len(pkts[20])]
    assert report.protocols["non-IP"] == [1, len(pkts[-1])]
    udp = next(f for f in report.flows if f.protocol == "UDP")
    assert (udp.a, udp.b) == ("[fd54:4d::1]:5353", "[fd54:4d::2]:53")
    text = format_report(report)
    assert "198.18.0.1:40000" in text and "26 frames" in text


def test_replay_counts_original_length_of_truncated_records(tmp_path: Path):
    big = eth() / IP(src="198.18.0.1", dst="198.18.0.2") / UDP(sport=1, dport=2) / (b"x" * 1400)
    path = tmp_path / "snap.pcap"
    wrpcap(str(path), [big], snaplen=96)
    report = replay(path)
    assert report.bytes == len(big)
    assert report.flows[0].bytes_a_to_b == len(big)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trafficmon", "replay", *args], capture_output=True, text=True, timeout=60)


def test_cli_prints_totals(tmp_path: Path):
    path = tmp_path / "t.pcap"
    wrpcap(str(path), frames())
    done = run_cli(str(path), "--top", "1")
    assert done.returncode == 0, done.stderr
    assert "26 frames" in done.stdout
    assert "top 1 of 3 flows" in done.stdout
    assert "198.18.0.1:40000" in done.stdout


@pytest.mark.parametrize("args", [("missing.pcap",), ("--top", "0", "x.pcap"), ()])
def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path, args: tuple[str, ...]):
    (tmp_path / "x.pcap").write_bytes(b"not a capture")
    done = subprocess.run([sys.executable, "-m", "trafficmon", "replay", *args], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip()


def test_cooked_capture_direction_puts_this_host_first(tmp_path: Path):
    """A Linux cooked capture (tcpdump -i any) says which frames were outgoing: that end is `a`."""
    from scapy.layers.l2 import CookedLinux, CookedLinuxV2

    out = IP(src="198.18.0.9", dst="198.18.0.1") / UDP(sport=9999, dport=53) / (b"q" * 30)
    back = IP(src="198.18.0.1", dst="198.18.0.9") / UDP(sport=53, dport=9999) / (b"a" * 300)
    for linktype, cooked in ((113, CookedLinux), (276, CookedLinuxV2)):
        pkts = [cooked(pkttype=4, proto=0x0800) / out, cooked(pkttype=0, proto=0x0800) / back,
                cooked(pkttype=0, proto=0x0800) / back]
        path = tmp_path / f"cooked{linktype}.pcap"
        wrpcap(str(path), pkts, linktype=linktype)
        report = replay(path)
        (flow,) = report.flows
        assert (flow.a, flow.b) == ("198.18.0.9:9999", "198.18.0.1:53")  # sorted order would put .1 first
        assert (flow.bytes_a_to_b, flow.bytes_b_to_a) == (len(pkts[0]), 2 * len(pkts[1]))
        assert (report.bytes_sent, report.bytes_received) == (len(pkts[0]), 2 * len(pkts[1]))
        assert f"sent {len(pkts[0])} bytes" in format_report(report)


def test_direction_unknown_keeps_sorted_endpoints_and_no_sent_received(tmp_path: Path):
    pkts = frames()
    path = tmp_path / "plain.pcap"
    wrpcap(str(path), pkts)
    report = replay(path)
    assert (report.bytes_sent, report.bytes_received) == (0, 0)
    assert "this host sent" not in format_report(report)
