"""A real trafficmon killed under real traffic: kill -9 twenty times in a row, then SIGTERMs aimed at flushes.

The service runs as an operator runs it (`tests.browser.service.Service`:
`python -m trafficmon` capturing a test namespace's veth) while a download from the
other namespace, shaped to RATE_BYTES a second, runs the whole time. It is
killed with SIGKILL at random moments (a fixed seed, printed, so a failure
reproduces) and started again each time, then stopped with SIGTERM at the
moment a flush starts writing the database's WAL (inotify shows it; see
`tests.support.filewatch`), a few times. Then:

- the period's outbound and inbound totals moved exactly as much as the
  captured veth's kernel counters over the whole test: the totals come from
  the counters, and the stored baseline is committed with them, so neither a
  kill nor the time the service was down loses or doubles a byte;
- each kill lost at most one flush interval of the per-process and per-host
  breakdown: what the database held right after the kill is compared with
  what the service answered just before it, and the difference is at most
  what the shaped link carries between two flushes (plus a tick, the wait
  for the counter poll that triggers a flush, and the time from the answer to
  the kill); a SIGTERM loses nothing of it: the database after the stop holds
  at least what the service answered before the signal;
- after each kill and each stop `PRAGMA integrity_check` is ok on what is on
  disk (checked on a copy, so the check changes nothing the restart reads),
  nothing was moved aside and the restarted service says so too.
"""

from __future__ import annotations

import random
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from trafficmon.state.store import DB_FILE
from tests.browser import traffic
from tests.browser.service import UPDATE_INTERVAL, Service
from tests.support.filewatch import Writes
from tests.support.hosts import Link


pytestmark = pytest.mark.netns

SEED = 20_261_202
KILLS = 20
SIGTERMS = 3
FLUSH_INTERVAL = 0.5
POLL_INTERVAL = 0.2
RUN_BEFORE_KILL = (0.4, 2.0)
"""Seconds the service runs between becoming healthy and its kill, drawn uniformly."""
BURST = 128 * 1024
"""The token bucket's burst (`traffic.shape`): what the link may carry above its rate at once."""
FLUSH_TAIL = 0.005
"""How long after the signal more WAL writes still belong to the flush it was aimed at (measured: 1-3.5 ms)."""
OVERHEAD = 1.1
"""The client's ACKs on top of the shaped frames (measured: 0.4 % of the download), with room to spare."""
RATE_BYTES = traffic.RATE_BYTES


@dataclass
class Breakdown:
    """The period's breakdown summed up: every byte captured (per host) and per process or unknown."""

    hosts: int
    processes: int

    @classmethod
    def from_export(cls, document: dict[str, Any]) -> Breakdown:
        parts = document["breakdown"]
        return cls(
            hosts=sum(row["bytes_total"] for row in parts["host"]),
            processes=sum(row["bytes_total"] for row in parts["process"] + parts["unknown"]),
        )


def on_disk(data_dir: Path, scratch: Path) -> Breakdown:
    """Integrity-check a copy of the database as the killed service left it; its stored breakdown.

    A copy, because opening the original would let SQLite check the WAL into
    it before the restarted service reads it.
    """
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir()
    for name in (DB_FILE, DB_FILE + "-wal"):
        if (data_dir / name).exists():
            shutil.copy2(data_dir / name, scratch / name)
    conn = sqlite3.connect(scratch / DB_FILE)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        sums = dict(conn.execute(
            "SELECT kind, SUM(sent + received) FROM usage WHERE period_start ="
            " (SELECT MAX(start_ts) FROM periods) GROUP BY kind"
        ).fetchall())
    finally:
        conn.close()
    return Breakdown(hosts=sums.get("host", 0), processes=sums.get("process", 0) + sums.get("unknown", 0))


def nothing_moved_aside(service: Service) -> None:
    assert sorted(p.name for p in service.data_dir.iterdir() if ".corrupt-" in p.name) == []
    accounting = service.request("GET", "/health")["accounting"]
    assert (accounting["moved_aside"], accounting["flush_error"]) == (None, None), accounting


def quiet_totals(service: Service, link: Link) -> tuple[dict[str, int], dict[str, Any]]:
    """The kernel counters and the period at one instant: read when nothing moved for two counter polls."""
    for _ in range(50):
        kernel = link.a.counters()
        time.sleep(3 * POLL_INTERVAL)
        period = service.request("GET", "/data")
        if link.a.counters() == kernel:
            return kernel, period
    raise AssertionError("the link never went quiet")


def lost_bound(seconds_since_answer: float, window: float) -> int:
    """What the shaped link carries in `window` seconds plus the time from the answer to the kill."""
    return int(RATE_BYTES * OVERHEAD * (window + seconds_since_answer)) + BURST


@pytest.fixture
def service(link: Link, tmp_path: Path) -> Iterator[Service]:
    running = Service(link.a, tmp_path / "data", "crash-pässword", (link.b.ipv4,), env={
        "FLUSH_INTERVAL": str(FLUSH_INTERVAL), "COUNTER_POLL_INTERVAL": str(POLL_INTERVAL),
    })
    running.start()
    yield running
    if running.proc is not None:
        running.stop()


def test_kill_9_twenty_times_and_sigterm_in_flushes_under_traffic(
    link: Link, service: Service, peers: list[subprocess.Popen[str]], tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    print(f"seed {SEED}: {KILLS} kills, {SIGTERMS} SIGTERMs, flush every {FLUSH_INTERVAL} s,"
          f" download shaped to {RATE_BYTES * 8 / 1e6:g} Mbit/s")
    kernel_before, period_before = quiet_totals(service, link)
    traffic.serve(link, peers)
    server = peers[-1]
    traffic.download(link, peers, size=RATE_BYTES * 300)
    traffic.established(link.a)
    scratch = tmp_path / "copy"
    flush_window = FLUSH_INTERVAL + POLL_INTERVAL + UPDATE_INTERVAL
    started = time.monotonic()
    losses: list[float] = []

    for kill in range(KILLS):
        time.sleep(rng.uniform(*RUN_BEFORE_KILL))
        answered = Breakdown.from_export(service.request("GET", "/api/traffic-state"))
        at = time.monotonic()
        assert service.proc is not None
        service.proc.kill()
        since_answer = time.monotonic() - at
        assert service.proc.wait(timeout=10) == -signal.SIGKILL
        service.proc = None
        stored = on_disk(service.data_dir, scratch)
        for what in ("hosts", "processes"):
            lost = getattr(answered, what) - getattr(stored, what)
            assert lost <= lost_bound(since_answer, flush_window), (
                f"kill {kill}: the {what} breakdown lost {lost} bytes ({lost / RATE_BYTES:.2f} s of the download)")
        losses.append((answered.hosts - stored.hosts) / RATE_BYTES)
        service.start()
        nothing_moved_aside(service)
    killed = time.monotonic() - started
    print(f"{KILLS} kills in {killed:.0f} s; breakdown lost per kill, in seconds of the download:"
          f" max {max(losses):.2f}, mean {sum(losses) / len(losses):.2f} (bound {flush_window:g} + the kill's delay)")

    landed_mid_flush = 0
    delays: list[float] = []
    for _ in range(SIGTERMS):
        time.sleep(rng.uniform(*RUN_BEFORE_KILL))
        assert service.proc is not None
        answered = Breakdown.from_export(service.request("GET", "/api/traffic-state"))
        with Writes(service.data_dir / (DB_FILE + "-wal")) as writes:
            writes.drain()
            first_write = writes.next_write(timeout=5 * FLUSH_INTERVAL)
            assert first_write is not None, "no flush wrote the WAL"
            service.proc.send_signal(signal.SIGTERM)
            delays.append(time.monotonic() - first_write)
            # The rest of the flush follows within a few ms; the stop's own flush comes far later.
            if writes.writes_within(FLUSH_TAIL):
                landed_mid_flush += 1
        assert service.proc.wait(timeout=15) == 0, service.log.read_text()[-3000:]
        service.proc = None
        stored = on_disk(service.data_dir, scratch)
        assert stored.hosts >= answered.hosts and stored.processes >= answered.processes, "a clean stop lost bytes"
        service.start()
        nothing_moved_aside(service)
    print(f"{SIGTERMS} SIGTERMs, each {max(delays) * 1e6:.0f} us or less after a flush's first WAL write;"
          f" {landed_mid_flush} of them with writes of that flush still to come (within {FLUSH_TAIL * 1000:g} ms)")
    assert landed_mid_flush > 0, "no SIGTERM reached the service while a flush was writing"

    server.kill()  # the download ends: the client reads to the end of what it was sent
    kernel_after, period_after = quiet_totals(service, link)
    moved = {"outbound": kernel_after["tx_bytes"] - kernel_before["tx_bytes"],
             "inbound": kernel_after["rx_bytes"] - kernel_before["rx_bytes"]}
    counted = {name: period_after[name] - period_before[name] for name in ("outbound", "inbound")}
    print(f"kernel moved {moved}, the period counted {counted}, in {time.monotonic() - started:.0f} s")
    assert counted == moved
    assert moved["inbound"] > RATE_BYTES * killed / 2, "the download did not run through the kills"
