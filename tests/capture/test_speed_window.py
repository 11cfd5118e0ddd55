"""Speeds over the speed window, with the engine's defaults, against a real paced download in a test namespace.

The download moves in bursts (tests.support.paced: one every 0.7 s) that fall into
half-second ticks unevenly, as real rate-limited transfers do: one tick holds
a burst, the next none. Over the default speed window every speed the engine
publishes — the totals and the process — must read the download's rate on
every tick, within 20 %.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from trafficmon.capture.config import EngineConfig
from trafficmon.capture.engine import Engine
from trafficmon.capture.model import Snapshot
from tests.support import paced
from tests.support.hosts import Link
from tests.support.engines import wait_for
pytestmark = pytest.mark.netns


TICK = 0.5
MEASURED = 10.0


def test_a_paced_download_reads_its_rate_on_every_tick(link: Link, peers: list[subprocess.Popen[str]]) -> None:
    config = EngineConfig(interfaces=(link.a.iface,), netns=link.a.netns, update_interval=TICK)
    window = config.speed_window
    assert window >= 5 * paced.PERIOD, "the default window is meant to hold five bursts at least"
    paced.serve(link.b, peers)
    eng = Engine(config)
    eng.start()
    try:
        seen: list[Snapshot] = []
        eng.subscribe(seen.append)
        curl = paced.fetch(link.a, link.b, window + MEASURED + 3, peers)
        wait_for(eng, lambda s: any(p.pid == curl.pid for p in s.processes))
        time.sleep(window + TICK)  # warm-up: one window of the download, and the tick it started in
        start = len(seen)
        time.sleep(MEASURED)
        ticks = seen[start:]
    finally:
        eng.stop()

    assert len(ticks) >= MEASURED / TICK - 2, f"only {len(ticks)} ticks in {MEASURED} s"
    totals = [s.totals.download_speed for s in ticks]
    process = [next(p.download_speed for p in s.processes if p.pid == curl.pid) for s in ticks]
    assert all(0.8 * paced.RATE <= v <= 1.2 * paced.RATE for v in totals), totals
    assert all(0.8 * paced.RATE <= v <= 1.2 * paced.RATE for v in process), process
    # What a tick alone moved swings far wider: the window is what makes the speeds steady.
    moved = [(b.totals.bytes_received - a.totals.bytes_received) / (b.timestamp - a.timestamp)
             for a, b in zip(ticks, ticks[1:])]
    assert min(moved) < 0.5 * paced.RATE and max(moved) > 1.2 * paced.RATE, moved
