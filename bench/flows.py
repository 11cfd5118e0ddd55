"""What a flow costs the service, and what the flow bound (FLOW_MEMORY_BYTES) holds it to.

Part 1 starts the real service (as tests/e2e/test_service_e2e.py does, capturing
one end of a fresh veth pair) with room for every flow, floods it with one
UDP datagram to each of N destinations (tests/capture/test_flood.py's sender) and
reads its resident memory (/proc/PID/status VmRSS) before and a few ticks
after: the growth over the flows it then holds is the bytes per flow that
`capture.flows.BYTES_PER_FLOW` states. Part 2 does the same with a 100,000
flow flood under each --bounds value, and prints the flows kept, folded and
overflowed and the growth against the bound. Part 3 times `Tracker.tick` in
this process: a full table of the default bound's flows, then ticks that
each bring --new one-packet flows (folded at once), against the same ticks
with no bound.

Run as root: .venv/bin/python bench/flows.py [--flows 10000,30000,100000]
    [--bounds 16,64] [--new 1000,10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trafficmon.capture.config import EngineConfig
from trafficmon.capture.flows import BYTES_PER_FLOW, Tracker
from tests.support.hosts import veth_link
from tests.support.flood import FLOOD
from tests.support.flood import resident
from tests.support.service import get, start_service, stop_service

MIB = 1024 * 1024
SETTLED = 3.0


def flooded(flows: int, bound: int) -> dict:
    """One service run: resident memory before and after a flood of `flows`, and its capture health."""
    with veth_link() as link, TemporaryDirectory() as tmp:
        proc, url = start_service(link, Path(tmp) / "data", "--update-interval", "1",
                                  "--flow-memory-bytes", str(bound))
        try:
            time.sleep(SETTLED)
            before = resident(proc.pid)
            sender = link.a.python(FLOOD, link.b.ipv4, link.b.ipv6, "10000", str(10_000 + flows // 2),
                                   stdout=subprocess.PIPE, text=True)
            sender.communicate(timeout=60)
            deadline = time.monotonic() + 30
            while True:
                c = get(f"{url}health")["capture"]
                if c["flows"] + c["flows_folded"] + c["overflow_packets"] >= flows or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            time.sleep(SETTLED)
            capture = get(f"{url}health")["capture"]
            return {**capture, "grown": resident(proc.pid) - before}
        finally:
            stop_service(proc)


class _NoOwners:
    """The attribution seam with no process ever found: every flow stays unknown."""

    def owner(self, key):
        return None

    def retry(self, keys) -> None:
        pass

    def expire(self, active) -> None:
        pass


def _key(n: int) -> tuple:
    return (17, socket.inet_aton("198.18.0.1"), 1024 + n % 60_000, (n // 60_000 + 1).to_bytes(4, "big"), 53)


def tick_seconds(limit: int | None, new: int, runs: int) -> float:
    """Median seconds of a tick bringing `new` one-packet flows to a table of the default bound's flows."""
    full = EngineConfig().flow_memory_bytes // BYTES_PER_FLOW
    t = Tracker(speed_window=5.0, linger=5.0, idle_timeout=3600.0, average_window=EngineConfig().average_window,
                flow_limit=limit)
    attribution = _NoOwners()
    t.tick({_key(n): [0, 0, 60, 1, 0, 0, "tma"] for n in range(full)}, 1.0, 100.0, 10.0, attribution, {})
    seen = full
    times = []
    for run in range(runs):
        deltas = {_key(seen + n): [0, 0, 60, 1, 0, 0, "tma"] for n in range(new)}
        seen += new
        started = time.perf_counter()
        t.tick(deltas, 1.0, 101.0 + run, 11.0 + run, attribution, {})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", default="10000,30000,100000")
    parser.add_argument("--bounds", default="16,64", help="FLOW_MEMORY_BYTES values in MiB for part 2")
    parser.add_argument("--new", default="1000,10000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    print(f"part 1: resident memory per flow, no bound hit (BYTES_PER_FLOW = {BYTES_PER_FLOW})")
    print("| flows | grown MiB | B per flow |")
    for flows in (int(f) for f in args.flows.split(",")):
        runs = [flooded(flows, 4096 * MIB) for _ in range(args.runs)]
        per = statistics.median(r["grown"] / r["flows"] for r in runs)
        grown = statistics.median(r["grown"] for r in runs)
        print(f"| {flows:,} | {grown / MIB:.1f} | {per:,.0f} |")

    print("part 2: a 100,000-flow flood under a bound")
    print("| bound MiB | flow limit | flows kept | folded | overflowed packets | grown MiB |")
    for bound in (int(b) for b in args.bounds.split(",")):
        runs = [flooded(100_000, bound * MIB) for _ in range(args.runs)]
        mid = sorted(runs, key=lambda r: r["grown"])[len(runs) // 2]
        print(f"| {bound} | {mid['flow_limit']:,} | {mid['flows']:,} | {mid['flows_folded']:,} | "
              f"{mid['overflow_packets']:,} | {mid['grown'] / MIB:.1f} |")

    full = EngineConfig().flow_memory_bytes // BYTES_PER_FLOW
    print(f"part 3: Tracker.tick with {full:,} flows and new one-packet flows (median of {args.runs})")
    print("| new flows a tick | bound: ms | no bound: ms |")
    for new in (int(n) for n in args.new.split(",")):
        bounded = tick_seconds(full, new, args.runs)
        unbounded = tick_seconds(None, new, args.runs)
        print(f"| {new:,} | {bounded * 1000:.0f} | {unbounded * 1000:.0f} |")


if __name__ == "__main__":
    main()
