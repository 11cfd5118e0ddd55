"""What the second speed window (`AVERAGE_WINDOW`) costs the tick thread: 1,000 processes.

Every process, unknown bucket and interface keeps a `RateWindow` over the
average window beside the one over the speed window; connections do not. For
1,000 processes, each with one flow that moves on every tick, this measures:

- the whole `Tracker.tick` as the tick thread runs it (owners found, records
  made, both windows of every process);
- the second window's own share of that tick: for each process, the `add` of
  the tick's bytes and the two reads (`upload`, `download`), on windows kept
  full as in a running service;
- the memory the 1,000 second windows hold once full (tracemalloc).

Ticks are synthetic (no capture, no threads): the figures are CPU time of the
tick thread's own work, median of RUNS runs.

Run: .venv/bin/python bench/rates.py [--processes 1000] [--interval 1.0] [--window 60]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

# Python puts this script's directory first on the path, where
# bench/capture.py would shadow the `capture` package: the repo root goes first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trafficmon.capture.attribution import FlowKey, Resolution
from trafficmon.capture.flows import Tracker
from trafficmon.capture.model import Owner
from trafficmon.capture.rates import RateWindow

RUNS = 5
TICKS = 200
SPEED_WINDOW = 5.0


class _Owners:
    """Every flow's owner known from the start, at the seam the tracker asks through."""

    def __init__(self, owners: dict[FlowKey, Resolution]) -> None:
        self._owners = owners

    def owner(self, key: FlowKey) -> Resolution | None:
        return self._owners.get(key)

    def retry(self, keys: object) -> None:
        """Nothing to retry: every owner is known."""

    def expire(self, active: object) -> None:
        """Nothing to forget."""


def _flows(processes: int) -> tuple[list[FlowKey], _Owners]:
    local = socket.inet_aton("198.18.0.1")
    keys: list[FlowKey] = []
    owners: dict[FlowKey, Resolution] = {}
    for n in range(processes):
        key: FlowKey = (6, local, 20_000 + n, socket.inet_aton(f"198.19.{n // 250}.{n % 250 + 1}"), 443)
        keys.append(key)
        owners[key] = Resolution(Owner(10_000 + n, f"worker{n}", f"/usr/bin/worker{n}", "bench"), "ESTABLISHED")
    return keys, _Owners(owners)


def _deltas(keys: list[FlowKey], tick: int) -> dict[FlowKey, list]:
    """Every flow moves: a few kB each way, different per flow and tick (no small-int sharing)."""
    return {key: [1_000 + (n * 7 + tick) % 5_000, 3, 20_000 + (n * 13 + tick) % 50_000, 15, 0, 0, "eth0"]
            for n, key in enumerate(keys)}


def tracker_tick(processes: int, interval: float, window: float) -> float:
    """Seconds of one `Tracker.tick` of `processes` processes with one moving flow each, median of the runs."""
    keys, owners = _flows(processes)
    runs = []
    for _ in range(RUNS):
        tracker = Tracker(SPEED_WINDOW, linger=5.0, idle_timeout=30.0, average_window=window)
        warm = round(window / interval) + 1
        deltas = [_deltas(keys, tick) for tick in range(warm + TICKS)]
        for tick in range(warm):  # both windows full
            tracker.tick(deltas[tick], interval, 1_000.0 + tick * interval, tick * interval, owners, {})
        start = time.process_time()
        for tick in range(warm, warm + TICKS):
            tracker.tick(deltas[tick], interval, 1_000.0 + tick * interval, tick * interval, owners, {})
        runs.append((time.process_time() - start) / TICKS)
    return statistics.median(runs)


def _full_windows(processes: int, interval: float, window: float) -> tuple[list[RateWindow], list[list[int]]]:
    windows = [RateWindow(window) for _ in range(processes)]
    moved = [[1_000 + n * 7, 20_000 + n * 13] for n in range(processes)]
    for _ in range(round(window / interval) + 1):
        dt = interval * 1.0  # one float a tick, shared by every window, as the tick thread's `dt`
        for w, (sent, received) in zip(windows, moved):
            w.add(dt, sent + 1, received + 1)
    return windows, moved


def second_window(processes: int, interval: float, window: float) -> float:
    """Seconds per tick of the second window's work for `processes` processes (add, then both reads)."""
    runs = []
    for _ in range(RUNS):
        windows, moved = _full_windows(processes, interval, window)
        start = time.process_time()
        for tick in range(TICKS):
            dt = interval * 1.0
            for w, (sent, received) in zip(windows, moved):
                w.add(dt, sent + tick, received + tick)
                w.upload
                w.download
        runs.append((time.process_time() - start) / TICKS)
    return statistics.median(runs)


def window_memory(processes: int, interval: float, window: float) -> int:
    """Bytes the `processes` full second windows hold (their ticks included)."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    windows, _moved = _full_windows(processes, interval, window)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del windows
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=1_000)
    parser.add_argument("--interval", type=float, default=1.0, help="UPDATE_INTERVAL, seconds")
    parser.add_argument("--window", type=float, default=60.0, help="AVERAGE_WINDOW, seconds")
    args = parser.parse_args()
    n, interval, window = args.processes, args.interval, args.window
    whole = tracker_tick(n, interval, window)
    extra = second_window(n, interval, window)
    memory = window_memory(n, interval, window)
    print(f"{n:,} processes, UPDATE_INTERVAL {interval:g} s, AVERAGE_WINDOW {window:g} s "
          f"({round(window / interval)} ticks a window), median of {RUNS} runs of {TICKS} ticks")
    print(f"Tracker.tick, all of it:        {whole * 1e3:7.2f} ms a tick")
    print(f"the second window's share:      {extra * 1e3:7.2f} ms a tick ({100 * extra / whole:.0f} %), "
          f"{extra / n * 1e6:.2f} µs a process")
    print(f"memory of the second windows:   {memory / 2**20:7.2f} MiB ({memory / n / 1024:.1f} kB a process)")


if __name__ == "__main__":
    main()
