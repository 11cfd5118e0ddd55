"""A real capture engine watched from a test: waiting for its snapshots, and reading them."""

from __future__ import annotations

from collections.abc import Callable

from trafficmon.capture import Engine
from trafficmon.capture.model import ProcessStats, Snapshot
from tests.support.waiting import wait_until


def wait_for(engine: Engine, check: Callable[[Snapshot], bool], timeout: float = 10.0) -> Snapshot:
    """The engine's first snapshot for which `check` holds."""
    return wait_until(engine.snapshot, check, timeout, "engine never reached the expected state")


def settled(engine: Engine, timeout: float = 10.0) -> Snapshot:
    """The first snapshot after captured totals stopped moving for two ticks."""
    seen: list[tuple[int, tuple[int, int]]] = []

    def steady(snap: Snapshot) -> bool:
        if not seen or seen[-1][0] != snap.seq:
            seen.append((snap.seq, (snap.health.bytes, snap.health.packets)))
        return len(seen) >= 3 and seen[-1][1] == seen[-2][1] == seen[-3][1]

    return wait_until(engine.snapshot, steady, timeout, "traffic never settled")


def process(snap: Snapshot, pid: int) -> ProcessStats:
    found = [p for p in snap.processes if p.pid == pid]
    assert found, f"pid {pid} not among {[(p.pid, p.name) for p in snap.processes]}"
    return found[0]


def kernel_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """What each of a veth's kernel counters (`Host.counters()`) moved by."""
    return {k: after[k] - before[k] for k in before}
