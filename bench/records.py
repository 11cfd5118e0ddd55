"""What the per-connection records cost: publishing one in the tick thread, and turning one into JSON fields.

A flood leaves 100,000 flows whose speeds decay for a speed window after their
last byte, so every tick republishes every record (`capture/flows.py` `_shown`),
and `GET /api/connections?limit=10000` turns 10,000 of them into dicts per
tick and query. This measures, per record, median of RUNS runs:

- `_publish`: making a flow's `Connection` (its text names cached once);
- `Connection.to_dict()` against `dataclasses.asdict`, which it replaced;
- the whole `Tracker.tick` over FLOWS idle flows whose speeds still decay,
  and over the same flows once their speeds read 0 (records handed out again).

Run: .venv/bin/python bench/records.py [--flows 100000]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trafficmon.capture.attribution import FlowKey, Resolution
from trafficmon.capture.flows import Tracker, _Conn, _publish
from trafficmon.capture.model import Owner
from trafficmon.capture.rates import RateWindow

RUNS = 5
CALLS = 100_000
OWNER = Owner(4242, "flood", "flood --scan", "root")


class Known:
    """Attribution that knows every flow's owner at once, as when one socket sends the whole flood."""

    def owner(self, key: FlowKey) -> Resolution:
        return Resolution(OWNER, "NONE", "socket")

    def retry(self, keys: list[FlowKey]) -> None:
        pass

    def expire(self, live: set[FlowKey]) -> None:
        pass


def per_call(fn, calls: int = CALLS) -> float:
    """Median µs per call of `fn` over RUNS runs of `calls` calls."""
    runs = []
    for _ in range(RUNS):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(runs)


def flood_keys(flows: int) -> list[FlowKey]:
    local = bytes([198, 18, 0, 1])
    return [(17, local, 40000, bytes([198, 51, 100, 1 + i // 50_000]), 10_000 + i % 50_000) for i in range(flows)]


def tick_seconds(flows: int) -> tuple[float, float]:
    """Median seconds of one tick over `flows` idle flows: while their speeds decay, and once they read 0."""
    tracker = Tracker(speed_window=5.0, linger=5.0, idle_timeout=3600.0, average_window=60.0)
    attribution = Known()
    deltas = {key: [60, 1, 0, 0, 0, 0, "eth0"] for key in flood_keys(flows)}  # capture.slots' flow entry
    tracker.tick(deltas, 1.0, 0.0, 0.0, attribution, {})
    took = []
    for second in range(1, 13):
        started = time.perf_counter()
        tracker.tick({}, 1.0, float(second), float(second), attribution, {})
        took.append(time.perf_counter() - started)
    # Seconds 1-4 lie inside the 5 s speed window; from second 8 every speed has read 0 for two ticks.
    return statistics.median(took[:4]), statistics.median(took[7:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=100_000)
    args = parser.parse_args()
    conn = _Conn(flood_keys(1)[0], "eth0", 1.0, 2.0, 2.0, RateWindow(5.0), owner=OWNER)
    record = _publish(conn, 1.0, 2.0, None)
    print(f"_publish: {per_call(lambda: _publish(conn, 1.0, 2.0, None)):.2f} µs a record")
    print(f"Connection.to_dict(): {per_call(record.to_dict):.2f} µs; "
          f"dataclasses.asdict: {per_call(lambda: dataclasses.asdict(record), CALLS // 10):.2f} µs")
    decaying, idle = tick_seconds(args.flows)
    print(f"Tracker.tick over {args.flows:,} idle flows: {decaying * 1000:.0f} ms while their speeds decay, "
          f"{idle * 1000:.0f} ms once they read 0")


if __name__ == "__main__":
    main()
