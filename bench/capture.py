"""What live capture costs per packet, and where it starts to drop, over a real veth link.

iperf3 offers 100-byte UDP datagrams at fixed packet rates between two fresh
network namespaces; a thread captures on one veth end with each live frame
source (`ring`: the TPACKET_V3 mmap ring, the default; `socket`: one
recvfrom_into per frame, the fallback), parses every frame with
`capture.parse.Parser` and adds up lengths, as the engine's sniffer thread
does. For each rate it prints offered and captured packets/s, kernel drops
(PACKET_STATISTICS), CPU of the capturing thread per packet (µs, which is
also CPU seconds per million packets; kernel softirq work is not in it), and
coverage = captured bytes / the veth's own byte counters. Each cell is the
median of --runs runs.

Run as root: .venv/bin/python bench/capture.py [--rates 10000,50000,100000,200000]
    [--seconds 5] [--runs 3] [--sources ring,socket] [--reverse]
"""

from __future__ import annotations

import argparse
import select
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capture.config import EngineConfig
from capture.netns import entered
from capture.parse import Parser
from capture.sources import FrameSource, SocketSource, open_source
from tests.hosts import Host, Link, veth_link

PAYLOAD = 100
IPERF_PORT = 5201


@dataclass(frozen=True)
class Run:
    """One capture of one offered rate with one source."""

    offered_pps: float
    captured_pps: float
    drops: int
    cpu_us_per_packet: float
    coverage: float


class Sniffer(threading.Thread):
    """Drains and parses one source until stopped; measures its own CPU time."""

    def __init__(self, source: FrameSource) -> None:
        super().__init__(name="bench-sniffer", daemon=True)
        self.source = source
        self.stop = threading.Event()
        self.frames = 0
        self.bytes = 0
        self.parsed = 0
        self.cpu = 0.0

    def run(self) -> None:
        parse = Parser().parse
        source = self.source
        linktype = source.linktype
        poller = select.poll()
        poller.register(source.fileno(), select.POLLIN)
        start = time.thread_time()
        frames = nbytes = parsed = 0
        while True:
            stopping = self.stop.is_set()
            poller.poll(0 if stopping else 100)
            batch = source.read()
            for buf, off, caplen, wirelen, _pkttype in batch:
                if parse(buf, off, caplen, linktype) is not None:
                    parsed += 1
                nbytes += wirelen
            frames += len(batch)
            if stopping and not batch:
                break
        self.cpu = time.thread_time() - start
        self.frames, self.bytes, self.parsed = frames, nbytes, parsed


def open_kind(kind: str, host: Host) -> FrameSource:
    with entered(host.netns):
        if kind == "ring":
            return open_source(host.iface, EngineConfig())
        return SocketSource(host.iface, EngineConfig())


def veth_totals(host: Host) -> tuple[int, int]:
    c = host.counters()
    return c["tx_packets"] + c["rx_packets"], c["tx_bytes"] + c["rx_bytes"]


def one_run(link: Link, kind: str, pps: int, seconds: float, reverse: bool) -> Run:
    source = open_kind(kind, link.a)
    sniffer = Sniffer(source)
    try:
        sniffer.start()
        time.sleep(0.3)
        packets0, bytes0 = veth_totals(link.a)
        source.stats()
        client = link.a.cmd(
            "iperf3", "-c", link.b.ipv4, "-p", str(IPERF_PORT), "-u", "-l", str(PAYLOAD),
            "-b", str(pps * PAYLOAD * 8), "-t", str(seconds), *(["-R"] if reverse else []),
        )
        began = time.monotonic()
        subprocess.run(client, check=True, capture_output=True, timeout=seconds + 30)
        elapsed = time.monotonic() - began
        time.sleep(0.3)
        sniffer.stop.set()
        sniffer.join(timeout=30)
        packets1, bytes1 = veth_totals(link.a)
        _, drops = source.stats()
    finally:
        sniffer.stop.set()
        sniffer.join(timeout=30)
        source.close()
    on_wire = packets1 - packets0
    return Run(
        offered_pps=on_wire / elapsed,
        captured_pps=sniffer.frames / elapsed,
        drops=drops,
        cpu_us_per_packet=sniffer.cpu / max(1, sniffer.frames) * 1e6,
        coverage=sniffer.bytes / max(1, bytes1 - bytes0),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="10000,50000,100000,200000", help="offered UDP packets/s, comma-separated")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each iperf3 run")
    ap.add_argument("--runs", type=int, default=3, help="runs per cell; the median is printed")
    ap.add_argument("--sources", default="ring,socket", help="frame sources to measure")
    ap.add_argument("--reverse", action="store_true", help="capture incoming frames (iperf3 -R) instead of outgoing")
    args = ap.parse_args()
    if shutil.which("iperf3") is None:
        print("needs iperf3 (apt-get install -y iperf3)", file=sys.stderr)
        return 2
    rates = [int(r) for r in args.rates.split(",")]
    kinds = args.sources.split(",")
    direction = "incoming (iperf3 -R)" if args.reverse else "outgoing"
    print(f"# {PAYLOAD}-byte UDP, {direction} frames on the capturing veth end, "
          f"{args.seconds:g} s per run, median of {args.runs}")
    print("| source | offered pps | captured pps | kernel drops | CPU µs/packet | coverage |")
    print("|---|---:|---:|---:|---:|---:|")
    with veth_link() as link:
        server = link.b.popen("iperf3", "-s", "-p", str(IPERF_PORT), stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            for kind in kinds:
                for pps in rates:
                    runs = [one_run(link, kind, pps, args.seconds, args.reverse) for _ in range(args.runs)]
                    med = {f: statistics.median(getattr(r, f) for r in runs) for f in Run.__dataclass_fields__}
                    print(f"| {kind} | {med['offered_pps']:,.0f} | {med['captured_pps']:,.0f} | "
                          f"{med['drops']:,.0f} | {med['cpu_us_per_packet']:.2f} | {med['coverage']:.4f} |",
                          flush=True)
                    print("  runs: " + "; ".join(
                        f"{r.captured_pps:,.0f} pps, {r.drops} drops, {r.cpu_us_per_packet:.2f} µs" for r in runs
                    ), file=sys.stderr, flush=True)
        finally:
            server.terminate()
            server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
