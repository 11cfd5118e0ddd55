"""Frame sources: live capture in test namespaces against the kernel's own counters, files, lists.

The live tests send a known, bounded set of UDP datagrams between the two ends
of a veth link from real processes, capture on one end, and check every frame:
direction (pkttype), wire length, truncation, payload offsets, then the totals
against the veth's kernel counters and the socket's PACKET_STATISTICS.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import socket
import struct
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from scapy.packet import Packet

from trafficmon.capture import bpf
from trafficmon.capture.afpacket import (
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    NEEDS_PRIVILEGE,
    linktype_of,
)
from trafficmon.capture.config import EngineConfig
from trafficmon.capture.errors import CaptureError
from trafficmon.capture.netns import CLONE_NEWNET, entered, netns_path
from trafficmon.capture.sources import (
    PACKET_HOST,
    PACKET_OUTGOING,
    CaptureLost,
    FrameSource,
    ListSource,
    PcapSource,
    RingSource,
    SocketSource,
    open_source,
)
from tests.support.hosts import Host, Link

PORT = 40000  # receivers in both namespaces
SPORT = 40001  # senders in both namespaces
SMALL, LARGE = 20, 1000  # UDP payload sizes: one frame fits the snap length, one does not
ETH, IPV4, IPV6, UDP = 14, 20, 40, 8
LINKTYPE_IPV4 = 228

SENDER = """
import socket, sys, time
port, sport, count, small, large, pace = (int(a) for a in sys.argv[1:7])
for host in sys.argv[7:]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", sport))
        for i in range(count):
            size = large if i % 2 else small
            s.sendto(b"%06d" % i + bytes(size - 6), (host, port))
            if i % 50 == 49:
                time.sleep(pace / 1e6)
"""


@dataclass(frozen=True)
class Seen:
    """One captured frame, copied out of the source's buffer."""

    data: bytes
    caplen: int
    wirelen: int
    pkttype: int


@dataclass(frozen=True)
class Datagram:
    """The UDP datagram inside a captured frame."""

    family: int
    src: str
    sport: int
    dst: str
    dport: int
    seq: int
    payload: int


def udp_in(frame: bytes) -> Datagram | None:
    """The test's own minimal Ethernet/IP/UDP reader (independent of capture.parse)."""
    ethertype = int.from_bytes(frame[12:14], "big")
    if ethertype == 0x0800:
        family, l4 = 4, ETH + (frame[ETH] & 15) * 4
        proto, src, dst = frame[ETH + 9], frame[26:30], frame[30:34]
        af = socket.AF_INET
    elif ethertype == 0x86DD:
        family, l4 = 6, ETH + IPV6
        proto, src, dst = frame[ETH + 6], frame[22:38], frame[38:54]
        af = socket.AF_INET6
    else:
        return None
    if proto != 17 or len(frame) < l4 + UDP + 6:
        return None
    sport, dport, length = struct.unpack_from("!HHH", frame, l4)
    return Datagram(
        family, socket.inet_ntop(af, src), sport, socket.inet_ntop(af, dst), dport,
        int(frame[l4 + UDP:l4 + UDP + 6]), length - UDP,
    )


def wire_length(family: int, payload: int) -> int:
    return ETH + (IPV4 if family == 4 else IPV6) + UDP + payload


class Capture:
    """Reads a source, keeps copies of the frames and running totals.

    `frames` may be cleared (see `baseline`); `read` and the PACKET_STATISTICS
    totals `packets` and `drops` always count from the source's opening.
    """

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.frames: list[Seen] = []
        self.read = 0
        self.packets = 0
        self.drops = 0

    def poll(self, timeout: float = 0.05) -> int:
        select.select([self.source], [], [], timeout)
        got = self.source.read()
        self.frames += [Seen(bytes(b[o:o + c]), c, w, t) for b, o, c, w, t in got]
        self.read += len(got)
        return len(got)

    def until_quiet(self, quiet: float = 0.3, deadline: float = 15.0, until: Callable[[], bool] = lambda: True) -> None:
        """Read until `until()` holds and nothing new came for `quiet` seconds."""
        end = time.monotonic() + deadline
        last = time.monotonic()
        while time.monotonic() < end:
            if self.poll():
                last = time.monotonic()
            elif until() and time.monotonic() - last > quiet:
                return

    def take_stats(self) -> None:
        packets, drops = self.source.stats()
        self.packets += packets
        self.drops += drops

    def datagrams(self) -> list[tuple[Seen, Datagram]]:
        return [(f, d) for f in self.frames if (d := udp_in(f.data)) is not None]


@contextmanager
def receivers(*hosts: Host) -> Iterator[None]:
    """UDP sockets bound to PORT in each host's namespace (both families), so no ICMP errors."""
    socks: list[socket.socket] = []
    try:
        for h in hosts:
            with entered(h.netns):
                for family, addr in ((socket.AF_INET, h.ipv4), (socket.AF_INET6, h.ipv6)):
                    s = socket.socket(family, socket.SOCK_DGRAM)
                    socks.append(s)
                    s.bind((addr, PORT))
        yield
    finally:
        for s in socks:
            s.close()


def send(
    host: Host, peer: Host, count: int, pace_us: int = 2000, families: tuple[str, ...] = ("4", "6"), port: int = PORT
) -> subprocess.Popen[bytes]:
    """Start a process in `host` sending `count` datagrams to `peer` per family; bounded."""
    targets = [peer.ipv4 if f == "4" else peer.ipv6 for f in families]
    return host.python(SENDER, str(port), str(SPORT), str(count), str(SMALL), str(LARGE), str(pace_us), *targets)


def veth_tx_dropped(host: Host) -> int:
    """Frames the host's veth end could not hand to its peer (the peer's backlog was full)."""
    return int(host.run("cat", f"/sys/class/net/{host.iface}/statistics/tx_dropped").stdout)


def open_kind(kind: str, host: Host, config: EngineConfig) -> FrameSource:
    """Open the source `kind` on the host's veth end, inside its namespace."""
    with entered(host.netns):
        if kind == "ring":
            source = open_source(host.iface, config)
            assert isinstance(source, RingSource)
            return source
        return SocketSource(host.iface, config)


def baseline(cap: Capture, host: Host) -> dict[str, int]:
    """The veth counters at a moment when the capture has read everything; frames cleared.

    Retried while a stray frame lands around the counter read, which would be
    on one side of the comparison only.
    """
    before = host.counters()
    for _ in range(6):
        cap.until_quiet(quiet=0.2)
        before = host.counters()
        seen = len(cap.frames)
        cap.until_quiet(quiet=0.2)
        if len(cap.frames) == seen:
            break
    cap.frames.clear()
    return before


def settle_stats(cap: Capture) -> None:
    """Drain and read PACKET_STATISTICS until every frame the kernel counted was read.

    The kernel counts a frame when it arrives; a ring hands it over when its
    block is retired, up to 50 ms later. A few rounds close that gap.
    """
    for _ in range(6):
        cap.until_quiet()
        cap.take_stats()
        if cap.packets == cap.read + cap.drops:
            return


def settle(cap: Capture, host: Host, before: dict[str, int]) -> dict[str, int]:
    """Drain until the capture, its kernel statistics and the veth counters agree.

    A stray frame (IPv6 router solicitation, MLD report) can land between
    reading the counters and the last read(); a few rounds take it in.
    """
    delta: dict[str, int] = {}
    for _ in range(6):
        cap.until_quiet()
        after = host.counters()
        cap.take_stats()
        delta = {k: after[k] - before[k] for k in after}
        out = [f for f in cap.frames if f.pkttype == PACKET_OUTGOING]
        inc = [f for f in cap.frames if f.pkttype != PACKET_OUTGOING]
        if (
            delta["tx_packets"] == len(out)
            and delta["rx_packets"] == len(inc)
            and cap.packets == cap.read + cap.drops
        ):
            break
    return delta


@pytest.mark.netns
@pytest.mark.parametrize("kind", ["ring", "socket"])
def test_live_capture_matches_the_kernel_exactly(link: Link, kind: str) -> None:
    count = 500
    config = EngineConfig()
    with receivers(link.a, link.b):
        source = open_kind(kind, link.a, config)
        try:
            assert source.linktype == LINKTYPE_ETHERNET
            assert source.fileno() >= 0
            cap = Capture(source)
            before = baseline(cap, link.a)
            senders = [send(link.a, link.b, count), send(link.b, link.a, count)]
            assert [p.wait(timeout=60) for p in senders] == [0, 0]
            delta = settle(cap, link.a, before)
        finally:
            source.close()
    source.close()  # idempotent

    ours = [(f, d) for f, d in cap.datagrams() if d.sport == SPORT and d.dport == PORT]
    streams = Counter((d.family, f.pkttype, d.src, d.dst) for f, d in ours)
    assert streams == {
        (4, PACKET_OUTGOING, link.a.ipv4, link.b.ipv4): count,
        (6, PACKET_OUTGOING, link.a.ipv6, link.b.ipv6): count,
        (4, PACKET_HOST, link.b.ipv4, link.a.ipv4): count,
        (6, PACKET_HOST, link.b.ipv6, link.a.ipv6): count,
    }
    for f, d in ours:
        assert d.payload == (LARGE if d.seq % 2 else SMALL)
        assert f.wirelen == wire_length(d.family, d.payload)
        assert f.caplen == len(f.data) == min(f.wirelen, config.snaplen)
    for key in streams:
        seqs = sorted(d.seq for f, d in ours if (d.family, f.pkttype, d.src, d.dst) == key)
        assert seqs == list(range(count))

    # Every frame on the wire, ARP and neighbour discovery included, against the kernel.
    assert all(f.caplen <= config.snaplen for f in cap.frames)
    out = [f for f in cap.frames if f.pkttype == PACKET_OUTGOING]
    inc = [f for f in cap.frames if f.pkttype != PACKET_OUTGOING]
    assert (len(out), sum(f.wirelen for f in out)) == (delta["tx_packets"], delta["tx_bytes"])
    assert (len(inc), sum(f.wirelen for f in inc)) == (delta["rx_packets"], delta["rx_bytes"])
    assert cap.drops == 0
    assert cap.packets == cap.read


@pytest.mark.netns
@pytest.mark.parametrize("kind", ["ring", "socket"])
def test_opening_under_load_counts_from_the_first_frame(link: Link, kind: str) -> None:
    """Opened while frames flow: every frame read is filtered, counted, and none is lost.

    The ring is kept small (4 blocks) so the traffic laps it several times:
    blocks must be handed back to the kernel for this to pass without drops.
    """
    count = 30000
    config = EngineConfig(rcvbuf_bytes=4 << 20)
    with receivers(link.a):
        dropped_before = veth_tx_dropped(link.b)
        sender = send(link.b, link.a, count, pace_us=4000, families=("4",))
        try:
            time.sleep(0.3)
            source = open_kind(kind, link.a, config)
            try:
                cap = Capture(source)
                cap.until_quiet(until=lambda: sender.poll() is not None)
                settle_stats(cap)
            finally:
                source.close()
        finally:
            sender.kill()
            sender.wait()
    seqs = [d.seq for f, d in cap.datagrams() if d.dport == PORT]
    assert 0 < seqs[0] and seqs[-1] == count - 1, "opened mid-stream, read to the end"
    assert len(set(seqs)) == len(seqs) and seqs == sorted(seqs), "no duplicate, in order"
    # A frame the kernel drops before any tap sees it (veth hands it to a full backlog: the
    # sender's tx_dropped) is not capture's to count; every other one is read.
    missing = count - seqs[0] - len(seqs)
    assert missing <= veth_tx_dropped(link.b) - dropped_before, "no gap but the kernel's own drops"
    assert all(f.caplen <= config.snaplen for f in cap.frames)
    assert cap.drops == 0
    assert cap.packets == len(cap.frames)
    # Each 1 MiB block is handed to the reader after 50 ms at the latest, so
    # ~2 s of traffic went through far more blocks than the ring's four.
    assert len(cap.frames) > 20000


@pytest.mark.netns
@pytest.mark.parametrize("kind", ["ring", "socket"])
def test_interface_removed_while_capturing_says_so(link: Link, kind: str) -> None:
    source = open_kind(kind, link.a, EngineConfig())
    try:
        link.a.run("ip", "link", "del", link.a.iface)
        deadline = time.monotonic() + 5
        with pytest.raises(CaptureLost, match="down or was removed"):
            while time.monotonic() < deadline:
                select.select([source], [], [], 0.1)
                source.read()
    finally:
        source.close()


@pytest.mark.netns
def test_missing_interface_is_named(link: Link) -> None:
    with entered(link.a.netns), pytest.raises(CaptureError, match="interface 'nosuch0' not found"):
        open_source("nosuch0", EngineConfig())


@pytest.mark.netns
def test_down_interface_is_named(link: Link) -> None:
    link.a.run("ip", "link", "set", link.a.iface, "down")
    with entered(link.a.netns), pytest.raises(CaptureError, match="'tma' is down"):
        open_source(link.a.iface, EngineConfig())


@pytest.mark.netns
def test_loopback_is_ethernet(link: Link) -> None:
    with entered(link.a.netns):
        source = open_source("lo", EngineConfig())
    source.close()
    assert source.linktype == LINKTYPE_ETHERNET


def _libpcap_present() -> bool:
    return ctypes.util.find_library("pcap") is not None


def _libpcap_files() -> list[Path]:
    """Every file the dynamic loader could load as libpcap (symlinks resolved)."""
    found = {p.resolve() for d in ("/usr/lib", "/lib") for p in Path(d).glob("**/libpcap.so*")}
    return sorted(p for p in found if p.is_file())


HIDE_AND_RUN = 'for f in "$@"; do [ "$f" = -- ] && break; mount --bind /dev/null "$f"; shift; done; shift; exec "$@"'


@pytest.mark.netns
def test_capture_filter_without_libpcap_names_the_library(link: Link) -> None:
    """The service, in a mount namespace where every libpcap file reads as empty, as if never installed.

    Where libpcap is really absent there is nothing to hide and the same
    command runs as it is; either way the real loader fails the real way.
    """
    argv = [sys.executable, "-m", "trafficmon", "--interfaces", link.a.iface, "--netns", link.a.netns,
            "--capture-filter", "udp port 9999", "--no-resolve-names", "--port", "0",
            "--data-dir", "/nonexistent/trafficmon-test"]
    hidden = [str(f) for f in _libpcap_files()]
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", HIDE_AND_RUN, "sh", *hidden, "--", *argv],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "trafficmon: cannot capture: CAPTURE_FILTER needs libpcap (Debian package libpcap0.8), "
        "which is not installed\n"
    )
    assert _libpcap_present() == bool(hidden), "the library stays installed outside the test's namespace"


@pytest.mark.netns
@pytest.mark.skipif(not _libpcap_present(), reason="libpcap is not installed: its absence is tested")
@pytest.mark.parametrize("kind", ["ring", "socket"])
def test_capture_filter_keeps_only_matching_frames(link: Link, kind: str) -> None:
    count = 100
    config = EngineConfig(capture_filter=f"udp port {PORT}")
    with receivers(link.a):
        source = open_kind(kind, link.a, config)
        try:
            cap = Capture(source)
            for port in (PORT + 2, PORT):
                assert send(link.b, link.a, count, families=("4",), port=port).wait(timeout=60) == 0
            cap.until_quiet(until=lambda: len(cap.frames) >= count)
            settle_stats(cap)
        finally:
            source.close()
    got = cap.datagrams()
    assert len(got) == len(cap.frames) == count
    assert all(d.dport == PORT for _, d in got)
    for f, d in got:
        assert f.wirelen == wire_length(4, d.payload)
        assert f.caplen == min(f.wirelen, config.snaplen)
    assert (cap.packets, cap.drops) == (count, 0)


@pytest.mark.netns
@pytest.mark.skipif(not _libpcap_present(), reason="needs libpcap to compile a filter")
def test_bad_capture_filter_is_reported(link: Link) -> None:
    with entered(link.a.netns), pytest.raises(CaptureError, match="does not compile"):
        open_source(link.a.iface, EngineConfig(capture_filter="udp port banana"))


# -- privilege -------------------------------------------------------------

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
PR_SET_KEEPCAPS = 8
CAP_NET_RAW = 13
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
NOBODY = 65534


def _in_child(body: Callable[[], str]) -> str:
    """Run `body` in a forked child (which may drop privileges) and return what it returned."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = body()
        except BaseException as exc:  # noqa: BLE001 (the child reports everything, then exits)
            out = f"{type(exc).__name__}: {exc}"
        os.write(w, out.encode()[:4000])
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        result = f.read().decode()
    os.waitpid(pid, 0)
    return result


def _become_nobody(keep: int = 0) -> None:
    """Switch to uid/gid 65534 keeping only the capabilities in bitmask `keep`."""
    if keep:
        _libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)  # keep the permitted set across setuid
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    if keep:
        header = struct.pack("=Ii", _LINUX_CAPABILITY_VERSION_3, 0)
        data = struct.pack("=6I", keep, keep, 0, 0, 0, 0)  # effective, permitted, inheritable (x2)
        if _libc.capset(header, data) != 0:
            raise OSError(ctypes.get_errno(), "capset")


def _open_lo() -> str:
    source = open_source("lo", EngineConfig())
    source.close()
    return type(source).__name__


def test_unprivileged_open_names_the_missing_capability() -> None:
    if os.geteuid() != 0:
        with pytest.raises(CaptureError, match=NEEDS_PRIVILEGE):
            _open_lo()
        return

    def body() -> str:
        _become_nobody()
        return _open_lo()

    assert _in_child(body) == f"CaptureError: capturing on 'lo' {NEEDS_PRIVILEGE}"


@pytest.mark.netns
def test_cap_net_raw_alone_opens_the_ring(link: Link) -> None:
    """Least privilege: a non-root process with only CAP_NET_RAW gets the full ring source."""

    def body() -> str:
        fd = os.open(netns_path(link.a.netns), os.O_RDONLY)
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        _become_nobody(keep=1 << CAP_NET_RAW)
        source = open_source(link.a.iface, EngineConfig())
        source.close()
        return type(source).__name__

    assert _in_child(body) == "RingSource"


# -- files and lists -------------------------------------------------------


def _udp_frame(i: int, payload: int = 100) -> Packet:
    from scapy.layers.inet import IP
    from scapy.layers.inet import UDP as ScapyUDP
    from scapy.layers.l2 import Ether

    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="198.18.0.1", dst="198.18.0.2") / ScapyUDP(
        sport=SPORT, dport=PORT
    ) / (b"%06d" % i + bytes(payload - 6))


def _drain(source: FrameSource) -> list[tuple[bytes, int, int, int]]:
    out: list[tuple[bytes, int, int, int]] = []
    while frames := source.read():
        out += [(bytes(b[o:o + c]), c, w, t) for b, o, c, w, t in frames]
    return out


def test_pcap_file_frames_and_lengths(tmp_path: Path) -> None:
    from scapy.utils import RawPcapWriter, wrpcap

    frames = [bytes(_udp_frame(i, 20 + 10 * i)) for i in range(10)]
    whole = tmp_path / "whole.pcap"
    wrpcap(str(whole), [_udp_frame(i, 20 + 10 * i) for i in range(10)])
    cut = tmp_path / "cut.pcap"
    with RawPcapWriter(str(cut), linktype=LINKTYPE_ETHERNET, snaplen=64) as w:
        w.write_header(None)
        for f in frames:
            w.write_packet(f[:64], caplen=min(64, len(f)), wirelen=len(f))

    source = PcapSource(whole, batch=3)
    assert (source.linktype, source.fileno(), source.exhausted) == (LINKTYPE_ETHERNET, -1, False)
    got = _drain(source)
    assert source.exhausted and source.read() == []
    assert got == [(f, len(f), len(f), -1) for f in frames]
    assert source.stats() == (10, 0) and source.stats() == (0, 0)
    source.close()

    with closing(PcapSource(cut)) as source:
        got = _drain(source)
    assert got == [(f[:64], min(64, len(f)), len(f), -1) for f in frames]

    ip = tmp_path / "raw.pcap"
    wrpcap(str(ip), [f[ETH:] for f in frames], linktype=LINKTYPE_RAW)
    with closing(PcapSource(ip)) as source:
        assert source.linktype == LINKTYPE_RAW
        assert [(bytes(b), w) for b, _, _, w, _ in source.read()] == [(f[ETH:], len(f) - ETH) for f in frames]


def test_pcapng_file_with_directions_and_link_types(tmp_path: Path) -> None:
    from scapy.layers.inet import IP
    from scapy.utils import PcapNgWriter

    path = tmp_path / "mixed.pcapng"
    eth = [_udp_frame(i) for i in range(4)]
    eth[0].direction = 1  # inbound
    eth[1].direction = 2  # outbound
    raw = IP(bytes(_udp_frame(9))[ETH:])
    raw.sniffed_on = "wg0"  # a second interface, whose link type is LINKTYPE_IPV4
    with PcapNgWriter(str(path)) as w:
        w.write(eth[0])
        w.write(eth[1])
        w.write_packet(eth[2], caplen=40, wirelen=len(eth[2]))
        w.write(raw)
        w.write(eth[3])

    with closing(PcapSource(path)) as source:
        assert source.linktype == LINKTYPE_ETHERNET
        first = source.read()
        assert source.linktype == LINKTYPE_ETHERNET
        second = source.read()
        assert source.linktype == LINKTYPE_IPV4
        third = source.read()
        assert source.linktype == LINKTYPE_ETHERNET
        assert source.read() == [] and source.exhausted
    assert [(c, w, t) for _, _, c, w, t in first] == [
        (len(eth[0]), len(eth[0]), PACKET_HOST),
        (len(eth[1]), len(eth[1]), PACKET_OUTGOING),
        (len(bytes(eth[2])[:40]), len(eth[2]), -1),
    ]
    assert [(bytes(b), w) for b, _, _, w, _ in second] == [(bytes(raw), len(raw))]
    assert [bytes(b) for b, *_ in third] == [bytes(eth[3])]


def test_not_a_capture_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello, this is not a pcap file at all")
    with pytest.raises(CaptureError, match="not a pcap or pcapng file"):
        PcapSource(path)
    with pytest.raises(CaptureError, match="cannot read"):
        PcapSource(tmp_path / "missing.pcap")


def test_list_source() -> None:
    frames = [b"\x01" * 60, (b"\x02" * 64, 1514), (b"\x03" * 40, 40, PACKET_OUTGOING)]
    source = ListSource(frames, linktype=LINKTYPE_RAW, batch=2)
    assert (source.linktype, source.fileno()) == (LINKTYPE_RAW, -1)
    assert [(bytes(b[o:o + c]), c, w, t) for b, o, c, w, t in source.read()] == [
        (b"\x01" * 60, 60, 60, -1),
        (b"\x02" * 64, 64, 1514, -1),
    ]
    assert not source.exhausted
    assert [(c, w, t) for _, _, c, w, t in source.read()] == [(40, 40, PACKET_OUTGOING)]
    assert source.exhausted and source.read() == []
    assert source.stats() == (3, 0)
    source.close()


# -- BPF and link types ------------------------------------------------------


def test_accept_returns_are_capped_and_rejects_kept() -> None:
    ld_len = bpf.Insn(0x80, 0, 0, 0)  # A = frame length
    jeq = bpf.Insn(0x15, 0, 1, 0x800)  # A == 0x800 ? next : skip one
    program = [ld_len, jeq, bpf.Insn(bpf.BPF_RET_K, 0, 0, 262144), bpf.Insn(bpf.BPF_RET_A, 0, 0, 0), bpf.Insn(bpf.BPF_RET_K, 0, 0, 0)]
    capped = bpf.with_accept(program, 128)
    assert capped[:3] == [ld_len, jeq, bpf.Insn(bpf.BPF_RET_K, 0, 0, 128)]
    jump = capped[3]
    assert jump.code == bpf.BPF_JMP_JA and 3 + 1 + jump.k == len(program)
    assert capped[4] == program[4], "a reject stays a reject"
    assert capped[5:] == [
        bpf.Insn(bpf.BPF_JMP_JGT_K, 0, 1, 128),  # A > 128 ?
        bpf.Insn(bpf.BPF_RET_K, 0, 0, 128),  # then keep 128
        bpf.Insn(bpf.BPF_RET_A, 0, 0, 0),  # else keep A
    ]
    whole = bpf.with_accept(program, bpf.WHOLE_FRAME)
    assert whole[2].k == bpf.WHOLE_FRAME and whole[3] == program[3] and len(whole) == len(program)


def test_link_types_of_devices() -> None:
    assert linktype_of(1, "eth0") == LINKTYPE_ETHERNET
    assert linktype_of(772, "lo") == LINKTYPE_ETHERNET
    assert linktype_of(0xFFFE, "wg0") == LINKTYPE_RAW
    with pytest.raises(CaptureError, match="'can0' has link-layer type ARPHRD 280"):
        linktype_of(280, "can0")
