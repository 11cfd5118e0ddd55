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

With --engine it measures the real `capture.engine.Engine` instead, started
on the capturing namespace (`EngineConfig(interfaces=(veth,), netns=...)`)
with all its threads: the sniffer, the tick thread and the attribution
thread. Every figure then comes from the engine itself: captured packets,
bytes and kernel drops are deltas of `snapshot().health` between the tick
just before iperf3 starts and the first tick after its last frame; coverage
is captured bytes / the kernel byte counters the engine reads for the
interface (`snapshot().interfaces[0]`) over the same ticks; CPU is each
engine thread's utime+stime from /proc/self/task/<tid>/stat, per captured
packet, for the sniffer alone and for all engine threads together (and,
because stat counts 10 ms clock ticks, the same per thread from
/proc/self/task/<tid>/schedstat's nanoseconds); and "iperf3" is the share of
the captured bytes the engine attributed to the iperf3 client's PID
(`snapshot().processes`). stderr adds each run's details, among them how
many frames each of the sniffer's ring reads returned. --profile runs the sniffer
thread under cProfile and prints where its time goes (cProfile itself slows
the thread: use the CPU figures of runs without it).

Run as root: .venv/bin/python bench/capture.py [--rates 10000,50000,100000,200000]
    [--seconds 5] [--runs 3] [--sources ring,socket] [--reverse]
    [--engine [--profile]]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import os
import pstats
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

from trafficmon.capture.config import EngineConfig
from trafficmon.capture.engine import Engine
from trafficmon.capture.model import Snapshot
from trafficmon.capture.netns import entered
from trafficmon.capture.parse import Parser
from trafficmon.capture.sources import FrameSource, SocketSource, open_source
from tests.support.hosts import Host, Link, veth_link

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


@dataclass(frozen=True)
class EngineRun:
    """One offered rate through the real engine."""

    offered_pps: float
    captured_pps: float
    drops: int
    sniffer_us: float
    engine_us: float
    fine_sniffer_us: float
    fine_tick_us: float
    fine_attribution_us: float
    fine_engine_us: float
    coverage: float
    attributed: float


CLK_TCK = os.sysconf("SC_CLK_TCK")
THREADS = ("sniffer", "tick", "attribution")


def engine_threads() -> dict[str, int]:
    """Native thread id of each running engine thread, by its short name."""
    return {t.name.removeprefix("trafficmon-"): t.native_id for t in threading.enumerate()
            if t.name.startswith("trafficmon-") and t.native_id is not None}


def thread_cpu(tid: int) -> tuple[float, float]:
    """(utime+stime from /proc stat, on-CPU time from schedstat) of one of our threads, in seconds.

    stat counts in clock ticks (10 ms here); schedstat in ns, as a cross-check.
    """
    with open(f"/proc/self/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    with open(f"/proc/self/task/{tid}/schedstat") as f:
        ns = int(f.read().split()[0])
    return (int(fields[11]) + int(fields[12])) / CLK_TCK, ns / 1e9


class Ticks:
    """Wakes the bench right after each engine tick."""

    def __init__(self, engine: Engine) -> None:
        self.event = threading.Event()
        engine.subscribe(lambda _snap: self.event.set())

    def next(self, engine: Engine) -> Snapshot:
        self.event.clear()
        if not self.event.wait(5.0):
            raise RuntimeError("engine published no snapshot for 5 s")
        return engine.snapshot()


def iperf_bytes(snap: Snapshot, pid: int) -> int:
    return sum(p.bytes_sent + p.bytes_received for p in snap.processes if p.pid == pid)


def count_reads(engine: Engine, out: list[int]) -> None:
    """Record how many frames each of the sniffer's `read()` calls returned (one wrapper call per read)."""
    for cap in engine._captures.values():
        source = cap.source
        if source is None:
            continue
        read = source.read

        def counted(read=read):  # type: ignore[no-untyped-def]
            frames = read()
            out.append(len(frames))
            return frames

        source.read = counted  # type: ignore[method-assign]


def reads_summary(reads: list[int]) -> str:
    full = sorted(n for n in reads if n)
    after = sum(1 for a, b in itertools.pairwise(reads) if a and not b)
    median = full[len(full) // 2] if full else 0
    return (f"sniffer reads {len(reads)}: {len(full)} with frames (median {median:,}), "
            f"{len(reads) - len(full)} empty ({after} right after one with frames)")


def profiled(engine: Engine, out: list[pstats.Stats]) -> None:
    """Run the engine's sniffer loop under cProfile; the stats land in `out` when it ends."""
    loop = engine._sniff

    def run() -> None:
        prof = cProfile.Profile()
        try:
            prof.runcall(loop)
        finally:
            out.append(pstats.Stats(prof))

    engine._sniff = run  # type: ignore[method-assign]


def engine_run(link: Link, pps: int, seconds: float, reverse: bool, profile: bool) -> EngineRun:
    engine = Engine(EngineConfig(interfaces=(link.a.iface,), netns=link.a.netns))
    prof: list[pstats.Stats] = []
    if profile:
        profiled(engine, prof)
    ticks = Ticks(engine)
    engine.start()
    reads: list[int] = []
    try:
        count_reads(engine, reads)
        tids = engine_threads()
        missing = set(THREADS) - set(tids)
        if missing:
            raise RuntimeError(f"engine threads not found: {sorted(missing)} (have {sorted(tids)})")
        ticks.next(engine)
        ticks.next(engine)  # the first tick has no coverage baseline yet
        s0 = ticks.next(engine)
        reads.clear()
        cpu0 = {name: thread_cpu(tid) for name, tid in tids.items()}
        packets0, _ = veth_totals(link.a)
        client = link.a.popen(
            "iperf3", "-c", link.b.ipv4, "-p", str(IPERF_PORT), "-u", "-l", str(PAYLOAD),
            "-b", str(pps * PAYLOAD * 8), "-t", str(seconds), *(["-R"] if reverse else []),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        began = time.monotonic()
        _, err = client.communicate(timeout=seconds + 30)
        elapsed = time.monotonic() - began
        if client.returncode != 0:
            raise RuntimeError(f"iperf3 failed: {err.decode(errors='replace').strip()}")
        time.sleep(0.1)  # past the ring's 50 ms block retire time
        s1 = ticks.next(engine)
        cpu1 = {name: thread_cpu(tid) for name, tid in tids.items()}
        wakes = list(reads)
        packets1, _ = veth_totals(link.a)
    finally:
        engine.stop()
    if prof:
        text = io.StringIO()
        prof[0].stream = text  # type: ignore[attr-defined]
        prof[0].sort_stats("tottime").print_stats(12)
        print(text.getvalue(), file=sys.stderr)
    h0, h1 = s0.health, s1.health
    i0, i1 = s0.interfaces[0], s1.interfaces[0]
    captured = h1.packets - h0.packets
    nbytes = h1.bytes - h0.bytes
    kernel = (i1.kernel_bytes_sent + i1.kernel_bytes_received) - (i0.kernel_bytes_sent + i0.kernel_bytes_received)
    cpu = {name: cpu1[name][0] - cpu0[name][0] for name in tids}
    fine = {name: cpu1[name][1] - cpu0[name][1] for name in tids}
    per = 1e6 / max(1, captured)
    print(f"  engine {pps:,} pps: {captured:,} packets; threads {sorted(tids)}; health.coverage {h1.coverage}; "
          f"attributed {h1.bytes_attributed - h0.bytes_attributed:,} B, unknown {h1.bytes_unknown - h0.bytes_unknown:,} B; "
          f"tick span {s1.timestamp - s0.timestamp:.2f} s, iperf3 {elapsed:.2f} s; {reads_summary(wakes)}",
          file=sys.stderr, flush=True)
    return EngineRun(
        offered_pps=(packets1 - packets0) / elapsed,
        captured_pps=captured / elapsed,
        drops=h1.kernel_drops - h0.kernel_drops,
        sniffer_us=cpu["sniffer"] * per,
        engine_us=sum(cpu.values()) * per,
        fine_sniffer_us=fine["sniffer"] * per,
        fine_tick_us=fine["tick"] * per,
        fine_attribution_us=fine["attribution"] * per,
        fine_engine_us=sum(fine.values()) * per,
        coverage=nbytes / max(1, kernel),
        attributed=(iperf_bytes(s1, client.pid) - iperf_bytes(s0, client.pid)) / max(1, nbytes),
    )


def engine_table(link: Link, rates: list[int], args: argparse.Namespace) -> None:
    print("| offered pps | captured pps | kernel drops | sniffer µs/pkt | engine µs/pkt "
          "| schedstat µs/pkt: sniffer / tick / attribution / all | coverage | bytes to iperf3's PID |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for pps in rates:
        runs = [engine_run(link, pps, args.seconds, args.reverse, args.profile) for _ in range(args.runs)]
        med = {f: statistics.median(getattr(r, f) for r in runs) for f in EngineRun.__dataclass_fields__}
        print(f"| {med['offered_pps']:,.0f} | {med['captured_pps']:,.0f} | {med['drops']:,.0f} | "
              f"{med['sniffer_us']:.2f} | {med['engine_us']:.2f} | "
              f"{med['fine_sniffer_us']:.2f} / {med['fine_tick_us']:.2f} / {med['fine_attribution_us']:.2f} / "
              f"{med['fine_engine_us']:.2f} | {med['coverage']:.4f} | {med['attributed']:.1%} |", flush=True)
        print("  runs: " + "; ".join(
            f"{r.captured_pps:,.0f} pps, {r.drops} drops, sniffer {r.sniffer_us:.2f} µs, all {r.engine_us:.2f} µs, "
            f"cov {r.coverage:.4f}, iperf3 {r.attributed:.1%}" for r in runs
        ), file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="10000,50000,100000,200000", help="offered UDP packets/s, comma-separated")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each iperf3 run")
    ap.add_argument("--runs", type=int, default=3, help="runs per cell; the median is printed")
    ap.add_argument("--sources", default="ring,socket", help="frame sources to measure")
    ap.add_argument("--reverse", action="store_true", help="capture incoming frames (iperf3 -R) instead of outgoing")
    ap.add_argument("--engine", action="store_true", help="measure the real capture engine (all its threads)")
    ap.add_argument("--profile", action="store_true", help="with --engine: cProfile the sniffer thread")
    args = ap.parse_args()
    if shutil.which("iperf3") is None:
        print("needs iperf3 (apt-get install -y iperf3)", file=sys.stderr)
        return 2
    rates = [int(r) for r in args.rates.split(",")]
    kinds = args.sources.split(",")
    direction = "incoming (iperf3 -R)" if args.reverse else "outgoing"
    print(f"# {PAYLOAD}-byte UDP, {direction} frames on the capturing veth end, "
          f"{args.seconds:g} s per run, median of {args.runs}" + (", capture.engine.Engine" if args.engine else ""))
    if not args.engine:
        print("| source | offered pps | captured pps | kernel drops | CPU µs/packet | coverage |")
        print("|---|---:|---:|---:|---:|---:|")
    with veth_link() as link:
        server = link.b.popen("iperf3", "-s", "-p", str(IPERF_PORT),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            if args.engine:
                engine_table(link, rates, args)
                kinds = []
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
