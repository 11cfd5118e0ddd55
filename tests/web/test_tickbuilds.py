"""TickBuilds: one build per tick and query, shared, bounded, and never answering from another tick."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from trafficmon.capture.model import Snapshot
from tests.web.fakes import build_snapshot
from trafficmon.web.live.tickbuilds import TickBuilds


@pytest.fixture
async def builds() -> AsyncIterator[TickBuilds]:
    made = TickBuilds(max_bytes=100)
    yield made
    made.close()


class Gate:
    """A build that waits until released, so a test can hold it in the worker; counts its calls."""

    def __init__(self, body: bytes = b"x") -> None:
        self.body = body
        self.open = threading.Event()
        self.calls = 0

    def __call__(self, snap: Snapshot) -> bytes:
        self.calls += 1
        assert threading.current_thread() is not threading.main_thread(), "built off the event loop"
        assert self.open.wait(5)
        return self.body + str(snap.seq).encode()


async def test_requests_of_one_tick_share_one_build(builds: TickBuilds) -> None:
    snap, gate = build_snapshot(seq=1), Gate()
    waiting = [asyncio.create_task(builds.body(snap, "q", gate)) for _ in range(4)]
    await asyncio.sleep(0.05)
    gate.open.set()
    bodies = await asyncio.gather(*waiting)
    assert bodies == [b"x1"] * 4 and gate.calls == 1
    assert await builds.body(snap, "q", gate) == b"x1" and gate.calls == 1  # kept for the rest of the tick


async def test_a_new_tick_or_another_query_is_built_again(builds: TickBuilds) -> None:
    gate = Gate()
    gate.open.set()
    first, second = build_snapshot(seq=1), build_snapshot(seq=1)  # same seq, another tick
    assert await builds.body(first, "q", gate) == b"x1"
    assert await builds.body(first, "other", gate) == b"x1" and gate.calls == 2
    assert await builds.body(second, "q", gate) == b"x1" and gate.calls == 3
    assert await builds.body(second, "q", gate) == b"x1" and gate.calls == 3


async def test_a_request_that_goes_away_does_not_cancel_the_shared_build(builds: TickBuilds) -> None:
    snap, gate = build_snapshot(seq=2), Gate()
    leaving = asyncio.create_task(builds.body(snap, "q", gate))
    staying = asyncio.create_task(builds.body(snap, "q", gate))
    await asyncio.sleep(0.05)
    leaving.cancel()
    gate.open.set()
    assert await staying == b"x2" and gate.calls == 1
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_bodies_beyond_the_bound_are_built_for_their_request_and_not_kept(builds: TickBuilds) -> None:
    snap, big = build_snapshot(seq=3), Gate(b"y" * 99)
    big.open.set()
    assert await builds.body(snap, "big", big) == b"y" * 99 + b"3"  # 100 bytes: kept, the bound is full
    assert await builds.body(snap, "big", big) and big.calls == 1
    small = Gate(b"z")
    small.open.set()
    await builds.body(snap, "small", small)
    await builds.body(snap, "small", small)
    assert small.calls == 2, "nothing more is kept once the bound is reached"


async def test_a_failed_build_is_not_kept(builds: TickBuilds) -> None:
    snap, calls = build_snapshot(seq=4), []

    def failing(_: Snapshot) -> bytes:
        calls.append(1)
        raise RuntimeError("broken")

    for _ in range(2):
        with pytest.raises(RuntimeError, match="broken"):
            await builds.body(snap, "q", failing)
    assert len(calls) == 2
